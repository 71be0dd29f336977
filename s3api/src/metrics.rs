//! Prometheus metrics: requests, latency, bytes and errors by operation, counted in
//! [`crate::dispatch::dispatch`], and the text format they are written in. The operations
//! listener (`ops_listener.rs`) serves them with the gauges it reads at scrape time.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

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

/// The counters summed over operations: what the console's status samples.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Totals {
    pub(crate) requests: u64,
    pub(crate) errors: u64,
    pub(crate) bytes_in: u64,
    pub(crate) bytes_out: u64,
}

impl Metrics {
    /// The counters summed over operations.
    pub(crate) fn totals(&self) -> Totals {
        let Ok(c) = self.0.lock() else {
            return Totals::default();
        };
        Totals {
            requests: c.requests.values().sum(),
            errors: c.errors.values().sum(),
            bytes_in: c.bytes_in.values().fold(0, |a, b| a.saturating_add(*b)),
            bytes_out: c.bytes_out.values().fold(0, |a, b| a.saturating_add(*b)),
        }
    }

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
    pub(crate) fn render(&self, out: &mut String) {
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
pub(crate) fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A metric family of one unlabelled sample.
pub(crate) fn single(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    value: impl std::fmt::Display,
) {
    family(out, name, kind, help);
    let _ = writeln!(out, "{name} {value}");
}
