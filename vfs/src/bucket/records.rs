//! Records kept decoded in memory between changes: bucket records (`Core::bucket_record`). Every
//! PUT, GET and HEAD asks its bucket's record (versioning, object lock, lifecycle rules), and
//! configuration changes are rare; each read and parse of it took about 1 % of a small GET's
//! server time, and a PUT made three.
//!
//! A record is kept with the count of committed batches that touched its tree when its read
//! began (`Index::buckets_changed`, raised by the index's writer once a batch is durable and
//! before its writers hear of it). It serves while that count holds: a read that raced a change
//! is kept under the count from before it, so it is read again by the first request after.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The most records kept: requests naming buckets that do not exist must not grow the memo
/// without bound. A full memo starts again empty.
const MAX_KEPT: usize = 1024;

/// A record as kept: the count it was read under, and the record (`None`: there is none).
type Entry<T> = (u64, Option<Arc<T>>);

/// Decoded records by name.
pub(crate) struct Kept<T> {
    kept: Mutex<HashMap<String, Entry<T>>>,
}

impl<T> Default for Kept<T> {
    fn default() -> Self {
        Kept {
            kept: Mutex::new(HashMap::new()),
        }
    }
}

impl<T> Kept<T> {
    /// The record of `name` kept under `count`, if there is one.
    pub(crate) fn get(&self, name: &str, count: u64) -> Option<Option<Arc<T>>> {
        let kept = self.kept.lock().ok()?;
        match kept.get(name) {
            Some((at, record)) if *at == count => Some(record.clone()),
            _ => None,
        }
    }

    /// Keeps the record of `name` read under `count`.
    pub(crate) fn keep(&self, name: &str, count: u64, record: Option<Arc<T>>) {
        if let Ok(mut kept) = self.kept.lock() {
            if kept.len() >= MAX_KEPT {
                kept.clear();
            }
            kept.insert(name.to_string(), (count, record));
        }
    }
}
