//! [`Locale`] and [`Platform`]: the validated names of what a repack produces.

use std::fmt;
use std::str::FromStr;

use crate::{Product, RepackError};

/// A locale code such as `de`, `en-US`, `ja-JP-mac` or `ca-valencia`.
///
/// Every `Locale` is guaranteed to be 2–3 ASCII letters followed by `-`-separated ASCII
/// alphanumeric subtags of 1–8 characters, so it is safe as a path component.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Locale(String);

impl Locale {
    /// The code as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is the base locale, en-US, which the en-US builds already carry.
    pub fn is_en_us(&self) -> bool {
        self.0 == "en-US"
    }
}

impl FromStr for Locale {
    type Err = RepackError;

    fn from_str(s: &str) -> Result<Locale, RepackError> {
        let invalid = |reason| RepackError::InvalidValue {
            what: "locale",
            value: s.to_owned(),
            reason,
        };
        let mut parts = s.split('-');
        let language = parts.next().unwrap_or_default();
        if !(2..=3).contains(&language.len()) || !language.bytes().all(|b| b.is_ascii_alphabetic())
        {
            return Err(invalid("the language must be 2-3 ASCII letters"));
        }
        for subtag in parts {
            if !(1..=8).contains(&subtag.len())
                || !subtag.bytes().all(|b| b.is_ascii_alphanumeric())
            {
                return Err(invalid("subtags must be 1-8 ASCII letters or digits"));
            }
        }
        Ok(Locale(s.to_owned()))
    }
}

impl fmt::Display for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a platform's builds are packaged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArchiveFormat {
    /// A tar stream compressed with xz (Linux).
    TarXz,
    /// A tar stream compressed with gzip (mac app bundle).
    TarGz,
    /// A zip (Windows).
    Zip,
}

impl ArchiveFormat {
    /// The file-name extension, without the leading dot.
    pub fn extension(self) -> &'static str {
        match self {
            ArchiveFormat::TarXz => "tar.xz",
            ArchiveFormat::TarGz => "tar.gz",
            ArchiveFormat::Zip => "zip",
        }
    }
}

/// A platform Kiln builds for, named as Mozilla's candidates directories name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Platform {
    /// `linux-x86_64`: `<product>/` (`firefox/`) in a `.tar.xz`.
    Linux64,
    /// `mac`: `<Product>.app/` (`Firefox.app/`) in a `.tar.gz`.
    Mac,
    /// `win64`: `<product>/` (`firefox/`) in a `.zip`.
    Win64,
}

impl Platform {
    /// Every platform, in directory-name order.
    pub const ALL: [Platform; 3] = [Platform::Linux64, Platform::Mac, Platform::Win64];

    /// The directory name (`linux-x86_64`, `mac`, `win64`).
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Linux64 => "linux-x86_64",
            Platform::Mac => "mac",
            Platform::Win64 => "win64",
        }
    }

    /// The archive format of this platform's builds.
    pub fn format(self) -> ArchiveFormat {
        match self {
            Platform::Linux64 => ArchiveFormat::TarXz,
            Platform::Mac => ArchiveFormat::TarGz,
            Platform::Win64 => ArchiveFormat::Zip,
        }
    }

    /// The app root inside the archive: the product's lowercase name (`firefox`), or its bundle
    /// on mac (`Firefox.app`).
    pub fn app_root(self, product: &Product) -> String {
        match self {
            Platform::Mac => product.mac_bundle(),
            Platform::Linux64 | Platform::Win64 => product.file_stem(),
        }
    }

    /// Where the resources (omni.ja, defaults, dictionaries, `application.ini`) are relative to
    /// the app root: `Contents/Resources` in a mac bundle, the root itself (`""`) elsewhere.
    pub fn resources_in_app(self) -> &'static str {
        match self {
            Platform::Mac => "Contents/Resources",
            Platform::Linux64 | Platform::Win64 => "",
        }
    }

    /// The directory holding resources inside the archive (`Firefox.app/Contents/Resources`,
    /// `firefox`).
    pub fn resources_dir(self, product: &Product) -> String {
        let root = self.app_root(product);
        match self.resources_in_app() {
            "" => root,
            inner => format!("{root}/{inner}"),
        }
    }

    /// The build's archive file name for `version`, e.g. `firefox-121.0.tar.xz`.
    pub fn archive_name(self, product: &Product, version: &str) -> String {
        format!(
            "{}-{version}.{}",
            product.file_stem(),
            self.format().extension()
        )
    }
}

impl FromStr for Platform {
    type Err = RepackError;

    fn from_str(s: &str) -> Result<Platform, RepackError> {
        Platform::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| RepackError::InvalidValue {
                what: "platform",
                value: s.to_owned(),
                reason: "expected linux-x86_64, mac or win64",
            })
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locales() {
        for good in ["de", "en-US", "ja-JP-mac", "ca-valencia", "hsb"] {
            assert_eq!(good.parse::<Locale>().unwrap().as_str(), good);
        }
        for bad in [
            "",
            "d",
            "../de",
            "de/",
            "de-",
            "toolong-x",
            "de-abcdefghi",
            "d e",
        ] {
            assert!(bad.parse::<Locale>().is_err(), "{bad}");
        }
    }
}
