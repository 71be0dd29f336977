//! A stop while uploads are in flight: an upload whose client finishes within the grace period
//! is answered and kept; one whose client stalls is cut off when the grace period ends and
//! leaves nothing behind, neither an object nor a staging file.

use std::time::Duration;

use tokio::io::AsyncWriteExt;
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
