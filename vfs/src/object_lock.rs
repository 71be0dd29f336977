//! Object lock, changed: a version's lock changed in place ([`Relock`], through the commit
//! point, on the current record or on a kept version's row), a bucket's lock configuration read,
//! and the default retention stamped on a new version as it is published (`commit.rs`). The
//! lock itself and the one guard are data below the index (`retention.rs`): a version's lock is
//! part of its record, so that it follows the version into the version store when a newer one
//! replaces it.
//!
//! Every path that removes a version for good, or replaces the `null` one, asks
//! [`ObjectLock::guard`] under the key's lock (`version.rs`: [`Vfs::delete_version`],
//! [`Vfs::replacing`]), and so does a change that would weaken a retention ([`Relock`]).
//! COMPLIANCE and a legal hold never yield; GOVERNANCE yields to a caller that may bypass it.

use crate::clock::now_ns;
use crate::commit::{At, Change};
use crate::error::{Result, VfsError};
use crate::retention::{LockConfig, ObjectLock, Retention};
use crate::version_id::VersionRef;
use crate::vfs::Vfs;

/// A change of a version's lock, in place (no new version).
#[derive(Debug, Clone, Copy)]
pub enum LockChange {
    /// The retention becomes this one (none: removed).
    Retention(Option<Retention>),
    LegalHold(bool),
}

/// [`LockChange`] made to the version a client names, current or kept, under the key's lock.
struct Relock {
    version: Option<VersionRef>,
    change: LockChange,
    bypass_governance: bool,
}

impl Relock {
    fn apply_to(&self, lock: &mut ObjectLock) -> Result<()> {
        match self.change {
            LockChange::Retention(r) => {
                lock.may_become(r, self.bypass_governance)?;
                lock.retention = r;
            }
            LockChange::LegalHold(on) => lock.legal_hold = Some(on),
        }
        Ok(())
    }
}

impl Change<Vfs> for Relock {
    type Done = ();

    async fn apply(self, vfs: &Vfs, at: At<'_>) -> Result<()> {
        vfs.edit_version(at, self.version, |attrs| self.apply_to(&mut attrs.lock))
            .await
    }

    async fn abandon(self) {}
}

impl Vfs {
    /// Changes the lock of the version of `bucket/key` named by `version` (the current one
    /// when `None`). Shortening or lifting a running retention is refused as deleting would be
    /// ([`ObjectLock::guard`]).
    pub async fn set_object_lock(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
        change: LockChange,
        bypass_governance: bool,
    ) -> Result<()> {
        let version = version
            .map(|v| VersionRef::parse(v).ok_or_else(|| VfsError::InvalidVersion(v.into())))
            .transpose()?;
        self.head_bucket(bucket).await?;
        let Ok(path) = self.change_path(bucket, key) else {
            return Err(VfsError::NoSuchKey);
        };
        let at = At {
            bucket,
            key,
            path: &path,
        };
        let relock = Relock {
            version,
            change,
            bypass_governance,
        };
        self.commit(at, None, relock).await
    }

    /// The lock configuration of `bucket`, read from its record alone (the bucket is known to
    /// exist): what a version published there is stamped with.
    pub(crate) fn lock_config_of(&self, bucket: &str) -> Result<Option<LockConfig>> {
        Ok(self.core.bucket_record(bucket)?.and_then(|r| r.object_lock))
    }

    /// Gives a version about to be published its bucket's default retention, unless its
    /// writer named one.
    pub(crate) fn stamp_default_retention(
        &self,
        bucket: &str,
        lock: &mut ObjectLock,
    ) -> Result<()> {
        if lock.retention.is_some() {
            return Ok(());
        }
        if let Some(default) = self
            .lock_config_of(bucket)?
            .and_then(|c| c.default_retention)
        {
            lock.retention = Some(default.from(now_ns()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retention::{DefaultRetention, RetentionMode, RetentionPeriod, DAY_NS};

    async fn put(vfs: &Vfs, key: &str, lock: ObjectLock) -> String {
        let attrs = crate::index::ObjectAttrs {
            lock,
            ..Default::default()
        };
        let info = vfs.put_test(key, &b"data"[..], attrs).await;
        info.version_id.unwrap()
    }

    /// What every caller of `delete_version` (a client's delete, lifecycle expiration) gets:
    /// the guard, on a current version and on a kept one, whose lock its demotion kept.
    #[tokio::test(flavor = "multi_thread")]
    async fn removing_a_version_for_good_asks_its_lock() {
        let dir = tempfile::tempdir().unwrap();
        let vfs = Vfs::open_unsynced(dir.path()).await;
        vfs.create_locked_bucket("bkt", None).await.unwrap();
        let gov = ObjectLock {
            retention: Some(Retention {
                mode: RetentionMode::Governance,
                until_ns: now_ns() + DAY_NS,
            }),
            legal_hold: None,
        };
        let old = put(&vfs, "k", gov).await;
        let current = put(&vfs, "k", ObjectLock::default()).await;
        assert!(matches!(
            vfs.delete_version("bkt", "k", &old, false).await,
            Err(VfsError::ObjectLocked)
        ));
        let held = ObjectLock {
            legal_hold: Some(true),
            ..Default::default()
        };
        vfs.set_object_lock("bkt", "k", None, LockChange::LegalHold(true), false)
            .await
            .unwrap();
        assert_eq!(vfs.head_object("bkt", "k").await.unwrap().attrs.lock, held);
        assert!(matches!(
            vfs.delete_version("bkt", "k", &current, true).await,
            Err(VfsError::ObjectLocked)
        ));
        vfs.delete_version("bkt", "k", &old, true).await.unwrap();
        // A delete marker still goes on top of a held version.
        let marked = vfs.add_delete_marker("bkt", "k").await.unwrap().unwrap();
        assert!(marked.delete_marker);
        vfs.delete_version("bkt", "k", &marked.version_id, false)
            .await
            .unwrap();
        assert_eq!(vfs.head_object("bkt", "k").await.unwrap().attrs.lock, held);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_new_version_gets_the_default_retention_when_it_is_published() {
        let dir = tempfile::tempdir().unwrap();
        let vfs = Vfs::open_unsynced(dir.path()).await;
        vfs.create_locked_bucket("bkt", None).await.unwrap();
        let default = DefaultRetention {
            mode: RetentionMode::Compliance,
            period: RetentionPeriod::Days(1),
        };
        vfs.update_bucket("bkt", |r| {
            r.object_lock = Some(LockConfig {
                default_retention: Some(default),
            });
            Ok(())
        })
        .await
        .unwrap();
        let before = now_ns();
        put(&vfs, "k", ObjectLock::default()).await;
        let r = vfs
            .head_object("bkt", "k")
            .await
            .unwrap()
            .attrs
            .lock
            .retention;
        let r = r.expect("no default retention stamped");
        assert_eq!(r.mode, RetentionMode::Compliance);
        assert!((before + DAY_NS..=now_ns() + DAY_NS).contains(&r.until_ns));
    }
}
