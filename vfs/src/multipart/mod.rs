//! Multipart uploads. Parts stream to disk (never to memory) while their MD5 is computed; upload
//! and part records live in the index, so an upload survives a restart (in a fleet, on the
//! remote, so that every gateway shares them: `shared.rs`); Complete publishes the object
//! atomically with S3's `md5-of-part-md5s-N` ETag.
//!
//! [`Multipart`] holds the core and the uploads' own state (records.rs) and knows no `Vfs`: the
//! facade's ordinary paths it needs (a key's writable path, a copy's source, a precondition, the
//! publishing of the assembled object through the commit point) are handed in ([`Objects`]).
//!
//! Where parts go: clients upload every part but the last at one size. The first part of at
//! least 5 MiB whose size is declared up front proposes that size (the stride), and each part of
//! at most the stride whose size is declared is written straight into one assembly file at
//! offset `(n - 1) * stride`. The stride is fixed for the upload once a part so placed has
//! arrived whole; until then the proposal lasts only while a part placed by it is being written,
//! so that a part that declares a size and never sends it (a body cut off) fixes nothing, and
//! the parts sent after it are not spread across a sparse file by it. When the completed parts
//! are 1..N, all written that way, and the assembly file holds nothing after them, it already is
//! the object: Complete links it into place, moving no data whatever the size. It is never cut
//! (bytes past the object may belong to a part), and never written again once it is an object:
//! the remote refuses writes in place into a file with another name (after a Complete cut off
//! before its records were written). Any other part (an odd size, a re-sent part, a part written
//! while another writes the same number) goes to a file of its own, and Complete then
//! concatenates in the kernel (`copy_file_range`), or, when one such part is the whole object
//! (a whole object copied as the only part), has the remote copy its file as it copies a
//! pinned object: a hard link on a local directory.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::Stream;
use md5::{Digest, Md5};

use crate::clock::now_ns;
use crate::commit::At;
use crate::core::Core;
use crate::error::{Result, VfsError};
use crate::fleet::{self, lost_race, Fleet};
use crate::index::{BodyHasher, Checksum, ChecksumSlot, ChecksumType, ObjectAttrs, ObjectMeta};
use crate::key::{self, RESERVED_DIR};
use crate::meta::{Edit, Tree};
use crate::object::{CopyFrom, ObjectInfo, ObjectReader, Precondition};
use crate::path_claims::Place;
use crate::remote::{ns_from_time, time_from_ns, Entry, Remote, Source, StoreCond, Upload};
use crate::version_id::VersionId;
use crate::writeback::WriteBack;

pub(crate) mod records;
mod shared;

use records::{
    assembly_path, decode, encode, part_key, staging_dir, staging_path, upload_key, valid_id,
    InPlaceClaim, InPlaceWrites, PartRecord, UploadRecord, Uploads, MAX_IN_PLACE_END,
};

/// S3's smallest part, except for the last one.
const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// S3's highest part number.
pub const MAX_PART_NUMBER: u32 = 10_000;

pub(crate) type BodyError = Box<dyn std::error::Error + Send + Sync>;

/// An open upload, as ListMultipartUploads shows it.
#[derive(Debug, Clone)]
pub struct UploadInfo {
    pub key: String,
    pub upload_id: String,
    pub initiated: SystemTime,
}

/// One uploaded part.
#[derive(Debug, Clone)]
pub struct PartInfo {
    pub number: u32,
    pub size: u64,
    /// Hex MD5 of the part, without quotes.
    pub etag: String,
    pub last_modified: SystemTime,
    pub checksum: Option<Checksum>,
    /// Written in the assembly file rather than a file of its own.
    pub(crate) in_place: bool,
    /// Where its bytes are, in a fleet (each send of a part has a file of its own there).
    pub(crate) staged: Option<String>,
}

/// The body of one UploadPart.
pub struct PartBody<S> {
    /// The `Content-MD5` the client sent, checked before the part is stored.
    pub content_md5: Option<[u8; 16]>,
    /// Filled by the body with its verified additional checksum, stored with the part.
    pub checksum: Option<ChecksumSlot>,
    /// The part's size when the client declared it before sending (then it may be written in
    /// place).
    pub size: Option<u64>,
    pub body: S,
}

/// A page of ListMultipartUploads.
#[derive(Debug, Clone, Default)]
pub struct UploadPage {
    pub uploads: Vec<UploadInfo>,
    pub common_prefixes: Vec<String>,
    pub truncated: bool,
    /// Where the next page starts after, when truncated: the last key or prefix of this page,
    /// with the upload id when it was an upload.
    pub next_marker: Option<(String, Option<String>)>,
}

/// A page of ListParts.
#[derive(Debug, Clone)]
pub struct PartPage {
    pub parts: Vec<PartInfo>,
    pub truncated: bool,
    pub initiated: SystemTime,
    /// The additional checksum the upload was created with.
    pub checksum: Option<ChecksumType>,
}

/// The multipart ETag: MD5 of the concatenated binary part MD5s, then `-N`.
fn multipart_etag(etags: &[&str]) -> String {
    let mut h = Md5::new();
    for e in etags {
        let mut raw = [0u8; 16];
        if hex::decode_to_slice(e, &mut raw).is_ok() {
            h.update(raw);
        } else {
            h.update(e.as_bytes());
        }
    }
    format!("{}-{}", hex::encode(h.finalize()), etags.len())
}

/// Multipart uploads: the core, the write-back (whose cache holds the parts of uploads made
/// while new writes land there), the fleet's handle when other gateways share the remote
/// (`shared.rs`), and what the uploads keep in memory ([`Uploads`]: their locks, the parts
/// being written in place, the limit per bucket). It knows no `Vfs`: what it needs of the
/// facade's ordinary paths is handed in ([`Objects`]).
pub struct Multipart {
    core: Arc<Core>,
    write_back: Arc<WriteBack>,
    fleet: Option<Arc<Fleet>>,
    uploads: Uploads,
}

/// What a multipart upload asks of the facade: where a new object of a key is written, whether
/// a bucket exists, an object as it reads now and a client's precondition on it, a copy's
/// source opened, what a fleet's object carries, and the finished object published through the
/// commit point as a PUT's is (`Publish`: the version it replaces kept, its default retention,
/// the write cache's queue).
pub(crate) trait Objects {
    /// Where a new object at `bucket/key` is written, once its bucket exists; held until it is
    /// published.
    async fn writable_path(&self, bucket: &str, key: &str) -> Result<Place<'_>>;
    async fn head_bucket(&self, bucket: &str) -> Result<()>;
    async fn head_object(&self, bucket: &str, key: &str) -> Result<ObjectInfo>;
    /// `check` on the object now at `bucket/key`, before any byte is assembled.
    async fn check_precondition(&self, bucket: &str, key: &str, check: &Precondition)
        -> Result<()>;
    /// The source of a copy, opened, and the path of its file.
    async fn open_source(&self, from: &CopyFrom<'_>) -> Result<(ObjectReader, String)>;
    /// What an object of `bucket`/`key` written with `attrs` from parts of sizes `parts`, whose
    /// ETag `etag` the store's own does not tell (and `version`, where its bucket keeps
    /// versions), carries for the other gateways of a fleet (in a sidecar written now where it
    /// does not fit in the store's metadata).
    async fn sealed(
        &self,
        bucket: &str,
        key: &str,
        attrs: &ObjectAttrs,
        parts: &[u64],
        etag: &str,
        version: Option<VersionId>,
    ) -> Result<String>;
    /// In a fleet, the id of a new version of an object in `bucket`, where it keeps versions.
    fn fleet_version(&self, bucket: &str) -> Result<Option<VersionId>>;
    /// Commits `upload` as the object at `at` with its record `meta`, if `precondition` holds
    /// on the object there under the key's lock.
    async fn publish(
        &self,
        at: At<'_>,
        precondition: Option<&Precondition>,
        upload: Box<dyn Upload>,
        meta: ObjectMeta,
    ) -> Result<ObjectInfo>;
}

impl Multipart {
    pub(crate) fn new(
        core: Arc<Core>,
        write_back: Arc<WriteBack>,
        fleet: Option<Arc<Fleet>>,
        max_per_bucket: u64,
    ) -> Multipart {
        Multipart {
            core,
            write_back,
            fleet,
            uploads: Uploads::new(max_per_bucket),
        }
    }

    pub(crate) fn record(&self, bucket: &str, key: &str, id: &str) -> Result<UploadRecord> {
        if !valid_id(id) {
            return Err(VfsError::NoSuchUpload);
        }
        match self
            .core
            .index
            .get_in(Tree::Uploads, &upload_key(bucket, key, id))?
        {
            Some(v) => decode(&v),
            None => Err(VfsError::NoSuchUpload),
        }
    }

    /// The record of an upload of `bucket`/`key`: in a fleet as the remote has it, since any
    /// gateway may have completed or aborted it.
    async fn any_upload(&self, bucket: &str, key: &str, id: &str) -> Result<UploadRecord> {
        match self.fleet {
            Some(_) if valid_id(id) => self.shared_upload(bucket, key, id).await,
            _ => self.record(bucket, key, id),
        }
    }

    async fn open_upload(&self, bucket: &str, key: &str, id: &str) -> Result<UploadRecord> {
        let rec = self.any_upload(bucket, key, id).await?;
        if rec.completed.is_some() {
            return Err(VfsError::NoSuchUpload);
        }
        Ok(rec)
    }

    pub(crate) async fn create(
        &self,
        objects: &impl Objects,
        bucket: &str,
        key: &str,
        attrs: ObjectAttrs,
        checksum: Option<ChecksumType>,
    ) -> Result<String> {
        objects.writable_path(bucket, key).await?;
        // Counted and created under one lock per bucket, so that a burst of creates cannot all
        // see room for itself (`/` keeps it apart from the upload ids the lock space holds).
        self.uploads
            .locks
            .with(&format!("{bucket}/"), async {
                self.check_room(bucket).await?;
                let id = format!("{:032x}", rand::random::<u128>());
                let initiated_ns = now_ns();
                let rec = UploadRecord {
                    initiated_ns,
                    attrs,
                    completed: None,
                    checksum,
                    stride: None,
                    in_cache: Some(self.write_back.in_write_cache(None)),
                };
                if self.fleet.is_some() {
                    self.share_upload(bucket, key, &id, &rec).await?;
                    self.recheck_shared_room(bucket, &id).await?;
                }
                self.core
                    .index
                    .apply(vec![Edit::Put(
                        Tree::Uploads,
                        upload_key(bucket, key, &id),
                        encode(&rec),
                    )])
                    .await?;
                self.core
                    .schedule_upload(bucket, key, &id, initiated_ns)
                    .await;
                Ok(id)
            })
            .await
    }

    /// Refuses a new upload in a bucket that has as many open as this server allows; the
    /// caller holds the bucket's upload lock.
    async fn check_room(&self, bucket: &str) -> Result<()> {
        let max = self.uploads.max_per_bucket;
        if max == 0 {
            return Ok(());
        }
        if self.fleet.is_some() {
            self.sync_open_uploads(bucket).await?;
        }
        if self.open_uploads_in(bucket, max)? >= max {
            return Err(limit_reached(bucket, max));
        }
        Ok(())
    }

    /// In a fleet, after a new upload's marker is on the remote: the bucket's open uploads are
    /// counted again, and the new one is undone if they went over the limit. Creates racing on
    /// other gateways each passed `check_room` before the others' markers were there; counting
    /// after writing makes the last of them see all the others, so the uploads acknowledged never
    /// exceed the limit, without a lock the gateways would share (a race may refuse more than
    /// it needed to, never fewer).
    async fn recheck_shared_room(&self, bucket: &str, id: &str) -> Result<()> {
        let max = self.uploads.max_per_bucket;
        if max == 0 || self.open_markers(bucket).await?.len() as u64 <= max {
            return Ok(());
        }
        self.unshare_upload(bucket, id).await?;
        Err(limit_reached(bucket, max))
    }

    /// The additional checksum an open upload's parts carry.
    pub async fn checksum(
        &self,
        bucket: &str,
        key: &str,
        id: &str,
    ) -> Result<Option<ChecksumType>> {
        Ok(self.open_upload(bucket, key, id).await?.checksum)
    }

    /// Streams one part to its staging file; re-sending a part number replaces the part.
    pub async fn upload_part<S>(
        &self,
        bucket: &str,
        key: &str,
        id: &str,
        number: u32,
        part: PartBody<S>,
    ) -> Result<PartInfo>
    where
        S: Stream<Item = std::result::Result<Bytes, BodyError>> + Unpin,
    {
        let upload_rec = self.open_upload(bucket, key, id).await?;
        let claim = self
            .claim_in_place(bucket, key, id, number, part.size)
            .await?;
        let stage = self.part_stage(id, number);
        let (upload, placed) = self.part_upload(&upload_rec, id, &stage, claim).await?;
        let (upload, fp, digest) = self
            .core
            .stage_into(upload, part.body, true, None, None)
            .await?;
        if part.content_md5.is_some_and(|want| want != digest) {
            upload.abort().await;
            return Err(VfsError::BadDigest);
        }
        let rec = PartRecord {
            size: fp.size,
            etag: hex::encode(digest),
            mtime_ns: 0,
            checksum: part.checksum.as_ref().and_then(|s| s.get().cloned()),
            in_place: placed.is_some(),
        };
        self.store_part(bucket, key, id, number, &stage, upload, rec, placed)
            .await
    }

    /// Where one send of part `number` stages its bytes when they do not go in place: in a
    /// fleet a file of its own per send, which no other gateway's send of the same number
    /// overwrites.
    fn part_stage(&self, id: &str, number: u32) -> String {
        match self.fleet {
            Some(_) => shared::part_stage(id, number),
            None => staging_path(id, number),
        }
    }

    /// Claims the place of part `number` in the assembly file when the part can go there (see
    /// the module documentation); the first part that can proposes the stride.
    async fn claim_in_place(
        &self,
        bucket: &str,
        key: &str,
        id: &str,
        number: u32,
        size: Option<u64>,
    ) -> Result<Option<Arc<InPlaceClaim>>> {
        // In a fleet another gateway may write the same part's place meanwhile, under a lock of
        // its own: every part gets a file of its own there.
        let Some(size) = size.filter(|_| self.fleet.is_none()) else {
            return Ok(None);
        };
        self.uploads
            .locks
            .with(id, async {
                let rec = self.open_upload(bucket, key, id).await?;
                // A part already stored keeps its bytes until the new one has fully arrived: the
                // new one goes elsewhere.
                if self
                    .core
                    .index
                    .get_in(Tree::Parts, &part_key(id, number))?
                    .is_some()
                {
                    return Ok(None);
                }
                let Ok(mut writers) = self.uploads.in_place.lock() else {
                    return Ok(None);
                };
                let (stride, fits) = match (rec.stride, writers.get(id).map(|w| w.stride)) {
                    (Some(s), _) => (s, size <= s),
                    (None, Some(proposed)) => (proposed, size <= proposed),
                    (None, None) => (size, size >= MIN_PART_SIZE),
                };
                if !fits || u64::from(number) * stride > MAX_IN_PLACE_END {
                    return Ok(None);
                }
                let claimed = writers
                    .entry(id.to_string())
                    .or_insert_with(|| InPlaceWrites {
                        stride,
                        parts: HashSet::new(),
                    })
                    .parts
                    .insert(number);
                Ok(claimed.then(|| {
                    Arc::new(InPlaceClaim {
                        writers: self.uploads.in_place.clone(),
                        id: id.to_string(),
                        number,
                        offset: u64::from(number - 1) * stride,
                        max_len: stride,
                    })
                }))
            })
            .await
    }

    /// Where a part's bytes go: its place in the assembly file, or a staging file of its own
    /// (also when the assembly file has meanwhile become an object). Gives back the claim when
    /// the part is written in place, to be held until it is recorded.
    async fn part_upload(
        &self,
        rec: &UploadRecord,
        id: &str,
        stage: &str,
        claim: Option<Arc<InPlaceClaim>>,
    ) -> Result<(Box<dyn Upload>, Option<Arc<InPlaceClaim>>)> {
        if let Some(c) = claim {
            if let Some(up) = self
                .write_back
                .store_for(rec.in_cache)
                .write_at(&assembly_path(id), c.offset, c.max_len, c.clone())
                .await?
            {
                return Ok((up, Some(c)));
            }
        }
        Ok((
            self.write_back
                .store_for(rec.in_cache)
                .create(stage)
                .await?,
            None,
        ))
    }

    /// Copies `range` (offset, length; the whole object when `None`) of an object (any version
    /// of it) into a part. The bytes stream from the source file to the staging file, hashed on
    /// the way (by `hasher` too, when given); a whole object whose MD5 is known, with no range
    /// or one that spans it (as clients that always send a range copy a small object), is
    /// copied without reading a byte (see [`Multipart::copy_whole_part`]).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn upload_part_copy(
        &self,
        objects: &impl Objects,
        bucket: &str,
        key: &str,
        id: &str,
        number: u32,
        from: CopyFrom<'_>,
        range: Option<(u64, u64)>,
        mut hasher: Option<Box<dyn BodyHasher>>,
    ) -> Result<PartInfo> {
        let upload_rec = self.open_upload(bucket, key, id).await?;
        let (src, src_path) = objects.open_source(&from).await?;
        let (offset, len) = match range {
            None => (0, src.info.size),
            Some((o, l)) if o.checked_add(l).is_some_and(|end| end <= src.info.size) => (o, l),
            Some(_) => {
                return Err(VfsError::InvalidRange(format!(
                    "the copy range is outside the source object ({} bytes)",
                    src.info.size
                )))
            }
        };
        if offset == 0 && len == src.info.size && hasher.is_none() {
            if let Some(part) = self
                .copy_whole_part(bucket, key, id, number, &upload_rec, &src, src_path)
                .await?
            {
                return Ok(part);
            }
        }
        let claim = self
            .claim_in_place(bucket, key, id, number, Some(len))
            .await?;
        let stage = self.part_stage(id, number);
        let (upload, placed) = self.part_upload(&upload_rec, id, &stage, claim).await?;
        let (upload, fp, digest) = self
            .core
            .stage_into(upload, src.stream(offset, len), true, hasher.as_mut(), None)
            .await?;
        let rec = PartRecord {
            size: fp.size,
            etag: hex::encode(digest),
            mtime_ns: 0,
            checksum: hasher.map(|h| h.finish()),
            in_place: placed.is_some(),
        };
        self.store_part(bucket, key, id, number, &stage, upload, rec, placed)
            .await
    }

    /// A part that is a whole object whose MD5 is known (its ETag is one, or the remote keeps
    /// it) is the remote's copy of the file, with that MD5 as its ETag: a hard link on a local
    /// directory, a server-side copy on an object store, no byte read or hashed. `None` when
    /// that cannot be (the MD5 unknown, source and part on different sides of the write cache,
    /// the source replaced meanwhile): the caller streams the bytes instead. The part is staged
    /// rather than written in place, so Complete copies it into the object in the kernel.
    #[allow(clippy::too_many_arguments)]
    async fn copy_whole_part(
        &self,
        bucket: &str,
        key: &str,
        id: &str,
        number: u32,
        upload_rec: &UploadRecord,
        src: &ObjectReader,
        src_path: String,
    ) -> Result<Option<PartInfo>> {
        let etag = src.info.etag.trim_matches('"');
        let md5 = match etag.len() == 32 && etag.bytes().all(|b| b.is_ascii_hexdigit()) {
            true => Some(etag.to_ascii_lowercase()),
            false => src.reader.known_md5(),
        };
        let Some(md5) = md5 else {
            return Ok(None);
        };
        if src.in_write_cache != self.write_back.in_write_cache(upload_rec.in_cache) {
            return Ok(None);
        }
        let source = Source::file(src_path, Some(src.reader.fingerprint()));
        let stage = self.part_stage(id, number);
        let mut upload = match self
            .write_back
            .store_for(upload_rec.in_cache)
            .concat(&stage, &[source])
            .await
        {
            Ok(up) => up,
            Err(e) if matches!(e.raw_os_error(), Some(libc::ESTALE) | Some(libc::ENOENT)) => {
                return Ok(None)
            }
            Err(e) => return Err(e.into()),
        };
        let fp = match upload.finish(self.core.fsync).await {
            Ok(fp) => fp,
            Err(e) => {
                upload.abort().await;
                return Err(e.into());
            }
        };
        let rec = PartRecord {
            size: fp.size,
            etag: md5,
            mtime_ns: 0,
            checksum: None,
            in_place: false,
        };
        self.store_part(bucket, key, id, number, &stage, upload, rec, None)
            .await
            .map(Some)
    }

    /// Publishes a staged part and its record (stamped now). A part `placed` in the assembly
    /// file by a stride only proposed fixes it, in the same index write: it arrived whole.
    #[allow(clippy::too_many_arguments)]
    async fn store_part(
        &self,
        bucket: &str,
        key: &str,
        id: &str,
        number: u32,
        stage: &str,
        upload: Box<dyn Upload>,
        mut rec: PartRecord,
        placed: Option<Arc<InPlaceClaim>>,
    ) -> Result<PartInfo> {
        // The upload's lock: an Abort or a Complete cannot run between the check and the record.
        self.uploads
            .locks
            .with(id, async {
                // The upload may have been aborted or completed while this part streamed in.
                let upload_rec = match self.open_upload(bucket, key, id).await {
                    Ok(r) => r,
                    Err(e) => {
                        upload.abort().await;
                        return Err(e);
                    }
                };
                rec.mtime_ns = now_ns();
                let staged = self.fleet.as_ref().map(|_| stage.to_string());
                if staged.is_some() {
                    // The bytes, then the record that names them: a listed record has its bytes
                    // whole.
                    upload
                        .commit(stage, self.core.fsync, Box::new(|_| {}))
                        .await?;
                    self.share_part(stage, &rec).await?;
                } else {
                    self.record_part(
                        bucket, key, id, number, stage, upload, &rec, placed, upload_rec,
                    )
                    .await?;
                }
                Ok(PartInfo {
                    number,
                    size: rec.size,
                    etag: rec.etag,
                    last_modified: time_from_ns(rec.mtime_ns),
                    checksum: rec.checksum,
                    in_place: rec.in_place,
                    staged,
                })
            })
            .await
    }

    /// Publishes a staged part with its record in the index, and the stride it fixes.
    #[allow(clippy::too_many_arguments)]
    async fn record_part(
        &self,
        bucket: &str,
        key: &str,
        id: &str,
        number: u32,
        stage: &str,
        upload: Box<dyn Upload>,
        rec: &PartRecord,
        placed: Option<Arc<InPlaceClaim>>,
        mut upload_rec: UploadRecord,
    ) -> Result<()> {
        let mut ops = vec![Edit::Put(Tree::Parts, part_key(id, number), encode(rec))];
        if let (None, Some(c)) = (upload_rec.stride, &placed) {
            upload_rec.stride = Some(c.max_len);
            ops.push(Edit::Put(
                Tree::Uploads,
                upload_key(bucket, key, id),
                encode(&upload_rec),
            ));
        }
        let (record, recorded) = self.core.index.prepare(move |_| ops)?;
        upload.commit(stage, self.core.fsync, record).await?;
        recorded.await?;
        // The claim is given back only once the part is recorded.
        drop(placed);
        Ok(())
    }

    /// The parts of an upload numbered after `after`, at most `limit`: in a fleet as the remote
    /// has them.
    async fn parts_of(&self, id: &str, after: u32, limit: usize) -> Result<Vec<PartInfo>> {
        if self.fleet.is_some() {
            let mut parts = self.shared_parts(id, after).await?;
            parts.truncate(limit);
            return Ok(parts);
        }
        let start = part_key(id, after.saturating_add(1));
        let mut prefix = id.as_bytes().to_vec();
        prefix.push(b'/');
        let end = key::prefix_end(&prefix);
        self.core
            .index
            .range_in(Tree::Parts, &start, end.as_deref(), limit)?
            .into_iter()
            .map(|(k, v)| {
                let rec: PartRecord = decode(&v)?;
                let n = k[k.len() - 4..]
                    .try_into()
                    .map(u32::from_be_bytes)
                    .unwrap_or_default();
                Ok(PartInfo {
                    number: n,
                    size: rec.size,
                    etag: rec.etag,
                    last_modified: time_from_ns(rec.mtime_ns),
                    checksum: rec.checksum,
                    in_place: rec.in_place,
                    staged: None,
                })
            })
            .collect()
    }

    pub async fn list_parts(
        &self,
        bucket: &str,
        key: &str,
        id: &str,
        after: u32,
        max: usize,
    ) -> Result<PartPage> {
        let rec = self.open_upload(bucket, key, id).await?;
        let mut parts = self.parts_of(id, after, max + 1).await?;
        let truncated = parts.len() > max;
        parts.truncate(max);
        Ok(PartPage {
            parts,
            truncated,
            initiated: time_from_ns(rec.initiated_ns),
            checksum: rec.checksum,
        })
    }

    /// Assembles the listed parts into the object, which carries `checksum` (computed by the
    /// caller from the parts'), when `precondition` holds on the object it replaces. A failed
    /// Complete leaves the upload as it was, so the client can retry; a repeated Complete of a
    /// finished upload answers the same (its condition held when it was first evaluated, and
    /// the object it made would now fail an `If-None-Match: *`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn complete(
        &self,
        objects: &impl Objects,
        bucket: &str,
        key: &str,
        id: &str,
        wanted: &[(u32, String)],
        checksum: Option<Checksum>,
        precondition: Option<Precondition>,
    ) -> Result<ObjectInfo> {
        // Held throughout: parts cannot be added, nor the upload aborted, while the assembly
        // file may become the object; a second Complete waits and answers as this one did.
        self.uploads
            .locks
            .with(id, async {
                let mut rec = self.any_upload(bucket, key, id).await?;
                if self.fleet.is_some() && rec.completed.is_none() {
                    // Completed by another gateway, which writes that before the upload stops being
                    // open.
                    rec.completed = self.shared_completion(id).await?;
                }
                if let Some(etag) = &rec.completed {
                    let info = objects.head_object(bucket, key).await?;
                    return if &info.etag == etag {
                        Ok(info)
                    } else {
                        Err(VfsError::NoSuchUpload)
                    };
                }
                let place = objects.writable_path(bucket, key).await?;
                let path = &place.path;
                // In a fleet a bucket that keeps versions pins every write to the version it
                // replaces.
                let version = objects.fleet_version(bucket)?;
                let asked = precondition.is_some();
                let pinned = fleet::pin(
                    self.fleet.as_deref(),
                    self.core.remote.as_ref(),
                    path,
                    asked || version.is_some(),
                )
                .await?;
                let lost = |e| fleet::lost_to_another(lost_race(e, pinned), asked);
                if let Some(check) = &precondition {
                    // Before assembling anything; checked again when publishing.
                    objects.check_precondition(bucket, key, check).await?;
                }
                if wanted.windows(2).any(|w| w[0].0 >= w[1].0) {
                    return Err(VfsError::InvalidPartOrder);
                }
                let stored = self.parts_of(id, 0, MAX_PART_NUMBER as usize + 1).await?;
                let mut chosen = Vec::with_capacity(wanted.len());
                for (i, (n, etag)) in wanted.iter().enumerate() {
                    let part = stored
                        .binary_search_by_key(n, |p| p.number)
                        .ok()
                        .map(|i| &stored[i])
                        .filter(|p| p.etag == etag.trim_matches('"'))
                        .ok_or_else(|| {
                            VfsError::InvalidPart(format!(
                                "part {n} was not uploaded, or its ETag does not match"
                            ))
                        })?;
                    if part.size < MIN_PART_SIZE && i + 1 < wanted.len() {
                        return Err(VfsError::EntityTooSmall(format!(
                            "part {n} is {} bytes: every part but the last must be at least 5 MiB",
                            part.size
                        )));
                    }
                    chosen.push(part);
                }
                self.core.check_size(chosen.iter().map(|p| p.size).sum())?;
                let etags: Vec<&str> = chosen.iter().map(|p| p.etag.as_str()).collect();
                let etag = multipart_etag(&etags);
                // In a fleet the object carries its ETag, which the store's own does not tell,
                // and its checksum.
                let sizes: Vec<u64> = chosen.iter().map(|p| p.size).collect();
                let carry = match &self.fleet {
                    Some(_) => {
                        let attrs = ObjectAttrs {
                            checksum: checksum.clone(),
                            ..rec.attrs.clone()
                        };
                        Some(
                            objects
                                .sealed(bucket, key, &attrs, &sizes, &etag, version)
                                .await?,
                        )
                    }
                    None => None,
                };
                let mut upload = self
                    .assemble(path, id, &rec, &chosen, &stored, carry.as_deref(), pinned)
                    .await
                    .map_err(lost)?;
                let fp = match upload.finish(self.core.fsync).await {
                    Ok(fp) => fp,
                    Err(e) => {
                        upload.abort().await;
                        return Err(e.into());
                    }
                };
                let meta = ObjectMeta {
                    fingerprint: fp,
                    etag,
                    version,
                    attrs: ObjectAttrs {
                        checksum,
                        ..rec.attrs.clone()
                    },
                    parts: sizes,
                    modified_ns: None,
                    in_write_cache: self.write_back.in_write_cache(rec.in_cache),
                    store: None,
                };
                let at = At { bucket, key, path };
                let info = objects
                    .publish(at, precondition.as_ref(), upload, meta)
                    .await
                    .map_err(lost)?;
                let done = UploadRecord {
                    completed: Some(info.etag.clone()),
                    ..rec
                };
                if self.fleet.is_some() {
                    self.share_completion(bucket, id, &info.etag).await?;
                    self.cache_upload(bucket, key, id, &done).await?;
                    return Ok(info);
                }
                let mut ops = vec![Edit::Put(
                    Tree::Uploads,
                    upload_key(bucket, key, id),
                    encode(&done),
                )];
                ops.extend(
                    stored
                        .iter()
                        .map(|p| Edit::Delete(Tree::Parts, part_key(id, p.number))),
                );
                self.core.index.apply(ops).await?;
                self.write_back
                    .store_for(done.in_cache)
                    .delete_tree(&staging_dir(id))
                    .await?;
                Ok(info)
            })
            .await
    }

    /// An upload holding the chosen parts in order: the assembly file itself when it already
    /// is exactly the object, else a concatenation of the parts' bytes wherever they are; the
    /// object carries `carry` where given, and is published only while `cond` holds.
    #[allow(clippy::too_many_arguments)]
    async fn assemble(
        &self,
        dest: &str,
        id: &str,
        rec: &UploadRecord,
        chosen: &[&PartInfo],
        stored: &[PartInfo],
        carry: Option<&str>,
        cond: Option<StoreCond>,
    ) -> Result<Box<dyn Upload>> {
        let (assembly, stride) = (assembly_path(id), rec.stride);
        let store = self.write_back.store_for(rec.in_cache);
        let concat = |srcs: Vec<Source>| async move {
            match (carry, cond) {
                (carry, Some(cond)) => store.concat_if(dest, &srcs, carry, cond).await,
                (Some(meta), None) => store.concat_with_meta(dest, &srcs, meta).await,
                (None, None) => store.concat(dest, &srcs).await,
            }
        };
        if let (Some(stride), Some(last)) = (stride, chosen.last()) {
            let n = chosen.len();
            let contiguous = chosen.iter().enumerate().all(|(i, p)| {
                p.in_place && p.number as usize == i + 1 && (i + 1 == n || p.size == stride)
            });
            // Bytes past the object (a later part, a write in progress) must not be cut off.
            let nothing_after = stored
                .iter()
                .all(|p| p.number <= last.number || !p.in_place);
            let idle = self
                .uploads
                .in_place
                .lock()
                .map(|w| !w.contains_key(id))
                .unwrap_or(false);
            // Exactly the object's size: nothing (a later part, the remains of a failed write)
            // lies beyond it. The file is never cut: what is beyond may belong to a part.
            let size = (n as u64 - 1) * stride + last.size;
            let exact = match store.stat(&assembly).await? {
                Some(e) if !e.is_dir && e.fingerprint.size == size => Some(e.fingerprint),
                _ => None,
            };
            if let (true, true, true, Some(fp)) = (contiguous, nothing_after, idle, exact) {
                return Ok(concat(vec![Source::file(assembly, Some(fp))]).await?);
            }
        }
        let mut srcs: Vec<Source> = chosen
            .iter()
            .map(|p| match stride.filter(|_| p.in_place) {
                Some(stride) => Source {
                    path: assembly.clone(),
                    pinned: None,
                    range: Some((u64::from(p.number - 1) * stride, p.size)),
                },
                None => Source::file(
                    p.staged
                        .clone()
                        .unwrap_or_else(|| staging_path(id, p.number)),
                    None,
                ),
            })
            .collect();
        // One staged file whole is the object (a whole object copied as the only part): pinned
        // to the file as it is, the store copies it as it copies a pinned object, a hard link
        // here, where the bytes would be copied again. Nothing writes a staged part's file
        // after it is stored.
        if let [only @ Source { range: None, .. }] = srcs.as_mut_slice() {
            only.pinned = store
                .stat(&only.path)
                .await?
                .filter(|e| !e.is_dir)
                .map(|e| e.fingerprint);
        }
        Ok(concat(srcs).await?)
    }

    pub async fn abort(&self, bucket: &str, key: &str, id: &str) -> Result<()> {
        self.uploads
            .locks
            .with(id, async {
                let rec = self.open_upload(bucket, key, id).await?;
                self.drop_upload(bucket, key, id, &rec).await
            })
            .await
    }

    /// Forgets an upload: its record, its parts' records and its staging files. The caller
    /// holds the upload's lock.
    async fn drop_upload(
        &self,
        bucket: &str,
        key: &str,
        id: &str,
        rec: &UploadRecord,
    ) -> Result<()> {
        if self.fleet.is_some() {
            self.unshare_upload(bucket, id).await?;
            return self.forget_upload(bucket, key, id).await;
        }
        let parts = self.parts_of(id, 0, MAX_PART_NUMBER as usize + 1).await?;
        let mut ops = vec![Edit::Delete(Tree::Uploads, upload_key(bucket, key, id))];
        ops.extend(
            parts
                .iter()
                .map(|p| Edit::Delete(Tree::Parts, part_key(id, p.number))),
        );
        self.core.index.apply(ops).await?;
        self.write_back
            .store_for(rec.in_cache)
            .delete_tree(&staging_dir(id))
            .await?;
        Ok(())
    }

    /// Open uploads of a bucket in key order, then upload-id order (ids are random, so "order
    /// of initiation" is not kept), with prefix and delimiter as in object listings.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn list_uploads(
        &self,
        objects: &impl Objects,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        key_marker: Option<&str>,
        id_marker: Option<&str>,
        max: usize,
    ) -> Result<UploadPage> {
        objects.head_bucket(bucket).await?;
        if self.fleet.is_some() {
            self.sync_open_uploads(bucket).await?;
        }
        let delimiter = delimiter.filter(|d| !d.is_empty());
        let base = key::index_key(bucket, "");
        let mut start = key::index_key(bucket, prefix);
        let end = key::prefix_end(&start);
        if let Some(m) = key_marker.filter(|m| !m.is_empty()) {
            let after = match id_marker.filter(|i| !i.is_empty()) {
                // Uploads of the marker key after that id, then later keys.
                Some(i) => {
                    let mut k = upload_key(bucket, m, i);
                    k.push(0);
                    k
                }
                None => {
                    let mut k = key::index_key(bucket, m);
                    k.push(1); // past every `key NUL id` of the marker key
                    k
                }
            };
            start = start.max(after);
        }
        let mut page = UploadPage::default();
        let mut count = 0;
        // As in object listings: few entries at a time right after a common prefix.
        let mut limit = 1000;
        'scan: loop {
            let batch = self
                .core
                .index
                .range_in(Tree::Uploads, &start, end.as_deref(), limit)?;
            if batch.is_empty() {
                break;
            }
            let mut next = None;
            let mut jumped = false;
            for (k, v) in batch {
                let Some(nul) = k.iter().position(|&b| b == 0) else {
                    continue;
                };
                let name = String::from_utf8_lossy(&k[base.len()..nul]).into_owned();
                if let Some(d) = delimiter {
                    if let Some(pos) = name[prefix.len()..].find(d) {
                        let cp = name[..prefix.len() + pos + d.len()].to_string();
                        // A prefix at or before the marker was on an earlier page.
                        if key_marker.is_none_or(|m| cp.as_str() > m) {
                            if count == max {
                                page.truncated = true;
                                break 'scan;
                            }
                            page.common_prefixes.push(cp.clone());
                            page.next_marker = Some((cp.clone(), None));
                            count += 1;
                        }
                        match key::prefix_end(&key::index_key(bucket, &cp)) {
                            Some(s) => next = Some(s),
                            None => break 'scan,
                        }
                        jumped = true;
                        break;
                    }
                }
                let rec: UploadRecord = decode(&v)?;
                let mut s = k.clone();
                s.push(0);
                next = Some(s);
                if rec.completed.is_some() {
                    continue;
                }
                if count == max {
                    page.truncated = true;
                    break 'scan;
                }
                let upload_id = String::from_utf8_lossy(&k[nul + 1..]).into_owned();
                page.next_marker = Some((name.clone(), Some(upload_id.clone())));
                page.uploads.push(UploadInfo {
                    key: name,
                    upload_id,
                    initiated: time_from_ns(rec.initiated_ns),
                });
                count += 1;
            }
            match next {
                Some(s) => start = s,
                None => break,
            }
            limit = if jumped { 2 } else { (limit * 2).min(1000) };
        }
        if !page.truncated {
            page.next_marker = None;
        }
        Ok(page)
    }

    /// How many multipart uploads are open.
    pub async fn count_open(&self) -> Result<usize> {
        Ok(self
            .upload_records()?
            .iter()
            .filter(|(_, v)| decode::<UploadRecord>(v).is_ok_and(|r| r.completed.is_none()))
            .count())
    }

    /// How many uploads of `bucket` are open, counting no further than `enough`.
    fn open_uploads_in(&self, bucket: &str, enough: u64) -> Result<u64> {
        let mut start = key::index_key(bucket, "");
        let end = key::prefix_end(&start);
        let mut open = 0;
        loop {
            let batch = self
                .core
                .index
                .range_in(Tree::Uploads, &start, end.as_deref(), 1000)?;
            let Some((last, _)) = batch.last() else {
                return Ok(open);
            };
            start = last.clone();
            start.push(0);
            for (_, v) in &batch {
                // Completed ones are kept a while only to answer a repeated Complete.
                if decode::<UploadRecord>(v)?.completed.is_none() {
                    open += 1;
                }
            }
            if open >= enough {
                return Ok(open);
            }
        }
    }

    /// Every upload record (completed ones included), as stored: `bucket/key NUL id` → record.
    fn upload_records(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut all = Vec::new();
        self.core.index.visit_in(Tree::Uploads, |k, v| {
            all.push((k.to_vec(), v.to_vec()));
            true
        })?;
        Ok(all)
    }

    /// Forgets uploads idle longer than `max_age` (and completed ones kept for repeated
    /// Completes), and staging folders that no upload owns. Returns how many uploads went.
    pub async fn reap(&self, max_age: Duration) -> Result<usize> {
        let cutoff = now_ns() - max_age.as_nanos().min(i64::MAX as u128) as i64;
        // Staging folders (on the remote, and in the write cache where there is one) are listed
        // before the records are read, so that an upload created meanwhile is never mistaken
        // for an orphan.
        let dir = format!("{RESERVED_DIR}/multipart");
        let stores = [
            Some(&self.core.remote),
            self.write_back.cache.as_ref().map(|c| &c.fs),
        ];
        let mut staged = Vec::new();
        for store in stores.into_iter().flatten() {
            staged.push((store, store.list_dir(&dir).await.unwrap_or_default()));
        }
        let mut reaped = 0;
        let mut live = std::collections::HashSet::new();
        for (k, v) in self.upload_records()? {
            let Some(nul) = k.iter().position(|&b| b == 0) else {
                continue;
            };
            let id = String::from_utf8_lossy(&k[nul + 1..]).into_owned();
            let rec: UploadRecord = decode(&v)?;
            let newest_part = self
                .parts_of(&id, 0, MAX_PART_NUMBER as usize + 1)
                .await?
                .iter()
                .map(|p| p.last_modified)
                .max()
                .map_or(rec.initiated_ns, ns_from_time);
            if rec.initiated_ns.max(newest_part) < cutoff {
                let full = String::from_utf8_lossy(&k[..nul]).into_owned();
                if let Some((bucket, key)) = full.split_once('/') {
                    self.uploads
                        .locks
                        .with(&id, self.drop_upload(bucket, key, &id, &rec))
                        .await?;
                    reaped += 1;
                }
            } else {
                live.insert(id);
            }
        }
        // A folder this index does not know may be another gateway's upload over the same
        // remote, or one whose record a crash lost: either way it goes only once nothing in it
        // has changed for as long as an upload may stay idle, by the remote's own clock, the
        // rule the owner itself applies to its uploads.
        for (store, entries) in staged {
            for e in entries.into_iter().filter(|e| !live.contains(&e.name)) {
                let path = format!("{dir}/{}", e.name);
                if last_touched(store.as_ref(), &path, &e)
                    .await
                    .is_some_and(|t| t < cutoff)
                {
                    if self.fleet.is_some() {
                        self.unshare_orphan(&e.name).await?;
                    }
                    store.delete_tree(&path).await?;
                }
            }
        }
        // Staging files a crash (or a request cut off mid-body) left on a remote that writes
        // under a staging name first: none lives that long.
        let tmp = format!("{RESERVED_DIR}/tmp");
        for e in self.core.remote.list_dir(&tmp).await.unwrap_or_default() {
            if !e.is_dir && e.fingerprint.mtime_ns < cutoff {
                self.core
                    .remote
                    .delete(&format!("{tmp}/{}", e.name), None)
                    .await?;
            }
        }
        Ok(reaped)
    }
}

/// The newest modification time of a staging folder and the files in it, `None` when it cannot
/// be read (kept, then: a sweep must never guess in favour of deleting). A remote without
/// folder times (object stores) answers by the parts alone; an upload without any part there
/// leaves no folder to sweep.
async fn last_touched(store: &dyn Remote, path: &str, folder: &Entry) -> Option<i64> {
    let files = store.list_dir(path).await.ok()?;
    Some(
        files
            .iter()
            .map(|f| f.fingerprint.mtime_ns)
            .fold(folder.fingerprint.mtime_ns, i64::max),
    )
}

/// The refusal of a new upload in a bucket with `max` open.
fn limit_reached(bucket: &str, max: u64) -> VfsError {
    VfsError::LimitReached(format!(
        "bucket {bucket:?} has {max} multipart uploads open, the most this server allows: complete or abort some first"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etag_of_parts() {
        // Two parts whose MD5s are those of "a" and "b".
        let a = "0cc175b9c0f1b6a831c399e269772661";
        let b = "92eb5ffee6ae2fec3ad71c777531578f";
        let mut h = Md5::new();
        h.update(hex::decode(a).unwrap());
        h.update(hex::decode(b).unwrap());
        assert_eq!(
            multipart_etag(&[a, b]),
            format!("{}-2", hex::encode(h.finalize()))
        );
    }

    #[test]
    fn upload_ids() {
        assert!(valid_id("0123456789abcdef0123456789abcdef"));
        assert!(!valid_id("../../../../../../../../etc/pass"));
        assert!(!valid_id("0123456789ABCDEF0123456789abcdef"));
    }
}
