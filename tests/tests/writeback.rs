//! `--vfs-cache-mode writes`: uploads are acknowledged once durable in the local cache, served
//! from there at once, and written back to the remote after `--vfs-write-back`; the queue
//! survives restarts, and deletes and overwrites of waiting objects win over their uploads.
//! The remote here is a local directory, so what reached it can be looked at directly.

use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::CompletedPart;
use s3gate_config::CacheMode;

use crate::common::*;

/// A server writing through the cache, uploading `delay` after a write.
pub(crate) async fn cached_server(delay: Duration) -> TestServer {
    TestServer::start_with(|c| {
        c.vfs.cache_mode = CacheMode::Writes;
        c.vfs.write_back = delay;
        c.vfs.fsync = true;
    })
    .await
}

fn cache_files(s: &TestServer) -> Vec<String> {
    files_under(&s.root().join(".s3gate/writeback/data"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_put_is_served_at_once_and_reaches_the_remote_after_the_delay() {
    let s = cached_server(Duration::from_millis(1500)).await;
    s.create_bucket("bkt").await;
    let body = pattern(300_000, 7);
    let put = s
        .client
        .put_object()
        .bucket("bkt")
        .key("dir/obj")
        .content_type("image/png")
        .metadata("Owner", "Ann")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap();
    let written = Instant::now();
    // Acknowledged from the cache: not on the remote yet, but read, headed and listed.
    assert!(!s.path_of("bkt", "dir/obj").exists());
    assert_eq!(cache_files(&s), ["bkt/dir/obj"]);
    assert_eq!(s.get("bkt", "dir/obj").await, body);
    assert_eq!(s.list_keys("bkt").await, ["dir/obj"]);
    let before = s.head("bkt", "dir/obj").await;
    assert_eq!(before.e_tag(), put.e_tag());

    let path = s.path_of("bkt", "dir/obj");
    eventually("the upload", || path.exists()).await;
    assert!(written.elapsed() >= Duration::from_millis(1400));
    assert_eq!(std::fs::read(&path).unwrap(), body);
    eventually("the cached file to go", || cache_files(&s).is_empty()).await;
    // The same object as before: ETag, metadata, type and time.
    let after = s.head("bkt", "dir/obj").await;
    assert_eq!(after.e_tag(), put.e_tag());
    assert_eq!(after.content_type(), Some("image/png"));
    assert_eq!(after.metadata(), before.metadata());
    assert_eq!(after.last_modified(), before.last_modified());
    assert_eq!(s.get("bkt", "dir/obj").await, body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_uploads_survive_a_restart() {
    let mut s = cached_server(Duration::from_secs(3600)).await;
    s.create_bucket("bkt").await;
    for i in 0..20 {
        s.put("bkt", &format!("k{i:02}"), pattern(1000 + i, i as u8))
            .await;
    }
    s.stop_server().await;
    assert!(!s.path_of("bkt", "k00").exists());
    // The next run uploads without waiting for new writes, and the old delay does not apply
    // to a new configuration.
    s.config.vfs.write_back = Duration::from_millis(10);
    s.start_again().await;
    for i in 0..20 {
        let path = s.path_of("bkt", &format!("k{i:02}"));
        eventually("uploads after the restart", || path.exists()).await;
    }
    eventually("the cache to empty", || cache_files(&s).is_empty()).await;
    for i in 0..20 {
        let want = pattern(1000 + i, i as u8);
        assert_eq!(
            std::fs::read(s.path_of("bkt", &format!("k{i:02}"))).unwrap(),
            want
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_uploads_are_flushed_even_after_caching_is_turned_off() {
    let mut s = cached_server(Duration::from_secs(3600)).await;
    s.create_bucket("bkt").await;
    s.put("bkt", "waiting", b"from the cache".to_vec()).await;
    s.put("bkt", "replaced", b"old, cached".to_vec()).await;
    s.stop_server().await;
    s.config.vfs.cache_mode = CacheMode::Off;
    s.start_again().await;
    // Written straight to the remote now: the cached version must never overwrite it.
    s.put("bkt", "replaced", b"new, direct".to_vec()).await;
    let path = s.path_of("bkt", "waiting");
    eventually("the leftover upload", || path.exists()).await;
    eventually("the cache to empty", || cache_files(&s).is_empty()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(s.get("bkt", "replaced").await, b"new, direct");
    assert_eq!(
        std::fs::read(s.path_of("bkt", "replaced")).unwrap(),
        b"new, direct"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletes_and_overwrites_of_waiting_objects_win_over_their_uploads() {
    let s = cached_server(Duration::from_millis(500)).await;
    s.create_bucket("bkt").await;
    // An older version on the remote, then a cached one deleted before its upload.
    s.put("bkt", "gone", b"v1".to_vec()).await;
    eventually("v1 uploaded", || s.path_of("bkt", "gone").exists()).await;
    s.put("bkt", "gone", b"v2".to_vec()).await;
    s.delete("bkt", "gone").await;
    // Overwritten twice while waiting: only the last version is uploaded.
    s.put("bkt", "twice", b"first".to_vec()).await;
    s.put("bkt", "twice", b"second".to_vec()).await;
    s.put("bkt", "twice", b"third".to_vec()).await;
    assert_eq!(s.get("bkt", "twice").await, b"third");
    let path = s.path_of("bkt", "twice");
    eventually("the upload", || path.exists()).await;
    eventually("the cache to empty", || cache_files(&s).is_empty()).await;
    assert_eq!(std::fs::read(&path).unwrap(), b"third");
    assert!(!s.path_of("bkt", "gone").exists());
    assert_eq!(s.list_keys("bkt").await, ["twice"]);
    s.assert_no_such_key("bkt", "gone").await;
}

/// Starts a multipart upload of `bkt/mp`.
async fn create(s: &TestServer) -> String {
    let up = s
        .client
        .create_multipart_upload()
        .bucket("bkt")
        .key("mp")
        .send()
        .await
        .unwrap();
    up.upload_id().unwrap().to_string()
}

/// Uploads part `n` of `bkt/mp`.
async fn upload_part(s: &TestServer, id: &str, n: i32, body: &[u8]) -> CompletedPart {
    let out = s
        .client
        .upload_part()
        .bucket("bkt")
        .key("mp")
        .upload_id(id)
        .part_number(n)
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await
        .unwrap();
    CompletedPart::builder()
        .part_number(n)
        .e_tag(out.e_tag().unwrap())
        .build()
}

/// Completes the upload of `bkt/mp`.
async fn complete(s: &TestServer, id: &str, parts: Vec<CompletedPart>) {
    complete_upload(&s.client, "bkt", "mp", id, parts)
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multipart_upload_open_across_a_cache_mode_change_keeps_its_parts() {
    for (before, after) in [
        (CacheMode::Writes, CacheMode::Off),
        (CacheMode::Off, CacheMode::Writes),
    ] {
        let mut s = cached_server(Duration::from_millis(10)).await;
        s.stop_server().await;
        s.config.vfs.cache_mode = before;
        s.start_again().await;
        s.create_bucket("bkt").await;
        let id = &create(&s).await;
        let parts = [pattern(5 << 20, 3), pattern(1000, 4)];
        let first = upload_part(&s, id, 1, &parts[0]).await;
        s.stop_server().await;
        s.config.vfs.cache_mode = after;
        s.start_again().await;
        let second = upload_part(&s, id, 2, &parts[1]).await;
        complete(&s, id, vec![first, second]).await;
        let whole = parts.concat();
        assert_eq!(s.get("bkt", "mp").await, whole, "{before:?} then {after:?}");
        let mp = s.path_of("bkt", "mp");
        eventually("the object on the remote", || mp.exists()).await;
        eventually("the cache to empty", || cache_files(&s).is_empty()).await;
        assert_eq!(std::fs::read(&mp).unwrap(), whole);
        // Nothing of the upload is left staged, in either place.
        assert!(files_under(&s.root().join(".s3gate/multipart")).is_empty());
        assert!(files_under(&s.root().join(".s3gate/writeback/data/.s3gate")).is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_uploads_and_copies_land_in_the_cache_too() {
    let s = cached_server(Duration::from_millis(500)).await;
    s.create_bucket("bkt").await;
    let c = &s.client;
    let id = &create(&s).await;
    let parts = [pattern(5 << 20, 1), pattern(100, 2)];
    let mut done = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        done.push(upload_part(&s, id, i as i32 + 1, p).await);
    }
    // The parts are staged in the cache, not on the remote.
    assert!(files_under(&s.root().join(".s3gate/multipart")).is_empty());
    complete(&s, id, done).await;
    // A copy of a waiting object, and (once uploaded) of an object on the remote.
    c.copy_object()
        .bucket("bkt")
        .key("copy-of-waiting")
        .copy_source("bkt/mp")
        .send()
        .await
        .unwrap();
    let whole = parts.concat();
    assert_eq!(s.get("bkt", "copy-of-waiting").await, whole);
    let mp = s.path_of("bkt", "mp");
    eventually("the multipart object uploaded", || mp.exists()).await;
    eventually("the cache to empty", || cache_files(&s).is_empty()).await;
    c.copy_object()
        .bucket("bkt")
        .key("copy-of-uploaded")
        .copy_source("bkt/mp")
        .send()
        .await
        .unwrap();
    let copy = s.path_of("bkt", "copy-of-uploaded");
    eventually("the second copy uploaded", || copy.exists()).await;
    for key in ["mp", "copy-of-waiting", "copy-of-uploaded"] {
        assert_eq!(
            std::fs::read(s.path_of("bkt", key)).unwrap(),
            whole,
            "{key}"
        );
    }
    let head = c
        .head_object()
        .bucket("bkt")
        .key("mp")
        .send()
        .await
        .unwrap();
    assert!(
        head.e_tag().unwrap().ends_with("-2\""),
        "{:?}",
        head.e_tag()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_bucket_leaves_no_folder_in_the_cache() {
    let s = cached_server(Duration::from_millis(100)).await;
    s.create_bucket("bkt").await;
    s.create_bucket("kept").await;
    for bucket in ["bkt", "kept"] {
        s.put(bucket, "dir/obj", b"cached".to_vec()).await;
    }
    eventually("the uploads", || cache_files(&s).is_empty()).await;
    let data = s.root().join(".s3gate/writeback/data");
    assert!(data.join("bkt").is_dir() && data.join("kept").is_dir());
    s.delete("bkt", "dir/obj").await;
    s.client.delete_bucket().bucket("bkt").send().await.unwrap();
    assert!(!data.join("bkt").exists());
    assert!(!s.root().join("bkt").exists());
    // Another bucket's folder stays, and so does the bucket.
    assert!(data.join("kept").is_dir());
    assert_eq!(s.get("kept", "dir/obj").await, b"cached");
    // Made again, the bucket is empty and takes writes through the cache as before.
    s.create_bucket("bkt").await;
    assert!(s.list_keys("bkt").await.is_empty());
    s.put("bkt", "again", b"new".to_vec()).await;
    assert_eq!(s.get("bkt", "again").await, b"new");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_upload_is_retried_and_the_bucket_is_not_empty_meanwhile() {
    let s = cached_server(Duration::from_millis(300)).await;
    s.create_bucket("bkt").await;
    // A file another program puts where the remote needs a folder, once the key has its
    // place (before, the key would be kept in the store of keys): the upload fails until the
    // file is moved away.
    s.put("bkt", "blocked/obj", b"patient".to_vec()).await;
    std::fs::write(s.path_of("bkt", "blocked"), b"in the way").unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(cache_files(&s), ["bkt/blocked/obj"]);
    assert_eq!(s.get("bkt", "blocked/obj").await, b"patient");
    let err = s
        .client
        .delete_bucket()
        .bucket("bkt")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status_and_code(&err).1, "BucketNotEmpty");
    std::fs::remove_file(s.path_of("bkt", "blocked")).unwrap();
    let path = s.path_of("bkt", "blocked/obj");
    eventually("the retried upload", || path.exists()).await;
    assert_eq!(std::fs::read(&path).unwrap(), b"patient");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_stats_tells_what_waits_and_cache_clear_uploads_it_first() {
    let mut s = cached_server(Duration::from_secs(3600)).await;
    s.create_bucket("bkt").await;
    for i in 0..3 {
        s.client
            .put_object()
            .bucket("bkt")
            .key(format!("k{i}"))
            .metadata("N", i.to_string())
            .body(ByteStream::from(pattern(1000, i as u8)))
            .send()
            .await
            .unwrap();
    }
    s.stop_server().await;
    let stats = s3gate::cache_stats(s.config.clone()).await.unwrap();
    assert!(stats.contains("waiting: 3 objects, 3000 bytes"), "{stats}");
    assert!(stats.contains("cache mode: writes"), "{stats}");
    let cleared = s3gate::cache_clear(s.config.clone()).await.unwrap();
    assert!(cleared.starts_with("uploaded 3 objects"), "{cleared}");
    assert!(!s.root().join(".s3gate/writeback").exists());
    for i in 0..3u8 {
        assert_eq!(
            std::fs::read(s.path_of("bkt", &format!("k{i}"))).unwrap(),
            pattern(1000, i)
        );
    }
    s.start_again().await;
    assert_eq!(s.user_meta("bkt", "k2", "n").await.as_deref(), Some("2"));
    let stats = s3gate::cache_stats(s.config.clone()).await;
    assert!(stats.is_err(), "the running server holds the index");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_back_metrics_follow_the_queue() {
    let s = TestServer::start_with(|c| {
        c.vfs.cache_mode = CacheMode::Writes;
        c.vfs.write_back = Duration::from_millis(300);
        c.server.metrics_addr = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    s.create_bucket("bkt").await;
    let url = format!("http://{}/metrics", s.metrics_addr().unwrap());
    let value = |text: &str, name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(-1.0)
    };
    s.put("bkt", "a", b"a".to_vec()).await;
    s.put("bkt", "b", b"b".to_vec()).await;
    let text = http().get(&url).send().await.unwrap().text().await.unwrap();
    assert_eq!(value(&text, "s3gate_writeback_pending"), 2.0, "{text}");
    let path = s.path_of("bkt", "b");
    eventually("the uploads", || {
        path.exists() && s.path_of("bkt", "a").exists()
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let text = loop {
        let text = http().get(&url).send().await.unwrap().text().await.unwrap();
        if value(&text, "s3gate_writeback_uploads_total") == 2.0 || Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(value(&text, "s3gate_writeback_pending"), 0.0, "{text}");
    assert_eq!(
        value(&text, "s3gate_writeback_uploads_total"),
        2.0,
        "{text}"
    );
    assert_eq!(
        value(&text, "s3gate_writeback_failures_total"),
        0.0,
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_file_a_crash_left_unrecorded_is_still_uploaded_with_caching_off() {
    let mut s = cached_server(Duration::from_secs(3600)).await;
    s.create_bucket("bkt").await;
    s.put("bkt", "k", b"v1, acknowledged".to_vec()).await;
    s.stop_server().await;
    // As if a second PUT had renamed its file into the cache and the server died before its
    // record: v1 is gone, and the file left there is the only version there is.
    let cached = s.root().join(".s3gate/writeback/data/bkt/k");
    std::fs::write(&cached, b"v2, cut off before its record").unwrap();
    s.config.vfs.cache_mode = CacheMode::Off;
    s.start_again().await;
    let path = s.path_of("bkt", "k");
    eventually("the upload of the adopted file", || path.exists()).await;
    assert_eq!(
        std::fs::read(&path).unwrap(),
        b"v2, cut off before its record"
    );
    assert_eq!(s.get("bkt", "k").await, b"v2, cut off before its record");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_object_whose_cached_file_was_removed_reads_as_missing() {
    let mut s = cached_server(Duration::from_secs(3600)).await;
    s.create_bucket("bkt").await;
    s.put("bkt", "k", b"only in the cache".to_vec()).await;
    s.stop_server().await;
    // Removed by hand while the server was down: nothing is left to upload.
    std::fs::remove_file(s.root().join(".s3gate/writeback/data/bkt/k")).unwrap();
    s.start_again().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = s.client.get_object().bucket("bkt").key("k").send().await;
        match r {
            Err(e) if status_and_code(&e) == (404, "NoSuchKey".into()) => break,
            other => assert!(
                Instant::now() < deadline,
                "still {:?}",
                other.map(|_| ()).map_err(|e| status_and_code(&e))
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(s.list_keys("bkt").await.is_empty());
}

/// The files kept in the store of keys: on the remote, and in the write cache (the same places,
/// in its folder).
fn stored_on_remote(s: &TestServer) -> Vec<String> {
    files_under(&s.root().join(".s3gate/keys"))
}

fn stored_in_cache(s: &TestServer) -> Vec<String> {
    files_under(&s.root().join(".s3gate/writeback/data/.s3gate/keys"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_no_file_tree_can_hold_waits_at_its_place_and_is_uploaded_after_a_restart() {
    let mut s = cached_server(Duration::from_secs(3600)).await;
    s.create_bucket("bkt").await;
    s.put("bkt", "a/b", b"child".to_vec()).await;
    // `a` beside the folder `a/`, waiting in the cache beside the folder it waits in too.
    s.put("bkt", "a", b"parent".to_vec()).await;
    s.put("bkt", "x/", b"content under a slash".to_vec()).await;
    // Written then deleted while waiting: never uploaded.
    s.put("bkt", "d//e", b"short-lived".to_vec()).await;
    s.delete("bkt", "d//e").await;
    assert_eq!(cache_files(&s), ["bkt/a/b"]);
    let waiting = stored_in_cache(&s);
    assert_eq!(waiting.len(), 2, "{waiting:?}");
    assert!(stored_on_remote(&s).is_empty());
    assert_eq!(s.get("bkt", "a").await, b"parent");
    assert_eq!(s.get("bkt", "x/").await, b"content under a slash");
    s.assert_no_such_key("bkt", "d//e").await;
    assert_eq!(s.list_keys("bkt").await, ["a", "a/b", "x/"]);

    s.stop_server().await;
    s.config.vfs.write_back = Duration::from_millis(10);
    s.start_again().await;
    // Read from the cache until uploaded, then from the remote: the same bytes either way.
    assert_eq!(s.get("bkt", "a").await, b"parent");
    eventually("the uploads after the restart", || {
        stored_in_cache(&s).is_empty() && cache_files(&s).is_empty()
    })
    .await;
    // Each at the place it waited at, in the remote's store of keys.
    assert_eq!(stored_on_remote(&s), waiting);
    let mut bodies: Vec<_> = waiting
        .iter()
        .map(|f| std::fs::read(s.root().join(".s3gate/keys").join(f)).unwrap())
        .collect();
    bodies.sort();
    assert_eq!(
        bodies,
        [b"content under a slash".to_vec(), b"parent".to_vec()]
    );
    assert_eq!(files_under(&s.root().join("bkt")), ["a/b"]);
    assert_eq!(s.get("bkt", "a").await, b"parent");
    assert_eq!(s.get("bkt", "x/").await, b"content under a slash");
    assert_eq!(s.list_keys("bkt").await, ["a", "a/b", "x/"]);

    // Overwritten while on the remote: cached again at the same place, uploaded over it.
    s.put("bkt", "a", b"again".to_vec()).await;
    assert_eq!(s.get("bkt", "a").await, b"again");
    eventually("the overwrite's upload", || stored_in_cache(&s).is_empty()).await;
    assert_eq!(stored_on_remote(&s), waiting);
    assert_eq!(s.get("bkt", "a").await, b"again");
    s.delete("bkt", "a").await;
    s.delete("bkt", "x/").await;
    assert!(stored_on_remote(&s).is_empty());
    assert_eq!(s.list_keys("bkt").await, ["a/b"]);
    // Emptied, the bucket goes, and so do its folders in both stores of keys.
    s.delete("bkt", "a/b").await;
    s.client.delete_bucket().bucket("bkt").send().await.unwrap();
    assert!(!s.root().join(".s3gate/keys/bkt").exists());
    let cached_folders = s.root().join(".s3gate/writeback/data/.s3gate/keys/bkt");
    assert!(!cached_folders.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_in_the_store_of_keys_of_the_cache_keeps_what_was_acknowledged_only() {
    let mut s = cached_server(Duration::from_secs(3600)).await;
    s.create_bucket("bkt").await;
    s.put("bkt", "a/b", b"child".to_vec()).await;
    s.put("bkt", "a", b"v1, acknowledged".to_vec()).await;
    s.stop_server().await;
    // As if a second PUT of `a` had renamed its file onto its place in the cache and the
    // server died before its record; and as if a first PUT of another key had published at a
    // fresh place and died before its record (never acknowledged).
    let [place] = <[String; 1]>::try_from(stored_in_cache(&s)).unwrap();
    let cache_keys = s.root().join(".s3gate/writeback/data/.s3gate/keys");
    std::fs::write(cache_keys.join(&place), b"v2, cut off before its record").unwrap();
    let orphan = cache_keys.join("bkt/00/0123456789abcdef0123456789abcd00");
    std::fs::create_dir_all(orphan.parent().unwrap()).unwrap();
    std::fs::write(&orphan, b"never acknowledged").unwrap();
    s.config.vfs.write_back = Duration::from_millis(10);
    s.start_again().await;
    assert!(!orphan.exists(), "the unrecorded file goes at start");
    eventually("the upload of the adopted file", || {
        stored_in_cache(&s).is_empty()
    })
    .await;
    assert_eq!(stored_on_remote(&s), std::slice::from_ref(&place));
    assert_eq!(
        std::fs::read(s.root().join(".s3gate/keys").join(&place)).unwrap(),
        b"v2, cut off before its record"
    );
    assert_eq!(s.get("bkt", "a").await, b"v2, cut off before its record");
    assert_eq!(s.list_keys("bkt").await, ["a", "a/b"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_marker_over_a_waiting_object_is_refused_as_over_one_on_the_remote() {
    let s = cached_server(Duration::from_secs(3600)).await;
    s.create_bucket("bkt").await;
    s.put("bkt", "a", b"waiting".to_vec()).await;
    // Its folder would stand where the waiting file is to be uploaded.
    for key in ["a/", "a/b/"] {
        let r = s
            .client
            .put_object()
            .bucket("bkt")
            .key(key)
            .body(ByteStream::from_static(b""))
            .send()
            .await;
        expect_error(r, 400, "InvalidArgument");
    }
    assert!(!s.root().join("bkt/a").exists());
    assert_eq!(s.list_keys("bkt").await, ["a"]);
    // Content under `a/` is kept in the store of keys, beside it.
    s.put("bkt", "a/", b"content".to_vec()).await;
    assert_eq!(s.get("bkt", "a/").await, b"content");
    assert_eq!(s.get("bkt", "a").await, b"waiting");
}
