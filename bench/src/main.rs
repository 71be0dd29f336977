//! `s3bench`: a load generator for S3 servers, every request signed with SigV4 by the official
//! `aws-sdk-s3` client.
//!
//! Workloads: a large multipart upload (`multipart-put`), a multipart server-side copy
//! (`part-copy`, UploadPartCopy of ranges), `copy` (CopyObject), and batches of PUTs and GETs.
//! Each prints one line, or with `--json` one JSON object on stdout (the line then goes to
//! stderr). Uploaded bytes are a cheap deterministic pattern generated part by part, so an
//! object is never held whole in memory; `--verify` reads the result back and checks it.
//!
//! Units: MB and MB/s are 10^6 bytes, MiB and GiB 2^20 and 2^30.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
    StalledStreamProtectionConfig,
};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketVersioningStatus, CompletedMultipartUpload, CompletedPart, VersioningConfiguration,
};
use aws_sdk_s3::Client;
use bytes::Bytes;
use clap::{Args, Parser, Subcommand};
use md5::{Digest, Md5};
use serde_json::{json, Value};

mod light;

type Result<T, E = String> = std::result::Result<T, E>;

#[derive(Parser)]
#[command(
    name = "s3bench",
    version,
    about = "SigV4-signed S3 load generator (aws-sdk-s3): multipart uploads, server-side copies, PUT/GET batches"
)]
struct Cli {
    #[command(flatten)]
    conn: Conn,
    #[command(subcommand)]
    workload: Workload,
}

#[derive(Args)]
struct Conn {
    /// S3 endpoint (path-style requests are sent to it).
    #[arg(
        long,
        global = true,
        env = "S3BENCH_ENDPOINT",
        default_value = "http://127.0.0.1:9000"
    )]
    endpoint: String,
    /// Access key id.
    #[arg(long, global = true, env = "S3BENCH_ACCESS_KEY", default_value = "")]
    access_key: String,
    /// Secret access key.
    #[arg(
        long,
        global = true,
        env = "S3BENCH_SECRET_KEY",
        default_value = "",
        hide_env_values = true,
        hide_default_value = true
    )]
    secret_key: String,
    /// Bucket the workload runs in.
    #[arg(long, global = true, env = "S3BENCH_BUCKET", default_value = "bench")]
    bucket: String,
    /// Region to sign for.
    #[arg(long, global = true, default_value = "us-east-1")]
    region: String,
    /// Print one JSON object per workload on stdout (the human line goes to stderr).
    #[arg(long, global = true)]
    json: bool,
    /// Sign request bodies (SHA-256 of every byte, on both ends) instead of sending
    /// UNSIGNED-PAYLOAD.
    #[arg(long, global = true)]
    sign_payload: bool,
    /// Let the SDK add its default CRC checksums to uploads and check them on downloads.
    #[arg(long, global = true)]
    checksums: bool,
    /// A name for the run, copied into the output.
    #[arg(long, global = true)]
    label: Option<String>,
}

#[derive(Subcommand)]
enum Workload {
    /// Create the bucket (an existing bucket of ours is fine).
    CreateBucket,
    /// No request: the MD5 of SIZE bytes on one core, with the MD5 the server uses (the
    /// reference a large PUT, which computes its ETag, is read against).
    Md5(Md5Speed),
    /// One object uploaded as parts in parallel: CreateMultipartUpload, UploadPart, Complete.
    MultipartPut(MultipartPut),
    /// A whole existing object copied into a new one with UploadPartCopy of ranges.
    PartCopy(PartCopy),
    /// CopyObject of an existing object.
    Copy(Copy),
    /// PUT of COUNT objects of SIZE, CONCURRENCY at a time.
    Put(Batch),
    /// GET of the COUNT objects a `put` with the same prefix wrote, CONCURRENCY at a time.
    Get(Batch),
    /// Read an object back: it must hold the bytes `multipart-put` (or the first `put`) sent,
    /// or the same bytes as another object.
    Verify(Verify),
    /// ListObjectsV2 (or ListObjectVersions, with --versions) of a prefix paged to the end,
    /// REPEAT times.
    List(List),
    /// DeleteObject of the COUNT keys a `put` with the same prefix wrote, CONCURRENCY at a time
    /// (in a bucket keeping versions, each adds a delete marker).
    Delete(Batch),
    /// PutBucketVersioning: Enabled or Suspended.
    Versioning(VersioningArgs),
}

#[derive(Args)]
struct Md5Speed {
    /// Bytes hashed, in 512 KiB buffers made beforehand.
    #[arg(long, value_parser = parse_size, default_value = "1GiB")]
    size: u64,
}

#[derive(Args)]
struct VersioningArgs {
    /// Enabled or Suspended.
    #[arg(long, default_value = "Enabled")]
    status: String,
}

#[derive(Args)]
struct List {
    /// Prefix listed.
    #[arg(long, default_value = "")]
    prefix: String,
    /// Delimiter (none: a flat listing).
    #[arg(long)]
    delimiter: Option<String>,
    /// Entries per page.
    #[arg(long, default_value_t = 1000)]
    max_keys: i32,
    /// Full listings to run, one after the other.
    #[arg(long, default_value_t = 3)]
    repeat: u32,
    /// Listings run first and not counted (a server's first listing may do work once).
    #[arg(long, default_value_t = 0)]
    warmup: u32,
    /// Read only each page's entry count and continuation token, with requests signed by hand
    /// over one connection, instead of the SDK's full parse of every page: the server's time,
    /// not the client's.
    #[arg(long)]
    light: bool,
    /// ListObjectVersions instead, paged by its key and version-id markers.
    #[arg(long)]
    versions: bool,
    /// Walk the tree as a file browser does: the prefix listed with the delimiter, then each
    /// common prefix it answered, and so on down (a delimiter of `/` unless given).
    #[arg(long)]
    walk: bool,
}

#[derive(Args)]
struct MultipartPut {
    /// Key of the object to create.
    #[arg(long, default_value = "multipart-put.bin")]
    key: String,
    /// Object size (e.g. 4GiB, 256MiB, 1000000).
    #[arg(long, value_parser = parse_size, default_value = "4GiB")]
    size: u64,
    /// Part size (every part but the last).
    #[arg(long, value_parser = parse_size, default_value = "64MiB")]
    part_size: u64,
    /// Parts in flight.
    #[arg(long, default_value_t = 8)]
    parallel: usize,
    /// Read the object back and compare it with the bytes sent (not timed).
    #[arg(long)]
    verify: bool,
}

#[derive(Args)]
struct PartCopy {
    /// Key of the existing object to copy.
    #[arg(long)]
    src: String,
    /// Bucket of the source (default: --bucket).
    #[arg(long)]
    src_bucket: Option<String>,
    /// Key of the copy.
    #[arg(long, default_value = "part-copy.bin")]
    key: String,
    /// Size of each copied range (every part but the last).
    #[arg(long, value_parser = parse_size, default_value = "512MiB")]
    part_size: u64,
    /// Parts in flight.
    #[arg(long, default_value_t = 8)]
    parallel: usize,
    /// Read source and copy back and compare their MD5s (not timed).
    #[arg(long)]
    verify: bool,
}

#[derive(Args)]
struct Copy {
    /// Key of the existing object to copy.
    #[arg(long)]
    src: String,
    /// Bucket of the source (default: --bucket).
    #[arg(long)]
    src_bucket: Option<String>,
    /// Key of the copy.
    #[arg(long, default_value = "copy.bin")]
    key: String,
    /// Read source and copy back and compare their MD5s (not timed).
    #[arg(long)]
    verify: bool,
}

#[derive(Args)]
struct Batch {
    /// Number of objects.
    #[arg(long, default_value_t = 100)]
    count: u64,
    /// Size of each object (put; get reads whatever is there).
    #[arg(long, value_parser = parse_size, default_value = "1MiB")]
    size: u64,
    /// Requests in flight.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Keys are PREFIX0, PREFIX1, ...
    #[arg(long, default_value = "batch/")]
    prefix: String,
    /// Compare every object read with the bytes `put` wrote (get only; counted in the time).
    #[arg(long)]
    verify: bool,
}

#[derive(Args)]
struct Verify {
    /// Key of the object to check.
    #[arg(long)]
    key: String,
    /// Compare with this object (of the same bucket) instead of the generated pattern.
    #[arg(long)]
    same_as: Option<String>,
}

fn main() {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match rt.block_on(run(cli)) {
        Ok(()) => {}
        Err(e) => {
            eprintln!("s3bench: {e}");
            std::process::exit(1);
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    let conn = &cli.conn;
    if conn.access_key.is_empty() || conn.secret_key.is_empty() {
        return Err("--access-key and --secret-key (or S3BENCH_ACCESS_KEY and \
                    S3BENCH_SECRET_KEY) are required: every request is signed"
            .into());
    }
    let parallel = match &cli.workload {
        Workload::MultipartPut(w) => w.parallel,
        Workload::PartCopy(w) => w.parallel,
        Workload::Put(w) | Workload::Get(w) | Workload::Delete(w) => w.concurrency,
        Workload::CreateBucket
        | Workload::Md5(_)
        | Workload::Copy(_)
        | Workload::Verify(_)
        | Workload::List(_)
        | Workload::Versioning(_) => 2,
    };
    if parallel == 0 {
        return Err("--parallel / --concurrency must be at least 1".into());
    }
    let b = Bench {
        client: client(conn, parallel),
        bucket: conn.bucket.clone(),
        sign_payload: conn.sign_payload,
    };
    let mut out = match cli.workload {
        Workload::CreateBucket => b.create_bucket().await?,
        Workload::Md5(w) => md5_speed(w),
        Workload::MultipartPut(w) => b.multipart_put(w).await?,
        Workload::PartCopy(w) => b.part_copy(w).await?,
        Workload::Copy(w) => b.copy(w).await?,
        Workload::Put(w) => b.put(w).await?,
        Workload::Get(w) => b.get(w).await?,
        Workload::Verify(w) => b.verify(w).await?,
        Workload::List(w) => b.list(w, conn).await?,
        Workload::Delete(w) => b.delete(w).await?,
        Workload::Versioning(w) => b.versioning(w).await?,
    };
    if let Some(label) = &conn.label {
        out.json["label"] = json!(label);
        out.line = format!("[{label}] {}", out.line);
    }
    out.json["signed_payload"] = json!(conn.sign_payload);
    out.json["sdk_checksums"] = json!(conn.checksums);
    if conn.json {
        eprintln!("{}", out.line);
        println!("{}", out.json);
    } else {
        println!("{}", out.line);
    }
    Ok(())
}

/// The client: no retries (a failure is a finding), no time-outs (a 4 GiB part copy may take a
/// while before it answers), and a connection pool at least as large as the requests in flight.
fn client(conn: &Conn, parallel: usize) -> Client {
    let http = aws_smithy_http_client::Builder::new()
        .pool_max_idle_per_host(parallel.max(64))
        .pool_idle_timeout(Duration::from_secs(300))
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let (req, resp) = if conn.checksums {
        (
            RequestChecksumCalculation::WhenSupported,
            ResponseChecksumValidation::WhenSupported,
        )
    } else {
        (
            RequestChecksumCalculation::WhenRequired,
            ResponseChecksumValidation::WhenRequired,
        )
    };
    let config = aws_sdk_s3::config::Builder::new()
        .behavior_version_latest()
        .region(Region::new(conn.region.clone()))
        .endpoint_url(conn.endpoint.trim_end_matches('/'))
        .force_path_style(true)
        .credentials_provider(Credentials::new(
            conn.access_key.clone(),
            conn.secret_key.clone(),
            None,
            None,
            "s3bench",
        ))
        .retry_config(RetryConfig::disabled())
        .timeout_config(TimeoutConfig::disabled())
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
        .request_checksum_calculation(req)
        .response_checksum_validation(resp)
        .http_client(http)
        .build();
    Client::from_conf(config)
}

/// What a workload reports.
struct Report {
    line: String,
    json: Value,
}

struct Bench {
    client: Client,
    bucket: String,
    sign_payload: bool,
}

impl Bench {
    async fn create_bucket(&self) -> Result<Report> {
        let t = Instant::now();
        match self
            .client
            .create_bucket()
            .bucket(&self.bucket)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if e.code() == Some("BucketAlreadyOwnedByYou") => {}
            Err(e) => return Err(sdk_error("CreateBucket", e)),
        }
        Ok(Report {
            line: format!("create-bucket {}: ok", self.bucket),
            json: json!({
                "workload": "create-bucket",
                "bucket": self.bucket,
                "seconds": secs(t.elapsed()),
            }),
        })
    }

    async fn multipart_put(&self, w: MultipartPut) -> Result<Report> {
        let layout = PartLayout::new(w.size, w.part_size)?;
        let t0 = Instant::now();
        let upload_id = self.create_upload(&w.key).await?;
        let client = self.client.clone();
        let (bucket, key, id) = (self.bucket.clone(), w.key.clone(), upload_id.clone());
        let sign = self.sign_payload;
        let parts = run_pool(layout.count, w.parallel, move |i| {
            let (client, bucket, key, id) =
                (client.clone(), bucket.clone(), key.clone(), id.clone());
            async move {
                let (offset, len) = layout.part(i);
                let body = pattern_bytes(0, offset, len).await;
                let number = part_number(i)?;
                let req = client
                    .upload_part()
                    .bucket(bucket)
                    .key(key)
                    .upload_id(id)
                    .part_number(number)
                    .content_length(len as i64)
                    .body(ByteStream::from(body));
                let out = if sign {
                    req.send().await
                } else {
                    req.customize().disable_payload_signing().send().await
                }
                .map_err(|e| sdk_error(&format!("UploadPart {number}"), e))?;
                Ok(completed(number, out.e_tag))
            }
        })
        .await;
        let parts = match parts {
            Ok(p) => p,
            Err(e) => return Err(self.abort(&w.key, &upload_id, e).await),
        };
        let uploaded = t0.elapsed();
        let (complete, etag) = self.complete(&w.key, &upload_id, parts).await?;
        let total = t0.elapsed();
        self.check_written(&w.key, w.size, etag.as_deref()).await?;
        let verified = if w.verify {
            self.verify_pattern(&w.key, w.size).await?;
            Some(true)
        } else {
            None
        };
        Ok(Report {
            line: format!(
                "multipart-put {} as {} of {}, {} in flight: upload {:.2} s = {:.1} MB/s; \
                 complete {:.3} s; total {:.2} s = {:.1} MB/s{}",
                fmt_size(w.size),
                plural(layout.count, "part"),
                fmt_size(w.part_size),
                w.parallel,
                secs(uploaded),
                mb_s(w.size, uploaded),
                secs(complete),
                secs(total),
                mb_s(w.size, total),
                verified_note(verified),
            ),
            json: json!({
                "workload": "multipart-put",
                "bucket": self.bucket,
                "key": w.key,
                "bytes": w.size,
                "part_size": w.part_size,
                "parts": layout.count,
                "parallel": w.parallel,
                "upload_s": secs(uploaded),
                "upload_mb_s": mb_s(w.size, uploaded),
                "complete_s": secs(complete),
                "total_s": secs(total),
                "total_mb_s": mb_s(w.size, total),
                "etag": etag,
                "verified": verified,
            }),
        })
    }

    async fn part_copy(&self, w: PartCopy) -> Result<Report> {
        let src_bucket = w.src_bucket.clone().unwrap_or_else(|| self.bucket.clone());
        let size = self.size_of(&src_bucket, &w.src).await?;
        let layout = PartLayout::new(size, w.part_size)?;
        let source = copy_source(&src_bucket, &w.src);
        let t0 = Instant::now();
        let upload_id = self.create_upload(&w.key).await?;
        let client = self.client.clone();
        let (bucket, key, id) = (self.bucket.clone(), w.key.clone(), upload_id.clone());
        let parts = run_pool(layout.count, w.parallel, move |i| {
            let (client, bucket, key, id) =
                (client.clone(), bucket.clone(), key.clone(), id.clone());
            let source = source.clone();
            async move {
                let (offset, len) = layout.part(i);
                let number = part_number(i)?;
                let mut req = client
                    .upload_part_copy()
                    .bucket(bucket)
                    .key(key)
                    .upload_id(id)
                    .part_number(number)
                    .copy_source(source);
                if len > 0 {
                    req = req.copy_source_range(format!("bytes={}-{}", offset, offset + len - 1));
                }
                let out = req
                    .send()
                    .await
                    .map_err(|e| sdk_error(&format!("UploadPartCopy {number}"), e))?;
                let etag = out.copy_part_result.and_then(|r| r.e_tag);
                Ok(completed(number, etag))
            }
        })
        .await;
        let parts = match parts {
            Ok(p) => p,
            Err(e) => return Err(self.abort(&w.key, &upload_id, e).await),
        };
        let copied = t0.elapsed();
        let (complete, etag) = self.complete(&w.key, &upload_id, parts).await?;
        let total = t0.elapsed();
        self.check_written(&w.key, size, etag.as_deref()).await?;
        let verified = if w.verify {
            self.verify_same(&src_bucket, &w.src, &w.key).await?;
            Some(true)
        } else {
            None
        };
        Ok(Report {
            line: format!(
                "part-copy {} as {} of {}, {} in flight: copy {:.2} s = {:.1} MB/s; \
                 complete {:.3} s; total {:.2} s = {:.1} MB/s{}",
                fmt_size(size),
                plural(layout.count, "range"),
                fmt_size(w.part_size),
                w.parallel,
                secs(copied),
                mb_s(size, copied),
                secs(complete),
                secs(total),
                mb_s(size, total),
                verified_note(verified),
            ),
            json: json!({
                "workload": "part-copy",
                "bucket": self.bucket,
                "src": format!("{src_bucket}/{}", w.src),
                "key": w.key,
                "bytes": size,
                "part_size": w.part_size,
                "parts": layout.count,
                "parallel": w.parallel,
                "copy_s": secs(copied),
                "copy_mb_s": mb_s(size, copied),
                "complete_s": secs(complete),
                "total_s": secs(total),
                "total_mb_s": mb_s(size, total),
                "etag": etag,
                "verified": verified,
            }),
        })
    }

    async fn copy(&self, w: Copy) -> Result<Report> {
        let src_bucket = w.src_bucket.clone().unwrap_or_else(|| self.bucket.clone());
        let size = self.size_of(&src_bucket, &w.src).await?;
        let t0 = Instant::now();
        let out = self
            .client
            .copy_object()
            .bucket(&self.bucket)
            .key(&w.key)
            .copy_source(copy_source(&src_bucket, &w.src))
            .send()
            .await
            .map_err(|e| sdk_error("CopyObject", e))?;
        let took = t0.elapsed();
        let etag = out.copy_object_result.and_then(|r| r.e_tag);
        self.check_written(&w.key, size, etag.as_deref()).await?;
        let verified = if w.verify {
            self.verify_same(&src_bucket, &w.src, &w.key).await?;
            Some(true)
        } else {
            None
        };
        Ok(Report {
            line: format!(
                "copy {}: {:.3} s = {:.1} MB/s{}",
                fmt_size(size),
                secs(took),
                mb_s(size, took),
                verified_note(verified),
            ),
            json: json!({
                "workload": "copy",
                "bucket": self.bucket,
                "src": format!("{src_bucket}/{}", w.src),
                "key": w.key,
                "bytes": size,
                "copy_s": secs(took),
                "copy_mb_s": mb_s(size, took),
                "etag": etag,
                "verified": verified,
            }),
        })
    }

    async fn put(&self, w: Batch) -> Result<Report> {
        let client = self.client.clone();
        let bucket = self.bucket.clone();
        let prefix = w.prefix.clone();
        let (size, sign) = (w.size, self.sign_payload);
        let t0 = Instant::now();
        let lat = run_pool(w.count, w.concurrency, move |i| {
            let (client, bucket) = (client.clone(), bucket.clone());
            let key = format!("{prefix}{i}");
            async move {
                let body = pattern_bytes(i, 0, size).await;
                let t = Instant::now();
                let req = client
                    .put_object()
                    .bucket(bucket)
                    .key(&key)
                    .content_length(size as i64)
                    .body(ByteStream::from(body));
                if sign {
                    req.send().await
                } else {
                    req.customize().disable_payload_signing().send().await
                }
                .map_err(|e| sdk_error(&format!("PutObject {key}"), e))?;
                Ok(t.elapsed())
            }
        })
        .await?;
        Ok(batch_report("put", &w, w.count * w.size, t0.elapsed(), lat))
    }

    async fn get(&self, w: Batch) -> Result<Report> {
        let client = self.client.clone();
        let bucket = self.bucket.clone();
        let prefix = w.prefix.clone();
        let verify = w.verify;
        let t0 = Instant::now();
        let results = run_pool(w.count, w.concurrency, move |i| {
            let (client, bucket) = (client.clone(), bucket.clone());
            let key = format!("{prefix}{i}");
            async move {
                let t = Instant::now();
                let out = client
                    .get_object()
                    .bucket(bucket)
                    .key(&key)
                    .send()
                    .await
                    .map_err(|e| sdk_error(&format!("GetObject {key}"), e))?;
                let mut body = out.body;
                let mut checker = verify.then(|| PatternCheck::new(i));
                let mut n = 0u64;
                while let Some(chunk) = body
                    .try_next()
                    .await
                    .map_err(|e| format!("GetObject {key}: reading the body: {e}"))?
                {
                    if let Some(c) = &mut checker {
                        c.check(&chunk)
                            .map_err(|e| format!("GetObject {key}: {e}"))?;
                    }
                    n += chunk.len() as u64;
                }
                Ok((t.elapsed(), n))
            }
        })
        .await?;
        let bytes = results.iter().map(|r| r.1).sum();
        let lat = results.into_iter().map(|r| r.0).collect();
        Ok(batch_report("get", &w, bytes, t0.elapsed(), lat))
    }

    async fn delete(&self, w: Batch) -> Result<Report> {
        let client = self.client.clone();
        let bucket = self.bucket.clone();
        let prefix = w.prefix.clone();
        let t0 = Instant::now();
        let lat = run_pool(w.count, w.concurrency, move |i| {
            let (client, bucket) = (client.clone(), bucket.clone());
            let key = format!("{prefix}{i}");
            async move {
                let t = Instant::now();
                client
                    .delete_object()
                    .bucket(bucket)
                    .key(&key)
                    .send()
                    .await
                    .map_err(|e| sdk_error(&format!("DeleteObject {key}"), e))?;
                Ok(t.elapsed())
            }
        })
        .await?;
        Ok(batch_report("delete", &w, 0, t0.elapsed(), lat))
    }

    async fn versioning(&self, w: VersioningArgs) -> Result<Report> {
        let status = match w.status.as_str() {
            "Enabled" => BucketVersioningStatus::Enabled,
            "Suspended" => BucketVersioningStatus::Suspended,
            other => return Err(format!("--status {other:?}: Enabled or Suspended")),
        };
        self.client
            .put_bucket_versioning()
            .bucket(&self.bucket)
            .versioning_configuration(VersioningConfiguration::builder().status(status).build())
            .send()
            .await
            .map_err(|e| sdk_error("PutBucketVersioning", e))?;
        Ok(Report {
            line: format!("versioning of {}: {}", self.bucket, w.status),
            json: json!({"workload": "versioning", "bucket": self.bucket, "status": w.status}),
        })
    }

    async fn list(&self, w: List, conn: &Conn) -> Result<Report> {
        let light = w
            .light
            .then(|| {
                light::Lister::new(
                    &conn.endpoint,
                    &conn.region,
                    &conn.access_key,
                    &conn.secret_key,
                )
            })
            .transpose()?;
        for _ in 0..w.warmup {
            self.listing(&w, light.as_ref()).await?;
        }
        let t0 = Instant::now();
        let (mut pages, mut entries) = (0u64, 0u64);
        for _ in 0..w.repeat {
            let (p, e) = self.listing(&w, light.as_ref()).await?;
            pages += p;
            entries += e;
        }
        let took = t0.elapsed();
        let per_listing = secs(took) / f64::from(w.repeat.max(1));
        Ok(Report {
            line: format!(
                "list {:?}{}{}: {} listings of {} entries in {} pages, {:.3} s each, {:.0} entries/s",
                w.prefix,
                if w.walk { " walked" } else { "" },
                w.delimiter
                    .as_deref()
                    .map_or(String::new(), |d| format!(" delimiter {d:?}")),
                w.repeat,
                entries / u64::from(w.repeat.max(1)),
                pages / u64::from(w.repeat.max(1)),
                per_listing,
                entries as f64 / secs(took).max(1e-9),
            ),
            json: json!({
                "workload": if w.versions { "list-versions" } else { "list" },
                "client": if w.light { "light" } else { "sdk" },
                "warmup": w.warmup,
                "bucket": self.bucket,
                "prefix": w.prefix,
                "delimiter": w.delimiter,
                "walk": w.walk,
                "repeat": w.repeat,
                "pages": pages,
                "entries": entries,
                "seconds": secs(took),
                "listing_s": per_listing,
                "entries_per_s": entries as f64 / secs(took).max(1e-9),
            }),
        })
    }

    /// One listing of `w.prefix` to its end, or with `--walk` one walk of its tree: (pages,
    /// entries).
    async fn listing(&self, w: &List, light: Option<&light::Lister>) -> Result<(u64, u64)> {
        if !w.walk {
            let (pages, entries, _) = self.folder(w, &w.prefix, light).await?;
            return Ok((pages, entries));
        }
        let (mut pages, mut entries) = (0, 0);
        let mut todo = vec![w.prefix.clone()];
        while let Some(prefix) = todo.pop() {
            let (p, e, below) = self.folder(w, &prefix, light).await?;
            pages += p;
            entries += e;
            todo.extend(below.into_iter().rev());
        }
        Ok((pages, entries))
    }

    /// One listing of `prefix` to its end: (pages, entries, common prefixes).
    async fn folder(
        &self,
        w: &List,
        prefix: &str,
        light: Option<&light::Lister>,
    ) -> Result<(u64, u64, Vec<String>)> {
        let delimiter = match w.walk {
            true => Some(w.delimiter.as_deref().unwrap_or("/")),
            false => w.delimiter.as_deref(),
        };
        if let Some(l) = light {
            let kind = match w.versions {
                true => light::Kind::Versions,
                false => light::Kind::Objects,
            };
            let got = l
                .listing(kind, &self.bucket, prefix, delimiter, w.max_keys)
                .await?;
            return Ok((got.pages, got.entries, got.prefixes));
        }
        if w.versions {
            let (pages, entries) = self.version_listing(w).await?;
            return Ok((pages, entries, Vec::new()));
        }
        let (mut pages, mut entries, mut prefixes) = (0u64, 0u64, Vec::new());
        let mut token = None;
        loop {
            let out = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_delimiter(delimiter.map(str::to_string))
                .max_keys(w.max_keys)
                .set_continuation_token(token)
                .send()
                .await
                .map_err(|e| sdk_error("ListObjectsV2", e))?;
            pages += 1;
            entries += (out.contents().len() + out.common_prefixes().len()) as u64;
            prefixes.extend(
                out.common_prefixes()
                    .iter()
                    .filter_map(|p| p.prefix().map(str::to_string)),
            );
            token = out.next_continuation_token().map(str::to_string);
            if out.is_truncated() != Some(true) || token.is_none() {
                return Ok((pages, entries, prefixes));
            }
        }
    }

    /// One ListObjectVersions of `w.prefix` to its end: (pages, versions and markers).
    async fn version_listing(&self, w: &List) -> Result<(u64, u64)> {
        let (mut pages, mut entries) = (0u64, 0u64);
        let (mut key_marker, mut version_marker) = (None, None);
        loop {
            let out = self
                .client
                .list_object_versions()
                .bucket(&self.bucket)
                .prefix(&w.prefix)
                .set_delimiter(w.delimiter.clone())
                .max_keys(w.max_keys)
                .set_key_marker(key_marker)
                .set_version_id_marker(version_marker)
                .send()
                .await
                .map_err(|e| sdk_error("ListObjectVersions", e))?;
            pages += 1;
            entries += (out.versions().len()
                + out.delete_markers().len()
                + out.common_prefixes().len()) as u64;
            key_marker = out.next_key_marker().map(str::to_string);
            version_marker = out.next_version_id_marker().map(str::to_string);
            if out.is_truncated() != Some(true) || key_marker.is_none() {
                return Ok((pages, entries));
            }
        }
    }

    async fn verify(&self, w: Verify) -> Result<Report> {
        let t = Instant::now();
        let size = self.size_of(&self.bucket, &w.key).await?;
        match &w.same_as {
            Some(other) => self.verify_same(&self.bucket, other, &w.key).await?,
            None => self.verify_pattern(&w.key, size).await?,
        }
        let took = t.elapsed();
        let against = match &w.same_as {
            Some(other) => format!("same bytes as {other}"),
            None => "the generated pattern".to_string(),
        };
        Ok(Report {
            line: format!(
                "verify {} ({}): {against}, read in {:.2} s",
                w.key,
                fmt_size(size),
                secs(took)
            ),
            json: json!({
                "workload": "verify",
                "bucket": self.bucket,
                "key": w.key,
                "same_as": w.same_as,
                "bytes": size,
                "seconds": secs(took),
                "verified": true,
            }),
        })
    }

    async fn create_upload(&self, key: &str) -> Result<String> {
        let out = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| sdk_error("CreateMultipartUpload", e))?;
        out.upload_id
            .ok_or_else(|| "CreateMultipartUpload: no UploadId in the answer".to_string())
    }

    /// CompleteMultipartUpload: its latency and the ETag.
    async fn complete(
        &self,
        key: &str,
        upload_id: &str,
        parts: Vec<CompletedPart>,
    ) -> Result<(Duration, Option<String>)> {
        let count = parts.len();
        let t = Instant::now();
        let res = self
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await;
        let took = t.elapsed();
        let out = match res {
            Ok(out) => out,
            Err(e) => {
                let e = sdk_error("CompleteMultipartUpload", e);
                return Err(self.abort(key, upload_id, e).await);
            }
        };
        if let Some(etag) = &out.e_tag {
            if !etag.trim_matches('"').ends_with(&format!("-{count}")) {
                return Err(format!(
                    "CompleteMultipartUpload: ETag {etag} does not end in -{count}"
                ));
            }
        }
        Ok((took, out.e_tag))
    }

    /// Best-effort AbortMultipartUpload after a failure; gives the failure back.
    async fn abort(&self, key: &str, upload_id: &str, err: String) -> String {
        match self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
        {
            Ok(_) => err,
            Err(e) => format!("{err} (and then {})", sdk_error("AbortMultipartUpload", e)),
        }
    }

    async fn size_of(&self, bucket: &str, key: &str) -> Result<u64> {
        Ok(self.head(bucket, key).await?.0)
    }

    /// Size and ETag from HeadObject.
    async fn head(&self, bucket: &str, key: &str) -> Result<(u64, Option<String>)> {
        let out = self
            .client
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| sdk_error(&format!("HeadObject {bucket}/{key}"), e))?;
        let len = out.content_length.unwrap_or(-1);
        let size = u64::try_from(len)
            .map_err(|_| format!("HeadObject {bucket}/{key}: Content-Length {len}"))?;
        Ok((size, out.e_tag))
    }

    /// The object written must have the expected size, and HEAD the ETag the write answered.
    async fn check_written(&self, key: &str, size: u64, etag: Option<&str>) -> Result<()> {
        let (got, head_etag) = self.head(&self.bucket, key).await?;
        if got != size {
            return Err(format!(
                "{}/{key} has {got} bytes after the write, expected {size}",
                self.bucket
            ));
        }
        if let (Some(written), Some(head)) = (etag, head_etag.as_deref()) {
            if written != head {
                return Err(format!(
                    "{}/{key}: HeadObject answers ETag {head}, the write answered {written}",
                    self.bucket
                ));
            }
        }
        Ok(())
    }

    async fn open(&self, bucket: &str, key: &str) -> Result<ByteStream> {
        let out = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| sdk_error(&format!("GetObject {bucket}/{key}"), e))?;
        Ok(out.body)
    }

    /// The object's bytes must be the pattern `multipart-put` sends.
    async fn verify_pattern(&self, key: &str, size: u64) -> Result<()> {
        let mut body = self.open(&self.bucket, key).await?;
        let mut check = PatternCheck::new(0);
        while let Some(chunk) = body
            .try_next()
            .await
            .map_err(|e| format!("GetObject {key}: reading the body: {e}"))?
        {
            check.check(&chunk).map_err(|e| format!("{key}: {e}"))?;
        }
        if check.offset != size {
            return Err(format!(
                "{key}: read {} bytes, expected {size}",
                check.offset
            ));
        }
        Ok(())
    }

    /// Source and copy must have the same bytes (compared by MD5, both read at once).
    async fn verify_same(&self, src_bucket: &str, src: &str, key: &str) -> Result<()> {
        let (a, b) = tokio::join!(self.md5_of(src_bucket, src), self.md5_of(&self.bucket, key));
        let (a, b) = (a?, b?);
        if a != b {
            return Err(format!(
                "the copy {}/{key} differs from {src_bucket}/{src}: {} bytes md5 {} \
                 against {} bytes md5 {}",
                self.bucket, b.0, b.1, a.0, a.1
            ));
        }
        Ok(())
    }

    async fn md5_of(&self, bucket: &str, key: &str) -> Result<(u64, String)> {
        let mut body = self.open(bucket, key).await?;
        let mut md5 = Md5::new();
        let mut n = 0u64;
        while let Some(chunk) = body
            .try_next()
            .await
            .map_err(|e| format!("GetObject {bucket}/{key}: reading the body: {e}"))?
        {
            n += chunk.len() as u64;
            md5.update(&chunk);
        }
        Ok((n, hex::encode(md5.finalize())))
    }
}

fn completed(number: i32, etag: Option<String>) -> CompletedPart {
    CompletedPart::builder()
        .part_number(number)
        .set_e_tag(etag)
        .build()
}

fn part_number(i: u64) -> Result<i32> {
    i32::try_from(i + 1).map_err(|_| format!("part number {} out of range", i + 1))
}

/// `bucket/key` for `x-amz-copy-source`, the key percent-encoded except for `/`.
fn copy_source(bucket: &str, key: &str) -> String {
    let mut s = format!("{bucket}/");
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

/// How an object of `size` bytes is cut into parts of `part_size` (the last one shorter).
#[derive(Clone, Copy)]
struct PartLayout {
    size: u64,
    part_size: u64,
    count: u64,
}

impl PartLayout {
    fn new(size: u64, part_size: u64) -> Result<PartLayout> {
        if part_size == 0 {
            return Err("--part-size must be above 0".into());
        }
        // An empty object is still one (empty) part.
        let count = size.div_ceil(part_size).max(1);
        if count > 10_000 {
            return Err(format!(
                "{count} parts: S3 allows at most 10000, use a larger --part-size"
            ));
        }
        Ok(PartLayout {
            size,
            part_size,
            count,
        })
    }

    /// Offset and length of part `i` (0-based).
    fn part(&self, i: u64) -> (u64, u64) {
        let offset = i * self.part_size;
        (offset, self.part_size.min(self.size - offset))
    }
}

/// Runs `f(0..n)` with at most `parallel` calls in flight; results in index order. The first
/// error stops the handing out of new indexes and is returned once the calls in flight end.
async fn run_pool<T, F, Fut>(n: u64, parallel: usize, f: F) -> Result<Vec<T>>
where
    T: Send + 'static,
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T>> + Send + 'static,
{
    let next = Arc::new(AtomicU64::new(0));
    let f = Arc::new(f);
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..(parallel as u64).min(n) {
        let (next, f) = (next.clone(), f.clone());
        set.spawn(async move {
            let mut done = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok(done);
                }
                match f(i).await {
                    Ok(v) => done.push((i, v)),
                    Err(e) => {
                        next.store(n, Ordering::Relaxed);
                        return Err(e);
                    }
                }
            }
        });
    }
    let mut all = Vec::with_capacity(n as usize);
    let mut first_err = None;
    while let Some(res) = set.join_next().await {
        match res {
            Ok(Ok(done)) => all.extend(done),
            Ok(Err(e)) => {
                first_err.get_or_insert(e);
            }
            Err(e) => {
                first_err.get_or_insert(format!("a worker task failed: {e}"));
            }
        }
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    all.sort_unstable_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, v)| v).collect())
}

/// One core's MD5 of `w.size` bytes of the pattern, in the buffers a body arrives in.
fn md5_speed(w: Md5Speed) -> Report {
    const BUF: u64 = 512 << 10;
    let bufs: Vec<Vec<u8>> = (0..4u64)
        .map(|i| {
            let mut b = vec![0u8; BUF as usize];
            fill_pattern(7, i * BUF, &mut b);
            b
        })
        .collect();
    let t0 = Instant::now();
    let mut md5 = Md5::new();
    let mut done = 0u64;
    while done < w.size {
        let b = &bufs[(done / BUF % 4) as usize];
        let take = (w.size - done).min(BUF) as usize;
        md5.update(&b[..take]);
        done += take as u64;
    }
    let digest = hex::encode(md5.finalize());
    let took = t0.elapsed();
    let mb_s = w.size as f64 / 1e6 / secs(took).max(1e-9);
    Report {
        line: format!(
            "md5 of {} bytes on one core: {mb_s:.1} MB/s ({digest})",
            w.size
        ),
        json: json!({"workload": "md5", "bytes": w.size, "seconds": secs(took), "mb_s": mb_s}),
    }
}

// ------------------------------------------------------------------ the byte pattern

/// The 8 bytes at offset `8 * i` of an object generated with `seed`: a multiplicative hash of
/// the word index, cheap to make and to check anywhere in the object, and never sparse.
fn pattern_word(seed: u64, i: u64) -> [u8; 8] {
    ((i ^ seed.rotate_left(32)).wrapping_add(1))
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .to_le_bytes()
}

/// Fills `buf` with the pattern bytes from `offset` on.
fn fill_pattern(seed: u64, offset: u64, buf: &mut [u8]) {
    let mut pos = 0usize;
    let mut off = offset;
    while pos < buf.len() {
        let word = pattern_word(seed, off / 8);
        let start = (off % 8) as usize;
        let take = (8 - start).min(buf.len() - pos);
        buf[pos..pos + take].copy_from_slice(&word[start..start + take]);
        pos += take;
        off += take as u64;
    }
}

/// A part's bytes, made on a blocking thread so the runtime keeps moving the other parts.
async fn pattern_bytes(seed: u64, offset: u64, len: u64) -> Bytes {
    tokio::task::spawn_blocking(move || {
        let mut v = vec![0u8; len as usize];
        fill_pattern(seed, offset, &mut v);
        Bytes::from(v)
    })
    .await
    .expect("pattern generation")
}

/// Checks a stream of chunks against the pattern.
struct PatternCheck {
    seed: u64,
    offset: u64,
    expected: Vec<u8>,
}

impl PatternCheck {
    fn new(seed: u64) -> PatternCheck {
        PatternCheck {
            seed,
            offset: 0,
            expected: Vec::new(),
        }
    }

    fn check(&mut self, chunk: &[u8]) -> Result<()> {
        self.expected.resize(chunk.len(), 0);
        fill_pattern(self.seed, self.offset, &mut self.expected);
        if let Some(at) = chunk.iter().zip(&self.expected).position(|(a, b)| a != b) {
            return Err(format!(
                "byte {} differs from what was uploaded",
                self.offset + at as u64
            ));
        }
        self.offset += chunk.len() as u64;
        Ok(())
    }
}

// ------------------------------------------------------------------ reporting

fn batch_report(
    op: &str,
    w: &Batch,
    bytes: u64,
    total: Duration,
    mut lat: Vec<Duration>,
) -> Report {
    lat.sort_unstable();
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            return 0.0;
        }
        let i = ((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1;
        lat[i].as_secs_f64() * 1000.0
    };
    let ops = w.count as f64 / total.as_secs_f64();
    let (p50, p99, max) = (pct(0.50), pct(0.99), pct(1.0));
    Report {
        line: format!(
            "{op} {} objects of {}, {} in flight: {:.2} s = {:.1} ops/s, {:.1} MB/s; \
             latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            w.count,
            fmt_size(if op == "put" {
                w.size
            } else {
                bytes / w.count.max(1)
            }),
            w.concurrency,
            secs(total),
            ops,
            mb_s(bytes, total),
            p50,
            p99,
            max
        ),
        json: json!({
            "workload": op,
            "count": w.count,
            "bytes": bytes,
            "concurrency": w.concurrency,
            "prefix": w.prefix,
            "total_s": secs(total),
            "ops_s": round(ops, 1),
            "mb_s": mb_s(bytes, total),
            "lat_p50_ms": round(p50, 2),
            "lat_p99_ms": round(p99, 2),
            "lat_max_ms": round(max, 2),
        }),
    }
}

fn plural(n: u64, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

fn verified_note(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "; contents verified",
        _ => "",
    }
}

fn round(x: f64, digits: i32) -> f64 {
    let m = 10f64.powi(digits);
    (x * m).round() / m
}

fn secs(d: Duration) -> f64 {
    round(d.as_secs_f64(), 4)
}

/// MB/s, MB being 10^6 bytes (as dd reports).
fn mb_s(bytes: u64, d: Duration) -> f64 {
    round(bytes as f64 / 1e6 / d.as_secs_f64().max(1e-9), 1)
}

fn fmt_size(n: u64) -> String {
    const UNITS: [(&str, u64); 4] = [
        ("TiB", 1 << 40),
        ("GiB", 1 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
    ];
    for (unit, m) in UNITS {
        if n >= m {
            let x = n as f64 / m as f64;
            return if x.fract() == 0.0 {
                format!("{} {unit}", n / m)
            } else {
                format!("{x:.2} {unit}")
            };
        }
    }
    format!("{n} B")
}

/// `4GiB`, `64MiB`, `64M` (binary, as dd), `1GB` (decimal), `1000` (bytes).
fn parse_size(s: &str) -> Result<u64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        other => return Err(format!("unknown size unit '{other}' in '{s}'")),
    };
    if num.contains('.') {
        let x: f64 = num.parse().map_err(|_| format!("bad size '{s}'"))?;
        Ok((x * mult as f64).round() as u64)
    } else {
        let x: u64 = num.parse().map_err(|_| format!("bad size '{s}'"))?;
        x.checked_mul(mult)
            .ok_or_else(|| format!("size '{s}' is too large"))
    }
}

/// An SDK error with the HTTP status, S3 error code and message when the server sent them.
fn sdk_error<E>(what: &str, e: SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let status = e
        .raw_response()
        .map(|r| format!(" HTTP {}", r.status().as_u16()))
        .unwrap_or_default();
    match e.code() {
        Some(code) => format!("{what}:{status} {code}: {}", e.message().unwrap_or("")),
        None => format!("{what}:{status} {}", DisplayErrorContext(&e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4GiB").unwrap(), 4 << 30);
        assert_eq!(parse_size("64M").unwrap(), 64 << 20);
        assert_eq!(parse_size("1GB").unwrap(), 1_000_000_000);
        assert_eq!(parse_size("1.5KiB").unwrap(), 1536);
        assert_eq!(parse_size("123").unwrap(), 123);
        assert!(parse_size("12 parsecs").is_err());
        assert_eq!(fmt_size(4 << 30), "4 GiB");
        assert_eq!(fmt_size(1536), "1.50 KiB");
    }

    #[test]
    fn pattern_is_the_same_whatever_the_cut() {
        let mut whole = vec![0u8; 1000];
        fill_pattern(7, 3, &mut whole);
        let mut check = PatternCheck::new(7);
        let mut head = vec![0u8; 3];
        fill_pattern(7, 0, &mut head);
        check.check(&head).unwrap();
        for piece in whole.chunks(13) {
            check.check(piece).unwrap();
        }
        let mut bad = vec![0u8; 5];
        fill_pattern(7, check.offset, &mut bad);
        bad[4] ^= 1;
        assert!(check.check(&bad).is_err());
    }

    #[test]
    fn layout() {
        let l = PartLayout::new(10, 4).unwrap();
        assert_eq!(l.count, 3);
        assert_eq!(l.part(2), (8, 2));
        assert_eq!(PartLayout::new(0, 4).unwrap().count, 1);
        assert!(PartLayout::new(1 << 40, 1 << 20).is_err());
    }

    #[test]
    fn copy_source_encoding() {
        assert_eq!(copy_source("b", "a dir/k+1.bin"), "b/a%20dir/k%2B1.bin");
    }
}
