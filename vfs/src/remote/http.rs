//! A web server's files, read-only, as rclone's `http` backend reads them: a folder is the index
//! page the server makes for a URL ending in `/`, and its entries are the links on that page
//! that name something directly below it (`<a href="name">`, `name/` for a folder; links
//! elsewhere, up, or with a query are not entries). A file's size, time and ETag come from a
//! `HEAD` request; reads are `GET`s of the range wanted.
//!
//! Nothing can be written: every change answers `PermissionDenied`, and the configuration
//! serves such a remote read-only (as `--read-only` does), so that requests that would change
//! anything are refused before they reach it.

use std::io;

use async_trait::async_trait;
use futures_util::{StreamExt, TryStreamExt};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Client, Response, StatusCode, Url};

use super::{
    ns_from_time, ByteStream, Entry, Fingerprint, KeepAlive, Reader, Remote, Source, Upload,
};

/// What a path segment keeps unescaped in a URL (RFC 3986's unreserved characters).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// Index pages are read whole: larger than this is not an index page.
const MAX_INDEX: usize = 64 << 20;
/// `HEAD` requests of one listing in flight at once.
const HEADS_AT_ONCE: usize = 8;

pub struct HttpRemote {
    client: Client,
    /// The served folder's URL, ending in `/`.
    base: Url,
}

fn read_only() -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        "an http remote is read-only",
    )
}

fn to_io(e: reqwest::Error) -> io::Error {
    let message = format!("HTTP remote: {e}");
    match e.status() {
        Some(status) => crate::unavailable::answered(status.as_u16(), message),
        None => crate::unavailable::unanswered(&e, message),
    }
}

impl HttpRemote {
    /// A remote of the web server at `url` (with `headers`, rclone's `Key,Value,Key,Value`),
    /// serving `path` below it.
    pub fn new(
        options: impl IntoIterator<Item = (String, String)>,
        path: &str,
    ) -> io::Result<HttpRemote> {
        let bad = |k: &str, why: String| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("http remote: option {k:?}: {why}"),
            )
        };
        let (mut url, mut headers) = (None, HeaderMap::new());
        for (k, v) in options {
            match k.as_str() {
                "url" => url = Some(v),
                "headers" => {
                    let fields: Vec<&str> = v.split(',').map(str::trim).collect();
                    if !fields.len().is_multiple_of(2) {
                        return Err(bad(&k, "expected Key,Value pairs".into()));
                    }
                    for pair in fields.chunks(2) {
                        let name = HeaderName::from_bytes(pair[0].as_bytes())
                            .map_err(|e| bad(&k, e.to_string()))?;
                        let value =
                            HeaderValue::from_str(pair[1]).map_err(|e| bad(&k, e.to_string()))?;
                        headers.append(name, value);
                    }
                }
                _ => {
                    return Err(bad(
                        &k,
                        "not a setting of http remotes (url, headers)".into(),
                    ))
                }
            }
        }
        let url = url.ok_or_else(|| bad("url", "missing: the web server's URL".into()))?;
        let mut base = Url::parse(&url).map_err(|e| bad("url", format!("{url:?}: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") || base.query().is_some() {
            return Err(bad(
                "url",
                format!("{url:?}: expected http(s)://host/path/"),
            ));
        }
        // The URL names a folder, with its slash or without (as rclone takes it).
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        for segment in path.split('/').filter(|s| !s.is_empty()) {
            base = join_segment(&base, segment, true)?;
        }
        // The crypto provider the rest of the server uses (the HTTP client brings none).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = Client::builder()
            .default_headers(headers)
            .build()
            .map_err(|e| io::Error::other(format!("HTTP client: {e}")))?;
        Ok(HttpRemote { client, base })
    }

    /// The URL of `path` below the base; a folder's ends in `/`.
    fn url(&self, path: &str, dir: bool) -> io::Result<Url> {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let mut url = self.base.clone();
        for (n, segment) in segments.iter().enumerate() {
            url = join_segment(&url, segment, dir || n + 1 < segments.len())?;
        }
        Ok(url)
    }

    /// What `HEAD url` says of a file: `None` when there is none, or when it is a folder.
    async fn head(&self, url: Url) -> io::Result<Option<Head>> {
        let resp = self.client.head(url).send().await.map_err(to_io)?;
        if matches!(
            resp.status(),
            StatusCode::NOT_FOUND | StatusCode::GONE | StatusCode::FORBIDDEN
        ) {
            return Ok(None);
        }
        let resp = resp.error_for_status().map_err(to_io)?;
        // A folder named without its slash is sent on to its index page.
        if resp.url().path().ends_with('/') {
            return Ok(None);
        }
        Head::of(&resp).map(Some)
    }

    /// The entries linked from the index page of the folder at `url`.
    async fn index(&self, url: &Url) -> io::Result<Vec<Entry>> {
        let resp = self.client.get(url.clone()).send().await.map_err(to_io)?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{url}: no such folder"),
            ));
        }
        let resp = resp.error_for_status().map_err(to_io)?;
        let page_url = resp.url().clone();
        let mut page = Vec::new();
        let mut body = resp.bytes_stream();
        while let Some(chunk) = body.next().await {
            page.extend_from_slice(&chunk.map_err(to_io)?);
            if page.len() > MAX_INDEX {
                return Err(io::Error::other(format!("{url}: not an index page")));
            }
        }
        let page = String::from_utf8_lossy(&page);
        let mut names = std::collections::BTreeMap::new();
        for href in hrefs(&page) {
            if let Some((name, dir)) = child_name(&page_url, &href) {
                names.entry(name).or_insert(dir);
            }
        }
        let heads = futures_util::stream::iter(names.into_iter().map(|(name, dir)| async move {
            if dir {
                return Ok(Some(folder(&name)));
            }
            let file = join_segment(url, &name, false)?;
            Ok(self.head(file).await?.map(|h| h.entry(&name)))
        }))
        .buffered(HEADS_AT_ONCE)
        .collect::<Vec<io::Result<Option<Entry>>>>()
        .await;
        let mut out = Vec::new();
        for e in heads {
            // A link whose file is gone (or never was one) is no entry.
            if let Some(e) = e? {
                out.push(e);
            }
        }
        Ok(out)
    }
}

/// `base` (a folder's URL) with one more segment, escaped; a folder's ends in `/`.
fn join_segment(base: &Url, segment: &str, dir: bool) -> io::Result<Url> {
    if segment == "." || segment == ".." {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a URL cannot name a `.` or `..` segment",
        ));
    }
    let mut rel = utf8_percent_encode(segment, SEGMENT).to_string();
    if dir {
        rel.push('/');
    }
    base.join(&rel)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))
}

/// What a `HEAD` answer says of a file.
struct Head {
    fingerprint: Fingerprint,
}

impl Head {
    fn of(resp: &Response) -> io::Result<Head> {
        let header = |name: reqwest::header::HeaderName| {
            resp.headers().get(name).and_then(|v| v.to_str().ok())
        };
        let size = header(reqwest::header::CONTENT_LENGTH)
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| io::Error::other(format!("{}: the server gives no size", resp.url())))?;
        let mtime_ns = header(reqwest::header::LAST_MODIFIED)
            .and_then(|v| httpdate::parse_http_date(v).ok())
            .map_or(0, ns_from_time);
        // Kept in the index: a hash whose algorithm never changes.
        let id = header(reqwest::header::ETAG).map_or(0, |etag| {
            let h = blake3::hash(etag.trim_start_matches("W/").trim_matches('"').as_bytes());
            let mut first = [0u8; 8];
            first.copy_from_slice(&h.as_bytes()[..8]);
            u64::from_le_bytes(first)
        });
        Ok(Head {
            fingerprint: Fingerprint { size, mtime_ns, id },
        })
    }

    fn entry(&self, name: &str) -> Entry {
        Entry {
            name: name.to_string(),
            is_dir: false,
            fingerprint: self.fingerprint,
            created: self.fingerprint.modified(),
        }
    }
}

fn folder(name: &str) -> Entry {
    Entry {
        name: name.to_string(),
        is_dir: true,
        fingerprint: Fingerprint {
            size: 0,
            mtime_ns: 0,
            id: 0,
        },
        created: std::time::SystemTime::UNIX_EPOCH,
    }
}

/// The `href` of every `<a>` tag of an HTML page, entities decoded.
fn hrefs(page: &str) -> Vec<String> {
    // ASCII lower-casing keeps every byte offset.
    let lower = page.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(found) = lower[at..].find("<a") {
        let start = at + found + 2;
        let end = lower[start..].find('>').map_or(lower.len(), |e| start + e);
        at = end;
        let tag = &lower[start..end];
        if !tag.starts_with(|c: char| c.is_ascii_whitespace()) {
            continue; // <abbr>, <address>, …
        }
        if let Some(v) = attribute(tag, &page[start..end], "href") {
            out.push(decode_entities(v));
        }
    }
    out
}

/// The value of attribute `name` in a tag's text (`lower` is the same text lower-cased).
fn attribute<'a>(lower: &str, tag: &'a str, name: &str) -> Option<&'a str> {
    let mut from = 0;
    while let Some(found) = lower[from..].find(name) {
        let at = from + found;
        from = at + name.len();
        let before_ok = lower[..at].ends_with(|c: char| c.is_ascii_whitespace());
        let rest = lower[from..].trim_start();
        if !before_ok || !rest.starts_with('=') {
            continue;
        }
        let value_at = lower.len() - rest[1..].trim_start().len();
        let value = &tag[value_at..];
        return Some(match value.chars().next() {
            Some(q @ ('"' | '\'')) => {
                let inner = &value[1..];
                &inner[..inner.find(q).unwrap_or(inner.len())]
            }
            _ => {
                &value[..value
                    .find(|c: char| c.is_ascii_whitespace())
                    .unwrap_or(value.len())]
            }
        });
    }
    None
}

/// HTML's character references in an attribute value: the named ones index pages use, and
/// numeric ones.
fn decode_entities(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut rest = v;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let Some(semi) = rest.find(';').filter(|&s| s <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let name = &rest[1..semi];
        let c = match name {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => name
                .strip_prefix("#x")
                .or_else(|| name.strip_prefix("#X"))
                .map(|h| u32::from_str_radix(h, 16))
                .or_else(|| name.strip_prefix('#').map(str::parse))
                .and_then(Result::ok)
                .and_then(char::from_u32),
        };
        match c {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The name a link on the index page at `page` gives an entry directly below it, and whether it
/// is a folder; `None` for links elsewhere, up, to the page itself, or with a query.
fn child_name(page: &Url, href: &str) -> Option<(String, bool)> {
    let u = page.join(href).ok()?;
    if u.scheme() != page.scheme()
        || u.host_str() != page.host_str()
        || u.port_or_known_default() != page.port_or_known_default()
        || u.query().is_some()
    {
        return None;
    }
    let rest = u.path().strip_prefix(page.path())?;
    let (segment, dir) = match rest.strip_suffix('/') {
        Some(s) => (s, true),
        None => (rest, false),
    };
    if segment.is_empty() || segment.contains('/') {
        return None;
    }
    let name = percent_decode_str(segment).decode_utf8().ok()?.into_owned();
    if name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return None;
    }
    Some((name, dir))
}

#[async_trait]
impl Remote for HttpRemote {
    async fn stat(&self, path: &str) -> io::Result<Option<Entry>> {
        let name = path.rsplit('/').next().unwrap_or(path);
        if path.trim_matches('/').is_empty() {
            return Ok(Some(folder(name)));
        }
        if let Some(h) = self.head(self.url(path, false)?).await? {
            return Ok(Some(h.entry(name)));
        }
        let resp = self
            .client
            .head(self.url(path, true)?)
            .send()
            .await
            .map_err(to_io)?;
        Ok(resp.status().is_success().then(|| folder(name)))
    }

    async fn open(&self, path: &str) -> io::Result<Option<Box<dyn Reader>>> {
        let url = self.url(path, false)?;
        Ok(self.head(url.clone()).await?.map(|h| {
            Box::new(HttpReader {
                client: self.client.clone(),
                url,
                fingerprint: h.fingerprint,
            }) as Box<dyn Reader>
        }))
    }

    async fn list_dir(&self, path: &str) -> io::Result<Vec<Entry>> {
        let url = self.url(path, true)?;
        self.index(&url).await
    }

    async fn create(&self, _dest: &str) -> io::Result<Box<dyn Upload>> {
        Err(read_only())
    }

    async fn write_at(
        &self,
        _path: &str,
        _offset: u64,
        _max_len: u64,
        _keep: KeepAlive,
    ) -> io::Result<Option<Box<dyn Upload>>> {
        Err(read_only())
    }

    async fn concat(&self, _dest: &str, _srcs: &[Source]) -> io::Result<Box<dyn Upload>> {
        Err(read_only())
    }

    async fn delete(&self, _path: &str, _pinned: Option<Fingerprint>) -> io::Result<bool> {
        Err(read_only())
    }

    async fn rename(
        &self,
        _from: &str,
        _to: &str,
        _pinned: Option<Fingerprint>,
        _replace: bool,
    ) -> io::Result<Option<Fingerprint>> {
        Err(read_only())
    }

    async fn mkdir(&self, _path: &str) -> io::Result<bool> {
        Err(read_only())
    }

    async fn rmdir(&self, _path: &str) -> io::Result<()> {
        Err(read_only())
    }

    async fn rmdir_tree(&self, _path: &str) -> io::Result<()> {
        Err(read_only())
    }

    async fn delete_tree(&self, _path: &str) -> io::Result<()> {
        Err(read_only())
    }
}

#[derive(Clone)]
struct HttpReader {
    client: Client,
    url: Url,
    fingerprint: Fingerprint,
}

impl HttpReader {
    async fn open_stream(self, offset: u64, len: u64) -> io::Result<ByteStream> {
        if len == 0 {
            return Ok(Box::pin(futures_util::stream::empty()));
        }
        let resp = self
            .client
            .get(self.url.clone())
            .header(
                reqwest::header::RANGE,
                format!("bytes={offset}-{}", offset + len - 1),
            )
            .send()
            .await
            .map_err(to_io)?
            .error_for_status()
            .map_err(to_io)?;
        let stale = || io::Error::from_raw_os_error(libc::ESTALE);
        // The file must still be the size it was opened at: else it was replaced meanwhile.
        let skip = match resp.status() {
            StatusCode::PARTIAL_CONTENT => {
                let total = resp
                    .headers()
                    .get(reqwest::header::CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.rsplit('/').next())
                    .and_then(|t| t.parse::<u64>().ok());
                if total != Some(self.fingerprint.size) {
                    return Err(stale());
                }
                0
            }
            // A server that does not serve ranges sends the whole file: what precedes the
            // range is read and dropped.
            _ => {
                if resp.content_length() != Some(self.fingerprint.size) {
                    return Err(stale());
                }
                offset
            }
        };
        let body: ByteStream = Box::pin(resp.bytes_stream().map_err(to_io));
        Ok(Box::pin(futures_util::stream::try_unfold(
            (body, skip, len),
            |(mut body, mut skip, mut left)| async move {
                while left > 0 {
                    let Some(mut chunk) = body.next().await.transpose()? else {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the file on the web server ended early",
                        ));
                    };
                    let dropped = skip.min(chunk.len() as u64) as usize;
                    skip -= dropped as u64;
                    let _ = chunk.split_to(dropped);
                    chunk.truncate(left.min(chunk.len() as u64) as usize);
                    if chunk.is_empty() {
                        continue;
                    }
                    left -= chunk.len() as u64;
                    return Ok(Some((chunk, (body, skip, left))));
                }
                Ok(None)
            },
        )))
    }
}

impl Reader for HttpReader {
    fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    fn clone_box(&self) -> Box<dyn Reader> {
        Box::new(self.clone())
    }

    fn stream(self: Box<Self>, offset: u64, len: u64) -> ByteStream {
        Box::pin(futures_util::stream::once(self.open_stream(offset, len)).try_flatten())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Index pages as Apache, nginx and rclone write them: the entries are the links directly
    /// below the page, names unescaped; sort links, the parent and other sites are not.
    #[test]
    fn index_pages_list_the_links_below_them() {
        let page = Url::parse("http://h:8080/files/docs/").unwrap();
        let html = r##"<html><head><title>Index of /files/docs</title></head><body>
            <a href="?C=N;O=D">Name</a> <A HREF='?C=M;O=A'>Last modified</A>
            <a href="/files/">Parent Directory</a> <a href="../">..</a>
            <a class="file" href="a.txt">a.txt</a>
            <a href = "sub/" >sub/</a>
            <a href=plain.bin>plain.bin</a>
            <a href="odd%20name%20%26%20%C3%BC.txt">odd name &amp; ü.txt</a>
            <a href="x&amp;y.txt">x&amp;y.txt</a>
            <a href="/files/docs/abs.txt">abs.txt</a>
            <a href="http://h:8080/files/docs/full.txt">full.txt</a>
            <a href="http://elsewhere/files/docs/no.txt">no</a>
            <a href="deep/er.txt">deeper</a> <abbr href="not-a-link">x</abbr>
            <a name="anchor">no href</a> <a href="#top">top</a>
        </body></html>"##;
        let mut got: Vec<(String, bool)> = hrefs(html)
            .iter()
            .filter_map(|h| child_name(&page, h))
            .collect();
        got.sort();
        let want = [
            ("a.txt", false),
            ("abs.txt", false),
            ("full.txt", false),
            ("odd name & ü.txt", false),
            ("plain.bin", false),
            ("sub", true),
            ("x&y.txt", false),
        ];
        assert_eq!(
            got,
            want.map(|(n, d)| (n.to_string(), d)).to_vec(),
            "{:?}",
            hrefs(html)
        );
        assert_eq!(
            decode_entities("a&#38;b&#x26;c&unknown;&"),
            "a&b&c&unknown;&"
        );
    }

    #[test]
    fn paths_become_escaped_urls_below_the_served_one() {
        let opts = |url: &str| vec![("url".to_string(), url.to_string())];
        let r = HttpRemote::new(opts("https://h/base"), "served dir").unwrap();
        assert_eq!(r.base.as_str(), "https://h/base/served%20dir/");
        assert_eq!(
            r.url("b/k?#.txt", false).unwrap().as_str(),
            "https://h/base/served%20dir/b/k%3F%23.txt"
        );
        assert_eq!(
            r.url("b/d", true).unwrap().as_str(),
            "https://h/base/served%20dir/b/d/"
        );
        assert!(r.url("b/../x", false).is_err());
        for (k, v) in [
            ("url", "ftp://h/"),
            ("headers", "A,b,C"),
            ("no_head", "true"),
        ] {
            let mut o = opts("http://h/");
            o.retain(|(name, _)| name != k);
            o.push((k.to_string(), v.to_string()));
            let e = HttpRemote::new(o, "").err().unwrap().to_string();
            assert!(e.contains(&format!("{k:?}")), "{e}");
        }
        let mut o = opts("http://h/");
        o.push(("headers".into(), "Authorization,Bearer x,X-A,1".into()));
        assert!(HttpRemote::new(o, "").is_ok());
    }
}
