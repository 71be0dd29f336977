//! AWS Signature Version 2: still what the aws CLI v1, boto3 and s3cmd use by default for
//! presigned URLs (`AWSAccessKeyId` / `Expires` / `Signature`), and what older tools send as
//! `Authorization: AWS key:signature`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::dev::RequestHead;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

use super::{parse_payload_hash, Auth, Keys, PayloadHash};
use crate::error::{S3Error, S3Result};
use crate::router::Query;

/// The query parameters that are part of the signed resource, in sorted order.
const SIGNED_SUBRESOURCES: [&str; 28] = [
    "accelerate",
    "acl",
    "cors",
    "delete",
    "lifecycle",
    "location",
    "logging",
    "notification",
    "object-lock",
    "partNumber",
    "policy",
    "replication",
    "requestPayment",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "website",
];

/// The longest a SigV2 header-signed request may be away from our clock.
const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// A header's value, empty when absent (as SigV2 signs it).
fn header<'a>(req: &'a RequestHead, name: &str) -> &'a str {
    crate::headers::header(req, name).unwrap_or("")
}

/// A header's bytes, empty when absent: the signed text is bytes, since a value (Latin-1
/// metadata) need not be UTF-8.
fn header_bytes<'a>(req: &'a RequestHead, name: &str) -> &'a [u8] {
    req.headers.get(name).map_or(&[], |v| v.as_bytes())
}

/// The string to sign; `date` is the Date header (header auth) or Expires (presigned), `path`
/// the resource's path (the bucket's included when it came from the host).
fn string_to_sign(req: &RequestHead, query: &Query, date: &str, path: &str) -> Vec<u8> {
    let mut s = Vec::with_capacity(256);
    s.extend_from_slice(req.method.as_str().as_bytes());
    for part in [
        header_bytes(req, "content-md5"),
        header_bytes(req, "content-type"),
        date.as_bytes(),
    ] {
        s.push(b'\n');
        s.extend_from_slice(part);
    }
    s.push(b'\n');
    let mut amz: Vec<(&str, Vec<u8>)> = Vec::new();
    for (name, value) in &req.headers {
        let n = name.as_str();
        if !n.starts_with("x-amz-") {
            continue;
        }
        let mut v = Vec::with_capacity(value.len());
        super::push_collapsed(&mut v, value.as_bytes());
        match amz.iter_mut().find(|(k, _)| *k == n) {
            Some((_, existing)) => {
                existing.push(b',');
                existing.extend_from_slice(&v);
            }
            None => amz.push((n, v)),
        }
    }
    amz.sort();
    for (k, v) in amz {
        s.extend_from_slice(k.as_bytes());
        s.push(b':');
        s.extend_from_slice(&v);
        s.push(b'\n');
    }
    let mut resource = path.to_string();
    let mut first = true;
    for name in SIGNED_SUBRESOURCES {
        for (k, v) in query.pairs().filter(|(k, _)| *k == name) {
            resource.push(if first { '?' } else { '&' });
            first = false;
            resource.push_str(k);
            if !v.is_empty() {
                resource.push('=');
                resource.push_str(v);
            }
        }
    }
    s.extend_from_slice(resource.as_bytes());
    s
}

/// The other spelling of a bucket's resource path: `/bucket/` for `/bucket`, and back. S3 takes
/// a bucket's resource signed either way (botocore's `s3` signer requests `/bucket` and signs
/// `/bucket/`); an object's trailing slash names another key, and has none.
fn bucket_alternative(path: &str) -> Option<String> {
    let inner = path.strip_prefix('/')?;
    match inner.split_once('/') {
        None if !inner.is_empty() => Some(format!("{path}/")),
        Some((bucket, "")) if !bucket.is_empty() => Some(format!("/{bucket}")),
        _ => None,
    }
}

/// Checks `signature` against the request's resource, and a bucket's against its other
/// spelling as well.
fn verify_request(
    secret: &str,
    req: &RequestHead,
    query: &Query,
    date: &str,
    vhost_bucket: Option<&str>,
    signature: &str,
) -> S3Result<()> {
    let path = match vhost_bucket {
        Some(b) => format!("/{b}{}", req.uri.path()),
        None => req.uri.path().to_string(),
    };
    let signed = verify(secret, &string_to_sign(req, query, date, &path), signature);
    match (signed, bucket_alternative(&path)) {
        (Err(_), Some(alt)) => verify(secret, &string_to_sign(req, query, date, &alt), signature),
        (signed, _) => signed,
    }
}

fn verify(secret: &str, sts: &[u8], signature: &str) -> S3Result<()> {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(sts);
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    if expected.as_bytes().ct_eq(signature.as_bytes()).into() {
        Ok(())
    } else {
        Err(S3Error::signature_does_not_match(
            "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
        ))
    }
}

fn secret<'k>(keys: &'k Keys, access_key: &str) -> S3Result<&'k str> {
    keys.secret(access_key).ok_or_else(|| {
        S3Error::invalid_access_key_id(
            "The AWS Access Key Id you provided does not exist in our records.",
        )
    })
}

fn authenticated(req: &RequestHead, access_key: &str) -> S3Result<Auth> {
    let payload = crate::headers::header(req, "x-amz-content-sha256");
    Ok(Auth {
        access_key: Some(access_key.to_string()),
        payload: match payload {
            // A SigV2 request cannot sign a streaming body; only a plain hex digest is checked.
            Some(h) if h.len() == 64 => parse_payload_hash(Some(h))?,
            _ => PayloadHash::Unsigned,
        },
        chunk_signer: None,
    })
}

/// A Date or x-amz-date value: an HTTP date, or RFC 2822 with a numeric zone (s3cmd sends
/// `+0000`).
fn parse_date(v: &str) -> Option<SystemTime> {
    httpdate::parse_http_date(v).ok().or_else(|| {
        time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc2822)
            .ok()
            .map(SystemTime::from)
    })
}

/// `Authorization: AWS ACCESS:SIGNATURE`.
pub(super) fn header_auth(
    req: &RequestHead,
    keys: &Keys,
    value: &str,
    query: &Query,
    vhost_bucket: Option<&str>,
) -> S3Result<Auth> {
    let (access_key, signature) = value
        .strip_prefix("AWS ")
        .and_then(|v| v.split_once(':'))
        .ok_or_else(|| S3Error::authorization_header_malformed("expected AWS ACCESS:SIGNATURE"))?;
    let secret = secret(keys, access_key)?;
    // With x-amz-date present the Date line is empty: the date is signed as an x-amz header.
    let amz_date = header(req, "x-amz-date");
    let date = if amz_date.is_empty() {
        header(req, "date")
    } else {
        ""
    };
    let when = if amz_date.is_empty() { date } else { amz_date };
    let signed_at = parse_date(when).ok_or_else(|| {
        S3Error::access_denied("AWS authentication requires a valid Date or x-amz-date header")
    })?;
    let now = SystemTime::now();
    let skew = now
        .duration_since(signed_at)
        .unwrap_or_else(|e| e.duration());
    if skew > MAX_SKEW {
        return Err(S3Error::request_time_too_skewed(
            "The difference between the request time and the current time is too large.",
        ));
    }
    verify_request(secret, req, query, date, vhost_bucket, signature)?;
    authenticated(req, access_key)
}

/// `?AWSAccessKeyId=…&Expires=…&Signature=…`.
pub(super) fn presigned_auth(
    req: &RequestHead,
    keys: &Keys,
    query: &Query,
    vhost_bucket: Option<&str>,
    max_presign: Duration,
) -> S3Result<Auth> {
    let get = |n: &str| {
        query
            .get(n)
            .ok_or_else(|| S3Error::access_denied(format!("presigned URL lacks {n}")))
    };
    let access_key = get("AWSAccessKeyId")?;
    let expires = get("Expires")?;
    let signature = get("Signature")?;
    let secret = secret(keys, access_key)?;
    let at: u64 = expires.parse().map_err(|_| {
        S3Error::access_denied("Expires must be a number of seconds since the epoch")
    })?;
    // SigV2 names only the end of a URL's life: without a cap, a leaked URL dated far ahead
    // (or beyond what time can represent) would never expire. SigV4's cap applies.
    let now = SystemTime::now();
    match UNIX_EPOCH.checked_add(Duration::from_secs(at)) {
        Some(deadline) if now > deadline => {
            return Err(S3Error::access_denied("Request has expired"))
        }
        Some(deadline)
            if now
                .checked_add(max_presign)
                .is_none_or(|last| deadline <= last) => {}
        _ => {
            return Err(S3Error::authorization_query_parameters_error(format!(
                "Expires must be at most {} seconds from now",
                max_presign.as_secs()
            )))
        }
    }
    verify_request(secret, req, query, expires, vhost_bucket, signature)?;
    authenticated(req, access_key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_as_clients_send_them() {
        let want = parse_date("Mon, 30 Nov 2026 10:00:00 GMT").unwrap();
        assert_eq!(parse_date("Mon, 30 Nov 2026 10:00:00 +0000"), Some(want));
        assert_eq!(
            parse_date("Mon, 30 Nov 2026 11:00:00 +0100"),
            Some(want),
            "zone offsets are applied"
        );
        assert_eq!(parse_date("yesterday"), None);
    }

    #[test]
    fn aws_documentation_example() {
        // "Object GET" from AWS's SigV2 documentation (virtual-hosted bucket awsexamplebucket1).
        let req = actix_web::test::TestRequest::get()
            .uri("/photos/puppy.jpg")
            .insert_header(("host", "awsexamplebucket1.us-west-1.s3.amazonaws.com"))
            .insert_header(("date", "Tue, 27 Mar 2007 19:36:42 +0000"))
            .to_http_request();
        let sts = string_to_sign(
            req.head(),
            &Query::default(),
            "Tue, 27 Mar 2007 19:36:42 +0000",
            "/awsexamplebucket1/photos/puppy.jpg",
        );
        assert_eq!(
            sts,
            b"GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/awsexamplebucket1/photos/puppy.jpg"
        );
        verify(
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            &sts,
            "qgk2+6Sv9/oM7G3qLEjTH1a1l1g=",
        )
        .unwrap();
        assert!(verify("wrong", &sts, "qgk2+6Sv9/oM7G3qLEjTH1a1l1g=").is_err());
    }

    #[test]
    fn a_bucket_is_signed_with_or_without_its_trailing_slash() {
        assert_eq!(bucket_alternative("/b"), Some("/b/".into()));
        assert_eq!(bucket_alternative("/b/"), Some("/b".into()));
        for path in ["/", "", "/b/k", "/b/k/", "//", "b"] {
            assert_eq!(bucket_alternative(path), None, "{path:?}");
        }
    }

    #[test]
    fn huge_expires_does_not_overflow() {
        let keys = Keys::new(&["AK,SK".parse().unwrap()], &[]);
        let q = Query::parse("AWSAccessKeyId=AK&Expires=18446744073709551615&Signature=x").unwrap();
        let req = actix_web::test::TestRequest::get()
            .uri("/b/k?AWSAccessKeyId=AK&Expires=18446744073709551615&Signature=x")
            .to_http_request();
        let week = Duration::from_secs(7 * 24 * 3600);
        let e = presigned_auth(req.head(), &keys, &q, None, week)
            .err()
            .unwrap();
        assert_eq!(e.code, "AuthorizationQueryParametersError");
    }

    #[test]
    fn subresources_are_signed_sorted() {
        let req = actix_web::test::TestRequest::get()
            .uri("/b/k?versionId=3&acl&prefix=x")
            .to_http_request();
        let q = Query::parse("versionId=3&acl&prefix=x").unwrap();
        let sts = string_to_sign(req.head(), &q, "D", "/b/k");
        assert!(sts.ends_with(b"/b/k?acl&versionId=3"), "{sts:?}");
    }
}
