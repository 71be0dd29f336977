//! Bucket operations, and the bucket's configuration as its record holds it (versioning): what
//! s3cmd and other clients read before they act.

use actix_web::HttpResponse;
use s3gate_vfs::{BucketRecord, Versioning, VfsError};

use crate::acl::{self, owner};
use crate::ctx::Ctx;
use crate::error::{S3Error, S3Result};
use crate::intake::Lent;
use crate::token;
use crate::xml::{parse_versioning, xml_ok, Xml};

/// The largest VersioningConfiguration document: two short elements, with room for markup.
const MAX_VERSIONING_BODY: usize = 4 * 1024;

/// Which buckets a ListBuckets page holds.
pub(crate) struct BucketPage<'a> {
    pub(crate) prefix: Option<&'a str>,
    pub(crate) continuation_token: Option<&'a str>,
    /// `None`: every bucket, unpaged, as S3 lists them when none of the page's parameters is sent.
    pub(crate) max: Option<usize>,
    /// Only the buckets of this region: all of them are in the configured one.
    pub(crate) region: Option<&'a str>,
}

/// A page of the buckets whose names start with `prefix`, in name order, from after the one
/// the continuation token names.
pub(crate) async fn list_buckets(ctx: &Ctx, page: BucketPage<'_>) -> S3Result<HttpResponse> {
    let region = ctx.state.config.server.region.as_str();
    // S3 answers this region's buckets only at its endpoint, and this server is one region's.
    if page.region.is_some_and(|r| !r.eq_ignore_ascii_case(region)) {
        return Err(S3Error::invalid_argument(
            "Requests with bucket-region specified must be made to the corresponding regional endpoint",
        ));
    }
    let after = page.continuation_token.map(token::decode).transpose()?;
    let buckets = ctx.vfs().list_buckets().await?;
    // A user sees the buckets it owns, and those its `buckets` list names.
    let mut visible = Vec::with_capacity(buckets.len());
    for b in &buckets {
        let on_page = page.prefix.is_none_or(|p| b.name.starts_with(p))
            && after.as_deref().is_none_or(|a| b.name.as_str() > a);
        if on_page && sees(ctx, &b.name).await? {
            visible.push(b);
        }
    }
    let mut matching = visible.into_iter();
    let listed: Vec<_> = matching
        .by_ref()
        .take(page.max.unwrap_or(usize::MAX))
        .collect();
    let truncated = matching.next().is_some();
    let mut x = Xml::document("ListAllMyBucketsResult", true);
    owner(ctx).write(&mut x, "Owner");
    x.open("Buckets");
    for b in &listed {
        x.open("Bucket")
            .elem("Name", &b.name)
            .elem_time("CreationDate", b.created);
        // A paged listing names each bucket's region, as S3's does.
        if page.max.is_some() {
            x.elem("BucketRegion", region);
        }
        x.close();
    }
    x.close();
    if let Some(p) = page.prefix {
        x.elem("Prefix", p);
    }
    if let Some(last) = listed.last().filter(|_| truncated) {
        x.elem("ContinuationToken", &token::encode(&last.name));
    }
    Ok(xml_ok(x.finish()))
}

/// Whether the caller sees a bucket in its listing: administrators see every one, a user
/// those it owns or its `buckets` list names.
async fn sees(ctx: &Ctx, bucket: &str) -> S3Result<bool> {
    let Some(user) = ctx.user() else {
        return Ok(true);
    };
    if user.buckets.is_some() {
        return Ok(user.may_use(bucket));
    }
    // Its own root holds its buckets only.
    if user.root.is_some() {
        return Ok(true);
    }
    match ctx.vfs().bucket(bucket).await {
        Ok(r) => Ok(r.owner.as_deref() == ctx.auth.access_key.as_deref()),
        Err(VfsError::NoSuchBucket) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

pub(crate) async fn create(ctx: &Ctx) -> S3Result<HttpResponse> {
    let caller = ctx.auth.access_key.as_deref();
    let locked = ctx
        .header("x-amz-bucket-object-lock-enabled")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let (acl, ownership) = acl::for_new_bucket(ctx)?;
    let record = BucketRecord {
        owner: caller.map(str::to_string),
        acl,
        ownership,
        ..Default::default()
    };
    match ctx
        .vfs()
        .create_bucket_with(&ctx.bucket, record, locked)
        .await
    {
        Ok(()) => {}
        Err(VfsError::VersionsUnsupported(why)) => {
            return Err(S3Error::not_implemented(format!(
                "Object lock cannot be enabled: {why}"
            )))
        }
        Err(VfsError::BucketAlreadyOwnedByYou) => {
            // Someone else's bucket: its name is taken.
            if let (Some(owner), Some(caller)) = (&ctx.bucket_record().await?.owner, caller) {
                if owner != caller {
                    return Err(S3Error::bucket_already_exists(
                        "The requested bucket name is not available. The bucket namespace is \
                         shared by all users of the system. Please select a different name and \
                         try again.",
                    ));
                }
            }
            // S3 answers a second CreateBucket of the caller's own bucket with a success that
            // changes nothing in us-east-1 (its legacy behaviour), and with a conflict elsewhere.
            if ctx.state.config.server.region != "us-east-1" {
                return Err(VfsError::BucketAlreadyOwnedByYou.into());
            }
        }
        Err(e) => return Err(e.into()),
    }
    Ok(HttpResponse::Ok()
        .insert_header(("location", format!("/{}", ctx.bucket)))
        .finish())
}

pub(crate) async fn delete(ctx: &Ctx) -> S3Result<HttpResponse> {
    ctx.vfs().delete_bucket(&ctx.bucket).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub(crate) async fn head(ctx: &Ctx) -> S3Result<HttpResponse> {
    ctx.vfs().head_bucket(&ctx.bucket).await?;
    Ok(HttpResponse::Ok()
        .insert_header((
            "x-amz-bucket-region",
            ctx.state.config.server.region.as_str(),
        ))
        .finish())
}

pub(crate) async fn location(ctx: &Ctx) -> S3Result<HttpResponse> {
    ctx.vfs().head_bucket(&ctx.bucket).await?;
    let region = &ctx.state.config.server.region;
    // us-east-1 is reported as an empty constraint, as S3 does.
    let region = if region == "us-east-1" { "" } else { region };
    let mut x = Xml::document("LocationConstraint", true);
    x.raw_elem_text(region);
    Ok(xml_ok(x.finish()))
}

/// PutBucketVersioning. The document is checked as S3 checks it (it comes with a digest), and
/// one without a `Status` changes nothing. Enabling or suspending versioning is refused until
/// objects keep their versions: a bucket reporting either state would promise noncurrent
/// versions and delete markers that a delete or an overwrite here still destroys.
pub(crate) async fn put_versioning(ctx: &Ctx, payload: Lent) -> S3Result<HttpResponse> {
    ctx.bucket_record().await?;
    let body = ctx
        .small_body(ctx.digested_body(payload)?, MAX_VERSIONING_BODY)
        .await?;
    let Some(state) = parse_versioning(&body)? else {
        return Ok(HttpResponse::Ok().finish());
    };
    if let Some(why) = ctx.vfs().versions_unsupported() {
        return Err(S3Error::not_implemented(format!(
            "Versioning cannot be enabled or suspended: {why}"
        )));
    }
    ctx.vfs()
        .update_bucket(&ctx.bucket, |r| {
            // Object lock needs every version kept: its bucket stays Enabled, as in S3.
            if r.object_lock.is_some() && state != Versioning::Enabled {
                return Err(VfsError::InvalidBucketState(
                    "An Object Lock configuration is present on this bucket, so the versioning \
                     state cannot be changed.",
                ));
            }
            r.versioning = state;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::Ok().finish())
}

/// The bucket's versioning state; a bucket where it was never enabled answers an empty
/// configuration, as S3 does.
pub(crate) async fn versioning(ctx: &Ctx) -> S3Result<HttpResponse> {
    let mut x = Xml::document("VersioningConfiguration", true);
    match ctx.bucket_record().await?.versioning {
        Versioning::Unversioned => {}
        Versioning::Enabled => {
            x.elem("Status", "Enabled");
        }
        Versioning::Suspended => {
            x.elem("Status", "Suspended");
        }
    }
    Ok(xml_ok(x.finish()))
}
