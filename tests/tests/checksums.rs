//! Additional checksums (`x-amz-checksum-*`): verified on the way in, stored with the object,
//! returned on HEAD/GET when the client asks (never for a part of the object), kept across
//! restarts and copies, and combined over multipart uploads in S3's composite and full-object
//! forms.

use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode, ChecksumType, CompletedPart};
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::common::*;

const MIB5: usize = 5 * 1024 * 1024;

fn b64(raw: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(raw)
}

fn unb64(v: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(v).unwrap()
}

fn sha256_b64(data: &[u8]) -> String {
    b64(&Sha256::digest(data))
}

/// The stored checksum a HEAD with checksum mode returns, whatever its algorithm.
fn checksum_of(h: &HeadObjectOutput) -> Option<String> {
    [
        h.checksum_crc32(),
        h.checksum_crc32_c(),
        h.checksum_crc64_nvme(),
        h.checksum_sha1(),
        h.checksum_sha256(),
    ]
    .into_iter()
    .flatten()
    .next()
    .map(str::to_string)
}

async fn head_checksum(s: &TestServer, key: &str) -> (Option<String>, Option<ChecksumType>) {
    let h = s
        .client
        .head_object()
        .bucket("bkt")
        .key(key)
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap_or_else(|e| panic!("head {key}: {}", describe(&e)));
    (checksum_of(&h), h.checksum_type().cloned())
}

#[tokio::test]
async fn every_algorithm_is_verified_stored_and_returned_on_request() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    let data = pattern(300_000, 9);
    for algo in [
        ChecksumAlgorithm::Crc32,
        ChecksumAlgorithm::Crc32C,
        ChecksumAlgorithm::Crc64Nvme,
        ChecksumAlgorithm::Sha1,
        ChecksumAlgorithm::Sha256,
    ] {
        let key = format!("obj-{}", algo.as_str());
        let put = s
            .client
            .put_object()
            .bucket("bkt")
            .key(&key)
            .checksum_algorithm(algo.clone())
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("put {key}: {}", describe(&e)));
        let sent = [
            put.checksum_crc32(),
            put.checksum_crc32_c(),
            put.checksum_crc64_nvme(),
            put.checksum_sha1(),
            put.checksum_sha256(),
        ]
        .into_iter()
        .flatten()
        .next()
        .unwrap_or_else(|| panic!("{key}: PUT answered without its checksum"))
        .to_string();
        let (stored, kind) = head_checksum(&s, &key).await;
        assert_eq!(stored.as_deref(), Some(sent.as_str()), "{key}");
        assert_eq!(kind, Some(ChecksumType::FullObject), "{key}");
        // Without checksum mode, no checksum.
        let plain = s.head("bkt", &key).await;
        assert_eq!(checksum_of(&plain), None, "{key}: checksum sent unasked");
        // A full GET with checksum mode: the SDK validates the body against what we return.
        let got = s
            .client
            .get_object()
            .bucket("bkt")
            .key(&key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .unwrap();
        assert_eq!(body_of(got).await, data, "{key}");
    }
    let (crc, _) = head_checksum(&s, "obj-CRC32").await;
    assert_eq!(crc.unwrap(), crc32_b64(&data));
    let (sha, _) = head_checksum(&s, "obj-SHA256").await;
    assert_eq!(sha.unwrap(), sha256_b64(&data));
    // A part of the object never carries the whole object's checksum.
    let part = s
        .client
        .head_object()
        .bucket("bkt")
        .key("obj-CRC32")
        .part_number(1)
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(checksum_of(&part), None);
}

#[tokio::test]
async fn a_wrong_checksum_stores_nothing() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    let e = s
        .client
        .put_object()
        .bucket("bkt")
        .key("bad")
        .checksum_sha256(sha256_b64(b"something else"))
        .body(ByteStream::from_static(b"the body"))
        .send()
        .await;
    expect_error(e, 400, "BadDigest");
    assert!(!s.path_of("bkt", "bad").exists());
}

#[tokio::test]
async fn checksums_survive_restart_and_copies() {
    let mut s = TestServer::start().await;
    s.create_bucket("bkt").await;
    let data = pattern(70_000, 3);
    s.client
        .put_object()
        .bucket("bkt")
        .key("src")
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    s.restart().await;
    assert_eq!(head_checksum(&s, "src").await.0, Some(crc32_b64(&data)));
    for (key, directive) in [
        ("copy", aws_sdk_s3::types::MetadataDirective::Copy),
        ("replaced", aws_sdk_s3::types::MetadataDirective::Replace),
    ] {
        s.copy("bkt", key, "bkt/src")
            .metadata_directive(directive)
            .content_type("text/plain")
            .send()
            .await
            .unwrap_or_else(|e| panic!("copy to {key}: {}", describe(&e)));
        assert_eq!(
            head_checksum(&s, key).await.0,
            Some(crc32_b64(&data)),
            "{key}"
        );
    }
}

/// Creates an upload with a checksum algorithm (and type), uploads `parts` with that
/// algorithm, checks what UploadPart and ListParts say, and returns the id and the completed
/// parts as the SDK would list them.
async fn upload_with_checksums(
    s: &TestServer,
    key: &str,
    algo: ChecksumAlgorithm,
    kind: Option<ChecksumType>,
    parts: &[Vec<u8>],
) -> (String, Vec<CompletedPart>) {
    let created = s
        .client
        .create_multipart_upload()
        .bucket("bkt")
        .key(key)
        .checksum_algorithm(algo.clone())
        .set_checksum_type(kind)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create {key}: {}", describe(&e)));
    assert_eq!(created.checksum_algorithm(), Some(&algo));
    let id = created.upload_id().unwrap().to_string();
    let mut done = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let out = s
            .client
            .upload_part()
            .bucket("bkt")
            .key(key)
            .upload_id(&id)
            .part_number(i as i32 + 1)
            .checksum_algorithm(algo.clone())
            .body(ByteStream::from(p.clone()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("part {}: {}", i + 1, describe(&e)));
        done.push(
            CompletedPart::builder()
                .part_number(i as i32 + 1)
                .e_tag(out.e_tag().unwrap())
                .set_checksum_crc32(out.checksum_crc32().map(str::to_string))
                .set_checksum_sha256(out.checksum_sha256().map(str::to_string))
                .build(),
        );
    }
    let listed = s
        .client
        .list_parts()
        .bucket("bkt")
        .key(key)
        .upload_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.checksum_algorithm(), Some(&algo));
    for (l, d) in listed.parts().iter().zip(&done) {
        assert_eq!(l.checksum_crc32(), d.checksum_crc32());
        assert_eq!(l.checksum_sha256(), d.checksum_sha256());
    }
    (id, done)
}

#[tokio::test]
async fn multipart_composite_checksum() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    let parts = vec![pattern(MIB5, 1), pattern(1000, 2)];
    let (id, done) =
        upload_with_checksums(&s, "comp", ChecksumAlgorithm::Crc32, None, &parts).await;
    for (d, p) in done.iter().zip(&parts) {
        assert_eq!(d.checksum_crc32(), Some(crc32_b64(p).as_str()));
    }
    // A listed part checksum that is not the stored one: InvalidPart, and the upload stays.
    let mut wrong = done.clone();
    wrong[1] = CompletedPart::builder()
        .part_number(2)
        .e_tag(done[1].e_tag().unwrap())
        .checksum_crc32(crc32_b64(b"other"))
        .build();
    expect_error(
        complete_upload(&s.client, "bkt", "comp", &id, wrong)
            .send()
            .await,
        400,
        "InvalidPart",
    );
    let out = complete_upload(&s.client, "bkt", "comp", &id, done)
        .send()
        .await
        .unwrap_or_else(|e| panic!("complete: {}", describe(&e)));
    // S3's composite form: the CRC32 of the binary part CRC32s, then -N.
    let mut raw = Vec::new();
    for p in &parts {
        raw.extend(unb64(&crc32_b64(p)));
    }
    let want = format!("{}-2", crc32_b64(&raw));
    assert_eq!(out.checksum_crc32(), Some(want.as_str()));
    assert_eq!(
        head_checksum(&s, "comp").await,
        (Some(want), Some(ChecksumType::Composite))
    );
    let got = s
        .client
        .get_object()
        .bucket("bkt")
        .key("comp")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(body_of(got).await, parts.concat());
}

#[tokio::test]
async fn multipart_full_object_checksum() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    let parts = vec![pattern(MIB5, 4), pattern(MIB5 + 3, 5), pattern(12_345, 6)];
    let (id, done) = upload_with_checksums(
        &s,
        "full",
        ChecksumAlgorithm::Crc32,
        Some(ChecksumType::FullObject),
        &parts,
    )
    .await;
    let out = complete_upload(&s.client, "bkt", "full", &id, done)
        .send()
        .await
        .unwrap_or_else(|e| panic!("complete: {}", describe(&e)));
    let whole = parts.concat();
    assert_eq!(out.checksum_crc32(), Some(crc32_b64(&whole).as_str()));
    assert_eq!(
        head_checksum(&s, "full").await,
        (Some(crc32_b64(&whole)), Some(ChecksumType::FullObject))
    );
    // The SDK validates a full-object checksum on GET.
    let got = s
        .client
        .get_object()
        .bucket("bkt")
        .key("full")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(body_of(got).await, whole);
}

#[tokio::test]
async fn copied_parts_get_their_checksum_computed() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    let src = pattern(MIB5 + 100, 7);
    s.put("bkt", "src", src.clone()).await;
    let created = s
        .client
        .create_multipart_upload()
        .bucket("bkt")
        .key("dst")
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .send()
        .await
        .unwrap();
    let id = created.upload_id().unwrap();
    let mut done = Vec::new();
    for (n, range) in [(1, (0, MIB5)), (2, (MIB5, MIB5 + 100))] {
        let out = s
            .client
            .upload_part_copy()
            .bucket("bkt")
            .key("dst")
            .upload_id(id)
            .part_number(n)
            .copy_source("bkt/src")
            .copy_source_range(format!("bytes={}-{}", range.0, range.1 - 1))
            .send()
            .await
            .unwrap_or_else(|e| panic!("part copy {n}: {}", describe(&e)));
        let r = out.copy_part_result().unwrap();
        assert_eq!(
            r.checksum_sha256(),
            Some(sha256_b64(&src[range.0..range.1]).as_str()),
            "part {n}"
        );
        done.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(r.e_tag().unwrap())
                .checksum_sha256(r.checksum_sha256().unwrap())
                .build(),
        );
    }
    complete_upload(&s.client, "bkt", "dst", id, done)
        .send()
        .await
        .unwrap();
    let mut raw = Vec::new();
    raw.extend(Sha256::digest(&src[..MIB5]));
    raw.extend(Sha256::digest(&src[MIB5..]));
    assert_eq!(
        head_checksum(&s, "dst").await.0,
        Some(format!("{}-2", sha256_b64(&raw)))
    );
}

#[tokio::test]
async fn a_part_with_another_algorithm_is_refused() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    let created = s
        .client
        .create_multipart_upload()
        .bucket("bkt")
        .key("k")
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .send()
        .await
        .unwrap();
    let e = s
        .client
        .upload_part()
        .bucket("bkt")
        .key("k")
        .upload_id(created.upload_id().unwrap())
        .part_number(1)
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .body(ByteStream::from_static(b"part"))
        .send()
        .await;
    expect_error(e, 400, "InvalidRequest");
    // A type the algorithm does not have is refused at creation.
    let e = s
        .client
        .create_multipart_upload()
        .bucket("bkt")
        .key("k2")
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .checksum_type(ChecksumType::FullObject)
        .send()
        .await;
    expect_error(e, 400, "InvalidRequest");
}

#[tokio::test]
async fn two_checksum_headers_are_refused() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    let data = b"one body, two checksums";
    // A right CRC32 beside a wrong SHA-256: the wrong one must not be taken on trust.
    let r = raw_request(
        s.addr,
        &format!(
            "PUT /bkt/two HTTP/1.1\r\nContent-Length: {}\r\nx-amz-checksum-crc32: {}\r\nx-amz-checksum-sha256: {}\r\n",
            data.len(),
            crc32_b64(data),
            sha256_b64(b"something else")
        ),
        data,
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.text().contains("<Code>InvalidRequest</Code>"),
        "{}",
        r.text()
    );
    assert!(!s.path_of("bkt", "two").exists());
}

/// CompleteMultipartUpload with the object's composite checksum in its header, as
/// `<base64>-<parts>`, the form S3 answers it in: accepted when it is the checksum of the parts'
/// checksums (with or without its part count), `BadDigest` when it is not, and the upload stays.
#[tokio::test]
async fn complete_takes_the_composite_checksum_header() {
    use sha1::Sha1;
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    let parts = vec![pattern(MIB5, 9), pattern(100, 10)];
    type DigestFn = fn(&[u8]) -> Vec<u8>;
    let algos: [(ChecksumAlgorithm, DigestFn); 3] = [
        (ChecksumAlgorithm::Crc32, |d| {
            crc32fast::hash(d).to_be_bytes().to_vec()
        }),
        (ChecksumAlgorithm::Sha1, |d| Sha1::digest(d).to_vec()),
        (ChecksumAlgorithm::Sha256, |d| Sha256::digest(d).to_vec()),
    ];
    for (algo, digest) in algos {
        let key = format!("composite-{}", algo.as_str());
        let (id, done) = upload_with_checksums(&s, &key, algo.clone(), None, &parts).await;
        let composite = b64(&digest(
            &parts.iter().flat_map(|p| digest(p)).collect::<Vec<_>>(),
        ));
        let with_header = |value: String| {
            let c = complete_upload(&s.client, "bkt", &key, &id, done.clone());
            match algo {
                ChecksumAlgorithm::Crc32 => c.checksum_crc32(value),
                ChecksumAlgorithm::Sha1 => c.checksum_sha1(value),
                _ => c.checksum_sha256(value),
            }
            .send()
        };
        let other = b64(&digest(b"other parts"));
        for wrong in [format!("{other}-2"), format!("{composite}-3"), other] {
            expect_error(with_header(wrong).await, 400, "BadDigest");
        }
        let out = with_header(format!("{composite}-2"))
            .await
            .unwrap_or_else(|e| panic!("{}: {}", algo.as_str(), describe(&e)));
        let want = format!("{composite}-2");
        let answered = [
            out.checksum_crc32(),
            out.checksum_sha1(),
            out.checksum_sha256(),
        ];
        assert_eq!(
            answered.into_iter().flatten().collect::<Vec<_>>(),
            [want.as_str()],
            "{}",
            algo.as_str()
        );
        assert_eq!(
            head_checksum(&s, &key).await,
            (Some(want), Some(ChecksumType::Composite))
        );
    }
    // The form without the count is still taken.
    let (id, done) =
        upload_with_checksums(&s, "bare", ChecksumAlgorithm::Sha256, None, &parts).await;
    let bare = sha256_b64(&parts.iter().flat_map(Sha256::digest).collect::<Vec<_>>());
    complete_upload(&s.client, "bkt", "bare", &id, done)
        .checksum_sha256(bare)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
}
