//! `precomplete`, regenerated exactly as Mozilla's `config/createprecomplete.py` does.
//!
//! `remove "file"` for every file under the app root (relative to it), then `rmdir "dir/"` for
//! every directory below it, each list reverse-sorted by code point. Files ending in
//! `channel-prefs.js` or `update-settings.ini`, anything in `ChannelPrefs.framework/` or
//! `UpdateSettings.framework/`, and any path containing `distribution/` are left out. The file
//! lists itself, because the script creates it before walking the tree. On mac it lives in
//! `Contents/Resources/` but paths are relative to the `.app` bundle.

use std::collections::BTreeSet;

use crate::tree::{Node, Tree};
use crate::Platform;

/// Where `precomplete` lives inside the archive.
pub(crate) fn location(platform: Platform) -> String {
    format!("{}/precomplete", platform.resources_dir())
}

fn excluded_file(path: &str) -> bool {
    path.ends_with("channel-prefs.js")
        || path.ends_with("update-settings.ini")
        || path.contains("/ChannelPrefs.framework/")
        || path.starts_with("ChannelPrefs.framework/")
        || path.contains("/UpdateSettings.framework/")
        || path.starts_with("UpdateSettings.framework/")
        || path.contains("distribution/")
}

/// Writes a fresh `precomplete` into `tree` for `platform`.
pub(crate) fn regenerate(tree: &mut Tree, platform: Platform) {
    let location = location(platform);
    let prefix = format!("{}/", platform.app_root());
    let mut files = BTreeSet::new();
    let mut dirs = BTreeSet::new();
    if let Some(own) = location.strip_prefix(&prefix) {
        files.insert(own.to_owned());
    }
    for (path, node) in tree.iter() {
        let Some(rel) = path.strip_prefix(&prefix) else {
            continue;
        };
        match node {
            Node::Dir => {
                let dir = format!("{rel}/");
                if !dir.contains("distribution/") {
                    dirs.insert(dir);
                }
            }
            Node::File { .. } | Node::Symlink(_) => {
                if !excluded_file(rel) {
                    files.insert(rel.to_owned());
                }
            }
        }
    }
    let mut text = String::new();
    for file in files.iter().rev() {
        text.push_str(&format!("remove \"{file}\"\n"));
    }
    for dir in dirs.iter().rev() {
        text.push_str(&format!("rmdir \"{dir}\"\n"));
    }
    tree.put_file(&location, text.into_bytes());
}
