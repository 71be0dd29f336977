//! The IAM action names of S3 that a bucket policy may name, what each applies to, and the one
//! each operation of this server is checked as ([`Op::action`]).

use crate::router::Op;

/// What an action applies to: the bucket (`arn:aws:s3:::bucket`), its objects
/// (`arn:aws:s3:::bucket/key`), or neither (an account's action, which no bucket policy grants).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    Account,
    Bucket,
    Object,
}

/// S3's actions, as its authorization reference spells them.
pub(crate) const ACTIONS: &[(&str, Level)] = &[
    ("s3:ListAllMyBuckets", Level::Account),
    ("s3:CreateBucket", Level::Account),
    ("s3:DeleteBucket", Level::Bucket),
    ("s3:ListBucket", Level::Bucket),
    ("s3:ListBucketVersions", Level::Bucket),
    ("s3:ListBucketMultipartUploads", Level::Bucket),
    ("s3:GetBucketLocation", Level::Bucket),
    ("s3:GetBucketAcl", Level::Bucket),
    ("s3:PutBucketAcl", Level::Bucket),
    ("s3:GetBucketVersioning", Level::Bucket),
    ("s3:PutBucketVersioning", Level::Bucket),
    ("s3:GetBucketCORS", Level::Bucket),
    ("s3:PutBucketCORS", Level::Bucket),
    ("s3:GetLifecycleConfiguration", Level::Bucket),
    ("s3:PutLifecycleConfiguration", Level::Bucket),
    ("s3:GetBucketPolicy", Level::Bucket),
    ("s3:PutBucketPolicy", Level::Bucket),
    ("s3:DeleteBucketPolicy", Level::Bucket),
    ("s3:GetBucketPolicyStatus", Level::Bucket),
    ("s3:GetBucketOwnershipControls", Level::Bucket),
    ("s3:PutBucketOwnershipControls", Level::Bucket),
    ("s3:GetEncryptionConfiguration", Level::Bucket),
    ("s3:PutEncryptionConfiguration", Level::Bucket),
    ("s3:GetReplicationConfiguration", Level::Bucket),
    ("s3:PutReplicationConfiguration", Level::Bucket),
    ("s3:GetBucketWebsite", Level::Bucket),
    ("s3:PutBucketWebsite", Level::Bucket),
    ("s3:DeleteBucketWebsite", Level::Bucket),
    ("s3:GetBucketPublicAccessBlock", Level::Bucket),
    ("s3:PutBucketPublicAccessBlock", Level::Bucket),
    ("s3:GetBucketLogging", Level::Bucket),
    ("s3:PutBucketLogging", Level::Bucket),
    ("s3:GetAccelerateConfiguration", Level::Bucket),
    ("s3:PutAccelerateConfiguration", Level::Bucket),
    ("s3:GetBucketRequestPayment", Level::Bucket),
    ("s3:PutBucketRequestPayment", Level::Bucket),
    ("s3:GetBucketTagging", Level::Bucket),
    ("s3:PutBucketTagging", Level::Bucket),
    ("s3:GetBucketObjectLockConfiguration", Level::Bucket),
    ("s3:PutBucketObjectLockConfiguration", Level::Bucket),
    ("s3:GetObject", Level::Object),
    ("s3:GetObjectVersion", Level::Object),
    ("s3:GetObjectAttributes", Level::Object),
    ("s3:GetObjectVersionAttributes", Level::Object),
    ("s3:PutObject", Level::Object),
    ("s3:DeleteObject", Level::Object),
    ("s3:DeleteObjectVersion", Level::Object),
    ("s3:GetObjectAcl", Level::Object),
    ("s3:GetObjectVersionAcl", Level::Object),
    ("s3:PutObjectAcl", Level::Object),
    ("s3:PutObjectVersionAcl", Level::Object),
    ("s3:GetObjectTagging", Level::Object),
    ("s3:GetObjectVersionTagging", Level::Object),
    ("s3:PutObjectTagging", Level::Object),
    ("s3:PutObjectVersionTagging", Level::Object),
    ("s3:DeleteObjectTagging", Level::Object),
    ("s3:DeleteObjectVersionTagging", Level::Object),
    ("s3:GetObjectRetention", Level::Object),
    ("s3:PutObjectRetention", Level::Object),
    ("s3:GetObjectLegalHold", Level::Object),
    ("s3:PutObjectLegalHold", Level::Object),
    ("s3:BypassGovernanceRetention", Level::Object),
    ("s3:AbortMultipartUpload", Level::Object),
    ("s3:ListMultipartUploadParts", Level::Object),
];

/// The name, or its versioned form when the request names a version.
fn versioned(
    version_id: &Option<String>,
    plain: &'static str,
    of_version: &'static str,
) -> &'static str {
    match version_id {
        Some(_) => of_version,
        None => plain,
    }
}

impl Op {
    /// The action a bucket policy checks this operation as; `None` for those it is never
    /// checked on: the bucket listing (an account's action) and the requests that carry no S3
    /// signature (a preflight; a form upload, checked against its own policy document).
    pub(crate) fn action(&self) -> Option<&'static str> {
        Some(match self {
            Op::ListBuckets { .. } | Op::CorsPreflight | Op::PostObject => return None,
            Op::CreateBucket => "s3:CreateBucket",
            Op::DeleteBucket => "s3:DeleteBucket",
            Op::HeadBucket | Op::ListObjects { .. } | Op::ListObjectsV2 { .. } => "s3:ListBucket",
            Op::ListObjectVersions { .. } => "s3:ListBucketVersions",
            Op::ListMultipartUploads { .. } => "s3:ListBucketMultipartUploads",
            Op::GetBucketLocation => "s3:GetBucketLocation",
            Op::GetBucketAcl => "s3:GetBucketAcl",
            Op::GetBucketVersioning => "s3:GetBucketVersioning",
            Op::PutBucketVersioning => "s3:PutBucketVersioning",
            Op::GetBucketCors => "s3:GetBucketCORS",
            // S3 has no action of its own for removing the rules.
            Op::PutBucketCors | Op::DeleteBucketCors => "s3:PutBucketCORS",
            Op::GetBucketLifecycleConfiguration => "s3:GetLifecycleConfiguration",
            Op::GetBucketPolicy => "s3:GetBucketPolicy",
            Op::PutBucketPolicy => "s3:PutBucketPolicy",
            Op::DeleteBucketPolicy => "s3:DeleteBucketPolicy",
            Op::GetBucketPolicyStatus => "s3:GetBucketPolicyStatus",
            Op::GetBucketOwnershipControls => "s3:GetBucketOwnershipControls",
            Op::GetBucketEncryption => "s3:GetEncryptionConfiguration",
            Op::GetBucketReplication => "s3:GetReplicationConfiguration",
            Op::GetBucketWebsite => "s3:GetBucketWebsite",
            Op::GetPublicAccessBlock => "s3:GetBucketPublicAccessBlock",
            Op::PutPublicAccessBlock | Op::DeletePublicAccessBlock => {
                "s3:PutBucketPublicAccessBlock"
            }
            Op::GetBucketLogging => "s3:GetBucketLogging",
            Op::GetBucketAccelerateConfiguration => "s3:GetAccelerateConfiguration",
            Op::GetBucketRequestPayment => "s3:GetBucketRequestPayment",
            Op::GetBucketTagging => "s3:GetBucketTagging",
            Op::PutBucketTagging | Op::DeleteBucketTagging => "s3:PutBucketTagging",
            Op::GetObjectLockConfiguration => "s3:GetBucketObjectLockConfiguration",
            Op::PutObjectLockConfiguration => "s3:PutBucketObjectLockConfiguration",
            Op::HeadObject { version_id, .. } | Op::GetObject { version_id, .. } => {
                versioned(version_id, "s3:GetObject", "s3:GetObjectVersion")
            }
            Op::PutBucketOwnershipControls | Op::DeleteBucketOwnershipControls => {
                "s3:PutBucketOwnershipControls"
            }
            Op::PutBucketAcl => "s3:PutBucketAcl",
            Op::GetObjectAcl { version_id } => {
                versioned(version_id, "s3:GetObjectAcl", "s3:GetObjectVersionAcl")
            }
            Op::PutObjectAcl { version_id } => {
                versioned(version_id, "s3:PutObjectAcl", "s3:PutObjectVersionAcl")
            }
            Op::PutBucketLifecycleConfiguration | Op::DeleteBucketLifecycle => {
                "s3:PutLifecycleConfiguration"
            }
            Op::GetObjectAttributes { version_id, .. } => versioned(
                version_id,
                "s3:GetObjectAttributes",
                "s3:GetObjectVersionAttributes",
            ),
            Op::PutObject
            | Op::CopyObject { .. }
            | Op::CreateMultipartUpload
            | Op::UploadPart { .. }
            | Op::UploadPartCopy { .. }
            | Op::CompleteMultipartUpload { .. } => "s3:PutObject",
            Op::DeleteObjects => "s3:DeleteObject",
            Op::DeleteObject { version_id } => {
                versioned(version_id, "s3:DeleteObject", "s3:DeleteObjectVersion")
            }
            Op::AbortMultipartUpload { .. } => "s3:AbortMultipartUpload",
            Op::ListParts { .. } => "s3:ListMultipartUploadParts",
            Op::GetObjectTagging { version_id } => versioned(
                version_id,
                "s3:GetObjectTagging",
                "s3:GetObjectVersionTagging",
            ),
            Op::PutObjectTagging { version_id } => versioned(
                version_id,
                "s3:PutObjectTagging",
                "s3:PutObjectVersionTagging",
            ),
            Op::DeleteObjectTagging { version_id } => versioned(
                version_id,
                "s3:DeleteObjectTagging",
                "s3:DeleteObjectVersionTagging",
            ),
            Op::GetObjectRetention { .. } => "s3:GetObjectRetention",
            Op::PutObjectRetention { .. } => "s3:PutObjectRetention",
            Op::GetObjectLegalHold { .. } => "s3:GetObjectLegalHold",
            Op::PutObjectLegalHold { .. } => "s3:PutObjectLegalHold",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_an_operation_is_checked_as_is_one_a_policy_may_name() {
        let v = || Some("v".to_string());
        let ops = [
            Op::CreateBucket,
            Op::DeleteBucket,
            Op::HeadBucket,
            Op::GetBucketLocation,
            Op::GetBucketAcl,
            Op::GetBucketVersioning,
            Op::PutBucketVersioning,
            Op::PutBucketCors,
            Op::GetBucketCors,
            Op::DeleteBucketCors,
            Op::GetBucketLifecycleConfiguration,
            Op::GetBucketPolicy,
            Op::GetBucketOwnershipControls,
            Op::GetBucketEncryption,
            Op::GetBucketReplication,
            Op::GetBucketWebsite,
            Op::GetPublicAccessBlock,
            Op::GetBucketLogging,
            Op::GetBucketAccelerateConfiguration,
            Op::GetBucketRequestPayment,
            Op::GetBucketPolicyStatus,
            Op::PutBucketPolicy,
            Op::DeleteBucketPolicy,
            Op::PutPublicAccessBlock,
            Op::DeletePublicAccessBlock,
            Op::DeleteObjects,
            Op::GetObjectAcl { version_id: v() },
            Op::PutObjectAcl { version_id: None },
            Op::PutBucketAcl,
            Op::PutBucketOwnershipControls,
            Op::DeleteBucketOwnershipControls,
            Op::PutBucketLifecycleConfiguration,
            Op::DeleteBucketLifecycle,
            Op::PutObject,
            Op::CreateMultipartUpload,
            Op::GetBucketTagging,
            Op::PutBucketTagging,
            Op::DeleteBucketTagging,
            Op::GetObjectLockConfiguration,
            Op::PutObjectLockConfiguration,
            Op::GetObject {
                version_id: v(),
                part_number: None,
            },
            Op::HeadObject {
                version_id: None,
                part_number: None,
            },
            Op::DeleteObject { version_id: v() },
            Op::GetObjectTagging { version_id: v() },
            Op::PutObjectTagging { version_id: None },
            Op::DeleteObjectTagging { version_id: v() },
            Op::GetObjectRetention { version_id: None },
            Op::PutObjectRetention { version_id: None },
            Op::GetObjectLegalHold { version_id: None },
            Op::PutObjectLegalHold { version_id: None },
            Op::AbortMultipartUpload {
                upload_id: "u".into(),
            },
            Op::CompleteMultipartUpload {
                upload_id: "u".into(),
            },
            Op::UploadPart {
                upload_id: "u".into(),
                part_number: 1,
            },
        ];
        for op in ops {
            let Some(action) = op.action() else {
                panic!("{op:?} is never checked");
            };
            let level = ACTIONS.iter().find(|(a, _)| *a == action).map(|(_, l)| *l);
            assert!(level.is_some(), "{op:?}: {action} is not one of S3's");
            // Only making a bucket is an account's action, which no bucket policy names.
            assert_eq!(
                level == Some(Level::Account),
                op == Op::CreateBucket,
                "{op:?}"
            );
        }
        assert_eq!(
            Op::GetObject {
                version_id: v(),
                part_number: None
            }
            .action(),
            Some("s3:GetObjectVersion")
        );
        assert_eq!(Op::CorsPreflight.action(), None);
        assert_eq!(Op::PostObject.action(), None);
    }
}
