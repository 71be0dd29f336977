//! ListObjects (v1), ListObjectsV2 and ListObjectVersions: one page request to the VFS, three
//! response shapes.

use actix_web::HttpResponse;
use base64::Engine;
use s3gate_vfs::{ListItem, ListQuery};

use crate::acl::write_owner;
use crate::ctx::Ctx;
use crate::error::{S3Error, S3Result};
use crate::xml::{enc, xml_ok, Xml};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    V1,
    V2,
    Versions,
}

fn token_encode(name: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(name.as_bytes())
}

fn token_decode(token: &str) -> S3Result<String> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| S3Error::invalid_argument("The continuation token provided is incorrect"))
}

pub(crate) async fn list_objects(ctx: &Ctx, flavor: Flavor) -> S3Result<HttpResponse> {
    let q = &ctx.query;
    let max_keys = q.max("max-keys")?;
    let url = match q.get("encoding-type") {
        None => false,
        Some(v) if v.eq_ignore_ascii_case("url") => true,
        Some(_) => {
            return Err(S3Error::invalid_argument(
                "Invalid Encoding Method specified in Request",
            ))
        }
    };
    let prefix = q.get("prefix").unwrap_or("");
    let delimiter = q.get("delimiter").filter(|d| !d.is_empty());
    let token = match (flavor, q.get("continuation-token")) {
        (Flavor::V2, Some(t)) => Some(token_decode(t)?),
        _ => None,
    };
    let after = match flavor {
        Flavor::V1 => q.get("marker").map(str::to_string),
        Flavor::V2 => token
            .clone()
            .or_else(|| q.get("start-after").map(str::to_string)),
        Flavor::Versions => q.get("key-marker").map(str::to_string),
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
    let root = match flavor {
        Flavor::Versions => "ListVersionsResult",
        _ => "ListBucketResult",
    };
    let mut x = Xml::document(root, true);
    // About what an entry takes, so that the document is not copied as it grows.
    x.reserve(page.items.len() * 256);
    x.elem("Name", &ctx.bucket)
        .elem("Prefix", &enc(url, prefix));
    match flavor {
        Flavor::V1 => {
            x.elem("Marker", &enc(url, after.as_deref().unwrap_or("")));
            if page.truncated {
                if let Some(l) = &last {
                    x.elem("NextMarker", &enc(url, l));
                }
            }
        }
        Flavor::V2 => {
            if let Some(t) = q.get("continuation-token") {
                x.elem("ContinuationToken", t);
            }
            if let Some(s) = q.get("start-after") {
                x.elem("StartAfter", &enc(url, s));
            }
            if page.truncated {
                if let Some(l) = &last {
                    x.elem("NextContinuationToken", &token_encode(l));
                }
            }
            x.elem_num("KeyCount", page.items.len());
        }
        Flavor::Versions => {
            x.elem("KeyMarker", &enc(url, after.as_deref().unwrap_or("")));
            x.elem("VersionIdMarker", q.get("version-id-marker").unwrap_or(""));
            if page.truncated {
                if let Some(l) = &last {
                    x.elem("NextKeyMarker", &enc(url, l));
                    x.elem("NextVersionIdMarker", "null");
                }
            }
        }
    }
    x.elem_num("MaxKeys", max_keys);
    if let Some(d) = delimiter {
        x.elem("Delimiter", &enc(url, d));
    }
    x.elem("IsTruncated", if page.truncated { "true" } else { "false" });
    if url {
        x.elem("EncodingType", "url");
    }
    let with_owner = match flavor {
        Flavor::V2 => q.get("fetch-owner") == Some("true"),
        _ => true,
    };
    for item in &page.items {
        if let ListItem::Object { key, info } = item {
            x.open(if flavor == Flavor::Versions {
                "Version"
            } else {
                "Contents"
            });
            x.elem("Key", &enc(url, key));
            if flavor == Flavor::Versions {
                x.elem("VersionId", "null").elem("IsLatest", "true");
            }
            x.elem_time("LastModified", info.last_modified)
                .etag(&info.etag)
                .elem_num("Size", info.size);
            if with_owner {
                write_owner(&mut x, ctx);
            }
            x.elem("StorageClass", "STANDARD");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        for k in ["a", "a/b c+é", ""] {
            assert_eq!(token_decode(&token_encode(k)).unwrap(), k);
        }
        assert!(token_decode("!!!").is_err());
    }
}
