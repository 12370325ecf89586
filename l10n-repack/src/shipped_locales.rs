//! `shipped-locales`: one locale per line, optionally limited to some platforms
//! (`ja linux-x86_64 win64`, `ja-JP-mac mac`), as in Mozilla's `browser/locales/shipped-locales`.

use std::path::{Path, PathBuf};

use crate::{Locale, Platform, RepackError};

/// One line of `shipped-locales`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShippedLocale {
    locale: Locale,
    /// `None`: every platform.
    platforms: Option<Vec<Platform>>,
    line: usize,
}

impl ShippedLocale {
    /// The locale.
    pub fn locale(&self) -> &Locale {
        &self.locale
    }

    /// Whether the locale ships on `platform`.
    pub fn ships_on(&self, platform: Platform) -> bool {
        self.platforms
            .as_ref()
            .is_none_or(|list| list.contains(&platform))
    }

    /// The 1-based line it was read from.
    pub fn line(&self) -> usize {
        self.line
    }
}

/// A parsed `shipped-locales` file. Every locale appears once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShippedLocales {
    path: PathBuf,
    entries: Vec<ShippedLocale>,
}

/// Platform tokens: Kiln's names, Mozilla's old aliases, and platforms Kiln does not build
/// (accepted and ignored, so Mozilla's own files parse).
fn platform_token(token: &str) -> Result<Option<Platform>, ()> {
    match token {
        "linux-x86_64" | "linux" => Ok(Some(Platform::Linux64)),
        "mac" | "osx" => Ok(Some(Platform::Mac)),
        "win64" => Ok(Some(Platform::Win64)),
        "win32" | "linux-i686" | "win64-aarch64" => Ok(None),
        _ => Err(()),
    }
}

impl ShippedLocales {
    /// Reads and parses the file at `path`.
    pub fn load(path: &Path) -> Result<ShippedLocales, RepackError> {
        let text = std::fs::read_to_string(path).map_err(RepackError::io(path))?;
        ShippedLocales::parse(&text, path)
    }

    /// Parses `text`; `path` names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<ShippedLocales, RepackError> {
        let mut entries: Vec<ShippedLocale> = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let error = |message: String| RepackError::Config {
                path: path.to_owned(),
                line,
                message,
            };
            let content = raw.split('#').next().unwrap_or_default().trim();
            if content.is_empty() {
                continue;
            }
            let mut tokens = content.split_whitespace();
            let first = tokens.next().unwrap_or_default();
            let locale: Locale = first
                .parse()
                .map_err(|_| error(format!("{first:?} is not a locale code")))?;
            if entries.iter().any(|e| e.locale == locale) {
                return Err(error(format!("locale {locale} is listed twice")));
            }
            let rest: Vec<&str> = tokens.collect();
            let platforms = if rest.is_empty() {
                None
            } else {
                let mut list = Vec::new();
                for token in rest {
                    match platform_token(token) {
                        Ok(Some(platform)) => list.push(platform),
                        Ok(None) => {}
                        Err(()) => return Err(error(format!("unknown platform {token:?}"))),
                    }
                }
                Some(list)
            };
            entries.push(ShippedLocale {
                locale,
                platforms,
                line,
            });
        }
        Ok(ShippedLocales {
            path: path.to_owned(),
            entries,
        })
    }

    /// The file it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every line, in file order.
    pub fn entries(&self) -> &[ShippedLocale] {
        &self.entries
    }

    /// The entry for `locale`, if shipped at all.
    pub fn get(&self, locale: &Locale) -> Option<&ShippedLocale> {
        self.entries.iter().find(|e| &e.locale == locale)
    }

    /// The locales shipped on `platform`, in file order.
    pub fn for_platform(&self, platform: Platform) -> impl Iterator<Item = &Locale> + '_ {
        self.entries
            .iter()
            .filter(move |e| e.ships_on(platform))
            .map(|e| &e.locale)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mozilla_split() {
        let s = ShippedLocales::parse(
            "de\nen-US\nja linux win32 win64\nja-JP-mac osx\n",
            Path::new("sl"),
        )
        .unwrap();
        let mac: Vec<_> = s.for_platform(Platform::Mac).map(Locale::as_str).collect();
        assert_eq!(mac, ["de", "en-US", "ja-JP-mac"]);
        let linux: Vec<_> = s
            .for_platform(Platform::Linux64)
            .map(Locale::as_str)
            .collect();
        assert_eq!(linux, ["de", "en-US", "ja"]);
    }

    #[test]
    fn bad_lines_name_the_line() {
        let err = ShippedLocales::parse("de\nfr beos\n", Path::new("sl")).unwrap_err();
        assert!(matches!(err, RepackError::Config { line: 2, .. }), "{err}");
        let err = ShippedLocales::parse("de\n../x\n", Path::new("sl")).unwrap_err();
        assert!(matches!(err, RepackError::Config { line: 2, .. }), "{err}");
    }
}
