//! The admin API's blob validation: which keys each Balrog schema allows at each level of a blob
//! (after `src/auslib/blobs/schemas/apprelease-v*.yml` and `desupport.yml`), required keys, the
//! shapes that changed between schemas (`fileUrls`, `ftpFilenames`, `updateLine`) and platform
//! aliases. Value types are checked by deserialising ([`super::Release::load`]), which accepts
//! what the schemas accept (`buildID` and `filesize` as string or number).

use serde_json::{Map, Value};

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
        only(platform, PLATFORM, schema, "in a platform ")?;
        if let Some(target) = platform.get("alias") {
            if platform.len() > 1 {
                return Err(format!(
                    "platform '{name}' is an alias and may carry nothing else"
                ));
            }
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
        }
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

/// Checks `blob` against its schema's rules; the error names the offending key.
pub fn check(blob: &Value) -> Result<(), String> {
    let map = object(blob, "a blob")?;
    let schema = map
        .get("schema_version")
        .and_then(Value::as_u64)
        .ok_or_else(|| "blob must have an integer schema_version".to_owned())?;
    if schema == 50 {
        return only(map, DESUPPORT, schema, "");
    }
    only(map, &top_level(schema), schema, "")?;
    if !map.contains_key("hashFunction") {
        return Err(format!("hashFunction is required in schema {schema} blobs"));
    }
    check_platforms(map, schema)?;
    check_file_urls(map, schema)?;
    check_update_line(map)
}
