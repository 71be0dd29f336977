//! SigV4 header authentication: right keys work (with odd keys and query strings), wrong secret,
//! unknown access key, unsigned requests, tampered headers and bodies, UNSIGNED-PAYLOAD, and
//! anonymous servers accepting anything.

use aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_s3::config::{
    ConfigBag, Intercept, Region, RequestChecksumCalculation, RuntimeComponents,
};
use aws_sdk_s3::error::BoxError;
use aws_sdk_s3::primitives::{ByteStream, SdkBody};
use aws_sdk_s3::types::ObjectIdentifier;

use crate::common::*;

/// Replaces the body after the request was signed.
#[derive(Debug)]
struct ReplaceBody(Vec<u8>);

impl Intercept for ReplaceBody {
    fn name(&self) -> &'static str {
        "ReplaceBody"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        *context.request_mut().body_mut() = SdkBody::from(self.0.clone());
        Ok(())
    }
}

/// Changes a signed header after the request was signed.
#[derive(Debug)]
struct TamperHeader(&'static str, &'static str);

impl Intercept for TamperHeader {
    fn name(&self) -> &'static str {
        "TamperHeader"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        context.request_mut().headers_mut().insert(self.0, self.1);
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn right_key_works_for_every_operation() {
    let s = TestServer::start_auth().await;
    s.create_bucket("secure").await;
    s.create_bucket("other").await;
    let keys = [
        "plain.txt",
        "dir with space/a+b=c&d.txt",
        "ünïcödé/日本.txt",
        "pct%20literal",
        "tilde~star*quote'",
    ];
    for k in keys {
        let etag = s.put("secure", k, k.as_bytes().to_vec()).await;
        assert_eq!(etag, etag_of(k.as_bytes()));
        assert_eq!(s.get("secure", k).await, k.as_bytes());
        s.head("secure", k).await;
    }
    let mut sorted: Vec<&str> = keys.to_vec();
    sorted.sort();
    assert_eq!(s.list_keys("secure").await, sorted);
    // Query strings with characters that need encoding are signed and checked correctly.
    for prefix in ["dir with space/a+", "ünïcödé/", "pct%"] {
        let out = s
            .client
            .list_objects_v2()
            .bucket("secure")
            .prefix(prefix)
            .delimiter("/")
            .send()
            .await
            .unwrap_or_else(|e| panic!("prefix {prefix:?}: {}", describe(&e)));
        assert_eq!(
            out.key_count(),
            Some(1),
            "prefix {prefix:?}: {:?} {:?}",
            out.contents(),
            out.common_prefixes()
        );
    }
    let out = s
        .client
        .list_objects()
        .bucket("secure")
        .marker("plain.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(out.contents().len(), 2);
    s.copy(
        "other",
        "copied",
        format!("secure/{}", encode_path(keys[1])),
    )
    .send()
    .await
    .unwrap_or_else(|e| panic!("copy: {}", describe(&e)));
    assert_eq!(s.get("other", "copied").await, keys[1].as_bytes());
    let objects = keys
        .iter()
        .map(|k| ObjectIdentifier::builder().key(*k).build().unwrap())
        .collect();
    let out = delete_objects(&s.client, "secure", objects).await;
    assert_eq!(out.deleted().len(), keys.len());
    s.client
        .delete_bucket()
        .bucket("secure")
        .send()
        .await
        .unwrap();
    let buckets = s.client.list_buckets().send().await.unwrap();
    assert_eq!(buckets.buckets().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_secret_is_signature_does_not_match() {
    let s = TestServer::start_auth().await;
    s.create_bucket("bkt").await;
    let bad = client_for(s.addr, ACCESS_KEY, "not-the-secret");
    expect_error(
        bad.list_buckets().send().await,
        403,
        "SignatureDoesNotMatch",
    );
    expect_error(
        bad.put_object()
            .bucket("bkt")
            .key("intruder")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
        403,
        "SignatureDoesNotMatch",
    );
    expect_error(
        bad.create_bucket().bucket("newbkt").send().await,
        403,
        "SignatureDoesNotMatch",
    );
    expect_error(
        bad.delete_bucket().bucket("bkt").send().await,
        403,
        "SignatureDoesNotMatch",
    );
    assert!(s.list_keys("bkt").await.is_empty());
    assert!(!s.root().join("newbkt").exists());
    assert!(s.root().join("bkt").is_dir());
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_access_key_is_invalid_access_key_id() {
    let s = TestServer::start_auth().await;
    s.create_bucket("bkt").await;
    let stranger = client_for(s.addr, "AKIDUNKNOWN", SECRET_KEY);
    expect_error(
        stranger.list_buckets().send().await,
        403,
        "InvalidAccessKeyId",
    );
    expect_error(
        stranger
            .put_object()
            .bucket("bkt")
            .key("intruder")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
        403,
        "InvalidAccessKeyId",
    );
    assert!(s.list_keys("bkt").await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn unsigned_requests_are_access_denied() {
    let s = TestServer::start_auth().await;
    s.create_bucket("bkt").await;
    s.put("bkt", "secret.txt", "classified").await;
    let http = http();
    for (method, path) in [
        (reqwest::Method::GET, "/"),
        (reqwest::Method::GET, "/bkt/secret.txt"),
        (reqwest::Method::GET, "/bkt?list-type=2"),
        (reqwest::Method::PUT, "/bkt/intruder"),
        (reqwest::Method::PUT, "/newbucket"),
        (reqwest::Method::DELETE, "/bkt/secret.txt"),
    ] {
        let r = http
            .request(method.clone(), s.url(path))
            .body("payload")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 403, "{method} {path}");
        let ct = r.headers()["content-type"].to_str().unwrap().to_string();
        let body = r.text().await.unwrap();
        assert!(ct.starts_with("application/xml"), "{method} {path}: {ct}");
        assert_eq!(
            xml_value(&body, "Code").as_deref(),
            Some("AccessDenied"),
            "{method} {path}: {body}"
        );
        assert!(
            !body.contains("classified"),
            "{method} {path} leaked the object"
        );
    }
    let r = http.head(s.url("/bkt/secret.txt")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(s.get("bkt", "secret.txt").await, b"classified");
    assert_eq!(s.list_keys("bkt").await, ["secret.txt"]);
    assert!(!s.root().join("newbucket").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn tampered_requests_are_refused() {
    let s = TestServer::start_auth().await;
    s.create_bucket("bkt").await;
    let client = client_with(s.addr, ACCESS_KEY, SECRET_KEY, |b| {
        b.request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
    });
    // A signed header changed in flight.
    let r = client
        .put_object()
        .bucket("bkt")
        .key("meta")
        .metadata("who", "alice")
        .body(ByteStream::from_static(b"alice's"))
        .customize()
        .interceptor(TamperHeader("x-amz-meta-who", "mallory"))
        .send()
        .await;
    expect_error(r, 403, "SignatureDoesNotMatch");

    // The body changed after its SHA-256 was signed (same length).
    let r = client
        .put_object()
        .bucket("bkt")
        .key("body")
        .body(ByteStream::from_static(b"original body"))
        .customize()
        .interceptor(ReplaceBody(b"ORIGINAL BODY".to_vec()))
        .send()
        .await;
    expect_error(r, 400, "XAmzContentSHA256Mismatch");
    assert!(s.list_keys("bkt").await.is_empty());
    assert!(files_under(&s.root().join("bkt")).is_empty());

    // Untampered, the same client works.
    let out = client
        .put_object()
        .bucket("bkt")
        .key("body")
        .body(ByteStream::from_static(b"original body"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.e_tag(), Some(etag_of(b"original body").as_str()));
}

#[tokio::test(flavor = "multi_thread")]
async fn unsigned_payload_is_accepted() {
    let s = TestServer::start_auth().await;
    s.create_bucket("bkt").await;
    let rec = RecordHeaders::default();
    let out = s
        .client
        .put_object()
        .bucket("bkt")
        .key("unsigned-payload")
        .body(ByteStream::from_static(b"payload not signed"))
        .customize()
        .disable_payload_signing()
        .interceptor(rec.clone())
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    assert_eq!(
        rec.last("x-amz-content-sha256").as_deref(),
        Some("UNSIGNED-PAYLOAD")
    );
    assert_eq!(out.e_tag(), Some(etag_of(b"payload not signed").as_str()));
    assert_eq!(
        s.get("bkt", "unsigned-payload").await,
        b"payload not signed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn region_in_the_scope_is_accepted() {
    let s = TestServer::start_auth().await;
    s.create_bucket("bkt").await;
    let client = client_with(s.addr, ACCESS_KEY, SECRET_KEY, |b| {
        b.region(Region::new("eu-central-1"))
    });
    client
        .put_object()
        .bucket("bkt")
        .key("k")
        .body(ByteStream::from_static(b"from another region"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    assert_eq!(s.get("bkt", "k").await, b"from another region");
}

#[tokio::test(flavor = "multi_thread")]
async fn several_keys() {
    let s = TestServer::start_with(|c| {
        c.auth.keys = vec![
            "AKONE,secret-one".parse().unwrap(),
            "AKTWO,secret-two".parse().unwrap(),
        ];
    })
    .await;
    let one = client_for(s.addr, "AKONE", "secret-one");
    let two = client_for(s.addr, "AKTWO", "secret-two");
    one.create_bucket().bucket("shared").send().await.unwrap();
    two.put_object()
        .bucket("shared")
        .key("from-two")
        .body(ByteStream::from_static(b"2"))
        .send()
        .await
        .unwrap();
    let out = one
        .get_object()
        .bucket("shared")
        .key("from-two")
        .send()
        .await
        .unwrap();
    assert_eq!(body_of(out).await, b"2");
    // One key's id with the other's secret.
    let mixed = client_for(s.addr, "AKONE", "secret-two");
    expect_error(
        mixed.list_buckets().send().await,
        403,
        "SignatureDoesNotMatch",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn anonymous_server_accepts_any_signature_and_none() {
    let s = TestServer::start().await;
    s.create_bucket("open").await;
    let anyone = client_for(s.addr, "WHOEVER", "whatever");
    anyone
        .put_object()
        .bucket("open")
        .key("signed")
        .body(ByteStream::from_static(b"signed by anyone"))
        .send()
        .await
        .unwrap();
    let r = http()
        .put(s.url("/open/unsigned"))
        .body("no signature")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(s.get("open", "signed").await, b"signed by anyone");
    let r = http().get(s.url("/open/unsigned")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.text().await.unwrap(), "no signature");
}

#[tokio::test(flavor = "multi_thread")]
async fn unsigned_amz_headers_are_refused() {
    let s = TestServer::start_auth().await;
    s.create_bucket("bkt").await;
    s.put("bkt", "secret", "top secret").await;
    let client = client_with(s.addr, ACCESS_KEY, SECRET_KEY, |b| {
        b.request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
    });
    // Added after signing, a copy source would turn this PUT into a copy of another object.
    let r = client
        .put_object()
        .bucket("bkt")
        .key("mine")
        .body(ByteStream::from_static(b"mine"))
        .customize()
        .interceptor(TamperHeader("x-amz-copy-source", "/bkt/secret"))
        .send()
        .await;
    expect_error(r, 403, "AccessDenied");
    // Unsigned metadata is refused as well.
    let r = client
        .put_object()
        .bucket("bkt")
        .key("mine")
        .body(ByteStream::from_static(b"mine"))
        .customize()
        .interceptor(TamperHeader("x-amz-meta-added", "later"))
        .send()
        .await;
    expect_error(r, 403, "AccessDenied");
    assert_eq!(s.list_keys("bkt").await, vec!["secret".to_string()]);
}

/// Sends one request on a kept-alive connection and reads its answer (Content-Length bodies).
async fn exchange(conn: &mut tokio::net::TcpStream, head: &str) -> (u16, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    conn.write_all(head.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        assert_eq!(conn.read(&mut byte).await.unwrap(), 1, "connection closed");
        buf.push(byte[0]);
    }
    let r = parse_response(&buf);
    let len: usize = r.header("content-length").map_or(0, |v| v.parse().unwrap());
    let mut body = vec![0u8; len];
    conn.read_exact(&mut body).await.unwrap();
    (r.status, body)
}

#[tokio::test]
async fn keys_rotate_on_reload_and_connections_stay_open() {
    use aws_sdk_s3::presigning::PresigningConfig;
    let keys_dir = tempfile::tempdir().unwrap();
    let keys = keys_dir.path().join("keys");
    std::fs::write(&keys, "# the first key\nOLDKEY,old/secret\n").unwrap();
    let s = TestServer::start_with(|c| c.auth.keys_file = Some(keys.clone())).await;
    let old = client_for(s.addr, "OLDKEY", "old/secret");
    let new = client_for(s.addr, "NEWKEY", "new/secret");
    old.create_bucket().bucket("bkt").send().await.unwrap();
    old.put_object()
        .bucket("bkt")
        .key("k")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"rotated"))
        .send()
        .await
        .unwrap();
    expect_error(new.list_buckets().send().await, 403, "InvalidAccessKeyId");
    let presigned_get = |c: &aws_sdk_s3::Client| {
        let c = c.clone();
        async move {
            let p = c
                .get_object()
                .bucket("bkt")
                .key("k")
                .presigned(
                    PresigningConfig::expires_in(std::time::Duration::from_secs(300)).unwrap(),
                )
                .await
                .unwrap();
            let target = p.uri().split_once("/bkt/").unwrap().1.to_string();
            format!("GET /bkt/{target} HTTP/1.1\r\nHost: {}\r\n\r\n", s.addr)
        }
    };
    // One connection, kept across the reload.
    let mut conn = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let (status, body) = exchange(&mut conn, &presigned_get(&old).await).await;
    assert_eq!((status, body.as_slice()), (200, &b"rotated"[..]));
    std::fs::write(&keys, "NEWKEY,new/secret\n").unwrap();
    s.reload(s.config.clone()).await.unwrap();
    let (status, body) = exchange(&mut conn, &presigned_get(&new).await).await;
    assert_eq!((status, body.as_slice()), (200, &b"rotated"[..]));
    let (status, _) = exchange(&mut conn, &presigned_get(&old).await).await;
    assert_eq!(status, 403, "the old key still works");
    expect_error(old.list_buckets().send().await, 403, "InvalidAccessKeyId");
    assert_eq!(new.list_buckets().send().await.unwrap().buckets().len(), 1);
    // A keys file that does not parse is refused and the current keys stay.
    std::fs::write(&keys, "no comma here\n").unwrap();
    assert!(s.reload(s.config.clone()).await.is_err());
    assert_eq!(new.list_buckets().send().await.unwrap().buckets().len(), 1);
}

/// The SigV2 signature of `string_to_sign` with the test secret, base64.
fn sigv2(string_to_sign: &str) -> String {
    use base64::Engine;
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(SECRET_KEY.as_bytes()).unwrap();
    mac.update(string_to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// A SigV2 header-signed request for `target` whose signature covers `resource`.
async fn sigv2_request(s: &TestServer, method: &str, target: &str, resource: &str) -> RawResponse {
    let date = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc2822)
        .unwrap();
    let sig = sigv2(&format!("{method}\n\n\n{date}\n{resource}"));
    raw_request(
        s.addr,
        &format!(
            "{method} {target} HTTP/1.1\r\nDate: {date}\r\nAuthorization: AWS {ACCESS_KEY}:{sig}\r\nContent-Length: 0\r\n"
        ),
        b"",
    )
    .await
}

/// botocore with `signature_version='s3'` requests a bucket as `/bucket` and signs `/bucket/`;
/// S3 takes a bucket's resource in either form. Only a bucket's: an object's trailing slash
/// names another key.
#[tokio::test(flavor = "multi_thread")]
async fn sigv2_signs_a_bucket_with_or_without_its_trailing_slash() {
    let s = TestServer::start_auth().await;
    for (method, target, resource, status) in [
        ("PUT", "/v2bkt", "/v2bkt/", 200),
        ("GET", "/v2bkt", "/v2bkt/", 200),
        ("GET", "/v2bkt", "/v2bkt", 200),
        ("GET", "/v2bkt/", "/v2bkt", 200),
        ("GET", "/v2bkt/", "/v2bkt/", 200),
        ("HEAD", "/v2bkt", "/v2bkt/", 200),
        ("GET", "/v2bkt?location", "/v2bkt/?location", 200),
        // Signed sub-resources of the configuration reads, as botocore signs them.
        ("GET", "/v2bkt?accelerate", "/v2bkt/?accelerate", 200),
        ("GET", "/v2bkt?object-lock", "/v2bkt/?object-lock", 404),
        ("GET", "/v2bkt?replication", "/v2bkt?replication", 404),
        ("GET", "/v2bkt", "/v2bkt//", 403),
        ("GET", "/v2bkt", "/other/", 403),
        ("PUT", "/v2bkt/k", "/v2bkt/k", 200),
        ("GET", "/v2bkt/k", "/v2bkt/k/", 403),
        ("DELETE", "/v2bkt/k", "/v2bkt/k", 204),
        ("DELETE", "/v2bkt", "/v2bkt/", 204),
    ] {
        let r = sigv2_request(&s, method, target, resource).await;
        assert_eq!(
            r.status,
            status,
            "{method} {target} signed as {resource}: {}",
            r.text()
        );
        if status == 403 {
            assert!(r.text().contains("SignatureDoesNotMatch"), "{}", r.text());
        }
    }
    assert!(!s.root().join("v2bkt").exists());

    // A presigned URL of a bucket, signed either way.
    s.create_bucket("v2pre").await;
    let expires = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 300;
    for resource in ["/v2pre/", "/v2pre"] {
        let sig = sigv2(&format!("GET\n\n\n{expires}\n{resource}"));
        let target = format!(
            "/v2pre?AWSAccessKeyId={ACCESS_KEY}&Expires={expires}&Signature={}",
            encode_query(&sig)
        );
        let r = raw_request(s.addr, &format!("GET {target} HTTP/1.1\r\n"), b"").await;
        assert_eq!(r.status, 200, "presigned as {resource}: {}", r.text());
    }
}
