//! The partials Mozilla's `make_incremental_update.sh` wrote (`fixtures/data/mar/update/mozilla-rmdir/`,
//! provenance in its README): their manifests `rmdir` a directory before its subdirectory and again
//! after it, so only an applier that runs every `rmdir` in manifest order, repeats included, ends
//! with exactly the new tree's directories.

use std::path::{Path, PathBuf};

use mar::update::{ApplyOptions, Manifest};
use mar::Mar;

use crate::trees::{apply_with, copy_tree, ed_key, lines, snapshot, update_fixture};

const PARTIAL: &str = "firefox-130.0-131.0.partial.mar";

fn case(platform: &str) -> PathBuf {
    update_fixture("mozilla-rmdir").join(platform)
}

/// Mozilla's unsigned partial, signed with the test key (its entries copied as stored).
fn signed_partial(platform: &str, dir: &Path) -> PathBuf {
    let mut mar = Mar::open(std::fs::File::open(case(platform).join(PARTIAL)).unwrap()).unwrap();
    let out = dir.join("signed.mar");
    mar::sign_archive(&mut mar, &[ed_key().clone()], &out).unwrap();
    out
}

/// The partial's manifest is the committed text, and it has the repeated `rmdir` under test.
fn check_manifest(platform: &str, prefix: &str) {
    let mut mar = Mar::open(std::fs::File::open(case(platform).join(PARTIAL)).unwrap()).unwrap();
    let bytes = mar.read_entry_to_vec("updatev3.manifest").unwrap();
    let committed = std::fs::read(case(platform).join("updatev3.manifest.txt")).unwrap();
    assert_eq!(bytes, committed, "{platform}: updatev3.manifest.txt");
    let lines = lines(&Manifest::parse(&bytes).unwrap());
    let rmdir = |dir: &str| format!("rmdir \"{prefix}{dir}\"");
    let at = |line: &str| -> Vec<usize> {
        let found: Vec<usize> = (0..lines.len()).filter(|&i| lines[i] == line).collect();
        assert!(!found.is_empty(), "{platform}: no {line} in {lines:#?}");
        found
    };
    let (parent, child) = (at(&rmdir("gmp-clearkey/")), at(&rmdir("gmp-clearkey/0.1/")));
    assert_eq!(parent.len(), 2, "{platform}: rmdir of gmp-clearkey/ twice");
    assert!(parent[0] < child[0] && child[0] < parent[1], "{lines:#?}");
    at(&format!("rmrfdir \"{prefix}browser/searchplugins/\""));
}

/// Applies Mozilla's partial to a copy of `old/` at `root` (in place or staged) and checks the
/// result is exactly `new/`: files, bytes, modes and directories.
fn applies_to_exactly_the_new_tree(platform: &str, prefix: &str, bundle: &str) {
    check_manifest(platform, prefix);
    let work = tempfile::tempdir().unwrap();
    let mar = signed_partial(platform, work.path());
    let expected = snapshot(&case(platform).join("new"));
    for staged in [false, true] {
        let root = work.path().join(format!("{staged}")).join(bundle);
        copy_tree(&case(platform).join("old"), &root);
        let staging = work.path().join(format!("{staged}-staged"));
        let options = if staged {
            ApplyOptions::default().staged(&staging)
        } else {
            ApplyOptions::default()
        }
        .expect_build("131.0", "20240829000000");
        let summary = apply_with(&root, &mar, vec![ed_key().public_key()], &options).unwrap();
        let result = snapshot(&summary.applied_to);
        // Paths first (files and directories), for a readable failure; then bytes and modes.
        assert_eq!(
            result.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>(),
            "{platform} (staged: {staged})"
        );
        assert_eq!(result, expected, "{platform} (staged: {staged})");
    }
}

#[test]
fn mozilla_partial_removes_every_dead_directory_linux_layout() {
    applies_to_exactly_the_new_tree("linux", "", "firefox");
}

#[test]
fn mozilla_partial_removes_every_dead_directory_mac_bundle() {
    applies_to_exactly_the_new_tree("mac", "Contents/Resources/", "Firefox.app");
}

#[test]
fn an_rmdir_of_a_file_fails_with_42_and_changes_nothing() {
    let work = tempfile::tempdir().unwrap();
    let mar = signed_partial("linux", work.path());
    let root = work.path().join("firefox");
    copy_tree(&case("linux").join("old"), &root);
    // `gmp-clearkey/0.1` is a file here: Mozilla's RemoveDir refuses it in Prepare.
    std::fs::remove_dir_all(root.join("gmp-clearkey")).unwrap();
    std::fs::create_dir(root.join("gmp-clearkey")).unwrap();
    std::fs::write(root.join("gmp-clearkey/0.1"), "not a directory").unwrap();
    let before = snapshot(&root);
    let err = apply_with(
        &root,
        &mar,
        vec![ed_key().public_key()],
        &ApplyOptions::default(),
    )
    .unwrap_err();
    assert_eq!(err.code(), 42, "{err}");
    assert_eq!(snapshot(&root), before);
}
