//! The write path: a PUT or a copy streamed into an upload not yet visible, checked (size,
//! `Content-MD5`, the caller's precondition before any byte is taken), then published through
//! the commit point (commit.rs), which checks the precondition again under the key's lock.

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use s3gate_config::EtagHash;

use crate::clock::now_ns;
use crate::commit::At;
use crate::error::{Result, VfsError};
use crate::fleet::{self, lost_race};
use crate::index::{ObjectAttrs, ObjectMeta};
use crate::key;
use crate::multipart::Objects;
use crate::object::{
    synthetic_etag, CopyAttrs, CopyFrom, ObjectInfo, ObjectReader, Precondition, PutRequest,
};
use crate::path_claims::Place;
use crate::publish::Publish;
use crate::putlog::LoggedPublish;
use crate::remote::{Source, Upload};
use crate::version_id::VersionId;
use crate::vfs::Vfs;

type BodyError = Box<dyn std::error::Error + Send + Sync>;

impl Vfs {
    /// Streams a body into a new object and publishes it atomically: until the body has fully
    /// arrived and checked out, the previous object (if any) stays in place and nothing partial
    /// is visible.
    pub async fn put_object<S>(
        &self,
        bucket: &str,
        key: &str,
        req: PutRequest<S>,
    ) -> Result<ObjectInfo>
    where
        S: Stream<Item = std::result::Result<Bytes, BodyError>> + Unpin,
    {
        let place = self.writable_path(bucket, key).await?;
        let path = &place.path;
        // In a fleet a bucket that keeps versions pins every write to the version it replaces.
        let version = self.fleet_version(bucket)?;
        let asked = req.precondition.is_some();
        let pinned = fleet::pin(
            self.fleet.as_deref(),
            self.core.remote.as_ref(),
            path,
            asked || version.is_some(),
        )
        .await?;
        let lost = |e| fleet::lost_to_another(lost_race(e, pinned), asked);
        if let Some(check) = &req.precondition {
            // Fail early, before taking the body; checked again when publishing.
            self.check_precondition(bucket, key, check).await?;
        }
        let hash_md5 = self.core.etag_hash == EtagHash::Md5 || req.content_md5.is_some();
        let mut b3 = (self.core.etag_hash == EtagHash::Blake3).then(blake3::Hasher::new);
        // A body within the log's bound is kept to go into the log (putlog/).
        let log_bound = self.put_log_bound(bucket, path)?;
        let mut kept = log_bound.map(|_| BytesMut::new());
        let body = req.body.inspect(|chunk| {
            if let (Some(h), Ok(c)) = (b3.as_mut(), chunk) {
                h.update(c);
            }
            if let (Some(k), Some(bound), Ok(c)) = (kept.as_mut(), log_bound, chunk) {
                match k.len() + c.len() <= bound as usize {
                    true => k.extend_from_slice(c),
                    false => kept = None,
                }
            }
        });
        let at = At { bucket, key, path };
        // What the object carries from its start: its checksum is known after the body.
        let mut sent = self.fleet.as_ref().map(|_| req.attrs.clone());
        let (upload, pending) = self
            .create_carrying(at, &req.attrs, version, pinned)
            .await
            .map_err(lost)?;
        let (upload, fp, digest) = self
            .core
            .stage_into(upload, body, hash_md5, None, log_bound)
            .await?;
        if req.content_md5.is_some_and(|want| want != digest) {
            upload.abort().await;
            return Err(VfsError::BadDigest);
        }
        let mut attrs = req.attrs;
        attrs.checksum = req.checksum.as_ref().and_then(|s| s.get().cloned());
        let etag = match (self.core.etag_hash, b3) {
            (EtagHash::Blake3, Some(h)) => h.finalize().to_hex().to_string(),
            (EtagHash::Md5, _) | (EtagHash::Blake3, None) => hex::encode(digest),
            (EtagHash::None, _) => synthetic_etag(&fp),
        };
        let filled = match self
            .fill_sidecar(at, pending.as_ref(), &attrs, &etag, fp.size)
            .await
        {
            Ok(filled) => filled.then_some(pending.as_ref()).flatten(),
            Err(e) => {
                upload.abort().await;
                self.forget_pending(at, pending.as_ref()).await;
                return Err(e);
            }
        };
        if filled.is_some() {
            // Every gateway reads all from the sidecar, the checksum too: carried after only
            // what publishing adds (a default retention).
            sent = Some(attrs.clone());
        }
        let meta = ObjectMeta {
            fingerprint: fp,
            etag,
            version,
            attrs,
            parts: Vec::new(),
            modified_ns: None,
            in_write_cache: self.writes_to_cache(),
            store: None,
        };
        let done = match kept.filter(|k| k.len() as u64 == fp.size) {
            Some(body) => {
                let change = LoggedPublish {
                    upload,
                    meta,
                    body: body.freeze(),
                };
                self.commit(at, req.precondition.as_ref(), change).await
            }
            None => {
                self.commit(at, req.precondition.as_ref(), Publish { upload, meta })
                    .await
            }
        };
        let done = match done {
            Ok(done) => done,
            // Refused before it was published: its sidecar is nobody's.
            Err(e @ VfsError::PreconditionFailed) => {
                self.forget_pending(at, filled).await;
                return Err(lost(e));
            }
            Err(e) => return Err(lost(e)),
        };
        let done = match sent {
            Some(sent) => self.carry_published(at, &sent, done).await?,
            None => done,
        };
        // The PUT is durable and published by now (a logged one through the log): a checkpoint
        // that fails leaves its entries to the next one or to the replay at start, and must not
        // turn an acknowledged write into an error.
        if let Err(e) = self.core.checkpoint_puts(false).await {
            tracing::warn!("the small-PUT log's checkpoint failed (retried by the next): {e}");
        }
        Ok(done)
    }

    /// Copies an object, with its source's attributes but those `attrs` gives anew.
    /// `precondition` is on the destination, as for a PUT.
    pub async fn copy_object(
        &self,
        from: CopyFrom<'_>,
        dst_bucket: &str,
        dst_key: &str,
        attrs: CopyAttrs,
        precondition: Option<Precondition>,
    ) -> Result<ObjectInfo> {
        // Empty content onto `dir/` stays a folder marker; content is kept in the store.
        if self.is_folder_marker(dst_bucket, dst_key)? {
            let src = self.copy_source_info(&from).await?;
            if src.size == 0 {
                return self
                    .copy_to_marker(src, dst_bucket, dst_key, attrs, precondition)
                    .await;
            }
        }
        let dst_place = self.writable_path(dst_bucket, dst_key).await?;
        let dst_path = &dst_place.path;
        // In a fleet a bucket that keeps versions pins every write to the version it replaces.
        let version = self.fleet_version(dst_bucket)?;
        let pinned = fleet::pin(
            self.fleet.as_deref(),
            self.core.remote.as_ref(),
            dst_path,
            version.is_some(),
        )
        .await?;
        let lost = |e| fleet::lost_to_another(lost_race(e, pinned), false);
        if let Some(check) = &precondition {
            // Fail before copying any byte; checked again when publishing.
            self.check_precondition(dst_bucket, dst_key, check).await?;
        }
        let at = At {
            bucket: dst_bucket,
            key: dst_key,
            path: dst_path,
        };
        // The copy must be of the version whose ETag and attributes it takes: if the source is
        // replaced between opening it and copying it, start again.
        let mut tries = 0;
        let mut filled = None;
        let (info, upload, fp) = loop {
            let (src, src_path) = self.open_source(&from).await?;
            if src.in_write_cache != self.writes_to_cache()
                || src.info.size == 0
                || self.fleet.is_some()
            {
                // The source is on one side of the cache and the copy goes to the other, or it
                // is empty and may have no file to share (a folder marker), or, in a fleet, the
                // copy must carry its own headers and metadata, where a copy on the store would
                // take its source's.
                let info = src.info.clone();
                let size = info.size;
                let carried = attrs.resolve(info.attrs.clone());
                let (upload, pending) = self
                    .create_carrying(at, &carried, version, pinned)
                    .await
                    .map_err(lost)?;
                let (upload, fp, _) = self
                    .core
                    .stage_into(upload, src.stream(0, size), false, None, None)
                    .await?;
                match self
                    .fill_sidecar(at, pending.as_ref(), &carried, &info.etag, size)
                    .await
                {
                    Ok(true) => filled = pending,
                    Ok(false) => {}
                    Err(e) => {
                        upload.abort().await;
                        self.forget_pending(at, pending.as_ref()).await;
                        return Err(e);
                    }
                }
                break (info, upload, fp);
            }
            let want = Some(src.reader.fingerprint());
            let mut upload = match self
                .store()
                .concat(dst_path, &[Source::file(src_path, want)])
                .await
            {
                Ok(upload) => upload,
                // Replaced, or uploaded from the write cache and gone from it: again.
                Err(e)
                    if matches!(e.raw_os_error(), Some(libc::ESTALE) | Some(libc::ENOENT))
                        && tries < 8 =>
                {
                    tries += 1;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            match upload.finish(self.core.fsync).await {
                Ok(fp) => break (src.info, upload, fp),
                Err(e) => {
                    upload.abort().await;
                    return Err(e.into());
                }
            }
        };
        // The same bytes: the same content hash (a synthetic ETag follows the new file).
        let etag = match self.core.etag_hash {
            EtagHash::Md5 | EtagHash::Blake3 => info.etag,
            EtagHash::None => synthetic_etag(&fp),
        };
        let meta = ObjectMeta {
            fingerprint: fp,
            etag,
            version,
            attrs: attrs.resolve(info.attrs),
            parts: info.parts,
            // The copy may share its source's file: its own time is kept here.
            modified_ns: Some(now_ns()),
            in_write_cache: self.writes_to_cache(),
            store: None,
        };
        // What the copy carries; its default retention is stamped as it is published.
        let sent = self.fleet.as_ref().map(|_| meta.attrs.clone());
        let done = self
            .commit(at, precondition.as_ref(), Publish { upload, meta })
            .await;
        if let Err(VfsError::PreconditionFailed) = done {
            // Refused before it was published: its sidecar is nobody's.
            self.forget_pending(at, filled.as_ref()).await;
        }
        let info = done.map_err(lost)?;
        match sent {
            Some(sent) => self.carry_published(at, &sent, info).await,
            None => Ok(info),
        }
    }

    /// The source of a copy, opened, and the path of its file.
    pub(crate) async fn open_source(&self, from: &CopyFrom<'_>) -> Result<(ObjectReader, String)> {
        let (reader, path) = self.open_unpinned_source(from).await?;
        if from.etag.is_some_and(|e| e != reader.info.etag) {
            return Err(VfsError::PreconditionFailed);
        }
        Ok((reader, path))
    }

    async fn open_unpinned_source(&self, from: &CopyFrom<'_>) -> Result<(ObjectReader, String)> {
        match from.version {
            Some(v) => self.open_version_at(from.bucket, from.key, v).await,
            None => {
                let reader = self.open_object(from.bucket, from.key).await?;
                let path = self
                    .folders
                    .read_path(from.bucket, from.key)?
                    .ok_or(VfsError::NoSuchKey)?;
                Ok((reader, path))
            }
        }
    }

    /// Where a new object goes, after checking that its bucket exists: the key's own path, or
    /// its place in the store of keys when a file tree cannot hold it there (stored.rs); held
    /// until the object is published.
    pub(crate) async fn writable_path(&self, bucket: &str, key: &str) -> Result<Place<'_>> {
        key::validate_bucket(bucket)?;
        self.head_bucket(bucket).await?;
        let place = self.place_for(bucket, key).await?;
        if self.writes_to_cache() {
            // The cache holds a bucket's folder once something is written to it.
            self.store().mkdir(bucket).await?;
        }
        Ok(place)
    }

    pub(crate) async fn check_precondition(
        &self,
        bucket: &str,
        key: &str,
        check: &Precondition,
    ) -> Result<()> {
        let current = match self.head_object(bucket, key).await {
            Ok(info) => Some(info),
            Err(VfsError::NoSuchKey) => None,
            Err(e) => return Err(e),
        };
        check(current.as_ref())
    }

    /// Runs `check` on the object now at `key` (at `path`; a `dir/` key is its marker); the
    /// caller holds the key's lock, so that nothing changes between the check and the write or
    /// delete it guards.
    pub(crate) async fn check_locked(
        &self,
        bucket: &str,
        key: &str,
        path: &str,
        check: Option<&Precondition>,
    ) -> Result<()> {
        let Some(check) = check else {
            return Ok(());
        };
        let current = match key.ends_with('/') && !key::is_stored(path) {
            true => self.folders.marker_info(bucket, key).await?,
            false => self
                .record_locked(bucket, key, path)
                .await?
                .map(ObjectInfo::from_meta),
        };
        check(current.as_ref())
    }
}

/// A multipart upload's objects are the ordinary ones, and Complete publishes as a PUT does.
impl Objects for Vfs {
    async fn writable_path(&self, bucket: &str, key: &str) -> Result<Place<'_>> {
        Vfs::writable_path(self, bucket, key).await
    }

    async fn head_bucket(&self, bucket: &str) -> Result<()> {
        Vfs::head_bucket(self, bucket).await
    }

    async fn head_object(&self, bucket: &str, key: &str) -> Result<ObjectInfo> {
        Vfs::head_object(self, bucket, key).await
    }

    async fn check_precondition(
        &self,
        bucket: &str,
        key: &str,
        check: &Precondition,
    ) -> Result<()> {
        Vfs::check_precondition(self, bucket, key, check).await
    }

    async fn open_source(&self, from: &CopyFrom<'_>) -> Result<(ObjectReader, String)> {
        Vfs::open_source(self, from).await
    }

    async fn sealed(
        &self,
        bucket: &str,
        key: &str,
        attrs: &ObjectAttrs,
        parts: &[u64],
        etag: &str,
        version: Option<VersionId>,
    ) -> Result<String> {
        let envelope = (attrs, parts, Some(etag), None, version);
        Ok(self.seal_spilling(bucket, key, envelope).await?.0)
    }

    fn fleet_version(&self, bucket: &str) -> Result<Option<VersionId>> {
        Vfs::fleet_version(self, bucket)
    }

    async fn publish(
        &self,
        at: At<'_>,
        precondition: Option<&Precondition>,
        upload: Box<dyn Upload>,
        meta: ObjectMeta,
    ) -> Result<ObjectInfo> {
        // What the object carries; its default retention is stamped as it is published.
        let sent = self.fleet.as_ref().map(|_| meta.attrs.clone());
        // Boxed: Complete's future holds the assembly's beside it, over a worker's stack.
        let info = Box::pin(self.commit(at, precondition, Publish { upload, meta })).await?;
        match sent {
            Some(sent) => Box::pin(self.carry_published(at, &sent, info)).await,
            None => Ok(info),
        }
    }
}
