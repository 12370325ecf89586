//! The repack run: load and validate inputs, plan jobs, skip finished ones, run the rest in
//! parallel, and write outputs atomically.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::archive::{self, Limits, MemberCache};
use crate::output::{self, journal_path, write_atomic};
use crate::sources::{self, LocaleSource, PartnerSource};
use crate::tree::Tree;
use crate::{
    transform, Chunk, Job, JobKind, Locale, Platform, Product, RepackError, ShippedLocales,
};

/// Version of the repack recipe; part of every job fingerprint, so a change in what a repack
/// produces invalidates earlier outputs.
const RECIPE: &str = "kiln-repack-1";

/// Signs and verifies produced archives (detached `<archive>.sig`). Implemented by the caller
/// (the `kiln` binary uses Ed25519), so this crate holds no keys.
pub trait ArtifactSigner: Sync + fmt::Debug {
    /// The detached signature of `data`.
    fn sign(&self, data: &[u8]) -> Vec<u8>;
    /// Whether `signature` is a valid signature of `data`.
    fn verify(&self, data: &[u8], signature: &[u8]) -> bool;
}

/// What happened to one job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobOutcome {
    /// The archive was produced and written.
    Written,
    /// A complete, verified output from an earlier run was kept.
    Skipped,
    /// The job failed (see [`RepackReport::failures`]).
    Failed,
}

/// Receives progress events; called from worker threads.
pub trait Progress: Sync {
    /// The run will process `total` jobs.
    fn start(&self, total: usize);
    /// One job finished.
    fn finished(&self, job: &Job, outcome: JobOutcome);
}

/// A [`Progress`] that ignores every event.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _total: usize) {}
    fn finished(&self, _job: &Job, _outcome: JobOutcome) {}
}

/// A partner sub-config found in the inputs.
#[derive(Clone, Debug, PartialEq, Eq)]
struct PartnerDir {
    partner: String,
    sub: String,
    dir: PathBuf,
    config: crate::RepackConfig,
}

/// The validated inputs of a repack: en-US builds, shipped locales, locale sources, partners.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepackInputs {
    product: Product,
    version: String,
    builds: BTreeMap<Platform, PathBuf>,
    l10n: PathBuf,
    shipped: ShippedLocales,
    partners: Vec<PartnerDir>,
}

impl RepackInputs {
    /// Loads a fixture-style input directory for `version` of `product` on every [`Platform`]:
    /// [`RepackInputs::load_for`] with [`Platform::ALL`].
    pub fn load(dir: &Path, product: &Product, version: &str) -> Result<RepackInputs, RepackError> {
        RepackInputs::load_for(dir, product, version, &Platform::ALL)
    }

    /// Loads a fixture-style input directory for `version` of `product`, building only
    /// `platforms`: `builds/<version>/<platform>/en-US/<archive>` (named by
    /// [`Platform::archive_name`]) of each of them that ships a locale, `l10n/<locale>/` of each
    /// locale shipped on one of them, `shipped-locales`, `partners/<partner>/<sub>/repack.cfg`.
    /// Nothing of another platform is read or needed: a locale shipped only elsewhere is absent
    /// from the plan, and a partner gets jobs only on these platforms. Fails on the first
    /// malformed or missing input, before anything is written.
    pub fn load_for(
        dir: &Path,
        product: &Product,
        version: &str,
        platforms: &[Platform],
    ) -> Result<RepackInputs, RepackError> {
        let valid = !version.is_empty()
            && version
                .split('.')
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric()));
        if !valid {
            return Err(RepackError::InvalidValue {
                what: "version",
                value: version.to_owned(),
                reason: "expected dotted alphanumerics like 121.0",
            });
        }
        let shipped = ShippedLocales::load(&dir.join("shipped-locales"))?;
        let l10n = dir.join("l10n");
        let built = |entry: &crate::ShippedLocale| platforms.iter().any(|&p| entry.ships_on(p));
        for entry in shipped.entries().iter().filter(|e| built(e)) {
            if !entry.locale().is_en_us() && !l10n.join(entry.locale().as_str()).is_dir() {
                return Err(RepackError::MissingLocale {
                    path: shipped.path().to_owned(),
                    line: entry.line(),
                    locale: entry.locale().to_string(),
                    expected: l10n.join(entry.locale().as_str()),
                });
            }
        }
        let mut builds = BTreeMap::new();
        for &platform in platforms {
            if shipped.for_platform(platform).next().is_none() {
                continue;
            }
            let path = dir
                .join("builds")
                .join(version)
                .join(platform.as_str())
                .join("en-US")
                .join(platform.archive_name(product, version));
            if !path.is_file() {
                return Err(RepackError::MissingBuild { path });
            }
            builds.insert(platform, path);
        }
        let mut partners = Vec::new();
        for (partner, sub, sub_dir) in sources::partner_dirs(&dir.join("partners"))? {
            let config = crate::RepackConfig::load(&sub_dir.join("repack.cfg"))?;
            for (locale, line) in config.locales() {
                if shipped.get(locale).is_none() {
                    return Err(RepackError::Config {
                        path: config.path().to_owned(),
                        line: *line,
                        message: format!("locale {locale} is not in {}", shipped.path().display()),
                    });
                }
            }
            partners.push(PartnerDir {
                partner,
                sub,
                dir: sub_dir,
                config,
            });
        }
        Ok(RepackInputs {
            product: product.clone(),
            version: version.to_owned(),
            builds,
            l10n,
            shipped,
            partners,
        })
    }

    /// The product whose builds are repacked.
    pub fn product(&self) -> &Product {
        &self.product
    }

    /// The version being repacked.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The shipped locales (the whole file, whatever platforms were loaded).
    pub fn shipped_locales(&self) -> &ShippedLocales {
        &self.shipped
    }

    /// The platforms built: those loaded that ship at least one locale, in order.
    pub fn platforms(&self) -> impl Iterator<Item = Platform> + '_ {
        self.builds.keys().copied()
    }

    /// The locales built: those shipped on at least one of [`RepackInputs::platforms`], in
    /// `shipped-locales` order.
    pub fn locales(&self) -> impl Iterator<Item = &Locale> + '_ {
        self.shipped
            .entries()
            .iter()
            .filter(|e| self.builds.keys().any(|&p| e.ships_on(p)))
            .map(crate::ShippedLocale::locale)
    }

    /// Every job, sorted by id, before chunking.
    pub fn plan(&self, options: &RepackOptions<'_>) -> Result<Vec<Job>, RepackError> {
        if let Some(wanted) = options.partners {
            for name in wanted {
                if !self.partners.iter().any(|p| &p.partner == name) {
                    return Err(RepackError::InvalidValue {
                        what: "partner",
                        value: name.clone(),
                        reason: "no such partner under partners/",
                    });
                }
            }
        }
        let mut jobs = Vec::new();
        for &platform in self.builds.keys() {
            let archive = platform.archive_name(&self.product, &self.version);
            if options.partners.is_none() {
                for locale in self.shipped.for_platform(platform) {
                    jobs.push(Job {
                        id: format!("l10n/{platform}/{locale}"),
                        platform,
                        locale: locale.clone(),
                        kind: JobKind::Locale,
                        output: Path::new(platform.as_str())
                            .join(locale.as_str())
                            .join(&archive),
                    });
                }
            }
            for partner in &self.partners {
                if options
                    .partners
                    .as_ref()
                    .is_some_and(|w| !w.contains(&partner.partner))
                    || !partner.config.wants(platform)
                {
                    continue;
                }
                for (locale, _) in partner.config.locales() {
                    if !self
                        .shipped
                        .get(locale)
                        .is_some_and(|s| s.ships_on(platform))
                    {
                        continue;
                    }
                    let build = options.partner_build;
                    jobs.push(Job {
                        id: format!(
                            "partner/{}/{}/v{build}/{platform}/{locale}",
                            partner.partner, partner.sub
                        ),
                        platform,
                        locale: locale.clone(),
                        kind: JobKind::Partner {
                            partner: partner.partner.clone(),
                            sub: partner.sub.clone(),
                            build,
                        },
                        output: Path::new("partner-repacks")
                            .join(&partner.partner)
                            .join(&partner.sub)
                            .join(format!("v{build}"))
                            .join(partner.config.output_dir(platform, locale))
                            .join(&archive),
                    });
                }
            }
        }
        jobs.sort_by(|a, b| a.id.cmp(&b.id));
        jobs.dedup_by(|a, b| a.id == b.id);
        Ok(jobs)
    }
}

/// How to run a repack.
#[derive(Clone, Copy, Debug)]
pub struct RepackOptions<'a> {
    /// Worker threads (`None`: one per core).
    pub jobs: Option<usize>,
    /// Only this chunk of the sorted job list.
    pub chunk: Option<Chunk>,
    /// The partner build number `M` of `partner-repacks/…/v<M>/` (at least 1).
    pub partner_build: u32,
    /// Only partner repacks of these partners (no locale repacks); `None`: everything.
    pub partners: Option<&'a [String]>,
    /// Signs every archive (`<archive>.sig`) and verifies existing ones on reruns.
    pub signer: Option<&'a dyn ArtifactSigner>,
    /// The journal directory that makes reruns resumable (`<journal>/<job>.state`: the job's
    /// input fingerprint and its output's SHA-256). It is scratch state: keep it outside the
    /// output directory when that is published. `None`: no journal, every job runs.
    pub journal: Option<&'a Path>,
    /// Unpacking limits.
    pub limits: Limits,
}

impl Default for RepackOptions<'_> {
    /// One thread per core, no chunking, partner build 1, everything, unsigned, no journal,
    /// default limits.
    fn default() -> Self {
        RepackOptions {
            jobs: None,
            chunk: None,
            partner_build: 1,
            partners: None,
            signer: None,
            journal: None,
            limits: Limits::default(),
        }
    }
}

/// What a run did.
#[derive(Debug, Default)]
pub struct RepackReport {
    /// Archives produced by this run (relative to the output dir), sorted.
    pub written: Vec<PathBuf>,
    /// Archives kept from an earlier run, sorted.
    pub skipped: Vec<PathBuf>,
    /// Failed jobs: (job id, error). Their outputs were not created.
    pub failures: Vec<(String, RepackError)>,
}

/// The SHA-256 and bytes of an en-US build.
struct Base {
    bytes: Vec<u8>,
    digest: [u8; 32],
}

fn fingerprint(
    job: &Job,
    base: &[u8; 32],
    locale: Option<&LocaleSource>,
    partner: Option<&PartnerSource>,
    signed: bool,
) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in [RECIPE.as_bytes(), job.id.as_bytes(), base.as_slice()] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hasher.update(locale.map_or([0; 32], |l| l.digest));
    hasher.update(partner.map_or([0; 32], |p| p.digest));
    hasher.update([u8::from(signed)]);
    hasher.finalize().into()
}

fn sig_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".sig");
    PathBuf::from(name)
}

/// Whether a complete, verified output of `job` already exists, as recorded in `journal`.
fn is_done(
    out: &Path,
    journal: Option<&Path>,
    job: &Job,
    fingerprint: &[u8; 32],
    signer: Option<&dyn ArtifactSigner>,
) -> bool {
    let Some(journal) = journal else {
        return false;
    };
    let Ok(record) = std::fs::read_to_string(journal_path(journal, &job.id)) else {
        return false;
    };
    let path = out.join(&job.output);
    let Ok(data) = std::fs::read(&path) else {
        return false;
    };
    if record != output::record(fingerprint, &data) {
        return false;
    }
    match signer {
        None => true,
        Some(signer) => std::fs::read(sig_path(&path)).is_ok_and(|sig| signer.verify(&data, &sig)),
    }
}

/// Repacks every planned job of `options.chunk` (or all) from `inputs` into `out`.
///
/// Inputs for the selected jobs are loaded and validated first: a malformed or hostile input
/// fails the whole run before any output is written. Jobs whose verified output exists are
/// skipped; the rest run in parallel, and a failing job does not stop the others.
pub fn run(
    inputs: &RepackInputs,
    options: &RepackOptions<'_>,
    out: &Path,
    progress: &dyn Progress,
) -> Result<RepackReport, RepackError> {
    if options.partner_build == 0 {
        return Err(RepackError::InvalidValue {
            what: "partner build",
            value: "0".to_owned(),
            reason: "partner build numbers start at 1",
        });
    }
    let all = inputs.plan(options)?;
    let jobs: Vec<Job> = match options.chunk {
        Some(chunk) => chunk.select(&all).to_vec(),
        None => all,
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.jobs.unwrap_or(0))
        .build()
        .map_err(|_| RepackError::InvalidValue {
            what: "jobs",
            value: format!("{:?}", options.jobs),
            reason: "cannot start that many worker threads",
        })?;
    pool.install(|| run_jobs(inputs, options, out, progress, jobs))
}

fn run_jobs(
    inputs: &RepackInputs,
    options: &RepackOptions<'_>,
    out: &Path,
    progress: &dyn Progress,
    jobs: Vec<Job>,
) -> Result<RepackReport, RepackError> {
    // Load every source the selected jobs need.
    let mut locales: BTreeMap<Locale, LocaleSource> = BTreeMap::new();
    for locale in jobs.iter().map(|j| &j.locale).collect::<BTreeSet<_>>() {
        if !locale.is_en_us() {
            locales.insert(locale.clone(), sources::load_locale(&inputs.l10n, locale)?);
        }
    }
    let mut partners: BTreeMap<(String, String), PartnerSource> = BTreeMap::new();
    for job in &jobs {
        if let JobKind::Partner { partner, sub, .. } = &job.kind {
            if let std::collections::btree_map::Entry::Vacant(slot) =
                partners.entry((partner.clone(), sub.clone()))
            {
                let dir = inputs
                    .partners
                    .iter()
                    .find(|p| p.partner == *partner && p.sub == *sub)
                    .map(|p| p.dir.clone())
                    .unwrap_or_default();
                slot.insert(sources::load_partner(&dir)?);
            }
        }
    }
    let platforms: BTreeSet<Platform> = jobs.iter().map(|j| j.platform).collect();
    let bases: BTreeMap<Platform, Base> = platforms
        .par_iter()
        .map(|&platform| {
            let path = &inputs.builds[&platform];
            let bytes = std::fs::read(path).map_err(RepackError::io(path))?;
            let digest = Sha256::digest(&bytes).into();
            Ok((platform, Base { bytes, digest }))
        })
        .collect::<Result<_, RepackError>>()?;

    progress.start(jobs.len());
    let signed = options.signer.is_some();
    let mut pending = Vec::new();
    let mut report = RepackReport::default();
    for job in jobs {
        let locale = locales.get(&job.locale);
        let partner = match &job.kind {
            JobKind::Partner { partner, sub, .. } => partners.get(&(partner.clone(), sub.clone())),
            JobKind::Locale => None,
        };
        let print = fingerprint(&job, &bases[&job.platform].digest, locale, partner, signed);
        if is_done(out, options.journal, &job, &print, options.signer) {
            tracing::debug!(job = %job.id, "kept: output matches its journal record");
            progress.finished(&job, JobOutcome::Skipped);
            report.skipped.push(job.output.clone());
        } else {
            pending.push((job, print));
        }
    }

    // Unpack each en-US build that pending jobs need, once.
    let needed: BTreeSet<Platform> = pending.iter().map(|(j, _)| j.platform).collect();
    let trees: BTreeMap<Platform, Tree> = needed
        .par_iter()
        .map(|&platform| {
            let path = &inputs.builds[&platform];
            let tree = archive::unpack(
                &bases[&platform].bytes,
                platform.format(),
                path,
                options.limits,
            )?;
            transform::check_layout(&tree, platform, &inputs.product, path)?;
            tracing::debug!(%platform, path = %path.display(), "unpacked the en-US build");
            Ok((platform, tree))
        })
        .collect::<Result<_, RepackError>>()?;
    drop(bases);
    // Compress each build's large shared files once, for all its jobs.
    let caches: BTreeMap<Platform, MemberCache> = needed
        .iter()
        .map(|&p| (p, MemberCache::default()))
        .collect();
    trees.par_iter().try_for_each(|(platform, tree)| {
        archive::warm(
            tree,
            platform.format(),
            &caches[platform],
            &inputs.builds[platform],
        )
    })?;

    let results: Vec<(Job, Result<(), RepackError>)> = pending
        .into_par_iter()
        .map(|(job, print)| {
            let context = JobContext {
                base: &trees[&job.platform],
                cache: &caches[&job.platform],
                locales: &locales,
                partners: &partners,
                signer: options.signer,
                journal: options.journal,
                out,
            };
            let result = run_job(inputs, &job, &print, &context);
            match &result {
                Ok(()) => tracing::debug!(job = %job.id, "written"),
                Err(error) => tracing::warn!(job = %job.id, %error, "failed"),
            }
            let outcome = if result.is_ok() {
                JobOutcome::Written
            } else {
                JobOutcome::Failed
            };
            progress.finished(&job, outcome);
            (job, result)
        })
        .collect();
    for (job, result) in results {
        match result {
            Ok(()) => report.written.push(job.output),
            Err(error) => report.failures.push((job.id, error)),
        }
    }
    report.written.sort();
    report.skipped.sort();
    Ok(report)
}

/// What every job of a run shares.
struct JobContext<'a> {
    base: &'a Tree,
    cache: &'a MemberCache,
    locales: &'a BTreeMap<Locale, LocaleSource>,
    partners: &'a BTreeMap<(String, String), PartnerSource>,
    signer: Option<&'a dyn ArtifactSigner>,
    journal: Option<&'a Path>,
    out: &'a Path,
}

fn run_job(
    inputs: &RepackInputs,
    job: &Job,
    print: &[u8; 32],
    context: &JobContext<'_>,
) -> Result<(), RepackError> {
    let JobContext {
        base,
        cache,
        locales,
        partners,
        signer,
        journal,
        out,
    } = *context;
    let what = &inputs.builds[&job.platform];
    let mut tree = transform::localize(
        base,
        job.platform,
        &inputs.product,
        &job.locale,
        locales.get(&job.locale),
        what,
    )?;
    if let JobKind::Partner { partner, sub, .. } = &job.kind {
        if let Some(source) = partners.get(&(partner.clone(), sub.clone())) {
            transform::add_partner(&mut tree, job.platform, &inputs.product, source);
        }
    }
    let path = out.join(&job.output);
    let bytes = archive::pack(&tree, job.platform.format(), cache, &path)?;
    drop(tree);
    // Drop any journal record first: a crash below must not leave a stale record behind.
    let record = journal.map(|dir| journal_path(dir, &job.id));
    if let Some(record) = &record {
        remove_if_present(record)?;
    }
    write_atomic(&path, &bytes)?;
    let sig = sig_path(&path);
    match signer {
        Some(signer) => write_atomic(&sig, &signer.sign(&bytes))?,
        None => remove_if_present(&sig)?,
    }
    match &record {
        Some(record) => write_atomic(record, output::record(print, &bytes).as_bytes()),
        None => Ok(()),
    }
}

/// Removes `path`; a missing file is fine.
fn remove_if_present(path: &Path) -> Result<(), RepackError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(RepackError::Io {
            path: path.to_owned(),
            source: e,
        }),
    }
}
