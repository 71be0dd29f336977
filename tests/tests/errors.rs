//! Error answers: S3 XML with `Content-Type: application/xml`, the right status and code,
//! `Message`, `RequestId`, `Resource`; HEAD errors without a body; bad requests.

use crate::common::*;

/// Checks the common shape of an S3 error answer and returns its body.
async fn check_error(r: reqwest::Response, status: u16, code: &str) -> String {
    let got = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.text().await.unwrap();
    assert_eq!(got, status, "{body}");
    let ct = headers
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    assert!(ct.starts_with("application/xml"), "Content-Type {ct:?}");
    assert!(body.contains("<Error>"), "{body}");
    assert_eq!(xml_value(&body, "Code").as_deref(), Some(code), "{body}");
    assert!(
        !xml_value(&body, "Message").unwrap_or_default().is_empty(),
        "no Message: {body}"
    );
    let request_id = xml_value(&body, "RequestId").unwrap_or_default();
    assert!(!request_id.is_empty(), "no RequestId: {body}");
    if let Some(h) = headers.get("x-amz-request-id") {
        assert_eq!(
            h.to_str().unwrap(),
            request_id,
            "header and body RequestId differ"
        );
    }
    body
}

#[tokio::test(flavor = "multi_thread")]
async fn no_such_key_error_document() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    let r = http()
        .get(s.url("/bkt/missing/key.txt"))
        .send()
        .await
        .unwrap();
    let body = check_error(r, 404, "NoSuchKey").await;
    let resource = xml_value(&body, "Resource").unwrap_or_default();
    assert!(
        resource.contains("/bkt/missing/key.txt"),
        "Resource {resource:?}"
    );
    if let Some(key) = xml_value(&body, "Key") {
        assert_eq!(key, "missing/key.txt");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn no_such_bucket_error_document() {
    let s = TestServer::start().await;
    let r = http()
        .get(s.url("/nobkt?list-type=2"))
        .send()
        .await
        .unwrap();
    let body = check_error(r, 404, "NoSuchBucket").await;
    let resource = xml_value(&body, "Resource").unwrap_or_default();
    assert!(resource.contains("/nobkt"), "Resource {resource:?}");
    let r = http().get(s.url("/nobkt/some/key")).send().await.unwrap();
    check_error(r, 404, "NoSuchBucket").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn request_ids_differ() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    let a = http().get(s.url("/bkt/x")).send().await.unwrap();
    let a = check_error(a, 404, "NoSuchKey").await;
    let b = http().get(s.url("/bkt/x")).send().await.unwrap();
    let b = check_error(b, 404, "NoSuchKey").await;
    assert_ne!(xml_value(&a, "RequestId"), xml_value(&b, "RequestId"));
}

#[tokio::test(flavor = "multi_thread")]
async fn error_documents_escape_xml() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    let key = "a<b>&c\"d'e";
    let r = http()
        .get(s.url(&format!("/bkt/{}", encode_path(key))))
        .send()
        .await
        .unwrap();
    let body = check_error(r, 404, "NoSuchKey").await;
    assert!(!body.contains(key), "unescaped key in XML: {body}");
    if let Some(k) = xml_value(&body, "Key") {
        assert_eq!(k, key);
    }
    // The SDK parses it too.
    expect_error(
        s.client.get_object().bucket("bkt").key(key).send().await,
        404,
        "NoSuchKey",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn head_errors_have_no_body() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    for path in ["/bkt/missing", "/nobkt", "/nobkt/key"] {
        let r = http().head(s.url(path)).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 404, "HEAD {path}");
        let body = r.bytes().await.unwrap();
        assert!(body.is_empty(), "HEAD {path} has a body");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_method_is_refused() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    s.put("bkt", "obj", "data").await;
    for path in ["/bkt/obj", "/bkt"] {
        let r = http()
            .request(reqwest::Method::PATCH, s.url(path))
            .body("patch")
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let code = match status {
            405 => "MethodNotAllowed",
            501 => "NotImplemented",
            other => panic!("PATCH {path} answered {other}"),
        };
        check_error(r, status, code).await;
    }
    assert_eq!(s.get("bkt", "obj").await, b"data");
}

/// A CORS preflight and a browser form upload carry no S3 signature: on a server with keys they
/// are not refused as unsigned. A preflight where no CORS rule applies is refused as S3 does
/// (`403 AccessForbidden`); a form upload is read as one (here refused for want of a file); a
/// bucket POST that is no known operation answers `501 NotImplemented`.
#[tokio::test(flavor = "multi_thread")]
async fn unsigned_preflights_and_form_uploads_are_not_refused_as_unsigned() {
    let s = TestServer::start_auth().await;
    s.create_bucket("bkt").await;
    for path in ["/", "/bkt", "/bkt/obj", "/bkt?cors"] {
        let r = http()
            .request(reqwest::Method::OPTIONS, s.url(path))
            .header("origin", "https://example.com")
            .header("access-control-request-method", "PUT")
            .send()
            .await
            .unwrap();
        check_error(r, 403, "AccessForbidden").await;
    }
    // A form reaches the form upload, which wants a file (and here would want a policy).
    let form = "--x\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nobj\r\n--x--\r\n";
    let r = http()
        .post(s.url("/bkt"))
        .header("content-type", "multipart/form-data; boundary=x")
        .body(form)
        .send()
        .await
        .unwrap();
    check_error(r, 400, "InvalidArgument").await;
    // Not a form: still no operation, and still refused before any signature is asked for.
    let r = http().post(s.url("/bkt")).body("x").send().await.unwrap();
    check_error(r, 501, "NotImplemented").await;
    s.assert_no_such_key("bkt", "obj").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_listing_arguments() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    for query in [
        "list-type=2&max-keys=abc",
        "list-type=2&max-keys=-1",
        "max-keys=abc",
    ] {
        let r = http()
            .get(s.url(&format!("/bkt?{query}")))
            .send()
            .await
            .unwrap();
        check_error(r, 400, "InvalidArgument").await;
    }
    let r = http()
        .get(s.url("/bkt?list-type=2&encoding-type=base64"))
        .send()
        .await
        .unwrap();
    check_error(r, 400, "InvalidArgument").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_delete_objects_body() {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    s.put("bkt", "obj", "data").await;
    let body = "this is not xml";
    let r = http()
        .post(s.url("/bkt?delete"))
        .header("content-md5", content_md5(body.as_bytes()))
        .body(body)
        .send()
        .await
        .unwrap();
    check_error(r, 400, "MalformedXML").await;
    assert_eq!(s.list_keys("bkt").await, ["obj"]);
}

/// `--read-only`: every request that would change something is refused before it is read, and
/// everything that only reads still works.
#[tokio::test(flavor = "multi_thread")]
async fn a_read_only_server_refuses_every_change() {
    let mut s = TestServer::start().await;
    s.create_bucket("bkt").await;
    s.put("bkt", "kept", b"data".to_vec()).await;
    s.stop_server().await;
    s.config.server.read_only = true;
    s.start_again().await;
    assert_eq!(s.get("bkt", "kept").await, b"data");
    assert_eq!(s.list_keys("bkt").await, ["kept"]);
    s.client
        .get_bucket_acl()
        .bucket("bkt")
        .send()
        .await
        .unwrap();
    let denied = |r: Result<(), (u16, String)>| {
        assert_eq!(r.unwrap_err(), (403, "AccessDenied".to_string()));
    };
    denied(
        s.client
            .put_object()
            .bucket("bkt")
            .key("new")
            .body(b"x".to_vec().into())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| status_and_code(&e)),
    );
    denied(
        s.client
            .delete_object()
            .bucket("bkt")
            .key("kept")
            .send()
            .await
            .map(|_| ())
            .map_err(|e| status_and_code(&e)),
    );
    denied(
        s.client
            .create_bucket()
            .bucket("other")
            .send()
            .await
            .map(|_| ())
            .map_err(|e| status_and_code(&e)),
    );
    denied(
        s.client
            .put_bucket_tagging()
            .bucket("bkt")
            .tagging(
                aws_sdk_s3::types::Tagging::builder()
                    .set_tag_set(Some(vec![]))
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .map(|_| ())
            .map_err(|e| status_and_code(&e)),
    );
    assert_eq!(s.get("bkt", "kept").await, b"data");
    s.assert_no_such_key("bkt", "new").await;
}
