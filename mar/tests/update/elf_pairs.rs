//! A real x86-64 ELF old/new pair from a package registry (`fixtures/data/elf/`: MarkupSafe
//! 3.0.2 → 3.0.3's `_speedups` extension): patches made both ways (algorithm 3 or 4, whichever
//! leaves fewer non-zero add bytes) with the public
//! API apply to exactly the other file and are smaller than that file compressed in full, and a
//! partial MAR carrying the patch brings an install to exactly the new tree.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use mar::update::generate::{make_patch, sha256, Decision, PartialOptions};
use mar::update::patch::{apply_kiln_patch, PatchAlgorithm};
use mar::Compression;

use crate::trees::{
    apply_kiln, file, materialize, params, snapshot, with_precomplete, write_partial,
};

/// `fixtures/data/elf`, found from this crate.
fn elf_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/data/elf")
}

/// The old and new library, each checked to be an ELF file whose SHA-256 the fixture README
/// lists (the provenance `scripts/fetch-elf-fixtures.sh` re-checks).
fn elf_pair() -> (Vec<u8>, Vec<u8>) {
    let readme = std::fs::read_to_string(elf_dir().join("README.md")).unwrap();
    let read = |name: &str| {
        let bytes = std::fs::read(elf_dir().join(name)).unwrap();
        assert!(bytes.starts_with(b"\x7fELF"), "{name} is not an ELF file");
        let hex: String = sha256(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        assert!(
            readme.contains(&hex),
            "{name}: SHA-256 {hex} not in the README"
        );
        bytes
    };
    (
        read("markupsafe-3.0.2-_speedups.so"),
        read("markupsafe-3.0.3-_speedups.so"),
    )
}

/// `bytes` compressed as a MAR entry by default (zstd at the default level).
fn compressed_len(bytes: &[u8]) -> usize {
    let Compression::Zstd { level } = Compression::default() else {
        panic!("the default entry compression is zstd");
    };
    zstd::stream::encode_all(bytes, level).unwrap().len()
}

#[test]
fn real_elf_pair_round_trips_both_ways_smaller_than_the_compressed_file() {
    let (old, new) = elf_pair();
    assert_ne!(old, new);
    for (from, to, what) in [(&old, &new, "3.0.2 → 3.0.3"), (&new, &old, "3.0.3 → 3.0.2")] {
        let entry = make_patch(from, to).unwrap();
        let patch = zstd::stream::decode_all(&entry[..]).unwrap();
        let mut out = Vec::new();
        let header = apply_kiln_patch(&patch, &mut Cursor::new(from), &mut out).unwrap();
        assert!(
            matches!(
                header.algorithm,
                PatchAlgorithm::Sections | PatchAlgorithm::SectionsX86
            ),
            "{what}: {:?}",
            header.algorithm
        );
        assert_eq!(header.target_sha256, sha256(to), "{what}");
        assert!(out == *to, "{what}: the patch does not reproduce the file");
        let full = compressed_len(to);
        assert!(
            entry.len() < full,
            "{what}: patch {} B, file compressed {full} B",
            entry.len()
        );
        // Applied to the wrong source, the header's length or hash check refuses it.
        assert!(apply_kiln_patch(&patch, &mut Cursor::new(to), &mut Vec::new()).is_err());
    }
}

#[test]
fn partial_mar_of_a_real_elf_pair_applies_to_exactly_the_new_tree() {
    let (old, new) = elf_pair();
    let so = "markupsafe/_speedups.cpython-312-x86_64-linux-gnu.so";
    let tree = |lib: &[u8]| with_precomplete([(so.to_owned(), file(lib, 0o755))].into());
    let dir = tempfile::tempdir().unwrap();
    let (out, report) = write_partial(
        dir.path(),
        &tree(&old),
        &tree(&new),
        &params("2.0"),
        &PartialOptions::default(),
    );
    let decision = report
        .decisions
        .iter()
        .find(|(path, _)| path.as_str() == so)
        .map(|(_, d)| d.clone());
    let patched = matches!(
        decision,
        Some(Decision::Patch { bytes, full_bytes, from: None, .. }) if bytes < full_bytes
    );
    assert!(patched, "{decision:?}");
    let install = dir.path().join("install");
    materialize(&install, &tree(&old));
    apply_kiln(&install, &out).unwrap();
    assert_eq!(snapshot(&install), snapshot(&dir.path().join("new")));
}
