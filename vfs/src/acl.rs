//! Access control lists as the index keeps them: who owns a bucket or an object, and what each
//! grantee may do with it. Only data: what a grant means for a request is decided in `s3api`,
//! and the documents and headers that carry ACLs are read and written there.

use serde::{Deserialize, Serialize};

/// An ACL: its resource's owner and the grants, in the order given. A resource without one
/// (`None` where it is kept) has its owner's full control and nothing else: S3's `private`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acl {
    /// The access key of the owner (as [`BucketRecord::owner`](crate::BucketRecord::owner));
    /// empty for no key (an anonymous writer). For a bucket the record's owner is authoritative;
    /// an object written by another account under `ObjectWriter` belongs to its writer.
    pub owner: String,
    pub grants: Vec<Grant>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub grantee: Grantee,
    pub permission: Permission,
}

/// Whom a grant names. A grant by e-mail address is kept as the canonical id the address
/// belongs to, as S3 shows it afterwards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Grantee {
    /// A canonical user id.
    User(String),
    Group(Group),
}

impl Grantee {
    /// Whether a grant to this grantee is public as a public access block judges it: to
    /// everyone, or to every signed request.
    pub fn is_public(&self) -> bool {
        matches!(
            self,
            Grantee::Group(Group::AllUsers | Group::AuthenticatedUsers)
        )
    }
}

/// S3's predefined groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Group {
    /// Everyone, anonymous requests included.
    AllUsers,
    /// Every signed request.
    AuthenticatedUsers,
    /// S3's log delivery: accepted and shown, granting nothing here (no logs are delivered).
    LogDelivery,
}

/// The permissions an ACL grants, as S3 names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Permission {
    Read,
    Write,
    ReadAcp,
    WriteAcp,
    FullControl,
}

/// A bucket's Object Ownership setting (its ownership controls).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ObjectOwnership {
    /// ACLs are disabled: the bucket owner owns every object (S3's default for new buckets).
    #[default]
    BucketOwnerEnforced,
    /// An object written with `bucket-owner-full-control` belongs to the bucket owner.
    BucketOwnerPreferred,
    /// An object belongs to the account that wrote it.
    ObjectWriter,
    /// The ownership controls were deleted: S3 reads them as not found and behaves as
    /// `ObjectWriter`.
    Removed,
}

impl ObjectOwnership {
    pub(crate) fn is_default(&self) -> bool {
        *self == ObjectOwnership::BucketOwnerEnforced
    }
}
