//! Small PUTs through the log (`--small-put-log`): served at once with their attributes, their
//! conditions kept, and every acknowledged object there after a power cut, rebuilt from only
//! what the server made durable (`--power-cut-shadow`).

use std::collections::BTreeMap;

use aws_sdk_s3::primitives::ByteStream;
use s3gate::Config;

use crate::common::*;

/// Logging PUTs of up to 64 KiB, durable (the suite turns fsync off elsewhere).
fn logged(c: &mut Config) {
    c.vfs.fsync = true;
    c.vfs.small_put_log = 64 << 10;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_logged_put_is_served_at_once_with_its_attributes_and_conditions() {
    let mut s = TestServer::start_with(logged).await;
    s.create_bucket("bkt").await;
    let data = pattern(5000, 1);
    let out = s
        .client
        .put_object()
        .bucket("bkt")
        .key("dir/small")
        .content_type("text/x-small")
        .metadata("colour", "blue")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(out.e_tag(), Some(etag_of(&data).as_str()));
    assert_eq!(s.get("bkt", "dir/small").await, data);
    let head = s.head("bkt", "dir/small").await;
    assert_eq!(head.content_type(), Some("text/x-small"));
    assert_eq!(
        s.user_meta("bkt", "dir/small", "colour").await.as_deref(),
        Some("blue")
    );
    // The plain file is there as soon as the PUT is answered.
    assert_eq!(std::fs::read(s.path_of("bkt", "dir/small")).unwrap(), data);
    // A condition is judged against the logged object.
    let refused = s
        .client
        .put_object()
        .bucket("bkt")
        .key("dir/small")
        .if_none_match("*")
        .body(ByteStream::from(b"again".to_vec()))
        .send()
        .await;
    assert_eq!(
        outcome(refused),
        Err((412, "PreconditionFailed".to_string()))
    );
    // An object over the bound takes the usual path, a small one in a versioned bucket too.
    let big = pattern(100 << 10, 2);
    s.put("bkt", "big", big.clone()).await;
    s.create_bucket("kept").await;
    enable_versioning(&s.client, "kept").await;
    let v1 = s.put("kept", "k", b"one".to_vec()).await;
    let v2 = s.put("kept", "k", b"two".to_vec()).await;
    assert_ne!(v1, v2);
    // Overwritten through the log, then deleted, then written again.
    s.put("bkt", "dir/small", b"second".to_vec()).await;
    s.delete("bkt", "dir/small").await;
    s.assert_no_such_key("bkt", "dir/small").await;
    s.put("bkt", "again", b"third".to_vec()).await;
    s.restart().await;
    s.assert_no_such_key("bkt", "dir/small").await;
    assert_eq!(s.get("bkt", "again").await, b"third");
    assert_eq!(s.get("bkt", "big").await, big);
    let versions = s
        .client
        .list_object_versions()
        .bucket("kept")
        .send()
        .await
        .unwrap();
    assert_eq!(versions.versions().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn after_a_power_cut_every_acknowledged_small_put_is_there_byte_exact() {
    let shadow = tempfile::Builder::new()
        .prefix("s3gate-test-shadow-")
        .tempdir()
        .unwrap();
    let shadow_dir = shadow.path().join("disk");
    let mut s = TestServer::start_with(|c| {
        logged(c);
        c.vfs.power_cut_shadow = Some(shadow_dir.clone());
    })
    .await;
    s.create_bucket("bkt").await;
    // Acknowledged writes, concurrently: small ones through the log (overwritten in the second
    // round, one deleted between the rounds, which syncs what the log holds), and large ones
    // whose folder syncs make the small files' names durable before their bytes (the torn
    // files a power cut leaves).
    let mut want: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for round in 0..2u8 {
        if round == 1 {
            s.delete("bkt", "d0/k0").await;
            want.remove("d0/k0");
        }
        let mut tasks = Vec::new();
        for i in (round as u32)..48 {
            let client = s.client.clone();
            let key = format!("d{}/k{i}", i % 3);
            let data = match i % 16 {
                15 => pattern(80 << 10, round),
                _ => pattern(1000 + (i as usize * 97) % 4000, round.wrapping_add(i as u8)),
            };
            tasks.push(tokio::spawn(async move {
                client
                    .put_object()
                    .bucket("bkt")
                    .key(&key)
                    .body(ByteStream::from(data.clone()))
                    .send()
                    .await
                    .unwrap();
                (key, data)
            }));
        }
        for t in tasks {
            let (key, data) = t.await.unwrap();
            want.insert(key, data);
        }
    }
    // One more small PUT at a time until one is not yet durable: a PUT that finds a checkpoint
    // due runs it, its own file included.
    for i in 0..20 {
        let key = format!("last/k{i}");
        let data = pattern(3000, i);
        s.put("bkt", &key, data.clone()).await;
        want.insert(key.clone(), data.clone());
        if std::fs::read(shadow_dir.join("bkt").join(&key)).ok() != Some(data) {
            break;
        }
    }
    // The power cut: the disk as it would be now, taken while nothing runs.
    let cut = tempfile::Builder::new()
        .prefix("s3gate-test-cut-")
        .tempdir()
        .unwrap();
    s3gate_vfs::power_cut_copy(&shadow_dir, cut.path()).unwrap();
    s.stop_server().await;
    let torn = s3gate_vfs::power_cut_tear(cut.path()).unwrap();
    let unsynced = want
        .iter()
        .filter(|(k, v)| std::fs::read(cut.path().join("bkt").join(k)).ok().as_ref() != Some(*v))
        .count();
    assert!(
        unsynced > 0,
        "every file was durable before the cut: the log was not under test"
    );
    eprintln!("{unsynced} acknowledged objects not on disk as written, {torn} of them torn");
    // A server on what survived replays the log before serving.
    let after = TestServer::start_in(cut, logged).await;
    for (key, data) in &want {
        assert_eq!(
            &after.get("bkt", key).await,
            data,
            "{key} after the power cut"
        );
        assert_eq!(
            after.head("bkt", key).await.e_tag(),
            Some(etag_of(data).as_str()),
            "{key}'s record"
        );
        assert_eq!(
            &std::fs::read(after.path_of("bkt", key)).unwrap(),
            data,
            "{key}'s plain file"
        );
    }
    after.assert_no_such_key("bkt", "d0/k0").await;
    let mut listed = after.list_keys("bkt").await;
    listed.sort();
    assert_eq!(listed, want.keys().cloned().collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watch_keeps_logged_puts_and_sees_other_programs_rewrite_them() {
    let s = TestServer::start_with(|c| {
        logged(c);
        c.vfs.rescan_interval = std::time::Duration::from_secs(3600);
    })
    .await;
    s.create_bucket("bkt").await;
    // The first rescan runs at start: let it pass.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    for round in 0..3u8 {
        let key = format!("k{round}");
        s.client
            .put_object()
            .bucket("bkt")
            .key(&key)
            .metadata("round", round.to_string())
            .body(ByteStream::from(vec![round; 10]))
            .send()
            .await
            .unwrap();
        // Rewritten in place by another program right after the PUT's own rename.
        let changed = vec![round; 25];
        std::fs::write(s.path_of("bkt", &key), &changed).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let page = s
                .client
                .list_objects_v2()
                .bucket("bkt")
                .prefix(&key)
                .send()
                .await
                .unwrap();
            if page.contents().first().and_then(|o| o.size()) == Some(25) {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{key}: change unseen");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(s.get("bkt", &key).await, changed);
    }
    // A logged PUT the watch saw renamed keeps its record: its metadata is still there.
    s.client
        .put_object()
        .bucket("bkt")
        .key("kept")
        .metadata("colour", "green")
        .body(ByteStream::from(b"kept".to_vec()))
        .send()
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        s.user_meta("bkt", "kept", "colour").await.as_deref(),
        Some("green")
    );
}
