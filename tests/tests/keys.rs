//! Keys: unsafe keys never reach outside their bucket, long keys, and unusual characters that
//! must list back exactly as stored (keys beside folders of their name: keys_anywhere.rs).

use aws_sdk_s3::primitives::ByteStream;

use crate::common::*;

#[tokio::test(flavor = "multi_thread")]
async fn unsafe_keys_are_kept_in_the_store_and_never_escape() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    s.create_bucket("other").await;
    s.put("other", "victim", "untouched").await;
    let mut keys = vec![
        "..",
        ".",
        "../escape",
        "../other/victim",
        "a/../../escape",
        "a/./b",
        "a/..",
        "a//b",
        "/leading",
    ];
    for key in &keys {
        s.put("bkt", key, format!("evil {key}")).await;
        assert_eq!(s.get("bkt", key).await, format!("evil {key}").as_bytes());
    }
    // NUL is no key S3 can list.
    let r = s
        .client
        .put_object()
        .bucket("bkt")
        .key("a\0b")
        .body(ByteStream::from_static(b"evil"))
        .send()
        .await;
    expect_error(r, 400, "InvalidArgument");
    assert_eq!(s.get("other", "victim").await, b"untouched");
    let outside = std::fs::read_dir(s.root().parent().unwrap())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name() == "escape")
        .count();
    assert_eq!(outside, 0, "a file escaped the served directory");
    assert!(!s.root().join("escape").exists());
    assert!(files_under(&s.root().join("bkt")).is_empty());
    keys.sort();
    assert_eq!(s.list_keys("bkt").await, keys);
}

#[tokio::test(flavor = "multi_thread")]
async fn percent_encoded_dot_segments_name_their_own_keys() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    s.create_bucket("other").await;
    s.put("other", "victim", "untouched").await;
    for (path, key) in [
        ("/bkt/%2E%2E/other/victim", "../other/victim"),
        ("/bkt/a/%2e%2e/%2e%2e/escape", "a/../../escape"),
        ("/bkt/%2E", "."),
        ("/bkt/a%2F%2Fb", "a//b"),
        ("/bkt/a%2F..%2F..%2Fescape", "a/../../escape"),
    ] {
        let r = raw_request(
            s.addr,
            &format!("PUT {path} HTTP/1.1\r\nContent-Length: 4\r\n"),
            b"evil",
        )
        .await;
        assert_eq!(r.status, 200, "PUT {path}: {}", r.text());
        assert_eq!(s.get("bkt", key).await, b"evil", "{path}");
    }
    let r = raw_request(
        s.addr,
        "PUT /bkt/a%00b HTTP/1.1\r\nContent-Length: 4\r\n",
        b"evil",
    )
    .await;
    r.expect_error(400, "InvalidArgument");
    assert_eq!(s.get("other", "victim").await, b"untouched");
    assert!(!s.root().join("escape").exists());
    assert!(files_under(&s.root().join("bkt")).is_empty());
    assert_eq!(
        s.list_keys("bkt").await,
        [".", "../other/victim", "a/../../escape", "a//b"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn key_length_limit() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    // 1024 bytes exactly, in segments a filesystem can hold: accepted.
    let seg = "s".repeat(99);
    let mut key = std::iter::repeat_n(seg.as_str(), 10)
        .collect::<Vec<_>>()
        .join("/");
    key.push('/');
    key.push_str(&"e".repeat(1024 - key.len()));
    assert_eq!(key.len(), 1024);
    s.put("bkt", &key, "max").await;
    assert_eq!(s.get("bkt", &key).await, b"max");
    assert_eq!(s.list_keys("bkt").await, [key.clone()]);

    // One more byte: KeyTooLongError.
    let long = format!("{key}x");
    let r = s
        .client
        .put_object()
        .bucket("bkt")
        .key(&long)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    expect_error(r, 400, "KeyTooLongError");
    assert_eq!(s.list_keys("bkt").await, [key]);
}

const ODD_KEYS: &[&str] = &[
    "a+b+c.txt",
    "p%41q%25%.txt",
    "with space.txt",
    "  two  spaces  ",
    "k=v&x=y;z",
    "question?mark#hash",
    "quote'apos\"dq",
    "tilde~star*paren(1)[2]{3}",
    "comma,colon:at@dollar$",
    "ünïcödé/日本語.txt",
    "emoji-🎉.bin",
    "tab\there",
    "caret^pipe|back`tick",
    "lt<gt>amp&",
    "dir with space/and+plus/file%20name",
];

#[tokio::test(flavor = "multi_thread")]
async fn odd_characters_round_trip_and_list_back_exactly() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    for (i, key) in ODD_KEYS.iter().enumerate() {
        s.put("bkt", key, format!("content {i}")).await;
    }
    for (i, key) in ODD_KEYS.iter().enumerate() {
        assert_eq!(
            s.get("bkt", key).await,
            format!("content {i}").as_bytes(),
            "{key:?}"
        );
    }
    let mut expected: Vec<String> = ODD_KEYS.iter().map(|k| k.to_string()).collect();
    expected.sort();
    assert_eq!(s.list_keys("bkt").await, expected);

    // v1 lists them the same way.
    let out = s.client.list_objects().bucket("bkt").send().await.unwrap();
    let v1: Vec<_> = out.contents().iter().map(|o| o.key().unwrap()).collect();
    assert_eq!(v1, expected);

    // A prefix holding a space and a plus finds its keys.
    let out = s
        .client
        .list_objects_v2()
        .bucket("bkt")
        .prefix("dir with space/and+")
        .send()
        .await
        .unwrap();
    let keys: Vec<_> = out.contents().iter().map(|o| o.key().unwrap()).collect();
    assert_eq!(keys, ["dir with space/and+plus/file%20name"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn plus_in_a_path_is_a_plus() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    let http = http();
    for (path, body) in [
        ("/bkt/raw+plus", "one"),
        ("/bkt/enc%2Bplus", "two"),
        ("/bkt/space%20here", "three"),
        ("/bkt/p%41q%25r", "four"),
    ] {
        let r = http.put(s.url(path)).body(body).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "PUT {path}");
    }
    assert_eq!(
        s.list_keys("bkt").await,
        ["enc+plus", "pAq%r", "raw+plus", "space here"]
    );
    assert_eq!(s.get("bkt", "raw+plus").await, b"one");
    assert_eq!(s.get("bkt", "enc+plus").await, b"two");
    assert_eq!(s.get("bkt", "space here").await, b"three");
    assert_eq!(s.get("bkt", "pAq%r").await, b"four");
    let r = http.get(s.url("/bkt/raw%2Bplus")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"one");
}

#[tokio::test(flavor = "multi_thread")]
async fn symbolic_links_are_never_followed() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(
        outside.path().join("secret"),
        b"outside the served directory",
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bkt = dir.path().join("bkt");
    std::fs::create_dir(&bkt).unwrap();
    std::fs::write(bkt.join("real"), b"real").unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret"), bkt.join("file-link")).unwrap();
    std::os::unix::fs::symlink(outside.path(), bkt.join("dir-link")).unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("bucket-link")).unwrap();
    let s = TestServer::start_in(dir, |_| {}).await;
    // Every breach is collected, so one run shows them all.
    let mut breaches: Vec<String> = Vec::new();

    for key in ["file-link", "dir-link/secret"] {
        match s.client.get_object().bucket("bkt").key(key).send().await {
            Ok(out) => breaches.push(format!(
                "GET {key} served {:?}",
                String::from_utf8_lossy(&body_of(out).await)
            )),
            Err(e) => {
                let (status, code) = status_and_code(&e);
                if (status, code.as_str()) != (404, "NoSuchKey") {
                    breaches.push(format!("GET {key} answered {status} {code}"));
                }
            }
        }
    }
    let keys = s.list_keys("bkt").await;
    if keys != ["real"] {
        breaches.push(format!("listing: {keys:?}"));
    }
    let out = s
        .client
        .list_objects_v2()
        .bucket("bkt")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    if !out.common_prefixes().is_empty() {
        breaches.push(format!("common prefixes: {:?}", out.common_prefixes()));
    }
    let buckets = s.client.list_buckets().send().await.unwrap();
    let names: Vec<_> = buckets
        .buckets()
        .iter()
        .map(|b| b.name().unwrap())
        .collect();
    if names != ["bkt"] {
        breaches.push(format!("buckets: {names:?}"));
    }
    if s.client
        .list_objects_v2()
        .bucket("bucket-link")
        .send()
        .await
        .is_ok()
    {
        breaches.push("a linked folder at the root is served as a bucket".into());
    }

    // Writing through a linked folder or over a linked file never lands outside.
    let _ = s
        .client
        .put_object()
        .bucket("bkt")
        .key("dir-link/planted")
        .body(ByteStream::from_static(b"planted"))
        .send()
        .await;
    if outside.path().join("planted").exists() {
        breaches.push("PUT dir-link/planted wrote outside".into());
    }
    let _ = s
        .client
        .put_object()
        .bucket("bkt")
        .key("file-link")
        .body(ByteStream::from_static(b"overwritten"))
        .send()
        .await;
    if std::fs::read(outside.path().join("secret")).unwrap() != b"outside the served directory" {
        breaches.push("PUT file-link overwrote the link's target".into());
    }
    let _ = s
        .client
        .delete_object()
        .bucket("bkt")
        .key("dir-link/secret")
        .send()
        .await;
    if !outside.path().join("secret").exists() {
        breaches.push("DELETE dir-link/secret deleted outside".into());
    }
    assert!(
        breaches.is_empty(),
        "symbolic links followed:\n{}",
        breaches.join("\n")
    );
}
