//! `repack.cfg`: a partner sub-config's `key=value` settings, parsed like Mozilla's
//! `parseRepackConfig` but strictly: a malformed line is an error naming the file and line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::{Locale, Platform, RepackError};

/// Keys Mozilla's partner configs use that Kiln accepts and ignores.
const IGNORED_KEYS: [&str; 6] = [
    "aus",
    "migrationWizardDisabled",
    "oem",
    "repack_stub_installer",
    "replacement_setup_exe",
    "deb_section",
];

/// Platform keys for builds Kiln does not make (accepted, must still be booleans).
const OTHER_PLATFORM_KEYS: [&str; 3] = ["linux-i686", "win32", "win64-aarch64"];

/// A parsed `repack.cfg`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepackConfig {
    path: PathBuf,
    dist_id: String,
    dist_version: Option<String>,
    locales: Vec<(Locale, usize)>,
    platforms: BTreeMap<Platform, bool>,
    output_dir: String,
}

impl RepackConfig {
    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<RepackConfig, RepackError> {
        let text = std::fs::read_to_string(path).map_err(RepackError::io(path))?;
        RepackConfig::parse(&text, path)
    }

    /// Parses `text`; `path` names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<RepackConfig, RepackError> {
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        let mut dist_id = None;
        let mut dist_version = None;
        let mut locales = Vec::new();
        let mut platforms = BTreeMap::new();
        let mut output_dir = None;
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let error = |message: String| RepackError::Config {
                path: path.to_owned(),
                line,
                message,
            };
            let content = raw.trim();
            if content.is_empty() || content.starts_with('#') {
                continue;
            }
            let (key, value) = content
                .split_once('=')
                .ok_or_else(|| error(format!("expected key=value, got {content:?}")))?;
            let key = key.trim();
            if key.is_empty()
                || !key
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
            {
                return Err(error(format!("invalid key {key:?}")));
            }
            if let Some(first) = seen.insert(key.to_owned(), line) {
                return Err(error(format!("key {key} already set on line {first}")));
            }
            let value = value.trim();
            let value = match value.strip_prefix('"') {
                Some(inner) => inner
                    .strip_suffix('"')
                    .ok_or_else(|| error(format!("unterminated quote in {value:?}")))?,
                None => value,
            };
            let boolean = || match value {
                "true" | "True" | "1" => Ok(true),
                "false" | "False" | "0" => Ok(false),
                other => Err(error(format!("{key} must be true or false, not {other:?}"))),
            };
            match key {
                "dist_id" => {
                    if value.is_empty()
                        || !value
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
                    {
                        return Err(error(format!("invalid dist_id {value:?}")));
                    }
                    dist_id = Some(value.to_owned());
                }
                "dist_version" => dist_version = Some(value.to_owned()),
                "locales" => {
                    for token in value.split_whitespace() {
                        let locale = token
                            .parse()
                            .map_err(|_| error(format!("{token:?} is not a locale code")))?;
                        locales.push((locale, line));
                    }
                }
                "output_dir" => output_dir = Some(value.to_owned()),
                _ if IGNORED_KEYS.contains(&key) || key.starts_with("locale.") => {}
                _ if OTHER_PLATFORM_KEYS.contains(&key) => {
                    boolean()?;
                }
                _ => match key.parse::<Platform>() {
                    Ok(platform) => {
                        platforms.insert(platform, boolean()?);
                    }
                    Err(_) => return Err(error(format!("unknown key {key:?}"))),
                },
            }
        }
        let dist_id = dist_id.ok_or_else(|| RepackError::Config {
            path: path.to_owned(),
            line: text.lines().count().max(1),
            message: "dist_id is missing".to_owned(),
        })?;
        let output_dir = output_dir.unwrap_or_else(|| "%(platform)s/%(locale)s".to_owned());
        // Check the pattern once with sample values, so a bad pattern fails before any output.
        expand_output_dir(&output_dir, Platform::Linux64, &"en-US".parse()?).map_err(
            |message| RepackError::Config {
                path: path.to_owned(),
                line: seen.get("output_dir").copied().unwrap_or(1),
                message,
            },
        )?;
        Ok(RepackConfig {
            path: path.to_owned(),
            dist_id,
            dist_version,
            locales,
            platforms,
            output_dir,
        })
    }

    /// The file it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `dist_id`: the partner's distribution id.
    pub fn dist_id(&self) -> &str {
        &self.dist_id
    }

    /// `dist_version`, if set.
    pub fn dist_version(&self) -> Option<&str> {
        self.dist_version.as_deref()
    }

    /// The configured locales with the line each was listed on.
    pub fn locales(&self) -> &[(Locale, usize)] {
        &self.locales
    }

    /// Whether the partner wants builds for `platform` (absent keys mean no).
    pub fn wants(&self, platform: Platform) -> bool {
        self.platforms.get(&platform).copied().unwrap_or(false)
    }

    /// The output directory for one build, relative to the partner's `v<M>` directory.
    pub fn output_dir(&self, platform: Platform, locale: &Locale) -> String {
        // The pattern was validated when parsed.
        expand_output_dir(&self.output_dir, platform, locale).unwrap_or_default()
    }
}

/// Substitutes `%(platform)s` and `%(locale)s`; the result must be a plain relative path.
fn expand_output_dir(pattern: &str, platform: Platform, locale: &Locale) -> Result<String, String> {
    let expanded = pattern
        .replace("%(platform)s", platform.as_str())
        .replace("%(locale)s", locale.as_str());
    if expanded.contains('%') {
        return Err(format!(
            "output_dir {pattern:?} has an unknown substitution"
        ));
    }
    let ok = !expanded.is_empty()
        && expanded.split('/').all(|c| {
            !c.is_empty()
                && c != "."
                && c != ".."
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        });
    if ok {
        Ok(expanded)
    } else {
        Err(format!(
            "output_dir {pattern:?} must expand to a relative path without '..'"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eme_free() {
        let cfg = RepackConfig::parse(
            "dist_id=mozilla-EMEfree\nlocales=\"de ja-JP-mac\"\nmac=true\nwin64=true\n\
             output_dir=\"%(platform)s-EME-free/%(locale)s\"\n",
            Path::new("repack.cfg"),
        )
        .unwrap();
        assert!(cfg.wants(Platform::Mac) && !cfg.wants(Platform::Linux64));
        let de = "de".parse().unwrap();
        assert_eq!(cfg.output_dir(Platform::Win64, &de), "win64-EME-free/de");
    }

    #[test]
    fn malformed_lines() {
        for (text, line) in [
            ("dist_id=a\nnot a pair\n", 2),
            ("dist_id=a\nwin64=maybe\n", 2),
            ("dist_id=a\n\ncolour=red\n", 3),
            ("dist_id=a\nlocales=\"de\n", 2),
            ("dist_id=a\noutput_dir=../../x\n", 2),
            ("dist_id=a\ndist_id=b\n", 2),
        ] {
            match RepackConfig::parse(text, Path::new("r.cfg")) {
                Err(RepackError::Config { line: got, .. }) => assert_eq!(got, line, "{text}"),
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }
}
