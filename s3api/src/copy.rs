//! CopyObject and UploadPartCopy: one shape for both. The source, parsed by the router from
//! `x-amz-copy-source`, must exist and must pass its `x-amz-copy-source-if-*` conditions before
//! anything is written; what differs is only where the bytes go (a new object, or a part).

use actix_web::HttpResponse;
use s3gate_vfs::{BodyHasher, CopyAttrs, CopyFrom, ObjectInfo};

use crate::acl;
use crate::checksum::{self, upload_algorithm, Hasher};
use crate::ctx::Ctx;
use crate::error::{S3Error, S3Result};
use crate::headers::{
    attrs_from_request, evaluate, expiration_header, new_version_header, write_precondition,
    Decision,
};
use crate::router::CopySource;
use crate::tags;
use crate::xml::{xml_ok, Xml};

/// The largest object CopyObject copies; larger ones need UploadPartCopy, as in S3.
const MAX_COPY_SIZE: u64 = 5 * 1024 * 1024 * 1024;

/// The source as the VFS names it, pinned to the version its conditions were judged on
/// (`info`, where the request has `x-amz-copy-source-if-*`): one written between the judgement
/// and the copy is not copied.
fn source<'a>(src: &'a CopySource, info: &'a ObjectInfo, ctx: &Ctx) -> CopyFrom<'a> {
    let conditional = ctx
        .req
        .headers()
        .keys()
        .any(|h| h.as_str().starts_with("x-amz-copy-source-if-"));
    CopyFrom {
        bucket: &src.bucket,
        key: &src.key,
        version: src.version_id.as_deref(),
        etag: conditional.then_some(info.etag.as_str()),
    }
}

/// The request's source, once it exists and its `x-amz-copy-source-if-*` conditions held.
async fn checked(ctx: &Ctx, src: &CopySource) -> S3Result<ObjectInfo> {
    let info = match &src.version_id {
        Some(v) => ctx.vfs().open_version(&src.bucket, &src.key, v).await?.info,
        None => ctx.vfs().head_object(&src.bucket, &src.key).await?,
    };
    if evaluate(&ctx.req, "x-amz-copy-source-", &info) != Decision::Proceed {
        return Err(S3Error::precondition_failed(
            "At least one of the pre-conditions you specified did not hold",
        ));
    }
    Ok(info)
}

pub(crate) async fn copy_object(ctx: &Ctx, src: &CopySource) -> S3Result<HttpResponse> {
    let replace = match ctx.header("x-amz-metadata-directive") {
        None | Some("COPY") => false,
        Some("REPLACE") => true,
        Some(other) => {
            return Err(S3Error::invalid_argument(format!(
                "Unknown metadata directive {other:?}"
            )))
        }
    };
    // The tags of the copy: the source's (COPY), or those of `x-amz-tagging`, none without it.
    let tags = match ctx.header("x-amz-tagging-directive") {
        None | Some("COPY") => None,
        Some("REPLACE") => Some(tags::from_header(&ctx.req)?),
        Some(other) => {
            return Err(S3Error::invalid_argument(format!(
                "Unknown tagging directive {other:?}"
            )))
        }
    };
    let checked_info = checked(ctx, src).await?;
    let info = &checked_info;
    if src.bucket == ctx.bucket && src.key == ctx.key && !replace {
        return Err(S3Error::invalid_request(
            "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
        ));
    }
    if info.size > MAX_COPY_SIZE {
        return Err(S3Error::invalid_request(format!(
            "The specified copy source is larger than the maximum allowable size for a copy source: {MAX_COPY_SIZE}"
        )));
    }
    let attrs = CopyAttrs {
        attrs: replace.then(|| attrs_from_request(&ctx.req)).transpose()?,
        tags,
        acl: acl::for_new_object(ctx, ctx.auth.access_key.as_deref(), None).await?,
        lock: ctx.lock_asked().await?,
    };
    let info = ctx
        .vfs()
        .copy_object(
            source(src, &checked_info, ctx),
            &ctx.bucket,
            &ctx.key,
            attrs,
            write_precondition(&ctx.req),
        )
        .await?;
    let mut x = Xml::document("CopyObjectResult", true);
    x.elem_time("LastModified", info.last_modified)
        .etag(&info.etag);
    let mut resp = HttpResponse::Ok();
    new_version_header(&mut resp, &info);
    expiration_header(&mut resp, ctx.vfs(), &ctx.bucket, &ctx.key, &info)?;
    Ok(resp.content_type("application/xml").body(x.finish()))
}

pub(crate) async fn upload_part_copy(
    ctx: &Ctx,
    upload_id: &str,
    number: u32,
    src: &CopySource,
) -> S3Result<HttpResponse> {
    let range = ctx
        .header("x-amz-copy-source-range")
        .map(copy_range)
        .transpose()?;
    let judged = checked(ctx, src).await?;
    let hasher = upload_algorithm(ctx.vfs(), &ctx.bucket, &ctx.key, upload_id)
        .await?
        .map(|a| Box::new(Hasher::new(a)) as Box<dyn BodyHasher>);
    let part = ctx
        .vfs()
        .upload_part_copy(
            &ctx.bucket,
            &ctx.key,
            upload_id,
            number,
            source(src, &judged, ctx),
            range,
            hasher,
        )
        .await?;
    let mut x = Xml::document("CopyPartResult", true);
    x.elem_time("LastModified", part.last_modified)
        .etag(&part.etag);
    checksum::write_elements(&mut x, part.checksum.as_ref(), false);
    Ok(xml_ok(x.finish()))
}

/// `x-amz-copy-source-range: bytes=first-last`, as (offset, length).
fn copy_range(v: &str) -> S3Result<(u64, u64)> {
    let bad = || {
        S3Error::invalid_argument(
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy",
        )
    };
    let (a, b) = v
        .trim()
        .strip_prefix("bytes=")
        .and_then(|r| r.split_once('-'))
        .ok_or_else(bad)?;
    let first: u64 = a.trim().parse().map_err(|_| bad())?;
    let last: u64 = b.trim().parse().map_err(|_| bad())?;
    let len = last
        .checked_sub(first)
        .and_then(|d| d.checked_add(1))
        .ok_or_else(bad)?;
    Ok((first, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_ranges() {
        assert_eq!(copy_range("bytes=0-9").unwrap(), (0, 10));
        assert_eq!(copy_range("bytes=5-5").unwrap(), (5, 1));
        for bad in [
            "bytes=5-4",
            "bytes=-4",
            "bytes=4-",
            "0-4",
            "bytes=a-b",
            "bytes=0-18446744073709551615",
        ] {
            assert!(copy_range(bad).is_err(), "{bad}");
        }
    }
}
