//! Versions through the write cache (`--vfs-cache-mode writes`) on a local directory: a
//! version waiting in the cache is uploaded and kept on the remote when an overwrite, a copy, a
//! Complete or a delete marker replaces it; one deleted by its id leaves the cache and its
//! queue; object lock guards it as any version; the `null` version waiting there is replaced
//! while Suspended; a queue left by a stop is uploaded and every version reads back. The
//! write-back waits an hour unless a test says otherwise, so what is written stays in the cache
//! until a change moves it.

use std::time::Duration;

use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{
    MetadataDirective, ObjectIdentifier, ObjectLockMode, ObjectLockRetentionMode,
};

use crate::common::*;
use crate::writeback::cached_server;

/// A server writing through the cache, waiting an hour before any upload, with bucket `bkt`
/// keeping versions.
async fn versioned() -> TestServer {
    let s = cached_server(Duration::from_secs(3600)).await;
    s.create_bucket("bkt").await;
    enable_versioning(&s.client, "bkt").await;
    s
}

/// What waits in the cache, by path.
fn waiting(s: &TestServer) -> Vec<String> {
    files_under(&s.root().join(".s3gate/writeback/data"))
}

/// How many files the version store on the remote holds.
fn kept_on_remote(s: &TestServer) -> usize {
    files_under(&s.root().join(".s3gate/versions")).len()
}

/// The history a key has with `ids` (newest first) as versions, the first the latest, as
/// [`key_history`] gives it.
fn versions(ids: &[&str]) -> Vec<(String, bool, bool)> {
    ids.iter()
        .enumerate()
        .map(|(n, id)| (id.to_string(), n == 0, false))
        .collect()
}

/// GET and HEAD of the key without a version: status, `x-amz-delete-marker`, version id.
async fn current(s: &TestServer, key: &str) -> (u16, Option<String>, Option<String>) {
    let r = http()
        .get(s.url(&format!("/bkt/{key}")))
        .send()
        .await
        .unwrap();
    let header = |name: &str| {
        r.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    };
    (
        r.status().as_u16(),
        header("x-amz-delete-marker"),
        header("x-amz-version-id"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overwrites_keep_the_version_replaced_waiting_or_uploaded() {
    let mut s = versioned().await;
    let big: Vec<u8> = pattern(3_000_000, 5);
    let v1 = put_versioned(&s, "k", "one").await;
    // v1 waits in the cache: replacing it uploads it and keeps it on the remote.
    let v2 = s
        .client
        .put_object()
        .bucket("bkt")
        .key("k")
        .body(ByteStream::from(big.clone()))
        .send()
        .await
        .unwrap()
        .version_id()
        .unwrap()
        .to_string();
    let v3 = put_versioned(&s, "k", "three").await;
    assert_eq!(waiting(&s), ["bkt/k"], "only the current version waits");
    assert!(!s.path_of("bkt", "k").exists());
    assert_eq!(kept_on_remote(&s), 2);
    assert_eq!(
        key_history(&s.client, "bkt", "k").await,
        versions(&[&v3, &v2, &v1])
    );
    assert_eq!(get_version(&s, "k", &v1).await, b"one");
    assert_eq!(get_version(&s, "k", &v2).await, big);
    assert_eq!(get_version(&s, "k", &v3).await, b"three");
    assert_eq!(s.head("bkt", "k").await.version_id(), Some(v3.as_str()));

    // Uploaded by the next run, v3 is replaced on the remote as without the cache.
    s.stop_server().await;
    s.config.vfs.write_back = Duration::from_millis(10);
    s.start_again().await;
    eventually("v3 uploaded", || waiting(&s).is_empty()).await;
    assert_eq!(std::fs::read(s.path_of("bkt", "k")).unwrap(), b"three");
    let v4 = put_versioned(&s, "k", "four").await;
    assert_eq!(kept_on_remote(&s), 3);
    assert_eq!(
        key_history(&s.client, "bkt", "k").await,
        versions(&[&v4, &v3, &v2, &v1])
    );
    for (id, want) in [(&v1, &b"one"[..]), (&v3, b"three"), (&v4, b"four")] {
        assert_eq!(get_version(&s, "k", id).await, want);
    }
    eventually("v4 uploaded", || waiting(&s).is_empty()).await;
    assert_eq!(std::fs::read(s.path_of("bkt", "k")).unwrap(), b"four");
    assert_eq!(get_version(&s, "k", &v2).await, big);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_marker_over_a_waiting_version_keeps_it() {
    let s = versioned().await;
    let v1 = put_versioned(&s, "dir/k", "one").await;
    let out = s.delete("bkt", "dir/k").await;
    assert_eq!(out.delete_marker(), Some(true));
    let marker = out.version_id().unwrap().to_string();
    assert!(waiting(&s).is_empty(), "nothing waits under a marker");
    assert_eq!(kept_on_remote(&s), 1);
    assert!(
        !s.path_of("bkt", "dir").exists(),
        "the plain files show no key"
    );
    assert_eq!(
        current(&s, "dir/k").await,
        (404, Some("true".into()), Some(marker.clone()))
    );
    assert_eq!(
        key_history(&s.client, "bkt", "dir/k").await,
        vec![(marker.clone(), true, true), (v1.clone(), false, false)]
    );
    assert_eq!(get_version(&s, "dir/k", &v1).await, b"one");
    // The marker removed by its id: v1 is current again, from the remote.
    s.client
        .delete_object()
        .bucket("bkt")
        .key("dir/k")
        .version_id(&marker)
        .send()
        .await
        .unwrap();
    assert_eq!(s.get("bkt", "dir/k").await, b"one");
    assert_eq!(std::fs::read(s.path_of("bkt", "dir/k")).unwrap(), b"one");
    assert_eq!(
        key_history(&s.client, "bkt", "dir/k").await,
        versions(&[&v1])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_waiting_version_by_id_brings_back_the_one_before() {
    let mut s = versioned().await;
    let v1 = put_versioned(&s, "k", "one").await;
    let v2 = put_versioned(&s, "k", "two").await;
    assert_eq!(waiting(&s), ["bkt/k"]);
    let out = s
        .client
        .delete_object()
        .bucket("bkt")
        .key("k")
        .version_id(&v2)
        .send()
        .await
        .unwrap();
    assert_eq!(
        (out.version_id(), out.delete_marker()),
        (Some(v2.as_str()), None)
    );
    // Gone from the cache and its queue: v1 is current on the remote.
    assert!(waiting(&s).is_empty());
    assert_eq!(kept_on_remote(&s), 0);
    assert_eq!(std::fs::read(s.path_of("bkt", "k")).unwrap(), b"one");
    assert_eq!(s.get("bkt", "k").await, b"one");
    assert_eq!(key_history(&s.client, "bkt", "k").await, versions(&[&v1]));
    expect_error(
        s.client
            .get_object()
            .bucket("bkt")
            .key("k")
            .version_id(&v2)
            .send()
            .await,
        404,
        "NoSuchVersion",
    );
    // Nothing of it is uploaded later.
    s.stop_server().await;
    s.config.vfs.write_back = Duration::from_millis(10);
    s.start_again().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(std::fs::read(s.path_of("bkt", "k")).unwrap(), b"one");
    assert_eq!(key_history(&s.client, "bkt", "k").await, versions(&[&v1]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_list_and_read_by_id_whether_waiting_or_not() {
    let s = versioned().await;
    // Keys whose current version waits, or was kept on the remote, or both.
    let a1 = put_versioned(&s, "a", "a1").await;
    let a2 = put_versioned(&s, "a", "a2").await;
    let b1 = put_versioned(&s, "b", "b1").await;
    let marker = s.delete("bkt", "c").await.version_id().unwrap().to_string();
    assert_eq!(waiting(&s), ["bkt/a", "bkt/b"]);
    let out = s
        .client
        .list_object_versions()
        .bucket("bkt")
        .max_keys(2)
        .send()
        .await
        .unwrap();
    assert_eq!(out.is_truncated(), Some(true));
    let listed: Vec<_> = out
        .versions()
        .iter()
        .map(|v| (v.key().unwrap(), v.version_id().unwrap()))
        .collect();
    assert_eq!(listed, [("a", a2.as_str()), ("a", a1.as_str())]);
    let rest = s
        .client
        .list_object_versions()
        .bucket("bkt")
        .key_marker(out.next_key_marker().unwrap())
        .version_id_marker(out.next_version_id_marker().unwrap())
        .send()
        .await
        .unwrap();
    let listed: Vec<_> = rest
        .versions()
        .iter()
        .map(|v| (v.key().unwrap(), v.version_id().unwrap()))
        .collect();
    assert_eq!(listed, [("b", b1.as_str())]);
    assert_eq!(rest.delete_markers().len(), 1);
    assert_eq!(rest.delete_markers()[0].version_id(), Some(marker.as_str()));
    for (key, id, want) in [("a", &a1, "a1"), ("a", &a2, "a2"), ("b", &b1, "b1")] {
        assert_eq!(get_version(&s, key, id).await, want.as_bytes());
    }
    assert_eq!(s.list_keys("bkt").await, ["a", "b"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspended_writes_and_deletes_replace_a_waiting_null_version() {
    let mut s = versioned().await;
    let v1 = put_versioned(&s, "k", "versioned").await;
    suspend_versioning(&s.client, "bkt").await;
    // v1 is kept; the null version waits, and is replaced in the cache.
    s.put("bkt", "k", b"null-1".to_vec()).await;
    s.put("bkt", "k", b"null-2".to_vec()).await;
    assert_eq!(waiting(&s), ["bkt/k"]);
    assert_eq!(kept_on_remote(&s), 1);
    assert_eq!(
        key_history(&s.client, "bkt", "k").await,
        versions(&["null", &v1])
    );
    assert_eq!(get_version(&s, "k", "null").await, b"null-2");
    assert_eq!(get_version(&s, "k", &v1).await, b"versioned");
    // A delete: the null marker replaces the waiting null version for good.
    let out = s.delete("bkt", "k").await;
    assert_eq!(
        (out.delete_marker(), out.version_id()),
        (Some(true), Some("null"))
    );
    assert!(waiting(&s).is_empty());
    assert_eq!(
        key_history(&s.client, "bkt", "k").await,
        vec![("null".into(), true, true), (v1.clone(), false, false)]
    );
    s.put("bkt", "k", b"null-3".to_vec()).await;
    assert_eq!(
        key_history(&s.client, "bkt", "k").await,
        versions(&["null", &v1])
    );
    s.stop_server().await;
    s.config.vfs.write_back = Duration::from_millis(10);
    s.start_again().await;
    eventually("null-3 uploaded", || waiting(&s).is_empty()).await;
    assert_eq!(std::fs::read(s.path_of("bkt", "k")).unwrap(), b"null-3");
    assert_eq!(get_version(&s, "k", "null").await, b"null-3");
    assert_eq!(get_version(&s, "k", &v1).await, b"versioned");
    assert_eq!(kept_on_remote(&s), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_lock_guards_a_waiting_version() {
    let s = cached_server(Duration::from_secs(3600)).await;
    s.client
        .create_bucket()
        .bucket("bkt")
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    let until = DateTime::from_secs(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
            + 86_400,
    );
    let put = |key: &'static str, mode: ObjectLockMode| {
        s.client
            .put_object()
            .bucket("bkt")
            .key(key)
            .object_lock_mode(mode)
            .object_lock_retain_until_date(until)
            .body(ByteStream::from_static(b"locked"))
            .send()
    };
    let kept = put("kept", ObjectLockMode::Compliance).await.unwrap();
    let kept = kept.version_id().unwrap().to_string();
    let gov = put("gov", ObjectLockMode::Governance).await.unwrap();
    let gov = gov.version_id().unwrap().to_string();
    assert_eq!(waiting(&s), ["bkt/gov", "bkt/kept"]);
    let delete = |key: &'static str, id: String, bypass: bool| {
        s.client
            .delete_object()
            .bucket("bkt")
            .key(key)
            .version_id(id)
            .bypass_governance_retention(bypass)
            .send()
    };
    // Refused while waiting: nothing changes.
    expect_error(
        delete("kept", kept.clone(), true).await,
        403,
        "AccessDenied",
    );
    expect_error(delete("gov", gov.clone(), false).await, 403, "AccessDenied");
    assert_eq!(waiting(&s), ["bkt/gov", "bkt/kept"]);
    assert_eq!(get_version(&s, "kept", &kept).await, b"locked");
    // Replaced, it is kept on the remote with its lock, which still refuses.
    let newer = put_versioned(&s, "kept", "newer").await;
    expect_error(
        delete("kept", kept.clone(), true).await,
        403,
        "AccessDenied",
    );
    let held = s
        .client
        .get_object_retention()
        .bucket("bkt")
        .key("kept")
        .version_id(&kept)
        .send()
        .await
        .unwrap();
    let retention = held.retention().unwrap();
    assert_eq!(retention.mode(), Some(&ObjectLockRetentionMode::Compliance));
    assert_eq!(get_version(&s, "kept", &kept).await, b"locked");
    assert_eq!(
        key_history(&s.client, "bkt", "kept").await,
        versions(&[&newer, &kept])
    );
    // GOVERNANCE yields to the bypass: the waiting version goes, cache and queue.
    delete("gov", gov.clone(), true).await.unwrap();
    assert_eq!(waiting(&s), ["bkt/kept"]);
    assert!(key_history(&s.client, "bkt", "gov").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_completes_and_multi_deletes_keep_a_waiting_version() {
    let s = versioned().await;
    let v1 = put_versioned(&s, "k", "one").await;
    // A copy onto itself makes a version: the waiting one is kept.
    let copied = s
        .client
        .copy_object()
        .bucket("bkt")
        .key("k")
        .copy_source("bkt/k")
        .metadata_directive(MetadataDirective::Replace)
        .metadata("n", "2")
        .send()
        .await
        .unwrap_or_else(|e| panic!("copy: {}", describe(&e)));
    let v2 = copied.version_id().unwrap().to_string();
    assert_eq!(waiting(&s), ["bkt/k"]);
    // A Complete over it: v2 is kept.
    let up = s
        .client
        .create_multipart_upload()
        .bucket("bkt")
        .key("k")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let part = s
        .client
        .upload_part()
        .bucket("bkt")
        .key("k")
        .upload_id(id)
        .part_number(1)
        .body(ByteStream::from_static(b"assembled"))
        .send()
        .await
        .unwrap();
    let parts = numbered_parts(&[part.e_tag().unwrap()]);
    let done = complete_upload(&s.client, "bkt", "k", id, parts)
        .send()
        .await
        .unwrap_or_else(|e| panic!("complete: {}", describe(&e)));
    let v3 = done.version_id().unwrap().to_string();
    assert_eq!(
        key_history(&s.client, "bkt", "k").await,
        versions(&[&v3, &v2, &v1])
    );
    assert_eq!(get_version(&s, "k", &v1).await, b"one");
    assert_eq!(get_version(&s, "k", &v2).await, b"one");
    assert_eq!(get_version(&s, "k", &v3).await, b"assembled");
    let meta = s
        .client
        .head_object()
        .bucket("bkt")
        .key("k")
        .version_id(&v2)
        .send()
        .await
        .unwrap();
    assert_eq!(
        meta.metadata().unwrap().get("n").map(String::as_str),
        Some("2")
    );
    // DeleteObjects: the waiting v3 by its id, and a marker over another waiting key.
    let o1 = put_versioned(&s, "o", "other").await;
    let objects = vec![
        ObjectIdentifier::builder()
            .key("k")
            .version_id(&v3)
            .build()
            .unwrap(),
        ObjectIdentifier::builder().key("o").build().unwrap(),
    ];
    let out = delete_objects(&s.client, "bkt", objects).await;
    assert_eq!(out.deleted().len(), 2, "{:?}", out.errors());
    assert!(waiting(&s).is_empty());
    assert_eq!(s.get("bkt", "k").await, b"one");
    assert_eq!(
        key_history(&s.client, "bkt", "k").await,
        versions(&[&v2, &v1])
    );
    let o = key_history(&s.client, "bkt", "o").await;
    assert_eq!((o.len(), o[0].1, &o[1].0), (2, true, &o1));
    assert_eq!(get_version(&s, "o", &o1).await, b"other");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_the_remote_fails_leaves_the_waiting_version_as_it_was() {
    let s = versioned().await;
    let v1 = put_versioned(&s, "k", "one").await;
    // The remote's staging folder made a file: nothing can be uploaded to it.
    let staging = s.root().join(".s3gate/tmp");
    std::fs::remove_dir_all(&staging).unwrap();
    std::fs::write(&staging, b"in the way").unwrap();
    let put = s
        .client
        .put_object()
        .bucket("bkt")
        .key("k")
        .body(ByteStream::from_static(b"two"))
        .send()
        .await;
    expect_error(put, 500, "InternalError");
    let delete = s.client.delete_object().bucket("bkt").key("k").send().await;
    expect_error(delete, 500, "InternalError");
    assert_eq!(waiting(&s), ["bkt/k"]);
    assert_eq!(kept_on_remote(&s), 0);
    assert_eq!(key_history(&s.client, "bkt", "k").await, versions(&[&v1]));
    assert_eq!(s.get("bkt", "k").await, b"one");
    // The remote back: the same change is made.
    std::fs::remove_file(&staging).unwrap();
    std::fs::create_dir(&staging).unwrap();
    let v2 = put_versioned(&s, "k", "two").await;
    assert_eq!(
        key_history(&s.client, "bkt", "k").await,
        versions(&[&v2, &v1])
    );
    assert_eq!(get_version(&s, "k", &v1).await, b"one");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_left_by_a_stop_is_uploaded_and_every_version_reads_back() {
    let mut s = versioned().await;
    let mut made = Vec::new();
    for n in 0..3 {
        let body = format!("k #{n}");
        made.push((put_versioned(&s, "k", &body).await, body));
    }
    let o1 = put_versioned(&s, "d/o", "o").await;
    let gone = put_versioned(&s, "gone", "covered").await;
    let marker = s
        .delete("bkt", "gone")
        .await
        .version_id()
        .unwrap()
        .to_string();
    assert_eq!(waiting(&s), ["bkt/d/o", "bkt/k"]);
    s.stop_server().await;
    s.config.vfs.write_back = Duration::from_millis(10);
    s.start_again().await;
    eventually("the queue uploaded", || waiting(&s).is_empty()).await;
    assert_eq!(std::fs::read(s.path_of("bkt", "k")).unwrap(), b"k #2");
    assert_eq!(std::fs::read(s.path_of("bkt", "d/o")).unwrap(), b"o");
    let ids: Vec<&str> = made.iter().rev().map(|(id, _)| id.as_str()).collect();
    assert_eq!(key_history(&s.client, "bkt", "k").await, versions(&ids));
    for (id, body) in &made {
        assert_eq!(get_version(&s, "k", id).await, body.as_bytes());
    }
    assert_eq!(get_version(&s, "d/o", &o1).await, b"o");
    assert_eq!(get_version(&s, "gone", &gone).await, b"covered");
    assert_eq!(
        key_history(&s.client, "bkt", "gone").await,
        vec![(marker, true, true), (gone.clone(), false, false)]
    );
    assert_eq!(kept_on_remote(&s), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_null_version_a_crash_left_in_the_cache_stays_the_null_version() {
    let mut s = versioned().await;
    let v1 = put_versioned(&s, "k", "versioned").await;
    suspend_versioning(&s.client, "bkt").await;
    s.put("bkt", "k", b"null-1".to_vec()).await;
    s.stop_server().await;
    // As if a second write of the null version had renamed its file into the cache and the
    // server died before its record: that file is the null version now.
    let cached = s.root().join(".s3gate/writeback/data/bkt/k");
    std::fs::write(&cached, b"null, cut off").unwrap();
    s.start_again().await;
    assert_eq!(get_version(&s, "k", "null").await, b"null, cut off");
    assert_eq!(
        key_history(&s.client, "bkt", "k").await,
        versions(&["null", &v1])
    );
    // Still the null version: the next Suspended write replaces it.
    s.put("bkt", "k", b"null-2".to_vec()).await;
    assert_eq!(
        key_history(&s.client, "bkt", "k").await,
        versions(&["null", &v1])
    );
    assert_eq!(get_version(&s, "k", "null").await, b"null-2");
    assert_eq!(get_version(&s, "k", &v1).await, b"versioned");
}

/// The object lock scenarios any remote keeping versions passes, through the write cache.
mod object_lock_scenarios {
    use crate::common::TestServer;

    async fn start() -> (TestServer, ()) {
        (
            super::cached_server(std::time::Duration::from_millis(300)).await,
            (),
        )
    }

    crate::object_lock::object_lock_scenarios!(
        #[doc = "On a local directory, through the write cache."]
        start()
    );
}
