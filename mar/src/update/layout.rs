//! Where an install keeps its resources: the one rule for the flat layout and the mac bundle.
//!
//! An install root is the directory update MARs name their paths against: `firefox/` on Linux
//! and Windows, `Firefox.app/` on macOS (entries `Contents/MacOS/…`, `Contents/Resources/…`, as
//! Mozilla's). The files the updater reads to know the install — `application.ini`,
//! `update-settings.ini`, `precomplete`, `update.locale`, `defaults/pref/channel-prefs.js`,
//! `distribution/distribution.ini`, `kiln-update.toml` — are in the root for the flat layout and
//! in `Contents/Resources/` for a mac bundle ([`resources_dir`]).
//!
//! A root is a **mac bundle** when `Contents/Info.plist` is a regular file and
//! `Contents/Resources` a directory (every macOS `.app` has both; a flat install has neither). A
//! directory inside a bundle (`Firefox.app/Contents`, `…/Contents/Resources`) is not an install
//! root: applying a MAR there would nest `Contents/…` inside it. [`check_install_root`] refuses
//! it and names the bundle to use instead.

use std::path::{Path, PathBuf};

/// The bundle directory holding everything (`<root>/Contents`).
const CONTENTS: &str = "Contents";
/// The resources directory of a mac bundle, relative to its root.
pub const MAC_RESOURCES: &str = "Contents/Resources";
/// The file that marks a mac bundle, relative to its root.
pub const MAC_INFO_PLIST: &str = "Contents/Info.plist";

/// Why a directory cannot be used as an install root.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstallRootError {
    /// The directory is inside a mac bundle; the bundle itself is the install root.
    #[error(
        "{} is inside the mac bundle {}: use the bundle as the install root",
        given.display(),
        root.display()
    )]
    InsideBundle {
        /// The directory given.
        given: PathBuf,
        /// The bundle that is the install root.
        root: PathBuf,
    },
}

/// Whether `root` is a mac bundle (`Contents/Info.plist` a file, `Contents/Resources` a
/// directory).
pub fn is_mac_bundle(root: &Path) -> bool {
    let plist = std::fs::symlink_metadata(root.join(MAC_INFO_PLIST));
    let resources = std::fs::symlink_metadata(root.join(MAC_RESOURCES));
    plist.is_ok_and(|m| m.is_file()) && resources.is_ok_and(|m| m.is_dir())
}

/// The resources directory of the install rooted at `root`, relative to it: `Contents/Resources`
/// for a mac bundle, empty for the flat layout. Archive entry names of resource files start with
/// it (`Contents/Resources/application.ini`).
pub fn resources_prefix(root: &Path) -> &'static Path {
    if is_mac_bundle(root) {
        Path::new(MAC_RESOURCES)
    } else {
        Path::new("")
    }
}

/// The directory holding an install's resources: `<root>/Contents/Resources` for a mac bundle,
/// else `<root>`.
pub fn resources_dir(root: &Path) -> PathBuf {
    root.join(resources_prefix(root))
}

/// The archive entry name of the resource file `name` (e.g. `application.ini`) in an update for
/// the install rooted at `root`: `Contents/Resources/<name>` for a mac bundle, else `<name>`.
pub fn resource_entry(root: &Path, name: &str) -> String {
    if is_mac_bundle(root) {
        format!("{MAC_RESOURCES}/{name}")
    } else {
        name.to_owned()
    }
}

/// Checks that `root` can be an install root: refuses a directory inside a mac bundle (e.g.
/// `Firefox.app/Contents/Resources` or `Firefox.app/Contents`), naming the bundle. Only reads.
pub fn check_install_root(root: &Path) -> Result<(), InstallRootError> {
    // Canonical when it exists (symlinks and `..` resolved), else made absolute as given.
    let absolute = std::fs::canonicalize(root)
        .or_else(|_| std::path::absolute(root))
        .unwrap_or_else(|_| root.to_owned());
    // A bundle's inner directories all sit below `<bundle>/Contents`; walk up to each
    // `Contents` and ask whether its parent is a bundle.
    for ancestor in absolute.ancestors() {
        if ancestor.file_name() == Some(std::ffi::OsStr::new(CONTENTS)) {
            if let Some(bundle) = ancestor.parent() {
                if is_mac_bundle(bundle) {
                    return Err(InstallRootError::InsideBundle {
                        given: root.to_owned(),
                        root: bundle.to_owned(),
                    });
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let app = dir.path().join("Firefox.app");
        std::fs::create_dir_all(app.join("Contents/Resources/browser")).unwrap();
        std::fs::create_dir_all(app.join("Contents/MacOS")).unwrap();
        std::fs::write(app.join(MAC_INFO_PLIST), "<plist/>").unwrap();
        (dir, app)
    }

    #[test]
    fn a_bundle_keeps_its_resources_in_contents_resources() {
        let (_dir, app) = bundle();
        assert!(is_mac_bundle(&app));
        assert_eq!(resources_dir(&app), app.join("Contents/Resources"));
        assert_eq!(resources_prefix(&app), Path::new("Contents/Resources"));
        assert_eq!(
            resource_entry(&app, "update.locale"),
            "Contents/Resources/update.locale"
        );
        check_install_root(&app).unwrap();
    }

    #[test]
    fn a_flat_install_keeps_them_in_the_root() {
        let dir = tempfile::tempdir().unwrap();
        // A `Contents/Resources` without `Info.plist` is not a bundle.
        std::fs::create_dir_all(dir.path().join("Contents/Resources")).unwrap();
        assert!(!is_mac_bundle(dir.path()));
        assert_eq!(resources_dir(dir.path()), dir.path());
        assert_eq!(resource_entry(dir.path(), "update.locale"), "update.locale");
        check_install_root(dir.path()).unwrap();
    }

    #[test]
    fn directories_inside_a_bundle_are_refused_naming_the_bundle() {
        let (_dir, app) = bundle();
        for inner in [
            "Contents",
            "Contents/Resources",
            "Contents/Resources/browser",
            "Contents/MacOS",
        ] {
            match check_install_root(&app.join(inner)) {
                Err(InstallRootError::InsideBundle { given, root }) => {
                    assert_eq!(given, app.join(inner));
                    assert_eq!(root, app);
                }
                other => panic!("{inner}: {other:?}"),
            }
        }
    }
}
