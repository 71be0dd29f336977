//! The write cache's own state: where cached files live, and the queue entries that name the
//! versions waiting to be uploaded (`Tree::WriteBack`, path → [`Pending`]). A key kept in the
//! store of keys (stored.rs) waits at its place there in the cache folder, as on the remote. How they are
//! written, uploaded and recovered is in `writeback.rs`, whose module doc states the crash
//! safety.

use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::now_ns;
use crate::meta::{Edit, Tree};
use crate::remote::{Fingerprint, LocalFs, Remote};

pub(crate) struct WriteCache {
    /// The cached files, at the same paths as on the remote.
    pub(crate) fs: Arc<dyn Remote>,
    /// New objects (and multipart parts) land here; else the cache stays open only for what a
    /// run that cached writes left queued.
    pub(crate) takes_new_writes: bool,
    pub(crate) delay: Duration,
    /// Entries queued before this run are due at once: their wait was for writes of that run.
    pub(crate) started_ns: i64,
    pub(crate) uploaded: AtomicU64,
    pub(crate) failed: AtomicU64,
}

impl WriteCache {
    pub(crate) fn open(
        dir: &Path,
        takes_new_writes: bool,
        delay: Duration,
        sync: bool,
    ) -> std::io::Result<WriteCache> {
        // Multipart staging lives here too, as on a remote.
        std::fs::create_dir_all(dir.join("data").join(crate::key::RESERVED_DIR))?;
        Ok(WriteCache {
            fs: Arc::new(LocalFs::new(&dir.join("data"), &dir.join("tmp"), sync)?),
            takes_new_writes,
            delay,
            started_ns: now_ns(),
            uploaded: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        })
    }
}

/// One object waiting to be uploaded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Pending {
    /// The cached file's version that is to be uploaded.
    pub(crate) fingerprint: Fingerprint,
    /// Not before (nanoseconds since the Unix epoch).
    pub(crate) due_ns: i64,
    /// When the version was queued.
    #[serde(default)]
    pub(crate) queued_ns: i64,
    #[serde(default)]
    pub(crate) tries: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
    /// The bucket and key of an object at a place in the store of keys, whose path names
    /// neither; `None` for an object at its own path (`bucket/key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) object: Option<(String, String)>,
}

impl Pending {
    /// The bucket and key of the object queued at `path`.
    pub(crate) fn object<'a>(&'a self, path: &'a str) -> (&'a str, &'a str) {
        match &self.object {
            Some((bucket, key)) => (bucket, key),
            None => path.split_once('/').unwrap_or((path, "")),
        }
    }
}

/// Writes the queue entry of the object at path `key`.
pub(crate) fn queue_put(key: Vec<u8>, entry: &Pending) -> Edit {
    Edit::Put(
        Tree::WriteBack,
        key,
        serde_json::to_vec(entry).unwrap_or_default(),
    )
}
