//! CopyObject: within and across buckets, metadata directive COPY and REPLACE, copying onto
//! itself, sources with odd characters, errors.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::MetadataDirective;

use crate::common::*;

async fn setup() -> (TestServer, Vec<u8>) {
    let s = TestServer::start().await;
    s.create_bucket("src").await;
    s.create_bucket("dst").await;
    let data = pattern(200_000, 21);
    s.client
        .put_object()
        .bucket("src")
        .key("dir/original.bin")
        .content_type("application/x-original")
        .content_disposition("inline")
        .cache_control("max-age=60")
        .metadata("color", "blue")
        .metadata("shape", "round")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    (s, data)
}

#[tokio::test(flavor = "multi_thread")]
async fn copy_within_a_bucket_keeps_content_and_metadata() {
    let (s, data) = setup().await;
    let out = s
        .copy("src", "copies/a/b/copy.bin", "src/dir/original.bin")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    let result = out.copy_object_result().expect("CopyObjectResult");
    assert_eq!(result.e_tag(), Some(etag_of(&data).as_str()));
    assert!(result.last_modified().is_some());

    let got = s.get_object("src", "copies/a/b/copy.bin").await;
    assert_eq!(got.e_tag(), Some(etag_of(&data).as_str()));
    assert_eq!(got.content_type(), Some("application/x-original"));
    assert_eq!(got.content_disposition(), Some("inline"));
    assert_eq!(got.cache_control(), Some("max-age=60"));
    let meta = got.metadata().unwrap();
    assert_eq!(meta.len(), 2, "{meta:?}");
    assert_eq!(meta.get("color").map(String::as_str), Some("blue"));
    assert_eq!(meta.get("shape").map(String::as_str), Some("round"));
    assert!(body_of(got).await == data);
    assert!(s.root().join("src/copies/a/b").is_dir());
    // The source is untouched.
    assert!(s.get("src", "dir/original.bin").await == data);
    assert_eq!(
        s.list_keys("src").await,
        ["copies/a/b/copy.bin", "dir/original.bin"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn copy_across_buckets_and_over_an_existing_object() {
    let (s, data) = setup().await;
    s.put("dst", "target", "old content").await;
    let out = s
        .copy("dst", "target", "src/dir/original.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.copy_object_result().unwrap().e_tag(),
        Some(etag_of(&data).as_str())
    );
    assert!(s.get("dst", "target").await == data);
    let head = s.head("dst", "target").await;
    assert_eq!(
        head.metadata().unwrap().get("color").map(String::as_str),
        Some("blue")
    );
    assert_eq!(head.content_length(), Some(data.len() as i64));
    assert_eq!(s.list_keys("dst").await, ["target"]);

    // A leading slash on the source is accepted as well.
    s.copy("dst", "second", "/src/dir/original.bin")
        .send()
        .await
        .unwrap();
    assert!(s.get("dst", "second").await == data);
}

#[tokio::test(flavor = "multi_thread")]
async fn replace_directive_replaces_metadata() {
    let (s, data) = setup().await;
    s.copy("dst", "replaced", "src/dir/original.bin")
        .metadata_directive(MetadataDirective::Replace)
        .content_type("application/json")
        .metadata("size", "large")
        .send()
        .await
        .unwrap();
    let head = s.head("dst", "replaced").await;
    let meta = head.metadata().unwrap();
    assert_eq!(
        meta.len(),
        1,
        "REPLACE replaces, it does not merge: {meta:?}"
    );
    assert_eq!(meta.get("size").map(String::as_str), Some("large"));
    assert_eq!(head.content_type(), Some("application/json"));
    assert_eq!(head.cache_control(), None, "not carried over under REPLACE");
    assert_eq!(head.content_disposition(), None);
    assert_eq!(head.e_tag(), Some(etag_of(&data).as_str()));
}

#[tokio::test(flavor = "multi_thread")]
async fn copy_onto_itself() {
    let (s, data) = setup().await;
    // Changing the metadata in place: allowed with REPLACE, content untouched.
    s.copy("src", "dir/original.bin", "src/dir/original.bin")
        .metadata_directive(MetadataDirective::Replace)
        .content_type("text/plain")
        .metadata("color", "red")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    let out = s.get_object("src", "dir/original.bin").await;
    let meta = out.metadata().unwrap().clone();
    assert_eq!(meta.len(), 1, "{meta:?}");
    assert_eq!(meta.get("color").map(String::as_str), Some("red"));
    assert_eq!(out.content_type(), Some("text/plain"));
    assert_eq!(out.e_tag(), Some(etag_of(&data).as_str()));
    assert!(
        body_of(out).await == data,
        "in-place copy damaged the content"
    );

    // Without changing anything, S3 refuses it.
    expect_error(
        s.copy("src", "dir/original.bin", "src/dir/original.bin")
            .send()
            .await,
        400,
        "InvalidRequest",
    );
    assert!(s.get("src", "dir/original.bin").await == data);
}

#[tokio::test(flavor = "multi_thread")]
async fn copy_source_with_odd_characters() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    let key = "dir with space/a+b%c=d&é.txt";
    s.put("bkt", key, "odd source").await;
    s.copy(
        "bkt",
        "copied + again.txt",
        format!("bkt/{}", encode_path(key)),
    )
    .send()
    .await
    .unwrap_or_else(|e| panic!("{}", describe(&e)));
    assert_eq!(s.get("bkt", "copied + again.txt").await, b"odd source");
    assert_eq!(s.list_keys("bkt").await, ["copied + again.txt", key]);
}

#[tokio::test(flavor = "multi_thread")]
async fn copy_errors() {
    let (s, data) = setup().await;
    expect_error(
        s.copy("dst", "x", "src/no/such/key").send().await,
        404,
        "NoSuchKey",
    );
    expect_error(
        s.copy("dst", "x", "nosuchbucket/key").send().await,
        404,
        "NoSuchBucket",
    );
    expect_error(
        s.copy("nosuchbucket", "x", "src/dir/original.bin")
            .send()
            .await,
        404,
        "NoSuchBucket",
    );
    // Copying a folder name is copying a missing key.
    expect_error(s.copy("dst", "x", "src/dir").send().await, 404, "NoSuchKey");
    // A destination beside a folder of its name is kept in the store of keys.
    s.put("dst", "folder/inner", "i").await;
    s.copy("dst", "folder", "src/dir/original.bin")
        .send()
        .await
        .unwrap();
    assert!(s.root().join("dst/folder").is_dir());
    // An unsafe source key never reads outside its bucket.
    let r = s
        .copy("dst", "stolen", "src/../dst/folder/inner")
        .send()
        .await;
    let (status, code) = status_and_code(r.as_ref().unwrap_err());
    assert!(
        (status, code.as_str()) == (400, "InvalidArgument") || status == 404,
        "unsafe copy source answered {status} {code}"
    );
    assert_eq!(s.list_keys("dst").await, ["folder", "folder/inner"]);
    assert!(s.get("src", "dir/original.bin").await == data);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_copy_is_independent_of_its_source() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    let original = pattern_bytes(300_000);
    let etag = s.put("bkt", "src", original.clone()).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let out = s
        .copy("bkt", "dst", "bkt/src")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    assert_eq!(
        out.copy_object_result().and_then(|r| r.e_tag()),
        Some(etag.as_str())
    );
    let src_time = s.head("bkt", "src").await.last_modified().copied().unwrap();
    let dst_time = s.head("bkt", "dst").await.last_modified().copied().unwrap();
    assert!(
        dst_time.secs() > src_time.secs(),
        "a copy has its own Last-Modified"
    );
    // Overwriting, then deleting, the source leaves the copy as it was.
    s.put("bkt", "src", "new content").await;
    assert_eq!(s.get("bkt", "dst").await, original);
    s.delete("bkt", "src").await;
    assert_eq!(s.get("bkt", "dst").await, original);
    // And overwriting the copy leaves a second copy untouched.
    s.copy("bkt", "dst2", "bkt/dst").send().await.unwrap();
    s.put("bkt", "dst", "changed").await;
    assert_eq!(s.get("bkt", "dst2").await, original);
}

fn pattern_bytes(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}
