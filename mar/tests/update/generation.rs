use mar::update::generate::{
    complete_mar, partial_mar, AddReason, Decision, PartialOptions, StoredDigests, Tree,
};
use mar::update::Manifest;

use crate::trees::{
    apply_kiln, apply_with, ed_key, file, install_copy, lines, materialize, params, snapshot,
    update_fixture, with_precomplete, write_partial, Snapshot,
};

fn fixture_lines(name: &str) -> Vec<String> {
    let text = std::fs::read(update_fixture(name)).unwrap();
    lines(&Manifest::parse(&text).unwrap())
}

/// Writes two snapshots to disk and makes the partial between them.
fn partial_of(
    old: &Snapshot,
    new: &Snapshot,
) -> (tempfile::TempDir, mar::update::generate::GenerateReport) {
    let dir = tempfile::tempdir().unwrap();
    let (_, report) = write_partial(
        dir.path(),
        old,
        new,
        &params("2.0"),
        &PartialOptions::default(),
    );
    (dir, report)
}

fn decision<'a>(report: &'a mar::update::generate::GenerateReport, path: &str) -> &'a Decision {
    &report
        .decisions
        .iter()
        .find(|(p, _)| p.as_str() == path)
        .unwrap()
        .1
}

fn text_file(lines: usize, edit: usize) -> Vec<u8> {
    (0..lines)
        .map(|i| {
            if i == edit {
                "an edited line\n".to_owned()
            } else {
                format!("line {i} of a text file\n")
            }
        })
        .collect::<String>()
        .into_bytes()
}

#[test]
fn complete_manifest_matches_mozillas() {
    let dir = tempfile::tempdir().unwrap();
    let install = install_copy("install-120.0");
    let report = complete_mar(
        &Tree::from_dir(install.path()).unwrap(),
        &params("120.0"),
        &dir.path().join("c.mar"),
    )
    .unwrap();
    assert_eq!(
        lines(&report.manifest),
        fixture_lines("complete.updatev3.manifest.txt")
    );
}

#[test]
fn partial_manifest_matches_mozillas() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (install_copy("install-119.0"), install_copy("install-120.0"));
    let report = partial_mar(
        &Tree::from_dir(old.path()).unwrap(),
        &Tree::from_dir(new.path()).unwrap(),
        &params("120.0"),
        &PartialOptions::default(),
        &dir.path().join("p.mar"),
    )
    .unwrap();
    assert_eq!(
        lines(&report.manifest),
        fixture_lines("partial.updatev3.manifest.txt")
    );
    assert!(matches!(
        decision(&report, "libxul.so"),
        Decision::Patch { .. }
    ));
    assert_eq!(decision(&report, "unchanged.txt"), &Decision::Unchanged);
}

#[test]
fn complete_needs_a_precomplete() {
    let dir = tempfile::tempdir().unwrap();
    materialize(
        &dir.path().join("t"),
        &[("a".to_owned(), file(b"a", 0o644))].into(),
    );
    let err = complete_mar(
        &Tree::from_dir(&dir.path().join("t")).unwrap(),
        &params("1.0"),
        &dir.path().join("c.mar"),
    );
    assert!(matches!(
        err,
        Err(mar::update::generate::GenerateError::MissingPrecomplete)
    ));
}

#[test]
fn compressible_change_is_a_patch_and_random_rewrite_is_an_add() {
    let (random, rewritten) = (
        kiln_test_support::noise(0x9E37_79B9_7F4A_7C15, 50_000),
        kiln_test_support::noise(0x2545_F491_4F6C_DD1D, 50_000),
    );
    let old = with_precomplete(
        [
            (
                "doc.txt".to_owned(),
                file(&text_file(5000, usize::MAX), 0o644),
            ),
            ("blob.bin".to_owned(), file(&random, 0o644)),
        ]
        .into(),
    );
    let new = with_precomplete(
        [
            ("doc.txt".to_owned(), file(&text_file(5000, 2500), 0o644)),
            ("blob.bin".to_owned(), file(&rewritten, 0o644)),
        ]
        .into(),
    );
    let (dir, report) = partial_of(&old, &new);
    assert!(
        matches!(decision(&report, "doc.txt"), Decision::Patch { bytes, full_bytes, .. } if bytes < full_bytes)
    );
    assert!(matches!(
        decision(&report, "blob.bin"),
        Decision::Add { reason: AddReason::Changed, bytes, patch_bytes: Some(p) } if p >= bytes
    ));
    let install = tempfile::tempdir().unwrap();
    materialize(install.path(), &old);
    apply_kiln(install.path(), &dir.path().join("partial.mar")).unwrap();
    assert_eq!(snapshot(install.path()), snapshot(&dir.path().join("new")));
}

/// A renamed file's patch entry names its source path (header version 2), and that entry is
/// what must be strictly smaller than the compressed file: numpy 2.4.5 → 2.4.6 renames its
/// dist-info directory, and its 220 B `entry_points.txt` (unchanged) compresses to less than
/// its patch with the path, which shipped when the patch was weighed without it.
#[test]
fn a_renamed_file_is_patched_only_when_the_entry_with_its_source_path_is_smaller() {
    let entry_points = "[pkg_config]\nnumpy = numpy._core.lib.pkgconfig\n\n[array_api]\n\
        numpy = numpy\n\n[pyinstaller40]\nhook-dirs = numpy:_pyinstaller_hooks_dir\n\n\
        [console_scripts]\nf2py = numpy.f2py.f2py2e:main\nnumpy-config = numpy._configtool:main\n\n";
    assert_eq!(entry_points.len(), 220);
    let release = |v: &str| {
        with_precomplete(
            [
                (
                    format!("numpy-{v}.dist-info/entry_points.txt"),
                    file(entry_points.as_bytes(), 0o644),
                ),
                (
                    format!("numpy-{v}.dist-info/RECORD"),
                    file(&text_file(400, usize::MAX), 0o644),
                ),
            ]
            .into(),
        )
    };
    let (old, new) = (release("2.4.5"), release("2.4.6"));
    let (dir, report) = partial_of(&old, &new);
    let out = dir.path().join("partial.mar");
    let archive = mar::Mar::open(std::fs::File::open(&out).unwrap()).unwrap();
    let stored = |name: &str| u64::from(archive.entry(name).unwrap().stored_size());
    for name in ["entry_points.txt", "RECORD"] {
        let path = format!("numpy-2.4.6.dist-info/{name}");
        match decision(&report, &path) {
            Decision::Patch {
                bytes,
                full_bytes,
                from: Some(from),
                ..
            } => {
                assert_eq!(from.as_str(), format!("numpy-2.4.5.dist-info/{name}"));
                assert!(
                    bytes < full_bytes,
                    "{path}: patch {bytes} B, file {full_bytes} B"
                );
                assert_eq!(stored(&format!("{path}.patch")), *bytes, "{path}");
            }
            Decision::Add {
                reason: AddReason::New,
                bytes,
                patch_bytes: Some(patch),
            } => {
                assert!(patch >= bytes, "{path}: patch {patch} B, file {bytes} B");
                assert_eq!(stored(&path), *bytes, "{path}");
            }
            other => panic!("{path}: {other:?}"),
        }
    }
    // The large RECORD is patched from its old name either way.
    assert!(matches!(
        decision(&report, "numpy-2.4.6.dist-info/RECORD"),
        Decision::Patch { .. }
    ));
    let install = tempfile::tempdir().unwrap();
    materialize(install.path(), &old);
    apply_kiln(install.path(), &out).unwrap();
    assert_eq!(snapshot(install.path()), snapshot(&dir.path().join("new")));
}

#[test]
fn forced_and_settings_files_are_always_added_and_settings_survive() {
    let settings = b"pref(\"app.update.channel\", \"release\");\n";
    let tree = with_precomplete(
        [
            (
                "defaults/pref/channel-prefs.js".to_owned(),
                file(settings, 0o644),
            ),
            ("removed-files".to_owned(), file(b"gone.txt\n", 0o644)),
            ("a.chk".to_owned(), file(b"check", 0o644)),
            ("same.txt".to_owned(), file(b"same", 0o644)),
        ]
        .into(),
    );
    let (dir, report) = partial_of(&tree, &tree);
    let text = lines(&report.manifest);
    assert_eq!(
        text,
        [
            "type \"partial\"",
            "add \"removed-files\"",
            "add \"precomplete\"",
            "add-if-not \"defaults/pref/channel-prefs.js\" \"defaults/pref/channel-prefs.js\"",
            "add \"a.chk\"",
            "remove \"gone.txt\"",
        ]
    );
    assert_eq!(decision(&report, "same.txt"), &Decision::Unchanged);
    // The user's channel-prefs.js survives the update.
    let install = tempfile::tempdir().unwrap();
    materialize(install.path(), &tree);
    std::fs::write(
        install.path().join("defaults/pref/channel-prefs.js"),
        b"user edit",
    )
    .unwrap();
    apply_kiln(install.path(), &dir.path().join("partial.mar")).unwrap();
    assert_eq!(
        std::fs::read(install.path().join("defaults/pref/channel-prefs.js")).unwrap(),
        b"user edit"
    );
}

#[test]
fn removes_follow_adds_then_removed_files_then_rmdirs() {
    let old = with_precomplete(
        [
            ("keep.txt".to_owned(), file(b"1", 0o644)),
            ("z-old.txt".to_owned(), file(b"z", 0o644)),
            ("olddir/sub/x.txt".to_owned(), file(b"x", 0o644)),
            (
                "distribution/extensions/a@b/e.js".to_owned(),
                file(b"e1", 0o644),
            ),
        ]
        .into(),
    );
    let new = with_precomplete(
        [
            ("keep.txt".to_owned(), file(b"2", 0o755)),
            ("a-new.txt".to_owned(), file(b"n", 0o644)),
            (
                "removed-files".to_owned(),
                file(b"legacy/*\nold.so\n# comment\nplugins/\n", 0o644),
            ),
            (
                "distribution/extensions/a@b/e.js".to_owned(),
                file(b"e2", 0o644),
            ),
        ]
        .into(),
    );
    let (_dir, report) = partial_of(&old, &new);
    assert_eq!(
        lines(&report.manifest),
        [
            "type \"partial\"",
            "add \"precomplete\"",
            "add \"keep.txt\"",
            "add-if \"distribution/extensions/a@b\" \"distribution/extensions/a@b/e.js\"",
            "add \"removed-files\"",
            "add \"a-new.txt\"",
            "remove \"z-old.txt\"",
            "remove \"olddir/sub/x.txt\"",
            "rmdir \"plugins/\"",
            "remove \"old.so\"",
            "rmrfdir \"legacy/\"",
            "rmdir \"olddir/sub/\"",
            "rmdir \"olddir/\"",
        ]
    );
    assert!(matches!(
        decision(&report, "keep.txt"),
        Decision::Add {
            reason: AddReason::Mode,
            ..
        }
    ));
}

#[test]
fn identical_inputs_give_identical_bytes_and_mars_unwrap_like_trees() {
    let (old, new) = (install_copy("install-119.0"), install_copy("install-120.0"));
    let dir = tempfile::tempdir().unwrap();
    let make = |name: &str, old: &Tree, new: &Tree| {
        let out = dir.path().join(name);
        partial_mar(old, new, &params("120.0"), &PartialOptions::default(), &out).unwrap();
        std::fs::read(out).unwrap()
    };
    let (old_tree, new_tree) = (
        Tree::from_dir(old.path()).unwrap(),
        Tree::from_dir(new.path()).unwrap(),
    );
    let first = make("1.mar", &old_tree, &new_tree);
    assert_eq!(first, make("2.mar", &old_tree, &new_tree));
    // From two complete MARs: the same archive (the trees hold no empty directories).
    let unwrap = |tree: &Tree, name: &str| {
        let path = dir.path().join(name);
        complete_mar(tree, &params("1"), &path).unwrap();
        let mut mar = mar::Mar::open(std::fs::File::open(path).unwrap()).unwrap();
        Tree::from_complete_mar(&mut mar).unwrap()
    };
    let from_mars = make(
        "3.mar",
        &unwrap(&old_tree, "old.mar"),
        &unwrap(&new_tree, "new.mar"),
    );
    assert_eq!(first, from_mars);
}

#[test]
fn a_large_entry_seen_before_stays_stored_and_gives_the_same_partial() {
    // Two locales' complete MARs carry the same 300 kB library; the second from-tree learns its
    // digest from the first and decodes it only when a diff needs its bytes.
    let dir = tempfile::tempdir().unwrap();
    // Pseudo-random (xorshift), so the stored entry stays large; `edit` changes a few bytes.
    let library = |edit: u8| -> Vec<u8> {
        let mut state = 0x2545_f491_u32;
        let mut bytes: Vec<u8> = (0..300_000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                state as u8
            })
            .collect();
        bytes[1000..1010].fill(edit);
        bytes
    };
    let tree = |locale: &str, lib: Vec<u8>| {
        let mut tree = Tree::default();
        let path = |p: &str| mar::EntryPath::new(p).unwrap();
        tree.insert(path("lib.so"), 0o755, lib);
        tree.insert(path("strings.txt"), 0o644, locale.as_bytes().to_vec());
        tree.insert(
            path("precomplete"),
            0o644,
            b"remove \"lib.so\"\nremove \"strings.txt\"\n".to_vec(),
        );
        tree
    };
    let unwrap = |locale: &str, digests: Option<&StoredDigests>| {
        let path = dir.path().join(format!("{locale}.mar"));
        complete_mar(&tree(locale, library(1)), &params("1.0"), &path).unwrap();
        let mut mar = mar::Mar::open(std::fs::File::open(path).unwrap()).unwrap();
        match digests {
            Some(digests) => Tree::from_complete_mar_with(&mut mar, digests).unwrap(),
            None => Tree::from_complete_mar(&mut mar).unwrap(),
        }
    };
    let digests = StoredDigests::new();
    let de = unwrap("de", Some(&digests));
    let fr = unwrap("fr", Some(&digests));
    assert_eq!((digests.misses(), digests.hits()), (1, 1));
    let lib = fr.file("lib.so").unwrap();
    assert_eq!(
        lib.sha256().unwrap(),
        mar::update::generate::sha256(&library(1))
    );
    assert_eq!(&*lib.read().unwrap(), library(1).as_slice());
    assert_eq!(
        de.file("lib.so").unwrap().sha256().unwrap(),
        lib.sha256().unwrap()
    );
    let new = tree("fr", library(2));
    let partial = |old: &Tree, name: &str| {
        let out = dir.path().join(name);
        partial_mar(old, &new, &params("2.0"), &PartialOptions::default(), &out).unwrap();
        std::fs::read(out).unwrap()
    };
    assert_eq!(
        partial(&fr, "lazy.mar"),
        partial(&unwrap("fr", None), "eager.mar")
    );
}

#[test]
fn wrong_channel_in_the_pib_is_22() {
    let dir = tempfile::tempdir().unwrap();
    let tree = with_precomplete([("a".to_owned(), file(b"a", 0o644))].into());
    materialize(&dir.path().join("t"), &tree);
    let out = dir.path().join("c.mar");
    complete_mar(
        &Tree::from_dir(&dir.path().join("t")).unwrap(),
        &params("1.0"),
        &out,
    )
    .unwrap();
    let install = tempfile::tempdir().unwrap();
    std::fs::write(
        install.path().join("update-settings.ini"),
        "[Settings]\nACCEPTED_MAR_CHANNEL_IDS=kiln-release\n",
    )
    .unwrap();
    assert_eq!(apply_kiln(install.path(), &out).unwrap_err().code(), 22);
}

#[test]
fn stage_exclude_leaves_a_top_level_entry_out_of_the_staged_copy() {
    let dir = tempfile::tempdir().unwrap();
    let tree = with_precomplete([("a".to_owned(), file(b"new", 0o644))].into());
    materialize(&dir.path().join("t"), &tree);
    let out = dir.path().join("c.mar");
    complete_mar(
        &Tree::from_dir(&dir.path().join("t")).unwrap(),
        &params("1.0"),
        &out,
    )
    .unwrap();
    let install = tempfile::tempdir().unwrap();
    std::fs::write(install.path().join("a"), b"old").unwrap();
    std::fs::create_dir_all(install.path().join("updates/0")).unwrap();
    std::fs::write(install.path().join("updates/0/update.status"), b"applying").unwrap();
    // The staging directory lives inside the excluded `updates`: no copy into itself.
    let staged = install.path().join("updates/0/staged");
    apply_with(
        install.path(),
        &out,
        vec![ed_key().public_key()],
        &mar::update::apply::ApplyOptions::default()
            .staged(&staged)
            .stage_exclude("updates"),
    )
    .unwrap();
    assert_eq!(std::fs::read(staged.join("a")).unwrap(), b"new");
    assert!(!staged.join("updates").exists());
    assert_eq!(std::fs::read(install.path().join("a")).unwrap(), b"old");
}
