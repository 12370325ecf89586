//! The add-on blobs Balrog serves besides App Releases: GMP plugins (schema 1000), system add-ons
//! (5000) and the SuperBlob (4000) that combines several of them into one `<addons>` answer
//! (`src/auslib/blobs/{gmp,systemaddons,superblob}.py`).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::Text;

/// One platform of an add-on or GMP vendor: an alias, or the file.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AddonPlatform {
    /// Balrog's `alias`: the platform to take the file from.
    #[serde(default)]
    pub alias: Option<String>,
    /// Balrog's `filesize`.
    #[serde(default)]
    pub filesize: Option<Text>,
    /// Balrog's `hashValue`.
    #[serde(default, rename = "hashValue")]
    pub hash_value: Option<String>,
    /// Balrog's `fileUrl`.
    #[serde(default, rename = "fileUrl")]
    pub file_url: Option<String>,
}

/// A GMP vendor or a system add-on: a version and its files per platform.
#[derive(Debug, Clone, Deserialize)]
pub struct Addon {
    /// Balrog's `version`.
    pub version: String,
    /// Balrog's `platforms` (a `default` entry serves every platform not listed).
    #[serde(default)]
    pub platforms: BTreeMap<String, AddonPlatform>,
}

impl Addon {
    /// Is there a file for `build_target` (listed, or a `default`)? Balrog's `get…ForPlatform`.
    pub fn serves(&self, build_target: &str) -> bool {
        self.platforms.contains_key(build_target) || self.platforms.contains_key("default")
    }

    /// The platform entry for `build_target`: its alias target, else itself, else `default`.
    pub fn platform(&self, build_target: &str) -> Option<&AddonPlatform> {
        let resolved = match self.platforms.get(build_target) {
            Some(p) => p.alias.as_deref().unwrap_or(build_target),
            None => "default",
        };
        self.platforms.get(resolved)
    }
}

/// A GMP blob (schema 1000): plugin vendors (`gmp-widevinecdm`, …).
#[derive(Debug, Clone, Deserialize)]
pub struct Gmp {
    /// Balrog's `name`.
    pub name: String,
    /// Balrog's `schema_version`.
    pub schema_version: u32,
    /// Balrog's `product`.
    #[serde(default)]
    pub product: Option<String>,
    /// Balrog's `hashFunction`.
    #[serde(default, rename = "hashFunction")]
    pub hash_function: Option<String>,
    /// Balrog's `vendors`.
    #[serde(default)]
    pub vendors: BTreeMap<String, Addon>,
}

/// A system add-ons blob (schema 5000): add-ons to install, or `uninstall: true` to remove all.
#[derive(Debug, Clone, Deserialize)]
pub struct SystemAddons {
    /// Balrog's `name`.
    pub name: String,
    /// Balrog's `schema_version`.
    pub schema_version: u32,
    /// Balrog's `product`.
    #[serde(default)]
    pub product: Option<String>,
    /// Balrog's `hashFunction`.
    #[serde(default, rename = "hashFunction")]
    pub hash_function: Option<String>,
    /// Balrog's `uninstall`.
    #[serde(default)]
    pub uninstall: Option<bool>,
    /// Balrog's `addons` (absent in an uninstall blob).
    #[serde(default)]
    pub addons: Option<BTreeMap<String, Addon>>,
}

/// A SuperBlob (schema 4000): the answer is the `<addons>` of other releases, found either by
/// evaluating the rules again for each of `products` (GMP) or by name in `blobs` (system add-ons).
#[derive(Debug, Clone, Deserialize)]
pub struct SuperBlob {
    /// Balrog's `name`.
    pub name: String,
    /// Balrog's `schema_version`.
    pub schema_version: u32,
    /// Balrog's `product`.
    #[serde(default)]
    pub product: Option<String>,
    /// Balrog's `products`.
    #[serde(default)]
    pub products: Option<Vec<String>>,
    /// Balrog's `blobs`.
    #[serde(default)]
    pub blobs: Option<Vec<String>>,
}
