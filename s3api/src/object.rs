//! Object operations: GET/HEAD (ranges, conditionals), PUT, DELETE, DeleteObjects.

use actix_web::body::SizedStream;
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use futures_util::StreamExt;
use s3gate_vfs::{ObjectInfo, ObjectReader, PutRequest, VersionDeleted, Versioning, VfsError};

use crate::acl;
use crate::ctx::Ctx;
use crate::error::{S3Error, S3Result};
use crate::headers::{
    attrs_from_request, checksum_headers, etag_precondition, evaluate, expiration_header,
    new_version_header, object_headers, quoted, version_header, write_precondition, Decision,
    Overrides,
};
use crate::intake::Lent;
use crate::xml::{parse_delete, xml_ok, Xml};
/// How many deletes of one DeleteObjects run at once.
const DELETE_CONCURRENCY: usize = 32;
/// The largest DeleteObjects request body (1000 keys of 1024 bytes, with room for markup).
const MAX_DELETE_BODY: usize = 2 * 1024 * 1024;

/// A `Range` header, resolved against the object's size.
#[derive(Debug, PartialEq, Eq)]
enum Range {
    Whole,
    Part { start: u64, len: u64 },
    Unsatisfiable,
}

/// A Range header resolved against `size` must stay inside the object (for the fuzz targets).
#[cfg(feature = "fuzzing")]
pub(crate) fn fuzz_range(header: &str, size: u64) {
    if let Range::Part { start, len } = parse_range(Some(header), size) {
        assert!(len > 0 && start.checked_add(len).is_some_and(|end| end <= size));
    }
}

/// Single byte ranges only, as S3; anything unparseable (or several ranges) means the whole
/// object, as HTTP says.
fn parse_range(header: Option<&str>, size: u64) -> Range {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Range::Whole;
    };
    if spec.contains(',') {
        return Range::Whole;
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Range::Whole;
    };
    let (a, b) = (a.trim(), b.trim());
    let num = |s: &str| s.parse::<u64>().ok();
    match (a.is_empty(), b.is_empty()) {
        (true, false) => match num(b) {
            Some(0) => Range::Unsatisfiable,
            Some(_) if size == 0 => Range::Unsatisfiable,
            Some(n) => {
                let n = n.min(size);
                Range::Part {
                    start: size - n,
                    len: n,
                }
            }
            None => Range::Whole,
        },
        (false, _) => {
            let Some(start) = num(a) else {
                return Range::Whole;
            };
            let end = if b.is_empty() { Some(u64::MAX) } else { num(b) };
            match end {
                None => Range::Whole,
                Some(end) if end < start => Range::Whole,
                Some(_) if start >= size => Range::Unsatisfiable,
                Some(end) => Range::Part {
                    start,
                    len: end.min(size - 1) - start + 1,
                },
            }
        }
        (true, true) => Range::Whole,
    }
}

/// `partNumber=N` on GET/HEAD: the byte range of that part of a multipart object. An object
/// that was not uploaded in parts is one part.
/// The bytes of part `n` (1 to 10000, as the router checked).
fn part_range(n: u32, info: &ObjectInfo) -> S3Result<Range> {
    let n = n as usize;
    let unsatisfiable =
        || S3Error::invalid_part_number("The requested partnumber is not satisfiable");
    if info.parts.is_empty() {
        return if n == 1 {
            Ok(Range::Whole)
        } else {
            Err(unsatisfiable())
        };
    }
    let len = *info.parts.get(n - 1).ok_or_else(unsatisfiable)?;
    let start = info.parts[..n - 1].iter().sum();
    Ok(Range::Part { start, len })
}

/// GetObject and HeadObject.
pub(crate) async fn get(
    ctx: &Ctx,
    version_id: Option<&str>,
    part_number: Option<u32>,
    head: bool,
) -> S3Result<HttpResponse> {
    let overrides = Overrides::of(&ctx.query)?;
    // Either would pick the bytes; S3 refuses to guess which one was meant.
    if part_number.is_some() && ctx.req.headers().contains_key("range") {
        return Err(S3Error::invalid_request(
            "Cannot specify both Range header and partNumber query parameter",
        ));
    }
    let obj = open(ctx, version_id).await?;
    let info = &obj.info;
    match evaluate(&ctx.req, "", info) {
        Decision::Proceed => {}
        Decision::PreconditionFailed => {
            return Err(S3Error::precondition_failed(
                "At least one of the pre-conditions you specified did not hold",
            ))
        }
        Decision::NotModified => {
            return Ok(HttpResponse::NotModified()
                .insert_header(("etag", quoted(&info.etag)))
                .insert_header(("last-modified", httpdate::fmt_http_date(info.last_modified)))
                .finish())
        }
    }
    let size = info.size;
    let range = match part_number {
        Some(n) => part_range(n, info)?,
        None => parse_range(ctx.header("range"), size),
    };
    let (status, start, len) = match range {
        Range::Whole => (StatusCode::OK, 0, size),
        Range::Part { start, len } => (StatusCode::PARTIAL_CONTENT, start, len),
        Range::Unsatisfiable => {
            return Err(S3Error::invalid_range(
                "The requested range is not satisfiable",
            ))
        }
    };
    let mut resp = HttpResponse::build(status);
    object_headers(&mut resp, info, &overrides);
    version_header(&mut resp, info, ctx.versioning()?);
    if version_id.is_none() {
        expiration_header(&mut resp, ctx.vfs(), &ctx.bucket, &ctx.key, info)?;
    }
    // A stored checksum describes the whole object: never sent with a part of it.
    let whole = status == StatusCode::OK && part_number.is_none();
    if whole
        && ctx
            .header("x-amz-checksum-mode")
            .is_some_and(|m| m.eq_ignore_ascii_case("ENABLED"))
    {
        checksum_headers(&mut resp, info.attrs.checksum.as_ref());
    }
    if part_number.is_some() && !info.parts.is_empty() {
        resp.insert_header(("x-amz-mp-parts-count", info.parts.len().to_string()));
    }
    if status == StatusCode::PARTIAL_CONTENT {
        resp.insert_header((
            "content-range",
            format!("bytes {start}-{}/{size}", start + len - 1),
        ));
    }
    if head {
        let empty = futures_util::stream::empty::<Result<bytes::Bytes, std::io::Error>>();
        return Ok(resp.body(SizedStream::new(len, empty)));
    }
    Ok(resp.body(SizedStream::new(len, obj.stream(start, len))))
}

/// The version a GET or HEAD names, or the current one. A delete marker answers with its
/// headers: 404 when it is the current version, 405 when named.
async fn open(ctx: &Ctx, version_id: Option<&str>) -> S3Result<ObjectReader> {
    let vfs = ctx.vfs();
    let marker = |e: S3Error, id: &str| {
        e.with_header("x-amz-delete-marker", "true")
            .with_header("x-amz-version-id", id)
    };
    match version_id {
        Some(v) => match vfs.open_version(&ctx.bucket, &ctx.key, v).await {
            Err(VfsError::VersionIsDeleteMarker) => Err(marker(
                S3Error::method_not_allowed(
                    "The specified method is not allowed against this resource.",
                ),
                v,
            )),
            r => Ok(r?),
        },
        None => match vfs.open_object(&ctx.bucket, &ctx.key).await {
            Err(VfsError::NoSuchKey) => {
                let e = S3Error::from(VfsError::NoSuchKey);
                Err(
                    match vfs.current_delete_marker(&ctx.bucket, &ctx.key).await? {
                        Some(id) => marker(e, &id),
                        None => e,
                    },
                )
            }
            r => Ok(r?),
        },
    }
}

pub(crate) async fn put(ctx: &Ctx, payload: Lent) -> S3Result<HttpResponse> {
    let body = ctx.body(payload)?;
    let mut attrs = attrs_from_request(&ctx.req)?;
    attrs.acl = acl::for_new_object(ctx, ctx.auth.access_key.as_deref(), None).await?;
    attrs.lock = ctx.lock_asked().await?;
    // S3 takes a lock on a write only with a digest of the body it locks.
    if !attrs.lock.is_unset() && ctx.content_md5()?.is_none() && !body.checked_by_client() {
        return Err(S3Error::invalid_request(
            "Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters",
        ));
    }
    // Empty content under `dir/` is a folder marker; content there is kept in the store.
    if body.declared_len() == Some(0) && ctx.vfs().is_folder_marker(&ctx.bucket, &ctx.key)? {
        let info = ctx
            .vfs()
            .create_folder(
                &ctx.bucket,
                &ctx.key,
                attrs,
                write_precondition(&ctx.req).as_ref(),
            )
            .await?;
        let mut resp = HttpResponse::Ok();
        resp.insert_header(("etag", quoted(&info.etag)));
        new_version_header(&mut resp, &info);
        expiration_header(&mut resp, ctx.vfs(), &ctx.bucket, &ctx.key, &info)?;
        return Ok(resp.finish());
    }
    let req = PutRequest {
        attrs,
        content_md5: ctx.content_md5()?,
        precondition: write_precondition(&ctx.req),
        checksum: Some(body.slot()),
        body,
    };
    let info = ctx.vfs().put_object(&ctx.bucket, &ctx.key, req).await?;
    let mut resp = HttpResponse::Ok();
    resp.insert_header(("etag", quoted(&info.etag)));
    checksum_headers(&mut resp, info.attrs.checksum.as_ref());
    new_version_header(&mut resp, &info);
    expiration_header(&mut resp, ctx.vfs(), &ctx.bucket, &ctx.key, &info)?;
    Ok(resp.finish())
}

pub(crate) async fn delete(ctx: &Ctx, version_id: Option<&str>) -> S3Result<HttpResponse> {
    // A delete takes If-Match only, as in S3.
    let if_match = ctx.header("if-match").map(str::to_string);
    let mut resp = HttpResponse::NoContent();
    if let Some(done) = delete_one(ctx, &ctx.key, version_id, if_match).await? {
        if done.delete_marker {
            resp.insert_header(("x-amz-delete-marker", "true"));
        }
        resp.insert_header(("x-amz-version-id", done.version_id));
    }
    Ok(resp.finish())
}

/// One delete of DeleteObject or DeleteObjects: a version named is removed for good; in a
/// bucket that has versions, a delete without one adds a delete marker; elsewhere the object
/// goes. `None` when no version was involved.
async fn delete_one(
    ctx: &Ctx,
    key: &str,
    version_id: Option<&str>,
    if_match: Option<String>,
) -> S3Result<Option<VersionDeleted>> {
    let vfs = ctx.vfs();
    let versioned = ctx.bucket_record().await?.versioning != Versioning::Unversioned;
    if (versioned || version_id.is_some()) && if_match.is_some() {
        return Err(S3Error::not_implemented(
            "A conditional delete of a version, or in a bucket that has versions, is not \
             supported",
        ));
    }
    Ok(match version_id {
        Some(v) => {
            let bypass = ctx.bypasses_governance().await?;
            Some(vfs.delete_version(&ctx.bucket, key, v, bypass).await?)
        }
        None if versioned => vfs.add_delete_marker(&ctx.bucket, key).await?,
        None => {
            let precondition = etag_precondition(if_match, None);
            vfs.delete_object(&ctx.bucket, key, precondition.as_ref())
                .await?;
            None
        }
    })
}

pub(crate) async fn delete_many(ctx: &Ctx, payload: Lent) -> S3Result<HttpResponse> {
    ctx.vfs().head_bucket(&ctx.bucket).await?;
    let request = parse_delete(&ctx.small_body(ctx.body(payload)?, MAX_DELETE_BODY).await?)?;
    // Deletes run several at a time so that their index commits group into few transactions;
    // answers keep the request's order.
    let results: Vec<_> = futures_util::stream::iter(request.objects)
        .map(|o| async move {
            // An `<ETag>` is that key's If-Match: failing it fails that key only.
            let result = delete_one(ctx, &o.key, o.version_id.as_deref(), o.etag).await;
            (o.key, o.version_id, result)
        })
        .buffered(DELETE_CONCURRENCY)
        .collect()
        .await;
    let mut x = Xml::document("DeleteResult", true);
    for (key, version_id, result) in results {
        match result {
            Ok(done) => {
                if !request.quiet {
                    x.open("Deleted").elem("Key", &key);
                    if let Some(v) = &version_id {
                        x.elem("VersionId", v);
                    }
                    if let Some(done) = done.filter(|d| d.delete_marker) {
                        x.elem("DeleteMarker", "true")
                            .elem("DeleteMarkerVersionId", &done.version_id);
                    }
                    x.close();
                }
            }
            Err(e) => {
                x.open("Error").elem("Key", &key);
                if let Some(v) = &version_id {
                    x.elem("VersionId", v);
                }
                x.elem("Code", e.code).elem("Message", &e.message).close();
            }
        }
    }
    Ok(xml_ok(x.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let p = |start, len| Range::Part { start, len };
        assert_eq!(parse_range(Some("bytes=0-4"), 10), p(0, 5));
        assert_eq!(parse_range(Some("bytes=5-"), 10), p(5, 5));
        assert_eq!(parse_range(Some("bytes=-3"), 10), p(7, 3));
        assert_eq!(parse_range(Some("bytes=-30"), 10), p(0, 10));
        assert_eq!(parse_range(Some("bytes=8-100"), 10), p(8, 2));
        assert_eq!(parse_range(Some("bytes=10-"), 10), Range::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), 10), Range::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-"), 0), Range::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=5-2"), 10), Range::Whole);
        assert_eq!(parse_range(Some("bytes=0-1,4-5"), 10), Range::Whole);
        assert_eq!(parse_range(Some("items=0-1"), 10), Range::Whole);
        assert_eq!(parse_range(None, 10), Range::Whole);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 5000, failure_persistence: None, ..Default::default() })]

        /// Any Range header against any size: whole, unsatisfiable, or a part inside the object.
        #[test]
        fn ranges_stay_inside_the_object(header in "(bytes=)?[0-9 ,=-]{0,24}|.{0,16}", size in 0u64..5000) {
            match parse_range(Some(&header), size) {
                Range::Part { start, len } => {
                    proptest::prop_assert!(len > 0 && start.checked_add(len).is_some_and(|end| end <= size), "{header:?} size {size}: {start}+{len}");
                }
                Range::Whole | Range::Unsatisfiable => {}
            }
        }
    }
}
