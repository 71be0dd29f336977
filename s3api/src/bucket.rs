//! Bucket operations, and the fixed answers for the bucket and object settings this server does
//! not vary (ACLs, versioning): what s3cmd and other clients read before they act.

use actix_web::HttpResponse;
use sha2::{Digest, Sha256};

use crate::error::S3Result;
use crate::xml::Xml;
use crate::Ctx;

use crate::object::xml_ok;

/// The owner of everything: the caller's identity, stable per access key.
pub(crate) fn owner(ctx: &Ctx) -> (String, String) {
    let name = ctx
        .auth
        .access_key
        .clone()
        .unwrap_or_else(|| "anonymous".to_string());
    (hex::encode(Sha256::digest(name.as_bytes())), name)
}

pub(crate) fn write_owner(x: &mut Xml, ctx: &Ctx) {
    let (id, name) = owner(ctx);
    x.open("Owner")
        .elem("ID", &id)
        .elem("DisplayName", &name)
        .close();
}

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

/// The owner's full control: the only ACL this server has.
pub(crate) fn acl_response(ctx: &Ctx) -> HttpResponse {
    let (id, name) = owner(ctx);
    let mut x = Xml::document("AccessControlPolicy", true);
    write_owner(&mut x, ctx);
    x.open("AccessControlList").open("Grant");
    x.raw(&format!(
        "<Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"CanonicalUser\"><ID>{id}</ID><DisplayName>{}</DisplayName></Grantee>",
        crate::xml::escape(&name)
    ));
    x.elem("Permission", "FULL_CONTROL");
    xml_ok(x.finish())
}

pub(crate) async fn acl(ctx: &Ctx) -> S3Result<HttpResponse> {
    ctx.vfs().head_bucket(&ctx.bucket).await?;
    Ok(acl_response(ctx))
}

/// Versioning has never been enabled: an empty configuration, as S3 answers for such buckets.
pub(crate) async fn versioning(ctx: &Ctx) -> S3Result<HttpResponse> {
    ctx.vfs().head_bucket(&ctx.bucket).await?;
    Ok(xml_ok(
        Xml::document("VersioningConfiguration", true).finish(),
    ))
}
