//! GetObjectAttributes: what HeadObject and ListParts would say of an object, in one document,
//! each part only when asked for (`x-amz-object-attributes`).

use actix_web::HttpResponse;
use s3gate_vfs::{Checksum, ObjectInfo};

use crate::checksum;
use crate::ctx::Ctx;
use crate::error::S3Result;
use crate::headers::version_header;
use crate::router::Attributes;
use crate::xml::Xml;

/// Which page of an object's parts to show.
pub(crate) struct PartsPage {
    pub(crate) max: usize,
    pub(crate) marker: u32,
}

pub(crate) async fn get(
    ctx: &Ctx,
    version_id: Option<&str>,
    want: Attributes,
    page: PartsPage,
) -> S3Result<HttpResponse> {
    let info = ctx.object_version(version_id).await?;
    let checksum = info.attrs.checksum.as_ref();
    let mut x = Xml::document("GetObjectAttributesResponse", true);
    if want.etag {
        x.elem("ETag", &info.etag);
    }
    if let Some(c) = checksum.filter(|_| want.checksum) {
        // The count of parts a composite value carries in headers (`-N`) is PartsCount here.
        let value = match c.kind.full_object {
            true => c.value.as_str(),
            false => c
                .value
                .rsplit_once('-')
                .map_or(c.value.as_str(), |(v, _)| v),
        };
        x.open("Checksum")
            .elem(&checksum::element(&c.kind.algorithm), value)
            .elem("ChecksumType", checksum::type_name(&c.kind))
            .close();
    }
    // An object that was not uploaded in parts has none to show.
    if want.object_parts && !info.parts.is_empty() {
        write_parts(&mut x, &info, checksum, &page);
    }
    if want.storage_class {
        x.elem("StorageClass", "STANDARD");
    }
    if want.object_size {
        x.elem_num("ObjectSize", info.size);
    }
    let mut resp = HttpResponse::Ok();
    resp.insert_header(("last-modified", httpdate::fmt_http_date(info.last_modified)));
    version_header(&mut resp, &info, ctx.versioning()?);
    Ok(resp.content_type("application/xml").body(x.finish()))
}

/// `ObjectParts`: the count, and the page of parts after the marker, each with its size and
/// the checksum it was uploaded with.
fn write_parts(x: &mut Xml, info: &ObjectInfo, checksum: Option<&Checksum>, page: &PartsPage) {
    let total = info.parts.len();
    let first = (page.marker as usize).min(total);
    let last = first.saturating_add(page.max).min(total);
    x.open("ObjectParts")
        .elem_num("PartsCount", total)
        .elem_num("PartNumberMarker", page.marker);
    if last > first {
        x.elem_num("NextPartNumberMarker", last);
    }
    x.elem_num("MaxParts", page.max)
        .elem("IsTruncated", if last < total { "true" } else { "false" });
    for (i, size) in info.parts.iter().enumerate().take(last).skip(first) {
        x.open("Part")
            .elem_num("PartNumber", i + 1)
            .elem_num("Size", size);
        if let Some((c, value)) = checksum.and_then(|c| Some((c, c.parts.get(i)?))) {
            x.elem(&checksum::element(&c.kind.algorithm), value);
        }
        x.close();
    }
    x.close();
}
