//! The workers-executor benchmark of BENCHMARKS.md (issue 21): the same release on the same
//! inputs promoted by the local executor (one thread, then one per core) and by the workers
//! executor with one and two `kiln worker` processes, the state on PostgreSQL in every run; wall
//! time, CPU-seconds of the coordinator and of the workers, per-item costs by stage, the queue's
//! overhead per unit, and from them a projection for a 100-locale × 5-platform release.
//!
//! `cargo build --release -p kiln-tools --bin kiln --example workers_bench &&
//! target/release/examples/workers_bench postgres://USER@HOST:PORT/DB [LOCALES] [DIR]`
//! (the URL names a database on a server where the user may create databases; each run gets a
//! fresh `kiln_workers_bench_*` database there). Each run prepares its own environment (small
//! fixtures of LOCALES locales, default 20, on three platforms; 119.0, 120.0 and 121.0 shipped by
//! the local executor, so 122.0 has three partial sources) and times 122.0's promote.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use kiln_tools::release::config::{Config, ExecutorKind};
use kiln_tools::release::coordinator::{self, PromoteReport};
use kiln_tools::release::quickstart;
use updater_server::config::Database;

/// The stages whose units the workers executor queues; the others run on the coordinator.
const DISTRIBUTED: [&str; 3] = ["construct", "certify", "package"];

/// CPU-seconds (user + system) of process `pid` (`self` for this one) so far, from
/// `/proc/<pid>/stat`, where the kernel counts them in USER_HZ = 100 ticks per second.
fn cpu_seconds(pid: &str) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| anyhow::anyhow!("unexpected /proc/{pid}/stat"))?;
    // utime and stime: fields 14 and 15 of the line, 12 and 13 after the command name.
    let fields: Vec<f64> = after_name
        .split_whitespace()
        .skip(11)
        .take(2)
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    Ok(fields.iter().sum::<f64>() / 100.0)
}

/// How one run promotes.
struct Setup {
    label: &'static str,
    executor: ExecutorKind,
    /// `jobs` of the local executor (0: one thread per core).
    jobs: usize,
    workers: usize,
}

/// What one run measured.
struct Measured {
    label: &'static str,
    report: PromoteReport,
    coordinator_cpu: f64,
    workers_cpu: f64,
    /// Queued units by stage (workers runs).
    units: BTreeMap<String, usize>,
    /// Items each worker made.
    made_by: BTreeMap<String, usize>,
}

/// A fresh database `name` on the server of `url` (`postgres://user@host:port/db`); its URL.
fn fresh_database(url: &str, name: &str) -> anyhow::Result<String> {
    let mut admin = postgres::Client::connect(url, postgres::NoTls)?;
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))?;
    admin.batch_execute(&format!("CREATE DATABASE {name}"))?;
    let (server, _) = url
        .rsplit_once('/')
        .ok_or_else(|| anyhow::anyhow!("{url}: expected postgres://user@host:port/db"))?;
    Ok(format!("{server}/{name}"))
}

fn spawn_worker(kiln: &Path, config: &Path, name: &str) -> anyhow::Result<Child> {
    let log = std::fs::File::create(config.with_file_name(format!("{name}.log")))?;
    Ok(Command::new(kiln)
        .arg("worker")
        .arg("--config")
        .arg(config)
        .args(["--name", name, "--poll-ms", "100"])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()?)
}

/// Prepares `dir` with its state in a fresh database, ships 119.0 to 121.0 locally, then times
/// 122.0's promote as `setup` says.
fn run(
    kiln: &Path,
    url: &str,
    dir: &Path,
    locales: usize,
    setup: &Setup,
) -> anyhow::Result<Measured> {
    let tag = setup
        .label
        .replace(|c: char| !c.is_ascii_alphanumeric(), "_");
    let db = fresh_database(url, &format!("kiln_workers_bench_{tag}"))?;
    let options = kiln_fixtures::Options {
        locales: kiln_fixtures::Locales::Count(locales),
        versions: ["119.0", "120.0", "121.0", "122.0"]
            .map(String::from)
            .to_vec(),
        ..Default::default()
    };
    let mut env = quickstart::prepare(&dir.join(&tag), &options, false)?;
    env.config.state_db = Database::Postgres(db);
    env.config.save(&env.config_path)?;
    env.config = Config::load(&env.config_path)?;
    let state = coordinator::open_state(&env.config)?;
    for version in ["119.0", "120.0", "121.0"] {
        quickstart::release(&env, &state, version, "release", 100)?;
    }
    env.config.pipeline.executor = setup.executor;
    env.config.jobs = setup.jobs;
    env.config.save(&env.config_path)?;
    env.config = Config::load(&env.config_path)?;
    let row = quickstart::go_to_build(&env, &state, "122.0", "release", "bench")?;
    let name = row.name.clone();
    let names: Vec<String> = (1..=setup.workers).map(|i| format!("w{i}")).collect();
    let mut workers = names
        .iter()
        .map(|worker| spawn_worker(kiln, &env.config_path, worker))
        .collect::<anyhow::Result<Vec<Child>>>()?;
    let cpu = cpu_seconds("self")?;
    let report = coordinator::promote(&env.config, &state, row, None);
    let coordinator_cpu = cpu_seconds("self")? - cpu;
    let mut workers_cpu = 0.0;
    for worker in &mut workers {
        workers_cpu += cpu_seconds(&worker.id().to_string())?;
        worker.kill()?;
        worker.wait()?;
    }
    let report = report?;
    let mut units = BTreeMap::new();
    for unit in state.units(None)?.into_iter().filter(|u| u.release == name) {
        *units.entry(unit.stage).or_default() += 1;
    }
    let mut made_by = BTreeMap::new();
    for item in state.items(&name, None)? {
        if let Some(worker) = item.made_by.filter(|w| names.contains(w)) {
            *made_by.entry(worker).or_default() += 1;
        }
    }
    Ok(Measured {
        label: setup.label,
        report,
        coordinator_cpu,
        workers_cpu,
        units,
        made_by,
    })
}

fn stage_seconds(report: &PromoteReport, stage: &str) -> f64 {
    report
        .stages
        .iter()
        .find(|s| s.stage == stage)
        .map_or(0.0, |s| s.seconds)
}

fn stage_items(report: &PromoteReport, stage: &str) -> usize {
    report
        .stages
        .iter()
        .find(|s| s.stage == stage)
        .map_or(0, |s| s.counts.total())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let url = args.get(1).ok_or_else(|| {
        anyhow::anyhow!("usage: workers_bench postgres://USER@HOST:PORT/DB [LOCALES] [DIR]")
    })?;
    let locales: usize = args.get(2).map_or(Ok(20), |s| s.parse())?;
    let dir = PathBuf::from(args.get(3).map_or("target/workers-bench", String::as_str));
    let kiln = std::env::current_exe()?
        .parent()
        .and_then(Path::parent)
        .map(|release| release.join("kiln"))
        .filter(|kiln| kiln.exists())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no kiln beside the example: cargo build --release -p kiln-tools --bin kiln"
            )
        })?;
    let started = Instant::now();
    // The workers runs' coordinator runs its own stages on one thread, as "local, 1 thread".
    let setups = [
        Setup {
            label: "local, 1 thread",
            executor: ExecutorKind::Local,
            jobs: 1,
            workers: 0,
        },
        Setup {
            label: "local, 1 per core",
            executor: ExecutorKind::Local,
            jobs: 0,
            workers: 0,
        },
        Setup {
            label: "workers, 1",
            executor: ExecutorKind::Workers,
            jobs: 1,
            workers: 1,
        },
        Setup {
            label: "workers, 2",
            executor: ExecutorKind::Workers,
            jobs: 1,
            workers: 2,
        },
    ];
    let mut runs = Vec::new();
    for setup in &setups {
        eprintln!("==> {}", setup.label);
        runs.push(run(&kiln, url, &dir, locales, setup)?);
    }

    println!("| run | promote wall s | coordinator CPU-s | workers CPU-s | total CPU-s | items by worker |");
    println!("|---|---|---|---|---|---|");
    for m in &runs {
        println!(
            "| {} | {:.2} | {:.2} | {:.2} | {:.2} | {:?} |",
            m.label,
            m.report.seconds,
            m.coordinator_cpu,
            m.workers_cpu,
            m.coordinator_cpu + m.workers_cpu,
            m.made_by
        );
    }
    let (local, one) = (&runs[0], &runs[2]);
    print!("\n| stage | items | units |");
    for m in &runs {
        print!(" {} s |", m.label);
    }
    println!(" s/item, local 1 thread |");
    println!("|---|---|---|{}---|", "---|".repeat(runs.len()));
    for stage in &local.report.stages {
        let items = stage.counts.total();
        print!(
            "| {} | {items} | {} |",
            stage.stage,
            one.units.get(stage.stage).copied().unwrap_or(0)
        );
        for m in &runs {
            print!(" {:.2} |", stage_seconds(&m.report, stage.stage));
        }
        println!(" {:.4} |", stage.seconds / items.max(1) as f64);
    }

    // The queue's cost per unit: one worker against one local thread, same units run serially.
    let units: usize = one.units.values().sum();
    let overhead_wall = (one.report.seconds - local.report.seconds) / units as f64;
    let overhead_cpu =
        (one.coordinator_cpu + one.workers_cpu - local.coordinator_cpu) / units as f64;
    println!(
        "\nqueue overhead per unit ({units} units): {:.1} ms wall, {:.1} ms CPU",
        overhead_wall * 1e3,
        overhead_cpu * 1e3
    );

    // 100 locales × 5 platforms: each distributed stage's items and units scale with the
    // locale-platform count; configure with the platforms, deploy with the locales.
    let scale = 500.0 / (locales as f64 * 3.0);
    let mut distributed = 0.0;
    let mut projected_units = 0.0;
    for stage in DISTRIBUTED {
        let per_item =
            stage_seconds(&local.report, stage) / stage_items(&local.report, stage).max(1) as f64;
        distributed += per_item * stage_items(&local.report, stage) as f64 * scale;
        projected_units += one.units.get(stage).copied().unwrap_or(0) as f64 * scale;
    }
    let serial = stage_seconds(&local.report, "configure") * 5.0 / 3.0
        + stage_seconds(&local.report, "deploy") * scale;
    println!(
        "\n100 locales × 5 platforms (×{scale:.2} the measured items; {projected_units:.0} units): \
         {distributed:.0} s of unit work, {serial:.1} s serial on the coordinator, queue overhead \
         {:.1} s",
        projected_units * overhead_wall.max(0.0)
    );
    println!("| workers | projected promote wall s |\n|---|---|");
    for workers in [1.0, 10.0, 50.0] {
        let wall = (distributed + projected_units * overhead_wall.max(0.0)) / workers + serial;
        println!("| {workers:.0} | {wall:.0} |");
    }
    println!(
        "\nbenchmark wall time, fixtures and shipped releases included: {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
