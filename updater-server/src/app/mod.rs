//! The application: the route table, the HTTP server, the scheduled-change task and the
//! snapshot refresher, wired over the [`AppState`] every handler shares.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::dev::{Server, Service as _};
use actix_web::middleware::DefaultHeaders;
use actix_web::{web, App, HttpServer};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::metrics::Route;
use crate::state::{blocking, AppState};
use crate::{admin, reports};

pub mod endpoint;
pub mod refresh;

/// Registers every route: the client endpoint, health checks, `/metrics` when `metrics` (it is
/// not when it has its own listener), and the admin API.
pub fn configure(cfg: &mut web::ServiceConfig, metrics: bool) {
    endpoint::configure(cfg, metrics);
    cfg.service(
        web::scope("/api/v1")
            .configure(admin::configure)
            .configure(reports::http::configure),
    );
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
            .configure(endpoint::configure_metrics)
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
    reports::spawn_writer(&state);
    refresh::spawn(&state)?;
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
