//! Fuzzes the blob deserialiser and validator (`Release::load`, `Release::parse`) and renders
//! every blob that loads for a few fixed requests: no blob, however malformed, may panic the
//! server, only be refused or answered with an error.
//!
//! Run: `cd updater-server && RUSTC_BOOTSTRAP=1 cargo fuzz run blob_load -- -max_total_time=300`.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use updater_server::client::blob::Release;
use updater_server::config::{Allowlist, ClientConfig};
use updater_server::client::evaluate::{evaluate, evaluate_json};
use updater_server::client::query;
use updater_server::client::snapshot::{Snapshot, SnapshotData};

const PATHS: &[&str] = &[
    "/update/6/P/1.0/1/p/l/release/os/SSE3/d/1/update.xml",
    "/update/1/P/3.0/1/q/l/release-cck-x/update.xml",
    "/update/3/P/99.0/9/p/de/beta/os/d/1/update.xml",
];

fuzz_target!(|data: &[u8]| {
    let Ok(blob) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let _ = Release::parse("R", 1, &blob, Some(&Allowlist::default()));
    let Ok(release) = Release::load("R", 1, &blob) else {
        return;
    };
    let rule = serde_json::from_value(json!({"priority": 1, "backgroundRate": 100,
        "update_type": "minor", "mapping": "R"}))
    .unwrap();
    let snapshot = Snapshot::build(SnapshotData {
        rules: vec![(1, 1, rule)],
        releases: vec![Arc::new(release)],
        ..SnapshotData::default()
    });
    let client = ClientConfig::default();
    let mut dice = || 0;
    for path in PATHS {
        if let Ok(Some(q)) = query::parse(path, "force=1&pin=1.", "") {
            let _ = evaluate(&snapshot, &q, &client, &mut dice);
        }
    }
    if let Ok(Some(q)) = query::parse_json("/json/1/P/1.0/p/release/update.json", "") {
        let _ = evaluate_json(&snapshot, &q, &client, &mut dice);
    }
});
