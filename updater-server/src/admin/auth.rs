//! Bearer tokens and permissions.
//!
//! Tokens are 32 random bytes shown once (`kiln_` + hex); only their SHA-256 is stored. Every admin
//! request resolves its token to an [`Actor`] (user, permissions, roles) and each operation asks the
//! actor for the permission it needs with [`Actor::require`].

use std::future::Future;
use std::pin::Pin;

use actix_web::{web, FromRequest, HttpRequest};
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::{Permission, Tx};

/// A fresh random token (printed once, never stored).
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    format!("kiln_{}", hex::encode(bytes))
}

/// The stored form of a token.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// An authenticated caller with everything needed to check permissions.
#[derive(Debug, Clone)]
pub struct Actor {
    /// The user name (recorded in history as `changed_by`).
    pub username: String,
    /// The user's permissions.
    pub permissions: Vec<Permission>,
    /// The user's roles (used for signoffs).
    pub roles: Vec<String>,
}

impl Actor {
    /// Loads a user's permissions and roles.
    pub fn load(tx: &Tx<'_>, username: &str) -> Result<Actor> {
        Ok(Actor {
            username: username.to_owned(),
            permissions: tx.permissions(username)?,
            roles: tx.roles(username)?,
        })
    }

    /// Is the user an unrestricted admin?
    pub fn is_admin(&self) -> bool {
        self.permissions
            .iter()
            .any(|p| p.permission == "admin" && p.options.products.is_none())
    }

    fn allows(&self, p: &Permission, object: &str, action: &str, product: Option<&str>) -> bool {
        let product_ok = match (&p.options.products, product) {
            (None, _) => true,
            (Some(list), Some(product)) => list.iter().any(|x| x == product),
            (Some(_), None) => false,
        };
        if p.permission == "admin" {
            return product_ok;
        }
        p.permission == object
            && product_ok
            && p.options
                .actions
                .as_ref()
                .is_none_or(|actions| actions.iter().any(|a| a == action))
    }

    /// Fails with 403 unless the user may perform `action` on `object` (for `product`, when the
    /// object belongs to one; a product-restricted permission never covers product-less objects).
    pub fn require(&self, object: &str, action: &str, product: Option<&str>) -> Result<()> {
        if self
            .permissions
            .iter()
            .any(|p| self.allows(p, object, action, product))
        {
            return Ok(());
        }
        let scope = product
            .map(|p| format!(" for product {p}"))
            .unwrap_or_default();
        Err(Error::Forbidden(format!(
            "{} has no permission to {action} {object}{scope}",
            self.username
        )))
    }
}

fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))?;
    Some(token.trim().to_owned())
}

impl FromRequest for Actor {
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Actor>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let token = bearer(req);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let token = token.ok_or(Error::Unauthorized)?;
            let state =
                state.ok_or_else(|| Error::Internal("application state missing".to_owned()))?;
            let hash = hash_token(&token);
            let actor = web::block(move || {
                state.store.read(|tx| match tx.token_user(&hash)? {
                    Some(user) => Actor::load(tx, &user).map(Some),
                    None => Ok(None),
                })
            })
            .await
            .map_err(|e| Error::Internal(e.to_string()))??;
            actor.ok_or(Error::Unauthorized)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::PermissionOptions;

    fn perm(permission: &str, actions: Option<&[&str]>, products: Option<&[&str]>) -> Permission {
        let list = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect();
        Permission {
            username: "u".into(),
            permission: permission.into(),
            options: PermissionOptions {
                actions: actions.map(list),
                products: products.map(list),
            },
            data_version: 1,
        }
    }

    #[test]
    fn permission_matrix() {
        let actor = |perms| Actor {
            username: "u".into(),
            permissions: perms,
            roles: vec![],
        };
        let admin = actor(vec![perm("admin", None, None)]);
        assert!(admin.require("rule", "delete", None).is_ok());
        let ff_admin = actor(vec![perm("admin", None, Some(&["Firefox"]))]);
        assert!(ff_admin.require("rule", "delete", Some("Firefox")).is_ok());
        assert!(ff_admin
            .require("rule", "delete", Some("Thunderbird"))
            .is_err());
        assert!(ff_admin.require("rule", "delete", None).is_err());
        let rule_modify = actor(vec![perm("rule", Some(&["modify"]), None)]);
        assert!(rule_modify.require("rule", "modify", Some("X")).is_ok());
        assert!(rule_modify.require("rule", "create", Some("X")).is_err());
        assert!(rule_modify.require("release", "modify", Some("X")).is_err());
        assert!(actor(vec![]).require("rule", "modify", None).is_err());
        assert_ne!(new_token(), new_token());
        assert_eq!(hash_token("a").len(), 64);
    }
}
