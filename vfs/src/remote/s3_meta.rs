//! An S3 store's own replacement of an object's metadata: the object copied onto itself with
//! `x-amz-metadata-directive: REPLACE`, which the store does without the bytes leaving it. OpenDAL
//! copies only with the source's metadata (the `COPY` directive), so this one request is signed
//! and sent here, with the credentials OpenDAL's S3 service would use.
//!
//! The copy is pinned to the version it replaces (`x-amz-copy-source-if-match` with the store's
//! ETag of it): a version another writer put meanwhile is left alone and the copy fails (412).
//! The copy is one request: the store makes the new version visible whole, as any PUT, so a
//! reader sees either the old metadata or the new, never a mix; what it costs is a new
//! Last-Modified (and, for an object the store assembled from parts, a new ETag) on the
//! store, and, for an object over 5 GiB, nothing: S3 copies at most that much in one request.

use std::io;
use std::time::Duration;

use reqsign_aws_v4::{DefaultCredentialProvider, RequestSigner, StaticCredentialProvider};
use reqsign_core::{Context, OsEnv, ProvideCredentialChain, Signer};

use super::stream_put::encode_path;

/// The hash of an empty body, which the copy sends.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Where and how to send the copy: the store's endpoint and bucket, the root under it, and a
/// signer.
pub(super) struct MetaCopier {
    client: reqwest::Client,
    signer: Signer<reqsign_aws_v4::Credential>,
    /// `https://host` (path style: the bucket follows) or `https://bucket.host`.
    endpoint: String,
    bucket: String,
    virtual_host: bool,
    /// The root of the served tree in the bucket, without slashes at its ends.
    root: String,
}

impl MetaCopier {
    /// From an S3 remote's OpenDAL options; `None` where the copy could not carry what
    /// OpenDAL's own writes carry (server-side encryption settings), so that the object is
    /// written through this server instead.
    pub(super) fn from_options(options: &[(String, String)]) -> io::Result<Option<MetaCopier>> {
        let get = |k: &str| super::option(options, k);
        let on = |k: &str| get(k).is_some_and(|v| v.eq_ignore_ascii_case("true"));
        if options
            .iter()
            .any(|(k, _)| k.starts_with("server_side_encryption"))
            || get("bucket").is_none()
        {
            return Ok(None);
        }
        // Where the options leave them out, from the environment as OpenDAL takes them.
        let env = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| std::env::var(n).ok())
                .filter(|_| !on("disable_config_load"))
        };
        let region = get("region")
            .map(str::to_string)
            .or_else(|| env(&["AWS_REGION", "AWS_DEFAULT_REGION"]))
            .unwrap_or_else(|| "us-east-1".into());
        let endpoint = get("endpoint")
            .map(str::to_string)
            .or_else(|| env(&["AWS_ENDPOINT_URL", "AWS_ENDPOINT", "AWS_S3_ENDPOINT"]))
            .map(|e| e.trim_end_matches('/').to_string())
            .unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"));
        let mut defaults = DefaultCredentialProvider::builder();
        if on("disable_config_load") {
            defaults = defaults.no_env().no_profile();
        }
        if on("disable_ec2_metadata") {
            defaults = defaults.no_imds();
        }
        let mut credentials = ProvideCredentialChain::new().push(defaults.build());
        if let (Some(ak), Some(sk)) = (get("access_key_id"), get("secret_access_key")) {
            let fixed = StaticCredentialProvider::new(ak, sk);
            credentials = credentials.push_front(match get("session_token") {
                Some(token) => fixed.with_session_token(token),
                None => fixed,
            });
        }
        let ctx = Context::new()
            .with_file_read(reqsign_file_read_tokio::TokioFileRead)
            .with_env(OsEnv);
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(30))
            .timeout(Duration::from_secs(600))
            .build()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        Ok(Some(MetaCopier {
            client,
            signer: Signer::new(ctx, credentials, RequestSigner::new("s3", &region)),
            endpoint,
            bucket: get("bucket").unwrap_or_default().to_string(),
            virtual_host: on("enable_virtual_host_style"),
            root: get("root").unwrap_or("").trim_matches('/').to_string(),
        }))
    }

    /// The URL of the object at `path` (under the root) and its name as a copy's source.
    fn addresses(&self, path: &str) -> (String, String) {
        let key = encode_path(&format!("{}/{}", self.root, path));
        let url = if self.virtual_host {
            let (scheme, host) = self
                .endpoint
                .split_once("://")
                .unwrap_or(("https", &self.endpoint));
            format!("{scheme}://{}.{host}/{key}", self.bucket)
        } else {
            format!("{}/{}/{key}", self.endpoint, self.bucket)
        };
        (url, format!("/{}/{key}", self.bucket))
    }

    /// Replaces the metadata of the object at `path` (under the root) by `meta` as the value of
    /// the user metadata `name`, only while the store's ETag of it is `etag`: `ESTALE` when
    /// another version is there, or none.
    pub(super) async fn replace(
        &self,
        path: &str,
        etag: &str,
        name: &str,
        meta: &str,
    ) -> io::Result<()> {
        self.copy_onto(path, path, etag, Some((name, meta))).await
    }

    /// Copies the object at `from` to `to` (under the root) with its metadata, only while the
    /// store's ETag of `from` is `etag`: `ESTALE` when another version is there, or none.
    pub(super) async fn copy(&self, from: &str, to: &str, etag: &str) -> io::Result<()> {
        self.copy_onto(from, to, etag, None).await
    }

    /// The copy of `from` onto `to` pinned to `etag`, with the metadata `name: meta` in place
    /// of the source's where given.
    async fn copy_onto(
        &self,
        from: &str,
        to: &str,
        etag: &str,
        replaced: Option<(&str, &str)>,
    ) -> io::Result<()> {
        let what = match from == to {
            true => format!("copy of {from} onto itself"),
            false => format!("copy of {from} to {to}"),
        };
        let (_, source) = self.addresses(from);
        let (url, _) = self.addresses(to);
        let mut request = http::Request::put(url)
            .header("x-amz-copy-source", source)
            .header("x-amz-copy-source-if-match", etag);
        if let Some((name, meta)) = replaced {
            request = request
                .header("x-amz-metadata-directive", "REPLACE")
                .header(format!("x-amz-meta-{name}"), meta);
        }
        let request = request
            .header("x-amz-content-sha256", EMPTY_SHA256)
            .header("content-length", "0")
            .body(())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        let (mut head, ()) = request.into_parts();
        self.signer
            .sign(&mut head, None)
            .await
            .map_err(|e| io::Error::new(io::ErrorKind::PermissionDenied, e.to_string()))?;
        let request = reqwest::Request::try_from(http::Request::from_parts(head, Vec::new()))
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        let response = self
            .client
            .execute(request)
            .await
            .map_err(|e| crate::unavailable::unanswered(&e, format!("{what}: {e}")))?;
        let status = response.status();
        let body = response
            .text()
            .await
            .map_err(|e| crate::unavailable::unanswered(&e, format!("{what}: {e}")))?;
        match status.as_u16() {
            // S3 may answer a copy 200 and report its failure in the body.
            200 if !body.contains("<Error>") => Ok(()),
            404 | 412 => Err(io::Error::from_raw_os_error(libc::ESTALE)),
            _ => Err(crate::unavailable::answered(
                status.as_u16(),
                format!(
                    "{what}: {status}: {}",
                    body.chars().take(300).collect::<String>()
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copier(options: &[(&str, &str)]) -> Option<MetaCopier> {
        // As `OpendalRemote::new` does before it builds any client.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let options: Vec<(String, String)> = options
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        MetaCopier::from_options(&options).unwrap()
    }

    #[test]
    fn the_copy_names_the_object_under_the_root_in_either_style() {
        let path_style = copier(&[
            ("bucket", "store"),
            ("endpoint", "http://127.0.0.1:9000/"),
            ("root", "/served/tree/"),
            ("disable_config_load", "true"),
        ])
        .expect("a copier");
        assert_eq!(
            path_style.addresses("bkt/a b/\u{e9}"),
            (
                "http://127.0.0.1:9000/store/served/tree/bkt/a%20b/%C3%A9".to_string(),
                "/store/served/tree/bkt/a%20b/%C3%A9".to_string()
            )
        );
        let virtual_host = copier(&[
            ("bucket", "store"),
            ("region", "eu-west-3"),
            ("root", "/"),
            ("enable_virtual_host_style", "true"),
            ("disable_config_load", "true"),
        ])
        .expect("a copier");
        assert_eq!(
            virtual_host.addresses("bkt/k").0,
            "https://store.s3.eu-west-3.amazonaws.com/bkt/k"
        );
    }

    #[test]
    fn encryption_settings_leave_the_copy_to_the_gateway() {
        assert!(copier(&[
            ("bucket", "store"),
            ("server_side_encryption", "aws:kms"),
            ("disable_config_load", "true"),
        ])
        .is_none());
    }
}
