//! The VFS's facade: what it owns (the shared core, core.rs, and each subsystem's own state),
//! how it opens, and the read path (objects opened pinned to one version, records refreshed when
//! a file changed behind our back). It imports only leaves; the subsystems implement their part
//! of `Vfs` in their own files: writes in write.rs, deletes in delete.rs, buckets in bucket/,
//! and every change of an object is committed in commit.rs.

use std::sync::Arc;
use std::time::Duration;

use s3gate_config::Config;

use crate::bucket::known::KnownBuckets;
use crate::bucket::records::Kept;
use crate::bucket::BucketRecord;
use crate::core::{Core, VersionIds};
use crate::error::{Result, VfsError};
use crate::fleet::FleetListings;
use crate::index::{Index, ObjectMeta};
use crate::key;
use crate::locks::KeyLocks;
use crate::meta::Tree;
use crate::multipart::records::{uploads_staged_in_cache, Uploads};
use crate::object::{ObjectInfo, ObjectReader};
use crate::readcache::ReadCaching;
use crate::remote::{Reader, Remote};
use crate::scan::runs::Scans;
use crate::write_cache::WriteCache;

/// The facade: the shared core, each subsystem's own state, and the methods `s3api` calls,
/// which the subsystems implement in their files.
pub struct Vfs {
    pub(crate) core: Core,
    /// Multipart uploads: their locks, the parts written in place, the limit per bucket.
    pub(crate) uploads: Uploads,
    /// The rescan: its lock, whether it has checked the index, the first fill's batch.
    pub(crate) scans: Scans,
    /// The write cache: present while caching writes, or while uploads from a run that cached
    /// them are still queued.
    pub(crate) write_cache: Option<WriteCache>,
    /// The read cache (`full`), and what it did.
    read_cache: Option<ReadCaching>,
    /// The buckets seen on a named remote lately.
    pub(crate) known_buckets: KnownBuckets,
    /// Present when other gateways write the same remote (`--fleet`): when listings were last
    /// checked against it.
    pub(crate) fleet: Option<FleetListings>,
    /// Bucket records kept decoded between changes (`Vfs::bucket_record`).
    pub(crate) bucket_records: Kept<BucketRecord>,
    /// The index store's file (or folder), for its size.
    index_store: std::path::PathBuf,
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
                write_to_cache,
                config.vfs.write_back,
                config.vfs.fsync,
            )?)
        } else {
            None
        };
        let version_ids = VersionIds::open(&index)?;
        let vfs = Vfs {
            core: Core {
                remote,
                index,
                version_ids,
                key_locks: KeyLocks::new(),
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
            },
            uploads: Uploads::new(config.vfs.max_uploads_per_bucket),
            scans: Scans::new(),
            write_cache: cache,
            bucket_records: Kept::default(),
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
            fleet: config.vfs.fleet.then(FleetListings::default),
            index_store: crate::meta::store_path(config.index.store, &config.index_dir()),
            read_cache: match config.vfs.cache_mode.caches_reads() {
                true => Some(ReadCaching::open(
                    &config.index_dir().join("readcache"),
                    &config.vfs,
                )?),
                false => None,
            },
        };
        vfs.finish_deletes().await?;
        vfs.versions().recover().await?;
        vfs.finish_fresh_places().await?;
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
        self.write_cache
            .as_ref()
            .is_some_and(|c| staged.unwrap_or(c.takes_new_writes))
    }

    /// The write cache or the remote, as [`Vfs::in_write_cache`] says.
    pub(crate) fn store_for(&self, staged: Option<bool>) -> &Arc<dyn Remote> {
        match &self.write_cache {
            Some(c) if self.in_write_cache(staged) => &c.fs,
            _ => &self.core.remote,
        }
    }

    /// Waits for a running rescan and queued index writes, then closes the index. Requests still
    /// in flight after this fail with an internal error instead of touching a closed store.
    pub async fn shutdown(&self) {
        let _scan = self.scans.lock.lock().await;
        self.core.index.close();
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
        let Some(path) = crate::stored::path_in(bucket, key, record.as_ref()) else {
            return match self.open_marker(bucket, key).await {
                Err(VfsError::NoSuchKey) => Err(self.missing(bucket).await),
                r => r,
            };
        };
        if let Some(r) = self.open_trusted(&path, &mut record) {
            return Ok(r);
        }
        // The record and the open file must describe the same version: a rename between
        // opening the file and reading (or refreshing) its record means opening again.
        for attempt in 0..8 {
            if attempt > 0 {
                record = self.core.index.get(bucket, key)?;
            }
            if let Some(r) = self.open_in_write_cache(&path, &mut record).await? {
                return Ok(r);
            }
            let Some(reader) = self.core.remote.open(&path).await? else {
                if self.is_in_write_cache(bucket, key)? {
                    continue; // uploaded meanwhile, or written again
                }
                return Err(self.missing(bucket).await);
            };
            let fp = reader.fingerprint();
            let meta = match record.take() {
                Some(m)
                    if m.fingerprint == fp
                        && !m.etag.is_empty()
                        && self.agrees_with_carried(&*reader, &m.attrs) =>
                {
                    m
                }
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

    /// The object from the write cache, when its record (`record`) says it waits there.
    async fn open_in_write_cache(
        &self,
        path: &str,
        record: &mut Option<ObjectMeta>,
    ) -> Result<Option<ObjectReader>> {
        let Some(cache) = &self.write_cache else {
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
        Ok(self.write_cache.is_some()
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
        if let (Some(m), Some(cache)) = (&old, &self.write_cache) {
            // A cached object is ours until uploaded, whatever the remote holds meanwhile.
            if m.in_write_cache {
                return match cache.fs.stat(path).await? {
                    Some(e) if e.fingerprint == m.fingerprint => Ok(old),
                    _ => Ok(None),
                };
            }
        }
        let Some(reader) = self.core.remote.open(path).await? else {
            return Ok(None);
        };
        let fp = reader.fingerprint();
        let known = old
            .as_ref()
            .filter(|m| m.fingerprint == fp && !m.etag.is_empty());
        if known.is_some_and(|m| self.agrees_with_carried(&*reader, &m.attrs)) {
            return Ok(old);
        }
        let mut carried = self.carried(&*reader);
        let etag = match (known, carried.as_mut().and_then(|c| c.etag.take())) {
            // The same bytes, given other attributes by another gateway.
            (Some(m), _) => m.etag.clone(),
            // A multipart object's, which no read of its bytes could tell.
            (None, Some(etag)) => etag,
            (None, None) => self.core.content_etag(reader).await?,
        };
        // A record whose fingerprint matches but lacks the hash is ours: keep its attributes.
        let (mut attrs, parts, modified_ns) = old
            .filter(|m| m.fingerprint == fp)
            .map(|m| (m.attrs, m.parts, m.modified_ns))
            .unwrap_or_default();
        // In a fleet the object says what its writer was given, whichever gateway that was
        // (a rescan's record of it knows nothing of that).
        if let Some(c) = carried {
            attrs.headers = c.attrs.headers;
            attrs.user_meta = c.attrs.user_meta;
        }
        let meta = ObjectMeta {
            fingerprint: fp,
            etag,
            version: None,
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

#[cfg(test)]
impl Vfs {
    /// A VFS over `root` with fsync off, as the unit tests open one.
    pub(crate) async fn open_unsynced(root: &std::path::Path) -> Vfs {
        let mut config = s3gate_config::Config::default();
        config.remote.path = root.to_path_buf();
        config.vfs.fsync = false;
        Vfs::open(&config)
            .await
            .unwrap_or_else(|e| panic!("a VFS over {}: {e}", root.display()))
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
