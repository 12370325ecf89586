//! **construct**: every locale and partner repack through `l10n-repack`, signed, in parallel
//! chunks (`chunk_size` jobs each, or one `--chunk K/N` slice for an external job runner). A
//! failing job fails its chunk and the stage; every finished output is recorded and reused.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use l10n_repack::{Chunk, Job, JobOutcome, Progress, RepackOptions};
use rayon::prelude::*;
use serde_json::json;

use crate::release::executor::{Plan, UnitOutcome};
use crate::release::item_key::{BuildKey, ItemKey};
use crate::release::items::{fingerprint, sha256_file, Item, Standing};
use crate::release::stages::{Ctx, StageReport};
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

/// Construct's plan: one unit per chunk of repack jobs.
pub struct RepackPlan<'a> {
    ctx: &'a Ctx<'a>,
    key: ArtifactKey,
    verifier: ArtifactVerifier,
    inputs: l10n_repack::RepackInputs,
    journal: PathBuf,
    all: Vec<Job>,
    chunks: Vec<Chunk>,
    /// Platform → SHA-256 of its en-US build.
    en_us: BTreeMap<String, String>,
}

impl std::fmt::Debug for RepackPlan<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepackPlan")
            .field("jobs", &self.all.len())
            .field("chunks", &self.chunks.len())
            .finish_non_exhaustive()
    }
}

impl<'a> RepackPlan<'a> {
    /// Plans construct for `ctx`: `--chunk K/N` alone, else `chunk_size` jobs a unit (with the
    /// workers executor and `chunk_size = 0`, one job a unit, so every worker gets work).
    pub fn new(ctx: &'a Ctx<'a>) -> anyhow::Result<RepackPlan<'a>> {
        let version = ctx.name.version().as_str();
        let key = ArtifactKey::load(&ctx.config.keys.ed25519).context("the ed25519 signing key")?;
        let verifier = ArtifactVerifier::load(&ctx.config.keys.ed25519_public)?;
        let product = crate::release::builds::product(ctx.config)?;
        let inputs = crate::release::builds::load(ctx.config, &ctx.inputs(), ctx.name.version())?;
        let journal = ctx.repack_journal();
        let all = inputs.plan(&RepackOptions::default())?;
        let en_us = ctx
            .config
            .platforms
            .keys()
            .map(|p| {
                let p: l10n_repack::Platform = p.parse()?;
                let path = ctx
                    .inputs()
                    .join(crate::release::builds::en_us(&product, p, version));
                Ok((p.as_str().to_owned(), sha256_file(&path)?))
            })
            .collect::<anyhow::Result<_>>()?;
        let chunk_size = match ctx.config.chunk_size {
            0 if ctx.distributed() => 1,
            size => size,
        };
        let chunks = chunks(all.len(), chunk_size, ctx.chunk)?;
        Ok(RepackPlan {
            ctx,
            key,
            verifier,
            inputs,
            journal,
            all,
            chunks,
            en_us,
        })
    }

    fn item_of(&self, job: &Job) -> Item {
        Item {
            key: ItemKey::Build(BuildKey::of(job)),
            fingerprint: fingerprint(&[
                job.id(),
                self.en_us
                    .get(job.platform().as_str())
                    .map_or("", String::as_str),
                self.verifier.key_id().as_str(),
            ]),
            output: job.output().to_owned(),
        }
    }

    fn unit_key(chunk: &Chunk) -> String {
        format!("chunk/{chunk}")
    }

    /// Checks and records one job's output after its chunk ran.
    fn check(
        &self,
        job: &Job,
        standing: Standing,
        written: &BTreeSet<PathBuf>,
        failure: Option<&str>,
    ) -> anyhow::Result<Option<String>> {
        let stage = self.ctx.items("construct", &self.ctx.build_dir);
        let item = self.item_of(job);
        if let Some(error) = failure {
            stage.record_failed(&item, error)?;
            return Ok(Some(error.to_owned()));
        }
        if !self
            .verifier
            .verify_file(&self.ctx.build_dir.join(job.output()))
            .unwrap_or(false)
        {
            let error = "output or its .sig does not verify".to_owned();
            stage.record_failed(&item, &error)?;
            return Ok(Some(error));
        }
        // A rewritten output is recorded again even when the old one was valid: the repack's
        // own journal saw an input construct's fingerprint does not cover (a locale's or
        // partner's files) change.
        if standing != Standing::Valid || written.contains(job.output()) {
            stage.record_done(&item)?;
        }
        Ok(None)
    }
}

impl Plan for RepackPlan<'_> {
    fn stage(&self) -> &str {
        "construct"
    }

    fn units(&self) -> Vec<(String, String)> {
        self.chunks
            .iter()
            .map(|chunk| {
                let prints: Vec<String> = chunk
                    .select(&self.all)
                    .iter()
                    .map(|job| self.item_of(job).fingerprint)
                    .collect();
                let prints: Vec<&str> = prints.iter().map(String::as_str).collect();
                (Self::unit_key(chunk), fingerprint(&prints))
            })
            .collect()
    }

    fn item_count(&self) -> usize {
        self.chunks.iter().map(|c| c.select(&self.all).len()).sum()
    }

    fn run_unit(&self, unit: &str, bar: &indicatif::ProgressBar) -> anyhow::Result<UnitOutcome> {
        let chunk = *self
            .chunks
            .iter()
            .find(|c| Self::unit_key(c) == unit)
            .ok_or_else(|| anyhow::anyhow!("construct: no unit {unit} in this plan"))?;
        let stage = self.ctx.items("construct", &self.ctx.build_dir);
        let jobs = chunk.select(&self.all);
        let before: Vec<Standing> = jobs
            .iter()
            .map(|job| stage.standing(&self.item_of(job)))
            .collect::<Result<_, _>>()?;
        std::fs::create_dir_all(&self.ctx.build_dir)?;
        let options = RepackOptions {
            chunk: Some(chunk),
            jobs: if self.chunks.len() == 1 {
                self.ctx.jobs()
            } else {
                Some(1)
            },
            signer: Some(&self.key as &dyn l10n_repack::ArtifactSigner),
            journal: Some(&self.journal),
            ..RepackOptions::default()
        };
        let result = l10n_repack::run(
            &self.inputs,
            &options,
            &self.ctx.build_dir,
            &Bar(bar.clone()),
        );
        let (written, failed): (BTreeSet<PathBuf>, Vec<(String, String)>) = match result {
            Ok(report) => (
                report.written.iter().cloned().collect(),
                report
                    .failures
                    .iter()
                    .map(|(id, e)| (id.clone(), e.to_string()))
                    .collect(),
            ),
            Err(e) => {
                let error = e.to_string();
                (
                    BTreeSet::new(),
                    jobs.iter()
                        .map(|job| (job.id().to_owned(), error.clone()))
                        .collect(),
                )
            }
        };
        if !failed.is_empty() {
            eprintln!("construct: chunk {chunk} failed ({} job(s))", failed.len());
        }
        // Check and record every output, in parallel: each check reads a whole archive.
        let checked: Vec<anyhow::Result<Option<String>>> = jobs
            .par_iter()
            .zip(&before)
            .map(|(job, standing)| {
                let failure = failed
                    .iter()
                    .find(|(id, _)| id == job.id())
                    .map(|(_, e)| e.as_str());
                self.check(job, *standing, &written, failure)
            })
            .collect();
        let mut outcome = UnitOutcome::default();
        for ((job, standing), checked) in jobs.iter().zip(before).zip(checked) {
            match checked? {
                Some(error) => {
                    outcome.counts.failed += 1;
                    outcome.failures.push((job.id().to_owned(), error));
                }
                None if written.contains(job.output()) => match standing {
                    Standing::New => outcome.counts.made += 1,
                    Standing::Valid | Standing::Invalid => outcome.counts.redone += 1,
                },
                None => outcome.counts.done += 1,
            }
        }
        Ok(outcome)
    }
}

/// Runs construct.
pub fn run(ctx: &Ctx<'_>) -> anyhow::Result<StageReport> {
    let started = Instant::now();
    let plan = RepackPlan::new(ctx)?;
    let counts = ctx.execute(&plan)?;
    tracing::info!(%counts, chunks = plan.chunks.len(), "construct");
    Ok(StageReport {
        stage: "construct",
        counts,
        seconds: started.elapsed().as_secs_f64(),
        extra: json!({ "jobs": plan.all.len(), "chunks": plan.chunks.len() }),
    })
}
