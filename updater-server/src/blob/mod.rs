//! Release blobs: Balrog "App Release" schemas 4, 6 and 9 and the Desupport blob (schema 50).
//!
//! [`Release::parse`] is the only way to build a [`Release`]; it is also the validation of every
//! blob write (unknown fields, wrong types, fields another schema owns and unsupported schemas are
//! rejected with a reason). The stored JSON is kept verbatim; the typed form is what the hot path reads.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::config::Allowlist;

/// One patch of a locale (`completes`/`partials` entries).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Patch {
    /// Balrog's `from`.
    pub from: String,
    /// Balrog's `filesize`.
    pub filesize: u64,
    /// Balrog's `hashValue`.
    #[serde(rename = "hashValue")]
    pub hash_value: String,
    /// Balrog's `fileUrl`.
    #[serde(default, rename = "fileUrl")]
    pub file_url: Option<String>,
}

/// A locale's data within a platform.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocaleData {
    /// Balrog's `buildID`.
    #[serde(default, rename = "buildID")]
    pub build_id: Option<String>,
    /// Balrog's `appVersion`.
    #[serde(default, rename = "appVersion")]
    pub app_version: Option<String>,
    /// Balrog's `displayVersion`.
    #[serde(default, rename = "displayVersion")]
    pub display_version: Option<String>,
    /// Balrog's `platformVersion`.
    #[serde(default, rename = "platformVersion")]
    pub platform_version: Option<String>,
    /// Balrog's `isOSUpdate`.
    #[serde(default, rename = "isOSUpdate")]
    pub is_os_update: Option<bool>,
    /// Balrog's `completes`.
    #[serde(default)]
    pub completes: Vec<Patch>,
    /// Balrog's `partials`.
    #[serde(default)]
    pub partials: Vec<Patch>,
}

/// A platform entry: either an alias to another platform, or real data.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Platform {
    /// Balrog's `alias`.
    #[serde(default)]
    pub alias: Option<String>,
    /// Balrog's `buildID`.
    #[serde(default, rename = "buildID")]
    pub build_id: Option<String>,
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

/// One `fileUrls` block (per channel or `*`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileUrlBlock {
    /// Balrog's `completes`.
    #[serde(default)]
    pub completes: BTreeMap<String, String>,
    /// Balrog's `partials`.
    #[serde(default)]
    pub partials: BTreeMap<String, String>,
}

/// The conditions of a schema-9 `updateLine` group; every present condition must match.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
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
#[serde(deny_unknown_fields)]
pub struct UpdateLineGroup {
    /// Balrog's `for`.
    #[serde(rename = "for")]
    pub for_: UpdateLineFor,
    /// Balrog's `fields`.
    pub fields: BTreeMap<String, Value>,
}

/// The `<update>` attributes a schema-9 `updateLine` may set.
const UPDATE_LINE_FIELDS: &[&str] = &[
    "type",
    "detailsURL",
    "actions",
    "openURL",
    "notificationURL",
    "alertURL",
    "showPrompt",
    "showNeverForVersion",
    "promptWaitTime",
    "disableBITS",
    "disableBackgroundUpdates",
];

/// A Gecko "App Release" blob (schemas 4, 6, 9).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppRelease {
    /// Balrog's `name`.
    pub name: String,
    /// Balrog's `schema_version`.
    pub schema_version: u32,
    /// Balrog's `hashFunction`.
    #[serde(rename = "hashFunction")]
    pub hash_function: String,
    /// Balrog's `product`.
    #[serde(default)]
    pub product: Option<String>,
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
    /// Balrog's `showPrompt`.
    #[serde(default, rename = "showPrompt")]
    pub show_prompt: Option<bool>,
    /// Balrog's `showNeverForVersion`.
    #[serde(default, rename = "showNeverForVersion")]
    pub show_never_for_version: Option<bool>,
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
    /// Balrog's `promptWaitTime`.
    #[serde(default, rename = "promptWaitTime")]
    pub prompt_wait_time: Option<i64>,
    /// Balrog's `fileUrls`.
    #[serde(default, rename = "fileUrls")]
    pub file_urls: Option<BTreeMap<String, FileUrlBlock>>,
    /// Balrog's `updateLine`.
    #[serde(default, rename = "updateLine")]
    pub update_line: Option<Vec<UpdateLineGroup>>,
    /// Balrog's `platforms`.
    #[serde(default)]
    pub platforms: BTreeMap<String, Platform>,
}

/// A Desupport blob (schema 50).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
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

/// A validated release blob.
#[derive(Debug, Clone)]
pub enum Blob {
    /// Schema 4, 6 or 9.
    App(Box<AppRelease>),
    /// Schema 50.
    Desupport(Desupport),
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
}

fn forbid(present: bool, schema: u32, field: &str) -> Result<(), String> {
    if present {
        Err(format!(
            "field '{field}' is not allowed in schema {schema} blobs"
        ))
    } else {
        Ok(())
    }
}

impl AppRelease {
    fn check_schema(&self) -> Result<(), String> {
        let s = self.schema_version;
        let locales = || self.platforms.values().flat_map(|p| p.locales.values());
        match s {
            4 => {
                forbid(self.prompt_wait_time.is_some(), s, "promptWaitTime")?;
                forbid(self.update_line.is_some(), s, "updateLine")?;
            }
            6 => {
                forbid(self.platform_version.is_some(), s, "platformVersion")?;
                forbid(
                    locales().any(|l| l.platform_version.is_some()),
                    s,
                    "platformVersion",
                )?;
                forbid(self.billboard_url.is_some(), s, "billboardURL")?;
                forbid(self.license_url.is_some(), s, "licenseUrl")?;
                forbid(self.update_line.is_some(), s, "updateLine")?;
            }
            _ => {
                for (present, field) in [
                    (self.platform_version.is_some(), "platformVersion"),
                    (self.details_url.is_some(), "detailsUrl"),
                    (self.license_url.is_some(), "licenseUrl"),
                    (self.billboard_url.is_some(), "billboardURL"),
                    (self.show_prompt.is_some(), "showPrompt"),
                    (self.show_never_for_version.is_some(), "showNeverForVersion"),
                    (self.actions.is_some(), "actions"),
                    (self.open_url.is_some(), "openURL"),
                    (self.notification_url.is_some(), "notificationURL"),
                    (self.alert_url.is_some(), "alertURL"),
                    (self.prompt_wait_time.is_some(), "promptWaitTime"),
                ] {
                    forbid(present, s, field)?;
                }
                forbid(
                    locales().any(|l| l.platform_version.is_some()),
                    s,
                    "platformVersion",
                )?;
                for group in self.update_line.iter().flatten() {
                    for (key, value) in &group.fields {
                        if !UPDATE_LINE_FIELDS.contains(&key.as_str()) {
                            return Err(format!("updateLine field '{key}' is not allowed"));
                        }
                        if !(value.is_string() || value.is_boolean() || value.is_i64()) {
                            return Err(format!(
                                "updateLine field '{key}' must be a string, boolean or integer"
                            ));
                        }
                    }
                }
            }
        }
        for (name, platform) in &self.platforms {
            if let Some(target) = &platform.alias {
                if platform.build_id.is_some() || !platform.locales.is_empty() {
                    return Err(format!(
                        "platform '{name}' is an alias and may carry nothing else"
                    ));
                }
                match self.platforms.get(target) {
                    Some(p) if p.alias.is_none() => {}
                    _ => {
                        return Err(format!(
                            "platform '{name}' aliases '{target}', which is not a real platform"
                        ))
                    }
                }
            }
        }
        Ok(())
    }

    /// The platform key after following an alias (`buildTarget` if it is not an alias).
    pub fn resolve_platform<'a>(&'a self, build_target: &'a str) -> &'a str {
        self.platforms
            .get(build_target)
            .and_then(|p| p.alias.as_deref())
            .unwrap_or(build_target)
    }

    /// The platform data for `build_target`, aliases followed.
    pub fn platform(&self, build_target: &str) -> Option<&Platform> {
        self.platforms.get(self.resolve_platform(build_target))
    }

    /// The locale data, aliases followed.
    pub fn locale(&self, build_target: &str, locale: &str) -> Option<&LocaleData> {
        self.platform(build_target)?.locales.get(locale)
    }

    /// Balrog's `getBuildID`: the locale's buildID, else the platform's (aliases followed). The
    /// error is Balrog's message naming what is missing.
    pub fn build_id(&self, build_target: &str, locale: &str) -> Result<&str, String> {
        let resolved = self.resolve_platform(build_target);
        let platform = self.platforms.get(resolved);
        let Some(data) = platform.and_then(|p| p.locales.get(locale)) else {
            return Err(format!(
                "No such locale '{locale}' in platform '{resolved}'"
            ));
        };
        data.build_id
            .as_deref()
            .or(platform.and_then(|p| p.build_id.as_deref()))
            .ok_or_else(|| format!("No buildID for platform '{resolved}'"))
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

    /// The application version used for comparisons.
    pub fn app_version_for(&self, build_target: &str, locale: &str) -> Option<&str> {
        self.locale_or_top(
            build_target,
            locale,
            |l| l.app_version.as_ref(),
            &self.app_version,
        )
    }

    /// Every URL the blob can hand out (patch `fileUrl`s and `fileUrls` templates).
    fn urls(&self) -> Vec<&str> {
        let mut urls: Vec<&str> = Vec::new();
        for block in self.file_urls.iter().flat_map(|m| m.values()) {
            urls.extend(block.completes.values().map(String::as_str));
            urls.extend(block.partials.values().map(String::as_str));
        }
        for locale in self.platforms.values().flat_map(|p| p.locales.values()) {
            for patch in locale.completes.iter().chain(&locale.partials) {
                urls.extend(patch.file_url.as_deref());
            }
        }
        urls
    }
}

impl Release {
    /// Validates a blob for release `name` and builds the typed form. With `allowlist` (every write),
    /// every URL in the blob must point to an allowed domain (for the blob's product when it names
    /// one); loading stored blobs into a snapshot passes `None`.
    pub fn parse(
        name: &str,
        data_version: i64,
        value: &Value,
        allowlist: Option<&Allowlist>,
    ) -> Result<Self, String> {
        let schema = value
            .get("schema_version")
            .and_then(Value::as_u64)
            .ok_or_else(|| "blob must be an object with an integer schema_version".to_owned())?;
        let blob = match schema {
            4 | 6 | 9 => {
                let app: AppRelease = serde_json::from_value(value.clone()).map_err(|e| e.to_string())?;
                app.check_schema()?;
                for url in app.urls() {
                    if allowlist.is_some_and(|a| a.forbids(url, app.product.as_deref())) {
                        return Err(format!("URL '{url}' is not on an allowlisted domain for this product"));
                    }
                }
                Blob::App(Box::new(app))
            }
            50 => Blob::Desupport(serde_json::from_value(value.clone()).map_err(|e| e.to_string())?),
            other => {
                return Err(format!(
                    "unsupported schema_version {other}: Kiln serves App Release schemas 4, 6, 9 and Desupport (50)"
                ))
            }
        };
        let blob_name = match &blob {
            Blob::App(a) => &a.name,
            Blob::Desupport(d) => &d.name,
        };
        if blob_name != name {
            return Err(format!(
                "blob name '{blob_name}' does not match release name '{name}'"
            ));
        }
        Ok(Release {
            name: name.to_owned(),
            data_version,
            blob,
        })
    }

    /// The blob's `product`, if it names one.
    pub fn product(&self) -> Option<&str> {
        match &self.blob {
            Blob::App(a) => a.product.as_deref(),
            Blob::Desupport(d) => d.product.as_deref(),
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
                json!({"name": "r", "schema_version": 3, "hashFunction": "sha512"}),
                "unsupported schema_version 3",
            ),
            (
                json!({"name": "x", "schema_version": 6, "hashFunction": "sha512"}),
                "does not match",
            ),
            (json!({"name": "r", "schema_version": 6}), "hashFunction"),
            (
                json!({"name": "r", "schema_version": 6, "hashFunction": "s", "bogus": 1}),
                "unknown field",
            ),
            (
                json!({"name": "r", "schema_version": 6, "hashFunction": "s", "billboardURL": "x"}),
                "billboardURL",
            ),
            (
                json!({"name": "r", "schema_version": 9, "hashFunction": "s", "detailsUrl": "x"}),
                "detailsUrl",
            ),
            (
                json!({"name": "r", "schema_version": 6, "hashFunction": "s", "fileUrls": {"*": {"completes": {"*": "http://evil.example/x"}}}}),
                "allowlisted",
            ),
            (
                json!({"name": "r", "schema_version": 6, "hashFunction": "s", "platforms": {"a": {"alias": "b"}}}),
                "not a real platform",
            ),
        ];
        for (blob, want) in cases {
            let err = Release::parse("r", 1, &blob, Some(&allow)).unwrap_err();
            assert!(err.contains(want), "{err} should mention {want}");
        }
    }
}
