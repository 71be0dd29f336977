//! ListObjects (v1), ListObjectsV2 and ListObjectVersions: one page request to the VFS each, and
//! their response shapes.

use actix_web::HttpResponse;
use s3gate_vfs::{ListItem, ListQuery, VersionItem, VersionQuery};

use crate::acl::owner;
use crate::ctx::Ctx;
use crate::error::{S3Error, S3Result};
use crate::router::ListParams;
use crate::token;
use crate::xml::{enc, xml_ok, Xml};

/// Which listing, with where its page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor<'a> {
    V1 {
        marker: Option<&'a str>,
    },
    V2 {
        continuation_token: Option<&'a str>,
        start_after: Option<&'a str>,
        fetch_owner: bool,
    },
}

pub(crate) async fn list_objects(
    ctx: &Ctx,
    list: &ListParams,
    flavor: Flavor<'_>,
) -> S3Result<HttpResponse> {
    let max_keys = list.max;
    let url = list.url;
    let prefix = list.prefix.as_str();
    let delimiter = list.delimiter.as_deref();
    let after = match flavor {
        Flavor::V1 { marker } => marker.map(str::to_string),
        Flavor::V2 {
            continuation_token: Some(t),
            ..
        } => Some(token::decode(t)?),
        Flavor::V2 { start_after, .. } => start_after.map(str::to_string),
    }
    .filter(|a| !a.is_empty());
    let page = ctx
        .vfs()
        .list(
            &ctx.bucket,
            &ListQuery {
                prefix,
                delimiter,
                after: after.as_deref(),
                max_keys,
            },
        )
        .await?;
    let last = page.items.last().map(|i| i.name().to_string());
    // A page of no keys asked for holds nothing, and S3 does not call it truncated.
    let truncated = page.truncated && max_keys > 0;
    let mut x = Xml::document("ListBucketResult", true);
    // About what an entry takes, so that the document is not copied as it grows.
    // An entry with its owner is about 400 bytes: one allocation for the page.
    x.reserve(page.items.len() * 512);
    // S3 encodes the prefix it echoes in every listing but the first version of ListObjects
    // (and clients decode it accordingly).
    let echo_prefix_encoded = url && !matches!(flavor, Flavor::V1 { .. });
    x.elem("Name", &ctx.bucket)
        .elem("Prefix", &enc(echo_prefix_encoded, prefix));
    match flavor {
        Flavor::V1 { .. } => {
            x.elem("Marker", &enc(url, after.as_deref().unwrap_or("")));
            if truncated {
                if let Some(l) = &last {
                    x.elem("NextMarker", &enc(url, l));
                }
            }
        }
        Flavor::V2 {
            continuation_token,
            start_after,
            ..
        } => {
            if let Some(t) = continuation_token {
                x.elem("ContinuationToken", t);
            }
            if let Some(s) = start_after {
                x.elem("StartAfter", &enc(url, s));
            }
            if truncated {
                if let Some(l) = &last {
                    x.elem("NextContinuationToken", &token::encode(l));
                }
            }
            x.elem_num("KeyCount", page.items.len());
        }
    }
    x.elem_num("MaxKeys", max_keys);
    if let Some(d) = delimiter {
        x.elem("Delimiter", &enc(url, d));
    }
    x.elem_clean("IsTruncated", word(truncated));
    if url {
        x.elem_clean("EncodingType", "url");
    }
    let owner = match flavor {
        Flavor::V2 { fetch_owner, .. } => fetch_owner,
        _ => true,
    }
    .then(|| owner(ctx).markup("Owner"));
    for item in &page.items {
        if let ListItem::Object { key, info } = item {
            x.open("Contents");
            x.elem("Key", &enc(url, key));
            x.elem_time("LastModified", info.last_modified)
                .etag(&info.etag)
                .elem_num("Size", info.size);
            if let Some(o) = &owner {
                x.raw(o);
            }
            x.elem_clean("StorageClass", "STANDARD");
            x.close();
        }
    }
    for item in &page.items {
        if let ListItem::CommonPrefix(p) = item {
            x.open("CommonPrefixes")
                .elem("Prefix", &enc(url, p))
                .close();
        }
    }
    Ok(xml_ok(x.finish()))
}

/// ListObjectVersions: the versions and delete markers of the keys, newest first within a key.
pub(crate) async fn list_versions(
    ctx: &Ctx,
    list: &ListParams,
    key_marker: Option<&str>,
    version_id_marker: Option<&str>,
) -> S3Result<HttpResponse> {
    let max_keys = list.max;
    let url = list.url;
    let prefix = list.prefix.as_str();
    let delimiter = list.delimiter.as_deref();
    let key_marker = key_marker.filter(|k| !k.is_empty());
    if key_marker.is_none() && version_id_marker.is_some_and(|v| !v.is_empty()) {
        return Err(S3Error::invalid_argument(
            "A version-id marker cannot be specified without a key marker.",
        ));
    }
    let page = ctx
        .vfs()
        .list_versions(
            &ctx.bucket,
            &VersionQuery {
                prefix,
                delimiter,
                key_marker,
                version_id_marker,
                max_keys,
            },
        )
        .await?;
    let truncated = page.truncated && max_keys > 0;
    let mut x = Xml::document("ListVersionsResult", true);
    // An entry with its owner is about 400 bytes: one allocation for the page.
    x.reserve(page.items.len() * 512);
    x.elem("Name", &ctx.bucket)
        .elem("Prefix", &enc(url, prefix))
        .elem("KeyMarker", &enc(url, key_marker.unwrap_or("")))
        .elem("VersionIdMarker", version_id_marker.unwrap_or(""));
    if truncated {
        if let Some(k) = &page.next_key_marker {
            x.elem("NextKeyMarker", &enc(url, k));
        }
        if let Some(v) = &page.next_version_id_marker {
            x.elem("NextVersionIdMarker", v);
        }
    }
    x.elem_num("MaxKeys", max_keys);
    if let Some(d) = delimiter {
        x.elem("Delimiter", &enc(url, d));
    }
    x.elem_clean("IsTruncated", word(truncated));
    if url {
        x.elem_clean("EncodingType", "url");
    }
    let owner = owner(ctx).markup("Owner");
    // Version ids, `true`/`false` and the storage class need no escaping: only keys and ETags
    // go through the escape.
    for item in &page.items {
        match *item {
            VersionItem::Version {
                key,
                version_id,
                latest,
                size,
                last_modified,
                etag,
            } => {
                x.open("Version")
                    .elem("Key", &enc(url, page.text(key)))
                    .elem_clean("VersionId", version_id.as_str())
                    .elem_clean("IsLatest", word(latest))
                    .elem_time("LastModified", last_modified)
                    .etag(page.text(etag))
                    .elem_num("Size", size)
                    .raw(&owner)
                    .elem_clean("StorageClass", "STANDARD")
                    .close();
            }
            VersionItem::DeleteMarker {
                key,
                version_id,
                latest,
                last_modified,
            } => {
                x.open("DeleteMarker")
                    .elem("Key", &enc(url, page.text(key)))
                    .elem_clean("VersionId", version_id.as_str())
                    .elem_clean("IsLatest", word(latest))
                    .elem_time("LastModified", last_modified)
                    .raw(&owner)
                    .close();
            }
            VersionItem::CommonPrefix(_) => {}
        }
    }
    for item in &page.items {
        if let VersionItem::CommonPrefix(p) = *item {
            x.open("CommonPrefixes")
                .elem("Prefix", &enc(url, page.text(p)))
                .close();
        }
    }
    Ok(xml_ok(x.finish()))
}

/// A boolean as XML writes it.
fn word(b: bool) -> &'static str {
    match b {
        true => "true",
        false => "false",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        for k in ["a", "a/b c+é", ""] {
            assert_eq!(token::decode(&token::encode(k)).unwrap(), k);
        }
        assert!(token::decode("!!!").is_err());
    }
}
