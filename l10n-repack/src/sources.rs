//! Loading locale sources (`l10n/<locale>/{app,omni}/…`) and partner directories
//! (`partners/<partner>/<sub>/{repack.cfg,distribution/,extensions/}`) into memory, with the same
//! hostile-path checks as archives and a digest of everything read (for resumable reruns).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::tree::check_entry_name;
use crate::{Locale, RepackError};

/// Files of a source directory: (validated relative path, bytes), sorted by path.
pub(crate) type Files = Vec<(String, Vec<u8>)>;

/// Reads every file under `dir`; symlinks and special files are rejected.
fn read_dir(dir: &Path) -> Result<Files, RepackError> {
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(dir)
        .follow_links(false)
        .sort_by_file_name()
    {
        let entry = entry.map_err(|e| RepackError::Io {
            path: e.path().map_or_else(|| dir.to_owned(), Path::to_owned),
            source: e.into(),
        })?;
        let rel = entry.path().strip_prefix(dir).unwrap_or(entry.path());
        let rel_str = rel
            .to_string_lossy()
            .replace(std::path::MAIN_SEPARATOR, "/");
        let kind = entry.file_type();
        if kind.is_dir() {
            continue;
        }
        if !kind.is_file() {
            return Err(RepackError::HostileEntry {
                path: dir.to_owned(),
                entry: rel_str,
                reason: "symlinks and special files are not allowed in source directories",
            });
        }
        let name = check_entry_name(&rel_str).map_err(|reason| RepackError::HostileEntry {
            path: dir.to_owned(),
            entry: rel_str.clone(),
            reason,
        })?;
        let data = std::fs::read(entry.path()).map_err(RepackError::io(entry.path()))?;
        files.push((name, data));
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(files)
}

fn digest_files(hasher: &mut Sha256, label: &str, files: &Files) {
    hasher.update(label.as_bytes());
    for (name, data) in files {
        hasher.update((name.len() as u64).to_le_bytes());
        hasher.update(name.as_bytes());
        hasher.update((data.len() as u64).to_le_bytes());
        hasher.update(data);
    }
}

/// Whether a path relative to the resources dir is a localized app file a locale may replace:
/// `dictionaries/…` or `…defaults/pref*/*-l10n.js`.
pub(crate) fn is_localized_app_file(rel: &str) -> bool {
    if rel.starts_with("dictionaries/") {
        return true;
    }
    let parts: Vec<&str> = rel.split('/').collect();
    let n = parts.len();
    n >= 3
        && parts[n - 3] == "defaults"
        && parts[n - 2].starts_with("pref")
        && parts[n - 1].ends_with("-l10n.js")
}

/// A locale's sources.
#[derive(Debug)]
pub(crate) struct LocaleSource {
    /// Files for the resources dir.
    pub(crate) app: Files,
    /// Entries for `omni.ja`.
    pub(crate) omni: Files,
    /// SHA-256 over everything above.
    pub(crate) digest: [u8; 32],
}

/// Loads `l10n/<locale>` from `root` (the `l10n` dir), checking every file is localized.
pub(crate) fn load_locale(root: &Path, locale: &Locale) -> Result<LocaleSource, RepackError> {
    let dir = root.join(locale.as_str());
    let app_dir = dir.join("app");
    let omni_dir = dir.join("omni");
    let app = if app_dir.is_dir() {
        read_dir(&app_dir)?
    } else {
        Vec::new()
    };
    let omni = if omni_dir.is_dir() {
        read_dir(&omni_dir)?
    } else {
        Vec::new()
    };
    for (name, _) in &app {
        if !is_localized_app_file(name) {
            return Err(RepackError::NotLocalized {
                path: app_dir.join(name),
                reason: "app files must be dictionaries/* or defaults/pref*/*-l10n.js",
            });
        }
    }
    let chrome = format!("chrome/{locale}/");
    let fluent = format!("localization/{locale}/");
    for (name, _) in &omni {
        if !(name.starts_with(&chrome) || name.starts_with(&fluent)) {
            return Err(RepackError::NotLocalized {
                path: omni_dir.join(name),
                reason: "omni.ja entries must be under chrome/<locale>/ or localization/<locale>/",
            });
        }
    }
    let mut hasher = Sha256::new();
    digest_files(&mut hasher, "app", &app);
    digest_files(&mut hasher, "omni", &omni);
    Ok(LocaleSource {
        app,
        omni,
        digest: hasher.finalize().into(),
    })
}

/// A partner sub-config with its files.
#[derive(Debug)]
pub(crate) struct PartnerSource {
    /// `distribution/` files.
    pub(crate) distribution: Files,
    /// `extensions/` files (may be empty).
    pub(crate) extensions: Files,
    /// SHA-256 over the config and files.
    pub(crate) digest: [u8; 32],
}

/// Loads a partner sub-config directory.
/// (Its `repack.cfg` was parsed by [`crate::RepackInputs::load`]; here it is only hashed.)
pub(crate) fn load_partner(dir: &Path) -> Result<PartnerSource, RepackError> {
    let cfg_path = dir.join("repack.cfg");
    let cfg_text = std::fs::read(&cfg_path).map_err(RepackError::io(&cfg_path))?;
    let dist_dir = dir.join("distribution");
    if !dist_dir.join("distribution.ini").is_file() {
        return Err(RepackError::UnexpectedLayout {
            path: dist_dir,
            message: "a partner needs distribution/distribution.ini".to_owned(),
        });
    }
    let distribution = read_dir(&dist_dir)?;
    let ext_dir = dir.join("extensions");
    let extensions = if ext_dir.is_dir() {
        read_dir(&ext_dir)?
    } else {
        Vec::new()
    };
    let mut hasher = Sha256::new();
    hasher.update(&cfg_text);
    digest_files(&mut hasher, "distribution", &distribution);
    digest_files(&mut hasher, "extensions", &extensions);
    Ok(PartnerSource {
        distribution,
        extensions,
        digest: hasher.finalize().into(),
    })
}

/// Every `partners/<partner>/<sub>` directory holding a `repack.cfg`, sorted.
pub(crate) fn partner_dirs(root: &Path) -> Result<Vec<(String, String, PathBuf)>, RepackError> {
    let mut out = Vec::new();
    if !root.is_dir() {
        return Ok(out);
    }
    let list = |dir: &Path| -> Result<Vec<(String, PathBuf)>, RepackError> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(RepackError::io(dir))? {
            let entry = entry.map_err(RepackError::io(dir))?;
            if entry
                .file_type()
                .map_err(RepackError::io(&entry.path()))?
                .is_dir()
            {
                names.push((
                    entry.file_name().to_string_lossy().into_owned(),
                    entry.path(),
                ));
            }
        }
        names.sort();
        Ok(names)
    };
    for (partner, partner_dir) in list(root)? {
        for (sub, sub_dir) in list(&partner_dir)? {
            if sub_dir.join("repack.cfg").is_file() {
                for name in [&partner, &sub] {
                    if check_entry_name(name).is_err() || name.contains('/') {
                        return Err(RepackError::HostileEntry {
                            path: root.to_owned(),
                            entry: name.clone(),
                            reason: "partner names must be plain directory names",
                        });
                    }
                }
                out.push((partner.clone(), sub, sub_dir));
            }
        }
    }
    Ok(out)
}
