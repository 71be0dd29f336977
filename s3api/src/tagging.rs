//! Object and bucket tagging: GetObjectTagging, PutObjectTagging, DeleteObjectTagging, and the
//! same three for a bucket. A tag set is replaced whole and read back sorted by key. An object
//! without tags reads as an empty set; a bucket without tags has none (`NoSuchTagSet`), as in S3.

use actix_web::{HttpResponse, HttpResponseBuilder};

use crate::ctx::Ctx;
use crate::error::{S3Error, S3Result};
use crate::headers::version_header;
use crate::intake::Lent;
use crate::tags::{checked, Holder, TagSet};
use crate::xml::{parse_tagging, xml_ok, Xml};

/// The largest Tagging document: 50 tags of the longest keys and values, with room for markup
/// and character references.
const MAX_TAGGING_BODY: usize = 256 * 1024;

/// A tag set as the `Tagging` document S3 answers.
fn document(tags: &TagSet) -> String {
    let mut x = Xml::document("Tagging", true);
    x.open("TagSet");
    for (key, value) in tags {
        x.open("Tag").elem("Key", key).elem("Value", value).close();
    }
    x.finish()
}

/// The request's `Tagging` document, checked for `holder`.
async fn read(ctx: &Ctx, payload: Lent, holder: Holder) -> S3Result<TagSet> {
    let body = ctx.small_body(ctx.body(payload)?, MAX_TAGGING_BODY).await?;
    checked(parse_tagging(&body)?, holder)
}

/// GetObjectTagging, of any version.
pub(crate) async fn get_object(ctx: &Ctx, version_id: Option<&str>) -> S3Result<HttpResponse> {
    let info = ctx.object_version(version_id).await?;
    let mut resp = HttpResponse::Ok();
    version_header(&mut resp, &info, ctx.versioning()?);
    Ok(resp
        .content_type("application/xml")
        .body(document(&info.attrs.tags)))
}

/// PutObjectTagging, of any version.
pub(crate) async fn put_object(
    ctx: &Ctx,
    version_id: Option<&str>,
    payload: Lent,
) -> S3Result<HttpResponse> {
    let tags = read(ctx, payload, Holder::Object).await?;
    retag(ctx, version_id, tags, HttpResponse::Ok()).await
}

/// DeleteObjectTagging, of any version.
pub(crate) async fn delete_object(ctx: &Ctx, version_id: Option<&str>) -> S3Result<HttpResponse> {
    retag(ctx, version_id, TagSet::new(), HttpResponse::NoContent()).await
}

/// Gives the version named (the current one without a `versionId`) its new tags; the answer
/// names that version, as S3's does.
async fn retag(
    ctx: &Ctx,
    version_id: Option<&str>,
    tags: TagSet,
    mut resp: HttpResponseBuilder,
) -> S3Result<HttpResponse> {
    ctx.vfs()
        .set_object_tags(&ctx.bucket, &ctx.key, version_id, tags)
        .await?;
    match version_id {
        Some(v) => {
            resp.insert_header(("x-amz-version-id", v));
        }
        None => {
            let info = ctx.object_version(None).await?;
            version_header(&mut resp, &info, ctx.versioning()?)
        }
    }
    Ok(resp.finish())
}

/// GetBucketTagging.
pub(crate) async fn get_bucket(ctx: &Ctx) -> S3Result<HttpResponse> {
    let tags = &ctx.bucket_record().await?.tags;
    if tags.is_empty() {
        return Err(S3Error::no_such_tag_set("The TagSet does not exist"));
    }
    Ok(xml_ok(document(tags)))
}

/// PutBucketTagging; an empty set leaves the bucket without one.
pub(crate) async fn put_bucket(ctx: &Ctx, payload: Lent) -> S3Result<HttpResponse> {
    let tags = read(ctx, payload, Holder::Bucket).await?;
    ctx.vfs()
        .update_bucket(&ctx.bucket, |r| {
            r.tags = tags.clone();
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// DeleteBucketTagging.
pub(crate) async fn delete_bucket(ctx: &Ctx) -> S3Result<HttpResponse> {
    ctx.vfs()
        .update_bucket(&ctx.bucket, |r| {
            r.tags.clear();
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
