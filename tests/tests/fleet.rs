//! Several gateways over one remote: each with its own index, none may lose or hide what another
//! wrote. Two servers share one directory here, as two machines would share a store.

use std::time::{Duration, SystemTime};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};

use crate::common::*;

/// An upload open on one gateway is unknown to the other's index; the other's housekeeping must
/// leave its parts alone, yet still sweep a staging folder idle past the expiry.
#[tokio::test(flavor = "multi_thread")]
async fn housekeeping_keeps_the_uploads_of_other_gateways() {
    let a = TestServer::start().await;
    a.create_bucket("bkt").await;
    let created = a
        .client
        .create_multipart_upload()
        .bucket("bkt")
        .key("big.bin")
        .send()
        .await
        .unwrap_or_else(|e| panic!("create upload: {}", describe(&e)));
    let id = created.upload_id().expect("an UploadId").to_string();
    let parts = [pattern(5 << 20, 1), pattern(1000, 2)];
    let mut etags = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let out = a
            .client
            .upload_part()
            .bucket("bkt")
            .key("big.bin")
            .upload_id(&id)
            .part_number(i as i32 + 1)
            .body(ByteStream::from(p.clone()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("upload part {}: {}", i + 1, describe(&e)));
        etags.push(out.e_tag().expect("an ETag").to_string());
    }
    // A folder no gateway owns, last touched two hours ago: what a crash leaves behind.
    let multipart = a.root().join(".s3gate").join("multipart");
    let orphan = multipart.join(format!("{:032x}", 7u128));
    std::fs::create_dir_all(&orphan).unwrap();
    let two_hours_ago = SystemTime::now() - Duration::from_secs(7200);
    let stale = orphan.join("00001");
    std::fs::write(&stale, b"left over").unwrap();
    for p in [&stale, &orphan] {
        std::fs::File::open(p)
            .unwrap()
            .set_modified(two_hours_ago)
            .unwrap();
    }

    // The second gateway sweeps at its start and then every second.
    let _b = a
        .start_beside(|c| {
            c.vfs.multipart_expiry = Duration::from_secs(3600);
            c.vfs.rescan_interval = Duration::from_secs(1);
        })
        .await;
    let mut swept = false;
    for _ in 0..100 {
        if !orphan.exists() {
            swept = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        swept,
        "a staging folder idle past the expiry was never swept"
    );
    // One more sweep after the first, to be sure the open upload survived more than one.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        multipart.join(&id).exists(),
        "the other gateway deleted the parts of an open upload"
    );

    let done = a
        .client
        .complete_multipart_upload()
        .bucket("bkt")
        .key("big.bin")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(
                    etags
                        .iter()
                        .enumerate()
                        .map(|(i, e)| {
                            CompletedPart::builder()
                                .part_number(i as i32 + 1)
                                .e_tag(e)
                                .build()
                        })
                        .collect(),
                ))
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("complete: {}", describe(&e)));
    assert!(done.e_tag().is_some_and(|e| e.ends_with("-2\"")));
    assert_eq!(a.get("bkt", "big.bin").await, parts.concat());
}
