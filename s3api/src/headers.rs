//! Object headers in both directions: what a write stores, what a read returns, and the
//! conditional headers that decide between 200, 304 and 412.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::dev::RequestHead;
use actix_web::http::header::HeaderValue;
use actix_web::HttpRequest;
use actix_web::HttpResponseBuilder;
use s3gate_vfs::{
    Checksum, ContentHeaders, MetaValue, ObjectAttrs, ObjectInfo, Precondition, Versioning, Vfs,
    VfsError,
};

use crate::checksum;
use crate::error::{S3Error, S3Result};
use crate::lock_headers;
use crate::router::Query;
use crate::tags;

/// S3's limit on user metadata: names and values, in bytes.
const MAX_USER_META: usize = 2048;
const META_PREFIX: &str = "x-amz-meta-";

/// A request header's value, when present and text.
pub(crate) fn header<'a>(req: &'a RequestHead, name: &str) -> Option<&'a str> {
    req.headers.get(name).and_then(|v| v.to_str().ok())
}

/// The attributes a PUT (or a REPLACE copy, or a multipart upload) stores with the object, its
/// tags (`x-amz-tagging`) with them.
pub(crate) fn attrs_from_request(req: &HttpRequest) -> S3Result<ObjectAttrs> {
    // Header names arrive in lower case: that is the form S3 returns them in.
    let mut attrs = attrs_from_pairs(
        req.headers()
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_bytes())),
    )?;
    attrs.tags = tags::from_header(req)?;
    Ok(attrs)
}

/// The attributes named by `(name, value)` pairs with lower-case names (a request's headers,
/// or a form's fields); other names are ignored.
pub(crate) fn attrs_from_pairs<'a>(
    pairs: impl Iterator<Item = (&'a str, &'a [u8])>,
) -> S3Result<ObjectAttrs> {
    let mut headers = ContentHeaders::default();
    let mut encodings: Vec<String> = Vec::new();
    let mut user_meta: Vec<(String, MetaValue)> = Vec::new();
    let mut size = 0;
    for (name, value) in pairs {
        // Text as a header carries it: visible ASCII and tabs (what `to_str` takes).
        let text = || {
            std::str::from_utf8(value)
                .ok()
                .filter(|v| v.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b)))
                .map(str::to_string)
        };
        let slot = match name {
            "content-type" => &mut headers.content_type,
            "content-disposition" => &mut headers.content_disposition,
            "content-language" => &mut headers.content_language,
            "cache-control" => &mut headers.cache_control,
            "expires" => &mut headers.expires,
            // Every value, of every line: they are one list.
            "content-encoding" => {
                encodings.extend(text());
                continue;
            }
            _ => {
                let Some(short) = name.strip_prefix(META_PREFIX) else {
                    continue;
                };
                // The bytes as received (Latin-1 is common): a value is given back as it was
                // sent.
                size += short.len() + value.len();
                match user_meta.iter_mut().find(|(k, _)| k == short) {
                    Some((_, v)) => {
                        v.0.push(b',');
                        v.0.extend_from_slice(value);
                    }
                    None => user_meta.push((short.to_string(), MetaValue(value.to_vec()))),
                }
                continue;
            }
        };
        // The first of a repeated header, as before.
        if slot.is_none() {
            *slot = text();
        }
    }
    if size > MAX_USER_META {
        return Err(S3Error::metadata_too_large(format!(
            "Your metadata headers exceed the maximum allowed metadata size of {MAX_USER_META} bytes"
        )));
    }
    // `aws-chunked` describes how this request's body travelled, not the object.
    let kept: Vec<&str> = encodings
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|e| !e.is_empty() && !e.eq_ignore_ascii_case("aws-chunked"))
        .collect();
    headers.content_encoding = (!kept.is_empty()).then(|| kept.join(", "));
    user_meta.sort();
    Ok(ObjectAttrs {
        headers,
        user_meta,
        // Set from the body once it checked out.
        checksum: None,
        tags: Vec::new(),
        // Decided by the bucket's ownership controls (`acl::for_new_object`).
        acl: None,
        // Asked for by headers the handler checks against the bucket (`lock_headers.rs`).
        lock: Default::default(),
    })
}

/// A `Content-MD5` value (a header, or a form field): base64 of 16 bytes.
pub(crate) fn decode_content_md5(value: &str) -> S3Result<[u8; 16]> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .ok()
        .and_then(|b| <[u8; 16]>::try_from(b).ok())
        .ok_or_else(|| S3Error::invalid_digest("The Content-MD5 you specified is not valid."))
}

pub(crate) fn quoted(etag: &str) -> String {
    format!("\"{etag}\"")
}

/// The `response-*` query parameters of GET and HEAD, with the header each one replaces.
const OVERRIDES: [(&str, &str); 6] = [
    ("response-content-type", "content-type"),
    ("response-content-encoding", "content-encoding"),
    ("response-content-disposition", "content-disposition"),
    ("response-content-language", "content-language"),
    ("response-cache-control", "cache-control"),
    ("response-expires", "expires"),
];

/// The headers a GET or HEAD is asked to answer in place of the stored ones.
pub(crate) struct Overrides(Vec<(&'static str, HeaderValue)>);

impl Overrides {
    /// Reads the `response-*` parameters of the query. A value that cannot travel in a header
    /// (a line break, a control character) is refused here, before any work, as S3 does: the
    /// response builder would otherwise fail and answer a bare 500 that clients retry.
    pub(crate) fn of(query: &Query) -> S3Result<Overrides> {
        let mut out = Vec::new();
        for (param, name) in OVERRIDES {
            if let Some(v) = query.get(param) {
                let v = HeaderValue::from_str(v).map_err(|_| {
                    S3Error::invalid_argument(format!(
                        "{param} holds characters that cannot be sent in a header"
                    ))
                })?;
                out.push((name, v));
            }
        }
        Ok(Overrides(out))
    }

    fn get(&self, name: &str) -> Option<&HeaderValue> {
        self.0.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
}

/// `x-amz-expiration`, for the current version `info` of `bucket/key` when a lifecycle rule of
/// its bucket expires it: when (the midnight UTC S3 rounds to) and by which rule.
pub(crate) fn expiration_header(
    resp: &mut HttpResponseBuilder,
    vfs: &Vfs,
    bucket: &str,
    key: &str,
    info: &ObjectInfo,
) -> S3Result<()> {
    if let Some((when, rule)) = vfs.expiration(bucket, key, info)? {
        let value = format!(
            "expiry-date=\"{}\", rule-id=\"{}\"",
            httpdate::fmt_http_date(when),
            rule.replace('\\', "\\\\").replace('"', "\\\"")
        );
        // A rule ID that is no header text (a control character) leaves the header out.
        if let Ok(v) = HeaderValue::from_str(&value) {
            resp.insert_header(("x-amz-expiration", v));
        }
    }
    Ok(())
}

/// `x-amz-version-id` on an answer about a version that is there (a read, its tags, its
/// attributes): its id. A version without one (written before versioning) is the `null`
/// version of a bucket that has had versioning, and S3 names it so there; in a bucket that
/// never had, S3 names no version.
pub(crate) fn version_header(
    resp: &mut HttpResponseBuilder,
    info: &ObjectInfo,
    versioning: Versioning,
) {
    match &info.version_id {
        Some(v) => {
            resp.insert_header(("x-amz-version-id", v.as_str()));
        }
        None if versioning != Versioning::Unversioned => {
            resp.insert_header(("x-amz-version-id", "null"));
        }
        None => {}
    }
}

/// `x-amz-version-id` on the answer to a write (PUT, a form upload, a copy, Complete): the id
/// of the version it made. The `null` version a write makes while versioning is Suspended is
/// not named, as S3 answers there.
pub(crate) fn new_version_header(resp: &mut HttpResponseBuilder, info: &ObjectInfo) {
    if let Some(v) = info.version_id.as_deref().filter(|v| *v != "null") {
        resp.insert_header(("x-amz-version-id", v));
    }
}

/// Writes an object's headers, the overrides taking the place of the stored ones.
pub(crate) fn object_headers(
    resp: &mut HttpResponseBuilder,
    info: &ObjectInfo,
    overrides: &Overrides,
) {
    let h = &info.attrs.headers;
    let content_type = h.content_type.as_deref().unwrap_or("binary/octet-stream");
    for (name, stored) in [
        ("content-type", Some(content_type)),
        ("content-encoding", h.content_encoding.as_deref()),
        ("content-disposition", h.content_disposition.as_deref()),
        ("content-language", h.content_language.as_deref()),
        ("cache-control", h.cache_control.as_deref()),
        ("expires", h.expires.as_deref()),
    ] {
        match (overrides.get(name), stored) {
            (Some(v), _) => resp.insert_header((name, v.clone())),
            (None, Some(v)) => resp.insert_header((name, v)),
            (None, None) => resp,
        };
    }
    resp.insert_header(("etag", quoted(&info.etag)));
    resp.insert_header(("last-modified", httpdate::fmt_http_date(info.last_modified)));
    resp.insert_header(("accept-ranges", "bytes"));
    // How many tags, not which: those are read with GetObjectTagging.
    if !info.attrs.tags.is_empty() {
        resp.insert_header(("x-amz-tagging-count", info.attrs.tags.len().to_string()));
    }
    lock_headers::write(resp, &info.attrs.lock);
    for (k, v) in &info.attrs.user_meta {
        // Stored from a header, so a valid one; a record that says otherwise loses the value
        // rather than the response.
        if let Ok(v) = HeaderValue::from_bytes(v.as_bytes()) {
            resp.append_header((format!("{META_PREFIX}{k}"), v));
        }
    }
}

/// Does an `If-Match` / `If-None-Match` value match this ETag?
pub(crate) fn etag_matches(header: &str, etag: &str) -> bool {
    header.split(',').any(|t| {
        let t = t.trim();
        let t = t.strip_prefix("W/").unwrap_or(t);
        t == "*" || t.trim_matches('"') == etag
    })
}

/// Seconds resolution, as HTTP dates have.
fn to_second(t: SystemTime) -> SystemTime {
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// What conditional headers decide.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    Proceed,
    NotModified,
    PreconditionFailed,
}

/// Evaluates conditional headers named `<prefix>if-match` etc. (`prefix` is empty for GET and
/// HEAD, `x-amz-copy-source-` for a copy's source) in S3's order: If-Match before
/// If-Unmodified-Since (412), If-None-Match before If-Modified-Since (304); when If-None-Match is
/// present, If-Modified-Since is ignored. Unparseable dates are ignored, as HTTP says.
pub(crate) fn evaluate(req: &HttpRequest, prefix: &str, info: &ObjectInfo) -> Decision {
    let h = |n: &str| header(req.head(), &format!("{prefix}{n}"));
    let date = |n: &str| h(n).and_then(|v| httpdate::parse_http_date(v).ok());
    let modified = to_second(info.last_modified);
    match h("if-match") {
        Some(v) if !etag_matches(v, &info.etag) => return Decision::PreconditionFailed,
        Some(_) => {}
        None => {
            if date("if-unmodified-since").is_some_and(|d| modified > d) {
                return Decision::PreconditionFailed;
            }
        }
    }
    match h("if-none-match") {
        Some(v) if etag_matches(v, &info.etag) => Decision::NotModified,
        Some(_) => Decision::Proceed,
        None if date("if-modified-since").is_some_and(|d| modified <= d) => Decision::NotModified,
        None => Decision::Proceed,
    }
}

/// `x-amz-checksum-<algorithm>` and `x-amz-checksum-type` of a stored checksum.
pub(crate) fn checksum_headers(resp: &mut HttpResponseBuilder, c: Option<&Checksum>) {
    let Some(c) = c else { return };
    if let Some((name, value)) = checksum::header_of(c) {
        resp.insert_header((name, value));
        resp.insert_header(("x-amz-checksum-type", checksum::type_name(&c.kind)));
    }
}

/// The conditions a write or a delete puts on the object it replaces or removes, one shape for
/// every operation (the VFS evaluates it under the key's lock): `if_match`, that version (and
/// `NoSuchKey` when there is none); `if_none`, not that version (`*`: no object at all).
pub(crate) fn etag_precondition(
    if_match: Option<String>,
    if_none: Option<String>,
) -> Option<Precondition> {
    if if_match.is_none() && if_none.is_none() {
        return None;
    }
    Some(Box::new(move |current: Option<&ObjectInfo>| {
        let Some(c) = current else {
            return match if_match {
                Some(_) => Err(VfsError::NoSuchKey),
                None => Ok(()),
            };
        };
        let held = if_match.as_deref().is_none_or(|m| etag_matches(m, &c.etag))
            && if_none.as_deref().is_none_or(|n| !etag_matches(n, &c.etag));
        match held {
            true => Ok(()),
            false => Err(VfsError::PreconditionFailed),
        }
    }))
}

/// The `If-Match` / `If-None-Match` headers of a write (PUT, copy, Complete), on the object it
/// replaces.
pub(crate) fn write_precondition(req: &HttpRequest) -> Option<Precondition> {
    etag_precondition(
        header(req.head(), "if-match").map(str::to_string),
        header(req.head(), "if-none-match").map(str::to_string),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etag_lists() {
        assert!(etag_matches("\"abc\"", "abc"));
        assert!(etag_matches("\"x\", \"abc\"", "abc"));
        assert!(etag_matches("*", "abc"));
        assert!(etag_matches("W/\"abc\"", "abc"));
        assert!(!etag_matches("\"abd\"", "abc"));
    }

    #[test]
    fn precedence() {
        let info = ObjectInfo {
            size: 1,
            last_modified: UNIX_EPOCH + Duration::from_secs(1_000_000),
            etag: "e".into(),
            attrs: ObjectAttrs::default(),
            parts: Vec::new(),
            version_id: None,
        };
        let old = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(10));
        let new = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(2_000_000));
        let req = |hs: &[(&str, &str)]| {
            let mut r = actix_web::test::TestRequest::get();
            for (k, v) in hs {
                r = r.insert_header((*k, *v));
            }
            r.to_http_request()
        };
        // If-Match true wins over a failing If-Unmodified-Since.
        assert_eq!(
            evaluate(
                &req(&[("if-match", "\"e\""), ("if-unmodified-since", &old)]),
                "",
                &info
            ),
            Decision::Proceed
        );
        assert_eq!(
            evaluate(&req(&[("if-match", "\"x\"")]), "", &info),
            Decision::PreconditionFailed
        );
        assert_eq!(
            evaluate(&req(&[("if-unmodified-since", &old)]), "", &info),
            Decision::PreconditionFailed
        );
        // If-None-Match false: If-Modified-Since is ignored.
        assert_eq!(
            evaluate(
                &req(&[("if-none-match", "\"x\""), ("if-modified-since", &new)]),
                "",
                &info
            ),
            Decision::Proceed
        );
        assert_eq!(
            evaluate(&req(&[("if-none-match", "*")]), "", &info),
            Decision::NotModified
        );
        assert_eq!(
            evaluate(&req(&[("if-modified-since", &new)]), "", &info),
            Decision::NotModified
        );
        assert_eq!(
            evaluate(&req(&[("if-modified-since", &old)]), "", &info),
            Decision::Proceed
        );
        assert_eq!(
            evaluate(
                &req(&[("x-amz-copy-source-if-match", "\"x\"")]),
                "x-amz-copy-source-",
                &info
            ),
            Decision::PreconditionFailed
        );
    }
}
