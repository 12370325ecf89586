//! Emergency shutoffs: the operations, Kiln's routes (`/emergency_shutoffs`, a JSON body on every
//! verb) and Balrog's (`/emergency_shutoff[/{product}/{channel}]`, `DELETE …?data_version=N`).
//! Both sets of routes run the same [`create_shutoff`] and [`delete_shutoff`].

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::admin::auth::Actor;
use crate::error::{Error, Result};
use crate::state::{read_tx, write_tx, AppState};
use crate::store::{Shutoff, Tx};

use super::signoffs::{self, Needed};
use super::{check_version, from_json, Mode};

/// Body of emergency shutoff requests.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ShutoffBody {
    /// Product.
    pub product: String,
    /// Channel (exact).
    pub channel: String,
    /// Free text.
    #[serde(default)]
    pub comment: Option<String>,
    /// For deletes: checked when given.
    #[serde(default)]
    pub data_version: Option<i64>,
}

fn shutoff_key(product: &str, channel: &str) -> String {
    format!("{product}/{channel}")
}

fn not_found(product: &str, channel: &str) -> Error {
    Error::NotFound(format!("no emergency shutoff for {product}/{channel}"))
}

/// Shuts updates off for (product, channel) and returns the new row. Never needs signoffs: it is
/// the emergency brake.
pub fn create_shutoff(tx: &Tx<'_>, actor: &Actor, body: &ShutoffBody) -> Result<Shutoff> {
    actor.require("emergency_shutoff", "create", Some(&body.product))?;
    if tx.shutoff(&body.product, &body.channel)?.is_some() {
        return Err(Error::AlreadyExists(format!(
            "updates are already shut off for {}/{}",
            body.product, body.channel
        )));
    }
    let row = Shutoff {
        product: body.product.clone(),
        channel: body.channel.clone(),
        comment: body.comment.clone(),
        data_version: 1,
    };
    tx.insert_shutoff(&row)?;
    let value = serde_json::to_value(&row).map_err(|e| Error::Internal(e.to_string()))?;
    tx.add_history(
        "emergency_shutoff",
        &shutoff_key(&row.product, &row.channel),
        &actor.username,
        Some(1),
        Some(&value),
    )?;
    Ok(row)
}

/// The shutoff of (product, channel): 404 when there is none, 409 when `data_version` is given
/// and stale (lifting it directly or scheduling that).
pub fn existing_shutoff(
    tx: &Tx<'_>,
    product: &str,
    channel: &str,
    data_version: Option<i64>,
) -> Result<Shutoff> {
    let current = tx
        .shutoff(product, channel)?
        .ok_or_else(|| not_found(product, channel))?;
    if let Some(v) = data_version {
        check_version(Some(v), current.data_version)?;
    }
    Ok(current)
}

/// Lifts a shutoff; where signoffs are required this must be a scheduled change.
pub fn delete_shutoff(tx: &Tx<'_>, actor: &Actor, mode: Mode, body: &ShutoffBody) -> Result<()> {
    existing_shutoff(tx, &body.product, &body.channel, body.data_version)?;
    actor.require("emergency_shutoff", "delete", Some(&body.product))?;
    let what = format!("the emergency shutoff of {}/{}", body.product, body.channel);
    super::scheduled::guard_pending(tx, mode, "emergency_shutoffs", &what, |row| {
        row.get("product").and_then(Value::as_str) == Some(body.product.as_str())
            && row.get("channel").and_then(Value::as_str) == Some(body.channel.as_str())
    })?;
    let mut needed = Needed::new();
    signoffs::for_shutoff(tx, &body.product, &body.channel, &mut needed)?;
    signoffs::guard(
        mode,
        &needed,
        "lifting this emergency shutoff",
        "emergency_shutoffs",
    )?;
    tx.delete_shutoff(&body.product, &body.channel)?;
    tx.add_history(
        "emergency_shutoff",
        &shutoff_key(&body.product, &body.channel),
        &actor.username,
        None,
        None,
    )?;
    Ok(())
}

/// Registers Kiln's routes and Balrog's.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/emergency_shutoffs", web::get().to(list))
        .route("/emergency_shutoffs", web::post().to(create))
        .route("/emergency_shutoffs", web::delete().to(delete_with_body))
        .route("/emergency_shutoff", web::get().to(list))
        .route("/emergency_shutoff", web::post().to(create))
        .route("/emergency_shutoff/{product}/{channel}", web::get().to(get))
        .route(
            "/emergency_shutoff/{product}/{channel}",
            web::delete().to(delete_at_path),
        );
}

async fn list(_actor: Actor, state: web::Data<AppState>) -> Result<HttpResponse> {
    let rows = read_tx(&state, move |tx| tx.shutoffs()).await?;
    Ok(HttpResponse::Ok().json(json!({ "count": rows.len(), "shutoffs": rows })))
}

/// `GET /emergency_shutoff/{product}/{channel}`: the row, its version also in `X-Data-Version`
/// (as Balrog answers).
async fn get(
    _actor: Actor,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (product, channel) = path.into_inner();
    let row = read_tx(&state, move |tx| {
        tx.shutoff(&product, &channel)?
            .ok_or_else(|| not_found(&product, &channel))
    })
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("X-Data-Version", row.data_version.to_string()))
        .json(row))
}

/// `POST` on either path: 201 with the new row (`product`, `channel`, `comment`, `data_version`).
async fn create(
    actor: Actor,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse> {
    let body: ShutoffBody = from_json(body.into_inner(), "emergency shutoff")?;
    let row = write_tx(&state, move |tx| create_shutoff(tx, &actor, &body)).await?;
    Ok(HttpResponse::Created().json(row))
}

/// Kiln's `DELETE /emergency_shutoffs` with `{product, channel, data_version?}` as the body.
async fn delete_with_body(
    actor: Actor,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse> {
    let body: ShutoffBody = from_json(body.into_inner(), "emergency shutoff")?;
    write_tx(&state, move |tx| {
        delete_shutoff(tx, &actor, Mode::Direct, &body)
    })
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "deleted": true })))
}

/// `?data_version=N` where it is required (Balrog's deletes); missing, it is a 400.
#[derive(Debug, Deserialize)]
struct RequiredDataVersion {
    data_version: i64,
}

/// Balrog's `DELETE /emergency_shutoff/{product}/{channel}?data_version=N`.
async fn delete_at_path(
    actor: Actor,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    q: web::Query<RequiredDataVersion>,
) -> Result<HttpResponse> {
    let (product, channel) = path.into_inner();
    let body = ShutoffBody {
        product,
        channel,
        comment: None,
        data_version: Some(q.into_inner().data_version),
    };
    write_tx(&state, move |tx| {
        delete_shutoff(tx, &actor, Mode::Direct, &body)
    })
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "deleted": true })))
}
