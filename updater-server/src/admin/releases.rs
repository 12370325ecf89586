//! Releases: create/replace, read, list, delete (guarded), per-locale build submission, read-only.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::admin::auth::Actor;
use crate::client::blob::Release;
use crate::config::Allowlist;
use crate::error::{Error, Result};
use crate::state::{read_tx, write_tx, AppState};
use crate::store::{ReleaseRow, Tx};

use super::signoffs::{self, Needed};
use super::{check_version, from_json, DataVersionQuery, Mode};

/// Body of `PUT /releases/{name}`.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct PutRelease {
    /// The Balrog blob.
    pub blob: Value,
    /// Product; defaults to the blob's `product`.
    #[serde(default)]
    pub product: Option<String>,
    /// Required when replacing an existing release.
    #[serde(default)]
    pub data_version: Option<i64>,
}

/// Body of `PUT /releases/{name}/builds/{buildTarget}/{locale}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutBuild {
    /// The locale's data (`buildID`, `appVersion`, `completes`, `partials`, …).
    pub data: Value,
    /// Product, needed when the release does not exist yet.
    #[serde(default)]
    pub product: Option<String>,
    /// Schema, needed when the release does not exist yet.
    #[serde(default)]
    pub schema_version: Option<u32>,
    /// Hash function, needed when the release does not exist yet.
    #[serde(default, rename = "hashFunction")]
    pub hash_function: Option<String>,
    /// Optional: checked when given (locale submissions merge, so it is not required).
    #[serde(default)]
    pub data_version: Option<i64>,
}

/// Body of `PUT /releases/{name}/read_only`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutReadOnly {
    /// The new flag.
    pub read_only: bool,
    /// The current version.
    pub data_version: Option<i64>,
}

fn history_row(row: &ReleaseRow) -> Value {
    json!({ "name": row.name, "product": row.product, "read_only": row.read_only, "blob": row.blob })
}

fn store_release(tx: &Tx<'_>, actor: &Actor, row: &ReleaseRow) -> Result<()> {
    tx.put_release(row)?;
    tx.add_history(
        "release",
        &row.name,
        &actor.username,
        Some(row.data_version),
        Some(&history_row(row)),
    )?;
    Ok(())
}

/// The admin API validates as Balrog's admin does; an import loads blobs as Balrog's database
/// holds them (below the schema check), checking URLs only when an allowlist is configured.
fn validate(name: &str, blob: &Value, mode: Mode, allowlist: Option<&Allowlist>) -> Result<()> {
    let checked = match mode {
        Mode::Import => Release::load(name, 0, blob).and_then(|r| match allowlist {
            Some(a) => r.check_urls(a),
            None => Ok(()),
        }),
        Mode::Direct | Mode::Scheduled | Mode::HealthGuard => {
            Release::parse(name, 0, blob, allowlist).map(|_| ())
        }
    };
    checked.map_err(|e| Error::Invalid(format!("invalid blob: {e}")))
}

fn guard_release(tx: &Tx<'_>, mode: Mode, name: &str) -> Result<()> {
    super::scheduled::guard_pending(tx, mode, "releases", &format!("release {name}"), |row| {
        row.get("name").and_then(Value::as_str) == Some(name)
    })?;
    let mut needed = Needed::new();
    signoffs::for_release(tx, name, &mut needed)?;
    signoffs::guard(
        mode,
        &needed,
        &format!("a change to release {name}"),
        "releases",
    )
}

/// Creates or replaces a release. Returns `(created, data_version)`. URLs are checked against
/// `allowlist` when one is given (always, except for an offline import without a config).
pub fn put(
    tx: &Tx<'_>,
    actor: &Actor,
    mode: Mode,
    allowlist: Option<&Allowlist>,
    name: &str,
    body: PutRelease,
) -> Result<(bool, i64)> {
    let product = body
        .product
        .or_else(|| {
            body.blob
                .get("product")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .ok_or_else(|| {
            Error::Invalid("product is required (in the body or the blob)".to_owned())
        })?;
    validate(name, &body.blob, mode, allowlist)?;
    let (created, data_version) = match tx.release(name)? {
        None => {
            actor.require("release", "create", Some(&product))?;
            (true, 1)
        }
        Some(old) => {
            actor.require("release", "modify", Some(&old.product))?;
            actor.require("release", "modify", Some(&product))?;
            if old.read_only {
                return Err(Error::Invalid(format!("release {name} is read-only")));
            }
            check_version(body.data_version, old.data_version)?;
            guard_release(tx, mode, name)?;
            (false, old.data_version + 1)
        }
    };
    store_release(
        tx,
        actor,
        &ReleaseRow {
            name: name.to_owned(),
            product,
            read_only: false,
            data_version,
            blob: body.blob,
        },
    )?;
    Ok((created, data_version))
}

/// Merges one locale's data into a release (creating the release when the body says how).
pub fn put_build(
    tx: &Tx<'_>,
    actor: &Actor,
    allowlist: &Allowlist,
    name: &str,
    target: &str,
    locale: &str,
    body: PutBuild,
) -> Result<(bool, i64)> {
    let (mut row, created) = match tx.release(name)? {
        Some(row) => {
            if let Some(v) = body.data_version {
                check_version(Some(v), row.data_version)?;
            }
            if row.read_only {
                return Err(Error::Invalid(format!("release {name} is read-only")));
            }
            if actor
                .require("release_locale", "modify", Some(&row.product))
                .is_err()
            {
                actor.require("release", "modify", Some(&row.product))?;
            }
            guard_release(tx, Mode::Direct, name)?;
            (row, false)
        }
        None => {
            let missing = || {
                Error::Invalid(
                    "a new release needs product, schema_version and hashFunction".to_owned(),
                )
            };
            let product = body.product.clone().ok_or_else(missing)?;
            actor.require("release", "create", Some(&product))?;
            let blob = json!({
                "name": name,
                "product": product,
                "schema_version": body.schema_version.ok_or_else(missing)?,
                "hashFunction": body.hash_function.clone().ok_or_else(missing)?,
                "platforms": {},
            });
            (
                ReleaseRow {
                    name: name.to_owned(),
                    product,
                    read_only: false,
                    data_version: 0,
                    blob,
                },
                true,
            )
        }
    };
    let platforms = row
        .blob
        .as_object_mut()
        .ok_or_else(|| Error::Internal("stored blob is not an object".to_owned()))?
        .entry("platforms")
        .or_insert_with(|| json!({}));
    let platform = platforms
        .as_object_mut()
        .ok_or_else(|| Error::Invalid("blob platforms is not an object".to_owned()))?
        .entry(target.to_owned())
        .or_insert_with(|| json!({}));
    let platform = platform
        .as_object_mut()
        .ok_or_else(|| Error::Invalid("platform is not an object".to_owned()))?;
    if platform.contains_key("alias") {
        return Err(Error::Invalid(format!(
            "platform {target} is an alias; submit builds to its target"
        )));
    }
    let locales = platform.entry("locales").or_insert_with(|| json!({}));
    let locales = locales
        .as_object_mut()
        .ok_or_else(|| Error::Invalid("locales is not an object".to_owned()))?;
    locales.insert(locale.to_owned(), body.data);
    validate(name, &row.blob, Mode::Direct, Some(allowlist))?;
    row.data_version += 1;
    store_release(tx, actor, &row)?;
    Ok((created, row.data_version))
}

/// Sets or clears the read-only flag.
pub fn set_read_only(tx: &Tx<'_>, actor: &Actor, name: &str, body: &PutReadOnly) -> Result<i64> {
    let mut row = tx
        .release(name)?
        .ok_or_else(|| Error::NotFound(format!("no release {name}")))?;
    actor.require(
        "release_read_only",
        if body.read_only { "set" } else { "unset" },
        Some(&row.product),
    )?;
    check_version(body.data_version, row.data_version)?;
    row.read_only = body.read_only;
    row.data_version += 1;
    store_release(tx, actor, &row)?;
    Ok(row.data_version)
}

/// Deletes a release; refused while it is read-only, mapped by a rule, or pinnable.
pub fn delete(
    tx: &Tx<'_>,
    actor: &Actor,
    mode: Mode,
    name: &str,
    data_version: Option<i64>,
) -> Result<()> {
    let row = tx
        .release(name)?
        .ok_or_else(|| Error::NotFound(format!("no release {name}")))?;
    actor.require("release", "delete", Some(&row.product))?;
    check_version(data_version, row.data_version)?;
    if row.read_only {
        return Err(Error::Invalid(format!(
            "release {name} is read-only and cannot be deleted"
        )));
    }
    let rules = tx.rules_mapping(name)?;
    if !rules.is_empty() {
        return Err(Error::Invalid(format!(
            "release {name} is mapped by rule(s) {rules:?} and cannot be deleted"
        )));
    }
    if tx.release_is_pinnable(name)? {
        return Err(Error::Invalid(format!(
            "release {name} is a pinnable release and cannot be deleted"
        )));
    }
    guard_release(tx, mode, name)?;
    tx.delete_release(name)?;
    tx.add_history("release", name, &actor.username, None, None)?;
    Ok(())
}

/// Registers the release routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/releases", web::get().to(list))
        .route("/releases/{name}", web::get().to(get))
        .route("/releases/{name}", web::put().to(put_handler))
        .route("/releases/{name}", web::delete().to(delete_handler))
        .route(
            "/releases/{name}/read_only",
            web::put().to(read_only_handler),
        )
        .route(
            "/releases/{name}/builds/{target}/{locale}",
            web::put().to(build_handler),
        );
}

async fn list(
    _actor: Actor,
    state: web::Data<AppState>,
    q: web::Query<super::ProductFilter>,
) -> Result<HttpResponse> {
    let product = q.into_inner().product;
    let releases = read_tx(&state, move |tx| tx.releases(product.as_deref())).await?;
    Ok(HttpResponse::Ok().json(json!({ "releases": releases })))
}

async fn get(
    _actor: Actor,
    state: web::Data<AppState>,
    name: web::Path<String>,
) -> Result<HttpResponse> {
    let name = name.into_inner();
    let row = read_tx(&state, move |tx| tx.release(&name)).await?;
    let row = row.ok_or_else(|| Error::NotFound("no such release".to_owned()))?;
    Ok(HttpResponse::Ok().json(row))
}

fn created_or_ok(created: bool, data_version: i64) -> HttpResponse {
    let body = json!({ "data_version": data_version, "new_data_version": data_version });
    if created {
        HttpResponse::Created().json(body)
    } else {
        HttpResponse::Ok().json(body)
    }
}

/// The body of `PUT /releases/{name}`: Balrog's `{"blob": …, "product": …, "data_version": …}`,
/// or the bare blob itself (then `product` comes from the blob and `data_version` from the query).
fn put_body(body: Value, data_version: Option<i64>) -> Result<PutRelease> {
    let wrapped =
        body.get("blob").is_some_and(Value::is_object) && body.get("schema_version").is_none();
    if wrapped {
        return from_json(body, "release body");
    }
    Ok(PutRelease {
        blob: body,
        product: None,
        data_version,
    })
}

async fn put_handler(
    actor: Actor,
    state: web::Data<AppState>,
    name: web::Path<String>,
    q: web::Query<DataVersionQuery>,
    body: web::Json<Value>,
) -> Result<HttpResponse> {
    let (name, body) = (
        name.into_inner(),
        put_body(body.into_inner(), q.into_inner().data_version)?,
    );
    let allowlist = state.config.client.allowlisted_domains.clone();
    let (created, dv) = write_tx(&state, move |tx| {
        put(tx, &actor, Mode::Direct, Some(&allowlist), &name, body)
    })
    .await?;
    Ok(created_or_ok(created, dv))
}

async fn build_handler(
    actor: Actor,
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
    body: web::Json<Value>,
) -> Result<HttpResponse> {
    let (name, target, locale) = path.into_inner();
    let body = from_json::<PutBuild>(body.into_inner(), "build body")?;
    let allowlist = state.config.client.allowlisted_domains.clone();
    let (created, dv) = write_tx(&state, move |tx| {
        put_build(tx, &actor, &allowlist, &name, &target, &locale, body)
    })
    .await?;
    Ok(created_or_ok(created, dv))
}

async fn read_only_handler(
    actor: Actor,
    state: web::Data<AppState>,
    name: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse> {
    let (name, body) = (
        name.into_inner(),
        from_json::<PutReadOnly>(body.into_inner(), "read_only body")?,
    );
    let dv = write_tx(&state, move |tx| set_read_only(tx, &actor, &name, &body)).await?;
    Ok(created_or_ok(false, dv))
}

async fn delete_handler(
    actor: Actor,
    state: web::Data<AppState>,
    name: web::Path<String>,
    q: web::Query<DataVersionQuery>,
) -> Result<HttpResponse> {
    let (name, dv) = (name.into_inner(), q.into_inner().data_version);
    write_tx(&state, move |tx| {
        delete(tx, &actor, Mode::Direct, &name, dv)
    })
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "deleted": true })))
}
