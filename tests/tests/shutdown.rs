//! A stop while uploads are in flight: an upload whose client finishes within the grace period
//! is answered and kept; one whose client stalls is cut off when the grace period ends and
//! leaves nothing behind, neither an object nor a staging file. Idle keep-alive connections
//! do not hold a stop: they are closed at once.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::*;

async fn start_put(s: &TestServer, key: &str, len: usize, first: &[u8]) -> TcpStream {
    let mut conn = TcpStream::connect(s.addr).await.unwrap();
    let head = format!(
        "PUT /bkt/{key} HTTP/1.1\r\nHost: {}\r\nContent-Length: {len}\r\n\r\n",
        s.addr
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(first).await.unwrap();
    conn
}

#[tokio::test]
async fn a_stop_finishes_uploads_in_flight_and_drops_stalled_ones() {
    let mut s =
        TestServer::start_with(|c| c.server.shutdown_timeout = Duration::from_secs(2)).await;
    s.create_bucket("bkt").await;
    s.put("bkt", "stalled", b"the previous version".to_vec())
        .await;
    let data = pattern(1 << 20, 5);
    let mut finishing = start_put(&s, "finishing", data.len(), &data[..100_000]).await;
    let _stalled = start_put(&s, "stalled", data.len(), &data[..10_000]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stopping = tokio::spawn(async move {
        s.stop_server().await;
        s
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    finishing.write_all(&data[100_000..]).await.unwrap();
    let answer = read_head(&mut finishing).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let mut s = stopping.await.unwrap();
    s.start_again().await;
    assert_eq!(s.get("bkt", "finishing").await, data);
    // The cut-off upload did not replace the object, and left no staging file.
    assert_eq!(s.get("bkt", "stalled").await, b"the previous version");
    let mut keys = s.list_keys("bkt").await;
    keys.sort();
    assert_eq!(keys, ["finishing", "stalled"]);
    let staged: Vec<_> = std::fs::read_dir(s.root().join(".s3gate").join("tmp"))
        .unwrap()
        .collect();
    assert!(staged.is_empty(), "{staged:?}");
}

#[tokio::test]
async fn a_stop_closes_idle_keep_alive_connections_at_once() {
    // Both long, so that a stop waiting for idle connections would wait for one or the other.
    let idle = Duration::from_secs(60);
    let mut s = TestServer::start_with(|c| {
        c.server.idle_timeout = idle;
        c.server.shutdown_timeout = idle;
    })
    .await;
    s.create_bucket("bkt").await;
    s.put("bkt", "obj", b"kept".to_vec()).await;
    // An SDK client whose pooled connection outlives the harness's own client.
    let sdk = s.client.clone();
    let got = sdk
        .get_object()
        .bucket("bkt")
        .key("obj")
        .send()
        .await
        .unwrap();
    assert_eq!(body_of(got).await, b"kept");
    // And a raw connection left open after its answer was read whole.
    let raw = kept_alive(s.addr, "HEAD /bkt/obj").await;

    let began = std::time::Instant::now();
    s.stop_server().await;
    let took = began.elapsed();
    assert!(took < idle / 4, "the stop took {took:?}");
    closed(raw).await;
    drop(sdk);
}

/// A connection to `addr` left open after the answer to `request` (method and path) was read
/// whole.
async fn kept_alive(addr: std::net::SocketAddr, request: &str) -> TcpStream {
    let mut raw = TcpStream::connect(addr).await.unwrap();
    let head = format!("{request} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    raw.write_all(head.as_bytes()).await.unwrap();
    let answer = read_head(&mut raw).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{request}: {answer}");
    let lower = answer.to_ascii_lowercase();
    assert!(!lower.contains("connection: close"), "{request}: {answer}");
    let length = lower
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().unwrap());
    if !request.starts_with("HEAD ") {
        let mut body = vec![0; length];
        raw.read_exact(&mut body).await.unwrap();
    }
    raw
}

/// The server closed `raw` rather than letting it run out.
async fn closed(mut raw: TcpStream) {
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), raw.read_to_end(&mut rest)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "{read:?} {rest:?}");
}

/// The console's and the operations listener's idle keep-alive connections end at a stop as
/// the S3 listener's do: before, the stop waited for their keep-alive (5 s) to run out.
#[tokio::test]
async fn a_stop_closes_idle_console_and_metrics_connections_at_once() {
    let idle = Duration::from_secs(60);
    let mut s = TestServer::start_with(|c| {
        c.server.idle_timeout = idle;
        c.server.shutdown_timeout = idle;
        c.server.web_addr = Some("127.0.0.1:0".parse().unwrap());
        c.server.metrics_addr = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let web = s.web_addr().expect("the console's listener");
    let ops = s.metrics_addr().expect("the operations listener");
    let page = kept_alive(web, "GET /console.css").await;
    let health = kept_alive(ops, "GET /health").await;
    let metrics = kept_alive(ops, "GET /metrics").await;

    let began = std::time::Instant::now();
    s.stop_server().await;
    let took = began.elapsed();
    assert!(took < Duration::from_secs(3), "the stop took {took:?}");
    for raw in [page, health, metrics] {
        closed(raw).await;
    }
}
