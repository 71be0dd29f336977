//! Bucket configuration reads answer as S3 does for a bucket that has none of the
//! configuration, in the order Terraform's `aws_s3_bucket` refreshes a bucket: a tool that reads
//! them all stops at the first answer it does not expect.

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::types::{Payer, Permission};

use crate::common::*;

/// One `404` read: the status, the code and S3's message.
#[track_caller]
fn expect_missing<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug>(
    r: Result<T, SdkError<E, HttpResponse>>,
    code: &str,
    message: &str,
) {
    let e = r.expect_err(code);
    assert_eq!(
        status_and_code(&e),
        (404, code.to_string()),
        "{}",
        describe(&e)
    );
    assert_eq!(e.message(), Some(message), "{code}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bucket_without_configuration_reads_as_in_s3() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    let c = &s.client;
    let b = "bkt";

    let acl = c.get_bucket_acl().bucket(b).send().await.unwrap();
    assert_eq!(acl.grants()[0].permission(), Some(&Permission::FullControl));
    let versioning = c.get_bucket_versioning().bucket(b).send().await.unwrap();
    assert_eq!(versioning.status(), None);
    expect_missing(
        c.get_bucket_lifecycle_configuration()
            .bucket(b)
            .send()
            .await,
        "NoSuchLifecycleConfiguration",
        "The lifecycle configuration does not exist",
    );
    expect_missing(
        c.get_bucket_replication().bucket(b).send().await,
        "ReplicationConfigurationNotFoundError",
        "The replication configuration was not found",
    );
    expect_missing(
        c.get_bucket_encryption().bucket(b).send().await,
        "ServerSideEncryptionConfigurationNotFoundError",
        "The server side encryption configuration was not found",
    );
    expect_missing(
        c.get_object_lock_configuration().bucket(b).send().await,
        "ObjectLockConfigurationNotFoundError",
        "Object Lock configuration does not exist for this bucket",
    );
    expect_missing(
        c.get_bucket_website().bucket(b).send().await,
        "NoSuchWebsiteConfiguration",
        "The specified bucket does not have a website configuration",
    );
    let logging = c.get_bucket_logging().bucket(b).send().await.unwrap();
    assert!(logging.logging_enabled().is_none(), "{logging:?}");
    let accelerate = c
        .get_bucket_accelerate_configuration()
        .bucket(b)
        .send()
        .await
        .unwrap();
    assert_eq!(accelerate.status(), None);
    let payment = c
        .get_bucket_request_payment()
        .bucket(b)
        .send()
        .await
        .unwrap();
    assert_eq!(payment.payer(), Some(&Payer::BucketOwner));
    expect_missing(
        c.get_bucket_policy().bucket(b).send().await,
        "NoSuchBucketPolicy",
        "The bucket policy does not exist",
    );
    let status = c.get_bucket_policy_status().bucket(b).send().await.unwrap();
    assert_eq!(
        status.policy_status().and_then(|p| p.is_public()),
        Some(false)
    );
    // A new bucket's ownership controls are S3's default (their changes are in acl.rs).
    let controls = c
        .get_bucket_ownership_controls()
        .bucket(b)
        .send()
        .await
        .unwrap();
    assert_eq!(
        controls.ownership_controls().unwrap().rules()[0].object_ownership(),
        &aws_sdk_s3::types::ObjectOwnership::BucketOwnerEnforced
    );
    expect_missing(
        c.get_public_access_block().bucket(b).send().await,
        "NoSuchPublicAccessBlockConfiguration",
        "The public access block configuration was not found",
    );
}

/// The documents themselves, as a client that reads the XML sees them.
#[tokio::test(flavor = "multi_thread")]
async fn default_documents_hold_only_the_defaults() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    let http = http();
    for (query, root, child) in [
        ("logging", "BucketLoggingStatus", None),
        ("accelerate", "AccelerateConfiguration", None),
        (
            "requestPayment",
            "RequestPaymentConfiguration",
            Some(("Payer", "BucketOwner")),
        ),
        ("policyStatus", "PolicyStatus", Some(("IsPublic", "false"))),
    ] {
        let r = http
            .get(s.url(&format!("/bkt?{query}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "?{query}");
        let text = r.text().await.unwrap();
        assert!(
            text.contains(&format!(
                "<{root} xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
            )),
            "?{query}: {text}"
        );
        assert_eq!(xml_value(&text, "Status"), None, "?{query}: {text}");
        assert_eq!(xml_value(&text, "LoggingEnabled"), None, "?{query}: {text}");
        if let Some((name, value)) = child {
            assert_eq!(xml_value(&text, name).as_deref(), Some(value), "?{query}");
        }
    }
}

/// Every read of a missing bucket is `NoSuchBucket`, and setting or removing a configuration
/// this server does not keep is not implemented, leaving the reads as they were.
#[tokio::test(flavor = "multi_thread")]
async fn missing_buckets_and_changes() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    let http = http();
    let reads = [
        "object-lock",
        "policy",
        "encryption",
        "replication",
        "website",
        "publicAccessBlock",
        "logging",
        "accelerate",
        "requestPayment",
        "policyStatus",
    ];
    for query in reads {
        let r = http
            .get(s.url(&format!("/nobkt?{query}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 404, "?{query}");
        let text = r.text().await.unwrap();
        assert_eq!(xml_value(&text, "Code").as_deref(), Some("NoSuchBucket"));
        // Object lock is set with a PUT (tests/object_lock.rs), and never removed; the
        // policy and the public access block are set and removed (tests/policy.rs).
        let changes = match query {
            "object-lock" => vec![reqwest::Method::DELETE],
            "policy" | "publicAccessBlock" => vec![],
            _ => vec![reqwest::Method::PUT, reqwest::Method::DELETE],
        };
        for method in changes {
            let r = http
                .request(method.clone(), s.url(&format!("/bkt?{query}")))
                .body("<x/>")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 501, "{method} ?{query}");
            let text = r.text().await.unwrap();
            assert_eq!(xml_value(&text, "Code").as_deref(), Some("NotImplemented"));
        }
    }
    expect_missing(
        s.client.get_bucket_policy().bucket("bkt").send().await,
        "NoSuchBucketPolicy",
        "The bucket policy does not exist",
    );
}
