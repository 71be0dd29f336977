//! A noncurrent version's row as the index keeps it (`Tree::Versions`), and the order of rows: a
//! type the index's records carry, below everything that acts on versions (`version.rs`,
//! lifecycle, listings), which read rows without importing each other.

use serde::{Deserialize, Serialize};

use crate::error::{Result, VfsError};
use crate::index::{Index, ObjectMeta};
use crate::key;
use crate::meta::{StoreError, Tree};
use crate::version_id::VersionId;

/// A noncurrent version or a delete marker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct VersionRecord {
    pub(crate) id: VersionId,
    /// The version's record, its fingerprint that of its file in the store; `None` for a
    /// delete marker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) object: Option<ObjectMeta>,
    /// Where the file is on the remote; none for a delete marker, and for a folder marker's
    /// version (an empty object with this record, which has no file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) file: Option<String>,
    /// When the version was made (a marker: the delete), in nanoseconds since the Unix epoch.
    pub(crate) made_ns: i64,
    /// When a newer version replaced it: what noncurrent-version expiry counts from.
    pub(crate) noncurrent_ns: i64,
}

impl VersionRecord {
    pub(crate) fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<VersionRecord> {
        serde_json::from_slice(bytes)
            .map_err(|e| VfsError::Store(StoreError(format!("corrupt version record: {e}"))))
    }
}

/// The row key of version `seq` of `bucket/key`.
pub(crate) fn row_key(bucket: &str, key: &str, seq: u64) -> Vec<u8> {
    let mut k = key::index_key(bucket, key);
    k.push(0);
    k.extend_from_slice(&(!seq).to_be_bytes());
    k
}

/// The noncurrent versions and markers of `bucket/key`, newest first, at most `limit`.
pub(crate) fn rows(
    index: &Index,
    bucket: &str,
    key: &str,
    limit: usize,
) -> Result<Vec<VersionRecord>> {
    let mut start = key::index_key(bucket, key);
    start.push(0);
    let mut end = key::index_key(bucket, key);
    end.push(1);
    index
        .range_in(Tree::Versions, &start, Some(&end), limit)?
        .iter()
        .map(|(_, v)| VersionRecord::decode(v))
        .collect()
}
