//! `--vfs-cache-mode full`: objects read from the remote are kept in chunks, so reading them
//! again costs no transfer from the remote; a damaged chunk is fetched again, a changed object
//! is never served from its old chunks, and the cache stays within its limits while reads go
//! on. The remote is an S3 store: a second s3gate, whose metrics count what it served.

use std::time::{Duration, Instant};

use s3gate_config::{CacheMode, RemoteDef, RemoteOption};

use crate::common::*;

const CHUNK: u64 = 64 << 10;

/// The backing store (bucket `store`, metrics on) and a front server in full mode over it.
async fn pair(tweak: impl FnOnce(&mut s3gate::Config)) -> (TestServer, TestServer) {
    let back = TestServer::start_with(|c| {
        c.auth.keys = vec![format!("{ACCESS_KEY},{SECRET_KEY}").parse().unwrap()];
        c.server.metrics_addr = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    back.create_bucket("store").await;
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
    let front = TestServer::start_with(move |c| {
        c.vfs.cache_dir = Some(c.remote.path.join("cache"));
        c.remote.name = Some("back".into());
        c.remote.path = "".into();
        c.remotes.insert("back".into(), def);
        c.vfs.cache_mode = CacheMode::Full;
        c.vfs.read_chunk_size = CHUNK;
        c.vfs.read_ahead = 0;
        // The disk tier alone unless a test says otherwise: what is on disk is what is read.
        c.vfs.cache_mem_size = 0;
        c.server.metrics_addr = Some("127.0.0.1:0".parse().unwrap());
        tweak(c);
    })
    .await;
    front.create_bucket("bkt").await;
    (back, front)
}

/// A counter (summed over its labels) from a server's metrics.
async fn metric(s: &TestServer, name: &str, label: &str) -> f64 {
    let url = format!("http://{}/metrics", s.metrics_addr().unwrap());
    let text = http().get(url).send().await.unwrap().text().await.unwrap();
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// GETs the backing store answered so far.
async fn remote_gets(back: &TestServer) -> f64 {
    metric(back, "s3gate_requests_total{", "op=\"GetObject\"").await
}

/// Bytes `a..=b` of `bkt/obj` from the front.
async fn get_range(front: &TestServer, a: u64, b: u64) -> Vec<u8> {
    let got = front
        .client
        .get_object()
        .bucket("bkt")
        .key("obj")
        .range(format!("bytes={a}-{b}"))
        .send()
        .await
        .unwrap();
    body_of(got).await
}

/// Chunk files of the front's read cache.
fn chunk_files(front: &TestServer) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![front.root().join("cache")];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.to_string_lossy().contains("/readcache/objects/") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_read_comes_from_the_cache_and_a_damaged_chunk_is_fetched_again() {
    let (back, front) = pair(|_| {}).await;
    // Written to the remote by someone else: the front reads it from there.
    let body = pattern(5 * CHUNK as usize + 1000, 3);
    back.put("store", "bkt/obj", body.clone()).await;

    let before = remote_gets(&back).await;
    assert_eq!(front.get("bkt", "obj").await, body);
    let first = remote_gets(&back).await - before;
    // The remote's ETag is the MD5: the object is not read to learn it.
    assert_eq!(first, 6.0, "one GET per chunk");
    assert_eq!(chunk_files(&front).len(), 6);

    // Again, whole and in ranges: nothing more from the remote.
    assert_eq!(front.get("bkt", "obj").await, body);
    let (a, b) = (CHUNK - 10, 3 * CHUNK + 10);
    assert_eq!(
        get_range(&front, a, b).await,
        &body[a as usize..=b as usize]
    );
    assert_eq!(remote_gets(&back).await - before, first);
    assert!(metric(&front, "s3gate_readcache_hits_total", "").await >= 6.0);

    // A flipped byte in a cached chunk: detected, fetched again, never served.
    let victim = &chunk_files(&front)[2];
    let mut bytes = std::fs::read(victim).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0xFF;
    std::fs::write(victim, bytes).unwrap();
    assert_eq!(front.get("bkt", "obj").await, body);
    assert_eq!(remote_gets(&back).await - before, first + 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunk_damaged_past_its_first_piece_is_served_whole() {
    // Chunks of four 512 KiB pieces, each checked as it is read: the damage is in the third.
    let chunk = 2 << 20;
    let (back, front) = pair(|c| c.vfs.read_chunk_size = chunk).await;
    let body = pattern(chunk as usize + 1000, 5);
    back.put("store", "bkt/obj", body.clone()).await;
    assert_eq!(front.get("bkt", "obj").await, body);
    let before = remote_gets(&back).await;
    let victim = chunk_files(&front)
        .into_iter()
        .find(|f| f.ends_with("0"))
        .unwrap();
    let mut bytes = std::fs::read(&victim).unwrap();
    // Past the four pieces' hashes (16 bytes each) and the first two pieces.
    let at = 4 * 16 + (1 << 20) + 12345;
    bytes[at] ^= 0x01;
    std::fs::write(&victim, bytes).unwrap();
    assert_eq!(front.get("bkt", "obj").await, body);
    assert_eq!(remote_gets(&back).await - before, 1.0);
    // Fetched again and kept: the next read is from the cache.
    assert_eq!(front.get("bkt", "obj").await, body);
    assert_eq!(remote_gets(&back).await - before, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_tier_serves_recent_chunks_within_its_size() {
    let (back, front) = pair(|c| c.vfs.cache_mem_size = 4 * CHUNK).await;
    let body = pattern(3 * CHUNK as usize, 7);
    back.put("store", "bkt/obj", body.clone()).await;
    assert_eq!(front.get("bkt", "obj").await, body);
    let before = remote_gets(&back).await;
    // Gone from disk, still in memory: no remote read.
    for f in chunk_files(&front) {
        std::fs::remove_file(f).unwrap();
    }
    assert_eq!(front.get("bkt", "obj").await, body);
    let (a, b) = (CHUNK / 2, 2 * CHUNK + 7);
    assert_eq!(
        get_range(&front, a, b).await,
        &body[a as usize..=b as usize]
    );
    assert_eq!(remote_gets(&back).await, before);
    let held = metric(&front, "s3gate_readcache_memory_bytes", "").await;
    assert_eq!(held, (3 * CHUNK) as f64);
    // More than it can hold: it keeps within its size.
    for i in 0..3 {
        let other = pattern(3 * CHUNK as usize, 10 + i);
        back.put("store", &format!("bkt/more{i}"), other.clone())
            .await;
        assert_eq!(front.get("bkt", &format!("more{i}")).await, other);
    }
    let held = metric(&front, "s3gate_readcache_memory_bytes", "").await;
    assert!(held <= (4 * CHUNK) as f64, "{held} bytes in memory");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunks_read_from_disk_are_kept_in_memory_only_when_their_object_fits() {
    let (back, mut front) = pair(|c| c.vfs.cache_mem_size = 4 * CHUNK).await;
    let small = pattern(2 * CHUNK as usize, 21);
    let big = pattern(6 * CHUNK as usize + 10, 22);
    back.put("store", "bkt/small", small.clone()).await;
    back.put("store", "bkt/big", big.clone()).await;
    assert_eq!(front.get("bkt", "small").await, small);
    assert_eq!(front.get("bkt", "big").await, big);
    assert_eq!(chunk_files(&front).len(), 9);
    // A new start: the chunks are on disk, none in memory.
    front.restart().await;
    let memory = "s3gate_readcache_memory_bytes";
    assert_eq!(metric(&front, memory, "").await, 0.0);
    // Read from disk, larger than the memory tier: each chunk would only push out the last.
    assert_eq!(front.get("bkt", "big").await, big);
    assert_eq!(metric(&front, memory, "").await, 0.0);
    // Read from disk, within it: kept, and read again from memory alone.
    assert_eq!(front.get("bkt", "small").await, small);
    assert_eq!(metric(&front, memory, "").await, (2 * CHUNK) as f64);
    for f in chunk_files(&front) {
        std::fs::remove_file(f).unwrap();
    }
    let before = remote_gets(&back).await;
    assert_eq!(front.get("bkt", "small").await, small);
    assert_eq!(remote_gets(&back).await, before);
    assert_eq!(front.get("bkt", "big").await, big);
    assert_eq!(
        remote_gets(&back).await - before,
        7.0,
        "the big object fetched again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_object_is_never_served_from_its_old_chunks() {
    // Every GET checks the version with the remote first.
    let (back, front) = pair(|c| c.vfs.cache_trust = Duration::ZERO).await;
    back.put("store", "bkt/obj", pattern(3 * CHUNK as usize, 1))
        .await;
    assert_eq!(
        front.get("bkt", "obj").await,
        pattern(3 * CHUNK as usize, 1)
    );
    // Replaced by another writer, same size.
    back.put("store", "bkt/obj", pattern(3 * CHUNK as usize, 2))
        .await;
    assert_eq!(
        front.get("bkt", "obj").await,
        pattern(3 * CHUNK as usize, 2)
    );
}

/// Requests of any kind the backing store answered so far.
async fn remote_requests(back: &TestServer) -> f64 {
    metric(back, "s3gate_requests_total{", "op=").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_checked_lately_is_served_without_asking_the_remote() {
    let trust = Duration::from_secs(2);
    let (back, front) = pair(|c| c.vfs.cache_trust = trust).await;
    let first = pattern(3 * CHUNK as usize, 1);
    back.put("store", "bkt/obj", first.clone()).await;
    assert_eq!(front.get("bkt", "obj").await, first);
    let checked = Instant::now();

    // Within the window, whole and in ranges: the remote hears nothing.
    let before = remote_requests(&back).await;
    for _ in 0..5 {
        assert_eq!(front.get("bkt", "obj").await, first);
        let (a, b) = (CHUNK - 10, CHUNK + 10);
        assert_eq!(
            get_range(&front, a, b).await,
            first[a as usize..=b as usize]
        );
    }
    assert_eq!(remote_requests(&back).await - before, 0.0);

    // Replaced by another writer: what the window risks is the old version, whole, until it
    // has passed; then the new one is read.
    let second = pattern(3 * CHUNK as usize, 2);
    back.put("store", "bkt/obj", second.clone()).await;
    if checked.elapsed() < trust {
        assert_eq!(front.get("bkt", "obj").await, first);
    }
    tokio::time::sleep(trust.saturating_sub(checked.elapsed())).await;
    assert_eq!(front.get("bkt", "obj").await, second);

    // Its own writes are never hidden by the window: the record names the new version.
    let third = pattern(2 * CHUNK as usize, 3);
    front.put("bkt", "obj", third.clone()).await;
    assert_eq!(front.get("bkt", "obj").await, third);
    front.delete("bkt", "obj").await;
    front.assert_no_such_key("bkt", "obj").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_stays_within_its_size_while_reads_go_on() {
    let max = 10 * CHUNK;
    let (back, front) = pair(|c| c.vfs.cache_max_size = max).await;
    let objects: Vec<Vec<u8>> = (0..6).map(|i| pattern(4 * CHUNK as usize, i)).collect();
    for (i, o) in objects.iter().enumerate() {
        back.put("store", &format!("bkt/o{i}"), o.clone()).await;
    }
    // Rounds of concurrent reads of every object, for longer than a trim period.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut rounds = 0;
    while Instant::now() < deadline || rounds < 3 {
        let reads = objects.iter().enumerate().map(|(i, o)| {
            let front = &front;
            async move {
                assert_eq!(&front.get("bkt", &format!("o{i}")).await, o);
            }
        });
        futures_util::future::join_all(reads).await;
        rounds += 1;
    }
    assert!(metric(&front, "s3gate_readcache_evictions_total", "").await >= 1.0);
    // Once reads stop, the next trim brings it under the limit.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let bytes = metric(&front, "s3gate_readcache_bytes", "").await;
        if bytes <= max as f64 {
            break;
        }
        assert!(Instant::now() < deadline, "read cache holds {bytes} bytes");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_readers_of_a_missing_chunk_fetch_it_once() {
    let (back, front) = pair(|_| {}).await;
    let body = pattern(2 * CHUNK as usize, 9);
    back.put("store", "bkt/shared", body.clone()).await;
    let before = remote_gets(&back).await;
    let reads = (0..8).map(|_| {
        let front = &front;
        let body = &body;
        async move {
            assert_eq!(&front.get("bkt", "shared").await, body);
        }
    });
    futures_util::future::join_all(reads).await;
    assert_eq!(remote_gets(&back).await - before, 2.0);
}
