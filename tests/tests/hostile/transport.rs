//! The HTTP layer against clients that stall, flood or lie: a connection waits a bounded time
//! for every request head (not only its first), a refused body is not read for ever, an early
//! error is answered so that a client still sending its body can read it, and what the metrics
//! count as received is what arrived.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::*;

/// Reads until the server closes the connection (or `limit` passes: `None`).
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    let waited = tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    waited.ok().map(|()| start.elapsed())
}

/// One response with a `Content-Length` body, read from a connection that stays open.
async fn read_response(stream: &mut TcpStream) -> (String, Vec<u8>) {
    let head = read_head(stream).await;
    let len: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap();
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).await.unwrap();
    (head, body)
}

/// After one answered request, a client that sends one byte of the next head and stops is
/// disconnected, as it would be on its first request. The HTTP layer timed only the first head
/// of a connection: such a connection stayed open for good.
#[tokio::test]
async fn every_request_head_has_a_deadline() {
    let s = TestServer::start_with(|c| {
        c.server.read_timeout = Duration::from_secs(1);
        c.server.idle_timeout = Duration::from_secs(1);
    })
    .await;
    let mut stream = TcpStream::connect(s.addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (head, _) = read_response(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    stream.write_all(b"G").await.unwrap();
    let closed = closed_within(&mut stream, Duration::from_secs(15)).await;
    assert!(
        closed.is_some(),
        "a connection that stopped inside its second request head stayed open"
    );
    // An idle client that then sends a whole request in time is served as before.
    let mut stream = TcpStream::connect(s.addr).await.unwrap();
    for _ in 0..2 {
        stream
            .write_all(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let head = read_head(&mut stream).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// An unauthenticated client streaming an endless chunked body after its 403 is cut off: at
/// most a bounded amount is read, then the connection closes (it was read for as long as the
/// client sent: 30 GiB in 10 s).
#[tokio::test]
async fn a_refused_endless_body_is_not_read_for_ever() {
    let s = TestServer::start_auth().await;
    s.create_bucket("bkt").await;
    let stream = TcpStream::connect(s.addr).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let head = format!(
        "PUT /bkt/endless HTTP/1.1\r\nHost: {}\r\nTransfer-Encoding: chunked\r\n\r\n",
        s.addr
    );
    let writer = tokio::spawn(async move {
        wr.write_all(head.as_bytes()).await?;
        let chunk = {
            let mut c = format!("{:x}\r\n", 64 * 1024).into_bytes();
            c.extend(std::iter::repeat_n(b'x', 64 * 1024));
            c.extend_from_slice(b"\r\n");
            c
        };
        let mut sent = 0u64;
        // 1 GiB is far past any bound the server may set; a server still reading by then
        // reads for ever.
        while sent < 1 << 30 {
            wr.write_all(&chunk).await?;
            sent += chunk.len() as u64;
        }
        Ok::<u64, std::io::Error>(sent)
    });
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(60), rd.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 403"), "{text}");
    assert!(text.contains("<Code>AccessDenied</Code>"), "{text}");
    assert!(read.is_ok(), "the connection stayed open");
    let sent = writer.await.unwrap();
    assert!(
        sent.is_err(),
        "the server read 1 GiB of a refused body: {sent:?}"
    );
    assert!(!s.path_of("bkt", "endless").exists());
}

/// A PUT of 8 MiB to a missing bucket: the client sends its whole body before it reads, and
/// must then read the S3 error (the connection was closed under it, and clients reported a
/// broken pipe instead of NoSuchBucket). The connection stays usable afterwards.
#[tokio::test]
async fn an_early_error_is_readable_by_a_client_still_sending() {
    let s = TestServer::start().await;
    let mut stream = TcpStream::connect(s.addr).await.unwrap();
    let len = 8 << 20;
    let head = format!(
        "PUT /missing/key HTTP/1.1\r\nHost: {}\r\nContent-Length: {len}\r\n\r\n",
        s.addr
    );
    // The body is made before the head goes out: the server waits a second at most for the
    // next piece of a body it drains, and making 8 MiB on a busy machine may take longer.
    let body = pattern(len, 3);
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
        .write_all(&body)
        .await
        .expect("the server took the whole body before answering");
    let (head, body) = read_response(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    assert!(
        String::from_utf8_lossy(&body).contains("<Code>NoSuchBucket</Code>"),
        "{}",
        String::from_utf8_lossy(&body)
    );
    stream
        .write_all(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let again = read_head(&mut stream).await;
    assert!(again.starts_with("HTTP/1.1 200"), "{again}");
}

/// The received-bytes metric counts what arrived, not what a refused request declared (a
/// declared 2^64-1 wrapped the counter backwards).
#[tokio::test]
async fn received_bytes_count_what_arrived() {
    let s =
        TestServer::start_with(|c| c.server.metrics_addr = Some("127.0.0.1:0".parse().unwrap()))
            .await;
    s.create_bucket("bkt").await;
    let r = raw_request(
        s.addr,
        "PUT /bkt/k HTTP/1.1\r\nContent-Length: 1000\r\n",
        &[7u8; 1000],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.head);
    let r = raw_request(
        s.addr,
        "PUT /bkt/huge HTTP/1.1\r\nContent-Length: 18446744073709551615\r\n",
        b"",
    )
    .await;
    assert!(r.status >= 400, "{}", r.head);
    let metrics = s.metrics().await;
    let received: f64 = metrics
        .iter()
        .filter(|(name, _)| name.starts_with("s3gate_received_bytes_total{"))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(received, 1000.0, "{metrics:?}");
}

/// A request of more headers than the HTTP layer parses gets an S3 error document, not the
/// HTTP layer's bare 431 that SDKs cannot read; a request of many headers that fit is served.
#[tokio::test]
async fn too_many_headers_get_an_s3_error() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    let many: String = (0..120).map(|i| format!("x-filler-{i}: v\r\n")).collect();
    let r = raw_request(s.addr, &format!("GET /bkt HTTP/1.1\r\n{many}"), b"").await;
    assert_eq!(r.status, 400, "{}", r.head);
    assert!(
        r.text()
            .contains("<Code>RequestHeaderSectionTooLarge</Code>"),
        "{}",
        r.text()
    );
    let some: String = (0..60).map(|i| format!("x-filler-{i}: v\r\n")).collect();
    let r = raw_request(s.addr, &format!("GET /bkt HTTP/1.1\r\n{some}"), b"").await;
    assert_eq!(r.status, 200, "{}", r.head);
}
