//! The operations listener: Prometheus metrics (parsed with a Prometheus text-format parser and
//! checked after known requests), `/health` and `/ready`, none of it on the S3 port.

use aws_sdk_s3::primitives::ByteStream;

use crate::common::*;

/// A request refused at the `Expect: 100-continue` gate, before its body was asked for, is
/// counted like any other: by operation, status and error code.
#[tokio::test]
async fn requests_refused_before_their_body_are_counted() {
    use tokio::io::AsyncWriteExt;
    let s = TestServer::start_with(|c| {
        c.server.metrics_addr = Some("127.0.0.1:0".parse().unwrap());
        c.auth.keys = vec![format!("{ACCESS_KEY},{SECRET_KEY}").parse().unwrap()];
    })
    .await;
    s.create_bucket("bkt").await;
    let mut stream = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let head = format!(
        "PUT /bkt/unsigned HTTP/1.1\r\nHost: {}\r\nContent-Length: 1000000\r\nExpect: 100-continue\r\n\r\n",
        s.addr
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let answer = read_head(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    let m = s.metrics().await;
    let get = |k: &str| {
        m.get(k)
            .copied()
            .unwrap_or_else(|| panic!("no sample {k} in {m:#?}"))
    };
    assert_eq!(get("s3gate_requests_total{op=PutObject,status=403}"), 1.0);
    assert_eq!(get("s3gate_errors_total{code=AccessDenied}"), 1.0);
    assert_eq!(get("s3gate_received_bytes_total{op=PutObject}"), 0.0);
}

#[tokio::test]
async fn metrics_count_known_requests() {
    let s =
        TestServer::start_with(|c| c.server.metrics_addr = Some("127.0.0.1:0".parse().unwrap()))
            .await;
    s.create_bucket("bkt").await;
    s.put("bkt", "a", vec![7u8; 1000]).await;
    s.put("bkt", "b", vec![7u8; 24]).await;
    assert_eq!(s.get("bkt", "a").await.len(), 1000);
    expect_error(
        s.client
            .get_object()
            .bucket("bkt")
            .key("missing")
            .send()
            .await,
        404,
        "NoSuchKey",
    );
    let upload = s
        .client
        .create_multipart_upload()
        .bucket("bkt")
        .key("mp")
        .send()
        .await
        .unwrap();
    let m = s.metrics().await;
    let get = |k: &str| {
        m.get(k)
            .copied()
            .unwrap_or_else(|| panic!("no sample {k} in {m:#?}"))
    };
    assert_eq!(get("s3gate_requests_total{op=PutObject,status=200}"), 2.0);
    assert_eq!(get("s3gate_requests_total{op=GetObject,status=200}"), 1.0);
    assert_eq!(get("s3gate_requests_total{op=GetObject,status=404}"), 1.0);
    assert_eq!(
        get("s3gate_requests_total{op=CreateBucket,status=200}"),
        1.0
    );
    assert_eq!(get("s3gate_errors_total{code=NoSuchKey}"), 1.0);
    assert_eq!(get("s3gate_received_bytes_total{op=PutObject}"), 1024.0);
    assert!(get("s3gate_sent_bytes_total{op=GetObject}") >= 1000.0);
    assert_eq!(get("s3gate_request_duration_seconds{op=PutObject}"), 2.0);
    assert_eq!(get("s3gate_multipart_uploads{}"), 1.0);
    assert!(get("s3gate_index_bytes{}") > 0.0);
    s.client
        .abort_multipart_upload()
        .bucket("bkt")
        .key("mp")
        .upload_id(upload.upload_id().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(s.metrics().await["s3gate_multipart_uploads{}"], 0.0);
    // Health and readiness beside the metrics; the S3 port keeps its namespace (a bucket may
    // be called "metrics").
    let ops = s.metrics_addr().unwrap();
    for path in ["health", "ready"] {
        let r = http()
            .get(format!("http://{ops}/{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "/{path}");
    }
    s.create_bucket("metrics").await;
    s.client
        .put_object()
        .bucket("metrics")
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
}
