//! `precomplete` generation and `removed-files` handling (`docs/mar-format.md` B2.3).
//!
//! `precomplete` lists `remove "f"` for every file of an install, then `rmdir "d/"` for every
//! directory, each list reverse-sorted, leaving out channel and update settings, the files inside
//! the two settings frameworks and everything under `distribution/` (exactly as
//! `config/createprecomplete.py` does; [`precomplete_text_at`]). It lists itself. This is Kiln's
//! one implementation: `l10n-repack` uses it too. A complete
//! update runs the installed `precomplete` before anything else, which wipes the old file set.
//!
//! `removed-files` (a file of the new build) names what a new version drops: `foo/` becomes
//! `rmdir "foo/"`, `foo/*` becomes `rmrfdir "foo/"`, anything else `remove "foo"`; comments and
//! blank lines are skipped and entries are reverse-sorted (`append_remove_instructions`).

use std::collections::BTreeSet;

use crate::entry_path::EntryPath;
use crate::update::manifest::{DirPath, Instruction, ManifestError, ManifestErrorKind};

/// Name of the precomplete file at the root of an install.
pub const PRECOMPLETE: &str = "precomplete";
/// Name of the removed-files list at the root of an install.
pub const REMOVED_FILES: &str = "removed-files";

/// True for files `createprecomplete.py` leaves out: paths ending in `channel-prefs.js` or
/// `update-settings.ini`, anything inside a `ChannelPrefs.framework/` or
/// `UpdateSettings.framework/` directory, and any path containing `distribution/`.
fn excluded_file(path: &str) -> bool {
    path.ends_with("channel-prefs.js")
        || path.ends_with("update-settings.ini")
        || in_framework(path, "ChannelPrefs.framework/")
        || in_framework(path, "UpdateSettings.framework/")
        || path.contains("distribution/")
}

/// `"/<framework>" in path or path.startswith("<framework>")`, as the script tests it.
fn in_framework(path: &str, framework: &str) -> bool {
    path.starts_with(framework) || path.contains(&format!("/{framework}"))
}

/// The precomplete text for an install holding `files` and `dirs` (relative paths; directories
/// without a trailing `/`), with `precomplete` at the root, which is always listed.
pub fn precomplete_text<'a>(
    files: impl IntoIterator<Item = &'a str>,
    dirs: impl IntoIterator<Item = &'a str>,
) -> String {
    precomplete_text_at(PRECOMPLETE, files, dirs)
}

/// The precomplete text, exactly as Mozilla's `config/createprecomplete.py` writes it, for an
/// install (a `.app` bundle on mac) holding `files` and `dirs`, as `os.walk` reports them
/// (relative, `/`-separated, directories without a trailing `/`; a symlink to a directory counts
/// as a directory). `own` is where the precomplete itself lives (`precomplete`, or
/// `Contents/Resources/precomplete` in a bundle): the script creates it before walking the tree,
/// so it is always listed, and so are the directories holding it.
///
/// Files: every path except settings, files inside `ChannelPrefs.framework/` or
/// `UpdateSettings.framework/` and anything containing `distribution/`. Directories: every
/// directory whose path (with its trailing `/`) does not contain `distribution/` — the two
/// framework directories themselves *are* listed, only the files inside them are not. Each list
/// is deduplicated and reverse-sorted by code point; `remove "f"` lines come first, then
/// `rmdir "d/"`.
pub fn precomplete_text_at<'a>(
    own: &'a str,
    files: impl IntoIterator<Item = &'a str>,
    dirs: impl IntoIterator<Item = &'a str>,
) -> String {
    let files: BTreeSet<&str> = files
        .into_iter()
        .chain([own])
        .filter(|f| !excluded_file(f))
        .collect();
    // The directories holding `own` exist: the script could not have created it otherwise.
    let own_dirs = own.match_indices('/').map(|(at, _)| &own[..at]);
    let dirs: BTreeSet<String> = dirs
        .into_iter()
        .chain(own_dirs)
        .map(|d| format!("{d}/"))
        .filter(|d| !d.contains("distribution/"))
        .collect();
    let mut out = String::new();
    for file in files.iter().rev() {
        out.push_str(&format!("remove \"{file}\"\n"));
    }
    for dir in dirs.iter().rev() {
        out.push_str(&format!("rmdir \"{dir}\"\n"));
    }
    out
}

/// Turns a `removed-files` list into manifest instructions (reverse-sorted; `foo/` → `rmdir`,
/// `foo/*` → `rmrfdir`, else `remove`). Line numbers in errors refer to the list.
pub fn removed_files_instructions(text: &[u8]) -> Result<Vec<Instruction>, ManifestError> {
    let text = std::str::from_utf8(text).map_err(|_| ManifestError {
        line: 0,
        kind: ManifestErrorKind::NotUtf8,
    })?;
    let mut lines: Vec<(usize, &str)> = text
        .split(['\n', '\r'])
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
        .collect();
    lines.sort_by(|a, b| b.1.cmp(a.1));
    lines.dedup_by(|a, b| a.1 == b.1);
    lines
        .into_iter()
        .map(|(line, entry)| removal(entry).map_err(|kind| ManifestError { line, kind }))
        .collect()
}

fn removal(entry: &str) -> Result<Instruction, ManifestErrorKind> {
    let path = |p: &str| {
        EntryPath::new(p).map_err(|reason| ManifestErrorKind::BadPath {
            path: entry.to_owned(),
            reason,
        })
    };
    if let Some(dir) = entry.strip_suffix("/*") {
        Ok(Instruction::Rmrfdir {
            dir: DirPath::new(path(dir)?),
        })
    } else if let Some(dir) = entry.strip_suffix('/') {
        Ok(Instruction::Rmdir {
            dir: DirPath::new(path(dir)?),
        })
    } else {
        Ok(Instruction::Remove { file: path(entry)? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::update::manifest::Manifest;

    fn fixture(path: &str) -> Vec<u8> {
        std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../fixtures/data/mar/update")
                .join(path),
        )
        .unwrap()
    }

    #[test]
    fn matches_the_mozilla_fixture_precompletes() {
        let text = precomplete_text(
            [
                "application.ini",
                "browser/features/new-addon.xpi",
                "browser/omni.ja",
                "defaults/pref/channel-prefs.js",
                "firefox",
                "libxul.so",
                "removed-files",
                "unchanged.txt",
                "update-settings.ini",
            ],
            ["browser", "browser/features", "defaults", "defaults/pref"],
        );
        assert_eq!(text.as_bytes(), fixture("install-120.0/precomplete"));
    }

    #[test]
    fn leaves_out_settings_distribution_and_frameworks() {
        let text = precomplete_text(
            [
                "distribution/extensions/a@b/x.js",
                "Contents/Frameworks/ChannelPrefs.framework/ChannelPrefs",
                "UpdateSettings.framework/x",
                "a/update-settings.ini",
                "keep",
            ],
            [
                "distribution",
                "distribution/extensions",
                "Contents/Frameworks/ChannelPrefs.framework",
                "Contents/Frameworks",
                "Contents",
            ],
        );
        // The framework directory itself is listed (the script only filters files by it).
        assert_eq!(
            text,
            "remove \"precomplete\"\nremove \"keep\"\n\
             rmdir \"Contents/Frameworks/ChannelPrefs.framework/\"\n\
             rmdir \"Contents/Frameworks/\"\nrmdir \"Contents/\"\n"
        );
        assert!(Manifest::parse_precomplete(text.as_bytes()).is_ok());
    }

    #[test]
    fn removed_files_become_reverse_sorted_instructions() {
        let got = removed_files_instructions(&fixture("install-120.0/removed-files")).unwrap();
        let text: Vec<String> = got.iter().map(|i| i.to_string()).collect();
        assert_eq!(
            text,
            [
                "rmdir \"plugins/\"",
                "rmrfdir \"old-cache/\"",
                "remove \"legacy-plugin.so\""
            ]
        );
        let err = removed_files_instructions(b"# c\nok\n../evil\n").unwrap_err();
        assert_eq!(err.line, 3);
    }
}
