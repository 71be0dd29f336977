//! Sub-resources: the unimplemented ones answer 501 NotImplemented and never change data; the
//! read-only ones clients depend on (ACLs, versioning status, object versions) answer as S3 does
//! for an unversioned bucket owned by the caller.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ObjectCannedAcl, Permission};

use crate::common::*;

async fn setup() -> (TestServer, String) {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    s.create_bucket("empty").await;
    s.client
        .put_object()
        .bucket("bkt")
        .key("obj")
        .metadata("keep", "me")
        .body(ByteStream::from_static(b"original content"))
        .send()
        .await
        .unwrap();
    (s, etag_of(b"original content"))
}

async fn assert_unchanged(s: &TestServer, etag: &str) {
    let out = s.get_object("bkt", "obj").await;
    assert_eq!(out.e_tag(), Some(etag));
    assert_eq!(
        out.metadata().unwrap().get("keep").map(String::as_str),
        Some("me")
    );
    assert_eq!(body_of(out).await, b"original content");
    assert_eq!(s.list_keys("bkt").await, ["obj"]);
    assert!(s.root().join("empty").is_dir());
    s.client.head_bucket().bucket("empty").send().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn put_object_acl_where_acls_are_disabled_changes_nothing() {
    let (s, etag) = setup().await;
    expect_error(
        s.client
            .put_object_acl()
            .bucket("bkt")
            .key("obj")
            .acl(ObjectCannedAcl::PublicRead)
            .send()
            .await,
        400,
        "AccessControlListNotSupported",
    );
    assert_unchanged(&s, &etag).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unimplemented_subresources_never_change_data() {
    let (s, etag) = setup().await;
    let http = http();
    let body = "<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet></Tagging>";
    let cases = [
        (reqwest::Method::PUT, "/bkt/obj?torrent"),
        (reqwest::Method::DELETE, "/bkt/obj?retention"),
        (reqwest::Method::DELETE, "/bkt/obj?legal-hold"),
        (reqwest::Method::DELETE, "/bkt/obj?torrent"),
        (reqwest::Method::PUT, "/bkt?encryption"),
        (reqwest::Method::PUT, "/empty?encryption"),
        (reqwest::Method::DELETE, "/empty?encryption"),
        (reqwest::Method::DELETE, "/empty?website"),
        (reqwest::Method::POST, "/bkt/obj?select&select-type=2"),
        (reqwest::Method::PUT, "/bkt/obj?renameObject"),
        (reqwest::Method::POST, "/bkt/obj?restore"),
        (reqwest::Method::PUT, "/bkt/obj?cachebust=1&torrent"),
        (reqwest::Method::PUT, "/empty?notification"),
        (reqwest::Method::PUT, "/empty?inventory&id=i"),
        (reqwest::Method::PUT, "/empty?metrics&id=m"),
        (reqwest::Method::GET, "/?session"),
    ];
    for (method, path) in cases {
        let r = http
            .request(method.clone(), s.url(path))
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let ct = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let text = r.text().await.unwrap();
        assert_eq!(status, 501, "{method} {path}: {text}");
        assert_eq!(
            xml_value(&text, "Code").as_deref(),
            Some("NotImplemented"),
            "{method} {path}: {text}"
        );
        assert!(ct.starts_with("application/xml"), "{method} {path}: {ct}");
        assert_unchanged(&s, &etag).await;
    }
}

/// S3 ignores a query name that is no sub-resource (a cache buster, a tracking tag): the
/// request is the operation the rest of it names.
#[tokio::test(flavor = "multi_thread")]
async fn unknown_query_names_are_ignored() {
    let (s, etag) = setup().await;
    let http = http();
    let r = http
        .get(s.url("/bkt/obj?cachebust=1700000000&utm_source=x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers().get("etag").and_then(|v| v.to_str().ok()),
        Some(etag.as_str())
    );
    assert_eq!(r.bytes().await.unwrap(), &b"original content"[..]);

    let r = http
        .put(s.url("/bkt/fresh?v=2"))
        .body("fresh content")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(s.get("bkt", "fresh").await, b"fresh content");

    let r = http.get(s.url("/bkt?v=2&prefix=f")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert_eq!(xml_values(&text, "Key"), ["fresh"], "{text}");

    // Query names are case-sensitive: `?ACL` is no ACL request but a read of the object.
    let r = http.get(s.url("/bkt/obj?ACL")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap(), &b"original content"[..]);
}

/// The same through the SDK, signed: the unknown name is part of what was signed, and the
/// request is still the GetObject or PutObject it names.
#[tokio::test(flavor = "multi_thread")]
async fn unknown_query_names_in_signed_requests_are_ignored() {
    let s = TestServer::start_auth().await;
    s.create_bucket("bkt").await;
    let cache_bust = |req: &mut aws_sdk_s3::config::http::HttpRequest| {
        let uri = req.uri().to_string();
        let sep = if uri.contains('?') { '&' } else { '?' };
        req.set_uri(format!("{uri}{sep}cachebust=1700000000"))
            .expect("a valid URI");
    };
    s.client
        .put_object()
        .bucket("bkt")
        .key("k")
        .body(ByteStream::from_static(b"signed content"))
        .customize()
        .mutate_request(cache_bust)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    let out = s
        .client
        .get_object()
        .bucket("bkt")
        .key("k")
        .customize()
        .mutate_request(cache_bust)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    assert_eq!(body_of(out).await, b"signed content");
}

#[tokio::test(flavor = "multi_thread")]
async fn acls_answer_full_control_for_the_owner() {
    let (s, _) = setup().await;
    let out = s
        .client
        .get_object_acl()
        .bucket("bkt")
        .key("obj")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    let owner = out
        .owner()
        .expect("Owner")
        .id()
        .expect("owner ID")
        .to_string();
    assert!(!owner.is_empty());
    assert_eq!(out.grants().len(), 1, "{:?}", out.grants());
    let grant = &out.grants()[0];
    assert_eq!(grant.permission(), Some(&Permission::FullControl));
    assert_eq!(grant.grantee().and_then(|g| g.id()), Some(owner.as_str()));

    let out = s
        .client
        .get_bucket_acl()
        .bucket("bkt")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    assert_eq!(out.owner().and_then(|o| o.id()), Some(owner.as_str()));
    assert_eq!(out.grants().len(), 1);
    assert_eq!(out.grants()[0].permission(), Some(&Permission::FullControl));
    assert_eq!(
        out.grants()[0].grantee().and_then(|g| g.id()),
        Some(owner.as_str())
    );

    // Missing objects and buckets are still missing.
    expect_error(
        s.client
            .get_object_acl()
            .bucket("bkt")
            .key("nope")
            .send()
            .await,
        404,
        "NoSuchKey",
    );
    expect_error(
        s.client.get_bucket_acl().bucket("nobkt").send().await,
        404,
        "NoSuchBucket",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn versioning_was_never_enabled() {
    let (s, etag) = setup().await;
    let out = s
        .client
        .get_bucket_versioning()
        .bucket("bkt")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    assert_eq!(out.status(), None);
    assert_eq!(out.mfa_delete(), None);

    assert_unchanged(&s, &etag).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn list_object_versions_lists_current_objects() {
    let (s, etag) = setup().await;
    s.put("bkt", "dir/a", "aaa").await;
    s.put("bkt", "dir/b", "bb").await;
    let out = s
        .client
        .list_object_versions()
        .bucket("bkt")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    let versions: Vec<_> = out
        .versions()
        .iter()
        .map(|v| {
            (
                v.key().unwrap(),
                v.version_id().unwrap(),
                v.is_latest().unwrap(),
                v.e_tag().unwrap(),
                v.size().unwrap(),
            )
        })
        .collect();
    let (ea, eb) = (etag_of(b"aaa"), etag_of(b"bb"));
    assert_eq!(
        versions,
        [
            ("dir/a", "null", true, ea.as_str(), 3),
            ("dir/b", "null", true, eb.as_str(), 2),
            ("obj", "null", true, etag.as_str(), 16),
        ]
    );
    assert!(out.delete_markers().is_empty());
    assert_eq!(out.is_truncated(), Some(false));

    let out = s
        .client
        .list_object_versions()
        .bucket("bkt")
        .prefix("dir/")
        .send()
        .await
        .unwrap();
    let keys: Vec<_> = out.versions().iter().map(|v| v.key().unwrap()).collect();
    assert_eq!(keys, ["dir/a", "dir/b"]);

    let out = s
        .client
        .list_object_versions()
        .bucket("bkt")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let keys: Vec<_> = out.versions().iter().map(|v| v.key().unwrap()).collect();
    let cps: Vec<_> = out
        .common_prefixes()
        .iter()
        .map(|p| p.prefix().unwrap())
        .collect();
    assert_eq!(keys, ["obj"]);
    assert_eq!(cps, ["dir/"]);
}

/// ACLs a write asks for are answered as S3 answers them where objects belong to the bucket
/// owner (its default): the owner's own full control is taken, anything else refused before
/// anything is stored, never accepted and ignored.
#[tokio::test(flavor = "multi_thread")]
async fn acls_other_than_the_owners_are_refused_not_ignored() {
    use aws_sdk_s3::types::{BucketCannedAcl, ObjectCannedAcl};
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    for acl in [
        ObjectCannedAcl::Private,
        ObjectCannedAcl::BucketOwnerFullControl,
    ] {
        s.client
            .put_object()
            .bucket("bkt")
            .key(acl.as_str())
            .acl(acl.clone())
            .body(b"x".to_vec().into())
            .send()
            .await
            .unwrap();
    }
    let e = s
        .client
        .put_object()
        .bucket("bkt")
        .key("public")
        .acl(ObjectCannedAcl::PublicRead)
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        status_and_code(&e),
        (400, "AccessControlListNotSupported".to_string())
    );
    let e = s
        .client
        .put_object()
        .bucket("bkt")
        .key("granted")
        .grant_read("uri=\"http://acs.amazonaws.com/groups/global/AllUsers\"")
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        status_and_code(&e),
        (400, "AccessControlListNotSupported".to_string())
    );
    for key in ["public", "granted"] {
        s.assert_no_such_key("bkt", key).await;
    }
    let e = s
        .client
        .create_bucket()
        .bucket("public-bucket")
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        status_and_code(&e),
        (400, "InvalidBucketAclWithObjectOwnership".to_string())
    );
    s.client
        .create_bucket()
        .bucket("private-bucket")
        .acl(BucketCannedAcl::Private)
        .send()
        .await
        .unwrap();
}
