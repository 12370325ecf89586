//! Work item keys as types. The items table stores each key as text — `en-US/<platform>`,
//! `l10n/<platform>/<locale>`, `partner/<partner>/<sub>/v<M>/<platform>/<locale>`,
//! `complete/<platform>/<locale>`, `partial/<platform>/<locale>/<from version>`, `checksums`,
//! `blob`, `rule/<channel>`, `copy/<path>` — and a row converts into an [`ItemKey`] when read, so
//! a stage matches on what an item is instead of splitting strings by position, and a key that is
//! none of these is an error, never a misread.

use std::fmt;
use std::str::FromStr;

use l10n_repack::{Job, JobKind, Locale, Platform};

use crate::release::name::Version;

/// A repacked build: construct's output and certify's item.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BuildKey {
    /// A locale build.
    L10n {
        /// Its platform.
        platform: Platform,
        /// Its locale.
        locale: Locale,
    },
    /// A partner build.
    Partner {
        /// The partner.
        partner: String,
        /// The partner's sub-config.
        sub: String,
        /// The partner build number `M`.
        build: u32,
        /// Its platform.
        platform: Platform,
        /// Its locale.
        locale: Locale,
    },
}

impl BuildKey {
    /// The key of `job`'s output (its text is the job's id).
    pub fn of(job: &Job) -> BuildKey {
        let (platform, locale) = (job.platform(), job.locale().clone());
        match job.kind() {
            JobKind::Locale => BuildKey::L10n { platform, locale },
            JobKind::Partner {
                partner,
                sub,
                build,
            } => BuildKey::Partner {
                partner: partner.clone(),
                sub: sub.clone(),
                build: *build,
                platform,
                locale,
            },
        }
    }

    /// The locale build of `platform` and `locale`.
    pub fn l10n(platform: Platform, locale: &Locale) -> BuildKey {
        BuildKey::L10n {
            platform,
            locale: locale.clone(),
        }
    }

    /// The en-US build of `platform` (the reference of its locale builds).
    pub fn en_us(platform: Platform) -> BuildKey {
        BuildKey::L10n {
            platform,
            locale: "en-US".parse().expect("en-US is a locale"),
        }
    }

    /// The build's platform.
    pub fn platform(&self) -> Platform {
        match self {
            BuildKey::L10n { platform, .. } | BuildKey::Partner { platform, .. } => *platform,
        }
    }

    /// The build's locale.
    pub fn locale(&self) -> &Locale {
        match self {
            BuildKey::L10n { locale, .. } | BuildKey::Partner { locale, .. } => locale,
        }
    }
}

/// What a work item is.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ItemKey {
    /// configure: a platform's en-US build with `kiln-update.toml` baked in.
    EnUs {
        /// The platform.
        platform: Platform,
    },
    /// construct and certify: a repacked build.
    Build(BuildKey),
    /// package: a complete MAR.
    Complete {
        /// The platform.
        platform: Platform,
        /// The locale.
        locale: Locale,
    },
    /// package: a partial MAR from an earlier version.
    Partial {
        /// The platform.
        platform: Platform,
        /// The locale.
        locale: Locale,
        /// The version it updates from.
        from: Version,
    },
    /// package: `SHA256SUMS`, `SHA512SUMS`, their signatures and `KEY`.
    Checksums,
    /// deploy: the release blob.
    Blob,
    /// deploy: the rule of a test channel.
    Rule {
        /// The channel.
        channel: String,
    },
    /// push: one file copied to `releases/V/`.
    Copy {
        /// Its path under the build directory.
        path: String,
    },
}

/// A stored key that is none of the known shapes.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not a work item key")]
pub struct BadItemKey(pub String);

impl fmt::Display for BuildKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildKey::L10n { platform, locale } => {
                write!(f, "l10n/{}/{}", platform.as_str(), locale.as_str())
            }
            BuildKey::Partner {
                partner,
                sub,
                build,
                platform,
                locale,
            } => write!(
                f,
                "partner/{partner}/{sub}/v{build}/{}/{}",
                platform.as_str(),
                locale.as_str()
            ),
        }
    }
}

impl fmt::Display for ItemKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ItemKey::EnUs { platform } => write!(f, "en-US/{}", platform.as_str()),
            ItemKey::Build(build) => build.fmt(f),
            ItemKey::Complete { platform, locale } => {
                write!(f, "complete/{}/{}", platform.as_str(), locale.as_str())
            }
            ItemKey::Partial {
                platform,
                locale,
                from,
            } => write!(
                f,
                "partial/{}/{}/{from}",
                platform.as_str(),
                locale.as_str()
            ),
            ItemKey::Checksums => f.write_str("checksums"),
            ItemKey::Blob => f.write_str("blob"),
            ItemKey::Rule { channel } => write!(f, "rule/{channel}"),
            ItemKey::Copy { path } => write!(f, "copy/{path}"),
        }
    }
}

impl FromStr for ItemKey {
    type Err = BadItemKey;

    fn from_str(s: &str) -> Result<ItemKey, BadItemKey> {
        let bad = || BadItemKey(s.to_owned());
        let platform = |p: &str| p.parse::<Platform>().map_err(|_| bad());
        let locale = |l: &str| l.parse::<Locale>().map_err(|_| bad());
        let parts: Vec<&str> = s.split('/').collect();
        Ok(match parts.as_slice() {
            ["en-US", p] => ItemKey::EnUs {
                platform: platform(p)?,
            },
            ["l10n", p, l] => ItemKey::Build(BuildKey::L10n {
                platform: platform(p)?,
                locale: locale(l)?,
            }),
            ["partner", partner, sub, build, p, l] => ItemKey::Build(BuildKey::Partner {
                partner: (*partner).to_owned(),
                sub: (*sub).to_owned(),
                build: build
                    .strip_prefix('v')
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(bad)?,
                platform: platform(p)?,
                locale: locale(l)?,
            }),
            ["complete", p, l] => ItemKey::Complete {
                platform: platform(p)?,
                locale: locale(l)?,
            },
            ["partial", p, l, from] => ItemKey::Partial {
                platform: platform(p)?,
                locale: locale(l)?,
                from: from.parse().map_err(|_| bad())?,
            },
            ["checksums"] => ItemKey::Checksums,
            ["blob"] => ItemKey::Blob,
            ["rule", channel] if !channel.is_empty() => ItemKey::Rule {
                channel: (*channel).to_owned(),
            },
            ["copy", ..] if s.len() > "copy/".len() => ItemKey::Copy {
                path: s["copy/".len()..].to_owned(),
            },
            _ => return Err(bad()),
        })
    }
}

impl serde::Serialize for ItemKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_reads_back_as_itself_and_junk_is_refused() {
        for text in [
            "en-US/win64",
            "l10n/linux-x86_64/de",
            "l10n/mac/ja-JP-mac",
            "partner/acme/acme-de/v2/win64/de",
            "complete/mac/fr",
            "partial/linux-x86_64/de/120.0",
            "partial/win64/de/128.4.0esr",
            "checksums",
            "blob",
            "rule/release-localtest",
            "copy/update/win64/de/firefox-121.0.complete.mar",
        ] {
            let key: ItemKey = text.parse().unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(key.to_string(), text);
        }
        for junk in [
            "",
            "l10n/linux-x86_64",
            "l10n/beos/de",
            "l10n/mac/../etc",
            "partner/acme/acme/2/win64/de",
            "partial/mac/de/not-a-version",
            "copy/",
            "rule/",
            "en-US/win64/extra",
        ] {
            assert!(junk.parse::<ItemKey>().is_err(), "{junk:?} was accepted");
        }
    }
}
