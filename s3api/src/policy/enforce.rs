//! Where a bucket's policy meets a request, right after the caller's own limits
//! (`dispatch::permit`): an explicit Deny refuses anyone but an administrator; an anonymous
//! request on a server with keys goes on only with an Allow; the server's users keep what their
//! keys allow them unless denied. The bucket's owner can always read, change and delete the
//! policy itself, so that no policy locks it out of its own bucket.

use std::collections::HashMap;

use s3gate_vfs::BucketRecord;

use super::facts::{Caller, RequestFacts, Target};
use super::{condition, verdict, Effect, Policy};
use crate::acl;
use crate::ctx::Ctx;
use crate::error::{S3Error, S3Result};
use crate::router::Op;
use crate::tags;

fn denied() -> S3Error {
    S3Error::access_denied("Access Denied")
}

/// Whether the bucket's policy lets the request through.
pub(crate) async fn enforce(ctx: &Ctx, op: &Op) -> S3Result<()> {
    if ctx.administrator() {
        return Ok(());
    }
    let public = ctx.auth.public;
    // S3 lets only the owner's account read or change a bucket's policy and its public access
    // block: an anonymous request never may, whatever the policy says.
    if public && guards_the_policy(op) {
        return Err(denied());
    }
    match request_verdict(ctx, op).await? {
        Some(Effect::Deny) => Err(denied()),
        Some(Effect::Allow) => Ok(()),
        None if public => Err(denied()),
        // A user's key keeps what it allows.
        None => Ok(()),
    }
}

/// What the policies a request is judged by say of it (the bucket's, and for a copy its
/// source bucket's too): Deny if one denies it, Allow if all allow it, else nothing; nothing
/// too where there is nothing to judge (an operation no policy names, a bucket that is not
/// there, which the handler answers). The bucket's owner is always allowed its own policy.
async fn request_verdict(ctx: &Ctx, op: &Op) -> S3Result<Option<Effect>> {
    let Some(action) = op.action() else {
        return Ok(None);
    };
    let Ok(record) = ctx.bucket_record().await else {
        return Ok(None);
    };
    let owner = match (&record.owner, &ctx.auth.access_key) {
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
    let policy = stored(record, &ctx.bucket)?;
    let reads_tags = policy.as_ref().is_some_and(Policy::reads_existing_tags);
    let target = target(op, &ctx.bucket, &ctx.key);
    let facts = facts(ctx, action, target, reads_tags).await?;
    let mut says = vec![judge(policy.as_ref(), record, &facts)];
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
        let other;
        let source_record = match source.bucket == ctx.bucket {
            true => Some(record),
            false => {
                other = ctx.vfs().bucket(&source.bucket).await.ok();
                other.as_ref()
            }
        };
        says.push(match source_record {
            Some(r) => judge(stored(r, &source.bucket)?.as_ref(), r, &of_source),
            // The copy's handler answers for a source bucket that is not there.
            None => None,
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
    ctx: &Ctx,
    action: &'static str,
    target: Target,
    reads_tags: bool,
) -> S3Result<RequestFacts> {
    let caller = Caller {
        canonical_id: ctx
            .auth
            .access_key
            .as_deref()
            .map(|k| acl::canonical_id(ctx, k)),
        access_key: ctx.auth.access_key.clone(),
    };
    let mut values = HashMap::new();
    if let Some(peer) = ctx.req.peer_addr() {
        values.insert("aws:sourceip".into(), peer.ip().to_string());
    }
    let secure = ctx.state.config.server.cert.is_some();
    values.insert("aws:securetransport".into(), secure.to_string());
    if let Ok(now) =
        time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339)
    {
        values.insert("aws:currenttime".into(), now);
    }
    for (key, header) in [
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
        if let Some(v) = ctx.header(header) {
            values.insert(key.into(), v.to_string());
        }
    }
    for (key, param) in [
        ("s3:prefix", "prefix"),
        ("s3:delimiter", "delimiter"),
        ("s3:max-keys", "max-keys"),
        ("s3:versionid", "versionId"),
    ] {
        if let Some(v) = ctx.query.get(param) {
            values.insert(key.into(), v.to_string());
        }
    }
    for (k, v) in tags::from_header(&ctx.req)? {
        values.insert(format!("{}{k}", condition::REQUEST_TAG), v);
    }
    if reads_tags && !ctx.key.is_empty() {
        // An object that is not there has no tags: its conditions see the keys absent.
        if let Ok(info) = ctx.vfs().head_object(&ctx.bucket, &ctx.key).await {
            for (k, v) in info.attrs.tags {
                values.insert(format!("{}{k}", condition::EXISTING_TAG), v);
            }
        }
    }
    Ok(RequestFacts {
        caller,
        action,
        target,
        values,
    })
}
