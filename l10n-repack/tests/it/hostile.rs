use std::io::Write;
use std::path::{Path, PathBuf};

use l10n_repack::{Limits, NoProgress, RepackError, RepackInputs, RepackOptions};

use crate::util::{assert_no_files, copy_tree, firefox, fixtures, VERSION};

/// A private copy of the fixtures to damage, and an empty output directory.
struct Case {
    _dir: tempfile::TempDir,
    input: PathBuf,
    out: PathBuf,
}

impl Case {
    fn new() -> Case {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in");
        copy_tree(fixtures(), &input);
        let out = dir.path().join("out");
        Case {
            _dir: dir,
            input,
            out,
        }
    }

    fn build(&self, platform: &str, ext: &str) -> PathBuf {
        self.input
            .join("builds")
            .join(VERSION)
            .join(platform)
            .join("en-US")
            .join(format!("firefox-{VERSION}.{ext}"))
    }

    /// Loads and runs; the error of whichever step fails. Nothing may be left in `out`.
    fn run(&self, limits: Limits) -> RepackError {
        let result = RepackInputs::load(&self.input, &firefox(), VERSION).and_then(|inputs| {
            let options = RepackOptions {
                limits,
                ..Default::default()
            };
            l10n_repack::run(&inputs, &options, &self.out, &NoProgress)
        });
        assert_no_files(&self.out);
        match result {
            Err(error) => error,
            Ok(report) => panic!("expected an error, got {report:?}"),
        }
    }

    fn fails(&self) -> RepackError {
        self.run(Limits::default())
    }
}

/// One raw tar entry: name bytes, type flag, link name, data.
struct Raw<'a>(&'a [u8], u8, &'a [u8], &'a [u8]);

/// A `.tar.xz` written with raw header fields, bypassing the tar crate's own path checks.
fn raw_tar_xz(entries: &[Raw<'_>]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for Raw(name, kind, link, data) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::new(*kind));
        let bytes = header.as_mut_bytes();
        bytes[..name.len()].copy_from_slice(name);
        bytes[157..157 + link.len()].copy_from_slice(link);
        header.set_cksum();
        builder.append(&header, *data).unwrap();
    }
    let raw = builder.into_inner().unwrap();
    let mut encoder = liblzma::write::XzEncoder::new(Vec::new(), 1);
    encoder.write_all(&raw).unwrap();
    encoder.finish().unwrap()
}

fn hostile_linux_build(case: &Case, entry: Raw<'_>) -> RepackError {
    let bytes = raw_tar_xz(&[
        Raw(b"firefox/", b'5', b"", b""),
        Raw(b"firefox/omni.ja", b'0', b"", b"x"),
        entry,
    ]);
    std::fs::write(case.build("linux-x86_64", "tar.xz"), bytes).unwrap();
    case.fails()
}

fn assert_hostile(error: RepackError, archive: &Path, needle: &str) {
    match error {
        RepackError::HostileEntry {
            path,
            entry,
            reason,
        } => {
            assert_eq!(path, archive);
            assert!(
                entry.contains(needle) || reason.contains(needle),
                "{entry} / {reason}"
            );
        }
        other => panic!("expected HostileEntry, got {other}"),
    }
}

#[test]
fn dotdot_entry_is_rejected() {
    let case = Case::new();
    let error = hostile_linux_build(&case, Raw(b"firefox/../../evil", b'0', b"", b"pwned"));
    assert_hostile(error, &case.build("linux-x86_64", "tar.xz"), "..");
}

#[test]
fn absolute_entry_is_rejected() {
    let case = Case::new();
    let error = hostile_linux_build(&case, Raw(b"/etc/evil", b'0', b"", b"pwned"));
    assert_hostile(error, &case.build("linux-x86_64", "tar.xz"), "absolute");
}

#[test]
fn escaping_symlink_is_rejected() {
    let case = Case::new();
    let error = hostile_linux_build(
        &case,
        Raw(b"firefox/libfoo.so", b'2', b"../../../etc/passwd", b""),
    );
    assert_hostile(error, &case.build("linux-x86_64", "tar.xz"), "symlink");
}

#[test]
fn hard_link_is_rejected() {
    let case = Case::new();
    let error = hostile_linux_build(&case, Raw(b"firefox/hard", b'1', b"firefox/omni.ja", b""));
    assert_hostile(error, &case.build("linux-x86_64", "tar.xz"), "hard link");
}

#[test]
fn duplicate_entry_is_rejected() {
    let case = Case::new();
    let error = hostile_linux_build(&case, Raw(b"firefox/omni.ja", b'0', b"", b"y"));
    assert_hostile(error, &case.build("linux-x86_64", "tar.xz"), "duplicate");
}

#[test]
fn zip_entry_with_dotdot_is_rejected() {
    let case = Case::new();
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    writer
        .start_file("firefox/omni.ja", zip::write::SimpleFileOptions::default())
        .unwrap();
    writer.write_all(b"x").unwrap();
    writer
        .start_file(
            "firefox/../../evil.dll",
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
    writer.write_all(b"pwned").unwrap();
    let bytes = writer.finish().unwrap().into_inner();
    let path = case.build("win64", "zip");
    std::fs::write(&path, bytes).unwrap();
    assert_hostile(case.fails(), &path, "..");
}

#[test]
fn corrupt_archive_names_the_file() {
    for (platform, ext) in [
        ("linux-x86_64", "tar.xz"),
        ("mac", "tar.gz"),
        ("win64", "zip"),
    ] {
        let case = Case::new();
        let path = case.build(platform, ext);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        match case.fails() {
            RepackError::CorruptArchive { path: named, .. } => assert_eq!(named, path),
            other => panic!("{platform}: expected CorruptArchive, got {other}"),
        }
    }
}

#[test]
fn oversized_entry_hits_the_limit() {
    let case = Case::new();
    let limits = Limits {
        max_entry_bytes: 100_000,
        ..Limits::default()
    };
    match case.run(limits) {
        RepackError::LimitExceeded { what, limit, .. } => {
            assert_eq!(what, "entry size");
            assert_eq!(limit, 100_000);
        }
        other => panic!("expected LimitExceeded, got {other}"),
    }
}

#[test]
fn missing_locale_names_the_shipped_locales_line() {
    let case = Case::new();
    std::fs::remove_dir_all(case.input.join("l10n/fr")).unwrap();
    match case.fails() {
        RepackError::MissingLocale {
            path, line, locale, ..
        } => {
            assert_eq!(path, case.input.join("shipped-locales"));
            assert_eq!((line, locale.as_str()), (3, "fr"));
        }
        other => panic!("expected MissingLocale, got {other}"),
    }
}

#[test]
fn malformed_repack_cfg_line_names_file_and_line() {
    let case = Case::new();
    let cfg = case.input.join("partners/acme/acme/repack.cfg");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    let line = text.lines().count() + 1;
    text.push_str("this line has no equals sign\n");
    std::fs::write(&cfg, text).unwrap();
    let error = case.fails();
    assert!(
        error.to_string().contains(&format!("repack.cfg:{line}:")),
        "{error}"
    );
    match error {
        RepackError::Config {
            path, line: got, ..
        } => assert_eq!((path, got), (cfg, line)),
        other => panic!("expected Config, got {other}"),
    }
}

#[test]
fn locale_file_outside_localized_resources_is_rejected() {
    let case = Case::new();
    std::fs::write(case.input.join("l10n/de/app/libxul.so"), b"not a resource").unwrap();
    match case.fails() {
        RepackError::NotLocalized { path, .. } => assert!(path.ends_with("l10n/de/app/libxul.so")),
        other => panic!("expected NotLocalized, got {other}"),
    }
}

#[test]
fn symlink_in_locale_source_is_rejected() {
    let case = Case::new();
    std::os::unix::fs::symlink(
        "/etc/passwd",
        case.input.join("l10n/de/app/dictionaries/evil.dic"),
    )
    .unwrap();
    match case.fails() {
        RepackError::HostileEntry { entry, .. } => assert_eq!(entry, "dictionaries/evil.dic"),
        other => panic!("expected HostileEntry, got {other}"),
    }
}

#[test]
fn missing_build_is_reported() {
    let case = Case::new();
    let path = case.build("mac", "tar.gz");
    std::fs::remove_file(&path).unwrap();
    match case.fails() {
        RepackError::MissingBuild { path: named } => assert_eq!(named, path),
        other => panic!("expected MissingBuild, got {other}"),
    }
}

#[test]
fn partner_locale_not_shipped_names_the_cfg_line() {
    let case = Case::new();
    let cfg = case.input.join("partners/acme/acme/repack.cfg");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("locales=\"de en-US\"", "locales=\"de en-US xx\"");
    std::fs::write(&cfg, &text).unwrap();
    let line = text
        .lines()
        .position(|l| l.starts_with("locales="))
        .unwrap()
        + 1;
    match case.fails() {
        RepackError::Config {
            path,
            line: got,
            message,
        } => {
            assert_eq!((path, got), (cfg, line));
            assert!(message.contains("xx"), "{message}");
        }
        other => panic!("expected Config, got {other}"),
    }
}
