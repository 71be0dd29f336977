//! The server under test: a real s3gate on `127.0.0.1:0` over its own temporary directory, the
//! configuration it starts from, restarts and reloads, the shortest SDK calls every test makes
//! through it, and a look at the files it left on disk.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use aws_sdk_s3::operation::copy_object::builders::CopyObjectFluentBuilder;
use aws_sdk_s3::operation::delete_object::DeleteObjectOutput;
use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use s3gate::{Config, Server};
use tempfile::TempDir;

use super::raw_http::http;
use super::sdk::{body_of, client_for, describe, keys_of, status_and_code};

pub(crate) const ACCESS_KEY: &str = "AKIDTESTS3GATE";
pub(crate) const SECRET_KEY: &str = "secret/key+for=tests";

/// A running server over its own temporary directory, with a client for it.
pub(crate) struct TestServer {
    pub(crate) dir: TempDir,
    pub(crate) config: Config,
    pub(crate) addr: SocketAddr,
    pub(crate) client: Client,
    server: Option<Server>,
    access_key: String,
    secret_key: String,
    /// The users file of [`Self::start_with_users`], kept for as long as the server may read it.
    users_file: Option<tempfile::NamedTempFile>,
}

/// The configuration every test starts from: loopback, port 0, the given directory.
pub(crate) fn base_config(root: &Path) -> Config {
    let mut config = Config::default();
    config.server.addr = "127.0.0.1:0".parse().unwrap();
    config.server.workers = 2;
    config.remote.path = root.to_path_buf();
    // Durability is not under test here and fsync only slows the suite down.
    config.vfs.fsync = false;
    // Far above the clients' pool (sdk.rs, 2 s): the server counts a connection idle from when
    // it wrote its last answer, a client from when it read it, which on a loaded machine can be
    // seconds later; a request sent as the server closes the connection is reset, and the
    // tests' clients do not retry. Tests of the idle timeout set their own.
    config.server.idle_timeout = std::time::Duration::from_secs(30);
    config
}

impl TestServer {
    /// An anonymous server (no keys configured).
    pub(crate) async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    /// A server whose configuration is adjusted by `tweak` first.
    pub(crate) async fn start_with(tweak: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::Builder::new()
            .prefix("s3gate-test-")
            .tempdir()
            .unwrap();
        Self::start_in(dir, tweak).await
    }

    /// A server over an existing directory (for content prepared before the start).
    pub(crate) async fn start_in(dir: TempDir, tweak: impl FnOnce(&mut Config)) -> TestServer {
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
            users_file: None,
        }
    }

    /// A second gateway over this server's directory with an index of its own, as another
    /// machine sharing the remote would run; `tweak` adjusts its configuration. Its `dir` holds
    /// its index, so [`Self::root`] is not the served directory there.
    pub(crate) async fn start_beside(&self, tweak: impl FnOnce(&mut Config)) -> TestServer {
        let own = tempfile::Builder::new()
            .prefix("s3gate-test-index-")
            .tempdir()
            .unwrap();
        let index = own.path().join("index");
        let root = self.root().to_path_buf();
        Self::start_in(own, |c| {
            c.remote.path = root;
            c.index.path = Some(index);
            tweak(c);
        })
        .await
    }

    /// A server with the administrator's key (`ACCESS_KEY`/`SECRET_KEY`) and the users that
    /// `users` declares (the text of a users file).
    pub(crate) async fn start_with_users(users: &str) -> TestServer {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), users).unwrap();
        let mut s = Self::start_with(|c| {
            c.auth.keys = vec![format!("{ACCESS_KEY},{SECRET_KEY}").parse().unwrap()];
            c.auth.users_file = Some(file.path().to_path_buf());
        })
        .await;
        s.users_file = Some(file);
        s
    }

    /// A server that requires SigV4 with `ACCESS_KEY`/`SECRET_KEY`.
    pub(crate) async fn start_auth() -> TestServer {
        Self::start_with(|c| {
            c.auth.keys = vec![format!("{ACCESS_KEY},{SECRET_KEY}").parse().unwrap()];
        })
        .await
    }

    /// Stops the server and starts a new one with the same configuration and directory.
    pub(crate) async fn restart(&mut self) {
        self.stop_server().await;
        self.start_again().await;
    }

    /// Scrapes `/metrics` and returns each sample as `name{label=value,...}` → value.
    pub(crate) async fn metrics(&self) -> HashMap<String, f64> {
        let addr = self.metrics_addr().expect("a metrics listener");
        let text = http()
            .get(format!("http://{addr}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let lines = text.lines().map(|l| Ok(l.to_string()));
        let scrape = prometheus_parse::Scrape::parse(lines).expect("valid Prometheus text format");
        let mut out = HashMap::new();
        for sample in scrape.samples {
            let mut labels: Vec<String> = sample
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            labels.sort();
            let value = match sample.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                prometheus_parse::Value::Histogram(buckets) => {
                    // The +Inf bucket: the request count.
                    buckets.iter().map(|b| b.count).fold(0.0, f64::max)
                }
                prometheus_parse::Value::Summary(_) => continue,
            };
            out.insert(format!("{}{{{}}}", sample.metric, labels.join(",")), value);
        }
        out
    }

    /// Where the running server serves metrics, if it does.
    pub(crate) fn metrics_addr(&self) -> Option<SocketAddr> {
        self.server.as_ref().and_then(|s| s.metrics_addr())
    }

    /// Where the running server serves its console, if it does.
    pub(crate) fn web_addr(&self) -> Option<SocketAddr> {
        self.server.as_ref().and_then(|s| s.web_addr())
    }

    /// Gives the running server a new configuration to take its keys and certificate from.
    pub(crate) async fn reload(&self, config: Config) -> Result<(), s3gate::Error> {
        self.server
            .as_ref()
            .expect("the server is running")
            .reload(config)
            .await
    }

    /// Stops the server, keeping the directory (for inspection or a later [`Self::start_again`]).
    pub(crate) async fn stop_server(&mut self) {
        if let Some(server) = self.server.take() {
            // The SDK keeps its connections open between requests, and the stop closes them: a
            // fresh client starts without them.
            self.client = client_for(self.addr, &self.access_key, &self.secret_key);
            server.stop().await;
        }
    }

    /// Starts the server again after [`Self::stop_server`].
    pub(crate) async fn start_again(&mut self) {
        assert!(self.server.is_none(), "server still running");
        let server = s3gate::start(self.config.clone())
            .await
            .expect("server restarts");
        self.addr = server.addr();
        self.client = client_for(self.addr, &self.access_key, &self.secret_key);
        self.server = Some(server);
    }

    /// The served directory.
    pub(crate) fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Where an object lives on disk.
    pub(crate) fn path_of(&self, bucket: &str, key: &str) -> PathBuf {
        self.root().join(bucket).join(key)
    }

    /// `http://addr` + `path_and_query` (which must start with `/`).
    pub(crate) fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{}", self.addr, path_and_query)
    }

    pub(crate) async fn create_bucket(&self, bucket: &str) {
        self.client
            .create_bucket()
            .bucket(bucket)
            .send()
            .await
            .unwrap_or_else(|e| panic!("create bucket {bucket}: {}", describe(&e)));
    }

    /// Puts an object and returns the ETag the server answered.
    pub(crate) async fn put(&self, bucket: &str, key: &str, data: impl Into<Vec<u8>>) -> String {
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

    /// GetObject of a whole object, its body left to the caller.
    pub(crate) async fn get_object(&self, bucket: &str, key: &str) -> GetObjectOutput {
        self.client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("get {bucket}/{key}: {}", describe(&e)))
    }

    /// Gets an object's bytes.
    pub(crate) async fn get(&self, bucket: &str, key: &str) -> Vec<u8> {
        body_of(self.get_object(bucket, key).await).await
    }

    /// HeadObject of an object.
    pub(crate) async fn head(&self, bucket: &str, key: &str) -> HeadObjectOutput {
        self.client
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("head {bucket}/{key}: {}", describe(&e)))
    }

    /// Deletes an object.
    pub(crate) async fn delete(&self, bucket: &str, key: &str) -> DeleteObjectOutput {
        self.client
            .delete_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("delete {bucket}/{key}: {}", describe(&e)))
    }

    /// CopyObject of `source` (`bucket/key`) to `bucket`/`key`, the rest left to the caller.
    pub(crate) fn copy(
        &self,
        bucket: &str,
        key: &str,
        source: impl Into<String>,
    ) -> CopyObjectFluentBuilder {
        self.client
            .copy_object()
            .bucket(bucket)
            .key(key)
            .copy_source(source)
    }

    /// Asserts that GetObject answers `404 NoSuchKey`.
    pub(crate) async fn assert_no_such_key(&self, bucket: &str, key: &str) {
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
    pub(crate) async fn user_meta(&self, bucket: &str, key: &str, name: &str) -> Option<String> {
        let head = self.head(bucket, key).await;
        head.metadata().and_then(|m| m.get(name)).cloned()
    }

    /// Every key of a bucket (ListObjectsV2, paged to the end), in the order the server gave.
    pub(crate) async fn list_keys(&self, bucket: &str) -> Vec<String> {
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
            keys.extend(keys_of(out.contents()));
            match out.next_continuation_token() {
                Some(t) if out.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => break,
            }
        }
        keys
    }
}

/// Waits until `check` holds (an upload or a sweep running in the background), 20 s at most.
pub(crate) async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    eventually_async(what, || std::future::ready(check())).await
}

/// [`eventually`] for a check that asks the server.
pub(crate) async fn eventually_async<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !check().await {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting: {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Every regular file under `dir`, relative, with `/` separators, sorted; the index folder
/// (`.s3gate` at the root) is left out.
pub(crate) fn files_under(dir: &Path) -> Vec<String> {
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
