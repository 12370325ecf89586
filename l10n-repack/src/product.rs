//! [`Product`]: the product a build is of, and the one rule for the names Mozilla derives from it.

use std::fmt;
use std::str::FromStr;

use crate::RepackError;

/// A product name as release names and `application.ini`'s `[App] Name` spell it: `Firefox`,
/// `Thunderbird`.
///
/// Every `Product` is 1–40 ASCII letters and digits starting with a letter, so the names derived
/// from it are safe as path components. Mozilla names a product's files after it in one way,
/// and this type is where Kiln's pipeline takes that rule from: the lowercase name
/// ([`Product::file_stem`]) for archives, MARs and the app directory on Linux and Windows
/// (`firefox-121.0.tar.xz`, `firefox/`), the name itself for the mac bundle (`Firefox.app`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Product(String);

impl Product {
    /// The name as written (`Thunderbird`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The lowercase name for files and directories (`thunderbird`).
    pub fn file_stem(&self) -> String {
        Product::file_stem_of(&self.0)
    }

    /// The same rule for a name that was validated elsewhere (a loaded `kiln.toml`'s product).
    pub fn file_stem_of(name: &str) -> String {
        name.to_ascii_lowercase()
    }

    /// The mac app bundle's directory (`Thunderbird.app`).
    pub fn mac_bundle(&self) -> String {
        format!("{}.app", self.0)
    }
}

impl FromStr for Product {
    type Err = RepackError;

    fn from_str(s: &str) -> Result<Product, RepackError> {
        let valid = (1..=40).contains(&s.len())
            && s.starts_with(|c: char| c.is_ascii_alphabetic())
            && s.bytes().all(|b| b.is_ascii_alphanumeric());
        if !valid {
            return Err(RepackError::InvalidValue {
                what: "product",
                value: s.to_owned(),
                reason: "expected 1-40 ASCII letters and digits starting with a letter",
            });
        }
        Ok(Product(s.to_owned()))
    }
}

impl fmt::Display for Product {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_product() {
        let thunderbird: Product = "Thunderbird".parse().unwrap();
        assert_eq!(thunderbird.file_stem(), "thunderbird");
        assert_eq!(thunderbird.mac_bundle(), "Thunderbird.app");
        for bad in ["", "1Firefox", "Fire fox", "../Firefox", "Firefox.app"] {
            assert!(bad.parse::<Product>().is_err(), "{bad}");
        }
    }
}
