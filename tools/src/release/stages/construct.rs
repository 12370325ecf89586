//! **construct**: every locale and partner repack through `l10n-repack`, signed, in parallel
//! chunks (`chunk_size` jobs each, or one `--chunk K/N` slice for an external job runner). A
//! failing job fails its chunk and the stage; every finished output is recorded and reused.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use l10n_repack::{Chunk, Job, JobOutcome, Progress, RepackOptions};
use rayon::prelude::*;
use serde_json::json;

use crate::release::items::{fingerprint, sha256_file, Counts, Item, Standing};
use crate::release::stages::{fail_on, Ctx, StageReport};
use crate::signing::ed25519::{ArtifactKey, ArtifactVerifier};

struct Bar(indicatif::ProgressBar);

impl Progress for Bar {
    fn start(&self, _total: usize) {}

    fn finished(&self, job: &Job, _outcome: JobOutcome) {
        self.0.set_message(job.id().to_owned());
        self.0.inc(1);
    }
}

/// The chunks construct runs: `--chunk K/N` alone, else `ceil(jobs / chunk_size)` chunks
/// (one when `chunk_size` is 0).
pub fn chunks(
    total_jobs: usize,
    chunk_size: usize,
    only: Option<Chunk>,
) -> anyhow::Result<Vec<Chunk>> {
    if let Some(chunk) = only {
        return Ok(vec![chunk]);
    }
    let n = if chunk_size == 0 {
        1
    } else {
        total_jobs.div_ceil(chunk_size).max(1)
    };
    (1..=n).map(|k| Ok(Chunk::new(k, n)?)).collect()
}

/// Runs construct.
pub fn run(ctx: &Ctx<'_>) -> anyhow::Result<StageReport> {
    let started = Instant::now();
    let version = ctx.name.version().as_str();
    let key = ArtifactKey::load(&ctx.config.keys.ed25519).context("the ed25519 signing key")?;
    let verifier = ArtifactVerifier::load(&ctx.config.keys.ed25519_public)?;
    let product = crate::release::builds::product(ctx.config)?;
    let inputs = crate::release::builds::load(ctx.config, &ctx.inputs(), ctx.name.version())?;
    let journal = ctx.repack_journal();
    let base_options = RepackOptions {
        jobs: Some(1),
        signer: Some(&key as &dyn l10n_repack::ArtifactSigner),
        journal: Some(&journal),
        ..RepackOptions::default()
    };
    let all = inputs.plan(&base_options)?;
    let platforms: BTreeSet<&str> = ctx.config.platforms.keys().map(String::as_str).collect();
    let en_us: std::collections::BTreeMap<String, String> = platforms
        .iter()
        .map(|p| {
            let p: l10n_repack::Platform = p.parse()?;
            let path = ctx
                .inputs()
                .join(crate::release::builds::en_us(&product, p, version));
            Ok((p.as_str().to_owned(), sha256_file(&path)?))
        })
        .collect::<anyhow::Result<_>>()?;
    let item_of = |job: &Job| Item {
        key: job.id().to_owned(),
        fingerprint: fingerprint(&[
            job.id(),
            en_us
                .get(job.platform().as_str())
                .map_or("", String::as_str),
            verifier.key_id().as_str(),
        ]),
        output: job.output().to_owned(),
    };
    let chunk_list = chunks(all.len(), ctx.config.chunk_size, ctx.chunk)?;
    let stage = ctx.items("construct", &ctx.build_dir);
    let bar = crate::release::items::stage_bar("construct");
    let selected: Vec<&Job> = chunk_list.iter().flat_map(|c| c.select(&all)).collect();
    bar.set_length(selected.len() as u64);
    let before: Vec<Standing> = selected
        .iter()
        .map(|job| stage.standing(&item_of(job)))
        .collect::<Result<_, _>>()?;
    std::fs::create_dir_all(&ctx.build_dir)?;
    let progress = Bar(bar.clone());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(ctx.jobs().unwrap_or(0))
        .build()?;
    let chunk_results: Vec<(Chunk, Result<l10n_repack::RepackReport, String>)> =
        pool.install(|| {
            chunk_list
                .par_iter()
                .map(|chunk| {
                    let options = RepackOptions {
                        chunk: Some(*chunk),
                        jobs: if chunk_list.len() == 1 {
                            ctx.jobs()
                        } else {
                            Some(1)
                        },
                        ..base_options
                    };
                    let result = l10n_repack::run(&inputs, &options, &ctx.build_dir, &progress)
                        .map_err(|e| e.to_string());
                    (*chunk, result)
                })
                .collect()
        });
    bar.finish_and_clear();
    let mut failed: Vec<(String, String)> = Vec::new();
    let mut chunk_failures = Vec::new();
    for (chunk, result) in &chunk_results {
        match result {
            Ok(report) => {
                failed.extend(
                    report
                        .failures
                        .iter()
                        .map(|(id, e)| (id.clone(), e.to_string())),
                );
                if !report.failures.is_empty() {
                    chunk_failures.push(chunk.to_string());
                }
            }
            Err(e) => {
                chunk_failures.push(chunk.to_string());
                for job in chunk.select(&all) {
                    failed.push((job.id().to_owned(), e.clone()));
                }
            }
        }
    }
    let written: BTreeSet<PathBuf> = chunk_results
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok())
        .flat_map(|r| r.written.iter().cloned())
        .collect();
    // Check and record every output, in parallel: each check reads a whole archive.
    let checked: Vec<Result<(Standing, Option<String>), anyhow::Error>> = pool.install(|| {
        selected
            .par_iter()
            .zip(before)
            .map(|(job, standing)| {
                let item = item_of(job);
                if let Some((_, error)) = failed.iter().find(|(id, _)| id == job.id()) {
                    stage.record_failed(&item, error)?;
                    return Ok((standing, Some(error.clone())));
                }
                if !verifier
                    .verify_file(&ctx.build_dir.join(job.output()))
                    .unwrap_or(false)
                {
                    let error = "output or its .sig does not verify".to_owned();
                    stage.record_failed(&item, &error)?;
                    return Ok((standing, Some(error)));
                }
                // A rewritten output is recorded again even when the old one was valid: the
                // repack's own journal saw an input construct's fingerprint does not cover (a
                // locale's or partner's files) change.
                if standing != Standing::Valid || written.contains(job.output()) {
                    stage.record_done(&item)?;
                }
                Ok((standing, None))
            })
            .collect()
    });
    let mut counts = Counts::default();
    for (job, outcome) in selected.iter().zip(checked) {
        let (standing, error) = outcome?;
        if let Some(error) = error {
            if !failed.iter().any(|(id, _)| id == job.id()) {
                failed.push((job.id().to_owned(), error));
            }
            counts.failed += 1;
            continue;
        }
        match (standing, written.contains(job.output())) {
            (_, false) => counts.done += 1,
            (Standing::Valid | Standing::Invalid, true) => counts.redone += 1,
            (Standing::New, true) => counts.made += 1,
        }
    }
    tracing::info!(%counts, chunks = chunk_list.len(), "construct");
    if !chunk_failures.is_empty() {
        eprintln!("construct: chunk(s) {} failed", chunk_failures.join(", "));
    }
    fail_on("construct", &failed)?;
    Ok(StageReport {
        stage: "construct",
        counts,
        seconds: started.elapsed().as_secs_f64(),
        extra: json!({ "jobs": all.len(), "chunks": chunk_list.len() }),
    })
}
