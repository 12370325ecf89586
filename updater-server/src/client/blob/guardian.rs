//! The Guardian blob (schema 10000, `src/auslib/blobs/guardian.py`): Mozilla VPN's updates,
//! answered as JSON on `/json/…/update.json` rather than XML.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::client::version::{Incomparable, LooseVersion};
use crate::config::Allowlist;

/// One platform's update file.
#[derive(Debug, Clone, Deserialize)]
pub struct GuardianPlatform {
    /// Balrog's `fileUrl`.
    #[serde(default, rename = "fileUrl")]
    pub file_url: Option<String>,
    /// Balrog's `hashValue`.
    #[serde(default, rename = "hashValue")]
    pub hash_value: Option<String>,
}

/// A Guardian blob.
#[derive(Debug, Clone, Deserialize)]
pub struct Guardian {
    /// Balrog's `name`.
    pub name: String,
    /// Balrog's `schema_version`.
    pub schema_version: u32,
    /// Balrog's `product`.
    #[serde(default)]
    pub product: Option<String>,
    /// Balrog's `version` (compared loosely).
    pub version: String,
    /// Balrog's `required`.
    #[serde(default)]
    pub required: Option<bool>,
    /// Balrog's `hashFunction`.
    #[serde(default, rename = "hashFunction")]
    pub hash_function: Option<String>,
    /// Balrog's `platforms`.
    #[serde(default)]
    pub platforms: BTreeMap<String, GuardianPlatform>,
}

impl Guardian {
    /// Balrog's `shouldServeUpdate`: the platform exists and the client's version is older
    /// (`LooseVersion`; a number against text is Python's `TypeError`, a 500).
    pub fn should_serve(&self, build_target: &str, version: &str) -> Result<bool, Incomparable> {
        if !self.platforms.contains_key(build_target) {
            return Ok(false);
        }
        let ord = LooseVersion::parse(version).compare(&LooseVersion::parse(&self.version))?;
        Ok(ord == Ordering::Less)
    }

    /// Balrog's `getResponse`, serialised as Python's `json.dumps` does (`", "` and `": "`
    /// separators, insertion order, non-ASCII escaped): `{}` without a URL or with a forbidden
    /// one. A blob without `required` is Balrog's `KeyError` (the error).
    pub fn response(
        &self,
        build_target: &str,
        product: &str,
        allowlist: &Allowlist,
    ) -> Result<String, String> {
        let platform = self.platforms.get(build_target);
        let url = platform.and_then(|p| p.file_url.as_deref()).unwrap_or("");
        if url.is_empty() || allowlist.forbids(url, Some(product)) {
            return Ok("{}".to_owned());
        }
        let required = self
            .required
            .ok_or_else(|| format!("guardian release {} has no 'required'", self.name))?;
        let hash_function = self
            .hash_function
            .as_deref()
            .ok_or_else(|| format!("guardian release {} has no 'hashFunction'", self.name))?;
        let fields = [
            ("version", json!(self.version)),
            ("url", json!(url)),
            ("required", json!(required)),
            ("hashFunction", json!(hash_function)),
            (
                "hashValue",
                json!(platform.and_then(|p| p.hash_value.as_deref())),
            ),
        ];
        let body: Vec<String> = fields
            .iter()
            .map(|(k, v)| format!("{}: {}", python_json(&json!(k)), python_json(v)))
            .collect();
        Ok(format!("{{{}}}", body.join(", ")))
    }
}

/// A scalar as Python's `json.dumps` writes it: serde_json's escapes, plus `\uXXXX` for every
/// non-ASCII character (`ensure_ascii`).
fn python_json(value: &Value) -> String {
    let text = value.to_string();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_like_python() {
        assert_eq!(
            python_json(&json!("caf\u{e9} \u{1f600}")),
            "\"caf\\u00e9 \\ud83d\\ude00\""
        );
        assert_eq!(python_json(&json!(null)), "null");
    }
}
