//! Bucket lifecycle: the configuration set, read back and removed with the SDK and checked as
//! S3 checks it (raw documents for what the SDK cannot send), and its rules run by the server's
//! housekeeping with "a day" shortened to a second (`--lifecycle-day`): expiration of current
//! versions (deleted, or covered by a delete marker in a versioned bucket), of noncurrent
//! versions, of lone delete markers, and of incomplete multipart uploads; filters; Disabled
//! rules; `x-amz-expiration`. Waits poll with a deadline.

use std::time::{Duration, SystemTime};

use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, ExpirationStatus, LifecycleExpiration, LifecycleRule,
    LifecycleRuleAndOperator, LifecycleRuleFilter, NoncurrentVersionExpiration, Tag,
};

use aws_sdk_s3::primitives::{DateTime, DateTimeFormat};

use crate::common::*;

async fn short_days() -> TestServer {
    let s = TestServer::start_with(|c| c.vfs.lifecycle_day = Duration::from_secs(1)).await;
    s.create_bucket("bkt").await;
    s
}

/// PUT `?lifecycle` with `doc`, with a Content-MD5: the status and the error code (if any).
async fn put_doc(s: &TestServer, bucket: &str, doc: &str) -> (u16, String, String) {
    let r = http()
        .put(s.url(&format!("/{bucket}?lifecycle")))
        .header("content-md5", content_md5(doc.as_bytes()))
        .body(doc.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let code = xml_value(&text, "Code").unwrap_or_default();
    let message = xml_value(&text, "Message").unwrap_or_default();
    (status, code, message)
}

/// Sets `rules` (the insides of a `LifecycleConfiguration`) on `bucket`.
async fn set_rules(s: &TestServer, bucket: &str, rules: &str) {
    let doc = format!("<LifecycleConfiguration>{rules}</LifecycleConfiguration>");
    let (status, code, message) = put_doc(s, bucket, &doc).await;
    assert_eq!(status, 200, "{code}: {message}");
}

async fn exists(s: &TestServer, bucket: &str, key: &str) -> bool {
    match s.client.head_object().bucket(bucket).key(key).send().await {
        Ok(_) => true,
        Err(e) => {
            assert_eq!(status_and_code(&e).0, 404, "{}", describe(&e));
            false
        }
    }
}

async fn gone(s: &TestServer, bucket: &str, key: &str) {
    eventually_async(&format!("{bucket}/{key} expired"), || async {
        !exists(s, bucket, key).await
    })
    .await;
}

/// Version ids of `key` (markers marked `M:`), newest first.
async fn versions(s: &TestServer, bucket: &str, key: &str) -> Vec<String> {
    let out = s
        .client
        .list_object_versions()
        .bucket(bucket)
        .prefix(key)
        .send()
        .await
        .unwrap();
    let mut all: Vec<(String, String, bool)> = out
        .versions()
        .iter()
        .map(|v| {
            let when = v.last_modified().unwrap().to_millis().unwrap();
            (
                format!("{when:020}"),
                v.version_id().unwrap().to_string(),
                false,
            )
        })
        .chain(out.delete_markers().iter().map(|m| {
            let when = m.last_modified().unwrap().to_millis().unwrap();
            (
                format!("{when:020}"),
                m.version_id().unwrap().to_string(),
                true,
            )
        }))
        .collect();
    // Version ids sort as they were made.
    all.sort_by(|a, b| b.1.cmp(&a.1));
    all.into_iter()
        .map(|(_, id, marker)| if marker { format!("M:{id}") } else { id })
        .collect()
}

async fn put_version(s: &TestServer, bucket: &str, key: &str, data: &[u8]) -> String {
    let out = s
        .client
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(data.to_vec().into())
        .send()
        .await
        .unwrap();
    out.version_id().unwrap().to_string()
}

/// The rule IDs and expiry dates in `x-amz-expiration`.
fn parse_expiration(header: &str) -> (SystemTime, String) {
    let date = header
        .split("expiry-date=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap();
    let rule = header
        .split("rule-id=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap();
    let date = DateTime::from_str(date, DateTimeFormat::HttpDate).unwrap();
    (SystemTime::try_from(date).unwrap(), rule.to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_configuration_reads_back_as_set_and_goes_when_deleted() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    let c = &s.client;
    let rules = vec![
        LifecycleRule::builder()
            .id("logs")
            .status(ExpirationStatus::Enabled)
            .filter(LifecycleRuleFilter::builder().prefix("logs/").build())
            .expiration(LifecycleExpiration::builder().days(30).build())
            .build()
            .unwrap(),
        LifecycleRule::builder()
            .id("tagged")
            .status(ExpirationStatus::Disabled)
            .filter(
                LifecycleRuleFilter::builder()
                    .and(
                        LifecycleRuleAndOperator::builder()
                            .prefix("tmp/")
                            .tags(Tag::builder().key("kind").value("scratch").build().unwrap())
                            .object_size_greater_than(10)
                            .object_size_less_than(1000)
                            .build(),
                    )
                    .build(),
            )
            .noncurrent_version_expiration(
                NoncurrentVersionExpiration::builder()
                    .noncurrent_days(7)
                    .newer_noncurrent_versions(2)
                    .build(),
            )
            .build()
            .unwrap(),
    ];
    c.put_bucket_lifecycle_configuration()
        .bucket("bkt")
        .lifecycle_configuration(
            BucketLifecycleConfiguration::builder()
                .set_rules(Some(rules.clone()))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    let got = c
        .get_bucket_lifecycle_configuration()
        .bucket("bkt")
        .send()
        .await
        .unwrap();
    assert_eq!(got.rules(), rules.as_slice());

    c.delete_bucket_lifecycle()
        .bucket("bkt")
        .send()
        .await
        .unwrap();
    expect_error(
        c.get_bucket_lifecycle_configuration()
            .bucket("bkt")
            .send()
            .await,
        404,
        "NoSuchLifecycleConfiguration",
    );
    expect_error(
        c.get_bucket_lifecycle_configuration()
            .bucket("nobkt")
            .send()
            .await,
        404,
        "NoSuchBucket",
    );
}

/// The older rule-level `Prefix`, a document without S3's namespace, and a rule given no ID
/// (S3 makes one up) are all read back as S3 would.
#[tokio::test(flavor = "multi_thread")]
async fn namespace_less_documents_and_the_older_prefix_are_accepted() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    set_rules(
        &s,
        "bkt",
        "<Rule><ID>old</ID><Prefix>a/</Prefix><Status>Enabled</Status>\
         <Expiration><Date>2040-01-01T00:00:00Z</Date></Expiration></Rule>\
         <Rule><Filter/><Status>Enabled</Status>\
         <AbortIncompleteMultipartUpload><DaysAfterInitiation>3</DaysAfterInitiation>\
         </AbortIncompleteMultipartUpload></Rule>",
    )
    .await;
    let got = s
        .client
        .get_bucket_lifecycle_configuration()
        .bucket("bkt")
        .send()
        .await
        .unwrap();
    let rules = got.rules();
    assert_eq!(rules.len(), 2);
    #[allow(deprecated)]
    let prefix = rules[0].prefix();
    assert_eq!(prefix, Some("a/"));
    assert!(rules[0].filter().is_none());
    let date = rules[0].expiration().unwrap().date().unwrap();
    assert_eq!(date.secs(), 2_208_988_800);
    assert!(!rules[1].id().unwrap().is_empty());
    assert_eq!(
        rules[1]
            .abort_incomplete_multipart_upload()
            .unwrap()
            .days_after_initiation(),
        Some(3)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_configurations_are_refused_as_s3_refuses_them() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    let expire = "<Expiration><Days>1</Days></Expiration>";
    let rule = |id: &str, body: &str| {
        format!("<Rule><ID>{id}</ID><Filter/><Status>Enabled</Status>{body}</Rule>")
    };
    let too_many: String = (0..1001).map(|i| rule(&i.to_string(), expire)).collect();
    let long_id = "x".repeat(256);
    let cases: Vec<(String, &str)> = vec![
        (rule("a", "<Expiration><Days>0</Days></Expiration>"), "InvalidArgument"),
        (rule("a", "<Expiration><Days>-3</Days></Expiration>"), "InvalidArgument"),
        (
            rule("a", "<Expiration><Date>2040-01-01T10:00:00Z</Date></Expiration>"),
            "InvalidArgument",
        ),
        (
            rule("a", "<Expiration><Days>1</Days><Date>2040-01-01T00:00:00Z</Date></Expiration>"),
            "MalformedXML",
        ),
        (
            rule(
                "a",
                "<Expiration><Days>1</Days><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>",
            ),
            "MalformedXML",
        ),
        (format!("{}{}", rule("same", expire), rule("same", expire)), "InvalidArgument"),
        (rule(&long_id, expire), "InvalidArgument"),
        (too_many, "MalformedXML"),
        (
            format!("<Rule><ID>a</ID><Filter/><Status>On</Status>{expire}</Rule>"),
            "MalformedXML",
        ),
        (format!("<Rule><ID>a</ID><Status>Enabled</Status>{expire}</Rule>"), "MalformedXML"),
        (
            format!("<Rule><ID>a</ID><Prefix>p</Prefix><Filter/><Status>Enabled</Status>{expire}</Rule>"),
            "MalformedXML",
        ),
        (rule("a", ""), "InvalidRequest"),
        (
            rule(
                "a",
                "<NoncurrentVersionExpiration><NoncurrentDays>0</NoncurrentDays></NoncurrentVersionExpiration>",
            ),
            "InvalidArgument",
        ),
        (
            rule(
                "a",
                "<AbortIncompleteMultipartUpload><DaysAfterInitiation>0</DaysAfterInitiation></AbortIncompleteMultipartUpload>",
            ),
            "InvalidArgument",
        ),
        (
            "<Rule><ID>a</ID><Filter><Tag><Key>k</Key><Value>v</Value></Tag></Filter><Status>Enabled</Status>\
             <AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule>"
                .to_string(),
            "InvalidRequest",
        ),
        (
            "<Rule><ID>a</ID><Filter><Prefix>p</Prefix><ObjectSizeLessThan>5</ObjectSizeLessThan></Filter>\
             <Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>"
                .to_string(),
            "MalformedXML",
        ),
        (
            "<Rule><ID>a</ID><Filter><And><ObjectSizeGreaterThan>9</ObjectSizeGreaterThan>\
             <ObjectSizeLessThan>5</ObjectSizeLessThan></And></Filter>\
             <Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>"
                .to_string(),
            "InvalidRequest",
        ),
        (
            "<Rule><ID>a</ID><Filter><ObjectSizeLessThan>0</ObjectSizeLessThan></Filter>\
             <Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>"
                .to_string(),
            "InvalidRequest",
        ),
        (String::new(), "MalformedXML"),
    ];
    for (rules, code) in cases {
        let doc = format!("<LifecycleConfiguration>{rules}</LifecycleConfiguration>");
        let (status, got, message) = put_doc(&s, "bkt", &doc).await;
        let shown = &doc[..doc.len().min(300)];
        assert_eq!((status, got.as_str()), (400, code), "{shown}: {message}");
    }
    // Nothing refused was stored.
    expect_error(
        s.client
            .get_bucket_lifecycle_configuration()
            .bucket("bkt")
            .send()
            .await,
        404,
        "NoSuchLifecycleConfiguration",
    );
    // Without Content-MD5 (or a checksum) the document is refused, as by AWS.
    let doc = format!(
        "<LifecycleConfiguration>{}</LifecycleConfiguration>",
        rule("a", expire)
    );
    let r = http()
        .put(s.url("/bkt?lifecycle"))
        .body(doc)
        .send()
        .await
        .unwrap();
    expect_s3_error(r, 400, "InvalidRequest").await;
}

/// Transitions need storage classes this server does not have: refused, never kept and
/// ignored.
#[tokio::test(flavor = "multi_thread")]
async fn transitions_are_not_implemented() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    for action in [
        "<Transition><Days>30</Days><StorageClass>GLACIER</StorageClass></Transition>",
        "<NoncurrentVersionTransition><NoncurrentDays>30</NoncurrentDays>\
         <StorageClass>GLACIER</StorageClass></NoncurrentVersionTransition>",
    ] {
        let doc = format!(
            "<LifecycleConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             <Rule><ID>t</ID><Filter/><Status>Enabled</Status>{action}\
             <Expiration><Days>90</Days></Expiration></Rule></LifecycleConfiguration>"
        );
        let (status, code, _) = put_doc(&s, "bkt", &doc).await;
        assert_eq!((status, code.as_str()), (501, "NotImplemented"), "{action}");
    }
    expect_error(
        s.client
            .get_bucket_lifecycle_configuration()
            .bucket("bkt")
            .send()
            .await,
        404,
        "NoSuchLifecycleConfiguration",
    );
}

/// Each GET and HEAD answers with the rules as they are when it is asked: a change of the
/// configuration shows in the very next answer, whatever the server kept of the one before.
#[tokio::test(flavor = "multi_thread")]
async fn the_expiration_header_follows_each_change_of_the_rules_at_once() {
    let s = short_days().await;
    s.put("bkt", "tmp/a", b"a".to_vec()).await;
    for _ in 0..3 {
        assert_eq!(s.get_object("bkt", "tmp/a").await.expiration(), None);
        set_rules(
            &s,
            "bkt",
            "<Rule><ID>first</ID><Filter><Prefix>tmp/</Prefix></Filter><Status>Enabled</Status>\
             <Expiration><Days>30</Days></Expiration></Rule>",
        )
        .await;
        let head = s.head("bkt", "tmp/a").await;
        assert_eq!(parse_expiration(head.expiration().unwrap()).1, "first");
        set_rules(
            &s,
            "bkt",
            "<Rule><ID>second</ID><Filter><Prefix>tmp/</Prefix></Filter><Status>Enabled</Status>\
             <Expiration><Days>30</Days></Expiration></Rule>",
        )
        .await;
        let get = s.get_object("bkt", "tmp/a").await;
        assert_eq!(parse_expiration(get.expiration().unwrap()).1, "second");
        s.client
            .delete_bucket_lifecycle()
            .bucket("bkt")
            .send()
            .await
            .unwrap();
        assert_eq!(s.head("bkt", "tmp/a").await.expiration(), None);
    }
}

/// In an unversioned bucket an expired object is deleted; objects the filter does not select
/// stay; PUT, HEAD, GET, CopyObject and CompleteMultipartUpload say when an object expires
/// and by which rule.
#[tokio::test(flavor = "multi_thread")]
async fn objects_expire_and_say_when() {
    let s = short_days().await;
    set_rules(
        &s,
        "bkt",
        "<Rule><ID>tmp-rule</ID><Filter><Prefix>tmp/</Prefix></Filter><Status>Enabled</Status>\
         <Expiration><Days>2</Days></Expiration></Rule>",
    )
    .await;
    let before = SystemTime::now();
    let put = s
        .client
        .put_object()
        .bucket("bkt")
        .key("tmp/a")
        .body(b"a".to_vec().into())
        .send()
        .await
        .unwrap();
    let put_done = SystemTime::now();
    let kept = s
        .client
        .put_object()
        .bucket("bkt")
        .key("keep/a")
        .body(b"a".to_vec().into())
        .send()
        .await
        .unwrap();
    assert_eq!(kept.expiration(), None);
    let (when, rule) = parse_expiration(put.expiration().expect("x-amz-expiration on PUT"));
    assert_eq!(rule, "tmp-rule");
    let head = s.head("bkt", "tmp/a").await;
    assert_eq!(head.expiration(), put.expiration());
    let get = s.get_object("bkt", "tmp/a").await;
    assert_eq!(get.expiration(), put.expiration());
    assert_eq!(s.head("bkt", "keep/a").await.expiration(), None);
    // CopyObject and CompleteMultipartUpload say it too.
    let copy = s
        .client
        .copy_object()
        .bucket("bkt")
        .key("tmp/copy")
        .copy_source("bkt/keep/a")
        .send()
        .await
        .unwrap();
    assert_eq!(parse_expiration(copy.expiration().unwrap()).1, "tmp-rule");
    let id = s
        .client
        .create_multipart_upload()
        .bucket("bkt")
        .key("tmp/mp")
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_string();
    let part = s
        .client
        .upload_part()
        .bucket("bkt")
        .key("tmp/mp")
        .upload_id(&id)
        .part_number(1)
        .body(b"part".to_vec().into())
        .send()
        .await
        .unwrap();
    let done = complete_upload(
        &s.client,
        "bkt",
        "tmp/mp",
        &id,
        numbered_parts(&[part.e_tag().unwrap()]),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(parse_expiration(done.expiration().unwrap()).1, "tmp-rule");
    // Two "days" after the write, rounded up to the next whole one.
    assert!(
        when >= before + Duration::from_secs(2),
        "{when:?} {before:?}"
    );
    assert!(
        when <= put_done + Duration::from_secs(3),
        "{when:?} {put_done:?}"
    );
    assert_eq!(
        when.duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos(),
        0
    );

    gone(&s, "bkt", "tmp/a").await;
    assert!(!s.path_of("bkt", "tmp/a").exists());
    assert!(exists(&s, "bkt", "keep/a").await);
}

/// A date in the past expires every object the rule selects at once.
#[tokio::test(flavor = "multi_thread")]
async fn a_past_date_expires_what_the_rule_selects() {
    let s = short_days().await;
    s.put("bkt", "old/a", b"a".to_vec()).await;
    s.put("bkt", "new/a", b"a".to_vec()).await;
    set_rules(
        &s,
        "bkt",
        "<Rule><ID>d</ID><Filter><Prefix>old/</Prefix></Filter><Status>Enabled</Status>\
         <Expiration><Date>2020-01-01T00:00:00.000Z</Date></Expiration></Rule>",
    )
    .await;
    gone(&s, "bkt", "old/a").await;
    assert!(exists(&s, "bkt", "new/a").await);
}

/// In a versioned bucket expiration adds a delete marker; the version stays, noncurrent. A
/// `dir/` folder marker is a version like any: covered by a marker, its folder gone.
#[tokio::test(flavor = "multi_thread")]
async fn in_a_versioned_bucket_expiration_adds_a_delete_marker() {
    let s = short_days().await;
    enable_versioning(&s.client, "bkt").await;
    let v1 = put_version(&s, "bkt", "obj", b"one").await;
    let dir = put_version(&s, "bkt", "dir/", b"").await;
    set_rules(
        &s,
        "bkt",
        "<Rule><ID>e</ID><Filter/><Status>Enabled</Status>\
         <Expiration><Days>1</Days></Expiration></Rule>",
    )
    .await;
    gone(&s, "bkt", "obj").await;
    gone(&s, "bkt", "dir/").await;
    let kept = versions(&s, "bkt", "dir/").await;
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert!(kept[0].starts_with("M:"), "{kept:?}");
    assert_eq!(kept[1], dir);
    assert!(!s.path_of("bkt", "dir").exists());
    let all = versions(&s, "bkt", "obj").await;
    assert_eq!(all.len(), 2, "{all:?}");
    assert!(all[0].starts_with("M:"), "{all:?}");
    assert_eq!(all[1], v1);
    // The marker is the current version now: expiration leaves it alone.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(versions(&s, "bkt", "obj").await, all);
}

/// Noncurrent versions go NoncurrentDays after they became noncurrent, except the
/// NewerNoncurrentVersions newest ones.
#[tokio::test(flavor = "multi_thread")]
async fn noncurrent_versions_expire_keeping_the_newer_ones() {
    let s = short_days().await;
    enable_versioning(&s.client, "bkt").await;
    set_rules(
        &s,
        "bkt",
        "<Rule><ID>nc</ID><Filter/><Status>Enabled</Status>\
         <NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays>\
         <NewerNoncurrentVersions>1</NewerNoncurrentVersions></NoncurrentVersionExpiration></Rule>",
    )
    .await;
    let v1 = put_version(&s, "bkt", "obj", b"1").await;
    let v2 = put_version(&s, "bkt", "obj", b"2").await;
    let v3 = put_version(&s, "bkt", "obj", b"3").await;
    let v4 = put_version(&s, "bkt", "obj", b"4").await;
    eventually_async("v1 and v2 expired", || async {
        versions(&s, "bkt", "obj").await.len() == 2
    })
    .await;
    assert_eq!(versions(&s, "bkt", "obj").await, vec![v4, v3.clone()]);
    assert!(!versions(&s, "bkt", "obj").await.contains(&v1));
    assert!(!versions(&s, "bkt", "obj").await.contains(&v2));
    assert_eq!(s.get("bkt", "obj").await, b"4");
}

/// A delete marker left as the only version of its key goes (ExpiredObjectDeleteMarker), once
/// the versions under it expired.
#[tokio::test(flavor = "multi_thread")]
async fn a_lone_delete_marker_is_removed() {
    let s = short_days().await;
    enable_versioning(&s.client, "bkt").await;
    // Versions kept before the rules were set are found by the walk that setting them makes.
    put_version(&s, "bkt", "early", b"1").await;
    s.delete("bkt", "early").await;
    set_rules(
        &s,
        "bkt",
        "<Rule><ID>m</ID><Filter/><Status>Enabled</Status>\
         <Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>\
         <NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays></NoncurrentVersionExpiration></Rule>",
    )
    .await;
    put_version(&s, "bkt", "obj", b"1").await;
    s.delete("bkt", "obj").await;
    assert_eq!(versions(&s, "bkt", "obj").await.len(), 2);
    eventually_async("the version and then its marker removed", || async {
        versions(&s, "bkt", "obj").await.is_empty() && versions(&s, "bkt", "early").await.is_empty()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn incomplete_multipart_uploads_are_aborted() {
    let s = short_days().await;
    let client = &s.client;
    let create = |key: &'static str| async move {
        client
            .create_multipart_upload()
            .bucket("bkt")
            .key(key)
            .send()
            .await
            .unwrap()
            .upload_id()
            .unwrap()
            .to_string()
    };
    // Begun before the rule was set: found by the walk that setting it makes.
    let early = create("up/early").await;
    set_rules(
        &s,
        "bkt",
        "<Rule><ID>mpu</ID><Filter><Prefix>up/</Prefix></Filter><Status>Enabled</Status>\
         <AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation>\
         </AbortIncompleteMultipartUpload></Rule>",
    )
    .await;
    let doomed = create("up/a").await;
    let kept = create("other/a").await;
    let open = || async {
        let out = s
            .client
            .list_multipart_uploads()
            .bucket("bkt")
            .send()
            .await
            .unwrap();
        out.uploads()
            .iter()
            .map(|u| u.upload_id().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    eventually_async("the uploads under up/ aborted", || async {
        let open = open().await;
        !open.contains(&doomed) && !open.contains(&early)
    })
    .await;
    assert_eq!(open().await, vec![kept]);
}

/// Tag and size conditions select objects together with the prefix.
#[tokio::test(flavor = "multi_thread")]
async fn tag_and_size_filters_select_objects() {
    let s = short_days().await;
    set_rules(
        &s,
        "bkt",
        "<Rule><ID>tag</ID><Filter><Tag><Key>kind</Key><Value>tmp</Value></Tag></Filter>\
         <Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>\
         <Rule><ID>size</ID><Filter><And><Prefix>big/</Prefix>\
         <ObjectSizeGreaterThan>10</ObjectSizeGreaterThan></And></Filter>\
         <Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>",
    )
    .await;
    let client = &s.client;
    let put_tagged = |key: &'static str, tagging: &'static str| async move {
        client
            .put_object()
            .bucket("bkt")
            .key(key)
            .tagging(tagging)
            .body(b"x".to_vec().into())
            .send()
            .await
            .unwrap();
    };
    put_tagged("tagged", "kind=tmp").await;
    put_tagged("other-tag", "kind=keep").await;
    s.put("bkt", "big/large", vec![7u8; 11]).await;
    s.put("bkt", "big/small", vec![7u8; 10]).await;
    // Tagging an object afterwards puts it under the rule too.
    s.put("bkt", "later", b"x".to_vec()).await;
    s.client
        .put_object_tagging()
        .bucket("bkt")
        .key("later")
        .tagging(
            aws_sdk_s3::types::Tagging::builder()
                .tag_set(Tag::builder().key("kind").value("tmp").build().unwrap())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    gone(&s, "bkt", "tagged").await;
    gone(&s, "bkt", "big/large").await;
    gone(&s, "bkt", "later").await;
    assert!(exists(&s, "bkt", "other-tag").await);
    assert!(exists(&s, "bkt", "big/small").await);
}

/// A Disabled rule does nothing, while the same rule Enabled in another bucket acts.
#[tokio::test(flavor = "multi_thread")]
async fn disabled_rules_do_nothing() {
    let s = short_days().await;
    s.create_bucket("control").await;
    let rule = |status: &str| {
        format!(
            "<Rule><ID>r</ID><Filter/><Status>{status}</Status>\
             <Expiration><Days>1</Days></Expiration></Rule>"
        )
    };
    set_rules(&s, "bkt", &rule("Disabled")).await;
    set_rules(&s, "control", &rule("Enabled")).await;
    s.put("bkt", "obj", b"x".to_vec()).await;
    s.put("control", "obj", b"x".to_vec()).await;
    assert_eq!(s.head("bkt", "obj").await.expiration(), None);
    gone(&s, "control", "obj").await;
    // Housekeeping has been past the disabled bucket's due time too.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(exists(&s, "bkt", "obj").await);
}

/// An object rewritten after its first due date was entered is judged by its new date: the old
/// entry falls due and finds it not expired.
#[tokio::test(flavor = "multi_thread")]
async fn a_rewritten_object_is_not_expired_by_its_old_date() {
    let s = short_days().await;
    set_rules(
        &s,
        "bkt",
        "<Rule><ID>r</ID><Filter/><Status>Enabled</Status>\
         <Expiration><Days>5</Days></Expiration></Rule>",
    )
    .await;
    let first = s
        .client
        .put_object()
        .bucket("bkt")
        .key("obj")
        .body(b"old".to_vec().into())
        .send()
        .await
        .unwrap();
    let (first_due, _) = parse_expiration(first.expiration().unwrap());
    s.put("bkt", "control", b"x".to_vec()).await;
    tokio::time::sleep(Duration::from_millis(4000)).await;
    let second = s
        .client
        .put_object()
        .bucket("bkt")
        .key("obj")
        .body(b"new".to_vec().into())
        .send()
        .await
        .unwrap();
    let (second_due, _) = parse_expiration(second.expiration().unwrap());
    assert!(second_due > first_due, "{second_due:?} {first_due:?}");
    gone(&s, "bkt", "control").await;
    // Well past the first date, housekeeping having run many times since.
    while SystemTime::now() < first_due + Duration::from_millis(500) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Written four seconds later, its own date is at least 2.5 s after this.
    assert!(
        SystemTime::now() < second_due,
        "the test ran too slowly to tell"
    );
    assert_eq!(s.get("bkt", "obj").await, b"new");
    gone(&s, "bkt", "obj").await;
}

/// A file another program puts in the served directory falls under the rules once the server
/// has seen it.
#[tokio::test(flavor = "multi_thread")]
async fn files_written_by_other_programs_expire_too() {
    let s = short_days().await;
    set_rules(
        &s,
        "bkt",
        "<Rule><ID>r</ID><Filter/><Status>Enabled</Status>\
         <Expiration><Days>1</Days></Expiration></Rule>",
    )
    .await;
    std::fs::write(s.path_of("bkt", "outside"), b"from elsewhere").unwrap();
    // Watched through listings, which leave its ETag unknown until the rule reads it.
    let listed = || async {
        let out = s
            .client
            .list_objects_v2()
            .bucket("bkt")
            .send()
            .await
            .unwrap();
        out.contents().iter().any(|o| o.key() == Some("outside"))
    };
    eventually_async("the file seen by the server", listed).await;
    eventually_async("the file expired", || async { !listed().await }).await;
    assert!(!s.path_of("bkt", "outside").exists());
}

/// While versioning is Suspended, expiration makes the delete marker the `null` version, which
/// replaces the `null` version it expires; versions kept from before stay.
#[tokio::test(flavor = "multi_thread")]
async fn in_a_suspended_bucket_expiration_replaces_the_null_version() {
    let s = short_days().await;
    enable_versioning(&s.client, "bkt").await;
    let v1 = put_version(&s, "bkt", "obj", b"one").await;
    suspend_versioning(&s.client, "bkt").await;
    // The null version: S3 names no version in the answer to a write while Suspended.
    s.put("bkt", "obj", b"null".to_vec()).await;
    set_rules(
        &s,
        "bkt",
        "<Rule><ID>e</ID><Filter/><Status>Enabled</Status>\
         <Expiration><Days>1</Days></Expiration></Rule>",
    )
    .await;
    gone(&s, "bkt", "obj").await;
    assert_eq!(
        versions(&s, "bkt", "obj").await,
        vec!["M:null".to_string(), v1]
    );
}
