//! `aws-sdk-s3` clients pointed at a test server (path style, static credentials, no retries),
//! requests many tests make alike (versioning turned on, a multipart upload completed), and what
//! tests ask of the SDK's answers: bodies, error status and code, readable failures, and the
//! headers the SDK really sent.

use std::net::SocketAddr;
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
use aws_sdk_s3::operation::complete_multipart_upload::builders::CompleteMultipartUploadFluentBuilder;
use aws_sdk_s3::operation::delete_objects::DeleteObjectsOutput;
use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::types::{
    BucketVersioningStatus, CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier, Tag,
    Tagging, VersioningConfiguration,
};
use aws_sdk_s3::Client;

/// An `aws-sdk-s3` client for the server at `addr`: path style, static credentials, no retries.
pub(crate) fn client_for(addr: SocketAddr, access_key: &str, secret_key: &str) -> Client {
    client_with(addr, access_key, secret_key, |b| b)
}

/// Like [`client_for`], with a last say on the configuration.
pub(crate) fn client_with(
    addr: SocketAddr,
    access_key: &str,
    secret_key: &str,
    tweak: impl FnOnce(aws_sdk_s3::config::Builder) -> aws_sdk_s3::config::Builder,
) -> Client {
    client_at(
        &format!("http://{addr}"),
        http_builder().tls_provider(tls_provider()).build_https(),
        access_key,
        secret_key,
        tweak,
    )
}

/// The HTTP client builder every test's SDK client starts from. Its idle connections leave the
/// pool well before the test servers' idle timeout (30 s, server.rs) closes them: a request sent
/// on a connection as the server closes it is reset, and the tests' clients do not retry.
pub(crate) fn http_builder() -> aws_smithy_http_client::Builder {
    aws_smithy_http_client::Builder::new().pool_idle_timeout(Duration::from_secs(2))
}

/// The TLS implementation the tests' SDK clients use.
pub(crate) fn tls_provider() -> aws_smithy_http_client::tls::Provider {
    aws_smithy_http_client::tls::Provider::Rustls(
        aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
    )
}

/// An `aws-sdk-s3` client for any endpoint over the given HTTP client: path style, static
/// credentials, no retries, then `tweak`.
pub(crate) fn client_at(
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

/// The whole body of a GetObject answer.
pub(crate) async fn body_of(out: GetObjectOutput) -> Vec<u8> {
    out.body
        .collect()
        .await
        .expect("body reads to the end")
        .into_bytes()
        .to_vec()
}

/// HTTP status and S3 error code of a failed SDK call.
pub(crate) fn status_and_code<E: ProvideErrorMetadata>(
    e: &SdkError<E, HttpResponse>,
) -> (u16, String) {
    let status = e.raw_response().map(|r| r.status().as_u16()).unwrap_or(0);
    let code = e.code().unwrap_or("").to_string();
    (status, code)
}

/// A readable account of an SDK error (status, code, message, or the transport error).
pub(crate) fn describe<E: ProvideErrorMetadata + std::fmt::Debug>(
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

/// The keys of a listing's page, as answered.
pub(crate) fn keys_of(contents: &[aws_sdk_s3::types::Object]) -> Vec<String> {
    contents
        .iter()
        .map(|o| o.key().expect("an entry's Key").to_string())
        .collect()
}

/// The common prefixes of a listing's page, as answered.
pub(crate) fn prefixes_of(prefixes: &[aws_sdk_s3::types::CommonPrefix]) -> Vec<String> {
    prefixes
        .iter()
        .map(|p| p.prefix().expect("a common prefix's Prefix").to_string())
        .collect()
}

/// An SDK call's outcome as tests compare it: `Ok(())`, or the status and S3 code it was
/// refused with.
pub(crate) fn outcome<T, E: ProvideErrorMetadata>(
    r: Result<T, SdkError<E, HttpResponse>>,
) -> Result<(), (u16, String)> {
    r.map(|_| ()).map_err(|e| status_and_code(&e))
}

/// Asserts that an SDK call failed with this status and S3 error code.
#[track_caller]
pub(crate) fn expect_error<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug>(
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

/// `key`'s versions and markers in `bucket` as one ListObjectVersions page lists them: (id,
/// the latest, a delete marker), newest first.
pub(crate) async fn key_history(
    client: &Client,
    bucket: &str,
    key: &str,
) -> Vec<(String, bool, bool)> {
    let out = client
        .list_object_versions()
        .bucket(bucket)
        .prefix(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("list versions: {}", describe(&e)));
    let versions = out
        .versions()
        .iter()
        .filter(|v| v.key() == Some(key))
        .map(|v| {
            (
                v.version_id().expect("an id").to_string(),
                v.is_latest() == Some(true),
                false,
            )
        });
    let markers = out
        .delete_markers()
        .iter()
        .filter(|m| m.key() == Some(key))
        .map(|m| {
            (
                m.version_id().expect("an id").to_string(),
                m.is_latest() == Some(true),
                true,
            )
        });
    let mut all: Vec<_> = versions.chain(markers).collect();
    // Ids sort as they were made; `null` names one whose place its listing gives.
    all.sort_by(|a, b| b.0.cmp(&a.0));
    all
}

/// Turns versioning on in `bucket`, as `client`'s caller.
pub(crate) async fn enable_versioning(client: &Client, bucket: &str) {
    set_versioning(client, bucket, BucketVersioningStatus::Enabled).await;
}

/// Suspends versioning in `bucket`, as `client`'s caller.
pub(crate) async fn suspend_versioning(client: &Client, bucket: &str) {
    set_versioning(client, bucket, BucketVersioningStatus::Suspended).await;
}

pub(crate) async fn set_versioning(client: &Client, bucket: &str, status: BucketVersioningStatus) {
    client
        .put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(VersioningConfiguration::builder().status(status).build())
        .send()
        .await
        .unwrap_or_else(|e| panic!("versioning of {bucket}: {}", describe(&e)));
}

/// A CompleteMultipartUpload of the upload `id` of `bucket/key` listing `parts`, to be sent as
/// it is or given conditions or checksums first.
pub(crate) fn complete_upload(
    client: &Client,
    bucket: &str,
    key: &str,
    id: &str,
    parts: Vec<CompletedPart>,
) -> CompleteMultipartUploadFluentBuilder {
    client
        .complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
}

/// Parts numbered from 1 in the order of their ETags, as a Complete lists them.
pub(crate) fn numbered_parts(etags: &[impl AsRef<str>]) -> Vec<CompletedPart> {
    etags
        .iter()
        .enumerate()
        .map(|(i, e)| {
            CompletedPart::builder()
                .part_number(i as i32 + 1)
                .e_tag(e.as_ref())
                .build()
        })
        .collect()
}

/// Asserts that an SDK call failed with this status (for HEAD, whose errors have no body).
#[track_caller]
pub(crate) fn expect_status<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug>(
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

/// Records the headers of every request it sees (attach with `.customize().interceptor(..)`),
/// to check what the SDK actually sent.
#[derive(Debug, Clone, Default)]
pub(crate) struct RecordHeaders(pub(crate) Arc<Mutex<Vec<HeaderList>>>);

/// The headers of one request, in order.
pub(crate) type HeaderList = Vec<(String, String)>;

impl RecordHeaders {
    /// The value of `name` in the last request recorded.
    pub(crate) fn last(&self, name: &str) -> Option<String> {
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

/// Sets `bucket`'s lifecycle to one rule, `id`, expiring the objects under `prefix` `days` days
/// after they were written.
pub(crate) async fn expire_after_days(
    client: &Client,
    bucket: &str,
    id: &str,
    prefix: &str,
    days: i32,
) {
    use aws_sdk_s3::types::{
        BucketLifecycleConfiguration, ExpirationStatus, LifecycleExpiration, LifecycleRule,
        LifecycleRuleFilter,
    };
    let rule = LifecycleRule::builder()
        .id(id)
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix(prefix).build())
        .expiration(LifecycleExpiration::builder().days(days).build())
        .build()
        .expect("a lifecycle rule");
    let rules = BucketLifecycleConfiguration::builder()
        .rules(rule)
        .build()
        .expect("a lifecycle configuration");
    client
        .put_bucket_lifecycle_configuration()
        .bucket(bucket)
        .lifecycle_configuration(rules)
        .send()
        .await
        .unwrap_or_else(|e| panic!("put lifecycle of {bucket}: {}", describe(&e)));
}

/// A PUT of `body` at `key` in `bkt` through `s`, answering the version id it made.
pub(crate) async fn put_versioned(s: &crate::common::TestServer, key: &str, body: &str) -> String {
    let out = s
        .client
        .put_object()
        .bucket("bkt")
        .key(key)
        .body(aws_sdk_s3::primitives::ByteStream::from(
            body.as_bytes().to_vec(),
        ))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put {key}: {}", describe(&e)));
    out.version_id().expect("a version id").to_string()
}

/// The body of version `id` of `key` in `bkt`, read through `s`, which names the version.
pub(crate) async fn get_version(s: &crate::common::TestServer, key: &str, id: &str) -> Vec<u8> {
    let out = s
        .client
        .get_object()
        .bucket("bkt")
        .key(key)
        .version_id(id)
        .send()
        .await
        .unwrap_or_else(|e| panic!("get {key}@{id}: {}", describe(&e)));
    assert_eq!(out.version_id(), Some(id));
    body_of(out).await
}

/// A tag set of `pairs`, in their order.
pub(crate) fn tagging(pairs: &[(&str, &str)]) -> Tagging {
    let tags = pairs
        .iter()
        .map(|(k, v)| Tag::builder().key(*k).value(*v).build().unwrap())
        .collect();
    Tagging::builder().set_tag_set(Some(tags)).build().unwrap()
}

/// Pairs of text as a test writes them, owned, to compare with what was answered.
pub(crate) fn owned_pairs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A tag set answered, as pairs in its order.
pub(crate) fn pairs_of(tags: &[Tag]) -> Vec<(String, String)> {
    tags.iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect()
}

/// One DeleteObjects of `objects` in `bucket`, which must be answered (each key's outcome is
/// in the answer).
pub(crate) async fn delete_objects(
    client: &Client,
    bucket: &str,
    objects: Vec<ObjectIdentifier>,
) -> DeleteObjectsOutput {
    let delete = Delete::builder()
        .set_objects(Some(objects))
        .build()
        .expect("a Delete with its objects");
    client
        .delete_objects()
        .bucket(bucket)
        .delete(delete)
        .send()
        .await
        .unwrap_or_else(|e| panic!("delete objects: {}", describe(&e)))
}

/// Tags version `id` of `key` in `bkt` with `pairs`, through `s`.
pub(crate) async fn tag_version(
    s: &crate::common::TestServer,
    key: &str,
    id: &str,
    pairs: &[(&str, &str)],
) {
    s.client
        .put_object_tagging()
        .bucket("bkt")
        .key(key)
        .version_id(id)
        .tagging(tagging(pairs))
        .send()
        .await
        .unwrap_or_else(|e| panic!("tag {key}@{id}: {}", describe(&e)));
}

/// The tags of version `id` of `key` in `bkt`, read through `s`, which names the version.
pub(crate) async fn version_tags(
    s: &crate::common::TestServer,
    key: &str,
    id: &str,
) -> Vec<(String, String)> {
    let out = s
        .client
        .get_object_tagging()
        .bucket("bkt")
        .key(key)
        .version_id(id)
        .send()
        .await
        .unwrap_or_else(|e| panic!("tags of {key}@{id}: {}", describe(&e)));
    assert_eq!(out.version_id(), Some(id));
    pairs_of(out.tag_set())
}
