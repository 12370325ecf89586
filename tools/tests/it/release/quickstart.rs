//! `kiln quickstart`, the README's main job, end to end through the real binary: four releases
//! shipped, and a client install taken through them by the client updater library; and the same
//! on two `kiln worker` processes sharing a PostgreSQL state database and an S3 bucket.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

use super::s3::S3Server;
use super::story::kiln_ok;
use super::workers::{FreshDb, POSTGRES};

const RELEASES: [&str; 4] = [
    "Firefox-119.0-build1",
    "Firefox-120.0-build1",
    "Firefox-121.0-build1",
    "Firefox-121.0.1-build1",
];

/// Runs `kiln quickstart --dir <dir>/qs --json ARGS` and returns its directory and JSON summary.
fn quickstart(dir: &Path, args: &[&str]) -> (PathBuf, Value) {
    let qs = dir.join("qs");
    let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .arg("quickstart")
        .arg("--dir")
        .arg(&qs)
        .arg("--json")
        .args(args)
        .output()
        .expect("run kiln quickstart");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The JSON summary is printed last, after the human-readable lines.
    let start = stdout.rfind("\n{\n").expect("a JSON summary") + 1;
    (qs, serde_json::from_str(&stdout[start..]).unwrap())
}

#[test]
fn quickstart_ships_four_releases_and_takes_a_client_install_to_the_chemspill() {
    let dir = tempfile::tempdir().unwrap();
    let (qs, summary) = quickstart(dir.path(), &[]);
    assert_eq!(summary["releases"], json!(RELEASES));
    assert!(summary.get("made_by").is_none(), "{summary}");
    let path: Vec<&str> = summary["client_path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| step.as_str().unwrap())
        .collect();
    assert_eq!(path.len(), 4, "{path:?}");
    assert_eq!(
        path[..3],
        ["119.0 (installed)", "120.0 (partial)", "121.0 (partial)"]
    );
    assert!(
        path[3].starts_with("121.0.1 (complete, after the partial failed"),
        "{path:?}"
    );
    // The client install is exactly the shipped 121.0.1 build (apart from the updater's own
    // `updates/` directory).
    let fresh = tempfile::tempdir().unwrap();
    l10n_repack::extract(
        &qs.join("pub/releases/121.0.1/linux-x86_64/de/firefox-121.0.1.tar.xz"),
        fresh.path(),
    )
    .unwrap();
    let mut installed = kiln_test_support::snapshot(&qs.join("client/firefox"));
    installed.retain(|path, _| path != "updates" && !path.starts_with("updates/"));
    assert_eq!(
        installed,
        kiln_test_support::snapshot(&fresh.path().join("firefox"))
    );
}

#[test]
fn quickstart_on_two_workers_postgres_and_a_bucket_ships_four_releases_made_by_both() {
    let _one = POSTGRES.lock().unwrap_or_else(|e| e.into_inner());
    let s3 = S3Server::start();
    let db = FreshDb::new("quickstart");
    let dir = tempfile::tempdir().unwrap();
    let (qs, summary) = quickstart(
        dir.path(),
        &[
            "--workers",
            "2",
            "--state-db",
            &db.url,
            "--store",
            "s3://kiln/quickstart",
            "--store-endpoint",
            &s3.endpoint(),
        ],
    );
    assert_eq!(summary["releases"], json!(RELEASES));
    let path = summary["client_path"].as_array().unwrap();
    assert_eq!(path.len(), 4, "{summary}");
    assert!(
        path[3].as_str().unwrap().starts_with("121.0.1 (complete"),
        "{summary}"
    );
    let config = qs.join("kiln.toml");
    let written = std::fs::read_to_string(&config).unwrap();
    assert!(written.contains(&db.url), "{written}");
    assert!(written.contains("executor = \"workers\""), "{written}");

    // Each release's distributed stages were made by the workers, and both of them made some.
    let mut makers = BTreeSet::new();
    for release in RELEASES {
        let status: Value =
            serde_json::from_str(&kiln_ok(&config, &["status", release, "--json"])).unwrap();
        let made_by = status[0]["made_by"].as_object().unwrap();
        for (key, maker) in made_by {
            let stage = key.split('/').next().unwrap();
            if ["construct", "certify"].contains(&stage) {
                let maker = maker.as_str().unwrap();
                assert!(maker.starts_with("worker-"), "{release} {key}: {maker}");
                makers.insert(maker.to_owned());
            }
        }
    }
    assert_eq!(
        makers,
        BTreeSet::from(["worker-1".to_owned(), "worker-2".to_owned()])
    );
    // The summary counts the same makers' items.
    for worker in ["worker-1", "worker-2"] {
        assert!(
            summary["made_by"][worker].as_u64().unwrap() > 0,
            "{summary}"
        );
    }
    // Everything shipped is in the bucket: a host that fetches releases/ gets the same files.
    let mut elsewhere = kiln_tools::release::config::Config::load(&config).unwrap();
    elsewhere.root = dir.path().join("elsewhere/pub");
    elsewhere.work_dir = dir.path().join("elsewhere/work");
    let store = kiln_tools::release::store::Store::open(&elsewhere).unwrap();
    store.pull(&elsewhere.root.join("releases")).unwrap();
    assert_eq!(
        kiln_test_support::snapshot(&elsewhere.root.join("releases")),
        kiln_test_support::snapshot(&qs.join("pub/releases"))
    );
}
