//! Multipart uploads and server-side part copies: parts out of order and in parallel, replaced
//! parts, a restart in the middle of an upload, every Complete rule (order, ETags, minimum size,
//! subsets, repeats), Abort and unknown upload ids, UploadPartCopy with ranges and conditions,
//! `partNumber` reads, ListParts and ListMultipartUploads paging, and SigV4 with aws-chunked parts.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::abort_multipart_upload::builders::AbortMultipartUploadFluentBuilder;
use aws_sdk_s3::operation::complete_multipart_upload::CompleteMultipartUploadError;
use aws_sdk_s3::operation::complete_multipart_upload::CompleteMultipartUploadOutput;
use aws_sdk_s3::operation::list_multipart_uploads::ListMultipartUploadsOutput;
use aws_sdk_s3::operation::list_parts::builders::ListPartsFluentBuilder;
use aws_sdk_s3::operation::upload_part::builders::UploadPartFluentBuilder;
use aws_sdk_s3::operation::upload_part_copy::builders::UploadPartCopyFluentBuilder;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use md5::{Digest, Md5};

use crate::common::*;

/// S3's smallest part but the last.
const MIB5: usize = 5 * 1024 * 1024;

type CompleteResult =
    Result<CompleteMultipartUploadOutput, SdkError<CompleteMultipartUploadError, HttpResponse>>;

/// The ETag S3 gives a multipart object: the MD5 of the concatenated binary MD5s of its parts,
/// then `-N`, quoted.
fn multipart_etag(parts: &[&[u8]]) -> String {
    let mut h = Md5::new();
    for p in parts {
        h.update(Md5::digest(p));
    }
    format!("\"{}-{}\"", hex::encode(h.finalize()), parts.len())
}

/// Where the server stages the parts of an upload.
fn staging_dir(s: &TestServer, upload_id: &str) -> PathBuf {
    s.root().join(".s3gate").join("multipart").join(upload_id)
}

fn file_count(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .count()
}

async fn server_with_bucket() -> TestServer {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    s
}

async fn create(client: &Client, bucket: &str, key: &str) -> String {
    let out = client
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create upload {bucket}/{key}: {}", describe(&e)));
    assert_eq!(out.bucket(), Some(bucket));
    assert_eq!(out.key(), Some(key));
    out.upload_id().expect("an UploadId").to_string()
}

/// Uploads one part from memory and returns its ETag, checked against the MD5 of the bytes.
async fn upload(
    client: &Client,
    bucket: &str,
    key: &str,
    id: &str,
    number: i32,
    data: &[u8],
) -> String {
    let out = part(client, bucket, key, id, number)
        .body(ByteStream::from(data.to_vec()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("upload part {number} of {key}: {}", describe(&e)));
    let etag = out.e_tag().expect("UploadPart answers an ETag").to_string();
    assert_eq!(etag, etag_of(data), "ETag of part {number}");
    etag
}

/// Uploads `parts` as parts 1..=N, one after the other, and returns their ETags.
async fn upload_parts<const N: usize>(
    client: &Client,
    bucket: &str,
    key: &str,
    id: &str,
    parts: [&[u8]; N],
) -> [String; N] {
    let mut etags = Vec::with_capacity(N);
    for (i, p) in parts.into_iter().enumerate() {
        etags.push(upload(client, bucket, key, id, i as i32 + 1, p).await);
    }
    etags.try_into().expect("one ETag per part")
}

/// `(number, etag)` of ETags given for parts 1..=N, as Complete takes them.
fn numbered(etags: &[String]) -> Vec<(i32, &str)> {
    etags
        .iter()
        .enumerate()
        .map(|(i, e)| (i as i32 + 1, e.as_str()))
        .collect()
}

/// UploadPart of part `number`, its body left to the caller.
fn part(
    client: &Client,
    bucket: &str,
    key: &str,
    id: &str,
    number: i32,
) -> UploadPartFluentBuilder {
    client
        .upload_part()
        .bucket(bucket)
        .key(key)
        .upload_id(id)
        .part_number(number)
}

/// UploadPartCopy of `source` into part `number`.
fn part_copy(
    client: &Client,
    bucket: &str,
    key: &str,
    id: &str,
    number: i32,
    source: &str,
) -> UploadPartCopyFluentBuilder {
    client
        .upload_part_copy()
        .bucket(bucket)
        .key(key)
        .upload_id(id)
        .part_number(number)
        .copy_source(source)
}

/// ListParts of an upload, first page.
fn parts_of(client: &Client, bucket: &str, key: &str, id: &str) -> ListPartsFluentBuilder {
    client.list_parts().bucket(bucket).key(key).upload_id(id)
}

fn abort(client: &Client, bucket: &str, key: &str, id: &str) -> AbortMultipartUploadFluentBuilder {
    client
        .abort_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(id)
}

/// Asserts that a request naming an upload was refused as naming none.
#[track_caller]
fn expect_no_such_upload<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug>(
    r: Result<T, SdkError<E, HttpResponse>>,
) {
    expect_error(r, 404, "NoSuchUpload");
}

/// The first page of ListMultipartUploads of `bucket`.
async fn list_uploads(client: &Client, bucket: &str) -> ListMultipartUploadsOutput {
    client
        .list_multipart_uploads()
        .bucket(bucket)
        .send()
        .await
        .unwrap_or_else(|e| panic!("list uploads of {bucket}: {}", describe(&e)))
}

fn completed(parts: &[(i32, &str)]) -> CompletedMultipartUpload {
    CompletedMultipartUpload::builder()
        .set_parts(Some(
            parts
                .iter()
                .map(|(n, e)| CompletedPart::builder().part_number(*n).e_tag(*e).build())
                .collect(),
        ))
        .build()
}

async fn try_complete(
    client: &Client,
    bucket: &str,
    key: &str,
    id: &str,
    parts: &[(i32, &str)],
) -> CompleteResult {
    client
        .complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(id)
        .multipart_upload(completed(parts))
        .send()
        .await
}

/// Completes and returns the object's ETag.
async fn complete(
    client: &Client,
    bucket: &str,
    key: &str,
    id: &str,
    parts: &[(i32, &str)],
) -> String {
    let out = try_complete(client, bucket, key, id, parts)
        .await
        .unwrap_or_else(|e| panic!("complete {key}: {}", describe(&e)));
    assert_eq!(out.bucket(), Some(bucket));
    assert_eq!(out.key(), Some(key));
    out.e_tag().expect("Complete answers an ETag").to_string()
}

/// `(number, etag, size)` of every part, paging through ListParts.
async fn list_all_parts(
    client: &Client,
    bucket: &str,
    key: &str,
    id: &str,
) -> Vec<(i32, String, i64)> {
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = parts_of(client, bucket, key, id)
            .set_part_number_marker(marker.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("list parts of {key}: {}", describe(&e)));
        out.extend(page.parts().iter().map(|p| {
            (
                p.part_number().unwrap(),
                p.e_tag().unwrap().to_string(),
                p.size().unwrap(),
            )
        }));
        if page.is_truncated() != Some(true) {
            break;
        }
        marker = Some(page.next_part_number_marker().unwrap().to_string());
    }
    out
}

/// Uploads `parts` as parts 1..=N of a new upload of `key` and completes it; returns the ETag.
async fn multipart_object<const N: usize>(
    s: &TestServer,
    bucket: &str,
    key: &str,
    parts: [&[u8]; N],
) -> String {
    let id = create(&s.client, bucket, key).await;
    let etags = upload_parts(&s.client, bucket, key, &id, parts).await;
    let etag = complete(&s.client, bucket, key, &id, &numbered(&etags)).await;
    assert_eq!(etag, multipart_etag(&parts));
    etag
}

fn upload_keys(out: &ListMultipartUploadsOutput) -> Vec<(String, String)> {
    out.uploads()
        .iter()
        .map(|u| {
            (
                u.key().unwrap().to_string(),
                u.upload_id().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn parallel_out_of_order_parts_make_one_object_with_the_multipart_etag() {
    let s = server_with_bucket().await;
    let key = "big/object.bin";
    let out = s
        .client
        .create_multipart_upload()
        .bucket("bkt")
        .key(key)
        .content_type("application/x-parts")
        .content_disposition("attachment; filename=\"object.bin\"")
        .cache_control("max-age=5")
        .metadata("color", "green")
        .metadata("origin", "multipart")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    let id = out.upload_id().unwrap().to_string();

    let p1 = pattern(MIB5, 1);
    let p2 = pattern(MIB5, 2);
    let p3 = pattern(1024, 3);

    // Three requests in flight at once, the last part first.
    let send = |n: i32, data: Vec<u8>| {
        let client = s.client.clone();
        let id = id.clone();
        tokio::spawn(async move {
            let etag = upload(&client, "bkt", key, &id, n, &data).await;
            (n, etag)
        })
    };
    let (r3, r2, r1) = tokio::join!(
        send(3, p3.clone()),
        send(2, p2.clone()),
        send(1, p1.clone())
    );
    let (r1, r2, r3) = (r1.unwrap(), r2.unwrap(), r3.unwrap());
    assert_eq!((r1.0, r2.0, r3.0), (1, 2, 3));

    // Parts are staged outside the bucket (in place or in files of their own), not objects yet.
    assert!(file_count(&staging_dir(&s, &id)) > 0, "parts are staged");
    assert!(s.list_keys("bkt").await.is_empty());
    assert!(
        files_under(s.root()).is_empty(),
        "{:?}",
        files_under(s.root())
    );
    let parts = list_all_parts(&s.client, "bkt", key, &id).await;
    assert_eq!(
        parts,
        [
            (1, r1.1.clone(), MIB5 as i64),
            (2, r2.1.clone(), MIB5 as i64),
            (3, r3.1.clone(), 1024),
        ]
    );

    let etag = complete(
        &s.client,
        "bkt",
        key,
        &id,
        &[(1, &r1.1), (2, &r2.1), (3, &r3.1)],
    )
    .await;
    let expected_etag = multipart_etag(&[&p1, &p2, &p3]);
    assert_eq!(etag, expected_etag);
    let whole = [p1.as_slice(), &p2, &p3].concat();

    let got = s.get_object("bkt", key).await;
    assert_eq!(got.e_tag(), Some(expected_etag.as_str()));
    assert_eq!(got.content_length(), Some(whole.len() as i64));
    assert!(body_of(got).await == whole, "GET bytes differ");

    let head = s.head("bkt", key).await;
    assert_eq!(head.e_tag(), Some(expected_etag.as_str()));
    assert_eq!(head.content_length(), Some(whole.len() as i64));
    assert_eq!(head.content_type(), Some("application/x-parts"));
    assert_eq!(
        head.content_disposition(),
        Some("attachment; filename=\"object.bin\"")
    );
    assert_eq!(head.cache_control(), Some("max-age=5"));
    let meta = head.metadata().unwrap();
    assert_eq!(meta.len(), 2, "{meta:?}");
    assert_eq!(meta.get("color").map(String::as_str), Some("green"));
    assert_eq!(meta.get("origin").map(String::as_str), Some("multipart"));

    let list = s
        .client
        .list_objects_v2()
        .bucket("bkt")
        .send()
        .await
        .unwrap();
    assert_eq!(list.contents().len(), 1);
    let obj = &list.contents()[0];
    assert_eq!(obj.key(), Some(key));
    assert_eq!(obj.e_tag(), Some(expected_etag.as_str()));
    assert_eq!(obj.size(), Some(whole.len() as i64));

    // The file on disk is the object; the staging is gone, and nothing else was left behind.
    assert!(std::fs::read(s.path_of("bkt", key)).unwrap() == whole);
    assert!(!staging_dir(&s, &id).exists());
    assert_eq!(files_under(s.root()), ["bkt/big/object.bin"]);
    let buckets = s.client.list_buckets().send().await.unwrap();
    let names: Vec<&str> = buckets.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, ["bkt"]);
    let uploads = list_uploads(&s.client, "bkt").await;
    assert!(uploads.uploads().is_empty(), "{uploads:?}");

    // The same ETag after a restart (it is stored, not recomputed from the file).
    let mut s = s;
    s.restart().await;
    let head = s.head("bkt", key).await;
    assert_eq!(head.e_tag(), Some(expected_etag.as_str()));
}

#[tokio::test(flavor = "multi_thread")]
async fn resending_a_part_number_replaces_the_part() {
    let s = server_with_bucket().await;
    let id = create(&s.client, "bkt", "replaced").await;
    let first = pattern(MIB5 + 100, 10);
    let second = pattern(MIB5, 11);
    let last = pattern(2000, 12);
    let e_first = upload(&s.client, "bkt", "replaced", &id, 1, &first).await;
    let e_last = upload(&s.client, "bkt", "replaced", &id, 2, &last).await;
    let e_second = upload(&s.client, "bkt", "replaced", &id, 1, &second).await;
    assert_ne!(e_first, e_second);

    assert_eq!(
        list_all_parts(&s.client, "bkt", "replaced", &id).await,
        [
            (1, e_second.clone(), MIB5 as i64),
            (2, e_last.clone(), 2000)
        ]
    );
    assert!(file_count(&staging_dir(&s, &id)) > 0, "parts are staged");

    // The replaced version is no longer a part of the upload.
    expect_error(
        try_complete(
            &s.client,
            "bkt",
            "replaced",
            &id,
            &[(1, &e_first), (2, &e_last)],
        )
        .await,
        400,
        "InvalidPart",
    );
    let etag = complete(
        &s.client,
        "bkt",
        "replaced",
        &id,
        &[(1, &e_second), (2, &e_last)],
    )
    .await;
    assert_eq!(etag, multipart_etag(&[&second, &last]));
    assert!(s.get("bkt", "replaced").await == [second.as_slice(), &last].concat());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upload_goes_on_after_a_restart() {
    let mut s = server_with_bucket().await;
    let key = "dir/resumed.bin";
    let out = s
        .client
        .create_multipart_upload()
        .bucket("bkt")
        .key(key)
        .content_type("text/x-resumed")
        .metadata("step", "one")
        .send()
        .await
        .unwrap();
    let id = out.upload_id().unwrap().to_string();
    let p1 = pattern(MIB5, 20);
    let p2 = pattern(777, 21);
    let e1 = upload(&s.client, "bkt", key, &id, 1, &p1).await;

    s.restart().await;

    let uploads = list_uploads(&s.client, "bkt").await;
    assert_eq!(upload_keys(&uploads), [(key.to_string(), id.clone())]);
    let e2 = upload(&s.client, "bkt", key, &id, 2, &p2).await;
    assert_eq!(
        list_all_parts(&s.client, "bkt", key, &id).await,
        [(1, e1.clone(), MIB5 as i64), (2, e2.clone(), 777)]
    );

    // And once more before completing.
    s.restart().await;
    let etag = complete(&s.client, "bkt", key, &id, &[(1, &e1), (2, &e2)]).await;
    assert_eq!(etag, multipart_etag(&[&p1, &p2]));
    let got = s.get_object("bkt", key).await;
    assert_eq!(got.e_tag(), Some(etag.as_str()));
    assert_eq!(got.content_type(), Some("text/x-resumed"));
    assert_eq!(
        got.metadata().unwrap().get("step").map(String::as_str),
        Some("one")
    );
    assert!(body_of(got).await == [p1.as_slice(), &p2].concat());
    assert!(!staging_dir(&s, &id).exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn complete_with_a_wrong_etag_fails_and_a_correct_retry_succeeds() {
    let s = server_with_bucket().await;
    let key = "retry.bin";
    let id = create(&s.client, "bkt", key).await;
    let p1 = pattern(MIB5, 30);
    let p2 = pattern(4096, 31);
    let [e1, e2] = upload_parts(&s.client, "bkt", key, &id, [&p1, &p2]).await;

    let wrong = etag_of(b"not the part");
    expect_error(
        try_complete(&s.client, "bkt", key, &id, &[(1, &e1), (2, &wrong)]).await,
        400,
        "InvalidPart",
    );
    // A part that was never uploaded.
    expect_error(
        try_complete(&s.client, "bkt", key, &id, &[(1, &e1), (3, &e2)]).await,
        400,
        "InvalidPart",
    );
    // The ETag of another part number.
    expect_error(
        try_complete(&s.client, "bkt", key, &id, &[(1, &e2)]).await,
        400,
        "InvalidPart",
    );

    // Nothing was published and the upload is intact.
    expect_error(
        s.client.get_object().bucket("bkt").key(key).send().await,
        404,
        "NoSuchKey",
    );
    assert!(s.list_keys("bkt").await.is_empty());
    assert_eq!(
        list_all_parts(&s.client, "bkt", key, &id).await,
        [(1, e1.clone(), MIB5 as i64), (2, e2.clone(), 4096)]
    );
    assert!(file_count(&staging_dir(&s, &id)) > 0, "parts are staged");

    // ETags are accepted with or without quotes.
    let e2_bare = e2.trim_matches('"').to_string();
    let etag = complete(&s.client, "bkt", key, &id, &[(1, &e1), (2, &e2_bare)]).await;
    assert_eq!(etag, multipart_etag(&[&p1, &p2]));
    assert!(s.get("bkt", key).await == [p1.as_slice(), &p2].concat());
    assert!(!staging_dir(&s, &id).exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn complete_rejects_parts_out_of_order() {
    let s = server_with_bucket().await;
    let key = "order.bin";
    let id = create(&s.client, "bkt", key).await;
    let p1 = pattern(MIB5, 40);
    let p2 = pattern(100, 41);
    let [e1, e2] = upload_parts(&s.client, "bkt", key, &id, [&p1, &p2]).await;

    expect_error(
        try_complete(&s.client, "bkt", key, &id, &[(2, &e2), (1, &e1)]).await,
        400,
        "InvalidPartOrder",
    );
    expect_error(
        try_complete(&s.client, "bkt", key, &id, &[(1, &e1), (1, &e1), (2, &e2)]).await,
        400,
        "InvalidPartOrder",
    );
    expect_status(
        s.client.head_object().bucket("bkt").key(key).send().await,
        404,
    );
    // The upload is still there and completes in the right order.
    let etag = complete(&s.client, "bkt", key, &id, &[(1, &e1), (2, &e2)]).await;
    assert_eq!(etag, multipart_etag(&[&p1, &p2]));
    assert!(s.get("bkt", key).await == [p1.as_slice(), &p2].concat());
}

#[tokio::test(flavor = "multi_thread")]
async fn complete_rejects_a_small_part_that_is_not_the_last() {
    let s = server_with_bucket().await;
    let key = "small.bin";
    let id = create(&s.client, "bkt", key).await;
    let p1 = pattern(MIB5 - 1, 50);
    let p2 = pattern(1024, 51);
    let [e1, e2] = upload_parts(&s.client, "bkt", key, &id, [&p1, &p2]).await;

    expect_error(
        try_complete(&s.client, "bkt", key, &id, &[(1, &e1), (2, &e2)]).await,
        400,
        "EntityTooSmall",
    );
    assert!(s.list_keys("bkt").await.is_empty());
    assert_eq!(list_all_parts(&s.client, "bkt", key, &id).await.len(), 2);

    // A small part is fine when it is the last (here, the only) one.
    let etag = complete(&s.client, "bkt", key, &id, &[(2, &e2)]).await;
    assert_eq!(etag, multipart_etag(&[&p2]));
    assert!(s.get("bkt", key).await == p2);
    assert!(!staging_dir(&s, &id).exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn complete_with_a_subset_of_the_parts() {
    let s = server_with_bucket().await;
    let key = "subset.bin";
    let id = create(&s.client, "bkt", key).await;
    let p1 = pattern(MIB5, 60);
    let p2 = pattern(MIB5, 61);
    let p3 = pattern(3333, 62);
    let [e1, _e2, e3] = upload_parts(&s.client, "bkt", key, &id, [&p1, &p2, &p3]).await;

    let etag = complete(&s.client, "bkt", key, &id, &[(1, &e1), (3, &e3)]).await;
    assert_eq!(etag, multipart_etag(&[&p1, &p3]));
    let whole = [p1.as_slice(), &p3].concat();
    let got = s.get_object("bkt", key).await;
    assert_eq!(got.e_tag(), Some(etag.as_str()));
    assert_eq!(got.content_length(), Some(whole.len() as i64));
    assert!(body_of(got).await == whole);

    // The object has two parts: part 2 is what was uploaded as part 3.
    let part2 = s
        .client
        .get_object()
        .bucket("bkt")
        .key(key)
        .part_number(2)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    assert_eq!(part2.parts_count(), Some(2));
    assert!(body_of(part2).await == p3);
    // The unused part's staging went too.
    assert!(!staging_dir(&s, &id).exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_repeated_complete_answers_the_same_etag() {
    let s = server_with_bucket().await;
    let key = "twice.bin";
    let id = create(&s.client, "bkt", key).await;
    let p1 = pattern(MIB5, 70);
    let p2 = pattern(10, 71);
    let [e1, e2] = upload_parts(&s.client, "bkt", key, &id, [&p1, &p2]).await;
    let first = complete(&s.client, "bkt", key, &id, &[(1, &e1), (2, &e2)]).await;
    let again = complete(&s.client, "bkt", key, &id, &[(1, &e1), (2, &e2)]).await;
    assert_eq!(first, again);
    assert_eq!(first, multipart_etag(&[&p1, &p2]));
    assert!(s.get("bkt", key).await == [p1.as_slice(), &p2].concat());

    // A finished upload takes no more parts and has no parts to list.
    expect_no_such_upload(
        part(&s.client, "bkt", key, &id, 3)
            .body(ByteStream::from_static(b"late"))
            .send()
            .await,
    );
    expect_no_such_upload(parts_of(&s.client, "bkt", key, &id).send().await);
    let uploads = list_uploads(&s.client, "bkt").await;
    assert!(uploads.uploads().is_empty(), "{uploads:?}");
    assert!(s.get("bkt", key).await == [p1.as_slice(), &p2].concat());
}

#[tokio::test(flavor = "multi_thread")]
async fn abort_forgets_the_upload_and_its_staging() {
    let s = server_with_bucket().await;
    let key = "aborted.bin";
    let id = create(&s.client, "bkt", key).await;
    let other = create(&s.client, "bkt", "kept.bin").await;
    let e1 = upload(&s.client, "bkt", key, &id, 1, &pattern(1000, 80)).await;
    upload(&s.client, "bkt", key, &id, 2, &pattern(1000, 81)).await;
    upload(&s.client, "bkt", "kept.bin", &other, 1, &pattern(10, 82)).await;
    assert!(file_count(&staging_dir(&s, &id)) > 0, "parts are staged");

    abort(&s.client, "bkt", key, &id)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    assert!(!staging_dir(&s, &id).exists());
    // The other upload is untouched.
    assert!(file_count(&staging_dir(&s, &other)) > 0, "parts are staged");

    expect_no_such_upload(
        part(&s.client, "bkt", key, &id, 3)
            .body(ByteStream::from_static(b"after abort"))
            .send()
            .await,
    );
    expect_no_such_upload(parts_of(&s.client, "bkt", key, &id).send().await);
    expect_no_such_upload(try_complete(&s.client, "bkt", key, &id, &[(1, &e1)]).await);
    expect_no_such_upload(abort(&s.client, "bkt", key, &id).send().await);
    // The late part left no staging behind, and no object appeared.
    assert!(!staging_dir(&s, &id).exists());
    assert!(s.list_keys("bkt").await.is_empty());
    let uploads = list_uploads(&s.client, "bkt").await;
    assert_eq!(upload_keys(&uploads), [("kept.bin".to_string(), other)]);
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_upload_ids_are_no_such_upload() {
    let s = server_with_bucket().await;
    let real = create(&s.client, "bkt", "real.bin").await;
    s.put("bkt", "source", "copy me").await;
    let escape = format!(
        "../../../{}-escape",
        s.root().file_name().unwrap().to_string_lossy()
    );
    let ids = [
        "0123456789abcdef0123456789abcdef".to_string(),
        "../../x".to_string(),
        "../../../../../../../../tmp/x".to_string(),
        escape.clone(),
        "..".to_string(),
        format!("{real}/../{real}"),
        real.to_uppercase(),
    ];
    for id in &ids {
        expect_no_such_upload(
            part(&s.client, "bkt", "real.bin", id, 1)
                .body(ByteStream::from_static(b"data"))
                .send()
                .await,
        );
        expect_no_such_upload(
            part_copy(&s.client, "bkt", "real.bin", id, 1, "bkt/source")
                .send()
                .await,
        );
        expect_no_such_upload(parts_of(&s.client, "bkt", "real.bin", id).send().await);
        expect_no_such_upload(
            try_complete(&s.client, "bkt", "real.bin", id, &[(1, "\"x\"")]).await,
        );
        expect_no_such_upload(abort(&s.client, "bkt", "real.bin", id).send().await);
    }
    // A real upload id under another key (or bucket) names no upload either.
    s.create_bucket("other").await;
    for (bucket, key) in [("bkt", "another.bin"), ("other", "real.bin")] {
        expect_no_such_upload(
            part(&s.client, bucket, key, &real, 1)
                .body(ByteStream::from_static(b"data"))
                .send()
                .await,
        );
        expect_no_such_upload(try_complete(&s.client, bucket, key, &real, &[(1, "\"x\"")]).await);
    }

    // Nothing was written anywhere, inside the root or beside it; the real upload has no parts.
    assert_eq!(files_under(s.root()), ["bkt/source"]);
    assert!(!s.root().join("x").exists());
    assert!(!s.root().join(".s3gate").join("x").exists());
    assert!(!s.root().parent().unwrap().join(&escape[9..]).exists());
    assert!(list_all_parts(&s.client, "bkt", "real.bin", &real)
        .await
        .is_empty());
    if let Ok(rd) = std::fs::read_dir(s.root().join(".s3gate/multipart")) {
        let names: Vec<String> = rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != &real)
            .collect();
        assert!(names.is_empty(), "unexpected staging entries {names:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn upload_part_copy_assembles_ranges_of_other_objects() {
    let s = server_with_bucket().await;
    s.create_bucket("src").await;
    let a = pattern(MIB5 + 300_000, 90);
    let b = pattern(MIB5 + 17, 91);
    s.put("src", "dir/a.bin", a.clone()).await;
    s.put("src", "b file+x.bin", b.clone()).await;

    let key = "copied.bin";
    let id = create(&s.client, "bkt", key).await;
    let copy = |n: i32, source: &str, range: Option<&str>| {
        part_copy(&s.client, "bkt", key, &id, n, source)
            .set_copy_source_range(range.map(str::to_string))
            .send()
    };
    // Part 1: the first 5 MiB of A.
    let r1 = copy(1, "src/dir/a.bin", Some("bytes=0-5242879"))
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    // Part 2: the whole of B (its key URL-encoded, as clients send it).
    let r2 = copy(2, &format!("/src/{}", encode_path("b file+x.bin")), None)
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    // Part 3: a range of A that straddles the end of part 1.
    let r3 = copy(3, "src/dir/a.bin", Some("bytes=5242000-5243999"))
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));

    let a1 = &a[..MIB5];
    let a3 = &a[5_242_000..5_244_000];
    let mut etags = Vec::new();
    for (r, bytes) in [(&r1, a1), (&r2, b.as_slice()), (&r3, a3)] {
        let result = r.copy_part_result().expect("CopyPartResult");
        assert_eq!(result.e_tag(), Some(etag_of(bytes).as_str()));
        assert!(result.last_modified().is_some());
        etags.push(result.e_tag().unwrap().to_string());
    }
    assert_eq!(
        list_all_parts(&s.client, "bkt", key, &id).await,
        [
            (1, etags[0].clone(), a1.len() as i64),
            (2, etags[1].clone(), b.len() as i64),
            (3, etags[2].clone(), a3.len() as i64),
        ]
    );

    let etag = complete(
        &s.client,
        "bkt",
        key,
        &id,
        &[(1, &etags[0]), (2, &etags[1]), (3, &etags[2])],
    )
    .await;
    assert_eq!(etag, multipart_etag(&[a1, &b, a3]));
    let whole = [a1, b.as_slice(), a3].concat();
    assert!(s.get("bkt", key).await == whole, "copied bytes differ");
    // The sources are untouched.
    assert!(s.get("src", "dir/a.bin").await == a);
    assert!(s.get("src", "b file+x.bin").await == b);

    // A range of the multipart result that crosses its part 1 / part 2 boundary, and one that
    // crosses part 2 / part 3, copied into a new object.
    let id2 = create(&s.client, "bkt", "second.bin").await;
    let boundary2 = MIB5 + b.len();
    let ranges = [(MIB5 - 1000, MIB5 + 999), (boundary2 - 5, boundary2 + 4)];
    let mut etags2 = Vec::new();
    for (i, (first, last)) in ranges.iter().enumerate() {
        let source = format!("bkt/{key}");
        let out = part_copy(&s.client, "bkt", "second.bin", &id2, i as i32 + 1, &source)
            .copy_source_range(format!("bytes={first}-{last}"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{}", describe(&e)));
        let e = out.copy_part_result().unwrap().e_tag().unwrap().to_string();
        assert_eq!(e, etag_of(&whole[*first..=*last]));
        etags2.push(e);
    }
    // The first range is small, so only the second can complete: complete with it alone.
    let etag2 = complete(&s.client, "bkt", "second.bin", &id2, &[(2, &etags2[1])]).await;
    let expected = &whole[ranges[1].0..=ranges[1].1];
    assert_eq!(etag2, multipart_etag(&[expected]));
    assert!(s.get("bkt", "second.bin").await == expected);
}

/// A part that is a whole object with an MD5 ETag is the source's file shared, not its bytes
/// read again, with no range or a range that spans the object (boto3's and the aws CLI's
/// managed copies always send one): the staged part is a link to the source's file, with the
/// source's ETag; the object completed from it keeps those bytes after the source is
/// overwritten and deleted.
#[tokio::test(flavor = "multi_thread")]
async fn a_whole_object_part_copy_reads_no_byte() {
    use std::os::unix::fs::MetadataExt;
    let s = server_with_bucket().await;
    let data = pattern(MIB5 + 5, 77);
    s.put("bkt", "source", data.clone()).await;
    let id = create(&s.client, "bkt", "dst").await;
    let whole = format!("bytes=0-{}", data.len() - 1);
    let mut etags = Vec::new();
    for (number, range) in [(1, None), (2, Some(whole))] {
        let out = part_copy(&s.client, "bkt", "dst", &id, number, "bkt/source")
            .set_copy_source_range(range)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{}", describe(&e)));
        let etag = out.copy_part_result().unwrap().e_tag().unwrap().to_string();
        assert_eq!(etag, etag_of(&data));
        let source = std::fs::metadata(s.root().join("bkt/source")).unwrap();
        let part = format!(".s3gate/multipart/{id}/{number:05}");
        let staged = std::fs::metadata(s.root().join(part)).unwrap();
        assert_eq!(
            staged.ino(),
            source.ino(),
            "part {number} shares the source's file"
        );
        etags.push((number, etag));
    }
    s.put("bkt", "source", b"replaced".to_vec()).await;
    s.client
        .delete_object()
        .bucket("bkt")
        .key("source")
        .send()
        .await
        .unwrap();
    let parts: Vec<_> = etags.iter().map(|(n, e)| (*n, e.as_str())).collect();
    assert_eq!(
        complete(&s.client, "bkt", "dst", &id, &parts).await,
        multipart_etag(&[&data, &data])
    );
    assert!(s.get("bkt", "dst").await == [data.clone(), data].concat());
}

/// A whole object copied as the only part of an upload (how a client copies an object past
/// CopyObject's 5 GiB) is completed without a byte copied either: the object shares the
/// source's file, and keeps its bytes when the source is overwritten.
#[tokio::test(flavor = "multi_thread")]
async fn a_whole_object_copied_as_the_only_part_completes_without_a_copy() {
    use std::os::unix::fs::MetadataExt;
    let s = server_with_bucket().await;
    let data = pattern(MIB5 + 5, 78);
    s.put("bkt", "source", data.clone()).await;
    let id = create(&s.client, "bkt", "dst").await;
    let out = part_copy(&s.client, "bkt", "dst", &id, 1, "bkt/source")
        .copy_source_range(format!("bytes=0-{}", data.len() - 1))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    let etag = out.copy_part_result().unwrap().e_tag().unwrap().to_string();
    assert_eq!(
        complete(&s.client, "bkt", "dst", &id, &[(1, &etag)]).await,
        multipart_etag(&[&data])
    );
    let ino = |key: &str| {
        std::fs::metadata(s.root().join("bkt").join(key))
            .unwrap()
            .ino()
    };
    assert_eq!(
        ino("dst"),
        ino("source"),
        "the object shares the source's file"
    );
    s.put("bkt", "source", b"replaced".to_vec()).await;
    assert!(s.get("bkt", "dst").await == data);
    assert_eq!(s.get("bkt", "source").await, b"replaced");
}
#[tokio::test(flavor = "multi_thread")]
async fn upload_part_copy_errors_and_conditions() {
    let s = server_with_bucket().await;
    let src = pattern(10_000, 100);
    let src_etag = s.put("bkt", "source", src.clone()).await;
    let key = "dest";
    let id = create(&s.client, "bkt", key).await;
    let copy = |n: i32| part_copy(&s.client, "bkt", key, &id, n, "bkt/source");

    // A range past the end of the source. S3 has answered both 416 InvalidRange and
    // 400 InvalidArgument ("Range specified is not valid for source object of size"); either
    // is an error clients understand, a success or a short copy is not.
    for range in ["bytes=0-10000", "bytes=9000-20000", "bytes=10000-10001"] {
        match copy(1).copy_source_range(range).send().await {
            Ok(v) => panic!("{range}: expected an error, got {v:?}"),
            Err(e) => {
                let (status, code) = status_and_code(&e);
                assert!(
                    matches!(
                        (status, code.as_str()),
                        (416, "InvalidRange") | (400, "InvalidArgument")
                    ),
                    "{range}: expected 416 InvalidRange, got {}",
                    describe(&e)
                );
            }
        }
    }
    // Malformed ranges.
    for range in ["bytes=5-4", "bytes=-4", "0-4", "bytes=a-b"] {
        expect_error(
            copy(1).copy_source_range(range).send().await,
            400,
            "InvalidArgument",
        );
    }
    // Copy-source conditions.
    expect_error(
        copy(1).copy_source_if_match(etag_of(b"other")).send().await,
        412,
        "PreconditionFailed",
    );
    expect_error(
        copy(1)
            .copy_source_if_none_match(src_etag.clone())
            .send()
            .await,
        412,
        "PreconditionFailed",
    );
    expect_error(
        copy(1)
            .copy_source_if_unmodified_since(aws_smithy_types::DateTime::from_secs(1_000_000))
            .send()
            .await,
        412,
        "PreconditionFailed",
    );
    // Missing sources.
    expect_error(
        part_copy(&s.client, "bkt", key, &id, 1, "bkt/missing")
            .send()
            .await,
        404,
        "NoSuchKey",
    );
    expect_error(
        part_copy(&s.client, "bkt", key, &id, 1, "nobucket/source")
            .send()
            .await,
        404,
        "NoSuchBucket",
    );
    // None of that stored a part.
    assert!(list_all_parts(&s.client, "bkt", key, &id).await.is_empty());

    // Conditions that hold, with the last byte of the source included.
    let out = copy(1)
        .copy_source_if_match(src_etag.clone())
        .copy_source_range("bytes=9990-9999")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    let e1 = out.copy_part_result().unwrap().e_tag().unwrap().to_string();
    assert_eq!(e1, etag_of(&src[9990..]));
    let out = copy(2)
        .copy_source_if_none_match(etag_of(b"other"))
        .copy_source_range("bytes=0-0")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    let e2 = out.copy_part_result().unwrap().e_tag().unwrap().to_string();
    assert_eq!(e2, etag_of(&src[..1]));
    assert_eq!(
        list_all_parts(&s.client, "bkt", key, &id).await,
        [(1, e1.clone(), 10), (2, e2.clone(), 1)]
    );
    // Copying from a key onto itself through a part is allowed: complete with part 2 only.
    let etag = complete(&s.client, "bkt", key, &id, &[(2, &e2)]).await;
    assert_eq!(etag, multipart_etag(&[&src[..1]]));
    assert!(s.get("bkt", key).await == src[..1]);
}

#[tokio::test(flavor = "multi_thread")]
async fn get_and_head_with_part_number() {
    let s = server_with_bucket().await;
    let p1 = pattern(MIB5, 110);
    let p2 = pattern(MIB5, 111);
    let p3 = pattern(1500, 112);
    let etag = multipart_object(&s, "bkt", "parts.bin", [&p1, &p2, &p3]).await;
    let total = p1.len() + p2.len() + p3.len();

    for (n, bytes, start) in [(1, &p1, 0), (2, &p2, MIB5), (3, &p3, 2 * MIB5)] {
        let got = s
            .client
            .get_object()
            .bucket("bkt")
            .key("parts.bin")
            .part_number(n)
            .send()
            .await
            .unwrap_or_else(|e| panic!("part {n}: {}", describe(&e)));
        assert_eq!(got.parts_count(), Some(3), "part {n}");
        assert_eq!(got.e_tag(), Some(etag.as_str()), "part {n}");
        assert_eq!(got.content_length(), Some(bytes.len() as i64), "part {n}");
        let range = format!("bytes {}-{}/{}", start, start + bytes.len() - 1, total);
        assert_eq!(got.content_range(), Some(range.as_str()), "part {n}");
        assert!(body_of(got).await == **bytes, "bytes of part {n}");

        let head = s
            .client
            .head_object()
            .bucket("bkt")
            .key("parts.bin")
            .part_number(n)
            .send()
            .await
            .unwrap_or_else(|e| panic!("head part {n}: {}", describe(&e)));
        assert_eq!(head.parts_count(), Some(3), "head part {n}");
        assert_eq!(head.e_tag(), Some(etag.as_str()), "head part {n}");
        assert_eq!(head.content_length(), Some(bytes.len() as i64));
        assert_eq!(head.content_range(), Some(range.as_str()), "head part {n}");
    }

    // The status on the wire is 206, with the parts count.
    for method in [reqwest::Method::GET, reqwest::Method::HEAD] {
        let resp = http()
            .request(method.clone(), s.url("/bkt/parts.bin?partNumber=2"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 206, "{method}");
        let h = resp.headers();
        assert_eq!(h["x-amz-mp-parts-count"], "3", "{method}");
        assert_eq!(
            h["content-range"],
            format!("bytes {}-{}/{}", MIB5, 2 * MIB5 - 1, total).as_str()
        );
        assert_eq!(h["content-length"], MIB5.to_string().as_str(), "{method}");
        assert_eq!(h["etag"], etag.as_str());
        let body = resp.bytes().await.unwrap();
        if method == reqwest::Method::GET {
            assert!(body == p2, "raw GET of part 2");
        } else {
            assert!(body.is_empty());
        }
    }

    // Beyond the last part.
    expect_error(
        s.client
            .get_object()
            .bucket("bkt")
            .key("parts.bin")
            .part_number(4)
            .send()
            .await,
        416,
        "InvalidPartNumber",
    );
    expect_status(
        s.client
            .head_object()
            .bucket("bkt")
            .key("parts.bin")
            .part_number(4)
            .send()
            .await,
        416,
    );
    // The whole object is still served without partNumber.
    let got = s.get_object("bkt", "parts.bin").await;
    assert_eq!(got.parts_count(), None);
    assert_eq!(got.content_range(), None);
    assert!(body_of(got).await == [p1.as_slice(), &p2, &p3].concat());
}

#[tokio::test(flavor = "multi_thread")]
async fn list_parts_pages() {
    let s = server_with_bucket().await;
    let key = "paged.bin";
    let id = create(&s.client, "bkt", key).await;
    let parts: Vec<Vec<u8>> = (0..5)
        .map(|i| pattern(100 + i * 10, 120 + i as u8))
        .collect();
    let mut etags = Vec::new();
    // Uploaded in reverse; listed in part-number order.
    for (i, p) in parts.iter().enumerate().rev() {
        etags.push((
            i as i32 + 1,
            upload(&s.client, "bkt", key, &id, i as i32 + 1, p).await,
        ));
    }
    etags.reverse();

    let mut marker: Option<String> = None;
    let mut pages = Vec::new();
    loop {
        let page = parts_of(&s.client, "bkt", key, &id)
            .max_parts(2)
            .set_part_number_marker(marker.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{}", describe(&e)));
        assert_eq!(page.bucket(), Some("bkt"));
        assert_eq!(page.key(), Some(key));
        assert_eq!(page.upload_id(), Some(id.as_str()));
        assert_eq!(page.max_parts(), Some(2));
        let numbers: Vec<i32> = page
            .parts()
            .iter()
            .map(|p| p.part_number().unwrap())
            .collect();
        for p in page.parts() {
            let n = p.part_number().unwrap() as usize;
            assert_eq!(p.e_tag(), Some(etags[n - 1].1.as_str()), "part {n}");
            assert_eq!(p.size(), Some(parts[n - 1].len() as i64), "part {n}");
            assert!(p.last_modified().is_some());
        }
        let truncated = page.is_truncated() == Some(true);
        pages.push((numbers, truncated));
        if !truncated {
            break;
        }
        let next = page
            .next_part_number_marker()
            .expect("a truncated page has NextPartNumberMarker");
        assert_eq!(
            next,
            page.parts()
                .last()
                .unwrap()
                .part_number()
                .unwrap()
                .to_string()
        );
        marker = Some(next.to_string());
        assert!(pages.len() < 10, "ListParts does not end: {pages:?}");
    }
    assert_eq!(
        pages,
        [(vec![1, 2], true), (vec![3, 4], true), (vec![5], false)]
    );

    // A marker in the middle, and one at the end.
    let page = parts_of(&s.client, "bkt", key, &id)
        .part_number_marker("3")
        .send()
        .await
        .unwrap();
    let numbers: Vec<i32> = page
        .parts()
        .iter()
        .map(|p| p.part_number().unwrap())
        .collect();
    assert_eq!(numbers, [4, 5]);
    assert_eq!(page.is_truncated(), Some(false));
    let page = parts_of(&s.client, "bkt", key, &id)
        .part_number_marker("5")
        .send()
        .await
        .unwrap();
    assert!(page.parts().is_empty());
    assert_eq!(page.is_truncated(), Some(false));
}

#[tokio::test(flavor = "multi_thread")]
async fn list_multipart_uploads_with_prefix_delimiter_and_pages() {
    let s = server_with_bucket().await;
    s.create_bucket("empty").await;
    let keys = ["0.txt", "a/1", "a/1", "a/2", "b/x/1", "b/x/2", "b/y", "c"];
    let mut all = Vec::new();
    for k in keys {
        all.push((k.to_string(), create(&s.client, "bkt", k).await));
    }
    // A completed and an aborted upload are not listed.
    let done = create(&s.client, "bkt", "a/done").await;
    let e = upload(&s.client, "bkt", "a/done", &done, 1, b"done").await;
    complete(&s.client, "bkt", "a/done", &done, &[(1, &e)]).await;
    let gone = create(&s.client, "bkt", "a/gone").await;
    abort(&s.client, "bkt", "a/gone", &gone)
        .send()
        .await
        .unwrap();
    // An object is not an upload.
    s.put("bkt", "a/object", "x").await;
    all.sort();
    let list = || s.client.list_multipart_uploads().bucket("bkt");

    let out = list().send().await.unwrap();
    assert_eq!(out.bucket(), Some("bkt"));
    assert_eq!(out.is_truncated(), Some(false));
    // Keys in order; for one key, S3 orders by initiation, so compare that key's uploads as a set.
    let got = upload_keys(&out);
    let got_keys: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(got_keys, keys);
    assert_eq!(
        got.iter().cloned().collect::<BTreeSet<_>>(),
        all.iter().cloned().collect::<BTreeSet<_>>()
    );
    for u in out.uploads() {
        assert!(u.initiated().is_some());
    }

    // Prefix.
    let out = list().prefix("a/").send().await.unwrap();
    let got: Vec<String> = upload_keys(&out).into_iter().map(|(k, _)| k).collect();
    assert_eq!(got, ["a/1", "a/1", "a/2"]);
    assert_eq!(out.prefix(), Some("a/"));
    let out = list().prefix("b/x/2").send().await.unwrap();
    let got: Vec<String> = upload_keys(&out).into_iter().map(|(k, _)| k).collect();
    assert_eq!(got, ["b/x/2"]);

    // Delimiter, at the top and under a prefix.
    let out = list().delimiter("/").send().await.unwrap();
    let got: Vec<String> = upload_keys(&out).into_iter().map(|(k, _)| k).collect();
    assert_eq!(got, ["0.txt", "c"]);
    assert_eq!(prefixes_of(out.common_prefixes()), ["a/", "b/"]);
    assert_eq!(out.delimiter(), Some("/"));
    let out = list().prefix("b/").delimiter("/").send().await.unwrap();
    let got: Vec<String> = upload_keys(&out).into_iter().map(|(k, _)| k).collect();
    assert_eq!(got, ["b/y"]);
    assert_eq!(prefixes_of(out.common_prefixes()), ["b/x/"]);

    // Pages of two, following NextKeyMarker / NextUploadIdMarker: every upload exactly once.
    let mut seen = Vec::new();
    let (mut key_marker, mut id_marker): (Option<String>, Option<String>) = (None, None);
    for round in 0.. {
        assert!(round < 20, "ListMultipartUploads does not end: {seen:?}");
        let out = list()
            .max_uploads(2)
            .set_key_marker(key_marker.clone())
            .set_upload_id_marker(id_marker.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{}", describe(&e)));
        assert_eq!(out.max_uploads(), Some(2));
        assert!(out.uploads().len() <= 2);
        seen.extend(upload_keys(&out));
        if out.is_truncated() != Some(true) {
            break;
        }
        key_marker = out.next_key_marker().map(str::to_string);
        id_marker = out.next_upload_id_marker().map(str::to_string);
        assert!(key_marker.is_some(), "truncated page without NextKeyMarker");
    }
    let seen_keys: Vec<&str> = seen.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(seen_keys, keys);
    assert_eq!(
        seen.iter().cloned().collect::<BTreeSet<_>>(),
        all.iter().cloned().collect::<BTreeSet<_>>()
    );

    // A key marker alone skips every upload of that key.
    let out = list().key_marker("a/1").send().await.unwrap();
    let got: Vec<String> = upload_keys(&out).into_iter().map(|(k, _)| k).collect();
    assert_eq!(got, ["a/2", "b/x/1", "b/x/2", "b/y", "c"]);

    // No uploads at all.
    let out = list_uploads(&s.client, "empty").await;
    assert!(out.uploads().is_empty());
    assert!(out.common_prefixes().is_empty());
    assert_eq!(out.is_truncated(), Some(false));
    expect_error(
        s.client
            .list_multipart_uploads()
            .bucket("nobucket")
            .send()
            .await,
        404,
        "NoSuchBucket",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn multipart_with_sigv4_and_an_aws_chunked_part() {
    let s = TestServer::start_auth().await;
    s.create_bucket("secure").await;
    let key = "signed/object.bin";
    let id = create(&s.client, "secure", key).await;

    // Part 1 from a file: the SDK streams it as a signed aws-chunked body.
    let src = tempfile::tempdir().unwrap();
    let p1 = pattern(MIB5 + 4321, 130);
    let path = src.path().join("part1.bin");
    std::fs::write(&path, &p1).unwrap();
    let rec = RecordHeaders::default();
    let out = part(&s.client, "secure", key, &id, 1)
        .body(ByteStream::from_path(&path).await.unwrap())
        .customize()
        .interceptor(rec.clone())
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    let sent_sha = rec.last("x-amz-content-sha256").unwrap_or_default();
    assert!(
        sent_sha.starts_with("STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
        "the SDK did not send a signed aws-chunked body: {:?}",
        rec.0.lock().unwrap().last()
    );
    let e1 = out.e_tag().unwrap().to_string();
    assert_eq!(e1, etag_of(&p1));

    // Part 2 from memory, part 3 copied from an object.
    let p2 = pattern(MIB5, 131);
    let e2 = upload(&s.client, "secure", key, &id, 2, &p2).await;
    let source = pattern(5000, 132);
    s.put("secure", "source.bin", source.clone()).await;
    let out = part_copy(&s.client, "secure", key, &id, 3, "secure/source.bin")
        .copy_source_range("bytes=1000-2999")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    let e3 = out.copy_part_result().unwrap().e_tag().unwrap().to_string();
    assert_eq!(e3, etag_of(&source[1000..3000]));

    assert_eq!(
        list_all_parts(&s.client, "secure", key, &id).await,
        [
            (1, e1.clone(), p1.len() as i64),
            (2, e2.clone(), p2.len() as i64),
            (3, e3.clone(), 2000)
        ]
    );
    let uploads = list_uploads(&s.client, "secure").await;
    assert_eq!(upload_keys(&uploads), [(key.to_string(), id.clone())]);

    // A client with the wrong secret gets nowhere with this upload.
    let intruder = client_for(s.addr, ACCESS_KEY, "not the secret");
    expect_error(
        part(&intruder, "secure", key, &id, 4)
            .body(ByteStream::from_static(b"intruder"))
            .send()
            .await,
        403,
        "SignatureDoesNotMatch",
    );
    expect_error(
        try_complete(&intruder, "secure", key, &id, &[(1, &e1)]).await,
        403,
        "SignatureDoesNotMatch",
    );
    // Unsigned requests are refused too.
    let resp = http()
        .delete(s.url(&format!("/secure/{key}?uploadId={id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    let resp = http()
        .post(s.url("/secure/anon.bin?uploads"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);

    let etag = complete(
        &s.client,
        "secure",
        key,
        &id,
        &[(1, &e1), (2, &e2), (3, &e3)],
    )
    .await;
    let p3 = &source[1000..3000];
    assert_eq!(etag, multipart_etag(&[&p1, &p2, p3]));
    let got = s.get_object("secure", key).await;
    assert_eq!(got.e_tag(), Some(etag.as_str()));
    assert!(body_of(got).await == [p1.as_slice(), &p2, p3].concat());
    assert!(!staging_dir(&s, &id).exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn list_multipart_uploads_pages_with_a_delimiter() {
    let s = server_with_bucket().await;
    for k in ["0.txt", "a/1", "a/1", "a/2", "b/x/1", "b/y", "c"] {
        create(&s.client, "bkt", k).await;
    }
    // Pages of one, two and three following NextKeyMarker / NextUploadIdMarker: every common
    // prefix and every upload exactly once, and the listing ends.
    let mut outcomes = Vec::new();
    for page_size in 1..=3 {
        let mut entries = Vec::new();
        let (mut key_marker, mut id_marker): (Option<String>, Option<String>) = (None, None);
        let mut pages = 0;
        loop {
            pages += 1;
            if pages > 10 {
                entries.push("... (does not end)".to_string());
                break;
            }
            let out = s
                .client
                .list_multipart_uploads()
                .bucket("bkt")
                .delimiter("/")
                .max_uploads(page_size)
                .set_key_marker(key_marker.clone())
                .set_upload_id_marker(id_marker.clone())
                .send()
                .await
                .unwrap_or_else(|e| panic!("{}", describe(&e)));
            assert!(out.uploads().len() + out.common_prefixes().len() <= page_size as usize);
            let mut page = prefixes_of(out.common_prefixes());
            page.extend(upload_keys(&out).into_iter().map(|(k, _)| k));
            page.sort();
            entries.extend(page);
            if out.is_truncated() != Some(true) {
                break;
            }
            key_marker = out.next_key_marker().map(str::to_string);
            id_marker = out.next_upload_id_marker().map(str::to_string);
        }
        outcomes.push((page_size, entries));
    }
    let want: Vec<(i32, Vec<String>)> = (1..=3)
        .map(|n| (n, ["0.txt", "a/", "b/", "c"].map(String::from).to_vec()))
        .collect();
    assert_eq!(outcomes, want);
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_uploads_expire_with_their_staging() {
    let s = TestServer::start_with(|c| {
        c.vfs.multipart_expiry = Duration::from_secs(1);
        c.vfs.rescan_interval = Duration::from_secs(1);
    })
    .await;
    s.create_bucket("bkt").await;
    let id = create(&s.client, "bkt", "idle.bin").await;
    upload(&s.client, "bkt", "idle.bin", &id, 1, &pattern(1000, 90)).await;
    assert!(file_count(&staging_dir(&s, &id)) > 0, "parts are staged");
    // Expiry runs every second and removes uploads idle for more than one.
    let mut gone = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let listed = list_uploads(&s.client, "bkt").await;
        if listed.uploads().is_empty() {
            gone = true;
            break;
        }
    }
    assert!(gone, "an idle upload was never expired");
    assert!(!staging_dir(&s, &id).exists(), "staging kept after expiry");
    expect_no_such_upload(parts_of(&s.client, "bkt", "idle.bin", &id).send().await);
}

#[tokio::test]
async fn uniform_parts_are_written_in_place_and_complete_moves_no_data() {
    use std::os::unix::fs::MetadataExt;
    let s = server_with_bucket().await;
    let id = create(&s.client, "bkt", "in-place").await;
    let parts = [
        pattern(MIB5, 1),
        pattern(MIB5, 2),
        pattern(MIB5, 3),
        pattern(777, 4),
    ];
    // Out of order and in parallel, as clients upload.
    let etags: Vec<String> = futures_util::future::join_all(
        [2, 0, 3, 1].map(|i| upload(&s.client, "bkt", "in-place", &id, i as i32 + 1, &parts[i])),
    )
    .await;
    let mut etag_by_part = vec![String::new(); 4];
    for (slot, i) in [2, 0, 3, 1].into_iter().enumerate() {
        etag_by_part[i] = etags[slot].clone();
    }
    // Every part went into the one assembly file.
    let staging = staging_dir(&s, &id);
    let names: BTreeSet<String> = std::fs::read_dir(&staging)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, BTreeSet::from(["assembly".to_string()]));
    let inode = std::fs::metadata(staging.join("assembly")).unwrap().ino();
    let refs: Vec<&[u8]> = parts.iter().map(|p| p.as_slice()).collect();
    assert_eq!(
        complete(&s.client, "bkt", "in-place", &id, &numbered(&etag_by_part)).await,
        multipart_etag(&refs)
    );
    // The object is that very file, cut to size: no byte was copied.
    let md = std::fs::metadata(s.path_of("bkt", "in-place")).unwrap();
    assert_eq!(md.ino(), inode);
    assert_eq!(md.len(), 3 * MIB5 as u64 + 777);
    assert_eq!(md.nlink(), 1, "the staging name is gone");
    assert_eq!(s.get("bkt", "in-place").await, parts.concat());
    assert!(!staging.exists());
}

#[tokio::test]
async fn parts_that_cannot_be_placed_are_copied_in_order() {
    let s = server_with_bucket().await;
    // A smaller middle part, a re-sent part and a part above the stride: each breaks the
    // in-place layout in its own way; the objects must still be exact.
    let a = pattern(MIB5 + 1000, 1);
    let b = pattern(MIB5, 2);
    let c = pattern(MIB5 + 1000, 3);
    let d = pattern(MIB5 + 5000, 4);
    let id = create(&s.client, "bkt", "mixed").await;
    let ea = upload(&s.client, "bkt", "mixed", &id, 1, &a).await;
    let eb = upload(&s.client, "bkt", "mixed", &id, 2, &b).await;
    let _ = upload(&s.client, "bkt", "mixed", &id, 3, &d).await;
    let ec = upload(&s.client, "bkt", "mixed", &id, 3, &c).await;
    let ed = upload(&s.client, "bkt", "mixed", &id, 4, &d).await;
    let list = [
        (1, ea.as_str()),
        (2, eb.as_str()),
        (3, ec.as_str()),
        (4, ed.as_str()),
    ];
    complete(&s.client, "bkt", "mixed", &id, &list).await;
    assert_eq!(s.get("bkt", "mixed").await, [&a[..], &b, &c, &d].concat());
    // Completing 1..N while part N+1 is stored: the assembly file is not cut.
    let id = create(&s.client, "bkt", "prefix").await;
    let [e1, e2] = upload_parts(&s.client, "bkt", "prefix", &id, [&b, &b]).await;
    upload(&s.client, "bkt", "prefix", &id, 3, &a[..100]).await;
    complete(&s.client, "bkt", "prefix", &id, &[(1, &e1), (2, &e2)]).await;
    assert_eq!(s.get("bkt", "prefix").await, [&b[..], &b].concat());
}

#[tokio::test]
async fn an_assembly_file_that_became_an_object_is_never_written_again() {
    // As after a Complete cut off between publishing and recording: the assembly file is also
    // an object, while the upload is still open and takes parts.
    let s = server_with_bucket().await;
    let id = create(&s.client, "bkt", "k").await;
    let p1 = pattern(MIB5, 1);
    let e1 = upload(&s.client, "bkt", "k", &id, 1, &p1).await;
    let published = s.path_of("bkt", "published");
    std::fs::hard_link(staging_dir(&s, &id).join("assembly"), &published).unwrap();
    let p2 = pattern(MIB5, 2);
    let e2 = upload(&s.client, "bkt", "k", &id, 2, &p2).await;
    assert_eq!(
        std::fs::read(&published).unwrap(),
        p1,
        "a part was written into an object"
    );
    complete(&s.client, "bkt", "k", &id, &[(1, &e1), (2, &e2)]).await;
    assert_eq!(s.get("bkt", "k").await, [&p1[..], &p2].concat());
    assert_eq!(std::fs::read(&published).unwrap(), p1);
}
