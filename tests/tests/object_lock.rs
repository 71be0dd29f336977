//! Object lock: a bucket made with lock enabled keeps versioning Enabled; its configuration
//! (default retention) reads back and is checked as S3 checks it, with or without S3's
//! namespace; each version's retention and legal hold are set by their own requests or by the
//! headers of a write, read back, shown on HEAD and GET, and kept when a version becomes
//! noncurrent; a locked version is never removed for good (COMPLIANCE, legal hold) or only with
//! the bypass header (GOVERNANCE), while a delete without a version id still adds a marker.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{
    BucketVersioningStatus, DefaultRetention, Delete, ObjectIdentifier, ObjectLockConfiguration,
    ObjectLockEnabled, ObjectLockLegalHold, ObjectLockLegalHoldStatus, ObjectLockMode,
    ObjectLockRetention, ObjectLockRetentionMode, ObjectLockRule, VersioningConfiguration,
};

use crate::common::*;

const DAY: u64 = 86_400;

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A date `days` from now, whole seconds.
fn in_days(days: i64) -> DateTime {
    DateTime::from_secs(now_secs() + days * DAY as i64)
}

async fn locked_server() -> TestServer {
    locked_on(TestServer::start().await).await
}

/// Bucket `bkt` on `s`, made with object lock on.
pub(crate) async fn locked_on(s: TestServer) -> TestServer {
    s.client
        .create_bucket()
        .bucket("bkt")
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    s
}

/// Runs the object lock scenarios any remote that keeps versions passes on a server of `$start`
/// (a future of a [`TestServer`] and what it stands on, kept until the scenario ends), with
/// bucket `bkt` made locked; each test carries the attribute given.
macro_rules! object_lock_scenarios {
    (#[$m:meta] $start:expr) => {
        $crate::object_lock::object_lock_scenarios!(@each #[$m] $start, [
            compliance_and_legal_hold_never_yield_and_governance_yields_to_the_bypass,
            a_veeam_like_sequence,
        ]);
    };
    (@each #[$m:meta] $start:expr, [$($name:ident),* $(,)?]) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        #[$m]
        async fn $name() {
            let (s, _keep) = $start.await;
            $crate::object_lock::$name($crate::object_lock::locked_on(s).await).await;
        }
    )*};
}
pub(crate) use object_lock_scenarios;

/// On a local directory.
mod local {
    use crate::common::TestServer;

    async fn start() -> (TestServer, ()) {
        (TestServer::start().await, ())
    }

    object_lock_scenarios!(
        #[doc = "On a local directory."]
        start()
    );
}

/// Puts `data` at `key`, answering its version id.
async fn put(s: &TestServer, key: &str, data: &[u8]) -> String {
    let out = s
        .client
        .put_object()
        .bucket("bkt")
        .key(key)
        .body(ByteStream::from(data.to_vec()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    out.version_id().expect("a version id").to_string()
}

fn retention(mode: ObjectLockRetentionMode, until: DateTime) -> ObjectLockRetention {
    ObjectLockRetention::builder()
        .mode(mode)
        .retain_until_date(until)
        .build()
}

async fn set_retention(
    s: &TestServer,
    key: &str,
    version: &str,
    r: ObjectLockRetention,
    bypass: bool,
) -> Result<(), (u16, String)> {
    let mut req = s
        .client
        .put_object_retention()
        .bucket("bkt")
        .key(key)
        .version_id(version)
        .retention(r);
    if bypass {
        req = req.bypass_governance_retention(true);
    }
    outcome(req.send().await)
}

async fn set_hold(s: &TestServer, key: &str, version: &str, on: bool) {
    let status = match on {
        true => ObjectLockLegalHoldStatus::On,
        false => ObjectLockLegalHoldStatus::Off,
    };
    s.client
        .put_object_legal_hold()
        .bucket("bkt")
        .key(key)
        .version_id(version)
        .legal_hold(ObjectLockLegalHold::builder().status(status).build())
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
}

/// DeleteObject of a version: `Ok` or the status and code refused with.
async fn delete_version(
    s: &TestServer,
    key: &str,
    version: &str,
    bypass: bool,
) -> Result<(), (u16, String)> {
    let mut req = s
        .client
        .delete_object()
        .bucket("bkt")
        .key(key)
        .version_id(version);
    if bypass {
        req = req.bypass_governance_retention(true);
    }
    outcome(req.send().await)
}

/// What a lock's refusal answers.
fn denied() -> Result<(), (u16, String)> {
    Err((403, "AccessDenied".to_string()))
}

/// A raw unsigned request with a body and its Content-MD5: status and body.
async fn send_doc(s: &TestServer, method: reqwest::Method, path: &str, doc: &str) -> (u16, String) {
    let r = http()
        .request(method, s.url(path))
        .header("content-md5", content_md5(doc.as_bytes()))
        .body(doc.to_string())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

fn lock_config(mode: Option<(ObjectLockRetentionMode, i32)>) -> ObjectLockConfiguration {
    let mut c = ObjectLockConfiguration::builder().object_lock_enabled(ObjectLockEnabled::Enabled);
    if let Some((mode, days)) = mode {
        let d = DefaultRetention::builder().mode(mode).days(days).build();
        c = c.rule(ObjectLockRule::builder().default_retention(d).build());
    }
    c.build()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_locked_bucket_keeps_versions_and_its_configuration_round_trips() {
    let s = locked_server().await;
    let versioning = s
        .client
        .get_bucket_versioning()
        .bucket("bkt")
        .send()
        .await
        .unwrap();
    assert_eq!(versioning.status(), Some(&BucketVersioningStatus::Enabled));
    let got = s
        .client
        .get_object_lock_configuration()
        .bucket("bkt")
        .send()
        .await
        .unwrap();
    let config = got.object_lock_configuration().unwrap();
    assert_eq!(
        config.object_lock_enabled(),
        Some(&ObjectLockEnabled::Enabled)
    );
    assert!(config.rule().is_none());

    s.client
        .put_object_lock_configuration()
        .bucket("bkt")
        .object_lock_configuration(lock_config(Some((ObjectLockRetentionMode::Governance, 3))))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    let got = s
        .client
        .get_object_lock_configuration()
        .bucket("bkt")
        .send()
        .await
        .unwrap();
    let d = got
        .object_lock_configuration()
        .and_then(|c| c.rule())
        .and_then(|r| r.default_retention())
        .unwrap();
    assert_eq!(d.mode(), Some(&ObjectLockRetentionMode::Governance));
    assert_eq!((d.days(), d.years()), (Some(3), None));

    // Versioning stays Enabled: suspending it is refused.
    let suspend = s
        .client
        .put_bucket_versioning()
        .bucket("bkt")
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Suspended)
                .build(),
        )
        .send()
        .await;
    expect_error(suspend, 409, "InvalidBucketState");
}

#[tokio::test(flavor = "multi_thread")]
async fn lock_configurations_are_checked_and_need_versioning() {
    let s = locked_server().await;
    let doc = |inner: &str| {
        format!(
            "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled>\
             <Rule><DefaultRetention>{inner}</DefaultRetention></Rule></ObjectLockConfiguration>"
        )
    };
    for (body, code) in [
        (
            doc("<Mode>GOVERNANCE</Mode><Days>0</Days>"),
            "InvalidRetentionPeriod",
        ),
        (
            doc("<Mode>COMPLIANCE</Mode><Years>-2</Years>"),
            "InvalidRetentionPeriod",
        ),
        (
            doc("<Mode>GOVERNANCE</Mode><Days>1</Days><Years>1</Years>"),
            "MalformedXML",
        ),
        (doc("<Mode>GOVERNANCE</Mode>"), "MalformedXML"),
        (doc("<Mode>WHATEVER</Mode><Days>1</Days>"), "MalformedXML"),
        ("<ObjectLockConfiguration/>".to_string(), "MalformedXML"),
        ("<Nonsense".to_string(), "MalformedXML"),
    ] {
        let (status, text) = send_doc(&s, reqwest::Method::PUT, "/bkt?object-lock", &body).await;
        assert_eq!(status, 400, "{body}: {text}");
        assert_eq!(xml_value(&text, "Code").as_deref(), Some(code), "{body}");
    }
    // Without a digest, as S3 refuses it.
    let r = http()
        .put(s.url("/bkt?object-lock"))
        .body(doc("<Mode>GOVERNANCE</Mode><Days>1</Days>"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);

    // A bucket without lock has no configuration; it takes one once versioning is Enabled.
    s.create_bucket("plain").await;
    expect_error(
        s.client
            .get_object_lock_configuration()
            .bucket("plain")
            .send()
            .await,
        404,
        "ObjectLockConfigurationNotFoundError",
    );
    let enable = || {
        s.client
            .put_object_lock_configuration()
            .bucket("plain")
            .object_lock_configuration(lock_config(None))
            .send()
    };
    expect_error(enable().await, 409, "InvalidBucketState");
    enable_versioning(&s.client, "plain").await;
    enable()
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    let got = s
        .client
        .get_object_lock_configuration()
        .bucket("plain")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.object_lock_configuration()
            .and_then(|c| c.object_lock_enabled()),
        Some(&ObjectLockEnabled::Enabled)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn documents_without_the_namespace_are_read() {
    let s = locked_server().await;
    let doc = "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule>\
               <DefaultRetention><Mode>COMPLIANCE</Mode><Years>1</Years></DefaultRetention>\
               </Rule></ObjectLockConfiguration>";
    let (status, text) = send_doc(&s, reqwest::Method::PUT, "/bkt?object-lock", doc).await;
    assert_eq!(status, 200, "{text}");
    let r = http().get(s.url("/bkt?object-lock")).send().await.unwrap();
    let text = r.text().await.unwrap();
    assert_eq!(xml_value(&text, "Mode").as_deref(), Some("COMPLIANCE"));
    assert_eq!(xml_value(&text, "Years").as_deref(), Some("1"));

    let v = put(&s, "k", b"data").await;
    let hold = "<LegalHold><Status>ON</Status></LegalHold>";
    let path = format!("/bkt/k?legal-hold&versionId={v}");
    let (status, text) = send_doc(&s, reqwest::Method::PUT, &path, hold).await;
    assert_eq!(status, 200, "{text}");
    let r = http().get(s.url(&path)).send().await.unwrap();
    assert_eq!(
        xml_value(&r.text().await.unwrap(), "Status").as_deref(),
        Some("ON")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn retention_and_legal_hold_round_trip_and_show_on_head_and_get() {
    let s = locked_server().await;
    let v = put(&s, "k", b"data").await;
    let get_retention = || {
        s.client
            .get_object_retention()
            .bucket("bkt")
            .key("k")
            .version_id(&v)
            .send()
    };
    let get_hold = || {
        s.client
            .get_object_legal_hold()
            .bucket("bkt")
            .key("k")
            .version_id(&v)
            .send()
    };
    expect_error(get_retention().await, 404, "NoSuchObjectLockConfiguration");
    expect_error(get_hold().await, 404, "NoSuchObjectLockConfiguration");
    let head = s.head("bkt", "k").await;
    assert_eq!(head.object_lock_mode(), None);

    let until = in_days(2);
    set_retention(
        &s,
        "k",
        &v,
        retention(ObjectLockRetentionMode::Governance, until),
        false,
    )
    .await
    .unwrap();
    set_hold(&s, "k", &v, true).await;
    let r = get_retention().await.unwrap();
    let r = r.retention().unwrap();
    assert_eq!(r.mode(), Some(&ObjectLockRetentionMode::Governance));
    assert_eq!(r.retain_until_date(), Some(&until));
    let hold = get_hold().await.unwrap();
    assert_eq!(
        hold.legal_hold().and_then(|h| h.status()),
        Some(&ObjectLockLegalHoldStatus::On)
    );

    let head = s.head("bkt", "k").await;
    assert_eq!(head.object_lock_mode(), Some(&ObjectLockMode::Governance));
    assert_eq!(head.object_lock_retain_until_date(), Some(&until));
    assert_eq!(
        head.object_lock_legal_hold_status(),
        Some(&ObjectLockLegalHoldStatus::On)
    );
    let got = s.get_object("bkt", "k").await;
    assert_eq!(got.object_lock_mode(), Some(&ObjectLockMode::Governance));
    assert_eq!(got.object_lock_retain_until_date(), Some(&until));
    assert_eq!(
        got.object_lock_legal_hold_status(),
        Some(&ObjectLockLegalHoldStatus::On)
    );

    // An overwrite makes it noncurrent: its lock stays with it, and the new version has none.
    let v2 = put(&s, "k", b"newer").await;
    let r = get_retention().await.unwrap();
    assert_eq!(r.retention().unwrap().retain_until_date(), Some(&until));
    assert_eq!(s.head("bkt", "k").await.object_lock_mode(), None);
    let head_old = s
        .client
        .head_object()
        .bucket("bkt")
        .key("k")
        .version_id(&v)
        .send()
        .await
        .unwrap();
    assert_eq!(
        head_old.object_lock_mode(),
        Some(&ObjectLockMode::Governance)
    );
    assert_eq!(delete_version(&s, "k", &v, true).await, denied());
    delete_version(&s, "k", &v2, false).await.unwrap();

    // In a bucket without lock, none of it is possible.
    s.create_bucket("plain").await;
    s.put("plain", "k", b"x".to_vec()).await;
    let r = s
        .client
        .put_object_retention()
        .bucket("plain")
        .key("k")
        .retention(retention(ObjectLockRetentionMode::Governance, in_days(1)))
        .send()
        .await;
    expect_error(r, 400, "InvalidRequest");
    let r = s
        .client
        .get_object_legal_hold()
        .bucket("plain")
        .key("k")
        .send()
        .await;
    expect_error(r, 400, "InvalidRequest");
}

#[tokio::test(flavor = "multi_thread")]
async fn writes_take_lock_headers_and_the_default_retention() {
    let s = locked_server().await;
    let until = in_days(5);
    s.client
        .put_object()
        .bucket("bkt")
        .key("put")
        .object_lock_mode(ObjectLockMode::Compliance)
        .object_lock_retain_until_date(until)
        .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::Off)
        .body(ByteStream::from_static(b"p"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    let head = s.head("bkt", "put").await;
    assert_eq!(head.object_lock_mode(), Some(&ObjectLockMode::Compliance));
    assert_eq!(head.object_lock_retain_until_date(), Some(&until));
    assert_eq!(
        head.object_lock_legal_hold_status(),
        Some(&ObjectLockLegalHoldStatus::Off)
    );

    // A copy takes its own lock headers, never its source's.
    s.copy("bkt", "copy", "bkt/put").send().await.unwrap();
    let head = s.head("bkt", "copy").await;
    assert_eq!(head.object_lock_mode(), None);
    assert_eq!(head.object_lock_legal_hold_status(), None);
    s.copy("bkt", "copy2", "bkt/put")
        .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
        .send()
        .await
        .unwrap();
    let head = s.head("bkt", "copy2").await;
    assert_eq!(
        head.object_lock_legal_hold_status(),
        Some(&ObjectLockLegalHoldStatus::On)
    );
    assert_eq!(head.object_lock_mode(), None);

    // A multipart upload keeps them until Complete.
    let up = s
        .client
        .create_multipart_upload()
        .bucket("bkt")
        .key("mp")
        .object_lock_mode(ObjectLockMode::Governance)
        .object_lock_retain_until_date(until)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    let id = up.upload_id().unwrap();
    let part = s
        .client
        .upload_part()
        .bucket("bkt")
        .key("mp")
        .upload_id(id)
        .part_number(1)
        .body(ByteStream::from_static(b"part"))
        .send()
        .await
        .unwrap();
    complete_upload(
        &s.client,
        "bkt",
        "mp",
        id,
        numbered_parts(&[part.e_tag().unwrap()]),
    )
    .send()
    .await
    .unwrap_or_else(|e| panic!("{}", describe(&e)));
    let head = s.head("bkt", "mp").await;
    assert_eq!(head.object_lock_mode(), Some(&ObjectLockMode::Governance));
    assert_eq!(head.object_lock_retain_until_date(), Some(&until));

    // The default retention is stamped on each new version when it is written; a writer's
    // own retention wins over it.
    s.client
        .put_object_lock_configuration()
        .bucket("bkt")
        .object_lock_configuration(lock_config(Some((ObjectLockRetentionMode::Compliance, 2))))
        .send()
        .await
        .unwrap();
    let before = now_secs();
    let v_new = put(&s, "stamped", b"s").await;
    let head = s.head("bkt", "stamped").await;
    assert_eq!(head.object_lock_mode(), Some(&ObjectLockMode::Compliance));
    let stamped = head.object_lock_retain_until_date().unwrap().secs();
    let two_days = 2 * DAY as i64;
    assert!(
        (before + two_days..=now_secs() + two_days).contains(&stamped),
        "{stamped} is not two days after {before}"
    );
    assert_eq!(delete_version(&s, "stamped", &v_new, true).await, denied());
    s.client
        .put_object()
        .bucket("bkt")
        .key("own")
        .object_lock_mode(ObjectLockMode::Governance)
        .object_lock_retain_until_date(until)
        .body(ByteStream::from_static(b"o"))
        .send()
        .await
        .unwrap();
    let head = s.head("bkt", "own").await;
    assert_eq!(head.object_lock_mode(), Some(&ObjectLockMode::Governance));
    assert_eq!(head.object_lock_retain_until_date(), Some(&until));
}

#[tokio::test(flavor = "multi_thread")]
async fn lock_headers_are_checked() {
    let s = locked_server().await;
    let raw = |headers: Vec<(&'static str, String)>, bucket: &'static str| {
        let mut r = http().put(s.url(&format!("/{bucket}/k"))).body("x");
        for (n, v) in headers {
            r = r.header(n, v);
        }
        r.send()
    };
    let future = "2099-01-01T00:00:00.000Z".to_string();
    for (headers, code) in [
        (
            vec![("x-amz-object-lock-mode", "GOVERNANCE".to_string())],
            "InvalidArgument",
        ),
        (
            vec![("x-amz-object-lock-retain-until-date", future.clone())],
            "InvalidArgument",
        ),
        (
            vec![
                ("x-amz-object-lock-mode", "LOOSE".to_string()),
                ("x-amz-object-lock-retain-until-date", future.clone()),
            ],
            "InvalidArgument",
        ),
        (
            vec![
                ("x-amz-object-lock-mode", "GOVERNANCE".to_string()),
                (
                    "x-amz-object-lock-retain-until-date",
                    "2001-01-01T00:00:00Z".into(),
                ),
            ],
            "InvalidArgument",
        ),
        (
            vec![("x-amz-object-lock-legal-hold", "MAYBE".to_string())],
            "InvalidArgument",
        ),
    ] {
        let r = raw(headers.clone(), "bkt").await.unwrap();
        assert_eq!(r.status().as_u16(), 400, "{headers:?}");
        let text = r.text().await.unwrap();
        assert_eq!(
            xml_value(&text, "Code").as_deref(),
            Some(code),
            "{headers:?}"
        );
    }
    // A lock is taken only with a digest of the body.
    let hold = || vec![("x-amz-object-lock-legal-hold", "ON".to_string())];
    let r = raw(hold(), "bkt").await.unwrap();
    expect_s3_error(r, 400, "InvalidRequest").await;
    let with_md5 = [hold(), vec![("content-md5", content_md5(b"x"))]].concat();
    let r = raw(with_md5, "bkt").await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    s.client
        .put_object_legal_hold()
        .bucket("bkt")
        .key("k")
        .legal_hold(
            ObjectLockLegalHold::builder()
                .status(ObjectLockLegalHoldStatus::Off)
                .build(),
        )
        .send()
        .await
        .unwrap();
    s.delete("bkt", "k").await;
    s.create_bucket("plain").await;
    let r = raw(vec![("x-amz-object-lock-legal-hold", "ON".into())], "plain")
        .await
        .unwrap();
    expect_s3_error(r, 400, "InvalidRequest").await;
    // Nothing was written by a refused request.
    s.assert_no_such_key("bkt", "k").await;
    s.assert_no_such_key("plain", "k").await;
}

pub(crate) async fn compliance_and_legal_hold_never_yield_and_governance_yields_to_the_bypass(
    s: TestServer,
) {
    let comp = put(&s, "comp", b"c").await;
    let until = in_days(3);
    set_retention(
        &s,
        "comp",
        &comp,
        retention(ObjectLockRetentionMode::Compliance, until),
        false,
    )
    .await
    .unwrap();
    assert_eq!(delete_version(&s, "comp", &comp, false).await, denied());
    assert_eq!(delete_version(&s, "comp", &comp, true).await, denied());
    // Shortening or weakening COMPLIANCE is refused even with the bypass; extending is not.
    let shorter = retention(ObjectLockRetentionMode::Compliance, in_days(1));
    assert_eq!(
        set_retention(&s, "comp", &comp, shorter, true).await,
        denied()
    );
    let weaker = retention(ObjectLockRetentionMode::Governance, in_days(9));
    assert_eq!(
        set_retention(&s, "comp", &comp, weaker, true).await,
        denied()
    );
    let longer = retention(ObjectLockRetentionMode::Compliance, in_days(4));
    set_retention(&s, "comp", &comp, longer, false)
        .await
        .unwrap();

    // A delete without a version id still adds a marker; the locked version stays.
    let marker = s.delete("bkt", "comp").await;
    assert_eq!(marker.delete_marker(), Some(true));
    let marker_id = marker.version_id().unwrap().to_string();
    let old = s
        .client
        .get_object()
        .bucket("bkt")
        .key("comp")
        .version_id(&comp)
        .send()
        .await
        .unwrap();
    assert_eq!(body_of(old).await, b"c");
    // The marker itself holds no lock.
    delete_version(&s, "comp", &marker_id, false).await.unwrap();
    assert_eq!(s.get("bkt", "comp").await, b"c");

    // A legal hold holds until it is turned off.
    let held = put(&s, "held", b"h").await;
    set_hold(&s, "held", &held, true).await;
    assert_eq!(delete_version(&s, "held", &held, true).await, denied());
    set_hold(&s, "held", &held, false).await;
    delete_version(&s, "held", &held, false).await.unwrap();

    // GOVERNANCE: refused without the bypass, which lifts it.
    let gov = put(&s, "gov", b"g").await;
    set_retention(
        &s,
        "gov",
        &gov,
        retention(ObjectLockRetentionMode::Governance, until),
        false,
    )
    .await
    .unwrap();
    assert_eq!(delete_version(&s, "gov", &gov, false).await, denied());
    let shorter = retention(ObjectLockRetentionMode::Governance, in_days(1));
    assert_eq!(
        set_retention(&s, "gov", &gov, shorter.clone(), false).await,
        denied()
    );
    set_retention(&s, "gov", &gov, shorter, true).await.unwrap();
    delete_version(&s, "gov", &gov, true).await.unwrap();
    s.assert_no_such_key("bkt", "gov").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_objects_answers_access_denied_per_locked_key() {
    let s = locked_server().await;
    let locked = put(&s, "locked", b"l").await;
    let free = put(&s, "free", b"f").await;
    let gov = put(&s, "gov", b"g").await;
    set_retention(
        &s,
        "locked",
        &locked,
        retention(ObjectLockRetentionMode::Compliance, in_days(1)),
        false,
    )
    .await
    .unwrap();
    set_retention(
        &s,
        "gov",
        &gov,
        retention(ObjectLockRetentionMode::Governance, in_days(1)),
        false,
    )
    .await
    .unwrap();
    let id = |k: &str, v: &str| {
        ObjectIdentifier::builder()
            .key(k)
            .version_id(v)
            .build()
            .unwrap()
    };
    let objects = vec![
        id("locked", &locked),
        id("free", &free),
        id("gov", &gov),
        ObjectIdentifier::builder().key("locked").build().unwrap(),
    ];
    let delete = |objects: Vec<ObjectIdentifier>, bypass: bool| {
        let mut req = s.client.delete_objects().bucket("bkt").delete(
            Delete::builder()
                .set_objects(Some(objects))
                .build()
                .unwrap(),
        );
        if bypass {
            req = req.bypass_governance_retention(true);
        }
        req.send()
    };
    let out = delete(objects, false).await.unwrap();
    let mut refused: Vec<_> = out
        .errors()
        .iter()
        .map(|e| (e.key().unwrap(), e.version_id().unwrap(), e.code().unwrap()))
        .collect();
    refused.sort();
    assert_eq!(
        refused,
        [
            ("gov", gov.as_str(), "AccessDenied"),
            ("locked", locked.as_str(), "AccessDenied")
        ]
    );
    let deleted: Vec<_> = out.deleted().iter().map(|d| d.key().unwrap()).collect();
    assert_eq!(deleted, ["free", "locked"]);
    assert!(out.deleted()[1].delete_marker() == Some(true));
    // The bypass lifts GOVERNANCE only.
    let out = delete(vec![id("gov", &gov), id("locked", &locked)], true)
        .await
        .unwrap();
    assert_eq!(out.deleted().len(), 1);
    assert_eq!(out.deleted()[0].key(), Some("gov"));
    assert_eq!(out.errors().len(), 1);
    assert_eq!(out.errors()[0].code(), Some("AccessDenied"));
}

/// What Veeam does against an immutable repository: it reads `?object-lock` first, writes
/// objects, then sets each version's retention with a document without S3's namespace, reads
/// it back, and later extends it; deleting before the date fails.
pub(crate) async fn a_veeam_like_sequence(s: TestServer) {
    let r = http().get(s.url("/bkt?object-lock")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let text = r.text().await.unwrap();
    assert_eq!(
        xml_value(&text, "ObjectLockEnabled").as_deref(),
        Some("Enabled")
    );
    let r = http().get(s.url("/bkt?versioning")).send().await.unwrap();
    assert_eq!(
        xml_value(&r.text().await.unwrap(), "Status").as_deref(),
        Some("Enabled")
    );

    let v = put(&s, "Veeam/Backup/blocks/0001", b"block").await;
    let path = format!("/bkt/Veeam/Backup/blocks/0001?retention&versionId={v}");
    let retention = |date: &str| {
        format!("<Retention><Mode>COMPLIANCE</Mode><RetainUntilDate>{date}</RetainUntilDate></Retention>")
    };
    let (status, text) = send_doc(
        &s,
        reqwest::Method::PUT,
        &path,
        &retention("2098-06-01T00:00:00Z"),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let r = http().get(s.url(&path)).send().await.unwrap();
    let text = r.text().await.unwrap();
    assert_eq!(xml_value(&text, "Mode").as_deref(), Some("COMPLIANCE"));
    assert_eq!(
        xml_value(&text, "RetainUntilDate").as_deref(),
        Some("2098-06-01T00:00:00.000Z")
    );
    // Extending is allowed, shortening is not.
    let (status, _) = send_doc(
        &s,
        reqwest::Method::PUT,
        &path,
        &retention("2099-06-01T00:00:00.000Z"),
    )
    .await;
    assert_eq!(status, 200);
    let (status, text) = send_doc(
        &s,
        reqwest::Method::PUT,
        &path,
        &retention("2098-06-01T00:00:00Z"),
    )
    .await;
    assert_eq!(
        (status, xml_value(&text, "Code").as_deref()),
        (403, Some("AccessDenied"))
    );
    let head = http()
        .head(s.url("/bkt/Veeam/Backup/blocks/0001"))
        .send()
        .await
        .unwrap();
    let h = |n: &str| {
        head.headers()
            .get(n)
            .map(|v| v.to_str().unwrap().to_string())
    };
    assert_eq!(h("x-amz-object-lock-mode").as_deref(), Some("COMPLIANCE"));
    assert_eq!(
        h("x-amz-object-lock-retain-until-date").as_deref(),
        Some("2099-06-01T00:00:00.000Z")
    );
    let r = http()
        .delete(s.url(&format!("/bkt/Veeam/Backup/blocks/0001?versionId={v}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(s.get("bkt", "Veeam/Backup/blocks/0001").await, b"block");
}

/// The bypass is the bucket owner's (and administrators'): a user's key asks for it in vain in
/// a bucket it did not make, and gets it in one it did.
#[tokio::test(flavor = "multi_thread")]
async fn only_the_owner_or_an_administrator_bypasses_governance() {
    let s = TestServer::start_with_users(
        "[[users]]\naccess_key = \"TEAMA\"\nsecret_key = \"team-a-secret\"\nbuckets = [\"shared-*\", \"team-a\"]\n",
    )
    .await;
    let user = client_for(s.addr, "TEAMA", "team-a-secret");
    let admin = &s.client;
    let until = in_days(1);
    for (maker, bucket) in [(admin, "shared-lock"), (&user, "team-a")] {
        maker
            .create_bucket()
            .bucket(bucket)
            .object_lock_enabled_for_bucket(true)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{}", describe(&e)));
    }
    let mut versions = Vec::new();
    for bucket in ["shared-lock", "team-a"] {
        let out = user
            .put_object()
            .bucket(bucket)
            .key("k")
            .object_lock_mode(ObjectLockMode::Governance)
            .object_lock_retain_until_date(until)
            .body(ByteStream::from_static(b"g"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{}", describe(&e)));
        versions.push(out.version_id().unwrap().to_string());
    }
    let delete = |c: &aws_sdk_s3::Client, bucket: &'static str, v: String| {
        c.delete_object()
            .bucket(bucket)
            .key("k")
            .version_id(v)
            .bypass_governance_retention(true)
            .send()
    };
    expect_error(
        delete(&user, "shared-lock", versions[0].clone()).await,
        403,
        "AccessDenied",
    );
    delete(&user, "team-a", versions[1].clone())
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    delete(admin, "shared-lock", versions[0].clone())
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
}

/// Backup tools read the version id of every key, `dir/` placeholders included, and lock it.
#[tokio::test(flavor = "multi_thread")]
async fn folder_marker_versions_are_locked_like_any_version() {
    let s = locked_server().await;
    let v1 = put(&s, "dir/", b"").await;
    let v2 = put(&s, "dir/", b"").await;
    assert_ne!(v1, v2);
    let until = in_days(3);
    set_retention(
        &s,
        "dir/",
        &v1,
        retention(ObjectLockRetentionMode::Governance, until),
        false,
    )
    .await
    .unwrap();
    let got = s
        .client
        .get_object_retention()
        .bucket("bkt")
        .key("dir/")
        .version_id(&v1)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    assert_eq!(
        got.retention().and_then(|r| r.retain_until_date()),
        Some(&until)
    );
    assert_eq!(delete_version(&s, "dir/", &v1, false).await, denied());
    // The current marker under a legal hold: a delete without an id still adds a marker.
    set_hold(&s, "dir/", &v2, true).await;
    assert_eq!(delete_version(&s, "dir/", &v2, true).await, denied());
    let marker = s.delete("bkt", "dir/").await;
    assert_eq!(marker.delete_marker(), Some(true));
    let head = s
        .client
        .head_object()
        .bucket("bkt")
        .key("dir/")
        .version_id(&v2)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    assert_eq!(
        head.object_lock_legal_hold_status(),
        Some(&ObjectLockLegalHoldStatus::On)
    );
    set_hold(&s, "dir/", &v2, false).await;
    delete_version(&s, "dir/", &v2, false).await.unwrap();
    delete_version(&s, "dir/", &v1, true).await.unwrap();

    // The default retention is stamped on a new marker as on any version.
    s.client
        .put_object_lock_configuration()
        .bucket("bkt")
        .object_lock_configuration(lock_config(Some((ObjectLockRetentionMode::Compliance, 1))))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    let v3 = put(&s, "new/", b"").await;
    let head = s.head("bkt", "new/").await;
    assert_eq!(head.version_id(), Some(v3.as_str()));
    assert_eq!(head.object_lock_mode(), Some(&ObjectLockMode::Compliance));
    assert_eq!(delete_version(&s, "new/", &v3, true).await, denied());
}
