//! Owners and ACLs. A bucket's owner is the key that made it (its record says which); a bucket
//! made by other means belongs to whoever asks. The owner has full control, and the ACL reads
//! say so: what s3cmd and other clients read before they act.

use actix_web::dev::RequestHead;
use actix_web::HttpResponse;
use sha2::{Digest, Sha256};

use crate::ctx::Ctx;
use crate::error::{S3Error, S3Result};
use crate::headers::header;
use crate::router::Op;
use crate::xml::{escape, xml_ok, Xml};

/// An identity as S3 shows it: a canonical id and a display name.
pub(crate) struct Identity {
    id: String,
    name: String,
}

impl Identity {
    /// As the key's user names it, else the SHA-256 of the access key (stable per key) and the
    /// key itself.
    fn of(ctx: &Ctx, access_key: Option<&str>) -> Identity {
        let name = access_key.unwrap_or("anonymous").to_string();
        let user = access_key.and_then(|k| ctx.state.keys().ok()?.user(k));
        let id = user
            .as_ref()
            .and_then(|u| u.canonical_id.clone())
            .unwrap_or_else(|| hex::encode(Sha256::digest(name.as_bytes())));
        let name = user.and_then(|u| u.display_name.clone()).unwrap_or(name);
        Identity { id, name }
    }

    /// `<element><ID>…</ID><DisplayName>…</DisplayName></element>` (`Owner`, `Initiator`).
    pub(crate) fn write(&self, x: &mut Xml, element: &'static str) {
        x.open(element)
            .elem("ID", &self.id)
            .elem("DisplayName", &self.name)
            .close();
    }
}

/// The caller's identity, found once per answer (a listing names it on every entry).
pub(crate) fn owner(ctx: &Ctx) -> Identity {
    Identity::of(ctx, ctx.auth.access_key.as_deref())
}

/// The canonical id of the holder of `access_key`, as ACLs show it and policies name it.
pub(crate) fn canonical_id(ctx: &Ctx, access_key: &str) -> String {
    Identity::of(ctx, Some(access_key)).id
}

/// The bucket owner's full control: the only ACL this server has.
async fn acl_response(ctx: &Ctx) -> S3Result<HttpResponse> {
    let record = ctx.bucket_record().await?;
    let owner = match &record.owner {
        Some(key) => Identity::of(ctx, Some(key)),
        None => owner(ctx),
    };
    let mut x = Xml::document("AccessControlPolicy", true);
    owner.write(&mut x, "Owner");
    x.open("AccessControlList").open("Grant");
    x.raw(&format!(
        "<Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"CanonicalUser\"><ID>{}</ID><DisplayName>{}</DisplayName></Grantee>",
        escape(&owner.id),
        escape(&owner.name)
    ));
    x.elem("Permission", "FULL_CONTROL");
    Ok(xml_ok(x.finish()))
}

/// GetBucketAcl.
pub(crate) async fn bucket(ctx: &Ctx) -> S3Result<HttpResponse> {
    acl_response(ctx).await
}

/// GetObjectAcl.
pub(crate) async fn object(ctx: &Ctx) -> S3Result<HttpResponse> {
    ctx.vfs().head_object(&ctx.bucket, &ctx.key).await?;
    acl_response(ctx).await
}

/// ACLs a write asks for (`x-amz-acl`, `x-amz-grant-*`), answered as S3 answers them for a bucket
/// whose objects all belong to its owner (`BucketOwnerEnforced`, S3's default for new buckets):
/// the owner's own full control is taken, anything else is refused before the body is read,
/// never stored and ignored.
pub(crate) fn check_requested(head: &RequestHead, op: &Op) -> S3Result<()> {
    let bucket = matches!(op, Op::CreateBucket);
    let object = matches!(
        op,
        Op::PutObject | Op::CopyObject { .. } | Op::CreateMultipartUpload
    );
    if !bucket && !object {
        return Ok(());
    }
    let canned = header(head, "x-amz-acl").map(str::trim);
    let granted = head
        .headers
        .keys()
        .any(|n| n.as_str().starts_with("x-amz-grant-"));
    let owners_own = match canned {
        None | Some("private") => true,
        Some("bucket-owner-full-control") => object,
        Some(_) => false,
    };
    if owners_own && !granted {
        return Ok(());
    }
    Err(if bucket {
        S3Error::invalid_bucket_acl_with_object_ownership(
            "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting",
        )
    } else {
        S3Error::access_control_list_not_supported("The bucket does not allow ACLs")
    })
}
