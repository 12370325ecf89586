//! Rename detection: a file new in the target tree whose name matches a file gone from the old
//! tree once version numbers and hashes are set aside (`numpy-2.4.5.dist-info/RECORD` →
//! `numpy-2.4.6.dist-info/RECORD`, `libfoo-1a2b3c4d.so` → `libfoo-5e6f7a8b.so`) is diffed
//! against that old file. Whether the content is close enough is decided like any patch: by
//! measured size against the compressed full file.

use std::collections::BTreeMap;

use crate::entry_path::EntryPath;
use crate::update::generate::Tree;

/// Old and new sizes further apart than this factor are not considered a rename.
const MAX_SIZE_RATIO: u64 = 4;

/// `path` with every run of ASCII digits, and every hexadecimal run of 6 or more characters
/// holding a digit, replaced by `#`.
pub(crate) fn rename_key(path: &str) -> String {
    let mut key = String::with_capacity(path.len());
    let mut run = String::new();
    let flush = |run: &mut String, key: &mut String| {
        let digits = run.bytes().all(|b| b.is_ascii_digit());
        let hash = run.len() >= 6
            && run.bytes().all(|b| b.is_ascii_hexdigit())
            && run.bytes().any(|b| b.is_ascii_digit());
        if !run.is_empty() && (digits || hash) {
            key.push('#');
        } else {
            key.push_str(run);
        }
        run.clear();
    };
    for c in path.chars() {
        if c.is_ascii_alphanumeric() {
            run.push(c);
        } else {
            flush(&mut run, &mut key);
            key.push(c);
        }
    }
    flush(&mut run, &mut key);
    key
}

/// For each file only in `new`, the file only in `old` it was most likely renamed from: the same
/// [`rename_key`], non-empty, the closest in size (ties: the first by path), within a factor 4.
/// Only old files for which `may_be_source` holds are considered (the generator leaves out files
/// a user or partner may have changed, such as settings, whose hash would fail the update).
pub(crate) fn rename_sources<'a>(
    old: &'a Tree,
    new: &'a Tree,
    may_be_source: impl Fn(&str) -> bool,
) -> BTreeMap<&'a EntryPath, &'a EntryPath> {
    let mut gone: BTreeMap<String, Vec<(&EntryPath, u64)>> = BTreeMap::new();
    for (path, file) in old.files() {
        if !new.files().contains_key(path) && !file.is_empty() && may_be_source(path.as_str()) {
            gone.entry(rename_key(path.as_str()))
                .or_default()
                .push((path, file.len()));
        }
    }
    let mut sources = BTreeMap::new();
    for (path, file) in new.files() {
        if old.files().contains_key(path) || file.is_empty() {
            continue;
        }
        let Some(candidates) = gone.get(&rename_key(path.as_str())) else {
            continue;
        };
        let len = file.len();
        let best = candidates
            .iter()
            .filter(|(_, old_len)| {
                *old_len <= len.saturating_mul(MAX_SIZE_RATIO)
                    && len <= old_len.saturating_mul(MAX_SIZE_RATIO)
            })
            .min_by_key(|(_, old_len)| old_len.abs_diff(len));
        if let Some((source, _)) = best {
            sources.insert(path, *source);
        }
    }
    sources
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_set_aside_versions_and_hashes() {
        assert_eq!(
            rename_key("numpy-2.4.5.dist-info/RECORD"),
            rename_key("numpy-2.4.6.dist-info/RECORD")
        );
        assert_eq!(
            rename_key("numpy.libs/libscipy_openblas64_-32a4b2a6.so"),
            "numpy.libs/libscipy_openblas64_-#.so"
        );
        assert_eq!(
            rename_key("libgfortran-040039e1-0352e75f.so.5.0.0"),
            "libgfortran-#-#.so.#.#.#"
        );
        // Words made of hex letters only, and short hex runs, stay.
        assert_eq!(rename_key("decade/beef1.txt"), "decade/beef1.txt");
        assert_ne!(rename_key("a/RECORD"), rename_key("b/RECORD"));
    }

    #[test]
    fn sources_match_by_key_and_size_and_skip_ineligible_files() {
        let p = |s: &str| EntryPath::new(s).unwrap();
        let mut old = Tree::default();
        old.insert(p("lib/libfoo-1a2b3c4d.so"), 0o755, vec![1; 1000]);
        old.insert(p("lib/libfoo-99aa88bb.so"), 0o755, vec![1; 5000]);
        old.insert(p("lib/libbar-1a2b3c4d.so"), 0o755, vec![1; 100_000]);
        old.insert(p("settings/v1/prefs.ini"), 0o644, vec![1; 10]);
        let mut new = Tree::default();
        new.insert(p("lib/libfoo-5e6f7a8b.so"), 0o755, vec![2; 1100]);
        new.insert(p("lib/libbar-5e6f7a8b.so"), 0o755, vec![2; 1000]);
        new.insert(p("settings/v2/prefs.ini"), 0o644, vec![2; 10]);
        let sources = rename_sources(&old, &new, |s| !s.starts_with("settings/"));
        let found: Vec<(&str, &str)> = sources
            .iter()
            .map(|(n, o)| (n.as_str(), o.as_str()))
            .collect();
        // libbar's only candidate is 100x larger; the settings file is not eligible.
        assert_eq!(
            found,
            [("lib/libfoo-5e6f7a8b.so", "lib/libfoo-1a2b3c4d.so")]
        );
    }
}
