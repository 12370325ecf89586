//! Prometheus metrics, encoded by the `prometheus-client` crate in the OpenMetrics text format:
//! requests by route and status, a latency histogram per route, offers and stored reports by
//! release, and gauges about the snapshot. Each request's counter and histogram are resolved once
//! per (route, status), so recording a request takes no map lookup.

use std::sync::atomic::AtomicU64;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

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

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OfferLabels {
    release: String,
    rule: i64,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReportLabels {
    release: String,
    result: String,
}

type HistogramFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

fn duration_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// The server's counters.
#[derive(Debug)]
pub struct Metrics {
    requests: Family<RequestLabels, Counter>,
    durations: HistogramFamily,
    // The counter of each (route, status slot; the last slot is any other status), created on
    // its first request so that only statuses seen are shown.
    by_status: [[OnceLock<Counter>; STATUSES.len() + 1]; ROUTES.len()],
    // Every route's histogram, shown from the start.
    histograms: [Histogram; ROUTES.len()],
    memo_hits: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let durations = HistogramFamily::new_with_constructor(duration_histogram);
        let histograms =
            ROUTES.map(|(_, route)| durations.get_or_create(&RouteLabels { route }).clone());
        Metrics {
            requests: Family::default(),
            durations,
            by_status: std::array::from_fn(|_| std::array::from_fn(|_| OnceLock::new())),
            histograms,
            memo_hits: Counter::default(),
        }
    }
}

/// A gauge showing `value`.
fn gauge(value: f64) -> Gauge<f64, AtomicU64> {
    let gauge = Gauge::default();
    gauge.set(value);
    gauge
}

/// A gauge showing the number `n`.
fn count(n: usize) -> Gauge {
    let gauge = Gauge::default();
    gauge.set(i64::try_from(n).unwrap_or(i64::MAX));
    gauge
}

impl Metrics {
    /// Counts an answer replayed from the response memo.
    pub fn memo_hit(&self) {
        self.memo_hits.inc();
    }

    /// Records one finished request.
    pub fn record(&self, route: Route, status: u16, elapsed: Duration) {
        let r = route.index();
        let s = STATUSES
            .iter()
            .position(|x| *x == status)
            .unwrap_or(STATUSES.len());
        self.by_status[r][s]
            .get_or_init(|| {
                let status = STATUSES.get(s).map_or("other".to_owned(), u16::to_string);
                self.requests
                    .get_or_create(&RequestLabels {
                        route: ROUTES[r].1,
                        status,
                    })
                    .clone()
            })
            .inc();
        self.histograms[r].observe(elapsed.as_secs_f64());
    }

    /// The OpenMetrics text exposition: these counters, the `snapshot`'s gauges, the `offers`
    /// counted per (release, rule) and the stored `reports` per (release, result), read
    /// `reports_age` ago.
    pub fn render(
        &self,
        snapshot: &Snapshot,
        offers: &[(String, i64, u64)],
        reports: &[(String, String, i64)],
        reports_age: Duration,
    ) -> Result<String, std::fmt::Error> {
        let mut registry = Registry::default();
        registry.register(
            "kiln_http_requests",
            "HTTP requests by route and status.",
            self.requests.clone(),
        );
        registry.register(
            "kiln_http_request_duration_seconds",
            "Request latency by route.",
            self.durations.clone(),
        );
        let age = SystemTime::now()
            .duration_since(snapshot.built_at())
            .unwrap_or_default();
        registry.register(
            "kiln_snapshot_age_seconds",
            "Seconds since the serving snapshot was built.",
            gauge(age.as_secs_f64()),
        );
        registry.register(
            "kiln_rules",
            "Rules in the serving snapshot.",
            count(snapshot.rule_count()),
        );
        registry.register(
            "kiln_releases",
            "Releases in the serving snapshot.",
            count(snapshot.releases().len()),
        );
        registry.register(
            "kiln_response_memo_entries",
            "Answers memoized for the serving snapshot.",
            count(snapshot.memo().len()),
        );
        registry.register(
            "kiln_response_memo_hits",
            "Answers replayed from the memo.",
            self.memo_hits.clone(),
        );
        let offered = Family::<OfferLabels, Counter>::default();
        for (release, rule, n) in offers {
            offered
                .get_or_create(&OfferLabels {
                    release: release.clone(),
                    rule: *rule,
                })
                .inc_by(*n);
        }
        registry.register(
            "kiln_update_offers",
            "Updates offered, by release and rule.",
            offered,
        );
        let stored = Family::<ReportLabels, Counter>::default();
        for (release, result, n) in reports {
            stored
                .get_or_create(&ReportLabels {
                    release: release.clone(),
                    result: result.clone(),
                })
                .inc_by(u64::try_from(*n).unwrap_or(0));
        }
        registry.register(
            "kiln_update_reports",
            "Update reports stored, by release and result.",
            stored,
        );
        registry.register(
            "kiln_update_reports_totals_age_seconds",
            "How old kiln_update_reports_total is.",
            gauge(reports_age.as_secs_f64()),
        );
        let mut out = String::new();
        encode(&mut out, &registry)?;
        Ok(out)
    }
}
