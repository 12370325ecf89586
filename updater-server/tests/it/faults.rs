//! Fault injection on real replicas over a real PostgreSQL: connections killed with
//! `pg_terminate_backend`, a replica SIGKILLed mid-write, network delay and a cut through a proxy
//! the test controls. Throughout, `/update/` answers from the last snapshot with zero 5xx; every
//! acknowledged write is present afterwards, and nothing is half-applied (a rule's history holds
//! exactly one row per `data_version`, so no change landed without its history row or the reverse).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::cluster::*;
use crate::util::*;

/// A write the server acknowledged with 200: the priority it set and the version it got.
#[derive(Debug, Clone, Copy)]
struct Acked {
    priority: i64,
    version: i64,
}

/// What a writer saw.
#[derive(Debug, Default)]
struct Writes {
    acked: Vec<Acked>,
    unavailable: u64,
    died: bool,
}

/// Sets the rule's priority to each of `priorities` in turn through `replica`, re-reading the
/// version before each try; a 503 or 409 is retried, a replica that answers nothing ends it.
fn write_all(
    replica: &Replica,
    rule_id: i64,
    priorities: std::ops::Range<i64>,
    stop: &AtomicBool,
) -> Writes {
    let mut out = Writes::default();
    let path = format!("/rules/{rule_id}");
    for priority in priorities {
        loop {
            if stop.load(Ordering::Relaxed) {
                return out;
            }
            let Some(current) = replica.try_api("GET", &path, None) else {
                out.died = true;
                return out;
            };
            if current.status != 200 {
                assert_eq!(current.status, 503, "{}", current.body);
                out.unavailable += 1;
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            let version = current.json()["data_version"].as_i64().unwrap();
            let body = json!({"priority": priority, "data_version": version});
            let Some(resp) = replica.try_api("PUT", &path, Some(body)) else {
                out.died = true;
                return out;
            };
            match resp.status {
                200 => {
                    out.acked.push(Acked {
                        priority,
                        version: resp.json()["data_version"].as_i64().unwrap(),
                    });
                    break;
                }
                409 => {}
                503 => {
                    out.unavailable += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
                other => panic!("unexpected {other}: {}", resp.body),
            }
        }
    }
    out
}

/// Every acknowledged write is in the rule's history with the version it was acknowledged with,
/// and the history holds exactly one row per version 1..=current (nothing half-applied).
fn assert_all_present(replica: &Replica, rule_id: i64, acked: &[Acked]) {
    let stored = replica
        .api("GET", &format!("/rules/{rule_id}"), None)
        .json();
    let current = stored["data_version"].as_i64().unwrap();
    let history = replica
        .api(
            "GET",
            &format!("/history?object_kind=rule&object_key={rule_id}&limit=10000"),
            None,
        )
        .json();
    let mut by_version: BTreeMap<i64, i64> = BTreeMap::new();
    for row in history["history"].as_array().unwrap() {
        let version = row["data_version"].as_i64().unwrap();
        let priority = row["row"]["priority"].as_i64().unwrap();
        assert!(
            by_version.insert(version, priority).is_none(),
            "two history rows for version {version}"
        );
    }
    assert_eq!(
        by_version.keys().copied().collect::<Vec<_>>(),
        (1..=current).collect::<Vec<_>>(),
        "history must hold exactly one row per version"
    );
    for a in acked {
        assert_eq!(
            by_version.get(&a.version),
            Some(&a.priority),
            "acknowledged write {a:?} lost"
        );
    }
}

/// Terminates every session on the cluster's database but its own; returns how many.
fn terminate_backends(admin: &mut postgres::Client, dbname: &str) -> i64 {
    admin
        .query_one(
            "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&dbname],
        )
        .unwrap()
        .get(0)
}

fn dbname(url: &str) -> String {
    url.rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned()
}

/// Two replicas take writes while every database session is killed every 100 ms for the length
/// of 30 writes.
#[test]
fn killed_connections_lose_no_acknowledged_write() {
    run(Backend::Postgres, || {
        let cluster = Cluster::new();
        let replicas = Arc::new([cluster.replica(), cluster.replica()]);
        let load = Load::start(&replicas.iter().map(|r| r.base.clone()).collect::<Vec<_>>());
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..2usize)
            .map(|i| {
                let (replicas, stop) = (Arc::clone(&replicas), Arc::clone(&stop));
                let rule_id = cluster.rule_id;
                let from = 10_000 * (i as i64 + 1);
                std::thread::spawn(move || write_all(&replicas[i], rule_id, from..from + 15, &stop))
            })
            .collect();
        let mut admin = postgres::Client::connect(&postgres_url(), postgres::NoTls).unwrap();
        let name = dbname(&cluster.url);
        let mut terminated = 0;
        while !writers.iter().all(|w| w.is_finished()) {
            terminated += terminate_backends(&mut admin, &name);
            std::thread::sleep(Duration::from_millis(100));
        }
        let writes: Vec<Writes> = writers.into_iter().map(|w| w.join().unwrap()).collect();
        let (answered, server_errors, transport) = load.finish();
        assert!(terminated > 0, "no session was terminated");
        assert_eq!(server_errors, 0, "/update/ answered 5xx");
        assert_eq!(transport, 0, "/update/ did not answer");
        assert!(answered > 0);
        let acked: Vec<Acked> = writes.iter().flat_map(|w| w.acked.clone()).collect();
        assert_eq!(acked.len(), 30, "every write is acknowledged in the end");
        println!(
            "terminated {terminated} sessions; {answered} /update/ answers, 0 5xx; {} writes \
             answered 503 and were retried",
            writes.iter().map(|w| w.unavailable).sum::<u64>()
        );
        assert_all_present(&replicas[0], cluster.rule_id, &acked);
        let current = cluster.stored_rule_version();
        for replica in replicas.iter() {
            replica.wait_for_rule_version(current, Duration::from_secs(3));
        }
    });
}

/// Two writers hammer replica A; A is SIGKILLed mid-write. B and C go on answering `/update/`
/// with zero 5xx, hold every write A acknowledged, and take writes themselves (A's lock died
/// with its session).
#[test]
fn a_replica_sigkilled_mid_write_loses_nothing_acknowledged() {
    run(Backend::Postgres, || {
        let cluster = Cluster::new();
        let a = Arc::new(cluster.replica());
        let (b, c) = (cluster.replica(), cluster.replica());
        let load = Load::start(&[b.base.clone(), c.base.clone()]);
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..2i64)
            .map(|i| {
                let (a, stop) = (Arc::clone(&a), Arc::clone(&stop));
                let rule_id = cluster.rule_id;
                std::thread::spawn(move || {
                    write_all(
                        &a,
                        rule_id,
                        100_000 * (i + 1)..100_000 * (i + 1) + 10_000,
                        &stop,
                    )
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(1500));
        // The writers never pause, so the kill lands on a replica with writes in flight. The
        // writers share A, so it is killed by pid.
        let killed_at = Instant::now();
        let status = std::process::Command::new("kill")
            .args(["-9", &a.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let writes: Vec<Writes> = writers.into_iter().map(|w| w.join().unwrap()).collect();
        stop.store(true, Ordering::Relaxed);
        assert!(
            writes.iter().all(|w| w.died),
            "the writers saw the replica die"
        );
        let acked: Vec<Acked> = writes.iter().flat_map(|w| w.acked.clone()).collect();
        assert!(
            acked.len() >= 2,
            "writes were acknowledged before the kill: {}",
            acked.len()
        );
        // B takes a write at once: the killed session's lock went with it.
        let current = cluster.stored_rule_version();
        let resp = b.api(
            "PUT",
            &format!("/rules/{}", cluster.rule_id),
            Some(json!({"priority": 7, "data_version": current})),
        );
        assert_eq!(resp.status, 200, "{}", resp.body);
        assert!(killed_at.elapsed() < Duration::from_secs(10));
        c.wait_for_rule_version(current + 1, Duration::from_secs(1));
        let (answered, server_errors, transport) = load.finish();
        assert_eq!(server_errors, 0, "/update/ answered 5xx");
        assert_eq!(transport, 0, "/update/ did not answer");
        assert!(answered > 0);
        println!(
            "{} writes acknowledged before the kill; {answered} /update/ answers, 0 5xx",
            acked.len()
        );
        assert_all_present(&b, cluster.rule_id, &acked);
    });
}

/// Replica P reaches the database through a proxy, D directly. With 100 ms of delay P is slow
/// but correct; with the network cut P answers `/update/` from its snapshot, reports itself
/// degraded, refuses writes with 503 and keeps the update report it accepted, while D goes on;
/// restored, P catches up within a second of reconnecting and stores the report.
#[test]
fn network_delay_and_cut_through_a_proxy() {
    run(Backend::Postgres, || {
        let cluster = Cluster::new();
        let proxy = Proxy::start(host_port(&cluster.url));
        let p = cluster.replica_via(&via_port(&cluster.url, proxy.port));
        let d = cluster.replica();
        let load = Load::start(&[p.base.clone(), d.base.clone()]);
        let rule_path = format!("/rules/{}", cluster.rule_id);
        let put = |r: &Replica, priority: i64| {
            let version = cluster.stored_rule_version();
            r.api(
                "PUT",
                &rule_path,
                Some(json!({"priority": priority, "data_version": version})),
            )
        };

        proxy.set(Mode::Delay(100));
        let started = Instant::now();
        let slow = put(&p, 1);
        assert_eq!(slow.status, 200, "{}", slow.body);
        assert!(
            started.elapsed() >= Duration::from_millis(200),
            "the delay applied"
        );
        let before_cut = cluster.stored_rule_version();
        let change_version = cluster.stored_change_version();
        d.wait_for_rule_version(before_cut, Duration::from_secs(1));

        proxy.set(Mode::Cut);
        let heartbeat = p.get("/__heartbeat__");
        assert_eq!(heartbeat.status, 503, "{}", heartbeat.body);
        assert_eq!(heartbeat.json()["status"], "degraded");
        assert_eq!(
            heartbeat.json()["snapshot_version"].as_i64(),
            Some(change_version),
            "P's snapshot is at the last change it made"
        );
        let refused = put(&p, 2);
        assert_eq!(refused.status, 503, "{}", refused.body);
        assert_eq!(p.rule_version(), before_cut, "P serves its last snapshot");
        let report = json!({"product": "Firefox", "channel": "release",
            "build_target": "WINNT_x86-msvc", "locale": "en-US", "from_version": "54.0.1",
            "from_build_id": "20170628075643", "to_version": "56.0",
            "to_build_id": "20170918210324", "patch_type": "partial", "result": "success"});
        let accepted = p.api("POST", "/reports", Some(report));
        assert_eq!(
            accepted.status, 202,
            "a report is accepted while the database is cut"
        );
        let direct = put(&d, 3);
        assert_eq!(direct.status, 200, "{}", direct.body);
        let after = cluster.stored_rule_version();
        assert_eq!(after, before_cut + 1, "the refused write changed nothing");
        std::thread::sleep(Duration::from_millis(1000));
        assert_eq!(
            p.rule_version(),
            before_cut,
            "P cannot know of D's write yet"
        );

        proxy.set(Mode::Pass);
        let restored = Instant::now();
        p.wait_for_rule_version(after, Duration::from_secs(3));
        let caught_up = restored.elapsed();
        let deadline = Instant::now() + Duration::from_secs(5);
        while p.get("/__heartbeat__").status != 200 {
            assert!(Instant::now() < deadline, "P did not recover");
            std::thread::sleep(Duration::from_millis(50));
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let rollout = d.api("GET", "/rollouts/Firefox-56.0-build1", None).json();
            if rollout["reports"]["total"] == 1 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the report accepted during the cut was lost: {rollout}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let again = put(&p, 4);
        assert_eq!(again.status, 200, "{}", again.body);
        let (answered, server_errors, transport) = load.finish();
        assert_eq!(server_errors, 0, "/update/ answered 5xx");
        assert_eq!(transport, 0, "/update/ did not answer");
        println!("P caught up {caught_up:?} after the network came back; {answered} /update/ answers, 0 5xx");
        let acked = [
            Acked {
                priority: 1,
                version: before_cut,
            },
            Acked {
                priority: 3,
                version: after,
            },
            Acked {
                priority: 4,
                version: after + 1,
            },
        ];
        assert_all_present(&d, cluster.rule_id, &acked);
    });
}

/// Stops or starts the test server through `KILN_TEST_POSTGRES_CTL` (`scripts/test-postgres.sh`,
/// which `scripts/test.sh` exports with the cluster it starts).
fn server_ctl(action: &str) {
    let ctl = std::env::var("KILN_TEST_POSTGRES_CTL").unwrap_or_else(|_| {
        panic!(
            "KILN_TEST_POSTGRES_CTL is not set: the stop/start test needs to stop the test \
             PostgreSQL server. Run scripts/test.sh, or point it at a script taking pause|resume"
        )
    });
    let status = std::process::Command::new("bash")
        .arg(&ctl)
        .arg(action)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "{ctl} {action} failed");
}

/// PostgreSQL itself stops for two seconds under two replicas. Both answer `/update/` from their
/// snapshots (zero 5xx), report themselves degraded and refuse writes with 503; after the
/// restart both recover, take writes again, and every acknowledged write is there.
#[test]
fn postgres_stopped_and_started() {
    run_alone(|| {
        let cluster = Cluster::new();
        let (a, b) = (cluster.replica(), cluster.replica());
        let load = Load::start(&[a.base.clone(), b.base.clone()]);
        let rule_path = format!("/rules/{}", cluster.rule_id);
        let version = cluster.stored_rule_version();
        let first = a.api(
            "PUT",
            &rule_path,
            Some(json!({"priority": 1, "data_version": version})),
        );
        assert_eq!(first.status, 200, "{}", first.body);
        b.wait_for_rule_version(version + 1, Duration::from_secs(1));

        server_ctl("pause");
        let stopped = Instant::now();
        for r in [&a, &b] {
            let heartbeat = r.get("/__heartbeat__");
            assert_eq!(heartbeat.status, 503, "{}", heartbeat.body);
            assert_eq!(heartbeat.json()["status"], "degraded");
            let refused = r.api(
                "PUT",
                &rule_path,
                Some(json!({"priority": 2, "data_version": version + 1})),
            );
            assert_eq!(refused.status, 503, "{}", refused.body);
            assert_eq!(r.rule_version(), version + 1);
        }
        if let Some(rest) = Duration::from_secs(2).checked_sub(stopped.elapsed()) {
            std::thread::sleep(rest);
        }
        server_ctl("resume");
        let down = stopped.elapsed();

        let deadline = Instant::now() + Duration::from_secs(10);
        for r in [&a, &b] {
            while r.get("/__heartbeat__").status != 200 {
                assert!(Instant::now() < deadline, "{} did not recover", r.base);
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let second = b.api(
            "PUT",
            &rule_path,
            Some(json!({"priority": 3, "data_version": version + 1})),
        );
        assert_eq!(second.status, 200, "{}", second.body);
        a.wait_for_rule_version(version + 2, Duration::from_secs(2));
        let (answered, server_errors, transport) = load.finish();
        assert_eq!(server_errors, 0, "/update/ answered 5xx");
        assert_eq!(transport, 0, "/update/ did not answer");
        println!("PostgreSQL down for {down:?}; {answered} /update/ answers, 0 5xx");
        assert_all_present(
            &a,
            cluster.rule_id,
            &[
                Acked {
                    priority: 1,
                    version: version + 1,
                },
                Acked {
                    priority: 3,
                    version: version + 2,
                },
            ],
        );
    });
}
