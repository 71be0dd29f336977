//! PutObject: Content-MD5 and checksums, conditional writes, aws-chunked bodies (from the SDK and
//! hand-made, with and without Content-Length), and atomicity of cut-off uploads.

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::*;

fn put(
    s: &TestServer,
    key: &str,
    data: &[u8],
) -> aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder {
    s.client
        .put_object()
        .bucket("bkt")
        .key(key)
        .body(ByteStream::from(data.to_vec()))
}

async fn server_with_bucket() -> TestServer {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    s
}

#[tokio::test(flavor = "multi_thread")]
async fn content_md5_is_checked() {
    let s = server_with_bucket().await;
    let data = b"content with a digest";
    let out = put(&s, "good", data)
        .content_md5(content_md5(data))
        .send()
        .await
        .unwrap();
    assert_eq!(out.e_tag(), Some(etag_of(data).as_str()));
    assert_eq!(s.get("bkt", "good").await, data);

    // A well-formed digest of other bytes: BadDigest, and nothing is stored.
    expect_error(
        put(&s, "bad", data)
            .content_md5(content_md5(b"other bytes"))
            .send()
            .await,
        400,
        "BadDigest",
    );
    expect_error(
        s.client.get_object().bucket("bkt").key("bad").send().await,
        404,
        "NoSuchKey",
    );
    // Overwriting with a bad digest leaves the previous object intact.
    expect_error(
        put(&s, "good", b"replacement")
            .content_md5(content_md5(b"something else"))
            .send()
            .await,
        400,
        "BadDigest",
    );
    assert_eq!(s.get("bkt", "good").await, data);

    // Not a digest at all: InvalidDigest.
    expect_error(
        put(&s, "malformed", data)
            .content_md5("not-a-digest")
            .send()
            .await,
        400,
        "InvalidDigest",
    );
    assert_eq!(s.list_keys("bkt").await, ["good"]);
    assert_eq!(files_under(&s.root().join("bkt")), ["good"]);
}

/// Past its first MiB a body is hashed beside its write, on another thread: the ETag is still
/// the MD5 of every byte, on either side of the switch, and a wrong Content-MD5 still leaves
/// the previous object in place.
#[tokio::test(flavor = "multi_thread")]
async fn large_bodies_get_the_md5_of_every_byte() {
    let s = server_with_bucket().await;
    for (i, len) in [(1 << 20) - 1, 1 << 20, (1 << 20) + 1, (5 << 20) + 3]
        .into_iter()
        .enumerate()
    {
        let data = pattern(len, i as u8);
        let key = format!("big{i}");
        assert_eq!(
            s.put("bkt", &key, data.clone()).await,
            etag_of(&data),
            "{len} bytes"
        );
        assert_eq!(s.get("bkt", &key).await, data, "{len} bytes");
        assert_eq!(
            s.head("bkt", &key).await.e_tag(),
            Some(etag_of(&data).as_str())
        );
    }
    expect_error(
        put(&s, "big3", &pattern(3 << 20, 9))
            .content_md5(content_md5(b"other bytes"))
            .send()
            .await,
        400,
        "BadDigest",
    );
    assert_eq!(s.get("bkt", "big3").await, pattern((5 << 20) + 3, 3));
}

#[tokio::test(flavor = "multi_thread")]
async fn checksum_header_is_checked() {
    let s = server_with_bucket().await;
    let data = b"checksummed body";
    let r = http()
        .put(s.url("/bkt/crc"))
        .header("x-amz-checksum-crc32", crc32_b64(data))
        .body(data.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(s.get("bkt", "crc").await, data);

    let r = http()
        .put(s.url("/bkt/crc"))
        .header("x-amz-checksum-crc32", crc32_b64(b"not the body"))
        .body(b"corrupted in transit".to_vec())
        .send()
        .await
        .unwrap();
    expect_s3_error(r, 400, "BadDigest").await;
    assert_eq!(s.get("bkt", "crc").await, data, "previous object intact");
}

#[tokio::test(flavor = "multi_thread")]
async fn if_none_match_star_creates_only() {
    let s = server_with_bucket().await;
    let out = put(&s, "once", b"first")
        .if_none_match("*")
        .send()
        .await
        .unwrap();
    assert_eq!(out.e_tag(), Some(etag_of(b"first").as_str()));
    expect_error(
        put(&s, "once", b"second").if_none_match("*").send().await,
        412,
        "PreconditionFailed",
    );
    assert_eq!(s.get("bkt", "once").await, b"first");
}

#[tokio::test(flavor = "multi_thread")]
async fn if_none_match_star_races_have_one_winner() {
    let s = server_with_bucket().await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8u8 {
        let client = s.client.clone();
        tasks.spawn(async move {
            let body = pattern(200_000, i);
            let r = client
                .put_object()
                .bucket("bkt")
                .key("race")
                .if_none_match("*")
                .body(ByteStream::from(body.clone()))
                .send()
                .await;
            (body, r.map_err(|e| status_and_code(&e)))
        });
    }
    let mut winners = Vec::new();
    while let Some(r) = tasks.join_next().await {
        let (body, r) = r.unwrap();
        match r {
            Ok(_) => winners.push(body),
            Err((status, code)) => assert!(
                (status, code.as_str()) == (412, "PreconditionFailed")
                    || (status, code.as_str()) == (409, "ConditionalRequestConflict"),
                "loser answered {status} {code}"
            ),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one create may succeed");
    assert!(
        s.get("bkt", "race").await == winners[0],
        "the winner's bytes are stored"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn if_match_updates_only_the_expected_version() {
    let s = server_with_bucket().await;
    let v1 = s.put("bkt", "doc", "version 1").await;
    let out = put(&s, "doc", b"version 2")
        .if_match(&v1)
        .send()
        .await
        .unwrap();
    let v2 = out.e_tag().unwrap().to_string();
    assert_eq!(v2, etag_of(b"version 2"));
    // A stale ETag no longer matches.
    expect_error(
        put(&s, "doc", b"version 3").if_match(&v1).send().await,
        412,
        "PreconditionFailed",
    );
    assert_eq!(s.get("bkt", "doc").await, b"version 2");
    // If-Match on a key that does not exist creates nothing.
    let r = put(&s, "absent", b"x").if_match(&v2).send().await;
    let (status, _) = status_and_code(r.as_ref().unwrap_err());
    assert!(
        status == 404 || status == 412,
        "If-Match on a missing key: {status}"
    );
    assert_eq!(s.list_keys("bkt").await, ["doc"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn sdk_file_upload_uses_aws_chunked_and_is_decoded() {
    let s = server_with_bucket().await;
    let src = tempfile::tempdir().unwrap();
    let data = pattern(300 * 1024 + 17, 9);
    let path = src.path().join("upload.bin");
    std::fs::write(&path, &data).unwrap();

    let rec = RecordHeaders::default();
    let out = s
        .client
        .put_object()
        .bucket("bkt")
        .key("from/file.bin")
        .body(ByteStream::from_path(&path).await.unwrap())
        .customize()
        .interceptor(rec.clone())
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    // The test is only meaningful if the SDK really sent aws-chunked.
    assert!(
        rec.last("content-encoding")
            .is_some_and(|v| v.contains("aws-chunked")),
        "SDK did not send aws-chunked: {:?}",
        rec.0.lock().unwrap().last()
    );
    assert_eq!(out.e_tag(), Some(etag_of(&data).as_str()));

    let got = s.get_object("bkt", "from/file.bin").await;
    assert_eq!(got.content_length(), Some(data.len() as i64));
    assert_eq!(got.e_tag(), Some(etag_of(&data).as_str()));
    assert_eq!(
        got.content_encoding(),
        None,
        "aws-chunked is never stored or echoed"
    );
    assert!(body_of(got).await == data, "decoded body differs");
    assert!(std::fs::read(s.path_of("bkt", "from/file.bin")).unwrap() == data);

    // With a real Content-Encoding, only that one is kept.
    let out = s
        .client
        .put_object()
        .bucket("bkt")
        .key("zipped.gz")
        .content_encoding("gzip")
        .body(ByteStream::from_path(&path).await.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(out.e_tag(), Some(etag_of(&data).as_str()));
    let head = s.head("bkt", "zipped.gz").await;
    assert_eq!(head.content_encoding(), Some("gzip"));
    assert_eq!(head.content_length(), Some(data.len() as i64));

    // A small file (a single chunk) too.
    std::fs::write(&path, b"tiny").unwrap();
    s.client
        .put_object()
        .bucket("bkt")
        .key("tiny")
        .body(ByteStream::from_path(&path).await.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(s.get("bkt", "tiny").await, b"tiny");
}

fn unsigned_trailer_head(key: &str, decoded_len: usize) -> String {
    format!(
        "PUT /bkt/{key} HTTP/1.1\r\n\
         Content-Encoding: aws-chunked\r\n\
         x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER\r\n\
         x-amz-decoded-content-length: {decoded_len}\r\n\
         x-amz-trailer: x-amz-checksum-crc32\r\n\
         Content-Type: application/octet-stream\r\n"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn unsigned_trailer_body_with_content_length() {
    let s = server_with_bucket().await;
    let data = pattern(150_000, 11);
    let body = aws_chunked_unsigned(
        &data,
        65_536,
        &[("x-amz-checksum-crc32", &crc32_b64(&data))],
    );
    let head = format!(
        "{}Content-Length: {}\r\n",
        unsigned_trailer_head("chunked.bin", data.len()),
        body.len()
    );
    let r = raw_request(s.addr, &head, &body).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("etag"), Some(etag_of(&data).as_str()));

    let out = s.get_object("bkt", "chunked.bin").await;
    assert_eq!(out.content_length(), Some(data.len() as i64));
    assert_eq!(out.content_encoding(), None);
    assert!(body_of(out).await == data);
}

#[tokio::test(flavor = "multi_thread")]
async fn unsigned_trailer_body_without_content_length() {
    // As @aws-sdk/client-s3 sends a stream: Transfer-Encoding: chunked around aws-chunked, the
    // HTTP chunks cutting across the aws-chunked framing.
    let s = server_with_bucket().await;
    let data = pattern(100_001, 12);
    let inner = aws_chunked_unsigned(&data, 8192, &[("x-amz-checksum-crc32", &crc32_b64(&data))]);
    let head = format!(
        "{}Transfer-Encoding: chunked\r\n",
        unsigned_trailer_head("streamed.bin", data.len())
    );
    let r = raw_request(s.addr, &head, &http_chunked(&inner, 7_777)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let out = s.get_object("bkt", "streamed.bin").await;
    assert_eq!(out.e_tag(), Some(etag_of(&data).as_str()));
    assert_eq!(out.content_length(), Some(data.len() as i64));
    assert!(body_of(out).await == data);
}

#[tokio::test(flavor = "multi_thread")]
async fn aws_chunked_with_a_wrong_trailer_checksum_is_refused() {
    let s = server_with_bucket().await;
    s.put("bkt", "kept", "previous").await;
    let data = pattern(20_000, 13);
    let body = aws_chunked_unsigned(
        &data,
        4096,
        &[("x-amz-checksum-crc32", &crc32_b64(b"wrong"))],
    );
    let head = format!(
        "{}Content-Length: {}\r\n",
        unsigned_trailer_head("kept", data.len()),
        body.len()
    );
    let r = raw_request(s.addr, &head, &body).await;
    r.expect_error(400, "BadDigest");
    assert_eq!(s.get("bkt", "kept").await, b"previous");
}

/// Sends the head and part of a body, then closes the connection.
async fn cut_off_upload(s: &TestServer, head: &str, partial: &[u8]) {
    let mut stream = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let mut req = head.as_bytes().to_vec();
    req.extend_from_slice(format!("Host: {}\r\n\r\n", s.addr).as_bytes());
    req.extend_from_slice(partial);
    stream.write_all(&req).await.unwrap();
    stream.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    stream.shutdown().await.unwrap();
    let mut sink = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut sink)).await;
    if !sink.is_empty() {
        let text = String::from_utf8_lossy(&sink);
        assert!(
            !text.starts_with("HTTP/1.1 200"),
            "a cut-off upload was acknowledged: {text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cut_off_uploads_leave_the_previous_object_and_no_partial_file() {
    let mut s = server_with_bucket().await;
    let old = pattern(50_000, 14);
    s.put("bkt", "obj", old.clone()).await;

    // Plain body, Content-Length larger than what is sent.
    cut_off_upload(
        &s,
        "PUT /bkt/obj HTTP/1.1\r\nContent-Length: 200000\r\n",
        &pattern(30_000, 15),
    )
    .await;
    // A new key, cut off.
    cut_off_upload(
        &s,
        "PUT /bkt/new HTTP/1.1\r\nContent-Length: 200000\r\n",
        &pattern(30_000, 16),
    )
    .await;
    // aws-chunked, cut off in the middle of a chunk.
    let data = pattern(100_000, 17);
    let body = aws_chunked_unsigned(
        &data,
        65_536,
        &[("x-amz-checksum-crc32", &crc32_b64(&data))],
    );
    let head = format!(
        "{}Content-Length: {}\r\n",
        unsigned_trailer_head("obj", data.len()),
        body.len()
    );
    cut_off_upload(&s, &head, &body[..40_000]).await;

    let out = s.get_object("bkt", "obj").await;
    assert_eq!(out.e_tag(), Some(etag_of(&old).as_str()));
    assert!(body_of(out).await == old, "the previous object was damaged");
    expect_error(
        s.client.get_object().bucket("bkt").key("new").send().await,
        404,
        "NoSuchKey",
    );
    assert_eq!(s.list_keys("bkt").await, ["obj"]);
    let out = s
        .client
        .list_objects_v2()
        .bucket("bkt")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    assert!(
        out.common_prefixes().is_empty(),
        "{:?}",
        out.common_prefixes()
    );

    // After a restart, temporary files are gone from the disk as well.
    s.restart().await;
    assert_eq!(files_under(s.root()), ["bkt/obj"]);
    assert_eq!(s.list_keys("bkt").await, ["obj"]);
    assert!(s.get("bkt", "obj").await == old);
}

#[tokio::test(flavor = "multi_thread")]
async fn request_headers_are_not_stored() {
    let s = server_with_bucket().await;
    s.client
        .put_object()
        .bucket("bkt")
        .key("obj")
        .content_type("text/plain")
        .content_md5(content_md5(b"body"))
        .body(ByteStream::from_static(b"body"))
        .send()
        .await
        .unwrap();
    for method in [reqwest::Method::GET, reqwest::Method::HEAD] {
        let r = http()
            .request(method.clone(), s.url("/bkt/obj"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        for name in [
            "x-amz-date",
            "x-amz-content-sha256",
            "x-amz-decoded-content-length",
            "x-amz-user-agent",
            "amz-sdk-invocation-id",
            "amz-sdk-request",
            "authorization",
            "content-md5",
            "expect",
        ] {
            assert!(
                r.headers().get(name).is_none(),
                "{method} echoes {name}: {:?}",
                r.headers().get(name)
            );
        }
        let meta: Vec<_> = r
            .headers()
            .keys()
            .filter(|k| k.as_str().starts_with("x-amz-meta-"))
            .collect();
        assert!(meta.is_empty(), "{meta:?}");
        assert_eq!(r.headers()["content-type"], "text/plain");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn signed_chunk_framing_is_decoded() {
    // `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` framing (`;chunk-signature=` on every chunk, no
    // trailer). The server is anonymous, so only the framing is under test here.
    let s = server_with_bucket().await;
    let data = pattern(70_000, 18);
    let sig = "0".repeat(64);
    let mut body = Vec::new();
    for c in data.chunks(65_536).chain(std::iter::once(&[][..])) {
        body.extend_from_slice(format!("{:x};chunk-signature={sig}\r\n", c.len()).as_bytes());
        body.extend_from_slice(c);
        body.extend_from_slice(b"\r\n");
    }
    let head = format!(
        "PUT /bkt/signed-chunks HTTP/1.1\r\n\
         Content-Encoding: aws-chunked\r\n\
         x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD\r\n\
         x-amz-decoded-content-length: {}\r\n\
         Content-Length: {}\r\n",
        data.len(),
        body.len()
    );
    let r = raw_request(s.addr, &head, &body).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let out = s.get_object("bkt", "signed-chunks").await;
    assert_eq!(out.e_tag(), Some(etag_of(&data).as_str()));
    assert_eq!(out.content_length(), Some(data.len() as i64));
    assert!(body_of(out).await == data);
}

/// Every regular file under `root`, the index folder included (its database files aside).
fn all_files(root: &std::path::Path) -> Vec<String> {
    fn walk(base: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                walk(base, &p, out);
            } else {
                out.push(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn temporary_files_are_invisible_and_swept_at_start() {
    let mut s = server_with_bucket().await;
    s.put("bkt", "kept", "kept").await;
    let before = all_files(s.root());

    // An upload in flight: half the body sent, the connection held open.
    let data = pattern(100_000, 19);
    let mut stream = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let head = format!(
        "PUT /bkt/dir/inflight HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        s.addr,
        data.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&data[..50_000]).await.unwrap();
    stream.flush().await.unwrap();

    // Its temporary file appears somewhere under the served directory.
    let mut temps = Vec::new();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        temps = all_files(s.root())
            .into_iter()
            .filter(|f| !before.contains(f))
            .filter(|f| !f.ends_with(".redb") && !f.contains("index"))
            .collect();
        if !temps.is_empty() {
            break;
        }
    }
    assert!(!temps.is_empty(), "no temporary file seen during an upload");

    // Listings never show it, nor a common prefix for its folder; the key does not exist yet.
    assert_eq!(s.list_keys("bkt").await, ["kept"]);
    let out = s
        .client
        .list_objects_v2()
        .bucket("bkt")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    assert!(
        out.common_prefixes().is_empty(),
        "{:?}",
        out.common_prefixes()
    );
    let out = s.client.list_objects().bucket("bkt").send().await.unwrap();
    assert_eq!(out.contents().len(), 1);
    expect_error(
        s.client
            .get_object()
            .bucket("bkt")
            .key("dir/inflight")
            .send()
            .await,
        404,
        "NoSuchKey",
    );

    // The upload completes.
    stream.write_all(&data[50_000..]).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(parse_response(&answer).status, 200);
    assert!(s.get("bkt", "dir/inflight").await == data);

    // A crash would have left the temporary files behind: put them back, as a crash would.
    s.stop_server().await;
    for t in &temps {
        let p = s.root().join(t);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, b"left over by a crash").unwrap();
    }
    s.start_again().await;
    for t in &temps {
        assert!(!s.root().join(t).exists(), "{t} not swept at start");
    }
    assert_eq!(s.list_keys("bkt").await, ["dir/inflight", "kept"]);
    assert!(s.get("bkt", "dir/inflight").await == data);
}

#[tokio::test(flavor = "multi_thread")]
async fn expect_100_continue() {
    // The aws CLI and boto3 send `Expect: 100-continue` and wait for the interim answer.
    let s = server_with_bucket().await;
    let mut stream = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let head = format!(
        "PUT /bkt/continued HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nExpect: 100-continue\r\nContent-Length: 9\r\n\r\n",
        s.addr
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut interim = Vec::new();
    let mut buf = [0u8; 256];
    while !interim.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(3), stream.read(&mut buf))
            .await
            .expect("no 100 Continue within 3 s")
            .unwrap();
        assert!(n > 0, "connection closed before 100 Continue");
        interim.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&interim).into_owned();
    assert!(text.starts_with("HTTP/1.1 100"), "{text}");
    let end = interim.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let mut rest = interim[end..].to_vec();
    stream.write_all(b"continued").await.unwrap();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut rest))
        .await
        .unwrap()
        .unwrap();
    let r = parse_response(&rest);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("etag"), Some(etag_of(b"continued").as_str()));
    assert_eq!(s.get("bkt", "continued").await, b"continued");
}

#[tokio::test(flavor = "multi_thread")]
async fn blake3_etags() {
    let s = TestServer::start_with(|c| c.vfs.etag_hash = s3gate_config::EtagHash::Blake3).await;
    s.create_bucket("bkt").await;
    let data = pattern(300_000, 4);
    let want = format!("\"{}\"", blake3::hash(&data).to_hex());
    let put = s
        .client
        .put_object()
        .bucket("bkt")
        .key("k")
        .content_md5(content_md5(&data))
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(put.e_tag(), Some(want.as_str()));
    let head = s.head("bkt", "k").await;
    assert_eq!(head.e_tag(), Some(want.as_str()));
    let listed = s
        .client
        .list_objects_v2()
        .bucket("bkt")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.contents()[0].e_tag(), Some(want.as_str()));
    // Content-MD5 is still checked.
    let bad = s
        .client
        .put_object()
        .bucket("bkt")
        .key("bad")
        .content_md5(content_md5(b"other"))
        .body(ByteStream::from(data.clone()))
        .send()
        .await;
    expect_error(bad, 400, "BadDigest");
    // A copy keeps the hash; a file written by another program gets one when first read.
    s.copy("bkt", "copy", "bkt/k").send().await.unwrap();
    let head = s.head("bkt", "copy").await;
    assert_eq!(head.e_tag(), Some(want.as_str()));
    std::fs::write(s.path_of("bkt", "foreign"), b"made elsewhere").unwrap();
    let head = s.head("bkt", "foreign").await;
    assert_eq!(
        head.e_tag(),
        Some(format!("\"{}\"", blake3::hash(b"made elsewhere").to_hex()).as_str())
    );
}
