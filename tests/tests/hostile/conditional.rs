//! Conditions and bounds a client relies on to keep what it does not mean to touch: `If-Match` /
//! `If-None-Match` on every write and delete (DeleteObject, DeleteObjects' per-object `<ETag>`,
//! CopyObject's destination, CompleteMultipartUpload, PutObject with an ETag), each refused with
//! the previous state intact; and the multipart resources a client can hold (open uploads per
//! bucket, the in-place stride a part that never arrives would fix).

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier};

use crate::common::*;

async fn server_with_bucket() -> TestServer {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    s
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_with_if_match_deletes_only_that_version() {
    let s = server_with_bucket().await;
    let etag = s.put("bkt", "doc", "version 1").await;
    let delete = || s.client.delete_object().bucket("bkt").key("doc");
    expect_error(
        delete().if_match(etag_of(b"other")).send().await,
        412,
        "PreconditionFailed",
    );
    assert_eq!(
        s.get("bkt", "doc").await,
        b"version 1",
        "a refused delete keeps the object"
    );
    delete().if_match(&etag).send().await.unwrap();
    s.assert_no_such_key("bkt", "doc").await;
    // If-Match wants an object there: on a missing key it is NoSuchKey, not the usual 204.
    expect_error(delete().if_match(&etag).send().await, 404, "NoSuchKey");
    expect_error(delete().if_match("*").send().await, 404, "NoSuchKey");
    // A folder marker's ETag is checked as any object's.
    s.client
        .put_object()
        .bucket("bkt")
        .key("dir/")
        .body(ByteStream::from_static(b""))
        .send()
        .await
        .unwrap();
    let marker = || s.client.delete_object().bucket("bkt").key("dir/");
    expect_error(
        marker().if_match(etag_of(b"x")).send().await,
        412,
        "PreconditionFailed",
    );
    assert_eq!(s.list_keys("bkt").await, ["dir/"]);
    marker().if_match(etag_of(b"")).send().await.unwrap();
    assert!(s.list_keys("bkt").await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_objects_checks_each_etag_and_fails_only_that_key() {
    let s = server_with_bucket().await;
    let a = s.put("bkt", "a", "first").await;
    let b = s.put("bkt", "b", "second").await;
    let object = |key: &str, etag: Option<&str>| {
        ObjectIdentifier::builder()
            .key(key)
            .set_e_tag(etag.map(str::to_string))
            .build()
            .unwrap()
    };
    let out = s
        .client
        .delete_objects()
        .bucket("bkt")
        .delete(
            Delete::builder()
                .objects(object("a", Some(&b)))
                .objects(object("b", Some(&b)))
                .objects(object("gone", None))
                .objects(object("absent", Some(&a)))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    let mut deleted: Vec<_> = out.deleted().iter().map(|d| d.key().unwrap()).collect();
    deleted.sort();
    assert_eq!(deleted, ["b", "gone"]);
    let mut errors: Vec<_> = out
        .errors()
        .iter()
        .map(|e| (e.key().unwrap(), e.code().unwrap()))
        .collect();
    errors.sort();
    assert_eq!(
        errors,
        [("a", "PreconditionFailed"), ("absent", "NoSuchKey")]
    );
    assert_eq!(s.list_keys("bkt").await, ["a"]);
    assert_eq!(s.get("bkt", "a").await, b"first");
}

#[tokio::test(flavor = "multi_thread")]
async fn copy_conditions_are_on_the_destination() {
    let s = server_with_bucket().await;
    let src = s.put("bkt", "src", "source bytes").await;
    let old = s.put("bkt", "dst", "destination bytes").await;
    let copy = |key: &str| {
        s.client
            .copy_object()
            .bucket("bkt")
            .key(key)
            .copy_source("bkt/src")
    };
    // A create-only copy must not overwrite (the source's ETag is beside the point).
    expect_error(
        copy("dst").if_none_match("*").send().await,
        412,
        "PreconditionFailed",
    );
    expect_error(
        copy("dst").if_match(&src).send().await,
        412,
        "PreconditionFailed",
    );
    expect_error(copy("new").if_match(&old).send().await, 404, "NoSuchKey");
    assert_eq!(s.get("bkt", "dst").await, b"destination bytes");
    assert_eq!(s.list_keys("bkt").await, ["dst", "src"]);

    copy("new").if_none_match("*").send().await.unwrap();
    assert_eq!(s.get("bkt", "new").await, b"source bytes");
    copy("dst").if_match(&old).send().await.unwrap();
    assert_eq!(s.get("bkt", "dst").await, b"source bytes");
    // The source's own conditions stay distinct: they hold here, the destination's does not.
    expect_error(
        copy("dst")
            .copy_source_if_match(&src)
            .if_match(&old)
            .send()
            .await,
        412,
        "PreconditionFailed",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn put_if_none_match_with_an_etag_refuses_only_that_version() {
    let s = server_with_bucket().await;
    let v1 = s.put("bkt", "doc", "version 1").await;
    let put = |body: &'static [u8]| {
        s.client
            .put_object()
            .bucket("bkt")
            .key("doc")
            .body(ByteStream::from_static(body))
    };
    expect_error(
        put(b"version 2").if_none_match(&v1).send().await,
        412,
        "PreconditionFailed",
    );
    assert_eq!(s.get("bkt", "doc").await, b"version 1");
    let out = put(b"version 2")
        .if_none_match(etag_of(b"something else"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.e_tag(), Some(etag_of(b"version 2").as_str()));
    // A folder marker is created only once under If-None-Match: *.
    let marker = || {
        s.client
            .put_object()
            .bucket("bkt")
            .key("dir/")
            .body(ByteStream::from_static(b""))
    };
    marker().if_none_match("*").send().await.unwrap();
    expect_error(
        marker().if_none_match("*").send().await,
        412,
        "PreconditionFailed",
    );
}

/// A new upload of `key` with one part; returns its id and the completion listing it.
async fn one_part_upload(
    s: &TestServer,
    key: &str,
    body: &[u8],
) -> (String, CompletedMultipartUpload) {
    let id = s
        .client
        .create_multipart_upload()
        .bucket("bkt")
        .key(key)
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_string();
    let part = s
        .client
        .upload_part()
        .bucket("bkt")
        .key(key)
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await
        .unwrap();
    let done = CompletedMultipartUpload::builder()
        .parts(
            CompletedPart::builder()
                .part_number(1)
                .e_tag(part.e_tag().unwrap())
                .build(),
        )
        .build();
    (id, done)
}

#[tokio::test(flavor = "multi_thread")]
async fn complete_conditions_hold_and_a_repeat_answers_as_the_first() {
    let s = server_with_bucket().await;
    let old = s.put("bkt", "doc", "old").await;
    let (id, parts) = one_part_upload(&s, "doc", b"assembled").await;
    let complete = || {
        s.client
            .complete_multipart_upload()
            .bucket("bkt")
            .key("doc")
            .upload_id(&id)
            .multipart_upload(parts.clone())
    };
    expect_error(
        complete().if_none_match("*").send().await,
        412,
        "PreconditionFailed",
    );
    expect_error(
        complete().if_match(etag_of(b"other")).send().await,
        412,
        "PreconditionFailed",
    );
    assert_eq!(
        s.get("bkt", "doc").await,
        b"old",
        "a refused Complete keeps the object"
    );
    // The upload is still open: the client may retry with a condition that holds.
    let first = complete().if_match(&old).send().await.unwrap();
    assert_eq!(s.get("bkt", "doc").await, b"assembled");
    let again = complete().if_match(&old).send().await.unwrap();
    assert_eq!(
        again.e_tag(),
        first.e_tag(),
        "a repeat answers as the first"
    );

    // Create-only: on a missing key it goes through, and its repeat too.
    let (id, parts) = one_part_upload(&s, "fresh", b"new").await;
    let complete = || {
        s.client
            .complete_multipart_upload()
            .bucket("bkt")
            .key("fresh")
            .upload_id(&id)
            .multipart_upload(parts.clone())
    };
    let first = complete().if_none_match("*").send().await.unwrap();
    let again = complete().if_none_match("*").send().await.unwrap();
    assert_eq!(again.e_tag(), first.e_tag());
    assert_eq!(s.get("bkt", "fresh").await, b"new");
    // If-Match on a key with no object: NoSuchKey, nothing made.
    let (id, parts) = one_part_upload(&s, "absent", b"x").await;
    expect_error(
        s.client
            .complete_multipart_upload()
            .bucket("bkt")
            .key("absent")
            .upload_id(&id)
            .multipart_upload(parts)
            .if_match(&old)
            .send()
            .await,
        404,
        "NoSuchKey",
    );
    assert_eq!(s.list_keys("bkt").await, ["doc", "fresh"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn open_uploads_per_bucket_are_bounded() {
    let s = TestServer::start_with(|c| c.vfs.max_uploads_per_bucket = 3).await;
    s.create_bucket("bkt").await;
    s.create_bucket("other").await;
    let create = |bucket: &str, key: &str| {
        s.client
            .create_multipart_upload()
            .bucket(bucket)
            .key(key)
            .send()
    };
    let mut ids = Vec::new();
    for key in ["k0", "k1", "k2"] {
        ids.push(
            create("bkt", key)
                .await
                .unwrap()
                .upload_id()
                .unwrap()
                .to_string(),
        );
    }
    let refused = create("bkt", "k3").await.unwrap_err();
    assert_eq!(status_and_code(&refused), (400, "InvalidRequest".into()));
    let message = aws_sdk_s3::error::ProvideErrorMetadata::message(&refused).unwrap_or_default();
    assert!(
        message.contains('3'),
        "the answer names the limit: {message}"
    );
    // Another bucket has room of its own.
    create("other", "k").await.unwrap();
    // An aborted upload gives its place back, and so does a completed one.
    s.client
        .abort_multipart_upload()
        .bucket("bkt")
        .key("k0")
        .upload_id(&ids[0])
        .send()
        .await
        .unwrap();
    create("bkt", "k4").await.unwrap();
    expect_error(create("bkt", "k5").await, 400, "InvalidRequest");
    s.client
        .abort_multipart_upload()
        .bucket("bkt")
        .key("k1")
        .upload_id(&ids[1])
        .send()
        .await
        .unwrap();
    let (id, parts) = one_part_upload(&s, "done", b"bytes").await;
    s.client
        .complete_multipart_upload()
        .bucket("bkt")
        .key("done")
        .upload_id(&id)
        .multipart_upload(parts)
        .send()
        .await
        .unwrap();
    create("bkt", "k6").await.unwrap();
    let open = s
        .client
        .list_multipart_uploads()
        .bucket("bkt")
        .send()
        .await
        .unwrap();
    assert_eq!(open.uploads().len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_part_cut_off_fixes_no_stride() {
    use tokio::io::AsyncWriteExt;
    let s =
        TestServer::start_with(|c| c.server.metrics_addr = Some("127.0.0.1:0".parse().unwrap()))
            .await;
    s.create_bucket("bkt").await;
    let id = s
        .client
        .create_multipart_upload()
        .bucket("bkt")
        .key("big")
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_string();
    // Part 1 declares 5 GiB, sends 1 MiB, and the connection goes.
    let mut stream = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let head = format!(
        "PUT /bkt/big?partNumber=1&uploadId={id} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n\r\n",
        s.addr,
        5u64 << 30
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&pattern(1 << 20, 1)).await.unwrap();
    stream.flush().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    drop(stream);
    // The server has given up on the part once it has counted its answer.
    let metrics = format!("http://{}/metrics", s.metrics_addr().unwrap());
    let mut answered = false;
    for _ in 0..100 {
        let text = http()
            .get(&metrics)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if text.contains("\"UploadPart\"") {
            answered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(answered, "the cut-off part was never answered");

    // Then the parts any client sends: 5 MiB, and a short last one.
    let bodies = [pattern(5 << 20, 2), pattern(5 << 20, 3), pattern(1000, 4)];
    let mut done = CompletedMultipartUpload::builder();
    for (i, body) in bodies.iter().enumerate() {
        let n = i as i32 + 1;
        let out = s
            .client
            .upload_part()
            .bucket("bkt")
            .key("big")
            .upload_id(&id)
            .part_number(n)
            .body(ByteStream::from(body.clone()))
            .send()
            .await
            .unwrap();
        done = done.parts(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(out.e_tag().unwrap())
                .build(),
        );
    }
    // Placed by a 5 GiB stride, part 2 would sit 5 GiB into a sparse assembly file.
    let staging = s.root().join(".s3gate/multipart").join(&id);
    for entry in std::fs::read_dir(&staging).unwrap() {
        let entry = entry.unwrap();
        let len = entry.metadata().unwrap().len();
        assert!(
            len <= 16 << 20,
            "{:?} is {len} bytes for 10 MiB of parts",
            entry.file_name()
        );
    }
    s.client
        .complete_multipart_upload()
        .bucket("bkt")
        .key("big")
        .upload_id(&id)
        .multipart_upload(done.build())
        .send()
        .await
        .unwrap();
    assert_eq!(s.get("bkt", "big").await, bodies.concat());
}
