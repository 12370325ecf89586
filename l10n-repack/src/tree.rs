//! [`Tree`]: an unpacked build in memory, with validated entry paths.
//!
//! Paths are `/`-separated, relative, and contain no empty, `.` or `..` component; every parent
//! directory of an entry is itself an entry. File contents are shared (`Arc`) so one unpacked
//! en-US build feeds every locale's repack without copying its large binaries.

use std::collections::BTreeMap;
use std::sync::Arc;

/// One entry of a [`Tree`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Node {
    /// A directory.
    Dir,
    /// A regular file.
    File {
        /// Contents, shared between trees.
        data: Arc<Vec<u8>>,
        /// Whether it is packed with mode 0755 instead of 0644.
        executable: bool,
    },
    /// A symbolic link whose target stays inside the tree (checked when unpacked).
    Symlink(String),
}

/// Why a raw entry name is not acceptable, if it is not.
pub(crate) fn check_entry_name(raw: &str) -> Result<String, &'static str> {
    let name = raw.strip_prefix("./").unwrap_or(raw);
    let name = name.strip_suffix('/').unwrap_or(name);
    if name.is_empty() {
        return Err("empty path");
    }
    if name.starts_with('/') {
        return Err("absolute path");
    }
    if name.contains('\\') || name.contains('\0') {
        return Err("backslash or NUL in path");
    }
    for component in name.split('/') {
        match component {
            "" => return Err("empty path component"),
            "." => return Err("'.' path component"),
            ".." => return Err("'..' path component"),
            c if c.contains(':') => return Err("':' in path (drive or stream name)"),
            _ => {}
        }
    }
    Ok(name.to_owned())
}

/// Whether a symlink at `entry` pointing to `target` stays inside the tree.
pub(crate) fn symlink_stays_inside(entry: &str, target: &str) -> bool {
    if target.is_empty() || target.starts_with('/') || target.contains('\\') {
        return false;
    }
    // Depth of the directory holding the link.
    let mut depth = entry.matches('/').count() as i64;
    for component in target.split('/') {
        match component {
            "" | "." => {}
            ".." => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => depth += 1,
        }
    }
    true
}

/// An unpacked build: entries keyed by validated path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Tree {
    nodes: BTreeMap<String, Node>,
}

impl Tree {
    /// Inserts `node` at `path` (already validated), creating missing parent directories.
    /// Returns false if `path` was already present (a duplicate entry).
    pub(crate) fn insert(&mut self, path: &str, node: Node) -> bool {
        let mut parent = path;
        while let Some(slash) = parent.rfind('/') {
            parent = &parent[..slash];
            self.nodes.entry(parent.to_owned()).or_insert(Node::Dir);
        }
        match self.nodes.get(path) {
            // A directory may be listed after a file inside it created it implicitly.
            Some(Node::Dir) if node == Node::Dir => true,
            Some(_) => false,
            None => {
                self.nodes.insert(path.to_owned(), node);
                true
            }
        }
    }

    /// Sets a file, replacing whatever was there.
    pub(crate) fn put_file(&mut self, path: &str, data: Vec<u8>) {
        self.nodes.remove(path);
        self.insert(
            path,
            Node::File {
                data: Arc::new(data),
                executable: false,
            },
        );
    }

    /// Replaces the contents of every regular file for which `rewrite(path, data)` gives new
    /// bytes (its executable bit kept), in path order; stops at the first error.
    pub(crate) fn rewrite_files<E>(
        &mut self,
        mut rewrite: impl FnMut(&str, &[u8]) -> Result<Option<Vec<u8>>, E>,
    ) -> Result<(), E> {
        for (path, node) in self.nodes.iter_mut() {
            if let Node::File { data, .. } = node {
                if let Some(new) = rewrite(path, data)? {
                    *data = Arc::new(new);
                }
            }
        }
        Ok(())
    }

    /// The file at `path`, if it is a regular file.
    pub(crate) fn file(&self, path: &str) -> Option<&Arc<Vec<u8>>> {
        match self.nodes.get(path) {
            Some(Node::File { data, .. }) => Some(data),
            _ => None,
        }
    }

    /// The entry at `path`, if any.
    pub(crate) fn node(&self, path: &str) -> Option<&Node> {
        self.nodes.get(path)
    }

    /// Removes every entry for which `remove(path, node)` is true.
    pub(crate) fn remove_where(&mut self, mut remove: impl FnMut(&str, &Node) -> bool) {
        self.nodes.retain(|path, node| !remove(path, node));
    }

    /// Every entry in archive order (sorted by path; a directory precedes its contents).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.nodes.iter().map(|(p, n)| (p.as_str(), n))
    }

    /// Top-level entry names.
    pub(crate) fn top_level(&self) -> impl Iterator<Item = &str> {
        self.nodes
            .keys()
            .filter(|p| !p.contains('/'))
            .map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(check_entry_name("./firefox/a").unwrap(), "firefox/a");
        assert_eq!(check_entry_name("firefox/dir/").unwrap(), "firefox/dir");
        for bad in [
            "/etc/passwd",
            "firefox/../../x",
            "a//b",
            "..",
            "a\\b",
            "C:/x",
            "./",
        ] {
            assert!(check_entry_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn symlinks() {
        assert!(symlink_stays_inside("firefox/a/link", "../b"));
        assert!(symlink_stays_inside("firefox/link", "b/c"));
        assert!(!symlink_stays_inside("firefox/link", "../../etc/passwd"));
        assert!(!symlink_stays_inside("firefox/link", "/etc/passwd"));
    }
}
