//! A bucket's record as the index keeps it (`Tree::Buckets`: name → JSON), and its encoding.
//! Below the facade: the core reads records (`Core::bucket_record`) without knowing how buckets
//! are made or removed (`bucket/mod.rs`).

use serde::{Deserialize, Serialize};

use crate::error::{Result, VfsError};
use crate::meta::{Edit, StoreError, Tree};

use super::{cors, lifecycle};

/// What the index keeps of a bucket. Every field but `created_ns` has a serde default, so
/// that configuration added later reads as unset in records written before it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketRecord {
    /// When the bucket was made (for a bucket made by other means: when its folder was, as far
    /// as the remote knows), in nanoseconds since the Unix epoch.
    pub created_ns: i64,
    /// The access key that made the bucket through this server; none for a bucket made by
    /// other means (or by an anonymous request), which belongs to whoever asks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The bucket's versioning state.
    #[serde(default, skip_serializing_if = "Versioning::is_unversioned")]
    pub versioning: Versioning,
    /// The bucket's CORS rules (PutBucketCors), in the order given; none when not configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors: Option<Vec<cors::CorsRule>>,
    /// The bucket's tags, sorted by key; none when it has no tag set.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<(String, String)>,
    /// The bucket's ACL (PutBucketAcl, a canned ACL at creation); none: its owner's full control.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<crate::acl::Acl>,
    /// The bucket's ownership controls; records written before them read as S3's default.
    #[serde(
        default,
        skip_serializing_if = "crate::acl::ObjectOwnership::is_default"
    )]
    pub ownership: crate::acl::ObjectOwnership,
    /// The bucket's object lock configuration: none until lock is enabled, and never again
    /// none after (versioning then stays Enabled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_lock: Option<crate::retention::LockConfig>,
    /// The bucket's lifecycle rules (PutBucketLifecycleConfiguration), in the order given;
    /// none when not configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<Vec<lifecycle::LifecycleRule>>,
    /// The bucket policy (PutBucketPolicy), kept as the document was sent, byte for byte: S3
    /// answers GetBucketPolicy with it unchanged. Checked before it is stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// The bucket's public access block (PutPublicAccessBlock); none when not configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_access_block: Option<PublicAccessBlock>,
}

/// The four switches of a public access block, as S3 names them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicAccessBlock {
    /// Refuse a request that sets a public ACL.
    pub block_public_acls: bool,
    /// Grant nothing through a public ACL.
    pub ignore_public_acls: bool,
    /// Refuse a bucket policy that is public.
    pub block_public_policy: bool,
    /// A public policy grants only to the server's own users, never to anonymous requests.
    pub restrict_public_buckets: bool,
}

/// A bucket's versioning state, as S3 names it: never enabled, enabled, or suspended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Versioning {
    #[default]
    Unversioned,
    Enabled,
    Suspended,
}

impl Versioning {
    fn is_unversioned(&self) -> bool {
        *self == Versioning::Unversioned
    }
}

pub(super) fn put_record(name: &str, record: &BucketRecord) -> Edit {
    let value = serde_json::to_vec(record).unwrap_or_default();
    Edit::Put(Tree::Buckets, name.as_bytes().to_vec(), value)
}

pub(crate) fn decode(v: &[u8]) -> Result<BucketRecord> {
    serde_json::from_slice(v)
        .map_err(|e| VfsError::Store(StoreError(format!("corrupt bucket record: {e}"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_written_before_a_setting_existed_reads_it_as_unset() {
        let record = decode(br#"{"created_ns":5}"#).unwrap();
        assert_eq!(record.versioning, Versioning::Unversioned);
        assert_eq!(record.cors, None);
        assert!(record.tags.is_empty());
        assert_eq!(record.object_lock, None);
        assert_eq!(record.policy, None);
        assert_eq!(record.public_access_block, None);
        assert_eq!(serde_json::to_vec(&record).unwrap(), br#"{"created_ns":5}"#);
    }
}
