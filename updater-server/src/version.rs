//! Mozilla version numbers as Balrog parses and orders them (`auslib/util/versions.py`).
//!
//! Grammar: `N.N[.N]` plus an optional pre-release suffix. When the major number is above 4 only an
//! `aN` suffix is allowed (so `60.0b3` is invalid); up to 4 any `[a-zA-Z]+N` suffix is (`3.6.3plugin1`).
//! A four-part `w.x.y.z` is read as `(w, x, z)`. A missing patch number is 0 and a pre-release sorts
//! before its release; pre-releases compare by (letters, number).

use std::cmp::Ordering;
use std::fmt;

/// A parsed Mozilla version. Only [`MozVersion::parse`] builds one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MozVersion {
    numbers: [u64; 3],
    pre: Option<(String, u64)>,
}

/// A version string that does not follow the Mozilla grammar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidVersion(pub String);

impl fmt::Display for InvalidVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Version number {} is invalid.", self.0)
    }
}

fn parse_number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl MozVersion {
    /// Parses `s`, or explains that it is not a Mozilla version.
    pub fn parse(s: &str) -> Result<Self, InvalidVersion> {
        let invalid = || InvalidVersion(s.to_owned());
        let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
        let (numeric, suffix) = s.split_at(split);
        let parts: Vec<&str> = numeric.split('.').collect();
        let nums: Vec<u64> = parts
            .iter()
            .map(|p| parse_number(p))
            .collect::<Option<_>>()
            .ok_or_else(invalid)?;
        let numbers = match nums.as_slice() {
            [a, b] => [*a, *b, 0],
            [a, b, c] => [*a, *b, *c],
            [w, x, _, z] => [*w, *x, *z],
            _ => return Err(invalid()),
        };
        let pre = if suffix.is_empty() {
            None
        } else {
            let digits_at = suffix
                .find(|c: char| !c.is_ascii_alphabetic())
                .ok_or_else(invalid)?;
            let (letters, digits) = suffix.split_at(digits_at);
            let n = parse_number(digits).ok_or_else(invalid)?;
            if numbers[0] > 4 && letters != "a" {
                return Err(invalid());
            }
            Some((letters.to_owned(), n))
        };
        Ok(MozVersion { numbers, pre })
    }

    /// The major version number.
    pub fn major(&self) -> u64 {
        self.numbers[0]
    }

    /// The minor version number.
    pub fn minor(&self) -> u64 {
        self.numbers[1]
    }
}

impl Ord for MozVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.numbers
            .cmp(&other.numbers)
            .then_with(|| match (&self.pre, &other.pre) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(a), Some(b)) => a.cmp(b),
            })
    }
}

impl PartialOrd for MozVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> MozVersion {
        MozVersion::parse(s).unwrap()
    }

    #[test]
    fn grammar() {
        for ok in [
            "1.0",
            "56.0",
            "56.0.1",
            "80.0a1",
            "3.6.3plugin1",
            "1.5.0.12",
            "0.4",
            "4.0b12",
        ] {
            assert!(MozVersion::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "abc",
            "60.0b3",
            "1",
            "1.2.3.4.5",
            "1..2",
            "56.0a",
            "56.0esr",
            "",
            "1.0-1",
            " 1.0",
        ] {
            assert!(MozVersion::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            MozVersion::parse("abc").unwrap_err().to_string(),
            "Version number abc is invalid."
        );
    }

    #[test]
    fn ordering() {
        assert_eq!(v("0.4.0"), v("0.4"));
        assert!(v("80.0a1") < v("80.0"));
        assert!(v("4.0a2") < v("4.0b1"));
        assert!(v("4.0b1") < v("4.0b12"));
        assert!(v("56.0.1") > v("56.0"));
        assert!(v("100.0") > v("99.0.1"));
        assert_eq!(v("1.5.0.12"), v("1.5.12"));
    }
}
