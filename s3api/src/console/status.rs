//! The console's status page data: the metrics counters sampled every few seconds into a ring
//! buffer (so that the page can draw the last minutes without the server keeping a time series
//! per request), and the gauges read when the page asks. Only an administrator's key may read
//! it: it describes the whole server, every user's traffic included.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use crate::ctx::ServerState;
use crate::error::{S3Error, S3Result};
use crate::metrics::Totals;
use crate::{access, auth};

/// How often the counters are sampled.
pub(crate) const INTERVAL: Duration = Duration::from_secs(5);
/// Samples kept: ten minutes.
const KEPT: usize = 120;

/// One sample of the counters.
#[derive(Clone, Copy)]
struct Sample {
    /// Seconds since the Unix epoch.
    at: u64,
    totals: Totals,
}

/// The server's start and the last samples of its counters.
pub(crate) struct History {
    started: Instant,
    samples: Mutex<VecDeque<Sample>>,
}

impl History {
    pub(crate) fn new() -> History {
        History {
            started: Instant::now(),
            samples: Mutex::new(VecDeque::with_capacity(KEPT)),
        }
    }

    /// Keeps the counters as they were at `at` (seconds since the Unix epoch), dropping the
    /// oldest sample once [`KEPT`] are kept.
    fn record(&self, at: u64, totals: Totals) {
        let Ok(mut samples) = self.samples.lock() else {
            return;
        };
        if samples.len() == KEPT {
            samples.pop_front();
        }
        samples.push_back(Sample { at, totals });
    }

    /// Requests and errors per second between consecutive samples, oldest first.
    fn rates(&self) -> Vec<Value> {
        let Ok(samples) = self.samples.lock() else {
            return Vec::new();
        };
        samples
            .iter()
            .zip(samples.iter().skip(1))
            .map(|(a, b)| {
                let seconds = b.at.saturating_sub(a.at).max(1) as f64;
                let per_second = |f: fn(&Totals) -> u64| {
                    f(&b.totals).saturating_sub(f(&a.totals)) as f64 / seconds
                };
                json!({
                    "at": b.at,
                    "requests_per_second": per_second(|t| t.requests),
                    "errors_per_second": per_second(|t| t.errors),
                })
            })
            .collect()
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Samples the counters every [`INTERVAL`] until aborted (when the server stops) or the
/// server's state is gone: the sampler holds it weakly, so that it never keeps the index open.
pub(crate) fn sample(
    state: Weak<ServerState>,
    history: Arc<History>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(state) = state.upgrade() else {
                return;
            };
            history.record(unix_now(), state.metrics.totals());
        }
    })
}

/// `GET /api/status`, signed with SigV4 (or SigV2) like an S3 request, by an administrator's
/// key (anyone when the server has no keys, as for its S3 requests).
pub(crate) async fn status(
    req: HttpRequest,
    state: web::Data<ServerState>,
    history: web::Data<History>,
) -> HttpResponse {
    if let Err(e) = administrator(&req, &state) {
        return HttpResponse::build(e.status).json(json!({ "code": e.code, "message": e.message }));
    }
    let totals = state.metrics.totals();
    let vfs = state.vfs.clone();
    // The queue's summary scans the index: off the worker thread.
    let write_back = web::block(move || {
        vfs.write_back_stats()
            .ok()
            .flatten()
            .map(|stats| (stats, vfs.write_back_summary()))
    })
    .await
    .ok()
    .flatten()
    .map(|(stats, summary)| match summary {
        Ok(s) => json!({
            "waiting": s.pending,
            "bytes": s.bytes,
            "oldest_seconds": s.oldest.map(|d| d.as_secs()),
            "failing": s.failing,
            "failures_total": stats.failed,
            "uploaded_total": stats.uploaded,
            "last_error": s.last_error,
        }),
        Err(e) => json!({ "error": e.to_string() }),
    });
    let read_cache = state.vfs.read_cache_stats().map(|rc| {
        let looked = rc.hits + rc.misses;
        json!({
            "bytes": rc.bytes,
            "memory_bytes": rc.memory_bytes,
            "hits": rc.hits,
            "misses": rc.misses,
            "hit_rate": (looked > 0).then(|| rc.hits as f64 / looked as f64),
            "evictions": rc.evicted,
        })
    });
    let uploads = state.vfs.multipart().count_open().await.ok();
    let body = json!({
        "uptime_seconds": history.started.elapsed().as_secs(),
        "requests_total": totals.requests,
        "errors_total": totals.errors,
        "bytes_in": totals.bytes_in,
        "bytes_out": totals.bytes_out,
        "interval_seconds": INTERVAL.as_secs(),
        "rates": history.rates(),
        "write_back": write_back,
        "read_cache": read_cache,
        "multipart_uploads": uploads,
        "index_bytes": state.vfs.index_bytes(),
    });
    HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(body)
}

/// The request must be signed by an administrator's key, checked as an S3 request's signature
/// is; a user's key, or no signature, is refused as S3 refuses what a caller's rights do not
/// reach.
fn administrator(req: &HttpRequest, state: &ServerState) -> S3Result<()> {
    let keys = state.keys()?;
    let who = auth::authenticate(req.head(), &keys, None, state.config.auth.presigned_max_age)?;
    match access::Caller::of(&keys, who.access_key.as_deref()) {
        access::Caller::Admin => Ok(()),
        _ => Err(S3Error::access_denied(
            "Access Denied: the server's status is for administrators' keys",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(requests: u64, errors: u64) -> Totals {
        Totals {
            requests,
            errors,
            ..Totals::default()
        }
    }

    #[test]
    fn rates_are_the_differences_between_samples_over_their_interval() {
        let h = History::new();
        assert!(h.rates().is_empty());
        h.record(100, totals(0, 0));
        assert!(h.rates().is_empty(), "one sample makes no rate");
        h.record(105, totals(50, 5));
        h.record(110, totals(50, 5));
        let rates = h.rates();
        assert_eq!(rates.len(), 2);
        assert_eq!(rates[0]["at"], 105);
        assert_eq!(rates[0]["requests_per_second"], 10.0);
        assert_eq!(rates[0]["errors_per_second"], 1.0);
        assert_eq!(rates[1]["requests_per_second"], 0.0);
    }

    #[test]
    fn the_ring_keeps_the_last_ten_minutes() {
        let h = History::new();
        for i in 0..KEPT as u64 + 30 {
            h.record(i * 5, totals(i, 0));
        }
        let rates = h.rates();
        assert_eq!(rates.len(), KEPT - 1);
        assert_eq!(rates[0]["at"], 31 * 5);
        assert_eq!(rates[KEPT - 2]["at"], (KEPT as u64 + 29) * 5);
        assert_eq!(rates[0]["requests_per_second"], 0.2);
    }
}
