//! Shared test support: fixtures generated once per test process, a baseline repack, an
//! independent archive reader and directory snapshots.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub(crate) use kiln_test_support::{copy_tree, files, mtimes};
use l10n_repack::{NoProgress, RepackInputs, RepackOptions, RepackReport};

/// The version every test repacks.
pub(crate) const VERSION: &str = "121.0";

/// The product the default fixtures build.
pub(crate) fn firefox() -> l10n_repack::Product {
    "Firefox".parse().expect("a product name")
}

fn tmp_root() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
}

/// Small fixtures for 121.0 (generated once per test process).
pub(crate) fn fixtures() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tmp_root().join("l10n-repack-fixtures");
        let _ = std::fs::remove_dir_all(&dir);
        let options = kiln_fixtures::Options {
            versions: vec![VERSION.to_owned()],
            ..Default::default()
        };
        kiln_fixtures::generate(&dir, &options).expect("fixtures");
        dir
    })
}

/// A full, unsigned, default-threads repack of [`fixtures`] (made once per test process).
pub(crate) fn baseline() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tmp_root().join("l10n-repack-baseline");
        let _ = std::fs::remove_dir_all(&dir);
        let report = repack(fixtures(), &dir, &RepackOptions::default());
        assert!(report.failures.is_empty(), "{:?}", report.failures);
        dir
    })
}

/// Runs a repack of `input` into `out`.
pub(crate) fn repack(input: &Path, out: &Path, options: &RepackOptions<'_>) -> RepackReport {
    let inputs = RepackInputs::load(input, &firefox(), VERSION).expect("inputs");
    l10n_repack::run(&inputs, options, out, &NoProgress).expect("run")
}

/// An unpacked archive: files (path → bytes) and directories (path without trailing `/`).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Unpacked {
    pub(crate) files: BTreeMap<String, Vec<u8>>,
    pub(crate) dirs: std::collections::BTreeSet<String>,
}

/// Reads an archive with the tar/xz/gzip/zip crates directly (not the engine's reader).
pub(crate) fn unpack(path: &Path) -> Unpacked {
    let bytes = std::fs::read(path).unwrap();
    let name = path.to_string_lossy();
    let mut out = Unpacked::default();
    if name.ends_with(".zip") {
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        for i in 0..archive.len() {
            let mut file = archive.by_index(i).unwrap();
            let name = file.name().unwrap().into_owned();
            if file.is_dir() {
                out.dirs.insert(name.trim_end_matches('/').to_owned());
            } else {
                let mut data = Vec::new();
                file.read_to_end(&mut data).unwrap();
                out.files.insert(name, data);
            }
        }
        return out;
    }
    let reader: Box<dyn Read> = if name.ends_with(".tar.xz") {
        Box::new(liblzma::read::XzDecoder::new_multi_decoder(
            std::io::Cursor::new(bytes),
        ))
    } else {
        Box::new(flate2::read::MultiGzDecoder::new(std::io::Cursor::new(
            bytes,
        )))
    };
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        if entry.header().entry_type().is_dir() {
            out.dirs.insert(name.trim_end_matches('/').to_owned());
        } else {
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            out.files.insert(name, data);
        }
    }
    out
}

/// The entries of a zip held in memory (omni.ja).
pub(crate) fn zip_entries(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut out = BTreeMap::new();
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).unwrap();
        let mut data = Vec::new();
        file.read_to_end(&mut data).unwrap();
        out.insert(file.name().unwrap().into_owned(), data);
    }
    out
}

/// The archive name and the resources dir of a platform directory name.
pub(crate) fn layout(platform: &str) -> (String, &'static str) {
    match platform {
        "mac" => (
            format!("firefox-{VERSION}.tar.gz"),
            "Firefox.app/Contents/Resources/",
        ),
        "win64" => (format!("firefox-{VERSION}.zip"), "firefox/"),
        _ => (format!("firefox-{VERSION}.tar.xz"), "firefox/"),
    }
}

/// No file under `dir` at all (an output dir after a failed run).
pub(crate) fn assert_no_files(dir: &Path) {
    if dir.exists() {
        let left: Vec<_> = files(dir).into_keys().collect();
        assert!(left.is_empty(), "files left behind: {left:?}");
    }
}
