//! Remotes reached through OpenDAL: object stores (S3 and compatible stores, GCS, Azure Blob),
//! WebDAV, SFTP and memory.
//!
//! Object stores publish a write whole when it is closed, so uploads stream straight to their
//! destination; other services write to a staging name and rename. Folders are OpenDAL's `dir/`
//! paths (marker objects on object stores, where a folder also exists while anything is under
//! it).

use std::io;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use opendal::{ErrorKind, Metadata, Operator};

use super::s3_meta::MetaCopier;
use super::sftp_put::{SftpFile, SftpPut};
use super::stream_put::{PutTarget, StreamingPut};
use super::{
    ns_from_time, ByteStream, Entry, Fingerprint, Reader, Remote, Source, StoreCond, Upload,
};

/// Services whose writes become visible only, and entirely, when closed.
const ATOMIC_SCHEMES: &[&str] = &["s3", "gcs", "azblob", "swift", "b2", "memory"];
/// What an upload gathers before sending a piece (object stores need at least 5 MiB per part).
const WRITE_CHUNK: usize = 8 << 20;
/// Pieces of one upload in flight at once. With the piece being gathered, the one OpenDAL
/// holds ready for the next slot and a sent one whose answer it has not taken yet, an upload
/// holds up to five pieces (peaks of 36 to 40 MiB measured).
const WRITE_CONCURRENCY: usize = 2;
/// The largest object an object store copies in one request (S3's CopyObject limit).
const MAX_SERVER_COPY: u64 = 5 << 30;
/// The name of the user metadata that carries [`Remote::create_with_meta`]'s value
/// (`x-amz-meta-s3gate` on S3).
const STORE_META: &str = "s3gate";
/// The largest object written to a service that takes a file in one request and that no
/// streaming PUT serves (memory): OpenDAL sends such a request from memory.
const ONE_SHOT_MAX: u64 = 64 << 20;

pub struct OpendalRemote {
    op: Operator,
    atomic: bool,
    can_copy: bool,
    can_rename: bool,
    can_if_match: bool,
    /// An S3 store's ETag of a single-part object is the MD5 of its content.
    etag_is_md5: bool,
    /// Deleting a folder deletes its contents (WebDAV collections).
    recursive_dir_delete: bool,
    /// A file's stat says no more than its listing does (B2's stat is a listing).
    listing_is_full: bool,
    /// The most one upload may hold: unbounded where the service takes a file in pieces.
    max_upload: u64,
    /// Where uploads go other than through OpenDAL's writer.
    direct: Option<Arc<Direct>>,
    /// S3: how an object's metadata is replaced on the store's side.
    meta_copier: Option<MetaCopier>,
}

impl OpendalRemote {
    /// A remote of service `scheme` (`s3`, `webdav`, …) configured by `options`, OpenDAL's own
    /// option names (`bucket`, `endpoint`, `root`, …).
    pub fn new(
        scheme: &str,
        options: impl IntoIterator<Item = (String, String)>,
    ) -> io::Result<OpendalRemote> {
        opendal::init_default_registry();
        // HTTP services run on reqwest and rustls, with the crypto provider the rest of the
        // server uses (the transport's own default would pull in a second one).
        let _ = rustls::crypto::ring::default_provider().install_default();
        opendal_http_transport_reqwest::install_default();
        let options: Vec<(String, String)> = options.into_iter().collect();
        let direct = match scheme {
            "webdav" => PutTarget::from_options(&options)?.map(Direct::Put),
            "sftp" => SftpPut::from_options(&options)?.map(Direct::Sftp),
            _ => None,
        }
        .map(Arc::new);
        let meta_copier = match scheme {
            "s3" => MetaCopier::from_options(&options)?,
            _ => None,
        };
        let op = match scheme {
            // Koofr's URI form reads the account from the path: built from its options instead.
            "koofr" => Operator::from_iter::<opendal::services::Koofr>(options),
            _ => Operator::via_iter(scheme, options),
        }
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?
        .layer(
            opendal::layers::RetryLayer::new()
                .with_jitter()
                .with_notify(RetryLog),
        );
        let cap = op.info().capability();
        let atomic = ATOMIC_SCHEMES.contains(&scheme);
        if !atomic && !cap.rename {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("remote type {scheme:?} can neither write atomically nor rename"),
            ));
        }
        Ok(OpendalRemote {
            op,
            atomic,
            can_copy: cap.copy,
            can_rename: cap.rename,
            can_if_match: cap.read_with_if_match,
            etag_is_md5: scheme == "s3",
            recursive_dir_delete: scheme == "webdav",
            listing_is_full: scheme == "b2",
            max_upload: if cap.write_can_multi || direct.is_some() {
                u64::MAX
            } else {
                ONE_SHOT_MAX
            },
            direct,
            meta_copier,
        })
    }

    async fn stat_file(&self, path: &str) -> io::Result<Option<Metadata>> {
        match self.op.stat(path).await {
            Ok(md) if md.is_file() => Ok(Some(md)),
            Ok(_) => Ok(None),
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::IsADirectory) => Ok(None),
            Err(e) => Err(to_io(e)),
        }
    }

    fn reader(&self, path: &str, md: &Metadata) -> DalReader {
        DalReader {
            op: self.op.clone(),
            path: path.to_string(),
            etag: md.etag().filter(|_| self.can_if_match).map(str::to_string),
            md5: md
                .etag()
                .filter(|_| self.etag_is_md5)
                .map(|e| e.trim_matches('"').to_ascii_lowercase())
                .filter(|e| e.len() == 32 && e.bytes().all(|b| b.is_ascii_hexdigit())),
            fingerprint: fingerprint(md),
            meta: md
                .user_metadata()
                .and_then(|m| m.get(STORE_META))
                .map(str::to_string),
        }
    }

    /// A new writer at `path`, the object carrying `meta` where the service keeps user
    /// metadata, under `cond`.
    async fn writer(
        &self,
        path: &str,
        meta: Option<&str>,
        cond: Option<&WriteCond>,
    ) -> io::Result<Sink> {
        let meta = meta.filter(|_| self.op.info().capability().write_with_user_metadata);
        Sink::open(
            &self.op,
            self.direct.as_deref(),
            path,
            self.max_upload,
            meta,
            cond,
        )
        .await
    }

    /// What the service is asked to check as it writes at `dest`, for `cond`: nothing where it
    /// cannot (a service without conditional writes, or one that writes under a staging name
    /// first). A version pinned by its fingerprint is pinned by the ETag the service gave it,
    /// `ESTALE` when it is no longer there.
    async fn write_cond(&self, dest: &str, cond: StoreCond) -> io::Result<Option<WriteCond>> {
        let cap = self.op.info().capability();
        if !self.atomic {
            return Ok(None);
        }
        Ok(match cond {
            StoreCond::Absent => cap.write_with_if_not_exists.then_some(WriteCond::Absent),
            StoreCond::Is(_) if !cap.write_with_if_match => None,
            StoreCond::Is(fp) => match self.stat_file(dest).await? {
                Some(md) if fingerprint(&md) == fp => {
                    md.etag().map(|e| WriteCond::Match(e.to_string()))
                }
                _ => return Err(io::Error::from_raw_os_error(libc::ESTALE)),
            },
        })
    }

    /// Where an upload writes before it is published.
    fn target(&self, dest: &str) -> String {
        if self.atomic {
            dest.to_string()
        } else {
            format!(
                "{}/tmp/{:016x}",
                crate::key::RESERVED_DIR,
                rand::random::<u64>()
            )
        }
    }

    fn upload(&self, target: String, stage: Stage) -> DalUpload {
        DalUpload {
            op: self.op.clone(),
            atomic: self.atomic,
            can_copy: self.can_copy,
            target,
            stage,
            size: 0,
            max_upload: self.max_upload,
            direct: self.direct.clone(),
            meta: None,
            cond: None,
        }
    }

    /// An upload holding `srcs` one after the other, their pins checked now (and again by
    /// every conditional read of a source).
    async fn sources_upload(&self, dest: &str, srcs: &[Source]) -> io::Result<DalUpload> {
        let mut parts = Vec::with_capacity(srcs.len());
        for src in srcs {
            let md = self
                .stat_file(&src.path)
                .await?
                .ok_or_else(|| io::Error::from_raw_os_error(libc::ESTALE))?;
            if src.pinned.is_some_and(|want| want != fingerprint(&md)) {
                return Err(io::Error::from_raw_os_error(libc::ESTALE));
            }
            let (offset, len) = src.range.unwrap_or((0, md.content_length()));
            let whole = offset == 0 && len == md.content_length();
            parts.push((self.reader(&src.path, &md), offset, len, whole));
        }
        Ok(self.upload(self.target(dest), Stage::Sources(parts)))
    }

    /// The entries of the folder at `dir` (`""` for the root), the folder itself left out.
    async fn entries(&self, dir: &str) -> io::Result<Vec<opendal::Entry>> {
        let base = dir_path(dir);
        let list = self.op.list(&base).await.map_err(to_io)?;
        Ok(list
            .into_iter()
            .filter(|e| e.path() != base && !e.path().is_empty() && e.path() != "/")
            .collect())
    }

    /// Every file and folder below the folder `base`, at any depth. A service that cannot list
    /// a tree in one request is walked one folder at a time: OpenDAL's own walk of an SFTP
    /// server stops at the folder it starts from (each listing names that folder first, as
    /// `.`), which would leave every folder below it standing.
    async fn everything_under(&self, base: &str) -> io::Result<Vec<opendal::Entry>> {
        if self.op.info().capability().list_with_recursive {
            return self.op.list_with(base).recursive(true).await.map_err(to_io);
        }
        let mut all = Vec::new();
        let mut todo = vec![base.to_string()];
        while let Some(dir) = todo.pop() {
            for e in self.entries(&dir).await? {
                if e.metadata().is_dir() {
                    todo.push(e.path().to_string());
                }
                all.push(e);
            }
        }
        Ok(all)
    }
}

/// OpenDAL's name of a folder: `a/b/`, and `/` for the root.
fn dir_path(path: &str) -> String {
    if path.is_empty() {
        "/".to_string()
    } else {
        format!("{}/", path.trim_end_matches('/'))
    }
}

/// A version's identity: size, modification time to the second (listings and stats of some
/// stores differ below that) and the remote's ETag.
fn fingerprint(md: &Metadata) -> Fingerprint {
    let mtime_ns = modified(md)
        .map(|t| ns_from_time(t) / 1_000_000_000 * 1_000_000_000)
        .unwrap_or(0);
    // Kept in the index: a hash whose algorithm never changes.
    let id = md.etag().map_or(0, |etag| {
        let h = blake3::hash(etag.trim_start_matches("W/").trim_matches('"').as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&h.as_bytes()[..8]);
        u64::from_le_bytes(first)
    });
    Fingerprint {
        size: md.content_length(),
        mtime_ns,
        id,
    }
}

/// What the remote says about `name`, from its metadata.
fn entry(name: &str, is_dir: bool, md: &Metadata) -> Entry {
    Entry {
        name: name.to_string(),
        is_dir,
        fingerprint: fingerprint(md),
        created: modified(md).unwrap_or(SystemTime::UNIX_EPOCH),
    }
}

/// When the file was last changed, where the service says. B2's service reads no time of its
/// own, but files rclone wrote there keep theirs in `src_last_modified_millis`.
fn modified(md: &Metadata) -> Option<SystemTime> {
    md.last_modified().map(SystemTime::from).or_else(|| {
        let ms: u64 = md
            .user_metadata()?
            .get("src_last_modified_millis")?
            .parse()
            .ok()?;
        Some(SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(ms))
    })
}

/// Logs a retried remote request on one line. OpenDAL's own logger prints the error's debug
/// form, with its backtrace: resolving that maps and parses the executable's debug information,
/// which the process then keeps (64 MiB more resident for good after one retried delete, seen
/// when a WebDAV server still held a cut-off upload's file locked).
struct RetryLog;

impl opendal::layers::RetryInterceptor for RetryLog {
    fn intercept(&self, event: opendal::layers::RetryEvent<'_>) {
        tracing::warn!(
            op = %event.op,
            attempt = event.attempt,
            after_ms = event.retry_after.as_millis() as u64,
            error = %event.err,
            "remote request failed; retrying"
        );
    }
}

fn to_io(e: opendal::Error) -> io::Error {
    let kind = match e.kind() {
        ErrorKind::NotFound => io::ErrorKind::NotFound,
        ErrorKind::PermissionDenied => io::ErrorKind::PermissionDenied,
        ErrorKind::AlreadyExists => io::ErrorKind::AlreadyExists,
        ErrorKind::ConditionNotMatch => return io::Error::from_raw_os_error(libc::ESTALE),
        ErrorKind::IsADirectory => return io::Error::from_raw_os_error(libc::EISDIR),
        ErrorKind::NotADirectory => return io::Error::from_raw_os_error(libc::ENOTDIR),
        // A 429, or S3's `SlowDown`.
        ErrorKind::RateLimited => return crate::unavailable::answered(429, e.to_string()),
        _ => match (
            crate::unavailable::connection_failure(&e),
            answered_status(&e),
        ) {
            (Some(failed), _) => failed,
            (None, Some(status)) => return crate::unavailable::answered(status, e.to_string()),
            (None, None) => io::ErrorKind::Other,
        },
    };
    io::Error::new(kind, e.to_string())
}

/// An error of a stream OpenDAL made: converted by OpenDAL itself, which keeps less of it than
/// [`to_io`] (a remote that went away mid-read is an `Other`), so converted again.
fn from_stream(e: io::Error) -> io::Error {
    if !e
        .get_ref()
        .is_some_and(|inner| inner.is::<opendal::Error>())
    {
        return e;
    }
    let kind = e.kind();
    match e
        .into_inner()
        .map(|inner| inner.downcast::<opendal::Error>())
    {
        Some(Ok(dal)) => to_io(*dal),
        Some(Err(inner)) => io::Error::new(kind, inner),
        None => io::Error::from(kind),
    }
}

/// The HTTP status of the answer `e` was made of, if it was made of one. OpenDAL keeps the
/// answer only as text, in the error's context (`response: Parts { status: 503, … }`); the
/// tests over a store that answers 503 hold this reading to it.
fn answered_status(e: &opendal::Error) -> Option<u16> {
    let text = e.to_string();
    let (_, rest) = text.split_once("response: Parts { status: ")?;
    rest.get(..3)?.parse().ok()
}

#[async_trait]
impl Remote for OpendalRemote {
    fn folders_are_prefixes(&self) -> bool {
        self.atomic
    }

    fn max_object_size(&self) -> u64 {
        self.max_upload
    }

    /// Where writes land in place (a staging name's metadata would not survive its rename) and
    /// the service keeps user metadata.
    fn keeps_meta(&self) -> bool {
        self.atomic && self.op.info().capability().write_with_user_metadata
    }

    /// An upload gathers pieces of [`WRITE_CHUNK`] bytes, and OpenDAL may send a single piece
    /// as one PutObject: an object of more than one piece is sent in parts.
    fn parts_etag_above(&self) -> u64 {
        match self.etag_is_md5 && self.atomic {
            true => WRITE_CHUNK as u64,
            false => u64::MAX,
        }
    }

    async fn stat(&self, path: &str) -> io::Result<Option<Entry>> {
        let name = path.rsplit('/').next().unwrap_or(path);
        if let Some(md) = self.stat_file(path).await? {
            return Ok(Some(entry(name, false, &md)));
        }
        let dir = |md: Option<&Metadata>| match md {
            Some(md) => entry(name, true, md),
            None => entry(name, true, &opendal::MetadataBuilder::dir().build()),
        };
        // On object stores a folder exists while something is below it (its marker included).
        let below = self
            .op
            .list_with(&dir_path(path))
            .limit(2)
            .await
            .map_err(to_io)?;
        if !below.is_empty() {
            return Ok(Some(dir(None)));
        }
        match self.op.stat(&dir_path(path)).await {
            Ok(md) if md.is_dir() => return Ok(Some(dir(Some(&md)))),
            Ok(_) => return Ok(None),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(to_io(e)),
        }
        // Some stores show an empty bucket folder only in the listing of the root.
        if path.contains('/') {
            return Ok(None);
        }
        let siblings = self.entries("").await?;
        Ok(siblings
            .iter()
            .any(|e| e.metadata().is_dir() && e.name().trim_end_matches('/') == path)
            .then(|| dir(None)))
    }

    async fn open(&self, path: &str) -> io::Result<Option<Box<dyn Reader>>> {
        Ok(self
            .stat_file(path)
            .await?
            .map(|md| Box::new(self.reader(path, &md)) as Box<dyn Reader>))
    }

    async fn list_dir(&self, path: &str) -> io::Result<Vec<Entry>> {
        let mut out = Vec::new();
        for e in self.entries(path).await? {
            let is_dir = e.metadata().is_dir();
            let name = e.name().trim_end_matches('/');
            let mut md = e.metadata().clone();
            // Some services list names only: ask for the rest.
            if !is_dir
                && !self.listing_is_full
                && md.last_modified().is_none()
                && md.etag().is_none()
            {
                match self.stat_file(e.path()).await? {
                    Some(full) => md = full,
                    None => continue,
                }
            }
            out.push(entry(name, is_dir, &md));
        }
        Ok(out)
    }

    async fn create(&self, dest: &str) -> io::Result<Box<dyn Upload>> {
        let target = self.target(dest);
        let writer = self.writer(&target, None, None).await?;
        Ok(Box::new(self.upload(target, Stage::Writing(writer))))
    }

    async fn create_with_meta(&self, dest: &str, meta: &str) -> io::Result<Box<dyn Upload>> {
        let target = self.target(dest);
        // A staging name's metadata would not survive the rename: only where writes land in
        // place.
        let meta = Some(meta).filter(|_| self.atomic);
        let writer = self.writer(&target, meta, None).await?;
        Ok(Box::new(self.upload(target, Stage::Writing(writer))))
    }

    async fn create_if(
        &self,
        dest: &str,
        meta: Option<&str>,
        cond: StoreCond,
    ) -> io::Result<Box<dyn Upload>> {
        let target = self.target(dest);
        let cond = self.write_cond(dest, cond).await?;
        let meta = meta.filter(|_| self.atomic);
        let writer = self.writer(&target, meta, cond.as_ref()).await?;
        Ok(Box::new(self.upload(target, Stage::Writing(writer))))
    }

    async fn concat_if(
        &self,
        dest: &str,
        srcs: &[Source],
        meta: Option<&str>,
        cond: StoreCond,
    ) -> io::Result<Box<dyn Upload>> {
        let mut upload = self.sources_upload(dest, srcs).await?;
        if self.atomic && self.op.info().capability().write_with_user_metadata {
            upload.meta = meta.map(str::to_string);
        }
        upload.cond = self.write_cond(dest, cond).await?;
        Ok(Box::new(upload))
    }

    async fn concat(&self, dest: &str, srcs: &[Source]) -> io::Result<Box<dyn Upload>> {
        Ok(Box::new(self.sources_upload(dest, srcs).await?))
    }

    async fn concat_with_meta(
        &self,
        dest: &str,
        srcs: &[Source],
        meta: &str,
    ) -> io::Result<Box<dyn Upload>> {
        let mut upload = self.sources_upload(dest, srcs).await?;
        // A staging name's metadata would not survive the rename: only where writes land in
        // place, and where the service keeps it.
        if self.atomic && self.op.info().capability().write_with_user_metadata {
            upload.meta = Some(meta.to_string());
        }
        Ok(Box::new(upload))
    }

    /// On S3 a copy of the object onto itself with new metadata, on the store's side; on other
    /// services that keep metadata (and on S3 where the copy could not carry the remote's
    /// encryption settings, or for an object over 5 GiB) the object is written again through
    /// this server, pinned to the version it replaces.
    async fn replace_meta(&self, path: &str, meta: &str, pinned: Fingerprint) -> io::Result<bool> {
        if !self.atomic || !self.op.info().capability().write_with_user_metadata {
            return Ok(false);
        }
        let md = self
            .stat_file(path)
            .await?
            .filter(|md| fingerprint(md) == pinned)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ESTALE))?;
        if let (Some(copier), Some(etag)) = (&self.meta_copier, md.etag()) {
            if md.content_length() <= MAX_SERVER_COPY {
                copier.replace(path, etag, STORE_META, meta).await?;
                return Ok(true);
            }
        }
        let source = Source::file(path.to_string(), Some(pinned));
        let mut upload = self
            .concat_if(path, &[source], Some(meta), StoreCond::Is(pinned))
            .await?;
        upload.finish(true).await?;
        upload.commit(path, true, Box::new(|_| {})).await?;
        Ok(true)
    }

    async fn delete(&self, path: &str, pinned: Option<Fingerprint>) -> io::Result<bool> {
        let Some(md) = self.stat_file(path).await? else {
            return Ok(false);
        };
        if pinned.is_some_and(|fp| fp != fingerprint(&md)) {
            return Ok(false);
        }
        self.op.delete(path).await.map_err(to_io)?;
        Ok(true)
    }

    fn moves_files(&self) -> bool {
        self.can_rename || self.can_copy
    }

    fn copies_carrying(&self) -> bool {
        self.meta_copier.is_some()
            && self.atomic
            && self.op.info().capability().write_with_user_metadata
    }

    /// S3's own copy, which keeps the source's metadata (the `COPY` directive), pinned to the
    /// source's ETag (`x-amz-copy-source-if-match`), which OpenDAL's copy cannot ask.
    async fn copy(
        &self,
        from: &str,
        to: &str,
        pinned: Fingerprint,
    ) -> io::Result<Option<Fingerprint>> {
        let Some(md) = self.stat_file(from).await? else {
            return Ok(None);
        };
        if fingerprint(&md) != pinned {
            return Err(io::Error::from_raw_os_error(libc::ESTALE));
        }
        let (Some(copier), Some(etag)) = (&self.meta_copier, md.etag()) else {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "this remote cannot copy a file on its side with its metadata",
            ));
        };
        if !self.copies_carrying() || md.content_length() > MAX_SERVER_COPY {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "this remote cannot copy this file on its side",
            ));
        }
        copier.copy(from, to, etag).await?;
        Ok(Some(fingerprint(&self.op.stat(to).await.map_err(to_io)?)))
    }

    async fn list_prefix(&self, path: &str) -> io::Result<Vec<Entry>> {
        // A path not ending in `/` lists by prefix: on S3 one ListObjectsV2 of just those names.
        let list = match self.op.list(path).await {
            Ok(list) => list,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(to_io(e)),
        };
        let mut out = Vec::new();
        for e in list {
            if e.metadata().is_dir() {
                continue;
            }
            let mut md = e.metadata().clone();
            if !self.listing_is_full && md.last_modified().is_none() && md.etag().is_none() {
                match self.stat_file(e.path()).await? {
                    Some(full) => md = full,
                    None => continue,
                }
            }
            out.push(entry(e.name(), false, &md));
        }
        Ok(out)
    }

    /// A rename where the service has one, else a copy on the store and the removal of the
    /// source: a crash between the two leaves both, which the version store's recovery tells
    /// apart (version.rs). Checked first, as a delete checks: under the key's lock no write of
    /// this server comes between.
    async fn rename(
        &self,
        from: &str,
        to: &str,
        pinned: Option<Fingerprint>,
        replace: bool,
    ) -> io::Result<Option<Fingerprint>> {
        let Some(md) = self.stat_file(from).await? else {
            return Ok(None);
        };
        if pinned.is_some_and(|fp| fp != fingerprint(&md)) {
            return Err(io::Error::from_raw_os_error(libc::ESTALE));
        }
        let taken = match self.op.stat(to).await {
            Ok(t) if t.is_dir() => return Err(io::Error::from_raw_os_error(libc::EISDIR)),
            Ok(_) if !replace => return Err(io::Error::from_raw_os_error(libc::EEXIST)),
            Ok(_) => true,
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::IsADirectory) => false,
            Err(e) => return Err(to_io(e)),
        };
        // SFTP's rename never replaces a file: what is to be replaced goes first (a crash in
        // between leaves `from` to be moved again, as nothing had moved).
        if taken && self.can_rename {
            self.op.delete(to).await.map_err(to_io)?;
        }
        if !self.atomic {
            if let Some((parent, _)) = to.rsplit_once('/') {
                self.op.create_dir(&dir_path(parent)).await.map_err(to_io)?;
            }
        }
        if self.can_rename {
            self.op.rename(from, to).await.map_err(to_io)?;
        } else if self.can_copy && md.content_length() <= MAX_SERVER_COPY {
            self.op.copy(from, to).await.map_err(to_io)?;
            self.op.delete(from).await.map_err(to_io)?;
        } else {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "this remote cannot move a file without copying it through this server",
            ));
        }
        Ok(Some(fingerprint(&self.op.stat(to).await.map_err(to_io)?)))
    }

    async fn mkdir(&self, path: &str) -> io::Result<bool> {
        if let Some(e) = self.stat(path).await? {
            return if e.is_dir {
                Ok(false)
            } else {
                Err(io::Error::from(io::ErrorKind::AlreadyExists))
            };
        }
        self.op.create_dir(&dir_path(path)).await.map_err(to_io)?;
        Ok(true)
    }

    async fn rmdir(&self, path: &str) -> io::Result<()> {
        // Deleting a WebDAV collection deletes what is in it, including what a concurrent
        // upload just put there: its folders are left in place.
        if self.recursive_dir_delete || !self.entries(path).await?.is_empty() {
            return Err(io::Error::from_raw_os_error(libc::ENOTEMPTY));
        }
        self.op.delete(&dir_path(path)).await.map_err(to_io)
    }

    async fn rmdir_tree(&self, path: &str) -> io::Result<()> {
        let base = dir_path(path);
        let all = self.everything_under(&base).await?;
        if all.iter().any(|e| e.metadata().is_file()) {
            return Err(io::Error::from_raw_os_error(libc::ENOTEMPTY));
        }
        if self.recursive_dir_delete {
            return self.delete_tree(path).await;
        }
        // Only the folders seen empty, deepest first: an object that arrives meanwhile stays
        // (and so does the folder holding it, where folders are real).
        let mut dirs: Vec<String> = all.into_iter().map(|e| e.path().to_string()).collect();
        dirs.push(base);
        dirs.sort_by_key(|d| std::cmp::Reverse(d.matches('/').count()));
        for d in dirs {
            match self.op.delete(&d).await {
                Err(e) if e.kind() != ErrorKind::NotFound => return Err(to_io(e)),
                _ => {}
            }
        }
        Ok(())
    }

    async fn delete_tree(&self, path: &str) -> io::Result<()> {
        let base = dir_path(path);
        self.op
            .delete_with(&base)
            .recursive(true)
            .await
            .map_err(to_io)?;
        // Some services' recursive delete leaves the folder itself.
        match self.op.delete(&base).await {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(to_io(e)),
            _ => Ok(()),
        }
    }
}

#[derive(Clone)]
struct DalReader {
    op: Operator,
    path: String,
    /// Reads are conditional on it where the service can: a replaced file fails the read.
    etag: Option<String>,
    md5: Option<String>,
    fingerprint: Fingerprint,
    /// The value of the `x-amz-meta-s3gate` kind of user metadata the version carries.
    meta: Option<String>,
}

impl DalReader {
    async fn open_stream(self, offset: u64, len: u64) -> io::Result<ByteStream> {
        if len == 0 {
            return Ok(Box::pin(futures_util::stream::empty()));
        }
        let mut reader = self.op.reader_with(&self.path);
        if let Some(etag) = &self.etag {
            reader = reader.if_match(etag);
        }
        let reader = reader.await.map_err(to_io)?;
        let stream = reader
            .into_bytes_stream(offset..offset + len)
            .await
            .map_err(to_io)?;
        Ok(Box::pin(stream.map_err(from_stream)))
    }
}

impl Reader for DalReader {
    fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    fn known_md5(&self) -> Option<String> {
        self.md5.clone()
    }

    fn clone_box(&self) -> Box<dyn Reader> {
        Box::new(self.clone())
    }

    fn store_meta(&self) -> Option<&str> {
        self.meta.as_deref()
    }

    fn stream(self: Box<Self>, offset: u64, len: u64) -> ByteStream {
        Box::pin(futures_util::stream::once(self.open_stream(offset, len)).try_flatten())
    }
}

/// Where an upload's bytes go: an OpenDAL writer, or a PUT whose body streams.
enum Sink {
    /// The body is gathered into whole pieces, each in its own memory map: the frames a
    /// body arrives in are a few KiB, and thousands of them held by OpenDAL until their piece
    /// is sent scatter the heap, so that the allocator kept tens of MiB after the upload was
    /// over. A map goes back to the system when its piece is sent.
    Dal {
        w: opendal::Writer,
        piece: Option<Piece>,
        size: usize,
    },
    Put(StreamingPut),
    Sftp(SftpFile),
}

/// Where uploads go other than through OpenDAL's writer.
enum Direct {
    /// WebDAV: PUTs whose bodies stream.
    Put(PutTarget),
    /// SFTP: files written on a session of their own, done when the server has closed them.
    Sftp(SftpPut),
}

impl Sink {
    async fn open(
        op: &Operator,
        direct: Option<&Direct>,
        path: &str,
        max_upload: u64,
        meta: Option<&str>,
        cond: Option<&WriteCond>,
    ) -> io::Result<Sink> {
        if let Some(direct) = direct {
            if let Some((parent, _)) = path.rsplit_once('/') {
                op.create_dir(&dir_path(parent)).await.map_err(to_io)?;
            }
            return Ok(match direct {
                Direct::Put(put) => Sink::Put(put.start(path)),
                Direct::Sftp(sftp) => Sink::Sftp(sftp.start(path).await?),
            });
        }
        // A service that takes a file in one request gets it in one piece.
        let size = if max_upload == u64::MAX {
            WRITE_CHUNK
        } else {
            max_upload as usize
        };
        let mut w = op
            .writer_with(path)
            .chunk(size)
            .concurrent(WRITE_CONCURRENCY);
        if let Some(meta) = meta {
            w = w.user_metadata([(STORE_META.to_string(), meta.to_string())]);
        }
        // Sent with the request that makes the object visible (PutObject, or
        // CompleteMultipartUpload), so the store decides at that moment.
        w = match cond {
            Some(WriteCond::Absent) => w.if_not_exists(true),
            Some(WriteCond::Match(etag)) => w.if_match(etag),
            None => w,
        };
        let w = w.await.map_err(to_io)?;
        Ok(Sink::Dal {
            w,
            piece: None,
            size,
        })
    }

    async fn write(&mut self, data: Bytes) -> io::Result<()> {
        match self {
            Sink::Dal { w, piece, size } => {
                let mut data = &data[..];
                while !data.is_empty() {
                    let p = match piece {
                        Some(p) => p,
                        None => piece.insert(Piece::new(*size)?),
                    };
                    data = p.fill(data);
                    if p.is_full() {
                        if let Some(p) = piece.take() {
                            w.write(p.into_bytes()).await.map_err(to_io)?;
                        }
                    }
                }
                Ok(())
            }
            Sink::Put(p) => p.write(data).await,
            Sink::Sftp(f) => f.write(data).await,
        }
    }

    /// Completes the write; what OpenDAL knows of the result, if anything.
    async fn close(&mut self) -> io::Result<Option<Metadata>> {
        match self {
            Sink::Dal { w, piece, .. } => {
                if let Some(p) = piece.take() {
                    w.write(p.into_bytes()).await.map_err(to_io)?;
                }
                w.close().await.map(Some).map_err(to_io)
            }
            Sink::Put(p) => p.close().await.map(|()| None),
            Sink::Sftp(f) => f.close().await.map(|()| None),
        }
    }

    /// Gives up the write and closes it: some servers (rclone's SFTP) write a file that is
    /// still open when it is closed, so a removal must come after.
    async fn abort(mut self) {
        match &mut self {
            Sink::Dal { w, .. } => {
                let _ = w.abort().await;
            }
            Sink::Put(p) => p.abort().await,
            Sink::Sftp(f) => {
                let _ = f.close().await;
            }
        }
    }
}

/// A piece of an upload being gathered. Pages of the map not yet written take no memory, so
/// a small object costs a few pages, not a whole piece; nor is swap reserved for them, so
/// that many small uploads at once do not count whole pieces against a strict commit limit.
struct Piece {
    map: memmap2::MmapMut,
    len: usize,
}

impl Piece {
    fn new(size: usize) -> io::Result<Piece> {
        Ok(Piece {
            map: memmap2::MmapOptions::new()
                .len(size)
                .no_reserve_swap()
                .map_anon()?,
            len: 0,
        })
    }

    /// Copies what fits of `data`; returns the rest.
    fn fill<'a>(&mut self, data: &'a [u8]) -> &'a [u8] {
        let n = data.len().min(self.map.len() - self.len);
        self.map[self.len..self.len + n].copy_from_slice(&data[..n]);
        self.len += n;
        &data[n..]
    }

    fn is_full(&self) -> bool {
        self.len == self.map.len()
    }

    fn into_bytes(self) -> Bytes {
        Bytes::from_owner(self.map).slice(..self.len)
    }
}

/// Where an upload to an OpenDAL remote stands.
enum Stage {
    Writing(Sink),
    /// A concatenation not yet written: (source, offset, length, whole file).
    Sources(Vec<(DalReader, u64, u64, bool)>),
    /// Finished: written to a staging name, or (atomic remotes) still to be closed or written.
    Finished,
    Done,
}

struct DalUpload {
    op: Operator,
    atomic: bool,
    can_copy: bool,
    /// The destination (atomic remotes) or a staging name.
    target: String,
    stage: Stage,
    size: u64,
    max_upload: u64,
    direct: Option<Arc<Direct>>,
    /// What the object carries ([`Remote::concat_with_meta`]).
    meta: Option<String>,
    /// What the store checks as it publishes ([`Remote::concat_if`]).
    cond: Option<WriteCond>,
}

/// A condition the store checks itself as it makes a write visible.
enum WriteCond {
    /// Nothing is at the name.
    Absent,
    /// The object there has this ETag.
    Match(String),
}

impl DalUpload {
    /// Counts `n` more bytes against the most one upload may hold.
    fn account(&mut self, n: u64) -> io::Result<()> {
        self.size += n;
        if self.size > self.max_upload {
            return Err(io::Error::new(
                io::ErrorKind::FileTooLarge,
                format!(
                    "this remote takes objects of at most {} MiB",
                    self.max_upload >> 20
                ),
            ));
        }
        Ok(())
    }

    /// Writes the sources of a concatenation into a new writer at `path`.
    async fn copy_sources(
        &mut self,
        path: &str,
        srcs: Vec<(DalReader, u64, u64, bool)>,
    ) -> io::Result<Sink> {
        self.size = 0;
        let total: u64 = srcs.iter().map(|s| s.2).sum();
        self.account(total)?;
        let mut writer = Sink::open(
            &self.op,
            self.direct.as_deref(),
            path,
            self.max_upload,
            self.meta.as_deref(),
            self.cond.as_ref(),
        )
        .await?;
        let copied: io::Result<()> = async {
            for (src, offset, len, _) in srcs {
                let mut s = src.open_stream(offset, len).await?;
                while let Some(chunk) = s.next().await {
                    writer.write(chunk?).await?;
                }
            }
            Ok(())
        }
        .await;
        if let Err(e) = copied {
            writer.abort().await;
            return Err(e);
        }
        Ok(writer)
    }

    /// The fingerprint of what was just written at `path`.
    async fn written(op: &Operator, path: &str, md: Option<Metadata>) -> io::Result<Fingerprint> {
        match md {
            Some(md) if md.etag().is_some() && md.last_modified().is_some() => Ok(fingerprint(&md)),
            _ => Ok(fingerprint(&op.stat(path).await.map_err(to_io)?)),
        }
    }
}

/// The fingerprint an atomic upload reports until it is published (the remote assigns the
/// real one): unique enough that a synthetic ETag made from it changes with every write.
fn provisional(size: u64) -> Fingerprint {
    Fingerprint {
        size,
        mtime_ns: ns_from_time(SystemTime::now()),
        id: rand::random(),
    }
}

#[async_trait]
impl Upload for DalUpload {
    async fn write(&mut self, data: Bytes) -> io::Result<()> {
        self.account(data.len() as u64)?;
        let Stage::Writing(w) = &mut self.stage else {
            return Err(io::Error::other("write after finish"));
        };
        w.write(data).await
    }

    async fn finish(&mut self, _sync: bool) -> io::Result<Fingerprint> {
        // Durability is the remote's: a closed write is as durable as it makes it.
        if self.atomic {
            let size = match &self.stage {
                Stage::Writing(_) => self.size,
                Stage::Sources(srcs) => srcs.iter().map(|s| s.2).sum(),
                _ => return Err(io::Error::other("upload finished twice")),
            };
            return Ok(provisional(size));
        }
        let stage = std::mem::replace(&mut self.stage, Stage::Done);
        let mut writer = match stage {
            Stage::Writing(w) => w,
            Stage::Sources(srcs) => {
                let target = self.target.clone();
                self.copy_sources(&target, srcs).await?
            }
            _ => return Err(io::Error::other("upload finished twice")),
        };
        let md = writer.close().await?;
        let fp = Self::written(&self.op, &self.target, md).await?;
        self.stage = Stage::Finished;
        Ok(fp)
    }

    async fn commit(
        self: Box<Self>,
        path: &str,
        _sync: bool,
        then: Box<dyn FnOnce(Fingerprint) + Send>,
    ) -> io::Result<Fingerprint> {
        // Publishing takes requests (and a stat for the new version): in a task of its own, so
        // that a cancelled request cannot publish the object and skip `then`.
        let path = path.to_string();
        tokio::spawn(async move { self.publish(&path, then).await })
            .await
            .map_err(io::Error::other)?
    }

    async fn abort(mut self: Box<Self>) {
        match std::mem::replace(&mut self.stage, Stage::Done) {
            // What a non-atomic remote kept of the cut-off write goes too.
            Stage::Writing(w) => {
                w.abort().await;
                if !self.atomic {
                    let _ = self.op.delete(&self.target).await;
                }
            }
            Stage::Finished if !self.atomic => {
                let _ = self.op.delete(&self.target).await;
            }
            _ => {}
        }
    }
}

impl DalUpload {
    /// Publishes a finished upload at `path`; `then` gets the new version.
    async fn publish(
        mut self: Box<Self>,
        path: &str,
        then: Box<dyn FnOnce(Fingerprint) + Send>,
    ) -> io::Result<Fingerprint> {
        let stage = std::mem::replace(&mut self.stage, Stage::Done);
        let fp = if self.atomic {
            if path != self.target {
                return Err(io::Error::other("upload committed at another path"));
            }
            match stage {
                Stage::Writing(mut w) => {
                    let md = w.close().await?;
                    Self::written(&self.op, path, md).await?
                }
                Stage::Sources(mut srcs)
                    if srcs.len() == 1
                        && srcs[0].3
                        && self.can_copy
                        && srcs[0].2 <= MAX_SERVER_COPY
                        // The store's copy would carry its source's metadata, and checks
                        // no condition.
                        && self.meta.is_none()
                        && self.cond.is_none() =>
                {
                    let (src, ..) = srcs.remove(0);
                    self.op.copy(&src.path, path).await.map_err(to_io)?;
                    // The copy is not conditional: if the source was replaced meanwhile, its
                    // new bytes may have been copied, and must not be recorded as the old
                    // version (the source still being that version afterwards rules it out).
                    let now = self.op.stat(&src.path).await.map_err(to_io)?;
                    if fingerprint(&now) != src.fingerprint {
                        return Err(io::Error::from_raw_os_error(libc::ESTALE));
                    }
                    Self::written(&self.op, path, None).await?
                }
                Stage::Sources(srcs) => {
                    let mut w = self.copy_sources(path, srcs).await?;
                    let md = w.close().await?;
                    Self::written(&self.op, path, md).await?
                }
                _ => return Err(io::Error::other("upload committed twice")),
            }
        } else {
            let Stage::Finished = stage else {
                return Err(io::Error::other("upload committed before it was finished"));
            };
            if let Some((parent, _)) = path.rsplit_once('/') {
                self.op.create_dir(&dir_path(parent)).await.map_err(to_io)?;
            }
            self.op.rename(&self.target, path).await.map_err(to_io)?;
            Self::written(&self.op, path, None).await?
        };
        then(fp);
        Ok(fp)
    }
}

impl Drop for DalUpload {
    // A request cut off mid-body drops its upload: a staging file must not outlive it, nor an
    // object store's unfinished multipart upload (which would be kept, and billed, until the
    // store's own expiry).
    fn drop(&mut self) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (op, target, atomic) = (self.op.clone(), self.target.clone(), self.atomic);
        match std::mem::replace(&mut self.stage, Stage::Done) {
            Stage::Writing(w) => {
                rt.spawn(async move {
                    w.abort().await;
                    if !atomic {
                        let _ = op.delete(&target).await;
                    }
                });
            }
            Stage::Finished if !atomic => {
                rt.spawn(async move {
                    let _ = op.delete(&target).await;
                });
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// OpenDAL's errors as its HTTP services make them: a connection refused under the HTTP
    /// client's error, an answer kept as text in the context, a 429 as its own kind.
    #[test]
    fn a_remote_that_cannot_serve_now_is_told_from_other_failures() {
        let sent = |source: io::Error| {
            opendal::Error::new(ErrorKind::Unexpected, "send http request")
                .set_source(source)
                .set_persistent()
        };
        let refused = to_io(sent(io::Error::from(io::ErrorKind::ConnectionRefused)));
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
        assert!(crate::unavailable::is_unavailable(&refused));
        assert!(!crate::unavailable::is_unavailable(&to_io(sent(
            io::Error::from(io::ErrorKind::NotFound)
        ))));

        let answer = |status: u16| {
            let parts = http::Response::builder()
                .status(status)
                .body(())
                .map(|r| r.into_parts().0);
            let parts = parts.expect("a valid status");
            opendal::Error::new(ErrorKind::Unexpected, "the store's answer")
                .with_context("response", format!("{parts:?}"))
        };
        for status in [502, 503, 504] {
            assert!(crate::unavailable::is_unavailable(&to_io(answer(status))));
            assert!(!crate::unavailable::is_throttled(&to_io(answer(status))));
        }
        assert!(!crate::unavailable::is_unavailable(&to_io(answer(500))));
        // S3's `SlowDown` (and a 429), as OpenDAL tells them apart.
        let slow = || opendal::Error::new(ErrorKind::RateLimited, "SlowDown");
        assert!(crate::unavailable::is_unavailable(&to_io(slow())));
        assert!(crate::unavailable::is_throttled(&to_io(slow())));

        // The same through OpenDAL's own conversion, as its streams make it.
        let streamed = from_stream(io::Error::from(answer(503)));
        assert!(crate::unavailable::is_unavailable(&streamed));
        let local = from_stream(io::Error::from_raw_os_error(libc::EIO));
        assert_eq!(local.raw_os_error(), Some(libc::EIO));
    }

    /// A file rclone wrote to B2, as the service lists it: its time is rclone's, and a file
    /// replaced by one of the same size (a later time) is another version.
    #[test]
    fn a_time_rclone_kept_in_b2_file_info_is_the_files_time() {
        let listed = |ms: &str| {
            let mut md = opendal::MetadataBuilder::file(5);
            md.user_metadata([("src_last_modified_millis".to_string(), ms.to_string())]);
            md.build()
        };
        let md = listed("1700000000123");
        let e = entry("f", false, &md);
        assert_eq!(
            e.created,
            SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_123)
        );
        assert_eq!(e.fingerprint.mtime_ns, 1_700_000_000_000_000_000);
        assert_ne!(fingerprint(&md), fingerprint(&listed("1700000005000")));
        let bare = opendal::MetadataBuilder::file(5).build();
        assert_eq!(fingerprint(&bare).mtime_ns, 0, "no time where none is said");
    }
}
