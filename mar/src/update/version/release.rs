//! Release versions as Mozilla numbers them, one per release line: a release `121.0`, a dot
//! release `121.0.1`, a beta `132.0b3`, an ESR `128.5.0esr` (Ship-It's and `mozilla-version`'s
//! `FirefoxVersion`). Nightlies (`133.0a1`) are no release line and are refused.
//!
//! A version has two faces: the *display version* (the text, as tags, archive names, release
//! names and notices spell it) and the *app version*, what the build's `application.ini`
//! `Version=`, the update URL, the MAR's product information block and the release blob's
//! `appVersion` carry: a beta's is its release's (`132.0b3` → `132.0`), an ESR's drops `esr`
//! (`128.5.0esr` → `128.5.0`). Ordering is Mozilla's ([`compare_versions`] on the display
//! version): `132.0b3 < 132.0b5 < 132.0 < 132.0.1`, `128.5.0esr < 128.5.1esr`.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use super::compare_versions;

/// The release line a version ships on, named as its update channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Line {
    /// Releases and dot releases (`121.0`, `121.0.1`): channel `release`.
    Release,
    /// Betas (`132.0b3`): channel `beta`.
    Beta,
    /// Extended support releases (`128.5.0esr`): channel `esr`.
    Esr,
}

/// The suffixes of MAR channel ids that name a line (`firefox-mozilla-beta`).
const LINES: [Line; 3] = [Line::Release, Line::Beta, Line::Esr];

impl Line {
    /// The update channel of the line, as Firefox's `channel-prefs.js` names it: `release`,
    /// `beta` or `esr`.
    pub fn channel(self) -> &'static str {
        match self {
            Line::Release => "release",
            Line::Beta => "beta",
            Line::Esr => "esr",
        }
    }

    /// The line whose update channel is `channel`, if any.
    pub fn from_channel(channel: &str) -> Option<Line> {
        LINES.into_iter().find(|line| line.channel() == channel)
    }

    /// The MAR channel id of this line given the id of any line of the product: the
    /// `-release`/`-beta`/`-esr` suffix is replaced by this line's (`firefox-mozilla-release` →
    /// `firefox-mozilla-beta`, `thunderbird-comm-release` → `thunderbird-comm-esr`). An id
    /// without such a suffix names no line and is returned unchanged.
    pub fn mar_channel_id(self, any_line_id: &str) -> String {
        for line in LINES {
            if let Some(stem) = any_line_id.strip_suffix(line.channel()) {
                if let Some(stem) = stem.strip_suffix('-') {
                    return format!("{stem}-{}", self.channel());
                }
            }
        }
        any_line_id.to_owned()
    }

    /// What a build of this line lists in `update-settings.ini` `ACCEPTED_MAR_CHANNEL_IDS`, as
    /// Firefox sets it: its own id, and for a beta also the release id, so the release
    /// candidates can ship on `beta` (`firefox-mozilla-beta,firefox-mozilla-release`).
    pub fn accepted_mar_channel_ids(self, any_line_id: &str) -> Vec<String> {
        let own = self.mar_channel_id(any_line_id);
        let release = Line::Release.mar_channel_id(any_line_id);
        if self == Line::Beta && release != own {
            vec![own, release]
        } else {
            vec![own]
        }
    }
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.channel())
    }
}

/// Why a version was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VersionError {
    /// Not a release, dot release, beta or ESR version.
    #[error("{0:?} is not a release version like 121.0, 121.0.1, 132.0b3 or 128.5.0esr")]
    Invalid(String),
}

/// A version of one release line, ordered as Mozilla orders them. Only [`ReleaseVersion::parse`]
/// (or `str::parse`) builds one.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ReleaseVersion {
    text: String,
    major: u32,
    minor: u32,
    patch: Option<u32>,
    beta: Option<u32>,
    line: Line,
}

/// A decimal number without a sign or leading zero, of at most six digits.
fn number(s: &str) -> Option<u32> {
    let plain = !s.is_empty()
        && s.len() <= 6
        && s.bytes().all(|b| b.is_ascii_digit())
        && (s == "0" || !s.starts_with('0'));
    plain.then(|| s.parse().ok()).flatten()
}

impl ReleaseVersion {
    /// Parses `major.0`, `major.minor.patch` (a dot release's patch is at least 1),
    /// `major.0bN` (N ≥ 1), `major.0esr` or `major.minor.patchesr`, as `mozilla-version` does
    /// (which also knows which majors were ESRs; any major may be one here).
    pub fn parse(s: &str) -> Result<ReleaseVersion, VersionError> {
        let invalid = || VersionError::Invalid(s.to_owned());
        let (numeric, line, beta) = if let Some(numeric) = s.strip_suffix("esr") {
            (numeric, Line::Esr, None)
        } else if let Some((numeric, n)) = s.split_once('b') {
            let n = number(n).filter(|n| *n >= 1).ok_or_else(invalid)?;
            (numeric, Line::Beta, Some(n))
        } else {
            (s, Line::Release, None)
        };
        let parts: Vec<u32> = numeric
            .split('.')
            .map(number)
            .collect::<Option<_>>()
            .ok_or_else(invalid)?;
        let (major, minor, patch) = match (line, parts.as_slice()) {
            (_, [major, 0]) => (*major, 0, None),
            (Line::Release, [_, _, 0]) => return Err(invalid()),
            (Line::Release | Line::Esr, [major, minor, patch]) => (*major, *minor, Some(*patch)),
            _ => return Err(invalid()),
        };
        Ok(ReleaseVersion {
            text: s.to_owned(),
            major,
            minor,
            patch,
            beta,
            line,
        })
    }

    /// The line it ships on.
    pub fn line(&self) -> Line {
        self.line
    }

    /// The display version, as written (`132.0b3`, `128.5.0esr`).
    pub fn display_version(&self) -> &str {
        &self.text
    }

    /// The app version (`application.ini` `Version=`, the update URL, the MAR's product
    /// information block, the blob's `appVersion`): `132.0b3` → `132.0`, `128.5.0esr` →
    /// `128.5.0`, `121.0.1` → `121.0.1`.
    pub fn app_version(&self) -> String {
        match self.patch {
            Some(patch) => format!("{}.{}.{patch}", self.major, self.minor),
            None => format!("{}.{}", self.major, self.minor),
        }
    }

    /// The major version number.
    pub fn major(&self) -> u32 {
        self.major
    }

    /// The next version of the same line, Ship-It's `next_version`: `132.0b3` → `132.0b4`,
    /// `128.5.0esr` → `128.5.1esr`, `121.0` → `121.0.1`, `121.0.1` → `121.0.2`.
    pub fn next_version(&self) -> ReleaseVersion {
        let (major, minor) = (self.major, self.minor);
        let next_patch = self.patch.unwrap_or(0).saturating_add(1);
        let text = match self.line {
            Line::Beta => format!(
                "{major}.{minor}b{}",
                self.beta.unwrap_or(0).saturating_add(1)
            ),
            Line::Esr => format!("{major}.{minor}.{next_patch}esr"),
            Line::Release => format!("{major}.{minor}.{next_patch}"),
        };
        ReleaseVersion {
            text,
            patch: (self.line != Line::Beta).then_some(next_patch),
            beta: self.beta.map(|n| n.saturating_add(1)),
            ..self.clone()
        }
    }

    /// The version as tags spell it, dots as underscores (`132_0b3`, `128_5_0esr`: Mozilla's
    /// `FIREFOX_128_5_0esr_BUILD1`).
    pub fn tag_part(&self) -> String {
        self.text.replace('.', "_")
    }
}

impl FromStr for ReleaseVersion {
    type Err = VersionError;

    fn from_str(s: &str) -> Result<ReleaseVersion, VersionError> {
        ReleaseVersion::parse(s)
    }
}

impl Ord for ReleaseVersion {
    /// Mozilla's ordering of the display versions; equal-ranked texts by their bytes.
    fn cmp(&self, other: &ReleaseVersion) -> Ordering {
        compare_versions(&self.text, &other.text).then_with(|| self.text.cmp(&other.text))
    }
}

impl PartialOrd for ReleaseVersion {
    fn partial_cmp(&self, other: &ReleaseVersion) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for ReleaseVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> ReleaseVersion {
        s.parse().unwrap()
    }

    #[test]
    fn lines_and_faces() {
        for (text, line, app) in [
            ("121.0", Line::Release, "121.0"),
            ("121.0.1", Line::Release, "121.0.1"),
            ("132.0b3", Line::Beta, "132.0"),
            ("128.5.0esr", Line::Esr, "128.5.0"),
            ("128.0esr", Line::Esr, "128.0"),
        ] {
            assert_eq!(v(text).line(), line, "{text}");
            assert_eq!(v(text).app_version(), app, "{text}");
            assert_eq!(v(text).display_version(), text);
        }
    }

    #[test]
    fn next_version_per_line() {
        for (from, next) in [
            ("132.0b3", "132.0b4"),
            ("132.0b9", "132.0b10"),
            ("128.5.0esr", "128.5.1esr"),
            ("128.0esr", "128.0.1esr"),
            ("121.0", "121.0.1"),
            ("121.0.1", "121.0.2"),
        ] {
            let n = v(from).next_version();
            assert_eq!(n.to_string(), next, "{from}");
            assert_eq!(n, v(next), "{from}: the same as parsing {next}");
            assert!(n > v(from));
        }
    }

    #[test]
    fn tags() {
        assert_eq!(v("128.5.0esr").tag_part(), "128_5_0esr");
        assert_eq!(v("132.0b3").tag_part(), "132_0b3");
        assert_eq!(v("121.0.1").tag_part(), "121_0_1");
    }

    #[test]
    fn refuses_what_is_no_release_line() {
        for bad in [
            "",
            "121",
            "121.",
            "121.0.",
            "121.x",
            "../1.0",
            "1.0b",
            "132.0b0",
            "132.0.1b1",
            "133.0a1",
            "121.0.0",
            "01.0",
            "121.0esr1",
            "esr",
            "1.0.0.1",
            "121.0b3esr",
            "1234567.0",
            " 121.0",
            "121.0rc1",
            "121.5",
            "132.1b1",
            "128.5esr",
        ] {
            assert_eq!(
                ReleaseVersion::parse(bad),
                Err(VersionError::Invalid(bad.to_owned())),
                "{bad}"
            );
        }
    }

    #[test]
    fn orders_within_lines() {
        assert!(v("132.0b3") < v("132.0b5"));
        assert!(v("132.0b5") < v("132.0"));
        assert!(v("132.0b9") < v("132.0b10"));
        assert!(v("128.5.0esr") < v("128.5.1esr"));
        assert!(v("128.0esr") < v("128.0.1esr"));
        assert!(v("121.0") < v("121.0.1"));
    }

    #[test]
    fn mar_channel_ids_per_line() {
        let id = "firefox-mozilla-release";
        assert_eq!(Line::Beta.mar_channel_id(id), "firefox-mozilla-beta");
        assert_eq!(Line::Esr.mar_channel_id(id), "firefox-mozilla-esr");
        assert_eq!(
            Line::Release.mar_channel_id("firefox-mozilla-beta"),
            "firefox-mozilla-release"
        );
        assert_eq!(
            Line::Esr.mar_channel_id("thunderbird-comm-release"),
            "thunderbird-comm-esr"
        );
        assert_eq!(Line::Beta.mar_channel_id("custom"), "custom");
        assert_eq!(
            Line::Beta.accepted_mar_channel_ids(id),
            ["firefox-mozilla-beta", "firefox-mozilla-release"]
        );
        assert_eq!(
            Line::Esr.accepted_mar_channel_ids(id),
            ["firefox-mozilla-esr"]
        );
        assert_eq!(Line::Beta.accepted_mar_channel_ids("custom"), ["custom"]);
        assert_eq!(Line::from_channel("esr"), Some(Line::Esr));
        assert_eq!(Line::from_channel("aurora"), None);
    }
}
