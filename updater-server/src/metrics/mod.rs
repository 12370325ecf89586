//! Prometheus metrics: requests by route and status, a latency histogram per route, and gauges
//! about the snapshot. Counters are atomics so the hot path takes no lock.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use crate::client::snapshot::Snapshot;

pub mod totals;

/// The route families that are counted separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `/update/…`
    Update,
    /// `/api/v1/…`
    Admin,
    /// `/__heartbeat__`, `/__lbheartbeat__`
    Heartbeat,
    /// `/metrics`
    Metrics,
    /// Anything else.
    Other,
}

const ROUTES: [(Route, &str); 5] = [
    (Route::Update, "update"),
    (Route::Admin, "admin"),
    (Route::Heartbeat, "heartbeat"),
    (Route::Metrics, "metrics"),
    (Route::Other, "other"),
];
const STATUSES: [u16; 10] = [200, 201, 204, 400, 401, 403, 404, 409, 500, 503];
const BUCKETS: [f64; 9] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5];

impl Route {
    /// The family of a request path.
    pub fn of(path: &str) -> Route {
        if path.starts_with("/update") {
            Route::Update
        } else if path.starts_with("/api/") {
            Route::Admin
        } else if path.starts_with("/__") {
            Route::Heartbeat
        } else if path == "/metrics" {
            Route::Metrics
        } else {
            Route::Other
        }
    }

    fn index(self) -> usize {
        ROUTES
            .iter()
            .position(|(r, _)| *r == self)
            .unwrap_or(ROUTES.len() - 1)
    }
}

#[derive(Debug, Default)]
struct RouteMetrics {
    // One slot per STATUSES entry plus one for any other status.
    by_status: [AtomicU64; STATUSES.len() + 1],
    // Cumulative buckets are computed on output; these are per-bucket counts (+Inf last).
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_micros: AtomicU64,
}

/// The server's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    routes: [RouteMetrics; ROUTES.len()],
    memo_hits: AtomicU64,
}

impl Metrics {
    /// Counts an answer replayed from the response memo.
    pub fn memo_hit(&self) {
        self.memo_hits.fetch_add(1, Ordering::Relaxed);
    }

    /// Records one finished request.
    pub fn record(&self, route: Route, status: u16, elapsed: Duration) {
        let m = &self.routes[route.index()];
        let s = STATUSES
            .iter()
            .position(|x| *x == status)
            .unwrap_or(STATUSES.len());
        m.by_status[s].fetch_add(1, Ordering::Relaxed);
        let secs = elapsed.as_secs_f64();
        let b = BUCKETS
            .iter()
            .position(|le| secs <= *le)
            .unwrap_or(BUCKETS.len());
        m.buckets[b].fetch_add(1, Ordering::Relaxed);
        m.sum_micros.fetch_add(
            u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// The Prometheus text exposition.
    pub fn render(&self, snapshot: &Snapshot) -> String {
        let mut out = String::new();
        out.push_str("# HELP kiln_http_requests_total HTTP requests by route and status.\n");
        out.push_str("# TYPE kiln_http_requests_total counter\n");
        for ((_, name), m) in ROUTES.iter().zip(&self.routes) {
            for (i, count) in m.by_status.iter().enumerate() {
                let n = count.load(Ordering::Relaxed);
                if n > 0 {
                    let status = STATUSES.get(i).map_or("other".to_owned(), u16::to_string);
                    let _ = writeln!(
                        out,
                        "kiln_http_requests_total{{route=\"{name}\",status=\"{status}\"}} {n}"
                    );
                }
            }
        }
        out.push_str("# HELP kiln_http_request_duration_seconds Request latency by route.\n");
        out.push_str("# TYPE kiln_http_request_duration_seconds histogram\n");
        for ((_, name), m) in ROUTES.iter().zip(&self.routes) {
            let mut cumulative = 0;
            for (i, bucket) in m.buckets.iter().enumerate() {
                cumulative += bucket.load(Ordering::Relaxed);
                let le = BUCKETS.get(i).map_or("+Inf".to_owned(), f64::to_string);
                let _ =
                    writeln!(out, "kiln_http_request_duration_seconds_bucket{{route=\"{name}\",le=\"{le}\"}} {cumulative}");
            }
            let sum = m.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
            let _ = writeln!(
                out,
                "kiln_http_request_duration_seconds_sum{{route=\"{name}\"}} {sum}"
            );
            let _ = writeln!(
                out,
                "kiln_http_request_duration_seconds_count{{route=\"{name}\"}} {cumulative}"
            );
        }
        let age = SystemTime::now()
            .duration_since(snapshot.built_at())
            .unwrap_or_default()
            .as_secs_f64();
        out.push_str(
            "# HELP kiln_snapshot_age_seconds Seconds since the serving snapshot was built.\n",
        );
        out.push_str("# TYPE kiln_snapshot_age_seconds gauge\n");
        let _ = writeln!(out, "kiln_snapshot_age_seconds {age}");
        out.push_str("# HELP kiln_rules Rules in the serving snapshot.\n# TYPE kiln_rules gauge\n");
        let _ = writeln!(out, "kiln_rules {}", snapshot.rule_count());
        out.push_str(
            "# HELP kiln_releases Releases in the serving snapshot.\n# TYPE kiln_releases gauge\n",
        );
        let _ = writeln!(out, "kiln_releases {}", snapshot.releases().len());
        out.push_str(
            "# HELP kiln_response_memo_entries Answers memoized for the serving snapshot.\n",
        );
        out.push_str("# TYPE kiln_response_memo_entries gauge\n");
        let _ = writeln!(out, "kiln_response_memo_entries {}", snapshot.memo().len());
        out.push_str("# HELP kiln_response_memo_hits_total Answers replayed from the memo.\n");
        out.push_str("# TYPE kiln_response_memo_hits_total counter\n");
        let _ = writeln!(
            out,
            "kiln_response_memo_hits_total {}",
            self.memo_hits.load(Ordering::Relaxed)
        );
        out
    }
}
