//! `kiln quickstart`: a whole release train on a fresh machine, in one directory — fixtures
//! (119.0, 120.0, 121.0 and the 121.0.1 chemspill revision), keys, the product's git
//! repository, the update server in-process, a static file server over the root, then
//! go-to-build → promote → push → ship (two signoffs) for each version and the chemspill; after
//! each ship, a client install ([`ClientTrip`]) is updated by the client updater library.
//! With [`Options::workers`], the state lives in [`Options::state_db`] and construct, certify and
//! package's MARs run on that many `kiln worker` child processes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;

use crate::release::config::{Config, ExecutorKind, StoreSettings};
use crate::release::coordinator::{self, GoToBuild, Partials};
use crate::release::local::{self, Running, UpdateServer};
use crate::release::state::{ReleaseRow, ReleaseStatus, State};
use updater_server::config::Database;

/// The versions quickstart releases, in order; the last is the chemspill.
pub const VERSIONS: [&str; 4] = ["119.0", "120.0", "121.0", "121.0.1"];

/// A prepared quickstart environment.
#[derive(Debug)]
pub struct Env {
    /// The directory holding everything.
    pub dir: PathBuf,
    /// `kiln.toml`.
    pub config_path: PathBuf,
    /// The loaded configuration.
    pub config: Config,
    /// The static file server (the download base URL).
    pub files: Running,
    /// The update server.
    pub server: UpdateServer,
    /// Version → commit of the product repository.
    pub commits: BTreeMap<String, String>,
}

/// Another product's part of an environment ([`prepare_with`]): its `kiln.toml`, loaded
/// configuration and git repository commits.
#[derive(Debug)]
pub struct ProductEnv {
    /// `kiln.toml`.
    pub config_path: PathBuf,
    /// The loaded configuration.
    pub config: Config,
    /// Version → commit of the product repository.
    pub commits: BTreeMap<String, String>,
}

/// Writes fixtures of `fixtures.product`, keys, the git repository and `kiln.toml` into `dir`
/// (emptied first) and starts both servers. `dice_header` lets tests fix the server's
/// throttling dice.
pub fn prepare(
    dir: &Path,
    fixtures: &kiln_fixtures::Options,
    dice_header: bool,
) -> anyhow::Result<Env> {
    Ok(prepare_with(dir, fixtures, &[], dice_header)?.0)
}

/// [`prepare`], plus further products (`others`) shipped through the same update server and
/// file server with the same keys, as Mozilla ships Firefox and Thunderbird through one Balrog
/// and one CDN: each in `<dir>/<product>/` (fixtures, repository, `kiln.toml`, state, work,
/// outbox), publishing under `<dir>/pub/<product>/`.
pub fn prepare_with(
    dir: &Path,
    fixtures: &kiln_fixtures::Options,
    others: &[kiln_fixtures::Options],
    dice_header: bool,
) -> anyhow::Result<(Env, Vec<ProductEnv>)> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("emptying {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir)?;
    let dir = std::path::absolute(dir)?;
    let keys = dir.join("keys");
    let made =
        crate::signing::release_keys::generate(&keys, crate::signing::openpgp::DEFAULT_USER_ID)?;
    println!("ed25519 key id {}", made.ed25519_key_id);
    println!("OpenPGP fingerprint {}", made.openpgp_fingerprint);
    let response = crate::signing::ed25519::ArtifactKey::generate()?;
    crate::checksums::write_atomic_mode(
        &keys.join("response.key"),
        response.to_pkcs8_pem()?.as_bytes(),
        0o600,
    )?;
    std::fs::write(keys.join("response.pub"), response.public_key().to_pem()?)?;
    let root = dir.join("pub");
    let files = local::file_server(&root)?;
    let host = files.url.trim_start_matches("http://").to_owned();
    let products: Vec<String> = std::iter::once(fixtures)
        .chain(others)
        .map(|o| o.product.clone())
        .collect();
    let server = local::update_server(
        &dir.join("server"),
        &host,
        &products,
        Some(&keys.join("response.key")),
        dice_header,
    )?;
    let main = product_env(&dir, &root, &files.url, fixtures, &server, &keys)?;
    let others = others
        .iter()
        .map(|options| {
            let stem = l10n_repack::Product::file_stem_of(&options.product);
            product_env(
                &dir.join(&stem),
                &root.join(&stem),
                &format!("{}/{stem}", files.url),
                options,
                &server,
                &keys,
            )
        })
        .collect::<anyhow::Result<_>>()?;
    let env = Env {
        config_path: main.config_path,
        config: main.config,
        commits: main.commits,
        dir,
        files,
        server,
    };
    Ok((env, others))
}

/// One product's fixtures, git repository and `kiln.toml` in `base`, publishing into `root`
/// (served at `download_base_url`), signing with the environment's `keys`.
fn product_env(
    base: &Path,
    root: &Path,
    download_base_url: &str,
    fixtures: &kiln_fixtures::Options,
    server: &UpdateServer,
    keys: &Path,
) -> anyhow::Result<ProductEnv> {
    kiln_fixtures::generate(&base.join("fixtures"), fixtures)?;
    let commits = kiln_fixtures::product_repo(&base.join("repo"), &fixtures.versions)?
        .into_iter()
        .collect();
    let mut config = Config::template(&fixtures.product);
    config.mar_channel_id = fixtures.accepted_mar_channel_id();
    config.root = root.to_owned();
    config.inputs = base.join("fixtures");
    config.git_repo = base.join("repo");
    config.keys.ed25519 = keys.join("ed25519.key");
    config.keys.ed25519_public = keys.join("ed25519.pub");
    config.keys.openpgp = keys.join("openpgp.key");
    config.keys.response_public = vec![keys.join("response.pub")];
    // Windows builds signed as Mozilla signs them: Authenticode on every .exe and .dll.
    config.keys.authenticode_cert = Some(keys.join("authenticode.pem"));
    config.keys.authenticode_key = Some(keys.join("authenticode.key"));
    config.server.url = server.server.url.clone();
    config.server.admin_token_file = Some(server.admin_token_file.clone());
    config.server.download_base_url = download_base_url.to_owned();
    config.server.report_url = Some(format!("{}/api/v1/reports", server.server.url));
    let config_path = base.join("kiln.toml");
    config.save(&config_path)?;
    Ok(ProductEnv {
        config: Config::load(&config_path)?,
        config_path,
        commits,
    })
}

/// go-to-build of build 1 of `version` at its commit (`HEAD` if the repository has none for it),
/// with partials from the shipped releases, recorded as created by `created_by`.
pub fn go_to_build(
    env: &Env,
    state: &State,
    version: &str,
    kind: &'static str,
    created_by: &str,
) -> anyhow::Result<ReleaseRow> {
    coordinator::go_to_build(
        &env.config,
        state,
        &GoToBuild {
            version: version.parse()?,
            revision: env
                .commits
                .get(version)
                .cloned()
                .unwrap_or_else(|| "HEAD".to_owned()),
            build: 1,
            partials: Partials::Auto,
            kind,
            created_by: created_by.to_owned(),
        },
    )
}

/// go-to-build → promote → push → ship (`rate`) → both signoffs, for one version. Returns the
/// release name.
pub fn release(
    env: &Env,
    state: &State,
    version: &str,
    kind: &'static str,
    rate: u8,
) -> anyhow::Result<String> {
    let config = &env.config;
    let row = go_to_build(env, state, version, kind, "quickstart")?;
    let name = row.name.clone();
    coordinator::promote(config, state, row, None)?;
    let pushed = coordinator::push(config, state, state.release(&name)?)?;
    println!("     push: {pushed}");
    coordinator::ship(config, state, state.release(&name)?, rate)?;
    coordinator::signoff(config, state, state.release(&name)?, "relman", None)?;
    let row = coordinator::signoff(
        config,
        state,
        state.release(&name)?,
        "releng",
        Some(&env.server.releng_token_file),
    )?;
    anyhow::ensure!(
        row.status == ReleaseStatus::Shipped,
        "{name} is {} after both signoffs",
        row.status
    );
    Ok(name)
}

/// The client's trip through the releases: the shipped 119.0 `linux-x86_64/de` build, unpacked
/// as a user would install it, kept current by the client updater library (`client-updater`)
/// after each later release ships — check (signed response) → download (SHA-512) → verify
/// (signatures, channel, version) → stage → swap at the next "start", as an application does.
#[derive(Debug)]
pub struct ClientTrip {
    install: PathBuf,
    /// What happened, one entry per version: `119.0 (installed)`, `120.0 (partial)`, ….
    path: Vec<String>,
}

/// The client's platform and locale.
const CLIENT_PLATFORM: l10n_repack::Platform = l10n_repack::Platform::Linux64;
const CLIENT_LOCALE: &str = "de";
/// The file the partials patch in every release (the fixtures' main library on Linux).
const CLIENT_LIBRARY: &str = "libxul.so";

impl ClientTrip {
    /// Unpacks `releases/<version>/linux-x86_64/de/` into `<dir>/client/`; the build carries
    /// the `kiln-update.toml` promote baked in (update URL, pinned keys, build target).
    pub fn install(env: &Env, version: &str) -> anyhow::Result<ClientTrip> {
        let product = crate::release::builds::product(&env.config)?;
        let archive = crate::release::layout::releases(&env.config, &version.parse()?)
            .join(CLIENT_PLATFORM.as_str())
            .join(CLIENT_LOCALE)
            .join(CLIENT_PLATFORM.archive_name(&product, version));
        let root = env.dir.join("client");
        l10n_repack::extract(&archive, &root)
            .with_context(|| format!("installing {}", archive.display()))?;
        Ok(ClientTrip {
            install: root.join(CLIENT_PLATFORM.app_root(&product)),
            path: vec![format!("{version} (installed)")],
        })
    }

    /// The installed version (`application.ini`).
    pub fn version(&self) -> Option<String> {
        mar::update::apply::installed_version(&self.install)
    }

    /// What an application does: finish anything pending at start, check on its own, download,
    /// verify and stage the update, then swap it in at the next start. With `modified_file`, that
    /// file of the install is changed first (as a user or an antivirus might), so a partial's
    /// source check fails and the client falls back to the complete.
    pub fn update(&mut self, modified_file: Option<&str>) -> anyhow::Result<()> {
        client_updater::recover_install(&self.install)?;
        let updater = client_updater::Updater::from_install_config(&self.install)?.build()?;
        updater.finish_pending()?;
        if let Some(file) = modified_file {
            let path = self.install.join(file);
            let mut bytes = std::fs::read(&path).with_context(|| format!("reading {file}"))?;
            bytes.push(b'\n');
            std::fs::write(&path, bytes)?;
        }
        let outcome = updater.update_once(false)?;
        let (offer, patch) = match outcome {
            client_updater::Outcome::Staged(offer, patch)
            | client_updater::Outcome::Pending(offer, patch) => (offer, patch),
            other => anyhow::bail!("the client expected an update, got {other:?}"),
        };
        let fell_back = modified_file.is_some() && patch == client_updater::PatchType::Complete;
        match updater.finish_pending()? {
            client_updater::StartOutcome::Updated(version) => {
                anyhow::ensure!(
                    version == offer.app_version,
                    "updated to {version}, offered {}",
                    offer.app_version
                );
                self.path.push(if fell_back {
                    format!(
                        "{version} (complete, after the partial failed on the modified {})",
                        modified_file.unwrap_or_default()
                    )
                } else {
                    format!("{version} ({})", patch.as_str())
                });
                Ok(())
            }
            other => anyhow::bail!(
                "the staged {} update did not go in: {other:?}",
                offer.app_version
            ),
        }
    }

    /// The steps so far.
    pub fn path(&self) -> &[String] {
        &self.path
    }
}

/// Quickstart's summary.
#[derive(Debug, Serialize)]
pub struct Summary {
    /// Releases shipped, in order.
    pub releases: Vec<String>,
    /// Files and bytes under the root.
    pub artifacts: usize,
    /// Their total size.
    pub bytes: u64,
    /// Diff cache entries (each a diff computed once and reused).
    pub cache_entries: usize,
    /// The client's path through the releases, one step per version.
    pub client_path: Vec<String>,
    /// Wall time in seconds.
    pub seconds: f64,
    /// With workers: items made, by maker (each worker's name, and the coordinator's
    /// `host:pid` for the stages it runs itself), over all releases.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub made_by: Option<BTreeMap<String, usize>>,
}

/// How quickstart runs, beyond its directory. The default is everything in the directory: the
/// state in its SQLite file, the local executor.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Keep both servers running afterwards.
    pub serve: bool,
    /// The pipeline state database instead of the directory's SQLite file (it must hold no
    /// release): a SQLite path or a `postgres://` URL.
    pub state_db: Option<Database>,
    /// Run construct, certify and package's MARs on this many `kiln worker` processes (children
    /// of the current executable, which must be `kiln`), with `[pipeline] executor = "workers"`.
    pub workers: Option<usize>,
    /// Publish every artifact to this S3-compatible bucket too (`[store]`; credentials from the
    /// AWS environment variables), as hosts without a shared filesystem would.
    pub store: Option<StoreSettings>,
}

/// How often the pool looks for a worker that exited.
const SUPERVISE_EVERY: Duration = Duration::from_millis(200);
/// How many times one worker is restarted before quickstart gives up.
const RESTARTS: usize = 3;

/// `kiln worker` child processes (`worker-1` … `worker-N`, logs in `<dir>/workers/`), kept
/// running by a supervisor thread that restarts one that exits ([`RESTARTS`] times at most, then
/// it kills them all and exits the process: the coordinator would otherwise wait for workers
/// forever). Dropping the pool kills them; they are idle by then.
#[derive(Debug)]
struct WorkerPool {
    stop: Arc<AtomicBool>,
    supervisor: Option<std::thread::JoinHandle<()>>,
}

impl WorkerPool {
    /// Starts `count` workers of `config_path`, logging into `logs`.
    fn start(config_path: &Path, logs: &Path, count: usize) -> anyhow::Result<WorkerPool> {
        let exe = std::env::current_exe().context("finding the kiln executable")?;
        std::fs::create_dir_all(logs)?;
        let spawn = {
            let (config_path, logs) = (config_path.to_owned(), logs.to_owned());
            move |name: &str| -> anyhow::Result<Child> {
                let log = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(logs.join(format!("{name}.log")))?;
                Command::new(&exe)
                    .arg("worker")
                    .arg("--config")
                    .arg(&config_path)
                    .args(["--name", name, "--poll-ms", "200"])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(log)
                    .spawn()
                    .with_context(|| format!("starting {} worker", exe.display()))
            }
        };
        let names: Vec<String> = (1..=count).map(|i| format!("worker-{i}")).collect();
        let mut children = names
            .iter()
            .map(|name| spawn(name))
            .collect::<anyhow::Result<Vec<Child>>>()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let logs = logs.to_owned();
        let supervisor = std::thread::spawn(move || {
            let mut restarts = vec![0; names.len()];
            while !stopped.load(Ordering::Acquire) {
                std::thread::sleep(SUPERVISE_EVERY);
                for (i, child) in children.iter_mut().enumerate() {
                    let Ok(Some(status)) = child.try_wait() else {
                        continue;
                    };
                    let log = logs.join(format!("{}.log", names[i]));
                    restarts[i] += 1;
                    let restarted = if restarts[i] > RESTARTS {
                        Err(anyhow::anyhow!("it exited {RESTARTS} times"))
                    } else {
                        spawn(&names[i])
                    };
                    match restarted {
                        Ok(new) => {
                            eprintln!(
                                "{} exited ({status}; see {}): restarted",
                                names[i],
                                log.display()
                            );
                            *child = new;
                        }
                        Err(e) => {
                            eprintln!(
                                "kiln: {} exited ({status}; see {}) and cannot go on: {e:#}",
                                names[i],
                                log.display()
                            );
                            kill_all(&mut children);
                            std::process::exit(1);
                        }
                    }
                }
            }
            kill_all(&mut children);
        });
        Ok(WorkerPool {
            stop,
            supervisor: Some(supervisor),
        })
    }
}

impl Drop for WorkerPool {
    /// Kills the workers.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(supervisor) = self.supervisor.take() {
            let _ = supervisor.join();
        }
    }
}

fn kill_all(children: &mut [Child]) {
    for child in children {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Items of `releases` in `state`, counted by the process that made them.
fn made_by(state: &State, releases: &[String]) -> anyhow::Result<BTreeMap<String, usize>> {
    let mut counts = BTreeMap::new();
    for release in releases {
        for item in state.items(release, None)? {
            if let Some(maker) = item.made_by {
                *counts.entry(maker).or_default() += 1;
            }
        }
    }
    Ok(counts)
}

/// Runs the whole quickstart in `dir` as `options` say.
pub fn run(dir: &Path, options: &Options) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let fixtures = kiln_fixtures::Options {
        versions: VERSIONS.iter().map(|v| (*v).to_owned()).collect(),
        ..kiln_fixtures::Options::default()
    };
    println!(
        "==> fixtures, keys, git repository, update server and file server in {}",
        dir.display()
    );
    let mut env = prepare(dir, &fixtures, false)?;
    if let Some(db) = &options.state_db {
        env.config.state_db = db.clone();
    }
    if options.workers.is_some() {
        env.config.pipeline.executor = ExecutorKind::Workers;
    }
    if let Some(store) = &options.store {
        env.config.store = store.clone();
    }
    if options.state_db.is_some() || options.workers.is_some() || options.store.is_some() {
        env.config.save(&env.config_path)?;
        env.config = Config::load(&env.config_path)?;
    }
    let state = coordinator::open_state(&env.config)?;
    anyhow::ensure!(
        state.releases()?.is_empty(),
        "the state database {} already holds releases: quickstart needs an empty one",
        env.config.state_db
    );
    let workers = match options.workers {
        Some(count) => {
            let logs = env.dir.join("workers");
            println!(
                "==> {count} `kiln worker` process(es) on {} (logs in {})",
                env.config.state_db,
                logs.display()
            );
            Some(WorkerPool::start(&env.config_path, &logs, count)?)
        }
        None => None,
    };
    let mut releases = Vec::new();
    let mut client: Option<ClientTrip> = None;
    for (index, version) in VERSIONS.iter().enumerate() {
        let chemspill = index == VERSIONS.len() - 1;
        if chemspill {
            println!("==> chemspill {version}: unthrottled, partials from the shipped builds");
        } else {
            println!("==> {version}: go-to-build → promote → push → ship → 2 signoffs");
        }
        let kind = if chemspill { "chemspill" } else { "release" };
        releases.push(release(&env, &state, version, kind, 100)?);
        match client.as_mut() {
            None => {
                client = Some(ClientTrip::install(&env, version)?);
                println!("     client: {version} installed ({CLIENT_PLATFORM}/{CLIENT_LOCALE})");
            }
            Some(trip) => {
                // Once, the chemspill's partial meets a locally modified library.
                let modified = chemspill.then_some(CLIENT_LIBRARY);
                trip.update(modified)?;
                println!(
                    "     client: {}",
                    trip.path().last().map_or("", String::as_str)
                );
            }
        }
    }
    // The workers are idle now: stop them.
    drop(workers);
    let made_by = match options.workers {
        Some(_) => Some(made_by(&state, &releases)?),
        None => None,
    };
    let client_path = client.map(|trip| trip.path().to_vec()).unwrap_or_default();
    anyhow::ensure!(
        client_path
            .last()
            .is_some_and(|step| step.starts_with(VERSIONS[VERSIONS.len() - 1])),
        "the client did not end on {}: {client_path:?}",
        VERSIONS[VERSIONS.len() - 1]
    );
    let (mut artifacts, mut bytes) = (0, 0);
    for entry in walkdir::WalkDir::new(&env.config.root)
        .into_iter()
        .flatten()
    {
        if entry.file_type().is_file() {
            artifacts += 1;
            bytes += entry.metadata().map_or(0, |m| m.len());
        }
    }
    let cache_entries = walkdir::WalkDir::new(crate::release::layout::diff_cache(&env.config))
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .count();
    let summary = Summary {
        releases,
        artifacts,
        bytes,
        cache_entries,
        client_path,
        seconds: started.elapsed().as_secs_f64(),
        made_by,
    };
    println!("\nshipped: {}", summary.releases.join(" → "));
    println!(
        "artifacts: {} files, {:.1} MB under {}",
        summary.artifacts,
        summary.bytes as f64 / 1e6,
        env.config.root.display()
    );
    println!(
        "diff cache: {} entries in {}",
        summary.cache_entries,
        crate::release::layout::diff_cache(&env.config).display()
    );
    println!(
        "client: {} (install: {})",
        summary.client_path.join(" → "),
        env.dir.join("client/firefox").display()
    );
    println!(
        "config: {}   state: {}   notices: {}",
        env.config_path.display(),
        env.config.state_db,
        env.config.outbox.display()
    );
    println!(
        "update server: {}   downloads: {}",
        env.server.server.url, env.files.url
    );
    if let Some(made_by) = &summary.made_by {
        let makers: Vec<String> = made_by
            .iter()
            .map(|(maker, items)| format!("{maker} {items}"))
            .collect();
        println!("items made by: {}", makers.join(", "));
    }
    println!("done in {:.1}s", summary.seconds);
    if options.serve {
        println!("serving; try:\n  curl '{}/update/6/Firefox/119.0/<buildid>/Linux_x86_64-gcc3/de/release/Linux/ISET:SSE4_2/default/default/update.xml'\nCtrl-C stops.", env.server.server.url);
        let Env { server, files, .. } = env;
        let _files = files;
        server.server.wait();
    }
    Ok(summary)
}
