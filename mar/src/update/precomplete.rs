//! `precomplete` generation and `removed-files` handling (`docs/mar-format.md` B2.3).
//!
//! `precomplete` lists `remove "f"` for every file of an install, then `rmdir "d/"` for every
//! directory, each list reverse-sorted, leaving out channel and update settings and everything
//! under `distribution/` (as `config/createprecomplete.py` does). It lists itself. A complete
//! update runs the installed `precomplete` before anything else, which wipes the old file set.
//!
//! `removed-files` (a file of the new build) names what a new version drops: `foo/` becomes
//! `rmdir "foo/"`, `foo/*` becomes `rmrfdir "foo/"`, anything else `remove "foo"`; comments and
//! blank lines are skipped and entries are reverse-sorted (`append_remove_instructions`).

use crate::entry_path::EntryPath;
use crate::update::manifest::{DirPath, Instruction, ManifestError, ManifestErrorKind};

/// Name of the precomplete file at the root of an install.
pub const PRECOMPLETE: &str = "precomplete";
/// Name of the removed-files list at the root of an install.
pub const REMOVED_FILES: &str = "removed-files";

/// True for files a precomplete must not list: channel/update settings and `distribution/`.
fn excluded_file(path: &str) -> bool {
    path.ends_with("channel-prefs.js")
        || path.ends_with("update-settings.ini")
        || in_framework(path, "ChannelPrefs.framework/")
        || in_framework(path, "UpdateSettings.framework/")
        || path.contains("distribution/")
}

fn in_framework(path: &str, framework: &str) -> bool {
    path.starts_with(framework) || path.contains(&format!("/{framework}"))
}

/// The precomplete text for an install holding `files` and `dirs` (relative paths; directories
/// without a trailing `/`). `precomplete` itself is always listed.
pub fn precomplete_text<'a>(
    files: impl IntoIterator<Item = &'a str>,
    dirs: impl IntoIterator<Item = &'a str>,
) -> String {
    let mut files: Vec<&str> = files
        .into_iter()
        .chain([PRECOMPLETE])
        .filter(|f| !excluded_file(f))
        .collect();
    files.sort_unstable();
    files.dedup();
    let mut dirs: Vec<String> = dirs
        .into_iter()
        .map(|d| format!("{d}/"))
        .filter(|d| !d.contains("distribution/") && !excluded_dir(d))
        .collect();
    dirs.sort_unstable();
    dirs.dedup();
    let mut out = String::new();
    for file in files.iter().rev() {
        out.push_str(&format!("remove \"{file}\"\n"));
    }
    for dir in dirs.iter().rev() {
        out.push_str(&format!("rmdir \"{dir}\"\n"));
    }
    out
}

fn excluded_dir(dir: &str) -> bool {
    in_framework(dir, "ChannelPrefs.framework/") || in_framework(dir, "UpdateSettings.framework/")
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
        assert_eq!(
            text,
            "remove \"precomplete\"\nremove \"keep\"\nrmdir \"Contents/Frameworks/\"\nrmdir \"Contents/\"\n"
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
