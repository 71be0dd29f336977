//! The read cache (`--vfs-cache-mode full`): objects read from the remote are kept on local
//! disk in chunks of `--vfs-read-chunk-size`, so that reading them again costs no remote
//! transfer, and the most recently read chunks are also kept in memory
//! (`--vfs-cache-mem-size`), so that reading them again costs no disk read either: every chunk
//! fetched, and a chunk read whole from disk when its object fits in memory.
//!
//! Each version of an object has a folder named after its path, ETag and fingerprint, so a
//! changed object is never served from the cache of its older version. A chunk is a file written
//! whole (a staging name, then a rename), named by its index, that starts with the XXH3-128
//! hashes of its pieces (the size it is sent in): the present chunks are the record of what is
//! cached, and every piece is checked as it is read from disk, before it is sent, so a damaged
//! chunk is fetched again, never served. Checking per piece lets a chunk stream from disk
//! while it is checked, instead of being read and hashed whole before its first byte goes out.
//! The hashes guard against damage (a torn file, another program, a bad disk), not against
//! whoever can write the cache's folder, who could write matching hashes of any kind: so they
//! are not keyed, and a fast non-cryptographic hash of 128 bits does. The chunk format, its
//! hash included, is part of the version folder's name: chunks of another format (BLAKE3's,
//! before) are never found, and age out with the other unread versions.
//! Concurrent readers of a missing chunk share one fetch; a sequential read fetches the next
//! chunks (`--vfs-read-ahead`) before they are asked for. The cache is bounded by size, age
//! and the disk's free space; the least recently read objects go first. Nothing here is ever
//! the only copy of anything.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use futures_util::{FutureExt, StreamExt};
use tokio::sync::{mpsc, OnceCell};

use crate::cache_trust::{Deferred, Trusted};
use crate::remote::{blocking, read_exact_at, ByteStream, Fingerprint, Reader, Remote};

/// The read cache as the VFS holds it: the cache and what it did.
pub(crate) struct ReadCaching {
    cache: Arc<ReadCache>,
    counters: Arc<Counters>,
    /// The versions checked with the remote lately (`--vfs-cache-trust`).
    pub(crate) trusted: Arc<Trusted>,
}

impl ReadCaching {
    pub(crate) fn open(dir: &Path, config: &s3gate_config::VfsConfig) -> io::Result<ReadCaching> {
        Ok(ReadCaching {
            cache: Arc::new(ReadCache::open(dir, config)?),
            counters: Default::default(),
            trusted: Arc::new(Trusted::new(config.cache_trust)),
        })
    }

    /// `reader` of the object at `path`, read through the cache.
    pub(crate) fn reader(
        &self,
        path: &str,
        etag: &str,
        reader: Box<dyn Reader>,
    ) -> Box<dyn Reader> {
        Box::new(CachingReader::new(
            self.cache.clone(),
            self.counters.clone(),
            path,
            etag,
            reader,
        ))
    }

    /// The cached version `fp` of the object at `path`, when it was checked with the remote
    /// within the trust window: served without asking the remote, which is opened only for a
    /// chunk the cache lacks.
    pub(crate) fn trusted_reader(
        &self,
        remote: &Arc<dyn Remote>,
        path: &str,
        etag: &str,
        fp: Fingerprint,
    ) -> Option<Box<dyn Reader>> {
        if !self.trusted.trusts(path, fp) {
            return None;
        }
        let source = Deferred {
            remote: remote.clone(),
            trusted: self.trusted.clone(),
            path: path.into(),
            fingerprint: fp,
        };
        Some(self.reader(path, etag, Box::new(source)))
    }

    pub(crate) fn stats(&self) -> ReadCacheStats {
        self.counters.stats(&self.cache)
    }

    /// Applies the cache's limits (age, size, free space); returns how many object versions
    /// left it.
    pub(crate) async fn trim(&self) -> io::Result<u64> {
        let cache = self.cache.clone();
        let n = blocking(move || cache.evict()).await?;
        self.counters.add_evicted(n);
        Ok(n)
    }
}

/// The read cache's settings, its folder and its memory tier.
pub(crate) struct ReadCache {
    dir: PathBuf,
    chunk: u64,
    /// The size chunks are checked and sent in.
    piece: u64,
    read_ahead: u64,
    max_size: u64,
    max_age: Duration,
    min_free: u64,
    /// Chunks being fetched: later readers of the same chunk share the first one's fetch.
    fetching: Mutex<HashMap<ChunkKey, Fetch>>,
    /// Checked chunks in memory, weighed by their bytes; none when its size is 0.
    memory: Option<moka::sync::Cache<ChunkKey, Chunk>>,
}

/// The largest piece: what the other readers hand the HTTP layer, which copies larger ones.
const SEND_PIECE: u64 = 512 << 10;

/// A version's folder and a chunk index.
type ChunkKey = (Arc<Path>, u64);

/// A chunk's bytes, in pieces.
type Chunk = Arc<[Bytes]>;

/// One fetch of a chunk, awaited by all its readers; a reader that goes away mid-fetch leaves
/// it to the next.
type Fetch = Arc<OnceCell<Chunk>>;

/// What the cache did since start, for metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReadCacheStats {
    pub hits: u64,
    pub misses: u64,
    pub bytes: u64,
    pub memory_bytes: u64,
    pub evicted: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    evicted: AtomicU64,
}

impl ReadCache {
    pub(crate) fn open(dir: &Path, config: &s3gate_config::VfsConfig) -> io::Result<ReadCache> {
        fs::create_dir_all(dir.join("tmp"))?;
        for e in fs::read_dir(dir.join("tmp"))? {
            let _ = fs::remove_file(e?.path());
        }
        let memory = (config.cache_mem_size > 0).then(|| {
            moka::sync::Cache::builder()
                .max_capacity(config.cache_mem_size)
                .weigher(|_, c: &Chunk| {
                    let n: usize = c.iter().map(Bytes::len).sum();
                    u32::try_from(n).unwrap_or(u32::MAX)
                })
                .build()
        });
        Ok(ReadCache {
            dir: dir.to_path_buf(),
            chunk: config.read_chunk_size,
            piece: config.read_chunk_size.min(SEND_PIECE),
            read_ahead: config.read_ahead,
            max_size: config.cache_max_size,
            max_age: config.cache_max_age,
            min_free: config.cache_min_free_space,
            fetching: Mutex::new(HashMap::new()),
            memory,
        })
    }

    /// The folder of one version of one object: its path, ETag and fingerprint, the chunk
    /// size (chunk `i` means other bytes under another size) and the chunk format (the piece
    /// size and hash).
    fn version_dir(&self, path: &str, etag: &str, fp: &Fingerprint) -> PathBuf {
        self.folder_named(&[path, etag, PIECE_HASH], fp)
    }

    /// The folder named by `names` (each with its length), the chunk and piece sizes and `fp`.
    fn folder_named(&self, names: &[&str], fp: &Fingerprint) -> PathBuf {
        let mut h = blake3::Hasher::new();
        for part in names {
            h.update(&(part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        h.update(&self.chunk.to_le_bytes());
        h.update(&self.piece.to_le_bytes());
        h.update(&fp.size.to_le_bytes());
        h.update(&fp.mtime_ns.to_le_bytes());
        h.update(&fp.id.to_le_bytes());
        let name = h.finalize().to_hex();
        self.dir.join("objects").join(&name[..2]).join(&name[..32])
    }

    fn remember(&self, key: ChunkKey, chunk: Chunk) {
        if let Some(m) = &self.memory {
            m.insert(key, chunk);
        }
    }

    fn recall(&self, key: &ChunkKey) -> Option<Chunk> {
        self.memory.as_ref()?.get(key)
    }

    /// Whether a chunk of an object of `size` bytes read whole from disk is taken into memory:
    /// only when the whole object fits there. A sequential read of a larger object would
    /// push each chunk out before it is read again, and holding its pieces would only make
    /// every piece read land in fresh memory instead of the buffers the last ones freed.
    fn keeps_from_disk(&self, size: u64) -> bool {
        self.memory
            .as_ref()
            .and_then(|m| m.policy().max_capacity())
            .is_some_and(|max| size <= max)
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
    dir: Arc<Path>,
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
            dir: cache.version_dir(path, etag, &fingerprint).into(),
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
        touch(&this.dir);
        // A task of its own reads ahead of the client by the channel's two pieces; it stops
        // when the client goes.
        let (tx, rx) = mpsc::channel(2);
        tokio::spawn(async move {
            if let Err(e) = this.send_range(offset, len, &tx).await {
                let _ = tx.send(Err(e)).await;
            }
        });
        Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|piece| (piece, rx))
        }))
    }
}

/// Where a chunk's bytes came from, when not from memory.
enum FromDisk {
    /// Sent whole from its file.
    Sent,
    /// Not in the cache.
    Missing,
    /// Damaged from this offset in the chunk on (what came before it was sent); the file is
    /// gone.
    Damaged(u64),
}

type Sender = mpsc::Sender<io::Result<Bytes>>;

async fn send(tx: &Sender, b: Bytes) -> io::Result<()> {
    tx.send(Ok(b))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the reader went away"))
}

impl CachingReader {
    /// Sends bytes `offset..offset + len` of the object, chunk by chunk.
    async fn send_range(self: &Arc<Self>, offset: u64, len: u64, tx: &Sender) -> io::Result<()> {
        let chunk = self.cache.chunk;
        let end = offset + len;
        if len == 0 {
            return Ok(());
        }
        for i in offset / chunk..=(end - 1) / chunk {
            self.read_ahead_of(i);
            let start = i * chunk;
            let to = (end - start).min(self.chunk_len(i));
            self.send_chunk(i, offset.saturating_sub(start), to, tx)
                .await?;
        }
        Ok(())
    }

    /// Sends bytes `from..to` of chunk `i`: from memory, from disk, or fetched.
    async fn send_chunk(&self, i: u64, from: u64, to: u64, tx: &Sender) -> io::Result<()> {
        let key = (self.dir.clone(), i);
        let from = match self.cache.recall(&key) {
            Some(c) => {
                self.counters.hits.fetch_add(1, Relaxed);
                return self.send_pieces(&c, from, to, tx).await;
            }
            None => match self.send_from_disk(i, from, to, tx).await? {
                FromDisk::Sent => {
                    self.counters.hits.fetch_add(1, Relaxed);
                    return Ok(());
                }
                FromDisk::Missing => from,
                FromDisk::Damaged(at) => at,
            },
        };
        let c = self.fetch(i).await?;
        self.send_pieces(&c, from, to, tx).await
    }

    /// Sends the part of `from..to` each piece of a chunk in memory holds.
    async fn send_pieces(&self, c: &[Bytes], from: u64, to: u64, tx: &Sender) -> io::Result<()> {
        for (p, bytes) in c.iter().enumerate() {
            if let Some(part) = self.part_of(p as u64, bytes, from, to) {
                send(tx, part).await?;
            }
        }
        Ok(())
    }

    /// The part of `from..to` (offsets in a chunk) that piece `p` holds, if any.
    fn part_of(&self, p: u64, bytes: &Bytes, from: u64, to: u64) -> Option<Bytes> {
        let start = p * self.cache.piece;
        let a = from.max(start) - start;
        let b = to.min(start + bytes.len() as u64).saturating_sub(start);
        (a < b).then(|| bytes.slice(a as usize..b as usize))
    }

    /// Sends `from..to` of chunk `i` from its file, each piece checked before it goes; the
    /// next piece is read while one is sent. A whole chunk read this way is remembered when
    /// its object fits in memory.
    async fn send_from_disk(
        &self,
        i: u64,
        from: u64,
        to: u64,
        tx: &Sender,
    ) -> io::Result<FromDisk> {
        let path = self.dir.join(i.to_string());
        let (len, piece) = (self.chunk_len(i), self.cache.piece);
        let count = len.div_ceil(piece);
        let opened = blocking(move || open_chunk(&path, count, len)).await?;
        let Some((file, hashes)) = opened else {
            return Ok(FromDisk::Missing);
        };
        let whole = from == 0 && to == len && self.cache.keeps_from_disk(self.fingerprint.size);
        let mut kept = Vec::new();
        let (first, last) = (from / piece, (to - 1) / piece);
        let mut pieces = futures_util::stream::iter(first..=last)
            .map(|p| {
                let (file, want) = (file.clone(), hashes[p as usize]);
                let at = count * HASH_LEN as u64 + p * piece;
                let n = piece.min(len - p * piece) as usize;
                blocking(move || read_piece(&file, at, n, &want)).map(move |r| (p, r))
            })
            // The next piece is read while one is sent.
            .buffered(2);
        while let Some((p, got)) = pieces.next().await {
            let Some(bytes) = got? else {
                let path = self.dir.join(i.to_string());
                tracing::warn!(file = %path.display(), "a damaged read-cache chunk was dropped");
                let _ = blocking(move || fs::remove_file(path)).await;
                return Ok(FromDisk::Damaged(from.max(p * piece)));
            };
            if let Some(part) = self.part_of(p, &bytes, from, to) {
                send(tx, part).await?;
            }
            if whole {
                kept.push(bytes);
            }
        }
        if whole {
            self.cache.remember((self.dir.clone(), i), kept.into());
        }
        Ok(FromDisk::Sent)
    }

    /// Has the chunks after `i` fetched meanwhile, as far as the read-ahead goes.
    fn read_ahead_of(self: &Arc<Self>, i: u64) {
        let chunk = self.cache.chunk;
        for j in i + 1..=i + self.cache.read_ahead.div_ceil(chunk) {
            if j * chunk >= self.fingerprint.size {
                break;
            }
            let this = self.clone();
            tokio::spawn(async move {
                let path = this.dir.join(j.to_string());
                let known = this.cache.recall(&(this.dir.clone(), j)).is_some()
                    || blocking(move || Ok(path.exists())).await.unwrap_or(false);
                if !known {
                    let _ = this.fetch(j).await;
                }
            });
        }
    }

    /// The length chunk `i` has.
    fn chunk_len(&self, i: u64) -> u64 {
        let start = i * self.cache.chunk;
        self.cache
            .chunk
            .min(self.fingerprint.size.saturating_sub(start))
    }

    /// Fetches chunk `i` from the remote into the cache, once however many ask at a time.
    async fn fetch(&self, i: u64) -> io::Result<Chunk> {
        let key = (self.dir.clone(), i);
        let once = {
            let mut f = self
                .cache
                .fetching
                .lock()
                .map_err(|_| io::Error::other("poisoned"))?;
            f.entry(key.clone()).or_default().clone()
        };
        // The entry goes with the last reader, even one whose request was cut off.
        let share = Share {
            cache: &self.cache,
            key: key.clone(),
            once: Some(once),
        };
        let once = share
            .once
            .as_ref()
            .ok_or_else(|| io::Error::other("no fetch"))?;
        let chunk = once
            .get_or_try_init(|| async {
                // Fetched by a reader whose share just ended: kept in memory or, when the
                // memory tier did not take it, on disk.
                if let Some(c) = self.cache.recall(&key) {
                    return Ok(c);
                }
                match self.load_from_disk(i).await? {
                    Some(c) => Ok(c),
                    None => self.fetch_now(i).await,
                }
            })
            .await?;
        Ok(chunk.clone())
    }

    /// Chunk `i` whole from its file, when it is there and every piece checks out.
    async fn load_from_disk(&self, i: u64) -> io::Result<Option<Chunk>> {
        let path = self.dir.join(i.to_string());
        let (len, piece) = (self.chunk_len(i), self.cache.piece);
        blocking(move || {
            let count = len.div_ceil(piece);
            let Some((file, hashes)) = open_chunk(&path, count, len)? else {
                return Ok(None);
            };
            let mut pieces = Vec::with_capacity(hashes.len());
            for (p, want) in (0..count).zip(&hashes) {
                let at = count * HASH_LEN as u64 + p * piece;
                match read_piece(&file, at, piece.min(len - p * piece) as usize, want)? {
                    Some(bytes) => pieces.push(bytes),
                    None => return Ok(None),
                }
            }
            Ok(Some(pieces.into()))
        })
        .await
    }

    /// Fetches chunk `i` from the remote, keeps it and returns it.
    async fn fetch_now(&self, i: u64) -> io::Result<Chunk> {
        self.counters.misses.fetch_add(1, Relaxed);
        let (start, len) = (i * self.cache.chunk, self.chunk_len(i));
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
        let piece = self.cache.piece as usize;
        let chunk: Chunk = (0..data.len())
            .step_by(piece)
            .map(|at| data.slice(at..(at + piece).min(data.len())))
            .collect();
        let (dir, tmp, keep) = (self.dir.clone(), self.cache.dir.join("tmp"), chunk.clone());
        if let Err(e) = blocking(move || store_chunk(&dir, &tmp, i, &keep)).await {
            // Served all the same; fetched again next time (eviction may have raced).
            tracing::debug!(error = %e, "a read-cache chunk was not kept");
        }
        self.cache.remember((self.dir.clone(), i), chunk.clone());
        Ok(chunk)
    }
}

/// A reader's share of a fetch: the entry of the fetches in progress goes with the last one.
struct Share<'a> {
    cache: &'a ReadCache,
    key: ChunkKey,
    once: Option<Fetch>,
}

impl Drop for Share<'_> {
    fn drop(&mut self) {
        if let Ok(mut f) = self.cache.fetching.lock() {
            // Shares are taken and given back under the lock: once ours is gone, the map's
            // reference alone means nobody else waits.
            self.once = None;
            if f.get(&self.key).is_some_and(|e| Arc::strong_count(e) == 1) {
                f.remove(&self.key);
            }
        }
    }
}

/// The hash a chunk file opens with, one per piece; its name is part of the version folder's.
const PIECE_HASH: &str = "xxh3-128";

const HASH_LEN: usize = 16;

type Hash = [u8; HASH_LEN];

fn piece_hash(bytes: &[u8]) -> Hash {
    twox_hash::XxHash3_128::oneshot(bytes).to_le_bytes()
}

/// A chunk's file and the hashes of its pieces; `None` when it is not cached. A file of the
/// wrong length is damaged: it is removed and reads as not cached.
fn open_chunk(path: &Path, count: u64, len: u64) -> io::Result<Option<(Arc<fs::File>, Vec<Hash>)>> {
    let file = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let header = count as usize * HASH_LEN;
    let mut raw = vec![0u8; header];
    if file.metadata()?.len() != header as u64 + len || file.read_exact_at(&mut raw, 0).is_err() {
        tracing::warn!(file = %path.display(), "a read-cache chunk of the wrong length was dropped");
        let _ = fs::remove_file(path);
        return Ok(None);
    }
    let hashes = raw
        .chunks_exact(HASH_LEN)
        .map(|h| {
            let mut a = [0u8; HASH_LEN];
            a.copy_from_slice(h);
            a
        })
        .collect();
    Ok(Some((Arc::new(file), hashes)))
}

/// `n` bytes at `at`, if they match `want`; `None` when they do not (or are cut short).
fn read_piece(file: &fs::File, at: u64, n: usize, want: &Hash) -> io::Result<Option<Bytes>> {
    let buf = match read_exact_at(file, n, at) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok((piece_hash(&buf) == *want).then_some(buf))
}

/// Writes a chunk whole, the hashes of its pieces first: a staging file, then a rename to its
/// final name.
fn store_chunk(dir: &Path, tmp: &Path, i: u64, pieces: &[Bytes]) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    let staging = tmp.join(format!("{:032x}", rand::random::<u128>()));
    let mut f = io::BufWriter::new(fs::File::create(&staging)?);
    for p in pieces {
        f.write_all(&piece_hash(p))?;
    }
    for p in pieces {
        f.write_all(p)?;
    }
    f.into_inner().map_err(|e| e.into_error())?;
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
    fn stats(&self, cache: &ReadCache) -> ReadCacheStats {
        ReadCacheStats {
            hits: self.hits.load(Relaxed),
            misses: self.misses.load(Relaxed),
            bytes: cache.size(),
            memory_bytes: cache.memory.as_ref().map_or(0, |m| {
                m.run_pending_tasks();
                m.weighted_size()
            }),
            evicted: self.evicted.load(Relaxed),
        }
    }

    fn add_evicted(&self, n: u64) {
        self.evicted.fetch_add(n, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two pieces a chunk.
    const CHUNK: u64 = 2 * SEND_PIECE;

    /// One version of an object on a remote, counting the ranges read from it.
    #[derive(Clone)]
    struct Source {
        data: Bytes,
        reads: Arc<AtomicU64>,
    }

    impl Reader for Source {
        fn fingerprint(&self) -> Fingerprint {
            Fingerprint {
                size: self.data.len() as u64,
                mtime_ns: 1_700_000_000_000_000_000,
                id: 0,
            }
        }

        fn clone_box(&self) -> Box<dyn Reader> {
            Box::new(self.clone())
        }

        fn stream(self: Box<Self>, offset: u64, len: u64) -> ByteStream {
            self.reads.fetch_add(1, Relaxed);
            let b = self.data.slice(offset as usize..(offset + len) as usize);
            Box::pin(futures_util::stream::iter([Ok(b)]))
        }
    }

    /// The folder the BLAKE3 format kept a version in: `version_dir` before the piece hash
    /// took part in the name.
    fn blake3_format_dir(cache: &ReadCache, path: &str, etag: &str, fp: &Fingerprint) -> PathBuf {
        cache.folder_named(&[path, etag], fp)
    }

    /// Chunk `i` of `data` as the BLAKE3 format wrote it: the BLAKE3 hashes of its pieces, then
    /// its bytes.
    fn blake3_chunk(cache: &ReadCache, data: &[u8], i: u64) -> Vec<u8> {
        let start = (i * cache.chunk) as usize;
        let bytes = &data[start..(start + cache.chunk as usize).min(data.len())];
        let pieces = bytes.chunks(cache.piece as usize);
        let mut file: Vec<u8> = pieces
            .clone()
            .flat_map(|p| *blake3::hash(p).as_bytes())
            .collect();
        file.extend(pieces.flatten());
        file
    }

    async fn read_all(cache: &Arc<ReadCache>, source: &Source) -> Vec<u8> {
        let reader = CachingReader::new(
            cache.clone(),
            Default::default(),
            "bkt/obj",
            "\"etag\"",
            source.clone_box(),
        );
        let mut s = Box::new(reader).stream(0, source.data.len() as u64);
        let mut out = Vec::new();
        while let Some(b) = s.next().await {
            out.extend_from_slice(&b.unwrap());
        }
        out
    }

    #[test]
    fn pieces_are_hashed_with_xxh3_128() {
        // The reference's value for no input, and another implementation's for a whole piece
        // (the long input, where the CPU's vector instructions are used): the hash the folder
        // names (`PIECE_HASH`), stored little-endian.
        let empty = 0x99aa06d3014798d86001c324468d497f_u128;
        assert_eq!(piece_hash(b""), empty.to_le_bytes());
        let piece: Vec<u8> = (0..SEND_PIECE as usize).map(|i| (i % 251) as u8).collect();
        let whole = 0x0f779fa0434735cadecad3dd8c2feffd_u128;
        assert_eq!(piece_hash(&piece), whole.to_le_bytes());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn chunks_of_the_blake3_format_are_never_read() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = s3gate_config::Config::default().vfs;
        config.read_chunk_size = CHUNK;
        config.read_ahead = 0;
        config.cache_mem_size = 0;
        let cache = Arc::new(ReadCache::open(dir.path(), &config).unwrap());
        let data: Vec<u8> = (0..3 * CHUNK as usize + 1000)
            .map(|i| (i % 251) as u8)
            .collect();
        let source = Source {
            data: data.clone().into(),
            reads: Default::default(),
        };
        let fp = source.fingerprint();

        // The whole object as the BLAKE3 format kept it, every hash right.
        let old = blake3_format_dir(&cache, "bkt/obj", "\"etag\"", &fp);
        fs::create_dir_all(&old).unwrap();
        for i in 0..4 {
            fs::write(old.join(i.to_string()), blake3_chunk(&cache, &data, i)).unwrap();
        }
        let new = cache.version_dir("bkt/obj", "\"etag\"", &fp);
        assert_ne!(new, old, "the format is part of the folder's name");

        // Not found: every chunk is fetched, and kept in the new format.
        assert_eq!(read_all(&cache, &source).await, data);
        assert_eq!(source.reads.load(Relaxed), 4);
        assert_eq!(read_all(&cache, &source).await, data);
        assert_eq!(
            source.reads.load(Relaxed),
            4,
            "the second read is from the new chunks"
        );
        let new_len = fs::metadata(new.join("0")).unwrap().len();
        assert_eq!(new_len, 2 * HASH_LEN as u64 + CHUNK);

        // Under the new name (a folder moved by hand), a chunk of the BLAKE3 format has the
        // wrong length: dropped and fetched again, never served.
        fs::copy(old.join("1"), new.join("1")).unwrap();
        assert_eq!(read_all(&cache, &source).await, data);
        assert_eq!(source.reads.load(Relaxed), 5);
        assert_eq!(fs::metadata(new.join("1")).unwrap().len(), new_len);

        // The old folder, never read again, ages out as any version not read does.
        assert!(old.join("0").exists());
        let long_ago = SystemTime::now() - config.cache_max_age - Duration::from_secs(60);
        fs::File::open(&old)
            .unwrap()
            .set_modified(long_ago)
            .unwrap();
        assert_eq!(cache.evict().unwrap(), 1);
        assert!(!old.exists());
        assert!(new.join("0").exists());
    }
}
