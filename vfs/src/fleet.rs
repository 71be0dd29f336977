//! Several gateways over one remote (`--fleet`). Each keeps its own index, which sees another
//! gateway's writes only when it looks at the remote; reads always do, listings otherwise only at
//! the next rescan. In a fleet a listing first compares the keys under its prefix with the remote,
//! unless that was done less than a second ago, so that an object is listed within a second of
//! its PUT on any gateway and no longer listed a second after its DELETE.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::Result;
use crate::vfs::Vfs;

/// The oldest a listing may be, counted from when the remote was read for it.
const MAX_AGE: Duration = Duration::from_secs(1);

/// When the keys under each prefix were last compared with the remote (from when the remote was
/// read), only for the last second: the memo never holds more than the prefixes listed in it.
#[derive(Default)]
pub(crate) struct FleetListings {
    checked: Mutex<HashMap<(String, String), Instant>>,
}

impl FleetListings {
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

impl Vfs {
    /// In a fleet, brings the index's keys under `prefix` in line with the remote before a
    /// listing is served from it, unless that was done less than a second ago.
    pub(crate) async fn check_fleet_listing(&self, bucket: &str, prefix: &str) -> Result<()> {
        let Some(fleet) = &self.fleet else {
            return Ok(());
        };
        if fleet.fresh(bucket, prefix) {
            return Ok(());
        }
        // Taken before the remote is read: what the check shows is at least this recent.
        let read_from = Instant::now();
        self.rescan.reconcile_prefix(bucket, prefix).await?;
        fleet.note(bucket, prefix, read_from);
        Ok(())
    }
}
