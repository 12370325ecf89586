//! `kiln-update.toml`: the updater's configuration, written into each build's resources directory
//! (the install root, or `Contents/Resources/` of a mac bundle: [`resources_dir`]) by the release
//! pipeline (with this same type) and read by the client at run time.
//!
//! ```toml
//! # Update URL templates, tried in order (the first is the primary, the rest mirrors).
//! urls = ["https://updates.example.org/update/6/%PRODUCT%/%VERSION%/%BUILD_ID%/%BUILD_TARGET%/%LOCALE%/%CHANNEL%/%OS_VERSION%/%SYSTEM_CAPABILITIES%/%DISTRIBUTION%/%DISTRIBUTION_VERSION%/update.xml"]
//! # Ed25519 public keys (SPKI PEM) whose Content-Signature on responses is accepted.
//! response_keys = ["-----BEGIN PUBLIC KEY-----\n…\n-----END PUBLIC KEY-----\n"]
//! # Public keys (Ed25519 or RSA, PEM) that sign update MARs, and how many must have signed.
//! mar_keys = ["-----BEGIN PUBLIC KEY-----\n…"]
//! mar_threshold = 1
//! # Optional: where outcomes are POSTed as JSON.
//! report_url = "https://updates.example.org/api/v1/reports"
//! # Optional: the update channel, instead of `app.update.channel` in channel-prefs.js.
//! channel = "release"
//! # Optional: the build target (`%BUILD_TARGET%`), instead of the one this client was built for.
//! build_target = "Linux_x86_64-gcc3"
//! # Optional: stage updates into a copy and swap at restart (default true).
//! staging = true
//! # Optional: seconds between background checks (default 43200).
//! interval_secs = 43200
//! ```

use std::path::Path;

use mar::update::layout::resources_dir;
use serde::{Deserialize, Serialize};

use crate::error::Error;

/// The file name of the configuration in the install's resources directory.
pub const CONFIG_FILE: &str = "kiln-update.toml";

/// The contents of `kiln-update.toml`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateConfig {
    /// Update URL templates with Firefox's `%VARIABLES%`, tried in order.
    pub urls: Vec<String>,
    /// Pinned Ed25519 response-signing public keys (PEM).
    pub response_keys: Vec<String>,
    /// Pinned MAR-signing public keys (PEM, Ed25519 or RSA).
    pub mar_keys: Vec<String>,
    /// How many distinct pinned MAR keys must have signed an archive (default 1).
    #[serde(default = "one")]
    pub mar_threshold: usize,
    /// Where outcomes are POSTed, if anywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_url: Option<String>,
    /// The update channel, overriding `channel-prefs.js`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// The build target, overriding the one this client was compiled for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_target: Option<String>,
    /// Stage updates and swap at restart (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staging: Option<bool>,
    /// Seconds between background checks (default 43200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_secs: Option<u64>,
}

fn one() -> usize {
    1
}

impl UpdateConfig {
    /// Parses the TOML text of a configuration.
    pub fn from_toml(text: &str) -> Result<UpdateConfig, Error> {
        let config: UpdateConfig =
            toml::from_str(text).map_err(|e| Error::Config(format!("{CONFIG_FILE}: {e}")))?;
        if config.mar_threshold == 0 {
            return Err(Error::Config("mar_threshold must be at least 1".to_owned()));
        }
        Ok(config)
    }

    /// Reads `kiln-update.toml` from the resources directory of the install rooted at
    /// `install_dir` (`Contents/Resources/` of a mac bundle).
    pub fn load(install_dir: &Path) -> Result<UpdateConfig, Error> {
        let path = resources_dir(install_dir).join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        UpdateConfig::from_toml(&text)
    }

    /// The TOML text (what the release pipeline writes).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("the configuration is always representable in TOML")
    }

    /// Writes `kiln-update.toml` into the resources directory of the install rooted at `dir`
    /// (where [`UpdateConfig::load`] reads it).
    pub fn write(&self, dir: &Path) -> Result<(), Error> {
        let path = resources_dir(dir).join(CONFIG_FILE);
        std::fs::write(&path, self.to_toml()).map_err(Error::io(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_defaults() {
        let config = UpdateConfig {
            urls: vec!["https://u.example/%PRODUCT%/update.xml".to_owned()],
            response_keys: vec!["k".to_owned()],
            mar_keys: vec!["m".to_owned()],
            mar_threshold: 2,
            report_url: Some("https://u.example/r".to_owned()),
            ..UpdateConfig::default()
        };
        assert_eq!(UpdateConfig::from_toml(&config.to_toml()).unwrap(), config);
        let minimal =
            UpdateConfig::from_toml("urls = []\nresponse_keys = []\nmar_keys = []\n").unwrap();
        assert_eq!(minimal.mar_threshold, 1);
        assert!(UpdateConfig::from_toml(
            "urls = []\nresponse_keys = []\nmar_keys = []\nbogus = 1\n"
        )
        .is_err());
        assert!(UpdateConfig::from_toml(
            "urls = []\nresponse_keys = []\nmar_keys = []\nmar_threshold = 0\n"
        )
        .is_err());
    }
}
