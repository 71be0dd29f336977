//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`): each takes raw bytes,
//! reads them as the request part it names, and must answer or refuse, never panic. What each
//! checks beyond not panicking is asserted where it is checked.

use actix_http::header::{HeaderName, HeaderValue};
use actix_http::{Method, RequestHead, Uri};

/// Request lines in the order `method\nhost\npath?query\n…`, split at newlines.
fn lines(data: &[u8]) -> Vec<&str> {
    std::str::from_utf8(data)
        .map(|s| s.split('\n').collect())
        .unwrap_or_default()
}

/// Method, Host and target: a route or an S3 error; a routed bucket never holds a `/`.
pub fn router(data: &[u8]) {
    let l = lines(data);
    let (Some(method), Some(target)) = (l.first(), l.get(2)) else {
        return;
    };
    let Ok(method) = Method::from_bytes(method.as_bytes()) else {
        return;
    };
    let host = l.get(1).copied().filter(|h| !h.is_empty());
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let Ok(q) = crate::router::Query::parse(query) else {
        return;
    };
    let domains = vec!["s3.fuzz".to_string()];
    let plain = actix_http::header::HeaderMap::new();
    let mut copy = actix_http::header::HeaderMap::new();
    copy.insert(
        HeaderName::from_static("x-amz-copy-source"),
        HeaderValue::from_static("/src/key"),
    );
    for headers in [&plain, &copy] {
        if let Ok(r) = crate::router::route(&method, host, path, &q, headers, &domains) {
            assert!(!r.bucket.contains('/'), "{r:?}");
        }
    }
}

/// An aws-chunked body: byte 0 picks signed or unsigned framing, byte 1 the size of the
/// pieces it arrives in.
pub fn chunked(data: &[u8]) {
    let [flags, step, body @ ..] = data else {
        return;
    };
    let _ = crate::auth::chunked::fuzz_decode(body, usize::from(*step) + 1, flags & 1 == 1);
}

/// A Range header against a size (the first 8 bytes, little-endian): whole, unsatisfiable, or
/// a part inside the object.
pub fn range(data: &[u8]) {
    let Some((size, header)) = data.split_first_chunk::<8>() else {
        return;
    };
    if let Ok(h) = std::str::from_utf8(header) {
        crate::object::fuzz_range(h, u64::from_le_bytes(*size) >> (size[0] % 64));
    }
}

/// The XML request bodies: DeleteObjects, CompleteMultipartUpload, the tag sets of
/// PutObjectTagging and PutBucketTagging with the rules they are checked against, and a
/// lifecycle configuration, which once accepted reads back as the same rules.
pub fn xml(data: &[u8]) {
    let _ = crate::xml::parse_delete(data);
    let _ = crate::xml::parse_complete(data);
    if let Ok(tags) = crate::xml::parse_tagging(data) {
        let _ = crate::tags::checked(tags, crate::tags::Holder::Bucket);
    }
    if let Ok(rules) = crate::lifecycle::parse_rules(data) {
        let again = crate::lifecycle::parse_rules(crate::lifecycle::document(&rules).as_bytes());
        assert_eq!(again.as_ref().ok(), Some(&rules));
    }
}

/// A request head signed with SigV4 (header or presigned query) or SigV2: `target\nheader:
/// value\n…`. Checked against one configured key; whatever it claims, it is authenticated or
/// refused, never a panic.
pub fn auth(data: &[u8]) {
    let l = lines(data);
    let Some(target) = l.first() else {
        return;
    };
    let Ok(uri) = target.parse::<Uri>() else {
        return;
    };
    let mut head = RequestHead::default();
    head.method = Method::PUT;
    head.uri = uri;
    for line in &l[1..] {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.trim().as_bytes()),
            HeaderValue::from_str(value.trim()),
        ) {
            head.headers.append(n, v);
        }
    }
    let keys = crate::auth::Keys::new(
        &[s3gate_config::AuthKey {
            access_key: "AKIDFUZZ".into(),
            secret_key: "fuzz/secret".into(),
        }],
        &[],
    );
    let week = std::time::Duration::from_secs(7 * 24 * 3600);
    let _ = crate::auth::authenticate(&head, &keys, None, week);
    let _ = crate::auth::authenticate(&head, &keys, Some("bucket"), week);
}
