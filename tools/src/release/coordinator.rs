//! The release coordinator's operations: go-to-build (and chemspill), promote, push, ship,
//! signoff, halt. Each loads the release record, refuses what its status forbids, runs, and
//! records the outcome.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use serde::Serialize;

use crate::release::config::Config;
use crate::release::item_key::ItemKey;
use crate::release::items::{fingerprint, Counts, Item, StageItems};
use crate::release::name::{release_tag, ReleaseName, Version};
use crate::release::notice::{self, Notice};
use crate::release::server::Admin;
use crate::release::stages::{self, Ctx, StageReport};
use crate::release::state::{ItemStatus, PhaseStatus, ReleaseRow, ReleaseStatus, State};
use crate::release::{git, layout};

/// How partial sources are chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Partials {
    /// The last `partial_count` shipped releases of the configured line older than the new
    /// version (betas from betas, ESRs from ESRs).
    Auto,
    /// The shipped build of each listed version.
    Versions(Vec<Version>),
}

impl std::str::FromStr for Partials {
    type Err = crate::release::name::NameError;

    fn from_str(s: &str) -> Result<Partials, Self::Err> {
        if s == "auto" {
            return Ok(Partials::Auto);
        }
        Ok(Partials::Versions(
            s.split(',').map(str::parse).collect::<Result<_, _>>()?,
        ))
    }
}

/// What go-to-build registers.
#[derive(Clone, Debug)]
pub struct GoToBuild {
    /// Version.
    pub version: Version,
    /// Source revision (anything git resolves).
    pub revision: String,
    /// Build number.
    pub build: u32,
    /// Partial sources.
    pub partials: Partials,
    /// `release` or `chemspill`.
    pub kind: &'static str,
    /// Who asks.
    pub created_by: String,
}

/// The shipped releases, newest version first, one (the last shipped build) per version.
pub fn shipped(state: &State) -> anyhow::Result<Vec<ReleaseName>> {
    let mut out: Vec<ReleaseName> = Vec::new();
    let mut rows = state.releases()?;
    rows.retain(|r| r.status == ReleaseStatus::Shipped);
    rows.sort_by_key(|r| std::cmp::Reverse(r.updated_at));
    for row in rows {
        let name: ReleaseName = row.name.parse()?;
        if !out.iter().any(|n| n.version() == name.version()) {
            out.push(name);
        }
    }
    out.sort_by(|a, b| b.version().cmp(a.version()));
    Ok(out)
}

/// Registers a release (go-to-build / chemspill): refuses duplicates, picks partial sources,
/// tags `<PRODUCT>_<V>_BUILD<N>` and writes the go-to-build notice. Returns the record.
pub fn go_to_build(
    config: &Config,
    state: &State,
    request: &GoToBuild,
) -> anyhow::Result<ReleaseRow> {
    let name = ReleaseName::new(&config.product, request.version.clone(), request.build)?;
    anyhow::ensure!(
        config.ships(&request.version),
        "{} is a {} version, but kiln.toml channel = {:?} ships the {} line{}",
        request.version,
        request.version.line(),
        config.channel,
        config.line(),
        match config.line() {
            mar::update::version::Line::Beta => " (and its release candidates)",
            _ => "",
        }
    );
    let commit = git::resolve(&config.git_repo, &request.revision).with_context(|| {
        format!(
            "revision {} in {}",
            request.revision,
            config.git_repo.display()
        )
    })?;
    let older: Vec<ReleaseName> = shipped(state)?
        .into_iter()
        .filter(|n| n.version() < &request.version)
        .collect();
    // The line's own shipped builds: betas from betas (an RC on beta too), ESRs from ESRs.
    let same_line: Vec<&ReleaseName> = older
        .iter()
        .filter(|n| n.version().line() == config.line())
        .collect();
    let partials: Vec<ReleaseName> = match &request.partials {
        Partials::Auto => same_line
            .iter()
            .take(config.partial_count)
            .map(|n| (*n).clone())
            .collect(),
        Partials::Versions(versions) => versions
            .iter()
            .map(|v| {
                older
                    .iter()
                    .find(|n| n.version() == v)
                    .cloned()
                    .ok_or_else(|| {
                        anyhow::anyhow!("no shipped release of {v} older than {}", request.version)
                    })
            })
            .collect::<anyhow::Result<_>>()?,
    };
    // Validate the inputs before anything is recorded.
    let inputs = crate::release::builds::load(config, &config.inputs, &request.version)
        .with_context(|| {
            format!(
                "inputs of {} in {}",
                request.version,
                config.inputs.display()
            )
        })?;
    let locales: Vec<String> = inputs.locales().map(ToString::to_string).collect();
    let row = ReleaseRow {
        name: name.to_string(),
        version: request.version.to_string(),
        build: request.build,
        revision: commit.clone(),
        partials: partials.iter().map(ToString::to_string).collect(),
        kind: request.kind.to_owned(),
        status: ReleaseStatus::Scheduled,
        next_version: request.version.next_version().to_string(),
        created_by: request.created_by.clone(),
        created_at: crate::release::state::now(),
        updated_at: crate::release::state::now(),
        ship_change: None,
        note: None,
    };
    state.insert_release(&name, &row)?;
    crate::release::log::open(&config.root, &row.name)?;
    tracing::info!(release = %row.name, revision = %commit, "go to build");
    git::tag(
        &config.git_repo,
        &name.build_tag(),
        &commit,
        &format!("{name}"),
    )?;
    let previous_tag = same_line
        .first()
        .map(|n| release_tag(n.product(), n.version()));
    let (range, changes) = match &previous_tag {
        Some(tag) if git::has_tag(&config.git_repo, tag) => (
            format!("{tag}..{}", request.revision),
            git::log(&config.git_repo, tag, &commit)?,
        ),
        _ => (format!("(first release)..{}", request.revision), Vec::new()),
    };
    let body = format!(
        "A new build has been submitted through kiln go-to-build:\n\n\
         Release: {name}\n\
         Commit: {}\n\
         Task group: {}\n\
         Locales: {}\n\
         Partials: {}\n\
         Next version: {}\n\
         Created by {}  Started by {}\n\n\
         Comparing git tag {range}:\n{}\n",
        config.revision_url.replace("{revision}", &commit),
        task_group(&row),
        locales.join(" "),
        if row.partials.is_empty() {
            "none".to_owned()
        } else {
            row.partials.join(", ")
        },
        row.next_version,
        row.created_by,
        row.created_by,
        changes
            .iter()
            .map(|c| format!("  {c}"))
            .collect::<Vec<_>>()
            .join("\n"),
    );
    notice::send(
        config,
        &Notice {
            kind: "go-to-build",
            release: row.name.clone(),
            subject: format!("Build of {name}"),
            body,
        },
    )?;
    Ok(row)
}

/// The task group id of a release: a stable id derived from its name and creation time.
pub fn task_group(row: &ReleaseRow) -> String {
    fingerprint(&[&row.name, &row.created_at.to_string()])[..22].to_owned()
}

/// The release to act on: the named one, else the newest.
pub fn pick(state: &State, release: Option<&str>) -> anyhow::Result<ReleaseRow> {
    match release {
        Some(name) => Ok(state.release(name)?),
        None => state
            .releases()?
            .into_iter()
            .last()
            .ok_or_else(|| anyhow::anyhow!("no release yet: run kiln go-to-build")),
    }
}

/// The stages' context for `row`.
pub fn context<'a>(
    config: &'a Config,
    state: &'a State,
    row: ReleaseRow,
) -> anyhow::Result<Ctx<'a>> {
    let name: ReleaseName = row.name.parse()?;
    Ok(Ctx {
        config,
        state,
        build_dir: layout::candidates(config, &name),
        work: layout::work(config, &name),
        name,
        row,
        chunk: None,
        in_worker: false,
        store: crate::release::store::Store::open(config)?,
    })
}

/// A promote stage.
type StageFn = fn(&Ctx<'_>) -> anyhow::Result<StageReport>;

/// What promote did.
#[derive(Debug, Serialize)]
pub struct PromoteReport {
    /// The release.
    pub release: String,
    /// Per stage.
    pub stages: Vec<StageReport>,
    /// All items.
    pub total: Counts,
    /// Wall time.
    pub seconds: f64,
}

/// Runs promote's five stages (or only construct's `chunk`). Failure marks the release
/// failed; a rerun redoes only what is missing or invalid.
pub fn promote(
    config: &Config,
    state: &State,
    row: ReleaseRow,
    chunk: Option<l10n_repack::Chunk>,
) -> anyhow::Result<PromoteReport> {
    if !matches!(
        row.status,
        ReleaseStatus::Scheduled
            | ReleaseStatus::Promoting
            | ReleaseStatus::Failed
            | ReleaseStatus::Candidates
    ) {
        bail!("{} is {}: promote is not allowed", row.name, row.status);
    }
    let started = Instant::now();
    crate::release::log::open(&config.root, &row.name)?;
    let previous = match row.status {
        ReleaseStatus::Candidates => ReleaseStatus::Candidates,
        _ => ReleaseStatus::Scheduled,
    };
    let mut ctx = context(config, state, row)?;
    ctx.chunk = chunk;
    let _active = crate::release::activity::begin(config, &ctx.name)?;
    std::fs::create_dir_all(&ctx.work)?;
    if chunk.is_none() && ctx.build_dir.is_dir() {
        stages::remove_stale_temporaries(&ctx.build_dir)?;
    }
    state.set_status(&ctx.row.name, ReleaseStatus::Promoting, None)?;
    let mut reports = Vec::new();
    let stages: [(&str, StageFn); 5] = [
        ("configure", stages::configure::run),
        ("construct", stages::construct::run),
        ("certify", stages::certify::run),
        ("package", stages::package::run),
        ("deploy", stages::deploy::run),
    ];
    for (stage, run) in stages {
        if stage != "configure" && stage != "construct" && chunk.is_some() {
            break;
        }
        state.phase_started(&ctx.row.name, stage, PhaseStatus::Running)?;
        tracing::info!(release = %ctx.row.name, stage, "stage started");
        match run(&ctx).and_then(|report| {
            if stage == "configure" {
                // The baked en-US builds and the locale and partner sources, for construct's
                // workers on other machines.
                ctx.store.publish_dir(&ctx.inputs())?;
            }
            Ok(report)
        }) {
            Ok(report) => {
                state.phase_finished(&ctx.row.name, stage, PhaseStatus::Done)?;
                println!(
                    "{stage:>9}: {} items: {} ({:.1}s)",
                    report.counts.total(),
                    report.counts,
                    report.seconds
                );
                reports.push(report);
            }
            Err(error) => {
                state.phase_finished(&ctx.row.name, stage, PhaseStatus::Failed)?;
                let message = format!("{stage}: {error:#}");
                state.set_status(&ctx.row.name, ReleaseStatus::Failed, Some(&message))?;
                tracing::error!(release = %ctx.row.name, %message, "promote failed");
                return Err(error.context(format!(
                    "{} {stage} failed; rerun kiln promote",
                    ctx.row.name
                )));
            }
        }
        if state.release(&ctx.row.name)?.status == ReleaseStatus::Halted {
            bail!("{} was halted", ctx.row.name);
        }
    }
    let mut total = Counts::default();
    for report in &reports {
        total.add(report.counts);
    }
    if chunk.is_some() {
        // One slice of construct changes nothing about where the release stands.
        state.set_status(&ctx.row.name, previous, None)?;
    } else {
        state.set_status(&ctx.row.name, ReleaseStatus::Candidates, None)?;
        ctx.store
            .publish(&crate::release::log::path(&config.root, &ctx.row.name))?;
        // Unpacked trees are scratch: a rerun re-extracts what it needs.
        let _ = std::fs::remove_dir_all(ctx.trees());
        // The candidates notice goes out once, when the release first reaches candidates.
        if previous != ReleaseStatus::Candidates {
            notice::send(
                config,
                &Notice {
                    kind: "candidates",
                    release: ctx.row.name.clone(),
                    subject: format!("{} is in the candidates directory", ctx.name),
                    body: format!(
                        "{} {} build{} is in the candidates directory:\n  {}\n\n{} items: {total}\n\
                         Test channel {} serves it now.\n",
                        config.product,
                        ctx.name.version(),
                        ctx.name.build(),
                        ctx.build_dir.display(),
                        total.total(),
                        config.localtest_channel()
                    ),
                },
            )?;
        }
    }
    Ok(PromoteReport {
        release: ctx.row.name.clone(),
        stages: reports,
        total,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Whether a candidates file is copied to `releases/` (Mozilla's `RELEASE_EXCLUDE`), for a
/// product whose packages are named `<file_prefix>-<version>.<ext>`.
///
/// A signature (`.sig`, `.asc`) goes where its file goes, so users never find one without the
/// other. Zips are excluded (test and symbol packages) except the product's own package, which
/// is what a Windows user installs until there is an installer. The checksum files are not
/// copied: push writes `releases/V/SHA256SUMS` and `SHA512SUMS` over exactly what it copied.
pub fn pushed(rel: &str, file_prefix: &str) -> bool {
    if let Some(signed) = rel
        .strip_suffix(".sig")
        .or_else(|| rel.strip_suffix(".asc"))
    {
        return pushed(signed, file_prefix);
    }
    let parts: Vec<&str> = rel.split('/').collect();
    let name = parts.last().copied().unwrap_or_default();
    if parts.len() == 1 && crate::checksums::SUMS_FILES.contains(&name) {
        return false;
    }
    let excluded_dir = parts[..parts.len().saturating_sub(1)].iter().any(|c| {
        matches!(
            *c,
            "mar-tools"
                | "logs"
                | "partner-repacks"
                | "tests"
                | "crashreporter"
                | "beetmover-checksums"
        ) || c.starts_with('.')
    });
    let product_package = name
        .strip_prefix(file_prefix)
        .is_some_and(|rest| rest.starts_with('-'));
    let excluded_name = name.starts_with('.')
        || name.ends_with(".txt")
        || name.ends_with(".json")
        || name.ends_with(".log")
        || name.ends_with(".tmp")
        || name.ends_with(".checksums")
        || (name.ends_with(".zip") && !product_package);
    !(excluded_dir || excluded_name)
}

/// What push did.
#[derive(Debug, Default, Serialize)]
pub struct PushReport {
    /// Files copied.
    pub copied: usize,
    /// Files already there with the same content.
    pub unchanged: usize,
    /// Artifacts `releases/V/SHA256SUMS` lists.
    pub listed: usize,
}

impl std::fmt::Display for PushReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} copied, {} unchanged, {} listed in SHA256SUMS",
            self.copied, self.unchanged, self.listed
        )
    }
}

/// Push: the filtered, immutable copy of the build's candidates to `releases/V/`, then the
/// `<channel>-cdntest` rule. A destination file with other content aborts before any copy.
pub fn push(config: &Config, state: &State, row: ReleaseRow) -> anyhow::Result<PushReport> {
    if !matches!(
        row.status,
        ReleaseStatus::Candidates
            | ReleaseStatus::Pushed
            | ReleaseStatus::ShipPending
            | ReleaseStatus::Shipped
    ) {
        bail!(
            "{} is {}: push needs a finished promote",
            row.name,
            row.status
        );
    }
    crate::release::log::open(&config.root, &row.name)?;
    let ctx = context(config, state, row)?;
    let _active = crate::release::activity::begin(config, &ctx.name)?;
    state.phase_started(&ctx.row.name, "push", PhaseStatus::Running)?;
    let dest = layout::releases(config, ctx.name.version());
    let mut plan: Vec<(String, String)> = Vec::new();
    let mut conflicts = Vec::new();
    for entry in walkdir::WalkDir::new(&ctx.build_dir).sort_by_file_name() {
        let entry = entry?;
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry
            .path()
            .strip_prefix(&ctx.build_dir)?
            .to_string_lossy()
            .replace('\\', "/");
        if !pushed(&rel, &config.file_prefix()) {
            continue;
        }
        let sha = crate::release::items::sha256_file(entry.path())?;
        match crate::release::items::sha256_file(&dest.join(&rel)) {
            Ok(existing) if existing == sha => plan.push((rel, String::new())),
            Ok(_) => conflicts.push(rel),
            Err(_) => plan.push((rel, sha)),
        }
    }
    if !conflicts.is_empty() {
        state.phase_finished(&ctx.row.name, "push", PhaseStatus::Failed)?;
        bail!(
            "releases/{} already holds different files (immutable; nothing was copied): {}",
            ctx.name.version(),
            conflicts
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let mut report = PushReport::default();
    let stage = StageItems {
        publish_to: None,
        ..ctx.items("push", &dest)
    };
    for (rel, sha) in &plan {
        if sha.is_empty() {
            report.unchanged += 1;
            continue;
        }
        let target = dest.join(rel);
        std::fs::create_dir_all(target.parent().expect("nested"))?;
        let temp = target.with_file_name(format!(
            ".tmp-{}",
            target.file_name().unwrap_or_default().to_string_lossy()
        ));
        std::fs::copy(ctx.build_dir.join(rel), &temp)?;
        std::fs::rename(&temp, &target)?;
        // In the bucket, a copy that never leaves it.
        ctx.store.copy(&ctx.build_dir.join(rel), &target)?;
        let item = Item {
            key: ItemKey::Copy { path: rel.clone() },
            fingerprint: sha.clone(),
            output: PathBuf::from(rel),
        };
        stage.record_done(&item)?;
        report.copied += 1;
    }
    // The candidates' sums list files push leaves out: releases/V gets its own, over exactly
    // what it holds, so `sha256sum -c SHA256SUMS` passes there too.
    let cert = crate::signing::openpgp::ReleaseCert::load(&config.keys.openpgp)?;
    report.listed = crate::checksums::write_sums(&dest, &cert)?;
    ctx.store.publish_dir(&dest)?;
    ctx.store
        .publish(&crate::release::log::path(&config.root, &ctx.row.name))?;
    let admin = Admin::new(&config.server.url, &config.admin_token()?);
    admin.point_channel(&config.product, &config.cdntest_channel(), &ctx.row.name)?;
    state.phase_finished(&ctx.row.name, "push", PhaseStatus::Done)?;
    if ctx.row.status == ReleaseStatus::Candidates {
        state.set_status(&ctx.row.name, ReleaseStatus::Pushed, None)?;
    }
    tracing::info!(release = %ctx.row.name, copied = report.copied, unchanged = report.unchanged, "push");
    Ok(report)
}

/// Ship: schedules the rule change mapping the release channel to this release (rate `rate`,
/// the previous shipped release as fallback), gated by the configured signoffs.
pub fn ship(config: &Config, state: &State, row: ReleaseRow, rate: u8) -> anyhow::Result<i64> {
    if row.status != ReleaseStatus::Pushed {
        bail!(
            "{} is {}: ship needs a pushed release",
            row.name,
            row.status
        );
    }
    anyhow::ensure!(rate <= 100, "--rate must be 0 to 100");
    crate::release::log::open(&config.root, &row.name)?;
    let name: ReleaseName = row.name.parse()?;
    let admin = Admin::new(&config.server.url, &config.admin_token()?);
    for (role, count) in &config.signoffs {
        admin.ensure_required_signoff(&config.product, &config.channel, role, *count)?;
    }
    let fallback = shipped(state)?
        .into_iter()
        .find(|n| n.version() < name.version())
        .map(|n| n.to_string());
    let sc_id = admin.schedule_ship(
        &config.product,
        &config.channel,
        &row.name,
        rate,
        fallback.as_deref(),
    )?;
    state.set_ship_change(&row.name, sc_id)?;
    state.set_status(&row.name, ReleaseStatus::ShipPending, None)?;
    state.phase_started(&row.name, "ship", PhaseStatus::Waiting)?;
    let roles: Vec<String> = config
        .signoffs
        .iter()
        .map(|(r, n)| format!("{n} × {r}"))
        .collect();
    notice::send(
        config,
        &Notice {
            kind: "ship",
            release: row.name.clone(),
            subject: format!(
                "Please ship {} {} (build#{}) to the {} channel ({rate}%)",
                config.product,
                name.version(),
                name.build(),
                config.channel
            ),
            body: format!(
                "Scheduled change {sc_id} maps {} to {} at backgroundRate {rate}, fallback {}.\n\
                 It needs signoffs: {}.\nSign off with: kiln signoff {} --role ROLE\n",
                config.channel,
                row.name,
                fallback.as_deref().unwrap_or("none"),
                roles.join(", "),
                row.name
            ),
        },
    )?;
    Ok(sc_id)
}

/// Records a signoff on the release's pending ship, then [`refresh`]es it.
pub fn signoff(
    config: &Config,
    state: &State,
    row: ReleaseRow,
    role: &str,
    token_file: Option<&Path>,
) -> anyhow::Result<ReleaseRow> {
    let sc_id = row
        .ship_change
        .ok_or_else(|| anyhow::anyhow!("{} has no pending ship: run kiln ship first", row.name))?;
    let admin = Admin::new(&config.server.url, &config.admin_token()?);
    let signer = match token_file {
        Some(path) => admin.with_token(
            std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?
                .trim(),
        ),
        None => admin.clone(),
    };
    signer.signoff(sc_id, role)?;
    println!(
        "signed off {} (scheduled change {sc_id}) as {role}",
        row.name
    );
    refresh(config, state, &row.name, true)
}

/// Checks a pending ship on the server; once enacted, marks the release shipped, tags
/// `<PRODUCT>_<V>_RELEASE` and writes the shipped notice. With `wait`, enacts a ready change
/// and waits a few seconds for it.
pub fn refresh(
    config: &Config,
    state: &State,
    release: &str,
    wait: bool,
) -> anyhow::Result<ReleaseRow> {
    let row = state.release(release)?;
    let Some(sc_id) = row.ship_change else {
        return Ok(row);
    };
    if row.status != ReleaseStatus::ShipPending {
        return Ok(row);
    }
    let admin = Admin::new(&config.server.url, &config.admin_token()?);
    let deadline = Instant::now() + std::time::Duration::from_secs(if wait { 10 } else { 0 });
    loop {
        let change = admin.scheduled_change(sc_id)?;
        if change["state"] == "enacted" {
            break;
        }
        if !wait || Instant::now() > deadline || change["state"] != "pending" {
            return Ok(row);
        }
        if change["ready"] == true {
            let _ = admin.enact(sc_id);
        } else {
            return Ok(row);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let name: ReleaseName = row.name.parse()?;
    state.set_status(&row.name, ReleaseStatus::Shipped, None)?;
    state.phase_finished(&row.name, "ship", PhaseStatus::Done)?;
    git::tag(
        &config.git_repo,
        &name.release_tag(),
        &row.revision,
        &format!("{name} shipped"),
    )?;
    notice::send(
        config,
        &Notice {
            kind: "shipped",
            release: row.name.clone(),
            subject: format!("{name} is shipped on {}", config.channel),
            body: format!(
                "{name} is live on the {} channel (scheduled change {sc_id}); tagged {}.\n",
                config.channel,
                name.release_tag()
            ),
        },
    )?;
    Ok(state.release(&row.name)?)
}

/// Halt: no further stage runs for the release; a pending ship is cancelled; the stop notice
/// is written. A respin is a new go-to-build with the next build number.
pub fn halt(config: &Config, state: &State, row: ReleaseRow, reason: &str) -> anyhow::Result<()> {
    if row.status == ReleaseStatus::Shipped {
        bail!(
            "{} is already shipped; ship a dot release instead",
            row.name
        );
    }
    if let (Some(sc_id), ReleaseStatus::ShipPending) = (row.ship_change, row.status) {
        let admin = Admin::new(&config.server.url, &config.admin_token()?);
        let _ = admin.call("DELETE", &format!("/scheduled_changes/rules/{sc_id}"), None);
    }
    state.set_status(&row.name, ReleaseStatus::Halted, Some(reason))?;
    crate::release::log::open(&config.root, &row.name)?;
    tracing::warn!(release = %row.name, reason, "halted");
    notice::send(
        config,
        &Notice {
            kind: "halt",
            release: row.name.clone(),
            subject: format!("STOP: {} is halted", row.name),
            body: format!(
                "{} is halted: {reason}\nNo further stage will run for it.\n",
                row.name
            ),
        },
    )?;
    Ok(())
}

/// A release's stages and item counts, for `kiln status`.
#[derive(Debug, Serialize)]
pub struct StatusReport {
    /// The record.
    pub release: ReleaseRow,
    /// Stages run so far.
    pub phases: Vec<PhaseView>,
    /// Per stage: (done, failed) items.
    pub items: std::collections::BTreeMap<String, (usize, usize)>,
    /// Who recorded each item: `stage/key` → worker name (`host:pid` for a local run).
    pub made_by: std::collections::BTreeMap<String, String>,
    /// Units queued for workers and not yet collected: which worker holds what.
    pub units: Vec<crate::release::state::UnitRow>,
    /// A stage is recorded as running but no process is working on the release: it was killed
    /// or crashed. Its phases show `interrupted`; rerunning the command resumes it.
    pub interrupted: bool,
}

/// One phase as `kiln status` shows it: its stored status, or `interrupted` for a running phase
/// that no process works on.
#[derive(Debug, Serialize)]
pub struct PhaseView {
    /// Stage name.
    pub stage: String,
    /// `running`, `waiting`, `done`, `failed` or `interrupted`.
    pub status: &'static str,
    /// Unix seconds.
    pub started_at: i64,
    /// Unix seconds, when finished.
    pub finished_at: Option<i64>,
}

/// Status of one or every release (pending ships are refreshed from the server first).
pub fn status(
    config: &Config,
    state: &State,
    release: Option<&str>,
) -> anyhow::Result<Vec<StatusReport>> {
    let rows = match release {
        Some(name) => vec![state.release(name)?],
        None => state.releases()?,
    };
    let mut out = Vec::new();
    for row in rows {
        let row = if row.status == ReleaseStatus::ShipPending {
            refresh(config, state, &row.name, false).unwrap_or(row)
        } else {
            row
        };
        let mut items = std::collections::BTreeMap::new();
        let mut made_by = std::collections::BTreeMap::new();
        for item in state.items(&row.name, None)? {
            if let Some(worker) = &item.made_by {
                made_by.insert(format!("{}/{}", item.stage, item.key), worker.clone());
            }
            let entry: &mut (usize, usize) = items.entry(item.stage.clone()).or_default();
            if item.status == ItemStatus::Done {
                entry.0 += 1;
            } else {
                entry.1 += 1;
            }
        }
        // A running phase is a process's; when no process works on the release, it was killed.
        let stored = state.phases(&row.name)?;
        let interrupted = stored.iter().any(|p| p.status == PhaseStatus::Running)
            && crate::release::activity::is_idle(config, &row.name.parse()?);
        let phases = stored
            .into_iter()
            .map(|p| PhaseView {
                status: match p.status {
                    PhaseStatus::Running if interrupted => "interrupted",
                    other => other.as_str(),
                },
                stage: p.stage,
                started_at: p.started_at,
                finished_at: p.finished_at,
            })
            .collect();
        let units = state
            .units(None)?
            .into_iter()
            .filter(|u| u.release == row.name)
            .collect();
        out.push(StatusReport {
            made_by,
            units,
            phases,
            interrupted,
            release: row,
            items,
        });
    }
    Ok(out)
}

/// The state database of a configuration.
pub fn open_state(config: &Config) -> anyhow::Result<State> {
    State::open(&config.state_db).with_context(|| format!("opening {}", config.state_db))
}

/// The default `created_by`: `$KILN_USER`, `$USER`, else `kiln`.
pub fn whoami() -> String {
    std::env::var("KILN_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "kiln".to_owned())
}

/// The config path default.
pub fn default_config() -> PathBuf {
    PathBuf::from("kiln.toml")
}
