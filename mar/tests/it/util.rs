//! Shared test helpers: fixture paths, the real tools, archive building.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `fixtures/data/mar`: archives made by Mozilla's build-mar (see its README).
pub(crate) fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/data/mar")
}

/// One fixture file.
pub(crate) fn fixture(name: &str) -> PathBuf {
    fixtures().join(name)
}

pub(crate) use kiln_test_support::python_mar;

/// Runs a command and returns its output, panicking if it could not start.
pub(crate) fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Runs a command that must succeed; returns stdout.
pub(crate) fn run_ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Kiln's `mar` binary.
pub(crate) fn kiln_mar() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mar"))
}

/// A row of Mozilla's `SIZE\tMODE\tNAME` table.
#[derive(Debug, PartialEq, Eq, Clone)]
pub(crate) struct Row {
    pub(crate) size: u64,
    pub(crate) mode: u32,
    pub(crate) name: String,
}

/// Parses the rows after the `SIZE MODE NAME` header of a `-t`/`-T` listing (either tool).
pub(crate) fn parse_table(listing: &str) -> Vec<Row> {
    let mut lines = listing
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("SIZE"));
    assert!(
        lines.next().is_some(),
        "no SIZE header in listing:\n{listing}"
    );
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            // Kiln separates columns with tabs, build-mar pads them with spaces.
            let mut parts = l.split_whitespace();
            let size = parts.next().unwrap().parse().unwrap();
            let mode = u32::from_str_radix(parts.next().unwrap(), 8).unwrap();
            let name = parts.collect::<Vec<_>>().join(" ");
            Row { size, mode, name }
        })
        .collect()
}

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

/// Writes a small source tree: nested dirs, an executable, a 0600 file, binary and empty files.
pub(crate) fn sample_tree(root: &Path) {
    let files: [(&str, &[u8], u32); 6] = [
        ("hello.txt", b"Hello from Kiln, in a MAR\n", 0o644),
        (
            "defaults/pref/channel-prefs.js",
            b"pref(\"app.update.channel\", \"release\");\n",
            0o644,
        ),
        ("firefox", b"#!/bin/sh\necho not really firefox\n", 0o755),
        (
            "browser/features/blob.bin",
            &[0, 1, 2, 0xff, 0xfe, 0, 7, 7, 7],
            0o644,
        ),
        (
            "distribution/extensions/test@example.com/sub/inner.js",
            b"inner();\n",
            0o600,
        ),
        ("empty.txt", b"", 0o644),
    ];
    for (name, bytes, mode) in files {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        set_mode(&path, mode);
    }
}

/// Sets a file's permission bits.
pub(crate) fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
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
