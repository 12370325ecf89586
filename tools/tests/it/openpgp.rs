use std::path::Path;
use std::process::Command;

use kiln_tools::signing::openpgp::{self, ReleaseCert};

use crate::util::{copy_tree, flip_byte, kiln_ok, release, s};

/// `gpg` in a fresh, private GNUPGHOME that has imported `key`.
struct Gpg {
    home: tempfile::TempDir,
}

impl Gpg {
    fn with_key(key: &Path) -> Gpg {
        let home = tempfile::tempdir().unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let gpg = Gpg { home };
        let output = gpg.command().args(["--import", s(key)]).output().unwrap();
        assert!(
            output.status.success(),
            "gpg --import: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        gpg
    }

    fn command(&self) -> Command {
        let mut command = Command::new("gpg");
        command
            .env("GNUPGHOME", self.home.path())
            .args(["--batch", "--no-tty"]);
        command
    }

    fn verifies(&self, signature: &Path, data: &Path) -> bool {
        self.command()
            .args(["--verify", s(signature), s(data)])
            .output()
            .unwrap()
            .status
            .success()
    }
}

#[test]
fn stock_gpg_verifies_sums_and_rejects_a_flipped_byte() {
    let release = release();
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "KEY",
        "SHA256SUMS",
        "SHA256SUMS.asc",
        "SHA512SUMS",
        "SHA512SUMS.asc",
    ] {
        std::fs::copy(release.build.join(name), dir.path().join(name)).unwrap();
    }
    let gpg = Gpg::with_key(&dir.path().join("KEY"));
    assert!(gpg.verifies(
        &dir.path().join("SHA512SUMS.asc"),
        &dir.path().join("SHA512SUMS")
    ));
    assert!(gpg.verifies(
        &dir.path().join("SHA256SUMS.asc"),
        &dir.path().join("SHA256SUMS")
    ));
    flip_byte(&dir.path().join("SHA512SUMS"));
    assert!(!gpg.verifies(
        &dir.path().join("SHA512SUMS.asc"),
        &dir.path().join("SHA512SUMS")
    ));
    // A keyring holding only another release key does not accept the signature.
    let stranger = tempfile::tempdir().unwrap();
    kiln_ok(&["keys", "generate", "--out", s(stranger.path())]);
    let other = Gpg::with_key(&stranger.path().join("KEY"));
    assert!(!other.verifies(
        &release.build.join("SHA256SUMS.asc"),
        &release.build.join("SHA256SUMS")
    ));
}

#[test]
fn sequoia_rejects_tampered_sums() {
    let release = release();
    let cert = ReleaseCert::load(&release.build.join("KEY")).unwrap();
    let sums = std::fs::read(release.build.join("SHA512SUMS")).unwrap();
    let asc = std::fs::read(release.build.join("SHA512SUMS.asc")).unwrap();
    cert.verify_detached(&sums, &asc).unwrap();
    let mut tampered = sums.clone();
    tampered[10] ^= 1;
    assert!(cert.verify_detached(&tampered, &asc).is_err());
}

#[test]
fn certificate_is_v4_with_a_signing_subkey() {
    let cert = openpgp::generate(openpgp::DEFAULT_USER_ID).unwrap();
    assert_eq!(cert.signing_subkeys().unwrap().len(), 1);
    let public = ReleaseCert::from_bytes(&cert.to_armored_public().unwrap(), "KEY").unwrap();
    assert_eq!(
        public.fingerprint().len(),
        40,
        "v4 fingerprints are 40 hex digits"
    );
    assert!(
        public.sign_detached_armored(b"data").is_err(),
        "a public certificate cannot sign"
    );
}

#[test]
fn subkey_rotation_keeps_old_signatures_verifiable() {
    let release = release();
    let keys = tempfile::tempdir().unwrap();
    copy_tree(&release.keys, keys.path());
    let build = tempfile::tempdir().unwrap();
    for name in ["SHA512SUMS", "SHA512SUMS.asc", "KEY"] {
        std::fs::copy(
            release.build.join(name),
            build.path().join(format!("old-{name}")),
        )
        .unwrap();
    }
    let before = ReleaseCert::load(&keys.path().join("openpgp.key"))
        .unwrap()
        .signing_subkeys()
        .unwrap();
    kiln_ok(&["keys", "rotate", "--dir", s(keys.path())]);
    let rotated = ReleaseCert::load(&keys.path().join("openpgp.key")).unwrap();
    let after = rotated.signing_subkeys().unwrap();
    assert_eq!(after.len(), 2);
    assert_eq!(after[0], before[0]);

    // New signatures use the new subkey; the rotated KEY verifies old and new signatures.
    let data = b"121.0 checksums";
    let new_sig = rotated.sign_detached_armored(data).unwrap();
    let public = ReleaseCert::load(&keys.path().join("KEY")).unwrap();
    public.verify_detached(data, &new_sig).unwrap();
    let old_sums = std::fs::read(build.path().join("old-SHA512SUMS")).unwrap();
    let old_asc = std::fs::read(build.path().join("old-SHA512SUMS.asc")).unwrap();
    public.verify_detached(&old_sums, &old_asc).unwrap();

    // Stock gpg agrees, and reports the new subkey for new signatures.
    std::fs::write(build.path().join("new.txt"), data).unwrap();
    std::fs::write(build.path().join("new.txt.asc"), &new_sig).unwrap();
    let gpg = Gpg::with_key(&keys.path().join("KEY"));
    assert!(gpg.verifies(
        &build.path().join("old-SHA512SUMS.asc"),
        &build.path().join("old-SHA512SUMS")
    ));
    let output = gpg
        .command()
        .args([
            "--verify",
            s(&build.path().join("new.txt.asc")),
            s(&build.path().join("new.txt")),
        ])
        .output()
        .unwrap();
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr).replace(' ', "");
    assert!(stderr.contains(&after[1]), "{stderr}");
}

// See: `docs/release-process.md` Part C scenario 4 ("Every Linux firefox-121.0.tar.* has a valid .asc").
#[test]
fn every_linux_tarball_has_a_valid_asc() {
    let release = release();
    let gpg = Gpg::with_key(&release.build.join("KEY"));
    let mut checked = 0;
    for entry in walkdir::WalkDir::new(&release.build) {
        let entry = entry.unwrap();
        let rel = entry
            .path()
            .strip_prefix(&release.build)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let asc = release.build.join(format!("{rel}.asc"));
        if kiln_tools::checksums::is_linux_tarball(&rel) {
            assert!(gpg.verifies(&asc, entry.path()), "{rel}.asc");
            checked += 1;
        } else if rel.ends_with(".tar.gz") || rel.ends_with(".zip") {
            assert!(!asc.exists(), "{rel} should have no .asc");
        }
    }
    assert_eq!(checked, 6, "4 locale + 2 acme Linux tarballs");

    let dir = tempfile::tempdir().unwrap();
    copy_tree(&release.build, dir.path());
    flip_byte(&dir.path().join("linux-x86_64/fr/firefox-121.0.tar.xz.asc"));
    let output = crate::util::kiln(&[
        "verify",
        "--dir",
        s(dir.path()),
        "--key",
        s(&release.keys.join("ed25519.pub")),
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr)
        .contains("linux-x86_64/fr/firefox-121.0.tar.xz.asc"));
}
