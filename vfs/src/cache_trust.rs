//! The read cache's trust window (`--vfs-cache-trust`): a version of an object that a GET
//! checked with the remote is served from the cache without asking the remote again for a
//! bounded time, as rclone trusts its directory cache. The remote is only opened when a chunk
//! is missing, and then only that same version is read: one changed meanwhile fails the read
//! and is checked afresh by the next GET, so old and new bytes are never mixed.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use crate::remote::{ByteStream, Fingerprint, Reader, Remote};

/// The most versions remembered: past it, the memo starts again from nothing (forgetting
/// costs only a check with the remote).
const TRUSTED_MAX: usize = 8192;

/// When each object's version was last checked with the remote, by the object's path.
pub(crate) struct Trusted {
    window: Duration,
    checked: Mutex<HashMap<Arc<str>, (Fingerprint, Instant)>>,
}

impl Trusted {
    pub(crate) fn new(window: Duration) -> Trusted {
        Trusted {
            window,
            checked: Mutex::new(HashMap::new()),
        }
    }

    /// Notes that the remote holds version `fp` at `path`, as of now.
    pub(crate) fn checked(&self, path: &str, fp: Fingerprint) {
        if self.window.is_zero() {
            return;
        }
        let mut checked = self.checked.lock().unwrap_or_else(|e| e.into_inner());
        if checked.len() >= TRUSTED_MAX {
            checked.clear();
        }
        checked.insert(path.into(), (fp, Instant::now()));
    }

    /// Whether version `fp` of `path` was checked within the window.
    pub(crate) fn trusts(&self, path: &str, fp: Fingerprint) -> bool {
        let checked = self.checked.lock().unwrap_or_else(|e| e.into_inner());
        checked
            .get(path)
            .is_some_and(|(seen, at)| *seen == fp && at.elapsed() < self.window)
    }

    /// Forgets `path`: the remote no longer holds the version trusted.
    fn forget(&self, path: &str) {
        let mut checked = self.checked.lock().unwrap_or_else(|e| e.into_inner());
        checked.remove(path);
    }
}

/// The remote's reader of a trusted version, opened only when a chunk must be fetched.
pub(crate) struct Deferred {
    pub(crate) remote: Arc<dyn Remote>,
    pub(crate) trusted: Arc<Trusted>,
    pub(crate) path: Arc<str>,
    pub(crate) fingerprint: Fingerprint,
}

impl Reader for Deferred {
    fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    fn clone_box(&self) -> Box<dyn Reader> {
        Box::new(Deferred {
            remote: self.remote.clone(),
            trusted: self.trusted.clone(),
            path: self.path.clone(),
            fingerprint: self.fingerprint,
        })
    }

    fn stream(self: Box<Self>, offset: u64, len: u64) -> ByteStream {
        let opened = async move {
            match self.remote.open(&self.path).await {
                Ok(Some(r)) if r.fingerprint() == self.fingerprint => Ok(r.stream(offset, len)),
                Ok(_) => {
                    self.trusted.forget(&self.path);
                    Err(io::Error::other(format!(
                        "{} changed on the remote while its cached version was trusted",
                        self.path
                    )))
                }
                Err(e) => Err(e),
            }
        };
        Box::pin(
            futures_util::stream::once(opened)
                .map(|opened| match opened {
                    Ok(stream) => stream,
                    Err(e) => Box::pin(futures_util::stream::once(async { Err(e) })),
                })
                .flatten(),
        )
    }
}
