//! Fuzzes the client request parsers (`query::parse` for `/update/…`, `query::parse_json` for
//! `/json/…`) and evaluates whatever they accept against a small fixed snapshot: no input may
//! panic, only be refused.
//!
//! Input: path, query string and User-Agent separated by NUL bytes.
//! Run: `cd updater-server && RUSTC_BOOTSTRAP=1 cargo fuzz run query_parse -- -max_total_time=300`.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use serde_json::json;
use updater_server::client::blob::Release;
use updater_server::config::ClientConfig;
use updater_server::client::evaluate::{evaluate, evaluate_json};
use updater_server::client::query;
use updater_server::client::snapshot::{Snapshot, SnapshotData};

fn snapshot() -> &'static Snapshot {
    static SNAPSHOT: OnceLock<Snapshot> = OnceLock::new();
    SNAPSHOT.get_or_init(|| {
        let app = json!({"name": "A", "schema_version": 4, "hashFunction": "sha512",
            "appVersion": "56.0", "displayVersion": "56.0",
            "fileUrls": {"*": {"completes": {"*": "http://a.example/%LOCALE%/%OS_FTP%"}}},
            "platforms": {"p": {"buildID": "2", "OS_FTP": "win", "locales": {"l": {
                "completes": [{"from": "*", "filesize": 1, "hashValue": "h"}]}}},
                "q": {"alias": "p"}}});
        let guardian = json!({"name": "G", "schema_version": 10000, "product": "Guardian",
            "version": "2.1", "required": false, "hashFunction": "sha512",
            "platforms": {"p": {"fileUrl": "http://a.example/g", "hashValue": "h"}}});
        let releases = [("A", app), ("G", guardian)]
            .into_iter()
            .map(|(name, blob)| Arc::new(Release::load(name, 1, &blob).unwrap()))
            .collect();
        let rule = |mapping: &str, extra: serde_json::Value| {
            let mut r = json!({"priority": 1, "backgroundRate": 50, "update_type": "minor",
                               "mapping": mapping, "fallbackMapping": mapping});
            for (k, v) in extra.as_object().unwrap() {
                r[k] = v.clone();
            }
            serde_json::from_value(r).unwrap()
        };
        Snapshot::build(SnapshotData {
            rules: vec![
                (1, 1, rule("A", json!({"version": "<60.0", "osVersion": "a && b,c", "memory": ">100"}))),
                (2, 1, rule("G", json!({"product": "Guardian", "channel": "rel*"}))),
            ],
            releases,
            shutoffs: vec![("X".into(), "release".into())],
            pins: vec![("A".into(), "release".into(), "50.".into(), "A".into())],
            ..SnapshotData::default()
        })
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\0');
    let path = parts.next().unwrap_or("");
    let qs = parts.next().unwrap_or("");
    let ua = parts.next().unwrap_or("");
    let client = ClientConfig::default();
    let mut dice = || 42;
    if let Ok(Some(q)) = query::parse(path, qs, ua) {
        let _ = evaluate(snapshot(), &q, &client, &mut dice);
    }
    if let Ok(Some(q)) = query::parse_json(path, qs) {
        let _ = evaluate_json(snapshot(), &q, &client, &mut dice);
    }
});
