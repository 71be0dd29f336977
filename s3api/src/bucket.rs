//! Bucket operations, and the bucket's configuration as its record holds it (versioning): what
//! s3cmd and other clients read before they act.

use actix_web::HttpResponse;
use s3gate_vfs::Versioning;

use crate::acl::write_owner;
use crate::ctx::Ctx;
use crate::error::S3Result;
use crate::xml::{xml_ok, Xml};

pub(crate) async fn list_buckets(ctx: &Ctx) -> S3Result<HttpResponse> {
    let buckets = ctx.vfs().list_buckets().await?;
    let mut x = Xml::document("ListAllMyBucketsResult", true);
    write_owner(&mut x, ctx);
    x.open("Buckets");
    for b in &buckets {
        x.open("Bucket")
            .elem("Name", &b.name)
            .elem_time("CreationDate", b.created)
            .close();
    }
    x.close();
    Ok(xml_ok(x.finish()))
}

pub(crate) async fn create(ctx: &Ctx) -> S3Result<HttpResponse> {
    ctx.vfs().create_bucket(&ctx.bucket).await?;
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
