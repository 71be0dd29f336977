//! Several gateways over one remote: each with its own index, none may lose or hide what another
//! wrote, and with `--fleet` each lists what another wrote or deleted within a second. Two
//! servers share one directory here, as two machines would share a store.

use std::time::{Duration, Instant, SystemTime};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketVersioningStatus, CompletedMultipartUpload, CompletedPart, MetadataDirective,
    VersioningConfiguration,
};
use aws_sdk_s3::Client;
use s3gate_config::{RemoteDef, RemoteOption};

use crate::common::*;

/// An upload open on one gateway is unknown to the other's index; the other's housekeeping must
/// leave its parts alone, yet still sweep a staging folder idle past the expiry.
#[tokio::test(flavor = "multi_thread")]
async fn housekeeping_keeps_the_uploads_of_other_gateways() {
    let a = TestServer::start().await;
    a.create_bucket("bkt").await;
    let created = a
        .client
        .create_multipart_upload()
        .bucket("bkt")
        .key("big.bin")
        .send()
        .await
        .unwrap_or_else(|e| panic!("create upload: {}", describe(&e)));
    let id = created.upload_id().expect("an UploadId").to_string();
    let parts = [pattern(5 << 20, 1), pattern(1000, 2)];
    let mut etags = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let out = a
            .client
            .upload_part()
            .bucket("bkt")
            .key("big.bin")
            .upload_id(&id)
            .part_number(i as i32 + 1)
            .body(ByteStream::from(p.clone()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("upload part {}: {}", i + 1, describe(&e)));
        etags.push(out.e_tag().expect("an ETag").to_string());
    }
    // A folder no gateway owns, last touched two hours ago: what a crash leaves behind.
    let multipart = a.root().join(".s3gate").join("multipart");
    let orphan = multipart.join(format!("{:032x}", 7u128));
    std::fs::create_dir_all(&orphan).unwrap();
    let two_hours_ago = SystemTime::now() - Duration::from_secs(7200);
    let stale = orphan.join("00001");
    std::fs::write(&stale, b"left over").unwrap();
    for p in [&stale, &orphan] {
        std::fs::File::open(p)
            .unwrap()
            .set_modified(two_hours_ago)
            .unwrap();
    }

    // The second gateway sweeps at its start and then every second.
    let _b = a
        .start_beside(|c| {
            c.vfs.multipart_expiry = Duration::from_secs(3600);
            c.vfs.rescan_interval = Duration::from_secs(1);
        })
        .await;
    let mut swept = false;
    for _ in 0..100 {
        if !orphan.exists() {
            swept = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        swept,
        "a staging folder idle past the expiry was never swept"
    );
    // One more sweep after the first, to be sure the open upload survived more than one.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        multipart.join(&id).exists(),
        "the other gateway deleted the parts of an open upload"
    );

    let done = a
        .client
        .complete_multipart_upload()
        .bucket("bkt")
        .key("big.bin")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(
                    etags
                        .iter()
                        .enumerate()
                        .map(|(i, e)| {
                            CompletedPart::builder()
                                .part_number(i as i32 + 1)
                                .e_tag(e)
                                .build()
                        })
                        .collect(),
                ))
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("complete: {}", describe(&e)));
    assert!(done.e_tag().is_some_and(|e| e.ends_with("-2\"")));
    assert_eq!(a.get("bkt", "big.bin").await, parts.concat());
}

/// Keys and common prefixes of one ListObjectsV2 page.
async fn listed(client: &Client, prefix: &str, delimiter: Option<&str>) -> Vec<String> {
    let out = client
        .list_objects_v2()
        .bucket("bkt")
        .prefix(prefix)
        .set_delimiter(delimiter.map(str::to_string))
        .send()
        .await
        .unwrap_or_else(|e| panic!("list {prefix:?}: {}", describe(&e)));
    let mut names = keys_of(out.contents());
    names.extend(prefixes_of(out.common_prefixes()));
    names
}

/// The keys of one ListObjectVersions page.
async fn version_keys(client: &Client) -> Vec<String> {
    let out = client
        .list_object_versions()
        .bucket("bkt")
        .send()
        .await
        .unwrap_or_else(|e| panic!("list versions: {}", describe(&e)));
    out.versions()
        .iter()
        .filter_map(|v| v.key().map(str::to_string))
        .collect()
}

/// Waits until one second has passed since `ack`: from then on every gateway must list what
/// was acknowledged then.
async fn one_second_after(ack: Instant) {
    tokio::time::sleep((ack + Duration::from_secs(1)).saturating_duration_since(Instant::now()))
        .await;
}

/// A gateway with `--fleet` over the bucket `store` of `back`, an object store reached through
/// its S3 API, with its own index.
async fn gateway(back: &TestServer) -> TestServer {
    let endpoint = format!("http://{}", back.addr);
    let options = [
        ("bucket", "store"),
        ("endpoint", endpoint.as_str()),
        ("region", "us-east-1"),
        ("access_key_id", ACCESS_KEY),
        ("secret_access_key", SECRET_KEY),
        ("root", "/"),
        ("disable_config_load", "true"),
        ("disable_ec2_metadata", "true"),
    ];
    let def = RemoteDef {
        kind: "s3".into(),
        options: options
            .iter()
            .map(|(k, v)| (k.to_string(), RemoteOption::Text(v.to_string())))
            .collect(),
    };
    TestServer::start_with(move |c| {
        c.vfs.cache_dir = Some(c.remote.path.join("cache"));
        c.remote.name = Some("back".into());
        c.remote.path = "".into();
        c.remotes.insert("back".into(), def);
        c.vfs.fleet = true;
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fleet_lists_what_another_gateway_wrote_or_deleted_within_a_second() {
    let back = TestServer::start_auth().await;
    back.create_bucket("store").await;
    let a = gateway(&back).await;
    a.create_bucket("bkt").await;
    let b = gateway(&back).await;
    // Listed once before, so that the second gateway's index holds the bucket as it was.
    assert!(listed(&b.client, "", None).await.is_empty());
    assert!(listed(&b.client, "dir/", Some("/")).await.is_empty());

    let etag = a.put("bkt", "top.txt", "written on a").await;
    a.put("bkt", "dir/inner.txt", "also on a").await;
    let ack = Instant::now();
    // Read at once, whatever the listing.
    assert_eq!(b.head("bkt", "top.txt").await.e_tag(), Some(etag.as_str()));
    one_second_after(ack).await;
    // ListObjectVersions first: a listing of its own, not helped by the others.
    assert_eq!(version_keys(&b.client).await, ["dir/inner.txt", "top.txt"]);
    assert_eq!(
        listed(&b.client, "", None).await,
        ["dir/inner.txt", "top.txt"]
    );
    assert_eq!(listed(&b.client, "", Some("/")).await, ["top.txt", "dir/"]);
    assert_eq!(
        listed(&b.client, "dir/", Some("/")).await,
        ["dir/inner.txt"]
    );
    assert_eq!(listed(&b.client, "to", None).await, ["top.txt"]);
    let out = b
        .client
        .list_objects_v2()
        .bucket("bkt")
        .prefix("top")
        .send()
        .await
        .unwrap_or_else(|e| panic!("list: {}", describe(&e)));
    assert_eq!(out.contents()[0].e_tag(), Some(etag.as_str()));
    assert_eq!(out.contents()[0].size(), Some(12));

    a.delete("bkt", "top.txt").await;
    a.delete("bkt", "dir/inner.txt").await;
    let ack = Instant::now();
    b.assert_no_such_key("bkt", "top.txt").await;
    one_second_after(ack).await;
    assert!(version_keys(&b.client).await.is_empty());
    assert!(listed(&b.client, "", None).await.is_empty());
    assert!(listed(&b.client, "dir/", Some("/")).await.is_empty());

    // And the other way round, listed within the second of a listing just served.
    assert!(listed(&a.client, "", None).await.is_empty());
    b.put("bkt", "from-b", "written on b").await;
    let ack = Instant::now();
    one_second_after(ack).await;
    assert_eq!(listed(&a.client, "", None).await, ["from-b"]);
}

/// User metadata and content headers travel with the object on the store: another gateway
/// answers them on HEAD and GET, whether it first met the object by reading or by listing it.
#[tokio::test(flavor = "multi_thread")]
async fn a_fleet_answers_the_metadata_another_gateway_was_given() {
    let back = TestServer::start_auth().await;
    back.create_bucket("store").await;
    let a = gateway(&back).await;
    a.create_bucket("bkt").await;
    let b = gateway(&back).await;
    for key in ["read-first", "listed-first"] {
        a.client
            .put_object()
            .bucket("bkt")
            .key(key)
            .body(ByteStream::from_static(b"with metadata"))
            .content_type("text/x-fleet; charset=utf-8")
            .content_disposition("attachment; filename=\"f.txt\"")
            .content_encoding("identity")
            .content_language("fr")
            .cache_control("max-age=60")
            .metadata("colour", "blue")
            .metadata("empty", "")
            .send()
            .await
            .unwrap_or_else(|e| panic!("put {key}: {}", describe(&e)));
    }
    assert_eq!(
        listed(&b.client, "listed", None).await,
        ["listed-first"],
        "listed before it is read"
    );
    for key in ["read-first", "listed-first"] {
        let head = b.head("bkt", key).await;
        assert_eq!(
            head.content_type(),
            Some("text/x-fleet; charset=utf-8"),
            "{key}"
        );
        assert_eq!(
            head.content_disposition(),
            Some("attachment; filename=\"f.txt\"")
        );
        assert_eq!(head.content_encoding(), Some("identity"));
        assert_eq!(head.content_language(), Some("fr"));
        assert_eq!(head.cache_control(), Some("max-age=60"));
        let meta = head.metadata().expect("user metadata");
        assert_eq!(
            meta.get("colour").map(String::as_str),
            Some("blue"),
            "{key}"
        );
        assert_eq!(meta.get("empty").map(String::as_str), Some(""), "{key}");
        assert_eq!(meta.len(), 2, "{key}: {meta:?}");
        let got = b.get_object("bkt", key).await;
        assert_eq!(got.content_type(), Some("text/x-fleet; charset=utf-8"));
        assert_eq!(
            got.metadata()
                .and_then(|m| m.get("colour"))
                .map(String::as_str),
            Some("blue")
        );
        assert_eq!(body_of(got).await, b"with metadata");
    }
    // Copies carry their own: the source's (COPY), or new ones (REPLACE, onto itself too).
    a.copy("bkt", "copied", "bkt/listed-first")
        .send()
        .await
        .unwrap_or_else(|e| panic!("copy: {}", describe(&e)));
    for key in ["renamed", "listed-first"] {
        a.copy("bkt", key, "bkt/listed-first")
            .metadata_directive(MetadataDirective::Replace)
            .content_type("text/x-replaced")
            .metadata("colour", "red")
            .send()
            .await
            .unwrap_or_else(|e| panic!("copy to {key}: {}", describe(&e)));
    }
    for (key, colour, content_type) in [
        ("copied", "blue", "text/x-fleet; charset=utf-8"),
        ("renamed", "red", "text/x-replaced"),
        ("listed-first", "red", "text/x-replaced"),
    ] {
        let head = b.head("bkt", key).await;
        assert_eq!(head.content_type(), Some(content_type), "{key}");
        let meta = head.metadata().expect("user metadata");
        assert_eq!(
            meta.get("colour").map(String::as_str),
            Some(colour),
            "{key}"
        );
        assert_eq!(
            body_of(b.get_object("bkt", key).await).await,
            b"with metadata"
        );
    }
    // Replaced through the other gateway: the first answers the new metadata.
    b.client
        .put_object()
        .bucket("bkt")
        .key("read-first")
        .body(ByteStream::from_static(b"replaced on b"))
        .metadata("colour", "green")
        .send()
        .await
        .unwrap_or_else(|e| panic!("put: {}", describe(&e)));
    assert_eq!(
        a.user_meta("bkt", "read-first", "colour").await.as_deref(),
        Some("green")
    );
    // The headers it was not given are gone with the old version, as the writer answers.
    let (on_a, on_b) = (
        a.head("bkt", "read-first").await,
        b.head("bkt", "read-first").await,
    );
    assert_eq!(on_a.content_type(), on_b.content_type());
    assert_ne!(on_a.content_type(), Some("text/x-fleet; charset=utf-8"));
    assert_eq!(on_a.cache_control(), None);
}

/// A multipart object carries its ETag (made of its parts, which the store's own does not
/// tell) and what CreateMultipartUpload gave it: another gateway answers both without reading it.
#[tokio::test(flavor = "multi_thread")]
async fn a_fleet_answers_the_etag_of_a_multipart_object_another_gateway_completed() {
    let back = TestServer::start_auth().await;
    back.create_bucket("store").await;
    let a = gateway(&back).await;
    a.create_bucket("bkt").await;
    let b = gateway(&back).await;
    let created = a
        .client
        .create_multipart_upload()
        .bucket("bkt")
        .key("mp.bin")
        .content_type("application/x-parts")
        .metadata("origin", "gateway-a")
        .send()
        .await
        .unwrap_or_else(|e| panic!("create upload: {}", describe(&e)));
    let id = created.upload_id().expect("an UploadId");
    let parts = [pattern(5 << 20, 3), pattern(4321, 4)];
    let mut completed = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let n = i as i32 + 1;
        let out = a
            .client
            .upload_part()
            .bucket("bkt")
            .key("mp.bin")
            .upload_id(id)
            .part_number(n)
            .body(ByteStream::from(p.clone()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("part {n}: {}", describe(&e)));
        completed.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(out.e_tag().expect("an ETag"))
                .build(),
        );
    }
    let done = a
        .client
        .complete_multipart_upload()
        .bucket("bkt")
        .key("mp.bin")
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(completed))
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("complete: {}", describe(&e)));
    let etag = done.e_tag().expect("an ETag").to_string();
    assert!(etag.ends_with("-2\""), "{etag}");
    let head = b.head("bkt", "mp.bin").await;
    assert_eq!(head.e_tag(), Some(etag.as_str()));
    assert_eq!(head.content_type(), Some("application/x-parts"));
    assert_eq!(
        head.metadata()
            .and_then(|m| m.get("origin"))
            .map(String::as_str),
        Some("gateway-a")
    );
    assert_eq!(
        body_of(b.get_object("bkt", "mp.bin").await).await,
        parts.concat()
    );
}

/// What a gateway alone would hold is refused in a fleet: a write cache at start, versions and
/// object lock when asked.
#[tokio::test(flavor = "multi_thread")]
async fn a_fleet_refuses_what_one_gateway_alone_would_hold() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = base_config(dir.path());
    config.vfs.fleet = true;
    config.vfs.cache_mode = s3gate_config::CacheMode::Writes;
    let refused = s3gate::start(config).await.err().expect("refused at start");
    let why = refused.to_string();
    assert!(
        why.contains("--fleet") && why.contains("write cache"),
        "{why}"
    );

    let s = TestServer::start_with(|c| c.vfs.fleet = true).await;
    s.create_bucket("bkt").await;
    expect_error(
        s.client
            .put_bucket_versioning()
            .bucket("bkt")
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await,
        501,
        "NotImplemented",
    );
    expect_error(
        s.client
            .create_bucket()
            .bucket("locked")
            .object_lock_enabled_for_bucket(true)
            .send()
            .await,
        501,
        "NotImplemented",
    );
}
