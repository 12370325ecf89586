//! Hostile and malformed archives: every malformed fixture in `fixtures/data/mar/malformed` and Kiln's own for each rule
//! that set does not cover are rejected with a typed error, never a panic.

use std::fs::File;
use std::io::Cursor;

use mar::{EntryPathError, Error, ExtractMode, Mar};

use crate::util::fixture;

fn open_bytes(bytes: Vec<u8>) -> Result<Mar<Cursor<Vec<u8>>>, Error> {
    Mar::open(Cursor::new(bytes))
}

fn open_fixture(name: &str) -> Result<Mar<File>, Error> {
    Mar::open(File::open(fixture(name)).unwrap())
}

#[test]
fn malformed_fixtures_are_rejected_for_the_reason_in_their_note() {
    let check = |name: &str, ok: &dyn Fn(&Error) -> bool| {
        let err = open_fixture(&format!("malformed/{name}")).expect_err(name);
        assert!(ok(&err), "{name}: unexpected error {err:?}");
    };
    check("bad-magic.mar", &|e| matches!(e, Error::BadMagic));
    check("index-offset-past-eof.mar", &|e| {
        matches!(
            e,
            Error::Truncated {
                what: "index size",
                ..
            }
        )
    });
    check("index-size-huge.mar", &|e| {
        matches!(
            e,
            Error::LimitExceeded {
                what: "index size",
                value: 0xFFFF_FFF0,
                ..
            }
        )
    });
    check(
        "entry-past-eof.mar",
        &|e| matches!(e, Error::EntryOutOfBounds { name, .. } if name == "defaults/pref/channel-prefs.js"),
    );
    check("too-many-signatures.mar", &|e| {
        matches!(
            e,
            Error::LimitExceeded {
                what: "signature count",
                value: 9,
                ..
            }
        )
    });
    check("signature-too-long.mar", &|e| {
        matches!(
            e,
            Error::LimitExceeded {
                what: "signature length",
                value: 4096,
                ..
            }
        )
    });
    check("filesize-field-wrong.mar", &|e| {
        matches!(e, Error::FileSizeMismatch { .. })
    });
    check("pib-size-too-big.mar", &|e| {
        matches!(
            e,
            Error::ProductInfo(mar::ProductInfoError::BlockTooLarge { .. })
        )
    });
    check("channel-64-chars.mar", &|e| {
        matches!(
            e,
            Error::ProductInfo(mar::ProductInfoError::ChannelTooLong { len: 64 })
        )
    });
    check("version-32-chars.mar", &|e| {
        matches!(
            e,
            Error::ProductInfo(mar::ProductInfoError::VersionTooLong { len: 32 })
        )
    });
    check("path-traversal.mar", &|e| {
        matches!(
            e,
            Error::BadEntryName {
                reason: EntryPathError::DotDot,
                ..
            }
        )
    });
    check(
        "duplicate-names.mar",
        &|e| matches!(e, Error::DuplicateEntry { name } if name == "dup.txt"),
    );
    // signature-wrong-algorithm.mar parses; it fails verification (see fixtures.rs).
    assert!(open_fixture("malformed/signature-wrong-algorithm.mar").is_ok());
}

/// A minimal current-layout archive builder for hand-made hostile cases.
struct Raw {
    entries: Vec<(u32, u32, u32, Vec<u8>)>,
    content: Vec<u8>,
}

impl Raw {
    /// Header: magic, index offset, file size, 0 signatures, 0 additional blocks → content at 24.
    const CONTENT_START: u32 = 24;

    fn new(content: &[u8]) -> Raw {
        Raw {
            entries: Vec::new(),
            content: content.to_vec(),
        }
    }

    fn entry(mut self, offset: u32, size: u32, flags: u32, name: &[u8]) -> Raw {
        self.entries.push((offset, size, flags, name.to_vec()));
        self
    }

    fn index(&self, terminate: bool) -> Vec<u8> {
        let mut index = Vec::new();
        for (offset, size, flags, name) in &self.entries {
            index.extend_from_slice(&offset.to_be_bytes());
            index.extend_from_slice(&size.to_be_bytes());
            index.extend_from_slice(&flags.to_be_bytes());
            index.extend_from_slice(name);
            index.push(0);
        }
        if !terminate {
            index.pop();
        }
        index
    }

    fn build_with(&self, index: Vec<u8>, index_size: u32) -> Vec<u8> {
        let offset_to_index = Raw::CONTENT_START + self.content.len() as u32;
        let file_len = offset_to_index as u64 + 4 + index.len() as u64;
        let mut out = Vec::new();
        out.extend_from_slice(b"MAR1");
        out.extend_from_slice(&offset_to_index.to_be_bytes());
        out.extend_from_slice(&file_len.to_be_bytes());
        out.extend_from_slice(&0u32.to_be_bytes());
        out.extend_from_slice(&0u32.to_be_bytes());
        out.extend_from_slice(&self.content);
        out.extend_from_slice(&index_size.to_be_bytes());
        out.extend_from_slice(&index);
        out
    }

    fn build(&self) -> Vec<u8> {
        let index = self.index(true);
        let len = index.len() as u32;
        self.build_with(index, len)
    }
}

const S: u32 = Raw::CONTENT_START;

#[test]
fn a_well_formed_hand_made_archive_opens() {
    let mar = open_bytes(
        Raw::new(b"aaaabbbb")
            .entry(S, 4, 0o644, b"a")
            .entry(S + 4, 4, 0o755, b"b")
            .build(),
    )
    .unwrap();
    assert_eq!(mar.entries().len(), 2);
}

#[test]
fn overlapping_entries_are_rejected() {
    for (second_offset, second_size) in [(S + 2, 4), (S, 8), (S + 1, 1), (S, 4)] {
        let bytes = Raw::new(b"aaaabbbb")
            .entry(S, 4, 0o644, b"a")
            .entry(second_offset, second_size, 0o644, b"b")
            .build();
        assert!(
            matches!(open_bytes(bytes), Err(Error::OverlappingEntries { .. })),
            "{second_offset}+{second_size}"
        );
    }
}

#[test]
fn offsets_that_wrap_in_32_bits_are_rejected() {
    let bytes = Raw::new(b"aaaa")
        .entry(S, 4, 0o644, b"a")
        .entry(0xFFFF_FFF0, 0x20, 0o644, b"wrap")
        .build();
    assert!(matches!(
        open_bytes(bytes),
        Err(Error::EntryOutOfBounds { .. })
    ));
    let bytes = Raw::new(b"aaaa")
        .entry(S, 0xFFFF_FFFF, 0o644, b"huge")
        .build();
    assert!(matches!(
        open_bytes(bytes),
        Err(Error::EntryOutOfBounds { .. })
    ));
}

#[test]
fn entries_inside_the_header_are_rejected() {
    let bytes = Raw::new(b"aaaa")
        .entry(S, 4, 0o644, b"a")
        .entry(12, 4, 0o644, b"header")
        .build();
    assert!(matches!(
        open_bytes(bytes),
        Err(Error::EntryOutOfBounds { .. })
    ));
}

#[test]
fn an_unterminated_last_name_is_an_error_not_a_silently_dropped_entry() {
    let raw =
        Raw::new(b"aaaabbbb")
            .entry(S, 4, 0o644, b"a")
            .entry(S + 4, 4, 0o644, b"bbbbbbbbbbbbb");
    let index = raw.index(false);
    let len = index.len() as u32;
    assert!(matches!(
        open_bytes(raw.build_with(index, len)),
        Err(Error::BadIndexEntry {
            reason: "name is not NUL-terminated",
            ..
        })
    ));
}

#[test]
fn an_index_shorter_than_one_entry_is_rejected() {
    let raw = Raw::new(b"aaaa").entry(S, 4, 0o644, b"a");
    let mut index = raw.index(true);
    index.extend_from_slice(&[0u8; 5]);
    let len = index.len() as u32;
    assert!(matches!(
        open_bytes(raw.build_with(index, len)),
        Err(Error::BadIndexEntry { .. })
    ));
}

#[test]
fn hostile_names_are_rejected() {
    let cases: [(&[u8], EntryPathError); 6] = [
        (b"/abs", EntryPathError::Absolute),
        (b"a\\b", EntryPathError::Backslash),
        (b"a//b", EntryPathError::EmptyComponent),
        (b"a/./b", EntryPathError::EmptyComponent),
        (b"x/../../y", EntryPathError::DotDot),
        (&[0xC3, 0x28], EntryPathError::NotUtf8),
    ];
    for (name, reason) in cases {
        let bytes = Raw::new(b"aaaa").entry(S, 4, 0o644, name).build();
        match open_bytes(bytes) {
            Err(Error::BadEntryName { reason: got, .. }) => assert_eq!(got, reason, "{name:?}"),
            other => panic!("{name:?}: {other:?}"),
        }
    }
}

#[test]
fn huge_counts_are_refused_before_allocating() {
    // 0xFFFFFFFF signatures in a tiny file.
    let mut bytes = Raw::new(b"aaaa").entry(S, 4, 0o644, b"a").build();
    bytes[16..20].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(
        open_bytes(bytes.clone()),
        Err(Error::LimitExceeded {
            what: "signature count",
            ..
        })
    ));
    // 0xFFFFFFFF additional blocks.
    bytes[16..20].copy_from_slice(&0u32.to_be_bytes());
    bytes[20..24].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(
        open_bytes(bytes.clone()),
        Err(Error::LimitExceeded {
            what: "additional block count",
            ..
        })
    ));
    // One additional block claiming 4 GiB.
    bytes[20..24].copy_from_slice(&1u32.to_be_bytes());
    bytes[24..28].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(open_bytes(bytes).is_err());
    // More entries than the limit allows.
    let mut raw = Raw::new(b"");
    for i in 0..20 {
        raw = raw.entry(S, 0, 0o644, format!("e{i}").as_bytes());
    }
    let limits = mar::Limits {
        max_entries: 10,
        ..Default::default()
    };
    assert!(matches!(
        Mar::open_with_limits(Cursor::new(raw.build()), limits),
        Err(Error::LimitExceeded {
            what: "entry count",
            ..
        })
    ));
}

#[test]
fn truncated_archives_are_rejected_at_every_length() {
    let good = std::fs::read(fixture("signed-sha384-xz.mar")).unwrap();
    for len in 0..good.len() {
        assert!(
            open_bytes(good[..len].to_vec()).is_err(),
            "prefix of {len} bytes opened"
        );
    }
}

#[test]
fn tampering_with_a_signed_index_fails_verification() {
    let mut bytes = std::fs::read(fixture("signed-sha384-xz.mar")).unwrap();
    // Flip the mode of the first entry (0644 -> 0645) inside the signed index.
    let flags_at = 0x2fe + 8 + 3;
    bytes[flags_at] ^= 0x01;
    let mar = open_bytes(bytes).unwrap();
    let key = mar::keys::PublicKey::load(&fixture("keys/rsa4096-public.pem")).unwrap();
    assert!(mar::Verifier::new(vec![key])
        .verify(mar)
        .unwrap_err()
        .is_verification_failure());
}

#[test]
fn setuid_and_sticky_bits_are_masked_on_extraction() {
    let bytes = Raw::new(b"#!/bin/sh\n")
        .entry(S, 10, 0o4755 | 0o2000 | 0o1000, b"suid")
        .build();
    let mut mar = open_bytes(bytes).unwrap();
    assert_eq!(mar.entries()[0].raw_flags() & 0o7000, 0o7000);
    let dest = tempfile::tempdir().unwrap();
    mar::extract_all(
        &mut mar,
        dest.path(),
        ExtractMode::Decompress,
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(crate::util::mode_of(&dest.path().join("suid")), 0o755);
}

#[test]
fn extraction_never_follows_a_planted_symlink() {
    let outside = tempfile::tempdir().unwrap();
    let dest = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), dest.path().join("dir")).unwrap();
    let bytes = Raw::new(b"evil").entry(S, 4, 0o644, b"dir/file").build();
    let mut mar = open_bytes(bytes).unwrap();
    let err = mar::extract_all(
        &mut mar,
        dest.path(),
        ExtractMode::Decompress,
        &mut |_, _| {},
    )
    .unwrap_err();
    assert!(matches!(err, Error::UnsafeDestination { .. }), "{err:?}");
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    // A symlink at the file's own path is replaced, not written through.
    let target = outside.path().join("victim");
    std::fs::write(&target, b"keep").unwrap();
    std::fs::remove_file(dest.path().join("dir")).unwrap();
    std::os::unix::fs::symlink(&target, dest.path().join("file")).unwrap();
    let bytes = Raw::new(b"new!").entry(S, 4, 0o644, b"file").build();
    mar::extract_all(
        &mut open_bytes(bytes).unwrap(),
        dest.path(),
        ExtractMode::Decompress,
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), b"keep");
    assert_eq!(std::fs::read(dest.path().join("file")).unwrap(), b"new!");
    assert!(!std::fs::symlink_metadata(dest.path().join("file"))
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn a_corrupt_entry_leaves_nothing_behind() {
    // The second entry claims xz but is garbage: nothing may be extracted, no temp files remain.
    let mut content = b"good".to_vec();
    content.extend_from_slice(&[0xFD, b'7', b'z', b'X', b'Z', 0, 1, 2, 3, 4]);
    let bytes = Raw::new(&content)
        .entry(S, 4, 0o644, b"a/good")
        .entry(S + 4, 10, 0o644, b"b/bad")
        .build();
    let dest = tempfile::tempdir().unwrap();
    std::fs::write(dest.path().join("existing"), b"before").unwrap();
    let err = mar::extract_all(
        &mut open_bytes(bytes).unwrap(),
        dest.path(),
        ExtractMode::Decompress,
        &mut |_, _| {},
    )
    .unwrap_err();
    assert!(
        matches!(err, Error::Decode { ref name, .. } if name == "b/bad"),
        "{err:?}"
    );
    let left: Vec<_> = std::fs::read_dir(dest.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("existing")]);
    assert_eq!(
        std::fs::read(dest.path().join("existing")).unwrap(),
        b"before"
    );
}

#[test]
fn a_file_that_is_also_a_directory_of_another_entry_is_refused_before_anything_is_written() {
    let bytes = Raw::new(b"filechild")
        .entry(S, 4, 0o644, b"a")
        .entry(S + 4, 5, 0o644, b"a/b")
        .build();
    let dest = tempfile::tempdir().unwrap();
    let err = mar::extract_all(
        &mut open_bytes(bytes).unwrap(),
        dest.path(),
        ExtractMode::Decompress,
        &mut |_, _| {},
    )
    .unwrap_err();
    assert!(matches!(err, Error::UnsafeDestination { .. }), "{err:?}");
    assert_eq!(std::fs::read_dir(dest.path()).unwrap().count(), 0);
}
