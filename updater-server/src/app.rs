//! The application: shared state, the route table, the HTTP server, the scheduled-change task and
//! the snapshot refresher.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::dev::{Server, Service as _};
use actix_web::middleware::DefaultHeaders;
use actix_web::{web, App, HttpServer};

use crate::config::Config;
use crate::dice::{Dice, RandomDice};
use crate::error::{Error, Result};
use crate::metrics::{Metrics, Route};
use crate::reports::totals::TotalsCache;
use crate::reports::ReportSink;
use crate::signing::ResponseSigner;
use crate::snapshot::SnapshotCell;
use crate::store::{Store, Tx};
use crate::{admin, client};

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

/// Registers every route: the client endpoint, health checks, `/metrics` when `metrics` (it is
/// not when it has its own listener), and the admin API.
pub fn configure(cfg: &mut web::ServiceConfig, metrics: bool) {
    client::configure(cfg, metrics);
    cfg.service(web::scope("/api/v1").configure(admin::configure));
}

fn bind(addr: &str) -> Result<TcpListener> {
    TcpListener::bind(addr).map_err(|e| Error::Internal(format!("cannot listen on {addr}: {e}")))
}

/// Serves `config` until the process is stopped: opens the state, binds `config.listen` (and
/// `config.metrics_listen`, when set, for `/metrics` alone), runs the servers and the
/// scheduled-change task on an actix system.
pub fn serve(config: Config) -> Result<()> {
    let listener = bind(&config.listen)?;
    let metrics_listener = config.metrics_listen.as_deref().map(bind).transpose()?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::Internal(e.to_string()))?;
    tracing::info!(%addr, db = %config.database, "serving");
    let state = Arc::new(AppState::open(config)?);
    actix_web::rt::System::new()
        .block_on(async move {
            if let Some(listener) = metrics_listener {
                actix_web::rt::spawn(start_metrics(Arc::clone(&state), listener)?);
            }
            start(state, listener)?.await
        })
        .map_err(|e| Error::Internal(format!("server stopped: {e}")))
}

/// Starts the separate `/metrics` listener (`metrics_listen`): that route alone, 404 otherwise.
pub fn start_metrics(state: Arc<AppState>, listener: TcpListener) -> std::io::Result<Server> {
    let data = web::Data::from(state);
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .configure(client::configure_metrics)
    })
    .workers(1)
    .listen(listener)?
    .run())
}

/// Starts the HTTP server on `listener` and the scheduled-change task. Must be called inside an
/// actix system; the returned server runs until it is stopped.
pub fn start(state: Arc<AppState>, listener: TcpListener) -> std::io::Result<Server> {
    let data = web::Data::from(Arc::clone(&state));
    let workers = state
        .config
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let app_data = data.clone();
    let metrics_here = state.config.metrics_listen.is_none();
    let server = HttpServer::new(move || {
        let metrics_data = app_data.clone();
        App::new()
            .app_data(app_data.clone())
            .app_data(
                web::JsonConfig::default()
                    .limit(64 << 20)
                    .error_handler(|err, _| {
                        actix_web::Error::from(Error::Invalid(format!("malformed JSON: {err}")))
                    }),
            )
            .app_data(web::QueryConfig::default().error_handler(|err, _| {
                actix_web::Error::from(Error::Invalid(format!("invalid query string: {err}")))
            }))
            .app_data(web::PayloadConfig::new(64 << 20))
            .wrap(
                DefaultHeaders::new()
                    .add(("Strict-Transport-Security", "max-age=31536000;"))
                    .add(("X-Content-Type-Options", "nosniff"))
                    .add((
                        "Content-Security-Policy",
                        "default-src 'none'; frame-ancestors 'none'",
                    )),
            )
            .wrap_fn(move |req, srv| {
                let route = Route::of(req.path());
                let started = Instant::now();
                let metrics = metrics_data.clone();
                let fut = srv.call(req);
                async move {
                    let res = fut.await?;
                    metrics
                        .metrics
                        .record(route, res.status().as_u16(), started.elapsed());
                    Ok(res)
                }
            })
            .configure(|cfg| configure(cfg, metrics_here))
    })
    .workers(workers)
    .listen(listener)?
    .run();
    crate::reports::spawn_writer(&state);
    crate::refresh::spawn(&state)?;
    let interval = Duration::from_millis(state.config.scheduler_interval_ms.max(10));
    actix_web::rt::spawn(async move {
        let mut ticker = actix_web::rt::time::interval(interval);
        loop {
            ticker.tick().await;
            match blocking(&data, admin::scheduled::enact_due).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(enacted = n, "enacted scheduled changes"),
                Err(e) => tracing::warn!(error = %e, "scheduled change task failed"),
            }
        }
    });
    Ok(server)
}
