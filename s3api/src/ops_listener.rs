//! The operations listener's answers (`--metrics-addr`, away from the S3 namespace where any
//! name is a bucket): `/metrics` (the counters, and gauges read at scrape time), `/health` and
//! `/ready`.

use actix_web::{web, HttpResponse};

use crate::ctx::ServerState;
use crate::metrics::{malformed_requests, single};

pub(crate) async fn scrape(state: web::Data<ServerState>) -> HttpResponse {
    let mut out = String::new();
    state.metrics.render(&mut out);
    single(
        &mut out,
        "s3gate_malformed_requests_total",
        "counter",
        "Requests refused by the HTTP layer as unparseable (logged at debug).",
        malformed_requests(),
    );
    let uploads = state.vfs.multipart().count_open().await;
    single(
        &mut out,
        "s3gate_multipart_uploads",
        "gauge",
        "Open multipart uploads.",
        uploads.unwrap_or(0),
    );
    single(
        &mut out,
        "s3gate_index_bytes",
        "gauge",
        "Size of the metadata index on disk.",
        state.vfs.index_bytes(),
    );
    if let Some(events) = state.vfs.watch_events() {
        single(
            &mut out,
            "s3gate_watch_events_total",
            "counter",
            "File events the watch of the served folder woke for.",
            events,
        );
    }
    if let Some(rc) = state.vfs.read_cache_stats() {
        for (name, kind, help, value) in [
            (
                "s3gate_readcache_hits_total",
                "counter",
                "Chunks read from the read cache.",
                rc.hits,
            ),
            (
                "s3gate_readcache_misses_total",
                "counter",
                "Chunks fetched from the remote into the read cache.",
                rc.misses,
            ),
            (
                "s3gate_readcache_bytes",
                "gauge",
                "Bytes the read cache holds.",
                rc.bytes,
            ),
            (
                "s3gate_readcache_memory_bytes",
                "gauge",
                "Bytes the read cache holds in memory.",
                rc.memory_bytes,
            ),
            (
                "s3gate_readcache_evictions_total",
                "counter",
                "Object versions removed from the read cache by its limits.",
                rc.evicted,
            ),
        ] {
            single(&mut out, name, kind, help, value);
        }
    }
    if let Ok(Some(wb)) = state.vfs.write_back_stats() {
        for (name, kind, help, value) in [
            (
                "s3gate_writeback_pending",
                "gauge",
                "Objects in the write cache waiting to be uploaded to the remote.",
                wb.pending,
            ),
            (
                "s3gate_writeback_uploads_total",
                "counter",
                "Objects uploaded from the write cache.",
                wb.uploaded,
            ),
            (
                "s3gate_writeback_failures_total",
                "counter",
                "Uploads from the write cache that failed (and are retried).",
                wb.failed,
            ),
        ] {
            single(&mut out, name, kind, help, value);
        }
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(out)
}

pub(crate) async fn health() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok\n")
}

/// Ready once the index answers and holds the served tree (filled before the listener opens).
pub(crate) async fn ready(state: web::Data<ServerState>) -> HttpResponse {
    match state.vfs.index_filled() {
        Ok(true) => HttpResponse::Ok()
            .content_type("text/plain")
            .body("ready\n"),
        Ok(false) => HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body("the index is still being filled\n"),
        Err(e) => HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body(format!("index unavailable: {e}\n")),
    }
}
