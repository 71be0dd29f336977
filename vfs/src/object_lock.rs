//! Object lock: what keeps a version from being removed or replaced for good. A version's lock
//! (a retention: a mode and a date it holds until; a legal hold) is part of its record
//! ([`ObjectAttrs::lock`](crate::index::ObjectAttrs::lock)), so that it follows the version
//! into the version store when a newer one replaces it. A bucket's record holds whether lock is
//! enabled there and its default retention ([`LockConfig`]), stamped on each new version as it
//! is published (`commit.rs`).
//!
//! The one guard is [`ObjectLock::guard`]: every path that removes a version for good, or
//! replaces the `null` one, asks it under the key's lock (`version.rs`: [`Vfs::delete_version`],
//! [`Vfs::replacing`]), and so does a change that would weaken a retention ([`Relock`]).
//! COMPLIANCE and a legal hold never yield; GOVERNANCE yields to a caller that may bypass it.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::commit::{At, Change};
use crate::error::{Result, VfsError};
use crate::meta::Tree;
use crate::object::now_ns;
use crate::version::VersionRef;
use crate::vfs::Vfs;

/// How a retention holds: GOVERNANCE yields to those allowed to bypass it, COMPLIANCE to no one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RetentionMode {
    Governance,
    Compliance,
}

/// A version kept until a date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    pub mode: RetentionMode,
    /// Until when, in nanoseconds since the Unix epoch.
    pub until_ns: i64,
}

/// The lock of one version: its retention, and its legal hold (`None` when never set, which
/// S3 answers differently from one set off).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectLock {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_hold: Option<bool>,
}

/// A bucket's object lock configuration: present once lock is enabled (it never goes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockConfig {
    /// The retention each new version gets when its writer names none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_retention: Option<DefaultRetention>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultRetention {
    pub mode: RetentionMode,
    pub period: RetentionPeriod,
}

/// A default retention's length, as the configuration names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RetentionPeriod {
    Days(u32),
    Years(u32),
}

const DAY_NS: i64 = 86_400 * 1_000_000_000;

impl DefaultRetention {
    /// The retention of a version written at `now_ns`. Years are calendar years (29 February
    /// ending on 28 February), so that no year is a day short.
    pub(crate) fn from(&self, now_ns: i64) -> Retention {
        let until_ns = match self.period {
            RetentionPeriod::Days(d) => now_ns.saturating_add(i64::from(d) * DAY_NS),
            RetentionPeriod::Years(y) => add_years(now_ns, y),
        };
        Retention {
            mode: self.mode,
            until_ns,
        }
    }
}

/// `at` (ns since 1970) `years` calendar years later; 29 February ends on 28 February in a
/// year without one.
fn add_years(at: i64, years: u32) -> i64 {
    let Ok(t) = OffsetDateTime::from_unix_timestamp_nanos(i128::from(at)) else {
        return i64::MAX;
    };
    let year = i32::try_from(years)
        .ok()
        .and_then(|y| t.year().checked_add(y));
    let date = year.and_then(|year| {
        t.date()
            .replace_year(year)
            .or_else(|_| t.date().replace_day(28).and_then(|d| d.replace_year(year)))
            .ok()
    });
    date.map_or(i64::MAX, |d| {
        i64::try_from(t.replace_date(d).unix_timestamp_nanos()).unwrap_or(i64::MAX)
    })
}

impl ObjectLock {
    pub fn is_unset(&self) -> bool {
        *self == ObjectLock::default()
    }

    /// The guard of every destructive change of a version (its removal for good, its
    /// replacement): refused while a legal hold is on or a retention runs, unless the retention
    /// is GOVERNANCE and the caller may bypass it.
    pub(crate) fn guard(&self, bypass_governance: bool) -> Result<()> {
        if self.legal_hold == Some(true) {
            return Err(VfsError::ObjectLocked);
        }
        match self.retention {
            Some(r) if r.until_ns > now_ns() => match r.mode {
                RetentionMode::Governance if bypass_governance => Ok(()),
                _ => Err(VfsError::ObjectLocked),
            },
            _ => Ok(()),
        }
    }

    /// Whether the retention may become `new`: extending it (a later date, or GOVERNANCE made
    /// COMPLIANCE) always may; anything else is a weakening of a running retention, which the
    /// guard decides.
    fn may_become(&self, new: Option<Retention>, bypass_governance: bool) -> Result<()> {
        let Some(old) = self.retention.filter(|r| r.until_ns > now_ns()) else {
            return Ok(());
        };
        let stronger = new.is_some_and(|n| {
            n.until_ns >= old.until_ns
                && (n.mode == RetentionMode::Compliance || old.mode == RetentionMode::Governance)
        });
        if stronger {
            return Ok(());
        }
        let retention_only = ObjectLock {
            retention: Some(old),
            legal_hold: None,
        };
        retention_only.guard(bypass_governance)
    }
}

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

impl Change for Relock {
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
        Ok(match self.index.get_in(Tree::Buckets, bucket.as_bytes())? {
            Some(v) => crate::bucket::decode(&v)?.object_lock,
            None => None,
        })
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
    use time::macros::datetime;

    use super::*;

    #[test]
    fn a_default_retention_in_years_counts_calendar_years() {
        let years = DefaultRetention {
            mode: RetentionMode::Governance,
            period: RetentionPeriod::Years(1),
        };
        // 2000-02-29 12:00 + 1 year = 2001-02-28 12:00; 2001-03-01 + 1 = 2002-03-01.
        let ns = |t: OffsetDateTime| t.unix_timestamp_nanos() as i64;
        let leap = ns(datetime!(2000-02-29 12:00 UTC));
        assert_eq!(
            years.from(leap).until_ns,
            ns(datetime!(2001-02-28 12:00 UTC))
        );
        let march = ns(datetime!(2001-03-01 0:00 UTC));
        assert_eq!(
            years.from(march).until_ns,
            ns(datetime!(2002-03-01 0:00 UTC))
        );
        let four = DefaultRetention {
            mode: RetentionMode::Governance,
            period: RetentionPeriod::Years(4),
        };
        assert_eq!(
            four.from(leap).until_ns,
            ns(datetime!(2004-02-29 12:00 UTC))
        );
        let days = DefaultRetention {
            mode: RetentionMode::Compliance,
            period: RetentionPeriod::Days(3),
        };
        assert_eq!(days.from(5).until_ns, 5 + 3 * DAY_NS);
    }

    #[test]
    fn the_guard_yields_only_to_a_bypassed_governance_retention() {
        let future = now_ns() + DAY_NS;
        let past = now_ns() - DAY_NS;
        let lock = |mode, until_ns, hold| ObjectLock {
            retention: Some(Retention { mode, until_ns }),
            legal_hold: hold,
        };
        use RetentionMode::*;
        assert!(ObjectLock::default().guard(false).is_ok());
        assert!(lock(Governance, future, None).guard(false).is_err());
        assert!(lock(Governance, future, None).guard(true).is_ok());
        assert!(lock(Compliance, future, None).guard(true).is_err());
        assert!(lock(Compliance, past, Some(false)).guard(false).is_ok());
        assert!(lock(Governance, past, Some(true)).guard(true).is_err());
        // Extending always may; shortening, lifting or weakening only as the guard says.
        let gov = lock(Governance, future, None);
        let later = |mode| {
            Some(Retention {
                mode,
                until_ns: future + 1,
            })
        };
        assert!(gov.may_become(later(Governance), false).is_ok());
        assert!(gov.may_become(later(Compliance), false).is_ok());
        assert!(gov.may_become(None, false).is_err());
        assert!(gov.may_become(None, true).is_ok());
        let comp = lock(Compliance, future, None);
        assert!(comp.may_become(later(Compliance), false).is_ok());
        assert!(comp.may_become(later(Governance), true).is_err());
        assert!(comp.may_become(None, true).is_err());
        // A retention that ran out is no longer a lock.
        assert!(lock(Compliance, past, None).may_become(None, false).is_ok());
    }

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
