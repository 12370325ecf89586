//! The operator commands behind `updater-server user add`, `token create` and `check`.

use crate::admin::auth::{hash_token, new_token};
use crate::config::Database;
use crate::error::{Error, Result};
use crate::store::{Permission, PermissionOptions, Store};

/// Creates (or extends) a user: `admin` grants the unrestricted `admin` permission, `roles` are
/// granted for signoffs. Changes are recorded in history as made by `cli`.
pub fn add_user(db: &Database, username: &str, admin: bool, roles: &[String]) -> Result<()> {
    if username.is_empty()
        || username.len() > 100
        || username.chars().any(|c| c.is_control() || c == '/')
    {
        return Err(Error::Invalid(format!("invalid user name '{username}'")));
    }
    let store = Store::open(db)?;
    store.write(None, |tx| {
        tx.ensure_user(username)?;
        tx.add_history(
            "user",
            username,
            "cli",
            None,
            Some(&serde_json::json!({ "username": username })),
        )?;
        if admin
            && !tx
                .permissions(username)?
                .iter()
                .any(|p| p.permission == "admin")
        {
            let p = Permission {
                username: username.to_owned(),
                permission: "admin".to_owned(),
                options: PermissionOptions::default(),
                data_version: 1,
            };
            tx.put_permission(&p)?;
            let value = serde_json::to_value(&p).map_err(|e| Error::Internal(e.to_string()))?;
            tx.add_history(
                "permission",
                &format!("{username}/admin"),
                "cli",
                Some(1),
                Some(&value),
            )?;
        }
        for role in roles {
            if tx.add_role(username, role)? {
                let row = serde_json::json!({ "username": username, "role": role });
                tx.add_history(
                    "user_role",
                    &format!("{username}/{role}"),
                    "cli",
                    None,
                    Some(&row),
                )?;
            }
        }
        Ok(())
    })
}

/// Creates a token for an existing user and returns it; only its hash is stored.
pub fn create_token(db: &Database, username: &str) -> Result<String> {
    let store = Store::open(db)?;
    let token = new_token();
    store.write(None, |tx| {
        if !tx.user_exists(username)? {
            return Err(Error::NotFound(format!(
                "no user {username}; create it with `updater-server user add`"
            )));
        }
        tx.insert_token(&hash_token(&token), username)
    })?;
    Ok(token)
}

/// A stored release that could not be served as it is, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRelease {
    /// The release's name.
    pub name: String,
    /// What is wrong, with the field's path where there is one.
    pub problem: String,
}

/// Every stored release that serving would skip or that today's writes would refuse for its
/// text: blobs that do not load, and values holding a control character or, in a blob served as
/// update XML, `"`, `<` or `>` (what `blob::text` refuses on write). Rows written before those
/// checks existed, or imported, are how such data gets in. Returns the number checked and the
/// bad ones, by name.
pub fn check_releases(db: &Database) -> Result<(usize, Vec<BadRelease>)> {
    let store = Store::open(db)?;
    store.read(|tx| {
        let names = tx.releases(None)?;
        let mut bad = Vec::new();
        for summary in &names {
            let Some(row) = tx.release(&summary.name)? else {
                continue;
            };
            let problem =
                match crate::client::blob::Release::load(&row.name, row.data_version, &row.blob) {
                    Err(why) => Some(why),
                    Ok(release) => {
                        let xml = !matches!(release.blob, crate::client::blob::Blob::Guardian(_));
                        crate::client::blob::text::check(&row.blob, xml).err()
                    }
                };
            if let Some(problem) = problem {
                bad.push(BadRelease {
                    name: row.name,
                    problem,
                });
            }
        }
        Ok((names.len(), bad))
    })
}
