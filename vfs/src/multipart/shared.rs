//! Multipart uploads in a fleet (`--fleet`): their state lives on the remote, beside their
//! staged parts, so that an upload created through one gateway is continued, listed, completed
//! or aborted through any other. The index keeps upload records only as a cache of what the
//! remote says; part records are not kept there at all.
//!
//! On the remote, under the upload's staging folder:
//! - `upload`: the upload's record with its bucket and key, written once at its creation and
//!   never changed (so any gateway may cache it for as long as the upload lives);
//! - `NNNNN.STAMP`: a part's bytes, one file per send of the part (a re-sent part never
//!   overwrites bytes another gateway may be reading for a Complete);
//! - `NNNNN.STAMP.MD5.SIZE[.ALGORITHM.F.HEX]`: an empty file whose name is the part's record,
//!   written once its bytes are in place, so that ListParts is one listing and no read. Of the
//!   records of one number, the highest stamp (the time of the send, then a random tail) wins;
//! - `completed`: the ETag of the object the upload made, so that a repeated Complete answers
//!   the same on every gateway.
//!
//! And `.s3gate/open/BUCKET/ID`, an empty file while the upload is open: ListMultipartUploads
//! lists these. A marker is written after its record and deleted before anything else of its
//! upload, so that every marker names a record.

use std::collections::{BTreeMap, HashSet};
use std::io;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::records::{decode, encode, staging_dir, upload_key, PartRecord, UploadRecord};
use super::{Multipart, PartInfo};
use crate::clock::now_ns;
use crate::error::{Result, VfsError};
use crate::index::{Checksum, ChecksumType};
use crate::key::{self, RESERVED_DIR};
use crate::meta::{Edit, Tree};
use crate::remote::time_from_ns;

/// The largest record read back from the remote: an upload record holds at most the attributes
/// an object may carry, well under this.
const MAX_RECORD: u64 = 1 << 20;

/// An upload's record as the remote keeps it.
#[derive(Serialize, Deserialize)]
struct SharedRecord {
    bucket: String,
    key: String,
    record: UploadRecord,
}

/// What a completed upload leaves for a repeated Complete.
#[derive(Serialize, Deserialize)]
struct Completion {
    etag: String,
}

fn record_path(id: &str) -> String {
    format!("{}/upload", staging_dir(id))
}

fn completion_path(id: &str) -> String {
    format!("{}/completed", staging_dir(id))
}

fn open_dir(bucket: &str) -> String {
    format!("{RESERVED_DIR}/open/{bucket}")
}

fn open_marker(bucket: &str, id: &str) -> String {
    format!("{}/{id}", open_dir(bucket))
}

/// Where one send of part `number` puts its bytes: a name of its own, stamped with the time and
/// a random tail so that two sends of one number (on two gateways) never share a file.
pub(super) fn part_stage(id: &str, number: u32) -> String {
    format!(
        "{}/{number:05}.{:016x}{:08x}",
        staging_dir(id),
        now_ns(),
        rand::random::<u32>()
    )
}

/// The name of the record of the part staged at `stage` (the file name of its bytes).
fn part_record_name(stage: &str, rec: &PartRecord) -> String {
    let mut name = format!("{stage}.{}.{}", rec.etag, rec.size);
    if let Some(c) = &rec.checksum {
        // Hex of the value's bytes: base64 holds `/`, which cannot be in a file name.
        let value = STANDARD.decode(&c.value).unwrap_or_default();
        name.push_str(&format!(
            ".{}.{}.{}",
            c.kind.algorithm,
            u8::from(c.kind.full_object),
            hex::encode(value)
        ));
    }
    name
}

/// A part record read back from its name: (number, stamp, part) with the part's bytes at the
/// name's first two fields; `None` for any other file of the folder.
fn parse_part_record(dir: &str, name: &str) -> Option<(u32, String, PartInfo)> {
    let fields: Vec<&str> = name.split('.').collect();
    let (number, stamp, etag, size) = match fields[..] {
        [n, s, e, z] | [n, s, e, z, _, _, _] => (n, s, e, z),
        _ => return None,
    };
    let number: u32 = number.parse().ok()?;
    let written = i64::from_str_radix(stamp.get(..16)?, 16).ok()?;
    if etag.len() != 32 || !etag.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let checksum = match fields[..] {
        [_, _, _, _, algorithm, full, value] => Some(Checksum {
            kind: ChecksumType {
                algorithm: algorithm.to_string(),
                full_object: full == "1",
            },
            value: STANDARD.encode(hex::decode(value).ok()?),
            parts: Vec::new(),
        }),
        _ => None,
    };
    let part = PartInfo {
        number,
        size: size.parse().ok()?,
        etag: etag.to_string(),
        last_modified: time_from_ns(written),
        checksum,
        in_place: false,
        staged: Some(format!("{dir}/{number:05}.{stamp}")),
    };
    Some((number, stamp.to_string(), part))
}

/// Whether an error of the remote says the file is not there.
fn missing(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound
}

impl Multipart {
    /// Reads a small file whole from the remote; `None` when it is not there, also when it went
    /// between its open and its read: another gateway ending an upload deletes its record while
    /// this one may be reading it, having seen its marker a moment before.
    async fn read_small(&self, path: &str) -> Result<Option<Vec<u8>>> {
        let Some(reader) = self.core.remote.open(path).await? else {
            return Ok(None);
        };
        let size = reader.fingerprint().size;
        if size > MAX_RECORD {
            return Err(VfsError::Io(io::Error::other(format!(
                "{path}: {size} bytes is too large for a multipart record"
            ))));
        }
        let mut stream = reader.stream(0, size);
        let mut data = Vec::with_capacity(size as usize);
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(chunk) => data.extend_from_slice(&chunk),
                Err(e) if missing(&e) => return Ok(None),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Some(data))
    }

    /// Makes a new upload known to the whole fleet: its record, then its open marker.
    pub(super) async fn share_upload(
        &self,
        bucket: &str,
        key: &str,
        id: &str,
        record: &UploadRecord,
    ) -> Result<()> {
        let shared = SharedRecord {
            bucket: bucket.to_string(),
            key: key.to_string(),
            record: record.clone(),
        };
        self.core
            .write_small(&record_path(id), encode(&shared))
            .await?;
        self.core
            .write_small(&open_marker(bucket, id), Vec::new())
            .await
    }

    /// The record of an upload of `bucket`/`key` as the fleet knows it: open while its marker is
    /// there, completed once its completion is, else unknown (aborted, or never made). The
    /// index caches what is read; a cached record no longer open goes.
    pub(super) async fn shared_upload(
        &self,
        bucket: &str,
        key: &str,
        id: &str,
    ) -> Result<UploadRecord> {
        let cached = match self.record(bucket, key, id) {
            Ok(rec) if rec.completed.is_some() => return Ok(rec),
            Ok(rec) => Some(rec),
            Err(VfsError::NoSuchUpload) => None,
            Err(e) => return Err(e),
        };
        let open = self
            .core
            .remote
            .stat(&open_marker(bucket, id))
            .await?
            .is_some();
        let completed = match open {
            true => None,
            false => match self.read_small(&completion_path(id)).await? {
                Some(data) => Some(decode::<Completion>(&data)?.etag),
                None => {
                    if cached.is_some() {
                        self.forget_upload(bucket, key, id).await?;
                    }
                    return Err(VfsError::NoSuchUpload);
                }
            },
        };
        let record = match cached {
            Some(rec) => rec,
            None => {
                let rec = self.fetch_upload(bucket, key, id).await?;
                if open {
                    self.cache_upload(bucket, key, id, &rec).await?;
                }
                rec
            }
        };
        Ok(UploadRecord {
            completed,
            ..record
        })
    }

    /// The upload's record on the remote, which must be of `bucket`/`key`.
    async fn fetch_upload(&self, bucket: &str, key: &str, id: &str) -> Result<UploadRecord> {
        let data = self
            .read_small(&record_path(id))
            .await?
            .ok_or(VfsError::NoSuchUpload)?;
        let shared: SharedRecord = decode(&data)?;
        if shared.bucket != bucket || shared.key != key {
            return Err(VfsError::NoSuchUpload);
        }
        Ok(shared.record)
    }

    pub(super) async fn cache_upload(
        &self,
        bucket: &str,
        key: &str,
        id: &str,
        rec: &UploadRecord,
    ) -> Result<()> {
        self.core
            .index
            .apply(vec![Edit::Put(
                Tree::Uploads,
                upload_key(bucket, key, id),
                encode(rec),
            )])
            .await
    }

    pub(super) async fn forget_upload(&self, bucket: &str, key: &str, id: &str) -> Result<()> {
        self.core
            .index
            .apply(vec![Edit::Delete(
                Tree::Uploads,
                upload_key(bucket, key, id),
            )])
            .await
    }

    /// Records a part whose bytes are in place at `stage`.
    pub(super) async fn share_part(&self, stage: &str, rec: &PartRecord) -> Result<()> {
        self.core
            .write_small(&part_record_name(stage, rec), Vec::new())
            .await
    }

    /// The parts of an upload numbered after `after`, the latest send of each number, from one
    /// listing of its folder.
    pub(super) async fn shared_parts(&self, id: &str, after: u32) -> Result<Vec<PartInfo>> {
        let dir = staging_dir(id);
        let entries = match self.core.remote.list_dir(&dir).await {
            Ok(entries) => entries,
            Err(e) if missing(&e) => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        let mut latest: BTreeMap<u32, (String, PartInfo)> = BTreeMap::new();
        for e in entries.iter().filter(|e| !e.is_dir) {
            let Some((number, stamp, part)) = parse_part_record(&dir, &e.name) else {
                continue;
            };
            if number <= after {
                continue;
            }
            match latest.get(&number) {
                Some((newer, _)) if *newer >= stamp => {}
                _ => {
                    latest.insert(number, (stamp, part));
                }
            }
        }
        Ok(latest.into_values().map(|(_, part)| part).collect())
    }

    /// Whether the upload was completed, by any gateway: the ETag of the object it made.
    pub(super) async fn shared_completion(&self, id: &str) -> Result<Option<String>> {
        match self.read_small(&completion_path(id)).await? {
            Some(data) => Ok(Some(decode::<Completion>(&data)?.etag)),
            None => Ok(None),
        }
    }

    /// After the object is published: the completion is written for repeated Completes, the
    /// upload stops being open, and its parts go (the record and completion stay until the
    /// housekeeping sweep, as a completed record does in the index).
    pub(super) async fn share_completion(&self, bucket: &str, id: &str, etag: &str) -> Result<()> {
        let done = Completion {
            etag: etag.to_string(),
        };
        self.core
            .write_small(&completion_path(id), encode(&done))
            .await?;
        self.core
            .remote
            .delete(&open_marker(bucket, id), None)
            .await?;
        let dir = staging_dir(id);
        let keep = [record_path(id), completion_path(id)];
        for e in self.core.remote.list_dir(&dir).await.unwrap_or_default() {
            let path = format!("{dir}/{}", e.name);
            if !e.is_dir && !keep.contains(&path) {
                self.core.remote.delete(&path, None).await?;
            }
        }
        Ok(())
    }

    /// Ends an upload for the whole fleet: its marker first (it stops being open), then its
    /// folder.
    pub(super) async fn unshare_upload(&self, bucket: &str, id: &str) -> Result<()> {
        self.core
            .remote
            .delete(&open_marker(bucket, id), None)
            .await?;
        self.core.remote.delete_tree(&staging_dir(id)).await?;
        Ok(())
    }

    /// The ids of the uploads of `bucket` open for the whole fleet: one listing of its markers.
    pub(super) async fn open_markers(&self, bucket: &str) -> Result<HashSet<String>> {
        let entries = match self.core.remote.list_dir(&open_dir(bucket)).await {
            Ok(entries) => entries,
            Err(e) if missing(&e) => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        Ok(entries
            .into_iter()
            .filter(|e| !e.is_dir && super::records::valid_id(&e.name))
            .map(|e| e.name)
            .collect())
    }

    /// Before the open uploads of `bucket` are listed or counted from the index: the index's
    /// open records are brought in line with the remote's markers. Records it lacks are read
    /// (once: they never change), and records whose marker is gone are dropped.
    pub(super) async fn sync_open_uploads(&self, bucket: &str) -> Result<()> {
        let open = self.open_markers(bucket).await?;
        let base = key::index_key(bucket, "");
        let end = key::prefix_end(&base);
        let mut known = HashSet::new();
        let mut gone = Vec::new();
        let mut start = base.clone();
        loop {
            let batch = self
                .core
                .index
                .range_in(Tree::Uploads, &start, end.as_deref(), 1000)?;
            let Some((last, _)) = batch.last() else {
                break;
            };
            start = last.clone();
            start.push(0);
            for (k, v) in &batch {
                let Some(nul) = k.iter().position(|&b| b == 0) else {
                    continue;
                };
                let id = String::from_utf8_lossy(&k[nul + 1..]).into_owned();
                let completed = decode::<UploadRecord>(v)?.completed.is_some();
                if open.contains(&id) {
                    known.insert(id);
                } else if !completed {
                    gone.push(Edit::Delete(Tree::Uploads, k.clone()));
                }
            }
        }
        let mut ops = gone;
        for id in open.difference(&known) {
            let Some(data) = self.read_small(&record_path(id)).await? else {
                continue;
            };
            let shared: SharedRecord = decode(&data)?;
            if shared.bucket == bucket {
                ops.push(Edit::Put(
                    Tree::Uploads,
                    upload_key(bucket, &shared.key, id),
                    encode(&shared.record),
                ));
            }
        }
        if !ops.is_empty() {
            self.core.index.apply(ops).await?;
        }
        Ok(())
    }

    /// Before the housekeeping sweep deletes the folder of an upload no index here knows: its
    /// marker goes first, as an Abort's does.
    pub(super) async fn unshare_orphan(&self, id: &str) -> Result<()> {
        if let Some(data) = self.read_small(&record_path(id)).await? {
            if let Ok(shared) = decode::<SharedRecord>(&data) {
                self.core
                    .remote
                    .delete(&open_marker(&shared.bucket, id), None)
                    .await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_records_read_back_from_their_names() {
        let stage = part_stage("0123456789abcdef0123456789abcdef", 7);
        let rec = PartRecord {
            size: 5 << 20,
            etag: "0cc175b9c0f1b6a831c399e269772661".into(),
            mtime_ns: 0,
            checksum: Some(Checksum {
                kind: ChecksumType {
                    algorithm: "CRC32".into(),
                    full_object: false,
                },
                value: "6Tc/vg==".into(),
                parts: Vec::new(),
            }),
            in_place: false,
        };
        let full = part_record_name(&stage, &rec);
        let (dir, name) = full.rsplit_once('/').unwrap();
        let (number, _, part) = parse_part_record(dir, name).unwrap();
        assert_eq!(number, 7);
        assert_eq!(part.size, 5 << 20);
        assert_eq!(part.etag, rec.etag);
        assert_eq!(part.checksum, rec.checksum);
        assert_eq!(part.staged.as_deref(), Some(stage.as_str()));
        // The bytes' own file, the upload's record and its completion are no part records.
        for other in [stage.rsplit_once('/').unwrap().1, "upload", "completed"] {
            assert!(parse_part_record(dir, other).is_none(), "{other}");
        }
    }
}
