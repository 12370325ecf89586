//! Mozilla version numbers as Balrog parses and orders them (`auslib/util/versions.py`).
//!
//! Grammar: `N.N[.N]` plus an optional pre-release suffix. When the major number is above 4 only an
//! `aN` suffix is allowed (so `60.0b3` is invalid); up to 4 any `[a-zA-Z]+N` suffix is (`3.6.3plugin1`).
//! A four-part `w.x.d.z` (`d` a single digit) is read as `(w, x, z)`. A missing patch number is 0
//! and a pre-release sorts before its release; pre-releases compare by (first letter, number), as
//! distutils' `StrictVersion` does.

use std::cmp::Ordering;
use std::fmt;

/// A parsed Mozilla version. Only [`MozVersion::parse`] builds one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MozVersion {
    numbers: [u64; 3],
    pre: Option<(char, u64)>,
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
            [w, x, _, z] if parts[2].len() == 1 => [*w, *x, *z],
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
            let first = letters.chars().next().ok_or_else(invalid)?;
            Some((first, n))
        };
        Ok(MozVersion { numbers, pre })
    }

    /// The major version number.
    pub fn major(&self) -> u64 {
        self.numbers[0]
    }

    /// The patch number (0 when absent).
    pub fn patch(&self) -> u64 {
        self.numbers[2]
    }

    /// Is this a pre-release (`80.0a1`)?
    pub fn is_prerelease(&self) -> bool {
        self.pre.is_some()
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

/// A `?pin=` value: `102.` or `102.1.` (`^\d+\.(\d+\.)?$`). Only [`PinVersion::parse`] builds one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinVersion {
    major: u64,
    minor: Option<u64>,
}

/// A pin string that does not have the `102.` / `102.1.` form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidPin(pub String);

impl fmt::Display for InvalidPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Version Pin String '{}' is invalid.", self.0)
    }
}

impl PinVersion {
    /// Parses a pin string.
    pub fn parse(pin: &str) -> Result<Self, InvalidPin> {
        let invalid = || InvalidPin(pin.to_owned());
        let body = pin.strip_suffix('.').ok_or_else(invalid)?;
        let parts: Vec<u64> = body
            .split('.')
            .map(parse_number)
            .collect::<Option<_>>()
            .ok_or_else(invalid)?;
        match parts.as_slice() {
            [major] => Ok(PinVersion {
                major: *major,
                minor: None,
            }),
            [major, minor] => Ok(PinVersion {
                major: *major,
                minor: Some(*minor),
            }),
            _ => Err(invalid()),
        }
    }

    /// The pin as Balrog prints it (`102.` or `102.1.`): the key of pinnable releases.
    pub fn key(&self) -> String {
        match self.minor {
            None => format!("{}.", self.major),
            Some(minor) => format!("{}.{minor}.", self.major),
        }
    }

    /// Is `version` newer than the pin? A pin compares by its own components only, so `102.`
    /// equals every `102.x.y`.
    pub fn is_older_than(&self, version: &MozVersion) -> bool {
        self.cmp_version(version) == Ordering::Less
    }

    /// The pin compared with `version` by the pin's own components (Balrog's `PinVersion`
    /// comparison): `102.` is `Equal` to every 102.x.y, `Less` than 103.0.
    pub fn cmp_version(&self, version: &MozVersion) -> Ordering {
        match self.minor {
            None => self.major.cmp(&version.major()),
            Some(minor) => (self.major, minor).cmp(&(version.major(), version.minor())),
        }
    }
}

/// One component of a [`LooseVersion`]: a number or a run of other characters.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Loose {
    /// Digits, leading zeros removed (Python compares them as integers, of any size).
    Num(String),
    /// Anything else between numbers and dots (`a`, `beta`, `-rc`).
    Text(String),
}

/// distutils' `LooseVersion`, which Balrog uses for Guardian blobs: the string split into numbers,
/// runs of lower-case letters and other text, dots dropped, compared component by component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LooseVersion(Vec<Loose>);

/// Two loose versions whose first difference is a number against text: Python 3 raises there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("loose versions that compare a number with text")]
pub struct Incomparable;

impl LooseVersion {
    /// Splits `s` like `re.split(r"(\d+|[a-z]+|\.)")`, keeping every non-empty part but dots.
    pub fn parse(s: &str) -> Self {
        let mut parts = Vec::new();
        let mut rest = s;
        let mut other = String::new();
        while let Some(c) = rest.chars().next() {
            let kind = |c: char| {
                if c.is_ascii_digit() {
                    1
                } else if c.is_ascii_lowercase() {
                    2
                } else {
                    0
                }
            };
            let k = kind(c);
            if k == 0 {
                rest = &rest[c.len_utf8()..];
                if c == '.' {
                    if !other.is_empty() {
                        parts.push(Loose::Text(std::mem::take(&mut other)));
                    }
                } else {
                    other.push(c);
                }
                continue;
            }
            if !other.is_empty() {
                parts.push(Loose::Text(std::mem::take(&mut other)));
            }
            let end = rest.find(|c: char| kind(c) != k).unwrap_or(rest.len());
            let run = &rest[..end];
            rest = &rest[end..];
            parts.push(if k == 1 {
                let trimmed = run.trim_start_matches('0');
                Loose::Num(if trimmed.is_empty() { "0" } else { trimmed }.to_owned())
            } else {
                Loose::Text(run.to_owned())
            });
        }
        if !other.is_empty() {
            parts.push(Loose::Text(other));
        }
        LooseVersion(parts)
    }

    /// Python's list comparison of the components.
    pub fn compare(&self, other: &Self) -> Result<Ordering, Incomparable> {
        for (a, b) in self.0.iter().zip(&other.0) {
            let ord = match (a, b) {
                (Loose::Num(x), Loose::Num(y)) => x.len().cmp(&y.len()).then_with(|| x.cmp(y)),
                (Loose::Text(x), Loose::Text(y)) => x.cmp(y),
                _ => return Err(Incomparable),
            };
            if ord != Ordering::Equal {
                return Ok(ord);
            }
        }
        Ok(self.0.len().cmp(&other.0.len()))
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
        // Only the first letter of a pre-release tag counts.
        assert_eq!(v("3.6.3plugin1"), v("3.6.3p1"));
        assert!(
            MozVersion::parse("1.5.10.2").is_err(),
            "the third of four parts is one digit"
        );
    }

    #[test]
    fn pins() {
        let newer =
            |version: &str, pin: &str| PinVersion::parse(pin).unwrap().is_older_than(&v(version));
        assert!(!newer("102.3.0", "102."));
        assert!(newer("103.0", "102."));
        assert!(newer("102.2.0", "102.1."));
        assert!(!newer("102.1.5", "102.1."));
        for bad in ["2", "102", "a.", "102.1.1.", ".", "1..", "102.a.", ""] {
            assert!(PinVersion::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            PinVersion::parse("2").unwrap_err().to_string(),
            "Version Pin String '2' is invalid."
        );
    }

    #[test]
    fn loose_versions() {
        let c = |a: &str, b: &str| LooseVersion::parse(a).compare(&LooseVersion::parse(b));
        assert_eq!(c("2.10.0", "2.9.1"), Ok(Ordering::Greater));
        assert_eq!(c("2.0", "2.0.0"), Ok(Ordering::Less));
        assert_eq!(c("1.0a1", "1.0a2"), Ok(Ordering::Less));
        assert_eq!(c("1.007", "1.7"), Ok(Ordering::Equal));
        assert_eq!(c("1.0-rc", "1.0-rc"), Ok(Ordering::Equal));
        assert_eq!(c("1.a", "1.1"), Err(Incomparable));
        assert_eq!(LooseVersion::parse("1.0-beta2").0.len(), 5);
    }
}
