//! Validated names: [`Version`] (Mozilla's ordering, through `mar`'s one implementation) and
//! [`ReleaseName`] (`<Product>-<version>-build<N>`, Ship-It's release name).

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use mar::update::version::compare_versions;

/// Why a version or release name was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NameError {
    /// Not `<digits>.<digits>[.<digits>][a|b<digits>]`.
    #[error("{0:?} is not a release version like 121.0, 121.0.1 or 122.0b3")]
    Version(String),
    /// Not `<Product>-<version>-build<N>`.
    #[error("{0:?} is not a release name like Firefox-121.0-build1")]
    Release(String),
}

/// A product version, ordered as Mozilla orders them (`120.0a1 < 120.0b1 < 120.0 < 120.0.1`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Version(String);

impl Version {
    /// The version text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The version with dots as underscores, as tags spell it (`121_0_1`).
    pub fn tag_part(&self) -> String {
        self.0.replace('.', "_")
    }

    /// The next dot release (`121.0` → `121.0.1`, `121.0.1` → `121.0.2`), Ship-It's
    /// `next_version`.
    pub fn next_dot(&self) -> Version {
        let base: String = self
            .0
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        let parts: Vec<&str> = base.split('.').collect();
        if parts.len() >= 3 {
            let last: u64 = parts[2].parse().unwrap_or(0);
            Version(format!("{}.{}.{}", parts[0], parts[1], last + 1))
        } else {
            Version(format!("{base}.1"))
        }
    }
}

impl FromStr for Version {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Version, NameError> {
        let (numeric, suffix) = match s.find(['a', 'b']) {
            Some(i) => (&s[..i], &s[i + 1..]),
            None => (s, ""),
        };
        let parts: Vec<&str> = numeric.split('.').collect();
        let ok = (2..=3).contains(&parts.len())
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.len() <= 6 && p.bytes().all(|b| b.is_ascii_digit()))
            && (s.len() == numeric.len()
                || (!suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_digit())));
        if ok {
            Ok(Version(s.to_owned()))
        } else {
            Err(NameError::Version(s.to_owned()))
        }
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Version) -> Ordering {
        compare_versions(&self.0, &other.0).then_with(|| self.0.cmp(&other.0))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Version) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
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
        assert!(v("120.0a1") < v("120.0b1"));
        assert!(v("120.0b1") < v("120.0"));
        assert!(v("120.0") < v("120.0.1"));
        assert!(v("121.0.1") > v("121.0"));
        for bad in ["", "121", "121.0.", "121.x", "../1.0", "1.0b"] {
            assert!(bad.parse::<Version>().is_err(), "{bad}");
        }
        assert_eq!(v("121.0").next_dot().as_str(), "121.0.1");
        assert_eq!(v("121.0.1").next_dot().as_str(), "121.0.2");
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
