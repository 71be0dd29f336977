//! The request pipeline: every request goes parse → route → authenticate → handler, and leaves
//! one access-log line and its metrics, whatever the outcome.

use actix_web::dev::RequestHead;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::auth::{self, Auth};
use crate::ctx::{Ctx, ServerState};
use crate::error::{S3Error, S3Result};
use crate::intake::{Intake, Lent};
use crate::router::{Op, Query, Route};
use crate::{
    access_log, acl, bucket, copy, headers, list, metrics, multipart, object, router, timed,
};

/// Everything that can be decided from the request head alone: its size, its route, its
/// signature. Runs for every request, and before `100 Continue` for those that ask.
pub(crate) fn authorize(head: &RequestHead, state: &ServerState) -> S3Result<(Route, Query, Auth)> {
    let query = parse_query(head, state)?;
    let route = route_of(head, &query, state)?;
    let auth = authenticate(head, state, &route)?;
    Ok((route, query, auth))
}

/// The head's size check, then its query.
fn parse_query(head: &RequestHead, state: &ServerState) -> S3Result<Query> {
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

/// Who sends the request. Requests that carry no S3 signature by design (a CORS preflight, a
/// browser form upload) take the lane before authentication: they are not refused for lacking
/// one, and reach [`unsigned`] as no one in particular.
fn authenticate(head: &RequestHead, state: &ServerState, route: &Route) -> S3Result<Auth> {
    if route.op.unsigned() {
        return Ok(Auth::unsigned());
    }
    let keys = state
        .keys
        .read()
        .map_err(|_| S3Error::internal("the key table is unavailable"))?;
    auth::authenticate(
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
    state: web::Data<ServerState>,
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
        Op::GetBucketAcl => acl::bucket(ctx).await,
        Op::GetBucketVersioning => bucket::versioning(ctx).await,
        Op::ListObjects => list::list_objects(ctx, list::Flavor::V1).await,
        Op::ListObjectsV2 => list::list_objects(ctx, list::Flavor::V2).await,
        Op::ListObjectVersions => list::list_objects(ctx, list::Flavor::Versions).await,
        Op::DeleteObjects => object::delete_many(ctx, payload).await,
        Op::HeadObject => object::get(ctx, true).await,
        Op::GetObject => object::get(ctx, false).await,
        Op::GetObjectAcl => acl::object(ctx).await,
        Op::PutObject => object::put(ctx, payload).await,
        Op::CopyObject { source } => copy::copy_object(ctx, &source).await,
        Op::DeleteObject => object::delete(ctx).await,
        Op::ListMultipartUploads => multipart::list_uploads(ctx).await,
        Op::CreateMultipartUpload => multipart::create(ctx).await,
        Op::UploadPart {
            upload_id,
            part_number,
        } => multipart::upload_part(ctx, &upload_id, part_number, payload).await,
        Op::UploadPartCopy {
            upload_id,
            part_number,
            source,
        } => copy::upload_part_copy(ctx, &upload_id, part_number, &source).await,
        Op::CompleteMultipartUpload { upload_id } => {
            multipart::complete(ctx, &upload_id, payload).await
        }
        Op::AbortMultipartUpload { upload_id } => multipart::abort(ctx, &upload_id).await,
        Op::ListParts { upload_id } => multipart::list_parts(ctx, &upload_id).await,
        Op::CorsPreflight | Op::PostObject => unsigned(&op),
    }
}

/// Where the requests of the lane before authentication are answered: CORS preflights and
/// browser form uploads, both refused as not implemented for now.
fn unsigned(op: &Op) -> S3Result<HttpResponse> {
    Err(S3Error::not_implemented(format!(
        "{} is not implemented by this server",
        op.name()
    )))
}
