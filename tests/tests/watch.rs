//! Files that other programs add, change, move and remove in a served directory show in
//! listings without waiting for a rescan (the rescan interval here is an hour).

use std::time::{Duration, Instant};

use crate::common::*;

async fn watched_server() -> TestServer {
    let s = TestServer::start_with(|c| {
        c.vfs.rescan_interval = Duration::from_secs(3600);
        c.server.metrics_addr = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    s.create_bucket("bkt").await;
    // The first rescan runs at start: let it pass, so that it cannot be what finds the files.
    tokio::time::sleep(Duration::from_millis(200)).await;
    s
}

/// Waits until the bucket lists `want` (5 s at most; the watch takes a fraction of a second).
async fn lists(s: &TestServer, want: &[&str]) {
    lists_in(s, "bkt", want).await
}

/// Waits until the listing shows `key` (in "bkt") with the size and ETag of `content`.
async fn lists_content(s: &TestServer, key: &str, content: &[u8]) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let page = s
            .client
            .list_objects_v2()
            .bucket("bkt")
            .prefix(key)
            .send()
            .await
            .unwrap();
        let obj = &page.contents()[0];
        if obj.size() == Some(content.len() as i64) {
            assert_eq!(obj.e_tag(), Some(etag_of(content).as_str()));
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{key}: size still {:?}",
            obj.size()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn lists_in(s: &TestServer, bucket: &str, want: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let keys = s.list_keys(bucket).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_band_changes_show_without_a_rescan() {
    let s = watched_server().await;
    let root = s.root().join("bkt");

    std::fs::create_dir_all(root.join("a")).unwrap();
    std::fs::write(root.join("a/one.txt"), b"one").unwrap();
    lists(&s, &["a/one.txt"]).await;
    assert_eq!(s.get("bkt", "a/one.txt").await, b"one");

    // A changed file gets its new ETag.
    std::fs::write(root.join("a/one.txt"), b"one, longer").unwrap();
    lists_content(&s, "a/one.txt", b"one, longer").await;

    // A folder made elsewhere and moved in, with its files.
    let outside = tempfile::tempdir_in(s.root()).unwrap();
    std::fs::create_dir_all(outside.path().join("tree/deep")).unwrap();
    std::fs::write(outside.path().join("tree/deep/x"), b"x").unwrap();
    std::fs::write(outside.path().join("tree/y"), b"y").unwrap();
    std::fs::rename(outside.path().join("tree"), root.join("tree")).unwrap();
    lists(&s, &["a/one.txt", "tree/deep/x", "tree/y"]).await;

    // Removed and moved away.
    std::fs::remove_file(root.join("a/one.txt")).unwrap();
    std::fs::rename(root.join("tree"), outside.path().join("back")).unwrap();
    lists(&s, &[]).await;
    s.assert_no_such_key("bkt", "tree/y").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_made_elsewhere_is_watched_with_what_it_held_at_once() {
    let s = watched_server().await;
    // Filled before its watch can begin: what it held is checked when the watch starts.
    std::fs::create_dir_all(s.root().join("made/sub")).unwrap();
    std::fs::write(s.root().join("made/sub/first"), b"1").unwrap();
    lists_in(&s, "made", &["sub/first"]).await;
    // Then watched like any bucket.
    std::fs::write(s.root().join("made/second"), b"2").unwrap();
    lists_in(&s, "made", &["second", "sub/first"]).await;

    // Removed and made again: the new folder is watched, not the stale watch of the old one.
    std::fs::remove_dir_all(s.root().join("made")).unwrap();
    std::fs::create_dir(s.root().join("made")).unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    std::fs::write(s.root().join("made/third"), b"3").unwrap();
    lists_in(&s, "made", &["third"]).await;

    // The server's own writes still work beside the watch, in a bucket it made itself.
    s.create_bucket("own").await;
    s.put("own", "k", b"v").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    std::fs::write(s.root().join("own/outside"), b"o").unwrap();
    lists_in(&s, "own", &["k", "outside"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_rewritten_elsewhere_just_after_a_put_is_still_checked() {
    let s = watched_server().await;
    for round in 0..5u8 {
        let key = format!("k{round}");
        s.put("bkt", &key, vec![round; 10]).await;
        // Rewritten in place before the watch has taken note of the PUT's own rename: the
        // server's note of what it published must not hide this change.
        let changed = vec![round; 25];
        std::fs::write(s.path_of("bkt", &key), &changed).unwrap();
        lists_content(&s, &key, &changed).await;
    }
}

/// The events the watch woke for so far, from `/metrics`.
async fn watch_events(s: &TestServer) -> f64 {
    s.metrics().await["s3gate_watch_events_total{}"]
}

/// Reads open, read and close the files unwritten: on Linux the watch is told to report only
/// what changes content, so a storm of GETs and HEADs wakes it for nothing, while a file
/// written elsewhere still does.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_do_not_wake_the_watch() {
    let s = watched_server().await;
    for i in 0..20 {
        s.put("bkt", &format!("k{i}"), vec![b'x'; 4096]).await;
    }
    // The PUTs' own renames were events: let them pass.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = watch_events(&s).await;
    for round in 0..10 {
        for i in 0..20 {
            assert_eq!(
                s.get("bkt", &format!("k{i}")).await.len(),
                4096,
                "round {round}"
            );
            s.head("bkt", &format!("k{i}")).await;
        }
    }
    assert_eq!(s.list_keys("bkt").await.len(), 20);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(watch_events(&s).await, before, "reads woke the watch");

    // A change made elsewhere still wakes it, and is seen.
    std::fs::write(s.root().join("bkt/outside"), b"o").unwrap();
    lists(
        &s,
        &[
            "k0", "k1", "k10", "k11", "k12", "k13", "k14", "k15", "k16", "k17", "k18", "k19", "k2",
            "k3", "k4", "k5", "k6", "k7", "k8", "k9", "outside",
        ],
    )
    .await;
    assert!(watch_events(&s).await > before);
}
