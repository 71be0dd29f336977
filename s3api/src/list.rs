//! ListObjects (v1), ListObjectsV2 and ListObjectVersions: one page request to the VFS, three
//! response shapes.

use std::borrow::Cow;

use actix_web::HttpResponse;
use base64::Engine;
use s3gate_vfs::{ListItem, ListQuery};

use crate::error::{S3Error, S3Result};
use crate::xml::Xml;
use crate::Ctx;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    V1,
    V2,
    Versions,
}

const MAX_KEYS: usize = 1000;

/// `max-keys`, `max-uploads`, `max-parts`: 1000 when absent, clamped to 1000.
pub(crate) fn max_param(q: &crate::router::Query, name: &str) -> S3Result<usize> {
    match q.get(name) {
        None => Ok(MAX_KEYS),
        Some(v) => Ok(v
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| {
                S3Error::invalid_argument(format!("{name} must be a non-negative integer"))
            })?
            .min(MAX_KEYS as i64) as usize),
    }
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

/// `encoding-type=url`: keys and prefixes percent-encoded, `/` kept.
pub(crate) fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A key or prefix as the response shows it: URL-encoded when `url` (`encoding-type=url`).
pub(crate) fn enc(url: bool, s: &str) -> Cow<'_, str> {
    if url {
        Cow::Owned(url_encode(s))
    } else {
        Cow::Borrowed(s)
    }
}

pub(crate) async fn list_objects(ctx: &Ctx, flavor: Flavor) -> S3Result<HttpResponse> {
    let q = &ctx.query;
    let max_keys = max_param(q, "max-keys")?;
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
                crate::bucket::write_owner(&mut x, ctx);
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
    Ok(crate::object::xml_ok(x.finish()))
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

    #[test]
    fn url_encoding_keeps_slashes() {
        assert_eq!(url_encode("a b/c+d%é"), "a%20b/c%2Bd%25%C3%A9");
    }
}
