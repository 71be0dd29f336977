//! Buckets: ListBuckets, CreateBucket, HeadBucket, DeleteBucket, GetBucketLocation, and how the
//! served directory maps to buckets.

use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;

use sha2::Digest;

use crate::common::*;

async fn bucket_names(s: &TestServer) -> Vec<String> {
    let out = s.client.list_buckets().send().await.unwrap();
    out.buckets()
        .iter()
        .map(|b| b.name().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn create_list_head_delete() {
    let s = TestServer::start().await;
    assert!(bucket_names(&s).await.is_empty());

    s.create_bucket("beta").await;
    s.create_bucket("alpha-1").await;
    assert!(s.root().join("alpha-1").is_dir(), "a bucket is a directory");
    assert!(s.root().join("beta").is_dir());

    let out = s.client.list_buckets().send().await.unwrap();
    let names: Vec<_> = out.buckets().iter().map(|b| b.name().unwrap()).collect();
    assert_eq!(names, ["alpha-1", "beta"], "sorted by name");
    for b in out.buckets() {
        assert!(b.creation_date().is_some(), "{b:?} has a creation date");
    }
    let owner = out.owner().expect("ListBuckets answers an Owner");
    assert!(!owner.id().unwrap_or("").is_empty(), "owner id: {owner:?}");

    s.client
        .head_bucket()
        .bucket("alpha-1")
        .send()
        .await
        .unwrap();

    s.client
        .delete_bucket()
        .bucket("beta")
        .send()
        .await
        .unwrap();
    assert!(!s.root().join("beta").exists(), "the directory is removed");
    assert_eq!(bucket_names(&s).await, ["alpha-1"]);
    expect_status(s.client.head_bucket().bucket("beta").send().await, 404);
}

/// ListBuckets pages: `max-buckets` names per page, a continuation token while more remain,
/// `prefix` echoed; every bucket once, in name order.
#[tokio::test(flavor = "multi_thread")]
async fn list_buckets_pages() {
    let s = TestServer::start().await;
    let mut all: Vec<String> = (0..23).map(|i| format!("logs-{i:02}")).collect();
    all.extend(["app-a", "app-b", "zeta"].map(String::from));
    for b in &all {
        // Made as folders: as many buckets as another program could leave there.
        std::fs::create_dir(s.root().join(b)).unwrap();
    }
    all.sort();

    let mut seen = Vec::new();
    let mut token = None;
    let mut pages = 0;
    loop {
        let out = s
            .client
            .list_buckets()
            .max_buckets(5)
            .set_continuation_token(token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{}", describe(&e)));
        pages += 1;
        assert!(out.buckets().len() <= 5);
        assert_eq!(out.prefix(), None);
        seen.extend(out.buckets().iter().map(|b| b.name().unwrap().to_string()));
        token = out.continuation_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(seen, all);
    assert_eq!(pages, 6, "26 buckets, 5 a page");

    // A prefix: only its buckets, paged the same way, and echoed.
    let first = s
        .client
        .list_buckets()
        .prefix("logs-1")
        .max_buckets(6)
        .send()
        .await
        .unwrap();
    let names = |o: &aws_sdk_s3::operation::list_buckets::ListBucketsOutput| {
        o.buckets()
            .iter()
            .map(|b| b.name().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(&first),
        (10..16).map(|i| format!("logs-{i}")).collect::<Vec<_>>()
    );
    assert_eq!(first.prefix(), Some("logs-1"));
    let token = first.continuation_token().expect("more remain").to_string();
    let second = s
        .client
        .list_buckets()
        .prefix("logs-1")
        .max_buckets(6)
        .continuation_token(token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        names(&second),
        (16..20).map(|i| format!("logs-{i}")).collect::<Vec<_>>()
    );
    assert_eq!(second.continuation_token(), None);

    // Without paging parameters, every bucket in one answer, without their region, as S3.
    let out = s.client.list_buckets().send().await.unwrap();
    assert_eq!(names(&out), all);
    assert_eq!(out.continuation_token(), None);
    assert!(out.buckets().iter().all(|b| b.bucket_region().is_none()));

    // Every bucket is in the configured region (in any case); another region's are listed at
    // its own endpoint, as S3 answers.
    let here = s
        .client
        .list_buckets()
        .bucket_region("US-East-1")
        .send()
        .await
        .unwrap();
    assert_eq!(names(&here), all);
    assert!(here
        .buckets()
        .iter()
        .all(|b| b.bucket_region() == Some("us-east-1")));
    expect_error(
        s.client
            .list_buckets()
            .bucket_region("eu-west-1")
            .send()
            .await,
        400,
        "InvalidArgument",
    );

    for bad in [0, 10_001, -3] {
        expect_error(
            s.client.list_buckets().max_buckets(bad).send().await,
            400,
            "InvalidArgument",
        );
    }
    expect_error(
        s.client
            .list_buckets()
            .continuation_token("not a token!")
            .send()
            .await,
        400,
        "InvalidArgument",
    );
}

/// CreateBucket of a bucket the caller already owns, as S3 answers it: in us-east-1 (the
/// default region) a 200 that changes nothing; in any other region `409 BucketAlreadyOwnedByYou`.
#[tokio::test(flavor = "multi_thread")]
async fn create_existing_bucket_follows_the_region() {
    for (region, conflict) in [("us-east-1", false), ("eu-west-1", true)] {
        let s = TestServer::start_with(|c| c.server.region = region.to_string()).await;
        s.create_bucket("mine").await;
        s.put("mine", "keep.txt", "kept").await;
        let again = s.client.create_bucket().bucket("mine").send().await;
        match conflict {
            true => expect_error(again, 409, "BucketAlreadyOwnedByYou"),
            false => {
                let out = again.unwrap_or_else(|e| panic!("{region}: {}", describe(&e)));
                assert_eq!(out.location(), Some("/mine"), "{region}");
            }
        }
        assert_eq!(
            s.get("mine", "keep.txt").await,
            b"kept",
            "{region}: the bucket is untouched"
        );
        assert_eq!(bucket_names(&s).await, ["mine"], "{region}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_bucket_names_are_rejected() {
    let s = TestServer::start().await;
    let too_long = "a".repeat(64);
    let names = [
        "ab",
        too_long.as_str(),
        "UpperCase",
        "under_score",
        "-leading-dash",
        "trailing-dash-",
        "double..dot",
        ".leading-dot",
        "trailing-dot.",
        "192.168.5.4",
        "spa%20ce",
    ];
    let http = http();
    for name in names {
        let r = http.put(s.url(&format!("/{name}"))).send().await.unwrap();
        let status = r.status().as_u16();
        let body = r.text().await.unwrap();
        assert_eq!(status, 400, "{name:?}: {body}");
        assert_eq!(
            xml_value(&body, "Code").as_deref(),
            Some("InvalidBucketName"),
            "{name:?}: {body}"
        );
    }
    // Nothing was created on disk.
    let entries: Vec<_> = std::fs::read_dir(s.root())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != ".s3gate")
        .collect();
    assert!(entries.is_empty(), "created: {entries:?}");
    // The longest and shortest legal names work.
    let max = "b".repeat(63);
    s.create_bucket(&max).await;
    s.create_bucket("abc").await;
    s.create_bucket("dots.and-dashes.9").await;
    assert_eq!(
        bucket_names(&s).await,
        ["abc", max.as_str(), "dots.and-dashes.9"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_non_empty_bucket_is_refused() {
    let s = TestServer::start().await;
    s.create_bucket("full").await;
    s.put("full", "dir/obj", "data").await;
    expect_error(
        s.client.delete_bucket().bucket("full").send().await,
        409,
        "BucketNotEmpty",
    );
    assert_eq!(s.get("full", "dir/obj").await, b"data");
    assert!(s.path_of("full", "dir/obj").is_file());
    // Once emptied it can be deleted.
    s.delete("full", "dir/obj").await;
    s.client
        .delete_bucket()
        .bucket("full")
        .send()
        .await
        .unwrap();
    assert!(!s.root().join("full").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_bucket_is_no_such_bucket() {
    let s = TestServer::start().await;
    let c = &s.client;
    expect_status(c.head_bucket().bucket("nope").send().await, 404);
    expect_error(
        c.delete_bucket().bucket("nope").send().await,
        404,
        "NoSuchBucket",
    );
    expect_error(
        c.list_objects_v2().bucket("nope").send().await,
        404,
        "NoSuchBucket",
    );
    expect_error(
        c.list_objects().bucket("nope").send().await,
        404,
        "NoSuchBucket",
    );
    expect_error(
        c.get_object().bucket("nope").key("k").send().await,
        404,
        "NoSuchBucket",
    );
    expect_status(c.head_object().bucket("nope").key("k").send().await, 404);
    expect_error(
        c.put_object()
            .bucket("nope")
            .key("k")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
        404,
        "NoSuchBucket",
    );
    expect_error(
        c.get_bucket_location().bucket("nope").send().await,
        404,
        "NoSuchBucket",
    );
    assert!(
        !s.root().join("nope").exists(),
        "a PUT must not create the bucket"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bucket_location_is_the_configured_region() {
    let s = TestServer::start().await;
    s.create_bucket("loc").await;
    let out = s
        .client
        .get_bucket_location()
        .bucket("loc")
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.location_constraint().map(|c| c.as_str()).unwrap_or(""),
        "",
        "us-east-1 is reported as an empty constraint"
    );

    let s = TestServer::start_with(|c| c.server.region = "eu-west-1".into()).await;
    s.create_bucket("loc").await;
    let out = s
        .client
        .get_bucket_location()
        .bucket("loc")
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.location_constraint().map(|c| c.as_str()),
        Some("eu-west-1")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn root_directories_are_buckets_and_root_files_are_not() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("from-disk")).unwrap();
    std::fs::create_dir_all(dir.path().join("nested-bkt/sub")).unwrap();
    std::fs::write(dir.path().join("nested-bkt/sub/file.txt"), b"on disk").unwrap();
    std::fs::write(dir.path().join("stray-file.txt"), b"not a bucket").unwrap();
    let s = TestServer::start_in(dir, |_| {}).await;

    assert_eq!(bucket_names(&s).await, ["from-disk", "nested-bkt"]);
    expect_status(
        s.client.head_bucket().bucket("stray-file.txt").send().await,
        404,
    );
    expect_error(
        s.client
            .list_objects_v2()
            .bucket("stray-file.txt")
            .send()
            .await,
        404,
        "NoSuchBucket",
    );
    assert_eq!(s.list_keys("nested-bkt").await, ["sub/file.txt"]);
    assert_eq!(s.get("nested-bkt", "sub/file.txt").await, b"on disk");
    // Creating a bucket over a root file is not possible, and the file is left alone.
    let r = s
        .client
        .create_bucket()
        .bucket("stray-file.txt")
        .send()
        .await;
    assert!(r.is_err(), "bucket created over a file");
    assert_eq!(
        std::fs::read(s.root().join("stray-file.txt")).unwrap(),
        b"not a bucket"
    );

    // A directory made at the root while serving becomes a bucket.
    std::fs::create_dir(s.root().join("made-later")).unwrap();
    s.client
        .head_bucket()
        .bucket("made-later")
        .send()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let names = bucket_names(&s).await;
        if names.iter().any(|n| n == "made-later") {
            assert_eq!(names, ["from-disk", "made-later", "nested-bkt"]);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "made-later never listed: {names:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A bucket belongs to the key that made it: its ACL names that owner whoever asks, the owner
/// making it again is told it already has it, and another key is told the name is taken.
#[tokio::test(flavor = "multi_thread")]
async fn a_bucket_belongs_to_the_key_that_made_it() {
    // Canonical ids only: the users file names no one, and AWS writes no `DisplayName`.
    let canonical = |key: &str| hex::encode(sha2::Sha256::digest(key.as_bytes()));
    let s = TestServer::start_with(|c| {
        c.auth.keys = vec![
            "ALICEKEY,alice-secret".parse().unwrap(),
            "BOBKEY,bob-secret".parse().unwrap(),
        ];
    })
    .await;
    let alice = client_for(s.addr, "ALICEKEY", "alice-secret");
    let bob = client_for(s.addr, "BOBKEY", "bob-secret");
    alice.create_bucket().bucket("alices").send().await.unwrap();
    for client in [&alice, &bob] {
        let acl = client
            .get_bucket_acl()
            .bucket("alices")
            .send()
            .await
            .unwrap();
        let owner = acl.owner().unwrap();
        assert_eq!(owner.id(), Some(canonical("ALICEKEY").as_str()));
        assert_eq!(owner.display_name(), None);
        let grantee = acl.grants()[0].grantee().unwrap();
        assert_eq!(grantee.id(), owner.id());
    }
    // The owner again: a success that changes nothing (us-east-1), as S3 answers.
    alice.create_bucket().bucket("alices").send().await.unwrap();
    let e = bob
        .create_bucket()
        .bucket("alices")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        status_and_code(&e),
        (409, "BucketAlreadyExists".to_string())
    );
    // A bucket made by other means belongs to whoever asks.
    std::fs::create_dir(s.root().join("found")).unwrap();
    let acl = bob.get_bucket_acl().bucket("found").send().await.unwrap();
    assert_eq!(
        acl.owner().unwrap().id(),
        Some(canonical("BOBKEY").as_str())
    );
}
