//! AWS Signature Version 4: header auth and presigned URLs. The verifier rebuilds the canonical
//! request from the request as received, its query from the very pairs the router acts on, and
//! compares signatures in constant time. A request carries exactly one signature: what is
//! verified is then what is served.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, SystemTime};

use actix_web::dev::RequestHead;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{parse_payload_hash, Auth, ChunkSigner, Keys, PayloadHash};
use crate::error::{S3Error, S3Result};
use crate::router::Query;

type HmacSha256 = Hmac<Sha256>;

pub(super) const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The most a request's clock may differ from ours.
const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

pub(crate) fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

pub(crate) fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k = hmac(&k, region.as_bytes());
    let k = hmac(&k, service.as_bytes());
    hmac(&k, b"aws4_request")
}

/// Signing keys already derived, by secret, date, region and service: a client signs every
/// request of a day with the same key, which costs four HMACs to derive. Keyed by the secret
/// itself, so a key reloaded with a new secret never meets an old entry; emptied when full
/// (a day's keys are a handful per access key).
static SIGNING_KEYS: LazyLock<Mutex<HashMap<String, [u8; 32]>>> = LazyLock::new(Default::default);
const SIGNING_KEYS_MAX: usize = 4096;

/// [`signing_key`], derived once per secret, date, region and service.
fn derived_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let id = format!("{secret}\0{date}\0{region}\0{service}");
    if let Some(k) = SIGNING_KEYS.lock().ok().and_then(|m| m.get(&id).copied()) {
        return k;
    }
    let key = signing_key(secret, date, region, service);
    if let Ok(mut m) = SIGNING_KEYS.lock() {
        if m.len() >= SIGNING_KEYS_MAX {
            m.clear();
        }
        m.insert(id, key);
    }
    key
}

/// The pieces of a SigV4 signature, from the header or the query.
struct Signature<'a> {
    access_key: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
    datetime: String,
}

fn parse_credential(cred: &str) -> S3Result<(&str, &str, &str, &str)> {
    let parts: Vec<&str> = cred.split('/').collect();
    match parts.as_slice() {
        [ak, date, region, service, "aws4_request"] => Ok((ak, date, region, service)),
        _ => Err(S3Error::authorization_header_malformed(format!(
            "the credential {cred:?} is malformed; expected \"<access key>/<YYYYMMDD>/<region>/s3/aws4_request\""
        ))),
    }
}

fn parse_datetime(s: &str) -> S3Result<SystemTime> {
    let fmt = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    time::PrimitiveDateTime::parse(s, fmt)
        .map(|t| t.assume_utc().into())
        .map_err(|_| S3Error::access_denied(format!("invalid X-Amz-Date {s:?}")))
}

/// Header auth: `fields` is what follows the algorithm in `Authorization`
/// (`Credential=…, SignedHeaders=…, Signature=…`).
pub(super) fn header_auth(
    req: &RequestHead,
    keys: &Keys,
    fields: &str,
    query: &Query,
) -> S3Result<Auth> {
    let header = |n: &str| crate::headers::header(req, n);
    let mut cred = None;
    let mut signed = None;
    let mut signature = None;
    for part in fields.split(',') {
        match part.trim().split_once('=') {
            Some(("Credential", v)) => cred = Some(v),
            Some(("SignedHeaders", v)) => signed = Some(v),
            Some(("Signature", v)) => signature = Some(v),
            _ => {}
        }
    }
    let (Some(cred), Some(signed), Some(signature)) = (cred, signed, signature) else {
        return Err(S3Error::authorization_header_malformed(
            "the authorization header needs Credential, SignedHeaders and Signature",
        ));
    };
    let (access_key, date, region, service) = parse_credential(cred)?;
    let datetime = header("x-amz-date")
        .ok_or_else(|| {
            S3Error::access_denied("AWS authentication requires a valid Date or x-amz-date header")
        })?
        .to_string();
    let payload_decl = header("x-amz-content-sha256").ok_or_else(|| {
        S3Error::invalid_request("Missing required header for this request: x-amz-content-sha256")
    })?;
    let sig = Signature {
        access_key,
        date,
        region,
        service,
        signed_headers: signed.split(';').collect(),
        signature,
        datetime,
    };
    let secret = lookup(keys, &sig)?;
    check_time(&sig, None)?;
    let payload = parse_payload_hash(Some(payload_decl))?;
    let key = derived_key(secret, sig.date, sig.region, sig.service);
    let canonical = canonical_request(req, &sig.signed_headers, query, None, payload_decl)?;
    verify(&key, &sig, &canonical)?;
    let chunk_signer =
        matches!(payload, PayloadHash::Streaming { signed: true, .. }).then(|| ChunkSigner {
            key,
            datetime: sig.datetime.clone(),
            scope: scope(&sig),
            previous: sig.signature.to_string(),
        });
    Ok(Auth {
        access_key: Some(sig.access_key.to_string()),
        payload,
        chunk_signer,
    })
}

pub(super) fn presigned_auth(
    req: &RequestHead,
    keys: &Keys,
    query: &Query,
    max_presign: Duration,
) -> S3Result<Auth> {
    let q = |n: &str| {
        query
            .get(n)
            .ok_or_else(|| S3Error::access_denied(format!("presigned URL lacks {n}")))
    };
    if q("X-Amz-Algorithm")? != ALGORITHM {
        return Err(S3Error::access_denied("unsupported X-Amz-Algorithm"));
    }
    let (access_key, date, region, service) = parse_credential(q("X-Amz-Credential")?)?;
    let expires: u64 = q("X-Amz-Expires")?
        .parse()
        .map_err(|_| S3Error::access_denied("X-Amz-Expires must be a number of seconds"))?;
    if expires > max_presign.as_secs() {
        return Err(S3Error::authorization_query_parameters_error(format!(
            "X-Amz-Expires must be at most {} seconds",
            max_presign.as_secs()
        )));
    }
    let sig = Signature {
        access_key,
        date,
        region,
        service,
        signed_headers: q("X-Amz-SignedHeaders")?.split(';').collect(),
        signature: q("X-Amz-Signature")?,
        datetime: q("X-Amz-Date")?.to_string(),
    };
    let secret = lookup(keys, &sig)?;
    check_time(&sig, Some(expires))?;
    let key = derived_key(secret, sig.date, sig.region, sig.service);
    let canonical = canonical_request(
        req,
        &sig.signed_headers,
        query,
        Some("X-Amz-Signature"),
        "UNSIGNED-PAYLOAD",
    )?;
    verify(&key, &sig, &canonical)?;
    Ok(Auth {
        access_key: Some(sig.access_key.to_string()),
        payload: PayloadHash::Unsigned,
        chunk_signer: None,
    })
}

fn lookup<'k>(keys: &'k Keys, sig: &Signature) -> S3Result<&'k str> {
    keys.secret(sig.access_key).ok_or_else(|| {
        S3Error::invalid_access_key_id(
            "The AWS Access Key Id you provided does not exist in our records.",
        )
    })
}

fn scope(sig: &Signature) -> String {
    format!("{}/{}/{}/aws4_request", sig.date, sig.region, sig.service)
}

/// Checks the signing time: within the allowed skew for header auth, unexpired for presigned.
fn check_time(sig: &Signature, presigned_for: Option<u64>) -> S3Result<()> {
    if sig.service != "s3" {
        return Err(S3Error::authorization_header_malformed(format!(
            "the credential names service {:?}; expected \"s3\"",
            sig.service
        )));
    }
    if !sig.datetime.starts_with(sig.date) {
        return Err(S3Error::signature_does_not_match(
            "the credential date does not match X-Amz-Date",
        ));
    }
    let signed_at = parse_datetime(&sig.datetime)?;
    let now = SystemTime::now();
    match presigned_for {
        None => {
            let skew = now
                .duration_since(signed_at)
                .unwrap_or_else(|e| e.duration());
            if skew > MAX_SKEW {
                return Err(S3Error::request_time_too_skewed(
                    "The difference between the request time and the current time is too large.",
                ));
            }
        }
        Some(secs) => {
            if signed_at > now + MAX_SKEW {
                return Err(S3Error::access_denied("Request is not valid yet"));
            }
            if now > signed_at + Duration::from_secs(secs) {
                return Err(S3Error::access_denied("Request has expired"));
            }
        }
    }
    Ok(())
}

fn verify(key: &[u8; 32], sig: &Signature, canonical: &[u8]) -> S3Result<()> {
    let sts = format!(
        "{ALGORITHM}\n{}\n{}\n{}",
        sig.datetime,
        scope(sig),
        hex::encode(Sha256::digest(canonical))
    );
    let expected = hex::encode(hmac(key, sts.as_bytes()));
    if expected.as_bytes().ct_eq(sig.signature.as_bytes()).into() {
        Ok(())
    } else {
        Err(S3Error::signature_does_not_match(
            "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
        ))
    }
}

/// RFC 3986 encoding as SigV4 wants it: everything but unreserved characters.
fn uri_encode(s: &str, out: &mut String) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

fn canonical_request(
    req: &RequestHead,
    signed_headers: &[&str],
    query: &Query,
    skip_param: Option<&str>,
    payload: &str,
) -> S3Result<Vec<u8>> {
    if !signed_headers.contains(&"host") {
        return Err(S3Error::access_denied("the host header must be signed"));
    }
    // Unsigned x-amz-* headers could turn a signed PUT into a copy of another object, or add
    // metadata: every one present must be signed, except those the official signers leave
    // out of presigned URLs.
    let presigned = skip_param.is_some();
    for name in req.headers.keys() {
        let n = name.as_str();
        let exempt = presigned && matches!(n, "x-amz-user-agent" | "x-amz-checksum-mode");
        if n.starts_with("x-amz-") && !exempt && !signed_headers.contains(&n) {
            return Err(S3Error::access_denied(
                "There were headers present in the request which were not signed",
            ));
        }
    }
    // Bytes, not text: a header value may hold bytes that are not UTF-8 (Latin-1 metadata),
    // and the client signed them as they are.
    let mut out = Vec::with_capacity(512);
    for part in [req.method.as_str(), "\n", req.uri.path(), "\n"] {
        out.extend_from_slice(part.as_bytes());
    }
    // Query: the very pairs the router acts on (a `+` is a space to both), re-encoded
    // canonically and sorted. Decoding them differently here would let one signature cover two
    // requests: `%2B` and `+` would sign alike and route apart.
    let mut pairs: Vec<(String, String)> = Vec::new();
    for (k, v) in query.pairs().filter(|(k, _)| Some(*k) != skip_param) {
        let (mut ek, mut ev) = (String::new(), String::new());
        uri_encode(k, &mut ek);
        uri_encode(v, &mut ev);
        pairs.push((ek, ev));
    }
    pairs.sort();
    let pairs: Vec<String> = pairs.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    out.extend_from_slice(pairs.join("&").as_bytes());
    out.push(b'\n');
    for name in signed_headers {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        let authority;
        let values: Vec<&[u8]> = if *name == "host" && !req.headers.contains_key("host") {
            authority = req.uri.authority().map(|a| a.to_string());
            authority.iter().map(|a| a.as_bytes()).collect()
        } else {
            req.headers.get_all(*name).map(|v| v.as_bytes()).collect()
        };
        for (i, v) in values.into_iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            super::push_collapsed(&mut out, v);
        }
        out.push(b'\n');
    }
    for part in ["\n", &signed_headers.join(";"), "\n", payload] {
        out.extend_from_slice(part.as_bytes());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::EMPTY_SHA256;

    #[test]
    fn a_derived_key_is_the_signing_key_and_follows_its_secret() {
        let a = derived_key("secret-a", "20261205", "us-east-1", "s3");
        assert_eq!(a, signing_key("secret-a", "20261205", "us-east-1", "s3"));
        assert_eq!(a, derived_key("secret-a", "20261205", "us-east-1", "s3"));
        let b = derived_key("secret-b", "20261205", "us-east-1", "s3");
        assert_eq!(b, signing_key("secret-b", "20261205", "us-east-1", "s3"));
        assert_ne!(a, b);
        assert_ne!(a, derived_key("secret-a", "20261206", "us-east-1", "s3"));
    }

    #[test]
    fn signing_key_matches_aws_example() {
        // From AWS's documentation of SigV4 key derivation.
        let k = signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20120215",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex::encode(k),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    #[test]
    fn aws_get_object_example() {
        // AWS's worked example "GET Object" (examplebucket, Range header).
        let req = actix_web::test::TestRequest::get()
            .uri("/test.txt")
            .insert_header(("host", "examplebucket.s3.amazonaws.com"))
            .insert_header(("range", "bytes=0-9"))
            .insert_header(("x-amz-content-sha256", EMPTY_SHA256))
            .insert_header(("x-amz-date", "20130524T000000Z"))
            .to_http_request();
        let signed = ["host", "range", "x-amz-content-sha256", "x-amz-date"];
        let canonical =
            canonical_request(req.head(), &signed, &Query::default(), None, EMPTY_SHA256).unwrap();
        let key = signing_key(
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "20130524",
            "us-east-1",
            "s3",
        );
        let sig = Signature {
            access_key: "AKIAIOSFODNN7EXAMPLE",
            date: "20130524",
            region: "us-east-1",
            service: "s3",
            signed_headers: signed.to_vec(),
            signature: "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
            datetime: "20130524T000000Z".into(),
        };
        verify(&key, &sig, &canonical).unwrap();
        let bad = Signature {
            signature: "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb42",
            ..sig
        };
        assert!(verify(&key, &bad, &canonical).is_err());
    }

    #[test]
    fn header_bytes_are_signed_as_sent() {
        let latin1 =
            actix_web::http::header::HeaderValue::from_bytes(b"  caf\xe9   cr\xe8me ").unwrap();
        let req = actix_web::test::TestRequest::put()
            .uri("/b/k")
            .insert_header(("host", "h"))
            .insert_header(("x-amz-meta-x", latin1))
            .to_http_request();
        let signed = ["host", "x-amz-meta-x"];
        let canonical = canonical_request(
            req.head(),
            &signed,
            &Query::default(),
            None,
            "UNSIGNED-PAYLOAD",
        )
        .unwrap();
        let line = b"\nx-amz-meta-x:caf\xe9 cr\xe8me\n";
        assert!(
            canonical.windows(line.len()).any(|w| w == line),
            "{:?}",
            String::from_utf8_lossy(&canonical)
        );
    }

    #[test]
    fn aws_chunk_signature_example() {
        // AWS's worked example for STREAMING-AWS4-HMAC-SHA256-PAYLOAD: the first 64 KiB chunk
        // of 'a' bytes, chained from the seed signature.
        let mut signer = ChunkSigner {
            key: signing_key(
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                "20130524",
                "us-east-1",
                "s3",
            ),
            datetime: "20130524T000000Z".into(),
            scope: "20130524/us-east-1/s3/aws4_request".into(),
            previous: "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9".into(),
        };
        let data = vec![b'a'; 65536];
        let hashes = format!("{EMPTY_SHA256}\n{}", hex::encode(Sha256::digest(&data)));
        assert_eq!(
            signer.expect("PAYLOAD", &hashes),
            "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
        );
    }
}
