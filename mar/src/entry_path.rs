//! Validated MAR entry names.

use std::fmt;
use std::path::{Path, PathBuf};

/// Why a name is not a safe MAR entry path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EntryPathError {
    /// The name is empty.
    #[error("empty name")]
    Empty,
    /// The name starts with `/` (or a Windows drive letter).
    #[error("absolute path")]
    Absolute,
    /// The name contains `..` anywhere (Mozilla rejects the substring, not just the component).
    #[error("contains '..'")]
    DotDot,
    /// The name contains a backslash.
    #[error("contains a backslash")]
    Backslash,
    /// The name contains a NUL byte.
    #[error("contains a NUL byte")]
    Nul,
    /// The name has an empty component (`a//b`, trailing `/`) or a `.` component.
    #[error("has an empty or '.' component")]
    EmptyComponent,
    /// The name is not valid UTF-8.
    #[error("is not valid UTF-8")]
    NotUtf8,
    /// The name contains a control character (newline, tab, ...) or a double quote, which the
    /// update manifest cannot carry.
    #[error("contains a control character or '\"'")]
    Unprintable,
}

/// A MAR entry name that is safe to join onto a destination directory.
///
/// Every `EntryPath` is guaranteed to be non-empty UTF-8, relative, `/`-separated, free of `..`
/// (as a substring, like Mozilla's updater), backslashes, NULs, control characters, `"`, and empty
/// or `.` components. Joining it onto a directory therefore never leaves that directory lexically.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryPath(String);

impl EntryPath {
    /// Validates a name.
    pub fn new(name: &str) -> Result<EntryPath, EntryPathError> {
        if name.is_empty() {
            return Err(EntryPathError::Empty);
        }
        if name.contains('\0') {
            return Err(EntryPathError::Nul);
        }
        let bytes = name.as_bytes();
        if name.starts_with('/') || (bytes.len() >= 2 && bytes[1] == b':') {
            return Err(EntryPathError::Absolute);
        }
        if name.contains("..") {
            return Err(EntryPathError::DotDot);
        }
        if name.contains('\\') {
            return Err(EntryPathError::Backslash);
        }
        if name.chars().any(|c| c.is_control() || c == '"') {
            return Err(EntryPathError::Unprintable);
        }
        if name.split('/').any(|part| part.is_empty() || part == ".") {
            return Err(EntryPathError::EmptyComponent);
        }
        Ok(EntryPath(name.to_owned()))
    }

    /// Validates raw name bytes as read from an index.
    pub fn from_bytes(name: &[u8]) -> Result<EntryPath, EntryPathError> {
        if name.contains(&0) {
            return Err(EntryPathError::Nul);
        }
        let name = std::str::from_utf8(name).map_err(|_| EntryPathError::NotUtf8)?;
        EntryPath::new(name)
    }

    /// Builds the entry name of `path` relative to `base` (for archiving a directory tree).
    pub fn from_relative(path: &Path) -> Result<EntryPath, EntryPathError> {
        let mut parts = Vec::new();
        for component in path.components() {
            match component {
                std::path::Component::Normal(part) => {
                    parts.push(part.to_str().ok_or(EntryPathError::NotUtf8)?)
                }
                std::path::Component::CurDir => {}
                std::path::Component::ParentDir => return Err(EntryPathError::DotDot),
                _ => return Err(EntryPathError::Absolute),
            }
        }
        EntryPath::new(&parts.join("/"))
    }

    /// The name as stored in the archive.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name as a relative filesystem path, to be joined onto a destination directory.
    pub fn to_relative_path(&self) -> PathBuf {
        self.0.split('/').collect()
    }
}

impl fmt::Display for EntryPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for EntryPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl std::str::FromStr for EntryPath {
    type Err = EntryPathError;

    fn from_str(s: &str) -> Result<EntryPath, EntryPathError> {
        EntryPath::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_nested_names() {
        for ok in [
            "a",
            "browser/omni.ja",
            "distribution/extensions/x@y.com/a.js",
            "a.b/c..d".replace("..", ".").as_str(),
        ] {
            assert!(EntryPath::new(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_every_hostile_shape() {
        let cases = [
            ("", EntryPathError::Empty),
            ("/etc/passwd", EntryPathError::Absolute),
            ("C:/x", EntryPathError::Absolute),
            ("../evil", EntryPathError::DotDot),
            ("a/../../b", EntryPathError::DotDot),
            ("a..b", EntryPathError::DotDot),
            ("a\\b", EntryPathError::Backslash),
            ("a\0b", EntryPathError::Nul),
            ("a//b", EntryPathError::EmptyComponent),
            ("a/", EntryPathError::EmptyComponent),
            ("./a", EntryPathError::EmptyComponent),
            ("a\nb", EntryPathError::Unprintable),
            ("a\"b", EntryPathError::Unprintable),
        ];
        for (name, want) in cases {
            assert_eq!(EntryPath::new(name), Err(want), "{name:?}");
        }
        assert_eq!(
            EntryPath::from_bytes(&[0xff, 0x41]),
            Err(EntryPathError::NotUtf8)
        );
    }

    #[test]
    fn relative_paths_convert_both_ways() {
        let p = EntryPath::from_relative(Path::new("a/b/c.txt")).unwrap();
        assert_eq!(p.as_str(), "a/b/c.txt");
        assert_eq!(p.to_relative_path(), Path::new("a/b/c.txt"));
        assert_eq!(
            EntryPath::from_relative(Path::new("../x")),
            Err(EntryPathError::DotDot)
        );
    }
}
