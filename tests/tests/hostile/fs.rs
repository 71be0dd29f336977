//! What another program with access to the served directory leaves in it. A FIFO, a socket or a
//! symbolic link at a key is no object: every request answers as for an absent key, promptly,
//! and leaves it in place (a GET of a FIFO used to wait for a writer for good, pinning a blocking
//! thread and its key's lock, and hanging every listing once the watch had recorded it). And a
//! restart never answers a listing that shows a key whose file is gone.

use std::ffi::CString;
use std::future::Future;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::*;

/// How long any one step may take: a hang fails the test instead of stalling the suite.
const PROMPT: Duration = Duration::from_secs(10);

async fn prompt<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(PROMPT, f)
        .await
        .unwrap_or_else(|_| panic!("{what} hung"))
}

pub(crate) fn mkfifo(p: &Path) {
    let c = CString::new(p.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid C string.
    assert_eq!(
        unsafe { libc::mkfifo(c.as_ptr(), 0o644) },
        0,
        "mkfifo {p:?}"
    );
}

/// A Unix socket file (it outlives the listener).
pub(crate) fn mksock(p: &Path) {
    std::os::unix::net::UnixListener::bind(p).unwrap();
}

/// Waits until `bkt` lists `want`, each listing answering promptly.
async fn lists(s: &TestServer, want: &[&str]) {
    let deadline = Instant::now() + PROMPT;
    loop {
        let keys = prompt("a listing", s.list_keys("bkt")).await;
        if keys == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "listing {keys:?}, expected {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// GET, HEAD and CopyObject from `bkt/key` answer promptly as for an absent key.
pub(crate) async fn assert_absent(s: &TestServer, key: &str) {
    let get = prompt(
        &format!("GET {key}"),
        s.client.get_object().bucket("bkt").key(key).send(),
    )
    .await;
    assert_eq!(
        status_and_code(&get.expect_err("GET of a non-object")),
        (404, "NoSuchKey".into()),
        "GET {key}"
    );
    let head = prompt(
        &format!("HEAD {key}"),
        s.client.head_object().bucket("bkt").key(key).send(),
    )
    .await;
    assert_eq!(
        status_and_code(&head.expect_err("HEAD of a non-object")).0,
        404,
        "HEAD {key}"
    );
    let copy = prompt(
        &format!("CopyObject from {key}"),
        s.client
            .copy_object()
            .copy_source(format!("bkt/{key}"))
            .bucket("bkt")
            .key("copied")
            .send(),
    )
    .await;
    assert_eq!(
        status_and_code(&copy.expect_err("a copy of a non-object")),
        (404, "NoSuchKey".into()),
        "CopyObject from {key}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn fifos_and_sockets_are_absent_and_hang_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let bkt = dir.path().join("bkt");
    std::fs::create_dir(&bkt).unwrap();
    std::fs::write(bkt.join("real"), b"real").unwrap();
    mkfifo(&bkt.join("fifo-before"));
    mksock(&bkt.join("sock-before"));
    let s = TestServer::start_in(dir, |c| c.vfs.rescan_interval = Duration::from_secs(3600)).await;
    // Planted while serving: the watch sees them (and the file after them).
    mkfifo(&bkt.join("fifo-live"));
    mksock(&bkt.join("sock-live"));
    std::fs::write(bkt.join("seen"), b"seen").unwrap();
    lists(&s, &["real", "seen"]).await;

    for key in ["fifo-before", "sock-before", "fifo-live", "sock-live"] {
        assert_absent(&s, key).await;
    }
    let mp = s
        .client
        .create_multipart_upload()
        .bucket("bkt")
        .key("assembled")
        .send()
        .await
        .unwrap();
    let part = prompt(
        "UploadPartCopy from a FIFO",
        s.client
            .upload_part_copy()
            .bucket("bkt")
            .key("assembled")
            .upload_id(mp.upload_id().unwrap())
            .part_number(1)
            .copy_source("bkt/fifo-live")
            .send(),
    )
    .await;
    assert_eq!(
        status_and_code(&part.expect_err("a part copied from a FIFO")),
        (404, "NoSuchKey".into())
    );
    // Every key's lock and the blocking threads are free: writes and reads go on.
    for i in 0..50 {
        prompt("a PUT", s.put("bkt", &format!("k{i}"), b"v".to_vec())).await;
    }
    assert_eq!(prompt("a GET", s.get("bkt", "k49")).await, b"v");
    let sock = std::fs::symlink_metadata(bkt.join("sock-live")).unwrap();
    assert!(sock.file_type().is_socket(), "the socket stays");

    // Removing the FIFOs leaves the watch working: a file written afterwards shows.
    std::fs::remove_file(bkt.join("fifo-live")).unwrap();
    std::fs::remove_file(bkt.join("fifo-before")).unwrap();
    std::fs::write(bkt.join("after"), b"after").unwrap();
    let mut want: Vec<String> = (0..50).map(|i| format!("k{i}")).collect();
    want.extend(["after", "real", "seen"].map(String::from));
    want.sort();
    lists(&s, &want.iter().map(String::as_str).collect::<Vec<_>>()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_what_is_not_an_object_leaves_it_in_place() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), b"secret").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bkt = dir.path().join("bkt");
    std::fs::create_dir(&bkt).unwrap();
    std::fs::write(bkt.join("real"), b"real").unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret"), bkt.join("link-out")).unwrap();
    std::os::unix::fs::symlink("real", bkt.join("link-in")).unwrap();
    mkfifo(&bkt.join("fifo"));
    mksock(&bkt.join("sock"));
    let planted = ["link-out", "link-in", "fifo", "sock"];
    let s = TestServer::start_in(dir, |_| {}).await;
    let kinds = || {
        planted
            .map(|k| std::fs::symlink_metadata(bkt.join(k)).map(|m| m.file_type()))
            .map(|t| t.map(|t| (t.is_symlink(), t.is_fifo(), t.is_socket())).ok())
    };
    let before = kinds();
    assert!(before.iter().all(Option::is_some));

    for key in planted {
        prompt(
            &format!("DELETE {key}"),
            s.client.delete_object().bucket("bkt").key(key).send(),
        )
        .await
        .unwrap_or_else(|e| panic!("DELETE {key}: {}", describe(&e)));
    }
    assert_eq!(kinds(), before, "DELETE removed what is not an object");
    let objects: Vec<_> = planted
        .iter()
        .map(|k| {
            aws_sdk_s3::types::ObjectIdentifier::builder()
                .key(*k)
                .build()
                .unwrap()
        })
        .collect();
    let out = prompt(
        "DeleteObjects",
        s.client
            .delete_objects()
            .bucket("bkt")
            .delete(
                aws_sdk_s3::types::Delete::builder()
                    .set_objects(Some(objects))
                    .build()
                    .unwrap(),
            )
            .send(),
    )
    .await
    .unwrap();
    assert!(out.errors().is_empty(), "{:?}", out.errors());
    assert_eq!(out.deleted().len(), planted.len());
    assert_eq!(
        kinds(),
        before,
        "DeleteObjects removed what is not an object"
    );
    assert_eq!(
        std::fs::read(outside.path().join("secret")).unwrap(),
        b"secret"
    );
    assert_eq!(s.get("bkt", "real").await, b"real");
    assert_eq!(s.list_keys("bkt").await, ["real"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_listing_during_the_start_up_check_shows_no_removed_file() {
    let mut s = TestServer::start().await;
    // A bucket checked before the one that changed, so that the check takes a while.
    let first = s.root().join("aaa");
    std::fs::create_dir(&first).unwrap();
    for i in 0..3000 {
        std::fs::write(first.join(format!("f{i:04}")), b"x").unwrap();
    }
    s.create_bucket("zzz").await;
    s.put("zzz", "gone", b"removed while the server was down".to_vec())
        .await;
    s.put("zzz", "kept", b"kept".to_vec()).await;
    s.stop_server().await;
    // A file gone and its record left, as a delete cut off between the two left them before.
    std::fs::remove_file(s.path_of("zzz", "gone")).unwrap();
    s.start_again().await;
    let listing = s.list_keys("zzz").await;
    let get = s.client.get_object().bucket("zzz").key("gone").send().await;
    assert_eq!(listing, ["kept"], "listed at once after the start");
    assert_eq!(status_and_code(&get.unwrap_err()).0, 404);
}
