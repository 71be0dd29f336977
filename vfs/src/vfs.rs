//! The VFS's facade: what it owns (the shared core, core.rs; the subsystems that hold it too:
//! the rescan, the write-back, multipart uploads, lifecycle rules, folder markers' reads; and the
//! state of the parts that implement `Vfs` in their own files), how it opens, the entry points of
//! those subsystems, with what they are handed of the facade (`Actions`; multipart's `Objects`,
//! in write.rs), and the read path (objects opened pinned to one version, records refreshed when
//! a file changed behind our back). Writes are in write.rs, deletes in delete.rs, buckets in
//! bucket/, and every change of an object is committed by the core (commit.rs).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use s3gate_config::Config;

use crate::bucket::known::KnownBuckets;
use crate::bucket::lifecycle::LifecycleRule;
use crate::bucket::records::Kept;
use crate::core::{Core, VersionIds};
use crate::error::{Result, VfsError};
use crate::fleet::Fleet;
use crate::index::{BodyHasher, Checksum, ChecksumType, Index, ObjectAttrs, ObjectMeta};
use crate::key;
use crate::lifecycle::{Actions, Lifecycle};
use crate::locks::KeyLocks;
use crate::marker::Folders;
use crate::meta::Tree;
use crate::multipart::records::uploads_staged_in_cache;
use crate::multipart::{Multipart, PartInfo, UploadPage};
use crate::object::{BucketInfo, CopyFrom, ObjectInfo, ObjectReader, Precondition};
use crate::path_claims::PlainClaims;
use crate::readcache::ReadCaching;
use crate::remote::{Reader, Remote};
use crate::scan::{Rescan, ScanReport};
use crate::watch::Watch;
use crate::write_cache::WriteCache;
use crate::writeback::{WriteBack, WriteBackReport, WriteBackStats, WriteBackSummary};

/// The facade: the shared core, each subsystem's own state, and the methods `s3api` calls,
/// which the subsystems implement in their files.
pub struct Vfs {
    /// Shared with the subsystems that hold it (`Arc`), so that they need no `Vfs`.
    pub(crate) core: Arc<Core>,
    /// Multipart uploads (multipart/).
    multipart: Multipart,
    /// The rescan: the core it corrects the index of, and what it keeps between runs.
    pub(crate) rescan: Arc<Rescan>,
    /// The write cache and its uploads (writeback.rs); multipart uploads stage parts in it.
    pub(crate) write_back: Arc<WriteBack>,
    /// Lifecycle rules run (lifecycle.rs).
    pub(crate) lifecycle: Lifecycle,
    /// Folder markers' reads and folders (marker.rs).
    pub(crate) folders: Folders,
    /// The read cache (`full`), and what it did.
    read_cache: Option<ReadCaching>,
    /// The buckets seen on a named remote lately.
    pub(crate) known_buckets: KnownBuckets,
    /// Present when other gateways write the same remote (`--fleet`): when listings were last
    /// checked against it.
    pub(crate) fleet: Option<Arc<Fleet>>,
    /// The index store's file (or folder), for its size.
    index_store: std::path::PathBuf,
    /// What a power-cut test keeps (`--power-cut-shadow`).
    shadow: Option<Arc<crate::shadow::Shadow>>,
}

impl Vfs {
    /// Opens the remote named by the configuration and its index; a new index over an existing
    /// tree is filled from the tree before this returns.
    pub async fn open(config: &Config) -> Result<Vfs> {
        Self::open_counted(config, Default::default()).await
    }

    /// [`Vfs::open`], counting the first fill of a new index (and every later scan and
    /// write-back) in `progress`, which the caller may show while this runs.
    pub async fn open_counted(
        config: &Config,
        progress: Arc<crate::progress::Progress>,
    ) -> Result<Vfs> {
        Self::open_on(config, crate::remote::open(config)?, progress).await
    }

    /// [`Vfs::open_counted`] over `remote`: the one the configuration names, or one wrapped
    /// around it (the crash points of the tests).
    pub(crate) async fn open_on(
        config: &Config,
        remote: Arc<dyn Remote>,
        progress: Arc<crate::progress::Progress>,
    ) -> Result<Vfs> {
        let store = crate::meta::open(config.index.store, &config.index_dir())?;
        let index = Index::new(store);
        let write_to_cache = config.vfs.cache_mode.caches_writes();
        let queued = !index.range_in(Tree::WriteBack, &[], None, 1)?.is_empty()
            || uploads_staged_in_cache(&index)?;
        let cache = if write_to_cache || queued {
            let dir = config.index_dir().join("writeback");
            Some(WriteCache::open(
                &dir,
                write_to_cache,
                config.vfs.write_back,
                config.vfs.fsync,
            )?)
        } else {
            None
        };
        let version_ids = VersionIds::open(&index)?;
        let index_store = crate::meta::store_path(config.index.store, &config.index_dir());
        let shadow = match (&config.vfs.power_cut_shadow, &config.remote.name) {
            (Some(dir), None) => {
                let shadow = crate::shadow::register(&config.remote.path, &index_store, dir)?;
                let copier = shadow.clone();
                index.after_commit(Box::new(move || {
                    if let Err(e) = copier.index_committed() {
                        tracing::error!("power-cut shadow: {e}");
                    }
                }));
                Some(shadow)
            }
            (Some(_), Some(_)) => {
                return Err(VfsError::Io(std::io::Error::other(
                    "--power-cut-shadow follows a local directory only",
                )))
            }
            (None, _) => None,
        };
        // The log needs a local directory (one syncfs syncs it), fsync (else there is nothing
        // to save) and no write cache or other gateway (their writes take their own paths).
        let put_log = (config.vfs.small_put_log > 0
            && config.vfs.fsync
            && config.remote.name.is_none()
            && !write_to_cache
            && !config.vfs.fleet)
            .then(|| {
                crate::putlog::state::PutLog::new(
                    config.vfs.small_put_log,
                    config.remote.path.clone(),
                )
            });
        let core = Arc::new(Core {
            remote,
            index,
            version_ids,
            key_locks: KeyLocks::new(),
            plain_claims: PlainClaims::new(),
            etag_hash: config.vfs.etag_hash,
            fsync: config.vfs.fsync,
            cleanup: !config.vfs.no_cleanup,
            local_root: config
                .remote
                .name
                .is_none()
                .then(|| config.remote.path.clone()),
            own_writes: Default::default(),
            progress,
            lifecycle_day: config
                .vfs
                .lifecycle_day
                .as_nanos()
                .clamp(1, i64::MAX as u128) as i64,
            put_log,
            bucket_records: Kept::default(),
        });
        let write_back = Arc::new(WriteBack::new(core.clone(), cache));
        let fleet = config.vfs.fleet.then(|| Arc::new(Fleet::default()));
        let vfs = Vfs {
            rescan: Arc::new(Rescan::new(core.clone())),
            multipart: Multipart::new(
                core.clone(),
                write_back.clone(),
                fleet.clone(),
                config.vfs.max_uploads_per_bucket,
            ),
            write_back,
            lifecycle: Lifecycle::new(core.clone()),
            folders: Folders::new(core.clone()),
            core,
            known_buckets: KnownBuckets::new(
                config
                    .remote
                    .name
                    .is_some()
                    // In a fleet a bucket deleted through another gateway must not stay
                    // known here for long: a PUT into it would make it again.
                    .then_some(match config.vfs.fleet {
                        true => config.vfs.rescan_interval.min(Duration::from_secs(1)),
                        false => config.vfs.rescan_interval,
                    }),
            ),
            fleet,
            index_store,
            shadow,
            read_cache: match config.vfs.cache_mode.caches_reads() {
                true => Some(ReadCaching::open(
                    &config.index_dir().join("readcache"),
                    &config.vfs,
                )?),
                false => None,
            },
        };
        // First: a logged PUT's record may name a file a crash left unwritten.
        vfs.recover_puts().await?;
        vfs.finish_deletes().await?;
        vfs.versions().recover().await?;
        let rewritten = crate::version_row::rewrite_old_rows(&vfs.core.index).await?;
        if rewritten > 0 {
            tracing::info!(
                rows = rewritten,
                "kept versions' rows rewritten in their binary layout"
            );
        }
        vfs.finish_fresh_places().await?;
        if !vfs.index_filled()? {
            vfs.reconcile().await?;
        }
        vfs.write_back.recover().await?;
        Ok(vfs)
    }

    /// The size of the index store on disk.
    pub fn index_bytes(&self) -> u64 {
        crate::readcache::disk_usage(&self.index_store)
    }

    /// Where new objects and multipart parts are written: the write cache, or the remote.
    pub(crate) fn store(&self) -> &Arc<dyn Remote> {
        self.write_back.store_for(None)
    }

    /// Whether new objects and parts are written to the write cache.
    pub(crate) fn writes_to_cache(&self) -> bool {
        self.write_back.in_write_cache(None)
    }

    /// Waits for a running rescan and queued index writes, then closes the index. Requests still
    /// in flight after this fail with an internal error instead of touching a closed store.
    pub async fn shutdown(&self) {
        let _scan = self.rescan.one_at_a_time().await;
        if let Err(e) = self.core.checkpoint_puts(true).await {
            tracing::warn!(
                "the small-PUT log's last checkpoint failed (replayed at the next start): {e}"
            );
        }
        self.core.index.close();
        if let Some(shadow) = &self.shadow {
            crate::shadow::unregister(shadow);
        }
    }

    // ---- the rescan (scan/) and the watch (watch/) ----

    /// Starts watching the served directory for other programs' changes, when it is a local
    /// one ([`Watch`]); `None` otherwise.
    pub async fn watch(&self) -> Result<Option<Watch>> {
        Watch::start(&self.core, &self.rescan).await
    }

    /// Whether the index has been filled from the tree once (and so can be served from).
    pub fn index_filled(&self) -> Result<bool> {
        self.rescan.index_filled()
    }

    /// Brings the index in line with the remote; safe to run while serving.
    pub async fn reconcile(&self) -> Result<ScanReport> {
        let _one_at_a_time = self.rescan.one_at_a_time().await;
        let report = self.scan_all().await;
        // Set after a failed scan too: listings that waited for a check get the index as it is,
        // instead of waiting for the next scan (the failure is logged).
        self.rescan.mark_checked();
        report
    }

    /// One run over the buckets the remote has; the records of those whose folder is gone go.
    async fn scan_all(&self) -> Result<ScanReport> {
        let serving = self.rescan.index_filled()?;
        let buckets = self.list_buckets().await?;
        let report = self.rescan.buckets(&buckets, serving).await?;
        self.forget_vanished_buckets(&buckets).await?;
        self.forget_vanished_bucket_records(&buckets).await?;
        if !serving {
            self.rescan.mark_filled().await?;
        }
        Ok(report)
    }

    /// Drops the object records of buckets whose folder is gone (`buckets`: those the remote
    /// has).
    async fn forget_vanished_buckets(&self, buckets: &[BucketInfo]) -> Result<()> {
        for name in self.rescan.unlisted_buckets(buckets)? {
            // A bucket created after the scan listed the buckets is not vanished: ask again.
            if self.head_bucket(&name).await.is_err() {
                self.forget_bucket(&name).await?;
            }
        }
        Ok(())
    }

    // ---- the write-back (writeback.rs) ----

    /// The write cache's state, when there is one.
    pub fn write_back_stats(&self) -> Result<Option<WriteBackStats>> {
        self.write_back.stats()
    }

    /// Every entry of the write-back queue, summed up.
    pub fn write_back_summary(&self) -> Result<WriteBackSummary> {
        self.write_back.summary()
    }

    /// How many objects wait to be uploaded.
    pub fn write_back_pending(&self) -> Result<u64> {
        self.write_back.pending()
    }

    /// Uploads the cached objects that are due (all of them with `all`, pass after pass while
    /// they make progress), several at a time.
    pub async fn write_back(&self, all: bool) -> Result<WriteBackReport> {
        self.write_back.run(all).await
    }

    // ---- lifecycle rules (lifecycle.rs) ----

    /// Sets (or with `None` removes) the lifecycle rules of `bucket`, then enters the due
    /// dates of every key and upload they act on.
    pub async fn set_lifecycle(
        &self,
        bucket: &str,
        rules: Option<Vec<LifecycleRule>>,
    ) -> Result<()> {
        // Entries made for earlier rules stay, and do nothing when they fall due.
        let walk = rules.clone().filter(|r| r.iter().any(|r| r.enabled));
        self.update_bucket(bucket, |r| {
            r.lifecycle = rules.clone();
            Ok(())
        })
        .await?;
        match walk {
            Some(rules) => self.lifecycle.enter_bucket(bucket, &rules).await,
            None => Ok(()),
        }
    }

    /// Runs what lifecycle rules have due: one pass over the due tree up to now. Returns how
    /// many objects, versions and uploads went.
    pub async fn run_lifecycle(&self) -> Result<usize> {
        self.lifecycle.run(self).await
    }

    /// When the current version `info` of `bucket/key` expires under the bucket's enabled
    /// rules, and by which rule: what `x-amz-expiration` says.
    pub fn expiration(
        &self,
        bucket: &str,
        key: &str,
        info: &ObjectInfo,
    ) -> Result<Option<(SystemTime, String)>> {
        self.lifecycle.expiration(bucket, key, info)
    }

    // ---- multipart uploads (multipart/) ----

    /// The multipart uploads, for what they do on their own (a part, the parts listed, an
    /// abort, the count, the sweep); what needs the facade handed in as their `Objects` is
    /// below.
    pub fn multipart(&self) -> &Multipart {
        &self.multipart
    }

    pub async fn create_multipart(
        &self,
        bucket: &str,
        key: &str,
        attrs: ObjectAttrs,
        checksum: Option<ChecksumType>,
    ) -> Result<String> {
        self.multipart
            .create(self, bucket, key, attrs, checksum)
            .await
    }

    /// Copies `range` (offset, length; the whole object when `None`) of an object (any version
    /// of it) into a part, hashed on the way (by `hasher` too, when given).
    #[allow(clippy::too_many_arguments)]
    pub async fn upload_part_copy(
        &self,
        bucket: &str,
        key: &str,
        id: &str,
        number: u32,
        from: CopyFrom<'_>,
        range: Option<(u64, u64)>,
        hasher: Option<Box<dyn BodyHasher>>,
    ) -> Result<PartInfo> {
        self.multipart
            .upload_part_copy(self, bucket, key, id, number, from, range, hasher)
            .await
    }

    /// Assembles the listed parts into the object, which carries `checksum`, when
    /// `precondition` holds on the object it replaces.
    pub async fn complete_multipart(
        &self,
        bucket: &str,
        key: &str,
        id: &str,
        wanted: &[(u32, String)],
        checksum: Option<Checksum>,
        precondition: Option<Precondition>,
    ) -> Result<ObjectInfo> {
        self.multipart
            .complete(self, bucket, key, id, wanted, checksum, precondition)
            .await
    }

    /// Open uploads of a bucket in key order, then upload-id order, with prefix and delimiter
    /// as in object listings.
    pub async fn list_uploads(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        key_marker: Option<&str>,
        id_marker: Option<&str>,
        max: usize,
    ) -> Result<UploadPage> {
        self.multipart
            .list_uploads(self, bucket, prefix, delimiter, key_marker, id_marker, max)
            .await
    }

    // ---- reading ----

    /// Opens an object for reading. Keys that can never name an object are simply absent.
    pub async fn open_object(&self, bucket: &str, key: &str) -> Result<ObjectReader> {
        key::validate_bucket(bucket)?;
        // One index read per attempt: the record says where the file is (a place in the store)
        // and, by its fingerprint, whether it describes the file opened. Read before the open,
        // it is as good as one read after: a PUT publishes its file before its record, so a
        // record that matches the file opened is that file's, and one that does not is read
        // again under the key's lock.
        let mut record = self.core.index.get(bucket, key)?;
        let store = record.as_ref().and_then(|m| m.store.as_deref());
        let Some(path) = key::path_in(bucket, key, store) else {
            if let (Some(_), None, Some(Ok(folder))) =
                (&self.fleet, &record, key::marker_path(bucket, key))
            {
                let at = crate::commit::At {
                    bucket,
                    key,
                    path: &folder,
                };
                self.core
                    .key_locks
                    .with(&folder, self.adopt_marker_locked(at))
                    .await?;
            }
            return match self.folders.open_marker(bucket, key).await {
                Err(VfsError::NoSuchKey) => Err(self.missing(bucket).await),
                // In a fleet a marker's attributes are those the remote keeps.
                Ok(mut r) => {
                    if let Some(carried) = self.marker_carried(bucket, key).await? {
                        r.info.attrs.take_carried(carried);
                    }
                    Ok(r)
                }
                r => r,
            };
        };
        if let Some(r) = self.open_trusted(&path, &mut record) {
            return Ok(r);
        }
        // The record and the open file must describe the same version: a rename between
        // opening the file and reading (or refreshing) its record means opening again.
        let mut waited = false;
        for attempt in 0..8 {
            if attempt > 0 {
                record = self.core.index.get(bucket, key)?;
            }
            let recorded = record.is_some();
            if let Some(r) = self.open_in_write_cache(&path, &mut record).await? {
                return Ok(r);
            }
            let Some(reader) = self.core.remote.open(&path).await? else {
                if self.is_in_write_cache(bucket, key)? {
                    continue; // uploaded meanwhile, or written again
                }
                // A record without its file is a change of the key between its steps (a delete
                // or a version moving into the version store), or a file another program
                // removed. The change is waited for once, under the key's lock, and the record
                // read again: a GET then answers with what the change left (a delete marker's
                // 404, the version below it), never a state no request made.
                if recorded && !waited {
                    waited = true;
                    let lock = key::lock_name(bucket, key, &path);
                    self.core.key_locks.with(&lock, async {}).await;
                    continue;
                }
                return Err(self.missing(bucket).await);
            };
            let fp = reader.fingerprint();
            let at = crate::commit::At {
                bucket,
                key,
                path: &path,
            };
            let known = match record.take() {
                Some(m) if m.fingerprint == fp && !m.etag.is_empty() => Some(m),
                _ => None,
            };
            let agrees = match &known {
                Some(m) => self.agrees_with_carried(at, &*reader, m).await,
                None => false,
            };
            let meta = match known.filter(|_| agrees) {
                Some(m) => m,
                None => match self.refresh_record(bucket, key, &path).await {
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

    /// The object from the write cache, when its record (`record`) says it waits there.
    async fn open_in_write_cache(
        &self,
        path: &str,
        record: &mut Option<ObjectMeta>,
    ) -> Result<Option<ObjectReader>> {
        let Some(cache) = &self.write_back.cache else {
            return Ok(None);
        };
        // Taken even when the cache's file no longer matches it: a record of the cache's file
        // cannot match the remote's either, and is read again under the key's lock.
        let Some(meta) = record.take_if(|m| m.in_write_cache) else {
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

    /// The object from the read cache without asking the remote, when its record (`record`)
    /// names the version a GET checked with the remote within the trust window.
    fn open_trusted(&self, path: &str, record: &mut Option<ObjectMeta>) -> Option<ObjectReader> {
        let cache = self.read_cache.as_ref()?;
        let meta = record.as_ref()?;
        if meta.in_write_cache || meta.etag.is_empty() {
            return None;
        }
        let reader = cache.trusted_reader(&self.core.remote, path, &meta.etag, meta.fingerprint)?;
        Some(ObjectReader {
            info: ObjectInfo::from_meta(record.take()?),
            reader,
            in_write_cache: false,
        })
    }

    /// The reader of a remote object whose version was just checked with its record, through
    /// the read cache where there is one (which then trusts that version for a while).
    fn read_through_cache(
        &self,
        path: &str,
        etag: &str,
        reader: Box<dyn Reader>,
    ) -> Box<dyn Reader> {
        match &self.read_cache {
            Some(cache) => {
                cache.trusted.checked(path, reader.fingerprint());
                cache.reader(path, etag, reader)
            }
            None => reader,
        }
    }

    /// How many file events the watch of the served folder woke for since start, while it
    /// watches.
    pub fn watch_events(&self) -> Option<u64> {
        let own = &self.core.own_writes;
        own.watching
            .load(std::sync::atomic::Ordering::Relaxed)
            .then(|| own.woken.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// What the read cache did, when there is one.
    pub fn read_cache_stats(&self) -> Option<crate::readcache::ReadCacheStats> {
        self.read_cache.as_ref().map(ReadCaching::stats)
    }

    /// Applies the read cache's limits (age, size, free space); returns how many object
    /// versions left it.
    pub async fn trim_read_cache(&self) -> Result<u64> {
        Ok(match &self.read_cache {
            Some(cache) => cache.trim().await?,
            None => 0,
        })
    }

    fn is_in_write_cache(&self, bucket: &str, key: &str) -> Result<bool> {
        Ok(self.write_back.cache.is_some()
            && self
                .core
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
        self.core
            .key_locks
            .with(&key::lock_name(bucket, key, path), async {
                self.record_locked(bucket, key, path)
                    .await?
                    .ok_or(VfsError::NoSuchKey)
            })
            .await
    }

    /// Whether `m` holds all its object carries, so that whether its file is still the one
    /// recorded is all there is to check: outside a fleet an object carries nothing its record
    /// lacks, and a record with an ETag is complete.
    pub(crate) fn record_is_whole(&self, m: &ObjectMeta) -> bool {
        self.fleet.is_none() && !m.etag.is_empty()
    }

    /// The up-to-date record of the object at `path`, `None` when there is none; the caller
    /// holds the key's lock. A file that changed behind our back gets its content hash computed
    /// once and kept against its fingerprint; the user metadata it had belonged to content that
    /// is gone.
    pub(crate) async fn record_locked(
        &self,
        bucket: &str,
        key: &str,
        path: &str,
    ) -> Result<Option<ObjectMeta>> {
        let old = self.core.index.get(bucket, key)?;
        if let (Some(m), Some(cache)) = (&old, &self.write_back.cache) {
            // A cached object is ours until uploaded, whatever the remote holds meanwhile.
            if m.in_write_cache {
                return match cache.fs.stat(path).await? {
                    Some(e) if e.fingerprint == m.fingerprint => Ok(old),
                    _ => Ok(None),
                };
            }
        }
        // A stat that finds the recorded file settles a whole record: an open would read a
        // small file whole (a local directory) for nothing.
        if let Some(m) = old.as_ref().filter(|m| self.record_is_whole(m)) {
            match self.core.remote.stat(path).await? {
                Some(e) if e.is_dir => return Ok(None),
                Some(e) if e.fingerprint == m.fingerprint => return Ok(old),
                // Changed behind our back: read below.
                Some(_) => {}
                None => return Ok(None),
            }
        }
        let Some(reader) = self.core.remote.open(path).await? else {
            return Ok(None);
        };
        let fp = reader.fingerprint();
        let known = old
            .as_ref()
            .filter(|m| m.fingerprint == fp && !m.etag.is_empty());
        let at = crate::commit::At { bucket, key, path };
        if let Some(m) = known {
            if self.agrees_with_carried(at, &*reader, m).await {
                return Ok(old);
            }
        }
        // A sidecar holding all the object carries, gone: the object went with it meanwhile.
        let mut carried = match self.carried(at, &*reader).await {
            Err(VfsError::NoSuchKey) => return Ok(None),
            carried => carried?,
        };
        let etag = match (known, carried.as_mut().and_then(|c| c.etag.take())) {
            // The same bytes, given other attributes by another gateway.
            (Some(m), _) => m.etag.clone(),
            // A multipart object's, which no read of its bytes could tell.
            (None, Some(etag)) => etag,
            (None, None) => self.core.content_etag(reader).await?,
        };
        // A record whose fingerprint matches but lacks the hash is ours: keep its attributes.
        let (mut attrs, mut parts, modified_ns) = old
            .filter(|m| m.fingerprint == fp)
            .map(|m| (m.attrs, m.parts, m.modified_ns))
            .unwrap_or_default();
        // In a fleet the object says what its writer was given, whichever gateway that was
        // (a rescan's record of it knows nothing of that).
        let mut modified_ns = modified_ns;
        let mut version = None;
        if let Some(c) = carried {
            // Its version id, in a bucket that keeps versions (fleet_versions.rs).
            version = c.version;
            attrs.take_carried(c.attrs);
            modified_ns = c.modified_ns.or(modified_ns);
            // A multipart object's part sizes, for `partNumber` reads and its parts count.
            if parts.is_empty() {
                parts = c.parts;
            }
        }
        let meta = ObjectMeta {
            fingerprint: fp,
            etag,
            version,
            attrs,
            parts,
            modified_ns,
            in_write_cache: false,
            store: key::is_stored(path).then(|| path.to_string()),
        };
        self.core.index.put(bucket, key, &meta).await?;
        Ok(Some(meta))
    }
}

/// Lifecycle's actions are the ordinary deletes, markers, version removals and aborts.
impl Actions for Vfs {
    async fn delete_if(&self, bucket: &str, key: &str, unchanged: &Precondition) -> Result<()> {
        self.delete_object(bucket, key, Some(unchanged)).await
    }

    async fn mark_if(&self, bucket: &str, key: &str, unchanged: &Precondition) -> Result<()> {
        self.add_delete_marker_if(bucket, key, Some(unchanged))
            .await
            .map(drop)
    }

    async fn drop_version_if(
        &self,
        bucket: &str,
        key: &str,
        id: &str,
        unchanged: &Precondition,
    ) -> Result<()> {
        // Expiration never bypasses a GOVERNANCE retention.
        self.delete_version_if(bucket, key, id, Some(unchanged), false)
            .await
            .map(drop)
    }

    fn upload_initiated(&self, bucket: &str, key: &str, id: &str) -> Result<Option<i64>> {
        match self.multipart.record(bucket, key, id) {
            Ok(r) if r.completed.is_none() => Ok(Some(r.initiated_ns)),
            Ok(_) | Err(VfsError::NoSuchUpload) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn abort_upload(&self, bucket: &str, key: &str, id: &str) -> Result<()> {
        self.multipart.abort(bucket, key, id).await
    }
}

#[cfg(test)]
impl Vfs {
    /// A VFS over `root` with fsync off, as the unit tests open one.
    pub(crate) async fn open_unsynced(root: &std::path::Path) -> Vfs {
        Vfs::open_unsynced_with(root, |remote| remote).await
    }

    /// [`Vfs::open_unsynced`], its remote wrapped by `wrap`.
    pub(crate) async fn open_unsynced_with(
        root: &std::path::Path,
        wrap: impl FnOnce(Arc<dyn Remote>) -> Arc<dyn Remote>,
    ) -> Vfs {
        let mut config = s3gate_config::Config::default();
        config.remote.path = root.to_path_buf();
        config.vfs.fsync = false;
        let remote = crate::remote::open(&config).map(wrap);
        let opened = match remote {
            Ok(remote) => Vfs::open_on(&config, remote, Default::default()).await,
            Err(e) => Err(e.into()),
        };
        opened.unwrap_or_else(|e| panic!("a VFS over {}: {e}", root.display()))
    }

    /// Writes `body` at `bkt/key` with `attrs`, as the unit tests write objects.
    pub(crate) async fn put_test(
        &self,
        key: &str,
        body: impl Into<bytes::Bytes>,
        attrs: crate::index::ObjectAttrs,
    ) -> ObjectInfo {
        let body = futures_util::stream::iter([Ok::<_, Box<dyn std::error::Error + Send + Sync>>(
            body.into(),
        )]);
        let req = crate::object::PutRequest {
            attrs,
            content_md5: None,
            precondition: None,
            checksum: None,
            body,
        };
        self.put_object("bkt", key, req)
            .await
            .unwrap_or_else(|e| panic!("put bkt/{key}: {e}"))
    }
}
