//! The workers executor across processes on PostgreSQL (`KILN_TEST_POSTGRES_URL`, which
//! `scripts/test.sh` starts): three `kiln worker` processes make byte-identical artifacts to a
//! local promote; a worker `kill -9`ed mid-unit loses its lease and the unit is redone elsewhere;
//! a coordinator killed while workers run is rerun and redoes nothing; PostgreSQL stopped and
//! started during a stage costs nothing but time. Every test asserts each unit finished once and
//! the release verifies after.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kiln_tools::release::config::{Config, ExecutorKind};
use kiln_tools::release::quickstart;
use kiln_tools::release::state::{UnitRow, UnitStatus};

use super::story::*;

pub(crate) const R121_2: &str = "Firefox-121.0-build2";

/// These tests share the PostgreSQL server, and one of them stops it: one at a time.
pub(crate) static POSTGRES: Mutex<()> = Mutex::new(());

pub(crate) fn postgres_url() -> String {
    std::env::var("KILN_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "KILN_TEST_POSTGRES_URL is not set: the workers tests need a PostgreSQL server. Run \
             scripts/test.sh (it starts a throwaway cluster), or set it to a server that may \
             create databases"
        )
    })
}

/// A new empty database on the test server, dropped when the guard goes.
pub(crate) struct FreshDb {
    name: String,
    pub(crate) url: String,
}

impl FreshDb {
    pub(crate) fn new(tag: &str) -> FreshDb {
        let name = format!("kiln_workers_{tag}_{}", std::process::id());
        admin(&format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE); CREATE DATABASE {name}"
        ));
        let url = postgres_url();
        let (base, query) = url
            .split_once('?')
            .map_or((url.as_str(), ""), |(b, q)| (b, q));
        let root_end = base.find("://").map_or(0, |i| i + 3);
        let root = match base[root_end..].find('/') {
            Some(i) => &base[..root_end + i],
            None => base,
        };
        let url = if query.is_empty() {
            format!("{root}/{name}")
        } else {
            format!("{root}/{name}?{query}")
        };
        FreshDb { name, url }
    }
}

impl Drop for FreshDb {
    fn drop(&mut self) {
        admin(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}

fn admin(sql: &str) {
    for statement in sql.split("; ") {
        let mut client = postgres::Client::connect(&postgres_url(), postgres::NoTls)
            .unwrap_or_else(|e| panic!("cannot connect to KILN_TEST_POSTGRES_URL: {e}"));
        client
            .batch_execute(statement)
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
}

/// A release environment whose state lives in `db`, with the given executor and lease.
pub(crate) fn env(name: &str, db: &FreshDb, executor: ExecutorKind, lease: u64) -> quickstart::Env {
    let options = kiln_fixtures::Options {
        versions: vec!["121.0".to_owned()],
        ..Default::default()
    };
    let mut env = quickstart::prepare(&story_dir(name), &options, false).unwrap();
    env.config.state_db = Database::Postgres(db.url.clone());
    set_executor(&mut env, executor, lease);
    env
}

pub(crate) fn set_executor(env: &mut quickstart::Env, executor: ExecutorKind, lease: u64) {
    env.config.pipeline.executor = executor;
    env.config.pipeline.lease_seconds = Some(lease);
    env.config.save(&env.config_path).unwrap();
    env.config = Config::load(&env.config_path).unwrap();
}

/// Starts `kiln ARGS` as the coordinator, its stderr kept in `coordinator.log` beside the config.
pub(crate) fn spawn_coordinator(config: &Path, args: &[&str]) -> Child {
    let log = std::fs::File::create(config.with_file_name("coordinator.log")).unwrap();
    Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(args)
        .arg("--config")
        .arg(config)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

/// Waits for the coordinator and asserts it succeeded, showing its log if not.
pub(crate) fn assert_coordinator_succeeds(mut coordinator: Child, config: &Path) {
    let status = coordinator.wait().unwrap();
    assert!(
        status.success(),
        "the coordinator failed ({status}):\n{}",
        std::fs::read_to_string(config.with_file_name("coordinator.log")).unwrap_or_default()
    );
}

pub(crate) fn spawn_worker(config: &Path, name: &str, exit_when_idle: bool) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kiln"));
    command
        .args(["worker", "--name", name, "--json", "--poll-ms", "100"])
        .arg("--config")
        .arg(config)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if exit_when_idle {
        command.arg("--exit-when-idle");
    }
    command.spawn().unwrap()
}

/// Waits for a worker started with `--exit-when-idle` and returns its JSON report.
pub(crate) fn worker_report(child: Child) -> serde_json::Value {
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "a worker failed: {out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

pub(crate) fn units(env: &quickstart::Env, release: &str) -> Vec<UnitRow> {
    State::connect(&env.config.state_db)
        .and_then(|s| s.units(None))
        .unwrap_or_default()
        .into_iter()
        .filter(|u| u.release == release)
        .collect()
}

pub(crate) fn is_promoting(env: &quickstart::Env, release: &str) -> bool {
    State::connect(&env.config.state_db)
        .and_then(|s| s.release(release))
        .is_ok_and(|r| r.status == ReleaseStatus::Promoting)
}

/// The release's candidates verify: every `.sig`, both SUMS files with stock gpg.
pub(crate) fn assert_verifies(env: &quickstart::Env, release: &str) {
    let build = env.config.root.join(format!(
        "candidates/121.0-candidates/{}",
        &release[release.len() - 6..]
    ));
    crate::util::kiln_ok(&[
        "verify",
        "--dir",
        build.to_str().unwrap(),
        "--key",
        env.config.keys.ed25519_public.to_str().unwrap(),
    ]);
    gpg_verifies_sums(&build);
}

/// `go-to-build 121.0 --build 2` by a coordinator with the workers executor and a worker per
/// `(config, name)` started with `--exit-when-idle` once it promotes; asserts the coordinator
/// succeeds and returns the workers' reports.
pub(crate) fn build2_by_workers(
    env: &quickstart::Env,
    revision: &str,
    workers: &[(&Path, &str)],
) -> Vec<serde_json::Value> {
    let mut coordinator = spawn_coordinator(
        &env.config_path,
        &[
            "go-to-build",
            "--version",
            "121.0",
            "--build",
            "2",
            "--revision",
            revision,
        ],
    );
    wait_for(
        "the coordinator promotes",
        || is_promoting(env, R121_2),
        &mut coordinator,
    );
    let children: Vec<Child> = workers
        .iter()
        .map(|(config, name)| spawn_worker(config, name, true))
        .collect();
    assert_coordinator_succeeds(coordinator, &env.config_path);
    children.into_iter().map(worker_report).collect()
}

/// Every queued unit of `release` finished exactly once: done, collected, one accepted result.
pub(crate) fn assert_each_unit_done(units: &[UnitRow]) {
    assert!(!units.is_empty());
    for unit in units {
        assert_eq!(unit.status, UnitStatus::Done, "{unit:?}");
        assert!(unit.collected, "{unit:?}");
        assert!(unit.finished_ms.is_some(), "{unit:?}");
    }
}

#[test]
fn three_workers_make_what_one_process_makes() {
    let _one = POSTGRES.lock().unwrap_or_else(|e| e.into_inner());
    let db = FreshDb::new("same");
    let mut env = env("workers-same", &db, ExecutorKind::Local, 30);
    let revision = env.commits["121.0"].clone();
    // build1 by one local process.
    kiln_ok(
        &env.config_path,
        &["go-to-build", "--version", "121.0", "--revision", &revision],
    );
    // build2 of the same inputs by three workers.
    set_executor(&mut env, ExecutorKind::Workers, 30);
    let reports = build2_by_workers(
        &env,
        &revision,
        &[
            (&env.config_path, "w1"),
            (&env.config_path, "w2"),
            (&env.config_path, "w3"),
        ],
    );

    let queued = units(&env, R121_2);
    assert_each_unit_done(&queued);
    assert!(queued.iter().all(|u| u.attempts == 1), "{queued:?}");
    let finished: u64 = reports
        .iter()
        .map(|r| r["finished"].as_u64().unwrap())
        .sum();
    assert_eq!(finished, queued.len() as u64, "{reports:?}");
    // 24 repacks + 24 certifications + 12 complete and partial MARs... of 121.0 with no partial
    // source: 24 construct units, 24 certify units and 12 complete MARs.
    let per_stage: BTreeMap<&str, usize> = queued.iter().fold(BTreeMap::new(), |mut m, u| {
        *m.entry(u.stage.as_str()).or_default() += 1;
        m
    });
    assert_eq!(
        per_stage,
        BTreeMap::from([("certify", 24), ("construct", 24), ("package", 12)])
    );

    let candidates = env.config.root.join("candidates/121.0-candidates");
    assert_eq!(
        comparable(&candidates.join("build1")),
        comparable(&candidates.join("build2")),
        "three workers made other bytes than one process"
    );
    assert_verifies(&env, R121_2);

    // `kiln status --json` names the worker of each item.
    let status: serde_json::Value =
        serde_json::from_str(&kiln_ok(&env.config_path, &["status", R121_2, "--json"])).unwrap();
    let made_by = status[0]["made_by"].as_object().unwrap().clone();
    let distributed: BTreeSet<&str> = made_by
        .iter()
        .filter(|(key, _)| !key.starts_with("configure/") && !key.starts_with("deploy/"))
        .filter(|(key, _)| *key != "package/checksums")
        .map(|(_, worker)| worker.as_str().unwrap())
        .collect();
    assert!(
        distributed.iter().all(|w| ["w1", "w2", "w3"].contains(w)),
        "{made_by:?}"
    );
    assert!(
        distributed.len() >= 2,
        "one worker did everything: {made_by:?}"
    );
}

#[test]
fn a_killed_worker_and_a_killed_coordinator_cost_no_item_twice() {
    let _one = POSTGRES.lock().unwrap_or_else(|e| e.into_inner());
    let db = FreshDb::new("kill");
    let env = env("workers-kill", &db, ExecutorKind::Workers, 3);
    let revision = env.commits["121.0"].clone();
    kiln_ok(
        &env.config_path,
        &[
            "go-to-build",
            "--version",
            "121.0",
            "--revision",
            &revision,
            "--no-promote",
        ],
    );
    let mut coordinator = spawn_coordinator(&env.config_path, &["promote", R121]);
    wait_for("promoting", || is_promoting(&env, R121), &mut coordinator);
    // Worker A alone, killed -9 while it holds a unit.
    let mut a = spawn_worker(&env.config_path, "a", false);
    let mut held = None;
    wait_for(
        "worker a claims a unit",
        || {
            held = units(&env, R121)
                .into_iter()
                .find(|u| u.status == UnitStatus::Claimed && u.worker.as_deref() == Some("a"));
            held.is_some()
        },
        &mut coordinator,
    );
    a.kill().unwrap();
    a.wait().unwrap();
    let held = held.unwrap();
    // B and C take over; once they have finished some construct units, the coordinator dies.
    let b = spawn_worker(&env.config_path, "b", false);
    let c = spawn_worker(&env.config_path, "c", false);
    wait_for(
        "construct half done",
        || {
            units(&env, R121)
                .iter()
                .filter(|u| u.stage == "construct" && u.status == UnitStatus::Done)
                .count()
                >= 12
        },
        &mut coordinator,
    );
    coordinator.kill().unwrap();
    coordinator.wait().unwrap();
    // The workers drain what was queued; the lease of a's unit ends and b or c redoes it.
    let deadline = Instant::now() + Duration::from_secs(120);
    while units(&env, R121)
        .iter()
        .any(|u| u.stage == "construct" && u.status != UnitStatus::Done)
    {
        assert!(Instant::now() < deadline, "construct never drained");
        std::thread::sleep(Duration::from_millis(100));
    }
    let before: Vec<UnitRow> = units(&env, R121)
        .into_iter()
        .filter(|u| u.stage == "construct")
        .collect();
    let redone = before.iter().find(|u| u.unit == held.unit).unwrap();
    assert!(redone.attempts >= 2, "{redone:?}");
    assert_ne!(redone.worker.as_deref(), Some("a"), "{redone:?}");

    // The rerun picks up the state: no construct unit runs again.
    kiln_ok(&env.config_path, &["promote", R121]);
    let after = units(&env, R121);
    for unit in before {
        let now = after
            .iter()
            .find(|u| u.stage == unit.stage && u.unit == unit.unit)
            .unwrap();
        assert_eq!(
            (now.finished_ms, &now.worker, now.attempts),
            (unit.finished_ms, &unit.worker, unit.attempts),
            "the rerun ran {} again",
            unit.unit
        );
    }
    assert_each_unit_done(&after);
    for mut worker in [b, c] {
        worker.kill().unwrap();
        worker.wait().unwrap();
    }
    assert_verifies(&env, R121);
}

/// Stops or starts the test server through `KILN_TEST_POSTGRES_CTL` (`scripts/test-postgres.sh`).
fn server_ctl(action: &str) {
    let ctl = std::env::var("KILN_TEST_POSTGRES_CTL").unwrap_or_else(|_| {
        panic!(
            "KILN_TEST_POSTGRES_CTL is not set: this test stops and starts the test PostgreSQL \
             server. Run scripts/test.sh, or point it at a script taking pause|resume"
        )
    });
    let status = Command::new("bash")
        .arg(&ctl)
        .arg(action)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "{ctl} {action} failed");
}

#[test]
fn postgres_stopped_and_started_during_a_stage() {
    let _one = POSTGRES.lock().unwrap_or_else(|e| e.into_inner());
    let db = FreshDb::new("restart");
    let env = env("workers-restart", &db, ExecutorKind::Workers, 30);
    let revision = env.commits["121.0"].clone();
    let mut coordinator = spawn_coordinator(
        &env.config_path,
        &["go-to-build", "--version", "121.0", "--revision", &revision],
    );
    wait_for("promoting", || is_promoting(&env, R121), &mut coordinator);
    let workers: Vec<Child> = ["p1", "p2"]
        .iter()
        .map(|name| spawn_worker(&env.config_path, name, true))
        .collect();
    wait_for(
        "construct under way",
        || {
            units(&env, R121)
                .iter()
                .any(|u| u.stage == "construct" && u.status == UnitStatus::Done)
        },
        &mut coordinator,
    );
    server_ctl("pause");
    std::thread::sleep(Duration::from_secs(3));
    server_ctl("resume");
    assert_coordinator_succeeds(coordinator, &env.config_path);
    let reports: Vec<serde_json::Value> = workers.into_iter().map(worker_report).collect();
    let queued = units(&env, R121);
    assert_each_unit_done(&queued);
    let finished: u64 = reports
        .iter()
        .map(|r| r["finished"].as_u64().unwrap())
        .sum();
    assert_eq!(finished, queued.len() as u64, "{reports:?}");
    assert_verifies(&env, R121);
}
