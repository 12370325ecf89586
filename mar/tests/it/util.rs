//! Shared test helpers: fixture paths, the real tools, archive building.

use std::path::{Path, PathBuf};

/// `fixtures/data/mar`: archives made by Mozilla's build-mar (see its README).
pub(crate) fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/data/mar")
}

/// One fixture file.
pub(crate) fn fixture(name: &str) -> PathBuf {
    fixtures().join(name)
}

pub(crate) use kiln_test_support::{parse_table, python_mar, run, run_ok, sample_tree, Row};

/// (algorithm id, length) of each signature, and (channel, version) of the PIB.
pub(crate) type Details = (Vec<(u32, u32)>, Option<(String, String)>);

/// Parses build-mar's `-T` header: signatures and product information.
pub(crate) fn parse_python_details(listing: &str) -> Details {
    let mut signatures = Vec::new();
    let (mut channel, mut version) = (None, None);
    for line in listing.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("- Signature ") {
            let mut it = rest.split(" size ");
            signatures.push((
                it.next().unwrap().parse().unwrap(),
                it.next().unwrap().parse().unwrap(),
            ));
        } else if let Some(c) = line.strip_prefix("- MAR channel name: ") {
            channel = Some(c.to_owned());
        } else if let Some(v) = line.strip_prefix("- Product version: ") {
            version = Some(v.to_owned());
        }
    }
    (signatures, channel.zip(version))
}

/// A file's permission bits.
pub(crate) fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Every regular file under `root` as (relative name, bytes, mode), sorted.
pub(crate) fn tree(root: &Path) -> Vec<(String, Vec<u8>, u32)> {
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>, u32)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(root, &path, out);
        } else {
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned();
            out.push((rel, std::fs::read(&path).unwrap(), mode_of(&path)));
        }
    }
}
