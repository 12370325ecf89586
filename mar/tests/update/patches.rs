//! Kiln's algorithm-3 and -4 patches inside a partial: a tampered or truncated patch is refused with
//! Firefox's error code before the install is touched; renamed files are patched from their
//! old bytes.

use mar::update::generate::{Decision, PartialOptions, PatchFormat};
use mar::update::patch::{PatchAlgorithm, PatchHeader, KILN_PATCH_HEADER_LEN};
use mar::{EntryPath, Mar, MarBuilder};

use crate::trees::{
    apply_kiln, ed_key, file, lines, materialize, params, snapshot, with_precomplete, write_partial,
};

/// A 300 KB text-like library (an edit of one line) and its successor.
fn text_library(edit: usize) -> Vec<u8> {
    (0..12_000)
        .flat_map(|i| {
            if i == edit {
                b"an edited line of the library\n".to_vec()
            } else {
                format!("symbol_{i:06} = {}\n", i * 7919 % 100_003).into_bytes()
            }
        })
        .collect()
}

/// A partial turning `lib.so` from `old_lib` into `new_lib` (one patch entry).
fn partial_with_a_patch(
    dir: &std::path::Path,
    old_lib: &[u8],
    new_lib: &[u8],
) -> std::path::PathBuf {
    let old = with_precomplete([("lib.so".to_owned(), file(old_lib, 0o755))].into());
    let new = with_precomplete([("lib.so".to_owned(), file(new_lib, 0o755))].into());
    materialize(&dir.join("install"), &old);
    write_partial(dir, &old, &new, &params("2.0"), &PartialOptions::default()).0
}

/// Rewrites `mar` (re-signed) with its `lib.so.patch` entry, which must be of `algorithm`,
/// replaced by `tamper(patch)`.
fn with_patch(
    mar: &std::path::Path,
    algorithm: PatchAlgorithm,
    out: &std::path::Path,
    tamper: impl Fn(&mut Vec<u8>),
) {
    let mut archive =
        Mar::open(std::io::BufReader::new(std::fs::File::open(mar).unwrap())).unwrap();
    let mut builder = MarBuilder::new();
    builder
        .product_info(archive.product_info().unwrap().clone())
        .sign_with(ed_key().clone());
    let entries: Vec<(String, u32)> = archive
        .entries()
        .iter()
        .map(|e| (e.name().to_string(), e.mode()))
        .collect();
    for (name, mode) in entries {
        let mut bytes = archive.read_entry_to_vec(&name).unwrap();
        if name == "lib.so.patch" {
            let header = PatchHeader::decode(&bytes).unwrap();
            assert_eq!(header.algorithm, algorithm);
            tamper(&mut bytes);
        }
        builder
            .add_bytes(EntryPath::new(&name).unwrap(), mode, bytes)
            .unwrap();
    }
    builder.write(out).unwrap();
}

/// The install directory's modification time: creating the journal (the first write of an
/// apply) changes it.
fn mtime(path: &std::path::Path) -> std::time::SystemTime {
    std::fs::metadata(path).unwrap().modified().unwrap()
}

#[test]
fn corrupt_or_truncated_algorithm_3_patch_is_refused_before_anything_is_written() {
    corrupt_or_truncated_patch_is_refused(
        &text_library(usize::MAX),
        &text_library(6000),
        PatchAlgorithm::Sections,
    );
}

#[test]
fn corrupt_or_truncated_algorithm_4_patch_is_refused_before_anything_is_written() {
    corrupt_or_truncated_patch_is_refused(
        &kiln_test_support::x86_program(3000, &[]),
        &kiln_test_support::x86_program(3000, &[10, 1500]),
        PatchAlgorithm::SectionsX86,
    );
}

/// Tampered and truncated versions of a partial whose `lib.so` patch (`old_lib` → `new_lib`)
/// is of `algorithm` are refused with Firefox's codes, and the install stays as it was.
fn corrupt_or_truncated_patch_is_refused(
    old_lib: &[u8],
    new_lib: &[u8],
    algorithm: PatchAlgorithm,
) {
    let dir = tempfile::tempdir().unwrap();
    let good = partial_with_a_patch(dir.path(), old_lib, new_lib);
    let install = dir.path().join("install");
    let before = snapshot(&install);
    // (what, tampering, expected code)
    type Tamper = Box<dyn Fn(&mut Vec<u8>)>;
    let cases: Vec<(&str, Tamper, u8)> = vec![
        ("source length", Box::new(|p| p[19] ^= 1), 2),
        ("source hash", Box::new(|p| p[20] ^= 1), 4),
        ("truncated body", Box::new(|p| p.truncate(p.len() - 7)), 41),
        (
            "truncated header",
            Box::new(|p| p.truncate(KILN_PATCH_HEADER_LEN - 1)),
            41,
        ),
        ("unknown algorithm", Box::new(|p| p[11] = 99), 41),
        (
            "section past the end",
            // The first section: raw, 5 bytes decoded, 200 stored (LEB128 0xc8 0x01), but only 2 bytes follow.
            Box::new(|p| {
                p.truncate(KILN_PATCH_HEADER_LEN);
                p.extend_from_slice(&[0, 5, 200, 1, 1, 1, 1]);
            }),
            41,
        ),
    ];
    for (what, tamper, code) in cases {
        let bad = dir.path().join("bad.mar");
        with_patch(&good, algorithm, &bad, tamper);
        std::thread::sleep(std::time::Duration::from_millis(20));
        let stamp = mtime(&install);
        let err = apply_kiln(&install, &bad).unwrap_err();
        assert_eq!(err.code(), code, "{what}: {err}");
        assert_eq!(mtime(&install), stamp, "{what}: the install was written to");
        assert_eq!(snapshot(&install), before, "{what}");
    }
    // A flipped byte inside a compressed section passes the framing check; it fails while
    // drafting (41) and the journal rolls the install back to exactly what it was.
    let bad = dir.path().join("bad.mar");
    with_patch(&good, algorithm, &bad, |p| {
        let at = p.len() - 40;
        p[at] ^= 0x5a;
    });
    let err = apply_kiln(&install, &bad).unwrap_err();
    assert_eq!(err.code(), 41, "{err}");
    assert_eq!(snapshot(&install), before);
    // The untampered partial applies.
    apply_kiln(&install, &good).unwrap();
    assert_eq!(snapshot(&install), snapshot(&dir.path().join("new")));
}

/// Pseudo-random but compressible library bytes (a few hundred distinct 16-byte words).
fn library(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed;
    let words: Vec<[u8; 16]> = (0..300)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mut word = [0u8; 16];
            word[..8].copy_from_slice(&state.to_le_bytes());
            word[8..].copy_from_slice(&state.rotate_left(17).to_le_bytes());
            word
        })
        .collect();
    (0..len / 16)
        .flat_map(|i| words[(i * 7 + i / 13) % words.len()])
        .collect()
}

#[test]
fn renamed_files_are_patched_against_their_old_bytes() {
    let lib_old = library(256 << 10, 7);
    let mut lib_new = lib_old.clone();
    lib_new[1000..1016].copy_from_slice(b"a new function!!");
    lib_new.extend_from_slice(&library(4096, 9));
    let record = |v: &str| -> Vec<u8> {
        (0..400)
            .map(|i| format!("pkg/module_{i}.py,sha256=entry{i:05},{}\n", 1000 + i))
            .chain([format!("pkg-{v}.dist-info/METADATA,,\n")])
            .collect::<String>()
            .into_bytes()
    };
    // One release of the wheel: its hashed library name, dist-info version and library bytes.
    let release = |hash: &str, v: &str, lib: &[u8]| {
        with_precomplete(
            [
                (format!("pkg.libs/libfoo-{hash}.so"), file(lib, 0o755)),
                (format!("pkg-{v}.dist-info/RECORD"), file(&record(v), 0o644)),
                (
                    "pkg/__init__.py".to_owned(),
                    file(format!("version = '{v}'\n").as_bytes(), 0o644),
                ),
            ]
            .into(),
        )
    };
    let old = release("1a2b3c4d", "1.2", &lib_old);
    let new = release("5e6f7a8b", "1.3", &lib_new);
    let dir = tempfile::tempdir().unwrap();
    let (out, report) = write_partial(
        dir.path(),
        &old,
        &new,
        &params("2.0"),
        &PartialOptions::default(),
    );
    let renamed: Vec<(String, String)> = report
        .decisions
        .iter()
        .filter_map(|(path, d)| match d {
            Decision::Patch {
                from: Some(from), ..
            } => Some((path.to_string(), from.to_string())),
            _ => None,
        })
        .collect();
    assert_eq!(
        renamed,
        [
            (
                "pkg.libs/libfoo-5e6f7a8b.so".to_owned(),
                "pkg.libs/libfoo-1a2b3c4d.so".to_owned()
            ),
            (
                "pkg-1.3.dist-info/RECORD".to_owned(),
                "pkg-1.2.dist-info/RECORD".to_owned()
            ),
        ]
    );
    let lines = lines(&report.manifest);
    for line in [
        "patch \"pkg.libs/libfoo-5e6f7a8b.so.patch\" \"pkg.libs/libfoo-5e6f7a8b.so\"",
        "remove \"pkg.libs/libfoo-1a2b3c4d.so\"",
        "rmdir \"pkg-1.2.dist-info/\"",
    ] {
        assert!(
            lines.contains(&line.to_owned()),
            "{line} missing from {lines:?}"
        );
    }
    // The patch names its source (header version 2) and is far smaller than the library.
    let mut archive =
        Mar::open(std::io::BufReader::new(std::fs::File::open(&out).unwrap())).unwrap();
    let patch = archive
        .read_entry_to_vec("pkg.libs/libfoo-5e6f7a8b.so.patch")
        .unwrap();
    let parsed = mar::update::patch::parse_patch(&patch).unwrap();
    assert_eq!(
        parsed.source_path.unwrap().as_str(),
        "pkg.libs/libfoo-1a2b3c4d.so"
    );
    let stored = archive
        .entry("pkg.libs/libfoo-5e6f7a8b.so.patch")
        .unwrap()
        .stored_size() as usize;
    assert!(stored < lib_new.len() / 20, "{stored}");
    // Applied: exactly the new tree, the renamed library keeps its source's mode.
    let install = dir.path().join("install");
    materialize(&install, &old);
    apply_kiln(&install, &out).unwrap();
    assert_eq!(snapshot(&install), snapshot(&dir.path().join("new")));
    // A changed rename source is refused (4) before anything is written.
    let install = dir.path().join("install-2");
    materialize(&install, &old);
    let lib = install.join("pkg.libs/libfoo-1a2b3c4d.so");
    let mut bytes = std::fs::read(&lib).unwrap();
    bytes[5] ^= 1;
    std::fs::write(&lib, &bytes).unwrap();
    let before = snapshot(&install);
    let err = apply_kiln(&install, &out).unwrap_err();
    assert_eq!(err.code(), 4, "{err}");
    assert_eq!(snapshot(&install), before);
}

/// `--patch-format mbdiff`: MBDIFF10 patch entries in xz-compressed entries, as Firefox's own
/// partials; a renamed file falls back to `add`; Kiln's MBDIFF10 applier (which applies
/// Mozilla's own fixture partial) brings the old tree to exactly the new one.
#[test]
fn mbdiff_partial_applies_to_exactly_the_target() {
    let lib_old = library(192 << 10, 3);
    let mut lib_new = lib_old.clone();
    lib_new[4096..4112].copy_from_slice(b"patched function");
    // One release: its library, its versioned data directory and one file of its own.
    let release = |lib: &[u8], data_dir: &str, (own, text): (&str, &[u8])| {
        with_precomplete(
            [
                ("libxul.so".to_owned(), file(lib, 0o755)),
                (
                    format!("{data_dir}/data.bin"),
                    file(&library(64 << 10, 5), 0o644),
                ),
                (own.to_owned(), file(text, 0o644)),
            ]
            .into(),
        )
    };
    let old = release(&lib_old, "pkg-1.2", ("gone.txt", b"bye\n"));
    let new = release(&lib_new, "pkg-1.3", ("new.txt", b"hello\n"));
    let dir = tempfile::tempdir().unwrap();
    let (out, report) = write_partial(
        dir.path(),
        &old,
        &new,
        &params("2.0").compression(mar::Compression::Xz { preset: 6 }),
        &PartialOptions::default().patch_format(PatchFormat::Mbdiff),
    );
    let lines = lines(&report.manifest);
    assert!(
        lines.contains(&"patch \"libxul.so.patch\" \"libxul.so\"".to_owned()),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"add \"pkg-1.3/data.bin\"".to_owned()),
        "{lines:?}"
    );
    let mut archive =
        Mar::open(std::io::BufReader::new(std::fs::File::open(&out).unwrap())).unwrap();
    let entries: Vec<mar::Entry> = archive.entries().to_vec();
    for entry in &entries {
        assert_eq!(
            archive.stored_format(entry).unwrap(),
            mar::StoredFormat::Xz,
            "{}",
            entry.name()
        );
    }
    let patch = archive.read_entry_to_vec("libxul.so.patch").unwrap();
    assert_eq!(&patch[..8], mar::update::mbdiff::MBDIFF_MAGIC);
    let install = dir.path().join("install");
    materialize(&install, &old);
    let summary = apply_kiln(&install, &out).unwrap();
    assert_eq!((summary.added, summary.patched, summary.removed), (3, 1, 2));
    assert_eq!(snapshot(&install), snapshot(&dir.path().join("new")));
}
