//! The `user`, `token`, `import`, `migrate` and `copy` commands of the real binary.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;

use crate::cluster::Replica;
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

/// A Balrog dump: two releases, one of an unsupported schema, and rule 42 (alias `fx`).
fn write_dump(dir: &Path) -> (PathBuf, PathBuf) {
    let releases = dir.join("releases");
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
    let rules = dir.join("rules.json");
    let rule_body = rule(
        10,
        "Firefox-56.0-build1",
        json!({"rule_id": 42, "data_version": 7, "alias": "fx"}),
    );
    std::fs::write(&rules, json!({"rules": [rule_body]}).to_string()).unwrap();
    (releases, rules)
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

    let (releases, rules) = write_dump(dir.path());
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

/// `migrate` on an empty PostgreSQL database applies every migration, then has nothing to do;
/// `import` loads a Balrog dump into SQLite, `copy` moves it to PostgreSQL (ids, versions, users,
/// tokens and history kept; a second copy into the now non-empty database is refused) and back
/// to a new SQLite file. Servers on both answer the same, and a new rule on PostgreSQL gets the
/// next id.
#[test]
fn migrate_import_and_copy_between_sqlite_and_postgres() {
    super::util::run(Backend::Postgres, || {
        let dir = tempfile::tempdir().unwrap();
        let pg = fresh_postgres();
        let (ok, out, err) = run(&["migrate", "--db", &pg]);
        assert!(ok && out.contains("applied [1, 2]"), "{out} {err}");
        let (ok, out, err) = run(&["migrate", "--db", &pg]);
        assert!(ok && out.contains("up to date"), "{out} {err}");

        let sqlite = dir.path().join("kiln.db");
        let sqlite_arg = sqlite.to_str().unwrap();
        assert!(run(&["user", "add", "alice", "--admin", "--db", sqlite_arg]).0);
        let (ok, token, err) = run(&["token", "create", "--user", "alice", "--db", sqlite_arg]);
        assert!(ok, "{err}");
        let token = token.trim().to_owned();
        let (releases, rules) = write_dump(dir.path());
        let (ok, out, err) = run(&[
            "import",
            "--releases",
            releases.to_str().unwrap(),
            "--rules",
            rules.to_str().unwrap(),
            "--db",
            sqlite_arg,
        ]);
        assert!(
            ok && out.contains("imported 2 releases and 1 rules"),
            "{out} {err}"
        );

        let (ok, out, err) = run(&["copy", "--from", sqlite_arg, "--to", &pg]);
        assert!(ok, "{err}");
        assert!(
            out.contains("releases: 2 row(s)") && out.contains("rules: 1 row(s)"),
            "{out}"
        );
        assert!(out.contains("tokens: 1 row(s)"), "{out}");
        let (ok, _, err) = run(&["copy", "--from", sqlite_arg, "--to", &pg]);
        assert!(!ok && err.contains("the destination is not empty"), "{err}");

        let back = tempfile::tempdir().unwrap();
        let back_db = back.path().join("kiln.db");
        let (ok, out, err) = run(&["copy", "--from", &pg, "--to", back_db.to_str().unwrap()]);
        assert!(ok && out.contains("rules: 1 row(s)"), "{out} {err}");

        let on_pg = Replica::spawn(dir.path(), &pg, &token);
        let mut on_sqlite = Binary::spawn(back.path());
        let agent = agent();
        let fx = on_pg.api("GET", "/rules/fx", None).json();
        assert_eq!(
            (fx["rule_id"].as_i64(), fx["data_version"].as_i64()),
            (Some(42), Some(1))
        );
        let pg_history = on_pg.api("GET", "/history", None).json();
        for base in [&on_pg.base, &on_sqlite.base] {
            let resp = to_resp(agent.get(format!("{base}{}", update_path())).call());
            assert_eq!(resp.header("Rule-ID"), Some("42"));
            assert_eq!(resp.body, FX56_EN);
            let history = to_resp(
                agent
                    .get(format!("{base}/api/v1/history"))
                    .header("Authorization", &format!("Bearer {token}"))
                    .call(),
            )
            .json();
            assert_eq!(history["count"], pg_history["count"], "{base}");
        }
        let added = on_pg.api(
            "POST",
            "/rules",
            Some(rule(5, "Firefox-54.0.1-build1", json!({"channel": "beta"}))),
        );
        assert!(added.status < 300, "{}", added.body);
        assert_eq!(added.json()["rule_id"], 43);
        on_sqlite.child.kill().unwrap();
        on_sqlite.child.wait().unwrap();

        let fresh = fresh_postgres();
        let (ok, out, err) = run(&[
            "import",
            "--releases",
            releases.to_str().unwrap(),
            "--rules",
            rules.to_str().unwrap(),
            "--db",
            &fresh,
        ]);
        assert!(
            ok && out.contains("imported 2 releases and 1 rules"),
            "{out} {err}"
        );
    });
}

/// Rows written before writes were checked (here: imported, which loads blobs as Balrog's
/// database holds them) can hold text the update document cannot carry: `check` lists each with
/// the field's path and exits 1, and the server skips such a release (no update, an error in
/// its log) instead of answering every request for its rule with an error.
#[test]
fn check_lists_releases_that_cannot_be_served_and_serving_skips_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kiln.db");
    let db_arg = db.to_str().unwrap();
    let releases = dir.path().join("releases");
    std::fs::create_dir(&releases).unwrap();
    let mut nul = firefox_56();
    nul["displayVersion"] = json!("56.0\u{0}");
    let mut quote = firefox_54();
    quote["platforms"]["WINNT_x86-msvc"]["OS_BOUNCER"] = json!("win\"/><patch URL=\"x");
    for (file, blob) in [("nul.json", nul), ("quote.json", quote)] {
        std::fs::write(releases.join(file), blob.to_string()).unwrap();
    }
    std::fs::write(releases.join("ok.json"), firefox_70().to_string()).unwrap();
    let rules = dir.path().join("rules.json");
    let body = rule(10, "Firefox-56.0-build1", json!({"rule_id": 1}));
    std::fs::write(&rules, json!({"rules": [body]}).to_string()).unwrap();
    let (ok, _, err) = run(&[
        "import",
        "--releases",
        releases.to_str().unwrap(),
        "--rules",
        rules.to_str().unwrap(),
        "--db",
        db_arg,
    ]);
    assert!(ok, "{err}");
    let out = Command::new(env!("CARGO_BIN_EXE_updater-server"))
        .args(["check", "--db", db_arg])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert_eq!(
        stdout,
        "Firefox-54.0.1-build1: platforms.WINNT_x86-msvc.OS_BOUNCER holds '\"', which an XML attribute cannot hold\n\
         Firefox-56.0-build1: displayVersion holds the control character U+0000\n\
         3 release(s) checked, 2 cannot be served as stored\n"
    );
    // Served, the bad release is skipped: an empty document, not an error.
    let server = Binary::spawn(dir.path());
    let resp = to_resp(
        agent()
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
            .call(),
    );
    assert_eq!((resp.status, resp.body.as_str()), (200, EMPTY));
    // A database without such rows checks clean.
    let clean = dir.path().join("clean.db");
    let (ok, out, err) = run(&["check", "--db", clean.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("0 release(s) checked, 0 cannot be served"),
        "{out}"
    );
}
