//! Users: keys with limits of their own (read-only, the buckets they may use), from the
//! configuration and from a users file reloaded on SIGHUP. Keys of `auth.keys` stay
//! administrators.

use aws_sdk_s3::Client;

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

    // A user's names for S3: its display name and canonical id own what it makes.
    let acl = reader
        .get_bucket_acl()
        .bucket("team-a")
        .send()
        .await
        .unwrap();
    assert_eq!(acl.owner().unwrap().display_name(), Some(ACCESS_KEY));
    let owned = team
        .get_bucket_acl()
        .bucket("shared-more")
        .send()
        .await
        .unwrap();
    assert_eq!(owned.owner().unwrap().display_name(), Some("TEAMA"));
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
