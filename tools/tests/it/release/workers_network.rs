//! A worker whose network to PostgreSQL is cut while it holds a unit (issue 21): one worker
//! reaches the database through a TCP proxy the test controls, the coordinator and another worker
//! reach it directly. The cut resets the worker's open connections (what `tcp_user_timeout` does
//! to them 10 s into a real partition, without the wait) and swallows its new ones (accepted, never
//! answered, as SYNs into a partition are). The unit's 3 s lease ends, the other worker redoes
//! it; once the network is back the cut worker's late result is refused, so every unit is done
//! once and the release verifies.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kiln_tools::release::config::ExecutorKind;
use kiln_tools::release::state::{UnitRow, UnitStatus};

use super::story::*;
use super::workers::*;

/// The answers' delay through the proxy: a distant database. A unit of the small fixtures takes
/// 10–30 ms of work, which a cut would rarely land inside; with each of its database round trips
/// this much longer, the cut worker spends most of a unit mid-unit, where the cut must find it.
const LATENCY: Duration = Duration::from_millis(40);

/// A TCP proxy in front of one upstream address (answers delayed by [`LATENCY`]), with a switch
/// that cuts the network and one that restores it.
struct Proxy {
    port: u16,
    links: Arc<Mutex<Links>>,
}

/// The proxy's sockets, under one lock so a connection is either forwarded before a cut (and
/// reset by it) or held after it.
#[derive(Default)]
struct Links {
    cut: bool,
    /// Both ends of every forwarded connection.
    forwarded: Vec<TcpStream>,
    /// Connections accepted while cut, never forwarded.
    held: Vec<TcpStream>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards each connection to `upstream`.
    fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let links = Arc::new(Mutex::new(Links::default()));
        let shared = Arc::clone(&links);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let mut links = shared.lock().unwrap();
                if links.cut {
                    links.held.push(client);
                    continue;
                }
                // The server is up (the test is running against it): a refused upstream drops
                // the client, which the client sees as a lost connection.
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                for (from, to, delay) in [
                    (&client, &server, Duration::ZERO),
                    (&server, &client, LATENCY),
                ] {
                    let (mut from, mut to) = (from.try_clone().unwrap(), to.try_clone().unwrap());
                    std::thread::spawn(move || {
                        let mut buffer = [0u8; 16 * 1024];
                        while let Ok(n @ 1..) = from.read(&mut buffer) {
                            std::thread::sleep(delay);
                            if to.write_all(&buffer[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = from.shutdown(Shutdown::Both);
                        let _ = to.shutdown(Shutdown::Both);
                    });
                }
                links.forwarded.extend([client, server]);
            }
        });
        Proxy { port, links }
    }

    /// Cuts the network: resets every forwarded connection; new ones are held unanswered.
    fn cut(&self) {
        let mut links = self.links.lock().unwrap();
        links.cut = true;
        for stream in links.forwarded.drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// Restores the network: the connections held meanwhile are dropped (their clients retry),
    /// new ones are forwarded.
    fn restore(&self) {
        let mut links = self.links.lock().unwrap();
        links.cut = false;
        for stream in links.held.drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

/// `url` (`postgres://user@host:port/db?…`) split into its `host:port` and the same URL through
/// 127.0.0.1:`port`.
fn through(url: &str, port: u16) -> (String, String) {
    let start = url.find("://").expect("a postgres:// URL") + 3;
    let end = url[start..].find('/').map_or(url.len(), |i| start + i);
    let host_start = url[start..end].rfind('@').map_or(start, |i| start + i + 1);
    let upstream = url[host_start..end].to_owned();
    let proxied = format!("{}127.0.0.1:{port}{}", &url[..host_start], &url[end..]);
    (upstream, proxied)
}

/// Starts worker `name` on `config` with its log (info, no colours) in `<name>.log` beside it.
fn spawn_logged_worker(config: &Path, name: &str) -> Child {
    let log = std::fs::File::create(config.with_file_name(format!("{name}.log"))).unwrap();
    Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["worker", "--name", name, "--json", "--poll-ms", "100"])
        .arg("--exit-when-idle")
        .arg("--config")
        .arg(config)
        .env("KILN_LOG", "kiln_tools=info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap()
}

/// The units the worker of `config`'s `name.log` says it claimed (and so is running or ran).
fn claimed_in_log(config: &Path, name: &str) -> Vec<String> {
    let mut text = String::new();
    std::fs::File::open(config.with_file_name(format!("{name}.log")))
        .and_then(|mut f| f.read_to_string(&mut text))
        .unwrap();
    text.lines()
        .filter(|line| line.contains(" claimed "))
        .filter_map(|line| line.rsplit_once(" unit=").map(|(_, unit)| unit.to_owned()))
        .collect()
}

#[test]
fn a_worker_cut_off_from_postgres_mid_unit_loses_it_and_its_late_result_is_refused() {
    let _one = POSTGRES.lock().unwrap_or_else(|e| e.into_inner());
    let db = FreshDb::new("network");
    let env = env("workers-network", &db, ExecutorKind::Workers, 3);
    let revision = env.commits["121.0"].clone();
    let (upstream, _) = through(&db.url, 0);
    let proxy = Proxy::start(upstream);
    // The cut worker's own kiln.toml: the same, but its database is behind the proxy.
    let cut_config = env.dir.join("cut/kiln.toml");
    std::fs::create_dir_all(cut_config.parent().unwrap()).unwrap();
    let mut config = env.config.clone();
    config.state_db = Database::Postgres(through(&db.url, proxy.port).1);
    config.save(&cut_config).unwrap();

    let mut coordinator = spawn_coordinator(
        &env.config_path,
        &["go-to-build", "--version", "121.0", "--revision", &revision],
    );
    wait_for("promoting", || is_promoting(&env, R121), &mut coordinator);
    // The cut worker runs alone until it is cut while running a unit: one it claimed (its log
    // says so) and still holds once cut (its result did not get through before the cut).
    let cut = spawn_logged_worker(&cut_config, "cut");
    let mut held: Vec<UnitRow> = Vec::new();
    for _ in 0..20 {
        // Cut once the worker has the claim's answer (its log says so) and is running the unit.
        wait_for(
            "the cut worker runs a unit",
            || {
                let running = claimed_in_log(&cut_config, "cut");
                units(&env, R121).iter().any(|u| {
                    u.status == UnitStatus::Claimed
                        && u.worker.as_deref() == Some("cut")
                        && running.contains(&u.unit)
                })
            },
            &mut coordinator,
        );
        proxy.cut();
        std::thread::sleep(Duration::from_millis(300));
        let running = claimed_in_log(&cut_config, "cut");
        held = units(&env, R121)
            .into_iter()
            .filter(|u| u.status == UnitStatus::Claimed && u.worker.as_deref() == Some("cut"))
            .filter(|u| running.contains(&u.unit))
            .collect();
        if !held.is_empty() {
            break;
        }
        // The unit's result got through before the cut: let it work on and cut again.
        proxy.restore();
    }
    assert!(
        !held.is_empty(),
        "the cut never caught the worker holding a unit"
    );

    // Another worker, on the real network, takes the unit over once its lease ends.
    let free = spawn_worker(&env.config_path, "free", true);
    wait_for(
        "the other worker redoes the cut worker's unit",
        || {
            let now = units(&env, R121);
            held.iter().all(|h| {
                now.iter()
                    .any(|u| u.stage == h.stage && u.unit == h.unit && u.status == UnitStatus::Done)
            })
        },
        &mut coordinator,
    );
    proxy.restore();

    assert_coordinator_succeeds(coordinator, &env.config_path);
    let cut_report = worker_report(cut);
    let free_report = worker_report(free);
    let queued = units(&env, R121);
    assert_each_unit_done(&queued);
    for h in &held {
        let redone = queued
            .iter()
            .find(|u| u.stage == h.stage && u.unit == h.unit)
            .unwrap();
        assert!(redone.attempts >= 2, "{redone:?}");
        assert_eq!(redone.worker.as_deref(), Some("free"), "{redone:?}");
    }
    assert!(
        cut_report["refused"].as_u64().unwrap() >= held.len() as u64,
        "the cut worker's late result was accepted: {cut_report}"
    );
    let finished =
        cut_report["finished"].as_u64().unwrap() + free_report["finished"].as_u64().unwrap();
    assert_eq!(
        finished,
        queued.len() as u64,
        "a unit's result was accepted twice or never: {cut_report} {free_report}"
    );
    assert_verifies(&env, R121);
}
