//! A bucket's lifecycle rules as its record keeps them, and what they say of one object: whether
//! a rule applies to it and when its actions fall due. The rules are checked when they are set
//! by the S3 layer; `lifecycle.rs` runs them.
//!
//! Times are nanoseconds since the Unix epoch. S3 counts a rule's days from an object's
//! creation (or the moment a version became noncurrent, or an upload began) and rounds the
//! result up to the next midnight UTC; here "a day" is `day` long (`--lifecycle-day`), and
//! midnight is every multiple of it since the epoch.

use serde::{Deserialize, Serialize};

/// One `<Rule>` of a bucket's lifecycle configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleRule {
    /// The rule's ID (one is made up when the configuration gives none, as S3 does).
    pub id: String,
    /// `Enabled`; a `Disabled` rule is kept but does nothing.
    pub enabled: bool,
    pub filter: LifecycleFilter,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration: Option<Expiration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noncurrent_expiration: Option<NoncurrentExpiration>,
    /// `AbortIncompleteMultipartUpload`'s `DaysAfterInitiation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort_upload_days: Option<u32>,
}

/// Which objects a rule applies to: every condition given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleFilter {
    /// How the configuration wrote the filter, so that it is read back as written.
    #[serde(default)]
    pub shape: FilterShape,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prefix: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_greater_than: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_less_than: Option<u64>,
}

/// The form a rule's filter was given in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum FilterShape {
    /// `<Filter>` with at most one condition.
    #[default]
    Filter,
    /// `<Filter><And>…</And></Filter>`.
    And,
    /// The older rule-level `<Prefix>`, without a `<Filter>`.
    RulePrefix,
}

/// When the current version of an object expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Expiration {
    /// That many days after it was written.
    Days(u32),
    /// At that midnight UTC, in seconds since the epoch.
    Date(i64),
    /// Only delete markers that are the last version of their key go.
    ExpiredObjectDeleteMarker,
}

/// When noncurrent versions go: `days` after they became noncurrent, except the
/// `newer_versions` newest noncurrent ones of their key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoncurrentExpiration {
    pub days: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newer_versions: Option<u32>,
}

/// What a filter looks at in an object (or a noncurrent version).
pub(crate) struct Subject<'a> {
    pub(crate) key: &'a str,
    /// None for a delete marker, which only a prefix can select.
    pub(crate) size: Option<u64>,
    pub(crate) tags: &'a [(String, String)],
}

impl LifecycleFilter {
    pub(crate) fn matches(&self, s: &Subject<'_>) -> bool {
        if !s.key.starts_with(&self.prefix) {
            return false;
        }
        let sized = self.size_greater_than.is_some() || self.size_less_than.is_some();
        if s.size.is_none() && (sized || !self.tags.is_empty()) {
            return false;
        }
        let size = s.size.unwrap_or(0);
        self.size_greater_than.is_none_or(|min| size > min)
            && self.size_less_than.is_none_or(|max| size < max)
            && self.tags.iter().all(|t| s.tags.contains(t))
    }
}

/// `t` rounded up to the next "midnight".
pub(crate) fn midnight_after(t: i64, day: i64) -> i64 {
    let whole = t.div_euclid(day).saturating_mul(day);
    match whole == t {
        true => t,
        false => whole.saturating_add(day),
    }
}

/// When `days` days after `from` fall due.
pub(crate) fn due_after(from: i64, days: u32, day: i64) -> i64 {
    midnight_after(from.saturating_add(day.saturating_mul(days as i64)), day)
}

/// When the current version of an object, written at `written`, expires under the enabled
/// rules, and the ID of the rule that expires it first.
pub(crate) fn current_expiry<'r>(
    rules: &'r [LifecycleRule],
    subject: &Subject<'_>,
    written: i64,
    day: i64,
) -> Option<(i64, &'r str)> {
    rules
        .iter()
        .filter(|r| r.enabled && r.filter.matches(subject))
        .filter_map(|r| {
            let due = match r.expiration? {
                Expiration::Days(d) => due_after(written, d, day),
                Expiration::Date(secs) => secs.saturating_mul(1_000_000_000),
                Expiration::ExpiredObjectDeleteMarker => return None,
            };
            Some((due, r.id.as_str()))
        })
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000_000_000;

    fn rule(filter: LifecycleFilter, expiration: Expiration) -> LifecycleRule {
        LifecycleRule {
            id: "r".into(),
            enabled: true,
            filter,
            expiration: Some(expiration),
            ..Default::default()
        }
    }

    #[test]
    fn days_fall_due_at_the_next_midnight() {
        assert_eq!(due_after(0, 1, DAY), DAY);
        assert_eq!(due_after(1, 1, DAY), 2 * DAY);
        assert_eq!(due_after(DAY - 1, 2, DAY), 3 * DAY);
        assert_eq!(midnight_after(5 * DAY, DAY), 5 * DAY);
    }

    #[test]
    fn every_condition_of_a_filter_must_hold() {
        let tags = vec![("k".to_string(), "v".to_string())];
        let f = LifecycleFilter {
            shape: FilterShape::And,
            prefix: "logs/".into(),
            tags: tags.clone(),
            size_greater_than: Some(10),
            size_less_than: Some(100),
        };
        let s = |key, size, tags| Subject { key, size, tags };
        assert!(f.matches(&s("logs/a", Some(50), &tags)));
        assert!(!f.matches(&s("data/a", Some(50), &tags)));
        assert!(!f.matches(&s("logs/a", Some(10), &tags)));
        assert!(!f.matches(&s("logs/a", Some(100), &tags)));
        assert!(!f.matches(&s("logs/a", Some(50), &[])));
        assert!(!f.matches(&s("logs/a", None, &tags)));
        let prefix_only = LifecycleFilter {
            prefix: "logs/".into(),
            ..Default::default()
        };
        assert!(prefix_only.matches(&s("logs/a", None, &[])));
    }

    #[test]
    fn the_earliest_enabled_rule_expires_an_object() {
        let mut off = rule(Default::default(), Expiration::Days(1));
        off.enabled = false;
        off.id = "off".into();
        let mut late = rule(Default::default(), Expiration::Days(3));
        late.id = "late".into();
        let mut early = rule(Default::default(), Expiration::Days(2));
        early.id = "early".into();
        let s = Subject {
            key: "k",
            size: Some(1),
            tags: &[],
        };
        let rules = [off, late, early];
        assert_eq!(current_expiry(&rules, &s, 0, DAY), Some((2 * DAY, "early")));
        let date = [rule(Default::default(), Expiration::Date(86_400))];
        assert_eq!(current_expiry(&date, &s, 5 * DAY, DAY), Some((DAY, "r")));
        let marker = [rule(
            Default::default(),
            Expiration::ExpiredObjectDeleteMarker,
        )];
        assert_eq!(current_expiry(&marker, &s, 0, DAY), None);
    }
}
