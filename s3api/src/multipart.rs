//! Multipart uploads: create, upload parts (streamed; copied parts are in [`crate::copy`]),
//! complete, abort, list.

use actix_web::HttpResponse;
use s3gate_vfs::{Checksum, PartBody, PartPage, VfsError, MAX_PART_NUMBER};

use crate::acl::{self, owner, Identity};
use crate::checksum::{self, upload_algorithm, Algorithm};
use crate::ctx::Ctx;
use crate::error::{S3Error, S3Result};
use crate::headers::{
    attrs_from_request, checksum_headers, expiration_header, new_version_header, quoted,
    write_precondition,
};
use crate::intake::Lent;
use crate::router::ListParams;
use crate::xml::{enc, parse_complete, xml_ok, CompletedPart, Xml};

/// The largest CompleteMultipartUpload body: 10,000 parts with room for markup.
const MAX_COMPLETE_BODY: usize = 8 * 1024 * 1024;

pub(crate) async fn create(ctx: &Ctx) -> S3Result<HttpResponse> {
    let mut attrs = attrs_from_request(&ctx.req)?;
    attrs.acl = acl::for_new_object(ctx, ctx.auth.access_key.as_deref(), None).await?;
    // Kept with the upload, and given to the object at Complete.
    attrs.lock = ctx.lock_asked().await?;
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

pub(crate) async fn upload_part(
    ctx: &Ctx,
    upload_id: &str,
    number: u32,
    payload: Lent,
) -> S3Result<HttpResponse> {
    let mut body = ctx.body(payload)?;
    if let Some(algo) = upload_algorithm(ctx.vfs(), &ctx.bucket, &ctx.key, upload_id).await? {
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
        .multipart()
        .upload_part(&ctx.bucket, &ctx.key, upload_id, number, part)
        .await?;
    let mut resp = HttpResponse::Ok();
    resp.insert_header(("etag", quoted(&part.etag)));
    if let Some((name, value)) = part.checksum.as_ref().and_then(checksum::header_of) {
        resp.insert_header((name, value));
    }
    Ok(resp.finish())
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
        // A composite value is sent as S3 answers it, `<base64>-<parts>`, or bare.
        let sent = sent.trim();
        if sent != value && sent != value.trim_end_matches(&format!("-{}", values.len())) {
            return Err(S3Error::bad_digest(format!(
                "The {} you specified did not match the calculated checksum.",
                algo.header()
            )));
        }
    }
    Ok(Some(Checksum {
        kind: kind.clone(),
        value,
        parts: values.iter().map(|(v, _)| v.to_string()).collect(),
    }))
}

pub(crate) async fn complete(ctx: &Ctx, id: &str, payload: Lent) -> S3Result<HttpResponse> {
    let mut body = ctx.body(payload)?;
    body.ignore_checksum_headers();
    let wanted = parse_complete(&ctx.small_body(body, MAX_COMPLETE_BODY).await?)?;
    let checksum = match ctx
        .vfs()
        .multipart()
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
            write_precondition(&ctx.req),
        )
        .await?;
    let mut x = Xml::document("CompleteMultipartUploadResult", true);
    x.elem("Location", &format!("/{}/{}", ctx.bucket, ctx.key))
        .elem("Bucket", &ctx.bucket)
        .elem("Key", &ctx.key)
        .etag(&info.etag);
    checksum::write_elements(&mut x, info.attrs.checksum.as_ref(), true);
    let mut resp = HttpResponse::Ok();
    checksum_headers(&mut resp, info.attrs.checksum.as_ref());
    new_version_header(&mut resp, &info);
    expiration_header(&mut resp, ctx.vfs(), &ctx.bucket, &ctx.key, &info)?;
    Ok(resp.content_type("application/xml").body(x.finish()))
}

pub(crate) async fn abort(ctx: &Ctx, upload_id: &str) -> S3Result<HttpResponse> {
    ctx.vfs()
        .multipart()
        .abort(&ctx.bucket, &ctx.key, upload_id)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

pub(crate) async fn list_parts(
    ctx: &Ctx,
    id: &str,
    max: usize,
    marker: u32,
) -> S3Result<HttpResponse> {
    let page = ctx
        .vfs()
        .multipart()
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
        checksum::write_elements(&mut x, p.checksum.as_ref(), false);
        x.close();
    }
    if let Some(c) = &page.checksum {
        x.elem("ChecksumAlgorithm", &c.algorithm)
            .elem("ChecksumType", checksum::type_name(c));
    }
    write_initiator(&mut x, &owner(ctx));
    x.elem("StorageClass", "STANDARD");
    Ok(xml_ok(x.finish()))
}

/// The caller started the upload and owns it.
fn write_initiator(x: &mut Xml, caller: &Identity) {
    caller.write(x, "Initiator");
    caller.write(x, "Owner");
}

pub(crate) async fn list_uploads(
    ctx: &Ctx,
    list: &ListParams,
    key_marker: Option<&str>,
    id_marker: Option<&str>,
) -> S3Result<HttpResponse> {
    let (max, url, prefix) = (list.max, list.url, list.prefix.as_str());
    let delimiter = list.delimiter.as_deref();
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
    let caller = owner(ctx);
    for u in &page.uploads {
        x.open("Upload")
            .elem("Key", &enc(url, &u.key))
            .elem("UploadId", &u.upload_id);
        write_initiator(&mut x, &caller);
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
