//! A version's lock and a bucket's lock configuration, as data: what a record carries
//! (`ObjectAttrs::lock` in the index, `BucketRecord::object_lock`), below the index, and the one
//! guard that reads it ([`ObjectLock::guard`]). Changing a lock is `object_lock.rs`.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::clock::now_ns;
use crate::error::{Result, VfsError};

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

pub(crate) const DAY_NS: i64 = 86_400 * 1_000_000_000;

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
    pub(crate) fn may_become(&self, new: Option<Retention>, bypass_governance: bool) -> Result<()> {
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
}
