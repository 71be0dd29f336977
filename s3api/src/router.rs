//! From method + host + path + query to one S3 operation. Anything this server does not do is
//! answered `NotImplemented` here, before any handler can touch data.

use actix_web::http::Method;
use percent_encoding::percent_decode;

use crate::error::{S3Error, S3Result};

/// Declares [`Op`] and its names (as S3's API reference spells the operations).
macro_rules! ops {
    ($($name:ident),* $(,)?) => {
        /// The operations this server answers.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum Op {
            $($name),*
        }

        impl Op {
            pub(crate) fn name(self) -> &'static str {
                match self {
                    $(Op::$name => stringify!($name)),*
                }
            }
        }
    };
}

ops! {
    ListBuckets,
    CreateBucket,
    DeleteBucket,
    HeadBucket,
    GetBucketLocation,
    GetBucketAcl,
    GetBucketVersioning,
    ListObjects,
    ListObjectsV2,
    ListObjectVersions,
    DeleteObjects,
    HeadObject,
    GetObject,
    GetObjectAcl,
    PutObject,
    CopyObject,
    DeleteObject,
    ListMultipartUploads,
    CreateMultipartUpload,
    UploadPart,
    UploadPartCopy,
    CompleteMultipartUpload,
    AbortMultipartUpload,
    ListParts,
}

#[derive(Debug)]
pub(crate) struct Route {
    pub(crate) op: Op,
    pub(crate) bucket: String,
    pub(crate) key: String,
    /// The bucket came from the Host header.
    pub(crate) virtual_host: bool,
}

/// The most entries a listing page holds, as in S3.
const MAX_PAGE: usize = 1000;

/// Decoded query pairs, in the order received.
#[derive(Debug, Default)]
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    /// Form-style decoding: `%XX` escapes, and `+` for a space.
    pub(crate) fn parse(raw: &str) -> S3Result<Query> {
        let mut pairs = Vec::new();
        for part in raw.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            pairs.push((form_decode(k)?, form_decode(v)?));
        }
        Ok(Query(pairs))
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// `uploadId`, empty when absent (the VFS then finds no such upload).
    pub(crate) fn upload_id(&self) -> &str {
        self.get("uploadId").unwrap_or_default()
    }

    /// `partNumber` of an upload: 1 to 10000.
    pub(crate) fn part_number(&self) -> S3Result<u32> {
        self.get("partNumber")
            .and_then(|n| n.parse::<u32>().ok())
            .filter(|n| (1..=s3gate_vfs::MAX_PART_NUMBER).contains(n))
            .ok_or_else(|| {
                S3Error::invalid_argument(
                    "Part number must be an integer between 1 and 10000, inclusive",
                )
            })
    }

    /// A page size (`max-keys`, `max-uploads`, `max-parts`): 1000 when absent, clamped to 1000.
    pub(crate) fn max(&self, name: &str) -> S3Result<usize> {
        match self.get(name) {
            None => Ok(MAX_PAGE),
            Some(v) => Ok(v
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| {
                    S3Error::invalid_argument(format!("{name} must be a non-negative integer"))
                })?
                .min(MAX_PAGE as i64) as usize),
        }
    }

    /// The first name that is a sub-resource (`tagging`, `uploads`) rather than a parameter.
    pub(crate) fn sub_resource(&self) -> Option<&str> {
        self.pairs().map(|(k, _)| k).find(|k| !is_parameter(k))
    }
}

fn form_decode(s: &str) -> S3Result<String> {
    let plus = s.replace('+', " ");
    percent_decode(plus.as_bytes())
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| S3Error::invalid_argument("query string is not valid UTF-8"))
}

/// Decodes a path exactly once. `+` is a plus sign in a path.
pub(crate) fn path_decode(s: &str) -> S3Result<String> {
    percent_decode(s.as_bytes())
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| S3Error::invalid_argument("the object key is not valid UTF-8"))
}

/// Query parameters that qualify an operation instead of naming a sub-resource.
fn is_parameter(name: &str) -> bool {
    matches!(
        name,
        "prefix"
            | "delimiter"
            | "marker"
            | "max-keys"
            | "list-type"
            | "continuation-token"
            | "start-after"
            | "fetch-owner"
            | "encoding-type"
            | "key-marker"
            | "version-id-marker"
            | "versionId"
            | "x-id"
            | "uploadId"
            | "partNumber"
            | "max-parts"
            | "part-number-marker"
            | "max-uploads"
            | "upload-id-marker"
            | "AWSAccessKeyId"
            | "Signature"
            | "Expires"
    ) || name.starts_with("response-")
        || name.starts_with("X-Amz-")
        || name.starts_with("x-amz-")
}

/// Splits the request into bucket and key (path style, or virtual-hosted when enabled and the
/// host names a bucket), then picks the operation.
pub(crate) fn route(
    method: &Method,
    host: Option<&str>,
    raw_path: &str,
    query: &Query,
    has_copy_source: bool,
    vhost_domains: &[String],
) -> S3Result<Route> {
    let path = raw_path.strip_prefix('/').unwrap_or(raw_path);
    // Host names are case-insensitive, and bucket names are lower case: `BKT.S3.LOCAL` is
    // bucket `bkt`.
    let host = host.map(str::to_ascii_lowercase);
    let vhost_bucket = host.as_deref().and_then(|h| {
        let h = h.rsplit_once(':').map_or(h, |(name, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                name
            } else {
                h
            }
        });
        vhost_domains.iter().find_map(|d| {
            h.strip_suffix(d.to_ascii_lowercase().as_str())
                .and_then(|b| b.strip_suffix('.'))
                .filter(|b| !b.is_empty())
        })
    });
    let (bucket, raw_key) = match vhost_bucket {
        Some(b) => (b.to_string(), path),
        None => {
            let (b, k) = path.split_once('/').unwrap_or((path, ""));
            (path_decode(b)?, k)
        }
    };
    // An encoded slash cannot smuggle a second path segment into a bucket name.
    if bucket.contains('/') {
        return Err(S3Error::invalid_bucket_name(format!(
            "The specified bucket is not valid: {bucket:?}"
        )));
    }
    let key = path_decode(raw_key)?;
    let sub = query.sub_resource();
    let unsupported = |what: &str| {
        Err(S3Error::not_implemented(format!(
            "{method} {what} is not implemented by this server"
        )))
    };
    let op = if bucket.is_empty() {
        match *method {
            Method::GET | Method::HEAD if sub.is_none() => Op::ListBuckets,
            Method::GET | Method::HEAD => return unsupported(&format!("?{}", sub.unwrap_or(""))),
            _ => {
                return Err(S3Error::method_not_allowed(
                    "The specified method is not allowed against this resource.",
                ))
            }
        }
    } else if key.is_empty() {
        match (method.as_str(), sub) {
            ("GET", None) if query.get("list-type") == Some("2") => Op::ListObjectsV2,
            ("GET", None) => Op::ListObjects,
            ("GET", Some("location")) => Op::GetBucketLocation,
            ("GET", Some("acl")) => Op::GetBucketAcl,
            ("GET", Some("versioning")) => Op::GetBucketVersioning,
            ("GET", Some("versions")) => Op::ListObjectVersions,
            ("GET", Some("uploads")) => Op::ListMultipartUploads,
            ("HEAD", None) => Op::HeadBucket,
            ("PUT", None) => Op::CreateBucket,
            ("DELETE", None) => Op::DeleteBucket,
            ("POST", Some("delete")) => Op::DeleteObjects,
            ("GET" | "HEAD" | "PUT" | "DELETE" | "POST", Some(s)) => {
                return unsupported(&format!("bucket ?{s}"))
            }
            _ => {
                return Err(S3Error::method_not_allowed(
                    "The specified method is not allowed against this resource.",
                ))
            }
        }
    } else {
        let upload = query.get("uploadId").is_some();
        let part = query.get("partNumber").is_some();
        match (method.as_str(), sub) {
            ("POST", Some("uploads")) => Op::CreateMultipartUpload,
            ("POST", None) if upload => Op::CompleteMultipartUpload,
            ("PUT", None) if upload && part && has_copy_source => Op::UploadPartCopy,
            ("PUT", None) if upload && part => Op::UploadPart,
            ("PUT", None) if upload || part => {
                return Err(S3Error::invalid_argument(
                    "uploadId and partNumber go together",
                ))
            }
            ("DELETE", None) if upload => Op::AbortMultipartUpload,
            ("GET", None) if upload => Op::ListParts,
            ("GET", None) => Op::GetObject,
            ("HEAD", None) => Op::HeadObject,
            ("GET", Some("acl")) => Op::GetObjectAcl,
            ("PUT", None) if has_copy_source => Op::CopyObject,
            ("PUT", None) => Op::PutObject,
            ("DELETE", None) => Op::DeleteObject,
            ("GET" | "HEAD" | "PUT" | "DELETE" | "POST", Some(s)) => {
                return unsupported(&format!("object ?{s}"))
            }
            ("POST", None) => return unsupported("object POST"),
            _ => {
                return Err(S3Error::method_not_allowed(
                    "The specified method is not allowed against this resource.",
                ))
            }
        }
    };
    Ok(Route {
        op,
        bucket,
        key,
        virtual_host: vhost_bucket.is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(method: Method, path: &str, query: &str) -> S3Result<Route> {
        route(
            &method,
            None,
            path,
            &Query::parse(query).unwrap(),
            false,
            &[],
        )
    }

    #[test]
    fn operations() {
        assert_eq!(r(Method::GET, "/", "").unwrap().op, Op::ListBuckets);
        assert_eq!(
            r(Method::GET, "/b/", "list-type=2&prefix=a").unwrap().op,
            Op::ListObjectsV2
        );
        assert_eq!(
            r(Method::GET, "/b", "location").unwrap().op,
            Op::GetBucketLocation
        );
        let put = r(Method::PUT, "/b/a%20b/c+d%2B", "").unwrap();
        assert_eq!(
            (put.op, put.bucket.as_str(), put.key.as_str()),
            (Op::PutObject, "b", "a b/c+d+")
        );
        assert_eq!(
            r(
                Method::GET,
                "/b/k",
                "response-content-type=x&x-id=GetObject"
            )
            .unwrap()
            .op,
            Op::GetObject
        );
    }

    #[test]
    fn sub_resources_never_reach_data_handlers() {
        for (m, q) in [
            (Method::PUT, "tagging"),
            (Method::PUT, "acl"),
            (Method::DELETE, "tagging"),
            (Method::PUT, "retention"),
            (Method::GET, "torrent"),
            (Method::PUT, "unknown-thing=1"),
            (Method::POST, "restore"),
        ] {
            let e = r(m.clone(), "/b/k", q).unwrap_err();
            assert_eq!(e.code, "NotImplemented", "{m} ?{q}");
        }
        for q in ["policy", "cors", "versioning", "lifecycle", "acl"] {
            assert_eq!(r(Method::PUT, "/b", q).unwrap_err().code, "NotImplemented");
        }
        assert_eq!(
            r(Method::PATCH, "/b/k", "").unwrap_err().code,
            "MethodNotAllowed"
        );
    }

    #[test]
    fn virtual_hosts() {
        let q = Query::default();
        let d = vec!["s3.local".to_string()];
        let v = route(
            &Method::GET,
            Some("bkt.s3.local:8080"),
            "/a/b",
            &q,
            false,
            &d,
        )
        .unwrap();
        assert_eq!((v.bucket.as_str(), v.key.as_str()), ("bkt", "a/b"));
        let p = route(&Method::GET, Some("s3.local:8080"), "/bkt/a", &q, false, &d).unwrap();
        assert_eq!((p.bucket.as_str(), p.key.as_str()), ("bkt", "a"));
        let upper = route(&Method::GET, Some("BKT.S3.Local"), "/a", &q, false, &d).unwrap();
        assert_eq!((upper.bucket.as_str(), upper.virtual_host), ("bkt", true));
    }

    /// Found by the router fuzz target: `%2F` decoded into a bucket name.
    #[test]
    fn an_encoded_slash_in_the_bucket_is_an_invalid_bucket_name() {
        let q = Query::parse("").unwrap();
        let err = route(&Method::GET, None, "/a%2Fb/key", &q, false, &[]).unwrap_err();
        assert_eq!(err.code, "InvalidBucketName");
        let err = route(&Method::GET, None, "/a%2f", &q, false, &[]).unwrap_err();
        assert_eq!(err.code, "InvalidBucketName");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 5000, failure_persistence: None, ..Default::default() })]

        /// Any path, query and host: a route or an S3 error, never a panic; a routed key never
        /// holds a dot segment or escapes its bucket.
        #[test]
        fn the_router_survives_any_request(
            method in proptest::sample::select(vec!["GET", "PUT", "POST", "DELETE", "HEAD", "PATCH"]),
            path in "/[a-z0-9./%?&=_+-]{0,40}",
            query in "[a-zA-Z0-9%&=._-]{0,40}",
            host in proptest::option::of("[a-z0-9.:-]{0,30}"),
        ) {
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            if let Ok(q) = Query::parse(&query) {
                let domains = vec!["s3.test".to_string()];
                if let Ok(r) = route(&method, host.as_deref(), &path, &q, false, &domains) {
                    proptest::prop_assert!(!r.bucket.contains('/'), "{r:?}");
                }
            }
        }
    }
}
