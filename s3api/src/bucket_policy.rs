//! A bucket's policy (Put/Get/DeleteBucketPolicy, GetBucketPolicyStatus) and public access
//! block (Put/Get/DeletePublicAccessBlock), kept in the bucket's record. The policy is checked
//! before it is stored and stored as it was sent, so that GetBucketPolicy answers it byte for
//! byte; what it grants is applied in `policy::enforce`.

use actix_web::HttpResponse;
use s3gate_vfs::PublicAccessBlock;

use crate::ctx::Ctx;
use crate::error::{S3Error, S3Result};
use crate::intake::Lent;
use crate::policy::Policy;
use crate::xml::{self, xml_ok, Xml};

/// S3's limit on a policy, counted without the whitespace between its tokens.
const MAX_POLICY: usize = 20 * 1024;
/// The most a policy's body may hold with its whitespace.
const MAX_POLICY_BODY: usize = 64 * 1024;
const MAX_BLOCK_BODY: usize = 4 * 1024;

/// PutBucketPolicy: a public policy is refused while the bucket's public access block has
/// `BlockPublicPolicy`, judged against the block as it is when the policy is stored.
pub(crate) async fn put(ctx: &Ctx, payload: Lent) -> S3Result<HttpResponse> {
    ctx.bucket_record().await?;
    let body = ctx.small_body(ctx.body(payload)?, MAX_POLICY_BODY).await?;
    let not_json =
        || S3Error::malformed_policy("Policies must be valid JSON and the first byte must be '{'");
    let text = String::from_utf8(body).map_err(|_| not_json())?;
    let compact = serde_json::from_str::<serde_json::Value>(&text)
        .map(|v| v.to_string().len())
        .map_err(|_| not_json())?;
    if compact > MAX_POLICY {
        return Err(S3Error::policy_too_large(
            "Policy exceeds the maximum allowed document size.",
        ));
    }
    let public = Policy::parse(&text, &ctx.bucket)?.is_public();
    let stored = ctx
        .vfs()
        .update_bucket(&ctx.bucket, |r| {
            if public && r.public_access_block.is_some_and(|b| b.block_public_policy) {
                return Ok(false);
            }
            r.policy = Some(text.clone());
            Ok(true)
        })
        .await?;
    match stored {
        true => Ok(HttpResponse::NoContent().finish()),
        false => Err(S3Error::access_denied("Access Denied")),
    }
}

/// GetBucketPolicy: the document as it was put.
pub(crate) async fn get(ctx: &Ctx) -> S3Result<HttpResponse> {
    match &ctx.bucket_record().await?.policy {
        Some(text) => Ok(HttpResponse::Ok()
            .content_type("application/json")
            .body(text.clone())),
        None => Err(S3Error::no_such_bucket_policy(
            "The bucket policy does not exist",
        )),
    }
}

/// DeleteBucketPolicy: done, whether there was one or not.
pub(crate) async fn delete(ctx: &Ctx) -> S3Result<HttpResponse> {
    ctx.vfs()
        .update_bucket(&ctx.bucket, |r| {
            r.policy = None;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// GetBucketPolicyStatus: whether the policy grants something to everyone (no policy grants
/// nothing).
pub(crate) async fn status(ctx: &Ctx) -> S3Result<HttpResponse> {
    let public = match &ctx.bucket_record().await?.policy {
        Some(text) => Policy::stored(text, &ctx.bucket)?.is_public(),
        None => false,
    };
    let mut x = Xml::document("PolicyStatus", true);
    x.elem("IsPublic", if public { "true" } else { "false" });
    Ok(xml_ok(x.finish()))
}

/// The four switches, as the document names them.
const SWITCHES: [&str; 4] = [
    "BlockPublicAcls",
    "IgnorePublicAcls",
    "BlockPublicPolicy",
    "RestrictPublicBuckets",
];

fn switches(b: &mut PublicAccessBlock) -> [&mut bool; 4] {
    [
        &mut b.block_public_acls,
        &mut b.ignore_public_acls,
        &mut b.block_public_policy,
        &mut b.restrict_public_buckets,
    ]
}

/// PutPublicAccessBlock: a switch left out is off.
pub(crate) async fn put_public_access_block(ctx: &Ctx, payload: Lent) -> S3Result<HttpResponse> {
    ctx.bucket_record().await?;
    let body = ctx.small_body(ctx.body(payload)?, MAX_BLOCK_BODY).await?;
    let doc = xml::parse(&body, "PublicAccessBlockConfiguration")?;
    if let Some(other) = doc
        .children
        .iter()
        .find(|c| !SWITCHES.contains(&c.name.as_str()))
    {
        return Err(xml::malformed(&format!("unknown element {}", other.name)));
    }
    let mut block = PublicAccessBlock::default();
    for (name, switch) in SWITCHES.iter().zip(switches(&mut block)) {
        *switch = match doc.child(name).map(|n| n.text.trim()) {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => return Err(xml::malformed(&format!("{name} must be true or false"))),
        };
    }
    ctx.vfs()
        .update_bucket(&ctx.bucket, |r| {
            r.public_access_block = Some(block);
            Ok(())
        })
        .await?;
    Ok(HttpResponse::Ok().finish())
}

/// GetPublicAccessBlock.
pub(crate) async fn get_public_access_block(ctx: &Ctx) -> S3Result<HttpResponse> {
    let Some(mut block) = ctx.bucket_record().await?.public_access_block else {
        return Err(S3Error::no_such_public_access_block_configuration(
            "The public access block configuration was not found",
        ));
    };
    let mut x = Xml::document("PublicAccessBlockConfiguration", true);
    for (name, switch) in SWITCHES.iter().zip(switches(&mut block)) {
        x.elem(name, if *switch { "true" } else { "false" });
    }
    Ok(xml_ok(x.finish()))
}

/// DeletePublicAccessBlock: done, whether there was one or not.
pub(crate) async fn delete_public_access_block(ctx: &Ctx) -> S3Result<HttpResponse> {
    ctx.vfs()
        .update_bucket(&ctx.bucket, |r| {
            r.public_access_block = None;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
