//! Several gateways over one remote (`--fleet`). Each keeps its own index, which sees another
//! gateway's writes only when it looks at the remote; reads always do, listings otherwise only at
//! the next rescan. In a fleet a listing first compares the keys under its prefix with the remote,
//! unless that was done less than a second ago, so that an object is listed within a second of
//! its PUT on any gateway and no longer listed a second after its DELETE.
//!
//! A conditional write (`If-Match`, `If-None-Match`) is checked under one gateway's key lock,
//! which the others do not take: in a fleet it is also pinned to what the remote held before the
//! condition was checked (nothing, or that version), and the remote is asked to write only while
//! that still holds, where it offers conditional writes (S3: `If-None-Match: *`, `If-Match`), so
//! two gateways racing cannot both win.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::{Result, VfsError};
use crate::remote::{Remote, StoreCond};
use crate::scan::Rescan;

/// The oldest a listing, or a gateway's copy of a bucket's record, may be, counted from when the
/// remote was read for it.
const MAX_AGE: Duration = Duration::from_secs(1);

/// What a gateway in a fleet keeps: when the keys under each prefix were last compared with the
/// remote (from when the remote was read), only for the last second, so that the memo never
/// holds more than the prefixes listed in it.
#[derive(Default)]
pub(crate) struct Fleet {
    checked: Mutex<HashMap<(String, String), Instant>>,
    /// When each bucket's record was last read from the remote.
    pub(crate) buckets: SharedBuckets,
    /// What this gateway read of the sidecars objects name (`sidecar.rs`).
    pub(crate) sidecars: crate::sidecar::SidecarMemo,
}

/// When each bucket's record was last read from the remote (`bucket/shared.rs`), for the last
/// second only: a gateway's copy of a record is never older than [`MAX_AGE`].
#[derive(Default)]
pub(crate) struct SharedBuckets {
    read: Mutex<HashMap<String, Instant>>,
}

impl SharedBuckets {
    pub(crate) fn fresh(&self, name: &str) -> bool {
        self.read
            .lock()
            .is_ok_and(|read| read.get(name).is_some_and(|at| at.elapsed() < MAX_AGE))
    }

    pub(crate) fn note(&self, name: &str, read_from: Instant) {
        if let Ok(mut read) = self.read.lock() {
            read.retain(|_, at| at.elapsed() < MAX_AGE);
            read.insert(name.to_string(), read_from);
        }
    }
}

impl Fleet {
    /// Whether the keys under `prefix` (or a shorter prefix) of `bucket` were compared with the
    /// remote less than [`MAX_AGE`] ago.
    fn fresh(&self, bucket: &str, prefix: &str) -> bool {
        let Ok(checked) = self.checked.lock() else {
            return false;
        };
        checked.iter().any(|((b, p), at)| {
            b == bucket && prefix.starts_with(p.as_str()) && at.elapsed() < MAX_AGE
        })
    }

    fn note(&self, bucket: &str, prefix: &str, read_from: Instant) {
        if let Ok(mut checked) = self.checked.lock() {
            checked.retain(|_, at| at.elapsed() < MAX_AGE);
            let at = checked
                .entry((bucket.to_string(), prefix.to_string()))
                .or_insert(read_from);
            *at = (*at).max(read_from);
        }
    }
}

impl Fleet {
    /// Brings the index's keys under `prefix` in line with the remote before a listing is
    /// served from it, unless that was done less than a second ago.
    pub(crate) async fn check_listing(
        &self,
        rescan: &Rescan,
        bucket: &str,
        prefix: &str,
    ) -> Result<()> {
        if self.fresh(bucket, prefix) {
            return Ok(());
        }
        // Taken before the remote is read: what the check shows is at least this recent.
        let read_from = Instant::now();
        rescan.reconcile_prefix(bucket, prefix).await?;
        self.note(bucket, prefix, read_from);
        Ok(())
    }
}

/// For a write under a client's precondition in a fleet: what is at `path` on the remote now,
/// taken before the precondition is checked, for the remote to check again as it writes. A
/// change in between then fails the write, never passes it. Nothing outside a fleet.
pub(crate) async fn pin(
    fleet: Option<&Fleet>,
    remote: &dyn Remote,
    path: &str,
    conditional: bool,
) -> Result<Option<StoreCond>> {
    if fleet.is_none() || !conditional {
        return Ok(None);
    }
    Ok(Some(match remote.stat(path).await? {
        Some(e) if !e.is_dir => StoreCond::Is(e.fingerprint),
        _ => StoreCond::Absent,
    }))
}

/// A pinned write the remote refused (what was pinned changed: another gateway wrote or deleted
/// the object meanwhile) is a precondition that no longer holds.
pub(crate) fn lost_race(e: VfsError, pinned: Option<StoreCond>) -> VfsError {
    match e {
        VfsError::Io(io)
            if pinned.is_some()
                && (io.raw_os_error() == Some(libc::ESTALE)
                    || io.kind() == std::io::ErrorKind::AlreadyExists) =>
        {
            VfsError::PreconditionFailed
        }
        e => e,
    }
}
