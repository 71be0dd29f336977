//! Bucket versioning: PutBucketVersioning checks its document as S3 does, and refuses to turn
//! versioning on (or to suspend it) while overwrites and deletes still destroy the version they
//! replace, leaving the bucket and its objects as they were.

use aws_sdk_s3::types::{BucketVersioningStatus, MfaDelete, VersioningConfiguration};

use crate::common::*;

const NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

async fn setup() -> TestServer {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    s.put("bkt", "obj", b"current".to_vec()).await;
    s
}

/// The bucket's versioning status, as GetBucketVersioning answers it.
async fn status(s: &TestServer) -> Option<BucketVersioningStatus> {
    let out = s
        .client
        .get_bucket_versioning()
        .bucket("bkt")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    assert_eq!(out.mfa_delete(), None);
    out.status().cloned()
}

/// PutBucketVersioning of `doc`, unsigned, with its Content-MD5 when `md5`: status and code.
async fn put_doc(s: &TestServer, bucket: &str, doc: &str, md5: bool) -> (u16, Option<String>) {
    let mut req = http()
        .put(s.url(&format!("/{bucket}?versioning")))
        .body(doc.to_string());
    if md5 {
        req = req.header("content-md5", content_md5(doc.as_bytes()));
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, xml_value(&r.text().await.unwrap(), "Code"))
}

#[tokio::test(flavor = "multi_thread")]
async fn enabling_or_suspending_is_refused_while_versions_are_not_kept() {
    let s = setup().await;
    for wanted in [
        BucketVersioningStatus::Enabled,
        BucketVersioningStatus::Suspended,
    ] {
        expect_error(
            s.client
                .put_bucket_versioning()
                .bucket("bkt")
                .versioning_configuration(VersioningConfiguration::builder().status(wanted).build())
                .send()
                .await,
            501,
            "NotImplemented",
        );
    }
    assert_eq!(status(&s).await, None);
    assert_eq!(s.get("bkt", "obj").await, b"current");
    assert_eq!(s.list_keys("bkt").await, ["obj"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn mfa_delete_is_not_implemented_and_disabled_is_no_change() {
    let s = setup().await;
    expect_error(
        s.client
            .put_bucket_versioning()
            .bucket("bkt")
            .mfa("20899872 301749")
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .mfa_delete(MfaDelete::Enabled)
                    .build(),
            )
            .send()
            .await,
        501,
        "NotImplemented",
    );
    // A document naming no Status leaves the state as it is.
    s.client
        .put_bucket_versioning()
        .bucket("bkt")
        .versioning_configuration(
            VersioningConfiguration::builder()
                .mfa_delete(MfaDelete::Disabled)
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    assert_eq!(status(&s).await, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_document_s3_would_not_take_is_refused_as_s3_refuses_it() {
    let s = setup().await;
    let doc = |inner: &str| {
        format!(r#"<VersioningConfiguration xmlns="{NS}">{inner}</VersioningConfiguration>"#)
    };
    for bad in [
        doc("<Status>enabled</Status>"),
        doc("<Status></Status>"),
        doc("<Status>Enabled</Status><MfaDelete>On</MfaDelete>"),
        "<Versioning><Status>Enabled</Status></Versioning>".to_string(),
        doc("<Status>Enabled"),
        "not xml at all".to_string(),
    ] {
        let got = put_doc(&s, "bkt", &bad, true).await;
        assert_eq!(got, (400, Some("MalformedXML".into())), "{bad}");
    }
    // Without a digest to check it against, S3 takes no configuration document.
    let good = doc("<Status>Enabled</Status>");
    let got = put_doc(&s, "bkt", &good, false).await;
    assert_eq!(got, (400, Some("InvalidRequest".into())));
    // Without the namespace, as some clients send it, the document is read all the same.
    let bare = "<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>";
    let got = put_doc(&s, "bkt", bare, true).await;
    assert_eq!(got, (501, Some("NotImplemented".into())));
    let got = put_doc(&s, "bkt", &doc(""), true).await;
    assert_eq!(got, (200, None));
    let got = put_doc(&s, "nobkt", &good, true).await;
    assert_eq!(got, (404, Some("NoSuchBucket".into())));
    assert_eq!(status(&s).await, None);
    assert_eq!(s.get("bkt", "obj").await, b"current");
}
