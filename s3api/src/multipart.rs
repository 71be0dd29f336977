//! Multipart uploads: create, upload parts (streamed or copied), complete, abort, list.

use actix_web::HttpResponse;
use s3gate_vfs::{BodyHasher, Checksum, PartBody, PartPage, VfsError, MAX_PART_NUMBER};

use crate::bucket::write_owner;
use crate::checksum::{self, Algorithm, Hasher};
use crate::error::{S3Error, S3Result};
use crate::headers::{attrs_from_request, quoted};
use crate::intake::Lent;
use crate::list::{enc, max_param};
use crate::object::{checksum_headers, copy_source, copy_source_info, write_precondition, xml_ok};
use crate::xml::{parse_complete, CompletedPart, Xml};
use crate::Ctx;

/// The largest CompleteMultipartUpload body: 10,000 parts with room for markup.
const MAX_COMPLETE_BODY: usize = 8 * 1024 * 1024;

fn upload_id(ctx: &Ctx) -> &str {
    ctx.query.get("uploadId").unwrap_or_default()
}

fn part_number(ctx: &Ctx) -> S3Result<u32> {
    ctx.query
        .get("partNumber")
        .and_then(|n| n.parse::<u32>().ok())
        .filter(|n| (1..=MAX_PART_NUMBER).contains(n))
        .ok_or_else(|| {
            S3Error::invalid_argument(
                "Part number must be an integer between 1 and 10000, inclusive",
            )
        })
}

pub(crate) async fn create(ctx: &Ctx) -> S3Result<HttpResponse> {
    let attrs = attrs_from_request(&ctx.req)?;
    let checksum = match ctx.header("x-amz-checksum-algorithm") {
        Some(a) => Some(Algorithm::from_name(a)?.upload_type(ctx.header("x-amz-checksum-type"))?),
        None if ctx.header("x-amz-checksum-type").is_some() => {
            return Err(S3Error::invalid_request(
                "x-amz-checksum-type needs x-amz-checksum-algorithm",
            ))
        }
        None => None,
    };
    let id = ctx
        .vfs()
        .create_multipart(&ctx.bucket, &ctx.key, attrs, checksum.clone())
        .await?;
    let mut x = Xml::document("InitiateMultipartUploadResult", true);
    x.elem("Bucket", &ctx.bucket)
        .elem("Key", &ctx.key)
        .elem("UploadId", &id);
    let mut resp = HttpResponse::Ok();
    if let Some(c) = &checksum {
        resp.insert_header(("x-amz-checksum-algorithm", c.algorithm.as_str()))
            .insert_header(("x-amz-checksum-type", checksum::type_name(c)));
    }
    Ok(resp.content_type("application/xml").body(x.finish()))
}

/// The algorithm of the checksum an upload's parts carry, if it has one.
fn part_algorithm(ctx: &Ctx) -> S3Result<Option<Algorithm>> {
    ctx.vfs()
        .upload_checksum(&ctx.bucket, &ctx.key, upload_id(ctx))?
        .map(|t| Algorithm::from_name(&t.algorithm))
        .transpose()
}

pub(crate) async fn upload_part(ctx: &Ctx, payload: Lent) -> S3Result<HttpResponse> {
    let number = part_number(ctx)?;
    let mut body = ctx.body(payload)?;
    if let Some(algo) = part_algorithm(ctx)? {
        body.require(algo)?;
    }
    let part = PartBody {
        content_md5: ctx.content_md5()?,
        checksum: Some(body.slot()),
        size: body.declared_len(),
        body,
    };
    let part = ctx
        .vfs()
        .upload_part(&ctx.bucket, &ctx.key, upload_id(ctx), number, part)
        .await?;
    let mut resp = HttpResponse::Ok();
    resp.insert_header(("etag", quoted(&part.etag)));
    if let Some((name, value)) = part.checksum.as_ref().and_then(checksum::header_of) {
        resp.insert_header((name, value));
    }
    Ok(resp.finish())
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

pub(crate) async fn upload_part_copy(ctx: &Ctx) -> S3Result<HttpResponse> {
    let number = part_number(ctx)?;
    let (src_bucket, src_key) = copy_source(ctx.header("x-amz-copy-source").unwrap_or(""))?;
    let range = ctx
        .header("x-amz-copy-source-range")
        .map(copy_range)
        .transpose()?;
    copy_source_info(ctx, &src_bucket, &src_key).await?;
    let hasher = part_algorithm(ctx)?.map(|a| Box::new(Hasher::new(a)) as Box<dyn BodyHasher>);
    let part = ctx
        .vfs()
        .upload_part_copy(
            &ctx.bucket,
            &ctx.key,
            upload_id(ctx),
            number,
            &src_bucket,
            &src_key,
            range,
            hasher,
        )
        .await?;
    let mut x = Xml::document("CopyPartResult", true);
    x.elem_time("LastModified", part.last_modified)
        .etag(&part.etag);
    write_checksum(&mut x, part.checksum.as_ref(), false);
    Ok(xml_ok(x.finish()))
}

/// `<ChecksumCRC32>` (or another algorithm), and `<ChecksumType>` when `with_type`.
fn write_checksum(x: &mut Xml, c: Option<&Checksum>, with_type: bool) {
    if let Some(c) = c {
        x.elem(&checksum::element(&c.kind.algorithm), &c.value);
        if with_type {
            x.elem("ChecksumType", checksum::type_name(&c.kind));
        }
    }
}

/// The completed object's checksum, from the stored part checksums, after checking those the
/// client listed (and the whole-object value it may send in a header).
fn object_checksum(
    ctx: &Ctx,
    page: &PartPage,
    wanted: &[CompletedPart],
) -> S3Result<Option<Checksum>> {
    let Some(kind) = &page.checksum else {
        return Ok(None);
    };
    let mut values = Vec::with_capacity(wanted.len());
    for w in wanted {
        let Ok(i) = page.parts.binary_search_by_key(&w.number, |p| p.number) else {
            // The VFS reports the missing part.
            return Ok(None);
        };
        let part = &page.parts[i];
        let Some(stored) = &part.checksum else {
            return Ok(None);
        };
        for (algo, value) in &w.checksums {
            if !algo.eq_ignore_ascii_case(&kind.algorithm) || value != &stored.value {
                return Err(S3Error::invalid_part(format!(
                    "One or more of the specified parts could not be found: the Checksum{algo} of part {} does not match",
                    w.number
                )));
            }
        }
        values.push((stored.value.as_str(), part.size));
    }
    let Some(value) = checksum::of_parts(kind, &values) else {
        return Ok(None);
    };
    let algo = Algorithm::from_name(&kind.algorithm)?;
    if let Some(sent) = ctx.header(algo.header()) {
        if sent.trim() != value.trim_end_matches(&format!("-{}", values.len())) {
            return Err(S3Error::bad_digest(format!(
                "The {} you specified did not match the calculated checksum.",
                algo.header()
            )));
        }
    }
    Ok(Some(Checksum {
        kind: kind.clone(),
        value,
    }))
}

pub(crate) async fn complete(ctx: &Ctx, payload: Lent) -> S3Result<HttpResponse> {
    let mut body = ctx.body(payload)?;
    body.ignore_checksum_headers();
    let wanted = parse_complete(&ctx.small_body(body, MAX_COMPLETE_BODY).await?)?;
    let id = upload_id(ctx);
    let checksum = match ctx
        .vfs()
        .list_parts(&ctx.bucket, &ctx.key, id, 0, MAX_PART_NUMBER as usize)
        .await
    {
        Ok(page) => object_checksum(ctx, &page, &wanted)?,
        // Completed already: the VFS answers as the first Complete did.
        Err(VfsError::NoSuchUpload) => None,
        Err(e) => return Err(e.into()),
    };
    let parts: Vec<(u32, String)> = wanted.into_iter().map(|p| (p.number, p.etag)).collect();
    let info = ctx
        .vfs()
        .complete_multipart(
            &ctx.bucket,
            &ctx.key,
            id,
            &parts,
            checksum,
            write_precondition(ctx),
        )
        .await?;
    let mut x = Xml::document("CompleteMultipartUploadResult", true);
    x.elem("Location", &format!("/{}/{}", ctx.bucket, ctx.key))
        .elem("Bucket", &ctx.bucket)
        .elem("Key", &ctx.key)
        .etag(&info.etag);
    write_checksum(&mut x, info.attrs.checksum.as_ref(), true);
    let mut resp = HttpResponse::Ok();
    checksum_headers(&mut resp, info.attrs.checksum.as_ref());
    Ok(resp.content_type("application/xml").body(x.finish()))
}

pub(crate) async fn abort(ctx: &Ctx) -> S3Result<HttpResponse> {
    ctx.vfs()
        .abort_multipart(&ctx.bucket, &ctx.key, upload_id(ctx))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

pub(crate) async fn list_parts(ctx: &Ctx) -> S3Result<HttpResponse> {
    let max = max_param(&ctx.query, "max-parts")?;
    let marker: u32 = match ctx.query.get("part-number-marker") {
        None | Some("") => 0,
        Some(m) => m
            .parse()
            .map_err(|_| S3Error::invalid_argument("part-number-marker must be an integer"))?,
    };
    let id = upload_id(ctx);
    let page = ctx
        .vfs()
        .list_parts(&ctx.bucket, &ctx.key, id, marker, max)
        .await?;
    let mut x = Xml::document("ListPartsResult", true);
    x.elem("Bucket", &ctx.bucket)
        .elem("Key", &ctx.key)
        .elem("UploadId", id)
        .elem_num("PartNumberMarker", marker);
    if let Some(last) = page.parts.last() {
        x.elem_num("NextPartNumberMarker", last.number);
    }
    x.elem_num("MaxParts", max)
        .elem("IsTruncated", if page.truncated { "true" } else { "false" });
    for p in &page.parts {
        x.open("Part")
            .elem_num("PartNumber", p.number)
            .elem_time("LastModified", p.last_modified)
            .etag(&p.etag)
            .elem_num("Size", p.size);
        write_checksum(&mut x, p.checksum.as_ref(), false);
        x.close();
    }
    if let Some(c) = &page.checksum {
        x.elem("ChecksumAlgorithm", &c.algorithm)
            .elem("ChecksumType", checksum::type_name(c));
    }
    write_initiator(&mut x, ctx);
    x.elem("StorageClass", "STANDARD");
    Ok(xml_ok(x.finish()))
}

fn write_initiator(x: &mut Xml, ctx: &Ctx) {
    let (id, name) = crate::bucket::owner(ctx);
    x.open("Initiator")
        .elem("ID", &id)
        .elem("DisplayName", &name)
        .close();
    write_owner(x, ctx);
}

pub(crate) async fn list_uploads(ctx: &Ctx) -> S3Result<HttpResponse> {
    let q = &ctx.query;
    let max = max_param(q, "max-uploads")?;
    let url = q
        .get("encoding-type")
        .is_some_and(|v| v.eq_ignore_ascii_case("url"));
    let prefix = q.get("prefix").unwrap_or("");
    let delimiter = q.get("delimiter").filter(|d| !d.is_empty());
    let key_marker = q.get("key-marker");
    let id_marker = q.get("upload-id-marker");
    let page = ctx
        .vfs()
        .list_uploads(&ctx.bucket, prefix, delimiter, key_marker, id_marker, max)
        .await?;
    let mut x = Xml::document("ListMultipartUploadsResult", true);
    x.elem("Bucket", &ctx.bucket)
        .elem("KeyMarker", &enc(url, key_marker.unwrap_or("")))
        .elem("UploadIdMarker", id_marker.unwrap_or(""));
    if let Some((key, id)) = &page.next_marker {
        x.elem("NextKeyMarker", &enc(url, key));
        if let Some(id) = id {
            x.elem("NextUploadIdMarker", id);
        }
    }
    x.elem_num("MaxUploads", max)
        .elem("IsTruncated", if page.truncated { "true" } else { "false" })
        .elem("Prefix", &enc(url, prefix));
    if let Some(d) = delimiter {
        x.elem("Delimiter", &enc(url, d));
    }
    if url {
        x.elem("EncodingType", "url");
    }
    for u in &page.uploads {
        x.open("Upload")
            .elem("Key", &enc(url, &u.key))
            .elem("UploadId", &u.upload_id);
        write_initiator(&mut x, ctx);
        x.elem("StorageClass", "STANDARD")
            .elem_time("Initiated", u.initiated)
            .close();
    }
    for p in &page.common_prefixes {
        x.open("CommonPrefixes")
            .elem("Prefix", &enc(url, p))
            .close();
    }
    Ok(xml_ok(x.finish()))
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
