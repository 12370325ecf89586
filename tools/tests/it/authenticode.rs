//! Authenticode on the win64 fixtures' PE files, checked by the real peer, `osslsigncode`
//! (Debian's, installed by `scripts/test.sh`; a missing one fails these tests).

use std::path::{Path, PathBuf};
use std::process::Command;

use kiln_tools::signing::authenticode::{self, AuthenticodeError};
use kiln_tools::signing::pe::{PeError, PeImage};

use crate::util::{kiln, kiln_ok, release, s};

/// The PE files of the shared release's win64 en-US build, unsigned, copied into `dir`.
pub(crate) fn pe_files(dir: &Path) -> Vec<PathBuf> {
    let archive = release()
        .fixtures
        .join("builds/121.0/win64/en-US/firefox-121.0.zip");
    let mut zip = zip::ZipArchive::new(std::fs::File::open(archive).unwrap()).unwrap();
    let mut out = Vec::new();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).unwrap();
        let name = entry.name().unwrap().into_owned();
        if name.ends_with(".exe") || name.ends_with(".dll") {
            let path = dir.join(name.rsplit('/').next().unwrap());
            let mut file = std::fs::File::create(&path).unwrap();
            std::io::copy(&mut entry, &mut file).unwrap();
            out.push(path);
        }
    }
    out.sort();
    assert!(out.len() >= 5, "{out:?}");
    out
}

/// `osslsigncode ARGS`: (success, stdout + stderr).
pub(crate) fn osslsigncode(args: &[&str]) -> (bool, String) {
    let output = Command::new("osslsigncode")
        .args(args)
        .output()
        .expect("osslsigncode must be installed (scripts/test.sh installs it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

fn ossl_verifies(ca: &Path, file: &Path) -> (bool, String) {
    osslsigncode(&["verify", "-CAfile", s(ca), "-in", s(file)])
}

/// The hex digest osslsigncode reports on `label` ("Current message digest" = the signed one,
/// "Calculated message digest" = the image's).
fn reported(text: &str, label: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} in\n{text}"))
        .trim_start_matches([' ', ':'])
        .trim()
        .to_ascii_lowercase()
}

/// `kiln sign --authenticode FILES… EXTRA…` with `keys`' `authenticode.pem` and `.key`.
pub(crate) fn kiln_sign(files: &[PathBuf], keys: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["sign", "--authenticode"];
    args.extend(files.iter().map(|p| s(p)));
    let (cert, key) = (keys.join("authenticode.pem"), keys.join("authenticode.key"));
    args.extend(["--cert", s(&cert), "--key", s(&key)]);
    args.extend(extra);
    kiln(&args)
}

/// [`kiln_sign`], asserting success.
pub(crate) fn sign(files: &[PathBuf], keys: &Path) {
    let output = kiln_sign(files, keys, &[]);
    assert!(output.status.success(), "kiln sign failed: {output:?}");
}

fn ca(keys: &Path) -> Vec<x509_cert::Certificate> {
    authenticode::load_certificates(&keys.join("authenticode-ca.pem")).unwrap()
}

#[test]
fn kiln_signs_and_osslsigncode_verifies_every_pe_file() {
    let dir = tempfile::tempdir().unwrap();
    let keys = &release().keys;
    let files = pe_files(dir.path());
    let unsigned: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    sign(&files, keys);
    let ca_pem = keys.join("authenticode-ca.pem");
    for (file, before) in files.iter().zip(&unsigned) {
        let (ok, text) = ossl_verifies(&ca_pem, file);
        assert!(ok, "{}: {text}", file.display());
        let signed = std::fs::read(file).unwrap();
        // The digest Kiln signed and computes is the one osslsigncode reads and calculates,
        // and signing does not change it.
        let ours = hex::encode(authenticode::image_digest(&signed).unwrap());
        assert_eq!(ours, reported(&text, "Current message digest"));
        assert_eq!(ours, reported(&text, "Calculated message digest"));
        assert_eq!(
            ours,
            hex::encode(authenticode::image_digest(before).unwrap())
        );
        let verified = authenticode::verify_image(&signed, &ca(keys)).unwrap();
        assert_eq!(hex::encode(verified.digest), ours);
        assert!(
            text.lines().any(|l| l.starts_with("PE checksum   :")),
            "the checksum Kiln wrote is right: {text}"
        );
    }
}

#[test]
fn osslsigncode_refuses_a_flipped_byte_a_truncated_table_and_another_ca() {
    let dir = tempfile::tempdir().unwrap();
    let keys = &release().keys;
    let files = pe_files(dir.path());
    let exe = files
        .iter()
        .find(|f| s(f).ends_with("updater.exe"))
        .unwrap();
    sign(std::slice::from_ref(exe), keys);
    let ca_pem = keys.join("authenticode-ca.pem");
    let signed = std::fs::read(exe).unwrap();
    let table = PeImage::parse(&signed)
        .unwrap()
        .certificate_table()
        .unwrap();

    // One byte of the image (in .text) flipped.
    let mut flipped = signed.clone();
    flipped[0x400] ^= 1;
    let path = dir.path().join("flipped.exe");
    std::fs::write(&path, &flipped).unwrap();
    let (ok, text) = ossl_verifies(&ca_pem, &path);
    assert!(!ok, "osslsigncode accepted a flipped byte: {text}");
    assert!(matches!(
        authenticode::verify_image(&flipped, &ca(keys)),
        Err(AuthenticodeError::DigestMismatch { .. })
    ));

    // The certificate table cut short (the directory entry still names its full size).
    let truncated = &signed[..table.end - 64];
    let path = dir.path().join("truncated.exe");
    std::fs::write(&path, truncated).unwrap();
    let (ok, text) = ossl_verifies(&ca_pem, &path);
    assert!(!ok, "osslsigncode accepted a truncated table: {text}");
    assert!(matches!(
        authenticode::verify_image(truncated, &ca(keys)),
        Err(AuthenticodeError::Pe(PeError::Truncated { .. }))
    ));

    // Another CA.
    let other = dir.path().join("other-keys");
    kiln_ok(&["keys", "generate", "--out", s(&other)]);
    let (ok, text) = ossl_verifies(&other.join("authenticode-ca.pem"), exe);
    assert!(!ok, "osslsigncode accepted another CA: {text}");
    assert!(matches!(
        authenticode::verify_image(&signed, &ca(&other)),
        Err(AuthenticodeError::Untrusted(_))
    ));

    // Unsigned.
    let unsigned = &signed[..table.start];
    assert!(authenticode::verify_image(unsigned, &ca(keys)).is_err());
}

#[test]
fn digests_match_osslsigncode_on_its_own_signatures_and_resigning_replaces() {
    let dir = tempfile::tempdir().unwrap();
    let keys = &release().keys;
    let files = pe_files(dir.path());
    let dll = files.iter().find(|f| s(f).ends_with("xul.dll")).unwrap();
    let unsigned = std::fs::read(dll).unwrap();
    // osslsigncode signs the unsigned image with Kiln's leaf; its digest is Kiln's.
    let by_ossl = dir.path().join("ossl.dll");
    let (ok, text) = osslsigncode(&[
        "sign",
        "-certs",
        s(&keys.join("authenticode.pem")),
        "-key",
        s(&keys.join("authenticode.key")),
        "-in",
        s(dll),
        "-out",
        s(&by_ossl),
    ]);
    assert!(ok, "osslsigncode sign: {text}");
    let (ok, text) = ossl_verifies(&keys.join("authenticode-ca.pem"), &by_ossl);
    assert!(ok, "{text}");
    let theirs = std::fs::read(&by_ossl).unwrap();
    let digest = hex::encode(authenticode::image_digest(&unsigned).unwrap());
    assert_eq!(digest, reported(&text, "Calculated message digest"));
    assert_eq!(
        digest,
        hex::encode(authenticode::image_digest(&theirs).unwrap())
    );
    assert_eq!(
        digest,
        hex::encode(authenticode::signed_digest(&theirs).unwrap())
    );

    // Kiln re-signs osslsigncode's file: one signature, Kiln's, and the same bytes as signing
    // the unsigned image (signing is deterministic).
    sign(&[by_ossl.clone(), dll.clone()], keys);
    let resigned = std::fs::read(&by_ossl).unwrap();
    assert_eq!(resigned, std::fs::read(dll).unwrap());
    sign(std::slice::from_ref(dll), keys);
    assert_eq!(
        resigned,
        std::fs::read(dll).unwrap(),
        "re-signing is idempotent"
    );
    let (ok, text) = ossl_verifies(&keys.join("authenticode-ca.pem"), &by_ossl);
    assert!(
        ok && text.contains("Number of verified signatures: 1"),
        "{text}"
    );
}

#[test]
fn malformed_images_are_refused_with_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let files = pe_files(dir.path());
    let good = std::fs::read(&files[0]).unwrap();
    let opt = 0x80 + 24;
    let security = opt + 112 + 32;
    let put = |image: &mut Vec<u8>, at: usize, value: u32| {
        image[at..at + 4].copy_from_slice(&value.to_le_bytes())
    };

    // Truncated headers.
    for len in [0, 10, 0x90, opt + 100] {
        assert!(
            matches!(PeImage::parse(&good[..len]), Err(PeError::Truncated { .. })),
            "{len}"
        );
    }
    assert!(matches!(
        PeImage::parse(b"not a PE file at all, but longer than a DOS header is, so read it..."),
        Err(PeError::BadSignature("MZ"))
    ));
    // e_lfanew past the end.
    let mut bad = good.clone();
    put(&mut bad, 0x3c, u32::MAX);
    assert!(matches!(
        PeImage::parse(&bad),
        Err(PeError::Truncated { .. })
    ));
    // The certificate directory pointing outside the file.
    let mut bad = good.clone();
    put(&mut bad, security, good.len() as u32);
    put(&mut bad, security + 4, 64);
    assert!(matches!(
        PeImage::parse(&bad),
        Err(PeError::Truncated { .. })
    ));
    let mut bad = good.clone();
    put(&mut bad, security, u32::MAX - 4);
    put(&mut bad, security + 4, u32::MAX);
    assert!(matches!(
        PeImage::parse(&bad),
        Err(PeError::Truncated { .. })
    ));
    // A certificate table overlapping the last section.
    let mut bad = good.clone();
    put(&mut bad, security, (good.len() - 0x100) as u32);
    put(&mut bad, security + 4, 0x100);
    assert!(matches!(
        PeImage::parse(&bad),
        Err(PeError::BadCertificateTable { .. })
    ));
    // … or the headers, unaligned.
    let mut bad = good.clone();
    put(&mut bad, security, 0x11);
    put(&mut bad, security + 4, 8);
    assert!(matches!(
        PeImage::parse(&bad),
        Err(PeError::BadCertificateTable { .. })
    ));
    // A section running past the end of the file.
    let mut bad = good.clone();
    put(&mut bad, opt + 240 + 16, u32::MAX);
    assert!(matches!(
        PeImage::parse(&bad),
        Err(PeError::Truncated { .. })
    ));
    // Signing a malformed image is the same typed error, and `kiln sign` fails on it.
    assert!(matches!(
        authenticode::image_digest(&bad),
        Err(AuthenticodeError::Pe(PeError::Truncated { .. }))
    ));
    let path = dir.path().join("bad.exe");
    std::fs::write(&path, &bad).unwrap();
    let keys = &release().keys;
    let output = kiln(&[
        "sign",
        "--authenticode",
        s(&path),
        "--cert",
        s(&keys.join("authenticode.pem")),
        "--key",
        s(&keys.join("authenticode.key")),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("truncated"),
        "{stderr}"
    );
    // Flipping every byte of the headers never panics.
    for at in 0..0x400 {
        let mut bad = good.clone();
        bad[at] ^= 0xff;
        let _ = authenticode::verify_image(&bad, &[]);
        let _ = authenticode::image_digest(&bad);
    }
}

#[test]
fn kiln_verify_reports_unsigned_windows_builds() {
    // The shared build directory's win64 repacks come from unsigned fixtures.
    let release = release();
    let output = kiln(&[
        "verify",
        "--dir",
        s(&release.build),
        "--key",
        s(&release.keys.join("ed25519.pub")),
        "--authenticode-ca",
        s(&release.keys.join("authenticode-ca.pem")),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("firefox/xul.dll: Authenticode: not signed"),
        "{stderr}"
    );
}

#[test]
fn an_expired_signer_is_refused_with_a_typed_error() {
    use kiln_tools::signing::code_signing_ca;
    use std::time::{Duration, SystemTime};
    use x509_cert::time::{Time, Validity};

    let dir = tempfile::tempdir().unwrap();
    let year = Duration::from_secs(365 * 24 * 3600);
    let now = SystemTime::now();
    let credentials = code_signing_ca::generate_valid(Validity {
        not_before: Time::try_from(now - 2 * year).unwrap(),
        not_after: Time::try_from(now - year).unwrap(),
    })
    .unwrap();
    let keys = dir.path().join("expired");
    std::fs::create_dir(&keys).unwrap();
    std::fs::write(keys.join("authenticode-ca.pem"), &credentials.ca_pem).unwrap();
    std::fs::write(keys.join("authenticode.pem"), &credentials.chain_pem).unwrap();
    std::fs::write(keys.join("authenticode.key"), &credentials.key_pem).unwrap();
    let files = pe_files(dir.path());
    let exe = files
        .iter()
        .find(|f| s(f).ends_with("updater.exe"))
        .unwrap();
    sign(std::slice::from_ref(exe), &keys);
    let signed = std::fs::read(exe).unwrap();
    match authenticode::verify_image(&signed, &ca(&keys)) {
        Err(AuthenticodeError::NotValidAt { subject, .. }) => {
            assert!(subject.contains("Kiln local code signing"), "{subject}");
        }
        other => panic!("an expired signer was not refused: {other:?}"),
    }
    // The same signature, checked at a time inside the certificates' validity, is good.
    assert!(authenticode::verify_image_at(&signed, &ca(&keys), now - year * 3 / 2).is_ok());
    // osslsigncode refuses it too.
    let (ok, text) = ossl_verifies(&keys.join("authenticode-ca.pem"), exe);
    assert!(!ok, "osslsigncode accepted an expired signer: {text}");
}
