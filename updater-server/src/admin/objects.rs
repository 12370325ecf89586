//! Pinnable releases and required signoffs.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::admin::auth::Actor;
use crate::client::version::PinVersion;
use crate::error::{Error, Result};
use crate::state::{read_tx, write_tx, AppState};
use crate::store::{Pin, RequiredSignoff, Tx};

use super::{check_version, from_json, DataVersionQuery};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PinBody {
    mapping: String,
    #[serde(default)]
    data_version: Option<i64>,
}

fn put_pin(
    tx: &Tx<'_>,
    actor: &Actor,
    product: &str,
    channel: &str,
    version: &str,
    body: PinBody,
) -> Result<(bool, i64)> {
    let Ok(pin) = PinVersion::parse(version) else {
        return Err(Error::Invalid(format!(
            "pin version '{version}' must look like 102. or 102.1."
        )));
    };
    let version = pin.key();
    let version = version.as_str();
    if tx.release(&body.mapping)?.is_none() {
        return Err(Error::Invalid(format!(
            "release {} does not exist",
            body.mapping
        )));
    }
    let current = tx.pin(product, channel, version)?;
    let (created, dv) = match &current {
        None => {
            actor.require("pinnable_release", "create", Some(product))?;
            (true, 1)
        }
        Some(p) => {
            actor.require("pinnable_release", "modify", Some(product))?;
            check_version(body.data_version, p.data_version)?;
            (false, p.data_version + 1)
        }
    };
    let row = Pin {
        product: product.to_owned(),
        channel: channel.to_owned(),
        version: version.to_owned(),
        mapping: body.mapping,
        data_version: dv,
    };
    tx.put_pin(&row)?;
    let value = serde_json::to_value(&row).map_err(|e| Error::Internal(e.to_string()))?;
    tx.add_history(
        "pinnable_release",
        &format!("{product}/{channel}/{version}"),
        &actor.username,
        Some(dv),
        Some(&value),
    )?;
    Ok((created, dv))
}

fn delete_pin(
    tx: &Tx<'_>,
    actor: &Actor,
    product: &str,
    channel: &str,
    version: &str,
    dv: Option<i64>,
) -> Result<()> {
    let key = PinVersion::parse(version).map_or_else(|_| version.to_owned(), |p| p.key());
    let version = key.as_str();
    let current = tx
        .pin(product, channel, version)?
        .ok_or_else(|| Error::NotFound("no such pinnable release".to_owned()))?;
    actor.require("pinnable_release", "delete", Some(product))?;
    if let Some(v) = dv {
        check_version(Some(v), current.data_version)?;
    }
    tx.delete_pin(product, channel, version)?;
    tx.add_history(
        "pinnable_release",
        &format!("{product}/{channel}/{version}"),
        &actor.username,
        None,
        None,
    )?;
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RequiredSignoffBody {
    product: String,
    channel: String,
    role: String,
    signoffs_required: i64,
}

fn add_required_signoff(tx: &Tx<'_>, actor: &Actor, body: RequiredSignoffBody) -> Result<i64> {
    actor.require("required_signoff", "create", Some(&body.product))?;
    if body.signoffs_required < 1 {
        return Err(Error::Invalid(
            "signoffs_required must be at least 1".to_owned(),
        ));
    }
    let members = tx.role_members(&body.role)?;
    if body.signoffs_required > members {
        return Err(Error::Invalid(format!(
            "cannot require {} signoffs from role {}: it has {members} member(s)",
            body.signoffs_required, body.role
        )));
    }
    let existing = tx
        .required_signoffs()?
        .into_iter()
        .find(|r| r.product == body.product && r.channel == body.channel && r.role == body.role);
    if existing.is_some() {
        return Err(Error::AlreadyExists(
            "this required signoff exists; delete it first".to_owned(),
        ));
    }
    let row = RequiredSignoff {
        product: body.product,
        channel: body.channel,
        role: body.role,
        signoffs_required: body.signoffs_required,
        data_version: 1,
    };
    tx.put_required_signoff(&row)?;
    let value = serde_json::to_value(&row).map_err(|e| Error::Internal(e.to_string()))?;
    let key = format!("{}/{}/{}", row.product, row.channel, row.role);
    tx.add_history(
        "required_signoff",
        &key,
        &actor.username,
        Some(1),
        Some(&value),
    )?;
    Ok(1)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RequiredSignoffKey {
    product: String,
    channel: String,
    role: String,
}

fn delete_required_signoff(tx: &Tx<'_>, actor: &Actor, key: &RequiredSignoffKey) -> Result<()> {
    actor.require("required_signoff", "delete", Some(&key.product))?;
    if !tx.delete_required_signoff(&key.product, &key.channel, &key.role)? {
        return Err(Error::NotFound("no such required signoff".to_owned()));
    }
    let k = format!("{}/{}/{}", key.product, key.channel, key.role);
    tx.add_history("required_signoff", &k, &actor.username, None, None)?;
    Ok(())
}

/// Registers the routes of this module.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/pinnable_releases", web::get().to(list_pins))
        .route(
            "/pinnable_releases/{product}/{channel}/{version}",
            web::put().to(put_pin_handler),
        )
        .route(
            "/pinnable_releases/{product}/{channel}/{version}",
            web::delete().to(delete_pin_handler),
        )
        .route("/required_signoffs", web::get().to(list_required))
        .route("/required_signoffs", web::post().to(add_required_handler))
        .route(
            "/required_signoffs",
            web::delete().to(delete_required_handler),
        );
}

async fn list_pins(_actor: Actor, state: web::Data<AppState>) -> Result<HttpResponse> {
    let rows = read_tx(&state, move |tx| tx.pins()).await?;
    Ok(HttpResponse::Ok().json(json!({ "pinnable_releases": rows })))
}

async fn put_pin_handler(
    actor: Actor,
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
    body: web::Json<Value>,
) -> Result<HttpResponse> {
    let (product, channel, version) = path.into_inner();
    let body: PinBody = from_json(body.into_inner(), "pinnable release")?;
    let (created, dv) = write_tx(&state, move |tx| {
        put_pin(tx, &actor, &product, &channel, &version, body)
    })
    .await?;
    let body = json!({ "data_version": dv });
    Ok(if created {
        HttpResponse::Created().json(body)
    } else {
        HttpResponse::Ok().json(body)
    })
}

async fn delete_pin_handler(
    actor: Actor,
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
    q: web::Query<DataVersionQuery>,
) -> Result<HttpResponse> {
    let (product, channel, version) = path.into_inner();
    let dv = q.into_inner().data_version;
    write_tx(&state, move |tx| {
        delete_pin(tx, &actor, &product, &channel, &version, dv)
    })
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "deleted": true })))
}

async fn list_required(_actor: Actor, state: web::Data<AppState>) -> Result<HttpResponse> {
    let rows = read_tx(&state, move |tx| tx.required_signoffs()).await?;
    Ok(HttpResponse::Ok().json(json!({ "required_signoffs": rows })))
}

async fn add_required_handler(
    actor: Actor,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse> {
    let body: RequiredSignoffBody = from_json(body.into_inner(), "required signoff")?;
    let dv = write_tx(&state, move |tx| add_required_signoff(tx, &actor, body)).await?;
    Ok(HttpResponse::Created().json(json!({ "data_version": dv })))
}

async fn delete_required_handler(
    actor: Actor,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse> {
    let key: RequiredSignoffKey = from_json(body.into_inner(), "required signoff")?;
    write_tx(&state, move |tx| delete_required_signoff(tx, &actor, &key)).await?;
    Ok(HttpResponse::Ok().json(json!({ "deleted": true })))
}
