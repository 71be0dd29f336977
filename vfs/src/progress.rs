//! How far long work has come: the first fill of an index, a rescan, a write-back of the whole
//! cache. The VFS counts; whoever started the work (the daemon's admin commands, its start)
//! reads the counts and shows them, so nothing here knows of terminals or logs.
//!
//! One piece of work is counted at a time per `Vfs`: a phase starts, counts up, and ends. A
//! reader may see a phase that just ended or a count from the phase before a new one started;
//! only what it shows is off by that much, never the work.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

/// What is being counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Walking the remote's files to fill or check the index (counts files).
    Scan,
    /// Uploading what waits in the write cache (counts objects, out of a known total).
    WriteBack,
}

/// The counts of the work in progress, shared with whoever shows them.
#[derive(Debug, Default)]
pub struct Progress {
    /// 0 when idle, else `Phase as u8 + 1`.
    phase: AtomicU8,
    done: AtomicU64,
    /// 0 when the total is not known in advance.
    total: AtomicU64,
}

/// What a reader sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProgressNow {
    pub phase: Phase,
    pub done: u64,
    pub total: Option<u64>,
}

impl Progress {
    /// The work in progress, if any.
    pub fn now(&self) -> Option<ProgressNow> {
        let phase = match self.phase.load(Ordering::Acquire) {
            1 => Phase::Scan,
            2 => Phase::WriteBack,
            _ => return None,
        };
        let total = self.total.load(Ordering::Relaxed);
        Some(ProgressNow {
            phase,
            done: self.done.load(Ordering::Relaxed),
            total: (total > 0).then_some(total),
        })
    }

    /// Starts counting `phase`; the returned guard ends it however the work ends.
    pub(crate) fn start(&self, phase: Phase, total: Option<u64>) -> PhaseGuard<'_> {
        self.done.store(0, Ordering::Relaxed);
        self.total.store(total.unwrap_or(0), Ordering::Relaxed);
        self.phase.store(phase as u8 + 1, Ordering::Release);
        PhaseGuard(self)
    }

    pub(crate) fn add(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }
}

/// Ends a phase when dropped.
pub(crate) struct PhaseGuard<'a>(&'a Progress);

impl Drop for PhaseGuard<'_> {
    fn drop(&mut self) {
        self.0.phase.store(0, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_phase_counts_until_its_guard_goes() {
        let p = Progress::default();
        assert_eq!(p.now(), None);
        {
            let _g = p.start(Phase::WriteBack, Some(3));
            p.add(2);
            assert_eq!(
                p.now(),
                Some(ProgressNow {
                    phase: Phase::WriteBack,
                    done: 2,
                    total: Some(3)
                })
            );
        }
        assert_eq!(p.now(), None);
        let _g = p.start(Phase::Scan, None);
        assert_eq!(p.now().map(|n| (n.done, n.total)), Some((0, None)));
    }
}
