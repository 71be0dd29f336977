//! Requests the SDK cannot make: an unsigned `reqwest` client, a raw HTTP/1.1 client over a fresh
//! socket with a forgiving response parser, the chunked and aws-chunked body encoders, and the
//! percent-encoding of hand-made paths and queries.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A plain HTTP client for unsigned requests; like the SDK's clients, it drops idle connections
/// before the server's idle timeout closes them.
pub(crate) fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .pool_idle_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// Asserts that a plain HTTP answer is an S3 error document with this status and code; returns
/// the document, for what else a test reads of it.
pub(crate) async fn expect_s3_error(r: reqwest::Response, status: u16, code: &str) -> String {
    let got = r.status().as_u16();
    let text = r.text().await.unwrap();
    assert_eq!(
        (got, super::xml::xml_value(&text, "Code").as_deref()),
        (status, Some(code)),
        "expected HTTP {status} {code}, got: {text}"
    );
    text
}

/// Asserts headers of a plain HTTP answer: each named one with its value, or absent for `None`.
#[track_caller]
pub(crate) fn expect_headers(r: &reqwest::Response, want: &[(&str, Option<&str>)]) {
    for (name, value) in want {
        let got = r.headers().get(*name).map(|v| v.to_str().unwrap());
        assert_eq!(got, *value, "{name}, among {:?}", r.headers());
    }
}

/// A response read off a raw socket.
#[derive(Debug)]
pub(crate) struct RawResponse {
    pub(crate) status: u16,
    /// The status line and header lines exactly as received.
    pub(crate) head: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl RawResponse {
    /// The first header of that name (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Asserts that the answer is an S3 error document with this status and code.
    #[track_caller]
    pub(crate) fn expect_error(&self, status: u16, code: &str) {
        let text = self.text();
        assert_eq!(
            (self.status, super::xml::xml_value(&text, "Code").as_deref()),
            (status, Some(code)),
            "expected HTTP {status} {code}, got: {}\n{text}",
            self.head
        );
    }
}

/// Sends `head` (request line and header lines, each ending in `\r\n`, without the blank line;
/// `Host` and `Connection: close` are added) and `body` over a fresh connection, and reads the
/// whole answer.
pub(crate) async fn raw_request(addr: SocketAddr, head: &str, body: &[u8]) -> RawResponse {
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
pub(crate) async fn read_head(stream: &mut tokio::net::TcpStream) -> String {
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
pub(crate) fn parse_response(buf: &[u8]) -> RawResponse {
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

/// An unsigned aws-chunked body (`STREAMING-UNSIGNED-PAYLOAD-TRAILER`): `data` in chunks of
/// `chunk` bytes, a zero chunk, then the given trailer lines.
pub(crate) fn aws_chunked_unsigned(
    data: &[u8],
    chunk: usize,
    trailers: &[(&str, &str)],
) -> Vec<u8> {
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
pub(crate) fn http_chunked(body: &[u8], piece: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for c in body.chunks(piece) {
        out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}
/// Percent-encodes everything but unreserved characters and `/` (for `x-amz-copy-source` and
/// hand-made request paths).
pub(crate) fn encode_path(s: &str) -> String {
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
pub(crate) fn encode_query(s: &str) -> String {
    encode_path(s).replace('/', "%2F")
}
