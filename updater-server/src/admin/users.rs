//! Users, permissions, roles and the change history.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::admin::auth::Actor;
use crate::error::{Error, Result};
use crate::state::{read_tx, write_tx, AppState};
use crate::store::{Permission, PermissionOptions, Tx};

use super::{check_version, from_json, DataVersionQuery};

/// The permission objects Kiln knows.
pub const PERMISSIONS: &[&str] = &[
    "admin",
    "rule",
    "release",
    "release_read_only",
    "release_locale",
    "required_signoff",
    "permission",
    "scheduled_change",
    "emergency_shutoff",
    "pinnable_release",
];

/// Grants or replaces a permission (creating the user if needed).
pub fn put_permission(
    tx: &Tx<'_>,
    actor: &Actor,
    username: &str,
    permission: &str,
    options: PermissionOptions,
    data_version: Option<i64>,
) -> Result<(bool, i64)> {
    if !PERMISSIONS.contains(&permission) {
        return Err(Error::Invalid(format!(
            "unknown permission '{permission}'; known: {}",
            PERMISSIONS.join(", ")
        )));
    }
    let current = tx
        .permissions(username)?
        .into_iter()
        .find(|p| p.permission == permission);
    let (created, dv) = match &current {
        None => {
            actor.require("permission", "create", None)?;
            (true, 1)
        }
        Some(p) => {
            actor.require("permission", "modify", None)?;
            check_version(data_version, p.data_version)?;
            (false, p.data_version + 1)
        }
    };
    tx.ensure_user(username)?;
    let row = Permission {
        username: username.to_owned(),
        permission: permission.to_owned(),
        options,
        data_version: dv,
    };
    tx.put_permission(&row)?;
    let value = serde_json::to_value(&row).map_err(|e| Error::Internal(e.to_string()))?;
    tx.add_history(
        "permission",
        &format!("{username}/{permission}"),
        &actor.username,
        Some(dv),
        Some(&value),
    )?;
    Ok((created, dv))
}

fn delete_permission(
    tx: &Tx<'_>,
    actor: &Actor,
    username: &str,
    permission: &str,
    dv: Option<i64>,
) -> Result<()> {
    let current = tx
        .permissions(username)?
        .into_iter()
        .find(|p| p.permission == permission)
        .ok_or_else(|| Error::NotFound(format!("{username} has no permission {permission}")))?;
    actor.require("permission", "delete", None)?;
    check_version(dv, current.data_version)?;
    tx.delete_permission(username, permission)?;
    tx.add_history(
        "permission",
        &format!("{username}/{permission}"),
        &actor.username,
        None,
        None,
    )?;
    Ok(())
}

fn set_role(tx: &Tx<'_>, actor: &Actor, username: &str, role: &str, grant: bool) -> Result<bool> {
    actor.require("permission", if grant { "create" } else { "delete" }, None)?;
    let changed = if grant {
        tx.ensure_user(username)?;
        tx.add_role(username, role)?
    } else {
        tx.delete_role(username, role)?
    };
    if changed {
        let row = grant.then(|| json!({ "username": username, "role": role }));
        tx.add_history(
            "user_role",
            &format!("{username}/{role}"),
            &actor.username,
            None,
            row.as_ref(),
        )?;
    }
    Ok(changed)
}

/// Registers the routes of this module.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/users", web::get().to(list_users))
        .route(
            "/users/{user}/permissions/{permission}",
            web::put().to(put_permission_handler),
        )
        .route(
            "/users/{user}/permissions/{permission}",
            web::delete().to(delete_permission_handler),
        )
        .route(
            "/users/{user}/roles/{role}",
            web::put().to(put_role_handler),
        )
        .route(
            "/users/{user}/roles/{role}",
            web::delete().to(delete_role_handler),
        )
        .route("/history", web::get().to(history));
}

async fn list_users(_actor: Actor, state: web::Data<AppState>) -> Result<HttpResponse> {
    let users = read_tx(&state, move |tx| {
            tx.users()?
                .into_iter()
                .map(|u| Ok(json!({ "username": u, "permissions": tx.permissions(&u)?, "roles": tx.roles(&u)? })))
                .collect::<Result<Vec<Value>>>()
        })
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "users": users })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PermissionBody {
    #[serde(default)]
    options: PermissionOptions,
    #[serde(default)]
    data_version: Option<i64>,
}

async fn put_permission_handler(
    actor: Actor,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Json<Value>,
) -> Result<HttpResponse> {
    let (user, permission) = path.into_inner();
    let body: PermissionBody = from_json(body.into_inner(), "permission")?;
    let (created, dv) = write_tx(&state, move |tx| {
        put_permission(
            tx,
            &actor,
            &user,
            &permission,
            body.options,
            body.data_version,
        )
    })
    .await?;
    let body = json!({ "data_version": dv });
    Ok(if created {
        HttpResponse::Created().json(body)
    } else {
        HttpResponse::Ok().json(body)
    })
}

async fn delete_permission_handler(
    actor: Actor,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    q: web::Query<DataVersionQuery>,
) -> Result<HttpResponse> {
    let (user, permission) = path.into_inner();
    let dv = q.into_inner().data_version;
    write_tx(&state, move |tx| {
        delete_permission(tx, &actor, &user, &permission, dv)
    })
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "deleted": true })))
}

async fn put_role_handler(
    actor: Actor,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (user, role) = path.into_inner();
    let changed = write_tx(&state, move |tx| set_role(tx, &actor, &user, &role, true)).await?;
    Ok(if changed {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    }
    .json(json!({ "role": "granted" })))
}

async fn delete_role_handler(
    actor: Actor,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (user, role) = path.into_inner();
    let changed = write_tx(&state, move |tx| set_role(tx, &actor, &user, &role, false)).await?;
    if !changed {
        return Err(Error::NotFound(
            "the user does not hold that role".to_owned(),
        ));
    }
    Ok(HttpResponse::Ok().json(json!({ "deleted": true })))
}

#[derive(Debug, Deserialize)]
struct HistoryQuery {
    object_kind: Option<String>,
    object_key: Option<String>,
    limit: Option<i64>,
}

async fn history(
    _actor: Actor,
    state: web::Data<AppState>,
    q: web::Query<HistoryQuery>,
) -> Result<HttpResponse> {
    let q = q.into_inner();
    let rows = read_tx(&state, move |tx| {
        tx.history(
            q.object_kind.as_deref(),
            q.object_key.as_deref(),
            q.limit.unwrap_or(100).clamp(1, 10_000),
        )
    })
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "count": rows.len(), "history": rows })))
}
