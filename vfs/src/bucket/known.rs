//! The memo of buckets seen on a named remote, so that not every request costs a stat there.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The buckets seen on a named remote lately, by when they were seen.
pub(crate) struct KnownBuckets {
    /// How long a bucket seen is taken to exist; `None` on a local directory, where asking
    /// costs nothing.
    ttl: Option<Duration>,
    seen: Mutex<HashMap<String, Instant>>,
}

impl KnownBuckets {
    pub(crate) fn new(ttl: Option<Duration>) -> KnownBuckets {
        KnownBuckets {
            ttl,
            seen: Default::default(),
        }
    }

    /// Whether `name` was seen recently enough to be taken to exist without asking.
    pub(crate) fn fresh(&self, name: &str) -> bool {
        let Some(ttl) = self.ttl else {
            return false;
        };
        self.seen
            .lock()
            .ok()
            .and_then(|k| k.get(name).map(|seen| seen.elapsed() < ttl))
            .unwrap_or(false)
    }

    /// Records whether a bucket exists, where buckets are remembered.
    pub(crate) fn note(&self, name: &str, exists: bool) {
        if self.ttl.is_none() {
            return;
        }
        if let Ok(mut known) = self.seen.lock() {
            if exists {
                known.insert(name.to_string(), Instant::now());
            } else {
                known.remove(name);
            }
        }
    }
}
