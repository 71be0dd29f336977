//! Browser uploads (POST Object): `multipart/form-data` forms whose policy is signed with SigV4
//! or SigV2, as a web page built by an SDK's presigned POST sends them. A form its policy does
//! not allow is refused and stores nothing.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::common::*;

pub(crate) const BOUNDARY: &str = "----s3gateFormBoundary7MA4YWxk";

/// A form: fields in order, then the file.
pub(crate) fn form(fields: &[(&str, &str)], filename: &str, file: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in fields {
        out.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    out.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    out.extend_from_slice(file);
    out.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    out
}

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

fn hmac256(key: &[u8], data: &str) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
    m.update(data.as_bytes());
    m.finalize().into_bytes().to_vec()
}

/// The SigV4 fields of a form whose policy has `conditions` (JSON, without the brackets) and
/// the credential fields, signed with `secret`, expiring at `expiration`.
fn sigv4_fields(conditions: &str, secret: &str, expiration: &str) -> Vec<(String, String)> {
    let date = "20261205";
    let credential = format!("{ACCESS_KEY}/{date}/us-east-1/s3/aws4_request");
    let amz_date = format!("{date}T000000Z");
    let policy = format!(
        r#"{{"expiration": "{expiration}", "conditions": [{conditions},
            {{"x-amz-algorithm": "AWS4-HMAC-SHA256"}}, {{"x-amz-credential": "{credential}"}},
            {{"x-amz-date": "{amz_date}"}}]}}"#
    );
    let policy = b64(policy.as_bytes());
    let key = [date, "us-east-1", "s3", "aws4_request"]
        .iter()
        .fold(format!("AWS4{secret}").into_bytes(), |k, part| {
            hmac256(&k, part)
        });
    let signature = hex::encode(hmac256(&key, &policy));
    vec![
        ("policy".into(), policy),
        ("x-amz-algorithm".into(), "AWS4-HMAC-SHA256".into()),
        ("x-amz-credential".into(), credential),
        ("x-amz-date".into(), amz_date),
        ("x-amz-signature".into(), signature),
    ]
}

const LATER: &str = "2099-01-01T00:00:00.000Z";

async fn post(s: &TestServer, bucket: &str, body: Vec<u8>) -> reqwest::Response {
    http()
        .post(s.url(&format!("/{bucket}")))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body)
        .send()
        .await
        .unwrap()
}

/// The fields of `extra` first (as a page puts its own fields), then the signed ones.
fn fields_of<'a>(
    extra: &'a [(&'a str, &'a str)],
    signed: &'a [(String, String)],
) -> Vec<(&'a str, &'a str)> {
    extra
        .iter()
        .copied()
        .chain(signed.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .collect()
}

async fn assert_refused(s: &TestServer, resp: reqwest::Response, status: u16, code: &str) {
    assert_eq!(resp.status().as_u16(), status);
    let body = resp.text().await.unwrap();
    assert_eq!(xml_value(&body, "Code").as_deref(), Some(code), "{body}");
    assert!(
        s.list_keys("uploads").await.is_empty(),
        "a refused form stored something"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sigv4_form_stores_its_file_with_the_fields_it_names() {
    let s = TestServer::start_auth().await;
    s.create_bucket("uploads").await;
    let signed = sigv4_fields(
        r#"{"bucket": "uploads"}, ["starts-with", "$key", "docs/"], ["starts-with", "$Content-Type", "text/"],
           {"x-amz-meta-colour": "blue"}, {"success_action_status": "201"},
           ["starts-with", "$tagging", "<Tagging>"],
           ["content-length-range", 1, 1048576]"#,
        SECRET_KEY,
        LATER,
    );
    let data = pattern(70_000, 3);
    let extra = [
        ("key", "docs/${filename}"),
        ("Content-Type", "text/plain"),
        ("x-amz-meta-colour", "blue"),
        ("success_action_status", "201"),
        (
            "tagging",
            "<Tagging><TagSet><Tag><Key>team</Key><Value>web</Value></Tag></TagSet></Tagging>",
        ),
    ];
    let resp = post(
        &s,
        "uploads",
        form(&fields_of(&extra, &signed), "notes.txt", &data),
    )
    .await;
    assert_eq!(resp.status().as_u16(), 201);
    assert_eq!(
        resp.headers()["etag"].to_str().unwrap(),
        etag_of(&data),
        "the ETag of the stored file"
    );
    let body = resp.text().await.unwrap();
    assert_eq!(
        xml_value(&body, "Key").as_deref(),
        Some("docs/notes.txt"),
        "{body}"
    );
    assert_eq!(
        xml_value(&body, "Bucket").as_deref(),
        Some("uploads"),
        "{body}"
    );
    let got = s.get_object("uploads", "docs/notes.txt").await;
    assert_eq!(got.content_type(), Some("text/plain"));
    assert_eq!(
        got.metadata()
            .and_then(|m| m.get("colour"))
            .map(String::as_str),
        Some("blue")
    );
    assert_eq!(body_of(got).await, data);
    let tags = s
        .client
        .get_object_tagging()
        .bucket("uploads")
        .key("docs/notes.txt")
        .send()
        .await
        .unwrap();
    let tags: Vec<_> = tags
        .tag_set()
        .iter()
        .map(|t| (t.key(), t.value()))
        .collect();
    assert_eq!(tags, [("team", "web")]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sigv2_form_is_taken_and_answered_204_by_default() {
    let s = TestServer::start_auth().await;
    s.create_bucket("uploads").await;
    let policy = b64(format!(
        r#"{{"expiration": "{LATER}", "conditions": [{{"bucket": "uploads"}}, {{"key": "v2.bin"}}]}}"#
    )
    .as_bytes());
    let mut m = Hmac::<sha1::Sha1>::new_from_slice(SECRET_KEY.as_bytes()).unwrap();
    m.update(policy.as_bytes());
    let signature = b64(&m.finalize().into_bytes());
    let fields = [
        ("key", "v2.bin"),
        ("AWSAccessKeyId", ACCESS_KEY),
        ("policy", policy.as_str()),
        ("signature", signature.as_str()),
    ];
    let resp = post(&s, "uploads", form(&fields, "x", b"sigv2 body")).await;
    assert_eq!(resp.status().as_u16(), 204, "{:?}", resp.text().await);
    assert_eq!(s.get("uploads", "v2.bin").await, b"sigv2 body");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_form_its_policy_does_not_allow_stores_nothing() {
    let s = TestServer::start_auth().await;
    s.create_bucket("uploads").await;
    let conditions =
        r#"{"bucket": "uploads"}, ["starts-with", "$key", "in/"], ["content-length-range", 5, 10]"#;
    let signed = sigv4_fields(conditions, SECRET_KEY, LATER);
    let key = [("key", "in/x")];
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        // Signed by someone who does not hold the secret.
        (
            form(
                &fields_of(&key, &sigv4_fields(conditions, "wrong", LATER)),
                "f",
                b"123456",
            ),
            403,
            "SignatureDoesNotMatch",
        ),
        (
            form(
                &fields_of(
                    &key,
                    &sigv4_fields(conditions, SECRET_KEY, "2001-01-01T00:00:00Z"),
                ),
                "f",
                b"123456",
            ),
            403,
            "AccessDenied",
        ),
        // A key outside the allowed prefix.
        (
            form(&fields_of(&[("key", "out/x")], &signed), "f", b"123456"),
            403,
            "AccessDenied",
        ),
        // A field that no condition covers.
        (
            form(
                &fields_of(&[("key", "in/x"), ("acl", "public-read")], &signed),
                "f",
                b"123456",
            ),
            403,
            "AccessDenied",
        ),
        // Outside the allowed sizes, either way.
        (
            form(&fields_of(&key, &signed), "f", &[7; 11]),
            400,
            "EntityTooLarge",
        ),
        (
            form(&fields_of(&key, &signed), "f", b"1234"),
            400,
            "EntityTooSmall",
        ),
        // No policy at all on a server with keys.
        (
            form(&[("key", "in/x")], "f", b"123456"),
            403,
            "AccessDenied",
        ),
        // Fields before the file larger than S3 takes.
        (
            form(
                &[("key", "in/x"), ("x-ignore-pad", &"p".repeat(30_000))],
                "f",
                b"123456",
            ),
            400,
            "MaxPostPreDataLengthExceededError",
        ),
    ];
    // An ACL the bucket cannot have is refused, not ignored, as S3 refuses it where objects
    // belong to the bucket owner.
    let acl_signed = sigv4_fields(
        r#"{"bucket": "uploads"}, ["starts-with", "$key", "in/"], {"acl": "public-read"}"#,
        SECRET_KEY,
        LATER,
    );
    let cases = cases.into_iter().chain([(
        form(
            &fields_of(&[("key", "in/x"), ("acl", "public-read")], &acl_signed),
            "f",
            b"123456",
        ),
        400,
        "AccessControlListNotSupported",
    )]);
    for (body, status, code) in cases {
        assert_refused(&s, post(&s, "uploads", body).await, status, code).await;
    }
    // A file bigger than the whole range is cut off as it streams, not held.
    let big = pattern(8 << 20, 1);
    assert_refused(
        &s,
        post(&s, "uploads", form(&fields_of(&key, &signed), "f", &big)).await,
        400,
        "EntityTooLarge",
    )
    .await;
    // Missing bucket.
    let resp = post(&s, "nope", form(&fields_of(&key, &signed), "f", b"123456")).await;
    assert_eq!(resp.status().as_u16(), 404);
    // And the same form within the rules goes through.
    let resp = post(
        &s,
        "uploads",
        form(&fields_of(&key, &signed), "f", b"123456"),
    )
    .await;
    assert_eq!(resp.status().as_u16(), 204);
    assert_eq!(s.get("uploads", "in/x").await, b"123456");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_form_can_redirect_and_carry_a_checksum() {
    let s = TestServer::start_auth().await;
    s.create_bucket("uploads").await;
    let data = b"checked bytes";
    let good = crc32_b64(data);
    let signed = sigv4_fields(
        r#"{"bucket": "uploads"}, ["starts-with", "$key", ""],
           ["starts-with", "$success_action_redirect", "https://app.example/"],
           ["starts-with", "$x-amz-checksum-crc32", ""]"#,
        SECRET_KEY,
        LATER,
    );
    let extra = [
        ("key", "c.bin"),
        ("success_action_redirect", "https://app.example/done?x=1"),
        ("x-amz-checksum-crc32", good.as_str()),
    ];
    let no_redirects = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = no_redirects
        .post(s.url("/uploads"))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(form(&fields_of(&extra, &signed), "f", data))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 303);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(
        location,
        format!(
            "https://app.example/done?x=1&bucket=uploads&key=c.bin&etag=%22{}%22",
            md5_hex(data)
        )
    );
    let head = s
        .client
        .head_object()
        .bucket("uploads")
        .key("c.bin")
        .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(head.checksum_crc32(), Some(good.as_str()));

    let bad = [
        ("key", "bad.bin"),
        ("success_action_redirect", "https://app.example/"),
        ("x-amz-checksum-crc32", "AAAAAA=="),
    ];
    let resp = post(&s, "uploads", form(&fields_of(&bad, &signed), "f", data)).await;
    assert_eq!(resp.status().as_u16(), 400);
    assert_eq!(
        xml_value(&resp.text().await.unwrap(), "Code").as_deref(),
        Some("BadDigest")
    );
    s.assert_no_such_key("uploads", "bad.bin").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_without_keys_takes_a_form_without_a_policy() {
    let s = TestServer::start().await;
    s.create_bucket("open").await;
    let resp = post(&s, "open", form(&[("key", "anon.txt")], "a", b"hello")).await;
    assert_eq!(resp.status().as_u16(), 204);
    assert_eq!(s.get("open", "anon.txt").await, b"hello");
    // Without a key field there is nothing to name the object.
    let resp = post(&s, "open", form(&[], "a", b"hello")).await;
    assert_eq!(resp.status().as_u16(), 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_form_upload_into_a_versioned_bucket_names_its_version() {
    let s = TestServer::start().await;
    s.create_bucket("versioned").await;
    s.client
        .put_bucket_versioning()
        .bucket("versioned")
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let mut ids = Vec::new();
    for body in [&b"first"[..], b"second"] {
        let resp = post(&s, "versioned", form(&[("key", "v.txt")], "f", body)).await;
        assert_eq!(resp.status().as_u16(), 204);
        ids.push(
            resp.headers()["x-amz-version-id"]
                .to_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_ne!(ids[0], ids[1]);
    let old = s
        .client
        .get_object()
        .bucket("versioned")
        .key("v.txt")
        .version_id(&ids[0])
        .send()
        .await
        .unwrap();
    assert_eq!(body_of(old).await, b"first");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_form_upload_takes_object_lock_fields_where_the_bucket_has_lock() {
    let s = TestServer::start().await;
    s.client
        .create_bucket()
        .bucket("locked")
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap();
    let fields = [
        ("key", "held.txt"),
        ("x-amz-object-lock-mode", "GOVERNANCE"),
        (
            "x-amz-object-lock-retain-until-date",
            "2099-01-01T00:00:00Z",
        ),
        ("x-amz-object-lock-legal-hold", "ON"),
    ];
    let resp = post(&s, "locked", form(&fields, "f", b"kept")).await;
    assert_eq!(resp.status().as_u16(), 204);
    let head = s.head("locked", "held.txt").await;
    assert_eq!(
        head.object_lock_mode(),
        Some(&aws_sdk_s3::types::ObjectLockMode::Governance)
    );
    assert_eq!(
        head.object_lock_legal_hold_status(),
        Some(&aws_sdk_s3::types::ObjectLockLegalHoldStatus::On)
    );
    // Where the bucket has no lock, the fields are refused and nothing is stored.
    s.create_bucket("uploads").await;
    let resp = post(&s, "uploads", form(&fields, "f", b"kept")).await;
    assert_refused(&s, resp, 400, "InvalidRequest").await;
}
