//! Shared test support: running `kiln`, and one signed build directory made once per process.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub(crate) use kiln_test_support::copy_tree;

/// Runs `kiln` with `args` (its cache, where `kiln repack` keeps its journal, under the
/// target's tmp dir).
pub(crate) fn kiln(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(args)
        .env(
            "XDG_CACHE_HOME",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("kiln-cache"),
        )
        .output()
        .expect("run kiln")
}

/// Runs `kiln` and asserts success.
pub(crate) fn kiln_ok(args: &[&str]) -> Output {
    let output = kiln(args);
    assert!(
        output.status.success(),
        "kiln {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Paths of the shared release: fixtures, keys and a signed, checksummed build directory.
#[derive(Debug)]
pub(crate) struct Release {
    pub(crate) fixtures: PathBuf,
    pub(crate) keys: PathBuf,
    pub(crate) build: PathBuf,
}

/// Made once: `kiln fixtures` (121.0 only), `kiln keys generate`, `kiln repack --sign-key`,
/// stray `.txt`/`.json` files, then `kiln checksums`. Tests that modify it work on a copy.
pub(crate) fn release() -> &'static Release {
    static RELEASE: OnceLock<Release> = OnceLock::new();
    RELEASE.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("kiln-tools-release");
        let _ = std::fs::remove_dir_all(&root);
        let release = Release {
            fixtures: root.join("fixtures"),
            keys: root.join("keys"),
            build: root.join("build"),
        };
        let s = |p: &Path| p.to_str().unwrap().to_owned();
        kiln_ok(&[
            "fixtures",
            "--out",
            &s(&release.fixtures),
            "--versions",
            "121.0",
        ]);
        kiln_ok(&["keys", "generate", "--out", &s(&release.keys)]);
        kiln_ok(&[
            "repack",
            "--fixtures",
            &s(&release.fixtures),
            "--version",
            "121.0",
            "--out",
            &s(&release.build),
            "--sign-key",
            &s(&release.keys.join("ed25519.key")),
        ]);
        std::fs::write(release.build.join("linux64_info.txt"), b"buildID=1\n").unwrap();
        std::fs::write(
            release.build.join("linux-x86_64/de/firefox-121.0.json"),
            b"{}\n",
        )
        .unwrap();
        kiln_ok(&[
            "checksums",
            "--dir",
            &s(&release.build),
            "--pgp-key",
            &s(&release.keys.join("openpgp.key")),
        ]);
        release
    })
}

/// Flips one bit in the middle of a file.
pub(crate) fn flip_byte(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(path, bytes).unwrap();
}

/// Path as `&str` for command arguments.
pub(crate) fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}
