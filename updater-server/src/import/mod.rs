//! The offline `import` command: Balrog release blobs (one JSON file each), a Balrog rules
//! export, and optionally its emergency shutoffs and pinnable releases, loaded in one transaction
//! so an import is all-or-nothing. Rule ids are kept. Blobs are loaded as Balrog's database holds
//! them, below the admin API's schema check.

use std::path::Path;

use serde_json::Value;

use crate::admin::auth::Actor;
use crate::admin::shutoffs::{create_shutoff, ShutoffBody};
use crate::admin::{releases, rules, Mode};
use crate::config::Allowlist;
use crate::error::{Error, Result};
use crate::store::{Permission, PermissionOptions, Pin, Store};

pub mod copy;

/// What an import did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// Releases created or replaced.
    pub releases: usize,
    /// Release files skipped because Kiln does not serve their schema.
    pub skipped_releases: Vec<String>,
    /// Rules created or replaced.
    pub rules: usize,
    /// Emergency shutoffs created (existing ones are kept).
    pub shutoffs: usize,
    /// Pinnable releases created or replaced.
    pub pins: usize,
}

/// What to import: the files of a Balrog export.
#[derive(Debug, Clone, Copy)]
pub struct Dump<'a> {
    /// Directory of release JSON files (a bare blob, or `{"blob": …, "product": …}`).
    pub releases: &'a Path,
    /// Rules: a JSON array, or `{"rules": […]}`.
    pub rules: &'a Path,
    /// Emergency shutoffs: a JSON array of `{product, channel, comment?}`.
    pub shutoffs: Option<&'a Path>,
    /// Pinnable releases: a JSON array of `{product, channel, version, mapping}`.
    pub pins: Option<&'a Path>,
}

fn read_array(path: Option<&Path>) -> Result<Vec<Value>> {
    match path {
        None => Ok(Vec::new()),
        Some(path) => match read_json(path)? {
            Value::Array(list) => Ok(list),
            _ => Err(Error::Invalid(format!(
                "{}: must be a JSON array",
                path.display()
            ))),
        },
    }
}

fn field(row: &Value, key: &str) -> Result<String> {
    row.get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| Error::Invalid(format!("{key} missing in {row}")))
}

fn importer() -> Actor {
    Actor {
        username: "import".to_owned(),
        permissions: vec![Permission {
            username: "import".to_owned(),
            permission: "admin".to_owned(),
            options: PermissionOptions::default(),
            data_version: 1,
        }],
        roles: Vec::new(),
    }
}

fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))
}

/// Imports every `*.json` release in `releases_dir` (a bare blob, or `{"blob": …, "product": …}`)
/// and then the rules in `rules_file` (a JSON array, or `{"rules": […]}`). `allowlist`, when given,
/// validates release URLs like the admin API does.
pub fn import(
    store: &Store,
    releases_dir: &Path,
    rules_file: &Path,
    allowlist: Option<&Allowlist>,
) -> Result<ImportReport> {
    let dump = Dump {
        releases: releases_dir,
        rules: rules_file,
        shutoffs: None,
        pins: None,
    };
    import_dump(store, &dump, allowlist)
}

/// Imports a whole [`Dump`] in one transaction (see [`import`]).
pub fn import_dump(
    store: &Store,
    dump: &Dump<'_>,
    allowlist: Option<&Allowlist>,
) -> Result<ImportReport> {
    let (releases_dir, rules_file) = (dump.releases, dump.rules);
    let shutoffs = read_array(dump.shutoffs)?;
    let pins = read_array(dump.pins)?;
    let mut files: Vec<_> = std::fs::read_dir(releases_dir)
        .map_err(|e| Error::Invalid(format!("{}: {e}", releases_dir.display())))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let rules_doc = read_json(rules_file)?;
    let rule_list = match rules_doc {
        Value::Array(list) => list,
        Value::Object(mut map) => match map.remove("rules") {
            Some(Value::Array(list)) => list,
            _ => {
                return Err(Error::Invalid(
                    "the rules file must be an array or {\"rules\": [...]}".to_owned(),
                ))
            }
        },
        _ => {
            return Err(Error::Invalid(
                "the rules file must be an array or {\"rules\": [...]}".to_owned(),
            ))
        }
    };
    let actor = importer();
    store.write(None, |tx| {
        let mut report = ImportReport::default();
        for path in &files {
            let doc = read_json(path)?;
            let (blob, product) = match doc.get("blob") {
                Some(blob) if blob.is_object() => {
                    (blob.clone(), doc.get("product").and_then(Value::as_str).map(str::to_owned))
                }
                _ => (doc.clone(), None),
            };
            let schema = blob.get("schema_version").and_then(Value::as_u64).unwrap_or(0);
            if !crate::client::blob::is_served_schema(schema) {
                tracing::warn!(file = %path.display(), schema, "skipping release with an unsupported schema");
                report.skipped_releases.push(path.display().to_string());
                continue;
            }
            let name = blob
                .get("name")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| Error::Invalid(format!("{}: blob has no name", path.display())))?;
            let data_version = tx.release(&name)?.map(|r| r.data_version);
            let body = releases::PutRelease { blob, product, data_version };
            releases::put(tx, &actor, Mode::Import, allowlist, &name, body)
                .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
            report.releases += 1;
        }
        for rule in rule_list {
            let mut map = crate::admin::object(rule)?;
            let id = crate::admin::take_i64(&mut map, "rule_id")?;
            map.remove("data_version");
            let existing = match id {
                Some(id) => tx.rule(id)?,
                None => None,
            };
            match existing {
                Some(current) => {
                    map.insert("data_version".to_owned(), Value::from(current.data_version));
                    rules::update(tx, &actor, Mode::Import, &current.rule_id.to_string(), Value::Object(map))?;
                }
                None => {
                    if let Some(id) = id {
                        map.insert("rule_id".to_owned(), Value::from(id));
                    }
                    rules::create(tx, &actor, Mode::Import, Value::Object(map))?;
                }
            }
            report.rules += 1;
        }
        for row in &shutoffs {
            let (product, channel) = (field(row, "product")?, field(row, "channel")?);
            if tx.shutoff(&product, &channel)?.is_some() {
                continue;
            }
            let comment = row.get("comment").and_then(Value::as_str).map(str::to_owned);
            let body = ShutoffBody {
                product,
                channel,
                comment,
                data_version: None,
            };
            create_shutoff(tx, &actor, &body)?;
            report.shutoffs += 1;
        }
        for row in &pins {
            let (product, channel) = (field(row, "product")?, field(row, "channel")?);
            let (version, mapping) = (field(row, "version")?, field(row, "mapping")?);
            let data_version = tx
                .pin(&product, &channel, &version)?
                .map_or(1, |p| p.data_version + 1);
            let pin = Pin {
                product,
                channel,
                version,
                mapping,
                data_version,
            };
            tx.put_pin(&pin)?;
            let key = format!("{}/{}/{}", pin.product, pin.channel, pin.version);
            let value = serde_json::to_value(&pin).map_err(|e| Error::Internal(e.to_string()))?;
            tx.add_history("pinnable_release", &key, &actor.username, Some(data_version), Some(&value))?;
            report.pins += 1;
        }
        Ok(report)
    })
}
