//! ListObjectsV2 and ListObjectVersions without the SDK's response parsing: each request is
//! signed with SigV4 (the SDK's own signer) and sent over one keep-alive connection, and of each
//! page only the entry count and where the next page starts are read. The SDK spends about 4.5 ms building the typed
//! result of a 1000-key page, more than a fast server takes to answer it, so its listings
//! measure the client; these measure the server.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::Result;

/// What SigV4 leaves unencoded in a query value.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

pub(crate) struct Lister {
    client: Client<HttpConnector, Empty<Bytes>>,
    endpoint: String,
    region: String,
    identity: Identity,
}

/// One page: its entries (keys, versions, delete markers and common prefixes), its common
/// prefixes, and where the next one starts (a continuation token; or a key marker and a
/// version-id marker).
struct Page {
    entries: u64,
    prefixes: Vec<String>,
    next: Option<Vec<(&'static str, String)>>,
}

/// What one listing to its end saw.
pub(crate) struct Listing {
    pub(crate) pages: u64,
    pub(crate) entries: u64,
    /// Its common prefixes, in order.
    pub(crate) prefixes: Vec<String>,
}

/// Which listing a [`Lister`] pages through.
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    Objects,
    Versions,
}

impl Lister {
    /// A lister of a plain-HTTP endpoint (what the benchmarks run against).
    pub(crate) fn new(
        endpoint: &str,
        region: &str,
        access_key: &str,
        secret_key: &str,
    ) -> Result<Self> {
        if !endpoint.starts_with("http://") {
            return Err(format!(
                "--light lists over plain HTTP only, not {endpoint}"
            ));
        }
        Ok(Lister {
            client: Client::builder(TokioExecutor::new()).build_http(),
            endpoint: endpoint.trim_end_matches('/').to_string(),
            region: region.to_string(),
            identity: Credentials::new(access_key, secret_key, None, None, "s3bench").into(),
        })
    }

    /// Lists `prefix` to the end.
    pub(crate) async fn listing(
        &self,
        kind: Kind,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        max_keys: i32,
    ) -> Result<Listing> {
        let (mut pages, mut entries, mut prefixes) = (0, 0, Vec::new());
        let mut next = Vec::new();
        loop {
            let mut params = vec![
                ("max-keys", max_keys.to_string()),
                ("prefix", prefix.to_string()),
            ];
            params.push(match kind {
                Kind::Objects => ("list-type", "2".to_string()),
                Kind::Versions => ("versions", String::new()),
            });
            if let Some(d) = delimiter {
                params.push(("delimiter", d.to_string()));
            }
            params.append(&mut next);
            // Sorted, as SigV4's canonical query is: the URI is then already canonical.
            params.sort();
            let query: Vec<String> = params
                .iter()
                .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, QUERY_VALUE)))
                .collect();
            let uri = format!("{}/{bucket}?{}", self.endpoint, query.join("&"));
            let page = self.page(kind, &uri).await?;
            pages += 1;
            entries += page.entries;
            prefixes.extend(page.prefixes);
            match page.next {
                Some(markers) => next = markers,
                None => {
                    return Ok(Listing {
                        pages,
                        entries,
                        prefixes,
                    })
                }
            }
        }
    }

    async fn page(&self, kind: Kind, uri: &str) -> Result<Page> {
        let op = match kind {
            Kind::Objects => "ListObjectsV2",
            Kind::Versions => "ListObjectVersions",
        };
        let mut req = http::Request::get(uri)
            .body(Empty::<Bytes>::new())
            .map_err(|e| format!("{op} {uri}: {e}"))?;
        // As S3 signs: the path encoded once and not normalised.
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        let params = v4::SigningParams::builder()
            .identity(&self.identity)
            .region(&self.region)
            .name("s3")
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|e| format!("signing: {e}"))?
            .into();
        let signable =
            SignableRequest::new("GET", uri, std::iter::empty(), SignableBody::Bytes(&[]))
                .map_err(|e| format!("signing: {e}"))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| format!("signing: {e}"))?
            .into_parts();
        instructions.apply_to_request_http1x(&mut req);
        let resp = self
            .client
            .request(req)
            .await
            .map_err(|e| format!("{op} {uri}: {e}"))?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("{op} {uri}: reading the body: {e}"))?
            .to_bytes();
        let text = std::str::from_utf8(&body).map_err(|_| "a page that is not UTF-8")?;
        if !status.is_success() {
            return Err(format!("{op} {uri}: {status}: {text}"));
        }
        let entries = match kind {
            Kind::Objects => element(text, "KeyCount")
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| format!("a page without KeyCount: {text:.200}"))?,
            Kind::Versions => ["<Version>", "<DeleteMarker>", "<CommonPrefixes>"]
                .iter()
                .map(|tag| text.matches(tag).count() as u64)
                .sum(),
        };
        let marker = |tag: &str| {
            element(text, tag)
                .map(unescape)
                .ok_or_else(|| format!("a truncated page without {tag}"))
        };
        let next = match element(text, "IsTruncated") {
            Some("true") => Some(match kind {
                Kind::Objects => vec![("continuation-token", marker("NextContinuationToken")?)],
                Kind::Versions => vec![
                    ("key-marker", marker("NextKeyMarker")?),
                    ("version-id-marker", marker("NextVersionIdMarker")?),
                ],
            }),
            _ => None,
        };
        let prefixes = text
            .split("<CommonPrefixes>")
            .skip(1)
            .filter_map(|p| element(p, "Prefix"))
            .map(unescape)
            .collect();
        Ok(Page {
            entries,
            prefixes,
            next,
        })
    }
}

/// The text of the first `<tag>` element, found by a search instead of a parse: a key holding
/// such a tag is escaped in the page and cannot match.
fn element<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let len = xml[start..].find('<')?;
    Some(&xml[start..start + len])
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}
