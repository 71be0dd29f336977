//! Version ids, as data the index records carry: a version's id (a counter, then the time of
//! its making) and what a client names with `versionId=`. Handing ids out is `core.rs`'s counter;
//! what versions do is `version.rs`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One version of an object. `null` is the version written while versioning was never enabled
/// or suspended: it keeps the counter it was made with (for its place in the key's history) but
/// answers as `null`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct VersionId {
    pub(crate) seq: u64,
    /// Milliseconds since the Unix epoch when the id was made.
    pub(crate) ms: u64,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) null: bool,
}

impl VersionId {
    /// The `null` version of an object written before versioning was enabled: older than
    /// every other version of its key.
    pub(crate) const ORIGINAL: VersionId = VersionId {
        seq: 0,
        ms: 0,
        null: true,
    };

    /// The id without its `null` standing: unique, whatever the version answers as (the name
    /// of its file in the store).
    pub(crate) fn unique(&self) -> String {
        format!("{:016x}{:012x}", self.seq, self.ms)
    }
}

/// What a client names (`versionId=`): `null`, or an id this server made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VersionRef {
    Null,
    Id { seq: u64, ms: u64 },
}

impl VersionRef {
    /// `None` for anything this server never makes (S3 answers such an id 400
    /// `InvalidArgument`).
    pub(crate) fn parse(s: &str) -> Option<VersionRef> {
        if s == "null" {
            return Some(VersionRef::Null);
        }
        if s.len() != 28 || !s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        let seq = u64::from_str_radix(&s[..16], 16).ok()?;
        let ms = u64::from_str_radix(&s[16..], 16).ok()?;
        Some(VersionRef::Id { seq, ms })
    }

    /// Whether `id` is the version named.
    pub(crate) fn names(&self, id: &VersionId) -> bool {
        match self {
            VersionRef::Null => id.null,
            VersionRef::Id { seq, ms } => !id.null && id.seq == *seq && id.ms == *ms,
        }
    }
}

impl fmt::Display for VersionId {
    /// As clients see it: `null`, or lower-case hex that sorts as the versions were made.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.null {
            true => f.write_str("null"),
            false => f.write_str(&self.unique()),
        }
    }
}
