//! The request pipeline: every request goes parse → route → authenticate → handler, and leaves
//! one access-log line and its metrics, whatever the outcome. A head is verified once: by the
//! `Expect: 100-continue` gate when the client asks for one ([`gate`]), which hands what it
//! verified on to [`dispatch`], or else by `dispatch` itself.

use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use actix_http::Request;
use actix_web::body::{BodySize, MessageBody};
use actix_web::dev::RequestHead;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::Method;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};

use crate::auth::{self, Auth, Keys};
use crate::ctx::{Ctx, ServerState};
use crate::error::{S3Error, S3Result};
use crate::intake::{Intake, Lent};
use crate::post_object;
use crate::router::{Op, Query, Route, Sub};
use crate::{
    access, access_log, acl, bucket, bucket_config, bucket_policy, copy, cors, headers, lifecycle,
    list, metrics, multipart, object, object_attributes, object_lock, policy, router, tagging,
    timed,
};

/// What was verified of a request head: its query, its route and who sends it.
struct Verified {
    query: Query,
    route: Route,
    auth: Auth,
}

/// What the access log and the metrics name a request by: as much as was known of it when it
/// was answered, so that a refused head is still named.
#[derive(Clone)]
struct Named {
    op: &'static str,
    sub_resource: String,
    bucket: String,
    key: String,
    access_key: Option<String>,
}

impl Named {
    fn unknown() -> Named {
        Named {
            op: "unknown",
            sub_resource: String::new(),
            bucket: String::new(),
            key: String::new(),
            access_key: None,
        }
    }
}

/// A head the `Expect: 100-continue` gate verified, handed on to [`dispatch`] in the request's
/// extensions: each head is routed and authenticated once.
struct Gated(Verified, Named);

/// Everything that can be decided from the request head alone: its size, its route, its
/// signature, its permission. Routed before authentication, so that `named` says what a refused
/// request was after.
async fn verify(head: &RequestHead, state: &ServerState, named: &mut Named) -> S3Result<Verified> {
    let query = parse_query(head, state)?;
    named.sub_resource = query.sub_resource().map_or("", Sub::as_str).to_string();
    let route = route_of(head, &query, state)?;
    named.op = route.op.name();
    named.bucket.clone_from(&route.bucket);
    named.key.clone_from(&route.key);
    let auth = authenticate(head, state, &*state.keys()?, &route)?;
    named.access_key.clone_from(&auth.access_key);
    permit(state, head, &query, &route, &auth).await?;
    Ok(Verified { query, route, auth })
}

/// The `Expect: 100-continue` gate: a head is verified before the client is told to send its
/// body. A verified head goes on to [`dispatch`] with what was verified, in its extensions; a
/// refused one gets its answer here, logged and counted like any other request.
pub(crate) async fn gate(req: &Request, state: &ServerState) -> Option<HttpResponse> {
    let started = Instant::now();
    let mut named = Named::unknown();
    match verify(req.head(), state, &mut named).await {
        Ok(v) => {
            req.extensions_mut().insert(Gated(v, named));
            None
        }
        Err(e) => {
            let id = access_log::request_id();
            let resp = e.to_response(req.path(), &id, false);
            trace(
                state,
                &Trace {
                    id: &id,
                    method: req.method(),
                    named: &named,
                    status: resp.status().as_u16(),
                    error: Some(e.code),
                    bytes_in: 0,
                    bytes_out: body_len(&resp, false),
                    seconds: started.elapsed().as_secs_f64(),
                },
            );
            Some(resp)
        }
    }
}

/// One answered request, as the access log and the metrics see it.
struct Trace<'a> {
    id: &'a str,
    method: &'a Method,
    named: &'a Named,
    status: u16,
    error: Option<&'static str>,
    bytes_in: u64,
    bytes_out: u64,
    seconds: f64,
}

/// The bytes of an answer's body (none for a HEAD).
fn body_len(resp: &HttpResponse, head: bool) -> u64 {
    match MessageBody::size(resp.body()) {
        BodySize::Sized(n) if !head => n,
        _ => 0,
    }
}

/// Counts a request in the metrics and writes its access-log line.
fn trace(state: &ServerState, t: &Trace) {
    let n = t.named;
    state.metrics.observe(metrics::Observation {
        op: n.op,
        status: t.status,
        error: t.error,
        bytes_in: t.bytes_in,
        bytes_out: t.bytes_out,
        seconds: t.seconds,
    });
    // One line per request, never a secret: the access key id only. Names taken from the
    // request are escaped, so that none can forge a line or reach the terminal. The duration
    // runs to the response head; a body still streams after it.
    tracing::info!(
        target: "s3gate::access",
        id = %t.id,
        method = %t.method,
        op = n.op,
        sub_resource = %access_log::Escaped(&n.sub_resource),
        bucket = %access_log::Escaped(&n.bucket),
        key = %access_log::Escaped(&n.key),
        status = t.status,
        error = t.error.unwrap_or(""),
        bytes_in = t.bytes_in,
        bytes_out = t.bytes_out,
        ms = t.seconds * 1000.0,
        access_key = %access_log::Escaped(n.access_key.as_deref().unwrap_or("-")),
        "request"
    );
}

/// The head's size check, then its query.
fn parse_query(head: &RequestHead, state: &ServerState) -> S3Result<Query> {
    let head_bytes = text_len(&head.uri)
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

/// The length of `value` as text, counted without writing it anywhere.
fn text_len(value: &impl std::fmt::Display) -> usize {
    struct Count(usize);
    impl std::fmt::Write for Count {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.0 += s.len();
            Ok(())
        }
    }
    let mut count = Count(0);
    let _ = std::fmt::write(&mut count, format_args!("{value}"));
    count.0
}

/// The route of a request whose query is parsed.
fn route_of(head: &RequestHead, query: &Query, state: &ServerState) -> S3Result<Route> {
    router::route(
        &head.method,
        headers::header(head, "host"),
        head.uri.path(),
        query,
        &head.headers,
        if state.config.server.force_path_style {
            &[]
        } else {
            &state.config.server.vhost_domains
        },
    )
}

/// Whether the caller may do what the request asks ([`access::decide`]), before its body is
/// asked for. A form upload names its key inside the body: it is decided there, once its policy
/// is.
async fn permit(
    state: &ServerState,
    head: &RequestHead,
    query: &Query,
    route: &Route,
    auth: &Auth,
) -> S3Result<()> {
    let (caller, vfs) = {
        let keys = state.keys()?;
        let key = auth.access_key.as_deref();
        (access::Caller::of(&keys, key), state.vfs_for(&keys, key)?)
    };
    let read_only = state.config.server.read_only;
    let index = access::Index::new(&vfs, &route.bucket);
    let asked = policy::Asked {
        head,
        query,
        state,
        vfs: &vfs,
        caller: &caller,
        op: &route.op,
        bucket: &route.bucket,
        key: &route.key,
    };
    let verdict = policy::verdict_of(&asked, &index).await?;
    access::decide(
        read_only,
        &caller,
        &route.op,
        &route.bucket,
        &route.key,
        &index,
        verdict,
    )
    .await
}

/// Who sends the request. Requests that carry no S3 signature by design (a CORS preflight, a
/// browser form upload) take the lane before authentication: they are not refused for lacking
/// one, and reach [`unsigned`] as no one in particular.
fn authenticate(
    head: &RequestHead,
    state: &ServerState,
    keys: &Keys,
    route: &Route,
) -> S3Result<Auth> {
    if route.op.unsigned() {
        return Ok(Auth::unsigned());
    }
    auth::authenticate(
        head,
        keys,
        route.virtual_host.then_some(route.bucket.as_str()),
        state.config.auth.presigned_max_age,
    )
}

pub(crate) async fn dispatch(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<ServerState>,
) -> HttpResponse {
    let started = Instant::now();
    let in_flight = req
        .conn_data::<std::sync::Arc<timed::Requests>>()
        .map(|r| r.start());
    let id = access_log::request_id();
    let head = req.method() == Method::HEAD;
    let resource = req.uri().path().to_string();
    let intake = Intake::new(payload.into_inner());
    let gated = req.extensions_mut().remove::<Gated>();
    let mut named = Named::unknown();
    let mut ctx = None;
    let result = async {
        let Verified { query, route, auth } = match gated {
            Some(Gated(verified, known)) => {
                named = known;
                verified
            }
            None => verify(req.head(), &state, &mut named).await?,
        };
        let Route {
            op, bucket, key, ..
        } = route;
        let vfs = state.vfs_for(&*state.keys()?, auth.access_key.as_deref())?;
        let ctx = ctx.insert(Ctx::new(
            req.clone(),
            state.clone(),
            auth,
            query,
            bucket,
            key,
            vfs,
        ));
        handle(op, ctx, intake.lend()).await
    }
    .await;
    let (mut resp, code) = match result {
        Ok(r) => (r, None),
        Err(e) => (e.to_response(&resource, &id, head), Some(e.code)),
    };
    // A preflight's answer is the CORS answer itself; any other answer to a browser, refusals
    // before the handler included, carries what the bucket's rules grant its origin.
    if named.op != Op::CorsPreflight.name() {
        cors::answer(&req, &state, ctx.as_ref(), &named.bucket, &mut resp).await;
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut()
            .insert(HeaderName::from_static("x-amz-request-id"), v);
    }
    // What the handler left of the body, so that the client reads this answer.
    intake.drain(state.config.server.read_timeout).await;
    trace(
        &state,
        &Trace {
            id: &id,
            method: req.method(),
            named: &named,
            status: resp.status().as_u16(),
            error: code,
            bytes_in: intake.received(),
            bytes_out: body_len(&resp, head),
            seconds: started.elapsed().as_secs_f64(),
        },
    );
    intake.settle(resp, in_flight)
}

/// The handler of each operation. A form upload learns who sends it from its body, and is
/// served as that caller from then on ([`Ctx::signed_by`]), hence the context is lent mutably.
///
/// Each handler's future is made by [`on_heap`], never in this function's own frame.
async fn handle(op: Op, ctx: &mut Ctx, payload: Lent) -> S3Result<HttpResponse> {
    match op {
        Op::ListBuckets {
            prefix,
            continuation_token,
            max_buckets,
            bucket_region,
        } => {
            let page = bucket::BucketPage {
                prefix: prefix.as_deref(),
                continuation_token: continuation_token.as_deref(),
                max: max_buckets,
                region: bucket_region.as_deref(),
            };
            on_heap(|| bucket::list_buckets(ctx, page)).await
        }
        Op::CreateBucket => on_heap(|| bucket::create(ctx)).await,
        Op::DeleteBucket => on_heap(|| bucket::delete(ctx)).await,
        Op::HeadBucket => on_heap(|| bucket::head(ctx)).await,
        Op::GetBucketLocation => on_heap(|| bucket::location(ctx)).await,
        Op::GetBucketAcl => on_heap(|| acl::bucket(ctx)).await,
        Op::PutBucketAcl => on_heap(|| acl::put_bucket(ctx, payload)).await,
        Op::PutBucketOwnershipControls => on_heap(|| acl::put_ownership(ctx, payload)).await,
        Op::GetBucketOwnershipControls => on_heap(|| acl::get_ownership(ctx)).await,
        Op::DeleteBucketOwnershipControls => on_heap(|| acl::delete_ownership(ctx)).await,
        Op::GetBucketVersioning => on_heap(|| bucket::versioning(ctx)).await,
        Op::PutBucketVersioning => on_heap(|| bucket::put_versioning(ctx, payload)).await,
        Op::PutBucketCors => on_heap(|| cors::put(ctx, payload)).await,
        Op::GetBucketCors => on_heap(|| cors::get(ctx)).await,
        Op::DeleteBucketCors => on_heap(|| cors::delete(ctx)).await,
        Op::PutBucketLifecycleConfiguration => on_heap(|| lifecycle::put(ctx, payload)).await,
        Op::GetBucketLifecycleConfiguration => on_heap(|| lifecycle::get(ctx)).await,
        Op::DeleteBucketLifecycle => on_heap(|| lifecycle::delete(ctx)).await,
        Op::GetBucketEncryption
        | Op::GetBucketReplication
        | Op::GetBucketWebsite
        | Op::GetBucketLogging
        | Op::GetBucketAccelerateConfiguration
        | Op::GetBucketRequestPayment => on_heap(|| bucket_config::read(ctx, &op)).await,
        Op::PutBucketPolicy => on_heap(|| bucket_policy::put(ctx, payload)).await,
        Op::GetBucketPolicy => on_heap(|| bucket_policy::get(ctx)).await,
        Op::DeleteBucketPolicy => on_heap(|| bucket_policy::delete(ctx)).await,
        Op::GetBucketPolicyStatus => on_heap(|| bucket_policy::status(ctx)).await,
        Op::PutPublicAccessBlock => {
            on_heap(|| bucket_policy::put_public_access_block(ctx, payload)).await
        }
        Op::GetPublicAccessBlock => on_heap(|| bucket_policy::get_public_access_block(ctx)).await,
        Op::DeletePublicAccessBlock => {
            on_heap(|| bucket_policy::delete_public_access_block(ctx)).await
        }
        Op::ListObjects { list, marker } => {
            let flavor = list::Flavor::V1 {
                marker: marker.as_deref(),
            };
            on_heap(|| list::list_objects(ctx, &list, flavor)).await
        }
        Op::ListObjectsV2 {
            list,
            continuation_token,
            start_after,
            fetch_owner,
        } => {
            let flavor = list::Flavor::V2 {
                continuation_token: continuation_token.as_deref(),
                start_after: start_after.as_deref(),
                fetch_owner,
            };
            on_heap(|| list::list_objects(ctx, &list, flavor)).await
        }
        Op::ListObjectVersions {
            list,
            key_marker,
            version_id_marker,
        } => {
            on_heap(|| {
                list::list_versions(
                    ctx,
                    &list,
                    key_marker.as_deref(),
                    version_id_marker.as_deref(),
                )
            })
            .await
        }
        Op::DeleteObjects => on_heap(|| object::delete_many(ctx, payload)).await,
        Op::HeadObject {
            version_id,
            part_number,
        } => on_heap(|| object::get(ctx, version_id.as_deref(), part_number, true)).await,
        Op::GetObject {
            version_id,
            part_number,
        } => on_heap(|| object::get(ctx, version_id.as_deref(), part_number, false)).await,
        Op::GetObjectAcl { version_id } => {
            on_heap(|| acl::object(ctx, version_id.as_deref())).await
        }
        Op::PutObjectAcl { version_id } => {
            on_heap(|| acl::put_object(ctx, version_id.as_deref(), payload)).await
        }
        Op::GetObjectAttributes {
            version_id,
            attributes,
            max_parts,
            part_number_marker,
        } => {
            let page = object_attributes::PartsPage {
                max: max_parts,
                marker: part_number_marker,
            };
            on_heap(|| object_attributes::get(ctx, version_id.as_deref(), attributes, page)).await
        }
        Op::PutObject => on_heap(|| object::put(ctx, payload)).await,
        Op::CopyObject { source } => on_heap(|| copy::copy_object(ctx, &source)).await,
        Op::DeleteObject { version_id } => {
            on_heap(|| object::delete(ctx, version_id.as_deref())).await
        }
        Op::ListMultipartUploads {
            list,
            key_marker,
            upload_id_marker,
        } => {
            let (key, id) = (key_marker.as_deref(), upload_id_marker.as_deref());
            on_heap(|| multipart::list_uploads(ctx, &list, key, id)).await
        }
        Op::CreateMultipartUpload => on_heap(|| multipart::create(ctx)).await,
        Op::UploadPart {
            upload_id,
            part_number,
        } => on_heap(|| multipart::upload_part(ctx, &upload_id, part_number, payload)).await,
        Op::UploadPartCopy {
            upload_id,
            part_number,
            source,
        } => on_heap(|| copy::upload_part_copy(ctx, &upload_id, part_number, &source)).await,
        Op::CompleteMultipartUpload { upload_id } => {
            on_heap(|| multipart::complete(ctx, &upload_id, payload)).await
        }
        Op::AbortMultipartUpload { upload_id } => {
            on_heap(|| multipart::abort(ctx, &upload_id)).await
        }
        Op::ListParts {
            upload_id,
            max_parts,
            part_number_marker,
        } => {
            on_heap(|| multipart::list_parts(ctx, &upload_id, max_parts, part_number_marker)).await
        }
        Op::GetObjectTagging { version_id } => {
            on_heap(|| tagging::get_object(ctx, version_id.as_deref())).await
        }
        Op::PutObjectTagging { version_id } => {
            on_heap(|| tagging::put_object(ctx, version_id.as_deref(), payload)).await
        }
        Op::DeleteObjectTagging { version_id } => {
            on_heap(|| tagging::delete_object(ctx, version_id.as_deref())).await
        }
        Op::GetBucketTagging => on_heap(|| tagging::get_bucket(ctx)).await,
        Op::PutBucketTagging => on_heap(|| tagging::put_bucket(ctx, payload)).await,
        Op::DeleteBucketTagging => on_heap(|| tagging::delete_bucket(ctx)).await,
        Op::GetObjectLockConfiguration => on_heap(|| object_lock::get_config(ctx)).await,
        Op::PutObjectLockConfiguration => on_heap(|| object_lock::put_config(ctx, payload)).await,
        Op::GetObjectRetention { version_id } => {
            on_heap(|| object_lock::get_retention(ctx, version_id.as_deref())).await
        }
        Op::PutObjectRetention { version_id } => {
            on_heap(|| object_lock::put_retention(ctx, version_id.as_deref(), payload)).await
        }
        Op::GetObjectLegalHold { version_id } => {
            on_heap(|| object_lock::get_legal_hold(ctx, version_id.as_deref())).await
        }
        Op::PutObjectLegalHold { version_id } => {
            on_heap(|| object_lock::put_legal_hold(ctx, version_id.as_deref(), payload)).await
        }
        Op::CorsPreflight => on_heap(|| cors::preflight(ctx)).await,
        Op::PostObject => on_heap(|| post_object::post(ctx, payload)).await,
    }
}

/// A handler's future, made in a frame of its own and moved to the heap at once. Where `handle`
/// made the futures of its arms itself, its frame had a slot for each of them side by side (an
/// unoptimised build does not share slots between arms): above 600 KiB, which with the deepest
/// handler's own frames overflowed a worker thread's 2 MiB stack. Here each arm's slot is a
/// closure and a box, and the one future made lives in the frame of its own instance of this
/// function, gone before the future is first polled.
fn on_heap<'a, F: Future + 'a>(
    make: impl FnOnce() -> F,
) -> Pin<Box<dyn Future<Output = F::Output> + 'a>> {
    Box::pin(make())
}
