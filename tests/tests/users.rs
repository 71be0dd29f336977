//! Users: keys with limits of their own (read-only, the buckets they may use), from the
//! configuration and from a users file reloaded on SIGHUP. Keys of `auth.keys` stay
//! administrators.

use aws_sdk_s3::Client;
use sha2::Digest;

use crate::common::*;

const USERS: &str = r#"
[[users]]
access_key = "READER"
secret_key = "reader-secret"
display_name = "Rita Reader"
canonical_id = "c0ffee"
read_only = true
buckets = ["team-*"]

[[users]]
access_key = "TEAMA"
secret_key = "team-a-secret"
buckets = ["team-a", "shared-*"]

[[users]]
access_key = "CAROL"
secret_key = "carol-secret"
"#;

async fn denied<
    T: std::fmt::Debug,
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::fmt::Debug,
>(
    r: Result<T, aws_sdk_s3::error::SdkError<E, aws_smithy_runtime_api::http::Response>>,
) {
    let e = r.expect_err("allowed");
    assert_eq!(
        status_and_code(&e),
        (403, "AccessDenied".to_string()),
        "{e:?}"
    );
}

fn names(out: &aws_sdk_s3::operation::list_buckets::ListBucketsOutput) -> Vec<&str> {
    out.buckets().iter().filter_map(|b| b.name()).collect()
}

async fn put(c: &Client, bucket: &str, key: &str) -> Result<(), String> {
    c.put_object()
        .bucket(bucket)
        .key(key)
        .body(b"x".to_vec().into())
        .send()
        .await
        .map(|_| ())
        .map_err(|e| format!("{:?}", status_and_code(&e)))
}

#[tokio::test(flavor = "multi_thread")]
async fn users_see_and_change_only_what_they_may() {
    let dir = tempfile::tempdir().unwrap();
    let users_file = dir.path().join("users.toml");
    std::fs::write(&users_file, USERS).unwrap();
    let s = TestServer::start_with(|c| {
        c.auth.keys = vec![format!("{ACCESS_KEY},{SECRET_KEY}").parse().unwrap()];
        c.auth.users_file = Some(users_file.clone());
    })
    .await;
    for b in ["team-a", "team-b", "shared-docs"] {
        s.create_bucket(b).await;
        s.put(b, "k", b"data".to_vec()).await;
    }
    let reader = client_for(s.addr, "READER", "reader-secret");
    let team = client_for(s.addr, "TEAMA", "team-a-secret");

    // The administrator sees everything; a limited user only its own buckets.
    let all = s.client.list_buckets().send().await.unwrap();
    assert_eq!(names(&all), ["shared-docs", "team-a", "team-b"]);
    let mine = team.list_buckets().send().await.unwrap();
    assert_eq!(names(&mine), ["shared-docs", "team-a"]);

    // A user without a `buckets` list reaches the buckets it owns (and what ACLs grant it, in
    // acl.rs), as in S3: no longer every bucket.
    let carol = client_for(s.addr, "CAROL", "carol-secret");
    assert!(carol
        .list_buckets()
        .send()
        .await
        .unwrap()
        .buckets()
        .is_empty());
    denied(carol.get_object().bucket("team-b").key("k").send().await).await;
    denied(carol.list_objects_v2().bucket("team-a").send().await).await;
    carol.create_bucket().bucket("carols").send().await.unwrap();
    put(&carol, "carols", "k").await.unwrap();
    let own = carol.list_buckets().send().await.unwrap();
    assert_eq!(names(&own), ["carols"]);

    // A read-only user reads everything its list names and changes nothing.
    let got = reader
        .get_object()
        .bucket("team-b")
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(body_of(got).await, b"data");
    assert_eq!(
        put(&reader, "team-a", "new").await,
        Err("(403, \"AccessDenied\")".into())
    );
    denied(
        reader
            .delete_object()
            .bucket("team-a")
            .key("k")
            .send()
            .await,
    )
    .await;
    denied(reader.create_bucket().bucket("readers").send().await).await;

    // A limited user works in its buckets, and nowhere else: not by name, not as a copy's
    // source, not by making a bucket outside its names.
    put(&team, "team-a", "new").await.unwrap();
    put(&team, "shared-docs", "new").await.unwrap();
    assert!(put(&team, "team-b", "new").await.is_err());
    denied(team.get_object().bucket("team-b").key("k").send().await).await;
    denied(team.list_objects_v2().bucket("team-b").send().await).await;
    denied(
        team.copy_object()
            .bucket("team-a")
            .key("stolen")
            .copy_source("team-b/k")
            .send()
            .await,
    )
    .await;
    s.assert_no_such_key("team-a", "stolen").await;
    denied(team.create_bucket().bucket("team-c").send().await).await;
    team.create_bucket()
        .bucket("shared-more")
        .send()
        .await
        .unwrap();

    // A user's names for S3: its display name and canonical id own what it makes. A holder the
    // users file does not name has no `DisplayName`, as on AWS since 2025-11 (never its access
    // key, which other callers would see).
    let canonical = |key: &str| hex::encode(sha2::Sha256::digest(key.as_bytes()));
    let acl = reader
        .get_bucket_acl()
        .bucket("team-a")
        .send()
        .await
        .unwrap();
    assert_eq!(acl.owner().unwrap().display_name(), None);
    assert_eq!(
        acl.owner().unwrap().id(),
        Some(canonical(ACCESS_KEY).as_str())
    );
    let owned = team
        .get_bucket_acl()
        .bucket("shared-more")
        .send()
        .await
        .unwrap();
    assert_eq!(owned.owner().unwrap().display_name(), None);
    assert_eq!(
        owned.owner().unwrap().id(),
        Some(canonical("TEAMA").as_str())
    );
    let listed = reader.list_buckets().send().await.unwrap();
    assert_eq!(listed.owner().unwrap().display_name(), Some("Rita Reader"));
    assert_eq!(listed.owner().unwrap().id(), Some("c0ffee"));

    // The users file is read again on reload: a removed user is refused at once.
    std::fs::write(&users_file, "").unwrap();
    s.reload(s.config.clone()).await.unwrap();
    let e = reader.list_buckets().send().await.unwrap_err();
    assert_eq!(status_and_code(&e).1, "InvalidAccessKeyId");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_users_file_that_is_wrong_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.toml");
    for bad in [
        "[[users]]\naccess_key = \"A\"\nsecret_key = \"s\"\nroot = \"remote:x\"\n",
        "[[users]]\naccess_key = \"A\"\nsecret_key = \"\"\n",
        "[[users]]\naccess_key = \"A\"\nsecret_key = \"s\"\n[[users]]\naccess_key = \"A\"\nsecret_key = \"t\"\n",
    ] {
        std::fs::write(&file, bad).unwrap();
        let mut config = base_config(dir.path());
        config.auth.users_file = Some(file.clone());
        assert!(s3gate::start(config).await.is_err(), "{bad}");
    }
}

/// A user with a root of its own is served from it alone: its buckets are the root's folders,
/// it owns them whole, it never sees the served directory's, and no key it sends reaches
/// outside its root.
#[tokio::test(flavor = "multi_thread")]
async fn a_user_with_a_root_of_its_own_sees_nothing_else() {
    let outside = tempfile::tempdir().unwrap();
    let root = outside.path().join("tenant");
    std::fs::create_dir_all(root.join("preexisting")).unwrap();
    std::fs::write(root.join("preexisting/old.txt"), b"old").unwrap();
    let users_file = outside.path().join("users.toml");
    std::fs::write(
        &users_file,
        format!(
            "[[users]]\naccess_key = \"TENANT\"\nsecret_key = \"tenant-secret\"\nroot = {:?}\n\
             [[users]]\naccess_key = \"OTHER\"\nsecret_key = \"other-secret\"\n",
            root.display().to_string()
        ),
    )
    .unwrap();
    let s = TestServer::start_with(|c| {
        c.auth.keys = vec![format!("{ACCESS_KEY},{SECRET_KEY}").parse().unwrap()];
        c.auth.users_file = Some(users_file.clone());
    })
    .await;
    s.create_bucket("shared").await;
    s.put("shared", "k", b"admin's".to_vec()).await;
    let tenant = client_for(s.addr, "TENANT", "tenant-secret");

    // Its world is its root: the folder found there is its bucket, the server's are not.
    let mine = tenant.list_buckets().send().await.unwrap();
    assert_eq!(names(&mine), ["preexisting"]);
    let old = tenant
        .get_object()
        .bucket("preexisting")
        .key("old.txt")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    assert_eq!(body_of(old).await, b"old");
    expect_error(
        tenant.get_object().bucket("shared").key("k").send().await,
        404,
        "NoSuchBucket",
    );
    // The same name is another bucket in its own root.
    tenant
        .create_bucket()
        .bucket("shared")
        .send()
        .await
        .unwrap();
    put(&tenant, "shared", "k").await.unwrap();
    assert_eq!(std::fs::read(root.join("shared/k")).unwrap(), b"x");
    assert_eq!(s.get("shared", "k").await, b"admin's");
    let all = s.client.list_buckets().send().await.unwrap();
    assert_eq!(
        names(&all),
        ["shared"],
        "the administrator's world has no tenant bucket"
    );

    // Keys that would climb out of a folder stay inside the root, kept in its store.
    for key in [
        "../escape",
        "../../../../escape",
        "a/../../escape",
        "/escape",
    ] {
        put(&tenant, "shared", key).await.unwrap();
        let got = tenant
            .get_object()
            .bucket("shared")
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{key}: {}", describe(&e)));
        assert_eq!(body_of(got).await, b"x", "{key}");
    }
    let outside_root: Vec<String> = files_under(outside.path())
        .into_iter()
        .filter(|f| !f.starts_with("tenant/"))
        .collect();
    assert_eq!(
        outside_root,
        ["users.toml"],
        "nothing written beside the root"
    );
    assert!(
        files_under(s.root()).iter().all(|f| !f.contains("escape")),
        "nothing written in the served directory"
    );

    // A copy names buckets of the same world: the tenant's own.
    tenant
        .copy_object()
        .bucket("shared")
        .key("copied")
        .copy_source("preexisting/old.txt")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    assert_eq!(std::fs::read(root.join("shared/copied")).unwrap(), b"old");
    // A user without a root of its own meets the served directory's buckets, not the tenant's.
    let other = client_for(s.addr, "OTHER", "other-secret");
    denied(
        other
            .get_object()
            .bucket("shared")
            .key("copied")
            .send()
            .await,
    )
    .await;
    assert!(!s.root().join("shared/copied").exists());

    // Roots are opened at start: a reload naming another is refused, and nothing changes.
    std::fs::write(
        &users_file,
        "[[users]]\naccess_key = \"TENANT\"\nsecret_key = \"tenant-secret\"\nroot = \"/elsewhere\"\n",
    )
    .unwrap();
    let e = s.reload(s.config.clone()).await.unwrap_err().to_string();
    assert!(e.contains("/elsewhere") && e.contains("restart"), "{e}");
    assert_eq!(
        names(&tenant.list_buckets().send().await.unwrap()),
        ["preexisting", "shared"]
    );
}
