//! What this server itself published to a watched local directory, so that the watch
//! (`watch.rs`) can tell its own renames from other programs' changes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::remote::Fingerprint;

/// The most objects [`OwnWrites`] remembers: past it, it starts again from nothing (forgetting
/// costs only full checks).
const OWN_WRITES_MAX: usize = 8192;

/// The objects this server published while its watch runs, each as it left it: the watch sees
/// their renames like anyone else's, and a file still exactly as published needs no check under
/// its lock (a check is two trips to the disk and an index read, for every PUT).
#[derive(Default)]
pub(crate) struct OwnWrites {
    pub(crate) watching: AtomicBool,
    /// The events the watch woke for since start, shared with its backend.
    pub(crate) woken: Arc<AtomicU64>,
    published: Mutex<HashMap<String, Fingerprint>>,
}

impl OwnWrites {
    /// Notes that `path` was published (its record committed) as version `fp`.
    pub(crate) fn note(&self, path: &str, fp: Fingerprint) {
        if !self.watching.load(Ordering::Relaxed) {
            return;
        }
        let mut published = self.published.lock().unwrap_or_else(|e| e.into_inner());
        if published.len() >= OWN_WRITES_MAX {
            published.clear();
        }
        published.insert(path.to_string(), fp);
    }

    /// Whether the file at `path`, now version `fp`, is as this server published it last.
    pub(crate) fn is_own(&self, path: &str, fp: Fingerprint) -> bool {
        let mut published = self.published.lock().unwrap_or_else(|e| e.into_inner());
        published.remove(path) == Some(fp)
    }
}
