//! What every request handler reaches: the [`AppState`] (store, snapshot, configuration, signer,
//! dice, counters, report queue) and the helpers that run store work off the async workers.

use std::time::{Duration, Instant};

use actix_web::web;

use crate::client::dice::{Dice, RandomDice};
use crate::client::report::ReportSink;
use crate::client::signing::ResponseSigner;
use crate::client::snapshot::SnapshotCell;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::metrics::totals::TotalsCache;
use crate::metrics::Metrics;
use crate::store::{Store, Tx};

/// Everything a request handler can reach.
#[derive(Debug)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// The snapshot the client endpoint reads.
    pub snapshot: SnapshotCell,
    /// The configuration.
    pub config: Config,
    /// Signs update responses when a key is configured.
    pub signer: Option<ResponseSigner>,
    /// The throttling dice.
    pub dice: Box<dyn Dice>,
    /// Request counters.
    pub metrics: Metrics,
    /// The update-report queue and its rate limiter.
    pub reports: ReportSink,
    /// The report totals `/metrics` shows, read at most once per configured age.
    pub report_totals: TotalsCache,
}

impl AppState {
    /// Opens the database named by `config`, loads the signing key and builds the first snapshot.
    pub fn open(config: Config) -> Result<Self> {
        let store = Store::open(&config.database)?;
        let signer = match &config.response_signing_key {
            Some(path) => Some(
                ResponseSigner::load(path, config.signature_ttl_secs)
                    .map_err(|e| Error::Internal(e.to_string()))?,
            ),
            None => None,
        };
        Self::with_parts(store, config, signer, Box::new(RandomDice))
    }

    /// Builds the state from its parts (tests inject a dice or a key here).
    pub fn with_parts(
        store: Store,
        config: Config,
        signer: Option<ResponseSigner>,
        dice: Box<dyn Dice>,
    ) -> Result<Self> {
        let snapshot =
            SnapshotCell::new(store.load_snapshot()?, config.client.response_memo_entries);
        Ok(AppState {
            store,
            snapshot,
            signer,
            dice,
            metrics: Metrics::default(),
            reports: ReportSink::new(&config.reports),
            report_totals: TotalsCache::new(Duration::from_secs(
                config.reports.totals_max_age_secs,
            )),
            config,
        })
    }

    /// Runs an admin write in one transaction and publishes the new snapshot before returning.
    pub fn write<T>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
        let started = Instant::now();
        let out = self.store.write(Some(&self.snapshot), f)?;
        tracing::debug!(
            elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
            "committed and published snapshot"
        );
        Ok(out)
    }
}

/// Runs blocking store work off the async workers.
pub async fn blocking<T: Send + 'static>(
    state: &web::Data<AppState>,
    f: impl FnOnce(&AppState) -> Result<T> + Send + 'static,
) -> Result<T> {
    let state = state.clone();
    web::block(move || f(&state))
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
}

/// Runs an admin write off the async workers: one transaction, snapshot published (the shape of
/// every admin handler's write).
pub async fn write_tx<T: Send + 'static>(
    state: &web::Data<AppState>,
    f: impl FnOnce(&Tx<'_>) -> Result<T> + Send + 'static,
) -> Result<T> {
    blocking(state, move |s| s.write(f)).await
}

/// Runs a read transaction off the async workers (on a read-only connection).
pub async fn read_tx<T: Send + 'static>(
    state: &web::Data<AppState>,
    f: impl FnOnce(&Tx<'_>) -> Result<T> + Send + 'static,
) -> Result<T> {
    blocking(state, move |s| s.store.read(f)).await
}
