//! Metadata: user metadata (`x-amz-meta-*`, lower-case names, values as sent), the stored content
//! headers, persistence across restarts, replacement on overwrite, and the 2 KiB limit.

use std::collections::HashMap;

use aws_sdk_s3::primitives::{ByteStream, DateTime};

use crate::common::*;

async fn put_with_everything(s: &TestServer, key: &str) {
    s.client
        .put_object()
        .bucket("bkt")
        .key(key)
        .metadata("color", "Blue")
        .metadata("owner-name", "Jane Doe")
        .metadata("spaced", "x y  z")
        .content_type("text/csv; charset=utf-8")
        .content_encoding("gzip")
        .content_disposition("attachment; filename=\"data.csv\"")
        .content_language("de-DE")
        .cache_control("public, max-age=3600")
        .expires(DateTime::from_secs(1_900_000_000))
        .body(ByteStream::from_static(b"a,b\n1,2\n"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
}

fn expected_meta() -> HashMap<String, String> {
    [
        ("color", "Blue"),
        ("owner-name", "Jane Doe"),
        ("spaced", "x y  z"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

async fn check_everything(s: &TestServer, key: &str) {
    let head = s.head("bkt", key).await;
    assert_eq!(head.metadata(), Some(&expected_meta()));
    assert_eq!(head.content_type(), Some("text/csv; charset=utf-8"));
    assert_eq!(head.content_encoding(), Some("gzip"));
    assert_eq!(
        head.content_disposition(),
        Some("attachment; filename=\"data.csv\"")
    );
    assert_eq!(head.content_language(), Some("de-DE"));
    assert_eq!(head.cache_control(), Some("public, max-age=3600"));
    assert_eq!(head.expires_string(), Some("Sun, 17 Mar 2030 17:46:40 GMT"));
    assert_eq!(head.e_tag(), Some(etag_of(b"a,b\n1,2\n").as_str()));

    let out = s.get_object("bkt", key).await;
    assert_eq!(out.metadata(), Some(&expected_meta()));
    assert_eq!(out.content_type(), Some("text/csv; charset=utf-8"));
    assert_eq!(out.content_encoding(), Some("gzip"));
    assert_eq!(
        out.content_disposition(),
        Some("attachment; filename=\"data.csv\"")
    );
    assert_eq!(out.content_language(), Some("de-DE"));
    assert_eq!(out.cache_control(), Some("public, max-age=3600"));
    assert_eq!(out.expires_string(), Some("Sun, 17 Mar 2030 17:46:40 GMT"));
    assert_eq!(body_of(out).await, b"a,b\n1,2\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn user_metadata_and_content_headers_are_stored() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    put_with_everything(&s, "data.csv").await;
    check_everything(&s, "data.csv").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn metadata_survives_a_restart() {
    let mut s = TestServer::start().await;
    s.create_bucket("bkt").await;
    put_with_everything(&s, "nested/data.csv").await;
    s.restart().await;
    check_everything(&s, "nested/data.csv").await;
    s.restart().await;
    check_everything(&s, "nested/data.csv").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn metadata_names_come_back_lower_case() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    let r = raw_request(
        s.addr,
        "PUT /bkt/cased HTTP/1.1\r\n\
         Content-Length: 4\r\n\
         X-Amz-Meta-Color: Blue\r\n\
         X-AMZ-META-CamelCase-Name: MixedValue\r\n",
        b"body",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    for method in ["GET", "HEAD"] {
        let r = raw_request(s.addr, &format!("{method} /bkt/cased HTTP/1.1\r\n"), b"").await;
        assert_eq!(r.status, 200);
        let meta: Vec<(String, String)> = r
            .headers
            .iter()
            .filter(|(n, _)| n.to_ascii_lowercase().starts_with("x-amz-meta-"))
            .cloned()
            .collect();
        let mut meta_sorted = meta.clone();
        meta_sorted.sort();
        assert_eq!(
            meta_sorted,
            [
                (
                    "x-amz-meta-camelcase-name".to_string(),
                    "MixedValue".to_string()
                ),
                ("x-amz-meta-color".to_string(), "Blue".to_string()),
            ],
            "{method}: names lower case, values as sent\n{}",
            r.head
        );
    }
    let head = s.head("bkt", "cased").await;
    let meta = head.metadata().unwrap();
    assert_eq!(meta.get("color").map(String::as_str), Some("Blue"));
    assert_eq!(
        meta.get("camelcase-name").map(String::as_str),
        Some("MixedValue")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn overwrite_replaces_metadata() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    s.client
        .put_object()
        .bucket("bkt")
        .key("k")
        .metadata("first", "1")
        .content_type("text/plain")
        .cache_control("no-cache")
        .body(ByteStream::from_static(b"one"))
        .send()
        .await
        .unwrap();
    s.client
        .put_object()
        .bucket("bkt")
        .key("k")
        .metadata("second", "2")
        .content_type("application/json")
        .body(ByteStream::from_static(b"two"))
        .send()
        .await
        .unwrap();
    let head = s.head("bkt", "k").await;
    let meta = head.metadata().unwrap();
    assert_eq!(meta.len(), 1, "{meta:?}");
    assert_eq!(meta.get("second").map(String::as_str), Some("2"));
    assert_eq!(head.content_type(), Some("application/json"));
    assert_eq!(head.cache_control(), None);

    // Deleted and re-created: nothing of the old metadata comes back.
    s.delete("bkt", "k").await;
    s.put("bkt", "k", "three").await;
    let head = s.head("bkt", "k").await;
    assert!(
        head.metadata().is_none_or(|m| m.is_empty()),
        "{:?}",
        head.metadata()
    );
    assert_ne!(head.content_type(), Some("application/json"));
}

#[tokio::test(flavor = "multi_thread")]
async fn metadata_limit_is_2_kib() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    // Under the limit: accepted.
    let ok_value = "v".repeat(1900);
    s.client
        .put_object()
        .bucket("bkt")
        .key("fits")
        .metadata("big", &ok_value)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let head = s.head("bkt", "fits").await;
    assert_eq!(head.metadata().unwrap().get("big"), Some(&ok_value));

    // Over it, in one value or spread over several: MetadataTooLarge, nothing stored.
    expect_error(
        s.client
            .put_object()
            .bucket("bkt")
            .key("too-big")
            .metadata("big", "v".repeat(2100))
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
        400,
        "MetadataTooLarge",
    );
    let mut req = s
        .client
        .put_object()
        .bucket("bkt")
        .key("too-many")
        .body(ByteStream::from_static(b"x"));
    for i in 0..10 {
        req = req.metadata(format!("k{i}"), "w".repeat(250));
    }
    expect_error(req.send().await, 400, "MetadataTooLarge");
    assert_eq!(s.list_keys("bkt").await, ["fits"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn out_of_band_files_have_no_user_metadata() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    std::fs::write(s.path_of("bkt", "plain.txt"), b"plain").unwrap();
    let head = s.head("bkt", "plain.txt").await;
    assert!(head.metadata().is_none_or(|m| m.is_empty()));
    assert_eq!(head.e_tag(), Some(etag_of(b"plain").as_str()));
    assert!(!head.content_type().unwrap_or("").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_index_can_be_rebuilt_from_the_files() {
    let mut s = TestServer::start().await;
    s.create_bucket("bkt").await;
    s.client
        .put_object()
        .bucket("bkt")
        .key("dir/a")
        .metadata("color", "blue")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"first"))
        .send()
        .await
        .unwrap();
    s.put("bkt", "b", b"second".to_vec()).await;
    // Refused while the server uses the index.
    let e = s3gate::rebuild_index(s.config.clone()).await.unwrap_err();
    assert!(e.to_string().contains("stop the server"), "{e}");
    s.stop_server().await;
    let text = s3gate::rebuild_index(s.config.clone()).await.unwrap();
    assert!(text.contains("2 objects in 1 bucket\n"), "{text}");
    let kept: Vec<_> = std::fs::read_dir(s.root().join(".s3gate"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".old"))
        .collect();
    assert_eq!(kept.len(), 1, "the old index is kept");
    s.start_again().await;
    let mut keys = s.list_keys("bkt").await;
    keys.sort();
    assert_eq!(keys, ["b", "dir/a"]);
    let head = s.head("bkt", "dir/a").await;
    assert_eq!(head.e_tag(), Some(etag_of(b"first").as_str()));
    // What only the old index knew is gone.
    assert!(head.metadata().is_none_or(|m| m.is_empty()));
}
