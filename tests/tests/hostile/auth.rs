//! Authentication and wire-format holes: requests where one signature could be read two ways,
//! presigned URLs that outlive or predate what they may, more than one signature in a request,
//! and text from a request or an object that reaches an XML document or a response header
//! unchanged when a client would read it back as something else.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::error::BoxError;
use aws_sdk_s3::presigning::PresigningConfig;

use crate::common::*;

/// Path and query of a presigned GET of `bucket/key`, valid for five minutes from `start`.
async fn presigned_get(
    s: &TestServer,
    bucket: &str,
    key: &str,
    start: SystemTime,
    tweak: impl FnOnce(
        aws_sdk_s3::operation::get_object::builders::GetObjectFluentBuilder,
    ) -> aws_sdk_s3::operation::get_object::builders::GetObjectFluentBuilder,
) -> String {
    let config = PresigningConfig::builder()
        .start_time(start)
        .expires_in(Duration::from_secs(300))
        .build()
        .unwrap();
    let p = tweak(s.client.get_object().bucket(bucket).key(key))
        .presigned(config)
        .await
        .unwrap();
    p.uri()
        .strip_prefix(&format!("http://{}", s.addr))
        .unwrap()
        .to_string()
}

async fn get(s: &TestServer, target: &str, headers: &str) -> RawResponse {
    raw_request(s.addr, &format!("GET {target} HTTP/1.1\r\n{headers}"), b"").await
}

/// The S3 error code of an XML error answer.
fn code(r: &RawResponse) -> String {
    xml_value(&r.text(), "Code").unwrap_or_default()
}

/// A SigV2 presigned GET of `/bucket/key` that expires at `expires` (seconds since the epoch).
fn sigv2_presigned(bucket: &str, key: &str, expires: u64) -> String {
    use base64::Engine;
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(SECRET_KEY.as_bytes()).unwrap();
    mac.update(format!("GET\n\n\n{expires}\n/{bucket}/{key}").as_bytes());
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    format!(
        "/{bucket}/{key}?AWSAccessKeyId={ACCESS_KEY}&Expires={expires}&Signature={}",
        encode_query(&sig)
    )
}

fn epoch_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The router reads `+` in a query as a space. The verifier used to read it as a plus, so a
/// presigned `response-content-type=a%2Bb` with `%2B` turned into `+` still verified, and the
/// object came back as `a b`: one signature, two requests.
#[tokio::test(flavor = "multi_thread")]
async fn a_plus_for_an_encoded_plus_breaks_the_signature() {
    let s = TestServer::start_auth().await;
    s.create_bucket("bkt").await;
    s.put("bkt", "k", "body").await;
    let target = presigned_get(&s, "bkt", "k", SystemTime::now(), |b| {
        b.response_content_type("a+b")
    })
    .await;
    assert!(target.contains("response-content-type=a%2Bb"), "{target}");
    let r = get(&s, &target, "").await;
    assert_eq!((r.status, r.header("content-type")), (200, Some("a+b")));
    let r = get(&s, &target.replace("a%2Bb", "a+b"), "").await;
    r.expect_error(403, "SignatureDoesNotMatch");
}

/// SigV2 names only when a URL ends: one dated 2100 was good for 75 years. It is held to the
/// same cap as SigV4's `X-Amz-Expires`, one setting for both.
#[tokio::test(flavor = "multi_thread")]
async fn presigned_urls_of_both_versions_live_at_most_the_configured_age() {
    let s = TestServer::start_auth().await;
    s.create_bucket("bkt").await;
    s.put("bkt", "k", "body").await;
    let r = get(&s, &sigv2_presigned("bkt", "k", epoch_now() + 3600), "").await;
    assert_eq!((r.status, r.text().as_str()), (200, "body"));
    let r = get(&s, &sigv2_presigned("bkt", "k", 4_102_444_800), "").await;
    r.expect_error(400, "AuthorizationQueryParametersError");
    let r = get(&s, &sigv2_presigned("bkt", "k", epoch_now() - 10), "").await;
    assert_eq!(
        (r.status, code(&r)),
        (403, "AccessDenied".into()),
        "expired"
    );

    let short = TestServer::start_with(|c| {
        c.auth.keys = vec![format!("{ACCESS_KEY},{SECRET_KEY}").parse().unwrap()];
        c.auth.presigned_max_age = Duration::from_secs(60);
    })
    .await;
    short.create_bucket("bkt").await;
    short.put("bkt", "k", "body").await;
    for target in [
        sigv2_presigned("bkt", "k", epoch_now() + 300),
        presigned_get(&short, "bkt", "k", SystemTime::now(), |b| b).await,
    ] {
        let r = get(&short, &target, "").await;
        assert_eq!(
            (r.status, code(&r)),
            (400, "AuthorizationQueryParametersError".into()),
            "{target}"
        );
    }
    let r = get(&short, &sigv2_presigned("bkt", "k", epoch_now() + 50), "").await;
    assert_eq!(r.status, 200, "{}", r.text());
}

/// A SigV4 presigned URL signed for later is not valid before then (beyond the clock skew
/// every signature is allowed).
#[tokio::test(flavor = "multi_thread")]
async fn a_presigned_url_dated_ahead_is_not_valid_yet() {
    let s = TestServer::start_auth().await;
    s.create_bucket("bkt").await;
    s.put("bkt", "k", "body").await;
    let later = presigned_get(
        &s,
        "bkt",
        "k",
        SystemTime::now() + Duration::from_secs(3600),
        |b| b,
    )
    .await;
    let r = get(&s, &later, "").await;
    r.expect_error(403, "AccessDenied");
    assert!(r.text().contains("not valid yet"), "{}", r.text());
    let skewed = presigned_get(
        &s,
        "bkt",
        "k",
        SystemTime::now() + Duration::from_secs(300),
        |b| b,
    )
    .await;
    assert_eq!(get(&s, &skewed, "").await.status, 200);
}

/// Appends a second `Authorization` header after signing.
#[derive(Debug)]
struct SecondAuthorization;

impl Intercept for SecondAuthorization {
    fn name(&self) -> &'static str {
        "SecondAuthorization"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        context.request_mut().headers_mut().append(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDOTHER/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00",
        );
        Ok(())
    }
}

/// Two signatures in one request: the first used to win, leaving whatever reads the request
/// after the verifier free to take the other. Refused as S3 does.
#[tokio::test(flavor = "multi_thread")]
async fn a_request_carries_one_signature() {
    let s = TestServer::start_auth().await;
    s.create_bucket("bkt").await;
    s.put("bkt", "k", "body").await;
    let target = presigned_get(&s, "bkt", "k", SystemTime::now(), |b| b).await;
    assert_eq!(get(&s, &target, "").await.status, 200);
    let credential = target
        .split('&')
        .find(|p| p.starts_with("X-Amz-Credential="))
        .unwrap()
        .to_string();
    let sigv2 = sigv2_presigned("bkt", "k", epoch_now() + 300);
    let signature = sigv2
        .split('&')
        .find(|p| p.starts_with("Signature="))
        .unwrap();
    for (what, target, headers) in [
        (
            "a second X-Amz-Signature",
            format!("{target}&X-Amz-Signature={}", "0".repeat(64)),
            String::new(),
        ),
        (
            "a second X-Amz-Credential",
            format!("{target}&{credential}"),
            String::new(),
        ),
        (
            "a second X-Amz-Date",
            format!("{target}&X-Amz-Date=20300101T000000Z"),
            String::new(),
        ),
        (
            "an Authorization header besides the query",
            target.clone(),
            "Authorization: AWS4-HMAC-SHA256 Credential=x/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00\r\n".to_string(),
        ),
        (
            "a second SigV2 Signature",
            format!("{sigv2}&{signature}"),
            String::new(),
        ),
    ] {
        let r = get(&s, &target, &headers).await;
        assert_eq!((r.status, code(&r)), (400, "InvalidArgument".into()), "{what}");
    }
    let r = s
        .client
        .get_object()
        .bucket("bkt")
        .key("k")
        .customize()
        .interceptor(SecondAuthorization)
        .send()
        .await;
    expect_error(r, 400, "InvalidArgument");
}

/// An XML parser reads a raw CR as LF: `a\rb` listed as `a\nb`, and a client that lists and
/// deletes would delete the other key. Both list back byte for byte through the SDK's parser.
#[tokio::test(flavor = "multi_thread")]
async fn a_carriage_return_in_a_key_lists_back_exactly() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    for k in ["a\rb", "a\nb", "a\r\nb", "c\u{1}\u{1f}d"] {
        s.put("bkt", k, k).await;
    }
    assert_eq!(
        s.list_keys("bkt").await,
        ["a\nb", "a\r\nb", "a\rb", "c\u{1}\u{1f}d"]
    );
    let r = get(&s, "/bkt?list-type=2", "").await;
    assert!(r.text().contains("<Key>a&#xD;b</Key>"), "{}", r.text());
    // The keys read back are the keys stored: deleting what the listing said removes exactly it.
    s.delete("bkt", "a\rb").await;
    assert_eq!(s.get("bkt", "a\nb").await, b"a\nb");
    s.assert_no_such_key("bkt", "a\rb").await;
}

/// A `response-*` value holding a line break cannot be a header: the response builder failed
/// and answered a bare 500, which SDKs retry. It is the client's mistake: 400 InvalidArgument.
#[tokio::test(flavor = "multi_thread")]
async fn response_overrides_that_cannot_be_headers_are_invalid_arguments() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    s.put("bkt", "k", "body").await;
    for param in [
        "response-content-type",
        "response-content-encoding",
        "response-content-disposition",
        "response-content-language",
        "response-cache-control",
        "response-expires",
    ] {
        for bad in ["a%0Ab", "a%0D%0Ax-injected:%201", "a%00b", "a%7Fb"] {
            let r = get(&s, &format!("/bkt/k?{param}={bad}"), "").await;
            assert_eq!(
                (r.status, code(&r)),
                (400, "InvalidArgument".into()),
                "{param}={bad}"
            );
            assert!(r.header("x-injected").is_none());
            let r = raw_request(
                s.addr,
                &format!("HEAD /bkt/k?{param}={bad} HTTP/1.1\r\n"),
                b"",
            )
            .await;
            assert_eq!(r.status, 400, "HEAD {param}={bad}");
        }
    }
    let r = get(
        &s,
        "/bkt/k?response-content-disposition=attachment%3B%20filename%3D%22%C3%A9.txt%22",
        "",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-disposition").map(str::as_bytes),
        Some("attachment; filename=\"é.txt\"".as_bytes())
    );
}

/// Host names are case-insensitive: `BKT.S3.LOCAL` is bucket `bkt`, as `bkt.s3.local` is.
#[tokio::test(flavor = "multi_thread")]
async fn upper_case_virtual_hosts_name_their_bucket() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = TestServer::start_with(|c| {
        c.server.force_path_style = false;
        c.server.vhost_domains = vec!["s3.local".into()];
    })
    .await;
    s.create_bucket("bkt").await;
    s.put("bkt", "k", "virtual").await;
    for host in ["bkt.s3.local", "BKT.S3.LOCAL", "Bkt.S3.Local:8080"] {
        let mut conn = tokio::net::TcpStream::connect(s.addr).await.unwrap();
        let req = format!("GET /k HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        conn.write_all(req.as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        conn.read_to_end(&mut buf).await.unwrap();
        let r = parse_response(&buf);
        assert_eq!((r.status, r.text().as_str()), (200, "virtual"), "{host}");
    }
}

/// `partNumber` and `Range` both pick bytes; S3 refuses to guess which was meant.
#[tokio::test(flavor = "multi_thread")]
async fn part_number_with_a_range_is_an_invalid_request() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    s.put("bkt", "k", "0123456789").await;
    let r = s
        .client
        .get_object()
        .bucket("bkt")
        .key("k")
        .part_number(1)
        .range("bytes=0-1")
        .send()
        .await;
    expect_error(r, 400, "InvalidRequest");
    let r = s
        .client
        .head_object()
        .bucket("bkt")
        .key("k")
        .part_number(1)
        .range("bytes=0-1")
        .send()
        .await;
    expect_status(r, 400);
    let out = s
        .client
        .get_object()
        .bucket("bkt")
        .key("k")
        .part_number(1)
        .send()
        .await
        .unwrap();
    assert_eq!(body_of(out).await, b"0123456789");
}

/// Sends `request` whole on a fresh connection and returns everything the server answered.
async fn raw_bytes(s: &TestServer, request: &[u8]) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    conn.write_all(request).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), conn.read_to_end(&mut buf))
        .await
        .expect("an answer within 30 s")
        .unwrap();
    buf
}

/// A user metadata value that is not UTF-8 (a Latin-1 `é`) was stored with U+FFFD in its
/// place: it is kept as sent and given back as sent, and survives a restart.
#[tokio::test(flavor = "multi_thread")]
async fn user_metadata_keeps_bytes_that_are_not_utf8() {
    let mut s = TestServer::start().await;
    s.create_bucket("bkt").await;
    let mut put = format!(
        "PUT /bkt/k HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
        s.addr
    )
    .into_bytes();
    put.extend_from_slice(b"x-amz-meta-x: caf\xe9 cr\xe8me\r\nx-amz-meta-y: plain\r\n");
    put.extend_from_slice(b"Content-Length: 4\r\n\r\nbody");
    let r = parse_response(&raw_bytes(&s, &put).await);
    assert_eq!(r.status, 200, "{}", r.text());
    for round in ["as stored", "after a restart"] {
        let head = format!(
            "HEAD /bkt/k HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            s.addr
        );
        let answer = raw_bytes(&s, head.as_bytes()).await;
        let has = |line: &[u8]| answer.windows(line.len()).any(|w| w == line);
        assert!(
            has(b"x-amz-meta-x: caf\xe9 cr\xe8me\r\n"),
            "{round}: {:?}",
            String::from_utf8_lossy(&answer)
        );
        assert!(has(b"x-amz-meta-y: plain\r\n"), "{round}");
        if round == "as stored" {
            s.restart().await;
        }
    }
}

/// The same value in a signed request: the signature covers the bytes as sent, so verifying a
/// replaced text refused the request the client had signed correctly.
#[tokio::test(flavor = "multi_thread")]
async fn signed_user_metadata_that_is_not_utf8_verifies() {
    use base64::Engine;
    use hmac::{Hmac, Mac};
    let s = TestServer::start_auth().await;
    s.create_bucket("bkt").await;
    let date = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc2822)
        .unwrap();
    let sign = |sts: &[u8]| {
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(SECRET_KEY.as_bytes()).unwrap();
        mac.update(sts);
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    };
    let mut sts = format!("PUT\n\n\n{date}\n").into_bytes();
    sts.extend_from_slice(b"x-amz-meta-x:caf\xe9\n/bkt/k");
    let mut put = format!(
        "PUT /bkt/k HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nDate: {date}\r\nAuthorization: AWS {ACCESS_KEY}:{}\r\n",
        s.addr,
        sign(&sts)
    )
    .into_bytes();
    put.extend_from_slice(b"x-amz-meta-x: caf\xe9\r\nContent-Length: 4\r\n\r\nbody");
    let r = parse_response(&raw_bytes(&s, &put).await);
    assert_eq!(r.status, 200, "{}", r.text());
    let sts = format!("HEAD\n\n\n{date}\n/bkt/k");
    let head = format!(
        "HEAD /bkt/k HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nDate: {date}\r\nAuthorization: AWS {ACCESS_KEY}:{}\r\n\r\n",
        s.addr,
        sign(sts.as_bytes())
    );
    let answer = raw_bytes(&s, head.as_bytes()).await;
    let line = b"x-amz-meta-x: caf\xe9\r\n";
    assert!(
        answer.windows(line.len()).any(|w| w == line),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );
}
