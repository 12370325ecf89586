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
        self.query_one(
            "SELECT EXISTS(SELECT 1 FROM users WHERE username = ?1)",
            args![username],
        )?
        .get(0)
    }

    /// Creates a user if it does not exist.
    pub fn ensure_user(&self, username: &str) -> Result<()> {
        self.execute(
            "INSERT INTO users (username, created_ms) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            args![username, now_ms()],
        )?;
        Ok(())
    }

    /// All user names.
    pub fn users(&self) -> Result<Vec<String>> {
        self.collect(
            "SELECT username FROM users ORDER BY username",
            args![],
            |r| r.get(0),
        )
    }

    /// A user's permissions.
    pub fn permissions(&self, username: &str) -> Result<Vec<Permission>> {
        self.collect(
            "SELECT username, permission, options, data_version FROM permissions WHERE username = ?1 ORDER BY permission",
            args![username],
            |r| {
                Ok(Permission {
                    username: r.get(0)?,
                    permission: r.get(1)?,
                    options: parse_json(&r.get::<String>(2)?)?,
                    data_version: r.get(3)?,
                })
            },
        )
    }

    /// Inserts or replaces a permission.
    pub fn put_permission(&self, p: &Permission) -> Result<()> {
        self.execute(
            "INSERT INTO permissions (username, permission, options, data_version) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(username, permission) DO UPDATE SET options = ?3, data_version = ?4",
            args![&p.username, &p.permission, json_text(&p.options)?, p.data_version],
        )?;
        Ok(())
    }

    /// Deletes a permission.
    pub fn delete_permission(&self, username: &str, permission: &str) -> Result<()> {
        self.execute(
            "DELETE FROM permissions WHERE username = ?1 AND permission = ?2",
            args![username, permission],
        )?;
        Ok(())
    }

    /// A user's roles.
    pub fn roles(&self, username: &str) -> Result<Vec<String>> {
        self.collect(
            "SELECT role FROM user_roles WHERE username = ?1 ORDER BY role",
            args![username],
            |r| r.get(0),
        )
    }

    /// Grants a role; returns false if the user had it already.
    pub fn add_role(&self, username: &str, role: &str) -> Result<bool> {
        Ok(self.execute(
            "INSERT INTO user_roles (username, role) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            args![username, role],
        )? > 0)
    }

    /// Revokes a role; returns whether the user had it.
    pub fn delete_role(&self, username: &str, role: &str) -> Result<bool> {
        Ok(self.execute(
            "DELETE FROM user_roles WHERE username = ?1 AND role = ?2",
            args![username, role],
        )? > 0)
    }

    /// How many users hold `role`.
    pub fn role_members(&self, role: &str) -> Result<i64> {
        self.query_one(
            "SELECT COUNT(*) FROM user_roles WHERE role = ?1",
            args![role],
        )?
        .get(0)
    }

    /// Stores a token hash for a user.
    pub fn insert_token(&self, token_hash: &str, username: &str) -> Result<()> {
        self.execute(
            "INSERT INTO tokens (token_hash, username, created_ms) VALUES (?1, ?2, ?3)",
            args![token_hash, username, now_ms()],
        )?;
        Ok(())
    }

    /// The user owning a token hash.
    pub fn token_user(&self, token_hash: &str) -> Result<Option<String>> {
        self.query_opt(
            "SELECT username FROM tokens WHERE token_hash = ?1",
            args![token_hash],
        )?
        .map(|r| r.get(0))
        .transpose()
    }
}
