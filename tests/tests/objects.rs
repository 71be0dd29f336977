//! Objects: PutObject / GetObject / HeadObject round trips, files on disk, files written by other
//! programs, restarts, concurrent writers.

use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;

use crate::common::*;

#[tokio::test(flavor = "multi_thread")]
async fn put_get_head_round_trip() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    let data = b"hello, s3gate\n".to_vec();
    let etag = s.put("bkt", "greeting.txt", data.clone()).await;
    assert_eq!(etag, etag_of(&data), "the ETag is the quoted MD5");

    let out = s.get_object("bkt", "greeting.txt").await;
    assert_eq!(out.e_tag(), Some(etag.as_str()));
    assert_eq!(out.content_length(), Some(data.len() as i64));
    let modified = out.last_modified().expect("Last-Modified").secs();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        (now - modified).abs() < 120,
        "last modified {modified} vs now {now}"
    );
    assert_eq!(body_of(out).await, data);

    let head = s.head("bkt", "greeting.txt").await;
    assert_eq!(head.e_tag(), Some(etag.as_str()));
    assert_eq!(head.content_length(), Some(data.len() as i64));
    assert_eq!(head.last_modified().unwrap().secs(), modified);

    // The object is a plain file with exactly these bytes.
    assert_eq!(
        std::fs::read(s.path_of("bkt", "greeting.txt")).unwrap(),
        data
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn nested_keys_create_parent_folders() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    s.put("bkt", "a/b/c/deep.bin", vec![7u8; 10]).await;
    assert!(s.root().join("bkt/a/b/c").is_dir());
    assert_eq!(
        std::fs::read(s.path_of("bkt", "a/b/c/deep.bin")).unwrap(),
        vec![7u8; 10]
    );
    assert_eq!(s.get("bkt", "a/b/c/deep.bin").await, vec![7u8; 10]);
    assert_eq!(s.list_keys("bkt").await, ["a/b/c/deep.bin"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn overwrite_replaces_content_and_etag() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    let first = s.put("bkt", "k", "first version").await;
    let second = s.put("bkt", "k", "second, longer version").await;
    assert_ne!(first, second);
    assert_eq!(second, etag_of(b"second, longer version"));
    assert_eq!(s.get("bkt", "k").await, b"second, longer version");
    // Same size, different bytes: the ETag still follows the content.
    let third = s.put("bkt", "k", "SECOND, LONGER VERSION").await;
    assert_eq!(third, etag_of(b"SECOND, LONGER VERSION"));
    let head = s.head("bkt", "k").await;
    assert_eq!(head.e_tag(), Some(third.as_str()));
    assert_eq!(s.list_keys("bkt").await, ["k"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn empty_object() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    let etag = s.put("bkt", "empty", Vec::new()).await;
    assert_eq!(etag, "\"d41d8cd98f00b204e9800998ecf8427e\"");
    let out = s.get_object("bkt", "empty").await;
    assert_eq!(out.content_length(), Some(0));
    assert!(body_of(out).await.is_empty());
    let list = s
        .client
        .list_objects_v2()
        .bucket("bkt")
        .send()
        .await
        .unwrap();
    assert_eq!(list.contents()[0].size(), Some(0));
    assert_eq!(list.contents()[0].e_tag(), Some(etag.as_str()));
}

#[tokio::test(flavor = "multi_thread")]
async fn large_object_round_trip() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    let data = pattern(5 * 1024 * 1024 + 123, 1);
    let etag = s.put("bkt", "big.bin", data.clone()).await;
    assert_eq!(etag, etag_of(&data));
    let got = s.get("bkt", "big.bin").await;
    assert_eq!(got.len(), data.len());
    assert!(got == data, "content differs");
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_key_is_no_such_key() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    s.put("bkt", "dir/present", "x").await;
    for key in ["absent", "dir/absent", "dir/present/deeper", "nodir/x"] {
        expect_error(
            s.client.get_object().bucket("bkt").key(key).send().await,
            404,
            "NoSuchKey",
        );
        expect_status(
            s.client.head_object().bucket("bkt").key(key).send().await,
            404,
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn default_content_type() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    s.client
        .put_object()
        .bucket("bkt")
        .key("typed.json")
        .content_type("application/json")
        .body(ByteStream::from_static(b"{}"))
        .send()
        .await
        .unwrap();
    let head = s.head("bkt", "typed.json").await;
    assert_eq!(head.content_type(), Some("application/json"));
    // Without a Content-Type, a content type is still answered.
    s.put("bkt", "untyped", "x").await;
    let head = s.head("bkt", "untyped").await;
    assert!(
        !head.content_type().unwrap_or("").is_empty(),
        "no Content-Type answered"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn files_written_by_other_programs_are_served() {
    // Written before the server starts.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("bkt/sub")).unwrap();
    let before = pattern(100_000, 2);
    std::fs::write(dir.path().join("bkt/sub/before.bin"), &before).unwrap();
    // Listings pick up out-of-band files at the latest at the next rescan.
    let s = TestServer::start_in(dir, |c| {
        c.vfs.rescan_interval = Duration::from_secs(1);
    })
    .await;

    let out = s.get_object("bkt", "sub/before.bin").await;
    assert_eq!(out.e_tag(), Some(etag_of(&before).as_str()));
    assert_eq!(out.content_length(), Some(before.len() as i64));
    assert!(body_of(out).await == before);
    let list = s
        .client
        .list_objects_v2()
        .bucket("bkt")
        .send()
        .await
        .unwrap();
    assert_eq!(list.contents().len(), 1);
    assert_eq!(list.contents()[0].key(), Some("sub/before.bin"));
    assert_eq!(list.contents()[0].e_tag(), Some(etag_of(&before).as_str()));
    assert_eq!(list.contents()[0].size(), Some(before.len() as i64));

    // Written while serving: readable at once, with the right MD5 ETag.
    let during = b"written by another program".to_vec();
    std::fs::write(s.path_of("bkt", "x"), &during).unwrap();
    let head = s.head("bkt", "x").await;
    assert_eq!(head.e_tag(), Some(etag_of(&during).as_str()));
    assert_eq!(head.content_length(), Some(during.len() as i64));
    assert_eq!(s.get("bkt", "x").await, during);

    // Rewritten by the other program: the new bytes and the new ETag, never the cached ones.
    let rewritten = b"rewritten, with another length".to_vec();
    std::fs::write(s.path_of("bkt", "x"), &rewritten).unwrap();
    let out = s.get_object("bkt", "x").await;
    assert_eq!(out.e_tag(), Some(etag_of(&rewritten).as_str()));
    assert_eq!(body_of(out).await, rewritten);

    // And it shows up in listings.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let keys = s.list_keys("bkt").await;
        if keys.len() == 2 {
            assert_eq!(keys, ["sub/before.bin", "x"]);
            break;
        }
        assert!(Instant::now() < deadline, "x never listed: {keys:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Deleted by the other program: gone.
    std::fs::remove_file(s.path_of("bkt", "x")).unwrap();
    expect_error(
        s.client.get_object().bucket("bkt").key("x").send().await,
        404,
        "NoSuchKey",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn objects_survive_a_restart() {
    let mut s = TestServer::start().await;
    s.create_bucket("bkt").await;
    let a = pattern(70_000, 3);
    let ea = s.put("bkt", "dir/a.bin", a.clone()).await;
    let eb = s.put("bkt", "b.txt", "bee").await;
    s.restart().await;
    assert_eq!(s.list_keys("bkt").await, ["b.txt", "dir/a.bin"]);
    let out = s.get_object("bkt", "dir/a.bin").await;
    assert_eq!(out.e_tag(), Some(ea.as_str()));
    assert!(body_of(out).await == a);
    let head = s.head("bkt", "b.txt").await;
    assert_eq!(head.e_tag(), Some(eb.as_str()));
}

#[tokio::test(flavor = "multi_thread")]
async fn lost_index_is_rebuilt_from_the_files() {
    let mut s = TestServer::start().await;
    s.create_bucket("bkt").await;
    let data = pattern(12_345, 4);
    s.put("bkt", "p/q.bin", data.clone()).await;
    s.put("bkt", "r.txt", "r").await;
    s.stop_server().await;
    let index = s.config.index_dir();
    if index.exists() {
        std::fs::remove_dir_all(&index).unwrap();
    }
    s.start_again().await;
    assert_eq!(s.list_keys("bkt").await, ["p/q.bin", "r.txt"]);
    let head = s.head("bkt", "p/q.bin").await;
    assert_eq!(head.e_tag(), Some(etag_of(&data).as_str()));
    assert_eq!(s.get("bkt", "p/q.bin").await, data);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_overwrites_and_reads_see_whole_objects() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    let a = pattern(1024 * 1024, 5);
    let b = pattern(1024 * 1024 + 1, 6);
    s.put("bkt", "hot", a.clone()).await;
    let (ea, eb) = (etag_of(&a), etag_of(&b));

    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..6 {
        let client = s.client.clone();
        let body = if i % 2 == 0 { b.clone() } else { a.clone() };
        tasks.spawn(async move {
            client
                .put_object()
                .bucket("bkt")
                .key("hot")
                .body(ByteStream::from(body))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| describe(&e))
        });
    }
    let mut readers = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let client = s.client.clone();
        readers.spawn(async move {
            let out = client
                .get_object()
                .bucket("bkt")
                .key("hot")
                .send()
                .await
                .map_err(|e| describe(&e))?;
            let etag = out.e_tag().unwrap().to_string();
            let length = out.content_length();
            let body = out
                .body
                .collect()
                .await
                .map_err(|e| format!("body cut short (Content-Length {length:?}): {e:?}"))?;
            Ok::<_, String>((etag, body.into_bytes().to_vec()))
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap().unwrap();
    }
    while let Some(r) = readers.join_next().await {
        let (etag, body) = r
            .unwrap()
            .unwrap_or_else(|e| panic!("a read during overwrites failed: {e}"));
        assert!(
            body == a || body == b,
            "a reader saw a mix ({} bytes)",
            body.len()
        );
        assert_eq!(
            etag,
            etag_of(&body),
            "ETag does not match the body it came with"
        );
    }
    let out = s.get_object("bkt", "hot").await;
    let etag = out.e_tag().unwrap().to_string();
    let body = body_of(out).await;
    assert!(body == a || body == b);
    assert!(etag == ea || etag == eb);
    assert_eq!(etag, etag_of(&body));
    assert_eq!(
        s.list_keys("bkt").await,
        ["hot"],
        "no temporary file is listed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn folder_markers_make_empty_folders_that_list_and_read_as_empty_objects() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    let c = &s.client;
    let put = c
        .put_object()
        .bucket("bkt")
        .key("photos/2024/")
        .body(ByteStream::from_static(b""))
        .send()
        .await
        .unwrap();
    assert_eq!(put.e_tag(), Some(etag_of(b"").as_str()));
    assert!(s.root().join("bkt/photos/2024").is_dir());
    assert_eq!(s.list_keys("bkt").await, ["photos/2024/"]);
    let head = c
        .head_object()
        .bucket("bkt")
        .key("photos/2024/")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(0));
    assert_eq!(s.get("bkt", "photos/2024/").await, b"");

    // The marker keeps its folder when the objects in it come and go.
    s.put("bkt", "photos/2024/a.jpg", b"jpeg".to_vec()).await;
    c.delete_object()
        .bucket("bkt")
        .key("photos/2024/a.jpg")
        .send()
        .await
        .unwrap();
    assert!(s.root().join("bkt/photos/2024").is_dir());
    assert_eq!(s.list_keys("bkt").await, ["photos/2024/"]);

    // Deleting the marker removes the folder and the empty ones above it; a non-empty body on
    // such a key is content, kept in the store of keys, and makes no folder.
    c.delete_object()
        .bucket("bkt")
        .key("photos/2024/")
        .send()
        .await
        .unwrap();
    assert!(!s.root().join("bkt/photos").exists());
    assert!(s.list_keys("bkt").await.is_empty());
    let err = c
        .head_object()
        .bucket("bkt")
        .key("photos/2024/")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status_and_code(&err).0, 404);
    c.put_object()
        .bucket("bkt")
        .key("dir/")
        .body(ByteStream::from_static(b"data"))
        .send()
        .await
        .unwrap();
    assert_eq!(s.get("bkt", "dir/").await, b"data");
    assert!(!s.root().join("bkt/dir").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn folder_markers_keep_their_headers_and_take_copies_onto_themselves() {
    let mut s = TestServer::start().await;
    s.create_bucket("bkt").await;
    s.client
        .put_object()
        .bucket("bkt")
        .key("d/")
        .content_type("application/x-directory")
        .metadata("mode", "16877")
        .body(ByteStream::from_static(b""))
        .send()
        .await
        .unwrap();
    let head = |key: &'static str| s.client.head_object().bucket("bkt").key(key).send();
    let h = head("d/").await.unwrap();
    assert_eq!(h.content_type(), Some("application/x-directory"));
    assert_eq!(
        s.user_meta("bkt", "d/", "mode").await.as_deref(),
        Some("16877")
    );

    // What s3fs-fuse sends for chmod on a folder: the marker copied onto itself, REPLACE.
    let out = s
        .copy("bkt", "d/", "bkt/d/")
        .metadata_directive(aws_sdk_s3::types::MetadataDirective::Replace)
        .content_type("application/x-directory")
        .metadata("mode", "16832")
        .send()
        .await
        .unwrap_or_else(|e| panic!("copy onto the marker: {}", describe(&e)));
    assert_eq!(
        out.copy_object_result().and_then(|r| r.e_tag()),
        Some(etag_of(b"").as_str())
    );
    assert_eq!(
        s.user_meta("bkt", "d/", "mode").await.as_deref(),
        Some("16832")
    );
    assert_eq!(s.list_keys("bkt").await, ["d/"]);
    s.restart().await;
    let head = |key: &'static str| s.client.head_object().bucket("bkt").key(key).send();
    assert_eq!(
        head("d/").await.unwrap().content_type(),
        Some("application/x-directory"),
        "kept across a restart"
    );
    assert_eq!(
        s.user_meta("bkt", "d/", "mode").await.as_deref(),
        Some("16832")
    );

    // A copy (COPY directive) onto another marker key makes that folder, with the headers.
    s.copy("bkt", "e/", "bkt/d/").send().await.unwrap();
    assert!(s.root().join("bkt/e").is_dir());
    assert_eq!(
        s.user_meta("bkt", "e/", "mode").await.as_deref(),
        Some("16832")
    );
    // Content does not become a folder: it is kept in the store of keys.
    s.put("bkt", "file", "content").await;
    s.copy("bkt", "f/", "bkt/file").send().await.unwrap();
    assert!(!s.root().join("bkt/f").exists());
    assert_eq!(s.get("bkt", "f/").await, b"content");
    assert_eq!(s.list_keys("bkt").await, ["d/", "e/", "f/", "file"]);
}
