//! Bucket versioning: PutBucketVersioning checks its document as S3 does; in a bucket with
//! versioning Enabled overwrites and deletes keep what they replace (deletes add markers), every
//! version reads back by its id, a version deleted by id is gone for good, Suspended writes and
//! deletes replace the null version, ListObjectVersions pages through it all, and the plain
//! directory shows the current state.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketVersioningStatus, MfaDelete, ObjectIdentifier, VersioningConfiguration,
};
use s3gate_config::CacheMode;
use std::path::PathBuf;

use crate::common::*;

const NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

async fn setup() -> TestServer {
    setup_on(TestServer::start().await).await
}

/// Bucket `bkt` on `s`, holding `obj` written before versioning (the `null` version).
pub(crate) async fn setup_on(s: TestServer) -> TestServer {
    s.create_bucket("bkt").await;
    s.put("bkt", "obj", b"current".to_vec()).await;
    s
}

/// Where a server's buckets are seen as plain files, and whether its remote leaves a folder in
/// place once nothing is in it (WebDAV: deleting a collection would delete what a concurrent
/// upload just put in it).
pub(crate) struct Plain {
    pub(crate) root: PathBuf,
    pub(crate) empty_folders_stay: bool,
}

impl Plain {
    pub(crate) fn join(&self, path: &str) -> PathBuf {
        self.root.join(path)
    }

    /// Whether the plain files show no folder at `path`: none, or an empty one that stays.
    fn shows_no_folder(&self, path: &str) -> bool {
        let dir = self.join(path);
        !dir.exists() || (self.empty_folders_stay && files_under(&dir).is_empty())
    }
}

/// Runs each scenario named on a server of `$start` (a future of a [`TestServer`]) with bucket
/// `bkt` set up, whose plain files are seen in the folder `$files` answers for it; whatever else
/// `$start` made (a server it stands on) is kept until the scenario ends. Each test carries the
/// attribute given (a doc line, or an `ignore` for a test that needs a program).
macro_rules! versioning_scenarios {
    (#[$m:meta] $start:expr, $files:expr, [$($name:ident),* $(,)?]) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        #[$m]
        async fn $name() {
            let (s, keep) = $start.await;
            let s = $crate::versioning::setup_on(s).await;
            let files: $crate::versioning::Plain = ($files)(&s, &keep);
            $crate::versioning::$name(s, &files).await;
        }
    )*};
}
pub(crate) use versioning_scenarios;

/// The scenarios any remote that keeps versions passes as a local directory does.
macro_rules! every_versioning_scenario {
    (#[$m:meta] $start:expr, $files:expr) => {
        $crate::versioning::versioning_scenarios!(
            #[$m]
            $start,
            $files,
            [
                every_version_reads_back_byte_exact_and_survives_a_restart,
                three_deletes_make_three_markers_and_deleting_markers_brings_the_object_back,
                suspended_writes_and_deletes_replace_the_null_version,
                list_object_versions_pages_with_both_markers,
                folder_markers_get_versions_like_any_key,
                deleting_a_folder_marker_adds_a_delete_marker_and_deleting_versions_brings_it_back,
            ]
        );
    };
}
pub(crate) use every_versioning_scenario;

/// On a local directory, whose plain files are the server's own folder.
mod local {
    use crate::common::TestServer;

    async fn start() -> (TestServer, ()) {
        (TestServer::start().await, ())
    }

    every_versioning_scenario!(
        #[doc = "On a local directory."]
        start(),
        |s: &TestServer, _: &()| super::Plain {
            root: s.root().to_path_buf(),
            empty_folders_stay: false,
        }
    );
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

async fn set(s: &TestServer, wanted: BucketVersioningStatus) {
    set_versioning(&s.client, "bkt", wanted).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn enabling_and_suspending_set_the_state_and_leave_objects_as_they_were() {
    let s = setup().await;
    for wanted in [
        BucketVersioningStatus::Enabled,
        BucketVersioningStatus::Suspended,
        BucketVersioningStatus::Enabled,
    ] {
        set(&s, wanted.clone()).await;
        assert_eq!(status(&s).await, Some(wanted));
    }
    assert_eq!(s.get("bkt", "obj").await, b"current");
    assert_eq!(s.list_keys("bkt").await, ["obj"]);
}

/// What GET, HEAD and GetObjectTagging name (`x-amz-version-id`) for the current version of
/// `key`.
async fn named_on_read(s: &TestServer, key: &str) -> [Option<String>; 3] {
    let get = s
        .get_object("bkt", key)
        .await
        .version_id()
        .map(str::to_string);
    let head = s.head("bkt", key).await.version_id().map(str::to_string);
    let tags = s
        .client
        .get_object_tagging()
        .bucket("bkt")
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("tags of {key}: {}", describe(&e)))
        .version_id()
        .map(str::to_string);
    [get, head, tags]
}

/// S3 names the `null` version `null` on reads in a bucket that has had versioning (whether the
/// version was written before it or while Suspended), and names no version where it never had;
/// writes while Suspended (PUT, copy, Complete) name none, and a delete names its null marker.
#[tokio::test(flavor = "multi_thread")]
async fn the_null_version_is_named_null_once_the_bucket_has_had_versioning() {
    let s = setup().await;
    let none = || [None, None, None];
    let null = || ["null", "null", "null"].map(|v| Some(v.to_string()));
    assert_eq!(named_on_read(&s, "obj").await, none());
    set(&s, BucketVersioningStatus::Enabled).await;
    assert_eq!(named_on_read(&s, "obj").await, null());
    assert_eq!(
        raw(&s, "HEAD", "obj").await,
        (200, None, Some("null".into()))
    );
    let v1 = put_version(&s, "obj", b"versioned").await.unwrap();
    assert_eq!(
        named_on_read(&s, "obj").await,
        [0; 3].map(|_| Some(v1.clone()))
    );

    set(&s, BucketVersioningStatus::Suspended).await;
    assert_eq!(put_version(&s, "obj", b"suspended").await, None);
    assert_eq!(named_on_read(&s, "obj").await, null());
    let copied = s
        .copy("bkt", "copied", "bkt/obj")
        .send()
        .await
        .unwrap_or_else(|e| panic!("copy: {}", describe(&e)));
    assert_eq!(copied.version_id(), None);
    assert_eq!(named_on_read(&s, "copied").await, null());
    let id = s
        .client
        .create_multipart_upload()
        .bucket("bkt")
        .key("assembled")
        .send()
        .await
        .unwrap_or_else(|e| panic!("create: {}", describe(&e)))
        .upload_id()
        .unwrap()
        .to_string();
    let part = s
        .client
        .upload_part()
        .bucket("bkt")
        .key("assembled")
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from_static(b"one part"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("part: {}", describe(&e)));
    let done = complete_upload(
        &s.client,
        "bkt",
        "assembled",
        &id,
        numbered_parts(&[part.e_tag().unwrap()]),
    )
    .send()
    .await
    .unwrap_or_else(|e| panic!("complete: {}", describe(&e)));
    assert_eq!(done.version_id(), None);
    assert_eq!(named_on_read(&s, "assembled").await, null());
    // The version kept from while Enabled is still named by its id.
    assert_eq!(get_version(&s, "obj", &v1).await, b"versioned");
    let out = s.delete("bkt", "obj").await;
    assert_eq!(
        (out.delete_marker(), out.version_id()),
        (Some(true), Some("null"))
    );
    assert_eq!(
        raw(&s, "GET", "obj").await,
        (404, Some("true".into()), Some("null".into()))
    );
}

/// The write cache keeps versions as the remote does (writeback_versions.rs).
#[tokio::test(flavor = "multi_thread")]
async fn versioning_is_enabled_through_the_write_cache_too() {
    let s = TestServer::start_with(|c| c.vfs.cache_mode = CacheMode::Writes).await;
    s.create_bucket("bkt").await;
    set(&s, BucketVersioningStatus::Enabled).await;
    assert_eq!(status(&s).await, Some(BucketVersioningStatus::Enabled));
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
    let bare = "<VersioningConfiguration><Status>Suspended</Status></VersioningConfiguration>";
    let got = put_doc(&s, "bkt", bare, true).await;
    assert_eq!(got, (200, None));
    assert_eq!(status(&s).await, Some(BucketVersioningStatus::Suspended));
    let got = put_doc(&s, "bkt", &doc(""), true).await;
    assert_eq!(got, (200, None));
    let got = put_doc(&s, "nobkt", &good, true).await;
    assert_eq!(got, (404, Some("NoSuchBucket".into())));
    assert_eq!(status(&s).await, Some(BucketVersioningStatus::Suspended));
    assert_eq!(s.get("bkt", "obj").await, b"current");
}

/// Puts `data` at `key` and returns the version id answered.
async fn put_version(s: &TestServer, key: &str, data: &[u8]) -> Option<String> {
    let out = s
        .client
        .put_object()
        .bucket("bkt")
        .key(key)
        .body(ByteStream::from(data.to_vec()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put {key}: {}", describe(&e)));
    out.version_id().map(str::to_string)
}

/// A raw GET (or HEAD) of `key`: status, `x-amz-delete-marker`, `x-amz-version-id`.
async fn raw(s: &TestServer, method: &str, key: &str) -> (u16, Option<String>, Option<String>) {
    let r = http()
        .request(method.parse().unwrap(), s.url(&format!("/bkt/{key}")))
        .send()
        .await
        .unwrap();
    let h = |n: &str| r.headers().get(n).map(|v| v.to_str().unwrap().to_string());
    (
        r.status().as_u16(),
        h("x-amz-delete-marker"),
        h("x-amz-version-id"),
    )
}

/// Every version and marker of the bucket as (key, version, latest, is a marker), paged `max`
/// at a time from the SDK's markers: by key, then a key's versions, then its markers, each
/// newest first.
async fn all_versions(s: &TestServer, max: i32) -> Vec<(String, String, bool, bool)> {
    let mut out = Vec::new();
    let (mut km, mut vm) = (None::<String>, None::<String>);
    loop {
        let page = s
            .client
            .list_object_versions()
            .bucket("bkt")
            .max_keys(max)
            .set_key_marker(km.clone())
            .set_version_id_marker(vm.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{}", describe(&e)));
        let entries: Vec<(String, String, bool, bool)> = page
            .versions()
            .iter()
            .map(|v| {
                let key = v.key().unwrap().to_string();
                (
                    key,
                    v.version_id().unwrap().to_string(),
                    v.is_latest().unwrap(),
                    false,
                )
            })
            .chain(page.delete_markers().iter().map(|m| {
                let key = m.key().unwrap().to_string();
                (
                    key,
                    m.version_id().unwrap().to_string(),
                    m.is_latest().unwrap(),
                    true,
                )
            }))
            .collect();
        assert!(entries.len() <= max as usize);
        out.extend(entries);
        if page.is_truncated() != Some(true) {
            // Versions and markers come in two lists, each newest first within a key: kept
            // apart per key, so that how pages cut them changes nothing.
            out.sort_by(|a, b| (&a.0, a.3).cmp(&(&b.0, b.3)));
            return out;
        }
        km = page.next_key_marker().map(str::to_string);
        vm = page.next_version_id_marker().map(str::to_string);
    }
}

/// The versions and markers of `key` in `bkt`, as [`all_versions`] lists them.
async fn versions_of(s: &TestServer, key: &str) -> Vec<(String, String, bool, bool)> {
    let mut all = all_versions(s, 1000).await;
    all.retain(|v| v.0 == key);
    all
}

/// An entry of [`all_versions`]: key, version id, whether it is the latest, whether it is a
/// delete marker.
fn entry(key: &str, id: &str, latest: bool, marker: bool) -> (String, String, bool, bool) {
    (key.to_string(), id.to_string(), latest, marker)
}

pub(crate) async fn every_version_reads_back_byte_exact_and_survives_a_restart(
    mut s: TestServer,
    files: &Plain,
) {
    set(&s, BucketVersioningStatus::Enabled).await;
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let v1 = put_version(&s, "obj", &big).await.expect("a version id");
    let v2 = put_version(&s, "obj", b"second").await.unwrap();
    assert_ne!(v1, v2);
    assert_eq!(std::fs::read(files.join("bkt/obj")).unwrap(), b"second");
    for _ in 0..2 {
        assert_eq!(get_version(&s, "obj", "null").await, b"current");
        assert_eq!(get_version(&s, "obj", &v1).await, big);
        assert_eq!(get_version(&s, "obj", &v2).await, b"second");
        let head = s
            .client
            .head_object()
            .bucket("bkt")
            .key("obj")
            .version_id(&v1)
            .send()
            .await
            .unwrap();
        assert_eq!(head.content_length(), Some(big.len() as i64));
        assert_eq!(s.head("bkt", "obj").await.version_id(), Some(v2.as_str()));
        s.restart().await;
    }
    // An id this server never made, and one it might have but the key does not have.
    let e = s
        .client
        .get_object()
        .bucket("bkt")
        .key("obj")
        .version_id("bogus")
        .send()
        .await;
    expect_error(e, 400, "InvalidArgument");
    let other = put_version(&s, "other", b"x").await.unwrap();
    let e = s
        .client
        .get_object()
        .bucket("bkt")
        .key("obj")
        .version_id(other)
        .send()
        .await;
    expect_error(e, 404, "NoSuchVersion");
    // Copies answer their version too, and copy any version named.
    let copied = s.copy("bkt", "copy", "bkt/obj").send().await.unwrap();
    assert!(copied.version_id().is_some());
    // The copy shares its source's file: the source's next version leaves it alone.
    let v3 = put_version(&s, "obj", b"third").await.unwrap();
    assert_eq!(s.get("bkt", "copy").await, b"second");
    assert_eq!(get_version(&s, "obj", &v2).await, b"second");
    s.client
        .delete_object()
        .bucket("bkt")
        .key("obj")
        .version_id(&v3)
        .send()
        .await
        .unwrap();
    s.copy("bkt", "from-v1", format!("bkt/obj?versionId={v1}"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    assert_eq!(s.get("bkt", "from-v1").await, big);
    s.copy("bkt", "from-null", "bkt/obj?versionId=null")
        .send()
        .await
        .unwrap();
    assert_eq!(s.get("bkt", "from-null").await, b"current");
    let e = s.copy("bkt", "x", "bkt/obj?versionId=bogus").send().await;
    expect_error(e, 400, "InvalidArgument");
    assert_eq!(
        s.list_keys("bkt").await,
        ["copy", "from-null", "from-v1", "obj", "other"]
    );
    // Tagging reaches every version, each with its own tags.
    let tags = || {
        aws_sdk_s3::types::Tagging::builder()
            .tag_set(
                aws_sdk_s3::types::Tag::builder()
                    .key("k")
                    .value("v")
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()
    };
    let tag = |v: &str| {
        s.client
            .put_object_tagging()
            .bucket("bkt")
            .key("obj")
            .version_id(v)
            .tagging(tags())
    };
    tag(&v2)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    let out = tag(&v1)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    assert_eq!(out.version_id(), Some(v1.as_str()));
    expect_error(tag("bogus").send().await, 400, "InvalidArgument");
    let tags_of = |v: Option<&str>| {
        s.client
            .get_object_tagging()
            .bucket("bkt")
            .key("obj")
            .set_version_id(v.map(str::to_string))
            .send()
    };
    let got = tags_of(Some(&v1)).await.unwrap();
    assert_eq!(got.version_id(), Some(v1.as_str()));
    assert_eq!(got.tag_set().len(), 1);
    assert!(tags_of(Some("null")).await.unwrap().tag_set().is_empty());
    s.client
        .delete_object_tagging()
        .bucket("bkt")
        .key("obj")
        .version_id(&v2)
        .send()
        .await
        .unwrap();
    assert!(tags_of(None).await.unwrap().tag_set().is_empty());
    assert_eq!(
        tags_of(Some(&v1)).await.unwrap().tag_set().len(),
        1,
        "v1 keeps its own"
    );
    // GetObjectAttributes of a kept version is that version's.
    let attrs = s
        .client
        .get_object_attributes()
        .bucket("bkt")
        .key("obj")
        .version_id(&v1)
        .object_attributes(aws_sdk_s3::types::ObjectAttributes::ObjectSize)
        .object_attributes(aws_sdk_s3::types::ObjectAttributes::Etag)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    assert_eq!(attrs.object_size(), Some(big.len() as i64));
    assert_eq!(attrs.version_id(), Some(v1.as_str()));
    // A delete marker has no tags to read: 405, as S3.
    let marker = s.delete("bkt", "obj").await;
    let marker = marker.version_id().unwrap().to_string();
    expect_error(tags_of(Some(&marker)).await, 405, "MethodNotAllowed");
    assert_eq!(tags_of(Some(&v1)).await.unwrap().tag_set().len(), 1);
    // Folder markers keep versions too: deleting one adds a delete marker over it, and its
    // folder goes.
    s.put("bkt", "dir/", Vec::new()).await;
    let out = s.delete("bkt", "dir/").await;
    assert_eq!(out.delete_marker(), Some(true));
    assert!(files.shows_no_folder("bkt/dir"));
}

pub(crate) async fn three_deletes_make_three_markers_and_deleting_markers_brings_the_object_back(
    s: TestServer,
    files: &Plain,
) {
    set(&s, BucketVersioningStatus::Enabled).await;
    let v1 = put_version(&s, "dir/k", b"one").await.unwrap();
    let mut markers = Vec::new();
    for _ in 0..3 {
        let out = s.delete("bkt", "dir/k").await;
        assert_eq!(out.delete_marker(), Some(true));
        markers.push(out.version_id().unwrap().to_string());
    }
    assert!(
        files.shows_no_folder("bkt/dir"),
        "the directory shows the key gone"
    );
    assert_eq!(s.list_keys("bkt").await, ["obj"]);
    let newest = markers[2].clone();
    for method in ["GET", "HEAD"] {
        assert_eq!(
            raw(&s, method, "dir/k").await,
            (404, Some("true".into()), Some(newest.clone()))
        );
    }
    let e = s
        .client
        .get_object()
        .bucket("bkt")
        .key("dir/k")
        .version_id(&markers[0])
        .send()
        .await;
    expect_error(e, 405, "MethodNotAllowed");
    let listed = all_versions(&s, 1000).await;
    assert_eq!(
        listed,
        vec![
            entry("dir/k", &v1, false, false),
            entry("dir/k", &markers[2], true, true),
            entry("dir/k", &markers[1], false, true),
            entry("dir/k", &markers[0], false, true),
            entry("obj", "null", true, false),
        ]
    );
    // Markers deleted by id, the newest last: then the object is back.
    for m in [&markers[0], &markers[1], &markers[2]] {
        let out = s
            .client
            .delete_object()
            .bucket("bkt")
            .key("dir/k")
            .version_id(m)
            .send()
            .await
            .unwrap();
        assert_eq!(out.delete_marker(), Some(true));
        assert_eq!(out.version_id(), Some(m.as_str()));
    }
    assert_eq!(s.get("bkt", "dir/k").await, b"one");
    assert_eq!(std::fs::read(files.join("bkt/dir/k")).unwrap(), b"one");
    // A version deleted by id is gone for good; the bucket is empty only when no version or
    // marker is left.
    s.client
        .delete_object()
        .bucket("bkt")
        .key("dir/k")
        .version_id(&v1)
        .send()
        .await
        .unwrap();
    s.assert_no_such_key("bkt", "dir/k").await;
    s.delete("bkt", "obj").await;
    let e = s.client.delete_bucket().bucket("bkt").send().await;
    expect_error(e, 409, "BucketNotEmpty");
    // DeleteObjects takes version ids and tells of markers.
    let ids = all_versions(&s, 1000).await;
    let objects: Vec<ObjectIdentifier> = ids
        .iter()
        .map(|(k, v, _, _)| {
            ObjectIdentifier::builder()
                .key(k)
                .version_id(v)
                .build()
                .unwrap()
        })
        .collect();
    let out = delete_objects(&s.client, "bkt", objects).await;
    assert!(out.errors().is_empty(), "{:?}", out.errors());
    let marker = out
        .deleted()
        .iter()
        .find(|d| d.delete_marker() == Some(true))
        .unwrap();
    assert_eq!(marker.delete_marker_version_id(), marker.version_id());
    assert_eq!(out.deleted().len(), 2);
    s.client.delete_bucket().bucket("bkt").send().await.unwrap();
}

pub(crate) async fn suspended_writes_and_deletes_replace_the_null_version(
    s: TestServer,
    files: &Plain,
) {
    set(&s, BucketVersioningStatus::Enabled).await;
    let v1 = put_version(&s, "obj", b"versioned").await.unwrap();
    set(&s, BucketVersioningStatus::Suspended).await;
    // The null version from before versioning is replaced wherever it sits; S3 names no
    // version in the answer to a write while Suspended.
    assert_eq!(put_version(&s, "obj", b"null-2").await, None);
    assert_eq!(
        all_versions(&s, 1000).await,
        vec![
            entry("obj", "null", true, false),
            entry("obj", &v1, false, false)
        ]
    );
    assert_eq!(get_version(&s, "obj", "null").await, b"null-2");
    assert_eq!(std::fs::read(files.join("bkt/obj")).unwrap(), b"null-2");
    let out = s.delete("bkt", "obj").await;
    assert_eq!(
        (out.delete_marker(), out.version_id()),
        (Some(true), Some("null"))
    );
    assert_eq!(
        all_versions(&s, 1000).await,
        vec![
            entry("obj", &v1, false, false),
            entry("obj", "null", true, true)
        ]
    );
    assert_eq!(get_version(&s, "obj", &v1).await, b"versioned");
}

pub(crate) async fn list_object_versions_pages_with_both_markers(s: TestServer, files: &Plain) {
    set(&s, BucketVersioningStatus::Enabled).await;
    for key in ["a", "b/c", "b/d", "e"] {
        for round in 0..3 {
            put_version(&s, key, format!("{key}{round}").as_bytes()).await;
        }
    }
    s.delete("bkt", "e").await;
    let whole = all_versions(&s, 1000).await;
    assert_eq!(whole.len(), 1 + 4 * 3 + 1);
    for max in [1, 2, 3, 5] {
        assert_eq!(all_versions(&s, max).await, whole, "pages of {max}");
    }
    // A delimiter rolls a folder's versions up into one prefix.
    let out = s
        .client
        .list_object_versions()
        .bucket("bkt")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let prefixes: Vec<&str> = out
        .common_prefixes()
        .iter()
        .map(|p| p.prefix().unwrap())
        .collect();
    assert_eq!(prefixes, ["b/"]);
    assert_eq!(out.versions().len(), 3 + 3 + 1);
    assert_eq!(out.delete_markers().len(), 1);
    // The plain directory holds the current state only.
    assert_eq!(files_under(&files.join("bkt")), ["a", "b/c", "b/d", "obj"]);
}

/// UploadPartCopy takes any version as its source, whole or a range of it.
#[tokio::test(flavor = "multi_thread")]
async fn a_part_copies_any_version_whole_or_in_part() {
    let s = setup().await;
    set(&s, BucketVersioningStatus::Enabled).await;
    let old = pattern(5 * 1024 * 1024 + 11, 41);
    let v1 = put_version(&s, "src", &old).await.unwrap();
    put_version(&s, "src", b"the current one").await.unwrap();
    let up = s
        .client
        .create_multipart_upload()
        .bucket("bkt")
        .key("dst")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let copy = |n: i32, range: Option<&str>| {
        s.client
            .upload_part_copy()
            .bucket("bkt")
            .key("dst")
            .upload_id(id)
            .part_number(n)
            .copy_source(format!("bkt/src?versionId={v1}"))
            .set_copy_source_range(range.map(str::to_string))
            .send()
    };
    let whole = copy(1, None)
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    let tail = copy(2, Some("bytes=5242880-5242890"))
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    let e1 = whole
        .copy_part_result()
        .unwrap()
        .e_tag()
        .unwrap()
        .to_string();
    let e2 = tail
        .copy_part_result()
        .unwrap()
        .e_tag()
        .unwrap()
        .to_string();
    assert_eq!(e1, etag_of(&old));
    assert_eq!(e2, etag_of(&old[5_242_880..]));
    let parts = aws_sdk_s3::types::CompletedMultipartUpload::builder()
        .parts(
            aws_sdk_s3::types::CompletedPart::builder()
                .part_number(1)
                .e_tag(&e1)
                .build(),
        )
        .parts(
            aws_sdk_s3::types::CompletedPart::builder()
                .part_number(2)
                .e_tag(&e2)
                .build(),
        )
        .build();
    s.client
        .complete_multipart_upload()
        .bucket("bkt")
        .key("dst")
        .upload_id(id)
        .multipart_upload(parts)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    assert!(s.get("bkt", "dst").await == [&old[..], &old[5_242_880..]].concat());
    assert!(
        get_version(&s, "src", &v1).await == old,
        "the source version is untouched"
    );
}

/// Deletes version `version` of `key` for good; answers whether it was a delete marker.
async fn delete_version(s: &TestServer, key: &str, version: &str) -> Option<bool> {
    let out = s
        .client
        .delete_object()
        .bucket("bkt")
        .key(key)
        .version_id(version)
        .send()
        .await
        .unwrap_or_else(|e| panic!("delete {key}@{version}: {}", describe(&e)));
    assert_eq!(out.version_id(), Some(version));
    out.delete_marker()
}

/// The version HeadObject answers for `key` (its current one when `version` is `None`).
async fn head_version(s: &TestServer, key: &str, version: Option<&str>) -> Option<String> {
    let out = s
        .client
        .head_object()
        .bucket("bkt")
        .key(key)
        .set_version_id(version.map(str::to_string))
        .send()
        .await
        .unwrap_or_else(|e| panic!("head {key}@{version:?}: {}", describe(&e)));
    assert_eq!(out.content_length(), Some(0));
    out.version_id().map(str::to_string)
}

pub(crate) async fn folder_markers_get_versions_like_any_key(mut s: TestServer, files: &Plain) {
    set(&s, BucketVersioningStatus::Enabled).await;
    let v1 = put_version(&s, "dir/", b"").await.expect("a version id");
    let v2 = put_version(&s, "dir/", b"").await.expect("a version id");
    assert_ne!(v1, v2);
    s.put("bkt", "dir0", b"after".to_vec()).await;
    assert!(files.join("bkt/dir").is_dir(), "the marker is its folder");
    assert_eq!(head_version(&s, "dir/", None).await, Some(v2.clone()));
    // The marker it replaced reads back by its id, empty, with its own headers.
    assert_eq!(head_version(&s, "dir/", Some(&v1)).await, Some(v1.clone()));
    assert_eq!(get_version(&s, "dir/", &v1).await, b"");
    // A copy onto the marker (its headers replaced) is a version too.
    let copied = s
        .copy("bkt", "dir/", "bkt/dir/")
        .metadata("mode", "0755")
        .metadata_directive(aws_sdk_s3::types::MetadataDirective::Replace)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    let v3 = copied.version_id().expect("a version id").to_string();
    assert_eq!(
        s.user_meta("bkt", "dir/", "mode").await.as_deref(),
        Some("0755")
    );
    let head = s
        .client
        .head_object()
        .bucket("bkt")
        .key("dir/")
        .version_id(&v2)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    assert_eq!(head.metadata().and_then(|m| m.get("mode")), None);
    // Listed among the other keys, in S3's byte order, newest first.
    let want = vec![
        entry("dir/", &v3, true, false),
        entry("dir/", &v2, false, false),
        entry("dir/", &v1, false, false),
        entry("obj", "null", true, false),
    ];
    let listed: Vec<_> = all_versions(&s, 1000)
        .await
        .into_iter()
        .filter(|v| v.0 != "dir0")
        .collect();
    assert_eq!(listed, want);
    for max in [1, 2] {
        let paged: Vec<_> = all_versions(&s, max)
            .await
            .into_iter()
            .filter(|v| v.0 != "dir0")
            .collect();
        assert_eq!(paged, want, "pages of {max}");
    }
    let keys: Vec<_> = all_versions(&s, 1000)
        .await
        .into_iter()
        .map(|v| v.0)
        .collect();
    assert_eq!(keys, ["dir/", "dir/", "dir/", "dir0", "obj"]);
    // A marker and its versions copy as empty objects.
    for (version, to) in [(None, "copy-now"), (Some(&v1), "copy-v1")] {
        let source = match version {
            Some(v) => format!("bkt/dir/?versionId={v}"),
            None => "bkt/dir/".to_string(),
        };
        s.copy("bkt", to, source)
            .send()
            .await
            .unwrap_or_else(|e| panic!("copy to {to}: {}", describe(&e)));
        assert_eq!(s.get("bkt", to).await, b"", "{to}");
    }
    // Kept across a restart.
    s.restart().await;
    assert_eq!(head_version(&s, "dir/", Some(&v1)).await, Some(v1));
    assert_eq!(head_version(&s, "dir/", None).await, Some(v3));
}

pub(crate) async fn deleting_a_folder_marker_adds_a_delete_marker_and_deleting_versions_brings_it_back(
    s: TestServer,
    files: &Plain,
) {
    set(&s, BucketVersioningStatus::Enabled).await;
    let v1 = put_version(&s, "dir/", b"").await.unwrap();
    let v2 = put_version(&s, "dir/", b"").await.unwrap();
    let out = s.delete("bkt", "dir/").await;
    assert_eq!(out.delete_marker(), Some(true));
    let mark = out.version_id().expect("the marker's id").to_string();
    // The plain files show no folder, and the key answers as deleted.
    assert!(files.shows_no_folder("bkt/dir"));
    assert_eq!(
        raw(&s, "HEAD", "dir/").await,
        (404, Some("true".into()), Some(mark.clone()))
    );
    let r = http()
        .get(s.url(&format!("/bkt/dir/?versionId={mark}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);
    assert_eq!(
        all_versions(&s, 1000).await,
        vec![
            entry("dir/", &v2, false, false),
            entry("dir/", &v1, false, false),
            entry("dir/", &mark, true, true),
            entry("obj", "null", true, false),
        ]
    );
    // A bucket with nothing left but the marker's versions is not empty.
    delete_version(&s, "obj", "null").await;
    expect_error(
        s.client.delete_bucket().bucket("bkt").send().await,
        409,
        "BucketNotEmpty",
    );
    // The delete marker removed: the marker is back, folder and all.
    assert_eq!(delete_version(&s, "dir/", &mark).await, Some(true));
    assert!(files.join("bkt/dir").is_dir());
    assert_eq!(head_version(&s, "dir/", None).await, Some(v2.clone()));
    // The current version removed: the one before is current, the folder stays.
    assert_eq!(delete_version(&s, "dir/", &v2).await, None);
    assert_eq!(head_version(&s, "dir/", None).await, Some(v1.clone()));
    assert!(files.join("bkt/dir").is_dir());
    // Content under the folder keeps it when the marker is covered.
    s.put("bkt", "dir/x", b"x".to_vec()).await;
    let out = s.delete("bkt", "dir/").await;
    let mark = out.version_id().unwrap().to_string();
    assert_eq!(s.get("bkt", "dir/x").await, b"x");
    assert_eq!(raw(&s, "HEAD", "dir/").await.0, 404);
    delete_version(&s, "dir/x", &head_version_any(&s, "dir/x").await).await;
    // The last versions go: nothing is left of the key, nor of its folder.
    delete_version(&s, "dir/", &v1).await;
    delete_version(&s, "dir/", &mark).await;
    assert!(all_versions(&s, 1000).await.is_empty());
    assert!(files.shows_no_folder("bkt/dir"));
    s.client
        .delete_bucket()
        .bucket("bkt")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
}

/// The current version id of an object with content.
async fn head_version_any(s: &TestServer, key: &str) -> String {
    s.head("bkt", key).await.version_id().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn suspended_folder_markers_replace_the_null_version() {
    let s = setup().await;
    // Made before versioning: the null version.
    assert_eq!(put_version(&s, "dir/", b"").await, None);
    set(&s, BucketVersioningStatus::Enabled).await;
    let v1 = put_version(&s, "dir/", b"").await.unwrap();
    set(&s, BucketVersioningStatus::Suspended).await;
    assert_eq!(put_version(&s, "dir/", b"").await, None);
    let listed = versions_of(&s, "dir/").await;
    assert_eq!(
        listed,
        vec![
            entry("dir/", "null", true, false),
            entry("dir/", &v1, false, false)
        ]
    );
    let out = s.delete("bkt", "dir/").await;
    assert_eq!(
        (out.delete_marker(), out.version_id()),
        (Some(true), Some("null"))
    );
    let listed = versions_of(&s, "dir/").await;
    assert_eq!(
        listed,
        vec![
            entry("dir/", &v1, false, false),
            entry("dir/", "null", true, true)
        ]
    );
    assert!(!s.path_of("bkt", "dir").exists());
    // The null marker removed, the versioned marker is current again and its folder back.
    delete_version(&s, "dir/", "null").await;
    assert_eq!(head_version(&s, "dir/", None).await, Some(v1));
    assert!(s.path_of("bkt", "dir").is_dir());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_folder_marker_version_takes_tags_by_its_id() {
    let s = setup().await;
    set(&s, BucketVersioningStatus::Enabled).await;
    let v1 = put_version(&s, "dir/", b"").await.unwrap();
    let v2 = put_version(&s, "dir/", b"").await.unwrap();
    for (version, tag) in [(&v1, "old"), (&v2, "new")] {
        tag_version(&s, "dir/", version, &[(tag, "v")]).await;
    }
    for (version, tag) in [(&v1, "old"), (&v2, "new")] {
        let tags = version_tags(&s, "dir/", version).await;
        assert_eq!(tags, [(tag.to_string(), "v".to_string())]);
    }
    // Retagging made no version.
    assert_eq!(head_version(&s, "dir/", None).await, Some(v2));
}

#[tokio::test(flavor = "multi_thread")]
async fn content_and_markers_under_one_dir_key_share_its_history() {
    let s = setup().await;
    set(&s, BucketVersioningStatus::Enabled).await;
    let marker = put_version(&s, "dir/", b"").await.unwrap();
    // Content under the key is kept in the store of keys; the marker it replaces is kept.
    let content = put_version(&s, "dir/", b"content").await.unwrap();
    assert_eq!(s.get("bkt", "dir/").await, b"content");
    assert_eq!(get_version(&s, "dir/", &marker).await, b"");
    let listed = versions_of(&s, "dir/").await;
    assert_eq!(
        listed,
        vec![
            entry("dir/", &content, true, false),
            entry("dir/", &marker, false, false)
        ]
    );
    // The content removed for good: the marker is current again, folder and all.
    assert_eq!(delete_version(&s, "dir/", &content).await, None);
    assert_eq!(head_version(&s, "dir/", None).await, Some(marker.clone()));
    assert!(s.path_of("bkt", "dir").is_dir());
    // Content over the marker again, then the marker removed from below it.
    let again = put_version(&s, "dir/", b"again").await.unwrap();
    delete_version(&s, "dir/", &marker).await;
    assert_eq!(s.get("bkt", "dir/").await, b"again");
    // A delete marker over the content, then removed: the content is back.
    let out = s.delete("bkt", "dir/").await;
    let mark = out.version_id().unwrap().to_string();
    assert_eq!(raw(&s, "HEAD", "dir/").await.0, 404);
    delete_version(&s, "dir/", &mark).await;
    assert_eq!(s.get("bkt", "dir/").await, b"again");
    assert_eq!(head_version_any(&s, "dir/").await, again);
}

/// A file another program wrote while the server was stopped lists among the versions with its
/// bytes' ETag and size, as the `null` version and the latest of its key, between keys whose
/// histories S3 wrote: the page reads the index once and rebuilds such a record after.
#[tokio::test(flavor = "multi_thread")]
async fn a_file_written_by_another_program_lists_among_the_versions() {
    let mut s = setup().await;
    set(&s, BucketVersioningStatus::Enabled).await;
    let a1 = put_version(&s, "a", b"one").await.unwrap();
    let a2 = put_version(&s, "a", b"two").await.unwrap();
    let c1 = put_version(&s, "c", b"three").await.unwrap();
    s.stop_server().await;
    let foreign = b"written by another program".to_vec();
    std::fs::write(s.path_of("bkt", "b"), &foreign).unwrap();
    s.start_again().await;
    let page = s
        .client
        .list_object_versions()
        .bucket("bkt")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    let shown: Vec<_> = page
        .versions()
        .iter()
        .map(|v| {
            (
                v.key().unwrap(),
                v.version_id().unwrap(),
                v.is_latest().unwrap(),
                v.e_tag().unwrap().to_string(),
                v.size().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            ("a", a2.as_str(), true, etag_of(b"two"), 3),
            ("a", a1.as_str(), false, etag_of(b"one"), 3),
            ("b", "null", true, etag_of(&foreign), foreign.len() as i64),
            ("c", c1.as_str(), true, etag_of(b"three"), 5),
            ("obj", "null", true, etag_of(b"current"), 7),
        ]
    );
    assert!(page.delete_markers().is_empty());
}

/// Keys that XML must escape (markup characters, control characters, CR, non-ASCII, a
/// noncharacter) list as they are in versions, markers and common prefixes, and percent-encoded
/// with `encoding-type=url`, markers of the next page included; version ids, `IsLatest`, ETags
/// and the storage class are written as S3 writes them.
#[tokio::test(flavor = "multi_thread")]
async fn a_version_listing_escapes_its_keys_and_encodes_them_on_request() {
    let s = setup().await;
    set(&s, BucketVersioningStatus::Enabled).await;
    let keys = [
        "amp&lt<>\"'.txt",
        "ctl\u{1}char\rcr",
        "tab\tand\nnewline",
        "ünï/cödé",
        "nonchar\u{FFFF}",
    ];
    // Per key, newest first: (version id, is a marker, body).
    type Made<'a> = (String, Vec<(String, bool, &'a str)>);
    let mut made: Vec<Made> = Vec::new();
    for key in keys {
        let old = put_versioned(&s, key, "old").await;
        let new = put_versioned(&s, key, "newer").await;
        made.push((
            key.to_string(),
            vec![(new, false, "newer"), (old, false, "old")],
        ));
    }
    let marker = s.delete("bkt", keys[0]).await;
    let marker = marker.version_id().expect("a marker's id").to_string();
    made[0].1.insert(0, (marker, true, ""));
    made.push(("obj".into(), vec![("null".into(), false, "current")]));
    made.sort();
    let want: Vec<(String, String, bool, bool)> = made
        .iter()
        .flat_map(|(k, vs)| {
            vs.iter()
                .enumerate()
                .map(|(i, (id, marker, _))| (k.clone(), id.clone(), i == 0, *marker))
        })
        .collect();
    let mut sorted = want.clone();
    sorted.sort_by(|a, b| (&a.0, a.3).cmp(&(&b.0, b.3)));
    assert_eq!(all_versions(&s, 1000).await, sorted);
    assert_eq!(all_versions(&s, 2).await, sorted);

    // The document itself: every value as written, in order.
    let body = http()
        .get(s.url("/bkt?versions"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        body.contains("<Key>amp&amp;lt&lt;&gt;&quot;&apos;.txt</Key>")
            && body.contains("<Key>ctl&#x1;char&#xD;cr</Key>")
            && body.contains("<Key>nonchar&#xFFFF;</Key>")
            && body.contains("<Key>ünï/cödé</Key>"),
        "{body}"
    );
    assert_eq!(
        xml_values(&body, "VersionId"),
        want.iter().map(|w| w.1.clone()).collect::<Vec<_>>()
    );
    assert_eq!(
        xml_values(&body, "IsLatest"),
        want.iter().map(|w| w.2.to_string()).collect::<Vec<_>>()
    );
    let etags: Vec<String> = made
        .iter()
        .flat_map(|(_, vs)| vs.iter().filter(|v| !v.1).map(|v| etag_of(v.2.as_bytes())))
        .collect();
    assert_eq!(xml_values(&body, "ETag"), etags);
    assert_eq!(
        xml_values(&body, "StorageClass"),
        vec!["STANDARD"; etags.len()]
    );
    assert_eq!(xml_value(&body, "IsTruncated").as_deref(), Some("false"));

    // URL-encoded: keys, common prefixes and the next page's key marker.
    let listed = |query: &'static str| {
        let s = &s;
        async move {
            let body = http()
                .get(s.url(&format!("/bkt?versions&encoding-type=url{query}")))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            for k in xml_values(&body, "Key")
                .iter()
                .chain(&xml_values(&body, "Prefix"))
                .chain(&xml_values(&body, "NextKeyMarker"))
            {
                assert!(
                    k.bytes()
                        .all(|b| b.is_ascii_graphic() && b != b'<' && b != b'&'),
                    "not URL-encoded: {k:?} in {body}"
                );
            }
            assert_eq!(xml_value(&body, "EncodingType").as_deref(), Some("url"));
            body
        }
    };
    let body = listed("").await;
    let decoded: Vec<String> = xml_values(&body, "Key")
        .iter()
        .map(|k| unquote_plus(k))
        .collect();
    assert_eq!(
        decoded,
        want.iter().map(|w| w.0.clone()).collect::<Vec<_>>(),
        "{body}"
    );
    let body = listed("&max-keys=1").await;
    assert_eq!(
        xml_value(&body, "NextKeyMarker").map(|k| unquote_plus(&k)),
        Some(want[0].0.clone()),
        "{body}"
    );
    let body = listed("&delimiter=%2F").await;
    assert_eq!(
        xml_values(&body, "Prefix")
            .iter()
            .map(|p| unquote_plus(p))
            .collect::<Vec<_>>(),
        ["", "ünï/"],
        "{body}"
    );
}
