//! Crash safety: `kiln-client` (its `client-updater` built with the `crash-points` feature, a
//! dev-dependency of this package) is SIGKILLed at every crash point in turn — download, verify,
//! staging, the swap at start, and the in-place apply at start (including `mar`'s applier
//! points) — then `kiln-client start` runs. The install must be
//! exactly the old or exactly the new build, and `update.status` is `succeeded` exactly when it is
//! the new one.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::util::*;

struct World {
    server: TestServer,
    old: Snapshot,
    new: Snapshot,
}

fn world() -> World {
    let server = TestServer::start();
    let config = config(vec![server.url("/update.xml")]);
    let old = build_tree(&BuildSpec::new("120.0", "20231113000000"), Some(&config));
    let new = build_tree(&BuildSpec::new("121.0", "20231211000000"), Some(&config));
    let complete_mar = complete(&new, &MarSpec::new("121.0"));
    let partial_mar = partial(&old, &new, &MarSpec::new("121.0"));
    server.route("/c.mar", Reply::ok(complete_mar.clone()));
    server.route("/p.mar", Reply::ok(partial_mar.clone()));
    let c = patch_xml("complete", &server.url("/c.mar"), &complete_mar);
    let p = patch_xml("partial", &server.url("/p.mar"), &partial_mar);
    let expires = now_secs() + 3600;
    server.route(
        "/update.xml",
        Reply::signed(
            update_xml("121.0", "20231211000000", "", &[c.clone(), p]),
            &keys().response,
            expires,
        ),
    );
    server.route(
        "/complete.xml",
        Reply::signed(
            update_xml("121.0", "20231211000000", "", &[c]),
            &keys().response,
            expires,
        ),
    );
    World { server, old, new }
}

/// Runs `kiln-client args`; with `kill_at`, SIGKILLs it at that crash point. Returns whether it
/// was killed, and the number of crash points a complete run passed.
fn run(args: &[String], kill_at: Option<usize>) -> (bool, usize) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kiln-client"));
    cmd.args(args).stdout(Stdio::null()).stderr(Stdio::piped());
    // 0: count the points without stopping at any.
    cmd.env("KILN_CLIENT_KILL_AT", kill_at.unwrap_or(0).to_string());
    let mut child = cmd.spawn().unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut passed = 0;
    for line in stderr.lines() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("KILN-KILL-POINT ") {
            assert_eq!(Some(n.parse().unwrap()), kill_at);
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            return (true, 0);
        }
        if let Some(n) = line.strip_prefix("KILN-KILL-POINT-PASSED ") {
            passed = n.parse().unwrap();
        }
    }
    child.wait().unwrap();
    (false, passed)
}

fn args(cmd: &str, install: &std::path::Path, extra: &[&str]) -> Vec<String> {
    let mut a = vec![
        cmd.to_owned(),
        "--install".to_owned(),
        path_str(install).to_owned(),
    ];
    a.extend(extra.iter().map(|s| (*s).to_owned()));
    a
}

/// One phase: `prepare` runs unkilled on a fresh install, then `victim` is killed at each of
/// its points, then `start` must leave the install exactly old or exactly new. Returns the number
/// of points, and how many runs ended new.
fn phase(w: &World, prepare: &[Vec<&str>], victim: &[&str]) -> (usize, usize) {
    let fresh = || {
        let dir = tempfile::tempdir().unwrap();
        materialize(dir.path(), &w.old);
        for p in prepare {
            let (killed, _) = run(&args(p[0], dir.path(), &p[1..]), None);
            assert!(!killed);
        }
        dir
    };
    let probe = fresh();
    let (_, points) = run(&args(victim[0], probe.path(), &victim[1..]), None);
    assert!(points > 0, "{victim:?} passed no crash point");
    let mut ended_new = 0;
    for n in 1..=points {
        let dir = fresh();
        let (killed, _) = run(&args(victim[0], dir.path(), &victim[1..]), Some(n));
        assert!(
            killed,
            "{victim:?}: crash point {n} of {points} not reached"
        );
        let (killed, _) = run(&args("start", dir.path(), &[]), None);
        assert!(!killed);
        let status = status_of(dir.path());
        if status == "succeeded" {
            assert_tree(dir.path(), &w.new);
            ended_new += 1;
        } else {
            assert_tree(dir.path(), &w.old);
        }
    }
    (points, ended_new)
}

#[test]
fn sigkill_at_every_crash_point_leaves_exactly_old_or_exactly_new() {
    let w = world();
    let complete_url = w.server.url("/complete.xml");
    let mut total = 0;
    // 1. Download, verify and staging (partial), killed; then start.
    let (n, new) = phase(&w, &[], &["update", "--stage"]);
    eprintln!("update --stage: {n} points, {new} ended new");
    assert!(0 < new && new < n, "both outcomes occur");
    total += n;
    // 2. Download and verify of a complete left pending, killed; then start.
    let (n, new) = phase(&w, &[], &["update", "--no-stage", "--url", &complete_url]);
    eprintln!("update --no-stage (complete): {n} points, {new} ended new");
    assert!(0 < new && new < n, "both outcomes occur");
    total += n;
    // 3. The swap of a staged update at start, killed; then start again.
    let (n, new) = phase(&w, &[vec!["update", "--stage"]], &["start"]);
    assert_eq!(new, n, "a killed swap is finished by the next start");
    eprintln!("start (swap): {n} points");
    total += n;
    // 4. The in-place apply of a pending partial at start, killed; then start again.
    let (n, new) = phase(&w, &[vec!["update", "--no-stage"]], &["start"]);
    assert_eq!(new, n);
    eprintln!("start (partial in place): {n} points");
    total += n;
    // 5. The in-place apply of a pending complete at start, killed; then start again.
    let (n, new) = phase(
        &w,
        &[vec!["update", "--no-stage", "--url", &complete_url]],
        &["start"],
    );
    assert_eq!(new, n);
    eprintln!("start (complete in place): {n} points");
    total += n;
    eprintln!("crash points exercised: {total}");
    // Pinned: every kill point the client passes on these five paths, each one killed once. A
    // change that adds or removes kill points (or skips a phase) changes this number; update it
    // with the per-phase counts printed above.
    assert_eq!(total, 219, "crash points exercised");
}
