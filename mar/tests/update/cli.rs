use std::process::Command;

use crate::trees::{fixtures, install_copy, snapshot, update_fixture};

fn mar() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mar"))
}

#[test]
fn apply_exit_codes_are_firefox_error_codes() {
    let key = fixtures().join("keys/rsa4096-public.pem");
    let partial = update_fixture("firefox-119.0-120.0.partial.mar");
    let install = install_copy("install-119.0");
    std::fs::write(install.path().join("libxul.so"), vec![0u8; 65536]).unwrap();
    let before = snapshot(install.path());
    let status = mar()
        .args(["update", "apply"])
        .arg(install.path())
        .arg(&partial)
        .arg("--key")
        .arg(&key)
        .output()
        .unwrap();
    assert_eq!(
        status.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert_eq!(snapshot(install.path()), before);
    let status = mar()
        .args(["update", "apply", "--current-version", "121.0"])
        .arg(install.path())
        .arg(&partial)
        .arg("--key")
        .arg(&key)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(23));
    let good = install_copy("install-119.0");
    let status = mar()
        .args(["update", "apply"])
        .arg(good.path())
        .arg(&partial)
        .arg("--key")
        .arg(&key)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(
        snapshot(good.path()),
        snapshot(install_copy("install-120.0").path())
    );
    let status = mar()
        .args(["update", "recover"])
        .arg(good.path())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn complete_and_partial_print_json_decisions() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (install_copy("install-119.0"), install_copy("install-120.0"));
    let complete = dir.path().join("c.mar");
    let out = mar()
        .args([
            "update",
            "complete",
            "-H",
            "kiln-test",
            "-V",
            "120.0",
            "--json",
            "--dir",
        ])
        .arg(new.path())
        .arg("-o")
        .arg(&complete)
        .output()
        .unwrap();
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["kind"], "complete");
    // Partial from a tree to the complete MAR just made.
    let out = mar()
        .args([
            "update",
            "partial",
            "-H",
            "kiln-test",
            "-V",
            "120.0",
            "--json",
            "--from",
        ])
        .arg(old.path())
        .arg("--to")
        .arg(&complete)
        .arg("--cache")
        .arg(dir.path().join("cache"))
        .arg("-o")
        .arg(dir.path().join("p.mar"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let libxul = json["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "libxul.so")
        .unwrap();
    assert_eq!(libxul["decision"], "patch");
    assert_eq!(json["cache"]["hits"], 0);
    assert_eq!(json["cache"]["inserted"], json["cache"]["misses"]);
}
