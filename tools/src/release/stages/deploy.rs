//! **deploy**: the release blob (schema 9) published through the update server's admin API —
//! `fileUrls` point `<channel>-localtest` at candidates URLs and everything else at releases
//! URLs — and the `<channel>-localtest` rule pointed at it.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{json, Map, Value};
use sha2::Sha512;

use crate::release::item_key::{BuildKey, ItemKey};
use crate::release::items::{file_digest, fingerprint, Item};
use crate::release::layout;
use crate::release::server::Admin;
use crate::release::stages::{fail_on, Ctx, StageReport};

fn sha512_file(path: &Path) -> anyhow::Result<String> {
    Ok(file_digest::<Sha512>(path)?)
}

/// The `BuildID=` of an unpacked build's `application.ini`.
pub fn build_id(
    tree: &Path,
    platform: l10n_repack::Platform,
    product: &l10n_repack::Product,
) -> anyhow::Result<String> {
    let ini = tree
        .join(platform.resources_dir(product))
        .join("application.ini");
    let text = std::fs::read_to_string(&ini)?;
    text.lines()
        .find_map(|l| l.strip_prefix("BuildID="))
        .map(|s| s.trim().to_owned())
        .ok_or_else(|| anyhow::anyhow!("{}: no BuildID", ini.display()))
}

/// The release blob of `ctx`'s release, from its candidates directory: `appVersion` is the app
/// version the builds carry and the server's version rules accept (`132.0` for `132.0b3`),
/// `displayVersion` the release's own (`132.0b3`, `128.5.0esr`).
pub fn blob(ctx: &Ctx<'_>) -> anyhow::Result<Value> {
    let config = ctx.config;
    let version = ctx.name.version();
    let base = config.server.download_base_url.trim_end_matches('/');
    let candidates = format!("{base}/{}", layout::url_path(config, &ctx.build_dir));
    let releases = format!(
        "{base}/{}",
        layout::url_path(config, &layout::releases(config, version))
    );
    let prefix = config.file_prefix();
    let mut url_blocks = Map::new();
    for (channel, root) in [
        (config.localtest_channel(), &candidates),
        ("*".to_owned(), &releases),
    ] {
        let mut partials = Map::new();
        for source in &ctx.row.partials {
            let from: crate::release::name::ReleaseName = source.parse()?;
            partials.insert(
                source.clone(),
                json!(format!(
                    "{root}/update/%OS_FTP%/%LOCALE%/{prefix}-{}-{version}.partial.mar",
                    from.version()
                )),
            );
        }
        url_blocks.insert(
            channel,
            json!({
                "completes": {"*": format!("{root}/update/%OS_FTP%/%LOCALE%/{prefix}-{version}.complete.mar")},
                "partials": partials,
            }),
        );
    }
    let product = crate::release::builds::product(config)?;
    let mut platforms = Map::new();
    for (platform, target) in &config.platforms {
        let p: l10n_repack::Platform = platform.parse()?;
        let build_id = build_id(&ctx.built_tree(&BuildKey::en_us(p))?, p, &product)?;
        let mut locales = Map::new();
        let dir = ctx.build_dir.join("update").join(platform);
        let mut names: Vec<String> = std::fs::read_dir(&dir)?
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect();
        names.sort();
        for locale in names {
            let complete = ctx
                .build_dir
                .join(layout::complete_mar(config, platform, &locale, version));
            if !complete.is_file() {
                continue;
            }
            let mut partials = Vec::new();
            for source in &ctx.row.partials {
                let from: crate::release::name::ReleaseName = source.parse()?;
                let path = ctx.build_dir.join(layout::partial_mar(
                    config,
                    platform,
                    &locale,
                    from.version(),
                    version,
                ));
                if path.is_file() {
                    partials.push(
                        json!({"from": source, "filesize": std::fs::metadata(&path)?.len(),
                        "hashValue": sha512_file(&path)?}),
                    );
                }
            }
            locales.insert(
                locale,
                json!({
                    "completes": [{"from": "*", "filesize": std::fs::metadata(&complete)?.len(),
                        "hashValue": sha512_file(&complete)?}],
                    "partials": partials,
                }),
            );
        }
        platforms.insert(
            target.clone(),
            json!({"OS_FTP": platform, "buildID": build_id, "locales": locales}),
        );
    }
    Ok(json!({
        "name": ctx.row.name,
        "schema_version": 9,
        "hashFunction": "sha512",
        "appVersion": version.app_version(),
        "displayVersion": version.as_str(),
        "updateLine": [{"for": {}, "fields": {"type": "minor",
            "detailsURL": format!("{base}/releasenotes/{version}/")}}],
        "fileUrls": url_blocks,
        "platforms": platforms,
    }))
}

/// Runs deploy.
pub fn run(ctx: &Ctx<'_>) -> anyhow::Result<StageReport> {
    let started = Instant::now();
    let config = ctx.config;
    let admin = Admin::new(&config.server.url, &config.admin_token()?);
    let blob = blob(ctx)?;
    let text = serde_json::to_string_pretty(&blob)?;
    let localtest = config.localtest_channel();
    let items = vec![
        Item {
            key: ItemKey::Blob,
            fingerprint: fingerprint(&[&text, &config.server.url]),
            output: PathBuf::from("blob.json"),
        },
        Item {
            key: ItemKey::Rule {
                channel: localtest.clone(),
            },
            fingerprint: fingerprint(&[&text, &config.server.url, &localtest]),
            output: PathBuf::from("rule-localtest.json"),
        },
    ];
    let stage = ctx.items("deploy", &ctx.work);
    let bar = crate::release::items::stage_bar("deploy");
    let mut counts = crate::release::items::Counts::default();
    // The rule may only map a release the server has: one item after the other.
    for item in &items {
        let (item_counts, failures) = stage.run(
            std::slice::from_ref(item),
            &bar,
            |item| {
                if item.key == ItemKey::Blob {
                    admin.put_release(&ctx.row.name, &config.product, &blob)?;
                    std::fs::write(ctx.work.join(&item.output), &text)?;
                } else {
                    admin.point_channel(&config.product, &localtest, &ctx.row.name)?;
                    let rule = admin
                        .rule_for(&config.product, &localtest)?
                        .unwrap_or(Value::Null);
                    std::fs::write(
                        ctx.work.join(&item.output),
                        serde_json::to_string_pretty(&rule)?,
                    )?;
                }
                Ok(())
            },
            |item| {
                if item.key == ItemKey::Blob {
                    anyhow::ensure!(
                        admin.release(&ctx.row.name)?.as_ref() == Some(&blob),
                        "the server's blob differs from ours"
                    );
                } else {
                    let rule = admin.rule_for(&config.product, &localtest)?;
                    anyhow::ensure!(
                        rule.is_some_and(|r| r["mapping"] == ctx.row.name.as_str()),
                        "{localtest} does not map {}",
                        ctx.row.name
                    );
                }
                Ok(())
            },
        )?;
        counts.add(item_counts);
        fail_on("deploy", &failures)?;
    }
    bar.finish_and_clear();
    Ok(StageReport {
        stage: "deploy",
        counts,
        seconds: started.elapsed().as_secs_f64(),
        extra: json!({"blob": ctx.row.name, "channel": localtest}),
    })
}
