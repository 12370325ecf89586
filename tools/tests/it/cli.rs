use std::collections::BTreeSet;

use crate::util::{copy_tree, flip_byte, kiln, kiln_ok, release, s};

#[test]
fn verify_accepts_the_signed_build() {
    let release = release();
    let output = kiln_ok(&[
        "verify",
        "--dir",
        s(&release.build),
        "--key",
        s(&release.keys.join("ed25519.pub")),
    ]);
    assert!(String::from_utf8_lossy(&output.stdout).contains("OK: 24 signatures"));
}

#[test]
fn every_archive_verifies_with_the_public_key_and_not_with_another() {
    let release = release();
    let public = mar::keys::PublicKey::load(&release.keys.join("ed25519.pub")).unwrap();
    let key = public.as_ed25519().unwrap();
    let mut checked = 0;
    for entry in walkdir::WalkDir::new(&release.build) {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".tar.xz") || name.ends_with(".tar.gz") || name.ends_with(".zip") {
            let data = std::fs::read(entry.path()).unwrap();
            let sig = std::fs::read(format!("{}.sig", entry.path().display())).unwrap();
            let sig = ed25519_dalek::Signature::from_slice(&sig).unwrap();
            key.verify_strict(&data, &sig).unwrap();
            checked += 1;
        }
    }
    assert_eq!(checked, 24);

    let other = tempfile::tempdir().unwrap();
    kiln_ok(&["keys", "generate", "--out", s(other.path())]);
    let output = kiln(&[
        "verify",
        "--dir",
        s(&release.build),
        "--key",
        s(&other.path().join("ed25519.pub")),
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.matches("bad signature").count(), 24, "{stderr}");
}

#[test]
fn tampered_or_unsigned_archives_fail_verification() {
    let release = release();
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&release.build, dir.path());
    let public = release.keys.join("ed25519.pub");
    flip_byte(&dir.path().join("mac/de/firefox-121.0.tar.gz"));
    std::fs::remove_file(dir.path().join("win64/fr/firefox-121.0.zip.sig")).unwrap();
    let output = kiln(&["verify", "--dir", s(dir.path()), "--key", s(&public)]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("mac/de/firefox-121.0.tar.gz.sig: bad signature"),
        "{stderr}"
    );
    assert!(
        stderr.contains("win64/fr/firefox-121.0.zip: no .sig"),
        "{stderr}"
    );
    assert!(
        stderr.contains("SHA256SUMS: wrong or stale line"),
        "{stderr}"
    );
}

#[test]
fn sums_list_every_archive_once_sorted_and_nothing_else() {
    let release = release();
    let mut archives = BTreeSet::new();
    for entry in walkdir::WalkDir::new(&release.build) {
        let entry = entry.unwrap();
        let rel = entry
            .path()
            .strip_prefix(&release.build)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if [".tar.xz", ".tar.gz", ".zip"]
            .iter()
            .any(|e| rel.ends_with(e))
            && !rel.starts_with('.')
        {
            archives.insert(rel);
        }
    }
    for (name, hex_len) in [("SHA256SUMS", 64), ("SHA512SUMS", 128)] {
        let text = std::fs::read_to_string(release.build.join(name)).unwrap();
        let mut paths = Vec::new();
        for line in text.lines() {
            let (hex, path) = line.split_once("  ").unwrap();
            assert_eq!(hex.len(), hex_len, "{line}");
            assert!(
                hex.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
                "{line}"
            );
            assert!(
                !path.ends_with(".txt") && !path.ends_with(".json") && !path.ends_with(".sig"),
                "{line}"
            );
            paths.push(path.to_owned());
        }
        let mut sorted = paths.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(paths, sorted, "{name} is sorted with no duplicates");
        assert_eq!(
            paths.into_iter().collect::<BTreeSet<_>>(),
            archives,
            "{name} lists exactly the archives"
        );
    }
}

#[test]
fn sha256sum_and_sha512sum_check_the_build_directory() {
    let release = release();
    for (tool, file) in [("sha256sum", "SHA256SUMS"), ("sha512sum", "SHA512SUMS")] {
        let status = std::process::Command::new(tool)
            .args(["-c", "--quiet", file])
            .current_dir(&release.build)
            .status()
            .unwrap();
        assert!(status.success(), "{tool} -c {file}");
    }
}

#[test]
fn generated_keys_load_and_are_private() {
    let release = release();
    let secret = mar::keys::SigningKey::load(&release.keys.join("ed25519.key")).unwrap();
    let public = mar::keys::PublicKey::load(&release.keys.join("ed25519.pub")).unwrap();
    assert!(secret.as_ed25519().is_some());
    assert_eq!(secret.public_key().key_id(), public.key_id());
    let armored = std::fs::read_to_string(release.keys.join("openpgp.key")).unwrap();
    assert!(armored.starts_with("-----BEGIN PGP PRIVATE KEY BLOCK-----"));
    let key = std::fs::read_to_string(release.keys.join("KEY")).unwrap();
    assert!(key.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----"));
    use std::os::unix::fs::PermissionsExt;
    for name in ["ed25519.key", "openpgp.key"] {
        let mode = std::fs::metadata(release.keys.join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name}");
    }
    // Keys are never overwritten.
    let again = kiln(&["keys", "generate", "--out", s(&release.keys)]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("refusing to overwrite a key"));
    assert_eq!(
        std::fs::read_to_string(release.keys.join("openpgp.key")).unwrap(),
        armored
    );
}

#[test]
fn repack_keeps_its_journal_out_of_the_output() {
    let release = release();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let inside = out.join("state");
    let refused = kiln(&[
        "repack",
        "--fixtures",
        s(&release.fixtures),
        "--version",
        "121.0",
        "--out",
        s(&out),
        "--state-dir",
        s(&inside),
    ]);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("is inside --out"), "{stderr}");
    assert!(!out.exists());
    // The shared build directory was repacked with the default state dir: nothing hidden in it.
    let hidden: Vec<_> = walkdir::WalkDir::new(&release.build)
        .into_iter()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path().to_owned())
        .collect();
    assert!(hidden.is_empty(), "{hidden:?}");
}

#[test]
fn repack_reports_hostile_input_with_file_and_line() {
    let release = release();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    copy_tree(&release.fixtures, &input);
    let cfg = input.join("partners/mozilla-EMEfree/mozilla-EMEfree/repack.cfg");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str("win32=perhaps\n");
    let line = text.lines().count();
    std::fs::write(&cfg, text).unwrap();
    let out = dir.path().join("out");
    let output = kiln(&[
        "repack",
        "--fixtures",
        s(&input),
        "--version",
        "121.0",
        "--out",
        s(&out),
        "--chunk",
        "1/3",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("repack.cfg:{line}: win32 must be true or false")),
        "{stderr}"
    );
    assert!(
        !out.exists()
            || walkdir::WalkDir::new(&out)
                .into_iter()
                .all(|e| !e.unwrap().file_type().is_file())
    );
    let bad_chunk = kiln(&[
        "repack",
        "--fixtures",
        s(&input),
        "--version",
        "121.0",
        "--out",
        s(&out),
        "--chunk",
        "4/3",
    ]);
    assert_eq!(bad_chunk.status.code(), Some(2), "a usage error");
    assert!(String::from_utf8_lossy(&bad_chunk.stderr).contains("invalid chunk \"4/3\""));
}

#[test]
fn sign_re_signs_every_archive() {
    let release = release();
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&release.build, dir.path());
    for entry in walkdir::WalkDir::new(dir.path()) {
        let entry = entry.unwrap();
        if entry.file_name().to_string_lossy().ends_with(".sig") {
            std::fs::remove_file(entry.path()).unwrap();
        }
    }
    let public = release.keys.join("ed25519.pub");
    assert_eq!(
        kiln(&["verify", "--dir", s(dir.path()), "--key", s(&public)])
            .status
            .code(),
        Some(1)
    );
    let output = kiln_ok(&[
        "sign",
        "--dir",
        s(dir.path()),
        "--key",
        s(&release.keys.join("ed25519.key")),
    ]);
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("signed 24 files"));
    kiln_ok(&["verify", "--dir", s(dir.path()), "--key", s(&public)]);
}
