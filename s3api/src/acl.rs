//! Owners and ACLs. There is one owner, the caller's identity, with full control over
//! everything, and the ACL reads say so: what s3cmd and other clients read before they act.

use actix_web::HttpResponse;
use sha2::{Digest, Sha256};

use crate::ctx::Ctx;
use crate::error::S3Result;
use crate::xml::{escape, xml_ok, Xml};

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

/// The owner's full control: the only ACL this server has.
fn acl_response(ctx: &Ctx) -> HttpResponse {
    let (id, name) = owner(ctx);
    let mut x = Xml::document("AccessControlPolicy", true);
    write_owner(&mut x, ctx);
    x.open("AccessControlList").open("Grant");
    x.raw(&format!(
        "<Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"CanonicalUser\"><ID>{id}</ID><DisplayName>{}</DisplayName></Grantee>",
        escape(&name)
    ));
    x.elem("Permission", "FULL_CONTROL");
    xml_ok(x.finish())
}

/// GetBucketAcl.
pub(crate) async fn bucket(ctx: &Ctx) -> S3Result<HttpResponse> {
    ctx.vfs().head_bucket(&ctx.bucket).await?;
    Ok(acl_response(ctx))
}

/// GetObjectAcl.
pub(crate) async fn object(ctx: &Ctx) -> S3Result<HttpResponse> {
    ctx.vfs().head_object(&ctx.bucket, &ctx.key).await?;
    Ok(acl_response(ctx))
}
