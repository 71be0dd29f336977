//! The small-PUT log's own state and its entries as stored (`--small-put-log`; what it does is
//! in `putlog/mod.rs`). A leaf: it knows no subsystem.
//!
//! An entry lives in the index's `state` tree under `putlog/` + a counter (big-endian), so that
//! entries sort in the order they were logged and a checkpoint trims exactly those it saw
//! written, never a later entry of the same path.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::remote::Fingerprint;

/// Where entries live in `Tree::State`.
pub(crate) const PREFIX: &[u8] = b"putlog/";

/// A checkpoint is due once this long has passed since the last one, …
const EVERY: Duration = Duration::from_secs(1);
/// … or this many files were written since, …
const MOST_FILES: usize = 4096;
/// … or this many bytes of bodies: the log's share of the index stays small.
const MOST_BYTES: u64 = 32 << 20;

/// What a logged PUT was, beside its body: enough for the next start to tell a file the log
/// has not written yet from one another program put there since.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Head {
    pub(crate) bucket: String,
    pub(crate) key: String,
    pub(crate) path: String,
    /// The file at the path when the PUT was logged, if any.
    pub(crate) before: Option<Fingerprint>,
    /// The file the PUT published (its staging file's size, time and inode, which its rename
    /// keeps).
    pub(crate) published: Fingerprint,
}

/// An entry's key for counter `seq`.
pub(crate) fn entry_key(seq: u64) -> Vec<u8> {
    let mut k = PREFIX.to_vec();
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// An entry: the head's length (4 bytes, big-endian), the head (JSON), the body.
pub(crate) fn encode(head: &Head, body: &[u8]) -> Vec<u8> {
    let head = serde_json::to_vec(head).unwrap_or_default();
    let mut v = Vec::with_capacity(4 + head.len() + body.len());
    v.extend_from_slice(&(head.len() as u32).to_be_bytes());
    v.extend_from_slice(&head);
    v.extend_from_slice(body);
    v
}

/// An entry's head and body; `None` for bytes that are no entry.
pub(crate) fn decode(v: &[u8]) -> Option<(Head, &[u8])> {
    let len = u32::from_be_bytes(v.get(..4)?.try_into().ok()?) as usize;
    let head = serde_json::from_slice(v.get(4..4 + len)?).ok()?;
    Some((head, &v[4 + len..]))
}

/// The log as the running server holds it.
pub(crate) struct PutLog {
    /// PUTs of at most this many bytes are logged.
    pub(crate) bound: u64,
    /// The served directory, synced whole by a checkpoint.
    pub(crate) root: PathBuf,
    next: AtomicU64,
    pending: Mutex<Pending>,
    /// One checkpoint at a time.
    pub(crate) checkpoint: tokio::sync::Mutex<()>,
}

struct Pending {
    /// Entries whose file has been renamed into place since the last checkpoint began: the next
    /// one may trim them once it has synced.
    written: Vec<u64>,
    bytes: u64,
    /// Paths with a logged PUT not yet checkpointed, and the latest entry of each.
    paths: HashMap<String, u64>,
    last: Instant,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every change below leaves the state whole at each unlock.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl PutLog {
    /// A log whose entries are numbered from 1: a start replays and trims every entry a
    /// previous run left before anything is logged.
    pub(crate) fn new(bound: u64, root: PathBuf) -> PutLog {
        PutLog {
            bound,
            root,
            next: AtomicU64::new(1),
            pending: Mutex::new(Pending {
                written: Vec::new(),
                bytes: 0,
                paths: HashMap::new(),
                last: Instant::now(),
            }),
            checkpoint: tokio::sync::Mutex::new(()),
        }
    }

    /// A new entry's counter, for a PUT of `path`.
    pub(crate) fn begin(&self, path: &str) -> u64 {
        let seq = self.next.fetch_add(1, Ordering::Relaxed);
        lock(&self.pending).paths.insert(path.to_string(), seq);
        seq
    }

    /// The file of entry `seq` (`bytes` long) is in place.
    pub(crate) fn written(&self, seq: u64, bytes: u64) {
        let mut p = lock(&self.pending);
        p.written.push(seq);
        p.bytes += bytes;
    }

    /// Entry `seq` of `path` was never committed, or was undone.
    pub(crate) fn forget(&self, seq: u64, path: &str) {
        let mut p = lock(&self.pending);
        if p.paths.get(path) == Some(&seq) {
            p.paths.remove(path);
        }
    }

    /// Whether `path` has a logged PUT whose file a checkpoint has not synced yet.
    pub(crate) fn is_pending(&self, path: &str) -> bool {
        lock(&self.pending).paths.contains_key(path)
    }

    /// Whether a checkpoint is due.
    pub(crate) fn due(&self) -> bool {
        let p = lock(&self.pending);
        !p.written.is_empty()
            && (p.last.elapsed() >= EVERY || p.written.len() >= MOST_FILES || p.bytes >= MOST_BYTES)
    }

    /// Takes the entries written so far, for a checkpoint about to sync.
    pub(crate) fn take_written(&self) -> Vec<u64> {
        let mut p = lock(&self.pending);
        p.bytes = 0;
        p.last = Instant::now();
        std::mem::take(&mut p.written)
    }

    /// Gives back what a failed checkpoint took.
    pub(crate) fn untake(&self, seqs: Vec<u64>) {
        lock(&self.pending).written.extend(seqs);
    }

    /// The checkpoint synced `seqs`: their paths are settled, unless logged again since.
    pub(crate) fn synced(&self, seqs: &[u64]) {
        let done: std::collections::HashSet<u64> = seqs.iter().copied().collect();
        lock(&self.pending)
            .paths
            .retain(|_, seq| !done.contains(seq));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_reads_back_and_garbage_is_no_entry() {
        let head = Head {
            bucket: "b".into(),
            key: "k".into(),
            path: "b/k".into(),
            before: None,
            published: Fingerprint {
                size: 3,
                mtime_ns: 7,
                id: 9,
            },
        };
        let v = encode(&head, b"abc");
        let (back, body) = decode(&v).unwrap();
        assert_eq!(
            (back.path.as_str(), back.published.id, body),
            ("b/k", 9, &b"abc"[..])
        );
        assert!(decode(b"\0\0\0\x09{}").is_none());
        assert!(decode(b"\0\0").is_none());
        assert!(entry_key(1) < entry_key(256), "entries sort as logged");
    }

    #[test]
    fn a_checkpoint_settles_only_the_entries_it_took() {
        let log = PutLog::new(64, PathBuf::from("/x"));
        let first = log.begin("b/k");
        log.written(first, 3);
        let taken = log.take_written();
        // The same path logged again while the checkpoint syncs.
        let second = log.begin("b/k");
        log.synced(&taken);
        assert_eq!(taken, vec![first]);
        assert!(log.is_pending("b/k"), "the later entry is not synced yet");
        log.written(second, 3);
        log.synced(&log.take_written());
        assert!(!log.is_pending("b/k"));
    }
}
