//! Crash-safety tests: the applier runs in a child process (this test binary, re-executed) and is
//! SIGKILLed at every kill point in turn; recovery must then leave the install exactly old or
//! exactly new.
//!
//! `kill_point()` exists only under `cfg(test)`. In the child, `KILN_CRASH_AT=N` makes the N-th
//! kill point print a marker and hang until the parent kills it.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use crate::keys::PublicKey;
use crate::reader::Mar;
use crate::update::apply::{apply, recover, verify_update, ApplyOptions, Recovery};

const MARKER: &str = "KILN-KILL-POINT";
static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn crash_at() -> Option<usize> {
    static AT: OnceLock<Option<usize>> = OnceLock::new();
    *AT.get_or_init(|| std::env::var("KILN_CRASH_AT").ok()?.parse().ok())
}

/// In a crash-test child, hangs at the `KILN_CRASH_AT`-th call until killed; else does nothing.
pub(crate) fn kill_point() {
    let Some(at) = crash_at() else { return };
    let n = COUNTER.fetch_add(1, Ordering::SeqCst) + 1;
    if n == at {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{MARKER} {n}");
        let _ = out.flush();
        loop {
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
    }
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/data/mar")
}

fn trusted_key() -> PublicKey {
    PublicKey::load(&fixtures().join("keys/rsa4096-public.pem")).unwrap()
}

fn apply_file(install: &Path, mar: &Path) {
    let mar = Mar::open(std::io::BufReader::new(std::fs::File::open(mar).unwrap())).unwrap();
    let mut verified = verify_update(mar, vec![trusted_key()]).unwrap();
    apply(install, &mut verified, &ApplyOptions::default()).unwrap();
}

/// The child side: does nothing unless the parent set the environment.
#[test]
fn crash_child_process() {
    let (Ok(install), Ok(mar)) = (
        std::env::var("KILN_CRASH_INSTALL"),
        std::env::var("KILN_CRASH_MAR"),
    ) else {
        return;
    };
    apply_file(Path::new(&install), Path::new(&mar));
    println!("KILN-APPLY-DONE");
}

/// Kills the applier at kill point `n`; returns false when the run finished without reaching it.
fn run_child_until(n: usize, install: &Path, mar: &Path) -> bool {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "update::apply::crash_tests::crash_child_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("KILN_CRASH_AT", n.to_string())
        .env("KILN_CRASH_INSTALL", install)
        .env("KILN_CRASH_MAR", mar)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut killed = false;
    let mut done = false;
    for line in stdout.lines() {
        let line = line.unwrap();
        if line.contains(MARKER) {
            child.kill().unwrap(); // SIGKILL on Unix.
            killed = true;
            break;
        }
        done |= line.contains("KILN-APPLY-DONE");
    }
    let status = child.wait().unwrap();
    assert!(
        killed || (done && status.success()),
        "child failed at point {n}: {status}"
    );
    killed
}

fn normalized_new() -> BTreeMap<String, Option<(Vec<u8>, u32)>> {
    let dir = tempfile::tempdir().unwrap();
    kiln_test_support::copy_tree(&fixtures().join("update/install-120.0"), dir.path());
    kiln_test_support::snapshot(dir.path())
}

#[test]
fn sigkill_at_every_point_leaves_old_or_new() {
    let new = normalized_new();
    let mut total = 0;
    for mar in [
        "firefox-119.0-120.0.partial.mar",
        "firefox-120.0.complete.mar",
    ] {
        let mar = fixtures().join("update").join(mar);
        let mut n = 1;
        loop {
            let dir = tempfile::tempdir().unwrap();
            kiln_test_support::copy_tree(&fixtures().join("update/install-119.0"), dir.path());
            let old = kiln_test_support::snapshot(dir.path());
            if !run_child_until(n, dir.path(), &mar) {
                assert_eq!(
                    kiln_test_support::snapshot(dir.path()),
                    new,
                    "uninterrupted run"
                );
                break;
            }
            let recovered = recover(dir.path()).unwrap();
            let after = kiln_test_support::snapshot(dir.path());
            let what = format!("point {n} of {}, {recovered:?}", mar.display());
            match recovered {
                Recovery::RolledBack => assert!(after == old, "{what}: not old"),
                Recovery::RolledForward => assert!(after == new, "{what}: not new"),
                // Killed before the journal existed, or after it was deleted.
                Recovery::Clean => assert!(after == old || after == new, "{what}: a mix"),
            }
            if after == old {
                // The next apply then brings the install to the new version.
                apply_file(dir.path(), &mar);
                assert_eq!(
                    kiln_test_support::snapshot(dir.path()),
                    new,
                    "re-apply after {what}"
                );
            }
            assert_eq!(recover(dir.path()).unwrap(), Recovery::Clean);
            n += 1;
        }
        total += n - 1;
    }
    eprintln!("kill points exercised: {total}");
    assert!(total >= 50, "only {total} kill points");
}
