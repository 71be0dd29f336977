//! The web console's listener (`--web-addr`): off unless asked for; its page, script and
//! style served with their types; `/api/status` answered only to an administrator's signed
//! request, in the shape the page reads; `/s3/…` handed to the S3 pipeline, so that a key
//! reaches through the console exactly what it reaches through the S3 port. (The page itself
//! is driven in headless Chromium by scripts/smoke_browser.py.)

use std::net::SocketAddr;
use std::time::Duration;

use s3gate_config::CacheMode;

use crate::common::*;

const USERS: &str = r#"
[[users]]
access_key = "TEAMA"
secret_key = "team-a-secret"
buckets = ["team-a"]
"#;

/// A server with keys, a user limited to `team-a`, and the console on a port of its own.
async fn start(tweak: impl FnOnce(&mut s3gate_config::Config)) -> (TestServer, SocketAddr) {
    let users = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(users.path(), USERS).unwrap();
    let path = users.path().to_path_buf();
    let s = TestServer::start_with(|c| {
        c.auth.keys = vec![format!("{ACCESS_KEY},{SECRET_KEY}").parse().unwrap()];
        c.auth.users_file = Some(path);
        c.server.web_addr = Some("127.0.0.1:0".parse().unwrap());
        tweak(c);
    })
    .await;
    let web = s.web_addr().expect("the console's listener");
    (s, web)
}

/// `method path` on the console, signed in its Authorization header by `access:secret`, as
/// the page signs (SigV4, `host`, `x-amz-date` and `x-amz-content-sha256`).
async fn signed(
    web: SocketAddr,
    method: &str,
    path: &str,
    access: &str,
    secret: &str,
) -> reqwest::Response {
    let host = web.to_string();
    // Under /s3/ the pipeline sees (and checks the signature of) the path without the prefix.
    let signed_path = path.strip_prefix("/s3").unwrap_or(path);
    let signed_path = if signed_path.is_empty() {
        "/"
    } else {
        signed_path
    };
    let mut req = http().request(method.parse().unwrap(), format!("http://{host}{path}"));
    for (n, v) in sigv4_headers((access, secret), &host, method, signed_path, &[], b"") {
        req = req.header(n, v);
    }
    req.send().await.unwrap()
}

async fn json(resp: reqwest::Response) -> serde_json::Value {
    serde_json::from_str(&resp.text().await.unwrap()).expect("a JSON document")
}

async fn status_of(web: SocketAddr, access: &str, secret: &str) -> (u16, serde_json::Value) {
    let resp = signed(web, "GET", "/api/status", access, secret).await;
    let code = resp.status().as_u16();
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    (code, json(resp).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_is_off_unless_asked_for() {
    let s = TestServer::start_auth().await;
    assert_eq!(s.web_addr(), None);
    // The S3 port does not serve it either: there `/console.js` is a bucket's name, which an
    // unsigned request is told does not exist (as S3 tells anonymous callers).
    let resp = http()
        .get(format!("http://{}/console.js", s.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "application/xml"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_script_and_style_are_served_with_their_types() {
    let (_s, web) = start(|_| {}).await;
    for (path, content_type, needle) in [
        (
            "/",
            "text/html; charset=utf-8",
            "<script src=\"console.js\"",
        ),
        (
            "/console.js",
            "text/javascript; charset=utf-8",
            "AWS4-HMAC-SHA256",
        ),
        ("/console.css", "text/css; charset=utf-8", "#st-chart"),
    ] {
        let resp = http()
            .get(format!("http://{web}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{path}");
        let headers = resp.headers().clone();
        assert_eq!(headers["content-type"].to_str().unwrap(), content_type);
        // Nothing from elsewhere, and never framed by another site.
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'self'"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        let body = resp.text().await.unwrap();
        assert!(body.contains(needle), "{path} lacks {needle}");
        for elsewhere in [
            "src=\"http",
            "href=\"http",
            "src=\"//",
            "href=\"//",
            "@import",
        ] {
            assert!(!body.contains(elsewhere), "{path} loads {elsewhere}…");
        }
    }
    let missing = http()
        .get(format!("http://{web}/nothing-here"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status().as_u16(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_is_refused_without_an_administrators_signature() {
    let (_s, web) = start(|_| {}).await;
    let unsigned = http()
        .get(format!("http://{web}/api/status"))
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status().as_u16(), 403);
    let body = json(unsigned).await;
    assert_eq!(body["code"], "AccessDenied", "{body}");
    for (access, secret, status, code) in [
        (ACCESS_KEY, "not-the-secret", 403, "SignatureDoesNotMatch"),
        ("NOSUCHKEY", SECRET_KEY, 403, "InvalidAccessKeyId"),
        // A user's key is valid, but the status describes every user's traffic.
        ("TEAMA", "team-a-secret", 403, "AccessDenied"),
    ] {
        let (got, body) = status_of(web, access, secret).await;
        assert_eq!((got, body["code"].as_str()), (status, Some(code)), "{body}");
        assert!(body.get("requests_total").is_none(), "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_has_the_shape_the_page_reads() {
    let (s, web) = start(|_| {}).await;
    s.create_bucket("box").await;
    s.put("box", "k", b"twelve bytes".to_vec()).await;
    let (code, body) = status_of(web, ACCESS_KEY, SECRET_KEY).await;
    assert_eq!(code, 200, "{body}");
    for field in [
        "uptime_seconds",
        "requests_total",
        "errors_total",
        "bytes_in",
        "bytes_out",
        "multipart_uploads",
        "index_bytes",
    ] {
        assert!(body[field].is_u64(), "{field} in {body}");
    }
    assert!(body["requests_total"].as_u64().unwrap() >= 2, "{body}");
    assert!(body["bytes_in"].as_u64().unwrap() >= 12, "{body}");
    assert_eq!(body["interval_seconds"], 5);
    assert!(body["rates"].is_array(), "{body}");
    // Without caches, no figures of theirs.
    assert!(body["write_back"].is_null(), "{body}");
    assert!(body["read_cache"].is_null(), "{body}");

    // Samples follow each other every 5 s: after two, one rate, counting what came between.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let rates = loop {
        let (_, body) = status_of(web, ACCESS_KEY, SECRET_KEY).await;
        let rates = body["rates"].as_array().unwrap().clone();
        if !rates.is_empty() {
            break rates;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no rate after 20 s: {body}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let last = &rates[rates.len() - 1];
    assert!(last["at"].is_u64(), "{last}");
    assert!(last["requests_per_second"].is_number(), "{last}");
    assert!(last["errors_per_second"].is_number(), "{last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_shows_the_write_back_queue() {
    let (s, web) = start(|c| {
        c.vfs.cache_mode = CacheMode::Writes;
        // Long enough that the object still waits when the status is asked.
        c.vfs.write_back = Duration::from_secs(60);
    })
    .await;
    s.create_bucket("box").await;
    s.put("box", "k", b"waiting".to_vec()).await;
    let (code, body) = status_of(web, ACCESS_KEY, SECRET_KEY).await;
    assert_eq!(code, 200, "{body}");
    let wb = &body["write_back"];
    assert_eq!(wb["waiting"], 1, "{body}");
    assert_eq!(wb["bytes"], 7, "{body}");
    assert!(wb["oldest_seconds"].is_u64(), "{body}");
    assert_eq!(wb["failing"], 0, "{body}");
    assert_eq!(wb["failures_total"], 0, "{body}");
    assert!(wb["last_error"].is_null(), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_s3_path_is_the_pipeline_with_its_permissions() {
    let (s, web) = start(|_| {}).await;
    for b in ["team-a", "team-b"] {
        s.create_bucket(b).await;
        s.put(b, "k", b"data".to_vec()).await;
    }
    // An administrator lists everything; the user only what it may use.
    let all = signed(web, "GET", "/s3/", ACCESS_KEY, SECRET_KEY).await;
    assert_eq!(all.status().as_u16(), 200);
    let all = all.text().await.unwrap();
    assert!(all.contains("<Name>team-a</Name>") && all.contains("<Name>team-b</Name>"));
    let mine = signed(web, "GET", "/s3", "TEAMA", "team-a-secret").await;
    assert_eq!(mine.status().as_u16(), 200);
    let mine = mine.text().await.unwrap();
    assert!(
        mine.contains("<Name>team-a</Name>") && !mine.contains("team-b"),
        "{mine}"
    );
    let got = signed(web, "GET", "/s3/team-a/k", "TEAMA", "team-a-secret").await;
    assert_eq!(got.status().as_u16(), 200);
    assert_eq!(got.bytes().await.unwrap().as_ref(), b"data");
    // What the S3 port refuses the user, the console refuses too, with the same error.
    let refused = signed(web, "GET", "/s3/team-b/k", "TEAMA", "team-a-secret").await;
    assert_eq!(refused.status().as_u16(), 403);
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("<Code>AccessDenied</Code>"));
    let refused = signed(web, "DELETE", "/s3/team-b/k", "TEAMA", "team-a-secret").await;
    assert_eq!(refused.status().as_u16(), 403);
    assert_eq!(s.get("team-b", "k").await, b"data");
    // A wrong secret, and no signature at all, reach nothing.
    let wrong = signed(web, "GET", "/s3/team-a/k", "TEAMA", "guess").await;
    assert_eq!(wrong.status().as_u16(), 403);
    assert!(wrong
        .text()
        .await
        .unwrap()
        .contains("<Code>SignatureDoesNotMatch</Code>"));
    let anonymous = http()
        .get(format!("http://{web}/s3/team-a/k"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 403);
    // The console's requests are the server's requests: counted in its status.
    let (_, status) = status_of(web, ACCESS_KEY, SECRET_KEY).await;
    assert!(status["requests_total"].as_u64().unwrap() >= 10, "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_keys_the_console_is_as_open_as_the_s3_api() {
    let s = TestServer::start_with(|c| {
        c.server.web_addr = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    assert!(s.config.auth.keys.is_empty());
    let web = s.web_addr().unwrap();
    s.create_bucket("open").await;
    let status = http()
        .get(format!("http://{web}/api/status"))
        .send()
        .await
        .unwrap();
    assert_eq!(status.status().as_u16(), 200);
    assert!(json(status).await["requests_total"].is_u64());
    let listed = http()
        .get(format!("http://{web}/s3/"))
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status().as_u16(), 200);
    assert!(listed.text().await.unwrap().contains("<Name>open</Name>"));
}
