//! Crash-safety tests: the applier runs in a child process (this test binary, re-executed) and is
//! SIGKILLed at every kill point in turn; recovery must then leave the install exactly old or
//! exactly new.
//!
//! `kill_point()` exists only under `cfg(test)`. In the child, `KILN_CRASH_AT=N` makes the N-th
//! kill point print a marker and hang until the parent kills it. A second phase interrupts an
//! update where recovery has the most to do (just before and just after the commit marker) and
//! then kills `recover` itself at each of its kill points: recovery must be restartable.

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

/// The child side: does nothing unless the parent set the environment. With `KILN_CRASH_MAR`
/// set to the empty string it only runs `recover`.
#[test]
fn crash_child_process() {
    let (Ok(install), Ok(mar)) = (
        std::env::var("KILN_CRASH_INSTALL"),
        std::env::var("KILN_CRASH_MAR"),
    ) else {
        return;
    };
    if mar.is_empty() {
        recover(Path::new(&install)).unwrap();
    } else {
        apply_file(Path::new(&install), Path::new(&mar));
    }
    println!("KILN-APPLY-DONE");
}

/// Kills the applier (or, with `mar` `None`, `recover`) at kill point `n`; returns false when
/// the run finished without reaching it.
fn run_child_until(n: usize, install: &Path, mar: Option<&Path>) -> bool {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "update::apply::crash_tests::crash_child_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("KILN_CRASH_AT", n.to_string())
        .env("KILN_CRASH_INSTALL", install)
        .env("KILN_CRASH_MAR", mar.map_or(Path::new(""), |m| m))
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

/// A snapshot of a writable copy of the fixture tree `rel` (below `fixtures/data/mar`).
fn normalized(rel: &str) -> Snapshot {
    kiln_test_support::snapshot(copy_of(rel).path())
}

fn copy_of(rel: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    kiln_test_support::copy_tree(&fixtures().join(rel), dir.path());
    dir
}

/// Checks the state after a crash and a recovery, then that the next apply finishes the update.
fn check_recovered(
    install: &Path,
    mar: &Path,
    recovered: Recovery,
    (old, new): (&Snapshot, &Snapshot),
    what: &str,
) {
    let after = kiln_test_support::snapshot(install);
    match recovered {
        Recovery::RolledBack => assert!(after == *old, "{what}: not old"),
        Recovery::RolledForward => assert!(after == *new, "{what}: not new"),
        // Killed before the journal existed, or after it was deleted.
        Recovery::Clean => assert!(after == *old || after == *new, "{what}: a mix"),
    }
    if after == *old {
        // The next apply then brings the install to the new version.
        apply_file(install, mar);
        assert_eq!(
            kiln_test_support::snapshot(install),
            *new,
            "re-apply after {what}"
        );
    }
    assert_eq!(recover(install).unwrap(), Recovery::Clean);
}

type Snapshot = BTreeMap<String, Option<(Vec<u8>, u32)>>;

fn fresh_old_install() -> tempfile::TempDir {
    copy_of("update/install-119.0")
}

/// Applies `mar` to a fresh copy of `old_rel`, killed at every kill point in turn; after each
/// kill, recovery must leave exactly `old` or exactly `new` (directories included) and the next
/// apply must finish. `seen(n, recovery)` sees each point. Returns how many points there were.
fn kill_at_every_point(
    mar: &Path,
    old_rel: &str,
    (old, new): (&Snapshot, &Snapshot),
    mut seen: impl FnMut(usize, Recovery),
) -> usize {
    let mut n = 1;
    loop {
        let dir = copy_of(old_rel);
        if !run_child_until(n, dir.path(), Some(mar)) {
            assert_eq!(
                kiln_test_support::snapshot(dir.path()),
                *new,
                "uninterrupted run"
            );
            return n - 1;
        }
        let recovered = recover(dir.path()).unwrap();
        seen(n, recovered);
        let what = format!("point {n} of {}, {recovered:?}", mar.display());
        check_recovered(dir.path(), mar, recovered, (old, new), &what);
        n += 1;
    }
}

/// Kill points of applying the fixture partial and complete (119.0 → 120.0), in order: 35 and
/// 39. A change to the applier's steps changes these on purpose.
const APPLY_KILL_POINTS: [usize; 2] = [35, 39];
/// Kill points inside `recover` after an interruption just before the commit (roll back of the
/// partial) and just after it (roll forward).
const RECOVER_KILL_POINTS: [usize; 2] = [20, 10];

#[test]
fn sigkill_at_every_point_leaves_old_or_new() {
    let new = normalized("update/install-120.0");
    let old = normalized("update/install-119.0");
    let mut per_mar = Vec::new();
    // For the partial: the last point that rolls back and the first that rolls forward.
    let mut edges = (0, 0);
    for (i, mar) in [
        "firefox-119.0-120.0.partial.mar",
        "firefox-120.0.complete.mar",
    ]
    .into_iter()
    .enumerate()
    {
        let mar = fixtures().join("update").join(mar);
        let points = kill_at_every_point(
            &mar,
            "update/install-119.0",
            (&old, &new),
            |n, recovered| {
                if i == 0 {
                    match recovered {
                        Recovery::RolledBack => edges.0 = n,
                        Recovery::RolledForward if edges.1 == 0 => edges.1 = n,
                        _ => {}
                    }
                }
            },
        );
        per_mar.push(points);
    }
    assert_eq!(
        per_mar, APPLY_KILL_POINTS,
        "kill points exercised while applying"
    );

    // Recovery interrupted: stop the partial at each edge, then kill `recover` at every point.
    let mar = fixtures().join("update/firefox-119.0-120.0.partial.mar");
    let mut recover_points = Vec::new();
    for edge in [edges.0, edges.1] {
        let mut m = 1;
        loop {
            let dir = fresh_old_install();
            assert!(run_child_until(edge, dir.path(), Some(&mar)));
            if !run_child_until(m, dir.path(), None) {
                let expected = if edge == edges.0 { &old } else { &new };
                assert!(
                    kiln_test_support::snapshot(dir.path()) == *expected,
                    "recovery from {edge}"
                );
                break;
            }
            let recovered = recover(dir.path()).unwrap();
            let what = format!("recover point {m} after apply point {edge}, {recovered:?}");
            check_recovered(dir.path(), &mar, recovered, (&old, &new), &what);
            m += 1;
        }
        recover_points.push(m - 1);
    }
    assert_eq!(
        recover_points, RECOVER_KILL_POINTS,
        "kill points exercised inside recover (roll back, roll forward)"
    );
}

/// Kill points of applying Mozilla's rmdir partial (`update/mozilla-rmdir/linux`); the repeated
/// `rmdir`s that succeed add one each.
const MOZILLA_RMDIR_KILL_POINTS: usize = 38;

#[test]
fn sigkill_during_mozillas_rmdir_partial_leaves_old_or_new_directories_included() {
    let case = "update/mozilla-rmdir/linux";
    let (old, new) = (
        normalized(&format!("{case}/old")),
        normalized(&format!("{case}/new")),
    );
    // Mozilla's partial is unsigned: sign it with the fixture RSA key the child trusts.
    let work = tempfile::tempdir().unwrap();
    let mar = work.path().join("signed.mar");
    let key = crate::keys::SigningKey::load(&fixtures().join("keys/rsa4096-private.pem")).unwrap();
    let mut unsigned = Mar::open(
        std::fs::File::open(
            fixtures()
                .join(case)
                .join("firefox-130.0-131.0.partial.mar"),
        )
        .unwrap(),
    )
    .unwrap();
    crate::writer::sign_archive(&mut unsigned, &[key], &mar).unwrap();
    let mut outcomes = BTreeMap::new();
    let points = kill_at_every_point(&mar, &format!("{case}/old"), (&old, &new), |_, r| {
        *outcomes.entry(format!("{r:?}")).or_insert(0) += 1;
    });
    assert!(outcomes.contains_key("RolledBack") && outcomes.contains_key("RolledForward"));
    assert_eq!(points, MOZILLA_RMDIR_KILL_POINTS, "{outcomes:?}");
}
