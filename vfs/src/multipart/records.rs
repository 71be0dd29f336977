//! The records of multipart uploads, as the index keeps them (`Tree::Uploads`: bucket, key
//! and upload id → [`UploadRecord`]; `Tree::Parts`: upload id and part number →
//! [`PartRecord`]), where their parts are staged, the claims on in-place writes and what the
//! multipart uploads keep in memory ([`Uploads`], held by `Multipart`): a leaf, so that the rest
//! of the VFS (the write cache's opening, lifecycle rules) reads upload records without the
//! operations in `mod.rs`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::error::{Result, VfsError};
use crate::index::{Checksum, ChecksumType, Index, ObjectAttrs};
use crate::key::{self, RESERVED_DIR};
use crate::locks::UploadLocks;
use crate::meta::Tree;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct UploadRecord {
    pub(crate) initiated_ns: i64,
    #[serde(default)]
    pub(crate) attrs: ObjectAttrs,
    /// Set once completed: the ETag of the object it produced, so that a repeated Complete
    /// answers as the first one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) completed: Option<String>,
    /// The additional checksum every part carries, when the client asked for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) checksum: Option<ChecksumType>,
    /// The part size that places parts in the assembly file, once fixed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) stride: Option<u64>,
    /// Whether its parts are staged in the write cache (where new writes went when it was
    /// made): a restart under another cache mode must still find them. `None` in records
    /// older than this, whose parts are wherever new writes go now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) in_cache: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PartRecord {
    pub(crate) size: u64,
    pub(crate) etag: String,
    pub(crate) mtime_ns: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) checksum: Option<Checksum>,
    /// The bytes are in the assembly file at `(number - 1) * stride`, not in a file of their own.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) in_place: bool,
}

pub(crate) fn upload_key(bucket: &str, key: &str, id: &str) -> Vec<u8> {
    let mut k = key::index_key(bucket, key);
    k.push(0);
    k.extend_from_slice(id.as_bytes());
    k
}

pub(crate) fn part_key(id: &str, number: u32) -> Vec<u8> {
    let mut k = id.as_bytes().to_vec();
    k.push(b'/');
    k.extend_from_slice(&number.to_be_bytes());
    k
}

pub(crate) fn staging_dir(id: &str) -> String {
    format!("{RESERVED_DIR}/multipart/{id}")
}

pub(crate) fn staging_path(id: &str, number: u32) -> String {
    format!("{RESERVED_DIR}/multipart/{id}/{number:05}")
}

pub(crate) fn assembly_path(id: &str) -> String {
    format!("{RESERVED_DIR}/multipart/{id}/assembly")
}

/// What the multipart uploads keep in memory, beside their records.
pub(crate) struct Uploads {
    /// Serialise the steps of one multipart upload that read and write its records; taken
    /// before the key lock of publishing, one at a time.
    pub(crate) locks: UploadLocks,
    /// Multipart parts being written in place right now.
    pub(crate) in_place: InPlaceWriters,
    /// The most multipart uploads a bucket may have open (0: no limit).
    pub(crate) max_per_bucket: u64,
}

impl Uploads {
    pub(crate) fn new(max_per_bucket: u64) -> Uploads {
        Uploads {
            locks: UploadLocks::new(),
            in_place: Default::default(),
            max_per_bucket,
        }
    }
}

/// The parts being written in place right now, by upload id.
pub(crate) type InPlaceWriters = Arc<Mutex<HashMap<String, InPlaceWrites>>>;

/// The parts of one upload being written in place.
pub(crate) struct InPlaceWrites {
    /// The stride they are placed by: the upload's, or the one proposed while none is fixed.
    pub(crate) stride: u64,
    pub(crate) parts: HashSet<u32>,
}

/// The right to write one part in place. It is shared with the writes themselves and given
/// back when the last of them has landed and the part is recorded (or failed), even if the
/// request is cut off before.
pub(crate) struct InPlaceClaim {
    pub(crate) writers: InPlaceWriters,
    pub(crate) id: String,
    pub(crate) number: u32,
    pub(crate) offset: u64,
    /// The stride the part is placed by.
    pub(crate) max_len: u64,
}

impl Drop for InPlaceClaim {
    fn drop(&mut self) {
        if let Ok(mut w) = self.writers.lock() {
            if let Some(writes) = w.get_mut(&self.id) {
                writes.parts.remove(&self.number);
                // A stride only proposed goes with the last part that used it.
                if writes.parts.is_empty() {
                    w.remove(&self.id);
                }
            }
        }
    }
}

/// The end of the furthest part placed in the assembly file: beyond it parts get files of their
/// own, so that a sparse assembly file never nears a filesystem's size limit.
pub(crate) const MAX_IN_PLACE_END: u64 = 1 << 40;

/// Upload ids are ours: 32 lower-case hex digits. Anything else names no upload (and so can
/// never name a path).
pub(crate) fn valid_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

pub(crate) fn decode<T: for<'de> Deserialize<'de>>(v: &[u8]) -> Result<T> {
    serde_json::from_slice(v).map_err(|e| {
        VfsError::Store(crate::meta::StoreError(format!(
            "corrupt upload record: {e}"
        )))
    })
}

pub(crate) fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

/// Whether an open upload has its parts in the write cache: the cache must then be opened
/// whatever the mode.
pub(crate) fn uploads_staged_in_cache(index: &Index) -> Result<bool> {
    let mut found = false;
    index.visit_in(Tree::Uploads, |_, v| {
        // A record that does not decode is reported by the requests that use it, not here.
        found = decode::<UploadRecord>(v)
            .is_ok_and(|rec| rec.in_cache == Some(true) && rec.completed.is_none());
        !found
    })?;
    Ok(found)
}
