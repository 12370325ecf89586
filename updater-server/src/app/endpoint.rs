//! The client endpoint (`/update/…`), health checks and `/metrics`.

use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};

use crate::client::evaluate::{evaluate, evaluate_json, JsonOutcome};
use crate::client::memo::{MemoEntry, ResponseMemo};
use crate::client::query;
use crate::client::xml;
use crate::error::{Error, Result};
use crate::state::{blocking, AppState};

/// Registers the client-facing routes, with `/metrics` when `metrics` (not when it has a
/// listener of its own); everything unmatched falls to `fallback` (the empty document under
/// `/update…`, else 404; a method other than GET or HEAD gets 405).
pub fn configure(cfg: &mut web::ServiceConfig, metrics: bool) {
    // A scope matches its prefix without a regex; the handler checks the method.
    cfg.service(web::scope("/update").default_service(web::to(update)))
        .route("/json/{tail:.*}", web::get().to(json_update))
        .route("/json/{tail:.*}", web::head().to(json_update))
        .route("/__heartbeat__", web::get().to(heartbeat))
        .route("/__lbheartbeat__", web::get().to(lbheartbeat))
        .route("/robots.txt", web::get().to(robots));
    if metrics {
        configure_metrics(cfg);
    }
    cfg.default_service(web::to(fallback));
}

/// Registers `/metrics` alone (also the whole route table of a separate metrics listener).
pub fn configure_metrics(cfg: &mut web::ServiceConfig) {
    cfg.route("/metrics", web::get().to(metrics));
}

fn xml_response(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/xml; charset=utf-8"),
        ))
        .body(body)
}

/// `Rule-ID` and `Rule-Data-Version` (`unknown` when no rule decided): names and numbers
/// written without parsing or a `String` each.
fn rule_headers(rule: Option<(i64, i64)>) -> [(HeaderName, HeaderValue); 2] {
    const RULE_ID: HeaderName = HeaderName::from_static("rule-id");
    const RULE_DATA_VERSION: HeaderName = HeaderName::from_static("rule-data-version");
    let (id, dv) = rule.map_or_else(
        || {
            let unknown = HeaderValue::from_static("unknown");
            (unknown.clone(), unknown)
        },
        |(id, dv)| (HeaderValue::from(id), HeaderValue::from(dv)),
    );
    [(RULE_ID, id), (RULE_DATA_VERSION, dv)]
}

fn dice_override(req: &HttpRequest, state: &AppState) -> Result<Option<u8>> {
    if !state.config.testing.dice_header {
        return Ok(None);
    }
    let Some(value) = req.headers().get("X-Test-Dice") else {
        return Ok(None);
    };
    let roll = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<u8>().ok())
        .filter(|n| *n < 100);
    roll.map(Some)
        .ok_or_else(|| Error::BadData("X-Test-Dice must be an integer from 0 to 99".to_owned()))
}

fn answer(req: &HttpRequest, state: &AppState) -> Result<HttpResponse> {
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let fixed = dice_override(req, state)?;
    let snapshot = state.snapshot.load();
    let key = ResponseMemo::key(req.path(), req.query_string(), user_agent.contains("PPC"));
    let entry = match snapshot.memo().get(&key) {
        Some(hit) => {
            state.metrics.memo_hit();
            hit
        }
        None => {
            let Some(q) = query::parse(req.path(), req.query_string(), user_agent)? else {
                return Ok(xml_response(StatusCode::OK, xml::EMPTY.to_owned()));
            };
            let mut rolled = false;
            let outcome = {
                let mut dice = || {
                    rolled = true;
                    fixed.unwrap_or_else(|| state.dice.roll())
                };
                evaluate(&snapshot, &q, &state.config.client, &mut dice)?
            };
            let entry = MemoEntry {
                rule: outcome.rule,
                body: Bytes::from(outcome.body.into_owned()),
                served: outcome.served.map(Into::into),
            };
            if !rolled {
                snapshot.memo().put(key, entry.clone());
            }
            entry
        }
    };
    if let (Some((rule, _)), Some(release)) = (entry.rule, &entry.served) {
        snapshot.offers().count(release, rule);
    }
    let mut resp = HttpResponse::Ok();
    resp.insert_header((
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml; charset=utf-8"),
    ));
    for (name, value) in rule_headers(entry.rule) {
        resp.insert_header((name, value));
    }
    if let Some(signer) = &state.signer {
        resp.insert_header(("Content-Signature", signer.header(&entry.body)));
    }
    resp.insert_header((
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=90"),
    ));
    Ok(resp.body(entry.body))
}

/// `GET /update/…` (and HEAD): evaluates the rules against the snapshot; never touches the
/// database. Other methods go to [`fallback`].
async fn update(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        return fallback(req).await;
    }
    answer(&req, &state).unwrap_or_else(|e| e.error_response())
}

fn json_answer(req: &HttpRequest, state: &AppState) -> Result<HttpResponse> {
    let fixed = dice_override(req, state)?;
    let Some(q) = query::parse_json(req.path(), req.query_string())? else {
        return Ok(not_found());
    };
    let snapshot = state.snapshot.load();
    let mut dice = || fixed.unwrap_or_else(|| state.dice.roll());
    let Some(JsonOutcome { rule, body }) =
        evaluate_json(&snapshot, &q, &state.config.client, &mut dice)?
    else {
        // Balrog's bare `Response(status=404)`: Flask's default type, no rule headers.
        return Ok(HttpResponse::NotFound()
            .content_type("text/html; charset=utf-8")
            .finish());
    };
    let mut resp = HttpResponse::Ok();
    resp.content_type("application/json");
    for (name, value) in rule_headers(rule) {
        resp.insert_header((name, value));
    }
    if let Some(signer) = &state.signer {
        resp.insert_header(("Content-Signature", signer.header(body.as_bytes())));
    }
    Ok(resp.body(body))
}

/// `GET /json/…/update.json`: Guardian (Mozilla VPN) updates as JSON.
async fn json_update(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    json_answer(&req, &state).unwrap_or_else(|e| e.error_response())
}

fn not_found() -> HttpResponse {
    HttpResponse::NotFound()
        .content_type("text/plain; charset=utf-8")
        .body(NOT_FOUND)
}

/// Werkzeug's 404 text, which Balrog sends for unknown paths outside `/update`.
const NOT_FOUND: &str = "The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.";

/// Unmatched paths: the empty update document under `/update…` (Balrog's 404 handler, so without
/// `Cache-Control` or rule headers), else 404.
async fn fallback(req: HttpRequest) -> HttpResponse {
    let client_path = [
        "/update",
        "/json",
        "/__heartbeat__",
        "/__lbheartbeat__",
        "/metrics",
    ]
    .iter()
    .any(|p| req.path().starts_with(p));
    if client_path && !matches!(*req.method(), Method::GET | Method::HEAD) {
        // Clients only read: a POST or an unknown method is a mistake or a probe, not a check.
        return HttpResponse::MethodNotAllowed()
            .insert_header((header::ALLOW, HeaderValue::from_static("GET, HEAD")))
            .finish();
    }
    if req.path().starts_with("/update") {
        xml_response(StatusCode::OK, xml::EMPTY.to_owned())
    } else {
        not_found()
    }
}

/// `/__heartbeat__`: the database's state and the snapshot's. 200 `"status": "ok"` when the
/// database answers; 503 `"status": "degraded"` when it does not, while `/update/` goes on
/// answering from the last snapshot. `snapshot_age_ms` is how long ago the snapshot was last found
/// to match the database, `snapshot_version` the change version it shows.
async fn heartbeat(state: web::Data<AppState>) -> HttpResponse {
    let database = blocking(&state, |s| s.store.heartbeat()).await;
    let snapshot = state.snapshot.load();
    let age_ms = u64::try_from(state.snapshot.confirmed_age().as_millis()).unwrap_or(u64::MAX);
    let body = |status: &str, database: &str| {
        serde_json::json!({
            "status": status,
            "database": database,
            "backend": format!("{:?}", state.store.dialect()).to_lowercase(),
            "snapshot_version": snapshot.version(),
            "snapshot_age_ms": age_ms,
        })
    };
    match database {
        Ok(()) => HttpResponse::Ok().json(body("ok", "ok")),
        Err(e) => {
            tracing::error!(error = %e, "heartbeat failed");
            HttpResponse::ServiceUnavailable().json(body("degraded", "unreachable"))
        }
    }
}

/// `/robots.txt`: an update service has nothing for crawlers (Balrog serves one too).
async fn robots() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("User-agent: *\nDisallow: /\n")
}

/// `/__lbheartbeat__`: the process is up.
async fn lbheartbeat() -> HttpResponse {
    HttpResponse::Ok().finish()
}

/// `/metrics` in the OpenMetrics text format.
async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let totals = blocking(&state, |s| {
        s.report_totals
            .get(|| s.store.read(|tx| tx.report_totals()))
    })
    .await;
    let (reports, age) = totals.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot read report totals");
        (Default::default(), Default::default())
    });
    let rendered = state.metrics.render(
        &state.snapshot.load(),
        &state.snapshot.offers().all(),
        &reports,
        age,
    );
    match rendered {
        Ok(body) => HttpResponse::Ok()
            .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
            .body(body),
        Err(e) => Error::Internal(format!("cannot encode the metrics: {e}")).error_response(),
    }
}
