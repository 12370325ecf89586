//! **package**: a complete MAR per platform × locale, partials from every partial source
//! (from its published complete MAR) through one shared `DiffCache`, in the release's
//! [`UpdateFormat`], then `SHA256SUMS`,
//! `SHA512SUMS`, their `.asc`, the Linux tarballs' `.asc` and `KEY`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use mar::update::cache::DiffCache;
use mar::update::generate::{
    complete_mar, partial_mar, EntryCache, PartialOptions, StoredDigests, Tree,
};
use mar::ProductInfo;
use serde_json::json;

use crate::release::executor::{ItemPlan, ItemWork};
use crate::release::item_key::{BuildKey, ItemKey};
use crate::release::items::{fingerprint, sha256_file, Item};
use crate::release::layout;
use crate::release::name::ReleaseName;
use crate::release::stages::{fail_on, Ctx, Memo, StageReport};
use crate::release::state::ItemStatus;
use crate::release::update_format::UpdateFormat;
use crate::signing::openpgp::ReleaseCert;

/// Where a release's complete MAR for (platform, locale) is: `releases/V/` once pushed, else
/// its candidates directory.
pub fn published_complete(
    config: &crate::release::config::Config,
    release: &ReleaseName,
    platform: &str,
    locale: &str,
) -> Option<PathBuf> {
    let rel = layout::complete_mar(config, platform, locale, release.version());
    [
        layout::releases(config, release.version()).join(&rel),
        layout::candidates(config, release).join(&rel),
    ]
    .into_iter()
    .find(|p| p.is_file())
}

/// What one MAR item is made from.
#[derive(Debug)]
enum Recipe {
    Complete { build: BuildKey },
    Partial { from: PathBuf, build: BuildKey },
}

/// Package's MARs, as a plan, and the caches their makers share (for the stage's figures).
pub struct Mars<'a> {
    /// One unit per MAR.
    pub plan: ItemPlan<'a, Box<dyn ItemWork + 'a>>,
    entries: Arc<EntryCache>,
    stored: Arc<StoredDigests>,
    cache: Arc<DiffCache>,
}

impl std::fmt::Debug for Mars<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mars")
            .field("plan", &self.plan)
            .finish_non_exhaustive()
    }
}

/// Package's MAR plan: a complete MAR per construct output and a partial per partial source.
pub fn mars<'a>(ctx: &'a Ctx<'a>) -> anyhow::Result<Mars<'a>> {
    let config = ctx.config;
    let version = ctx.name.version();
    let product = crate::release::builds::product(config)?;
    // Every locale's MAR of a platform carries the same binaries: compress each once.
    let entries = Arc::new(EntryCache::new());
    let format = UpdateFormat::load(config)?;
    // The MARs carry the line's MAR channel id and the app version (`132.0` for `132.0b3`):
    // what the client compares with its `update-settings.ini` and `application.ini`.
    let mar_channel_id = config.mar_channel_id_for(version);
    let app_version = version.app_version();
    let info = ProductInfo::new(&mar_channel_id, &app_version)?;
    let params = format.params(info).entry_cache(entries.clone());
    let verifier = format.verifier();
    let format_tag = format.fingerprint_tag();
    let cache = Arc::new(DiffCache::open(&layout::diff_cache(config))?);
    // The from-MARs of one platform carry its binaries as identical entries: decode each once.
    let stored = Arc::new(StoredDigests::new());
    let sources: Vec<ReleaseName> = ctx
        .row
        .partials
        .iter()
        .map(|n| n.parse())
        .collect::<Result<_, _>>()?;
    let mut items = Vec::new();
    let mut recipes = Vec::new();
    for row in ctx.state.items(&ctx.row.name, Some("construct"))? {
        let ItemKey::Build(
            build @ BuildKey::L10n {
                platform: p,
                locale,
            },
        ) = &row.key
        else {
            continue;
        };
        if row.status != ItemStatus::Done {
            continue;
        }
        let (platform, locale_code) = (p.as_str(), locale.as_str());
        let common = [
            mar_channel_id.as_str(),
            app_version.as_str(),
            version.as_str(),
            format_tag.as_str(),
        ];
        items.push(Item {
            key: ItemKey::Complete {
                platform: *p,
                locale: locale.clone(),
            },
            fingerprint: fingerprint(&[&[row.sha256.as_str()][..], &common].concat()),
            output: layout::complete_mar(config, platform, locale_code, version),
        });
        recipes.push(Recipe::Complete {
            build: build.clone(),
        });
        for source in &sources {
            let Some(from) = published_complete(config, source, platform, locale_code) else {
                tracing::info!(%source, platform, locale = locale_code, "no complete MAR to diff from: no partial");
                continue;
            };
            let from_sha = sha256_file(&from)?;
            items.push(Item {
                key: ItemKey::Partial {
                    platform: *p,
                    locale: locale.clone(),
                    from: source.version().clone(),
                },
                fingerprint: fingerprint(
                    &[&[row.sha256.as_str(), from_sha.as_str()][..], &common].concat(),
                ),
                output: layout::partial_mar(
                    config,
                    platform,
                    locale_code,
                    source.version(),
                    version,
                ),
            });
            recipes.push(Recipe::Partial {
                from,
                build: build.clone(),
            });
        }
    }
    let build_dir = &ctx.build_dir;
    let keys: Vec<ItemKey> = items.iter().map(|i| i.key.clone()).collect();
    // Each build's tree is read once and shared by its complete and partial MARs, so each of
    // its files is hashed once however many MARs carry it.
    let read_trees = Memo::<Tree>::default();
    let (diffs, digests) = (cache.clone(), stored.clone());
    let make = move |item: &Item| -> anyhow::Result<()> {
        let recipe = &recipes[keys.iter().position(|k| *k == item.key).expect("listed")];
        let app_tree = |build: &BuildKey| -> anyhow::Result<Tree> {
            read_trees.get_or_make(&build.to_string(), || {
                Ok(Tree::from_dir(
                    &ctx.built_tree(build)?
                        .join(build.platform().app_root(&product)),
                )?)
            })
        };
        let out = build_dir.join(&item.output);
        std::fs::create_dir_all(out.parent().expect("nested"))?;
        let temp = out.with_extension("mar.tmp");
        match recipe {
            Recipe::Complete { build } => {
                complete_mar(&app_tree(build)?, &params, &temp)?;
            }
            Recipe::Partial { from, build } => {
                let old = Tree::from_complete_mar_with(
                    &mut mar::Mar::open(std::fs::File::open(from)?)?,
                    &digests,
                )?;
                let options = PartialOptions::default()
                    .cache(&diffs)
                    .patch_format(format.patch_format());
                partial_mar(&old, &app_tree(build)?, &params, &options, &temp)?;
            }
        }
        std::fs::rename(&temp, &out)?;
        Ok(())
    };
    let verify = move |item: &Item| -> anyhow::Result<()> {
        let path = build_dir.join(&item.output);
        let file = std::fs::File::open(&path)?;
        verifier
            .verify(mar::Mar::open(file)?)
            .with_context(|| format!("{}: MAR signature", item.output.display()))?;
        Ok(())
    };
    Ok(Mars {
        plan: ItemPlan {
            table: ctx.items("package", &ctx.build_dir),
            items,
            work: Box::new((make, verify)),
        },
        entries,
        stored,
        cache,
    })
}

/// Runs package.
pub fn run(ctx: &Ctx<'_>) -> anyhow::Result<StageReport> {
    let started = Instant::now();
    let config = ctx.config;
    let build_dir = &ctx.build_dir;
    let mars = mars(ctx)?;
    let mut counts = ctx.execute(&mars.plan)?;
    let cache_stats = mars.cache.stats();
    let stage = ctx.items("package", &ctx.build_dir);

    // Checksums and their signatures, over everything the stage and construct made.
    let cert = ReleaseCert::load(&config.keys.openpgp)?;
    let mut listing: Vec<String> = ctx
        .state
        .items(&ctx.row.name, None)?
        .into_iter()
        .filter(|r| {
            matches!(r.stage.as_str(), "construct" | "package")
                && r.status == ItemStatus::Done
                && r.key != ItemKey::Checksums
        })
        .map(|r| format!("{} {}", r.output, r.sha256))
        .collect();
    listing.sort();
    listing.push(cert.fingerprint());
    let sums = Item {
        key: ItemKey::Checksums,
        fingerprint: fingerprint(&listing.iter().map(String::as_str).collect::<Vec<_>>()),
        output: PathBuf::from("SHA512SUMS"),
    };
    let (sum_counts, sum_failures) = stage.run(
        std::slice::from_ref(&sums),
        &indicatif::ProgressBar::hidden(),
        |_| {
            crate::checksums::write_signed(build_dir, &cert)?;
            Ok(())
        },
        |_| {
            let problems = crate::checksums::verify(build_dir, &cert)?;
            anyhow::ensure!(problems.is_empty(), "{}", problems.join("; "));
            Ok(())
        },
    )?;
    counts.add(sum_counts);
    fail_on("package", &sum_failures)?;
    // The sums, their signatures and KEY; the diffs for other hosts' partials.
    ctx.store.publish_dir(build_dir)?;
    ctx.store.publish_dir(&layout::diff_cache(config))?;
    let items = &mars.plan.items;
    let bytes: u64 = items
        .iter()
        .filter_map(|i| std::fs::metadata(build_dir.join(&i.output)).ok())
        .map(|m| m.len())
        .sum();
    Ok(StageReport {
        stage: "package",
        counts,
        seconds: started.elapsed().as_secs_f64(),
        extra: json!({
            "mars": items.len(),
            "mar_bytes": bytes,
            "entry_cache_hits": mars.entries.hits(),
            "entry_cache_misses": mars.entries.misses(),
            "stored_digest_hits": mars.stored.hits(),
            "stored_digest_misses": mars.stored.misses(),
            "cache_hits": cache_stats.hits,
            "cache_misses": cache_stats.misses,
        }),
    })
}
