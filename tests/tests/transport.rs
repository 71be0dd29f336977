//! The HTTP layer: `Expect: 100-continue` decided on the headers alone, the request head size
//! limit, timeouts for clients that stall, and virtual-hosted-style addressing next to path
//! style on one server.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_runtime_api::client::dns::{DnsFuture, ResolveDns};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::*;

/// A presigned PUT of `len` bytes, sent with `Expect: 100-continue`; the signature is broken
/// when `tamper`. Returns the first response head, and the final one when the server asked for
/// the body.
async fn put_expecting_continue(
    s: &TestServer,
    key: &str,
    len: usize,
    tamper: bool,
) -> Vec<String> {
    let presigned = s
        .client
        .put_object()
        .bucket("bkt")
        .key(key)
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).unwrap())
        .await
        .unwrap();
    let prefix = format!("http://{}", s.addr);
    let mut target = presigned.uri().strip_prefix(&prefix).unwrap().to_string();
    let signed_headers: String = presigned
        .headers()
        .map(|(n, v)| format!("{n}: {v}\r\n"))
        .collect();
    if tamper {
        let last = target.pop().unwrap();
        target.push(if last == '0' { '1' } else { '0' });
    }
    let mut stream = TcpStream::connect(s.addr).await.unwrap();
    let head = format!(
        "PUT {target} HTTP/1.1\r\nHost: {}\r\n{signed_headers}Content-Length: {len}\r\nExpect: 100-continue\r\n\r\n",
        s.addr
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let first = read_head(&mut stream).await;
    if !first.starts_with("HTTP/1.1 100") {
        return vec![first];
    }
    stream.write_all(&pattern(len, 1)).await.unwrap();
    vec![first, read_head(&mut stream).await]
}

#[tokio::test]
async fn expect_continue_is_answered_after_authentication() {
    let s = TestServer::start_auth().await;
    s.create_bucket("bkt").await;
    let ok = put_expecting_continue(&s, "good", 100_000, false).await;
    assert!(ok[0].starts_with("HTTP/1.1 100 Continue"), "{ok:?}");
    assert!(
        ok.get(1).is_some_and(|h| h.starts_with("HTTP/1.1 200")),
        "{ok:?}"
    );
    assert_eq!(s.get("bkt", "good").await, pattern(100_000, 1));
    // A bad signature is refused before the client is told to send its body.
    let refused = put_expecting_continue(&s, "bad", 10_000_000, true).await;
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(refused[0].starts_with("HTTP/1.1 403"), "{refused:?}");
    assert!(!s.path_of("bkt", "bad").exists());
}

#[tokio::test]
async fn oversized_request_heads_are_refused() {
    let s = TestServer::start_with(|c| c.server.max_header_bytes = 16 * 1024).await;
    s.create_bucket("bkt").await;
    let big = "v".repeat(20 * 1024);
    let r = raw_request(
        s.addr,
        &format!("GET /bkt HTTP/1.1\r\nx-filler: {big}\r\n"),
        b"",
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.head);
    assert!(
        r.text()
            .contains("<Code>RequestHeaderSectionTooLarge</Code>"),
        "{}",
        r.text()
    );
    // Just under the limit is fine.
    let fits = "v".repeat(15 * 1024);
    let r = raw_request(
        s.addr,
        &format!("GET /bkt HTTP/1.1\r\nx-filler: {fits}\r\n"),
        b"",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.head);
}

#[tokio::test]
async fn a_stalled_upload_times_out_and_stores_nothing() {
    let s = TestServer::start_with(|c| c.server.read_timeout = Duration::from_secs(1)).await;
    s.create_bucket("bkt").await;
    let mut stream = TcpStream::connect(s.addr).await.unwrap();
    let head = format!(
        "PUT /bkt/stalled HTTP/1.1\r\nHost: {}\r\nContent-Length: 1000\r\n\r\n0123456789",
        s.addr
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let answer = read_head(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(!s.path_of("bkt", "stalled").exists());
    // A client that never finishes its headers is disconnected too.
    let mut idle = TcpStream::connect(s.addr).await.unwrap();
    idle.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), idle.read_to_end(&mut buf)).await;
    assert!(closed.is_ok(), "a half-sent head kept the connection open");
    // Meanwhile the server serves others.
    s.put("bkt", "after", b"fine".to_vec()).await;
}

/// Resolves every name to 127.0.0.1, so that `bucket.s3.test` reaches the test server.
#[derive(Debug, Clone)]
struct Loopback;

impl ResolveDns for Loopback {
    fn resolve_dns<'a>(&'a self, _name: &'a str) -> DnsFuture<'a> {
        DnsFuture::ready(Ok(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]))
    }
}

#[tokio::test]
async fn virtual_hosted_and_path_style_on_one_server() {
    let s = TestServer::start_with(|c| {
        c.server.force_path_style = false;
        c.server.vhost_domains = vec!["s3.test".into()];
        c.auth.keys = vec![format!("{ACCESS_KEY},{SECRET_KEY}").parse().unwrap()];
    })
    .await;
    let http = http_builder()
        .tls_provider(tls_provider())
        .build_with_resolver(Loopback);
    let vhost = client_at(
        &format!("http://s3.test:{}", s.addr.port()),
        http,
        ACCESS_KEY,
        SECRET_KEY,
        |b| b.force_path_style(false),
    );
    vhost.create_bucket().bucket("vbkt").send().await.unwrap();
    assert!(s.root().join("vbkt").is_dir());
    vhost
        .put_object()
        .bucket("vbkt")
        .key("dir/obj")
        .body(ByteStream::from_static(b"via host"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("vhost put: {}", describe(&e)));
    let got = vhost
        .get_object()
        .bucket("vbkt")
        .key("dir/obj")
        .send()
        .await
        .unwrap();
    assert_eq!(body_of(got).await, b"via host");
    let listed = vhost
        .list_objects_v2()
        .bucket("vbkt")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.common_prefixes()[0].prefix(), Some("dir/"));
    let buckets = vhost.list_buckets().send().await.unwrap();
    assert_eq!(buckets.buckets().len(), 1);
    // Path style keeps working on the same server.
    assert_eq!(s.get("vbkt", "dir/obj").await, b"via host");
    s.put("vbkt", "path-style", b"too".to_vec()).await;
    let got = vhost
        .get_object()
        .bucket("vbkt")
        .key("path-style")
        .send()
        .await
        .unwrap();
    assert_eq!(body_of(got).await, b"too");
    vhost
        .delete_object()
        .bucket("vbkt")
        .key("dir/obj")
        .send()
        .await
        .unwrap();
    assert!(!s.path_of("vbkt", "dir/obj").exists());
}

#[tokio::test]
async fn a_client_that_stops_reading_is_cut_off() {
    let s = TestServer::start_with(|c| c.server.write_timeout = Duration::from_secs(1)).await;
    s.create_bucket("bkt").await;
    let size = 48 << 20;
    s.put("bkt", "big", pattern(size, 3)).await;
    let mut conn = TcpStream::connect(s.addr).await.unwrap();
    let head = format!("GET /bkt/big HTTP/1.1\r\nHost: {}\r\n\r\n", s.addr);
    conn.write_all(head.as_bytes()).await.unwrap();
    // Read nothing for a while: the server's writes stall, then it gives up on us.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), conn.read_to_end(&mut got)).await;
    assert!(read.is_ok(), "the connection was kept open");
    assert!(
        got.len() < size,
        "the whole response arrived ({} bytes): nothing was cut off",
        got.len()
    );
    // Meanwhile others are served.
    assert_eq!(s.get("bkt", "big").await.len(), size);
}

/// Raises this process's open-file limit to its hard limit; returns the limit.
fn raise_fd_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain libc calls on a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }
    lim.rlim_cur
}

#[tokio::test(flavor = "multi_thread")]
async fn thousands_of_idle_and_slow_connections_do_not_stop_service() {
    // Client and server ends both count against this process's limit.
    let n = ((raise_fd_limit().saturating_sub(500)) / 2).min(3000) as usize;
    let s = TestServer::start_with(|c| c.server.read_timeout = Duration::from_secs(2)).await;
    s.create_bucket("bkt").await;
    let mut conns = Vec::with_capacity(n);
    for i in 0..n {
        let mut c = TcpStream::connect(s.addr).await.unwrap();
        if i % 2 == 0 {
            // Slowloris: a head that never ends.
            c.write_all(b"GET /bkt HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .await
                .unwrap();
        }
        conns.push(c);
    }
    // Others are served at once.
    let t = std::time::Instant::now();
    s.put("bkt", "k", b"still here".to_vec()).await;
    assert_eq!(s.get("bkt", "k").await, b"still here");
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "served in {:?}",
        t.elapsed()
    );
    // The slow heads are cut off by the read timeout.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut closed = 0;
    for c in conns.iter_mut().step_by(2) {
        // Closed: the end of the stream (after an error answer, if any) or a reset.
        let mut buf = Vec::new();
        if tokio::time::timeout(Duration::from_millis(100), c.read_to_end(&mut buf))
            .await
            .is_ok()
        {
            closed += 1;
        }
    }
    assert!(
        closed * 10 >= (n / 2) * 9,
        "only {closed} of {} slow connections were closed",
        n / 2
    );
    eprintln!(
        "connections: {n} open ({} with endless heads), service kept, {closed} slow ones closed",
        n / 2
    );
}
