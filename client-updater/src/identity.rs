//! The product identity that goes into the update URL, read from the install's files as Firefox
//! does (or given by the host). The files are in the install's resources directory
//! ([`mar::update::layout::resources_dir`]: `Contents/Resources/` of a mac bundle, else the root).

use std::path::{Path, PathBuf};

use mar::update::apply::ini_value;
use mar::update::layout::resources_dir;
use serde::Serialize;

/// Why the install's identity could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// A required file is missing or unreadable.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A required value is missing.
    #[error("{file} has no {what}")]
    Missing {
        /// The file.
        file: &'static str,
        /// The value.
        what: &'static str,
    },
    /// A value has characters that cannot be part of an identity (control characters, or longer
    /// than 256 bytes).
    #[error("{what} {value:?} is not a valid value")]
    Invalid {
        /// The value's name.
        what: &'static str,
        /// The value.
        value: String,
    },
}

/// What identifies an install to the update server (Firefox's URL variables).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// `%PRODUCT%`: `[App] Name` of `application.ini`.
    pub product: String,
    /// `%VERSION%`: `[App] Version`.
    pub version: String,
    /// `%BUILD_ID%`: `[App] BuildID`.
    pub build_id: String,
    /// `%BUILD_TARGET%`, e.g. `Linux_x86_64-gcc3`.
    pub build_target: String,
    /// `%LOCALE%`: the contents of `update.locale`.
    pub locale: String,
    /// `%CHANNEL%`: `app.update.channel` from `defaults/pref/channel-prefs.js`.
    pub channel: String,
    /// `%OS_VERSION%`, e.g. `Linux 6.1.0`.
    pub os_version: String,
    /// `%SYSTEM_CAPABILITIES%`, e.g. `ISET:SSE4_2,MEM:16000`.
    pub system_capabilities: String,
    /// `%DISTRIBUTION%`: `[Global] id` of `distribution/distribution.ini`, else `default`.
    pub distribution: String,
    /// `%DISTRIBUTION_VERSION%`: `[Global] version`, else `default`.
    pub distribution_version: String,
}

fn read(path: PathBuf) -> Result<String, IdentityError> {
    match std::fs::read(&path) {
        Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
        Err(source) => Err(IdentityError::Read { path, source }),
    }
}

fn valid(what: &'static str, value: String) -> Result<String, IdentityError> {
    if value.is_empty() || value.len() > 256 || value.chars().any(char::is_control) {
        return Err(IdentityError::Invalid { what, value });
    }
    Ok(value)
}

/// `app.update.channel` from the text of `channel-prefs.js` (`pref("app.update.channel", "x");`).
pub fn channel_pref(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let rest = line.trim().strip_prefix("pref(")?;
        let rest = rest.trim_start().strip_prefix("\"app.update.channel\"")?;
        let rest = rest.trim_start().strip_prefix(',')?.trim_start();
        let rest = rest.strip_prefix('"')?;
        let end = rest.find('"')?;
        Some(rest[..end].to_owned())
    })
}

/// The build target this client was compiled for, in Firefox's spelling.
pub fn compiled_build_target() -> &'static str {
    match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => "Linux_x86_64-gcc3",
        ("linux", "x86") => "Linux_x86-gcc3",
        ("linux", "aarch64") => "Linux_aarch64-gcc3",
        ("macos", "aarch64") => "Darwin_aarch64-gcc3",
        ("macos", _) => "Darwin_x86_64-gcc3",
        ("windows", "x86_64") => "WINNT_x86_64-msvc-x64",
        ("windows", "aarch64") => "WINNT_aarch64-msvc-aarch64",
        ("windows", _) => "WINNT_x86-msvc",
        _ => "default",
    }
}

/// The OS version as Firefox reports it on Linux (`Linux <release>`), or the OS name.
pub fn os_version() -> String {
    let name = match std::env::consts::OS {
        "linux" => "Linux",
        "macos" => "Darwin",
        "windows" => "Windows_NT",
        other => other,
    };
    match std::fs::read_to_string("/proc/sys/kernel/osrelease") {
        Ok(release) if !release.trim().is_empty() => format!("{name} {}", release.trim()),
        _ => name.to_owned(),
    }
}

/// `ISET:<best SSE level>,MEM:<MiB>` where known.
pub fn system_capabilities() -> String {
    let mut parts = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        let iset = if std::arch::is_x86_feature_detected!("sse4.2") {
            "SSE4_2"
        } else if std::arch::is_x86_feature_detected!("sse4.1") {
            "SSE4_1"
        } else if std::arch::is_x86_feature_detected!("sse3") {
            "SSE3"
        } else {
            "SSE2"
        };
        parts.push(format!("ISET:{iset}"));
    }
    if let Ok(meminfo) = std::fs::read_to_string("/proc/meminfo") {
        let kib = meminfo.lines().find_map(|l| {
            l.strip_prefix("MemTotal:")?
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        });
        if let Some(kib) = kib {
            parts.push(format!("MEM:{}", kib / 1024));
        }
    }
    if parts.is_empty() {
        "NA".to_owned()
    } else {
        parts.join(",")
    }
}

impl Identity {
    /// Reads the identity of the install rooted at `root` (`Firefox.app` for a mac bundle) from
    /// its resources directory. `channel` and `build_target` override the install's (and the
    /// compiled-in) values when given.
    pub fn from_install(
        root: &Path,
        channel: Option<&str>,
        build_target: Option<&str>,
    ) -> Result<Identity, IdentityError> {
        let dir = &resources_dir(root);
        let app = read(dir.join("application.ini"))?;
        let get = |key: &'static str| {
            ini_value(&app, "App", key).ok_or(IdentityError::Missing {
                file: "application.ini",
                what: key,
            })
        };
        let product = valid("product", get("Name")?)?;
        let version = valid("version", get("Version")?)?;
        let build_id = valid("build ID", get("BuildID")?)?;
        let channel = match channel {
            Some(c) => c.to_owned(),
            None => channel_pref(&read(dir.join("defaults/pref/channel-prefs.js"))?).ok_or(
                IdentityError::Missing {
                    file: "defaults/pref/channel-prefs.js",
                    what: "app.update.channel",
                },
            )?,
        };
        let locale = read(dir.join("update.locale"))
            .map(|t| t.trim().to_owned())
            .unwrap_or_else(|_| "en-US".to_owned());
        let (distribution, distribution_version) =
            match std::fs::read(dir.join("distribution/distribution.ini")) {
                Ok(bytes) => {
                    let text = String::from_utf8_lossy(&bytes);
                    (
                        ini_value(&text, "Global", "id").unwrap_or_else(|| "default".to_owned()),
                        ini_value(&text, "Global", "version")
                            .unwrap_or_else(|| "default".to_owned()),
                    )
                }
                Err(_) => ("default".to_owned(), "default".to_owned()),
            };
        Ok(Identity {
            product,
            version,
            build_id,
            build_target: valid(
                "build target",
                build_target.unwrap_or(compiled_build_target()).to_owned(),
            )?,
            locale: valid("locale", locale)?,
            channel: valid("channel", channel)?,
            os_version: os_version(),
            system_capabilities: system_capabilities(),
            distribution: valid("distribution", distribution)?,
            distribution_version: valid("distribution version", distribution_version)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_install() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(
            d.join("application.ini"),
            "[App]\nName=Firefox\nVersion=119.0\nBuildID=20231016000000\n",
        )
        .unwrap();
        std::fs::create_dir_all(d.join("defaults/pref")).unwrap();
        std::fs::write(
            d.join("defaults/pref/channel-prefs.js"),
            "/* x */\npref(\"app.update.channel\", \"release\");\n",
        )
        .unwrap();
        std::fs::write(d.join("update.locale"), "de\n").unwrap();
        let id = Identity::from_install(d, None, Some("Linux_x86_64-gcc3")).unwrap();
        assert_eq!(
            (
                &*id.product,
                &*id.version,
                &*id.build_id,
                &*id.locale,
                &*id.channel
            ),
            ("Firefox", "119.0", "20231016000000", "de", "release")
        );
        assert_eq!(
            (&*id.distribution, &*id.distribution_version),
            ("default", "default")
        );
        std::fs::create_dir_all(d.join("distribution")).unwrap();
        std::fs::write(
            d.join("distribution/distribution.ini"),
            "[Global]\nid=acme\nversion=1.0\n",
        )
        .unwrap();
        let id = Identity::from_install(d, Some("beta"), None).unwrap();
        assert_eq!(
            (&*id.distribution, &*id.distribution_version, &*id.channel),
            ("acme", "1.0", "beta")
        );
        std::fs::write(d.join("application.ini"), "[App]\nName=Firefox\n").unwrap();
        assert!(matches!(
            Identity::from_install(d, None, None),
            Err(IdentityError::Missing {
                what: "Version",
                ..
            })
        ));
    }

    #[test]
    fn reads_a_mac_bundle_from_contents_resources() {
        let dir = tempfile::tempdir().unwrap();
        let app = dir.path().join("Firefox.app");
        let res = app.join("Contents/Resources");
        std::fs::create_dir_all(res.join("defaults/pref")).unwrap();
        std::fs::write(app.join("Contents/Info.plist"), "<plist/>").unwrap();
        std::fs::write(
            res.join("application.ini"),
            "[App]\nName=Firefox\nVersion=120.0\nBuildID=20231113000000\n",
        )
        .unwrap();
        std::fs::write(
            res.join("defaults/pref/channel-prefs.js"),
            "pref(\"app.update.channel\", \"beta\");\n",
        )
        .unwrap();
        std::fs::write(res.join("update.locale"), "fr\n").unwrap();
        let id = Identity::from_install(&app, None, None).unwrap();
        assert_eq!(
            (&*id.version, &*id.channel, &*id.locale),
            ("120.0", "beta", "fr")
        );
    }
}
