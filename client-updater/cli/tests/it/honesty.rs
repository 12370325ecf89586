//! `succeeded` only for the build that was offered: whatever the archive installs must carry the
//! offer's version and build ID (read back from the tree's `application.ini`) before it is
//! committed, else the update fails (22), the install stays exactly old, and `kiln-client start`
//! exits 1.

use crate::util::*;

const OLD: (&str, &str) = ("120.0", "20231113000000");
const NEW: (&str, &str) = ("121.0", "20231211000000");
/// What the archive really installs: version 121.0, but another build.
const OTHER_BUILD: &str = "20231211999999";

/// A 120.0 install offered 121.0 (build [`NEW`]) by a complete that installs 121.0 with build
/// ID `installs`.
fn offered(installs: &'static str) -> (tempfile::TempDir, Snapshot, TestServer) {
    let server = TestServer::start();
    let config = config(vec![server.url("/update.xml")]);
    let (dir, before) = install(&BuildSpec::new(OLD.0, OLD.1), &config);
    let tree = build_tree(&BuildSpec::new(NEW.0, installs), Some(&config));
    let mar = complete(&tree, &MarSpec::new(NEW.0));
    server.route("/c.mar", Reply::ok(mar.clone()));
    let xml = update_xml(
        NEW.0,
        NEW.1,
        "",
        &[patch_xml("complete", &server.url("/c.mar"), &mar)],
    );
    server.route(
        "/update.xml",
        Reply::signed(xml, &keys().response, now_secs() + 600),
    );
    (dir, before, server)
}

/// `kiln-client update <flag>` must exit 0 with `result`.
fn update_ok(install: &str, flag: &str, result: &str) {
    let (code, json) = run_json(&["update", "--install", install, flag, "--json"]);
    assert_eq!((code, json["result"].as_str()), (0, Some(result)), "{json}");
}

/// Replaces `from` by `to` in the text file `path`.
fn edit(path: &std::path::Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    std::fs::write(path, text.replace(from, to)).unwrap();
}

/// `kiln-client start`, which must exit 1 and say `why` on stderr: what it prints.
fn start_fails(install: &str, why: &str) -> String {
    let out = kiln_client(&["start", "--install", install]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(why),
        "{out:?}"
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn a_pending_update_that_installs_another_build_fails_at_start_with_exit_1() {
    let (dir, before, _server) = offered(OTHER_BUILD);
    let install = path_str(dir.path());
    update_ok(install, "--no-stage", "pending");
    // What runs is still the old build, exactly.
    assert_eq!(
        start_fails(install, "update failed: 22"),
        format!("Firefox {} ({})", OLD.0, OLD.1)
    );
    assert_eq!(status_of(dir.path()), "failed: 22");
    assert_tree(dir.path(), &before);
}

#[test]
fn a_staged_update_that_installs_another_build_is_refused_before_the_swap() {
    let (dir, before, _server) = offered(OTHER_BUILD);
    let install = path_str(dir.path());
    let (code, json) = run_json(&["update", "--install", install, "--stage", "--json"]);
    assert_eq!((code, json["code"].as_u64()), (1, Some(22)), "{json}");
    assert!(
        json["error"]
            .as_str()
            .unwrap_or("")
            .contains(&format!("not the expected {} ({})", NEW.0, NEW.1)),
        "{json}"
    );
    assert_eq!(status_of(dir.path()), "failed: 22");
    assert_tree(dir.path(), &before);
    assert!(!dir.path().join("updated").exists());
    assert_eq!(start(dir.path()), format!("Firefox {} ({})", OLD.0, OLD.1));
}

#[test]
fn a_staged_copy_changed_before_the_swap_is_rolled_back_and_start_exits_1() {
    let (dir, before, _server) = offered(NEW.1);
    let install = path_str(dir.path());
    update_ok(install, "--stage", "applied");
    // The staged copy no longer is the offered build when the application starts.
    edit(
        &dir.path().join("updated/application.ini"),
        NEW.1,
        OTHER_BUILD,
    );
    assert_eq!(
        start_fails(install, "update failed: 22"),
        format!("Firefox {} ({})", OLD.0, OLD.1)
    );
    assert_eq!(status_of(dir.path()), "failed: 22");
    // Exactly the old tree: the swap was undone and the bad staged copy removed.
    assert_tree(dir.path(), &before);
    assert!(!dir.path().join("updated").exists());
}

#[test]
fn a_pending_update_older_than_the_install_is_discarded_and_start_exits_1() {
    let (dir, _, _server) = offered(NEW.1);
    let install = path_str(dir.path());
    update_ok(install, "--no-stage", "pending");
    // Meanwhile a newer build was installed by other means.
    edit(&dir.path().join("application.ini"), OLD.0, "122.0");
    let newer = snapshot(dir.path());
    start_fails(install, "stale update discarded");
    assert_eq!(status_of(dir.path()), "failed: 23");
    assert_tree(dir.path(), &newer);
}
