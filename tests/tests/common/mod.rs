//! Shared helpers: a real server on `127.0.0.1:0` over a temporary directory, an `aws-sdk-s3`
//! client pointed at it, a raw HTTP/1.1 client for requests the SDK cannot make, and small
//! helpers for bodies, digests, errors and XML.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::config::{Credentials, Region};
use aws_sdk_s3::error::BoxError;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use md5::{Digest, Md5};
use s3gate::{Config, Server};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const ACCESS_KEY: &str = "AKIDTESTS3GATE";
pub const SECRET_KEY: &str = "secret/key+for=tests";

/// A running server over its own temporary directory, with a client for it.
pub struct TestServer {
    pub dir: TempDir,
    pub config: Config,
    pub addr: SocketAddr,
    pub client: Client,
    server: Option<Server>,
    access_key: String,
    secret_key: String,
}

/// The configuration every test starts from: loopback, port 0, the given directory.
pub fn base_config(root: &Path) -> Config {
    let mut config = Config::default();
    config.server.addr = "127.0.0.1:0".parse().unwrap();
    config.server.workers = 2;
    config.remote.path = root.to_path_buf();
    // Durability is not under test here and fsync only slows the suite down.
    config.vfs.fsync = false;
    config
}

impl TestServer {
    /// An anonymous server (no keys configured).
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    /// A server whose configuration is adjusted by `tweak` first.
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::Builder::new()
            .prefix("s3gate-test-")
            .tempdir()
            .unwrap();
        Self::start_in(dir, tweak).await
    }

    /// A server over an existing directory (for content prepared before the start).
    pub async fn start_in(dir: TempDir, tweak: impl FnOnce(&mut Config)) -> TestServer {
        let mut config = base_config(dir.path());
        tweak(&mut config);
        let (access_key, secret_key) = match config.auth.keys.first() {
            Some(k) => (k.access_key.clone(), k.secret_key.clone()),
            None => (ACCESS_KEY.to_string(), SECRET_KEY.to_string()),
        };
        let server = s3gate::start(config.clone()).await.expect("server starts");
        let addr = server.addr();
        let client = client_for(addr, &access_key, &secret_key);
        TestServer {
            dir,
            config,
            addr,
            client,
            server: Some(server),
            access_key,
            secret_key,
        }
    }

    /// A server that requires SigV4 with `ACCESS_KEY`/`SECRET_KEY`.
    pub async fn start_auth() -> TestServer {
        Self::start_with(|c| {
            c.auth.keys = vec![format!("{ACCESS_KEY},{SECRET_KEY}").parse().unwrap()];
        })
        .await
    }

    /// Stops the server and starts a new one with the same configuration and directory.
    pub async fn restart(&mut self) {
        self.stop_server().await;
        let server = s3gate::start(self.config.clone())
            .await
            .expect("server restarts");
        self.addr = server.addr();
        self.client = client_for(self.addr, &self.access_key, &self.secret_key);
        self.server = Some(server);
    }

    /// Where the running server serves metrics, if it does.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.server.as_ref().and_then(|s| s.metrics_addr())
    }

    /// Gives the running server a new configuration to take its keys and certificate from.
    pub async fn reload(&self, config: Config) -> Result<(), s3gate::Error> {
        self.server
            .as_ref()
            .expect("the server is running")
            .reload(config)
            .await
    }

    /// Stops the server, keeping the directory (for inspection or a later [`Self::start_again`]).
    pub async fn stop_server(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await;
        }
    }

    /// Starts the server again after [`Self::stop_server`].
    pub async fn start_again(&mut self) {
        assert!(self.server.is_none(), "server still running");
        let server = s3gate::start(self.config.clone())
            .await
            .expect("server restarts");
        self.addr = server.addr();
        self.client = client_for(self.addr, &self.access_key, &self.secret_key);
        self.server = Some(server);
    }

    /// The served directory.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Where an object lives on disk.
    pub fn path_of(&self, bucket: &str, key: &str) -> PathBuf {
        self.root().join(bucket).join(key)
    }

    /// `http://addr` + `path_and_query` (which must start with `/`).
    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{}", self.addr, path_and_query)
    }

    pub async fn create_bucket(&self, bucket: &str) {
        self.client
            .create_bucket()
            .bucket(bucket)
            .send()
            .await
            .unwrap_or_else(|e| panic!("create bucket {bucket}: {}", describe(&e)));
    }

    /// Puts an object and returns the ETag the server answered.
    pub async fn put(&self, bucket: &str, key: &str, data: impl Into<Vec<u8>>) -> String {
        let out = self
            .client
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(ByteStream::from(data.into()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("put {bucket}/{key}: {}", describe(&e)));
        out.e_tag().expect("PutObject answers an ETag").to_string()
    }

    /// Gets an object's bytes.
    pub async fn get(&self, bucket: &str, key: &str) -> Vec<u8> {
        let out = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("get {bucket}/{key}: {}", describe(&e)));
        body_of(out).await
    }

    /// Asserts that GetObject answers `404 NoSuchKey`.
    pub async fn assert_no_such_key(&self, bucket: &str, key: &str) {
        let err = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .expect_err("the key is gone");
        assert_eq!(
            status_and_code(&err),
            (404, "NoSuchKey".into()),
            "{bucket}/{key}"
        );
    }

    /// One user metadata value of an object, as HeadObject tells it.
    pub async fn user_meta(&self, bucket: &str, key: &str, name: &str) -> Option<String> {
        let head = self
            .client
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("head {bucket}/{key}: {}", describe(&e)));
        head.metadata().and_then(|m| m.get(name)).cloned()
    }

    /// Every key of a bucket (ListObjectsV2, paged to the end), in the order the server gave.
    pub async fn list_keys(&self, bucket: &str) -> Vec<String> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .client
                .list_objects_v2()
                .bucket(bucket)
                .set_continuation_token(token.clone())
                .send()
                .await
                .unwrap_or_else(|e| panic!("list {bucket}: {}", describe(&e)));
            keys.extend(out.contents().iter().map(|o| o.key().unwrap().to_string()));
            match out.next_continuation_token() {
                Some(t) if out.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => break,
            }
        }
        keys
    }
}

/// An `aws-sdk-s3` client for the server at `addr`: path style, static credentials, no retries.
pub fn client_for(addr: SocketAddr, access_key: &str, secret_key: &str) -> Client {
    client_with(addr, access_key, secret_key, |b| b)
}

/// Like [`client_for`], with a last say on the configuration.
pub fn client_with(
    addr: SocketAddr,
    access_key: &str,
    secret_key: &str,
    tweak: impl FnOnce(aws_sdk_s3::config::Builder) -> aws_sdk_s3::config::Builder,
) -> Client {
    client_at(
        &format!("http://{addr}"),
        aws_smithy_http_client::Builder::new()
            .tls_provider(tls_provider())
            .build_https(),
        access_key,
        secret_key,
        tweak,
    )
}

/// The TLS implementation the tests' SDK clients use.
pub fn tls_provider() -> aws_smithy_http_client::tls::Provider {
    aws_smithy_http_client::tls::Provider::Rustls(
        aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
    )
}

/// An `aws-sdk-s3` client for any endpoint over the given HTTP client: path style, static
/// credentials, no retries, then `tweak`.
pub fn client_at(
    endpoint: &str,
    http: aws_sdk_s3::config::SharedHttpClient,
    access_key: &str,
    secret_key: &str,
    tweak: impl FnOnce(aws_sdk_s3::config::Builder) -> aws_sdk_s3::config::Builder,
) -> Client {
    let builder = aws_sdk_s3::config::Builder::new()
        .behavior_version_latest()
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .credentials_provider(Credentials::new(
            access_key.to_string(),
            secret_key.to_string(),
            None,
            None,
            "tests",
        ))
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .operation_timeout(Duration::from_secs(60))
                .build(),
        )
        .http_client(http);
    Client::from_conf(tweak(builder).build())
}

/// A plain HTTP client for unsigned requests.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// The whole body of a GetObject answer.
pub async fn body_of(out: GetObjectOutput) -> Vec<u8> {
    out.body
        .collect()
        .await
        .expect("body reads to the end")
        .into_bytes()
        .to_vec()
}

pub fn md5_hex(data: &[u8]) -> String {
    hex::encode(Md5::digest(data))
}

/// The ETag S3 gives a single-part object: the quoted hex MD5 of its bytes.
pub fn etag_of(data: &[u8]) -> String {
    format!("\"{}\"", md5_hex(data))
}

/// Base64 of the MD5, as in `Content-MD5`.
pub fn content_md5(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(Md5::digest(data))
}

/// Deterministic, non-repeating-looking test data.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9 ^ u32::from(seed);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

/// HTTP status and S3 error code of a failed SDK call.
pub fn status_and_code<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> (u16, String) {
    let status = e.raw_response().map(|r| r.status().as_u16()).unwrap_or(0);
    let code = e.code().unwrap_or("").to_string();
    (status, code)
}

/// A readable account of an SDK error (status, code, message, or the transport error).
pub fn describe<E: ProvideErrorMetadata + std::fmt::Debug>(
    e: &SdkError<E, HttpResponse>,
) -> String {
    match e.raw_response() {
        Some(r) => format!(
            "HTTP {} code={:?} message={:?}",
            r.status().as_u16(),
            e.code(),
            e.message()
        ),
        None => format!("{e:?}"),
    }
}

/// Asserts that an SDK call failed with this status and S3 error code.
#[track_caller]
pub fn expect_error<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug>(
    r: Result<T, SdkError<E, HttpResponse>>,
    status: u16,
    code: &str,
) {
    match r {
        Ok(v) => panic!("expected HTTP {status} {code}, got success: {v:?}"),
        Err(e) => {
            let (s, c) = status_and_code(&e);
            assert_eq!(
                (s, c.as_str()),
                (status, code),
                "expected HTTP {status} {code}, got {}",
                describe(&e)
            );
        }
    }
}

/// Asserts that an SDK call failed with this status (for HEAD, whose errors have no body).
#[track_caller]
pub fn expect_status<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug>(
    r: Result<T, SdkError<E, HttpResponse>>,
    status: u16,
) {
    match r {
        Ok(v) => panic!("expected HTTP {status}, got success: {v:?}"),
        Err(e) => {
            let (s, _) = status_and_code(&e);
            assert_eq!(s, status, "expected HTTP {status}, got {}", describe(&e));
        }
    }
}

/// Every text of `<tag>…</tag>` in `xml`, unescaped, in document order.
pub fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        let Some(j) = after.find(&close) else { break };
        out.push(xml_unescape(&after[..j]));
        rest = &after[j + close.len()..];
    }
    out
}

/// The first `<tag>…</tag>` text, if any.
pub fn xml_value(xml: &str, tag: &str) -> Option<String> {
    xml_values(xml, tag).into_iter().next()
}

pub fn xml_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&#39;", "'")
        .replace("&#34;", "\"")
        .replace("&#xD;", "\r")
        .replace("&#xA;", "\n")
        .replace("&amp;", "&")
}

/// Decodes `%XX` and `+` (as a space), like Python's `unquote_plus`, which boto3 applies to
/// listings asked for with `encoding-type=url`.
pub fn unquote_plus(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' if i + 2 < b.len() => {
                let h = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(h, 16).expect("valid %XX escape"));
                i += 3;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).expect("decoded key is UTF-8")
}

/// Percent-encodes everything but unreserved characters and `/` (for `x-amz-copy-source` and
/// hand-made request paths).
pub fn encode_path(s: &str) -> String {
    let mut out = String::new();
    for &c in s.as_bytes() {
        if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}

/// Percent-encodes a query-string value (everything but unreserved characters).
pub fn encode_query(s: &str) -> String {
    encode_path(s).replace('/', "%2F")
}

/// A response read off a raw socket.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    /// The status line and header lines exactly as received.
    pub head: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends `head` (request line and header lines, each ending in `\r\n`, without the blank line;
/// `Host` and `Connection: close` are added) and `body` over a fresh connection, and reads the
/// whole answer.
pub async fn raw_request(addr: SocketAddr, head: &str, body: &[u8]) -> RawResponse {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = head.as_bytes().to_vec();
    req.extend_from_slice(format!("Host: {addr}\r\nConnection: close\r\n\r\n").as_bytes());
    req.extend_from_slice(body);
    stream.write_all(&req).await.unwrap();
    stream.flush().await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut buf))
        .await
        .expect("server answers and closes within 30 s")
        .unwrap();
    parse_response(&buf)
}

/// Reads one response head (up to the blank line) from `stream`.
pub async fn read_head(stream: &mut tokio::net::TcpStream) -> String {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    tokio::time::timeout(Duration::from_secs(10), async {
        while !buf.ends_with(b"\r\n\r\n") {
            if stream.read(&mut byte).await.unwrap() == 0 {
                break;
            }
            buf.push(byte[0]);
        }
    })
    .await
    .expect("an answer within 10 s");
    String::from_utf8_lossy(&buf).into_owned()
}

/// Parses one HTTP/1.1 response (Content-Length, chunked, or read-to-close bodies).
pub fn parse_response(buf: &[u8]) -> RawResponse {
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| {
            panic!(
                "no complete response head in {:?}",
                String::from_utf8_lossy(buf)
            )
        });
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let rest = &buf[end + 4..];
    let find = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let body = if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        let mut out = Vec::new();
        let mut r = rest;
        while let Some(eol) = r.windows(2).position(|w| w == b"\r\n") {
            let size_str = String::from_utf8_lossy(&r[..eol]).into_owned();
            let size =
                usize::from_str_radix(size_str.split(';').next().unwrap().trim(), 16).unwrap_or(0);
            r = &r[eol + 2..];
            if size == 0 || r.len() < size {
                break;
            }
            out.extend_from_slice(&r[..size]);
            r = &r[(size + 2).min(r.len())..];
        }
        out
    } else if let Some(len) = find("content-length").and_then(|v| v.parse::<usize>().ok()) {
        rest[..len.min(rest.len())].to_vec()
    } else {
        rest.to_vec()
    };
    RawResponse {
        status,
        head,
        headers,
        body,
    }
}

/// Every regular file under `dir`, relative, with `/` separators, sorted; the index folder
/// (`.s3gate` at the root) is left out.
pub fn files_under(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd {
            let e = e.unwrap();
            let p = e.path();
            let rel = p.strip_prefix(base).unwrap().to_string_lossy().into_owned();
            if rel == ".s3gate" {
                continue;
            }
            if e.file_type().unwrap().is_dir() {
                walk(base, &p, out);
            } else {
                out.push(rel);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Records the headers of every request it sees (attach with `.customize().interceptor(..)`),
/// to check what the SDK actually sent.
#[derive(Debug, Clone, Default)]
pub struct RecordHeaders(pub Arc<Mutex<Vec<HeaderList>>>);

/// The headers of one request, in order.
pub type HeaderList = Vec<(String, String)>;

impl RecordHeaders {
    /// The value of `name` in the last request recorded.
    pub fn last(&self, name: &str) -> Option<String> {
        let all = self.0.lock().unwrap();
        all.last()?
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }
}

impl Intercept for RecordHeaders {
    fn name(&self) -> &'static str {
        "RecordHeaders"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let headers = context
            .request()
            .headers()
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        self.0.lock().unwrap().push(headers);
        Ok(())
    }
}

/// Base64 of the big-endian CRC32 of `data`, as in `x-amz-checksum-crc32`.
pub fn crc32_b64(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(crc32fast::hash(data).to_be_bytes())
}

/// An unsigned aws-chunked body (`STREAMING-UNSIGNED-PAYLOAD-TRAILER`): `data` in chunks of
/// `chunk` bytes, a zero chunk, then the given trailer lines.
pub fn aws_chunked_unsigned(data: &[u8], chunk: usize, trailers: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for c in data.chunks(chunk) {
        out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n");
    for (n, v) in trailers {
        out.extend_from_slice(format!("{n}:{v}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Wraps `body` in HTTP/1.1 chunked transfer coding, in pieces of `piece` bytes.
pub fn http_chunked(body: &[u8], piece: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for c in body.chunks(piece) {
        out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}
