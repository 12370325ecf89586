//! Users, permissions, roles and API tokens.

use super::*;

/// Options of a permission: allowed actions (all when absent) and products (all when absent).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PermissionOptions {
    /// `create`, `modify`, `delete`, `enact`, `set`, `unset`; `None` allows every action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actions: Option<Vec<String>>,
    /// Products the permission is restricted to; `None` means all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub products: Option<Vec<String>>,
}

/// One permission of a user.
#[derive(Debug, Clone, Serialize)]
pub struct Permission {
    /// User name.
    pub username: String,
    /// Permission object (`admin`, `rule`, `release`, ...).
    pub permission: String,
    /// Allowed actions and products.
    pub options: PermissionOptions,
    /// Row version (starts at 1, +1 per change).
    pub data_version: i64,
}

impl Tx<'_> {
    /// Does the user exist?
    pub fn user_exists(&self, username: &str) -> Result<bool> {
        Ok(self.tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM users WHERE username = ?1)",
            [username],
            |r| r.get(0),
        )?)
    }

    /// Creates a user if it does not exist.
    pub fn ensure_user(&self, username: &str) -> Result<()> {
        self.tx.execute(
            "INSERT OR IGNORE INTO users (username, created_ms) VALUES (?1, ?2)",
            params![username, now_ms()],
        )?;
        Ok(())
    }

    /// All user names.
    pub fn users(&self) -> Result<Vec<String>> {
        self.collect("SELECT username FROM users ORDER BY username", [], |r| {
            r.get(0)
        })
    }

    /// A user's permissions.
    pub fn permissions(&self, username: &str) -> Result<Vec<Permission>> {
        self.collect(
            "SELECT username, permission, options, data_version FROM permissions WHERE username = ?1 ORDER BY permission",
            [username],
            |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, String>(2)?, r.get(3)?)),
        )?
        .into_iter()
        .map(|(username, permission, options, data_version)| {
            Ok(Permission { username, permission, options: parse_json(&options)?, data_version })
        })
        .collect()
    }

    /// Inserts or replaces a permission.
    pub fn put_permission(&self, p: &Permission) -> Result<()> {
        self.tx.execute(
            "INSERT INTO permissions (username, permission, options, data_version) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(username, permission) DO UPDATE SET options = ?3, data_version = ?4",
            params![p.username, p.permission, json_text(&p.options)?, p.data_version],
        )?;
        Ok(())
    }

    /// Deletes a permission.
    pub fn delete_permission(&self, username: &str, permission: &str) -> Result<()> {
        self.tx.execute(
            "DELETE FROM permissions WHERE username = ?1 AND permission = ?2",
            [username, permission],
        )?;
        Ok(())
    }

    /// A user's roles.
    pub fn roles(&self, username: &str) -> Result<Vec<String>> {
        self.collect(
            "SELECT role FROM user_roles WHERE username = ?1 ORDER BY role",
            [username],
            |r| r.get(0),
        )
    }

    /// Grants a role; returns false if the user had it already.
    pub fn add_role(&self, username: &str, role: &str) -> Result<bool> {
        Ok(self.tx.execute(
            "INSERT OR IGNORE INTO user_roles (username, role) VALUES (?1, ?2)",
            [username, role],
        )? > 0)
    }

    /// Revokes a role; returns whether the user had it.
    pub fn delete_role(&self, username: &str, role: &str) -> Result<bool> {
        Ok(self.tx.execute(
            "DELETE FROM user_roles WHERE username = ?1 AND role = ?2",
            [username, role],
        )? > 0)
    }

    /// How many users hold `role`.
    pub fn role_members(&self, role: &str) -> Result<i64> {
        Ok(self.tx.query_row(
            "SELECT COUNT(*) FROM user_roles WHERE role = ?1",
            [role],
            |r| r.get(0),
        )?)
    }

    /// Stores a token hash for a user.
    pub fn insert_token(&self, token_hash: &str, username: &str) -> Result<()> {
        self.tx.execute(
            "INSERT INTO tokens (token_hash, username, created_ms) VALUES (?1, ?2, ?3)",
            params![token_hash, username, now_ms()],
        )?;
        Ok(())
    }

    /// The user owning a token hash.
    pub fn token_user(&self, token_hash: &str) -> Result<Option<String>> {
        Ok(self
            .tx
            .prepare_cached("SELECT username FROM tokens WHERE token_hash = ?1")?
            .query_row([token_hash], |r| r.get(0))
            .optional()?)
    }
}
