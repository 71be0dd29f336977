//! From method + host + path + query to one S3 operation. Anything this server does not do is
//! answered `NotImplemented` here, before any handler can touch data.

use actix_web::http::header::HeaderMap;
use actix_web::http::Method;
use percent_encoding::percent_decode;

use crate::error::{S3Error, S3Result};

/// Declares [`Op`], its names (as S3's API reference spells the operations) and what each
/// asks of the caller's rights; then [`Sub`], every sub-resource of that reference. The router
/// tells a sub-resource from a parameter by this list alone: a query name it holds picks an
/// operation (or `NotImplemented`), any other qualifies one or is ignored, as S3 ignores query
/// names it does not know.
macro_rules! ops {
    (
        $($name:ident $({ $($field:ident: $ty:ty),* $(,)? })? => $access:ident),* $(,)?
        ;
        $($sub:ident = $query:literal),* $(,)?
    ) => {
        /// The operations this server answers, each with the parameters the router parsed.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub(crate) enum Op {
            $($name $({ $($field: $ty),* })?),*
        }

        impl Op {
            pub(crate) fn name(&self) -> &'static str {
                match self {
                    $(Op::$name { .. } => stringify!($name)),*
                }
            }

            /// What the operation does to the resource it names, for permission checks.
            pub(crate) fn access(&self) -> Access {
                match self {
                    $(Op::$name { .. } => Access::$access),*
                }
            }
        }

        /// A sub-resource: the query name that, with the method, names an S3 operation on a
        /// bucket or an object (`?tagging`, `?uploads`), implemented here or not.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum Sub {
            $($sub),*
        }

        impl Sub {
            /// Query names are case-sensitive in S3: `?ACL` is no sub-resource.
            fn parse(name: &str) -> Option<Sub> {
                match name {
                    $($query => Some(Sub::$sub),)*
                    _ => None,
                }
            }

            pub(crate) fn as_str(self) -> &'static str {
                match self {
                    $(Sub::$sub => $query),*
                }
            }
        }
    };
}

/// The right an operation needs: to read data, to write data, or to read or change the
/// resource's permissions and configuration (which only its owner may).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Read,
    Write,
    Owner,
}

ops! {
    ListBuckets {
        prefix: Option<String>,
        continuation_token: Option<String>,
        // None: none of its parameters was sent, and every bucket is listed at once.
        max_buckets: Option<usize>,
        bucket_region: Option<String>,
    } => Read,
    CreateBucket => Write,
    DeleteBucket => Write,
    HeadBucket => Read,
    GetBucketLocation => Read,
    GetBucketAcl => Owner,
    PutBucketAcl => Owner,
    PutBucketOwnershipControls => Owner,
    DeleteBucketOwnershipControls => Owner,
    GetBucketVersioning => Owner,
    PutBucketVersioning => Owner,
    PutBucketCors => Owner,
    GetBucketCors => Owner,
    DeleteBucketCors => Owner,
    PutBucketLifecycleConfiguration => Owner,
    GetBucketLifecycleConfiguration => Owner,
    DeleteBucketLifecycle => Owner,
    GetBucketPolicy => Owner,
    GetBucketOwnershipControls => Owner,
    GetBucketEncryption => Owner,
    GetBucketReplication => Owner,
    GetBucketWebsite => Owner,
    GetPublicAccessBlock => Owner,
    GetBucketLogging => Owner,
    GetBucketAccelerateConfiguration => Owner,
    GetBucketRequestPayment => Owner,
    GetBucketPolicyStatus => Owner,
    PutBucketPolicy => Owner,
    DeleteBucketPolicy => Owner,
    PutPublicAccessBlock => Owner,
    DeletePublicAccessBlock => Owner,
    ListObjects { list: ListParams, marker: Option<String> } => Read,
    ListObjectsV2 {
        list: ListParams,
        continuation_token: Option<String>,
        start_after: Option<String>,
        fetch_owner: bool,
    } => Read,
    ListObjectVersions {
        list: ListParams,
        key_marker: Option<String>,
        version_id_marker: Option<String>,
    } => Read,
    DeleteObjects => Write,
    HeadObject { version_id: Option<String>, part_number: Option<u32> } => Read,
    GetObject { version_id: Option<String>, part_number: Option<u32> } => Read,
    GetObjectAcl { version_id: Option<String> } => Owner,
    PutObjectAcl { version_id: Option<String> } => Owner,
    GetObjectAttributes {
        version_id: Option<String>,
        attributes: Attributes,
        max_parts: usize,
        part_number_marker: u32,
    } => Read,
    PutObject => Write,
    CopyObject { source: CopySource } => Write,
    DeleteObject { version_id: Option<String> } => Write,
    ListMultipartUploads {
        list: ListParams,
        key_marker: Option<String>,
        upload_id_marker: Option<String>,
    } => Read,
    CreateMultipartUpload => Write,
    UploadPart { upload_id: String, part_number: u32 } => Write,
    UploadPartCopy { upload_id: String, part_number: u32, source: CopySource } => Write,
    CompleteMultipartUpload { upload_id: String } => Write,
    AbortMultipartUpload { upload_id: String } => Write,
    ListParts { upload_id: String, max_parts: usize, part_number_marker: u32 } => Read,
    GetObjectTagging { version_id: Option<String> } => Read,
    PutObjectTagging { version_id: Option<String> } => Write,
    DeleteObjectTagging { version_id: Option<String> } => Write,
    GetBucketTagging => Owner,
    PutBucketTagging => Owner,
    DeleteBucketTagging => Owner,
    GetObjectLockConfiguration => Owner,
    PutObjectLockConfiguration => Owner,
    GetObjectRetention { version_id: Option<String> } => Read,
    PutObjectRetention { version_id: Option<String> } => Write,
    GetObjectLegalHold { version_id: Option<String> } => Read,
    PutObjectLegalHold { version_id: Option<String> } => Write,
    // Browsers send these without an S3 signature: they are answered before authentication.
    CorsPreflight => Read,
    PostObject => Write,
    ;
    // Every sub-resource of S3's API reference, served or not: one this server does not serve
    // answers NotImplemented, never the data operation its method would name without it.
    Abac = "abac",
    Accelerate = "accelerate",
    Acl = "acl",
    Analytics = "analytics",
    Attributes = "attributes",
    Cors = "cors",
    Delete = "delete",
    Encryption = "encryption",
    IntelligentTiering = "intelligent-tiering",
    Inventory = "inventory",
    LegalHold = "legal-hold",
    Lifecycle = "lifecycle",
    Location = "location",
    Logging = "logging",
    MetadataConfiguration = "metadataConfiguration",
    MetadataInventoryTable = "metadataInventoryTable",
    MetadataJournalTable = "metadataJournalTable",
    MetadataTable = "metadataTable",
    Metrics = "metrics",
    Notification = "notification",
    ObjectLock = "object-lock",
    OwnershipControls = "ownershipControls",
    Policy = "policy",
    PolicyStatus = "policyStatus",
    PublicAccessBlock = "publicAccessBlock",
    RenameObject = "renameObject",
    Replication = "replication",
    RequestPayment = "requestPayment",
    Restore = "restore",
    Retention = "retention",
    Select = "select",
    Session = "session",
    Tagging = "tagging",
    Torrent = "torrent",
    Uploads = "uploads",
    Versioning = "versioning",
    Versions = "versions",
    Website = "website",
}

impl Op {
    /// Whether the operation changes anything: data, or a resource's configuration. The
    /// owner's operations read or change configuration, and S3 names them `Get…`, or `Put…` and
    /// `Delete…`.
    pub(crate) fn changes(&self) -> bool {
        match self.access() {
            Access::Read => false,
            Access::Write => true,
            Access::Owner => !self.name().starts_with("Get"),
        }
    }

    /// The request carries no S3 signature by design: a CORS preflight, or a browser form
    /// upload whose policy document is signed instead of its head.
    pub(crate) fn unsigned(&self) -> bool {
        matches!(self, Op::CorsPreflight | Op::PostObject)
    }
}

/// The object a copy reads, from `x-amz-copy-source`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CopySource {
    pub(crate) bucket: String,
    pub(crate) key: String,
    /// The version named, checked where it is looked up.
    pub(crate) version_id: Option<String>,
}

impl CopySource {
    /// `[/]bucket/key[?versionId=...]`, URL-encoded.
    pub(crate) fn parse(value: &str) -> S3Result<CopySource> {
        let bad = || S3Error::invalid_argument("Invalid copy source: expected bucket/key");
        let (path, version) = match value.split_once('?') {
            Some((p, q)) => (p, q.strip_prefix("versionId=")),
            None => (value, None),
        };
        if version.is_some_and(str::is_empty) {
            return Err(S3Error::invalid_argument("Invalid version id specified"));
        }
        let decoded = path_decode(path)?;
        let decoded = decoded.strip_prefix('/').unwrap_or(&decoded);
        let (bucket, key) = decoded.split_once('/').ok_or_else(bad)?;
        if bucket.is_empty() || key.is_empty() {
            return Err(bad());
        }
        Ok(CopySource {
            bucket: bucket.to_string(),
            key: key.to_string(),
            version_id: version.map(str::to_string),
        })
    }
}

/// What GetObjectAttributes is asked for: the names of `x-amz-object-attributes`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Attributes {
    pub(crate) etag: bool,
    pub(crate) checksum: bool,
    pub(crate) object_parts: bool,
    pub(crate) storage_class: bool,
    pub(crate) object_size: bool,
}

impl Attributes {
    /// One or more names, in one header separated by commas (boto3) or in several headers (the
    /// Rust SDK); at least one, and each one S3 knows.
    fn parse(headers: &HeaderMap) -> S3Result<Attributes> {
        let unknown = || S3Error::invalid_argument("Invalid attribute name specified.");
        let mut a = Attributes::default();
        let mut any = false;
        for value in headers.get_all("x-amz-object-attributes") {
            let value = value.to_str().map_err(|_| unknown())?;
            for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                let flag = match name {
                    "ETag" => &mut a.etag,
                    "Checksum" => &mut a.checksum,
                    "ObjectParts" => &mut a.object_parts,
                    "StorageClass" => &mut a.storage_class,
                    "ObjectSize" => &mut a.object_size,
                    _ => return Err(unknown()),
                };
                *flag = true;
                any = true;
            }
        }
        if !any {
            return Err(S3Error::invalid_request(
                "The x-amz-object-attributes header specifying the attributes to be retrieved is either missing or empty",
            ));
        }
        Ok(a)
    }
}

/// What every listing of a bucket asks for (objects, versions, uploads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListParams {
    pub(crate) prefix: String,
    /// `None` for none or an empty one.
    pub(crate) delimiter: Option<String>,
    /// The page size, at most 1000.
    pub(crate) max: usize,
    /// `encoding-type=url`: names in the answer are URL-encoded.
    pub(crate) url: bool,
}

impl ListParams {
    /// `max_name` names the page size (`max-keys`, `max-uploads`).
    fn parse(query: &Query, max_name: &str) -> S3Result<ListParams> {
        let url = match query.get("encoding-type") {
            None => false,
            Some(v) if v.eq_ignore_ascii_case("url") => true,
            Some(_) => {
                return Err(S3Error::invalid_argument(
                    "Invalid Encoding Method specified in Request",
                ))
            }
        };
        Ok(ListParams {
            prefix: query.get("prefix").unwrap_or("").to_string(),
            delimiter: query.text("delimiter").filter(|d| !d.is_empty()),
            max: query.max(max_name)?,
            url,
        })
    }
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
/// The most buckets a ListBuckets page holds, and its page size when none is asked for.
const MAX_BUCKETS: usize = 10_000;

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

    fn text(&self, name: &str) -> Option<String> {
        self.get(name).map(str::to_string)
    }

    pub(crate) fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
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

    /// The first name that is a sub-resource (`tagging`, `uploads`): every other name is a
    /// parameter, read by the operation that knows it and ignored by the others.
    pub(crate) fn sub_resource(&self) -> Option<Sub> {
        self.pairs().find_map(|(k, _)| Sub::parse(k))
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

/// `partNumber`, when given: 1 to 10000.
fn part_number(query: &Query) -> S3Result<Option<u32>> {
    query
        .get("partNumber")
        .map(|n| {
            n.parse::<u32>()
                .ok()
                .filter(|n| (1..=s3gate_vfs::MAX_PART_NUMBER).contains(n))
                .ok_or_else(|| {
                    S3Error::invalid_argument(
                        "Part number must be an integer between 1 and 10000, inclusive",
                    )
                })
        })
        .transpose()
}

/// The page size of ListBuckets: `max-buckets` (1 to 10000), 10000 when only another of its
/// parameters was sent, and `None` when none was: S3 pages bucket listings only when asked to.
fn max_buckets(query: &Query) -> S3Result<Option<usize>> {
    let paged = [
        "max-buckets",
        "continuation-token",
        "prefix",
        "bucket-region",
    ]
    .iter()
    .any(|p| query.get(p).is_some());
    let Some(n) = query.get("max-buckets").filter(|n| !n.is_empty()) else {
        return Ok(paged.then_some(MAX_BUCKETS));
    };
    let n: i64 = n.parse().map_err(|_| {
        S3Error::invalid_argument("Provided max-buckets not an integer or within integer range")
    })?;
    match usize::try_from(n) {
        Ok(n) if (1..=MAX_BUCKETS).contains(&n) => Ok(Some(n)),
        _ => Err(S3Error::invalid_argument(format!(
            "Argument max-buckets must be an integer between 1 and {MAX_BUCKETS}"
        ))),
    }
}

/// The page of parts GetObjectAttributes asks for, in headers: `x-amz-max-parts` (1000 when
/// absent, clamped to 1000) and `x-amz-part-number-marker` (0 when absent).
fn attribute_parts(headers: &HeaderMap) -> S3Result<(usize, u32)> {
    let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap_or("").trim());
    let max = match header("x-amz-max-parts") {
        None => MAX_PAGE,
        Some(v) => v
            .parse::<u64>()
            .map_err(|_| {
                S3Error::invalid_argument("x-amz-max-parts must be a non-negative integer")
            })?
            .min(MAX_PAGE as u64) as usize,
    };
    let marker = match header("x-amz-part-number-marker") {
        None | Some("") => 0,
        Some(v) => v.parse().map_err(|_| {
            S3Error::invalid_argument("x-amz-part-number-marker must be a non-negative integer")
        })?,
    };
    Ok((max, marker))
}

/// `part-number-marker` of a parts listing: 0 when absent or empty.
fn part_number_marker(query: &Query) -> S3Result<u32> {
    match query.get("part-number-marker") {
        None | Some("") => Ok(0),
        Some(m) => m
            .parse()
            .map_err(|_| S3Error::invalid_argument("part-number-marker must be an integer")),
    }
}

/// Splits the request into bucket and key (path style, or virtual-hosted when enabled and the
/// host names a bucket), then picks the operation from the method, the query and the headers
/// that change it (`x-amz-copy-source`, a form's `Content-Type`), parsing its parameters.
pub(crate) fn route(
    method: &Method,
    host: Option<&str>,
    raw_path: &str,
    query: &Query,
    headers: &HeaderMap,
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
    // A non-text copy source is no source: refused as malformed.
    let copy_source = headers
        .get("x-amz-copy-source")
        .map(|v| v.to_str().unwrap_or(""));
    let form = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| {
            t.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        });
    let op = if *method == Method::OPTIONS {
        Op::CorsPreflight
    } else if bucket.is_empty() {
        match *method {
            Method::GET | Method::HEAD if sub.is_none() => Op::ListBuckets {
                prefix: query.text("prefix"),
                continuation_token: query.text("continuation-token").filter(|t| !t.is_empty()),
                max_buckets: max_buckets(query)?,
                bucket_region: query.text("bucket-region"),
            },
            Method::GET | Method::HEAD => {
                return unsupported(&format!("?{}", sub.map_or("", Sub::as_str)))
            }
            _ => {
                return Err(S3Error::method_not_allowed(
                    "The specified method is not allowed against this resource.",
                ))
            }
        }
    } else if key.is_empty() {
        match (method.as_str(), sub) {
            ("GET", None) if query.get("list-type") == Some("2") => Op::ListObjectsV2 {
                list: ListParams::parse(query, "max-keys")?,
                continuation_token: query.text("continuation-token"),
                start_after: query.text("start-after"),
                fetch_owner: query.get("fetch-owner") == Some("true"),
            },
            ("GET", None) => Op::ListObjects {
                list: ListParams::parse(query, "max-keys")?,
                marker: query.text("marker"),
            },
            ("GET", Some(Sub::Location)) => Op::GetBucketLocation,
            ("GET", Some(Sub::Acl)) => Op::GetBucketAcl,
            ("PUT", Some(Sub::Acl)) => Op::PutBucketAcl,
            ("PUT", Some(Sub::OwnershipControls)) => Op::PutBucketOwnershipControls,
            ("DELETE", Some(Sub::OwnershipControls)) => Op::DeleteBucketOwnershipControls,
            ("GET", Some(Sub::Versioning)) => Op::GetBucketVersioning,
            ("PUT", Some(Sub::Versioning)) => Op::PutBucketVersioning,
            ("PUT", Some(Sub::Cors)) => Op::PutBucketCors,
            ("GET", Some(Sub::Cors)) => Op::GetBucketCors,
            ("DELETE", Some(Sub::Cors)) => Op::DeleteBucketCors,
            ("PUT", Some(Sub::Lifecycle)) => Op::PutBucketLifecycleConfiguration,
            ("GET", Some(Sub::Lifecycle)) => Op::GetBucketLifecycleConfiguration,
            ("DELETE", Some(Sub::Lifecycle)) => Op::DeleteBucketLifecycle,
            ("GET", Some(Sub::ObjectLock)) => Op::GetObjectLockConfiguration,
            ("PUT", Some(Sub::ObjectLock)) => Op::PutObjectLockConfiguration,
            ("GET", Some(Sub::Policy)) => Op::GetBucketPolicy,
            ("GET", Some(Sub::OwnershipControls)) => Op::GetBucketOwnershipControls,
            ("GET", Some(Sub::Encryption)) => Op::GetBucketEncryption,
            ("GET", Some(Sub::Replication)) => Op::GetBucketReplication,
            ("GET", Some(Sub::Website)) => Op::GetBucketWebsite,
            ("GET", Some(Sub::PublicAccessBlock)) => Op::GetPublicAccessBlock,
            ("GET", Some(Sub::Logging)) => Op::GetBucketLogging,
            ("GET", Some(Sub::Accelerate)) => Op::GetBucketAccelerateConfiguration,
            ("GET", Some(Sub::RequestPayment)) => Op::GetBucketRequestPayment,
            ("GET", Some(Sub::PolicyStatus)) => Op::GetBucketPolicyStatus,
            ("PUT", Some(Sub::Policy)) => Op::PutBucketPolicy,
            ("DELETE", Some(Sub::Policy)) => Op::DeleteBucketPolicy,
            ("PUT", Some(Sub::PublicAccessBlock)) => Op::PutPublicAccessBlock,
            ("DELETE", Some(Sub::PublicAccessBlock)) => Op::DeletePublicAccessBlock,
            ("GET", Some(Sub::Versions)) => Op::ListObjectVersions {
                list: ListParams::parse(query, "max-keys")?,
                key_marker: query.text("key-marker"),
                version_id_marker: query.text("version-id-marker"),
            },
            ("GET", Some(Sub::Uploads)) => Op::ListMultipartUploads {
                list: ListParams::parse(query, "max-uploads")?,
                key_marker: query.text("key-marker"),
                upload_id_marker: query.text("upload-id-marker"),
            },
            ("GET", Some(Sub::Tagging)) => Op::GetBucketTagging,
            ("PUT", Some(Sub::Tagging)) => Op::PutBucketTagging,
            ("DELETE", Some(Sub::Tagging)) => Op::DeleteBucketTagging,
            ("HEAD", None) => Op::HeadBucket,
            ("PUT", None) => Op::CreateBucket,
            ("DELETE", None) => Op::DeleteBucket,
            ("POST", Some(Sub::Delete)) => Op::DeleteObjects,
            ("POST", None) if form => Op::PostObject,
            ("POST", None) => return unsupported("bucket POST"),
            ("GET" | "HEAD" | "PUT" | "DELETE" | "POST", Some(s)) => {
                return unsupported(&format!("bucket ?{}", s.as_str()))
            }
            _ => {
                return Err(S3Error::method_not_allowed(
                    "The specified method is not allowed against this resource.",
                ))
            }
        }
    } else {
        let upload = query.text("uploadId");
        let version_id = query.text("versionId");
        // Only these read a part number: elsewhere S3 ignores the parameter.
        let part = match *method {
            Method::GET | Method::HEAD | Method::PUT => part_number(query)?,
            _ => None,
        };
        match (method.as_str(), sub, upload, part) {
            ("POST", Some(Sub::Uploads), _, _) => Op::CreateMultipartUpload,
            ("POST", None, Some(upload_id), _) => Op::CompleteMultipartUpload { upload_id },
            ("PUT", None, Some(upload_id), Some(part_number)) => match copy_source {
                Some(s) => Op::UploadPartCopy {
                    upload_id,
                    part_number,
                    source: CopySource::parse(s)?,
                },
                None => Op::UploadPart {
                    upload_id,
                    part_number,
                },
            },
            ("PUT", None, upload, part) if upload.is_some() || part.is_some() => {
                return Err(S3Error::invalid_argument(
                    "uploadId and partNumber go together",
                ))
            }
            ("DELETE", None, Some(upload_id), _) => Op::AbortMultipartUpload { upload_id },
            ("GET", None, Some(upload_id), _) => Op::ListParts {
                upload_id,
                max_parts: query.max("max-parts")?,
                part_number_marker: part_number_marker(query)?,
            },
            ("GET", None, _, _) => Op::GetObject {
                version_id,
                part_number: part,
            },
            ("HEAD", None, _, _) => Op::HeadObject {
                version_id,
                part_number: part,
            },
            ("GET", Some(Sub::Acl), _, _) => Op::GetObjectAcl { version_id },
            ("PUT", Some(Sub::Acl), _, _) => Op::PutObjectAcl { version_id },
            ("GET", Some(Sub::Attributes), _, _) => {
                let (max_parts, part_number_marker) = attribute_parts(headers)?;
                Op::GetObjectAttributes {
                    version_id,
                    attributes: Attributes::parse(headers)?,
                    max_parts,
                    part_number_marker,
                }
            }
            ("GET", Some(Sub::Tagging), None, _) => Op::GetObjectTagging { version_id },
            ("PUT", Some(Sub::Tagging), None, _) => Op::PutObjectTagging { version_id },
            ("DELETE", Some(Sub::Tagging), None, _) => Op::DeleteObjectTagging { version_id },
            ("GET", Some(Sub::Retention), None, _) => Op::GetObjectRetention { version_id },
            ("PUT", Some(Sub::Retention), None, _) => Op::PutObjectRetention { version_id },
            ("GET", Some(Sub::LegalHold), None, _) => Op::GetObjectLegalHold { version_id },
            ("PUT", Some(Sub::LegalHold), None, _) => Op::PutObjectLegalHold { version_id },
            ("PUT", None, None, _) => match copy_source {
                Some(s) => Op::CopyObject {
                    source: CopySource::parse(s)?,
                },
                None => Op::PutObject,
            },
            ("DELETE", None, _, _) => Op::DeleteObject { version_id },
            ("GET" | "HEAD" | "PUT" | "DELETE" | "POST", Some(s), _, _) => {
                return unsupported(&format!("object ?{}", s.as_str()))
            }
            ("POST", None, _, _) => return unsupported("object POST"),
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
        with(method, path, query, &[])
    }

    fn with(method: Method, path: &str, query: &str, headers: &[(&str, &str)]) -> S3Result<Route> {
        let mut map = HeaderMap::new();
        for (n, v) in headers {
            map.append(
                actix_web::http::header::HeaderName::from_bytes(n.as_bytes()).unwrap(),
                actix_web::http::header::HeaderValue::from_str(v).unwrap(),
            );
        }
        route(
            &method,
            None,
            path,
            &Query::parse(query).unwrap(),
            &map,
            &[],
        )
    }

    fn listing(prefix: &str, max: usize) -> ListParams {
        ListParams {
            prefix: prefix.into(),
            delimiter: None,
            max,
            url: false,
        }
    }

    #[test]
    fn operations() {
        assert_eq!(
            r(Method::GET, "/", "").unwrap().op,
            Op::ListBuckets {
                prefix: None,
                continuation_token: None,
                max_buckets: None,
                bucket_region: None,
            }
        );
        assert_eq!(
            r(
                Method::GET,
                "/",
                "max-buckets=3&prefix=a&continuation-token=t&bucket-region=eu-west-1"
            )
            .unwrap()
            .op,
            Op::ListBuckets {
                prefix: Some("a".into()),
                continuation_token: Some("t".into()),
                max_buckets: Some(3),
                bucket_region: Some("eu-west-1".into()),
            }
        );
        // Any of its parameters, an empty one too, pages the listing.
        for q in ["max-buckets=", "prefix=", "continuation-token="] {
            let op = r(Method::GET, "/", q).unwrap().op;
            assert!(
                matches!(
                    op,
                    Op::ListBuckets {
                        max_buckets: Some(10_000),
                        ..
                    }
                ),
                "{q}: {op:?}"
            );
        }
        for n in ["0", "10001", "-1", "x", "%201"] {
            let e = r(Method::GET, "/", &format!("max-buckets={n}")).unwrap_err();
            assert_eq!(e.code, "InvalidArgument", "max-buckets={n}");
        }
        assert_eq!(
            r(Method::GET, "/b/", "list-type=2&prefix=a").unwrap().op,
            Op::ListObjectsV2 {
                list: listing("a", 1000),
                continuation_token: None,
                start_after: None,
                fetch_owner: false,
            }
        );
        assert_eq!(
            r(Method::GET, "/b", "marker=m&max-keys=5000&delimiter=")
                .unwrap()
                .op,
            Op::ListObjects {
                list: listing("", 1000),
                marker: Some("m".into()),
            }
        );
        let e = r(Method::GET, "/b", "versions&encoding-type=gzip").unwrap_err();
        assert_eq!(e.code, "InvalidArgument");
        assert_eq!(
            r(Method::HEAD, "/b/k", "partNumber=3").unwrap().op,
            Op::HeadObject {
                version_id: None,
                part_number: Some(3),
            }
        );
        for n in ["0", "10001", "x"] {
            let e = r(Method::GET, "/b/k", &format!("partNumber={n}")).unwrap_err();
            assert_eq!(e.code, "InvalidArgument", "partNumber={n}");
        }
        assert_eq!(
            r(Method::GET, "/b", "location").unwrap().op,
            Op::GetBucketLocation
        );
        assert_eq!(r(Method::PUT, "/b", "cors").unwrap().op, Op::PutBucketCors);
        assert_eq!(r(Method::GET, "/b", "cors").unwrap().op, Op::GetBucketCors);
        assert_eq!(
            r(Method::DELETE, "/b", "cors").unwrap().op,
            Op::DeleteBucketCors
        );
        // CORS is a bucket's configuration: an object has none.
        assert_eq!(
            r(Method::GET, "/b/k", "cors").unwrap_err().code,
            "NotImplemented"
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
            Op::GetObject {
                version_id: None,
                part_number: None,
            }
        );
    }

    #[test]
    fn sub_resources_never_reach_data_handlers() {
        for (m, path, q) in [
            (Method::DELETE, "/b/k", "legal-hold"),
            (Method::DELETE, "/b/k", "website"),
            (Method::DELETE, "/b/k", "retention"),
            (Method::GET, "/b/k", "torrent"),
            (Method::POST, "/b/k", "restore"),
            (Method::POST, "/b/k", "select&select-type=2"),
            (Method::PUT, "/b/k", "renameObject"),
            (Method::GET, "/b/k", "cachebust=1&torrent"),
            (Method::GET, "/b", "notification"),
            (Method::PUT, "/b", "inventory&id=i"),
            (Method::GET, "/b", "metrics"),
            (Method::GET, "/b", "analytics"),
            (Method::GET, "/b", "intelligent-tiering"),
            (Method::PUT, "/b", "metadataTable"),
            (Method::PUT, "/b", "abac"),
            (Method::GET, "/b", "session"),
            (Method::GET, "/", "session"),
        ] {
            let e = r(m.clone(), path, q).unwrap_err();
            assert_eq!(e.code, "NotImplemented", "{m} {path}?{q}");
        }
        assert_eq!(
            r(Method::PUT, "/b", "versioning").unwrap().op,
            Op::PutBucketVersioning
        );
        // A bucket POST that is neither DeleteObjects nor a form upload.
        assert_eq!(
            r(Method::POST, "/b", "").unwrap_err().code,
            "NotImplemented"
        );
        let json = with(
            Method::POST,
            "/b",
            "",
            &[("content-type", "application/json")],
        );
        assert_eq!(json.unwrap_err().code, "NotImplemented");
        assert_eq!(
            r(Method::PATCH, "/b/k", "").unwrap_err().code,
            "MethodNotAllowed"
        );
    }

    /// S3 ignores a query name that is no sub-resource (a cache buster, a misspelt flag): the
    /// operation is the one the rest of the request names, with its own parameters read.
    #[test]
    fn unknown_query_names_are_ignored() {
        let get = Op::GetObject {
            version_id: None,
            part_number: None,
        };
        for q in [
            "v=3",
            "unknown-thing=1",
            "ACL",
            "Tagging=",
            "x-id=GetObject",
        ] {
            assert_eq!(r(Method::GET, "/b/k", q).unwrap().op, get, "?{q}");
            assert_eq!(r(Method::PUT, "/b/k", q).unwrap().op, Op::PutObject, "?{q}");
        }
        assert_eq!(
            r(Method::GET, "/b/k", "v=3&partNumber=2&versionId=x")
                .unwrap()
                .op,
            Op::GetObject {
                version_id: Some("x".into()),
                part_number: Some(2),
            }
        );
        assert_eq!(
            r(Method::GET, "/b", "v=3&tagging").unwrap().op,
            Op::GetBucketTagging
        );
        assert!(matches!(
            r(Method::GET, "/", "v=3").unwrap().op,
            Op::ListBuckets {
                max_buckets: None,
                ..
            }
        ));
        // A sub-resource wins wherever it stands among the names.
        let q = Query::parse("a=1&b&uploads&acl").unwrap();
        assert_eq!(q.sub_resource(), Some(Sub::Uploads));
    }

    #[test]
    fn lifecycle_is_set_read_and_removed_on_a_bucket() {
        for (m, op) in [
            (Method::PUT, Op::PutBucketLifecycleConfiguration),
            (Method::GET, Op::GetBucketLifecycleConfiguration),
            (Method::DELETE, Op::DeleteBucketLifecycle),
        ] {
            assert_eq!(r(m.clone(), "/b", "lifecycle").unwrap().op, op, "{m}");
            let e = r(m.clone(), "/b/k", "lifecycle").unwrap_err();
            assert_eq!(e.code, "NotImplemented", "{m} on a key");
        }
    }

    /// Each configuration read is an operation of its own; setting or removing one is not.
    #[test]
    fn configuration_reads_are_operations() {
        for (q, op) in [
            ("encryption", Op::GetBucketEncryption),
            ("replication", Op::GetBucketReplication),
            ("website", Op::GetBucketWebsite),
            ("logging", Op::GetBucketLogging),
            ("accelerate", Op::GetBucketAccelerateConfiguration),
            ("requestPayment", Op::GetBucketRequestPayment),
            ("policyStatus", Op::GetBucketPolicyStatus),
        ] {
            assert_eq!(r(Method::GET, "/b", q).unwrap().op, op, "?{q}");
            for m in [Method::PUT, Method::DELETE] {
                let e = r(m.clone(), "/b", q).unwrap_err();
                assert_eq!(e.code, "NotImplemented", "{m} ?{q}");
            }
        }
    }

    #[test]
    fn policy_and_public_access_block_operations() {
        for (m, q, op) in [
            (Method::GET, "policy", Op::GetBucketPolicy),
            (Method::PUT, "policy", Op::PutBucketPolicy),
            (Method::DELETE, "policy", Op::DeleteBucketPolicy),
            (Method::GET, "publicAccessBlock", Op::GetPublicAccessBlock),
            (Method::PUT, "publicAccessBlock", Op::PutPublicAccessBlock),
            (
                Method::DELETE,
                "publicAccessBlock",
                Op::DeletePublicAccessBlock,
            ),
        ] {
            assert_eq!(r(m.clone(), "/b", q).unwrap().op, op, "{m} ?{q}");
            assert_eq!(op.access(), Access::Owner);
        }
        let e = r(Method::PUT, "/b", "policyStatus").unwrap_err();
        assert_eq!(e.code, "NotImplemented");
    }

    #[test]
    fn acls_and_ownership_controls_are_operations() {
        assert_eq!(r(Method::PUT, "/b", "acl").unwrap().op, Op::PutBucketAcl);
        assert_eq!(
            r(Method::PUT, "/b/k", "acl&versionId=3").unwrap().op,
            Op::PutObjectAcl {
                version_id: Some("3".into())
            }
        );
        assert_eq!(
            r(Method::GET, "/b/k", "acl").unwrap().op,
            Op::GetObjectAcl { version_id: None }
        );
        for (m, op) in [
            (Method::GET, Op::GetBucketOwnershipControls),
            (Method::PUT, Op::PutBucketOwnershipControls),
            (Method::DELETE, Op::DeleteBucketOwnershipControls),
        ] {
            assert_eq!(r(m, "/b", "ownershipControls").unwrap().op, op);
        }
        assert_eq!(
            r(Method::DELETE, "/b", "acl").unwrap_err().code,
            "NotImplemented"
        );
    }

    #[test]
    fn object_lock_operations() {
        assert_eq!(
            r(Method::PUT, "/b", "object-lock").unwrap().op,
            Op::PutObjectLockConfiguration
        );
        assert_eq!(
            r(Method::GET, "/b", "object-lock").unwrap().op,
            Op::GetObjectLockConfiguration
        );
        let v = || Some("v1".to_string());
        for (m, q, op) in [
            (
                Method::GET,
                "retention&versionId=v1",
                Op::GetObjectRetention { version_id: v() },
            ),
            (
                Method::PUT,
                "retention&versionId=v1",
                Op::PutObjectRetention { version_id: v() },
            ),
            (
                Method::GET,
                "legal-hold&versionId=v1",
                Op::GetObjectLegalHold { version_id: v() },
            ),
            (
                Method::PUT,
                "legal-hold&versionId=v1",
                Op::PutObjectLegalHold { version_id: v() },
            ),
        ] {
            assert_eq!(r(m, "/b/k", q).unwrap().op, op, "?{q}");
        }
        assert_eq!(
            r(Method::DELETE, "/b", "object-lock").unwrap_err().code,
            "NotImplemented"
        );
    }

    #[test]
    fn unsigned_requests_take_their_own_lane() {
        for (path, query) in [
            ("/", ""),
            ("/b", ""),
            ("/b/k", ""),
            ("/b", "cors"),
            ("/b/k", "acl"),
        ] {
            let op = r(Method::OPTIONS, path, query).unwrap().op;
            assert_eq!(op, Op::CorsPreflight, "OPTIONS {path}?{query}");
            assert!(op.unsigned());
        }
        let form = [("content-type", "multipart/form-data; boundary=x")];
        let op = with(Method::POST, "/b", "", &form).unwrap().op;
        assert_eq!(op, Op::PostObject);
        assert!(op.unsigned());
        // Only at a bucket: an object POST and DeleteObjects are what they were.
        assert_eq!(
            with(Method::POST, "/b/k", "", &form).unwrap_err().code,
            "NotImplemented"
        );
        let delete = with(Method::POST, "/b", "delete", &form).unwrap().op;
        assert_eq!(delete, Op::DeleteObjects);
        assert!(!delete.unsigned());
    }

    #[test]
    fn parameters_are_parsed_by_the_router() {
        let src = |b: &str, k: &str| CopySource {
            bucket: b.into(),
            key: k.into(),
            version_id: None,
        };
        let copy = [("x-amz-copy-source", "/src/a%20b")];
        assert_eq!(
            with(Method::PUT, "/b/k", "", &copy).unwrap().op,
            Op::CopyObject {
                source: src("src", "a b")
            }
        );
        assert_eq!(
            with(Method::PUT, "/b/k", "uploadId=u1&partNumber=7", &copy)
                .unwrap()
                .op,
            Op::UploadPartCopy {
                upload_id: "u1".into(),
                part_number: 7,
                source: src("src", "a b"),
            }
        );
        assert_eq!(
            r(Method::PUT, "/b/k", "partNumber=2&uploadId=u2")
                .unwrap()
                .op,
            Op::UploadPart {
                upload_id: "u2".into(),
                part_number: 2,
            }
        );
        let id = || "u3".to_string();
        assert_eq!(
            r(Method::POST, "/b/k", "uploadId=u3").unwrap().op,
            Op::CompleteMultipartUpload { upload_id: id() }
        );
        assert_eq!(
            r(Method::DELETE, "/b/k", "uploadId=u3").unwrap().op,
            Op::AbortMultipartUpload { upload_id: id() }
        );
        assert_eq!(
            r(Method::GET, "/b/k", "uploadId=u3&max-parts=5")
                .unwrap()
                .op,
            Op::ListParts {
                upload_id: id(),
                max_parts: 5,
                part_number_marker: 0,
            }
        );
        for n in ["0", "10001", "x", ""] {
            let e = r(Method::PUT, "/b/k", &format!("uploadId=u&partNumber={n}")).unwrap_err();
            assert_eq!(e.code, "InvalidArgument", "partNumber={n}");
        }
        assert_eq!(
            r(Method::DELETE, "/b/k", "versionId=v1").unwrap().op,
            Op::DeleteObject {
                version_id: Some("v1".into())
            }
        );
        let asked = [
            ("x-amz-object-attributes", "ETag, ObjectParts"),
            ("x-amz-object-attributes", "ObjectSize"),
            ("x-amz-max-parts", "5000"),
            ("x-amz-part-number-marker", "4"),
        ];
        assert_eq!(
            with(Method::GET, "/b/k", "attributes&versionId=null", &asked)
                .unwrap()
                .op,
            Op::GetObjectAttributes {
                version_id: Some("null".into()),
                attributes: Attributes {
                    etag: true,
                    object_parts: true,
                    object_size: true,
                    ..Attributes::default()
                },
                max_parts: 1000,
                part_number_marker: 4,
            }
        );
        for (headers, code) in [
            (&[][..], "InvalidRequest"),
            (&[("x-amz-object-attributes", " ,")], "InvalidRequest"),
            (
                &[("x-amz-object-attributes", "ETag,Owner")],
                "InvalidArgument",
            ),
            (
                &[
                    ("x-amz-object-attributes", "ETag"),
                    ("x-amz-max-parts", "-1"),
                ],
                "InvalidArgument",
            ),
        ] {
            let e = with(Method::GET, "/b/k", "attributes", headers).unwrap_err();
            assert_eq!(e.code, code, "{headers:?}");
        }
        let bad = [("x-amz-copy-source", "nokey")];
        assert_eq!(
            with(Method::PUT, "/b/k", "", &bad).unwrap_err().code,
            "InvalidArgument"
        );
    }

    #[test]
    fn tagging_routes() {
        let version = |v: &str| Some(v.to_string());
        assert_eq!(
            r(Method::GET, "/b/k", "tagging").unwrap().op,
            Op::GetObjectTagging { version_id: None }
        );
        assert_eq!(
            r(Method::PUT, "/b/k", "tagging&versionId=null").unwrap().op,
            Op::PutObjectTagging {
                version_id: version("null")
            }
        );
        assert_eq!(
            r(Method::DELETE, "/b/k", "tagging=").unwrap().op,
            Op::DeleteObjectTagging { version_id: None }
        );
        assert_eq!(
            r(Method::GET, "/b", "tagging").unwrap().op,
            Op::GetBucketTagging
        );
        assert_eq!(
            r(Method::PUT, "/b/", "tagging").unwrap().op,
            Op::PutBucketTagging
        );
        assert_eq!(
            r(Method::DELETE, "/b", "tagging").unwrap().op,
            Op::DeleteBucketTagging
        );
        // Tagging is no operation on an upload, nor a POST.
        for (m, q) in [
            (Method::PUT, "tagging&uploadId=u"),
            (Method::POST, "tagging"),
            (Method::HEAD, "tagging"),
        ] {
            assert_eq!(
                r(m.clone(), "/b/k", q).unwrap_err().code,
                "NotImplemented",
                "{m} ?{q}"
            );
        }
    }

    #[test]
    fn copy_sources() {
        let src = |b: &str, k: &str| CopySource {
            bucket: b.into(),
            key: k.into(),
            version_id: None,
        };
        assert_eq!(CopySource::parse("/b/k%20x").unwrap(), src("b", "k x"));
        let version = |v: &str| CopySource {
            version_id: Some(v.into()),
            ..src("b", "a/b")
        };
        assert_eq!(
            CopySource::parse("b/a/b?versionId=null").unwrap(),
            version("null")
        );
        assert_eq!(
            CopySource::parse("b/a/b?versionId=3").unwrap(),
            version("3")
        );
        assert!(CopySource::parse("b").is_err());
        assert!(CopySource::parse("b/k?versionId=").is_err());
    }

    #[test]
    fn configuration_reads_change_nothing_and_writes_do() {
        assert!(!Op::GetBucketCors.changes() && !Op::GetBucketAcl.changes());
        assert!(Op::PutBucketCors.changes() && Op::DeleteBucketTagging.changes());
        assert!(Op::PostObject.changes() && Op::DeleteObjects.changes());
        assert!(!Op::CorsPreflight.changes() && !Op::GetBucketLocation.changes());
    }

    /// Every operation's class, listed: a new operation must be placed here on purpose.
    #[test]
    fn each_operation_has_an_access_class() {
        use Access::*;
        let src = || CopySource {
            bucket: "s".into(),
            key: "k".into(),
            version_id: None,
        };
        let id = || "u".to_string();
        let classes = [
            (
                Op::ListBuckets {
                    prefix: None,
                    continuation_token: None,
                    max_buckets: None,
                    bucket_region: None,
                },
                Read,
            ),
            (Op::CreateBucket, Write),
            (Op::DeleteBucket, Write),
            (Op::HeadBucket, Read),
            (Op::GetBucketLocation, Read),
            (Op::GetBucketAcl, Owner),
            (Op::PutBucketAcl, Owner),
            (Op::PutBucketOwnershipControls, Owner),
            (Op::DeleteBucketOwnershipControls, Owner),
            (Op::GetBucketVersioning, Owner),
            (Op::PutBucketVersioning, Owner),
            (Op::PutBucketCors, Owner),
            (Op::GetBucketCors, Owner),
            (Op::DeleteBucketCors, Owner),
            (Op::PutBucketLifecycleConfiguration, Owner),
            (Op::GetBucketLifecycleConfiguration, Owner),
            (Op::DeleteBucketLifecycle, Owner),
            (Op::GetBucketPolicy, Owner),
            (Op::GetBucketOwnershipControls, Owner),
            (Op::GetBucketEncryption, Owner),
            (Op::GetBucketReplication, Owner),
            (Op::GetBucketWebsite, Owner),
            (Op::GetPublicAccessBlock, Owner),
            (Op::GetBucketLogging, Owner),
            (Op::GetBucketAccelerateConfiguration, Owner),
            (Op::GetBucketRequestPayment, Owner),
            (Op::GetBucketPolicyStatus, Owner),
            (
                Op::ListObjects {
                    list: listing("", 1),
                    marker: None,
                },
                Read,
            ),
            (
                Op::ListObjectsV2 {
                    list: listing("", 1),
                    continuation_token: None,
                    start_after: None,
                    fetch_owner: false,
                },
                Read,
            ),
            (
                Op::ListObjectVersions {
                    list: listing("", 1),
                    key_marker: None,
                    version_id_marker: None,
                },
                Read,
            ),
            (Op::DeleteObjects, Write),
            (
                Op::HeadObject {
                    version_id: None,
                    part_number: None,
                },
                Read,
            ),
            (
                Op::GetObject {
                    version_id: None,
                    part_number: None,
                },
                Read,
            ),
            (Op::GetObjectAcl { version_id: None }, Owner),
            (Op::PutObjectAcl { version_id: None }, Owner),
            (
                Op::GetObjectAttributes {
                    version_id: None,
                    attributes: Attributes::default(),
                    max_parts: 1,
                    part_number_marker: 0,
                },
                Read,
            ),
            (Op::PutObject, Write),
            (Op::CopyObject { source: src() }, Write),
            (Op::DeleteObject { version_id: None }, Write),
            (
                Op::ListMultipartUploads {
                    list: listing("", 1),
                    key_marker: None,
                    upload_id_marker: None,
                },
                Read,
            ),
            (Op::CreateMultipartUpload, Write),
            (
                Op::UploadPart {
                    upload_id: id(),
                    part_number: 1,
                },
                Write,
            ),
            (
                Op::UploadPartCopy {
                    upload_id: id(),
                    part_number: 1,
                    source: src(),
                },
                Write,
            ),
            (Op::CompleteMultipartUpload { upload_id: id() }, Write),
            (Op::AbortMultipartUpload { upload_id: id() }, Write),
            (
                Op::ListParts {
                    upload_id: id(),
                    max_parts: 1,
                    part_number_marker: 0,
                },
                Read,
            ),
            (Op::GetObjectTagging { version_id: None }, Read),
            (Op::PutObjectTagging { version_id: None }, Write),
            (Op::DeleteObjectTagging { version_id: None }, Write),
            (Op::GetBucketTagging, Owner),
            (Op::PutBucketTagging, Owner),
            (Op::DeleteBucketTagging, Owner),
            (Op::GetObjectLockConfiguration, Owner),
            (Op::PutObjectLockConfiguration, Owner),
            (Op::GetObjectRetention { version_id: None }, Read),
            (Op::PutObjectRetention { version_id: None }, Write),
            (Op::GetObjectLegalHold { version_id: None }, Read),
            (Op::PutObjectLegalHold { version_id: None }, Write),
            (Op::CorsPreflight, Read),
            (Op::PostObject, Write),
        ];
        for (op, class) in classes {
            assert_eq!(op.access(), class, "{}", op.name());
        }
    }

    #[test]
    fn virtual_hosts() {
        let q = Query::default();
        let h = HeaderMap::new();
        let d = vec!["s3.local".to_string()];
        let v = route(&Method::GET, Some("bkt.s3.local:8080"), "/a/b", &q, &h, &d).unwrap();
        assert_eq!((v.bucket.as_str(), v.key.as_str()), ("bkt", "a/b"));
        let p = route(&Method::GET, Some("s3.local:8080"), "/bkt/a", &q, &h, &d).unwrap();
        assert_eq!((p.bucket.as_str(), p.key.as_str()), ("bkt", "a"));
        let upper = route(&Method::GET, Some("BKT.S3.Local"), "/a", &q, &h, &d).unwrap();
        assert_eq!((upper.bucket.as_str(), upper.virtual_host), ("bkt", true));
    }

    /// Found by the router fuzz target: `%2F` decoded into a bucket name.
    #[test]
    fn an_encoded_slash_in_the_bucket_is_an_invalid_bucket_name() {
        let q = Query::parse("").unwrap();
        let h = HeaderMap::new();
        let err = route(&Method::GET, None, "/a%2Fb/key", &q, &h, &[]).unwrap_err();
        assert_eq!(err.code, "InvalidBucketName");
        let err = route(&Method::GET, None, "/a%2f", &q, &h, &[]).unwrap_err();
        assert_eq!(err.code, "InvalidBucketName");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 5000, failure_persistence: None, ..Default::default() })]

        /// Any path, query and host: a route or an S3 error, never a panic, and a routed bucket
        /// never holds a `/`. Dot segments in keys are the VFS's to refuse (see `key.rs`), not
        /// the router's.
        #[test]
        fn the_router_survives_any_request(
            method in proptest::sample::select(vec!["GET", "PUT", "POST", "DELETE", "HEAD", "PATCH", "OPTIONS"]),
            path in "/[a-z0-9./%?&=_+-]{0,40}",
            query in "[a-zA-Z0-9%&=._-]{0,40}",
            host in proptest::option::of("[a-z0-9.:-]{0,30}"),
        ) {
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            if let Ok(q) = Query::parse(&query) {
                let domains = vec!["s3.test".to_string()];
                if let Ok(r) = route(&method, host.as_deref(), &path, &q, &HeaderMap::new(), &domains) {
                    proptest::prop_assert!(!r.bucket.contains('/'), "{r:?}");
                }
            }
        }
    }
}
