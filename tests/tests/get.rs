//! GetObject / HeadObject: byte ranges, conditional requests with S3's precedence rules, and the
//! `response-*` overrides.

use aws_sdk_s3::primitives::DateTime;
use aws_sdk_s3::types::ChecksumMode;

use crate::common::*;

const DATA: &[u8] = b"0123456789abcdefghij";

async fn with_object() -> (TestServer, String, i64) {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    let etag = s.put("bkt", "obj", DATA).await;
    let head = s.head("bkt", "obj").await;
    let lm = head.last_modified().unwrap().secs();
    (s, etag, lm)
}

/// A raw request on `/bkt/obj`: status, headers, body.
async fn raw(
    s: &TestServer,
    method: reqwest::Method,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut req = http().request(method, s.url("/bkt/obj"));
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.bytes().await.unwrap().to_vec())
}

fn has_checksum_header(h: &reqwest::header::HeaderMap) -> Option<String> {
    h.keys()
        .map(|k| k.as_str().to_string())
        .find(|k| k.starts_with("x-amz-checksum-"))
}

#[tokio::test(flavor = "multi_thread")]
async fn byte_ranges() {
    let (s, etag, _) = with_object().await;
    for (range, body, content_range) in [
        ("bytes=0-4", &b"01234"[..], "bytes 0-4/20"),
        ("bytes=5-", &b"56789abcdefghij"[..], "bytes 5-19/20"),
        ("bytes=-3", &b"hij"[..], "bytes 17-19/20"),
        ("bytes=0-0", &b"0"[..], "bytes 0-0/20"),
        ("bytes=19-19", &b"j"[..], "bytes 19-19/20"),
        ("bytes=15-100", &b"fghij"[..], "bytes 15-19/20"),
        ("bytes=-100", DATA, "bytes 0-19/20"),
    ] {
        let out = s
            .client
            .get_object()
            .bucket("bkt")
            .key("obj")
            .range(range)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{range}: {}", describe(&e)));
        assert_eq!(out.content_range(), Some(content_range), "{range}");
        assert_eq!(out.content_length(), Some(body.len() as i64), "{range}");
        assert_eq!(
            out.e_tag(),
            Some(etag.as_str()),
            "{range}: the whole object's ETag"
        );
        assert_eq!(body_of(out).await, body, "{range}");

        let (status, headers, raw_body) = raw(&s, reqwest::Method::GET, &[("range", range)]).await;
        assert_eq!(status, 206, "{range}");
        assert_eq!(headers["content-range"], content_range, "{range}");
        assert_eq!(raw_body, body, "{range}");
    }
    // Without a range: 200, the whole body, and ranges are advertised.
    let (status, headers, body) = raw(&s, reqwest::Method::GET, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(body, DATA);
    assert!(headers.get("content-range").is_none());
    assert_eq!(
        headers.get("accept-ranges").map(|v| v.to_str().unwrap()),
        Some("bytes")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unsatisfiable_range_is_invalid_range() {
    let (s, _, _) = with_object().await;
    for range in ["bytes=20-", "bytes=25-30", "bytes=20-20"] {
        expect_error(
            s.client
                .get_object()
                .bucket("bkt")
                .key("obj")
                .range(range)
                .send()
                .await,
            416,
            "InvalidRange",
        );
        let (status, headers, body) = raw(&s, reqwest::Method::GET, &[("range", range)]).await;
        assert_eq!(status, 416, "{range}");
        let text = String::from_utf8_lossy(&body);
        assert_eq!(
            xml_value(&text, "Code").as_deref(),
            Some("InvalidRange"),
            "{text}"
        );
        assert!(headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/xml"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ranged_answers_carry_no_whole_object_checksum() {
    let (s, _, _) = with_object().await;
    let (status, headers, _) = raw(
        &s,
        reqwest::Method::GET,
        &[("range", "bytes=0-4"), ("x-amz-checksum-mode", "ENABLED")],
    )
    .await;
    assert_eq!(status, 206);
    assert_eq!(
        has_checksum_header(&headers),
        None,
        "checksum header on a ranged GET"
    );
    // The SDK, which validates checksums it receives, accepts the partial body.
    let out = s
        .client
        .get_object()
        .bucket("bkt")
        .key("obj")
        .range("bytes=2-6")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(body_of(out).await, b"23456");
    // And the whole object reads with checksum validation on.
    let out = s
        .client
        .get_object()
        .bucket("bkt")
        .key("obj")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(body_of(out).await, DATA);
}

#[tokio::test(flavor = "multi_thread")]
async fn head_with_range() {
    let (s, etag, _) = with_object().await;
    let out = s
        .client
        .head_object()
        .bucket("bkt")
        .key("obj")
        .range("bytes=5-9")
        .send()
        .await
        .unwrap();
    assert_eq!(out.content_length(), Some(5));
    assert_eq!(out.content_range(), Some("bytes 5-9/20"));
    assert_eq!(out.e_tag(), Some(etag.as_str()));
    let (status, headers, body) = raw(&s, reqwest::Method::HEAD, &[("range", "bytes=5-9")]).await;
    assert_eq!(status, 206);
    assert_eq!(headers["content-length"], "5");
    assert!(body.is_empty());
    let (status, headers, body) = raw(&s, reqwest::Method::HEAD, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-length"], "20");
    assert_eq!(headers["etag"], etag.as_str());
    assert!(body.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn if_match_and_if_none_match() {
    let (s, etag, _) = with_object().await;
    let get = || s.client.get_object().bucket("bkt").key("obj");
    let wrong = "\"00000000000000000000000000000000\"";

    let out = get().if_match(&etag).send().await.unwrap();
    assert_eq!(body_of(out).await, DATA);
    expect_error(
        get().if_match(wrong).send().await,
        412,
        "PreconditionFailed",
    );
    let out = get().if_match("*").send().await.unwrap();
    assert_eq!(body_of(out).await, DATA);

    expect_status(get().if_none_match(&etag).send().await, 304);
    expect_status(get().if_none_match("*").send().await, 304);
    let out = get().if_none_match(wrong).send().await.unwrap();
    assert_eq!(body_of(out).await, DATA);

    // HEAD behaves the same.
    let head = || s.client.head_object().bucket("bkt").key("obj");
    head().if_match(&etag).send().await.unwrap();
    expect_status(head().if_match(wrong).send().await, 412);
    expect_status(head().if_none_match(&etag).send().await, 304);
    head().if_none_match(wrong).send().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn not_modified_answer_is_clean() {
    let (s, etag, _) = with_object().await;
    let (status, headers, body) = raw(
        &s,
        reqwest::Method::GET,
        &[("if-none-match", &etag), ("x-amz-checksum-mode", "ENABLED")],
    )
    .await;
    assert_eq!(status, 304);
    assert!(body.is_empty(), "a 304 has no body");
    assert_eq!(
        headers.get("etag").map(|v| v.to_str().unwrap()),
        Some(etag.as_str())
    );
    assert_eq!(
        has_checksum_header(&headers),
        None,
        "checksum header on a 304"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn modified_since_and_unmodified_since() {
    let (s, _, lm) = with_object().await;
    let get = || s.client.get_object().bucket("bkt").key("obj");
    let at = DateTime::from_secs(lm);
    let before = DateTime::from_secs(lm - 3600);

    // Not modified since its own Last-Modified (second precision): 304.
    expect_status(get().if_modified_since(at).send().await, 304);
    let out = get().if_modified_since(before).send().await.unwrap();
    assert_eq!(body_of(out).await, DATA);

    // Unmodified since its own Last-Modified: 200; since an hour before: 412.
    let out = get().if_unmodified_since(at).send().await.unwrap();
    assert_eq!(body_of(out).await, DATA);
    expect_error(
        get().if_unmodified_since(before).send().await,
        412,
        "PreconditionFailed",
    );

    let head = || s.client.head_object().bucket("bkt").key("obj");
    expect_status(head().if_modified_since(at).send().await, 304);
    expect_status(head().if_unmodified_since(before).send().await, 412);
    head().if_modified_since(before).send().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn conditional_precedence() {
    let (s, etag, lm) = with_object().await;
    let get = || s.client.get_object().bucket("bkt").key("obj");
    let at = DateTime::from_secs(lm);
    let before = DateTime::from_secs(lm - 3600);
    let wrong = "\"ffffffffffffffffffffffffffffffff\"";

    // If-Match true, If-Unmodified-Since false: 200.
    let out = get()
        .if_match(&etag)
        .if_unmodified_since(before)
        .send()
        .await
        .unwrap();
    assert_eq!(body_of(out).await, DATA);
    // If-Match false, If-Unmodified-Since true: 412.
    expect_error(
        get().if_match(wrong).if_unmodified_since(at).send().await,
        412,
        "PreconditionFailed",
    );
    // If-None-Match false (matches), If-Modified-Since true: 304.
    expect_status(
        get()
            .if_none_match(&etag)
            .if_modified_since(before)
            .send()
            .await,
        304,
    );
    // If-None-Match true, If-Modified-Since false: If-Modified-Since is ignored, 200.
    let out = get()
        .if_none_match(wrong)
        .if_modified_since(at)
        .send()
        .await
        .unwrap();
    assert_eq!(body_of(out).await, DATA);
    // If-Match true and If-None-Match false: 304 (If-Match passes, If-None-Match decides).
    expect_status(get().if_match(&etag).if_none_match(&etag).send().await, 304);
    // If-Match false beats If-None-Match: 412.
    expect_error(
        get().if_match(wrong).if_none_match(wrong).send().await,
        412,
        "PreconditionFailed",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn conditionals_on_a_range() {
    let (s, etag, _) = with_object().await;
    let out = s
        .client
        .get_object()
        .bucket("bkt")
        .key("obj")
        .range("bytes=10-")
        .if_match(&etag)
        .send()
        .await
        .unwrap();
    assert_eq!(out.content_range(), Some("bytes 10-19/20"));
    assert_eq!(body_of(out).await, b"abcdefghij");
    expect_status(
        s.client
            .get_object()
            .bucket("bkt")
            .key("obj")
            .range("bytes=10-")
            .if_none_match(&etag)
            .send()
            .await,
        304,
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn response_overrides() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    s.client
        .put_object()
        .bucket("bkt")
        .key("obj")
        .content_type("text/plain")
        .body(DATA.to_vec().into())
        .send()
        .await
        .unwrap();
    let out = s
        .client
        .get_object()
        .bucket("bkt")
        .key("obj")
        .response_content_type("application/x-custom")
        .response_content_disposition("attachment; filename=\"report final.txt\"")
        .response_content_encoding("identity")
        .response_content_language("fr-CA")
        .response_cache_control("no-store, max-age=0")
        .response_expires(DateTime::from_secs(2_000_000_000))
        .send()
        .await
        .unwrap();
    assert_eq!(out.content_type(), Some("application/x-custom"));
    assert_eq!(
        out.content_disposition(),
        Some("attachment; filename=\"report final.txt\"")
    );
    assert_eq!(out.content_encoding(), Some("identity"));
    assert_eq!(out.content_language(), Some("fr-CA"));
    assert_eq!(out.cache_control(), Some("no-store, max-age=0"));
    assert_eq!(out.expires_string(), Some("Wed, 18 May 2033 03:33:20 GMT"));
    assert_eq!(body_of(out).await, DATA);

    // HEAD honours them too.
    let head = s
        .client
        .head_object()
        .bucket("bkt")
        .key("obj")
        .response_content_type("image/png")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_type(), Some("image/png"));

    // The stored headers are unchanged.
    let head = s.head("bkt", "obj").await;
    assert_eq!(head.content_type(), Some("text/plain"));
    assert_eq!(head.content_language(), None);
    assert_eq!(head.cache_control(), None);
    assert_eq!(head.content_disposition(), None);
}
