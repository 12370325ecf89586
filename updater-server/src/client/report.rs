//! What a client reports after an update attempt ([`Report`], the body of `POST
//! /api/v1/reports`), the per-address [`RateLimiter`] of that endpoint and the [`ReportSink`]
//! queue the report writer (`crate::reports`) drains. Nothing here touches the database.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Mutex;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::config::ReportsConfig;
use crate::error::{Error, Result};

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

    /// Hands the receiving end to the writer thread: `Some` once, `None` on every later call.
    pub fn take_receiver(&self) -> Option<Receiver<Report>> {
        match self.receiver.lock() {
            Ok(mut guard) => guard.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        }
    }
}
