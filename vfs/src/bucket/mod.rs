//! Buckets: made, checked and removed on the remote (a bucket is a folder at its root), and
//! each described by a record in the index (`Tree::Buckets`: name → [`BucketRecord`]), where the
//! bucket's configuration lives. A bucket made on the remote by other means (another program, or
//! a version of this server from before records) gets its record the first time it is asked
//! for; a record whose folder is gone goes with the next rescan.
//!
//! On a named remote a bucket seen there is taken to exist for a while without asking again
//! ([`KnownBuckets`]): a stat is a round trip, and every request names a bucket.

use crate::clock::now_ns;
use crate::error::{Result, VfsError};
use crate::key;
use crate::meta::{Edit, Tree};
use crate::object::BucketInfo;
use crate::remote::ns_from_time;
use crate::vfs::Vfs;

use record::put_record;
pub use record::{BucketRecord, PublicAccessBlock, Versioning};

pub(crate) mod cors;
pub(crate) mod known;
pub(crate) mod lifecycle;
pub(crate) mod record;
pub(crate) mod records;
pub(crate) mod shared;

impl Vfs {
    pub async fn list_buckets(&self) -> Result<Vec<BucketInfo>> {
        let mut out: Vec<BucketInfo> = self
            .core
            .remote
            .list_dir("")
            .await?
            .into_iter()
            .filter(|e| e.is_dir && key::validate_bucket(&e.name).is_ok())
            .map(|e| BucketInfo {
                name: e.name,
                created: e.created,
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Makes a bucket owned by `owner` (an access key).
    pub async fn create_bucket(&self, name: &str, owner: Option<&str>) -> Result<()> {
        let record = BucketRecord {
            owner: owner.map(str::to_string),
            ..Default::default()
        };
        self.create_bucket_with(name, record, false).await
    }

    /// Makes a bucket with object lock enabled (and so versioning), where versions can be
    /// kept; its record says so from the start.
    pub async fn create_locked_bucket(&self, name: &str, owner: Option<&str>) -> Result<()> {
        let record = BucketRecord {
            owner: owner.map(str::to_string),
            ..Default::default()
        };
        self.create_bucket_with(name, record, true).await
    }

    /// Makes a bucket whose record starts as `record` (its owner, the ACL and ownership
    /// controls asked for at creation), stamped with the time it is made; `locked`: with object
    /// lock enabled (and so versioning).
    pub async fn create_bucket_with(
        &self,
        name: &str,
        record: BucketRecord,
        locked: bool,
    ) -> Result<()> {
        if let Some(why) = self.versions_unsupported().filter(|_| locked) {
            return Err(VfsError::VersionsUnsupported(why));
        }
        key::validate_new_bucket(name)?;
        let made = self.core.remote.mkdir(name).await;
        if let Ok(true) | Ok(false) = made {
            self.known_buckets.note(name, true);
        }
        match made {
            Ok(true) => {
                let mut record = BucketRecord {
                    created_ns: now_ns(),
                    ..record
                };
                if locked {
                    record.versioning = Versioning::Enabled;
                    record.object_lock = Some(Default::default());
                }
                if self.fleet.is_some() {
                    // A record left by a bucket of this name that another gateway deleted
                    // before its record went is replaced.
                    self.write_shared_record(name, &record, None).await?;
                }
                self.core.index.apply(vec![put_record(name, &record)]).await
            }
            Ok(false) => Err(VfsError::BucketAlreadyOwnedByYou),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(
                VfsError::InvalidBucketName(format!("{name:?}: a file of that name is in the way")),
            ),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn head_bucket(&self, name: &str) -> Result<()> {
        key::validate_bucket(name)?;
        if self.known_buckets.fresh(name) {
            return Ok(());
        }
        let exists = matches!(self.core.remote.stat(name).await?, Some(e) if e.is_dir);
        self.known_buckets.note(name, exists);
        match exists {
            true => Ok(()),
            false => Err(VfsError::NoSuchBucket),
        }
    }

    pub async fn delete_bucket(&self, name: &str) -> Result<()> {
        self.head_bucket(name).await?;
        // In a fleet another gateway's versions are on the store.
        self.check_versions(name, "").await?;
        if self.write_back.bucket_has_cached(name).await?
            || self.bucket_has_versions(name)?
            || self.bucket_has_stored_keys(name)?
        {
            return Err(VfsError::BucketNotEmpty);
        }
        match self.core.remote.rmdir_tree(name).await {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOTEMPTY) => {
                return Err(VfsError::BucketNotEmpty)
            }
            Err(e) => return Err(e.into()),
        }
        self.known_buckets.note(name, false);
        self.remove_version_folders(name).await;
        self.write_back.remove_bucket_folders(name).await;
        self.forget_shared_record(name).await?;
        self.forget_bucket(name).await
    }

    /// The record of an existing bucket, made now for a bucket that has none yet.
    pub async fn bucket(&self, name: &str) -> Result<BucketRecord> {
        self.head_bucket(name).await?;
        self.refresh_shared_record(name).await?;
        if let Some(record) = self.core.bucket_record(name)? {
            return Ok((*record).clone());
        }
        let created = match self.core.remote.stat(name).await? {
            Some(e) if e.is_dir => e.created,
            _ => return Err(VfsError::NoSuchBucket),
        };
        let record = BucketRecord {
            created_ns: ns_from_time(created),
            ..Default::default()
        };
        self.core
            .index
            .apply(vec![put_record(name, &record)])
            .await?;
        Ok(record)
    }

    /// Changes an existing bucket's record with `change`, which sees the current record and
    /// may refuse (its error is returned and nothing is written). Changes of one bucket's
    /// record take turns (under the lock of the bucket's own name, which no key path shares),
    /// so two configuration requests never lose each other's change. In a fleet `change` may
    /// be made more than once, each time on the record another gateway's change left.
    pub async fn update_bucket<T>(
        &self,
        name: &str,
        mut change: impl FnMut(&mut BucketRecord) -> Result<T>,
    ) -> Result<T> {
        self.core
            .key_locks
            .with(name, async {
                let mut record = self.bucket(name).await?;
                let out = match self.fleet {
                    // The remote's record is the one changed, whatever this gateway last read.
                    Some(_) => {
                        let (shared, out) = self.change_shared_record(name, record, change).await?;
                        record = shared;
                        out
                    }
                    None => change(&mut record)?,
                };
                self.core
                    .index
                    .apply(vec![put_record(name, &record)])
                    .await?;
                Ok(out)
            })
            .await
    }

    /// Drops the records of buckets whose folders are gone (`buckets`: those the remote has).
    pub(crate) async fn forget_vanished_bucket_records(
        &self,
        buckets: &[BucketInfo],
    ) -> Result<()> {
        let mut names = Vec::new();
        self.core.index.visit_in(Tree::Buckets, |k, _| {
            names.push(String::from_utf8_lossy(k).into_owned());
            true
        })?;
        for name in names {
            // A bucket created after the scan listed the buckets is not vanished: ask again.
            if !buckets.iter().any(|b| b.name == name) && self.head_bucket(&name).await.is_err() {
                self.core
                    .index
                    .apply(vec![Edit::Delete(Tree::Buckets, name.into_bytes())])
                    .await?;
            }
        }
        Ok(())
    }

    /// Drops every record of a bucket that no longer exists, its own last.
    pub(crate) async fn forget_bucket(&self, name: &str) -> Result<()> {
        let start = key::index_key(name, "");
        let end = key::prefix_end(&start);
        loop {
            let batch = self.core.index.range(&start, end.as_deref(), 1000)?;
            if batch.is_empty() {
                let record = Edit::Delete(Tree::Buckets, name.as_bytes().to_vec());
                return self.core.index.apply(vec![record]).await;
            }
            let ops = batch
                .into_iter()
                .map(|(k, _)| Edit::Delete(Tree::Objects, k))
                .collect();
            self.core.index.apply(ops).await?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::record::decode;
    use super::*;

    fn stored(vfs: &Vfs, name: &str) -> Option<BucketRecord> {
        let v = vfs
            .core
            .index
            .get_in(Tree::Buckets, name.as_bytes())
            .unwrap()?;
        Some(decode(&v).unwrap())
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_bucket_has_a_record_from_its_creation_to_its_deletion() {
        let dir = tempfile::tempdir().unwrap();
        let vfs = Vfs::open_unsynced(dir.path()).await;
        let before = now_ns();
        vfs.create_bucket("bkt", None).await.unwrap();
        let record = stored(&vfs, "bkt").expect("no record made with the bucket");
        assert!(record.created_ns >= before);
        assert_eq!(record.versioning, Versioning::Unversioned);
        assert_eq!(vfs.bucket("bkt").await.unwrap(), record);
        vfs.delete_bucket("bkt").await.unwrap();
        assert_eq!(stored(&vfs, "bkt"), None);
        assert!(matches!(
            vfs.bucket("bkt").await,
            Err(VfsError::NoSuchBucket)
        ));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_bucket_made_by_another_program_gets_its_record_when_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let vfs = Vfs::open_unsynced(dir.path()).await;
        std::fs::create_dir(dir.path().join("other")).unwrap();
        assert_eq!(stored(&vfs, "other"), None);
        let record = vfs.bucket("other").await.unwrap();
        assert!(record.created_ns > 0);
        assert_eq!(stored(&vfs, "other"), Some(record));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_rescan_drops_the_record_of_a_bucket_whose_folder_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let vfs = Vfs::open_unsynced(dir.path()).await;
        vfs.create_bucket("gone", None).await.unwrap();
        vfs.create_bucket("kept", None).await.unwrap();
        std::fs::remove_dir(dir.path().join("gone")).unwrap();
        vfs.reconcile().await.unwrap();
        assert_eq!(stored(&vfs, "gone"), None);
        assert!(stored(&vfs, "kept").is_some());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn bucket_record_changes_take_turns_and_a_refused_one_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let vfs = std::sync::Arc::new(Vfs::open_unsynced(dir.path()).await);
        vfs.create_bucket("bkt", None).await.unwrap();
        let created = vfs.bucket("bkt").await.unwrap().created_ns;
        // Each change reads what the one before wrote: none is lost.
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let vfs = vfs.clone();
                tokio::spawn(async move {
                    vfs.update_bucket("bkt", |r| {
                        r.created_ns += 1;
                        Ok(())
                    })
                    .await
                    .unwrap()
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(stored(&vfs, "bkt").unwrap().created_ns, created + 20);
        let refused = vfs
            .update_bucket("bkt", |r| {
                r.versioning = Versioning::Enabled;
                Err::<(), _>(VfsError::BucketNotEmpty)
            })
            .await;
        assert!(matches!(refused, Err(VfsError::BucketNotEmpty)));
        assert_eq!(
            stored(&vfs, "bkt").unwrap().versioning,
            Versioning::Unversioned
        );
        assert!(matches!(
            vfs.update_bucket("nope", |_| Ok(())).await,
            Err(VfsError::NoSuchBucket)
        ));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_kept_record_gives_way_to_the_next_change() {
        let dir = tempfile::tempdir().unwrap();
        let vfs = Vfs::open_unsynced(dir.path()).await;
        assert!(vfs.core.bucket_record("bkt").unwrap().is_none());
        vfs.create_bucket("bkt", None).await.unwrap();
        let made = vfs
            .core
            .bucket_record("bkt")
            .unwrap()
            .expect("no record after creation");
        assert_eq!(made.versioning, Versioning::Unversioned);
        // Served from memory while nothing changes.
        let again = vfs.core.bucket_record("bkt").unwrap().unwrap();
        assert!(std::sync::Arc::ptr_eq(&made, &again));
        vfs.update_bucket("bkt", |r| {
            r.versioning = Versioning::Enabled;
            Ok(())
        })
        .await
        .unwrap();
        let changed = vfs.core.bucket_record("bkt").unwrap().unwrap();
        assert_eq!(changed.versioning, Versioning::Enabled);
        vfs.delete_bucket("bkt").await.unwrap();
        assert!(vfs.core.bucket_record("bkt").unwrap().is_none());
    }
}
