//! The write cache (`--vfs-cache-mode writes`): uploads land on local disk and are acknowledged
//! once durable there; a queue in the index uploads them to the remote after `--vfs-write-back`.
//!
//! An object waiting in the cache has its record marked `cached` (its fingerprint is the cached
//! file's) and a queue entry with the same fingerprint, written in the same index transaction
//! as the record. Reads and listings use the cached file meanwhile. The uploader streams the
//! file to the remote (atomically: whole or not at all), then, under the key's lock and only
//! if the entry still names the version it uploaded, publishes it and in one transaction points
//! the record at the remote's version and drops the entry; the cached file goes after. A crash
//! at any point leaves either the entry (uploaded again, whole) or the finished state, so every
//! acknowledged object reaches the remote and none is torn.
//!
//! In a bucket that keeps versions, a change that makes the version waiting in the cache
//! noncurrent (an overwrite, a delete marker) first uploads it by that same change, under the
//! key's lock it already holds ([`WriteBack::upload_locked`]), then demotes it on the remote as
//! any version: kept versions live only in the remote's version store, and no entry ever names
//! a version that is not current. A version waiting in the cache is current, so its entry goes
//! only with it: uploaded, replaced (the `null` version while Suspended) or deleted by id.
//!
//! [`WriteBack`] holds the core and the write cache (write_cache.rs), and knows no `Vfs`: it
//! commits its uploads through [`Core::commit`], and stages the bytes it uploads as every write
//! does (`Core::stage`, stage.rs).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::now_ns;
use crate::commit::{At, Change, Unconditional};
use crate::core::Core;
use crate::error::{Result, VfsError};
use crate::index::ObjectMeta;
use crate::key;
use crate::meta::{Edit, Tree};
use crate::object::prune_empty_parents;
use crate::remote::{Fingerprint, Remote, Upload};
use crate::write_cache::{queue_put, Pending, WriteCache};
use futures_util::StreamExt;

/// Uploads running at once.
const UPLOAD_CONCURRENCY: usize = 4;
/// Queue entries looked at per pass.
const PASS_LIMIT: usize = 1024;
/// The longest wait before a failed upload is tried again.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// The write cache's counters since start, for metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WriteBackStats {
    pub pending: u64,
    pub uploaded: u64,
    pub failed: u64,
}

/// What waits in the write cache (`s3gate cache stats`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WriteBackSummary {
    pub pending: u64,
    pub bytes: u64,
    /// Entries whose last upload failed, and the most recent such failure.
    pub failing: u64,
    pub last_error: Option<String>,
    /// How long the oldest entry has waited.
    pub oldest: Option<Duration>,
}

/// What one pass of the uploader did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WriteBackReport {
    pub uploaded: u64,
    pub failed: u64,
    /// Entries still queued after the pass.
    pub pending: u64,
    /// When the next entry falls due, if any is queued.
    pub next_due: Option<Duration>,
}

/// The write-back: the core, and the write cache when there is one (while caching writes, or
/// while uploads from a run that cached them are still queued).
pub(crate) struct WriteBack {
    core: Arc<Core>,
    pub(crate) cache: Option<WriteCache>,
}

impl WriteBack {
    pub(crate) fn new(core: Arc<Core>, cache: Option<WriteCache>) -> WriteBack {
        WriteBack { core, cache }
    }

    /// Whether something staged in the write cache (`Some(true)`), on the remote
    /// (`Some(false)`), or where new writes go now (`None`) is in the cache: only while the
    /// cache is open.
    pub(crate) fn in_write_cache(&self, staged: Option<bool>) -> bool {
        self.cache
            .as_ref()
            .is_some_and(|c| staged.unwrap_or(c.takes_new_writes))
    }

    /// The write cache or the remote, as [`WriteBack::in_write_cache`] says.
    pub(crate) fn store_for(&self, staged: Option<bool>) -> &Arc<dyn Remote> {
        match &self.cache {
            Some(c) if self.in_write_cache(staged) => &c.fs,
            _ => &self.core.remote,
        }
    }

    /// What publishing an object at `path` does to the queue, given the published version: a
    /// new entry when it went to the cache; dropping any entry when it went straight to the
    /// remote (the cached version it supersedes must never be uploaded over it).
    pub(crate) fn queue_builder(
        &self,
        at: At<'_>,
        to_cache: bool,
    ) -> impl FnOnce(Fingerprint) -> Option<Edit> + Send {
        let key = at.path.as_bytes().to_vec();
        // A place in the store of keys names no key: the entry does.
        let object = key::is_stored(at.path).then(|| (at.bucket.to_string(), at.key.to_string()));
        let delay = self.cache.as_ref().map(|c| c.delay);
        move |fingerprint| match delay {
            Some(delay) if to_cache => {
                let now = now_ns();
                let entry = Pending {
                    fingerprint,
                    due_ns: now.saturating_add(delay.as_nanos() as i64),
                    queued_ns: now,
                    tries: 0,
                    error: None,
                    object,
                };
                Some(queue_put(key, &entry))
            }
            Some(_) => Some(Edit::Delete(Tree::WriteBack, key)),
            None => None,
        }
    }

    fn pending_entry(&self, path: &str) -> Result<Option<Pending>> {
        Ok(self
            .core
            .index
            .get_in(Tree::WriteBack, path.as_bytes())?
            .and_then(|v| serde_json::from_slice(&v).ok()))
    }

    /// The write cache's state, when there is one.
    pub(crate) fn stats(&self) -> Result<Option<WriteBackStats>> {
        let Some(cache) = &self.cache else {
            return Ok(None);
        };
        Ok(Some(WriteBackStats {
            pending: self.pending()?,
            uploaded: cache.uploaded.load(Ordering::Relaxed),
            failed: cache.failed.load(Ordering::Relaxed),
        }))
    }

    /// Visits the queue's entries in key order, a page at a time, while `each` says to go on.
    fn visit_queue(&self, mut each: impl FnMut(&[u8], Pending) -> bool) -> Result<()> {
        self.core
            .index
            .visit_in(Tree::WriteBack, |k, v| match serde_json::from_slice(v) {
                Ok(entry) => each(k, entry),
                Err(_) => true,
            })
    }

    /// Every entry of the queue, summed up.
    pub(crate) fn summary(&self) -> Result<WriteBackSummary> {
        let mut sum = WriteBackSummary::default();
        let now = now_ns();
        let mut last_failure = i64::MIN;
        self.visit_queue(|_, e| {
            sum.pending += 1;
            sum.bytes += e.fingerprint.size;
            let waited = Duration::from_nanos(now.saturating_sub(e.queued_ns).max(0) as u64);
            sum.oldest = Some(sum.oldest.map_or(waited, |o| o.max(waited)));
            if e.tries > 0 {
                sum.failing += 1;
                if e.queued_ns > last_failure {
                    last_failure = e.queued_ns;
                    sum.last_error = e.error;
                }
            }
            true
        })?;
        Ok(sum)
    }

    /// How many objects wait to be uploaded.
    pub(crate) fn pending(&self) -> Result<u64> {
        let mut n = 0;
        self.visit_queue(|_, _| {
            n += 1;
            true
        })?;
        Ok(n)
    }

    /// Uploads the cached objects that are due (all of them with `all`, pass after pass while
    /// they make progress), several at a time.
    pub(crate) async fn run(&self, all: bool) -> Result<WriteBackReport> {
        // Only a write-back of everything is long work worth showing; the daemon's due passes
        // run all the time.
        let _counting = match all {
            true => Some(
                self.core
                    .progress
                    .start(crate::progress::Phase::WriteBack, Some(self.pending()?)),
            ),
            false => None,
        };
        let mut total = self.pass(all).await?;
        while all && total.pending > 0 {
            let pass = self.pass(true).await?;
            total.uploaded += pass.uploaded;
            total.failed += pass.failed;
            total.pending = pass.pending;
            total.next_due = pass.next_due;
            if pass.uploaded == 0 {
                break;
            }
        }
        Ok(total)
    }

    async fn pass(&self, all: bool) -> Result<WriteBackReport> {
        let mut report = WriteBackReport::default();
        let Some(started) = self.cache.as_ref().map(|c| c.started_ns) else {
            return Ok(report);
        };
        let now = now_ns();
        let mut due = Vec::new();
        let mut next: Option<i64> = None;
        self.visit_queue(|k, entry| {
            if all || entry.due_ns <= now || (entry.queued_ns < started && entry.tries == 0) {
                due.push((String::from_utf8_lossy(k).into_owned(), entry));
            } else {
                next = Some(next.map_or(entry.due_ns, |n| n.min(entry.due_ns)));
            }
            due.len() < PASS_LIMIT
        })?;
        let results: Vec<(String, Pending, Result<()>)> = futures_util::stream::iter(due)
            .map(|(path, entry)| async move {
                let r = self.upload_cached(&path, &entry).await;
                if all && r.is_ok() {
                    self.core.progress.add(1);
                }
                (path, entry, r)
            })
            .buffer_unordered(UPLOAD_CONCURRENCY)
            .collect()
            .await;
        let Some(cache) = &self.cache else {
            return Ok(report);
        };
        for (path, entry, r) in results {
            match r {
                Ok(()) => {
                    report.uploaded += 1;
                    cache.uploaded.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    report.failed += 1;
                    cache.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(path, error = %e, tries = entry.tries + 1, "write-back upload failed");
                    self.postpone(&path, &entry, &e).await?;
                }
            }
        }
        report.pending = self.pending()?;
        if report.pending > 0 {
            let soonest = next.map_or(0, |n| n.saturating_sub(now_ns()).max(0));
            report.next_due = Some(Duration::from_nanos(soonest as u64));
        }
        Ok(report)
    }

    /// Puts a failed upload back in the queue, later each time.
    async fn postpone(&self, path: &str, entry: &Pending, e: &VfsError) -> Result<()> {
        let (bucket, key) = entry.object(path);
        self.core
            .key_locks
            .with(&key::lock_name(bucket, key, path), async {
                // Only if the entry is still the one that failed (a newer write starts afresh).
                match self.pending_entry(path)? {
                    Some(now) if now.fingerprint == entry.fingerprint => {}
                    _ => return Ok(()),
                }
                let tries = entry.tries + 1;
                let backoff = Duration::from_secs(1u64 << tries.min(9)).min(MAX_BACKOFF);
                let retry = Pending {
                    fingerprint: entry.fingerprint,
                    due_ns: now_ns().saturating_add(backoff.as_nanos() as i64),
                    queued_ns: now_ns(),
                    tries,
                    error: Some(e.to_string()),
                    object: entry.object.clone(),
                };
                self.core
                    .index
                    .apply(vec![queue_put(path.as_bytes().to_vec(), &retry)])
                    .await
            })
            .await
    }

    /// Uploads one cached object, if the entry still names the cached file's version.
    async fn upload_cached(&self, path: &str, entry: &Pending) -> Result<()> {
        let Some(cache) = &self.cache else {
            return Ok(());
        };
        let Some(reader) = cache.fs.open(path).await? else {
            return self.drop_orphan(path, entry).await;
        };
        if reader.fingerprint() != entry.fingerprint {
            // Replaced meanwhile: the newer version has its own entry.
            return Ok(());
        }
        let change = self.staged(path, entry, reader).await?;
        let (bucket, key) = entry.object(path);
        let at = At { bucket, key, path };
        // No precondition: the upload changes where the object is, not what it is.
        self.core.commit(self, at, Unconditional, change).await
    }

    /// Uploads the version of the key at `at` that waits in the cache, now, by the uploader's
    /// own change; the caller holds the key's lock. A version that stops being current in a
    /// bucket keeping versions moves into the version store on the remote, so it must be
    /// there first. A failure of the remote changes nothing: the version still waits.
    pub(crate) async fn upload_locked(&self, at: At<'_>) -> Result<()> {
        let Some(cache) = &self.cache else {
            return Ok(());
        };
        let Some(entry) = self.pending_entry(at.path)? else {
            return Ok(());
        };
        let reader = match cache.fs.open(at.path).await? {
            Some(reader) if reader.fingerprint() == entry.fingerprint => reader,
            Some(_) => {
                return Err(VfsError::Io(std::io::Error::other(format!(
                    "{}: the cached file is not the version queued",
                    at.path
                ))))
            }
            None => return self.drop_orphan_locked(at, &entry).await,
        };
        let change = self.staged(at.path, &entry, reader).await?;
        change.apply(self, at).await
    }

    /// The cached file of `entry` (opened: `reader`) staged on the remote, whole, unpublished.
    async fn staged(
        &self,
        path: &str,
        entry: &Pending,
        reader: Box<dyn crate::remote::Reader>,
    ) -> Result<UploadCached> {
        let size = entry.fingerprint.size;
        let (upload, _, _) = self
            .core
            .stage(
                &*self.core.remote,
                path,
                reader.stream(0, size),
                false,
                None,
            )
            .await?;
        Ok(UploadCached {
            upload,
            version: entry.fingerprint,
        })
    }
}

/// A cached object's upload to the remote takes the place of its cached version, if the queue
/// entry still names that `version`; otherwise (written again or deleted meanwhile) the upload
/// is dropped.
struct UploadCached {
    upload: Box<dyn Upload>,
    version: Fingerprint,
}

impl Change<WriteBack> for UploadCached {
    type Done = ();

    async fn apply(self, wb: &WriteBack, at: At<'_>) -> Result<()> {
        let UploadCached { upload, version } = self;
        let (path, bucket, key) = (at.path, at.bucket, at.key);
        match wb.pending_entry(path)? {
            Some(now) if now.fingerprint == version => {}
            _ => {
                upload.abort().await;
                return Ok(());
            }
        }
        let record = wb.core.index.get(bucket, key)?;
        let index_key = key::index_key(bucket, key);
        let queue_key = path.as_bytes().to_vec();
        let want = version;
        let (submit, recorded) = wb.core.index.prepare(move |remote_fp| {
            let mut ops = vec![Edit::Delete(Tree::WriteBack, queue_key)];
            if let Some(m) = record.filter(|m| m.in_write_cache && m.fingerprint == want) {
                let meta = ObjectMeta {
                    fingerprint: remote_fp,
                    in_write_cache: false,
                    // Last-Modified stays what the client was told.
                    modified_ns: m.modified_ns.or(Some(want.mtime_ns)),
                    ..m
                };
                ops.push(Edit::Put(Tree::Objects, index_key, meta.encode()));
            }
            ops
        })?;
        upload
            .commit(path, wb.core.fsync, submit)
            .await
            .map_err(|e| VfsError::from_key_io(e, key))?;
        recorded.await?;
        wb.forget_cached(path).await;
        Ok(())
    }

    async fn abandon(self) {
        self.upload.abort().await;
    }
}

impl WriteBack {
    /// An entry whose cached file is gone (removed by hand): nothing can be uploaded.
    async fn drop_orphan(&self, path: &str, entry: &Pending) -> Result<()> {
        let (bucket, key) = entry.object(path);
        let at = At { bucket, key, path };
        self.core
            .key_locks
            .with(
                &key::lock_name(bucket, key, path),
                self.drop_orphan_locked(at, entry),
            )
            .await
    }

    /// [`WriteBack::drop_orphan`], the caller holding the key's lock.
    async fn drop_orphan_locked(&self, at: At<'_>, entry: &Pending) -> Result<()> {
        let (path, bucket, key) = (at.path, at.bucket, at.key);
        if let Some(cache) = &self.cache {
            if cache.fs.stat(path).await?.is_some() {
                return Ok(());
            }
        }
        match self.pending_entry(path)? {
            Some(now) if now.fingerprint == entry.fingerprint => {}
            _ => return Ok(()),
        }
        tracing::error!(
            path,
            "the cached file of a pending upload is missing; dropped"
        );
        let mut ops = vec![Edit::Delete(Tree::WriteBack, path.as_bytes().to_vec())];
        // Its record describes bytes that are gone: without it, the key reads as the remote
        // has it (or as missing) instead of failing.
        if self
            .core
            .index
            .get(bucket, key)?
            .is_some_and(|m| m.in_write_cache && m.fingerprint == entry.fingerprint)
        {
            ops.push(Edit::Delete(Tree::Objects, key::index_key(bucket, key)));
        }
        self.core.index.apply(ops).await
    }

    /// Removes a cached file and the cache folders it leaves empty (the caller holds the key's
    /// lock, and the file has been uploaded or deleted).
    pub(crate) async fn forget_cached(&self, path: &str) {
        let Some(cache) = &self.cache else {
            return;
        };
        // The store's folders stay, as on the remote: a write may be placing a file in one.
        if cache.fs.delete(path, None).await.is_ok() && !key::is_stored(path) {
            prune_empty_parents(&*cache.fs, path, |_| false).await;
        }
    }

    /// Puts the cache in line with the index after a crash (run at start, before serving). A
    /// cached file that is not the version its record names was being written when the server
    /// stopped: where the record says the object waits in the cache, the file replaced that
    /// version (which is gone), so it becomes the object, queued; anything else (a new key whose
    /// record never landed, an uploaded or deleted object whose file was still to go) is removed.
    pub(crate) async fn recover(&self) -> Result<()> {
        let Some(cache) = &self.cache else {
            return Ok(());
        };
        for bucket in cache.fs.list_dir("").await? {
            if !bucket.is_dir || key::validate_bucket(&bucket.name).is_err() {
                continue;
            }
            for (key, fp) in crate::scan::walk(&*cache.fs, &bucket.name, None).await? {
                let path = format!("{}/{key}", bucket.name);
                self.recover_file(&path, &bucket.name, &key, fp).await?;
            }
        }
        // A key kept in the store of keys waits at its place there, which names no key: its
        // queue entry does. An entry commits with its record, so a place without one holds no
        // acknowledged version.
        for (place, fp) in crate::scan::walk(&*cache.fs, key::KEYS_DIR, None).await? {
            let path = format!("{}/{place}", key::KEYS_DIR);
            match self.pending_entry(&path)?.and_then(|e| e.object) {
                Some((bucket, key)) => self.recover_file(&path, &bucket, &key, fp).await?,
                None => self.forget_cached(&path).await,
            }
        }
        Ok(())
    }

    /// [`WriteBack::recover`] of the cached file at `path` (version `fp`), which would be the
    /// object `bucket/key`.
    async fn recover_file(
        &self,
        path: &str,
        bucket: &str,
        key: &str,
        fp: Fingerprint,
    ) -> Result<()> {
        let Some(cache) = &self.cache else {
            return Ok(());
        };
        let store = key::is_stored(path).then(|| path.to_string());
        match self.core.index.get(bucket, key)? {
            Some(m) if m.in_write_cache && m.store == store && m.fingerprint == fp => {}
            Some(m) if m.in_write_cache && m.store == store => {
                let Some(reader) = cache.fs.open(path).await? else {
                    return Ok(());
                };
                let object = store
                    .is_some()
                    .then(|| (bucket.to_string(), key.to_string()));
                let meta = ObjectMeta {
                    fingerprint: fp,
                    etag: self.core.content_etag(reader).await?,
                    // A version waiting in the cache is replaced there only as the `null`
                    // version is (version.rs): the write cut off was one too.
                    version: m.version.filter(|v| v.null),
                    attrs: Default::default(),
                    parts: Vec::new(),
                    modified_ns: None,
                    in_write_cache: true,
                    store,
                };
                tracing::warn!(
                    path,
                    "a write cut off by a stop replaced a cached object: kept as the object"
                );
                // Queued whatever this run's mode: the version it replaced was acknowledged and
                // waits in the cache, so this one must be uploaded.
                let entry = Pending {
                    fingerprint: fp,
                    due_ns: now_ns(),
                    queued_ns: 0,
                    tries: 0,
                    error: None,
                    object,
                };
                self.core
                    .index
                    .apply(vec![
                        Edit::Put(Tree::Objects, key::index_key(bucket, key), meta.encode()),
                        queue_put(path.as_bytes().to_vec(), &entry),
                    ])
                    .await?;
            }
            _ => self.forget_cached(path).await,
        }
        Ok(())
    }

    /// Removes the folders a deleted bucket left in the cache: its own (made by its first
    /// write through the cache) and those of its keys in the cache's store of keys. They hold
    /// no file (the bucket had no key left, waiting or not); one that does stays.
    pub(crate) async fn remove_bucket_folders(&self, bucket: &str) {
        let Some(cache) = &self.cache else {
            return;
        };
        for dir in [bucket.to_string(), format!("{}/{bucket}", key::KEYS_DIR)] {
            if let Err(e) = cache.fs.rmdir_tree(&dir).await {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(dir, error = %e, "cache folders of a deleted bucket left");
                }
            }
        }
    }

    /// Whether the cache holds a file at `path` (`bucket/...`) or at a folder above it, below
    /// the bucket.
    pub(crate) async fn file_at_or_above(&self, path: &str) -> Result<bool> {
        let Some(cache) = &self.cache else {
            return Ok(false);
        };
        let mut dir = path;
        while dir.contains('/') {
            if cache.fs.stat(dir).await?.is_some_and(|e| !e.is_dir) {
                return Ok(true);
            }
            dir = dir.rsplit_once('/').map_or("", |(up, _)| up);
        }
        Ok(false)
    }

    /// Whether any object of `bucket` still waits in the cache.
    pub(crate) async fn bucket_has_cached(&self, bucket: &str) -> Result<bool> {
        let Some(cache) = &self.cache else {
            return Ok(false);
        };
        Ok(match cache.fs.list_dir(bucket).await {
            Ok(entries) => !entries.is_empty(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(e.into()),
        })
    }
}
