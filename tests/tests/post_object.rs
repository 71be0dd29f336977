//! Browser uploads (POST Object): `multipart/form-data` forms whose policy is signed with SigV4
//! or SigV2, as a web page built by an SDK's presigned POST sends them. A form its policy does
//! not allow, or changed in any piece its signature or policy covers, is refused and stores
//! nothing. A form signed by a user with a root of its own is stored in that root.

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
    sigv4_fields_by(ACCESS_KEY, secret, conditions, expiration)
}

/// The date a form's credential names.
const SIGNING_DATE: &str = "20261205";

/// The SigV4 signature of the (base64) policy `policy` by `secret` on [`SIGNING_DATE`].
fn sigv4_signature(secret: &str, policy: &str) -> String {
    let key = [SIGNING_DATE, "us-east-1", "s3", "aws4_request"]
        .iter()
        .fold(format!("AWS4{secret}").into_bytes(), |k, part| {
            hmac256(&k, part)
        });
    hex::encode(hmac256(&key, policy))
}

/// [`sigv4_fields`] signed by the holder of another key.
pub(crate) fn sigv4_fields_by(
    access_key: &str,
    secret: &str,
    conditions: &str,
    expiration: &str,
) -> Vec<(String, String)> {
    let credential = format!("{access_key}/{SIGNING_DATE}/us-east-1/s3/aws4_request");
    let amz_date = format!("{SIGNING_DATE}T000000Z");
    let policy = format!(
        r#"{{"expiration": "{expiration}", "conditions": [{conditions},
            {{"x-amz-algorithm": "AWS4-HMAC-SHA256"}}, {{"x-amz-credential": "{credential}"}},
            {{"x-amz-date": "{amz_date}"}}]}}"#
    );
    let policy = b64(policy.as_bytes());
    let signature = sigv4_signature(secret, &policy);
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

/// A form signed by a user with a root of its own is that user's upload: it lands in the root,
/// judged by the root's bucket (its ownership controls, its policy, its CORS rules), and a form
/// signed by anyone else never reaches a bucket that only the root holds.
#[tokio::test(flavor = "multi_thread")]
async fn a_form_signed_by_a_user_with_a_root_lands_in_that_root_only() {
    use aws_sdk_s3::types::{CorsConfiguration, CorsRule, ObjectOwnership};
    let outside = tempfile::tempdir().unwrap();
    let root = outside.path().join("tenant");
    std::fs::create_dir_all(&root).unwrap();
    let users_file = outside.path().join("users.toml");
    std::fs::write(
        &users_file,
        format!(
            "[[users]]\naccess_key = \"TENANT\"\nsecret_key = \"tenant-secret\"\nroot = {:?}\n\
             [[users]]\naccess_key = \"OTHER\"\nsecret_key = \"other-secret\"\nbuckets = [\"*\"]\n",
            root.display().to_string()
        ),
    )
    .unwrap();
    let s = TestServer::start_with(|c| {
        c.auth.keys = vec![format!("{ACCESS_KEY},{SECRET_KEY}").parse().unwrap()];
        c.auth.users_file = Some(users_file.clone());
    })
    .await;
    let tenant = client_for(s.addr, "TENANT", "tenant-secret");
    // "inbox" exists in the tenant's root only; "shared" on both sides, each its own.
    tenant
        .create_bucket()
        .bucket("inbox")
        .object_ownership(ObjectOwnership::ObjectWriter)
        .send()
        .await
        .unwrap();
    tenant
        .create_bucket()
        .bucket("shared")
        .send()
        .await
        .unwrap();
    s.create_bucket("shared").await;
    let conditions = |bucket: &str| {
        format!(
            r#"{{"bucket": "{bucket}"}}, ["starts-with", "$key", ""], ["starts-with", "$acl", ""]"#
        )
    };
    let by = |who: &str, secret: &str, bucket: &str| {
        sigv4_fields_by(who, secret, &conditions(bucket), LATER)
    };
    let send = |bucket: &str, fields: Vec<(&str, &str)>, body: &[u8], origin: Option<&str>| {
        let mut req = http()
            .post(s.url(&format!("/{bucket}")))
            .header(
                "content-type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(form(&fields, "f.txt", body));
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        req.send()
    };

    // The tenant's form goes into its root, with the ACL its bucket's ownership controls take
    // (ObjectWriter there; the served directory's buckets enforce the owner's).
    let signed = by("TENANT", "tenant-secret", "inbox");
    let extra = [("key", "docs/a.txt"), ("acl", "public-read")];
    let resp = send("inbox", fields_of(&extra, &signed), b"tenant's", None)
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204, "{:?}", resp.text().await);
    assert_eq!(
        std::fs::read(root.join("inbox/docs/a.txt")).unwrap(),
        b"tenant's"
    );
    let acl = tenant
        .get_object_acl()
        .bucket("inbox")
        .key("docs/a.txt")
        .send()
        .await
        .unwrap();
    assert!(
        acl.grants().iter().any(|g| g
            .grantee()
            .and_then(|g| g.uri())
            .is_some_and(|u| u.ends_with("/AllUsers"))),
        "{acl:?}"
    );
    assert!(!s.root().join("inbox").exists());

    // Anyone else names a bucket of the served directory: "inbox" is none there.
    let admin = by(ACCESS_KEY, SECRET_KEY, "inbox");
    let other = by("OTHER", "other-secret", "inbox");
    let key = [("key", "docs/b.txt"), ("acl", "private")];
    for fields in [
        fields_of(&key, &admin),
        fields_of(&key, &other),
        vec![key[0]],
    ] {
        let resp = send("inbox", fields, b"intruder", None).await.unwrap();
        assert_eq!(resp.status().as_u16(), 404);
        let body = resp.text().await.unwrap();
        assert_eq!(xml_value(&body, "Code").as_deref(), Some("NoSuchBucket"));
    }
    assert_eq!(files_under(&root.join("inbox")), ["docs/a.txt"]);

    // One name, two buckets: each signer's form goes to its own.
    let key = [("key", "k"), ("acl", "private")];
    let resp = send(
        "shared",
        fields_of(&key, &by("TENANT", "tenant-secret", "shared")),
        b"in the root",
        None,
    )
    .await
    .unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    let resp = send(
        "shared",
        fields_of(&key, &by(ACCESS_KEY, SECRET_KEY, "shared")),
        b"served",
        None,
    )
    .await
    .unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    assert_eq!(
        std::fs::read(root.join("shared/k")).unwrap(),
        b"in the root"
    );
    assert_eq!(s.get("shared", "k").await, b"served");

    // The root's bucket policy judges the tenant's form as it judges its PUTs.
    tenant
        .put_bucket_policy()
        .bucket("inbox")
        .policy(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::inbox/locked/*"}]}"#,
        )
        .send()
        .await
        .unwrap();
    let key = [("key", "locked/x"), ("acl", "private")];
    let resp = send("inbox", fields_of(&key, &signed), b"refused", None)
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    assert_eq!(
        xml_value(&resp.text().await.unwrap(), "Code").as_deref(),
        Some("AccessDenied")
    );
    assert!(!root.join("inbox/locked").exists());

    // The answer to a browser carries what the root's bucket grants its origin.
    tenant
        .put_bucket_cors()
        .bucket("inbox")
        .cors_configuration(
            CorsConfiguration::builder()
                .cors_rules(
                    CorsRule::builder()
                        .allowed_origins("https://app.example")
                        .allowed_methods("POST")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let key = [("key", "docs/c.txt"), ("acl", "private")];
    let resp = send(
        "inbox",
        fields_of(&key, &signed),
        b"from a page",
        Some("https://app.example"),
    )
    .await
    .unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    assert_eq!(
        resp.headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://app.example")
    );

    // A key that would climb out of a folder stays inside the root.
    let key = [("key", "../../../escape"), ("acl", "private")];
    let resp = send("inbox", fields_of(&key, &signed), b"climber", None)
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    let got = tenant
        .get_object()
        .bucket("inbox")
        .key("../../../escape")
        .send()
        .await
        .unwrap();
    assert_eq!(body_of(got).await, b"climber");
    let beside: Vec<String> = files_under(outside.path())
        .into_iter()
        .filter(|f| !f.starts_with("tenant/"))
        .collect();
    assert_eq!(beside, ["users.toml"], "nothing written beside the root");
    assert!(files_under(s.root()).iter().all(|f| !f.contains("escape")));
}

/// A form's fields, in order.
type FormFields = Vec<(String, String)>;

/// One forged form: what changed, its fields, its file, the bucket it is posted to, and the
/// status and code it must be answered.
type Forgery<'a> = (&'a str, FormFields, &'a [u8], &'a str, (u16, &'a str));

/// A form's fields with `name` set to `value` (added if absent), or removed (`None`).
fn changed(fields: &[(String, String)], name: &str, value: Option<&str>) -> FormFields {
    let mut out: FormFields = fields
        .iter()
        .filter(|(k, _)| k != name || value.is_some())
        .cloned()
        .collect();
    match (out.iter_mut().find(|(k, _)| k == name), value) {
        (Some(f), Some(v)) => f.1 = v.to_string(),
        (None, Some(v)) => out.push((name.to_string(), v.to_string())),
        _ => {}
    }
    out
}

/// `v` with its character at `at` changed to another digit, which base64 and hex (in either
/// case) both read as another value.
fn flip_at(v: &str, at: usize) -> String {
    let mut b = v.as_bytes().to_vec();
    b[at] = if b[at] == b'0' { b'1' } else { b'0' };
    String::from_utf8(b).unwrap()
}

/// Forgery of browser forms: a form signed as a page would get it (SigV4, then SigV2) is sent
/// once per change of a signed or policy-relevant piece — the policy's bytes, the signature,
/// each part of the credential, the date, the algorithm, a field removed — and once per
/// condition of its policy broken under a valid signature (key prefix, sizes, bucket, a field's
/// value, a field no condition covers, expiration, a policy S3 would not take). Each is refused
/// with S3's status and code and stores nothing; the unchanged forms are then taken.
#[tokio::test(flavor = "multi_thread")]
async fn every_change_to_a_signed_form_is_refused_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let users_file = dir.path().join("users.toml");
    std::fs::write(
        &users_file,
        "[[users]]\naccess_key = \"OTHER\"\nsecret_key = \"other-secret\"\nbuckets = [\"*\"]\n",
    )
    .unwrap();
    let s = TestServer::start_with(|c| {
        c.auth.keys = vec![format!("{ACCESS_KEY},{SECRET_KEY}").parse().unwrap()];
        c.auth.users_file = Some(users_file.clone());
    })
    .await;
    s.create_bucket("uploads").await;
    s.create_bucket("elsewhere").await;
    let conditions = r#"{"bucket": "uploads"}, ["starts-with", "$key", "in/"],
        ["content-length-range", 5, 10], ["eq", "$Content-Type", "text/plain"]"#;
    let page = [("key", "in/x"), ("Content-Type", "text/plain")];
    let with_page = |signed: &[(String, String)]| -> FormFields {
        page.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .chain(signed.iter().cloned())
            .collect()
    };
    let v4 = with_page(&sigv4_fields(conditions, SECRET_KEY, LATER));
    let field = |fields: &[(String, String)], name: &str| -> String {
        fields.iter().find(|(k, _)| k == name).unwrap().1.clone()
    };
    let policy = field(&v4, "policy");
    let credential = field(&v4, "x-amz-credential");
    let signature = field(&v4, "x-amz-signature");
    // A policy document of our own choosing, validly signed.
    let signed_doc = |doc: &str| {
        let p = b64(doc.as_bytes());
        let sig = sigv4_signature(SECRET_KEY, &p);
        changed(
            &changed(&v4, "policy", Some(&p)),
            "x-amz-signature",
            Some(&sig),
        )
    };
    let decoded = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(&policy)
            .unwrap(),
    )
    .unwrap();
    let widened = b64(decoded.replace(r#""in/""#, r#""""#).as_bytes());
    assert_ne!(widened, policy);

    let v2_policy =
        b64(format!(r#"{{"expiration": "{LATER}", "conditions": [{conditions}]}}"#).as_bytes());
    let v2_signature = |secret: &str, p: &str| {
        let mut m = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).unwrap();
        m.update(p.as_bytes());
        b64(&m.finalize().into_bytes())
    };
    let v2 = with_page(&[
        ("AWSAccessKeyId".to_string(), ACCESS_KEY.to_string()),
        ("policy".to_string(), v2_policy.clone()),
        (
            "signature".to_string(),
            v2_signature(SECRET_KEY, &v2_policy),
        ),
    ]);
    let v2_sig = field(&v2, "signature");

    const FILE: &[u8] = b"123456";
    let denied = (403, "AccessDenied");
    let mismatch = (403, "SignatureDoesNotMatch");
    let bad_argument = (400, "InvalidArgument");
    let bad_policy = (400, "InvalidPolicyDocument");
    let cred = |from: &str, to: &str| credential.replacen(from, to, 1);
    let cases: Vec<Forgery> = vec![
        // SigV4: what the signature covers.
        (
            "policy, one character",
            changed(&v4, "policy", Some(&flip_at(&policy, 20))),
            FILE,
            "uploads",
            mismatch,
        ),
        (
            "policy widened, signature kept",
            changed(&v4, "policy", Some(&widened)),
            FILE,
            "uploads",
            mismatch,
        ),
        (
            "signature, last digit",
            changed(
                &v4,
                "x-amz-signature",
                Some(&flip_at(&signature, signature.len() - 1)),
            ),
            FILE,
            "uploads",
            mismatch,
        ),
        (
            "signed with another secret",
            changed(
                &v4,
                "x-amz-signature",
                Some(&sigv4_signature("not-the-secret", &policy)),
            ),
            FILE,
            "uploads",
            mismatch,
        ),
        (
            "credential, unknown key",
            changed(&v4, "x-amz-credential", Some(&cred(ACCESS_KEY, "NOBODY"))),
            FILE,
            "uploads",
            (403, "InvalidAccessKeyId"),
        ),
        (
            "credential, another user's key",
            changed(&v4, "x-amz-credential", Some(&cred(ACCESS_KEY, "OTHER"))),
            FILE,
            "uploads",
            mismatch,
        ),
        (
            "credential, another date",
            changed(
                &v4,
                "x-amz-credential",
                Some(&cred(SIGNING_DATE, "20261206")),
            ),
            FILE,
            "uploads",
            mismatch,
        ),
        (
            "credential, another region",
            changed(
                &v4,
                "x-amz-credential",
                Some(&cred("us-east-1", "eu-west-1")),
            ),
            FILE,
            "uploads",
            mismatch,
        ),
        (
            "credential, another service",
            changed(&v4, "x-amz-credential", Some(&cred("/s3/", "/sts/"))),
            FILE,
            "uploads",
            mismatch,
        ),
        (
            "credential without its terminator",
            changed(&v4, "x-amz-credential", Some(&cred("/aws4_request", ""))),
            FILE,
            "uploads",
            bad_argument,
        ),
        // The date is not in the signature; the policy names it.
        (
            "date",
            changed(&v4, "x-amz-date", Some("20261205T000001Z")),
            FILE,
            "uploads",
            denied,
        ),
        (
            "algorithm",
            changed(&v4, "x-amz-algorithm", Some("AWS4-HMAC-SHA1")),
            FILE,
            "uploads",
            bad_argument,
        ),
        (
            "algorithm removed",
            changed(&v4, "x-amz-algorithm", None),
            FILE,
            "uploads",
            bad_argument,
        ),
        (
            "credential removed",
            changed(&v4, "x-amz-credential", None),
            FILE,
            "uploads",
            bad_argument,
        ),
        (
            "signature removed",
            changed(&v4, "x-amz-signature", None),
            FILE,
            "uploads",
            bad_argument,
        ),
        // Without its policy the form is anonymous, and the bucket is private.
        (
            "policy removed",
            changed(&v4, "policy", None),
            FILE,
            "uploads",
            denied,
        ),
        // Validly signed, outside what the policy allows.
        (
            "key outside the prefix",
            changed(&v4, "key", Some("out/x")),
            FILE,
            "uploads",
            denied,
        ),
        (
            "file above the range",
            v4.clone(),
            &[7; 11],
            "uploads",
            (400, "EntityTooLarge"),
        ),
        (
            "file below the range",
            v4.clone(),
            b"1234",
            "uploads",
            (400, "EntityTooSmall"),
        ),
        ("another bucket", v4.clone(), FILE, "elsewhere", denied),
        (
            "a field's value",
            changed(&v4, "Content-Type", Some("text/html")),
            FILE,
            "uploads",
            denied,
        ),
        (
            "a field no condition covers",
            changed(&v4, "x-amz-meta-extra", Some("1")),
            FILE,
            "uploads",
            denied,
        ),
        (
            "expired",
            with_page(&sigv4_fields(
                conditions,
                SECRET_KEY,
                "2001-01-01T00:00:00Z",
            )),
            FILE,
            "uploads",
            denied,
        ),
        // Validly signed policies S3 would not take.
        (
            "no bucket condition",
            signed_doc(&decoded.replace(r#"{"bucket": "uploads"},"#, "")),
            FILE,
            "uploads",
            bad_policy,
        ),
        (
            "no expiration",
            signed_doc(&decoded.replace(&format!(r#""expiration": "{LATER}","#), "")),
            FILE,
            "uploads",
            bad_policy,
        ),
        (
            "an unknown operator",
            signed_doc(&decoded.replace("starts-with", "ends-with")),
            FILE,
            "uploads",
            bad_policy,
        ),
        (
            "not JSON",
            signed_doc(&decoded.replace('{', "(")),
            FILE,
            "uploads",
            bad_policy,
        ),
        // SigV2.
        (
            "SigV2 policy, one character",
            changed(&v2, "policy", Some(&flip_at(&v2_policy, 20))),
            FILE,
            "uploads",
            mismatch,
        ),
        (
            "SigV2 signature, one character",
            changed(&v2, "signature", Some(&flip_at(&v2_sig, 3))),
            FILE,
            "uploads",
            mismatch,
        ),
        (
            "SigV2 unknown key",
            changed(&v2, "AWSAccessKeyId", Some("NOBODY")),
            FILE,
            "uploads",
            (403, "InvalidAccessKeyId"),
        ),
        (
            "SigV2 another user's key",
            changed(&v2, "AWSAccessKeyId", Some("OTHER")),
            FILE,
            "uploads",
            mismatch,
        ),
        (
            "SigV2 signed with another secret",
            changed(
                &v2,
                "signature",
                Some(&v2_signature("not-the-secret", &v2_policy)),
            ),
            FILE,
            "uploads",
            mismatch,
        ),
        (
            "SigV2 signature removed",
            changed(&v2, "signature", None),
            FILE,
            "uploads",
            bad_argument,
        ),
        (
            "SigV2 key removed",
            changed(&v2, "AWSAccessKeyId", None),
            FILE,
            "uploads",
            bad_argument,
        ),
    ];
    for (what, fields, file, bucket, (status, code)) in &cases {
        let fields: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let resp = post(&s, bucket, form(&fields, "f", file)).await;
        let got = resp.status().as_u16();
        let body = resp.text().await.unwrap();
        assert_eq!(
            (got, xml_value(&body, "Code").as_deref()),
            (*status, Some(*code)),
            "{what}: {body}"
        );
        for b in ["uploads", "elsewhere"] {
            assert!(s.list_keys(b).await.is_empty(), "{what} stored something");
        }
    }
    // The forms as signed are taken.
    for (fields, key) in [(v4, "in/x"), (changed(&v2, "key", Some("in/y")), "in/y")] {
        let fields: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let resp = post(&s, "uploads", form(&fields, "f", FILE)).await;
        assert_eq!(resp.status().as_u16(), 204, "{:?}", resp.text().await);
        assert_eq!(s.get("uploads", key).await, FILE);
    }
    assert_eq!(s.list_keys("uploads").await, ["in/x", "in/y"]);
    assert!(s.list_keys("elsewhere").await.is_empty());
}
