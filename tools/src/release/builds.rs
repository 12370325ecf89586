//! The en-US builds a release starts from (`<inputs>/builds/<version>/<platform>/en-US/`): where
//! each is, and whether it is a build of the configured product and of the version's release
//! line — `application.ini`'s `[App] Name` must be `kiln.toml`'s `product` and its `Version` the
//! version's app version (`132.0` for `132.0b3`), `update-settings.ini`'s
//! `ACCEPTED_MAR_CHANNEL_IDS` must hold the MAR channel id the release's MARs carry
//! ([`Config::mar_channel_id_for`]), or every MAR shipped to it would be refused by the client
//! (channel mismatch, error 22), and `channel-prefs.js` must name the line's channel (`beta`).

use std::path::{Path, PathBuf};

use anyhow::Context;
use l10n_repack::{Platform, Product, RepackInputs};

use crate::release::config::Config;
use crate::release::name::Version;

/// Where a build keeps its update channel, in its resources dir.
const CHANNEL_PREFS: &str = "defaults/pref/channel-prefs.js";

/// The configured product (`kiln.toml`'s `product`), whose name the archive and app names follow.
pub fn product(config: &Config) -> anyhow::Result<Product> {
    config
        .product
        .parse()
        .with_context(|| format!("kiln.toml product {:?}", config.product))
}

/// `builds/<version>/<platform>/en-US/<archive>`, relative to an inputs directory.
pub fn en_us(product: &Product, platform: Platform, version: &str) -> PathBuf {
    en_us_dir(platform, version).join(platform.archive_name(product, version))
}

fn en_us_dir(platform: Platform, version: &str) -> PathBuf {
    Path::new("builds")
        .join(version)
        .join(platform.as_str())
        .join("en-US")
}

/// The en-US build to check, relative to `inputs`: the product's archive if it is there, else
/// the one archive the directory holds instead (a build of another product, which [`check`]
/// then refuses, naming what it is), else the product's archive's path (missing).
pub fn locate(inputs: &Path, product: &Product, platform: Platform, version: &str) -> PathBuf {
    let expected = en_us(product, platform, version);
    if inputs.join(&expected).is_file() {
        return expected;
    }
    let dir = en_us_dir(platform, version);
    let mut found: Vec<PathBuf> = std::fs::read_dir(inputs.join(&dir))
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| l10n_repack::format_of(name) == Some(platform.format()))
        .map(|name| dir.join(name))
        .collect();
    match found.len() {
        1 => found.remove(0),
        _ => expected,
    }
}

/// Refuses the en-US build `rel` (under `inputs`) of `version` unless it is a build of `config`'s product
/// for its MAR channel, named as the product names it; the error names the build's values and
/// `kiln.toml`'s (`builds/…/firefox-121.0.tar.xz: application.ini Name=Firefox but kiln.toml
/// product = "Thunderbird"; …`). The two files are read from the resources dir under the
/// archive's app root, whatever that root is called (`Firefox.app/Contents/Resources/` on mac).
pub fn check(
    config: &Config,
    inputs: &Path,
    rel: &Path,
    platform: Platform,
    version: &Version,
) -> anyhow::Result<()> {
    let product = product(config)?;
    let resources = match platform.resources_in_app() {
        "" => String::new(),
        inner => format!("{inner}/"),
    };
    let (mut application, mut settings, mut prefs) = (None, None, None);
    l10n_repack::read_files(&inputs.join(rel), |path, data| {
        let Some((_, in_app)) = path.split_once('/') else {
            return;
        };
        let text = || String::from_utf8_lossy(data).into_owned();
        match in_app.strip_prefix(resources.as_str()) {
            Some("application.ini") => application = Some(text()),
            Some("update-settings.ini") => settings = Some(text()),
            Some(CHANNEL_PREFS) => prefs = Some(text()),
            _ => {}
        }
    })
    .with_context(|| format!("reading the en-US build {}", rel.display()))?;
    let mut problems = Vec::new();
    let name = application
        .as_deref()
        .and_then(|text| mar::update::apply::ini_value(text, "App", "Name"));
    if name.as_deref() != Some(product.as_str()) {
        problems.push(format!(
            "application.ini Name={} but kiln.toml product = {:?}",
            name.as_deref().unwrap_or("(none)"),
            config.product
        ));
    }
    let app_version = application
        .as_deref()
        .and_then(|text| mar::update::apply::ini_value(text, "App", "Version"));
    if app_version.as_deref() != Some(version.app_version().as_str()) {
        problems.push(format!(
            "application.ini Version={} but {version}'s app version is {}",
            app_version.as_deref().unwrap_or("(none)"),
            version.app_version()
        ));
    }
    let accepted = settings
        .as_deref()
        .map(mar::update::apply::accepted_channels_in)
        .unwrap_or_default();
    let mar_channel_id = config.mar_channel_id_for(version);
    if !accepted.contains(&mar_channel_id) {
        let key = if mar_channel_id == config.mar_channel_id {
            format!("kiln.toml mar_channel_id = {:?}", config.mar_channel_id)
        } else {
            format!("{version}'s MARs carry {mar_channel_id}")
        };
        problems.push(format!(
            "update-settings.ini ACCEPTED_MAR_CHANNEL_IDS={} but {key}",
            accepted.join(",")
        ));
    }
    let channel = prefs
        .as_deref()
        .and_then(client_updater::identity::channel_pref);
    if channel.as_deref() != Some(version.line().channel()) {
        problems.push(format!(
            "{CHANNEL_PREFS} app.update.channel={} but {version} is of the {} line",
            channel.as_deref().unwrap_or("(none)"),
            version.line()
        ));
    }
    let expected = platform.archive_name(&product, version.as_str());
    if rel.file_name().is_some_and(|name| *name != *expected) {
        problems.push(format!(
            "kiln.toml product = {:?} names it {expected}",
            config.product
        ));
    }
    anyhow::ensure!(
        problems.is_empty(),
        "{}: {}",
        rel.display(),
        problems.join("; ")
    );
    Ok(())
}

/// The repack inputs of `version` in `inputs` for `config`'s product, on its configured
/// platforms only ([`Config::built_platforms`]). Before they are loaded, a
/// platform whose product archive is missing but whose directory holds another product's build
/// is refused with [`check`]'s error, so a mix-up names both values rather than a missing file.
pub fn load(config: &Config, inputs: &Path, version: &Version) -> anyhow::Result<RepackInputs> {
    let product = product(config)?;
    let mut problems = Vec::new();
    for platform in config.platforms.keys() {
        let platform: Platform = platform.parse()?;
        let rel = locate(inputs, &product, platform, version.as_str());
        if rel != en_us(&product, platform, version.as_str()) {
            if let Err(e) = check(config, inputs, &rel, platform, version) {
                problems.push(format!("{e:#}"));
            }
        }
    }
    anyhow::ensure!(problems.is_empty(), "{}", problems.join("\n"));
    let platforms = config.built_platforms()?;
    Ok(RepackInputs::load_for(
        inputs,
        &product,
        version.as_str(),
        &platforms,
    )?)
}
