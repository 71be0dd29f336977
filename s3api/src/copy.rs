//! CopyObject and UploadPartCopy: one shape for both. The source comes from
//! `x-amz-copy-source`, must exist and must pass its `x-amz-copy-source-if-*` conditions before
//! anything is written; what differs is only where the bytes go (a new object, or a part).

use actix_web::HttpResponse;
use s3gate_vfs::{BodyHasher, ObjectInfo};

use crate::checksum::{upload_algorithm, Hasher};
use crate::ctx::Ctx;
use crate::error::{S3Error, S3Result};
use crate::headers::{attrs_from_request, evaluate, write_precondition, Decision};
use crate::router::path_decode;
use crate::xml::{xml_ok, Xml};

/// The largest object CopyObject copies; larger ones need UploadPartCopy, as in S3.
const MAX_COPY_SIZE: u64 = 5 * 1024 * 1024 * 1024;

/// The object a copy reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CopySource {
    pub(crate) bucket: String,
    pub(crate) key: String,
}

impl CopySource {
    /// `x-amz-copy-source`: `[/]bucket/key[?versionId=...]`, URL-encoded.
    pub(crate) fn parse(value: &str) -> S3Result<CopySource> {
        let bad = || S3Error::invalid_argument("Invalid copy source: expected bucket/key");
        let (path, version) = match value.split_once('?') {
            Some((p, q)) => (p, q.strip_prefix("versionId=")),
            None => (value, None),
        };
        if version.is_some_and(|v| v != "null") {
            return Err(S3Error::invalid_argument("Invalid version id specified"));
        }
        let decoded = path_decode(path)?;
        let decoded = decoded.strip_prefix('/').unwrap_or(&decoded);
        let (bucket, key) = decoded.split_once('/').ok_or_else(bad)?;
        if bucket.is_empty() || key.is_empty() {
            return Err(bad());
        }
        Ok(CopySource {
            bucket: bucket.to_string(),
            key: key.to_string(),
        })
    }

    /// The request's source, once it exists and its `x-amz-copy-source-if-*` conditions held.
    async fn checked(ctx: &Ctx) -> S3Result<(CopySource, ObjectInfo)> {
        let src = CopySource::parse(ctx.header("x-amz-copy-source").unwrap_or(""))?;
        let info = ctx.vfs().head_object(&src.bucket, &src.key).await?;
        if evaluate(&ctx.req, "x-amz-copy-source-", &info) != Decision::Proceed {
            return Err(S3Error::precondition_failed(
                "At least one of the pre-conditions you specified did not hold",
            ));
        }
        Ok((src, info))
    }
}

pub(crate) async fn copy_object(ctx: &Ctx) -> S3Result<HttpResponse> {
    let replace = match ctx.header("x-amz-metadata-directive") {
        None | Some("COPY") => false,
        Some("REPLACE") => true,
        Some(other) => {
            return Err(S3Error::invalid_argument(format!(
                "Unknown metadata directive {other:?}"
            )))
        }
    };
    let (src, info) = CopySource::checked(ctx).await?;
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
    let attrs = if replace {
        Some(attrs_from_request(&ctx.req)?)
    } else {
        None
    };
    let info = ctx
        .vfs()
        .copy_object(
            &src.bucket,
            &src.key,
            &ctx.bucket,
            &ctx.key,
            attrs,
            write_precondition(&ctx.req),
        )
        .await?;
    let mut x = Xml::document("CopyObjectResult", true);
    x.elem_time("LastModified", info.last_modified)
        .etag(&info.etag);
    Ok(xml_ok(x.finish()))
}

pub(crate) async fn upload_part_copy(ctx: &Ctx) -> S3Result<HttpResponse> {
    let number = ctx.query.part_number()?;
    let upload_id = ctx.query.upload_id();
    let range = ctx
        .header("x-amz-copy-source-range")
        .map(copy_range)
        .transpose()?;
    let (src, _) = CopySource::checked(ctx).await?;
    let hasher = upload_algorithm(ctx.vfs(), &ctx.bucket, &ctx.key, upload_id)?
        .map(|a| Box::new(Hasher::new(a)) as Box<dyn BodyHasher>);
    let part = ctx
        .vfs()
        .upload_part_copy(
            &ctx.bucket,
            &ctx.key,
            upload_id,
            number,
            &src.bucket,
            &src.key,
            range,
            hasher,
        )
        .await?;
    let mut x = Xml::document("CopyPartResult", true);
    x.elem_time("LastModified", part.last_modified)
        .etag(&part.etag)
        .checksum(part.checksum.as_ref(), false);
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
    fn copy_sources() {
        let src = |b: &str, k: &str| CopySource {
            bucket: b.into(),
            key: k.into(),
        };
        assert_eq!(CopySource::parse("/b/k%20x").unwrap(), src("b", "k x"));
        assert_eq!(
            CopySource::parse("b/a/b?versionId=null").unwrap(),
            src("b", "a/b")
        );
        assert!(CopySource::parse("b").is_err());
        assert!(CopySource::parse("b/k?versionId=3").is_err());
    }

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
