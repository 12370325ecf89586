//! Release blobs: every type Balrog serves. Balrog's "App Release" schemas 1–6, 8 and 9, the
//! Desupport blob (50), GMP (1000), SuperBlob (4000), SystemAddons (5000) ([`addons`]) and
//! Guardian (10000, [`guardian`]).
//!
//! There are two ways in, as in Balrog:
//! * [`Release::parse`] is the admin API's validation: what Balrog's schema files
//!   (`src/auslib/blobs/schemas/apprelease-v*.yml`) accept, and nothing else ([`schema`]), plus the
//!   domain allowlist and what XML can carry ([`text`]).
//! * [`Release::load`] reads a blob as stored (snapshots, `import`): Balrog's own tests inserted
//!   blobs straight into its database that break its admin-side schema (a schema-4 "from" release
//!   without `hashFunction`, a schema-9 `updateLine` that is an empty object), and Balrog serves
//!   them. Only what serving needs must be well-formed.
//!
//! The stored JSON is kept verbatim; the typed form is what the hot path reads.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::config::Allowlist;

pub mod addons;
pub mod guardian;
pub mod schema;
pub mod text;
pub mod url_template;

pub use addons::{Addon, AddonPlatform, Gmp, SuperBlob, SystemAddons};
pub use guardian::Guardian;
pub use url_template::UrlTemplate;

/// A value Balrog's schemas accept as a string or a number (`buildID`, `filesize`), kept as the
/// text Balrog prints for it (`50` and `"50"` both print `50`) and whether it was a number: in
/// Balrog (Python) a numeric buildID never equals the query's string buildID and cannot be
/// ordered against it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Text {
    /// The text Balrog prints.
    pub text: String,
    /// Stored as a JSON number.
    pub numeric: bool,
}

impl Text {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Python's `str()` of a stored JSON value as Balrog writes it into an attribute: booleans
/// lower-cased, strings as they are, numbers as written, null as `None`.
pub fn py_str(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "None".to_owned(),
        other => other.to_string(),
    }
}

/// Python's truthiness of a stored JSON value.
pub fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            S(String),
            N(serde_json::Number),
        }
        Ok(match Raw::deserialize(d)? {
            Raw::S(text) => Text {
                text,
                numeric: false,
            },
            Raw::N(n) => Text {
                text: n.to_string(),
                numeric: true,
            },
        })
    }
}

/// One patch of a locale (`complete`/`partial` in schemas 1–2, `completes`/`partials` entries later).
#[derive(Debug, Clone, Deserialize)]
pub struct Patch {
    /// Balrog's `from`: `*` or the name of the release the patch applies to.
    pub from: String,
    /// Balrog's `filesize` (string or number).
    pub filesize: Text,
    /// Balrog's `hashValue`.
    #[serde(rename = "hashValue")]
    pub hash_value: String,
    /// Balrog's `fileUrl`.
    #[serde(default, rename = "fileUrl")]
    pub file_url: Option<String>,
    /// Balrog's `binTransInclusionProof` (schemas 8, 9).
    #[serde(default, rename = "binTransInclusionProof")]
    pub bin_trans_inclusion_proof: Option<String>,
}

/// A locale's data within a platform.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct LocaleData {
    /// Balrog's `buildID` (string or number).
    #[serde(default, rename = "buildID")]
    pub build_id: Option<Text>,
    /// Balrog's `appv` (schema 1).
    #[serde(default)]
    pub appv: Option<String>,
    /// Balrog's `extv` (schema 1).
    #[serde(default)]
    pub extv: Option<String>,
    /// Balrog's `appVersion`.
    #[serde(default, rename = "appVersion")]
    pub app_version: Option<String>,
    /// Balrog's `displayVersion`.
    #[serde(default, rename = "displayVersion")]
    pub display_version: Option<String>,
    /// Balrog's `platformVersion`.
    #[serde(default, rename = "platformVersion")]
    pub platform_version: Option<String>,
    /// Balrog's `isOSUpdate` (a truthy value writes `isOSUpdate="true"`).
    #[serde(default, rename = "isOSUpdate")]
    pub is_os_update: Option<Value>,
    /// Balrog's `complete` (schemas 1, 2).
    #[serde(default, deserialize_with = "single_patch")]
    pub complete: Option<Patch>,
    /// Balrog's `partial` (schemas 1, 2).
    #[serde(default, deserialize_with = "single_patch")]
    pub partial: Option<Patch>,
    /// Balrog's `completes`.
    #[serde(default)]
    pub completes: Vec<Patch>,
    /// Balrog's `partials`.
    #[serde(default)]
    pub partials: Vec<Patch>,
}

/// `complete`/`partial` of schemas 1–2; Balrog skips an empty object (`if not patch`).
fn single_patch<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Patch>, D::Error> {
    let value = Option::<Value>::deserialize(d)?;
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) if map.is_empty() => Ok(None),
        Some(other) => Patch::deserialize(other)
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

/// A platform entry: either an alias to another platform, or real data.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Platform {
    /// Balrog's `alias`.
    #[serde(default)]
    pub alias: Option<String>,
    /// Balrog's `buildID` (string or number).
    #[serde(default, rename = "buildID")]
    pub build_id: Option<Text>,
    /// Balrog's `OS_FTP`.
    #[serde(default, rename = "OS_FTP")]
    pub os_ftp: Option<String>,
    /// Balrog's `OS_BOUNCER`.
    #[serde(default, rename = "OS_BOUNCER")]
    pub os_bouncer: Option<String>,
    /// Balrog's `locales`.
    #[serde(default)]
    pub locales: BTreeMap<String, LocaleData>,
}

/// One `fileUrls` block of schemas 4+ (per channel or `*`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct FileUrlBlock {
    /// Balrog's `completes`: from-name (`*`) → URL template.
    #[serde(default)]
    pub completes: BTreeMap<String, UrlTemplate>,
    /// Balrog's `partials`: from-name → URL template.
    #[serde(default)]
    pub partials: BTreeMap<String, UrlTemplate>,
}

impl FileUrlBlock {
    /// Neither completes nor partials.
    pub fn is_empty(&self) -> bool {
        self.completes.is_empty() && self.partials.is_empty()
    }
}

/// A `fileUrls` entry: one URL template per channel (schemas 1–3) or a block (schemas 4+).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum FileUrl {
    /// Schemas 1–3: `%LOCALE% %OS_FTP% %FILENAME% %PRODUCT% %OS_BOUNCER%` are substituted.
    Template(String),
    /// Schemas 4+.
    Block(FileUrlBlock),
}

/// `ftpFilenames` / `bouncerProducts` entries: one name per patch key (schemas 1–2) or one per
/// from-release (schema 3).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PatchNames {
    /// Schemas 1–2: `{"complete": …, "partial": …}`.
    One(String),
    /// Schema 3: `{"completes": {from: …}, "partials": {from: …}}`.
    ByFrom(BTreeMap<String, String>),
}

/// The conditions of a schema-9 `updateLine` group; every present condition must match.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct UpdateLineFor {
    /// Balrog's `channels`.
    #[serde(default)]
    pub channels: Option<Vec<String>>,
    /// Balrog's `locales`.
    #[serde(default)]
    pub locales: Option<Vec<String>>,
    /// Balrog's `versions`.
    #[serde(default)]
    pub versions: Option<Vec<String>>,
    /// Balrog's `buildIDs`.
    #[serde(default, rename = "buildIDs")]
    pub build_ids: Option<Vec<String>>,
}

/// One schema-9 `updateLine` group.
#[derive(Debug, Clone, Deserialize)]
pub struct UpdateLineGroup {
    /// Balrog's `for`.
    #[serde(rename = "for")]
    pub for_: UpdateLineFor,
    /// Balrog's `fields`.
    pub fields: BTreeMap<String, Value>,
}

/// `updateLine` as stored: a list of groups, or (as Balrog's own test data has it) an empty
/// object, which Balrog iterates as no groups.
fn update_line<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<UpdateLineGroup>>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) if map.is_empty() => Ok(Some(Vec::new())),
        Some(other) => Vec::<UpdateLineGroup>::deserialize(other)
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

/// A Gecko "App Release" blob (schemas 1–6, 8, 9). Which fields a schema allows is checked by
/// [`schema::check`] on the admin path; the XML writer reads what the schema defines.
#[derive(Debug, Clone, Deserialize)]
pub struct AppRelease {
    /// Balrog's `name`.
    pub name: String,
    /// Balrog's `schema_version`.
    pub schema_version: u32,
    /// Balrog's `hashFunction` (required by every schema; absent only in blobs inserted below
    /// the admin API, which Balrog then prints as `None`).
    #[serde(default, rename = "hashFunction")]
    pub hash_function: Option<String>,
    /// Balrog's `product`.
    #[serde(default)]
    pub product: Option<String>,
    /// Balrog's `appv` (schema 1: the version shown).
    #[serde(default)]
    pub appv: Option<String>,
    /// Balrog's `extv` (schema 1: the version compared).
    #[serde(default)]
    pub extv: Option<String>,
    /// Balrog's `appVersion`.
    #[serde(default, rename = "appVersion")]
    pub app_version: Option<String>,
    /// Balrog's `displayVersion`.
    #[serde(default, rename = "displayVersion")]
    pub display_version: Option<String>,
    /// Balrog's `platformVersion`.
    #[serde(default, rename = "platformVersion")]
    pub platform_version: Option<String>,
    /// Balrog's `detailsUrl`.
    #[serde(default, rename = "detailsUrl")]
    pub details_url: Option<String>,
    /// Balrog's `licenseUrl`.
    #[serde(default, rename = "licenseUrl")]
    pub license_url: Option<String>,
    /// Balrog's `billboardURL`.
    #[serde(default, rename = "billboardURL")]
    pub billboard_url: Option<String>,
    /// Balrog's `showPrompt` (a boolean; written as Balrog writes whatever is stored).
    #[serde(default, rename = "showPrompt")]
    pub show_prompt: Option<Value>,
    /// Balrog's `showNeverForVersion` (a boolean; written as stored).
    #[serde(default, rename = "showNeverForVersion")]
    pub show_never_for_version: Option<Value>,
    /// Balrog's `actions`.
    #[serde(default)]
    pub actions: Option<String>,
    /// Balrog's `openURL`.
    #[serde(default, rename = "openURL")]
    pub open_url: Option<String>,
    /// Balrog's `notificationURL`.
    #[serde(default, rename = "notificationURL")]
    pub notification_url: Option<String>,
    /// Balrog's `alertURL`.
    #[serde(default, rename = "alertURL")]
    pub alert_url: Option<String>,
    /// Balrog's `promptWaitTime` (a number; written as stored).
    #[serde(default, rename = "promptWaitTime")]
    pub prompt_wait_time: Option<Value>,
    /// Balrog's `binTransMerkleRoot` (schema 8).
    #[serde(default, rename = "binTransMerkleRoot")]
    pub bin_trans_merkle_root: Option<String>,
    /// Balrog's `binTransCertificate` (schema 8).
    #[serde(default, rename = "binTransCertificate")]
    pub bin_trans_certificate: Option<String>,
    /// Balrog's `binTransSCTList` (schema 8).
    #[serde(default, rename = "binTransSCTList")]
    pub bin_trans_sct_list: Option<String>,
    /// Balrog's `oldVersionSpecialCases` (schema 1, bugs 998721 and 1174605).
    #[serde(default, rename = "oldVersionSpecialCases")]
    pub old_version_special_cases: Option<bool>,
    /// Balrog's `fileUrls`.
    #[serde(default, rename = "fileUrls")]
    pub file_urls: Option<BTreeMap<String, FileUrl>>,
    /// Balrog's `ftpFilenames` (schemas 1–3).
    #[serde(default, rename = "ftpFilenames")]
    pub ftp_filenames: Option<BTreeMap<String, PatchNames>>,
    /// Balrog's `bouncerProducts` (schemas 1–3).
    #[serde(default, rename = "bouncerProducts")]
    pub bouncer_products: Option<BTreeMap<String, PatchNames>>,
    /// Balrog's `updateLine` (schema 9).
    #[serde(default, rename = "updateLine", deserialize_with = "update_line")]
    pub update_line: Option<Vec<UpdateLineGroup>>,
    /// Balrog's `platforms`.
    #[serde(default)]
    pub platforms: BTreeMap<String, Platform>,
    /// Every string in the blob outside its URLs is plain ([`text::is_plain`]): the XML writer
    /// copies the blob's own values (not its URLs) into attributes without checking them per
    /// request. Set by [`Release::load`].
    #[serde(skip)]
    pub plain_text: bool,
}

/// A Desupport blob (schema 50).
#[derive(Debug, Clone, Deserialize)]
pub struct Desupport {
    /// Balrog's `name`.
    pub name: String,
    /// Balrog's `schema_version`.
    pub schema_version: u32,
    /// Balrog's `product`.
    #[serde(default)]
    pub product: Option<String>,
    /// Balrog's `detailsUrl`.
    #[serde(rename = "detailsUrl")]
    pub details_url: String,
    /// Balrog's `displayVersion`.
    #[serde(rename = "displayVersion")]
    pub display_version: String,
}

/// A release blob Kiln serves.
#[derive(Debug, Clone)]
pub enum Blob {
    /// Schemas 1–6, 8, 9.
    App(Box<AppRelease>),
    /// Schema 50.
    Desupport(Desupport),
    /// Schema 1000.
    Gmp(Gmp),
    /// Schema 4000.
    Super(SuperBlob),
    /// Schema 5000.
    SystemAddons(SystemAddons),
    /// Schema 10000 (answered on `/json/…`).
    Guardian(Guardian),
}

/// A release as the hot path sees it: its name, version and typed blob.
#[derive(Debug, Clone)]
pub struct Release {
    /// The release name (equals the blob's `name`).
    pub name: String,
    /// The release row's `data_version`.
    pub data_version: i64,
    /// The typed blob.
    pub blob: Blob,
    /// The release row's `product` when read from the store (a SuperBlob's `blobs` are served
    /// under their row's product, as in Balrog).
    pub row_product: Option<String>,
}

/// The App Release schema versions Kiln serves (there never was a schema 7).
pub const APP_SCHEMAS: &[u64] = &[1, 2, 3, 4, 5, 6, 8, 9];

/// Every blob schema Kiln stores and serves: all of Balrog's.
pub fn is_served_schema(schema: u64) -> bool {
    APP_SCHEMAS.contains(&schema) || [50, 1000, 4000, 5000, 10000].contains(&schema)
}

fn typed<T: serde::de::DeserializeOwned>(value: &Value) -> Result<T, String> {
    serde_json::from_value(value.clone()).map_err(|e| e.to_string())
}

impl AppRelease {
    /// The platform key after following an alias (`buildTarget` if it is not an alias).
    pub fn resolve_platform<'a>(&'a self, build_target: &'a str) -> &'a str {
        self.platforms
            .get(build_target)
            .and_then(|p| p.alias.as_deref())
            .unwrap_or(build_target)
    }

    /// The platform data for `build_target`, aliases followed.
    pub fn platform(&self, build_target: &str) -> Option<&Platform> {
        // One lookup unless the platform is an alias (what `resolve_platform` then `get` give).
        let platform = self.platforms.get(build_target)?;
        match platform.alias.as_deref() {
            Some(alias) => self.platforms.get(alias),
            None => Some(platform),
        }
    }

    /// The locale data, aliases followed.
    pub fn locale(&self, build_target: &str, locale: &str) -> Option<&LocaleData> {
        self.platform(build_target)?.locales.get(locale)
    }

    /// Balrog's `getBuildID`: the locale's buildID, else the platform's (aliases followed). The
    /// error is Balrog's message naming what is missing.
    pub fn build_id(&self, build_target: &str, locale: &str) -> Result<&str, String> {
        self.build_id_text(build_target, locale).map(Text::as_str)
    }

    /// [`AppRelease::build_id`] with whether it was stored as a number.
    pub fn build_id_text(&self, build_target: &str, locale: &str) -> Result<&Text, String> {
        let resolved = || self.resolve_platform(build_target);
        let platform = self.platform(build_target);
        let Some(data) = platform.and_then(|p| p.locales.get(locale)) else {
            let resolved = resolved();
            return Err(format!(
                "No such locale '{locale}' in platform '{resolved}'"
            ));
        };
        data.build_id
            .as_ref()
            .or(platform.and_then(|p| p.build_id.as_ref()))
            .ok_or_else(|| format!("No buildID for platform '{}'", resolved()))
    }

    /// A locale-level version field, else the top-level one (Balrog's `getLocaleOrTopLevelParam`).
    pub fn locale_or_top<'a>(
        &'a self,
        build_target: &str,
        locale: &str,
        pick: impl Fn(&LocaleData) -> Option<&String>,
        top: &'a Option<String>,
    ) -> Option<&'a str> {
        self.locale(build_target, locale)
            .and_then(|l| pick(l).map(String::as_str))
            .or(top.as_deref())
    }

    /// The application version used for comparisons: `extv` in schema 1, else `appVersion`.
    pub fn app_version_for(&self, build_target: &str, locale: &str) -> Option<&str> {
        if self.schema_version == 1 {
            self.locale_or_top(build_target, locale, |l| l.extv.as_ref(), &self.extv)
        } else {
            self.locale_or_top(
                build_target,
                locale,
                |l| l.app_version.as_ref(),
                &self.app_version,
            )
        }
    }

    /// Every URL the blob can hand out (patch `fileUrl`s and `fileUrls` templates).
    fn urls(&self) -> Vec<&str> {
        let mut urls: Vec<&str> = Vec::new();
        for entry in self.file_urls.iter().flat_map(|m| m.values()) {
            match entry {
                FileUrl::Template(url) => urls.push(url),
                FileUrl::Block(block) => {
                    urls.extend(block.completes.values().map(UrlTemplate::as_str));
                    urls.extend(block.partials.values().map(UrlTemplate::as_str));
                }
            }
        }
        for locale in self.platforms.values().flat_map(|p| p.locales.values()) {
            let singles = locale.complete.iter().chain(&locale.partial);
            for patch in singles.chain(&locale.completes).chain(&locale.partials) {
                urls.extend(patch.file_url.as_deref());
            }
        }
        urls
    }
}

impl Release {
    /// Validates a blob for release `name` as Balrog's admin API does ([`schema::check`]) and builds
    /// the typed form. With `allowlist` (every write), every URL in the blob must point to an
    /// allowed domain (for the blob's product when it names one).
    pub fn parse(
        name: &str,
        data_version: i64,
        value: &Value,
        allowlist: Option<&Allowlist>,
    ) -> Result<Self, String> {
        let release = Release::load(name, data_version, value)?;
        schema::check(value)?;
        text::check(value, !matches!(release.blob, Blob::Guardian(_)))?;
        let blob_name = release.blob_name();
        if blob_name != name {
            return Err(format!(
                "blob name '{blob_name}' does not match release name '{name}'"
            ));
        }
        if let Some(allowlist) = allowlist {
            release.check_urls(allowlist)?;
        }
        Ok(release)
    }

    /// Every URL the blob can hand out must be on an allowlisted domain (for the blob's product
    /// when it names one).
    pub fn check_urls(&self, allowlist: &Allowlist) -> Result<(), String> {
        let addon_urls = |addons: &mut dyn Iterator<Item = &Addon>| -> Vec<String> {
            addons
                .flat_map(|a| a.platforms.values())
                .filter_map(|p| p.file_url.clone())
                .collect()
        };
        // Desupport URLs point to web pages and SuperBlobs hold none: Balrog exempts both.
        let urls: Vec<String> = match &self.blob {
            Blob::App(app) => app.urls().into_iter().map(str::to_owned).collect(),
            Blob::Gmp(g) => addon_urls(&mut g.vendors.values()),
            Blob::SystemAddons(s) => addon_urls(&mut s.addons.iter().flat_map(|a| a.values())),
            Blob::Guardian(g) => g
                .platforms
                .values()
                .filter_map(|p| p.file_url.clone())
                .collect(),
            Blob::Desupport(_) | Blob::Super(_) => Vec::new(),
        };
        for url in urls {
            if allowlist.forbids(&url, self.product()) {
                return Err(format!(
                    "URL '{url}' is not on an allowlisted domain for this product"
                ));
            }
        }
        Ok(())
    }

    /// The blob's `name`.
    pub fn blob_name(&self) -> &str {
        match &self.blob {
            Blob::App(a) => &a.name,
            Blob::Desupport(d) => &d.name,
            Blob::Gmp(g) => &g.name,
            Blob::Super(s) => &s.name,
            Blob::SystemAddons(s) => &s.name,
            Blob::Guardian(g) => &g.name,
        }
    }

    /// Reads a blob as stored, without the admin API's schema check: what serving reads must be
    /// well-formed (types of the fields it uses), nothing more. Snapshots and `import` use this.
    pub fn load(name: &str, data_version: i64, value: &Value) -> Result<Self, String> {
        let schema = value
            .get("schema_version")
            .and_then(Value::as_u64)
            .ok_or_else(|| "blob must be an object with an integer schema_version".to_owned())?;
        let blob = match schema {
            s if APP_SCHEMAS.contains(&s) => {
                let mut app: AppRelease = typed(value)?;
                app.plain_text = text::is_plain(value);
                Blob::App(Box::new(app))
            }
            50 => Blob::Desupport(typed(value)?),
            1000 => Blob::Gmp(typed(value)?),
            4000 => Blob::Super(typed(value)?),
            5000 => Blob::SystemAddons(typed(value)?),
            10000 => Blob::Guardian(typed(value)?),
            other => {
                return Err(format!(
                    "unsupported schema_version {other}: Balrog's are 1-6, 8, 9, 50, 1000, 4000, 5000 and 10000"
                ))
            }
        };
        Ok(Release {
            name: name.to_owned(),
            data_version,
            blob,
            row_product: None,
        })
    }

    /// The blob's `product`, if it names one.
    pub fn product(&self) -> Option<&str> {
        match &self.blob {
            Blob::App(a) => a.product.as_deref(),
            Blob::Desupport(d) => d.product.as_deref(),
            Blob::Gmp(g) => g.product.as_deref(),
            Blob::Super(s) => s.product.as_deref(),
            Blob::SystemAddons(s) => s.product.as_deref(),
            Blob::Guardian(g) => g.product.as_deref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rejects_bad_blobs() {
        let allow = Allowlist::default();
        let cases = [
            (
                json!({"name": "r", "schema_version": 7, "hashFunction": "sha512"}),
                "unsupported schema_version 7",
            ),
            (
                json!({"name": "x", "schema_version": 6, "hashFunction": "sha512"}),
                "does not match",
            ),
            (json!({"name": "r", "schema_version": 6}), "hashFunction"),
            (
                json!({"name": "r", "schema_version": 6, "hashFunction": "sha512", "bogus": 1}),
                "'bogus' is not allowed",
            ),
            (
                json!({"name": "r", "schema_version": 6, "hashFunction": "sha512", "billboardURL": "x"}),
                "billboardURL",
            ),
            (
                json!({"name": "r", "schema_version": 9, "hashFunction": "sha512", "detailsUrl": "x"}),
                "detailsUrl",
            ),
            (
                json!({"name": "r", "schema_version": 9, "hashFunction": "sha512", "updateLine": {}}),
                "updateLine",
            ),
            (
                json!({"name": "r", "schema_version": 4, "hashFunction": "sha512", "fileUrls": {"*": "http://a/"}}),
                "fileUrls",
            ),
            (
                json!({"name": "r", "schema_version": 2, "hashFunction": "sha512", "platforms": {"p": {"locales": {"l": {"completes": []}}}}}),
                "'completes' is not allowed",
            ),
            (
                json!({"name": "r", "schema_version": 6, "hashFunction": "sha512", "fileUrls": {"*": {"completes": {"*": "http://evil.example/x"}}}}),
                "allowlisted",
            ),
            (
                json!({"name": "r", "schema_version": 6, "hashFunction": "sha512", "platforms": {"a": {"alias": "b"}}}),
                "not a real platform",
            ),
            (
                json!({"name": "r", "schema_version": 6, "hashFunction": "sha512", "showPrompt": "yes"}),
                "showPrompt must be a boolean",
            ),
            (
                json!({"name": "r", "schema_version": 6, "hashFunction": "sha512", "platforms": {"p": {"buildID": "12a"}}}),
                "must be digits",
            ),
        ];
        for (blob, want) in cases {
            let err = Release::parse("r", 1, &blob, Some(&allow)).unwrap_err();
            assert!(err.contains(want), "{err} should mention {want}");
        }
    }

    #[test]
    fn accepts_what_balrogs_schemas_accept() {
        let blob = json!({"name": "r", "schema_version": 4, "hashFunction": "sha512",
            "appVersion": "31.0", "platforms": {"p": {"buildID": 50, "locales": {"l": {
                "completes": [{"from": "*", "filesize": "40", "hashValue": "41"}],
                "partials": [{"from": "h1", "filesize": 8, "hashValue": "9"}]}}}}});
        let r = Release::parse("r", 1, &blob, None).unwrap();
        let Blob::App(app) = &r.blob else {
            panic!("an app blob")
        };
        assert_eq!(app.build_id("p", "l"), Ok("50"));
        assert!(app.build_id_text("p", "l").unwrap().numeric);
        let l = app.locale("p", "l").unwrap();
        assert_eq!(
            (
                l.completes[0].filesize.as_str(),
                l.partials[0].filesize.as_str()
            ),
            ("40", "8")
        );
    }

    #[test]
    fn load_takes_what_balrogs_tests_inserted() {
        // No hashFunction, and a schema-9 updateLine that is an empty object.
        for blob in [
            json!({"name": "h0", "schema_version": 4, "platforms": {"p": {"buildID": "5", "locales": {"l": {}}}}}),
            json!({"name": "h1", "schema_version": 9, "updateLine": {}, "platforms": {}}),
        ] {
            let name = blob["name"].as_str().unwrap();
            assert!(Release::load(name, 1, &blob).is_ok());
            assert!(Release::parse(name, 1, &blob, None).is_err());
        }
    }
}
