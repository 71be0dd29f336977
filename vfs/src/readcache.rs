//! The read cache (`--vfs-cache-mode full`): objects read from the remote are kept on local
//! disk in chunks of `--vfs-read-chunk-size`, so that reading them again costs no remote
//! transfer.
//!
//! Each version of an object has a folder named after its path and fingerprint, so a changed
//! object is never served from the cache of its older version. A chunk is a file written whole
//! (a staging name, then a rename), named by its index, that starts with the BLAKE3 hash of
//! its bytes: the
//! present chunks are the record of what is cached, and a chunk whose bytes no longer match
//! its hash is fetched again, never served. Concurrent readers of a missing chunk fetch it once;
//! a sequential read fetches the next chunks (`--vfs-read-ahead`) before they are asked for.
//! The kernel's page cache keeps recently read chunks in memory: a second copy in the process
//! would only double the memory. The cache is bounded by size, age and the disk's free space;
//! the least recently read objects go first. Nothing here is ever the only copy of anything.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;

use crate::remote::{ByteStream, Fingerprint, Reader};

/// The read cache's settings and its folder.
pub(crate) struct ReadCache {
    dir: PathBuf,
    chunk: u64,
    read_ahead: u64,
    max_size: u64,
    max_age: Duration,
    min_free: u64,
    /// Chunks being fetched: later readers of the same chunk wait for the first.
    fetching: Mutex<HashMap<(PathBuf, u64), FetchLock>>,
}

/// The size of the pieces a chunk is handed to the HTTP layer in.
const SEND_PIECE: usize = 512 << 10;

/// Held while one chunk is fetched.
type FetchLock = Arc<tokio::sync::Mutex<()>>;

/// What the cache did since start, for metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReadCacheStats {
    pub hits: u64,
    pub misses: u64,
    pub bytes: u64,
    pub evicted: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    hits: std::sync::atomic::AtomicU64,
    misses: std::sync::atomic::AtomicU64,
    evicted: std::sync::atomic::AtomicU64,
}

impl ReadCache {
    pub(crate) fn open(dir: &Path, config: &s3gate_config::VfsConfig) -> io::Result<ReadCache> {
        fs::create_dir_all(dir.join("tmp"))?;
        for e in fs::read_dir(dir.join("tmp"))? {
            let _ = fs::remove_file(e?.path());
        }
        Ok(ReadCache {
            dir: dir.to_path_buf(),
            chunk: config.read_chunk_size,
            read_ahead: config.read_ahead,
            max_size: config.cache_max_size,
            max_age: config.cache_max_age,
            min_free: config.cache_min_free_space,
            fetching: Mutex::new(HashMap::new()),
        })
    }

    /// The folder of one version of one object: its path, ETag and fingerprint, and the chunk
    /// size (chunk `i` means other bytes under another size).
    fn version_dir(&self, path: &str, etag: &str, fp: &Fingerprint) -> PathBuf {
        let mut h = blake3::Hasher::new();
        for part in [path, etag] {
            h.update(&(part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        h.update(&self.chunk.to_le_bytes());
        h.update(&fp.size.to_le_bytes());
        h.update(&fp.mtime_ns.to_le_bytes());
        h.update(&fp.id.to_le_bytes());
        let name = h.finalize().to_hex();
        self.dir.join("objects").join(&name[..2]).join(&name[..32])
    }
}

/// A reader that serves an object's bytes from the read cache, fetching missing chunks from
/// the remote through the reader it wraps (pinned to the version it was opened at).
pub(crate) struct CachingReader {
    cache: Arc<ReadCache>,
    counters: Arc<Counters>,
    source: Box<dyn Reader>,
    fingerprint: Fingerprint,
    /// This version's folder in the cache.
    dir: PathBuf,
}

impl CachingReader {
    pub(crate) fn new(
        cache: Arc<ReadCache>,
        counters: Arc<Counters>,
        path: &str,
        etag: &str,
        source: Box<dyn Reader>,
    ) -> CachingReader {
        let fingerprint = source.fingerprint();
        CachingReader {
            dir: cache.version_dir(path, etag, &fingerprint),
            cache,
            counters,
            source,
            fingerprint,
        }
    }
}

impl Reader for CachingReader {
    fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    fn clone_box(&self) -> Box<dyn Reader> {
        Box::new(CachingReader {
            cache: self.cache.clone(),
            counters: self.counters.clone(),
            source: self.source.clone_box(),
            fingerprint: self.fingerprint,
            dir: self.dir.clone(),
        })
    }

    fn stream(self: Box<Self>, offset: u64, len: u64) -> ByteStream {
        let this = Arc::new(*self);
        let chunk = this.cache.chunk;
        let end = offset + len;
        let first = offset / chunk;
        let last = if len == 0 { first } else { (end - 1) / chunk };
        touch(&this.dir);
        let stream = futures_util::stream::iter(first..=last)
            .filter(move |_| std::future::ready(len > 0))
            .map(move |i| {
                let this = this.clone();
                async move {
                    let data = this.chunk(i).await?;
                    // Reading on: have the next chunks fetched meanwhile.
                    let ahead = this.cache.read_ahead.div_ceil(chunk);
                    for j in i + 1..=i + ahead {
                        if j * chunk < this.fingerprint.size {
                            let this = this.clone();
                            tokio::spawn(async move {
                                let _ = this.chunk_present(j).await;
                            });
                        }
                    }
                    let start = i * chunk;
                    let from = offset.saturating_sub(start) as usize;
                    let to = ((end - start) as usize).min(data.len());
                    Ok(data.slice(from.min(to)..to))
                }
            })
            // The next chunk is read (and checked) while this one is sent.
            .buffered(2)
            // Sent in pieces the size the other readers send: the HTTP layer copies large ones.
            .flat_map(|chunk: io::Result<Bytes>| {
                let pieces: Vec<io::Result<Bytes>> = match chunk {
                    Ok(b) => (0..b.len())
                        .step_by(SEND_PIECE)
                        .map(|at| Ok(b.slice(at..(at + SEND_PIECE).min(b.len()))))
                        .collect(),
                    Err(e) => vec![Err(e)],
                };
                futures_util::stream::iter(pieces)
            });
        Box::pin(stream)
    }
}

impl CachingReader {
    fn dir(&self) -> PathBuf {
        self.dir.clone()
    }

    /// The length chunk `i` has.
    fn chunk_len(&self, i: u64) -> u64 {
        let start = i * self.cache.chunk;
        self.cache
            .chunk
            .min(self.fingerprint.size.saturating_sub(start))
    }

    /// The bytes of chunk `i`, from the cache or fetched into it.
    async fn chunk(&self, i: u64) -> io::Result<Bytes> {
        if let Some(b) = self.cached(i).await? {
            self.counters
                .hits
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Ok(b);
        }
        self.fetch(i).await
    }

    /// Makes sure chunk `i` is cached (read-ahead), without returning it.
    async fn chunk_present(&self, i: u64) -> io::Result<()> {
        if !self.find(i).await? {
            self.fetch(i).await?;
        }
        Ok(())
    }

    /// Whether chunk `i` has a file (not checked).
    async fn find(&self, i: u64) -> io::Result<bool> {
        let file = self.dir().join(i.to_string());
        tokio::task::spawn_blocking(move || file.exists())
            .await
            .map_err(io::Error::other)
    }

    /// Chunk `i` from the cache, checked against its hash and length; a damaged chunk is
    /// removed.
    async fn cached(&self, i: u64) -> io::Result<Option<Bytes>> {
        let file = self.dir().join(i.to_string());
        let want = self.chunk_len(i) as usize;
        tokio::task::spawn_blocking(move || {
            let mut f = match fs::File::open(&file) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e),
            };
            let mut hash = [0u8; HASH_LEN];
            let mut body = vec![0u8; want];
            let whole = f.read_exact(&mut hash).is_ok()
                && f.read_exact(&mut body).is_ok()
                && f.read(&mut [0u8; 1]).is_ok_and(|n| n == 0);
            if !whole || blake3::hash(&body).as_bytes() != &hash {
                tracing::warn!(file = %file.display(), "a damaged read-cache chunk was dropped");
                let _ = fs::remove_file(&file);
                return Ok(None);
            }
            Ok(Some(Bytes::from(body)))
        })
        .await
        .map_err(io::Error::other)?
    }

    /// Fetches chunk `i` from the remote into the cache, once however many ask at a time.
    async fn fetch(&self, i: u64) -> io::Result<Bytes> {
        let dir = self.dir();
        let lock = {
            let mut f = self
                .cache
                .fetching
                .lock()
                .map_err(|_| io::Error::other("poisoned"))?;
            f.entry((dir.clone(), i)).or_default().clone()
        };
        let _one = lock.lock().await;
        // The entry goes with the last fetcher, even one whose request was cut off.
        let _forget = Forget {
            cache: &self.cache,
            key: (dir.clone(), i),
            lock: &lock,
        };
        let result = async {
            if let Some(b) = self.cached(i).await? {
                return Ok(b); // fetched by the reader we waited for
            }
            self.counters
                .misses
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let start = i * self.cache.chunk;
            let len = self.chunk_len(i);
            let mut buf = BytesMut::with_capacity(len as usize);
            let mut s = self.source.clone_box().stream(start, len);
            while let Some(piece) = s.next().await {
                buf.extend_from_slice(&piece?);
            }
            if buf.len() as u64 != len {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the remote sent a short chunk",
                ));
            }
            let data = buf.freeze();
            let (tmp, keep) = (self.cache.dir.join("tmp"), data.clone());
            let stored =
                tokio::task::spawn_blocking(move || store_chunk(&dir, &tmp, i, &keep)).await;
            if let Ok(Err(e)) | Err(e) = stored.map_err(io::Error::other) {
                // Served all the same; fetched again next time (eviction may have raced).
                tracing::debug!(error = %e, "a read-cache chunk was not kept");
            }
            Ok(data)
        }
        .await;
        result
    }
}

/// Removes a chunk's entry from the fetches in progress when its last fetcher is done.
struct Forget<'a> {
    cache: &'a ReadCache,
    key: (PathBuf, u64),
    lock: &'a FetchLock,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        if let Ok(mut f) = self.cache.fetching.lock() {
            // The map's reference and ours: nobody else waits.
            if Arc::strong_count(self.lock) <= 2 {
                f.remove(&self.key);
            }
        }
    }
}

/// The length of the BLAKE3 hash that opens every chunk file.
const HASH_LEN: usize = 32;

/// Writes a chunk whole, its hash first: a staging file, then a rename to its final name.
fn store_chunk(dir: &Path, tmp: &Path, i: u64, data: &[u8]) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    let staging = tmp.join(format!("{:032x}", rand::random::<u128>()));
    let mut f = fs::File::create(&staging)?;
    f.write_all(blake3::hash(data).as_bytes())?;
    f.write_all(data)?;
    drop(f);
    fs::rename(&staging, dir.join(i.to_string())).inspect_err(|_| {
        let _ = fs::remove_file(&staging);
    })
}

/// Marks a version's folder as just read (the eviction order).
fn touch(dir: &Path) {
    if let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()) {
        // SAFETY: a valid C string; a null `times` sets both times to now.
        unsafe {
            libc::utimensat(libc::AT_FDCWD, c.as_ptr(), std::ptr::null(), 0);
        }
    }
}

impl ReadCache {
    /// Removes versions not read for `max_age`, then the least recently read ones while the
    /// cache is over `max_size` or its disk has less than `min_free` free. Returns how many
    /// versions went.
    pub(crate) fn evict(&self) -> io::Result<u64> {
        let objects = self.dir.join("objects");
        let mut versions: Vec<(SystemTime, u64, PathBuf)> = Vec::new();
        for shard in fs::read_dir(&objects).into_iter().flatten().flatten() {
            for v in fs::read_dir(shard.path()).into_iter().flatten().flatten() {
                let used = v
                    .metadata()
                    .and_then(|m| m.modified())
                    .unwrap_or(SystemTime::UNIX_EPOCH);
                versions.push((used, disk_usage(&v.path()), v.path()));
            }
        }
        versions.sort();
        let mut total: u64 = versions.iter().map(|v| v.1).sum();
        let now = SystemTime::now();
        let mut evicted = 0;
        for (used, size, path) in versions {
            let old = now.duration_since(used).unwrap_or_default() > self.max_age;
            let over = self.max_size > 0 && total > self.max_size;
            let tight =
                self.min_free > 0 && free_space(&self.dir).is_some_and(|f| f < self.min_free);
            if !(old || over || tight) {
                break;
            }
            if fs::remove_dir_all(&path).is_ok() {
                total = total.saturating_sub(size);
                evicted += 1;
            }
        }
        Ok(evicted)
    }

    /// The bytes the cache holds.
    pub(crate) fn size(&self) -> u64 {
        disk_usage(&self.dir.join("objects"))
    }
}

/// The bytes of a file, or of the files in a folder and below it (links not followed).
pub(crate) fn disk_usage(p: &Path) -> u64 {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => fs::read_dir(p)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| disk_usage(&e.path()))
            .sum(),
        Ok(m) => m.len(),
        Err(_) => 0,
    }
}

/// Free bytes on the filesystem holding `dir`.
fn free_space(dir: &Path) -> Option<u64> {
    let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid C string and a valid out pointer.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    Some(st.f_bavail as u64 * st.f_frsize as u64)
}

impl Counters {
    pub(crate) fn stats(&self, cache: &ReadCache) -> ReadCacheStats {
        use std::sync::atomic::Ordering::Relaxed;
        ReadCacheStats {
            hits: self.hits.load(Relaxed),
            misses: self.misses.load(Relaxed),
            bytes: cache.size(),
            evicted: self.evicted.load(Relaxed),
        }
    }

    pub(crate) fn add_evicted(&self, n: u64) {
        self.evicted
            .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
    }
}
