//! Forgery: requests signed by the official signer (`aws-sigv4`) in every mode the server
//! accepts are sent once as signed, which must work, and once per mutation of each signed
//! element (method, path, query parameters, headers, body bytes, chunk bytes and signatures,
//! trailers, dates, credentials), each of which must be refused without changing anything.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest,
    SignatureLocation, SigningSettings, UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use aws_smithy_runtime_api::http::Headers;
use bytes::Bytes;

use crate::common::*;

/// A request as it goes on the wire (minus `Host` and `Connection`, which `raw_request` adds).
#[derive(Clone, Debug)]
struct Req {
    method: String,
    /// Path and query, as sent.
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Req {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn set_header(&mut self, name: &str, value: String) {
        match self
            .headers
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(h) => h.1 = value,
            None => self.headers.push((name.to_string(), value)),
        }
    }

    fn remove_header(&mut self, name: &str) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    /// Sends the request; a body without a Content-Length header gets one.
    async fn send(&self, s: &TestServer) -> RawResponse {
        let mut head = format!("{} {} HTTP/1.1\r\n", self.method, self.target);
        for (n, v) in &self.headers {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        if self.header("content-length").is_none() {
            head.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        raw_request(s.addr, &head, &self.body).await
    }
}

fn identity() -> Identity {
    Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "mutation").into()
}

fn settings(location: SignatureLocation) -> SigningSettings {
    let mut s = SigningSettings::default();
    s.percent_encoding_mode = PercentEncodingMode::Single;
    s.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    s.payload_checksum_kind = match location {
        SignatureLocation::Headers => PayloadChecksumKind::XAmzSha256,
        _ => PayloadChecksumKind::NoHeader,
    };
    s.signature_location = location;
    if location == SignatureLocation::QueryParams {
        s.expires_in = Some(Duration::from_secs(600));
    }
    s
}

/// Signs `req` in place with `aws-sigv4` and returns the seed signature.
fn sign_req(
    s: &TestServer,
    req: &mut Req,
    body: SignableBody<'_>,
    location: SignatureLocation,
    region: &str,
) -> String {
    let id = identity();
    let params = v4::SigningParams::builder()
        .identity(&id)
        .region(region)
        .name("s3")
        .time(SystemTime::now())
        .settings(settings(location))
        .build()
        .unwrap();
    let host = s.addr.to_string();
    let uri = format!("http://{host}{}", req.target);
    let mut headers: Vec<(&str, &str)> = vec![("host", host.as_str())];
    headers.extend(req.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    let signable =
        SignableRequest::new(&req.method, uri.as_str(), headers.into_iter(), body).unwrap();
    let (instructions, signature) = sign(signable, &params.into()).unwrap().into_parts();
    let (new_headers, new_params) = instructions.into_parts();
    for h in new_headers {
        req.set_header(h.name(), h.value().to_string());
    }
    for (name, value) in new_params {
        let sep = if req.target.contains('?') { '&' } else { '?' };
        req.target
            .push_str(&format!("{sep}{name}={}", encode_query(&value)));
    }
    signature
}

/// The chunked body of a streaming upload, each chunk signed with `aws-sigv4`'s chunk signer,
/// then (with `trailer`) the checksum trailer and its signature.
fn signed_chunks(seed: &str, date: SystemTime, chunks: &[&[u8]], trailer: Option<&str>) -> Vec<u8> {
    let id = identity();
    let params = v4::SigningParams::builder()
        .identity(&id)
        .region("us-east-1")
        .name("s3")
        .time(date)
        .settings(())
        .build()
        .unwrap();
    let mut out = Vec::new();
    let mut previous = seed.to_string();
    for c in chunks.iter().copied().chain(std::iter::once(&[][..])) {
        let sig = v4::sign_chunk(&Bytes::copy_from_slice(c), &previous, &params)
            .unwrap()
            .signature()
            .to_string();
        out.extend_from_slice(format!("{:x};chunk-signature={sig}\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        if !c.is_empty() {
            out.extend_from_slice(b"\r\n");
        }
        previous = sig;
    }
    match trailer {
        None => out.extend_from_slice(b"\r\n"),
        Some(crc) => {
            let mut h = Headers::new();
            h.insert("x-amz-checksum-crc32", crc.to_string());
            let sig = v4::sign_trailer(&h, &previous, &params)
                .unwrap()
                .signature()
                .to_string();
            out.extend_from_slice(
                format!("x-amz-checksum-crc32:{crc}\r\nx-amz-trailer-signature:{sig}\r\n\r\n")
                    .as_bytes(),
            );
        }
    }
    out
}

/// The `x-amz-date` the signer put on a request, as a time (to sign chunks with).
fn signing_time(req: &Req) -> SystemTime {
    let d = req.header("x-amz-date").unwrap().to_string();
    let fmt = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    time::PrimitiveDateTime::parse(&d, fmt)
        .unwrap()
        .assume_utc()
        .into()
}

/// Changes one character of `v` (the last hex digit, or the last character).
fn flip(v: &str) -> String {
    let mut s = v.to_string();
    let last = s.pop().unwrap_or('a');
    s.push(match last {
        '0' => '1',
        'a' => 'b',
        _ if last.is_ascii_hexdigit() => '0',
        _ => 'x',
    });
    s
}

fn flip_byte(body: &mut [u8], at: usize) {
    body[at] ^= 0x01;
}

/// Every single-element change to a signed request's head: method, path, each query parameter
/// (changed, removed) and an added one, each header (changed, removed), and each part of the
/// Authorization header.
fn head_mutations(req: &Req) -> Vec<(String, Req)> {
    let mut out = Vec::new();
    let mut m = req.clone();
    m.method = if req.method == "GET" { "DELETE" } else { "GET" }.into();
    out.push(("method".to_string(), m));
    let (path, query) = req.target.split_once('?').unwrap_or((&req.target, ""));
    let with = |p: &str, q: &str| {
        let mut m = req.clone();
        m.target = if q.is_empty() {
            p.to_string()
        } else {
            format!("{p}?{q}")
        };
        m
    };
    out.push(("path changed".into(), with(&flip(path), query)));
    out.push(("path extended".into(), with(&format!("{path}x"), query)));
    let pairs: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
    for (i, pair) in pairs.iter().enumerate() {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let mut changed = pairs.clone();
        let new = format!("{name}={}", flip(value));
        changed[i] = &new;
        out.push((
            format!("query {name} changed"),
            with(path, &changed.join("&")),
        ));
        let mut removed = pairs.clone();
        removed.remove(i);
        out.push((
            format!("query {name} removed"),
            with(path, &removed.join("&")),
        ));
    }
    let added = if query.is_empty() {
        "extra=1".to_string()
    } else {
        format!("{query}&extra=1")
    };
    out.push(("query parameter added".into(), with(path, &added)));
    for (name, value) in &req.headers {
        let lname = name.to_ascii_lowercase();
        if lname == "authorization" {
            for part in ["Credential=", "SignedHeaders=", "Signature="] {
                let start = value.find(part).unwrap() + part.len();
                let end = value[start..].find(',').map_or(value.len(), |e| start + e);
                let field = &value[start..end];
                let variants: Vec<(String, String)> = match part {
                    "Credential=" => {
                        let f: Vec<&str> = field.split('/').collect();
                        (0..4)
                            .map(|i| {
                                let mut g = f.clone();
                                let changed = if i == 1 {
                                    "20200101".to_string()
                                } else {
                                    flip(g[i])
                                };
                                g[i] = &changed;
                                (format!("credential part {i}"), g.join("/"))
                            })
                            .collect()
                    }
                    "SignedHeaders=" => field
                        .split(';')
                        .filter(|h| *h != "host")
                        .map(|h| {
                            let kept: Vec<&str> = field.split(';').filter(|x| x != &h).collect();
                            (format!("{h} not signed"), kept.join(";"))
                        })
                        .collect(),
                    _ => vec![("signature".to_string(), flip(field))],
                };
                for (what, new) in variants {
                    let mut m = req.clone();
                    m.set_header(name, format!("{}{new}{}", &value[..start], &value[end..]));
                    out.push((format!("authorization {what}"), m));
                }
            }
            continue;
        }
        if lname == "content-length" {
            continue;
        }
        let mut m = req.clone();
        let new = if lname == "x-amz-date" {
            // One second later: a valid date, not the signed one.
            let t = signing_time(req) + Duration::from_secs(1);
            let fmt =
                time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
            time::OffsetDateTime::from(t).format(fmt).unwrap()
        } else if lname == "x-amz-decoded-content-length" {
            (value.parse::<u64>().unwrap() - 1).to_string()
        } else {
            flip(value)
        };
        m.set_header(name, new);
        out.push((format!("header {lname} changed"), m));
        let mut m = req.clone();
        m.remove_header(name);
        out.push((format!("header {lname} removed"), m));
    }
    out
}

/// Sends every mutation, each of which must be refused; returns how many were tried.
async fn refuse_all(s: &TestServer, case: &str, mutations: Vec<(String, Req)>) -> usize {
    let n = mutations.len();
    for (what, m) in mutations {
        let r = m.send(s).await;
        assert!(
            r.status >= 400,
            "{case}: mutation '{what}' was accepted with {}: {}",
            r.status,
            r.text()
        );
    }
    n
}

fn put_req(key: &str, body: &[u8]) -> Req {
    Req {
        method: "PUT".into(),
        target: format!("/bkt/{key}"),
        headers: vec![
            ("content-type".into(), "text/plain".into()),
            ("x-amz-meta-color".into(), "blue".into()),
        ],
        body: body.to_vec(),
    }
}

#[tokio::test]
async fn every_mutation_of_a_signed_request_is_refused() {
    let s = TestServer::start_auth().await;
    s.create_bucket("bkt").await;
    s.put("bkt", "existing", b"keep me".to_vec()).await;
    let mut tried = 0;

    // 1. Header-signed PUT with the body's SHA-256.
    let data = pattern(50_000, 3);
    let mut put = put_req("signed-put", &data);
    sign_req(
        &s,
        &mut put,
        SignableBody::Bytes(&data),
        SignatureLocation::Headers,
        "us-east-1",
    );
    let mut muts = head_mutations(&put);
    for at in [0, data.len() / 2, data.len() - 1] {
        let mut m = put.clone();
        flip_byte(&mut m.body, at);
        muts.push((format!("body byte {at}"), m));
    }
    let mut m = put.clone();
    m.body.truncate(data.len() - 1);
    muts.push(("body cut short".into(), m));
    let mut m = put.clone();
    m.body.push(b'!');
    muts.push(("body extended".into(), m));
    tried += refuse_all(&s, "signed PUT", muts).await;
    assert!(
        !s.path_of("bkt", "signed-put").exists(),
        "a mutated PUT stored the object"
    );
    assert_eq!(put.send(&s).await.status, 200, "the signed PUT itself");
    assert_eq!(s.get("bkt", "signed-put").await, data);

    // 2. Header-signed GET with a query (ListObjectsV2) and a DELETE.
    let mut list = Req {
        method: "GET".into(),
        target: "/bkt?list-type=2&prefix=sig&max-keys=5".into(),
        headers: vec![],
        body: vec![],
    };
    sign_req(
        &s,
        &mut list,
        SignableBody::Bytes(b""),
        SignatureLocation::Headers,
        "us-east-1",
    );
    tried += refuse_all(&s, "signed list", head_mutations(&list)).await;
    assert_eq!(list.send(&s).await.status, 200, "the signed list itself");
    let mut del = Req {
        method: "DELETE".into(),
        target: "/bkt/existing".into(),
        headers: vec![],
        body: vec![],
    };
    sign_req(
        &s,
        &mut del,
        SignableBody::Bytes(b""),
        SignatureLocation::Headers,
        "eu-west-3",
    );
    tried += refuse_all(&s, "signed delete", head_mutations(&del)).await;
    assert_eq!(s.get("bkt", "existing").await, b"keep me");
    assert_eq!(del.send(&s).await.status, 204, "the signed delete itself");

    // 3. Presigned GET and PUT (query authentication).
    s.put("bkt", "presigned", b"presigned body".to_vec()).await;
    let mut get = Req {
        method: "GET".into(),
        target: "/bkt/presigned".into(),
        headers: vec![],
        body: vec![],
    };
    sign_req(
        &s,
        &mut get,
        SignableBody::UnsignedPayload,
        SignatureLocation::QueryParams,
        "us-east-1",
    );
    tried += refuse_all(&s, "presigned GET", head_mutations(&get)).await;
    assert_eq!(s.get("bkt", "presigned").await, b"presigned body");
    assert_eq!(get.send(&s).await.status, 200, "the presigned GET itself");
    let mut pput = put_req("presigned-put", b"by url");
    sign_req(
        &s,
        &mut pput,
        SignableBody::UnsignedPayload,
        SignatureLocation::QueryParams,
        "us-east-1",
    );
    tried += refuse_all(&s, "presigned PUT", head_mutations(&pput)).await;
    assert!(!s.path_of("bkt", "presigned-put").exists());
    assert_eq!(pput.send(&s).await.status, 200, "the presigned PUT itself");

    // 4. Streaming upload with signed chunks, then with signed chunks and a signed trailer.
    let data = pattern(150_000, 8);
    let chunks: Vec<&[u8]> = data.chunks(65_536).collect();
    for trailer in [false, true] {
        let key = format!("chunked-{trailer}");
        let mut req = put_req(&key, b"");
        let mode = if trailer {
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
        } else {
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
        };
        req.headers
            .push(("content-encoding".into(), "aws-chunked".into()));
        req.headers.push((
            "x-amz-decoded-content-length".into(),
            data.len().to_string(),
        ));
        if trailer {
            req.headers
                .push(("x-amz-trailer".into(), "x-amz-checksum-crc32".into()));
        }
        let seed = sign_req(
            &s,
            &mut req,
            SignableBody::Precomputed(mode.into()),
            SignatureLocation::Headers,
            "us-east-1",
        );
        let crc = crc32_b64(&data);
        let t = signing_time(&req);
        req.body = signed_chunks(&seed, t, &chunks, trailer.then_some(crc.as_str()));
        let mut muts = head_mutations(&req);
        // Each chunk's bytes, each chunk's signature (the final empty chunk's too).
        let mut records = Vec::new();
        let mut offset = 0;
        for (i, c) in chunks
            .iter()
            .copied()
            .chain(std::iter::once(&[][..]))
            .enumerate()
        {
            let line_end = offset
                + req.body[offset..]
                    .windows(2)
                    .position(|w| w == b"\r\n")
                    .unwrap();
            let mut m = req.clone();
            let sig_at = line_end - 1;
            m.body[sig_at] = if m.body[sig_at] == b'0' { b'1' } else { b'0' };
            muts.push((format!("chunk {i} signature"), m));
            if !c.is_empty() {
                let mut m = req.clone();
                flip_byte(&mut m.body, line_end + 2 + c.len() / 2);
                muts.push((format!("chunk {i} byte"), m));
            }
            let end = line_end + 2 + c.len() + if c.is_empty() { 0 } else { 2 };
            records.push(offset..end);
            offset = end;
        }
        let (first, second, last) = (
            records[0].clone(),
            records[1].clone(),
            records[records.len() - 1].clone(),
        );
        let mut m = req.clone();
        m.body = [
            &req.body[second.clone()],
            &req.body[first],
            &req.body[second.end..],
        ]
        .concat();
        muts.push(("chunks reordered".into(), m));
        let mut m = req.clone();
        m.body.truncate(last.start);
        muts.push(("final chunk dropped".into(), m));
        if trailer {
            let find = |needle: &[u8]| {
                req.body
                    .windows(needle.len())
                    .position(|w| w == needle)
                    .unwrap()
            };
            let value_at = find(b"x-amz-checksum-crc32:") + 21;
            let mut m = req.clone();
            m.body
                .splice(value_at..value_at + crc.len(), crc32_b64(b"x").into_bytes());
            muts.push(("trailer value".into(), m));
            let sig_label = find(b"x-amz-trailer-signature:");
            let sig_at = sig_label + 24;
            let mut m = req.clone();
            m.body[sig_at] = if m.body[sig_at] == b'0' { b'1' } else { b'0' };
            muts.push(("trailer signature".into(), m));
            let mut m = req.clone();
            m.body.truncate(sig_label);
            m.body.extend_from_slice(b"\r\n");
            muts.push(("trailer signature removed".into(), m));
        }
        let case = format!("streaming {mode}");
        tried += refuse_all(&s, &case, muts).await;
        assert!(
            !s.path_of("bkt", &key).exists(),
            "{case}: a mutation stored the object"
        );
        let r = req.send(&s).await;
        assert_eq!(r.status, 200, "{case} itself: {}", r.text());
        assert_eq!(s.get("bkt", &key).await, data);
    }

    // 5. Unsigned streaming body with a checksum trailer (signed head, unsigned bytes): the
    //    checksum catches any change to the bytes.
    let mut req = put_req("unsigned-trailer", b"");
    req.headers
        .push(("content-encoding".into(), "aws-chunked".into()));
    req.headers.push((
        "x-amz-decoded-content-length".into(),
        data.len().to_string(),
    ));
    req.headers
        .push(("x-amz-trailer".into(), "x-amz-checksum-crc32".into()));
    sign_req(
        &s,
        &mut req,
        SignableBody::StreamingUnsignedPayloadTrailer,
        SignatureLocation::Headers,
        "us-east-1",
    );
    let crc = crc32_b64(&data);
    req.body = aws_chunked_unsigned(&data, 65_536, &[("x-amz-checksum-crc32", &crc)]);
    let mut muts = head_mutations(&req);
    for at in [10, req.body.len() / 2] {
        let mut m = req.clone();
        flip_byte(&mut m.body, at);
        muts.push((format!("body byte {at}"), m));
    }
    let mut m = req.clone();
    m.body = aws_chunked_unsigned(&data, 65_536, &[("x-amz-checksum-crc32", &crc32_b64(b"y"))]);
    muts.push(("trailer value".into(), m));
    let mut m = req.clone();
    m.body = aws_chunked_unsigned(&data, 65_536, &[]);
    muts.push(("trailer removed".into(), m));
    tried += refuse_all(&s, "unsigned trailer", muts).await;
    assert!(!s.path_of("bkt", "unsigned-trailer").exists());
    let r = req.send(&s).await;
    assert_eq!(r.status, 200, "unsigned trailer itself: {}", r.text());
    assert_eq!(s.get("bkt", "unsigned-trailer").await, data);

    // Nothing but what the valid requests wrote is in the bucket.
    let mut keys = s.list_keys("bkt").await;
    keys.sort();
    assert_eq!(
        keys,
        [
            "chunked-false",
            "chunked-true",
            "presigned",
            "presigned-put",
            "signed-put",
            "unsigned-trailer"
        ]
    );
    eprintln!("sigv4 mutation test: {tried} mutations tried, every one refused");
    assert!(tried > 150, "only {tried} mutations");
}
