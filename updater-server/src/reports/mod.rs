//! Update reports: what clients say happened after an update, and what the server makes of it.
//!
//! * [`Report`] is the body of `POST /api/v1/reports` (unauthenticated, size-capped, rate-limited
//!   per client address by [`RateLimiter`]).
//! * [`ReportSink`] queues accepted reports; a writer thread ([`spawn_writer`]) stores them in
//!   batches, one transaction each, attributing each to the release it updated to and to the rule
//!   that answers its from-build. Nothing here runs on the `/update/` path.
//! * [`rollout`] summarises a release (offers, results, error codes, success rate with a Wilson
//!   interval, per rule and per from-version); [`guard`] halts rules whose release fails;
//!   [`totals`] caches the totals `/metrics` shows.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::blob::Blob;
use crate::config::ReportsConfig;
use crate::error::{Error, Result};
use crate::evaluate::choose;
use crate::matching::fallback_channel;
use crate::query::{Force, UpdateQuery};
use crate::snapshot::Snapshot;
use crate::store::Attribution;
use crate::version::MozVersion;

pub mod guard;
pub mod http;
pub mod rollout;
pub mod stats;
pub mod totals;

/// A client's report of one update attempt.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// Product (`Firefox`).
    pub product: String,
    /// Update channel.
    pub channel: String,
    /// Build target of the installation.
    pub build_target: String,
    /// Locale of the installation.
    pub locale: String,
    /// Version before the update.
    pub from_version: String,
    /// BuildID before the update.
    pub from_build_id: String,
    /// Version the update was to install.
    pub to_version: String,
    /// BuildID the update was to install.
    pub to_build_id: String,
    /// `complete` or `partial`.
    pub patch_type: String,
    /// `success` or `failure`.
    pub result: String,
    /// The updater's error code, for failures.
    #[serde(default)]
    pub error_code: Option<i64>,
}

impl Report {
    /// Refuses empty or oversized fields and unknown patch types and results.
    pub fn validate(&self) -> Result<()> {
        let fields = [
            ("product", &self.product),
            ("channel", &self.channel),
            ("build_target", &self.build_target),
            ("locale", &self.locale),
            ("from_version", &self.from_version),
            ("from_build_id", &self.from_build_id),
            ("to_version", &self.to_version),
            ("to_build_id", &self.to_build_id),
        ];
        for (name, value) in fields {
            if value.is_empty() || value.len() > 200 {
                return Err(Error::Invalid(format!("{name} must be 1 to 200 bytes")));
            }
        }
        if !matches!(self.patch_type.as_str(), "complete" | "partial") {
            return Err(Error::Invalid(
                "patch_type must be complete or partial".to_owned(),
            ));
        }
        if !matches!(self.result.as_str(), "success" | "failure") {
            return Err(Error::Invalid(
                "result must be success or failure".to_owned(),
            ));
        }
        Ok(())
    }
}

/// A token bucket per client address: `per_minute` reports, refilled continuously.
#[derive(Debug)]
pub struct RateLimiter {
    per_minute: f64,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

/// Addresses remembered before the limiter starts over (bounds its memory).
const MAX_TRACKED: usize = 100_000;

impl RateLimiter {
    /// A limiter allowing `per_minute` reports per address.
    pub fn new(per_minute: u32) -> Self {
        RateLimiter {
            per_minute: f64::from(per_minute),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `addr`; `false` when it has none left.
    pub fn allow(&self, addr: IpAddr) -> bool {
        let mut buckets = match self.buckets.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if buckets.len() >= MAX_TRACKED && !buckets.contains_key(&addr) {
            buckets.clear();
        }
        let now = Instant::now();
        let (tokens, last) = buckets.entry(addr).or_insert((self.per_minute, now));
        let refill = now.duration_since(*last).as_secs_f64() * self.per_minute / 60.0;
        *tokens = (*tokens + refill).min(self.per_minute);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The queue between the report endpoint and the writer thread.
#[derive(Debug)]
pub struct ReportSink {
    sender: SyncSender<Report>,
    receiver: Mutex<Option<Receiver<Report>>>,
    /// Per-address rate limit of the endpoint.
    pub limiter: RateLimiter,
    /// Reports stored so far.
    pub stored: AtomicU64,
    /// Reports refused because the queue was full.
    pub dropped: AtomicU64,
}

impl ReportSink {
    /// A sink sized by `config`.
    pub fn new(config: &ReportsConfig) -> Self {
        let (sender, receiver) = mpsc::sync_channel(config.queue.max(1));
        ReportSink {
            sender,
            receiver: Mutex::new(Some(receiver)),
            limiter: RateLimiter::new(config.per_minute),
            stored: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    /// Queues a report without waiting; a full queue is a 503.
    pub fn submit(&self, report: Report) -> Result<()> {
        match self.sender.try_send(report) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                Err(Error::Unavailable(
                    "too many reports queued; try again later".to_owned(),
                ))
            }
        }
    }
}

/// The release a report updated to: one of the product whose application version and buildID
/// (for the report's platform and locale) are the report's `to_version` and `to_build_id`.
fn release_of(snapshot: &Snapshot, r: &Report) -> Option<String> {
    let mut names: Vec<&String> = snapshot
        .releases()
        .iter()
        .filter(|(_, release)| {
            let product = release.row_product.as_deref().or(release.product());
            let Blob::App(app) = &release.blob else {
                return false;
            };
            product == Some(r.product.as_str())
                && app.app_version_for(&r.build_target, &r.locale) == Some(r.to_version.as_str())
                && app.build_id(&r.build_target, &r.locale).ok() == Some(r.to_build_id.as_str())
        })
        .map(|(name, _)| name)
        .collect();
    names.sort();
    names.first().map(|n| (*n).clone())
}

/// The rule that answers the report's from-build (evaluated without throttling).
fn rule_of(snapshot: &Snapshot, r: &Report) -> Option<i64> {
    let q = UpdateQuery {
        query_version: 6,
        product: r.product.clone(),
        version: r.from_version.clone(),
        parsed_version: MozVersion::parse(&r.from_version),
        build_id: r.from_build_id.clone(),
        build_target: r.build_target.clone(),
        locale: r.locale.clone(),
        fallback_channel: fallback_channel(&r.channel),
        channel: r.channel.clone(),
        os_version: String::new(),
        distribution: None,
        dist_version: None,
        instruction_set: None,
        memory: None,
        jaws: None,
        header_architecture: "Intel",
        force: Force::Main,
        mig64: None,
        pin: None,
    };
    choose(snapshot, &q, &mut || 0)
        .ok()
        .and_then(|c| c.rule)
        .map(|(id, _)| id)
}

/// Attributes a report against the current snapshot.
pub fn attribute(snapshot: &Snapshot, r: &Report) -> Attribution {
    Attribution {
        release: release_of(snapshot, r),
        rule_id: rule_of(snapshot, r),
    }
}

/// Stores one batch in one transaction and then lets the health guards look at the new data. While
/// the database is unreachable the batch stays, to be stored by a later flush.
fn flush(state: &AppState, batch: &mut Vec<Report>) {
    if batch.is_empty() {
        return;
    }
    let snapshot = state.snapshot.load();
    // Reports of one rollout repeat the same few targets: attribute each distinct one once.
    let mut seen: HashMap<[&str; 8], Attribution> = HashMap::new();
    let stored = state.store.append(|tx| {
        for r in batch.iter() {
            let key = [
                r.product.as_str(),
                r.channel.as_str(),
                r.build_target.as_str(),
                r.locale.as_str(),
                r.from_version.as_str(),
                r.from_build_id.as_str(),
                r.to_version.as_str(),
                r.to_build_id.as_str(),
            ];
            let attributed = seen.entry(key).or_insert_with(|| attribute(&snapshot, r));
            tx.insert_report(r, attributed)?;
        }
        Ok(batch.len())
    });
    match stored {
        Ok(n) => {
            state
                .reports
                .stored
                .fetch_add(u64::try_from(n).unwrap_or(u64::MAX), Ordering::Relaxed);
            if let Err(e) = guard::check_all(state) {
                tracing::warn!(error = %e, "health guard check failed");
            }
        }
        Err(Error::Unavailable(_)) => {
            // The database is unreachable: keep the batch for the next flush. Meanwhile the queue
            // fills and the endpoint answers 503, so no accepted report is dropped.
            tracing::warn!(
                kept = batch.len(),
                "database unreachable; reports kept for retry"
            );
            return;
        }
        Err(e) => tracing::error!(error = %e, lost = batch.len(), "cannot store reports"),
    }
    batch.clear();
}

/// Starts the writer thread for `state` (once; later calls do nothing). It holds the state
/// weakly and ends when the state is dropped.
pub fn spawn_writer(state: &Arc<AppState>) {
    let receiver = match state.reports.receiver.lock() {
        Ok(mut guard) => guard.take(),
        Err(poisoned) => poisoned.into_inner().take(),
    };
    let Some(receiver) = receiver else {
        return;
    };
    let weak: Weak<AppState> = Arc::downgrade(state);
    let batch_size = state.config.reports.batch.max(1);
    let wait = Duration::from_millis(state.config.reports.flush_ms.max(1));
    let spawned = std::thread::Builder::new()
        .name("kiln-reports".to_owned())
        .spawn(move || {
            let mut batch = Vec::with_capacity(batch_size);
            loop {
                match receiver.recv_timeout(wait) {
                    Ok(report) => {
                        batch.push(report);
                        let deadline = Instant::now() + wait;
                        while batch.len() < batch_size {
                            let left = deadline.saturating_duration_since(Instant::now());
                            match receiver.recv_timeout(left) {
                                Ok(report) => batch.push(report),
                                Err(_) => break,
                            }
                        }
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => return,
                }
                let Some(state) = weak.upgrade() else {
                    return;
                };
                flush(&state, &mut batch);
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the report writer");
    }
}
