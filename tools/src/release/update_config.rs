//! `kiln-update.toml`: the client updater's configuration, baked into every build by promote
//! (next to `update-settings.ini`). One small serde struct, so it can later become the client
//! crate's own type.

use serde::{Deserialize, Serialize};

/// The file name, in the build's resources directory.
pub const FILE_NAME: &str = "kiln-update.toml";

/// What the client needs to check for, verify and report updates.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateConfig {
    /// Firefox-style URL template (`…/update/6/%PRODUCT%/…/update.xml`).
    pub update_url: String,
    /// Pinned Ed25519 public keys (PEM text) for the server's `Content-Signature`.
    pub response_keys: Vec<String>,
    /// Pinned MAR public keys (PEM text).
    pub mar_keys: Vec<String>,
    /// How many of `mar_keys` must have signed a MAR.
    pub mar_threshold: u32,
    /// Where the client reports results, if anywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_url: Option<String>,
}

impl UpdateConfig {
    /// The TOML text.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("plain strings serialize")
    }
}
