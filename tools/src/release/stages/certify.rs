//! **certify**: every repack's `.sig` verifies, and each build differs from its reference only
//! where it should — a locale build from en-US only in localized resources (`omni.ja`,
//! `dictionaries/`, `*-l10n.js`, `update.locale`, `precomplete`), a partner build from its
//! locale build only in `distribution/`, `extensions/` and `precomplete` — with binaries,
//! `update-settings.ini` and `channel-prefs.js` byte-identical, and `precomplete` listing exactly
//! the build's files; with `[keys] authenticode_cert` set, every `.exe` and `.dll` of a Windows
//! build carries a good Authenticode signature by the release's signer.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use l10n_repack::Product;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::release::executor::{ItemPlan, Plan};
use crate::release::item_key::{BuildKey, ItemKey};
use crate::release::items::{fingerprint, Item};
use crate::release::stages::{Ctx, Memo, StageReport};
use crate::signing::authenticode::load_certificates;
use crate::signing::ed25519::ArtifactVerifier;
use crate::signing::windows::{is_pe_name, Trust};

/// A tree's files: path relative to its root → SHA-256 of the contents.
type Listing = BTreeMap<String, String>;

/// Files of a tree relative to `root`, with their contents' SHA-256.
fn files(root: &Path) -> anyhow::Result<Listing> {
    let mut out = BTreeMap::new();
    for entry in walkdir::WalkDir::new(root).follow_links(false) {
        let entry = entry?;
        if entry.file_type().is_file() {
            let rel = entry
                .path()
                .strip_prefix(root)?
                .to_string_lossy()
                .replace('\\', "/");
            out.insert(rel, crate::release::items::sha256_file(entry.path())?);
        }
    }
    Ok(out)
}

/// Whether a path (relative to the archive root) is a localized resource a locale repack may
/// change.
pub fn is_localized(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    path.contains("/dictionaries/")
        || name.ends_with("-l10n.js")
        || name == "omni.ja"
        || name == "update.locale"
        || name == "precomplete"
}

/// Files that must keep en-US's bytes in every build.
pub fn must_match(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name == "update-settings.ini"
        || name == "channel-prefs.js"
        || name == client_updater::config::CONFIG_FILE
}

/// The differences between `reference` and `build` that `allowed` does not permit.
pub fn unexpected_differences(
    reference: &Path,
    build: &Path,
    allowed: impl Fn(&str) -> bool,
) -> anyhow::Result<Vec<String>> {
    Ok(differences(&files(reference)?, &files(build)?, allowed))
}

/// The differences between two listings that `allowed` does not permit.
fn differences(a: &Listing, b: &Listing, allowed: impl Fn(&str) -> bool) -> Vec<String> {
    let paths: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let mut problems = Vec::new();
    for path in paths {
        if a.get(path) == b.get(path) {
            continue;
        }
        if must_match(path) || !allowed(path) {
            problems.push(match (a.contains_key(path), b.contains_key(path)) {
                (true, true) => format!("{path} differs"),
                (true, false) => format!("{path} is missing"),
                _ => format!("{path} is extra"),
            });
        }
    }
    problems
}

/// Checks that the tree's `precomplete` removes exactly its files (createprecomplete's rules).
pub fn precomplete_problems(
    tree: &Path,
    platform: l10n_repack::Platform,
    product: &Product,
) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(tree.join(precomplete_path(platform, product)))
        .context("reading precomplete")?;
    Ok(precomplete_problems_in(
        &text,
        &files(tree)?,
        platform,
        product,
    ))
}

/// Where a build keeps `precomplete`, relative to the archive root.
fn precomplete_path(platform: l10n_repack::Platform, product: &Product) -> String {
    format!("{}/precomplete", platform.resources_dir(product))
}

/// The paths of a precomplete text's `remove "…"` lines.
fn removed_paths(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| {
            l.strip_prefix("remove \"")?
                .strip_suffix('"')
                .map(str::to_owned)
        })
        .collect()
}

/// [`precomplete_problems`] for a build whose files are listed (relative to the archive root)
/// and whose `precomplete` reads `text`.
fn precomplete_problems_in(
    text: &str,
    listing: &Listing,
    platform: l10n_repack::Platform,
    product: &Product,
) -> Vec<String> {
    let listed = removed_paths(text);
    // What Mozilla's createprecomplete.py would list for these files (mar's one implementation
    // of its rules); empty directories are not in a listing, so only `remove` lines are compared.
    let app = format!("{}/", platform.app_root(product));
    let own = precomplete_path(platform, product);
    let own = own.strip_prefix(&app).unwrap_or(&own);
    let expected = mar::update::precomplete::precomplete_text_at(
        own,
        listing.keys().filter_map(|p| p.strip_prefix(&app)),
        [],
    );
    let present = removed_paths(&expected);
    let mut problems: Vec<String> = present
        .difference(&listed)
        .map(|p| format!("precomplete does not list {p}"))
        .collect();
    problems.extend(
        listed
            .difference(&present)
            .map(|p| format!("precomplete lists missing {p}")),
    );
    problems
}

/// A build's listing, `precomplete` text and, with `trust`, the Authenticode problems of its PE
/// files: a locale build from its unpacked tree (which package needs too), a partner build read
/// straight from its archive (nothing later needs its tree, so none is written).
fn build_contents(
    ctx: &Ctx<'_>,
    key: &BuildKey,
    archive: &Path,
    product: &Product,
    trust: Option<&Trust>,
) -> anyhow::Result<(Listing, String, Vec<String>)> {
    let location = precomplete_path(key.platform(), product);
    if let BuildKey::Partner { .. } = key {
        let mut listing = Listing::new();
        let mut text = None;
        let mut pe_files = Vec::new();
        l10n_repack::read_files(archive, |path, data| {
            listing.insert(path.to_owned(), hex::encode(Sha256::digest(data)));
            if path == location {
                text = Some(String::from_utf8_lossy(data).into_owned());
            }
            if trust.is_some() && is_pe_name(path) {
                pe_files.push((path.to_owned(), data.to_vec()));
            }
        })?;
        let text = text.ok_or_else(|| anyhow::anyhow!("reading precomplete: no {location}"))?;
        let problems = trust.map_or_else(Vec::new, |t| {
            t.problems(pe_files.iter().map(|(p, d)| (p.as_str(), d.as_slice())))
        });
        return Ok((listing, text, problems));
    }
    let tree = ctx.built_tree(key)?;
    let text = std::fs::read_to_string(tree.join(&location)).context("reading precomplete")?;
    let listing = files(&tree)?;
    let mut pe_files = Vec::new();
    if trust.is_some() {
        for path in listing.keys().filter(|p| is_pe_name(p)) {
            pe_files.push((path.as_str(), std::fs::read(tree.join(path))?));
        }
    }
    let problems = trust.map_or_else(Vec::new, |t| {
        t.problems(pe_files.iter().map(|(p, d)| (*p, d.as_slice())))
    });
    Ok((listing, text, problems))
}

/// Certify's plan: one unit per construct output.
pub fn plan<'a>(ctx: &'a Ctx<'a>) -> anyhow::Result<Box<dyn Plan + 'a>> {
    let verifier = ArtifactVerifier::load(&ctx.config.keys.ed25519_public)?;
    let product = crate::release::builds::product(ctx.config)?;
    // With Authenticode configured, every PE file of every Windows build must carry the
    // release's signature.
    let (trust, code_identity) = match &ctx.config.keys.authenticode_cert {
        Some(cert) => (
            Some(Trust::release(&load_certificates(cert)?)?),
            crate::release::items::sha256_file(cert)?,
        ),
        None => (None, String::new()),
    };
    let built = ctx.state.items(&ctx.row.name, Some("construct"))?;
    let mut items = Vec::new();
    for row in &built {
        items.push(Item {
            key: row.key.clone(),
            fingerprint: fingerprint(&[
                &row.sha256,
                verifier.key_id().as_str(),
                "certify-v1",
                &code_identity,
            ]),
            output: PathBuf::from(&row.output),
        });
    }
    let build_dir = &ctx.build_dir;
    // Reference listings (en-US, and the locale builds partners derive from): each made once.
    let references = Memo::<Arc<Listing>>::default();
    let make = move |item: &Item| {
        let reference = |key: BuildKey| {
            references.get_or_make(&key.to_string(), || {
                Ok(Arc::new(files(&ctx.built_tree(&key)?)?))
            })
        };
        let path = build_dir.join(&item.output);
        ctx.store.fetch_with_signature(&path)?;
        anyhow::ensure!(
            verifier.verify_file(&path)?,
            "{}: bad .sig",
            item.output.display()
        );
        let ItemKey::Build(build) = &item.key else {
            anyhow::bail!("{} is not a build", item.key);
        };
        let p = build.platform();
        let trust = trust.as_ref().filter(|_| p == l10n_repack::Platform::Win64);
        let (listing, precomplete, mut problems) =
            build_contents(ctx, build, &path, &product, trust)?;
        problems.extend(precomplete_problems_in(&precomplete, &listing, p, &product));
        if let BuildKey::Partner { locale, .. } = build {
            let reference = reference(BuildKey::l10n(p, locale))?;
            problems.extend(differences(&reference, &listing, |path| {
                path.contains("/distribution/")
                    || path.contains("/extensions/")
                    || path.ends_with("/precomplete")
            }));
        } else if !build.locale().is_en_us() {
            let reference = reference(BuildKey::en_us(p))?;
            problems.extend(differences(&reference, &listing, is_localized));
        }
        anyhow::ensure!(problems.is_empty(), "{}", problems.join("; "));
        Ok(())
    };
    Ok(Box::new(ItemPlan {
        table: ctx.items("certify", &ctx.build_dir),
        items,
        work: (make, |_: &Item| Ok(())),
    }))
}

/// Runs certify.
pub fn run(ctx: &Ctx<'_>) -> anyhow::Result<StageReport> {
    let started = Instant::now();
    let counts = ctx.execute(plan(ctx)?.as_ref())?;
    Ok(StageReport {
        stage: "certify",
        counts,
        seconds: started.elapsed().as_secs_f64(),
        extra: json!({}),
    })
}
