//! The checks made before anything is touched: channel (22) and version (23) from the PIB, against
//! the install's `update-settings.ini` and `application.ini` (`docs/mar-format.md` B1.4), both read
//! from the install's resources directory ([`resources_dir`]).

use std::cmp::Ordering;
use std::path::Path;

use crate::product_info::ProductInfo;
use crate::update::apply::ApplyError;
use crate::update::layout::resources_dir;
use crate::update::version::compare_versions;

/// Reads `key` from `[section]` of an INI file's text (first match; whitespace trimmed), the way
/// Mozilla's updater reads `application.ini` and `update-settings.ini`. Hand-rolled: those files
/// are a few flat `key=value` lines, and the updater itself does no more than this.
pub fn ini_value(text: &str, section: &str, key: &str) -> Option<String> {
    let mut in_section = false;
    for line in text.lines() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_section = name.trim() == section;
        } else if in_section {
            if let Some((k, v)) = line.split_once('=') {
                if k.trim() == key {
                    return Some(v.trim().to_owned());
                }
            }
        }
    }
    None
}

fn read_ini(path: &Path) -> Option<String> {
    std::fs::read(path)
        .ok()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// The channels the install rooted at `install_dir` accepts (`[Settings]
/// ACCEPTED_MAR_CHANNEL_IDS` of its `update-settings.ini`, split on space, comma and tab); empty
/// means no restriction, as when the file is missing.
pub fn accepted_channels(install_dir: &Path) -> Vec<String> {
    read_ini(&resources_dir(install_dir).join("update-settings.ini"))
        .map(|text| accepted_channels_in(&text))
        .unwrap_or_default()
}

/// The channels an `update-settings.ini` text accepts, as [`accepted_channels`] reads them from
/// an install (for a build still in its archive).
pub fn accepted_channels_in(update_settings: &str) -> Vec<String> {
    ini_value(update_settings, "Settings", "ACCEPTED_MAR_CHANNEL_IDS")
        .map(|list| {
            list.split([' ', ',', '\t'])
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The installed version (`[App] Version` of the `application.ini` of the install rooted at
/// `install_dir`), if readable.
pub fn installed_version(install_dir: &Path) -> Option<String> {
    installed_build(install_dir).version
}

/// What an install's `application.ini` says it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InstalledBuild {
    /// `[App] Version`.
    pub version: Option<String>,
    /// `[App] BuildID`.
    pub build_id: Option<String>,
}

/// The version and build ID of the install rooted at `install_dir` (its resources directory's
/// `application.ini`); `None` for what is unreadable.
pub fn installed_build(install_dir: &Path) -> InstalledBuild {
    let text = read_ini(&resources_dir(install_dir).join("application.ini"));
    let get = |key| text.as_deref().and_then(|t| ini_value(t, "App", key));
    InstalledBuild {
        version: get("Version"),
        build_id: get("BuildID"),
    }
}

/// Checks that the tree rooted at `root` is the build `version`/`build_id`: its `application.ini`
/// says both, else [`ApplyError::UnexpectedBuild`] (22).
pub fn check_build(root: &Path, version: &str, build_id: &str) -> Result<(), ApplyError> {
    let found = installed_build(root);
    if found.version.as_deref() == Some(version) && found.build_id.as_deref() == Some(build_id) {
        return Ok(());
    }
    Err(ApplyError::UnexpectedBuild {
        expected: format!("{version} ({build_id})"),
        found: format!(
            "{} ({})",
            found.version.as_deref().unwrap_or("no version"),
            found.build_id.as_deref().unwrap_or("no build ID")
        ),
    })
}

/// Checks the PIB against the install: channel accepted (22), version not older (23).
pub(crate) fn check_product_info(
    pib: Option<&ProductInfo>,
    install_dir: &Path,
    current_version: Option<&str>,
) -> Result<(), ApplyError> {
    let pib = pib.ok_or(ApplyError::NoProductInfo)?;
    let accepted = accepted_channels(install_dir);
    if !accepted.is_empty() && !accepted.iter().any(|c| c == pib.channel()) {
        return Err(ApplyError::ChannelMismatch {
            channel: pib.channel().to_owned(),
            accepted,
        });
    }
    let installed = current_version
        .map(str::to_owned)
        .or_else(|| installed_version(install_dir));
    if let Some(installed) = installed {
        if compare_versions(&installed, pib.version()) == Ordering::Greater {
            return Err(ApplyError::Downgrade {
                installed,
                update: pib.version().to_owned(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ini_values_by_section() {
        let text = "[App]\nName=x\r\n[Settings]\r\nACCEPTED_MAR_CHANNEL_IDS = a, b\tc\r\n";
        assert_eq!(
            ini_value(text, "Settings", "ACCEPTED_MAR_CHANNEL_IDS").as_deref(),
            Some("a, b\tc")
        );
        assert_eq!(ini_value(text, "App", "ACCEPTED_MAR_CHANNEL_IDS"), None);
    }

    #[test]
    fn channel_and_version_checks() {
        let dir = tempfile::tempdir().unwrap();
        let pib = ProductInfo::new("release", "120.0").unwrap();
        // No settings and no version: no restriction.
        check_product_info(Some(&pib), dir.path(), None).unwrap();
        std::fs::write(
            dir.path().join("update-settings.ini"),
            "[Settings]\nACCEPTED_MAR_CHANNEL_IDS=beta,release\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("application.ini"), "[App]\nVersion=120.0\n").unwrap();
        check_product_info(Some(&pib), dir.path(), None).unwrap();
        let beta = ProductInfo::new("nightly", "121.0").unwrap();
        assert_eq!(
            check_product_info(Some(&beta), dir.path(), None)
                .unwrap_err()
                .code(),
            22
        );
        assert_eq!(
            check_product_info(Some(&pib), dir.path(), Some("121.0"))
                .unwrap_err()
                .code(),
            23
        );
        assert_eq!(
            check_product_info(None, dir.path(), None)
                .unwrap_err()
                .code(),
            21
        );
    }
}
