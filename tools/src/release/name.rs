//! Validated names: [`Version`] (a release line's version: `mar`'s one model and ordering) and
//! [`ReleaseName`] (`<Product>-<version>-build<N>`, Ship-It's release name).

use std::fmt;
use std::str::FromStr;

use mar::update::version::{Line, ReleaseVersion, VersionError};

/// Why a version or release name was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NameError {
    /// Not a release line's version ([`ReleaseVersion::parse`]).
    #[error(transparent)]
    Version(#[from] VersionError),
    /// Not `<Product>-<version>-build<N>`.
    #[error("{0:?} is not a release name like Firefox-121.0-build1")]
    Release(String),
}

/// A product version of one release line (`121.0`, `121.0.1`, `132.0b3`, `128.5.0esr`), ordered as
/// Mozilla orders them (`132.0b3 < 132.0 < 132.0.1`): `mar`'s [`ReleaseVersion`], the one model
/// the coordinator, the release blob and the client share.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Version(ReleaseVersion);

impl Version {
    /// The display version, as names, tags, files and notices spell it (`132.0b3`).
    pub fn as_str(&self) -> &str {
        self.0.display_version()
    }

    /// The app version: `application.ini` `Version=`, the MARs' product information block and
    /// the blob's `appVersion` (`132.0b3` → `132.0`, `128.5.0esr` → `128.5.0`).
    pub fn app_version(&self) -> String {
        self.0.app_version()
    }

    /// The release line.
    pub fn line(&self) -> Line {
        self.0.line()
    }

    /// The version with dots as underscores, as tags spell it (`121_0_1`, `128_5_0esr`).
    pub fn tag_part(&self) -> String {
        self.0.tag_part()
    }

    /// The next version of the same line, Ship-It's `next_version` (`121.0` → `121.0.1`,
    /// `132.0b3` → `132.0b4`, `128.5.0esr` → `128.5.1esr`).
    pub fn next_version(&self) -> Version {
        Version(self.0.next_version())
    }
}

impl FromStr for Version {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Version, NameError> {
        Ok(Version(s.parse()?))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `<Product>-<version>-build<N>`, e.g. `Firefox-121.0-build1`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReleaseName {
    product: String,
    version: Version,
    build: u32,
}

impl ReleaseName {
    /// A release name from its parts; the product must be a capitalised word.
    pub fn new(product: &str, version: Version, build: u32) -> Result<ReleaseName, NameError> {
        let valid = product
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_uppercase())
            && product.len() <= 40
            && product.bytes().all(|b| b.is_ascii_alphanumeric())
            && (1..=999).contains(&build);
        if !valid {
            return Err(NameError::Release(format!(
                "{product}-{version}-build{build}"
            )));
        }
        Ok(ReleaseName {
            product: product.to_owned(),
            version,
            build,
        })
    }

    /// The product (`Firefox`).
    pub fn product(&self) -> &str {
        &self.product
    }

    /// The version.
    pub fn version(&self) -> &Version {
        &self.version
    }

    /// The build number N.
    pub fn build(&self) -> u32 {
        self.build
    }

    /// The per-build git tag `FIREFOX_121_0_BUILD1`.
    pub fn build_tag(&self) -> String {
        format!(
            "{}_{}_BUILD{}",
            self.product.to_ascii_uppercase(),
            self.version.tag_part(),
            self.build
        )
    }

    /// The release tag `FIREFOX_121_0_RELEASE`.
    pub fn release_tag(&self) -> String {
        release_tag(&self.product, &self.version)
    }
}

/// The release tag of a product version, `FIREFOX_121_0_RELEASE`.
pub fn release_tag(product: &str, version: &Version) -> String {
    format!(
        "{}_{}_RELEASE",
        product.to_ascii_uppercase(),
        version.tag_part()
    )
}

impl FromStr for ReleaseName {
    type Err = NameError;

    fn from_str(s: &str) -> Result<ReleaseName, NameError> {
        let bad = || NameError::Release(s.to_owned());
        let (rest, build) = s.rsplit_once("-build").ok_or_else(bad)?;
        let (product, version) = rest.split_once('-').ok_or_else(bad)?;
        let build: u32 = build.parse().map_err(|_| bad())?;
        if build.to_string() != s.rsplit_once("-build").map_or("", |(_, b)| b) {
            return Err(bad());
        }
        let version: Version = version.parse().map_err(|_| bad())?;
        ReleaseName::new(product, version, build).map_err(|_| bad())
    }
}

impl fmt::Display for ReleaseName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-build{}", self.product, self.version, self.build)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_order_like_mozilla() {
        let v = |s: &str| s.parse::<Version>().unwrap();
        assert!(v("120.0b1") < v("120.0"));
        assert!(v("120.0") < v("120.0.1"));
        assert!(v("121.0.1") > v("121.0"));
        assert!(v("132.0b3") < v("132.0b5"));
        assert!(v("132.0b5") < v("132.0"));
        assert!(v("128.5.0esr") < v("128.5.1esr"));
        for bad in ["", "121", "121.0.", "121.x", "../1.0", "1.0b", "133.0a1"] {
            assert!(
                matches!(bad.parse::<Version>(), Err(NameError::Version(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn next_version_per_line() {
        let v = |s: &str| s.parse::<Version>().unwrap();
        for (from, next) in [
            ("121.0", "121.0.1"),
            ("121.0.1", "121.0.2"),
            ("132.0b3", "132.0b4"),
            ("128.5.0esr", "128.5.1esr"),
        ] {
            assert_eq!(v(from).next_version().as_str(), next, "{from}");
        }
        assert_eq!(v("132.0b3").app_version(), "132.0");
        assert_eq!(v("128.5.0esr").app_version(), "128.5.0");
        assert_eq!(v("128.5.0esr").line(), Line::Esr);
    }

    #[test]
    fn tags_per_line() {
        let tag = |s: &str| s.parse::<ReleaseName>().unwrap();
        assert_eq!(
            tag("Firefox-128.5.0esr-build1").build_tag(),
            "FIREFOX_128_5_0esr_BUILD1"
        );
        assert_eq!(
            tag("Firefox-128.5.0esr-build1").release_tag(),
            "FIREFOX_128_5_0esr_RELEASE"
        );
        assert_eq!(
            tag("Firefox-132.0b3-build2").build_tag(),
            "FIREFOX_132_0b3_BUILD2"
        );
    }

    #[test]
    fn release_names_round_trip() {
        let name: ReleaseName = "Firefox-121.0-build2".parse().unwrap();
        assert_eq!(name.build(), 2);
        assert_eq!(name.to_string(), "Firefox-121.0-build2");
        assert_eq!(name.build_tag(), "FIREFOX_121_0_BUILD2");
        assert_eq!(name.release_tag(), "FIREFOX_121_0_RELEASE");
        for bad in [
            "Firefox-121.0",
            "firefox-121.0-build1",
            "Firefox-121.0-build01",
            "Firefox-121.0-build0",
        ] {
            assert!(bad.parse::<ReleaseName>().is_err(), "{bad}");
        }
    }
}
