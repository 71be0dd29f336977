//! What a handler is given: the server's shared state, and the request it serves once routed
//! and authenticated ([`Ctx`]), with the readers of the request every handler shares.

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::{web, HttpRequest};
use s3gate_config::Config;
use s3gate_vfs::{BucketRecord, ObjectInfo, ObjectLock, Versioning, Vfs};

use crate::auth::{Auth, Keys};
use crate::body::Body;
use crate::error::{S3Error, S3Result};
use crate::headers;
use crate::intake::Lent;
use crate::lock_headers;
use crate::metrics::Metrics;
use crate::router::Query;

/// What every request handler can reach, shared by all workers.
pub(crate) struct ServerState {
    pub(crate) config: Arc<Config>,
    /// The served remote: everyone's but the users' with a root of their own.
    pub(crate) vfs: Arc<Vfs>,
    /// The roots of users' own (`[[users]] root`), by how the configuration names them: opened
    /// at start, each served to its users alone.
    pub(crate) roots: HashMap<String, Arc<Vfs>>,
    /// Swapped whole on reload.
    pub(crate) keys: std::sync::RwLock<Keys>,
    pub(crate) metrics: Metrics,
}

impl ServerState {
    /// What a caller's requests are served from: its own root, if it has one, else the
    /// served remote. Every root a user names was opened at start (a reload that names another
    /// is refused); a root missing here serves nothing rather than the served remote.
    pub(crate) fn vfs_for(&self, keys: &Keys, access_key: Option<&str>) -> S3Result<Arc<Vfs>> {
        match access_key.and_then(|k| keys.root_of(k)) {
            None => Ok(self.vfs.clone()),
            Some(root) => self
                .roots
                .get(root)
                .cloned()
                .ok_or_else(|| S3Error::internal("this user's root is not open")),
        }
    }

    /// The key table as it is now (a reload swaps it whole).
    pub(crate) fn keys(&self) -> S3Result<std::sync::RwLockReadGuard<'_, Keys>> {
        self.keys
            .read()
            .map_err(|_| S3Error::internal("the key table is unavailable"))
    }
}

impl Ctx {
    /// The object a request names: the version `version_id` names, current or kept (an id
    /// this server never makes answers `InvalidArgument`, a delete marker's
    /// `MethodNotAllowed`), or the current version.
    pub(crate) async fn object_version(&self, version_id: Option<&str>) -> S3Result<ObjectInfo> {
        Ok(match version_id {
            None => self.vfs().head_object(&self.bucket, &self.key).await?,
            Some(v) => {
                self.vfs()
                    .open_version(&self.bucket, &self.key, v)
                    .await?
                    .info
            }
        })
    }
}

/// One request on its way through a handler.
pub(crate) struct Ctx {
    pub(crate) req: HttpRequest,
    pub(crate) state: web::Data<ServerState>,
    pub(crate) auth: Auth,
    pub(crate) query: Query,
    pub(crate) bucket: String,
    pub(crate) key: String,
    /// What the request is served from ([`ServerState::vfs_for`]).
    vfs: Arc<Vfs>,
    /// The bucket's record, read from the index the first time a handler asks for it (most
    /// requests never need it, and a small GET should not pay an index read for it).
    record: tokio::sync::OnceCell<BucketRecord>,
}

impl Ctx {
    pub(crate) fn new(
        req: HttpRequest,
        state: web::Data<ServerState>,
        auth: Auth,
        query: Query,
        bucket: String,
        key: String,
        vfs: Arc<Vfs>,
    ) -> Ctx {
        Ctx {
            req,
            state,
            vfs,
            auth,
            query,
            bucket,
            key,
            record: tokio::sync::OnceCell::new(),
        }
    }

    /// A form upload, once its policy's signer is known (it carries no S3 signature): from then
    /// on the request is that caller's, served from what the caller is served from (its own
    /// root, for a user with one), its bucket's record read there.
    pub(crate) fn signed_by(&mut self, access_key: &str, vfs: Arc<Vfs>) {
        self.auth.access_key = Some(access_key.to_string());
        self.vfs = vfs;
        self.record = tokio::sync::OnceCell::new();
    }

    /// The bucket's record (its configuration), read once per request.
    pub(crate) async fn bucket_record(&self) -> S3Result<&BucketRecord> {
        Ok(self
            .record
            .get_or_try_init(|| self.vfs.bucket(&self.bucket))
            .await?)
    }

    /// The bucket's versioning state, from its record alone: what an answer about a version
    /// without an id calls it (`headers::version_header`).
    pub(crate) fn versioning(&self) -> S3Result<Versioning> {
        Ok(self.vfs.versioning_of(&self.bucket)?)
    }

    /// The user the caller's key belongs to; `None` for an administrator or an anonymous
    /// request.
    pub(crate) fn user(&self) -> Option<std::sync::Arc<s3gate_config::User>> {
        let key = self.auth.access_key.as_deref()?;
        self.state.keys().ok()?.user(key)
    }

    /// Whether the caller is an administrator: an administrator's key, or anyone on a server
    /// without keys; neither a user's key nor an anonymous request on a server with keys.
    pub(crate) fn administrator(&self) -> bool {
        match &self.auth.access_key {
            Some(_) => self.user().is_none(),
            None => self.state.keys().is_ok_and(|k| k.anonymous()),
        }
    }

    /// The lock the request's headers ask for its object (PutObject, CopyObject,
    /// CreateMultipartUpload), checked against the bucket's lock configuration; the bucket's
    /// record is read only when one of the headers was sent.
    pub(crate) async fn lock_asked(&self) -> S3Result<ObjectLock> {
        let any = [
            lock_headers::MODE,
            lock_headers::UNTIL,
            lock_headers::LEGAL_HOLD,
        ]
        .iter()
        .any(|h| self.req.headers().contains_key(*h));
        if !any {
            return Ok(ObjectLock::default());
        }
        lock_headers::requested(self.bucket_record().await?, |name| self.header(name))
    }

    /// Whether the request asks to bypass GOVERNANCE retention
    /// (`x-amz-bypass-governance-retention: true`) and may: an administrator's key, or the key
    /// that owns the bucket. A user's key otherwise asks in vain, and the retention holds; so
    /// does an anonymous request, whatever a bucket policy grants it.
    pub(crate) async fn bypasses_governance(&self) -> S3Result<bool> {
        let asked = self
            .header("x-amz-bypass-governance-retention")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        if !asked || self.administrator() {
            return Ok(asked);
        }
        let owner = self.bucket_record().await?.owner.as_deref();
        Ok(owner.is_some() && owner == self.auth.access_key.as_deref())
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        headers::header(self.req.head(), name)
    }

    /// What the request is served from: the served remote, or the caller's own root.
    pub(crate) fn vfs(&self) -> &Vfs {
        &self.vfs
    }

    /// The request body as a decoded, checked stream.
    pub(crate) fn body(&self, payload: Lent) -> S3Result<Body> {
        Body::new(
            &self.req,
            payload,
            &self.auth,
            self.state.config.server.read_timeout,
        )
    }

    /// The body of a configuration document that S3 takes only with a digest to check it
    /// against (`Content-MD5`, or an `x-amz-checksum-*` the body is checked with).
    pub(crate) fn digested_body(&self, payload: Lent) -> S3Result<Body> {
        let body = self.body(payload)?;
        if self.content_md5()?.is_none() && !body.checked_by_client() {
            return Err(S3Error::invalid_request(
                "Missing required header for this request: Content-MD5",
            ));
        }
        Ok(body)
    }

    /// A small request body (an XML document), read whole: at most `limit` bytes, checked
    /// against `Content-MD5` when one is sent.
    pub(crate) async fn small_body(&self, mut body: Body, limit: usize) -> S3Result<Vec<u8>> {
        use futures_util::StreamExt;
        use md5::Digest;
        let want_md5 = self.content_md5()?;
        let mut raw = Vec::new();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| S3Error::from(s3gate_vfs::VfsError::Body(e)))?;
            if raw.len() + chunk.len() > limit {
                return Err(S3Error::malformed_xml("the request body is too large"));
            }
            raw.extend_from_slice(&chunk);
        }
        if want_md5.is_some_and(|m| m != <[u8; 16]>::from(md5::Md5::digest(&raw))) {
            return Err(S3Error::bad_digest(
                "The Content-MD5 you specified did not match what we received.",
            ));
        }
        Ok(raw)
    }

    /// The `Content-MD5` header, decoded.
    pub(crate) fn content_md5(&self) -> S3Result<Option<[u8; 16]>> {
        self.header("content-md5")
            .map(headers::decode_content_md5)
            .transpose()
    }
}
