//! Prometheus metrics: requests, latency, bytes and errors by operation, counted in
//! [`crate::dispatch::dispatch`], plus gauges read at scrape time; served with `/health` and `/ready` on
//! their own listener (`--metrics-addr`), away from the S3 namespace where any name is a bucket.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use actix_web::{web, HttpResponse};

use crate::ctx::ServerState;

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 11] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0,
];

#[derive(Default)]
pub(crate) struct Metrics(Mutex<Counts>);

/// Requests the HTTP layer could not parse, answered by it before any handler saw them. They
/// are known only from its log events, which belong to the process, so the count does too.
static MALFORMED: AtomicU64 = AtomicU64::new(0);

/// Counts a request the HTTP layer refused as malformed (called by the daemon's logging, which
/// sees the HTTP layer's events).
pub fn note_malformed_request() {
    MALFORMED.fetch_add(1, Ordering::Relaxed);
}

/// Requests refused as malformed so far.
pub fn malformed_requests() -> u64 {
    MALFORMED.load(Ordering::Relaxed)
}

#[derive(Default)]
struct Counts {
    /// (operation, status) → requests.
    requests: BTreeMap<(&'static str, u16), u64>,
    /// S3 error code → answers.
    errors: BTreeMap<&'static str, u64>,
    /// operation → latency histogram.
    latency: BTreeMap<&'static str, Histogram>,
    bytes_in: BTreeMap<&'static str, u64>,
    bytes_out: BTreeMap<&'static str, u64>,
}

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// One answered request, as the metrics count it.
pub(crate) struct Observation {
    pub(crate) op: &'static str,
    pub(crate) status: u16,
    pub(crate) error: Option<&'static str>,
    pub(crate) bytes_in: u64,
    pub(crate) bytes_out: u64,
    pub(crate) seconds: f64,
}

impl Metrics {
    pub(crate) fn observe(&self, o: Observation) {
        let Ok(mut c) = self.0.lock() else { return };
        *c.requests.entry((o.op, o.status)).or_default() += 1;
        if let Some(code) = o.error {
            *c.errors.entry(code).or_default() += 1;
        }
        let bytes_in = c.bytes_in.entry(o.op).or_default();
        *bytes_in = bytes_in.saturating_add(o.bytes_in);
        let bytes_out = c.bytes_out.entry(o.op).or_default();
        *bytes_out = bytes_out.saturating_add(o.bytes_out);
        let h = c.latency.entry(o.op).or_default();
        h.count += 1;
        h.sum += o.seconds;
        for (slot, bound) in h.counts.iter_mut().zip(BUCKETS) {
            if o.seconds <= bound {
                *slot += 1;
            }
        }
    }

    /// The counters in Prometheus' text format.
    fn render(&self, out: &mut String) {
        let Ok(c) = self.0.lock() else { return };
        family(
            out,
            "s3gate_requests_total",
            "counter",
            "S3 requests answered, by operation and HTTP status.",
        );
        for ((op, status), n) in &c.requests {
            let _ = writeln!(
                out,
                "s3gate_requests_total{{op=\"{op}\",status=\"{status}\"}} {n}"
            );
        }
        family(
            out,
            "s3gate_errors_total",
            "counter",
            "S3 error answers, by error code.",
        );
        for (code, n) in &c.errors {
            let _ = writeln!(out, "s3gate_errors_total{{code=\"{code}\"}} {n}");
        }
        for (name, map, help) in [
            (
                "s3gate_received_bytes_total",
                &c.bytes_in,
                "Request body bytes received, by operation.",
            ),
            (
                "s3gate_sent_bytes_total",
                &c.bytes_out,
                "Response body bytes, by operation.",
            ),
        ] {
            family(out, name, "counter", help);
            for (op, n) in map {
                let _ = writeln!(out, "{name}{{op=\"{op}\"}} {n}");
            }
        }
        family(
            out,
            "s3gate_request_duration_seconds",
            "histogram",
            "Time from the request to its response head, by operation.",
        );
        for (op, h) in &c.latency {
            let name = "s3gate_request_duration_seconds";
            for (n, bound) in h.counts.iter().zip(BUCKETS) {
                let _ = writeln!(out, "{name}_bucket{{op=\"{op}\",le=\"{bound}\"}} {n}");
            }
            let _ = writeln!(out, "{name}_bucket{{op=\"{op}\",le=\"+Inf\"}} {}", h.count);
            let _ = writeln!(out, "{name}_sum{{op=\"{op}\"}} {}", h.sum);
            let _ = writeln!(out, "{name}_count{{op=\"{op}\"}} {}", h.count);
        }
    }
}

/// The `# HELP` and `# TYPE` lines that open a metric family.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A metric family of one unlabelled sample.
fn single(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    family(out, name, kind, help);
    let _ = writeln!(out, "{name} {value}");
}

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
    let uploads = state.vfs.open_uploads().await;
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
