//! What the rescan keeps between its runs: the lock that keeps them from overlapping, whether
//! one has checked the index since it was opened, and the batch the first fill of a new index
//! gathers. [`Rescan`](super::Rescan) holds it beside the core.

use tokio::sync::{watch, Mutex};

use crate::meta::Edit;

pub(crate) struct Scans {
    /// Keeps background scans from overlapping (and shutdown from closing the index under
    /// one); taken before any key lock.
    pub(super) lock: Mutex<()>,
    /// Whether a scan has checked the index against the remote since it was opened: listings
    /// wait for one, since the index may hold records of files removed while the server was
    /// down (by other programs, or by a crash on the way).
    checked: watch::Sender<bool>,
    /// Records gathered by the first fill of a new index, written in large batches.
    pub(super) fill_ops: Mutex<Vec<Edit>>,
}

impl Scans {
    pub(crate) fn new() -> Scans {
        Scans {
            lock: Mutex::new(()),
            checked: watch::Sender::new(false),
            fill_ops: Mutex::new(Vec::new()),
        }
    }

    /// Lets the listings that wait for a check go on.
    pub(crate) fn mark_checked(&self) {
        self.checked.send_replace(true);
    }

    /// Waits until a scan has checked the index since it was opened.
    pub(crate) async fn wait_checked(&self) {
        if !*self.checked.borrow() {
            // The sender lives as long as `self`: this cannot fail.
            let _ = self.checked.subscribe().wait_for(|checked| *checked).await;
        }
    }
}
