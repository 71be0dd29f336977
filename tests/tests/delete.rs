//! DeleteObject and DeleteObjects: answers, per-key errors, parent folder cleanup on disk,
//! `no_cleanup`, and deletes racing with writes into the same folder.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};

use crate::common::*;

fn delete_request(keys: &[&str], quiet: bool) -> Delete {
    let objects = keys
        .iter()
        .map(|k| ObjectIdentifier::builder().key(*k).build().unwrap())
        .collect();
    Delete::builder()
        .set_objects(Some(objects))
        .quiet(quiet)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_object_and_missing_key() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    s.put("bkt", "doomed", "bye").await;
    s.delete("bkt", "doomed").await;
    assert!(!s.path_of("bkt", "doomed").exists());
    expect_error(
        s.client
            .get_object()
            .bucket("bkt")
            .key("doomed")
            .send()
            .await,
        404,
        "NoSuchKey",
    );
    assert!(s.list_keys("bkt").await.is_empty());

    // Deleting a missing key: 204 all the same.
    let r = http()
        .delete(s.url("/bkt/never-existed"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    s.delete("bkt", "no/such/deep/key").await;

    expect_error(
        s.client
            .delete_object()
            .bucket("nobkt")
            .key("k")
            .send()
            .await,
        404,
        "NoSuchBucket",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_removes_parent_folders_that_became_empty() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    s.put("bkt", "a/b/c/d.txt", "deep").await;
    s.put("bkt", "a/keep.txt", "keep").await;
    s.delete("bkt", "a/b/c/d.txt").await;
    assert!(
        !s.root().join("bkt/a/b").exists(),
        "empty a/b/c and a/b are removed"
    );
    assert!(s.root().join("bkt/a").is_dir(), "a still holds keep.txt");
    s.delete("bkt", "a/keep.txt").await;
    assert!(!s.root().join("bkt/a").exists());
    assert!(s.root().join("bkt").is_dir(), "the bucket itself stays");
    s.client.head_bucket().bucket("bkt").send().await.unwrap();

    // An object can now be created where the folder was.
    s.put("bkt", "a", "now a file").await;
    assert_eq!(s.get("bkt", "a").await, b"now a file");
}

#[tokio::test(flavor = "multi_thread")]
async fn no_cleanup_keeps_empty_folders_out_of_listings() {
    let s = TestServer::start_with(|c| c.vfs.no_cleanup = true).await;
    s.create_bucket("bkt").await;
    s.put("bkt", "x/y/z.txt", "z").await;
    s.put("bkt", "top", "t").await;
    s.delete("bkt", "x/y/z.txt").await;
    assert!(!s.path_of("bkt", "x/y/z.txt").exists());
    assert!(
        s.root().join("bkt/x/y").is_dir(),
        "no_cleanup keeps the folders"
    );

    // Empty folders are not objects and not common prefixes.
    assert_eq!(s.list_keys("bkt").await, ["top"]);
    let out = s
        .client
        .list_objects_v2()
        .bucket("bkt")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    assert!(
        out.common_prefixes().is_empty(),
        "{:?}",
        out.common_prefixes()
    );
    assert_eq!(out.key_count(), Some(1));
    let out = s
        .client
        .list_objects_v2()
        .bucket("bkt")
        .prefix("x/")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    assert!(out.contents().is_empty() && out.common_prefixes().is_empty());

    // A bucket holding only empty folders is empty.
    s.delete("bkt", "top").await;
    s.client
        .delete_bucket()
        .bucket("bkt")
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "a bucket with only empty folders is empty: {}",
                describe(&e)
            )
        });
    assert!(!s.root().join("bkt").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_objects_verbose() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    for k in ["one", "dir/two", "dir/sub/three", "stays"] {
        s.put("bkt", k, k).await;
    }
    let out = s
        .client
        .delete_objects()
        .bucket("bkt")
        .delete(delete_request(
            &["one", "dir/two", "dir/sub/three", "missing"],
            false,
        ))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    let mut deleted: Vec<_> = out.deleted().iter().map(|d| d.key().unwrap()).collect();
    deleted.sort();
    assert_eq!(deleted, ["dir/sub/three", "dir/two", "missing", "one"]);
    assert!(out.errors().is_empty(), "{:?}", out.errors());
    assert_eq!(s.list_keys("bkt").await, ["stays"]);
    assert!(
        !s.root().join("bkt/dir").exists(),
        "emptied folders are cleaned up"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_objects_quiet() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    for k in ["q1", "q2", "q3"] {
        s.put("bkt", k, k).await;
    }
    let out = s
        .client
        .delete_objects()
        .bucket("bkt")
        .delete(delete_request(&["q1", "q3", "absent"], true))
        .send()
        .await
        .unwrap();
    assert!(
        out.deleted().is_empty(),
        "quiet mode lists no deletions: {:?}",
        out.deleted()
    );
    assert!(out.errors().is_empty());
    assert_eq!(s.list_keys("bkt").await, ["q2"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_objects_with_unsafe_keys_never_reaches_outside_the_bucket() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    s.create_bucket("victims").await;
    s.put("victims", "victim", "v").await;
    std::fs::write(s.root().join("escape"), b"outside any bucket").unwrap();
    s.put("bkt", "other", "o").await;
    let unsafe_keys = [
        "../escape",
        "../victims/victim",
        "a//b",
        "/other",
        "./other",
    ];
    for quiet in [false, true] {
        s.put("bkt", "good", "g").await;
        let mut keys = vec!["good"];
        keys.extend(unsafe_keys);
        let out = s
            .client
            .delete_objects()
            .bucket("bkt")
            .delete(delete_request(&keys, quiet))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{}", describe(&e)));
        let errors: Vec<_> = out
            .errors()
            .iter()
            .map(|e| (e.key().unwrap_or(""), e.code().unwrap_or("")))
            .collect();
        let deleted: Vec<_> = out.deleted().iter().map(|d| d.key().unwrap()).collect();
        let ctx = format!("quiet={quiet}; deleted: {deleted:?}; errors: {errors:?}");
        // Nothing outside the bucket, and nothing but `good` inside it, is touched.
        assert_eq!(
            std::fs::read(s.root().join("escape")).unwrap(),
            b"outside any bucket",
            "{ctx}"
        );
        assert_eq!(s.get("victims", "victim").await, b"v", "{ctx}");
        assert_eq!(s.list_keys("bkt").await, ["other"], "{ctx}");
        // Each unsafe key is answered like an absent key (deleted) or with a per-key
        // InvalidArgument error; never with anything else.
        for (_, code) in &errors {
            assert_eq!(*code, "InvalidArgument", "{ctx}");
        }
        if quiet {
            assert!(deleted.is_empty(), "{ctx}");
        } else {
            assert!(deleted.contains(&"good"), "{ctx}");
        }
        for k in unsafe_keys {
            let n = deleted.iter().filter(|d| **d == k).count()
                + errors.iter().filter(|(e, _)| *e == k).count();
            let expected = if quiet && !errors.iter().any(|(e, _)| *e == k) {
                0
            } else {
                1
            };
            assert_eq!(n, expected, "{k:?} answered {n} times; {ctx}");
        }
    }
    expect_error(
        s.client
            .delete_objects()
            .bucket("nobkt")
            .delete(delete_request(&["x"], false))
            .send()
            .await,
        404,
        "NoSuchBucket",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_objects_answers_each_key_once() {
    // Written before the start, so the start-up scan indexes them.
    let dir = tempfile::tempdir().unwrap();
    let keys: Vec<String> = (0..300).map(|i| format!("d{}/k{i:03}", i % 7)).collect();
    for k in &keys {
        let p = dir.path().join("bkt").join(k);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, k.as_bytes()).unwrap();
    }
    let s = TestServer::start_in(dir, |_| {}).await;
    assert_eq!(s.list_keys("bkt").await.len(), keys.len());
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let out = s
        .client
        .delete_objects()
        .bucket("bkt")
        .delete(delete_request(&refs, false))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    let mut deleted: Vec<_> = out.deleted().iter().map(|d| d.key().unwrap()).collect();
    deleted.sort();
    let mut expected = refs.clone();
    expected.sort();
    assert_eq!(deleted, expected);
    assert!(out.errors().is_empty());
    assert!(s.list_keys("bkt").await.is_empty());
    assert!(files_under(&s.root().join("bkt")).is_empty());
    let leftover: Vec<_> = std::fs::read_dir(s.root().join("bkt")).unwrap().collect();
    assert!(
        leftover.is_empty(),
        "emptied folders are removed: {leftover:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cleanup_never_loses_a_concurrent_write() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    for round in 0..40 {
        s.put("bkt", "race/dir/old", "old").await;
        let deleter = {
            let c = s.client.clone();
            tokio::spawn(async move {
                c.delete_object()
                    .bucket("bkt")
                    .key("race/dir/old")
                    .send()
                    .await
                    .map(|_| ())
            })
        };
        let writer = {
            let c = s.client.clone();
            let key = format!("race/dir/new-{round}");
            tokio::spawn(async move {
                c.put_object()
                    .bucket("bkt")
                    .key(key)
                    .body(ByteStream::from(format!("round {round}").into_bytes()))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| describe(&e))
            })
        };
        deleter.await.unwrap().unwrap();
        writer
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        let key = format!("race/dir/new-{round}");
        assert_eq!(
            s.get("bkt", &key).await,
            format!("round {round}").as_bytes(),
            "round {round}: acknowledged write lost"
        );
        s.delete("bkt", &key).await;
    }
    assert!(s.list_keys("bkt").await.is_empty());
}
