//! Rules: create (optionally with an explicit id), read, update and delete with `data_version`
//! checks, and revisions (history + revert).

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::admin::auth::Actor;
use crate::client::rule::{CompiledRule, RuleRow, RULE_COLUMNS};
use crate::error::{Error, Result};
use crate::state::{read_tx, write_tx, AppState};
use crate::store::{StoredRule, Tx};

use super::signoffs::{self, Needed};
use super::{check_version, from_json, object, take_i64, DataVersionQuery, Mode};

/// Parses and validates a rule row from Balrog columns.
pub(super) fn parse_row(map: Map<String, Value>) -> Result<RuleRow> {
    if let Some(key) = map.keys().find(|k| !RULE_COLUMNS.contains(&k.as_str())) {
        return Err(Error::Invalid(format!("unknown rule column '{key}'")));
    }
    let row: RuleRow = from_json(Value::Object(map), "rule")?;
    CompiledRule::compile(0, 1, row.clone())
        .map_err(|e| Error::Invalid(format!("invalid rule: {e}")))?;
    Ok(row)
}

fn check_references(tx: &Tx<'_>, row: &RuleRow, rule_id: Option<i64>) -> Result<()> {
    for name in row.mapping.iter().chain(&row.fallback_mapping) {
        if tx.release(name)?.is_none() {
            return Err(Error::Invalid(format!("release {name} does not exist")));
        }
    }
    if let Some(alias) = &row.alias {
        if let Some(other) = tx.rule_by_alias(alias)? {
            if Some(other.rule_id) != rule_id {
                return Err(Error::Invalid(format!(
                    "alias {alias} is used by rule {}",
                    other.rule_id
                )));
            }
        }
    }
    Ok(())
}

fn guard_rows(tx: &Tx<'_>, mode: Mode, rows: &[&RuleRow], what: &str) -> Result<()> {
    let mut needed = Needed::new();
    for row in rows {
        signoffs::for_rule(tx, row, &mut needed)?;
    }
    signoffs::guard(mode, &needed, what, "rules")
}

fn record(
    tx: &Tx<'_>,
    actor: &Actor,
    rule_id: i64,
    data_version: i64,
    row: &RuleRow,
) -> Result<()> {
    tx.put_rule(Some(rule_id), data_version, row)?;
    let full = serde_json::to_value(StoredRule {
        rule_id,
        data_version,
        row: row.clone(),
    })
    .map_err(|e| Error::Internal(e.to_string()))?;
    tx.add_history(
        "rule",
        &rule_id.to_string(),
        &actor.username,
        Some(data_version),
        Some(&full),
    )?;
    Ok(())
}

fn pending_guard(tx: &Tx<'_>, mode: Mode, rule_id: i64) -> Result<()> {
    super::scheduled::guard_pending(tx, mode, "rules", &format!("rule {rule_id}"), |row| {
        row.get("rule_id").and_then(Value::as_i64) == Some(rule_id)
    })
}

/// Resolves a path segment that is a rule id or an alias.
pub fn resolve(tx: &Tx<'_>, id_or_alias: &str) -> Result<StoredRule> {
    let found = match id_or_alias.parse::<i64>() {
        Ok(id) => tx.rule(id)?,
        Err(_) => tx.rule_by_alias(id_or_alias)?,
    };
    found.ok_or_else(|| Error::NotFound(format!("no rule {id_or_alias}")))
}

/// Creates a rule from Balrog columns (plus an optional `rule_id`). Returns `(rule_id, 1)`.
pub fn create(tx: &Tx<'_>, actor: &Actor, mode: Mode, body: Value) -> Result<(i64, i64)> {
    let mut map = object(body)?;
    let rule_id = take_i64(&mut map, "rule_id")?;
    map.remove("data_version");
    let row = parse_row(map)?;
    actor.require("rule", "create", row.product.as_deref())?;
    if let Some(id) = rule_id {
        if tx.rule(id)?.is_some() {
            return Err(Error::AlreadyExists(format!("rule {id} exists")));
        }
    }
    check_references(tx, &row, None)?;
    guard_rows(tx, mode, &[&row], "a rule on this product/channel")?;
    let id = tx.put_rule(rule_id, 1, &row)?;
    record(tx, actor, id, 1, &row)?;
    Ok((id, 1))
}

/// Updates the given columns of a rule; the body must carry the current `data_version`.
pub fn update(
    tx: &Tx<'_>,
    actor: &Actor,
    mode: Mode,
    id_or_alias: &str,
    body: Value,
) -> Result<(i64, i64)> {
    let current = resolve(tx, id_or_alias)?;
    let mut changes = object(body)?;
    let sent = take_i64(&mut changes, "data_version")?;
    if let Some(id) = take_i64(&mut changes, "rule_id")? {
        if id != current.rule_id {
            return Err(Error::Invalid("rule_id cannot be changed".to_owned()));
        }
    }
    check_version(sent, current.data_version)?;
    pending_guard(tx, mode, current.rule_id)?;
    let mut merged =
        object(serde_json::to_value(&current.row).map_err(|e| Error::Internal(e.to_string()))?)?;
    merged.extend(changes);
    let row = parse_row(merged)?;
    actor.require("rule", "modify", current.row.product.as_deref())?;
    actor.require("rule", "modify", row.product.as_deref())?;
    check_references(tx, &row, Some(current.rule_id))?;
    guard_rows(
        tx,
        mode,
        &[&current.row, &row],
        &format!("a change to rule {}", current.rule_id),
    )?;
    let dv = current.data_version + 1;
    record(tx, actor, current.rule_id, dv, &row)?;
    Ok((current.rule_id, dv))
}

/// Deletes a rule; `data_version` must be the current one.
pub fn delete(
    tx: &Tx<'_>,
    actor: &Actor,
    mode: Mode,
    id_or_alias: &str,
    data_version: Option<i64>,
) -> Result<()> {
    let current = resolve(tx, id_or_alias)?;
    actor.require("rule", "delete", current.row.product.as_deref())?;
    check_version(data_version, current.data_version)?;
    pending_guard(tx, mode, current.rule_id)?;
    guard_rows(
        tx,
        mode,
        &[&current.row],
        &format!("deleting rule {}", current.rule_id),
    )?;
    tx.delete_rule(current.rule_id)?;
    tx.add_history(
        "rule",
        &current.rule_id.to_string(),
        &actor.username,
        None,
        None,
    )?;
    Ok(())
}

/// Restores a rule to the row recorded in history change `change_id` (re-creating it if deleted).
pub fn revert(
    tx: &Tx<'_>,
    actor: &Actor,
    mode: Mode,
    rule_id: i64,
    change_id: i64,
) -> Result<(i64, i64)> {
    let entry = tx
        .history_entry(change_id)?
        .filter(|e| e.object_kind == "rule" && e.object_key == rule_id.to_string());
    let entry = entry.ok_or_else(|| {
        Error::Invalid(format!(
            "change {change_id} is not a revision of rule {rule_id}"
        ))
    })?;
    let mut map = object(
        entry
            .row
            .ok_or_else(|| Error::Invalid(format!("change {change_id} is a deletion")))?,
    )?;
    map.remove("rule_id");
    map.remove("data_version");
    let row = parse_row(map)?;
    pending_guard(tx, mode, rule_id)?;
    let current = tx.rule(rule_id)?;
    actor.require("rule", "modify", row.product.as_deref())?;
    if let Some(c) = &current {
        actor.require("rule", "modify", c.row.product.as_deref())?;
    }
    check_references(tx, &row, Some(rule_id))?;
    let mut rows = vec![&row];
    rows.extend(current.as_ref().map(|c| &c.row));
    guard_rows(tx, mode, &rows, &format!("reverting rule {rule_id}"))?;
    let last = tx.history(Some("rule"), Some(&rule_id.to_string()), 1)?;
    let dv = last
        .first()
        .and_then(|e| e.data_version)
        .or(current.map(|c| c.data_version))
        .unwrap_or(0)
        + 1;
    record(tx, actor, rule_id, dv, &row)?;
    Ok((rule_id, dv))
}

/// Registers the rule routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/rules", web::get().to(list))
        .route("/rules", web::post().to(create_handler))
        .route("/rules/{id}", web::get().to(get))
        .route("/rules/{id}", web::put().to(update_handler))
        .route("/rules/{id}", web::delete().to(delete_handler))
        .route("/rules/{id}/revisions", web::get().to(revisions))
        .route("/rules/{id}/revisions", web::post().to(revert_handler));
}

async fn list(
    _actor: Actor,
    state: web::Data<AppState>,
    q: web::Query<super::ProductFilter>,
) -> Result<HttpResponse> {
    let product = q.into_inner().product;
    let rules = read_tx(&state, move |tx| tx.rules(product.as_deref())).await?;
    Ok(HttpResponse::Ok().json(json!({ "count": rules.len(), "rules": rules })))
}

async fn get(
    _actor: Actor,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let id = id.into_inner();
    let rule = read_tx(&state, move |tx| resolve(tx, &id)).await?;
    Ok(HttpResponse::Ok().json(rule))
}

fn versioned(rule_id: i64, data_version: i64) -> Value {
    json!({ "rule_id": rule_id, "data_version": data_version, "new_data_version": data_version })
}

async fn create_handler(
    actor: Actor,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse> {
    let body = body.into_inner();
    let (id, dv) = write_tx(&state, move |tx| create(tx, &actor, Mode::Direct, body)).await?;
    Ok(HttpResponse::Created().json(versioned(id, dv)))
}

async fn update_handler(
    actor: Actor,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse> {
    let (id, body) = (id.into_inner(), body.into_inner());
    let (id, dv) = write_tx(&state, move |tx| {
        update(tx, &actor, Mode::Direct, &id, body)
    })
    .await?;
    Ok(HttpResponse::Ok().json(versioned(id, dv)))
}

async fn delete_handler(
    actor: Actor,
    state: web::Data<AppState>,
    id: web::Path<String>,
    q: web::Query<DataVersionQuery>,
) -> Result<HttpResponse> {
    let (id, dv) = (id.into_inner(), q.into_inner().data_version);
    write_tx(&state, move |tx| delete(tx, &actor, Mode::Direct, &id, dv)).await?;
    Ok(HttpResponse::Ok().json(json!({ "deleted": true })))
}

async fn revisions(
    _actor: Actor,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let id = id.into_inner();
    let revisions = read_tx(&state, move |tx| {
        let key = match id.parse::<i64>() {
            Ok(n) => n,
            Err(_) => resolve(tx, &id)?.rule_id,
        };
        tx.history(Some("rule"), Some(&key.to_string()), 1000)
    })
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "count": revisions.len(), "revisions": revisions })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RevertBody {
    change_id: i64,
}

async fn revert_handler(
    actor: Actor,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse> {
    let id = id.into_inner();
    let body: RevertBody = from_json(body.into_inner(), "revert body")?;
    let (id, dv) = write_tx(&state, move |tx| {
        let rule_id = match id.parse::<i64>() {
            Ok(n) => n,
            Err(_) => resolve(tx, &id)?.rule_id,
        };
        revert(tx, &actor, Mode::Direct, rule_id, body.change_id)
    })
    .await?;
    Ok(HttpResponse::Ok().json(versioned(id, dv)))
}
