//! CORS: a bucket's rules set, read and removed with the SDK and checked as S3 checks them; the
//! unsigned preflight and the headers of answers to browser requests (errors included) seen
//! over raw HTTP; and the server-wide rule of `--allow-origin`.

use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::types::{CorsConfiguration, CorsRule};

use crate::common::*;

const APP: &str = "https://app.example";

fn rule(origins: &[&str], methods: &[&str]) -> aws_sdk_s3::types::builders::CorsRuleBuilder {
    CorsRule::builder()
        .set_allowed_origins(Some(origins.iter().map(|o| o.to_string()).collect()))
        .set_allowed_methods(Some(methods.iter().map(|m| m.to_string()).collect()))
}

async fn put_rules(s: &TestServer, bucket: &str, rules: Vec<CorsRule>) {
    s.client
        .put_bucket_cors()
        .bucket(bucket)
        .cors_configuration(
            CorsConfiguration::builder()
                .set_cors_rules(Some(rules))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("put cors on {bucket}: {}", describe(&e)));
}

/// The rules most tests use: the app may GET, PUT and HEAD with any `x-amz-*` header and
/// `content-type`, and read `ETag`; anyone may GET.
async fn app_rules(s: &TestServer, bucket: &str) {
    put_rules(
        s,
        bucket,
        vec![
            rule(&[APP], &["GET", "PUT", "HEAD"])
                .allowed_headers("x-amz-*")
                .allowed_headers("Content-Type")
                .expose_headers("ETag")
                .expose_headers("x-amz-request-id")
                .max_age_seconds(600)
                .build()
                .unwrap(),
            rule(&["*"], &["GET"]).build().unwrap(),
        ],
    )
    .await;
}

async fn preflight(
    s: &TestServer,
    path: &str,
    origin: Option<&str>,
    method: Option<&str>,
    headers: Option<&str>,
) -> reqwest::Response {
    let mut r = http().request(reqwest::Method::OPTIONS, s.url(path));
    for (name, value) in [
        ("origin", origin),
        ("access-control-request-method", method),
        ("access-control-request-headers", headers),
    ] {
        if let Some(v) = value {
            r = r.header(name, v);
        }
    }
    r.send().await.unwrap()
}

fn header(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
}

/// Asserts an S3 error answer: status, code, and the message when given.
async fn assert_error(r: reqwest::Response, status: u16, code: &str, message: Option<&str>) {
    let body = expect_s3_error(r, status, code).await;
    if let Some(m) = message {
        assert_eq!(xml_value(&body, "Message").as_deref(), Some(m), "{body}");
    }
}

const VARY: &str = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method";

#[tokio::test(flavor = "multi_thread")]
async fn cors_configuration_is_set_read_and_deleted() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    expect_error(
        s.client.get_bucket_cors().bucket("bkt").send().await,
        404,
        "NoSuchCORSConfiguration",
    );
    app_rules(&s, "bkt").await;
    let got = s
        .client
        .get_bucket_cors()
        .bucket("bkt")
        .send()
        .await
        .unwrap();
    let rules = got.cors_rules();
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[0].allowed_origins(), [APP]);
    assert_eq!(rules[0].allowed_methods(), ["GET", "PUT", "HEAD"]);
    assert_eq!(rules[0].allowed_headers(), ["x-amz-*", "Content-Type"]);
    assert_eq!(rules[0].expose_headers(), ["ETag", "x-amz-request-id"]);
    assert_eq!(rules[0].max_age_seconds(), Some(600));
    assert_eq!(rules[1].allowed_origins(), ["*"]);
    assert_eq!(rules[1].max_age_seconds(), None);
    assert!(rules[1].allowed_headers().is_empty());
    // A second configuration replaces the first whole; the ID comes back.
    put_rules(
        &s,
        "bkt",
        vec![rule(&["*"], &["DELETE"]).id("only").build().unwrap()],
    )
    .await;
    let got = s
        .client
        .get_bucket_cors()
        .bucket("bkt")
        .send()
        .await
        .unwrap();
    assert_eq!(got.cors_rules().len(), 1);
    assert_eq!(got.cors_rules()[0].id(), Some("only"));
    // The rules are in the bucket's record: they outlive a restart.
    let mut s = s;
    s.restart().await;
    let got = s
        .client
        .get_bucket_cors()
        .bucket("bkt")
        .send()
        .await
        .unwrap();
    assert_eq!(got.cors_rules()[0].allowed_methods(), ["DELETE"]);
    // Delete answers 204, and again when there is nothing left to delete.
    for _ in 0..2 {
        let r = http().delete(s.url("/bkt?cors")).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 204);
    }
    expect_error(
        s.client.get_bucket_cors().bucket("bkt").send().await,
        404,
        "NoSuchCORSConfiguration",
    );
    expect_error(
        s.client.get_bucket_cors().bucket("nope").send().await,
        404,
        "NoSuchBucket",
    );
    expect_error(
        s.client
            .put_bucket_cors()
            .bucket("nope")
            .cors_configuration(
                CorsConfiguration::builder()
                    .cors_rules(rule(&["*"], &["GET"]).build().unwrap())
                    .build()
                    .unwrap(),
            )
            .send()
            .await,
        404,
        "NoSuchBucket",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_cors_configurations_are_refused_as_s3_refuses_them() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    let put = |rules: Vec<CorsRule>| {
        s.client
            .put_bucket_cors()
            .bucket("bkt")
            .cors_configuration(
                CorsConfiguration::builder()
                    .set_cors_rules(Some(rules))
                    .build()
                    .unwrap(),
            )
            .send()
    };
    let err = put(vec![rule(&["*"], &["GET", "PATCH"]).build().unwrap()])
        .await
        .unwrap_err();
    assert_eq!(status_and_code(&err), (400, "InvalidRequest".into()));
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::message(&err),
        Some("Found unsupported HTTP method in CORS config. Unsupported method is PATCH")
    );
    expect_error(
        put(vec![rule(&["https://*.*.example"], &["GET"])
            .build()
            .unwrap()])
        .await,
        400,
        "InvalidRequest",
    );
    expect_error(
        put(vec![rule(&["*"], &["GET"])
            .allowed_headers("x-*-*")
            .build()
            .unwrap()])
        .await,
        400,
        "InvalidRequest",
    );
    expect_error(
        put(vec![rule(&["*"], &["GET"])
            .max_age_seconds(-1)
            .build()
            .unwrap()])
        .await,
        400,
        "MalformedXML",
    );
    expect_error(
        put(vec![rule(&["*"], &["GET"])
            .id("i".repeat(256))
            .build()
            .unwrap()])
        .await,
        400,
        "InvalidArgument",
    );
    expect_error(put(vec![]).await, 400, "MalformedXML");
    expect_error(
        put(vec![rule(&["*"], &["GET"]).build().unwrap(); 101]).await,
        400,
        "MalformedXML",
    );
    put(vec![rule(&["*"], &["GET"]).build().unwrap(); 100])
        .await
        .unwrap();
    // Nothing refused was kept: the last good configuration stands.
    let got = s
        .client
        .get_bucket_cors()
        .bucket("bkt")
        .send()
        .await
        .unwrap();
    assert_eq!(got.cors_rules().len(), 100);

    // Documents no SDK would send, with their digest.
    let md5 = |b: &str| content_md5(b.as_bytes());
    let send = |body: &'static str, digest: Option<String>| {
        let mut r = http().put(s.url("/bkt?cors")).body(body);
        if let Some(d) = digest {
            r = r.header("content-md5", d);
        }
        r.send()
    };
    let no_origin = "<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>";
    assert_error(
        send(no_origin, Some(md5(no_origin))).await.unwrap(),
        400,
        "MalformedXML",
        None,
    )
    .await;
    let broken = "<CORSConfiguration><CORSRule>";
    assert_error(
        send(broken, Some(md5(broken))).await.unwrap(),
        400,
        "MalformedXML",
        None,
    )
    .await;
    let good = "<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod><AllowedOrigin>*</AllowedOrigin></CORSRule></CORSConfiguration>";
    assert_error(
        send(good, None).await.unwrap(),
        400,
        "InvalidRequest",
        Some("Missing required header for this request: Content-MD5"),
    )
    .await;
    assert_error(
        send(good, Some(md5(broken))).await.unwrap(),
        400,
        "BadDigest",
        None,
    )
    .await;
    let r = send(good, Some(md5(good))).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let got = s
        .client
        .get_bucket_cors()
        .bucket("bkt")
        .send()
        .await
        .unwrap();
    assert_eq!(got.cors_rules().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn preflights_are_answered_as_the_rules_say() {
    let s = TestServer::start_auth().await;
    s.create_bucket("bkt").await;
    s.create_bucket("plain").await;
    app_rules(&s, "bkt").await;

    assert_error(
        preflight(&s, "/bkt/k", None, Some("GET"), None).await,
        400,
        "BadRequest",
        Some("Insufficient information. Origin request header needed."),
    )
    .await;
    assert_error(
        preflight(&s, "/bkt/k", Some(APP), None, None).await,
        400,
        "BadRequest",
        None,
    )
    .await;
    assert_error(
        preflight(&s, "/bkt/k", Some(APP), Some("PATCH"), None).await,
        400,
        "BadRequest",
        None,
    )
    .await;

    // The app's own rule: its origin echoed, with credentials, and the headers it asked for.
    let r = preflight(
        &s,
        "/bkt/k",
        Some(APP),
        Some("PUT"),
        Some("Content-Type, X-Amz-Date"),
    )
    .await;
    assert_eq!(r.status().as_u16(), 200);
    expect_headers(
        &r,
        &[
            ("access-control-allow-origin", Some(APP)),
            ("access-control-allow-credentials", Some("true")),
            ("access-control-allow-methods", Some("GET, PUT, HEAD")),
            (
                "access-control-allow-headers",
                Some("content-type, x-amz-date"),
            ),
            (
                "access-control-expose-headers",
                Some("ETag, x-amz-request-id"),
            ),
            ("access-control-max-age", Some("600")),
            ("vary", Some(VARY)),
        ],
    );
    // A header no rule allows: refused, in S3's words.
    let r = preflight(&s, "/bkt/k", Some(APP), Some("PUT"), Some("x-custom")).await;
    let refused = "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.";
    assert!(header(&r, "access-control-allow-origin").is_none());
    assert_error(r, 403, "AccessForbidden", Some(refused)).await;
    // Another origin falls to the `*` rule: GET only, answered `*` without credentials.
    let r = preflight(
        &s,
        "/bkt/k",
        Some("https://other.example"),
        Some("GET"),
        None,
    )
    .await;
    assert_eq!(r.status().as_u16(), 200);
    expect_headers(
        &r,
        &[
            ("access-control-allow-origin", Some("*")),
            ("access-control-allow-credentials", None),
            ("access-control-allow-headers", None),
        ],
    );
    let r = preflight(
        &s,
        "/bkt/k",
        Some("https://other.example"),
        Some("PUT"),
        None,
    )
    .await;
    assert_error(r, 403, "AccessForbidden", Some(refused)).await;

    // A presigned URL's preflight is an OPTIONS of the same URL: answered the same.
    let presigned = s
        .client
        .put_object()
        .bucket("bkt")
        .key("up")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).unwrap())
        .await
        .unwrap();
    let r = http()
        .request(reqwest::Method::OPTIONS, presigned.uri())
        .header("origin", APP)
        .header("access-control-request-method", "PUT")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        header(&r, "access-control-allow-origin").as_deref(),
        Some(APP)
    );

    // No rules, no bucket, no bucket named: refused, never an error of the server.
    let r = preflight(&s, "/plain/k", Some(APP), Some("GET"), None).await;
    assert_error(
        r,
        403,
        "AccessForbidden",
        Some("CORSResponse: CORS is not enabled for this bucket."),
    )
    .await;
    let r = preflight(&s, "/nope/k", Some(APP), Some("GET"), None).await;
    assert_error(
        r,
        403,
        "AccessForbidden",
        Some("CORSResponse: Bucket not found"),
    )
    .await;
    for path in ["/", "/Not_A_Bucket/k"] {
        let r = preflight(&s, path, Some(APP), Some("GET"), None).await;
        assert_error(r, 403, "AccessForbidden", None).await;
    }
    // Once the rules are gone, so are the answers.
    s.client
        .delete_bucket_cors()
        .bucket("bkt")
        .send()
        .await
        .unwrap();
    let r = preflight(&s, "/bkt/k", Some(APP), Some("PUT"), None).await;
    assert_error(r, 403, "AccessForbidden", None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn browser_requests_carry_cors_headers_on_success_and_on_errors() {
    let s = TestServer::start_auth().await;
    s.create_bucket("bkt").await;
    app_rules(&s, "bkt").await;
    let etag = s.put("bkt", "k", "hello").await;
    let presign = |key: &'static str| {
        let c = s.client.clone();
        async move {
            c.get_object()
                .bucket("bkt")
                .key(key)
                .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).unwrap())
                .await
                .unwrap()
                .uri()
                .to_string()
        }
    };
    let get = |url: String, origin: Option<&'static str>| {
        let mut r = http().get(url);
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        r.send()
    };
    let assert_granted = |r: &reqwest::Response| {
        assert_eq!(
            header(r, "access-control-allow-origin").as_deref(),
            Some(APP)
        );
        assert_eq!(
            header(r, "access-control-allow-credentials").as_deref(),
            Some("true")
        );
        assert_eq!(
            header(r, "access-control-expose-headers").as_deref(),
            Some("ETag, x-amz-request-id")
        );
        assert_eq!(header(r, "vary").as_deref(), Some(VARY));
    };

    let r = get(presign("k").await, Some(APP)).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_granted(&r);
    assert_eq!(header(&r, "etag").as_deref(), Some(etag.as_str()));
    assert_eq!(r.text().await.unwrap(), "hello");
    // A 404 is readable by the page too.
    let r = get(presign("missing").await, Some(APP)).await.unwrap();
    assert_granted(&r);
    assert_error(r, 404, "NoSuchKey", None).await;
    // And so is a refused signature: answered before any handler ran.
    let tampered = presign("k")
        .await
        .replace("X-Amz-Signature=", "X-Amz-Signature=0");
    let r = get(tampered, Some(APP)).await.unwrap();
    assert_granted(&r);
    assert_error(r, 403, "SignatureDoesNotMatch", None).await;
    // An unsigned request is refused, readably.
    let r = get(s.url("/bkt/k"), Some(APP)).await.unwrap();
    assert_granted(&r);
    assert_eq!(r.status().as_u16(), 403);
    // Anyone may GET (the `*` rule), and is answered `*`.
    let r = get(presign("k").await, Some("https://other.example"))
        .await
        .unwrap();
    expect_headers(
        &r,
        &[
            ("access-control-allow-origin", Some("*")),
            ("access-control-allow-credentials", None),
        ],
    );
    assert_eq!(r.status().as_u16(), 200);
    // No Origin, or a method no rule allows for it: no CORS headers at all.
    let r = get(presign("k").await, None).await.unwrap();
    assert!(header(&r, "access-control-allow-origin").is_none());
    let deleted = s
        .client
        .delete_object()
        .bucket("bkt")
        .key("k")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).unwrap())
        .await
        .unwrap();
    let r = http()
        .delete(deleted.uri())
        .header("origin", APP)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    assert!(header(&r, "access-control-allow-origin").is_none());
    // A bucket that does not exist grants nothing.
    let r = get(s.url("/nope/k"), Some(APP)).await.unwrap();
    assert!(header(&r, "access-control-allow-origin").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_server_wide_origin_serves_buckets_without_rules_of_their_own() {
    let s = TestServer::start_with(|c| c.server.allow_origin = Some(APP.to_string())).await;
    s.create_bucket("plain").await;
    s.create_bucket("own").await;
    put_rules(
        &s,
        "own",
        vec![rule(&["https://other.example"], &["GET"]).build().unwrap()],
    )
    .await;

    let r = preflight(
        &s,
        "/plain/k",
        Some(APP),
        Some("DELETE"),
        Some("X-Anything, content-type"),
    )
    .await;
    assert_eq!(r.status().as_u16(), 200);
    expect_headers(
        &r,
        &[
            ("access-control-allow-origin", Some(APP)),
            (
                "access-control-allow-methods",
                Some("GET, HEAD, PUT, POST, DELETE"),
            ),
            (
                "access-control-allow-headers",
                Some("x-anything, content-type"),
            ),
            ("access-control-expose-headers", Some("ETag")),
        ],
    );
    // Listing the buckets, or a bucket still to be made, from the app works too.
    for path in ["/", "/new-bucket"] {
        let r = preflight(&s, path, Some(APP), Some("PUT"), None).await;
        assert_eq!(r.status().as_u16(), 200, "{path}");
    }
    let r = preflight(
        &s,
        "/plain/k",
        Some("https://evil.example"),
        Some("GET"),
        None,
    )
    .await;
    assert_error(r, 403, "AccessForbidden", None).await;
    // A bucket's own rules replace the server's.
    let r = preflight(&s, "/own/k", Some(APP), Some("GET"), None).await;
    assert_error(r, 403, "AccessForbidden", None).await;
    let r = preflight(
        &s,
        "/own/k",
        Some("https://other.example"),
        Some("GET"),
        None,
    )
    .await;
    assert_eq!(r.status().as_u16(), 200);

    let r = http()
        .put(s.url("/plain/k"))
        .header("origin", APP)
        .body("data")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    expect_headers(
        &r,
        &[
            ("access-control-allow-origin", Some(APP)),
            ("access-control-expose-headers", Some("ETag")),
            ("etag", Some(etag_of(b"data").as_str())),
        ],
    );
    let r = http()
        .get(s.url("/own/k"))
        .header("origin", APP)
        .send()
        .await
        .unwrap();
    assert!(header(&r, "access-control-allow-origin").is_none());
}
