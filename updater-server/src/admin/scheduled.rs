//! Scheduled changes: changes to signoff-covered rules, releases and emergency shutoffs are
//! scheduled, signed off by distinct users holding the required roles, and enacted (by
//! `POST …/enact` or the background task) once the signoffs suffice and their time has come.
//!
//! Enactment runs the same operations as the direct API with [`Mode::Scheduled`], under the
//! permissions of the user who scheduled the change, in one transaction.

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::admin::auth::Actor;
use crate::config::Allowlist;
use crate::error::{Error, Result};
use crate::state::{read_tx, write_tx, AppState};
use crate::store::{now_ms, ScheduledChange, Tx};

use super::releases::{self, PutRelease};
use super::shutoffs::{self, ShutoffBody};
use super::signoffs::{self, Needed};
use super::{check_version, from_json, object, rules, take_i64, Mode};

const KINDS: &[&str] = &["rules", "releases", "emergency_shutoffs"];

/// The stored kind a path names: one of [`KINDS`], or Balrog's `emergency_shutoff` for
/// `emergency_shutoffs` (both paths reach the same changes).
fn kind_of(kind: &str) -> Result<&'static str> {
    let kind = if kind == "emergency_shutoff" {
        "emergency_shutoffs"
    } else {
        kind
    };
    KINDS.iter().copied().find(|k| *k == kind).ok_or_else(|| {
        Error::NotFound(format!(
            "no scheduled changes of kind {kind}; kinds are {} (or emergency_shutoff)",
            KINDS.join(", ")
        ))
    })
}

fn rule_id_of(row: &Map<String, Value>) -> Result<i64> {
    row.get("rule_id")
        .and_then(Value::as_i64)
        .ok_or_else(|| Error::Invalid("rule_id is required".to_owned()))
}

fn string_field(row: &Map<String, Value>, key: &str) -> Result<String> {
    row.get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| Error::Invalid(format!("{key} is required")))
}

/// The signoffs a change needs, from the current state of the database.
fn needed_for(
    tx: &Tx<'_>,
    kind: &str,
    change_type: &str,
    row: &Map<String, Value>,
) -> Result<Needed> {
    let mut needed = Needed::new();
    match kind {
        "rules" => {
            let current = match change_type {
                "insert" => None,
                _ => Some(
                    tx.rule(rule_id_of(row)?)?
                        .ok_or_else(|| Error::NotFound("no such rule".to_owned()))?,
                ),
            };
            if let Some(c) = &current {
                signoffs::for_rule(tx, &c.row, &mut needed)?;
            }
            if change_type != "delete" {
                let mut merged = match &current {
                    Some(c) => object(
                        serde_json::to_value(&c.row).map_err(|e| Error::Internal(e.to_string()))?,
                    )?,
                    None => Map::new(),
                };
                merged.extend(row.clone());
                merged.remove("rule_id");
                let new = rules::parse_row(merged)?;
                signoffs::for_rule(tx, &new, &mut needed)?;
            }
        }
        "releases" => signoffs::for_release(tx, &string_field(row, "name")?, &mut needed)?,
        _ => signoffs::for_shutoff(
            tx,
            &string_field(row, "product")?,
            &string_field(row, "channel")?,
            &mut needed,
        )?,
    }
    Ok(needed)
}

/// `Ok(())` when `sc` may be enacted now, else why not.
fn readiness(tx: &Tx<'_>, sc: &ScheduledChange) -> Result<std::result::Result<(), String>> {
    if sc.state != "pending" {
        return Ok(Err(format!(
            "scheduled change {} is {}",
            sc.sc_id, sc.state
        )));
    }
    let row = object(sc.row.clone())?;
    let needed = needed_for(tx, &sc.kind, &sc.change_type, &row)?;
    for (role, n) in &needed {
        let have =
            i64::try_from(sc.signoffs.values().filter(|r| *r == role).count()).unwrap_or(i64::MAX);
        if have < *n {
            return Ok(Err(format!(
                "needs {n} signoff(s) from role {role}, has {have}"
            )));
        }
    }
    if let Some(when) = sc.when {
        if when > now_ms() {
            return Ok(Err(format!("scheduled for {when} (ms since epoch)")));
        }
    }
    Ok(Ok(()))
}

/// Refuses a direct change to an object that a pending scheduled change will modify (Balrog
/// refuses those too, so the signed-off change cannot be silently overtaken). `is_target` says
/// whether a scheduled change's row names the object.
pub fn guard_pending(
    tx: &Tx<'_>,
    mode: Mode,
    kind: &str,
    what: &str,
    is_target: impl Fn(&Map<String, Value>) -> bool,
) -> Result<()> {
    if mode != Mode::Direct {
        return Ok(());
    }
    for sc in tx.scheduled_changes(Some(kind), Some("pending"), None)? {
        if sc.row.as_object().is_some_and(&is_target) {
            return Err(Error::Invalid(format!(
                "{what} has a pending scheduled change ({}); cancel or enact it first",
                sc.sc_id
            )));
        }
    }
    Ok(())
}

/// Validates and stores a scheduled change. Returns `(sc_id, needed signoffs)`.
pub fn schedule(
    tx: &Tx<'_>,
    actor: &Actor,
    allowlist: &Allowlist,
    kind: &str,
    body: Value,
) -> Result<(i64, Needed)> {
    let kind = kind_of(kind)?;
    let mut row = object(body)?;
    let change_type = match row.remove("change_type") {
        Some(Value::String(s)) if ["insert", "update", "delete"].contains(&s.as_str()) => s,
        _ => {
            return Err(Error::Invalid(
                "change_type must be insert, update or delete".to_owned(),
            ))
        }
    };
    let when = take_i64(&mut row, "when")?;
    if when.is_some_and(|w| w <= now_ms()) {
        return Err(Error::Invalid("when must be in the future".to_owned()));
    }
    let data_version = take_i64(&mut row, "data_version")?;
    match (kind, change_type.as_str()) {
        ("rules", "insert") => {
            let new = rules::parse_row(row.clone())?;
            actor.require("rule", "create", new.product.as_deref())?;
        }
        ("rules", action) => {
            let current = tx
                .rule(rule_id_of(&row)?)?
                .ok_or_else(|| Error::NotFound("no such rule".to_owned()))?;
            check_version(data_version, current.data_version)?;
            actor.require(
                "rule",
                if action == "update" {
                    "modify"
                } else {
                    "delete"
                },
                current.row.product.as_deref(),
            )?;
        }
        ("releases", "delete") => {
            let name = string_field(&row, "name")?;
            let current = tx
                .release(&name)?
                .ok_or_else(|| Error::NotFound(format!("no release {name}")))?;
            check_version(data_version, current.data_version)?;
            actor.require("release", "delete", Some(&current.product))?;
        }
        ("releases", _) => {
            let name = string_field(&row, "name")?;
            let body: PutRelease =
                from_json(Value::Object(without(&row, "name")), "release change")?;
            let product = body.product.clone().or_else(|| {
                body.blob
                    .get("product")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            });
            crate::client::blob::Release::parse(&name, 0, &body.blob, Some(allowlist))
                .map_err(Error::Invalid)?;
            match tx.release(&name)? {
                Some(current) => {
                    check_version(data_version, current.data_version)?;
                    actor.require("release", "modify", Some(&current.product))?;
                }
                None => actor.require("release", "create", product.as_deref())?,
            }
        }
        (_, action) => {
            let body: ShutoffBody =
                from_json(Value::Object(row.clone()), "emergency shutoff change")?;
            if action == "delete" {
                shutoffs::existing_shutoff(tx, &body.product, &body.channel, data_version)?;
            }
            actor.require(
                "emergency_shutoff",
                if action == "delete" {
                    "delete"
                } else {
                    "create"
                },
                Some(&body.product),
            )?;
        }
    }
    let needed = needed_for(tx, kind, &change_type, &row)?;
    let row = Value::Object(row);
    let sc_id = tx.insert_scheduled_change(
        kind,
        &change_type,
        &row,
        data_version,
        when,
        &actor.username,
    )?;
    let record = json!({ "kind": kind, "change_type": change_type, "row": row, "when": when, "state": "pending" });
    tx.add_history(
        "scheduled_change",
        &sc_id.to_string(),
        &actor.username,
        Some(1),
        Some(&record),
    )?;
    Ok((sc_id, needed))
}

fn without(row: &Map<String, Value>, key: &str) -> Map<String, Value> {
    let mut copy = row.clone();
    copy.remove(key);
    copy
}

fn load(tx: &Tx<'_>, kind: Option<&str>, sc_id: i64) -> Result<ScheduledChange> {
    tx.scheduled_changes(kind, None, Some(sc_id))?
        .pop()
        .ok_or_else(|| Error::NotFound(format!("no scheduled change {sc_id}")))
}

/// Applies a ready scheduled change as its scheduler, then marks it enacted.
fn apply(tx: &Tx<'_>, allowlist: &Allowlist, sc: &ScheduledChange) -> Result<()> {
    let actor = Actor::load(tx, &sc.scheduled_by)?;
    let row = object(sc.row.clone())?;
    let mode = Mode::Scheduled;
    match (sc.kind.as_str(), sc.change_type.as_str()) {
        ("rules", "insert") => {
            rules::create(tx, &actor, mode, Value::Object(row))?;
        }
        ("rules", "update") => {
            let id = rule_id_of(&row)?;
            let mut changes = without(&row, "rule_id");
            changes.insert("data_version".to_owned(), json!(sc.base_data_version));
            rules::update(tx, &actor, mode, &id.to_string(), Value::Object(changes))?;
        }
        ("rules", _) => rules::delete(
            tx,
            &actor,
            mode,
            &rule_id_of(&row)?.to_string(),
            sc.base_data_version,
        )?,
        ("releases", "delete") => releases::delete(
            tx,
            &actor,
            mode,
            &string_field(&row, "name")?,
            sc.base_data_version,
        )?,
        ("releases", _) => {
            let name = string_field(&row, "name")?;
            let mut body: PutRelease =
                from_json(Value::Object(without(&row, "name")), "release change")?;
            body.data_version = sc.base_data_version;
            releases::put(tx, &actor, mode, Some(allowlist), &name, body)?;
        }
        (_, "delete") => {
            let mut body: ShutoffBody = from_json(Value::Object(row), "emergency shutoff change")?;
            body.data_version = sc.base_data_version;
            shutoffs::delete_shutoff(tx, &actor, mode, &body)?;
        }
        _ => {
            let body: ShutoffBody = from_json(Value::Object(row), "emergency shutoff change")?;
            shutoffs::create_shutoff(tx, &actor, &body)?;
        }
    }
    tx.set_scheduled_change_state(sc.sc_id, "enacted")?;
    tx.add_history(
        "scheduled_change",
        &sc.sc_id.to_string(),
        &actor.username,
        None,
        Some(&json!({ "state": "enacted" })),
    )?;
    Ok(())
}

/// Enacts one change now (explicit `enact`): 400 with the reason when it is not ready.
pub fn enact(
    tx: &Tx<'_>,
    actor: &Actor,
    allowlist: &Allowlist,
    kind: &str,
    sc_id: i64,
) -> Result<()> {
    actor.require("scheduled_change", "enact", None)?;
    let sc = load(tx, Some(kind_of(kind)?), sc_id)?;
    if let Err(reason) = readiness(tx, &sc)? {
        return Err(Error::Invalid(format!(
            "scheduled change {sc_id} cannot be enacted: {reason}"
        )));
    }
    apply(tx, allowlist, &sc)
}

/// The background task's step: enacts every pending change that is ready. A change that fails
/// (a conflicting change happened meanwhile) is marked `failed`. Returns how many were enacted.
pub fn enact_due(state: &AppState) -> Result<usize> {
    let ready: Vec<i64> = state.store.read(|tx| {
        let mut ids = Vec::new();
        for sc in tx.scheduled_changes(None, Some("pending"), None)? {
            if readiness(tx, &sc)?.is_ok() {
                ids.push(sc.sc_id);
            }
        }
        Ok(ids)
    })?;
    let allowlist = &state.config.client.allowlisted_domains;
    let mut enacted = 0;
    for sc_id in ready {
        let result = state.write(|tx| {
            let sc = load(tx, None, sc_id)?;
            match readiness(tx, &sc)? {
                Ok(()) => apply(tx, allowlist, &sc).map(|()| true),
                Err(_) => Ok(false),
            }
        });
        match result {
            Ok(true) => enacted += 1,
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(sc_id, error = %e, "scheduled change failed; marking it failed");
                state.write(|tx| {
                    tx.set_scheduled_change_state(sc_id, "failed")?;
                    tx.add_history(
                        "scheduled_change",
                        &sc_id.to_string(),
                        "kiln-scheduler",
                        None,
                        Some(&json!({ "state": "failed", "error": e.to_string() })),
                    )?;
                    Ok(())
                })?;
            }
        }
    }
    Ok(enacted)
}

fn describe(tx: &Tx<'_>, sc: ScheduledChange) -> Result<Value> {
    let row = object(sc.row.clone())?;
    let needed: BTreeMap<String, i64> =
        needed_for(tx, &sc.kind, &sc.change_type, &row).unwrap_or_default();
    let ready = readiness(tx, &sc)?;
    let mut value = serde_json::to_value(&sc).map_err(|e| Error::Internal(e.to_string()))?;
    if let Some(map) = value.as_object_mut() {
        map.insert("required_signoffs".to_owned(), json!(needed));
        map.insert("ready".to_owned(), json!(ready.is_ok()));
        if let Err(reason) = ready {
            map.insert("waiting_for".to_owned(), json!(reason));
        }
    }
    Ok(value)
}

/// Registers the scheduled-change routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/scheduled_changes/{kind}", web::get().to(list))
        .route(
            "/scheduled_changes/{kind}",
            web::post().to(schedule_handler),
        )
        .route("/scheduled_changes/{kind}/{sc_id}", web::get().to(get))
        .route(
            "/scheduled_changes/{kind}/{sc_id}",
            web::delete().to(cancel_handler),
        )
        .route(
            "/scheduled_changes/{kind}/{sc_id}/signoffs",
            web::post().to(signoff_handler),
        )
        .route(
            "/scheduled_changes/{kind}/{sc_id}/signoffs",
            web::delete().to(unsign_handler),
        )
        .route(
            "/scheduled_changes/{kind}/{sc_id}/enact",
            web::post().to(enact_handler),
        );
}

async fn list(
    _actor: Actor,
    state: web::Data<AppState>,
    kind: web::Path<String>,
) -> Result<HttpResponse> {
    let kind = kind_of(&kind.into_inner())?;
    let list = read_tx(&state, move |tx| {
        tx.scheduled_changes(Some(kind), Some("pending"), None)?
            .into_iter()
            .map(|sc| describe(tx, sc))
            .collect::<Result<Vec<_>>>()
    })
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "count": list.len(), "scheduled_changes": list })))
}

async fn get(
    _actor: Actor,
    state: web::Data<AppState>,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse> {
    let (kind, sc_id) = path.into_inner();
    let kind = kind_of(&kind)?;
    let value = read_tx(&state, move |tx| describe(tx, load(tx, Some(kind), sc_id)?)).await?;
    Ok(HttpResponse::Ok().json(value))
}

async fn schedule_handler(
    actor: Actor,
    state: web::Data<AppState>,
    kind: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse> {
    let (kind, body) = (kind.into_inner(), body.into_inner());
    let allowlist = state.config.client.allowlisted_domains.clone();
    let (sc_id, needed) = write_tx(&state, move |tx| {
        schedule(tx, &actor, &allowlist, &kind, body)
    })
    .await?;
    Ok(HttpResponse::Created().json(json!({ "sc_id": sc_id, "required_signoffs": needed })))
}

async fn cancel_handler(
    actor: Actor,
    state: web::Data<AppState>,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse> {
    let (kind, sc_id) = path.into_inner();
    let kind = kind_of(&kind)?;
    write_tx(&state, move |tx| {
        let sc = load(tx, Some(kind), sc_id)?;
        if sc.scheduled_by != actor.username && !actor.is_admin() {
            return Err(Error::Forbidden(
                "only the scheduler or an admin may cancel a scheduled change".to_owned(),
            ));
        }
        if sc.state != "pending" {
            return Err(Error::Invalid(format!(
                "scheduled change {sc_id} is {}",
                sc.state
            )));
        }
        tx.set_scheduled_change_state(sc_id, "cancelled")?;
        tx.add_history(
            "scheduled_change",
            &sc_id.to_string(),
            &actor.username,
            None,
            Some(&json!({ "state": "cancelled" })),
        )?;
        Ok(())
    })
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "cancelled": true })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignoffBody {
    role: String,
}

async fn signoff_handler(
    actor: Actor,
    state: web::Data<AppState>,
    path: web::Path<(String, i64)>,
    body: web::Json<Value>,
) -> Result<HttpResponse> {
    let (kind, sc_id) = path.into_inner();
    let kind = kind_of(&kind)?;
    let body: SignoffBody = from_json(body.into_inner(), "signoff")?;
    write_tx(&state, move |tx| {
        let sc = load(tx, Some(kind), sc_id)?;
        if sc.state != "pending" {
            return Err(Error::Invalid(format!(
                "scheduled change {sc_id} is {}",
                sc.state
            )));
        }
        if !actor.roles.contains(&body.role) {
            return Err(Error::Forbidden(format!(
                "{} does not hold role {}",
                actor.username, body.role
            )));
        }
        if !tx.insert_signoff(sc_id, &actor.username, &body.role)? {
            return Err(Error::AlreadyExists(format!(
                "{} has already signed off on {sc_id}",
                actor.username
            )));
        }
        let row = json!({ "username": actor.username, "role": body.role });
        tx.add_history(
            "signoff",
            &sc_id.to_string(),
            &actor.username,
            None,
            Some(&row),
        )?;
        Ok(())
    })
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "signed": true })))
}

async fn unsign_handler(
    actor: Actor,
    state: web::Data<AppState>,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse> {
    let (kind, sc_id) = path.into_inner();
    let kind = kind_of(&kind)?;
    write_tx(&state, move |tx| {
        load(tx, Some(kind), sc_id)?;
        if !tx.delete_signoff(sc_id, &actor.username)? {
            return Err(Error::NotFound(format!(
                "{} has not signed off on {sc_id}",
                actor.username
            )));
        }
        tx.add_history("signoff", &sc_id.to_string(), &actor.username, None, None)?;
        Ok(())
    })
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "signed": false })))
}

async fn enact_handler(
    actor: Actor,
    state: web::Data<AppState>,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse> {
    let (kind, sc_id) = path.into_inner();
    let kind = kind_of(&kind)?;
    let allowlist = state.config.client.allowlisted_domains.clone();
    write_tx(&state, move |tx| enact(tx, &actor, &allowlist, kind, sc_id)).await?;
    Ok(HttpResponse::Ok().json(json!({ "enacted": true })))
}
