//! The VFS's locks, and the one order in which they are taken.
//!
//! - The scan lock (`Rescan::one_at_a_time`, in scan/) keeps rescans from overlapping (and
//!   shutdown from closing the index under one).
//! - An upload lock ([`UploadLocks`], by upload id, or `bucket/` while an upload is created)
//!   serialises the steps of one multipart upload that read and write its records.
//! - A key lock ([`KeyLocks`], by the key's path on the remote) serialises the short "check +
//!   change + record" step of every change of an object (`Core::commit`), and the rescan's and
//!   the write cache's updates of a key's record, so that the file on the remote and its index
//!   record always change together.
//!
//! A holder takes only locks further down that list: the scan lock, then a key lock; an upload
//! lock, then a key lock. And it holds at most one lock of each space at a time: both spaces are
//! striped (1024 mutexes picked by a hash of the name), so two nested locks of one space would
//! deadlock whenever their names share a stripe, which is rarely and at random. Debug builds
//! check both rules for the key and upload locks: each lock carries a task-local mark into the
//! future it guards (a task-local, since a task moves between threads while it waits), and no
//! key lock is taken where a key lock's mark is set, no upload lock (nor the scan lock) where
//! either mark is.

use std::future::Future;

use tokio::sync::Mutex;

const STRIPES: usize = 1024;

#[cfg(debug_assertions)]
tokio::task_local! {
    /// Set while the future under a key lock runs.
    static HOLDS_KEY_LOCK: ();
    /// Set while the future under an upload lock runs.
    static HOLDS_UPLOAD_LOCK: ();
}

/// Panics in debug builds when the caller holds a key or an upload lock: `what` is a lock taken
/// before any other (the scan lock).
#[cfg_attr(not(debug_assertions), allow(unused_variables))]
pub(crate) fn check_outermost(what: &str) {
    #[cfg(debug_assertions)]
    assert!(
        HOLDS_KEY_LOCK.try_with(|_| ()).is_err() && HOLDS_UPLOAD_LOCK.try_with(|_| ()).is_err(),
        "{what} taken while holding a key or upload lock"
    );
}

/// A fixed set of mutexes, one picked per name.
struct Striped {
    stripes: Vec<Mutex<()>>,
}

impl Striped {
    fn new() -> Striped {
        Striped {
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
        }
    }

    fn of(&self, name: &str) -> &Mutex<()> {
        // FNV-1a: cheap and well spread for path-like strings.
        let mut h: u64 = 0xcbf29ce484222325;
        for b in name.bytes() {
            h = (h ^ b as u64).wrapping_mul(0x100000001b3);
        }
        &self.stripes[(h % STRIPES as u64) as usize]
    }
}

/// The key locks: taken last, one at a time.
pub(crate) struct KeyLocks(Striped);

impl KeyLocks {
    pub(crate) fn new() -> KeyLocks {
        KeyLocks(Striped::new())
    }

    /// Runs `f` holding the lock of the key at `path`. `f` must not take another key lock.
    pub(crate) async fn with<T>(&self, path: &str, f: impl Future<Output = T>) -> T {
        #[cfg(debug_assertions)]
        assert!(
            HOLDS_KEY_LOCK.try_with(|_| ()).is_err(),
            "key lock for {path:?} taken while holding another"
        );
        let _guard = self.0.of(path).lock().await;
        #[cfg(debug_assertions)]
        return HOLDS_KEY_LOCK.scope((), f).await;
        #[cfg(not(debug_assertions))]
        f.await
    }
}

/// The upload locks: taken before any key lock, one at a time.
pub(crate) struct UploadLocks(Striped);

impl UploadLocks {
    pub(crate) fn new() -> UploadLocks {
        UploadLocks(Striped::new())
    }

    /// Runs `f` holding the lock of the upload `name`. Never taken under a key lock or another
    /// upload lock; `f` may take key locks, one at a time.
    pub(crate) async fn with<T>(&self, name: &str, f: impl Future<Output = T>) -> T {
        #[cfg(debug_assertions)]
        {
            assert!(
                HOLDS_KEY_LOCK.try_with(|_| ()).is_err(),
                "upload lock for {name:?} taken while holding a key lock"
            );
            assert!(
                HOLDS_UPLOAD_LOCK.try_with(|_| ()).is_err(),
                "upload lock for {name:?} taken while holding another"
            );
        }
        let _guard = self.0.of(name).lock().await;
        #[cfg(debug_assertions)]
        return HOLDS_UPLOAD_LOCK.scope((), f).await;
        #[cfg(not(debug_assertions))]
        f.await
    }
}

#[cfg(all(test, debug_assertions))]
mod tests {
    use super::*;

    #[tokio::test]
    #[should_panic(expected = "taken while holding another")]
    async fn a_key_lock_taken_under_another_is_caught() {
        let locks = KeyLocks::new();
        locks
            .with("bkt/a", async { locks.with("bkt/b", async {}).await })
            .await;
    }

    #[tokio::test]
    #[should_panic(expected = "taken while holding a key lock")]
    async fn an_upload_lock_taken_under_a_key_lock_is_caught() {
        let (keys, uploads) = (KeyLocks::new(), UploadLocks::new());
        keys.with("bkt/a", async { uploads.with("0123", async {}).await })
            .await;
    }

    #[tokio::test]
    #[should_panic(expected = "taken while holding another")]
    async fn an_upload_lock_taken_under_another_is_caught() {
        let uploads = UploadLocks::new();
        uploads
            .with("0123", async { uploads.with("4567", async {}).await })
            .await;
    }

    #[tokio::test]
    async fn a_key_lock_taken_under_an_upload_lock_passes() {
        let (keys, uploads) = (KeyLocks::new(), UploadLocks::new());
        uploads
            .with("0123", async { keys.with("bkt/a", async {}).await })
            .await;
    }

    #[tokio::test]
    #[should_panic(expected = "taken while holding a key or upload lock")]
    async fn the_scan_lock_taken_under_an_upload_lock_is_caught() {
        UploadLocks::new()
            .with("0123", async { check_outermost("the scan lock") })
            .await;
    }

    #[tokio::test]
    async fn key_locks_taken_one_after_another_pass() {
        let locks = KeyLocks::new();
        locks.with("bkt/a", async {}).await;
        locks.with("bkt/a", async {}).await;
    }
}
