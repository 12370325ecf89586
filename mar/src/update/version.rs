//! Mozilla's version comparison (`mozilla::CompareVersions`, toolkit `nsVersionComparator`).
//!
//! A version is a `.`-separated list of parts; each part is `<numA><strB><numC><extraD>`, e.g.
//! `0b1` is (0, "b", 1, none). A missing part counts as `0`; a part with a string sorts *before*
//! the same part without one, so `12.0a1 < 12.0a2 < 12.0b1 < 12.0 < 12.1a1`. `*` is infinity and
//! `1+` means `2pre`. The updater refuses a MAR whose version is older than the installed one
//! (error 23); equal versions are allowed.
//!
//! [`ReleaseVersion`] is a version of one release line ([`Line`]: release, beta, ESR) with its
//! display and app versions and its next version, ordered by this comparison.

use std::cmp::Ordering;

mod release;

pub use release::{Line, ReleaseVersion, VersionError};

#[derive(Debug, PartialEq, Eq)]
struct Part<'a> {
    num_a: i64,
    str_b: Option<&'a str>,
    num_c: i64,
    extra_d: Option<&'a str>,
}

/// Reads a leading (optionally signed) decimal integer like `strtol`, saturating; returns the
/// value and the rest.
fn strtol(s: &str) -> (i64, &str) {
    let bytes = s.as_bytes();
    let mut i = 0;
    let negative = matches!(bytes.first(), Some(b'-'));
    if matches!(bytes.first(), Some(b'-' | b'+')) {
        i = 1;
    }
    let start = i;
    let mut value: i64 = 0;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        value = value
            .saturating_mul(10)
            .saturating_add(i64::from(bytes[i] - b'0'));
        i += 1;
    }
    if i == start {
        return (0, s);
    }
    (if negative { -value } else { value }, &s[i..])
}

fn parse_part(part: &str) -> Part<'_> {
    let mut parsed = Part {
        num_a: 0,
        str_b: None,
        num_c: 0,
        extra_d: None,
    };
    if part.is_empty() {
        return parsed;
    }
    if part == "*" {
        parsed.num_a = i64::from(i32::MAX);
        parsed.str_b = Some("");
        return parsed;
    }
    let (num_a, rest) = strtol(part);
    parsed.num_a = num_a;
    if rest.starts_with('+') {
        parsed.num_a = parsed.num_a.saturating_add(1);
        parsed.str_b = Some("pre");
        return parsed;
    }
    if rest.is_empty() {
        return parsed;
    }
    let len_b = rest
        .find(|c: char| c.is_ascii_digit() || c == '+' || c == '-')
        .unwrap_or(rest.len());
    parsed.str_b = Some(&rest[..len_b]);
    let tail = &rest[len_b..];
    if !tail.is_empty() {
        let (num_c, extra) = strtol(tail);
        parsed.num_c = num_c;
        if !extra.is_empty() {
            parsed.extra_d = Some(extra);
        }
    }
    parsed
}

/// A present string sorts before an absent one.
fn compare_strings(a: Option<&str>, b: Option<&str>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(a), Some(b)) => a.cmp(b),
    }
}

fn compare_parts(a: &Part<'_>, b: &Part<'_>) -> Ordering {
    a.num_a
        .cmp(&b.num_a)
        .then_with(|| compare_strings(a.str_b, b.str_b))
        .then_with(|| a.num_c.cmp(&b.num_c))
        .then_with(|| compare_strings(a.extra_d, b.extra_d))
}

/// Compares two Mozilla version strings.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let mut a_parts = a.split('.');
    let mut b_parts = b.split('.');
    loop {
        match (a_parts.next(), b_parts.next()) {
            (None, None) => return Ordering::Equal,
            (x, y) => {
                let order =
                    compare_parts(&parse_part(x.unwrap_or("")), &parse_part(y.unwrap_or("")));
                if order != Ordering::Equal {
                    return order;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_like_mozilla() {
        let ascending = [
            "1.0pre1",
            "1.0pre2",
            "1.0",
            "1.0.0",
            "1.0.0.0",
            "1.1pre",
            "1.1pre0",
            "1.0+",
            "1.1pre1a",
            "1.1pre1",
            "1.1pre10a",
            "1.1pre10",
            "1.1",
            "1.1.0.1",
            "1.1.1",
            "1.1.*",
            "1.*",
            "2.0",
            "2.1",
            "3.0.-1",
            "3.0",
        ];
        for pair in ascending.windows(2) {
            assert_ne!(
                compare_versions(pair[0], pair[1]),
                Ordering::Greater,
                "{} <= {}",
                pair[0],
                pair[1]
            );
        }
        for (a, b) in [
            ("12.0a1", "12.0a2"),
            ("12.0a2", "12.0b1"),
            ("12.0b1", "12.0"),
            ("12.0", "12.1a1"),
            ("119.0", "120.0"),
            ("120.0", "121.0"),
            ("9.0", "10.0"),
            ("120.0b9", "120.0"),
        ] {
            assert_eq!(compare_versions(a, b), Ordering::Less, "{a} < {b}");
            assert_eq!(compare_versions(b, a), Ordering::Greater, "{b} > {a}");
        }
        for (a, b) in [("1.0", "1.0.0"), ("1.1pre", "1.1pre0"), ("1.0+", "1.1pre")] {
            assert_eq!(compare_versions(a, b), Ordering::Equal, "{a} == {b}");
        }
    }
}
