//! `mar update`: Firefox's error codes as exit codes, JSON decisions, and a diff cache shared by
//! two processes.

use crate::util::{fixture, install_copy, mar, run_ok, snapshot, update_fixture};

#[test]
fn apply_exit_codes_are_firefox_error_codes() {
    let key = fixture("keys/rsa4096-public.pem");
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

#[test]
fn two_processes_sharing_a_cache_produce_correct_output() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (install_copy("install-119.0"), install_copy("install-120.0"));
    let cache = dir.path().join("cache");
    let key = dir.path().join("release");
    run_ok(mar().arg("keygen").arg("-o").arg(&key));
    let spawn = |out: &str| {
        mar()
            .args([
                "update",
                "partial",
                "-H",
                "firefox-mozilla-release",
                "-V",
                "120.0",
                "--json",
            ])
            .arg("--from")
            .arg(old.path())
            .arg("--to")
            .arg(new.path())
            .arg("--cache")
            .arg(&cache)
            .arg("--sign-key")
            .arg(dir.path().join("release.key"))
            .arg("-o")
            .arg(dir.path().join(out))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn("a.mar"), spawn("b.mar"));
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    for out in [&a, &b] {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
    }
    let bytes = std::fs::read(dir.path().join("a.mar")).unwrap();
    assert_eq!(bytes, std::fs::read(dir.path().join("b.mar")).unwrap());
    for out in ["a.mar", "b.mar"] {
        let install = install_copy("install-119.0");
        run_ok(
            mar()
                .args(["update", "apply"])
                .arg(install.path())
                .arg(dir.path().join(out))
                .arg("--key")
                .arg(dir.path().join("release.pub")),
        );
        assert_eq!(snapshot(install.path()), snapshot(new.path()));
    }
    // Exactly one patch entry per diffed file (beside the remembered full sizes), and no
    // temporary files left behind.
    let json: serde_json::Value = serde_json::from_slice(&a.stdout).unwrap();
    // A diffed file is patched, or added whole with the size of the patch it lost to.
    let diffed = json["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["decision"] == "patch" || !f["patch_bytes"].is_null())
        .count();
    assert!(diffed > 0, "{json}");
    let entries: Vec<String> = kiln_test_support::files(&cache).into_keys().collect();
    let name = |path: &String| path.rsplit('/').next().unwrap().to_owned();
    assert_eq!(
        entries.iter().filter(|p| p.ends_with(".kpatch")).count(),
        diffed,
        "{entries:?}"
    );
    assert!(
        !entries.iter().any(|p| name(p).starts_with(".tmp-")),
        "{entries:?}"
    );
}
