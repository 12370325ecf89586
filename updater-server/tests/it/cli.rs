use std::process::Command;

use serde_json::json;

use crate::util::*;

fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_updater-server"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn user_token_and_import_commands() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kiln.db");
    let db_arg = db.to_str().unwrap();
    let (ok, _, err) = run(&[
        "user", "add", "alice", "--admin", "--role", "releng", "--db", db_arg,
    ]);
    assert!(ok, "{err}");
    let (ok, token, err) = run(&["token", "create", "--user", "alice", "--db", db_arg]);
    assert!(ok, "{err}");
    let token = token.trim().to_owned();
    assert!(token.starts_with("kiln_") && token.len() == 69, "{token}");
    let (ok, _, err) = run(&["token", "create", "--user", "nobody", "--db", db_arg]);
    assert!(!ok && err.contains("no user nobody"), "{err}");

    let releases = dir.path().join("releases");
    std::fs::create_dir(&releases).unwrap();
    std::fs::write(releases.join("a.json"), firefox_54().to_string()).unwrap();
    std::fs::write(
        releases.join("b.json"),
        json!({"blob": firefox_56(), "product": "Firefox"}).to_string(),
    )
    .unwrap();
    std::fs::write(
        releases.join("old.json"),
        json!({"name": "Old", "schema_version": 7, "hashFunction": "sha512"}).to_string(),
    )
    .unwrap();
    let rules = dir.path().join("rules.json");
    let rule_body = rule(
        10,
        "Firefox-56.0-build1",
        json!({"rule_id": 42, "data_version": 7, "alias": "fx"}),
    );
    std::fs::write(&rules, json!({"rules": [rule_body]}).to_string()).unwrap();
    let args = [
        "import",
        "--releases",
        releases.to_str().unwrap(),
        "--rules",
        rules.to_str().unwrap(),
        "--db",
        db_arg,
    ];
    for _ in 0..2 {
        let (ok, out, err) = run(&args);
        assert!(ok, "{err}");
        assert!(
            out.contains("imported 2 releases and 1 rules") && out.contains("old.json"),
            "{out}"
        );
    }
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "[{\"priority\": 1}]").unwrap();
    let (ok, _, err) = run(&[
        "import",
        "--releases",
        releases.to_str().unwrap(),
        "--rules",
        broken.to_str().unwrap(),
        "--db",
        db_arg,
    ]);
    assert!(!ok && err.contains("invalid rule"), "{err}");

    let mut server = Binary::spawn(dir.path());
    let agent = agent();
    let mut resp = agent
        .get(format!("{}/api/v1/rules/fx", server.base))
        .header("Authorization", format!("Bearer {token}"))
        .call()
        .unwrap();
    let stored: serde_json::Value =
        serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(
        (stored["rule_id"].as_i64(), stored["data_version"].as_i64()),
        (Some(42), Some(2))
    );
    let mut update = agent
        .get(format!(
            "{}{}",
            server.base,
            v6(
                "54.0.1",
                "20170628075643",
                "WINNT_x86-msvc",
                "en-US",
                "release"
            )
        ))
        .call()
        .unwrap();
    assert_eq!(update.headers()["Rule-ID"], "42");
    assert_eq!(update.body_mut().read_to_string().unwrap(), FX56_EN);
    server.child.kill().unwrap();
    server.child.wait().unwrap();
}
