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
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::{Result, VfsError};
use crate::remote::{Remote, StoreCond};
use crate::scan::Rescan;
use crate::version_id::VersionId;

/// The oldest a listing, or a gateway's copy of a bucket's record, may be, counted from when the
/// remote was read for it.
const MAX_AGE: Duration = Duration::from_secs(1);

/// What a gateway in a fleet keeps: when the keys under each prefix, and the kept versions
/// under each prefix, were last compared with the remote, and when each bucket's record was last
/// read, all counted from when the remote was read; and the maker of its version ids.
#[derive(Default)]
pub(crate) struct Fleet {
    checked: Recent<(String, String)>,
    /// The kept versions under a prefix (`fleet_versions.rs`).
    pub(crate) versions_checked: Recent<(String, String)>,
    /// When each bucket's record was last read from the remote (`bucket/shared.rs`).
    pub(crate) buckets: Recent<String>,
    pub(crate) ids: FleetIds,
    /// What this gateway read of the sidecars objects name (`sidecar.rs`).
    pub(crate) sidecars: SidecarMemo,
}

/// The most a gateway keeps in memory of the sidecars it read (their bytes); past it the memo
/// starts again.
const SIDECARS_MAX: usize = 8 << 20;

/// What a gateway has read of sidecars (`sidecar.rs`), by path: they never change once their
/// object is seen.
#[derive(Default)]
pub(crate) struct SidecarMemo {
    read: Mutex<SidecarsRead>,
}

#[derive(Default)]
struct SidecarsRead {
    by_path: HashMap<String, Arc<[u8]>>,
    bytes: usize,
}

impl SidecarMemo {
    pub(crate) fn remember(&self, path: String, content: Arc<[u8]>) {
        if let Ok(mut memo) = self.read.lock() {
            if memo.bytes + content.len() > SIDECARS_MAX {
                *memo = SidecarsRead::default();
            }
            memo.bytes += content.len();
            if let Some(old) = memo.by_path.insert(path, content) {
                memo.bytes -= old.len();
            }
        }
    }

    pub(crate) fn known(&self, path: &str) -> Option<Arc<[u8]>> {
        self.read.lock().ok()?.by_path.get(path).cloned()
    }

    pub(crate) fn forget(&self, path: &str) {
        if let Ok(mut memo) = self.read.lock() {
            if let Some(old) = memo.by_path.remove(path) {
                memo.bytes -= old.len();
            }
        }
    }
}

/// When each thing was last read from the remote, for the last second only, so that the memo
/// never holds more than what was read in it: what a gateway's copy of it may be, at most
/// [`MAX_AGE`] old.
pub(crate) struct Recent<K> {
    read: Mutex<HashMap<K, Instant>>,
}

impl<K> Default for Recent<K> {
    fn default() -> Self {
        Recent {
            read: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash> Recent<K> {
    /// Whether something `covers` was read less than [`MAX_AGE`] ago.
    fn fresh_where(&self, covers: impl Fn(&K) -> bool) -> bool {
        self.read.lock().is_ok_and(|read| {
            read.iter()
                .any(|(k, at)| covers(k) && at.elapsed() < MAX_AGE)
        })
    }

    /// `k` was read from the remote from `read_from` on.
    pub(crate) fn note(&self, k: K, read_from: Instant) {
        if let Ok(mut read) = self.read.lock() {
            read.retain(|_, at| at.elapsed() < MAX_AGE);
            let at = read.entry(k).or_insert(read_from);
            *at = (*at).max(read_from);
        }
    }
}

impl Recent<String> {
    pub(crate) fn fresh(&self, name: &str) -> bool {
        self.fresh_where(|k| k == name)
    }
}

impl Recent<(String, String)> {
    /// Whether `prefix` (or a shorter prefix) of `bucket` was read less than [`MAX_AGE`] ago.
    pub(crate) fn fresh_under(&self, bucket: &str, prefix: &str) -> bool {
        self.fresh_where(|(b, p)| b == bucket && prefix.starts_with(p.as_str()))
    }
}

/// The version ids one gateway of a fleet makes: the time, then a tag drawn at start and a
/// counter, in the part that orders them (`seq`); the whole tag beside it, so that ids made on
/// two gateways never collide even within the same millisecond. They sort as they were made, as
/// far as the gateways' clocks agree.
pub(crate) struct FleetIds {
    /// 48 random bits drawn at start.
    tag: u64,
    last: Mutex<u64>,
}

/// The first millisecond the ids count from (2024-01-01): 41 bits of it last until 2093.
const IDS_EPOCH_MS: u64 = 1_704_067_200_000;
/// Below the time in `seq`: 17 bits of the tag, then a counter of 6 within one millisecond
/// (64 ids a millisecond; past them the next millisecond's). `seq` alone keys a version's row
/// in each gateway's index, so two gateways' ids of one key made in the same millisecond share
/// it only where their tags share those 17 bits: 1 in 131,072 for a pair of gateways.
const TAG_SHIFT: u32 = 6;
const TIME_SHIFT: u32 = 23;
const TAG_MASK: u64 = (1 << (TIME_SHIFT - TAG_SHIFT)) - 1;
const COUNTER_MASK: u64 = (1 << TAG_SHIFT) - 1;

impl Default for FleetIds {
    fn default() -> Self {
        FleetIds {
            tag: rand::random::<u64>() & 0xffff_ffff_ffff,
            last: Mutex::new(0),
        }
    }
}

impl FleetIds {
    /// A new id, later than every id this gateway made before and than `after`.
    pub(crate) fn next(&self, null: bool, after: Option<VersionId>) -> VersionId {
        let ms = crate::clock::now_ns().max(0) as u64 / 1_000_000;
        let mine = (self.tag & TAG_MASK) << TAG_SHIFT;
        let base = (ms.saturating_sub(IDS_EPOCH_MS) << TIME_SHIFT) | mine;
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let floor = (*last).max(after.map_or(0, |a| a.seq));
        let ours = (floor >> TAG_SHIFT) & TAG_MASK == self.tag & TAG_MASK;
        let seq = if base > floor {
            base
        } else if ours && floor & COUNTER_MASK < COUNTER_MASK {
            // Within the millisecond of our last id: its counter.
            floor + 1
        } else {
            // Behind another gateway's id, or the counter full: the next millisecond, ours.
            (((floor >> TIME_SHIFT) + 1) << TIME_SHIFT) | mine
        };
        *last = seq;
        VersionId {
            seq,
            ms: self.tag,
            null,
        }
    }

    /// When an id of a fleet was made, in ns since the epoch.
    pub(crate) fn made_ns(id: &VersionId) -> i64 {
        (((id.seq >> TIME_SHIFT) + IDS_EPOCH_MS) * 1_000_000) as i64
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
        if self.checked.fresh_under(bucket, prefix) {
            return Ok(());
        }
        // Taken before the remote is read: what the check shows is at least this recent.
        let read_from = Instant::now();
        rescan.reconcile_prefix(bucket, prefix).await?;
        self.checked
            .note((bucket.to_string(), prefix.to_string()), read_from);
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

/// A write pinned only because its bucket keeps versions (`asked`: not by a client's
/// precondition), refused because another gateway wrote the key meanwhile: nothing was written,
/// and the client sends it again (S3 answers writes that conflict so).
pub(crate) fn lost_to_another(e: VfsError, asked: bool) -> VfsError {
    match e {
        VfsError::PreconditionFailed if !asked => VfsError::ConflictingChange(
            "another gateway wrote this key at the same moment: this write was not made, send \
             it again"
                .into(),
        ),
        e => e,
    }
}
