//! The shared core of the VFS: what every subsystem reads or changes, and nothing that belongs
//! to one of them. The remote, the index, the key locks, the settings of every write (fsync, the
//! ETag's hash, cleanup of empty folders), the server's own writes (for the watch), the counter
//! of version ids, the progress of long work, the length of a lifecycle day and the bucket
//! records kept decoded. `Vfs` (vfs.rs) holds it in an `Arc` beside each subsystem's own state,
//! and a subsystem holds it too or borrows it; so the commit point (`Core::commit`, commit.rs),
//! where a key's file is (`Core::path_of`, stored.rs), a bucket's record
//! (`Core::bucket_record`, here) and the lifecycle's due entries of a changed key
//! (`Core::schedule_key`, lifecycle.rs) are methods of the core and need no `Vfs`. This file
//! imports only leaves, and the bucket record's type and decoder.

use std::path::PathBuf;
use std::sync::Arc;

use md5::{Digest, Md5};
use s3gate_config::EtagHash;

use crate::bucket::record::{decode, BucketRecord};
use crate::bucket::records::Kept;
use crate::error::{Result, VfsError};
use crate::index::Index;
use crate::locks::KeyLocks;
use crate::meta::{Edit, StoreError, Tree};
use crate::object::{each_chunk, synthetic_etag};
use crate::own_writes::OwnWrites;
use crate::path_claims::PlainClaims;
use crate::progress::Progress;
use crate::remote::{Reader, Remote};
use crate::version_id::VersionId;

pub(crate) struct Core {
    pub(crate) remote: Arc<dyn Remote>,
    pub(crate) index: Index,
    /// Taken last, one at a time (see locks.rs for the order).
    pub(crate) key_locks: KeyLocks,
    /// The key paths writes are deciding for or publishing at (path_claims.rs).
    pub(crate) plain_claims: PlainClaims,
    pub(crate) etag_hash: EtagHash,
    pub(crate) fsync: bool,
    pub(crate) cleanup: bool,
    /// The served directory, when the remote is a local one (watched for changes).
    pub(crate) local_root: Option<PathBuf>,
    /// What this server published there, for the watch to tell from other programs' changes.
    pub(crate) own_writes: OwnWrites,
    /// Where the ids of new versions come from.
    pub(crate) version_ids: VersionIds,
    /// How far long work (scans, write-back of the whole cache) has come.
    pub(crate) progress: Arc<Progress>,
    /// How long "a day" of lifecycle rules lasts, in nanoseconds (`--lifecycle-day`).
    pub(crate) lifecycle_day: i64,
    /// Bucket records kept decoded between changes (`Core::bucket_record`): every commit reads
    /// its bucket's versioning, lock and lifecycle rules from them.
    pub(crate) bucket_records: Kept<BucketRecord>,
    /// Small PUTs acknowledged through the log (`--small-put-log`), whose files the commit
    /// point makes durable before any other change of their path (putlog/).
    pub(crate) put_log: Option<crate::putlog::state::PutLog>,
}

impl Core {
    /// Writes a small file whole onto the remote, replacing any.
    pub(crate) async fn write_small(&self, path: &str, content: Vec<u8>) -> Result<()> {
        let mut upload = self.remote.create(path).await?;
        let written = async {
            upload.write(bytes::Bytes::from(content)).await?;
            upload.finish(self.fsync).await
        }
        .await;
        if let Err(e) = written {
            upload.abort().await;
            return Err(e.into());
        }
        upload.commit(path, self.fsync, Box::new(|_| {})).await?;
        Ok(())
    }

    /// The stored record of `bucket`, `None` when it has none (nothing is made here: see
    /// `Vfs::bucket`); decoded once between changes of bucket records (bucket/records.rs).
    pub(crate) fn bucket_record(&self, name: &str) -> Result<Option<Arc<BucketRecord>>> {
        let count = self.index.buckets_changed();
        if let Some(record) = self.bucket_records.get(name, count) {
            return Ok(record);
        }
        let record = match self.index.get_in(Tree::Buckets, name.as_bytes())? {
            Some(v) => Some(Arc::new(decode(&v)?)),
            None => None,
        };
        self.bucket_records.keep(name, count, record.clone());
        Ok(record)
    }

    /// Refuses an object larger than the remote takes.
    pub(crate) fn check_size(&self, size: u64) -> Result<()> {
        let max = self.remote.max_object_size();
        match size > max {
            true => Err(VfsError::EntityTooLarge(format!(
                "the remote takes objects of at most {} MiB",
                max >> 20
            ))),
            false => Ok(()),
        }
    }

    /// The ETag of a file's content, read through `reader` (or made from its fingerprint).
    pub(crate) async fn content_etag(&self, reader: Box<dyn Reader>) -> Result<String> {
        let fp = reader.fingerprint();
        Ok(match (self.etag_hash, reader.known_md5()) {
            (EtagHash::Md5, Some(md5)) => md5,
            (EtagHash::Md5, None) => {
                let mut h = Md5::new();
                each_chunk(reader.stream(0, fp.size), |c| h.update(c)).await?;
                hex::encode(h.finalize())
            }
            (EtagHash::Blake3, _) => {
                let mut h = blake3::Hasher::new();
                each_chunk(reader.stream(0, fp.size), |c| {
                    h.update(c);
                })
                .await?;
                h.finalize().to_hex().to_string()
            }
            (EtagHash::None, _) => synthetic_etag(&fp),
        })
    }
}

/// Where the end of the block of ids being handed out is kept, in `Tree::State`.
const CEILING: &[u8] = b"version-ceiling";
/// Ids handed out per durable write of the ceiling.
pub(crate) const BLOCK: u64 = 1024;

/// Hands out version ids in the order of their making.
pub(crate) struct VersionIds {
    /// The next counter, and the end of the block made durable (exclusive).
    next: tokio::sync::Mutex<(u64, u64)>,
}

impl VersionIds {
    /// Starts after every block a previous run may have used.
    pub(crate) fn open(index: &Index) -> Result<VersionIds> {
        let ceiling = match index.get_state(CEILING)? {
            Some(v) => u64::from_be_bytes(
                v.as_slice()
                    .try_into()
                    .map_err(|_| VfsError::Store(StoreError("corrupt version counter".into())))?,
            ),
            None => 1, // 0 is the original `null` version's
        };
        Ok(VersionIds {
            next: tokio::sync::Mutex::new((ceiling, ceiling)),
        })
    }

    /// A new id, greater than every id made before (`null` when `null`).
    pub(crate) async fn next(&self, index: &Index, null: bool) -> Result<VersionId> {
        let mut next = self.next.lock().await;
        if next.0 >= next.1 {
            let ceiling = next.0 + BLOCK;
            index
                .apply(vec![Edit::Put(
                    Tree::State,
                    CEILING.to_vec(),
                    ceiling.to_be_bytes().to_vec(),
                )])
                .await?;
            next.1 = ceiling;
        }
        let seq = next.0;
        next.0 += 1;
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        Ok(VersionId { seq, ms, null })
    }
}
