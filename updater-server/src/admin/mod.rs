//! The admin API under `/api/v1`: JSON, bearer-token authenticated, permission-checked.
//!
//! Each submodule holds the operations on one kind of object as plain functions over a store
//! transaction (`fn op(tx, actor, mode, …)`) plus thin actix handlers that run them through
//! [`AppState::write`](crate::state::AppState::write). Scheduled changes enact the very same
//! operations with [`Mode::Scheduled`]; apart from the operator's offline [`Mode::Import`], that
//! is the only way a change gets through a product/channel that requires signoffs, or past a
//! pending scheduled change.

pub mod auth;
pub mod objects;
pub mod releases;
pub mod rules;
pub mod scheduled;
pub mod shutoffs;
pub mod signoffs;
pub mod users;

use actix_web::web;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// The `?product=` filter of the list endpoints (`GET /releases`, `GET /rules`).
#[derive(Debug, Deserialize)]
pub(crate) struct ProductFilter {
    /// Only rows of this product, when given.
    pub(crate) product: Option<String>,
}

/// Who is making a change: an API caller directly, or the enactment of a signed-off scheduled change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A direct API call: refused where signoffs are required.
    Direct,
    /// Enacting a scheduled change whose signoffs were checked.
    Scheduled,
    /// The offline `import` command, run by the operator on the database file.
    Import,
    /// A rule's health guard halting it (`backgroundRate` 0): like an emergency shutoff, an
    /// automatic brake needs no signoff.
    HealthGuard,
}

/// `?data_version=N` on DELETE requests.
#[derive(Debug, Deserialize)]
pub struct DataVersionQuery {
    /// The version the caller last read.
    pub data_version: Option<i64>,
}

/// Checks a caller's `data_version` against the stored one (409 on mismatch or when missing).
pub fn check_version(sent: Option<i64>, current: i64) -> Result<()> {
    match sent {
        Some(v) if v == current => Ok(()),
        _ => Err(Error::Conflict { sent, current }),
    }
}

/// Takes an object body apart: returns its map, or a 400 if it is not an object.
pub fn object(body: Value) -> Result<Map<String, Value>> {
    match body {
        Value::Object(map) => Ok(map),
        _ => Err(Error::Invalid(
            "the request body must be a JSON object".to_owned(),
        )),
    }
}

/// Removes an optional integer field from a body map.
pub fn take_i64(map: &mut Map<String, Value>, key: &str) -> Result<Option<i64>> {
    match map.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) if n.is_i64() => Ok(n.as_i64()),
        Some(other) => Err(Error::Invalid(format!(
            "{key} must be an integer, got {other}"
        ))),
    }
}

/// Parses a typed value out of JSON with a 400 naming the reason.
pub fn from_json<T: serde::de::DeserializeOwned>(value: Value, what: &str) -> Result<T> {
    serde_json::from_value(value).map_err(|e| Error::Invalid(format!("invalid {what}: {e}")))
}

/// Registers every admin route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    releases::configure(cfg);
    rules::configure(cfg);
    objects::configure(cfg);
    shutoffs::configure(cfg);
    users::configure(cfg);
    scheduled::configure(cfg);
}
