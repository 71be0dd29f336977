//! The web console (`--web-addr`), on a listener of its own: one page with its script and
//! style, embedded in the binary (no build step, nothing fetched from elsewhere), and two
//! doors into the server:
//!
//! - `/s3/…`: the S3 API itself, same-origin for the page. The prefix is taken off and the
//!   request goes through the S3 pipeline ([`crate::dispatch::dispatch`]) like any other, so
//!   the page's requests are signed in the browser (SigV4, path without the prefix) and
//!   authorised exactly as that key's S3 requests are: the console has no side door.
//! - `/api/status`: the server's status for the status page ([`status`]), signed the same way.

mod status;

use status::{sample, History};

use std::sync::Arc;

use actix_http::Uri;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{web, App, FromRequest, HttpResponse};

use crate::ctx::ServerState;
use crate::timed::counted;

const INDEX: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/console.js");
const STYLE: &str = include_str!("assets/console.css");

/// Starts sampling the counters for the status page (the task runs until aborted), and the
/// history it fills, for [`app`]. The console is served on a listener of the server's
/// (`server.rs`), made as the S3 API's is.
pub(crate) fn sampled(
    state: &web::Data<ServerState>,
) -> (web::Data<History>, tokio::task::JoinHandle<()>) {
    let history = Arc::new(History::new());
    let sampler = sample(Arc::downgrade(&state.clone().into_inner()), history.clone());
    (web::Data::from(history), sampler)
}

/// The console's application; its requests are counted on their connection ([`counted`]).
pub(crate) fn app(
    state: web::Data<ServerState>,
    history: web::Data<History>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .wrap_fn(counted)
        .app_data(state)
        .app_data(history)
        .route(
            "/",
            web::get().to(|| asset("text/html; charset=utf-8", INDEX)),
        )
        .route(
            "/console.js",
            web::get().to(|| asset("text/javascript; charset=utf-8", SCRIPT)),
        )
        .route(
            "/console.css",
            web::get().to(|| asset("text/css; charset=utf-8", STYLE)),
        )
        .route("/api/status", web::get().to(status::status))
        .service(web::scope("/s3").default_service(actix_service::fn_service(to_pipeline)))
}

async fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        // The page must not be framed by another site (it holds a secret while open), nor
        // load anything from elsewhere.
        .insert_header(("x-frame-options", "DENY"))
        .insert_header((
            "content-security-policy",
            "default-src 'self'; img-src 'self' data: blob:; frame-ancestors 'none'",
        ))
        .insert_header(("x-content-type-options", "nosniff"))
        .insert_header(("cache-control", "no-cache"))
        .body(body)
}

/// `/s3/…` → the same request at `/…`, through the S3 pipeline.
async fn to_pipeline(mut req: ServiceRequest) -> Result<ServiceResponse, actix_web::Error> {
    let uri = unmounted(req.uri())?;
    req.head_mut().uri = uri;
    let (req, mut payload) = req.into_parts();
    let state = req
        .app_data::<web::Data<ServerState>>()
        .cloned()
        .ok_or_else(|| actix_web::error::ErrorInternalServerError("no server state"))?;
    let body = web::Payload::from_request(&req, &mut payload).await?;
    let resp = crate::dispatch::dispatch(req.clone(), body, state).await;
    Ok(ServiceResponse::new(req, resp))
}

/// The path and query of a request to `/s3/…` with the prefix taken off.
fn unmounted(uri: &Uri) -> Result<Uri, actix_web::Error> {
    let path = uri.path().strip_prefix("/s3").unwrap_or(uri.path());
    let path = if path.is_empty() { "/" } else { path };
    let target = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    };
    target.parse().map_err(actix_web::error::ErrorBadRequest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_is_taken_off_and_the_query_kept() {
        let cases = [
            ("/s3", "/"),
            ("/s3/", "/"),
            ("/s3/b", "/b"),
            (
                "/s3/b/k%20ey?tagging&versionId=x",
                "/b/k%20ey?tagging&versionId=x",
            ),
            ("/s3?x-id=ListBuckets", "/?x-id=ListBuckets"),
        ];
        for (given, want) in cases {
            let uri: Uri = given.parse().unwrap();
            assert_eq!(unmounted(&uri).unwrap().to_string(), want, "{given}");
        }
    }
}
