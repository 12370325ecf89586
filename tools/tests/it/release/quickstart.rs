//! `kiln quickstart`, the README's main job, end to end through the real binary: four releases
//! shipped, and a client install taken through them by the client updater library.

use std::process::Command;

use serde_json::{json, Value};

#[test]
fn quickstart_ships_four_releases_and_takes_a_client_install_to_the_chemspill() {
    let dir = tempfile::tempdir().unwrap();
    let qs = dir.path().join("qs");
    let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .arg("quickstart")
        .arg("--dir")
        .arg(&qs)
        .arg("--json")
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
    let summary: Value = serde_json::from_str(&stdout[start..]).unwrap();
    assert_eq!(
        summary["releases"],
        json!([
            "Firefox-119.0-build1",
            "Firefox-120.0-build1",
            "Firefox-121.0-build1",
            "Firefox-121.0.1-build1"
        ])
    );
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
