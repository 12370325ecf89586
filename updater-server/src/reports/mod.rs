//! Update reports: what clients say happened after an update, and what the server makes of it.
//!
//! * Clients' reports arrive through [`http`] into the
//!   [`ReportSink`](crate::client::report::ReportSink) queue; a writer thread ([`spawn_writer`])
//!   stores them in batches, one transaction each, attributing each to the release it updated to
//!   and to the rule that answers its from-build. Nothing here runs on the `/update/` path.
//! * [`rollout`] summarises a release (offers, results, error codes, success rate with a Wilson
//!   interval, per rule and per from-version); [`guard`] halts rules whose release fails.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crate::client::blob::Blob;
use crate::client::evaluate::choose;
use crate::client::matching::fallback_channel;
use crate::client::query::{Force, UpdateQuery};
use crate::client::report::Report;
use crate::client::snapshot::Snapshot;
use crate::client::version::MozVersion;
use crate::error::Error;
use crate::state::AppState;
use crate::store::Attribution;

pub mod guard;
pub mod http;
pub mod rollout;
pub mod stats;

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
    let Some(receiver) = state.reports.take_receiver() else {
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
