//! What a bucket's policy says of a request, for the permission decision (`access::decide`)
//! to apply: an explicit Deny refuses anyone but an administrator, an Allow grants as an ACL
//! grant does. The bucket's owner can always read, change and delete the policy itself, so that
//! no policy locks it out of its own bucket; an anonymous request never can, whatever the
//! policy says.

use std::collections::HashMap;

use actix_web::dev::RequestHead;
use s3gate_vfs::{BucketRecord, Vfs};

use super::facts::{Caller as Principal, RequestFacts, Target};
use super::{condition, verdict, Effect, Policy};
use crate::access::{Caller, Facts};
use crate::ctx::ServerState;
use crate::error::S3Result;
use crate::headers::header;
use crate::router::{Op, Query};
use crate::tags;

/// The request as a policy judges it: who asks, for what, and the request's own head.
pub(crate) struct Asked<'a> {
    pub(crate) head: &'a RequestHead,
    pub(crate) query: &'a Query,
    pub(crate) state: &'a ServerState,
    /// What the request is served from (the caller's own root, or the served remote).
    pub(crate) vfs: &'a Vfs,
    pub(crate) caller: &'a Caller,
    pub(crate) op: &'a Op,
    pub(crate) bucket: &'a str,
    pub(crate) key: &'a str,
}

/// What the policies a request is judged by say of it (the bucket's, and for a copy its
/// source bucket's too): Deny if one denies it, Allow if all allow it, else nothing; nothing
/// too where there is nothing to judge (an administrator, an operation no policy names, a
/// bucket that is not there, which the decision answers). The bucket's owner is always allowed
/// its own policy.
pub(crate) async fn verdict_of(
    asked: &Asked<'_>,
    records: &impl Facts,
) -> S3Result<Option<Effect>> {
    let principal = match asked.caller {
        Caller::Admin => return Ok(None),
        Caller::User { key, id, .. } => Principal {
            access_key: Some(key.clone()),
            canonical_id: Some(id.clone()),
        },
        Caller::Anonymous => Principal::default(),
    };
    let op = asked.op;
    let Some(action) = op.action() else {
        return Ok(None);
    };
    // S3 lets only the owner's account read or change a bucket's policy and its public access
    // block: an anonymous request never may, whatever the policy says.
    if principal.access_key.is_none() && guards_the_policy(op) {
        return Ok(None);
    }
    let Ok(record) = records.bucket(asked.bucket).await else {
        return Ok(None);
    };
    let owner = match (&record.owner, &principal.access_key) {
        (Some(owner), Some(caller)) => owner == caller,
        // A bucket made by other means belongs to whoever asks with a key.
        (None, Some(_)) => true,
        (_, None) => false,
    };
    if owner
        && matches!(
            op,
            Op::GetBucketPolicy | Op::PutBucketPolicy | Op::DeleteBucketPolicy
        )
    {
        return Ok(Some(Effect::Allow));
    }
    let policy = stored(&record, asked.bucket)?;
    let reads_tags = policy.as_ref().is_some_and(Policy::reads_existing_tags);
    let target = target(op, asked.bucket, asked.key);
    let facts = facts(asked, principal, action, target, reads_tags).await;
    let mut says = vec![judge(policy.as_ref(), &record, &facts)];
    // A copy also reads its source, under the source bucket's policy.
    if let Op::CopyObject { source } | Op::UploadPartCopy { source, .. } = op {
        let read = match source.version_id {
            Some(_) => "s3:GetObjectVersion",
            None => "s3:GetObject",
        };
        let of_source = RequestFacts {
            action: read,
            target: Target::Named(format!("{}/{}", source.bucket, source.key)),
            ..facts.clone()
        };
        says.push(match records.bucket(&source.bucket).await {
            Ok(r) => judge(stored(&r, &source.bucket)?.as_ref(), &r, &of_source),
            // The decision answers for a source bucket that is not there.
            Err(_) => None,
        });
    }
    Ok(if says.contains(&Some(Effect::Deny)) {
        Some(Effect::Deny)
    } else if says.iter().all(|s| *s == Some(Effect::Allow)) {
        Some(Effect::Allow)
    } else {
        None
    })
}

/// The operations that read or change what guards the bucket: its policy and its public
/// access block.
fn guards_the_policy(op: &Op) -> bool {
    matches!(
        op,
        Op::GetBucketPolicy
            | Op::PutBucketPolicy
            | Op::DeleteBucketPolicy
            | Op::GetPublicAccessBlock
            | Op::PutPublicAccessBlock
            | Op::DeletePublicAccessBlock
    )
}

/// The bucket's policy, parsed; none when it has none.
fn stored(record: &BucketRecord, bucket: &str) -> S3Result<Option<Policy>> {
    record
        .policy
        .as_deref()
        .map(|text| Policy::stored(text, bucket))
        .transpose()
}

/// What the bucket's policy says of the request, under its public access block.
fn judge(policy: Option<&Policy>, record: &BucketRecord, facts: &RequestFacts) -> Option<Effect> {
    let restrict = record
        .public_access_block
        .is_some_and(|b| b.restrict_public_buckets);
    verdict(policy?, facts, restrict)
}

/// The resource the operation acts on.
fn target(op: &Op, bucket: &str, key: &str) -> Target {
    match op {
        Op::DeleteObjects => Target::AnyObject(bucket.to_string()),
        _ if key.is_empty() => Target::Named(bucket.to_string()),
        _ => Target::Named(format!("{bucket}/{key}")),
    }
}

/// The request's facts, gathered once: the object's tags are read only when the policy has a
/// condition on them.
async fn facts(
    asked: &Asked<'_>,
    caller: Principal,
    action: &'static str,
    target: Target,
    reads_tags: bool,
) -> RequestFacts {
    let mut values = HashMap::new();
    if let Some(peer) = asked.head.peer_addr {
        values.insert("aws:sourceip".into(), peer.ip().to_string());
    }
    let secure = asked.state.config.server.cert.is_some();
    values.insert("aws:securetransport".into(), secure.to_string());
    if let Ok(now) =
        time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339)
    {
        values.insert("aws:currenttime".into(), now);
    }
    for (key, name) in [
        ("aws:referer", "referer"),
        ("aws:useragent", "user-agent"),
        ("s3:x-amz-acl", "x-amz-acl"),
        ("s3:x-amz-copy-source", "x-amz-copy-source"),
        ("s3:x-amz-metadata-directive", "x-amz-metadata-directive"),
        (
            "s3:x-amz-server-side-encryption",
            "x-amz-server-side-encryption",
        ),
    ] {
        if let Some(v) = header(asked.head, name) {
            values.insert(key.into(), v.to_string());
        }
    }
    for (key, param) in [
        ("s3:prefix", "prefix"),
        ("s3:delimiter", "delimiter"),
        ("s3:max-keys", "max-keys"),
        ("s3:versionid", "versionId"),
    ] {
        if let Some(v) = asked.query.get(param) {
            values.insert(key.into(), v.to_string());
        }
    }
    // A malformed header is the handler's to refuse; until then it carries no tags.
    for (k, v) in tags::from_header_map(&asked.head.headers).unwrap_or_default() {
        values.insert(format!("{}{k}", condition::REQUEST_TAG), v);
    }
    if reads_tags && !asked.key.is_empty() {
        // An object that is not there has no tags: its conditions see the keys absent.
        if let Ok(info) = asked.vfs.head_object(asked.bucket, asked.key).await {
            for (k, v) in info.attrs.tags {
                values.insert(format!("{}{k}", condition::EXISTING_TAG), v);
            }
        }
    }
    RequestFacts {
        caller,
        action,
        target,
        values,
    }
}
