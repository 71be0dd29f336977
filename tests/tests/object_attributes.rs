//! GetObjectAttributes: the ETag (unquoted), the stored checksum, the parts of a multipart
//! object (paged), the storage class and the size, each only when asked for.

use aws_sdk_s3::operation::get_object_attributes::GetObjectAttributesOutput;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumType, CompletedPart, ObjectAttributes, StorageClass,
};
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::common::*;

const MIB5: usize = 5 * 1024 * 1024;

fn sha256_b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(data))
}

const ALL: [ObjectAttributes; 5] = [
    ObjectAttributes::Etag,
    ObjectAttributes::Checksum,
    ObjectAttributes::ObjectParts,
    ObjectAttributes::StorageClass,
    ObjectAttributes::ObjectSize,
];

async fn attributes(
    s: &TestServer,
    key: &str,
    want: &[ObjectAttributes],
    page: Option<(i32, i32)>,
) -> GetObjectAttributesOutput {
    s.client
        .get_object_attributes()
        .bucket("bkt")
        .key(key)
        .set_object_attributes(Some(want.to_vec()))
        .set_max_parts(page.map(|p| p.0))
        .set_part_number_marker(page.map(|p| p.1.to_string()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("attributes of {key}: {}", describe(&e)))
}

/// Uploads `parts` as one multipart object, with SHA-256 part checksums when `checksum`.
async fn multipart(s: &TestServer, key: &str, parts: &[Vec<u8>], checksum: bool) -> String {
    let algo = checksum.then_some(ChecksumAlgorithm::Sha256);
    let id = s
        .client
        .create_multipart_upload()
        .bucket("bkt")
        .key(key)
        .set_checksum_algorithm(algo.clone())
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_string();
    let mut done = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let out = s
            .client
            .upload_part()
            .bucket("bkt")
            .key(key)
            .upload_id(&id)
            .part_number(i as i32 + 1)
            .set_checksum_algorithm(algo.clone())
            .body(ByteStream::from(p.clone()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("part {}: {}", i + 1, describe(&e)));
        done.push(
            CompletedPart::builder()
                .part_number(i as i32 + 1)
                .e_tag(out.e_tag().unwrap())
                .set_checksum_sha256(out.checksum_sha256().map(str::to_string))
                .build(),
        );
    }
    let out = complete_upload(&s.client, "bkt", key, &id, done)
        .send()
        .await
        .unwrap_or_else(|e| panic!("complete: {}", describe(&e)));
    out.e_tag().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_single_part_object() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    let data = b"attributes of a small object".to_vec();
    s.client
        .put_object()
        .bucket("bkt")
        .key("one")
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    let head = s.head("bkt", "one").await;

    let out = attributes(&s, "one", &ALL, None).await;
    assert_eq!(
        out.e_tag(),
        Some(etag_of(&data).trim_matches('"')),
        "unquoted"
    );
    let checksum = out.checksum().expect("the stored checksum");
    assert_eq!(checksum.checksum_sha256(), Some(sha256_b64(&data).as_str()));
    assert_eq!(checksum.checksum_type(), Some(&ChecksumType::FullObject));
    assert_eq!(checksum.checksum_crc32(), None);
    assert!(out.object_parts().is_none(), "not uploaded in parts");
    assert_eq!(out.storage_class(), Some(&StorageClass::Standard));
    assert_eq!(out.object_size(), Some(data.len() as i64));
    assert_eq!(out.last_modified(), head.last_modified());

    // Only what is asked for; the version there is, `null`, may be named.
    let out = s
        .client
        .get_object_attributes()
        .bucket("bkt")
        .key("one")
        .version_id("null")
        .object_attributes(ObjectAttributes::ObjectSize)
        .send()
        .await
        .unwrap();
    assert_eq!(out.object_size(), Some(data.len() as i64));
    assert_eq!(
        (out.e_tag(), out.checksum(), out.storage_class()),
        (None, None, None)
    );

    // An object stored without a checksum has none to show (the SDK would send a CRC32).
    let r = http()
        .put(s.url("/bkt/plain"))
        .body("no checksum")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let out = attributes(&s, "plain", &ALL, None).await;
    assert!(out.checksum().is_none(), "{out:?}");
    assert_eq!(out.object_size(), Some(11));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_multipart_object_shows_its_parts_page_by_page() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    let parts = vec![pattern(MIB5, 1), pattern(MIB5, 2), pattern(1234, 3)];
    let etag = multipart(&s, "big", &parts, true).await;

    let out = attributes(&s, "big", &ALL, None).await;
    assert_eq!(out.e_tag(), Some(etag.trim_matches('"')));
    assert!(etag.ends_with("-3\""), "{etag}");
    // The composite checksum: the SHA-256 of the binary part SHA-256s; the part count is
    // PartsCount.
    let mut raw = Vec::new();
    for p in &parts {
        raw.extend(Sha256::digest(p));
    }
    let checksum = out.checksum().expect("the stored checksum");
    assert_eq!(checksum.checksum_sha256(), Some(sha256_b64(&raw).as_str()));
    assert_eq!(checksum.checksum_type(), Some(&ChecksumType::Composite));
    let listed = out.object_parts().expect("ObjectParts");
    assert_eq!(listed.total_parts_count(), Some(3));
    assert_eq!(listed.is_truncated(), Some(false));
    let seen: Vec<_> = listed
        .parts()
        .iter()
        .map(|p| {
            (
                p.part_number().unwrap(),
                p.size().unwrap(),
                p.checksum_sha256().unwrap().to_string(),
            )
        })
        .collect();
    let want: Vec<_> = parts
        .iter()
        .enumerate()
        .map(|(i, p)| (i as i32 + 1, p.len() as i64, sha256_b64(p)))
        .collect();
    assert_eq!(seen, want);
    assert_eq!(
        out.object_size(),
        Some(parts.iter().map(Vec::len).sum::<usize>() as i64)
    );

    // Two parts a page: x-amz-max-parts and x-amz-part-number-marker.
    let first = attributes(&s, "big", &[ObjectAttributes::ObjectParts], Some((2, 0))).await;
    let page = first.object_parts().unwrap();
    assert_eq!(page.parts().len(), 2);
    assert_eq!(page.is_truncated(), Some(true));
    assert_eq!(page.max_parts(), Some(2));
    assert_eq!(page.next_part_number_marker(), Some("2"));
    assert_eq!(page.total_parts_count(), Some(3));
    let second = attributes(&s, "big", &[ObjectAttributes::ObjectParts], Some((2, 2))).await;
    let page = second.object_parts().unwrap();
    let numbers: Vec<_> = page.parts().iter().map(|p| p.part_number()).collect();
    assert_eq!(numbers, [Some(3)]);
    assert_eq!(page.is_truncated(), Some(false));
    assert_eq!(page.part_number_marker(), Some("2"));
    assert!(first.e_tag().is_none() && first.object_size().is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_multipart_object_without_checksums_shows_part_sizes() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    let parts = vec![pattern(MIB5, 7), pattern(10, 8)];
    multipart(&s, "mp", &parts, false).await;
    let out = attributes(&s, "mp", &ALL, None).await;
    assert!(out.checksum().is_none());
    let listed = out.object_parts().expect("ObjectParts");
    assert_eq!(listed.total_parts_count(), Some(2));
    let seen: Vec<_> = listed
        .parts()
        .iter()
        .map(|p| (p.part_number(), p.size(), p.checksum_sha256()))
        .collect();
    assert_eq!(
        seen,
        [
            (Some(1), Some(MIB5 as i64), None),
            (Some(2), Some(10), None)
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    s.put("bkt", "k", "v").await;
    let ask = |key: &str, want: Vec<ObjectAttributes>| {
        s.client
            .get_object_attributes()
            .bucket("bkt")
            .key(key)
            .set_object_attributes(Some(want))
            .send()
    };
    expect_error(
        ask("missing", vec![ObjectAttributes::Etag]).await,
        404,
        "NoSuchKey",
    );
    // The SDK sends an empty header for an empty list: no attributes, as S3 says.
    expect_error(ask("k", vec![]).await, 400, "InvalidRequest");
    expect_error(
        ask("k", vec![ObjectAttributes::from("Owner")]).await,
        400,
        "InvalidArgument",
    );
    expect_error(
        s.client
            .get_object_attributes()
            .bucket("bkt")
            .key("k")
            .version_id("3HL4kqtJlcpXroDTDmJ")
            .object_attributes(ObjectAttributes::Etag)
            .send()
            .await,
        400,
        "InvalidArgument",
    );
    expect_error(
        s.client
            .get_object_attributes()
            .bucket("nobkt")
            .key("k")
            .object_attributes(ObjectAttributes::Etag)
            .send()
            .await,
        404,
        "NoSuchBucket",
    );

    // Without the header at all, and with the names in one header, as boto3 sends them.
    let http = http();
    let r = http.get(s.url("/bkt/k?attributes")).send().await.unwrap();
    let text = expect_s3_error(r, 400, "InvalidRequest").await;
    assert_eq!(
        xml_value(&text, "Message").as_deref(),
        Some("The x-amz-object-attributes header specifying the attributes to be retrieved is either missing or empty")
    );
    let r = http
        .get(s.url("/bkt/k?attributes"))
        .header("x-amz-object-attributes", "ObjectSize, ETag,")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.headers().contains_key("last-modified"));
    let text = r.text().await.unwrap();
    assert_eq!(xml_value(&text, "ObjectSize").as_deref(), Some("1"));
    assert_eq!(
        xml_value(&text, "ETag"),
        Some(etag_of(b"v").trim_matches('"').to_string())
    );
    assert_eq!(xml_value(&text, "StorageClass"), None);
}
