//! `SHA256SUMS` and `SHA512SUMS` over a build directory, their OpenPGP signatures, and their
//! verification.
//!
//! Each line is `<hex>  <relpath>` (two spaces, `/`-separated path relative to the directory),
//! sorted by path. Listed: every archive, installer, MAR and langpack ([`is_listed`]) once;
//! never `.txt`/`.json`, signatures, the sums themselves, or anything under a hidden directory
//! (such as the repack journal).

use std::io::Read;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use sha2::{Digest, Sha256, Sha512};

use crate::signing::openpgp::ReleaseCert;
use crate::signing::SigningError;

/// File-name endings of listed artifacts (Mozilla's `generate-checksums` include list, plus
/// `.tar.gz`/`.tar.zst`/`.zip` archives).
pub const LISTED_SUFFIXES: [&str; 13] = [
    ".tar.xz", ".tar.gz", ".tar.bz2", ".tar.zst", ".zip", ".dmg", ".pkg", ".mar", ".exe", ".msi",
    ".msix", ".xpi", ".snap",
];

/// The checksum files, their signatures and the public certificate, at the directory root.
pub const SUMS_FILES: [&str; 2] = ["SHA256SUMS", "SHA512SUMS"];

/// Whether a relative path is an artifact the sums list.
pub fn is_listed(rel: &str) -> bool {
    !rel.split('/').any(|c| c.starts_with('.')) && LISTED_SUFFIXES.iter().any(|s| rel.ends_with(s))
}

/// Whether a relative path is a Linux tarball, which also gets a detached armored OpenPGP
/// signature `<file>.asc` (as Mozilla publishes for `firefox-*.tar.*`).
pub fn is_linux_tarball(rel: &str) -> bool {
    let mut components = rel.split('/');
    let name = components.next_back().unwrap_or_default();
    is_listed(rel) && name.contains(".tar.") && components.any(|c| c.starts_with("linux-"))
}

/// The `.asc` file of an artifact.
pub fn asc_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".asc");
    PathBuf::from(name)
}

/// Every listed artifact under `dir`, as sorted relative paths.
pub fn artifacts(dir: &Path) -> Result<Vec<String>, SigningError> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(dir).follow_links(false) {
        let entry = entry.map_err(|e| SigningError::Io {
            path: e.path().map_or_else(|| dir.to_owned(), Path::to_owned),
            source: e.into(),
        })?;
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry.path().strip_prefix(dir).unwrap_or(entry.path());
        let rel = rel
            .to_string_lossy()
            .replace(std::path::MAIN_SEPARATOR, "/");
        if is_listed(&rel) {
            out.push(rel);
        }
    }
    out.sort();
    Ok(out)
}

/// SHA-256 and SHA-512 of a file, hex, read once.
fn digest_file(path: &Path) -> Result<(String, String), SigningError> {
    let mut file = std::fs::File::open(path).map_err(SigningError::io(path))?;
    let mut sha256 = Sha256::new();
    let mut sha512 = Sha512::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer).map_err(SigningError::io(path))?;
        if n == 0 {
            break;
        }
        sha256.update(&buffer[..n]);
        sha512.update(&buffer[..n]);
    }
    Ok((
        hex::encode(sha256.finalize()),
        hex::encode(sha512.finalize()),
    ))
}

/// The texts of `SHA256SUMS` and `SHA512SUMS` for `dir`.
pub fn compute(dir: &Path) -> Result<(String, String), SigningError> {
    let files = artifacts(dir)?;
    let digests: Vec<(String, String)> = files
        .par_iter()
        .map(|rel| digest_file(&dir.join(rel)))
        .collect::<Result<_, _>>()?;
    let mut sha256 = String::new();
    let mut sha512 = String::new();
    for (rel, (d256, d512)) in files.iter().zip(digests) {
        sha256.push_str(&format!("{d256}  {rel}\n"));
        sha512.push_str(&format!("{d512}  {rel}\n"));
    }
    Ok((sha256, sha512))
}

/// Writes `path` atomically (temp file in the same directory, then rename), world-readable.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SigningError> {
    write_atomic_mode(path, bytes, 0o644)
}

/// Writes `path` atomically with Unix permission bits `mode` (0600 for secrets).
pub fn write_atomic_mode(path: &Path, bytes: &[u8], mode: u32) -> Result<(), SigningError> {
    use std::io::Write;
    let parent = path.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(parent)
        .map_err(SigningError::io(parent))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        temp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(SigningError::io(path))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    temp.write_all(bytes).map_err(SigningError::io(path))?;
    temp.persist(path).map_err(|e| SigningError::Io {
        path: path.to_owned(),
        source: e.error,
    })?;
    Ok(())
}

/// Writes a detached armored signature `<file>.asc` for every Linux tarball without a valid one
/// (so a directory that gained builds, such as a partner respin's, keeps its earlier `.asc`
/// files byte for byte), then `SHA256SUMS`, `SHA512SUMS`, their detached armored signatures
/// (`.asc`) and `KEY` (the armored public certificate) into `dir` ([`write_sums`]). Returns the
/// number of files listed.
pub fn write_signed(dir: &Path, cert: &ReleaseCert) -> Result<usize, SigningError> {
    let tarballs: Vec<String> = artifacts(dir)?
        .into_iter()
        .filter(|rel| is_linux_tarball(rel))
        .collect();
    tarballs
        .par_iter()
        .try_for_each(|rel| -> Result<(), SigningError> {
            let path = dir.join(rel);
            let data = std::fs::read(&path).map_err(SigningError::io(&path))?;
            let asc = asc_path(&path);
            let valid = std::fs::read(&asc)
                .is_ok_and(|signature| cert.verify_detached(&data, &signature).is_ok());
            if valid {
                return Ok(());
            }
            write_atomic(&asc, &cert.sign_detached_armored(&data)?)
        })?;
    write_sums(dir, cert)
}

/// Writes `SHA256SUMS`, `SHA512SUMS`, their detached armored signatures and `KEY` into `dir`,
/// over the artifacts it holds now, unless the sums there already list exactly those (so a
/// directory that did not change keeps its files byte for byte). Returns the number listed.
pub fn write_sums(dir: &Path, cert: &ReleaseCert) -> Result<usize, SigningError> {
    let (sha256, sha512) = compute(dir)?;
    let count = sha256.lines().count();
    let current = SUMS_FILES
        .iter()
        .zip([&sha256, &sha512])
        .all(|(name, text)| {
            std::fs::read(dir.join(name)).ok().as_deref() == Some(text.as_bytes())
                && dir.join(format!("{name}.asc")).is_file()
        });
    if current && dir.join("KEY").is_file() {
        return Ok(count);
    }
    for (name, text) in SUMS_FILES.iter().zip([sha256, sha512]) {
        let signature = cert.sign_detached_armored(text.as_bytes())?;
        write_atomic(&dir.join(name), text.as_bytes())?;
        write_atomic(&dir.join(format!("{name}.asc")), &signature)?;
    }
    write_atomic(&dir.join("KEY"), &cert.to_armored_public()?)?;
    Ok(count)
}

/// Checks every Linux tarball's `.asc` and both sums files of `dir`: their `.asc` against
/// `cert`, every line's hash, and that they list exactly the artifacts present. Returns one
/// message per problem (empty: all good).
pub fn verify(dir: &Path, cert: &ReleaseCert) -> Result<Vec<String>, SigningError> {
    let present = artifacts(dir)?;
    let tarballs: Vec<&String> = present.iter().filter(|rel| is_linux_tarball(rel)).collect();
    let mut problems: Vec<String> = tarballs
        .par_iter()
        .filter_map(|rel| {
            let path = dir.join(rel);
            let signature = match std::fs::read(asc_path(&path)) {
                Ok(signature) => signature,
                Err(_) => return Some(format!("{rel}.asc: missing")),
            };
            let data = match std::fs::read(&path) {
                Ok(data) => data,
                Err(e) => return Some(format!("{rel}: {e}")),
            };
            cert.verify_detached(&data, &signature)
                .err()
                .map(|e| format!("{rel}.asc: {e}"))
        })
        .collect();
    let (sha256, sha512) = compute(dir)?;
    for (name, expected) in SUMS_FILES.iter().zip([sha256, sha512]) {
        let path: PathBuf = dir.join(name);
        let Ok(text) = std::fs::read(&path) else {
            problems.push(format!("{name}: missing"));
            continue;
        };
        match std::fs::read(dir.join(format!("{name}.asc"))) {
            Ok(signature) => {
                if let Err(e) = cert.verify_detached(&text, &signature) {
                    problems.push(format!("{name}.asc: {e}"));
                }
            }
            Err(_) => problems.push(format!("{name}.asc: missing")),
        }
        let text = String::from_utf8_lossy(&text);
        if text != expected {
            let listed: Vec<&str> = text
                .lines()
                .filter_map(|l| l.split_once("  ").map(|(_, p)| p))
                .collect();
            for line in text.lines() {
                if !expected.lines().any(|e| e == line) {
                    problems.push(format!("{name}: wrong or stale line {line:?}"));
                }
            }
            for rel in &present {
                if !listed.contains(&rel.as_str()) {
                    problems.push(format!("{name}: {rel} is not listed"));
                }
            }
        }
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    #[test]
    fn listing_rules() {
        for yes in [
            "linux-x86_64/de/firefox-121.0.tar.xz",
            "update/mac/de/firefox-121.0.complete.mar",
            "win64/de/firefox-121.0.zip",
            "linux-x86_64/xpi/de.xpi",
        ] {
            assert!(super::is_listed(yes), "{yes}");
        }
        for no in [
            "SHA256SUMS",
            "a.txt",
            "b.json",
            "x.tar.xz.sig",
            "SHA512SUMS.asc",
            ".kiln-repack/x.zip",
            "KEY",
        ] {
            assert!(!super::is_listed(no), "{no}");
        }
    }

    #[test]
    fn linux_tarballs() {
        assert!(super::is_linux_tarball(
            "linux-x86_64/de/firefox-121.0.tar.xz"
        ));
        assert!(super::is_linux_tarball(
            "partner-repacks/acme/acme/v1/linux-x86_64/de/firefox-121.0.tar.xz"
        ));
        assert!(!super::is_linux_tarball("mac/de/firefox-121.0.tar.gz"));
        assert!(!super::is_linux_tarball(
            "update/linux-x86_64/de/firefox-121.0.complete.mar"
        ));
        assert!(!super::is_linux_tarball("linux-x86_64/xpi/de.xpi"));
    }
}
