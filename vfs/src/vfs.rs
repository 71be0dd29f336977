//! The facade the S3 front end calls: object reads, atomic writes, deletes and copies (buckets
//! are in bucket.rs, each change of an object is committed in commit.rs).

use std::sync::Arc;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use md5::{Digest, Md5};
use s3gate_config::{Config, EtagHash};
use tokio::sync::Mutex;

use crate::bucket::KnownBuckets;
use crate::commit::{At, Publish};
use crate::delete::Remove;
use crate::error::{Result, VfsError};
use crate::index::{BodyHasher, Index, ObjectAttrs, ObjectMeta};
use crate::key;
use crate::locks::{KeyLocks, UploadLocks};
use crate::meta::Tree;
use crate::multipart::records::{uploads_staged_in_cache, InPlaceWriters};
use crate::object::{
    each_chunk, now_ns, prune_empty_parents, ObjectInfo, ObjectReader, Precondition, PutRequest,
};
use crate::own_writes::OwnWrites;
use crate::remote::{Fingerprint, Reader, Remote, Source, Upload};
use crate::write_cache::WriteCache;

pub struct Vfs {
    pub(crate) remote: Arc<dyn Remote>,
    pub(crate) index: Index,
    /// Taken last, one at a time (see locks.rs for the order).
    pub(crate) key_locks: KeyLocks,
    /// Serialise the steps of one multipart upload that read and write its records; taken
    /// before the key lock of publishing, one at a time.
    pub(crate) upload_locks: UploadLocks,
    pub(crate) etag_hash: EtagHash,
    pub(crate) fsync: bool,
    cleanup: bool,
    /// The most multipart uploads a bucket may have open (0: no limit).
    pub(crate) max_uploads: u64,
    /// Keeps background scans from overlapping; taken before any key lock.
    pub(crate) scan_lock: Mutex<()>,
    /// Whether a scan has checked the index against the remote since it was opened: listings
    /// wait for one, since the index may hold records of files removed while the server was
    /// down (by other programs, or by a crash on the way).
    pub(crate) checked: tokio::sync::watch::Sender<bool>,
    /// Records gathered by the first fill of a new index, written in large batches.
    pub(crate) fill_ops: Mutex<Vec<crate::meta::Edit>>,
    /// Multipart parts being written in place right now.
    pub(crate) writing_in_place: InPlaceWriters,
    /// The write cache: present while caching writes, or while uploads from a run that cached
    /// them are still queued.
    pub(crate) write_cache: Option<WriteCache>,
    /// New objects (and multipart parts) land in the cache.
    pub(crate) write_to_cache: bool,
    /// The index store's file (or folder), for its size.
    index_store: std::path::PathBuf,
    /// The read cache (`full`), and what it did.
    read_cache: Option<ReadCacheParts>,
    /// The served directory, when the remote is a local one (watched for changes).
    pub(crate) local_root: Option<std::path::PathBuf>,
    /// What this server published there, for the watch to tell from other programs' changes.
    pub(crate) own_writes: OwnWrites,
    /// The buckets seen on a named remote lately.
    pub(crate) known_buckets: KnownBuckets,
}

type BodyError = Box<dyn std::error::Error + Send + Sync>;

/// The read cache and its counters.
type ReadCacheParts = (
    Arc<crate::readcache::ReadCache>,
    Arc<crate::readcache::Counters>,
);

impl Vfs {
    /// Opens the remote named by the configuration and its index; a new index over an existing
    /// tree is filled from the tree before this returns.
    pub async fn open(config: &Config) -> Result<Vfs> {
        let remote = crate::remote::open(config)?;
        let store = crate::meta::open(config.index.store, &config.index_dir())?;
        let index = Index::new(store);
        let write_to_cache = config.vfs.cache_mode.caches_writes();
        let queued = !index.range_in(Tree::WriteBack, &[], None, 1)?.is_empty()
            || uploads_staged_in_cache(&index)?;
        let cache = if write_to_cache || queued {
            let dir = config.index_dir().join("writeback");
            Some(WriteCache::open(
                &dir,
                config.vfs.write_back,
                config.vfs.fsync,
            )?)
        } else {
            None
        };
        let vfs = Vfs {
            remote,
            index,
            key_locks: KeyLocks::new(),
            upload_locks: UploadLocks::new(),
            etag_hash: config.vfs.etag_hash,
            fsync: config.vfs.fsync,
            cleanup: !config.vfs.no_cleanup,
            max_uploads: config.vfs.max_uploads_per_bucket,
            scan_lock: Mutex::new(()),
            checked: tokio::sync::watch::Sender::new(false),
            fill_ops: Mutex::new(Vec::new()),
            writing_in_place: Default::default(),
            write_cache: cache,
            write_to_cache,
            known_buckets: KnownBuckets::new(
                config
                    .remote
                    .name
                    .is_some()
                    .then_some(config.vfs.rescan_interval),
            ),
            index_store: crate::meta::store_path(config.index.store, &config.index_dir()),
            read_cache: match config.vfs.cache_mode.caches_reads() {
                true => Some((
                    Arc::new(crate::readcache::ReadCache::open(
                        &config.index_dir().join("readcache"),
                        &config.vfs,
                    )?),
                    Default::default(),
                )),
                false => None,
            },
            local_root: config
                .remote
                .name
                .is_none()
                .then(|| config.remote.path.clone()),
            own_writes: Default::default(),
        };
        vfs.finish_deletes().await?;
        if !vfs.index_filled()? {
            vfs.reconcile().await?;
        }
        vfs.recover_cache().await?;
        Ok(vfs)
    }

    /// The size of the index store on disk.
    pub fn index_bytes(&self) -> u64 {
        crate::readcache::disk_usage(&self.index_store)
    }

    /// Where new objects and multipart parts are written: the write cache, or the remote.
    pub(crate) fn store(&self) -> &Arc<dyn Remote> {
        self.store_for(None)
    }

    /// Whether new objects and parts are written to the write cache.
    pub(crate) fn writes_to_cache(&self) -> bool {
        self.in_write_cache(None)
    }

    /// Whether something staged in the write cache (`Some(true)`), on the remote
    /// (`Some(false)`), or where new writes go now (`None`) is in the cache: only while the
    /// cache is open.
    pub(crate) fn in_write_cache(&self, staged: Option<bool>) -> bool {
        self.write_cache.is_some() && staged.unwrap_or(self.write_to_cache)
    }

    /// The write cache or the remote, as [`Vfs::in_write_cache`] says.
    pub(crate) fn store_for(&self, staged: Option<bool>) -> &Arc<dyn Remote> {
        match &self.write_cache {
            Some(c) if self.in_write_cache(staged) => &c.fs,
            _ => &self.remote,
        }
    }

    /// Refuses an object larger than the remote takes.
    pub(crate) fn check_size(&self, size: u64) -> Result<()> {
        let max = self.remote.max_object_size();
        match size > max {
            true => Err(VfsError::EntityTooLarge(format!(
                "the remote takes objects of at most {} MiB",
                max >> 20
            ))),
            false => Ok(()),
        }
    }

    /// Waits for a running rescan and queued index writes, then closes the index. Requests still
    /// in flight after this fail with an internal error instead of touching a closed store.
    pub async fn shutdown(&self) {
        let _scan = self.scan_lock.lock().await;
        self.index.close();
    }

    // ---- reading ----

    /// Opens an object for reading. Keys that can never name an object are simply absent.
    pub async fn open_object(&self, bucket: &str, key: &str) -> Result<ObjectReader> {
        let path = match key::object_path(bucket, key) {
            Ok(p) => p,
            Err(VfsError::NoSuchBucket) => return Err(VfsError::NoSuchBucket),
            Err(_) => {
                return match self.open_marker(bucket, key).await {
                    Err(VfsError::NoSuchKey) => Err(self.missing(bucket).await),
                    r => r,
                }
            }
        };
        // The record and the open file must describe the same version: a rename between
        // opening the file and reading (or refreshing) its record means opening again.
        for _ in 0..8 {
            if let Some(r) = self.open_in_write_cache(bucket, key, &path).await? {
                return Ok(r);
            }
            let Some(reader) = self.remote.open(&path).await? else {
                if self.is_in_write_cache(bucket, key)? {
                    continue; // uploaded meanwhile, or written again
                }
                return Err(self.missing(bucket).await);
            };
            let fp = reader.fingerprint();
            let meta = match self.index.get(bucket, key)? {
                Some(m) if m.fingerprint == fp && !m.etag.is_empty() => m,
                _ => match self.refresh_record(bucket, key, &path).await {
                    Ok(m) => m,
                    Err(VfsError::NoSuchKey) => continue,
                    Err(e) => return Err(e),
                },
            };
            if meta.fingerprint == fp {
                let reader = self.read_through_cache(&path, &meta.etag, reader);
                return Ok(ObjectReader {
                    info: ObjectInfo::from_meta(meta),
                    reader,
                    in_write_cache: false,
                });
            }
        }
        Err(VfsError::Io(std::io::Error::other(format!(
            "{bucket}/{key} keeps changing while being opened"
        ))))
    }

    /// The object from the write cache, when it waits there.
    async fn open_in_write_cache(
        &self,
        bucket: &str,
        key: &str,
        path: &str,
    ) -> Result<Option<ObjectReader>> {
        let Some(cache) = &self.write_cache else {
            return Ok(None);
        };
        let Some(meta) = self.index.get(bucket, key)?.filter(|m| m.in_write_cache) else {
            return Ok(None);
        };
        Ok(match cache.fs.open(path).await? {
            Some(reader) if reader.fingerprint() == meta.fingerprint => Some(ObjectReader {
                info: ObjectInfo::from_meta(meta),
                reader,
                in_write_cache: true,
            }),
            _ => None,
        })
    }

    /// The reader of a remote object, through the read cache where there is one.
    fn read_through_cache(
        &self,
        path: &str,
        etag: &str,
        reader: Box<dyn Reader>,
    ) -> Box<dyn Reader> {
        match &self.read_cache {
            Some((cache, counters)) => Box::new(crate::readcache::CachingReader::new(
                cache.clone(),
                counters.clone(),
                path,
                etag,
                reader,
            )),
            None => reader,
        }
    }

    /// What the read cache did, when there is one.
    pub fn read_cache_stats(&self) -> Option<crate::readcache::ReadCacheStats> {
        self.read_cache.as_ref().map(|(c, n)| n.stats(c))
    }

    /// Applies the read cache's limits (age, size, free space); returns how many object
    /// versions left it.
    pub async fn trim_read_cache(&self) -> Result<u64> {
        let Some((cache, counters)) = self.read_cache.clone() else {
            return Ok(0);
        };
        let n = crate::remote::blocking(move || cache.evict()).await?;
        counters.add_evicted(n);
        Ok(n)
    }

    fn is_in_write_cache(&self, bucket: &str, key: &str) -> Result<bool> {
        Ok(self.write_cache.is_some()
            && self
                .index
                .get(bucket, key)?
                .is_some_and(|m| m.in_write_cache))
    }

    pub async fn head_object(&self, bucket: &str, key: &str) -> Result<ObjectInfo> {
        Ok(self.open_object(bucket, key).await?.info)
    }

    /// `NoSuchKey`, or `NoSuchBucket` when that is the reason.
    async fn missing(&self, bucket: &str) -> VfsError {
        match self.head_bucket(bucket).await {
            Ok(()) => VfsError::NoSuchKey,
            Err(e) => e,
        }
    }

    /// Rebuilds the record of a file that changed (or appeared) behind our back.
    pub(crate) async fn refresh_record(
        &self,
        bucket: &str,
        key: &str,
        path: &str,
    ) -> Result<ObjectMeta> {
        self.key_locks
            .with(path, async {
                self.record_locked(bucket, key, path)
                    .await?
                    .ok_or(VfsError::NoSuchKey)
            })
            .await
    }

    /// The up-to-date record of the object at `path`, `None` when there is none; the caller
    /// holds the key's lock. A file that changed behind our back gets its content hash computed
    /// once and kept against its fingerprint; the user metadata it had belonged to content that
    /// is gone.
    async fn record_locked(
        &self,
        bucket: &str,
        key: &str,
        path: &str,
    ) -> Result<Option<ObjectMeta>> {
        let old = self.index.get(bucket, key)?;
        if let (Some(m), Some(cache)) = (&old, &self.write_cache) {
            // A cached object is ours until uploaded, whatever the remote holds meanwhile.
            if m.in_write_cache {
                return match cache.fs.stat(path).await? {
                    Some(e) if e.fingerprint == m.fingerprint => Ok(old),
                    _ => Ok(None),
                };
            }
        }
        let Some(reader) = self.remote.open(path).await? else {
            return Ok(None);
        };
        let fp = reader.fingerprint();
        if let Some(m) = &old {
            if m.fingerprint == fp && !m.etag.is_empty() {
                return Ok(old);
            }
        }
        let etag = self.content_etag(reader).await?;
        // A record whose fingerprint matches but lacks the hash is ours: keep its attributes.
        let (attrs, parts, modified_ns) = old
            .filter(|m| m.fingerprint == fp)
            .map(|m| (m.attrs, m.parts, m.modified_ns))
            .unwrap_or_default();
        let meta = ObjectMeta {
            fingerprint: fp,
            etag,
            attrs,
            parts,
            modified_ns,
            in_write_cache: false,
        };
        self.index.put(bucket, key, &meta).await?;
        Ok(Some(meta))
    }

    /// The ETag of a file's content, read through `reader` (or made from its fingerprint).
    pub(crate) async fn content_etag(&self, reader: Box<dyn Reader>) -> Result<String> {
        let fp = reader.fingerprint();
        Ok(match (self.etag_hash, reader.known_md5()) {
            (EtagHash::Md5, Some(md5)) => md5,
            (EtagHash::Md5, None) => {
                let mut h = Md5::new();
                each_chunk(reader.stream(0, fp.size), |c| h.update(c)).await?;
                hex::encode(h.finalize())
            }
            (EtagHash::Blake3, _) => {
                let mut h = blake3::Hasher::new();
                each_chunk(reader.stream(0, fp.size), |c| {
                    h.update(c);
                })
                .await?;
                h.finalize().to_hex().to_string()
            }
            (EtagHash::None, _) => synthetic_etag(&fp),
        })
    }

    // ---- writing ----

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
        let path = self.writable_path(bucket, key).await?;
        if let Some(check) = &req.precondition {
            // Fail early, before taking the body; checked again when publishing.
            self.check_precondition(bucket, key, check).await?;
        }
        let hash_md5 = self.etag_hash == EtagHash::Md5 || req.content_md5.is_some();
        let mut b3 = (self.etag_hash == EtagHash::Blake3).then(blake3::Hasher::new);
        let body = req.body.inspect(|chunk| {
            if let (Some(h), Ok(c)) = (b3.as_mut(), chunk) {
                h.update(c);
            }
        });
        let (upload, fp, digest) = self
            .stage(&**self.store(), &path, body, hash_md5, None)
            .await?;
        if req.content_md5.is_some_and(|want| want != digest) {
            upload.abort().await;
            return Err(VfsError::BadDigest);
        }
        let mut attrs = req.attrs;
        attrs.checksum = req.checksum.as_ref().and_then(|s| s.get().cloned());
        let etag = match (self.etag_hash, b3) {
            (EtagHash::Blake3, Some(h)) => h.finalize().to_hex().to_string(),
            (EtagHash::Md5, _) | (EtagHash::Blake3, None) => hex::encode(digest),
            (EtagHash::None, _) => synthetic_etag(&fp),
        };
        let meta = ObjectMeta {
            fingerprint: fp,
            etag,
            attrs,
            parts: Vec::new(),
            modified_ns: None,
            in_write_cache: self.writes_to_cache(),
        };
        let at = At {
            bucket,
            key,
            path: &path,
        };
        self.commit(at, req.precondition.as_ref(), Publish { upload, meta })
            .await
    }

    /// Streams a body into a new, not yet published upload on `remote`, computing its MD5 on the way when
    /// `hash` (else the digest is meaningless), and feeding `extra` when given. Nothing is left
    /// behind on failure.
    pub(crate) async fn stage<S, E>(
        &self,
        remote: &dyn Remote,
        dest: &str,
        body: S,
        hash: bool,
        extra: Option<&mut Box<dyn BodyHasher>>,
    ) -> Result<(Box<dyn Upload>, Fingerprint, [u8; 16])>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: Into<VfsError>,
    {
        let upload = remote.create(dest).await?;
        self.stage_into(upload, body, hash, extra).await
    }

    /// [`Vfs::stage`] into an upload the caller made.
    pub(crate) async fn stage_into<S, E>(
        &self,
        mut upload: Box<dyn Upload>,
        mut body: S,
        hash: bool,
        mut extra: Option<&mut Box<dyn BodyHasher>>,
    ) -> Result<(Box<dyn Upload>, Fingerprint, [u8; 16])>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: Into<VfsError>,
    {
        let mut md5 = Md5::new();
        let mut written = 0u64;
        let finished = loop {
            let step = match body.next().await {
                Some(Ok(chunk)) => {
                    written += chunk.len() as u64;
                    // Refused here, not after the write cache has acknowledged it.
                    match self.check_size(written) {
                        Ok(()) => {
                            if hash {
                                md5.update(&chunk);
                            }
                            if let Some(h) = extra.as_mut() {
                                h.update(&chunk);
                            }
                            upload.write(chunk).await.map_err(VfsError::from)
                        }
                        Err(e) => Err(e),
                    }
                }
                Some(Err(e)) => Err(e.into()),
                None => break upload.finish(self.fsync).await,
            };
            if let Err(e) = step {
                upload.abort().await;
                return Err(e);
            }
        };
        match finished {
            Ok(fp) => Ok((upload, fp, md5.finalize().into())),
            Err(e) => {
                upload.abort().await;
                Err(e.into())
            }
        }
    }

    /// Copies an object; `attrs: None` keeps the source's attributes (directive COPY).
    /// `precondition` is on the destination, as for a PUT.
    pub async fn copy_object(
        &self,
        src_bucket: &str,
        src_key: &str,
        dst_bucket: &str,
        dst_key: &str,
        attrs: Option<ObjectAttrs>,
        precondition: Option<Precondition>,
    ) -> Result<ObjectInfo> {
        if dst_key.ends_with('/') {
            return self
                .copy_to_marker(
                    src_bucket,
                    src_key,
                    dst_bucket,
                    dst_key,
                    attrs,
                    precondition,
                )
                .await;
        }
        let dst_path = self.writable_path(dst_bucket, dst_key).await?;
        if let Some(check) = &precondition {
            // Fail before copying any byte; checked again when publishing.
            self.check_precondition(dst_bucket, dst_key, check).await?;
        }
        let src_path = key::object_path(src_bucket, src_key)?;
        // The copy must be of the version whose ETag and attributes it takes: if the source is
        // replaced between opening it and copying it, start again.
        let mut tries = 0;
        let (info, upload, fp) = loop {
            let src = self.open_object(src_bucket, src_key).await?;
            if src.in_write_cache != self.write_to_cache {
                // The source is on one side of the cache and the copy goes to the other.
                let info = src.info.clone();
                let size = info.size;
                let (upload, fp, _) = self
                    .stage(&**self.store(), &dst_path, src.stream(0, size), false, None)
                    .await?;
                break (info, upload, fp);
            }
            let want = Some(src.reader.fingerprint());
            let mut upload = match self
                .store()
                .concat(&dst_path, &[Source::file(src_path.clone(), want)])
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
            match upload.finish(self.fsync).await {
                Ok(fp) => break (src.info, upload, fp),
                Err(e) => {
                    upload.abort().await;
                    return Err(e.into());
                }
            }
        };
        // The same bytes: the same content hash (a synthetic ETag follows the new file).
        let etag = match self.etag_hash {
            EtagHash::Md5 | EtagHash::Blake3 => info.etag,
            EtagHash::None => synthetic_etag(&fp),
        };
        let meta = ObjectMeta {
            fingerprint: fp,
            etag,
            // New attributes replace the client's, not the content's checksum.
            attrs: match attrs {
                Some(a) => ObjectAttrs {
                    checksum: info.attrs.checksum,
                    ..a
                },
                None => info.attrs,
            },
            parts: info.parts,
            // The copy may share its source's file: its own time is kept here.
            modified_ns: Some(now_ns()),
            in_write_cache: self.writes_to_cache(),
        };
        let at = At {
            bucket: dst_bucket,
            key: dst_key,
            path: &dst_path,
        };
        self.commit(at, precondition.as_ref(), Publish { upload, meta })
            .await
    }

    /// The remote path for a new object, after checking that its bucket exists and that the key
    /// is not a folder already.
    pub(crate) async fn writable_path(&self, bucket: &str, key: &str) -> Result<String> {
        key::validate_bucket(bucket)?;
        self.head_bucket(bucket).await?;
        let path = key::object_path(bucket, key)?;
        if self.write_to_cache {
            // The cache holds a bucket's folder once something is written to it.
            self.store().mkdir(bucket).await?;
        }
        // On an object store a folder is only a prefix: no conflict with an object's name.
        if !self.remote.folders_are_prefixes() {
            if let Some(e) = self.remote.stat(&path).await? {
                if e.is_dir {
                    return Err(VfsError::from_key_io(
                        std::io::Error::from_raw_os_error(libc::EISDIR),
                        key,
                    ));
                }
            }
        }
        Ok(path)
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
        let current = match key.ends_with('/') {
            true => self.marker_info(bucket, key).await?,
            false => self
                .record_locked(bucket, key, path)
                .await?
                .map(ObjectInfo::from_meta),
        };
        check(current.as_ref())
    }

    // ---- deleting ----

    /// Deletes an object. Deleting what is not there (or could never be) succeeds, as in S3,
    /// unless `precondition` (If-Match) wants an object there. Deleting a `dir/` marker removes
    /// that folder if it is empty.
    pub async fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        precondition: Option<&Precondition>,
    ) -> Result<()> {
        self.head_bucket(bucket).await?;
        if let Some(Ok(path)) = key::marker_path(bucket, key) {
            return self.delete_marker(bucket, key, &path, precondition).await;
        }
        let Ok(path) = key::object_path(bucket, key) else {
            return precondition.map_or(Ok(()), |check| check(None));
        };
        let at = At {
            bucket,
            key,
            path: &path,
        };
        self.commit(at, precondition, Remove).await?;
        self.remove_empty_parents(&path).await;
        Ok(())
    }

    /// Removes the folders above `path` that are now empty, up to (not including) the bucket.
    /// A folder that is not empty, or that a concurrent write fills again, simply stays.
    pub(crate) async fn remove_empty_parents(&self, path: &str) {
        if self.cleanup {
            prune_empty_parents(&*self.remote, path, |dir| self.has_marker(dir)).await;
        }
    }
}

/// The ETag of an object when content hashing is off: changes whenever the file does.
fn synthetic_etag(fp: &Fingerprint) -> String {
    format!("{:x}{:08x}-{:x}", fp.mtime_ns, fp.id as u32, fp.size)
}
