//! The report, rollout and health-guard routes under `/api/v1`.

use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::{guard, rollout};
use crate::admin::auth::Actor;
use crate::admin::check_version;
use crate::client::report::Report;
use crate::error::{Error, Result};
use crate::state::{read_tx, write_tx, AppState};
use crate::store::HealthGuard;

/// Registers `POST /reports`, `GET /rollouts/{release}` and `/rules/{id}/health_guard`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/reports", web::post().to(post_report))
        .route("/rollouts/{release}", web::get().to(get_rollout))
        .route("/rules/{id}/health_guard", web::get().to(get_guard))
        .route("/rules/{id}/health_guard", web::put().to(put_guard))
        .route("/rules/{id}/health_guard", web::delete().to(delete_guard));
}

/// Reads at most `limit` bytes of body; more is a 413.
async fn read_capped(payload: web::Payload, limit: usize) -> Result<Bytes> {
    match payload.to_bytes_limited(limit).await {
        Ok(Ok(body)) => Ok(body),
        Ok(Err(e)) => Err(Error::Invalid(format!("cannot read the body: {e}"))),
        Err(_) => Err(Error::TooLarge(format!(
            "a report is at most {limit} bytes"
        ))),
    }
}

/// `POST /api/v1/reports`: unauthenticated; queued and answered 202 at once.
async fn post_report(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse> {
    if let Some(addr) = req.peer_addr() {
        if !state.reports.limiter.allow(addr.ip()) {
            return Err(Error::TooManyRequests(
                "too many reports from this address".to_owned(),
            ));
        }
    }
    let body = read_capped(payload, state.config.reports.max_body_bytes).await?;
    let report: Report = serde_json::from_slice(&body)
        .map_err(|e| Error::Invalid(format!("invalid report: {e}")))?;
    report.validate()?;
    state.reports.submit(report)?;
    Ok(HttpResponse::Accepted().json(json!({"accepted": true})))
}

/// `GET /api/v1/rollouts/{release}` (any authenticated user).
async fn get_rollout(
    _actor: Actor,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    let release = path.into_inner();
    let name = release.clone();
    let counts = read_tx(&state, move |tx| {
        if tx.release(&name)?.is_none() {
            return Err(Error::NotFound(format!("no release {name}")));
        }
        tx.report_counts(&name)
    })
    .await?;
    let offers = state.snapshot.offers().counts(&release);
    Ok(HttpResponse::Ok().json(rollout::summary(&release, &offers, &counts)))
}

/// Body of `PUT /rules/{id}/health_guard`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardBody {
    /// Reports needed before the guard may act (at least 1).
    pub min_reports: i64,
    /// The failure rate (0–1) the release must significantly exceed.
    pub max_failure_rate: f64,
    /// The release to compare with; default: the rule's previous mapping.
    #[serde(default)]
    pub baseline_release: Option<String>,
    /// Required when replacing a guard.
    #[serde(default)]
    pub data_version: Option<i64>,
}

fn rule_id(path: &str) -> Result<i64> {
    path.parse()
        .map_err(|_| Error::Invalid(format!("rule id {path} is not an integer")))
}

async fn get_guard(
    _actor: Actor,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    let id = rule_id(&path)?;
    let alpha = state.config.reports.alpha;
    let (g, verdict) = read_tx(&state, move |tx| {
        let g = tx
            .health_guard(id)?
            .ok_or_else(|| Error::NotFound(format!("rule {id} has no health guard")))?;
        let verdict = guard::verdict(tx, &g, alpha)?;
        Ok((g, verdict))
    })
    .await?;
    let verdict = verdict.map(|v| {
        json!({"reports": v.reports, "failure_rate": v.failure_rate, "baseline_release": v.baseline,
               "p_value": v.p_value, "halt": v.halt})
    });
    Ok(HttpResponse::Ok().json(json!({"guard": g, "verdict": verdict})))
}

async fn put_guard(
    actor: Actor,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<GuardBody>,
) -> Result<HttpResponse> {
    let id = rule_id(&path)?;
    let body = body.into_inner();
    if body.min_reports < 1 || !(0.0..1.0).contains(&body.max_failure_rate) {
        return Err(Error::Invalid(
            "min_reports must be at least 1 and max_failure_rate in [0, 1)".to_owned(),
        ));
    }
    let stored = write_tx(&state, move |tx| {
        let rule = tx
            .rule(id)?
            .ok_or_else(|| Error::NotFound(format!("no rule {id}")))?;
        actor.require("rule", "modify", rule.row.product.as_deref())?;
        let data_version = match tx.health_guard(id)? {
            Some(current) => {
                check_version(body.data_version, current.data_version)?;
                current.data_version + 1
            }
            None => 1,
        };
        let g = HealthGuard {
            rule_id: id,
            min_reports: body.min_reports,
            max_failure_rate: body.max_failure_rate,
            baseline_release: body.baseline_release,
            tripped_ms: None,
            data_version,
        };
        tx.put_health_guard(&g)?;
        let row = serde_json::to_value(&g).map_err(|e| Error::Internal(e.to_string()))?;
        tx.add_history(
            "health_guard",
            &id.to_string(),
            &actor.username,
            Some(data_version),
            Some(&row),
        )?;
        Ok(g)
    })
    .await?;
    Ok(HttpResponse::Ok().json(stored))
}

/// Query of `DELETE /rules/{id}/health_guard`.
#[derive(Debug, Deserialize)]
pub struct DeleteQuery {
    /// The guard's current version.
    pub data_version: Option<i64>,
}

async fn delete_guard(
    actor: Actor,
    state: web::Data<AppState>,
    path: web::Path<String>,
    q: web::Query<DeleteQuery>,
) -> Result<HttpResponse> {
    let id = rule_id(&path)?;
    let sent = q.data_version;
    write_tx(&state, move |tx| {
        let current = tx
            .health_guard(id)?
            .ok_or_else(|| Error::NotFound(format!("rule {id} has no health guard")))?;
        let product = tx.rule(id)?.and_then(|r| r.row.product);
        actor.require("rule", "modify", product.as_deref())?;
        check_version(sent, current.data_version)?;
        tx.delete_health_guard(id)?;
        tx.add_history("health_guard", &id.to_string(), &actor.username, None, None)
    })
    .await?;
    Ok(HttpResponse::Ok().json(json!({"deleted": id})))
}
