//! The S3 front end: an actix-web server whose every request goes parse → authenticate →
//! handler → [`Vfs`]. Handlers are grouped by operation family, one module each.

mod access_log;
mod body;
mod bucket;
mod checksum;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod headers;
mod intake;
mod list;
mod metrics;
mod multipart;
mod object;
mod router;
mod server;
mod sigv2;
mod sigv4;
mod timed;
mod xml;

use std::sync::Arc;

use actix_web::dev::RequestHead;
use actix_web::{web, HttpRequest, HttpResponse};
use s3gate_config::Config;
use s3gate_vfs::Vfs;

use crate::error::{S3Error, S3Result};
use crate::intake::{Intake, Lent};
use crate::router::{Op, Query, Route};
use crate::sigv4::{Auth, Keys};

pub use metrics::{malformed_requests, note_malformed_request};
pub use server::{check_tls, HttpServer};

/// What every request handler can reach.
pub(crate) struct State {
    pub(crate) config: Arc<Config>,
    pub(crate) vfs: Arc<Vfs>,
    /// Swapped whole on reload.
    keys: std::sync::RwLock<Keys>,
    metrics: metrics::Metrics,
}

/// One request on its way through a handler.
pub(crate) struct Ctx {
    pub(crate) req: HttpRequest,
    pub(crate) state: web::Data<State>,
    pub(crate) auth: Auth,
    pub(crate) query: Query,
    pub(crate) bucket: String,
    pub(crate) key: String,
}

impl Ctx {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        headers::header(self.req.head(), name)
    }

    pub(crate) fn vfs(&self) -> &Vfs {
        &self.state.vfs
    }

    /// The request body as a decoded, checked stream.
    pub(crate) fn body(&self, payload: Lent) -> S3Result<body::Body> {
        body::Body::new(
            &self.req,
            payload,
            &self.auth,
            self.state.config.server.read_timeout,
        )
    }

    /// A small request body (an XML document), read whole: at most `limit` bytes, checked
    /// against `Content-MD5` when one is sent.
    pub(crate) async fn small_body(&self, mut body: body::Body, limit: usize) -> S3Result<Vec<u8>> {
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
        use base64::Engine;
        self.header("content-md5")
            .map(|v| {
                base64::engine::general_purpose::STANDARD
                    .decode(v.trim())
                    .ok()
                    .and_then(|b| <[u8; 16]>::try_from(b).ok())
                    .ok_or_else(|| {
                        S3Error::invalid_digest("The Content-MD5 you specified is not valid.")
                    })
            })
            .transpose()
    }
}

/// Everything that can be decided from the request head alone: its size, its route, its
/// signature. Runs for every request, and before `100 Continue` for those that ask.
pub(crate) fn authorize(head: &RequestHead, state: &State) -> S3Result<(Route, Query, Auth)> {
    let query = parse_query(head, state)?;
    let route = route_of(head, &query, state)?;
    let auth = authenticate(head, state, &route)?;
    Ok((route, query, auth))
}

/// The head's size check, then its query.
fn parse_query(head: &RequestHead, state: &State) -> S3Result<Query> {
    let head_bytes = head.uri.to_string().len()
        + head
            .headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 4)
            .sum::<usize>();
    if head_bytes > state.config.server.max_header_bytes {
        return Err(S3Error::header_too_large(format!(
            "Your request header section exceeds the maximum allowed size of {} bytes",
            state.config.server.max_header_bytes
        )));
    }
    Query::parse(head.uri.query().unwrap_or(""))
}

/// The route of a request whose query is parsed.
fn route_of(head: &RequestHead, query: &Query, state: &State) -> S3Result<Route> {
    router::route(
        &head.method,
        headers::header(head, "host"),
        head.uri.path(),
        query,
        head.headers.contains_key("x-amz-copy-source"),
        if state.config.server.force_path_style {
            &[]
        } else {
            &state.config.server.vhost_domains
        },
    )
}

fn authenticate(head: &RequestHead, state: &State, route: &Route) -> S3Result<Auth> {
    let keys = state
        .keys
        .read()
        .map_err(|_| S3Error::internal("the key table is unavailable"))?;
    sigv4::authenticate(
        head,
        &keys,
        route.virtual_host.then_some(route.bucket.as_str()),
        state.config.auth.presigned_max_age,
    )
}

pub(crate) fn request_id() -> String {
    format!("{:016X}", rand::random::<u64>())
}

pub(crate) async fn dispatch(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<State>,
) -> HttpResponse {
    let started = std::time::Instant::now();
    let in_flight = req
        .conn_data::<std::sync::Arc<timed::Requests>>()
        .map(|r| r.start());
    let id = request_id();
    let head = req.method() == actix_web::http::Method::HEAD;
    let resource = req.uri().path().to_string();
    let intake = Intake::new(payload.into_inner());
    // What the access log says of the request, once known.
    let mut who: Option<String> = None;
    let mut target: Option<(String, String)> = None;
    let mut op_name = "unknown";
    let mut sub_resource = String::new();
    let result = async {
        // Routed first, so that the access log names what a refused request was after.
        let query = parse_query(req.head(), &state)?;
        sub_resource = query.sub_resource().unwrap_or("").to_string();
        let route = route_of(req.head(), &query, &state)?;
        op_name = route.op.name();
        target = Some((route.bucket.clone(), route.key.clone()));
        let auth = authenticate(req.head(), &state, &route)?;
        let Route {
            op, bucket, key, ..
        } = route;
        who.clone_from(&auth.access_key);
        let ctx = Ctx {
            req: req.clone(),
            state: state.clone(),
            auth,
            query,
            bucket,
            key,
        };
        handle(op, &ctx, intake.lend()).await
    }
    .await;
    let (mut resp, code) = match result {
        Ok(r) => (r, None),
        Err(e) => (e.to_response(&resource, &id, head), Some(e.code)),
    };
    if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&id) {
        resp.headers_mut().insert(
            actix_web::http::header::HeaderName::from_static("x-amz-request-id"),
            v,
        );
    }
    // What the handler left of the body, so that the client reads this answer.
    intake.drain(state.config.server.read_timeout).await;
    let (bucket, key) = target.unwrap_or_default();
    let bytes_out = match actix_web::body::MessageBody::size(resp.body()) {
        actix_web::body::BodySize::Sized(n) if !head => n,
        _ => 0,
    };
    let bytes_in = intake.received();
    let seconds = started.elapsed().as_secs_f64();
    state.metrics.observe(metrics::Observation {
        op: op_name,
        status: resp.status().as_u16(),
        error: code,
        bytes_in,
        bytes_out,
        seconds,
    });
    // One line per request, never a secret: the access key id only. Names taken from the
    // request are escaped, so that none can forge a line or reach the terminal. The duration
    // runs to the response head; a body still streams after it.
    tracing::info!(
        target: "s3gate::access",
        id = %id,
        method = %req.method(),
        op = op_name,
        sub_resource = %access_log::Escaped(&sub_resource),
        bucket = %access_log::Escaped(&bucket),
        key = %access_log::Escaped(&key),
        status = resp.status().as_u16(),
        error = code.unwrap_or(""),
        bytes_in,
        bytes_out,
        ms = seconds * 1000.0,
        access_key = %access_log::Escaped(who.as_deref().unwrap_or("-")),
        "request"
    );
    intake.settle(resp, in_flight)
}

async fn handle(op: Op, ctx: &Ctx, payload: Lent) -> S3Result<HttpResponse> {
    match op {
        Op::ListBuckets => bucket::list_buckets(ctx).await,
        Op::CreateBucket => bucket::create(ctx).await,
        Op::DeleteBucket => bucket::delete(ctx).await,
        Op::HeadBucket => bucket::head(ctx).await,
        Op::GetBucketLocation => bucket::location(ctx).await,
        Op::GetBucketAcl => bucket::acl(ctx).await,
        Op::GetBucketVersioning => bucket::versioning(ctx).await,
        Op::ListObjects => list::list_objects(ctx, list::Flavor::V1).await,
        Op::ListObjectsV2 => list::list_objects(ctx, list::Flavor::V2).await,
        Op::ListObjectVersions => list::list_objects(ctx, list::Flavor::Versions).await,
        Op::DeleteObjects => object::delete_many(ctx, payload).await,
        Op::HeadObject => object::get(ctx, true).await,
        Op::GetObject => object::get(ctx, false).await,
        Op::GetObjectAcl => object::acl(ctx).await,
        Op::PutObject => object::put(ctx, payload).await,
        Op::CopyObject => object::copy(ctx).await,
        Op::DeleteObject => object::delete(ctx).await,
        Op::ListMultipartUploads => multipart::list_uploads(ctx).await,
        Op::CreateMultipartUpload => multipart::create(ctx).await,
        Op::UploadPart => multipart::upload_part(ctx, payload).await,
        Op::UploadPartCopy => multipart::upload_part_copy(ctx).await,
        Op::CompleteMultipartUpload => multipart::complete(ctx, payload).await,
        Op::AbortMultipartUpload => multipart::abort(ctx).await,
        Op::ListParts => multipart::list_parts(ctx).await,
    }
}

/// Errors that the handlers produce from protocol problems rather than from the VFS.
impl From<std::io::Error> for S3Error {
    fn from(e: std::io::Error) -> S3Error {
        S3Error::from(s3gate_vfs::VfsError::Io(e))
    }
}
