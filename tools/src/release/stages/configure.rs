//! **configure**: loads and checks the release's inputs and keys, refuses an en-US build that is
//! not of the configured product and MAR channel ([`crate::release::builds::check`]), writes
//! `kiln-update.toml` and bakes it into each platform's en-US build (the repacks then carry it
//! byte-identical); with `[keys] authenticode_*` set, signs the en-US Windows build's `.exe` and
//! `.dll` files (Authenticode) in the same pass, so every repack carries the signed binaries.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use serde_json::json;

use crate::release::builds;
use crate::release::config::Config;
use crate::release::item_key::ItemKey;
use crate::release::items::{fingerprint, sha256_file, Item};
use crate::release::stages::{fail_on, Ctx, StageReport};
use crate::release::update_format::UpdateFormat;
use crate::signing::authenticode::CodeSigner;
use crate::signing::ed25519::ArtifactKey;
use crate::signing::openpgp::ReleaseCert;
use crate::signing::timestamp::Timestamper;
use client_updater::config::{UpdateConfig, CONFIG_FILE};

/// The `kiln-update.toml` the builds for `build_target` carry: the update URL template, the
/// pinned response and MAR keys, the build target, which the client checks an archive's copy
/// against (so a validly signed build of another platform is refused), and the line's update
/// channel (`kiln.toml` `channel`), which the client asks for.
pub fn update_config(
    config: &crate::release::config::Config,
    build_target: &str,
) -> anyhow::Result<UpdateConfig> {
    let read =
        |p: &Path| std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()));
    let mar_keys = UpdateFormat::load(config)?
        .public_keys()
        .iter()
        .map(|k| k.to_pem())
        .collect::<Result<Vec<_>, _>>()?;
    let response_keys = config
        .keys
        .response_public
        .iter()
        .map(|p| read(p))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(UpdateConfig {
        urls: vec![config.update_url()],
        response_keys,
        mar_keys,
        mar_threshold: 1,
        report_url: config.server.report_url.clone(),
        build_target: Some(build_target.to_owned()),
        channel: Some(config.channel.clone()),
        ..UpdateConfig::default()
    })
}

/// Copies the files of `from` into `to` (created), replacing those that differ.
fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    for entry in walkdir::WalkDir::new(from).follow_links(false) {
        let entry = entry?;
        let rel = entry.path().strip_prefix(from).unwrap_or(entry.path());
        let target = to.join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target)?;
        } else if entry.file_type().is_file() {
            let same = std::fs::read(&target).ok() == Some(std::fs::read(entry.path())?);
            if !same {
                std::fs::copy(entry.path(), &target)?;
            }
        }
    }
    Ok(())
}

/// The release's Authenticode signer (`[keys] authenticode_cert` and `authenticode_key`), if
/// configured.
pub fn code_signer(config: &Config) -> anyhow::Result<Option<CodeSigner>> {
    match (
        &config.keys.authenticode_cert,
        &config.keys.authenticode_key,
    ) {
        (Some(cert), Some(key)) => {
            let signer =
                CodeSigner::load(cert, key).context("the Authenticode certificate and key")?;
            Ok(Some(match &config.keys.authenticode_timestamp_url {
                Some(url) => signer.with_timestamper(Timestamper::new(url)),
                None => signer,
            }))
        }
        _ => Ok(None),
    }
}

/// Runs configure.
pub fn run(ctx: &Ctx<'_>) -> anyhow::Result<StageReport> {
    let started = Instant::now();
    let config = ctx.config;
    let version = ctx.name.version().as_str();
    ArtifactKey::load(&config.keys.ed25519).context("the ed25519 signing key")?;
    ReleaseCert::load(&config.keys.openpgp).context("the OpenPGP release certificate")?;
    let code_signer = code_signer(config)?;
    let code_identity = match (&config.keys.authenticode_cert, &code_signer) {
        (Some(cert), Some(_)) => format!(
            "{}{}",
            sha256_file(cert)?,
            config
                .keys
                .authenticode_timestamp_url
                .as_deref()
                .map_or(String::new(), |url| format!(" timestamped by {url}"))
        ),
        _ => String::new(),
    };
    let product = builds::product(config)?;
    let inputs = ctx.inputs();
    std::fs::create_dir_all(&inputs)?;
    for part in ["l10n", "partners"] {
        copy_tree(&config.inputs.join(part), &inputs.join(part))?;
    }
    std::fs::copy(
        config.inputs.join("shipped-locales"),
        inputs.join("shipped-locales"),
    )
    .context("copying shipped-locales")?;
    let mut items = Vec::new();
    for (platform, build_target) in &config.platforms {
        let p: l10n_repack::Platform = platform.parse()?;
        let text = update_config(config, build_target)?.to_toml();
        let source = builds::locate(&config.inputs, &product, p, version);
        let path = config.inputs.join(&source);
        let sha = sha256_file(&path).with_context(|| format!("en-US build {}", path.display()))?;
        items.push((
            Item {
                key: ItemKey::EnUs { platform: p },
                fingerprint: fingerprint(&[
                    &sha,
                    &text,
                    &config.product,
                    &config.mar_channel_id_for(ctx.name.version()),
                    "inject-v1",
                    &code_identity,
                ]),
                output: builds::en_us(&product, p, version),
            },
            p,
            source,
            text,
        ));
    }
    let stage = ctx.items("configure", &inputs);
    let plain: Vec<Item> = items.iter().map(|(i, _, _, _)| i.clone()).collect();
    let bar = crate::release::items::stage_bar("configure");
    let (counts, failures) = stage.run(
        &plain,
        &bar,
        |item| {
            let (_, platform, source, text) = items
                .iter()
                .find(|(i, _, _, _)| i.key == item.key)
                .expect("listed");
            builds::check(
                config,
                &config.inputs,
                source,
                *platform,
                ctx.name.version(),
            )?;
            let out = inputs.join(&item.output);
            std::fs::create_dir_all(out.parent().expect("nested"))?;
            l10n_repack::inject(
                &config.inputs.join(source),
                *platform,
                &product,
                &[(CONFIG_FILE, text.as_bytes())],
                // Mozilla signs the en-US binaries once, before repacks, so every locale and
                // partner build carries the same signed files.
                match (platform, &code_signer) {
                    (l10n_repack::Platform::Win64, Some(signer)) => Some(signer),
                    _ => None,
                },
                &out,
            )?;
            Ok(())
        },
        |_| Ok(()),
    )?;
    bar.finish_and_clear();
    fail_on("configure", &failures)?;
    let loaded = builds::load(config, &inputs, ctx.name.version())?;
    let locales = loaded.locales().count();
    Ok(StageReport {
        stage: "configure",
        counts,
        seconds: started.elapsed().as_secs_f64(),
        extra: json!({ "locales": locales, "platforms": config.platforms.len() }),
    })
}
