//! The admin API's blob validation, after Balrog's schema files (`src/auslib/blobs/schemas/*.yml`):
//! which keys each schema allows at each level of a blob, required keys, the shapes that changed
//! between schemas (`fileUrls`, `ftpFilenames`, `updateLine`), the value patterns that keep XML
//! metacharacters out of attributes (`hashFunction` is SHA-256/384/512, versions and hash values
//! carry no `"<>&`, string buildIDs are digits), GMP hash lengths, and platform aliases. Value
//! types are checked by deserialising ([`super::Release::load`]), which accepts what the schemas
//! accept (`buildID` and `filesize` as string or number).

use serde_json::{Map, Value};

use crate::client::matching::{
    compile_versions, fallback_channel, match_channel, match_version, BuildIdCmp,
};
use crate::client::version::MozVersion;

const COMMON: &[&str] = &[
    "name",
    "schema_version",
    "hashFunction",
    "product",
    "platforms",
];
const V1: &[&str] = &[
    "appv",
    "extv",
    "detailsUrl",
    "licenseUrl",
    "fileUrls",
    "ftpFilenames",
    "bouncerProducts",
    "oldVersionSpecialCases",
    "fakePartials",
];
const V2_VERSIONS: &[&str] = &["appVersion", "displayVersion", "platformVersion"];
const V2_OPTIONAL: &[&str] = &[
    "detailsUrl",
    "licenseUrl",
    "fileUrls",
    "actions",
    "billboardURL",
    "openURL",
    "notificationURL",
    "alertURL",
    "showPrompt",
    "showNeverForVersion",
];
const V6: &[&str] = &[
    "appVersion",
    "displayVersion",
    "detailsUrl",
    "fileUrls",
    "actions",
    "openURL",
    "notificationURL",
    "alertURL",
    "showPrompt",
    "showNeverForVersion",
    "promptWaitTime",
];
const V8_EXTRA: &[&str] = &[
    "binTransMerkleRoot",
    "binTransCertificate",
    "binTransSCTList",
];
const V9: &[&str] = &["appVersion", "displayVersion", "fileUrls", "updateLine"];

const PLATFORM: &[&str] = &["alias", "buildID", "OS_FTP", "OS_BOUNCER", "locales"];
const PATCH: &[&str] = &["from", "filesize", "hashValue", "fileUrl"];
const DESUPPORT: &[&str] = &[
    "name",
    "schema_version",
    "product",
    "detailsUrl",
    "displayVersion",
];

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
const UPDATE_LINE_FOR: &[&str] = &["channels", "locales", "versions", "buildIDs"];

fn top_level(schema: u64) -> Vec<&'static str> {
    let mut keys = COMMON.to_vec();
    match schema {
        1 => keys.extend(V1),
        2 | 3 => {
            keys.extend(V2_VERSIONS);
            keys.extend(V2_OPTIONAL);
            keys.extend(["ftpFilenames", "bouncerProducts"]);
        }
        4 | 5 => {
            keys.extend(V2_VERSIONS);
            keys.extend(V2_OPTIONAL);
            if schema == 5 {
                keys.push("promptWaitTime");
            }
        }
        6 => keys.extend(V6),
        8 => {
            keys.extend(V6);
            keys.extend(V8_EXTRA);
        }
        _ => keys.extend(V9),
    }
    keys
}

fn locale_keys(schema: u64) -> Vec<&'static str> {
    let mut keys = vec!["buildID"];
    match schema {
        1 => keys.extend(["appv", "extv"]),
        2..=5 => keys.extend(V2_VERSIONS),
        _ => keys.extend(["appVersion", "displayVersion"]),
    }
    if schema > 1 {
        keys.push("isOSUpdate");
    }
    if schema <= 2 {
        keys.extend(["complete", "partial"]);
    } else {
        keys.extend(["completes", "partials"]);
    }
    keys
}

fn only(
    map: &Map<String, Value>,
    allowed: &[&str],
    schema: u64,
    place: &str,
) -> Result<(), String> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(key) => Err(format!(
            "field '{key}' is not allowed {place}in schema {schema} blobs"
        )),
        None => Ok(()),
    }
}

fn object<'a>(value: &'a Value, what: &str) -> Result<&'a Map<String, Value>, String> {
    value
        .as_object()
        .ok_or_else(|| format!("{what} must be an object"))
}

fn check_patch(patch: &Value, schema: u64) -> Result<(), String> {
    let mut allowed = PATCH.to_vec();
    if schema >= 8 {
        allowed.push("binTransInclusionProof");
    }
    only(object(patch, "a patch")?, &allowed, schema, "in a patch ")
}

fn check_platforms(blob: &Map<String, Value>, schema: u64) -> Result<(), String> {
    let Some(platforms) = blob.get("platforms") else {
        return Ok(());
    };
    let platforms = object(platforms, "platforms")?;
    let locale_allowed = locale_keys(schema);
    for (name, platform) in platforms {
        let platform = object(platform, "a platform")?;
        if let Some(target) = platform.get("alias") {
            // Balrog's schema only requires `alias` here; other keys are ignored when serving.
            // Kiln also refuses an alias to a platform that is missing or itself an alias.
            let real = target
                .as_str()
                .and_then(|t| platforms.get(t))
                .and_then(Value::as_object)
                .is_some_and(|p| !p.contains_key("alias"));
            if !real {
                return Err(format!(
                    "platform '{name}' aliases '{target}', which is not a real platform"
                ));
            }
            continue;
        }
        only(platform, PLATFORM, schema, "in a platform ")?;
        for locale in platform
            .get("locales")
            .and_then(Value::as_object)
            .iter()
            .flat_map(|l| l.values())
        {
            let locale = object(locale, "a locale")?;
            only(locale, &locale_allowed, schema, "in a locale ")?;
            for key in ["complete", "partial"] {
                if let Some(patch) = locale.get(key) {
                    check_patch(patch, schema)?;
                }
            }
            for key in ["completes", "partials"] {
                for patch in locale
                    .get(key)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    check_patch(patch, schema)?;
                }
            }
        }
    }
    Ok(())
}

fn check_file_urls(blob: &Map<String, Value>, schema: u64) -> Result<(), String> {
    for entry in blob
        .get("fileUrls")
        .map(|v| object(v, "fileUrls"))
        .transpose()?
        .into_iter()
        .flat_map(|m| m.values())
    {
        if schema <= 3 {
            if !entry.is_string() {
                return Err(format!(
                    "fileUrls entries must be URL strings in schema {schema} blobs"
                ));
            }
        } else {
            let block = entry.as_object().ok_or_else(|| {
                format!("fileUrls entries must be objects in schema {schema} blobs")
            })?;
            only(
                block,
                &["completes", "partials"],
                schema,
                "in a fileUrls block ",
            )?;
        }
    }
    for key in ["ftpFilenames", "bouncerProducts"] {
        for entry in blob
            .get(key)
            .map(|v| object(v, key))
            .transpose()?
            .into_iter()
            .flat_map(|m| m.values())
        {
            let ok = if schema == 3 {
                entry.is_object()
            } else {
                entry.is_string()
            };
            if !ok {
                return Err(format!(
                    "{key} entries have the wrong shape for schema {schema}"
                ));
            }
        }
    }
    Ok(())
}

fn check_update_line(blob: &Map<String, Value>) -> Result<(), String> {
    let Some(groups) = blob.get("updateLine") else {
        return Ok(());
    };
    let groups = groups
        .as_array()
        .ok_or_else(|| "updateLine must be a list of groups".to_owned())?;
    for group in groups {
        let group = object(group, "an updateLine group")?;
        only(group, &["for", "fields"], 9, "in an updateLine group ")?;
        if let Some(cond) = group.get("for") {
            only(
                object(cond, "updateLine 'for'")?,
                UPDATE_LINE_FOR,
                9,
                "in updateLine 'for' ",
            )?;
        }
        for (key, value) in group
            .get("fields")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
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
    Ok(())
}

fn hash_function(map: &Map<String, Value>, schema: u64, required: bool) -> Result<(), String> {
    match map.get("hashFunction") {
        None if required => Err(format!("hashFunction is required in schema {schema} blobs")),
        None => Ok(()),
        Some(v) => {
            let ok = v.as_str().is_some_and(|h| {
                matches!(
                    h.to_ascii_lowercase().as_str(),
                    "sha256" | "sha384" | "sha512"
                )
            });
            if ok {
                Ok(())
            } else {
                Err(format!("hashFunction {v} must be sha256, sha384 or sha512"))
            }
        }
    }
}

/// `^[^"<>&]*$`: nothing that could break out of an XML attribute.
fn plain(map: &Map<String, Value>, keys: &[&str], nonempty: bool) -> Result<(), String> {
    for key in keys {
        if let Some(text) = map.get(*key).and_then(Value::as_str) {
            if text.contains(['"', '<', '>', '&']) || (nonempty && text.is_empty()) {
                return Err(format!(
                    "{key} '{text}' must be non-empty text without \"<>&"
                ));
            }
        }
    }
    Ok(())
}

fn digits(map: &Map<String, Value>, key: &str) -> Result<(), String> {
    match map.get(key).and_then(Value::as_str) {
        Some(text) if !text.bytes().all(|b| b.is_ascii_digit()) => {
            Err(format!("{key} '{text}' must be digits"))
        }
        _ => Ok(()),
    }
}

/// `key`, when present, must pass `ok` (a JSON type check).
fn typed(
    map: &Map<String, Value>,
    key: &str,
    ok: fn(&Value) -> bool,
    what: &str,
) -> Result<(), String> {
    match map.get(key) {
        Some(v) if !ok(v) => Err(format!("{key} must be {what}")),
        _ => Ok(()),
    }
}

/// App Release values: versions, hash values and string buildIDs, and the types of the fields
/// the typed form reads leniently.
fn check_app_values(map: &Map<String, Value>) -> Result<(), String> {
    const VERSIONS: &[&str] = &[
        "appVersion",
        "displayVersion",
        "platformVersion",
        "appv",
        "extv",
    ];
    plain(map, VERSIONS, false)?;
    typed(map, "showPrompt", Value::is_boolean, "a boolean")?;
    typed(map, "showNeverForVersion", Value::is_boolean, "a boolean")?;
    typed(map, "promptWaitTime", Value::is_i64, "an integer")?;
    typed(
        map,
        "oldVersionSpecialCases",
        Value::is_boolean,
        "a boolean",
    )?;
    for platform in map
        .get("platforms")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|p| p.values())
    {
        let Some(platform) = platform.as_object() else {
            continue;
        };
        digits(platform, "buildID")?;
        for locale in platform
            .get("locales")
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|l| l.values())
        {
            let Some(locale) = locale.as_object() else {
                continue;
            };
            digits(locale, "buildID")?;
            typed(locale, "isOSUpdate", Value::is_boolean, "a boolean")?;
            plain(locale, VERSIONS, false)?;
            let singles = ["complete", "partial"]
                .into_iter()
                .filter_map(|k| locale.get(k));
            let lists = ["completes", "partials"]
                .into_iter()
                .filter_map(|k| locale.get(k).and_then(Value::as_array))
                .flatten();
            for patch in singles.chain(lists).filter_map(Value::as_object) {
                plain(patch, &["hashValue"], true)?;
            }
        }
    }
    Ok(())
}

/// GMP vendors and system add-ons: `{version, platforms: {name: alias | file}}`.
fn check_addons(
    addons: &Value,
    schema: u64,
    hash: Option<&str>,
    mirrors: bool,
) -> Result<(), String> {
    let mut file_keys = vec!["filesize", "hashValue", "fileUrl"];
    if mirrors {
        file_keys.push("mirrorUrls");
    }
    let hash_len = match hash.map(str::to_ascii_lowercase).as_deref() {
        Some("sha256") => Some(64),
        Some("sha384") => Some(96),
        Some("sha512") => Some(128),
        _ => None,
    };
    for (id, addon) in object(addons, "the add-ons")? {
        if id.contains(['"', '<', '>', '&']) {
            return Err(format!("add-on id '{id}' must not contain \"<>&"));
        }
        let addon = object(addon, "an add-on")?;
        only(addon, &["version", "platforms"], schema, "in an add-on ")?;
        if !addon.get("version").is_some_and(Value::is_string) {
            return Err(format!("add-on '{id}' needs a version string"));
        }
        plain(addon, &["version"], false)?;
        for platform in addon
            .get("platforms")
            .map(|p| object(p, "platforms"))
            .transpose()?
            .into_iter()
            .flat_map(|p| p.values())
        {
            let platform = object(platform, "a platform")?;
            if platform.contains_key("alias") {
                continue;
            }
            only(platform, &file_keys, schema, "in an add-on platform ")?;
            for key in ["filesize", "hashValue", "fileUrl"] {
                if !platform.contains_key(key) {
                    return Err(format!("add-on '{id}' platform lacks {key}"));
                }
            }
            if !platform["filesize"].is_number() {
                return Err(format!("add-on '{id}' filesize must be a number"));
            }
            plain(platform, &["hashValue"], true)?;
            let value_len = platform["hashValue"].as_str().map(str::len);
            if schema == 1000 && hash_len.is_some() && value_len != hash_len {
                return Err(format!(
                    "The hashValue length is different from the required length of {} for {}.",
                    hash_len.unwrap_or(0),
                    hash.unwrap_or("").to_ascii_lowercase()
                ));
            }
        }
    }
    Ok(())
}

fn require(map: &Map<String, Value>, keys: &[&str], schema: u64) -> Result<(), String> {
    match keys.iter().find(|k| !map.contains_key(**k)) {
        Some(key) => Err(format!("{key} is required in schema {schema} blobs")),
        None => Ok(()),
    }
}

fn check_other(map: &Map<String, Value>, schema: u64) -> Result<(), String> {
    const BASE: &[&str] = &["name", "schema_version", "product"];
    let keys = |extra: &[&'static str]| [BASE, extra].concat();
    match schema {
        50 => only(map, DESUPPORT, schema, ""),
        1000 => {
            only(map, &keys(&["hashFunction", "vendors"]), schema, "")?;
            require(map, &["hashFunction", "vendors"], schema)?;
            hash_function(map, schema, true)?;
            let hash = map.get("hashFunction").and_then(Value::as_str);
            check_addons(&map["vendors"], schema, hash, true)
        }
        4000 => {
            // superblob.py: the answer is built from `products` (GMP) or `blobs` (system add-ons).
            only(map, &keys(&["products", "blobs"]), schema, "")?;
            let names = ["products", "blobs"].into_iter().filter_map(|k| map.get(k));
            let mut count = 0;
            for list in names {
                count += 1;
                let ok = list
                    .as_array()
                    .is_some_and(|l| !l.is_empty() && l.iter().all(Value::is_string));
                if !ok {
                    return Err("products/blobs must be a non-empty list of names".to_owned());
                }
            }
            if count == 1 {
                Ok(())
            } else {
                Err("a SuperBlob needs exactly one of products or blobs".to_owned())
            }
        }
        5000 => {
            // oneOf: an uninstall blob, or a blob of add-ons.
            let uninstall = map.contains_key("uninstall");
            let second = if uninstall { "uninstall" } else { "addons" };
            only(map, &keys(&["hashFunction", second]), schema, "")?;
            require(map, &[second], schema)?;
            hash_function(map, schema, false)?;
            if uninstall {
                map["uninstall"]
                    .is_boolean()
                    .then_some(())
                    .ok_or_else(|| "uninstall must be a boolean".to_owned())
            } else {
                let hash = map.get("hashFunction").and_then(Value::as_str);
                check_addons(&map["addons"], schema, hash, false)
            }
        }
        _ => {
            let extra = ["platforms", "version", "required", "hashFunction"];
            only(map, &keys(&extra), schema, "")?;
            require(
                map,
                &["product", "platforms", "version", "hashFunction"],
                schema,
            )?;
            for platform in object(&map["platforms"], "platforms")?.values() {
                let platform = object(platform, "a platform")?;
                only(
                    platform,
                    &["fileUrl", "hashValue"],
                    schema,
                    "in a platform ",
                )?;
                require(platform, &["fileUrl", "hashValue"], schema)?;
            }
            Ok(())
        }
    }
}

/// Balrog's `matchVersion(rule, version)`: does the rule value match the query version?
fn version_matches(rule: &str, version: &str) -> Result<bool, String> {
    let terms = compile_versions(rule)?;
    match_version(&terms, &MozVersion::parse(version)).map_err(|e| e.to_string())
}

fn strip_operator(v: &str) -> &str {
    v.trim_start_matches(['<', '>', '='])
}

/// Balrog's `increment_version`/`decrement_version` (999 when a part underflows).
fn step_version(v: &str, up: bool) -> Result<String, String> {
    let mut parts: Vec<i64> = v
        .split('.')
        .map(|p| {
            p.parse()
                .map_err(|_| format!("invalid version {v} in updateLine"))
        })
        .collect::<Result<_, _>>()?;
    if up {
        if let Some(last) = parts.last_mut() {
            *last += 1;
        }
    } else {
        for i in (0..parts.len()).rev() {
            if parts[i] == 0 {
                if i == 0 {
                    return Err(format!("Version number {v} is invalid: all 0's."));
                }
                parts[i] = 999;
            } else {
                parts[i] -= 1;
                break;
            }
        }
    }
    Ok(parts
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join("."))
}

/// The "comparable value" Balrog derives from an operator condition; `None` without one.
fn comparable(v: &str, versions: bool) -> Result<Option<String>, String> {
    let operand = strip_operator(v);
    if v.contains('=') {
        return Ok(Some(operand.to_owned()));
    }
    let up = match v.chars().next() {
        Some('<') => false,
        Some('>') => true,
        _ => return Ok(None),
    };
    if versions {
        return step_version(operand, up).map(Some);
    }
    let n: i64 = operand
        .parse()
        .map_err(|_| format!("invalid buildID {v} in updateLine"))?;
    Ok(Some((if up { n + 1 } else { n - 1 }).to_string()))
}

/// Can one request satisfy both lists of one condition (Balrog's `ReleaseBlobV9.validate`)?
fn condition_overlaps(cond: &str, a: &[String], b: &[String]) -> Result<bool, String> {
    let has_op = |v: &str| v.starts_with(['<', '>']);
    for (v1, v2) in a.iter().flat_map(|x| b.iter().map(move |y| (x, y))) {
        let hit = match cond {
            "channels" => {
                let (t1, t2) = (v1.trim_end_matches('*'), v2.trim_end_matches('*'));
                v1 == v2
                    || match_channel(v1, t2, &fallback_channel(t2))
                    || match_channel(v2, t1, &fallback_channel(t1))
            }
            "locales" => v1 == v2,
            "versions" if v1 == v2 => true,
            "versions" if has_op(v1) && !has_op(v2) => version_matches(v1, v2)?,
            "versions" if has_op(v2) && !has_op(v1) => version_matches(v2, v1)?,
            "buildIDs" if v1 == v2 => true,
            _ => {
                let versions = cond == "versions";
                let (Some(c1), Some(c2)) = (comparable(v1, versions)?, comparable(v2, versions)?)
                else {
                    return Err(format!(
                        "Couldn't find a comparable value for one of: {v1}, {v2}"
                    ));
                };
                if versions {
                    version_matches(v1, &c2)? || version_matches(v2, &c1)?
                } else {
                    let m = |rule: &str, id: &str| {
                        BuildIdCmp::compile(rule).is_ok_and(|r| r.matches(id))
                    };
                    m(v1, &c2) || m(v2, &c1)
                }
            }
        };
        if hit {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Refuses `updateLine` groups that could both apply to one request and set the same field.
fn check_update_line_conflicts(groups: &[Value]) -> Result<(), String> {
    let mut conflicting = std::collections::BTreeSet::new();
    for g1 in groups {
        for g2 in groups {
            if g1 == g2 {
                continue;
            }
            let fields = |g: &Value| -> Vec<String> {
                g["fields"]
                    .as_object()
                    .map(|f| f.keys().cloned().collect())
                    .unwrap_or_default()
            };
            let f2 = fields(g2);
            let dupes: Vec<String> = fields(g1).into_iter().filter(|k| f2.contains(k)).collect();
            if dupes.is_empty() {
                continue;
            }
            let mut all = true;
            for cond in UPDATE_LINE_FOR {
                let list = |g: &Value| -> Option<Vec<String>> {
                    let values = g["for"].get(*cond)?.as_array()?;
                    Some(
                        values
                            .iter()
                            .filter_map(|v| v.as_str().map(str::to_owned))
                            .collect(),
                    )
                };
                // A condition one group does not set matches anything.
                let (Some(a), Some(b)) = (list(g1), list(g2)) else {
                    continue;
                };
                if !condition_overlaps(cond, &a, &b)? {
                    all = false;
                }
            }
            if all {
                conflicting.extend(dupes);
            }
        }
    }
    if conflicting.is_empty() {
        Ok(())
    } else {
        let names: Vec<String> = conflicting.into_iter().collect();
        Err(format!(
            "Multiple values found for updateLine items: {}",
            names.join(", ")
        ))
    }
}

/// Checks `blob` against its schema's rules; the error names the offending key.
pub fn check(blob: &Value) -> Result<(), String> {
    let map = object(blob, "a blob")?;
    let schema = map
        .get("schema_version")
        .and_then(Value::as_u64)
        .ok_or_else(|| "blob must have an integer schema_version".to_owned())?;
    if !super::APP_SCHEMAS.contains(&schema) {
        return check_other(map, schema);
    }
    only(map, &top_level(schema), schema, "")?;
    hash_function(map, schema, true)?;
    check_platforms(map, schema)?;
    check_file_urls(map, schema)?;
    check_app_values(map)?;
    check_update_line(map)?;
    match map.get("updateLine").and_then(Value::as_array) {
        Some(groups) => check_update_line_conflicts(groups),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn v9(groups: Value) -> Value {
        json!({"name": "r", "schema_version": 9, "hashFunction": "sha512", "updateLine": groups})
    }

    #[test]
    fn update_line_groups_that_could_both_apply_conflict() {
        let conflicts = [
            json!([{"for": {}, "fields": {"type": "minor"}},
                   {"for": {"locales": ["de"]}, "fields": {"type": "major"}}]),
            json!([{"for": {"versions": ["<31.0"]}, "fields": {"actions": "a"}},
                   {"for": {"versions": ["<30.0"]}, "fields": {"actions": "b"}}]),
            json!([{"for": {"channels": ["release*"]}, "fields": {"openURL": "a"}},
                   {"for": {"channels": ["release-cck-x"]}, "fields": {"openURL": "b"}}]),
        ];
        for groups in conflicts {
            let err = check(&v9(groups.clone())).unwrap_err();
            assert!(
                err.starts_with("Multiple values found for updateLine items"),
                "{groups}: {err}"
            );
        }
        let fine = [
            json!([{"for": {"versions": ["<31.0"]}, "fields": {"actions": "a"}},
                   {"for": {"versions": [">=31.0"]}, "fields": {"actions": "b"}}]),
            json!([{"for": {"channels": ["beta"]}, "fields": {"openURL": "a"}},
                   {"for": {"channels": ["release*"]}, "fields": {"openURL": "b"}}]),
            json!([{"for": {"locales": ["de"]}, "fields": {"type": "minor"}},
                   {"for": {"locales": ["fr", "it"]}, "fields": {"type": "major"}}]),
            json!([{"for": {}, "fields": {"type": "minor"}},
                   {"for": {}, "fields": {"actions": "showURL"}}]),
        ];
        for groups in fine {
            assert_eq!(check(&v9(groups.clone())), Ok(()), "{groups}");
        }
        // Two different plain buildIDs have no "comparable value": Balrog refuses them.
        let err = check(&v9(
            json!([{"for": {"buildIDs": ["1"]}, "fields": {"type": "minor"}},
                                   {"for": {"buildIDs": ["2"]}, "fields": {"type": "major"}}]),
        ))
        .unwrap_err();
        assert!(err.contains("comparable value"), "{err}");
    }
}
