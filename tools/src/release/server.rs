//! The update server's admin API over HTTP (ureq): release blobs, rules, required signoffs,
//! scheduled changes and signoffs. Kiln never touches the server's database.

use serde_json::{json, Value};

/// An admin API failure.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The server could not be reached.
    #[error("update server {url}: {message}")]
    Transport {
        /// The request URL.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The server refused the request.
    #[error("update server {method} {path}: HTTP {status}: {body}")]
    Refused {
        /// Method.
        method: String,
        /// Path under `/api/v1`.
        path: String,
        /// Status code.
        status: u16,
        /// Response body.
        body: String,
    },
}

/// An authenticated admin API client.
#[derive(Debug, Clone)]
pub struct Admin {
    base: String,
    token: String,
    agent: ureq::Agent,
}

impl Admin {
    /// A client of the server at `base` (e.g. `http://127.0.0.1:8000`) with a bearer token.
    pub fn new(base: &str, token: &str) -> Admin {
        Admin {
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(std::time::Duration::from_secs(60)))
                .build()
                .into(),
        }
    }

    /// The same server with another user's token.
    pub fn with_token(&self, token: &str) -> Admin {
        Admin {
            token: token.to_owned(),
            ..self.clone()
        }
    }

    /// Calls `method /api/v1{path}`; returns the status and JSON body (Null if none).
    pub fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), ServerError> {
        let url = format!("{}/api/v1{path}", self.base);
        let auth = format!("Bearer {}", self.token);
        let transport = |e: ureq::Error| ServerError::Transport {
            url: url.clone(),
            message: e.to_string(),
        };
        let result = match (method, body) {
            ("GET", _) => self.agent.get(&url).header("Authorization", &auth).call(),
            ("DELETE", _) => self
                .agent
                .delete(&url)
                .header("Authorization", &auth)
                .call(),
            ("POST", Some(b)) => self
                .agent
                .post(&url)
                .header("Authorization", &auth)
                .header("Content-Type", "application/json")
                .send(b.to_string().as_bytes()),
            ("POST", None) => self
                .agent
                .post(&url)
                .header("Authorization", &auth)
                .send_empty(),
            ("PUT", Some(b)) => self
                .agent
                .put(&url)
                .header("Authorization", &auth)
                .header("Content-Type", "application/json")
                .send(b.to_string().as_bytes()),
            (_, _) => self
                .agent
                .put(&url)
                .header("Authorization", &auth)
                .send_empty(),
        };
        let mut response = result.map_err(transport)?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    /// Like [`Admin::call`] but any status other than 2xx is an error.
    pub fn ok(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, ServerError> {
        let (status, value) = self.call(method, path, body)?;
        if (200..300).contains(&status) {
            Ok(value)
        } else {
            Err(ServerError::Refused {
                method: method.to_owned(),
                path: path.to_owned(),
                status,
                body: value.to_string(),
            })
        }
    }

    /// Publishes a release blob; a no-op when the server already holds the same blob.
    /// Returns whether it changed anything.
    pub fn put_release(
        &self,
        name: &str,
        product: &str,
        blob: &Value,
    ) -> Result<bool, ServerError> {
        let path = format!("/releases/{name}");
        let (status, current) = self.call("GET", &path, None)?;
        let mut body = json!({ "blob": blob, "product": product });
        if status == 200 {
            if current.get("blob") == Some(blob) {
                return Ok(false);
            }
            body["data_version"] = current["data_version"].clone();
        }
        self.ok("PUT", &path, Some(&body))?;
        Ok(true)
    }

    /// A release blob, if the server has it.
    pub fn release(&self, name: &str) -> Result<Option<Value>, ServerError> {
        let (status, value) = self.call("GET", &format!("/releases/{name}"), None)?;
        Ok((status == 200).then(|| value["blob"].clone()))
    }

    /// The rule of `product` on exactly `channel`, if any.
    pub fn rule_for(&self, product: &str, channel: &str) -> Result<Option<Value>, ServerError> {
        let rules = self.ok("GET", &format!("/rules?product={product}"), None)?;
        Ok(rules["rules"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["channel"] == channel && r["product"] == product)
            .cloned())
    }

    /// Points `channel` at `mapping` directly (test channels, which need no signoff): updates
    /// the product's rule for that channel or creates one.
    pub fn point_channel(
        &self,
        product: &str,
        channel: &str,
        mapping: &str,
    ) -> Result<(), ServerError> {
        match self.rule_for(product, channel)? {
            Some(rule) if rule["mapping"] == mapping && rule["backgroundRate"] == 100 => Ok(()),
            Some(rule) => {
                let id = rule["rule_id"].as_i64().unwrap_or_default();
                self.ok(
                    "PUT",
                    &format!("/rules/{id}"),
                    Some(&json!({"mapping": mapping, "backgroundRate": 100, "data_version": rule["data_version"]})),
                )?;
                Ok(())
            }
            None => {
                self.ok(
                    "POST",
                    "/rules",
                    Some(
                        &json!({"product": product, "channel": channel, "mapping": mapping,
                        "priority": 90, "backgroundRate": 100, "update_type": "minor"}),
                    ),
                )?;
                Ok(())
            }
        }
    }

    /// Makes sure `product`/`channel` requires `count` signoffs from `role`.
    pub fn ensure_required_signoff(
        &self,
        product: &str,
        channel: &str,
        role: &str,
        count: u32,
    ) -> Result<(), ServerError> {
        let existing = self.ok("GET", "/required_signoffs", None)?;
        let present = existing
            .as_object()
            .and_then(|o| o.values().find_map(Value::as_array))
            .into_iter()
            .flatten()
            .chain(existing.as_array().into_iter().flatten())
            .any(|r| r["product"] == product && r["channel"] == channel && r["role"] == role);
        if !present {
            self.ok(
                "POST",
                "/required_signoffs",
                Some(&json!({"product": product, "channel": channel, "role": role, "signoffs_required": count})),
            )?;
        }
        Ok(())
    }

    /// Schedules the rule change mapping `channel` to `mapping` (insert if the channel has no
    /// rule yet). Returns the scheduled change id.
    pub fn schedule_ship(
        &self,
        product: &str,
        channel: &str,
        mapping: &str,
        rate: u8,
        fallback: Option<&str>,
    ) -> Result<i64, ServerError> {
        let body = match self.rule_for(product, channel)? {
            Some(rule) => json!({
                "change_type": "update", "rule_id": rule["rule_id"], "data_version": rule["data_version"],
                "mapping": mapping, "backgroundRate": rate, "fallbackMapping": fallback,
            }),
            None => json!({
                "change_type": "insert", "product": product, "channel": channel, "mapping": mapping,
                "priority": 100, "backgroundRate": rate, "fallbackMapping": fallback,
                "update_type": "minor",
            }),
        };
        let created = self.ok("POST", "/scheduled_changes/rules", Some(&body))?;
        Ok(created["sc_id"].as_i64().unwrap_or_default())
    }

    /// Signs off a scheduled rule change with `role`.
    pub fn signoff(&self, sc_id: i64, role: &str) -> Result<(), ServerError> {
        self.ok(
            "POST",
            &format!("/scheduled_changes/rules/{sc_id}/signoffs"),
            Some(&json!({ "role": role })),
        )?;
        Ok(())
    }

    /// A scheduled rule change (`state`, `ready`, `waiting_for`, `required_signoffs`…).
    pub fn scheduled_change(&self, sc_id: i64) -> Result<Value, ServerError> {
        self.ok("GET", &format!("/scheduled_changes/rules/{sc_id}"), None)
    }

    /// Enacts a ready scheduled change now (the server also does it in the background).
    pub fn enact(&self, sc_id: i64) -> Result<(), ServerError> {
        let (status, body) = self.call(
            "POST",
            &format!("/scheduled_changes/rules/{sc_id}/enact"),
            None,
        )?;
        if (200..300).contains(&status) || body.to_string().contains("enacted") {
            Ok(())
        } else {
            Err(ServerError::Refused {
                method: "POST".to_owned(),
                path: format!("/scheduled_changes/rules/{sc_id}/enact"),
                status,
                body: body.to_string(),
            })
        }
    }
}
