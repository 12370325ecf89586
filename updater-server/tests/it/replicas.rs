//! Two and three `updater-server serve` processes on one PostgreSQL database: changes reach every
//! replica within a second, concurrent writers on different replicas conflict exactly as on one
//! node, a scheduled change is enacted once, and a replica started later converges.

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::cluster::*;
use crate::util::*;

const WITHIN: Duration = Duration::from_secs(1);

/// Changes the seeded rule's priority through `replica`, based on `data_version`; returns the
/// response status and the new version.
fn bump(replica: &Replica, rule_id: i64, data_version: i64, priority: i64) -> (u16, i64) {
    let resp = replica.api(
        "PUT",
        &format!("/rules/{rule_id}"),
        Some(json!({"priority": priority, "data_version": data_version})),
    );
    (
        resp.status,
        resp.json()["data_version"].as_i64().unwrap_or(-1),
    )
}

/// Twenty changes through rotating replicas of three: the writing replica answers with its own
/// change at once (it never serves older than its own write) and the other two within 1 s. The
/// replicas poll the change version only every 60 s, so only `LISTEN`/`NOTIFY` can meet the
/// bound: a broken notification path fails this test.
#[test]
fn a_change_reaches_every_replica_within_a_second() {
    run(Backend::Postgres, || {
        let cluster = Cluster::new();
        let slow_poll = "snapshot_poll_ms = 60000";
        let replicas = [
            cluster.replica_with(slow_poll),
            cluster.replica_with(slow_poll),
            cluster.replica_with(slow_poll),
        ];
        let mut version = cluster.stored_rule_version();
        let mut latencies = Vec::new();
        for round in 0..20 {
            let writer = &replicas[round % 3];
            let (status, new) = bump(writer, cluster.rule_id, version, 100 + round as i64);
            assert_eq!(status, 200);
            assert_eq!(new, version + 1);
            version = new;
            assert_eq!(
                writer.rule_version(),
                version,
                "read-your-writes on the writer"
            );
            for (i, other) in replicas.iter().enumerate() {
                if i != round % 3 {
                    latencies.push(other.wait_for_rule_version(version, WITHIN));
                }
            }
        }
        assert_eq!(latencies.len(), 40);
        latencies.sort();
        println!(
            "change-to-visible across replicas: p50 {:?}, p99 {:?}, max {:?} ({} samples)",
            latencies[latencies.len() / 2],
            latencies[latencies.len() * 99 / 100],
            latencies[latencies.len() - 1],
            latencies.len()
        );
    });
}

/// Six writers spread over three replicas race on one rule with the same `data_version`, for
/// five rounds: each round exactly one 200 and five 409, and every replica converges on the
/// winner's change.
#[test]
fn six_concurrent_writers_over_three_replicas_one_wins() {
    run(Backend::Postgres, || {
        let cluster = Cluster::new();
        let replicas: Arc<Vec<Replica>> = Arc::new(vec![
            cluster.replica(),
            cluster.replica(),
            cluster.replica(),
        ]);
        let rule_id = cluster.rule_id;
        for round in 0..5i64 {
            let version = cluster.stored_rule_version();
            let barrier = Arc::new(Barrier::new(6));
            let handles: Vec<_> = (0..6usize)
                .map(|i| {
                    let replicas = Arc::clone(&replicas);
                    let barrier = Arc::clone(&barrier);
                    std::thread::spawn(move || {
                        barrier.wait();
                        let priority = 1000 * (round + 1) + i as i64;
                        let (status, _) = bump(&replicas[i % 3], rule_id, version, priority);
                        (status, priority)
                    })
                })
                .collect();
            let results: Vec<(u16, i64)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
            let won: Vec<_> = results.iter().filter(|(s, _)| *s == 200).collect();
            let lost = results.iter().filter(|(s, _)| *s == 409).count();
            assert_eq!(won.len(), 1, "round {round}: {results:?}");
            assert_eq!(lost, 5, "round {round}: {results:?}");
            assert_eq!(cluster.stored_rule_version(), version + 1);
            let rule = replicas[0]
                .api("GET", &format!("/rules/{rule_id}"), None)
                .json();
            assert_eq!(
                rule["priority"], won[0].1,
                "the winner's change is the stored one"
            );
            for replica in replicas.iter() {
                replica.wait_for_rule_version(version + 1, WITHIN);
            }
        }
    });
}

/// Three replicas run the scheduled-change task every 50 ms; five changes (on five rules) fall
/// due together. Each is enacted exactly once: every rule moves by exactly one version, history
/// holds exactly one new row per rule, and every change ends `enacted`.
#[test]
fn a_scheduled_change_is_enacted_once_with_three_replicas_racing() {
    run(Backend::Postgres, || {
        let cluster = Cluster::new();
        let replicas = [cluster.replica(), cluster.replica(), cluster.replica()];
        let mut rules = vec![cluster.rule_id];
        for k in 1..5 {
            let resp = replicas[0].api(
                "POST",
                "/rules",
                Some(rule(
                    k,
                    "Firefox-56.0-build1",
                    json!({"channel": format!("beta{k}")}),
                )),
            );
            assert!(resp.status < 300, "{}", resp.body);
            rules.push(resp.json()["rule_id"].as_i64().unwrap());
        }
        let due = updater_server::store::now_ms() + 1500;
        let mut ids = Vec::new();
        for (k, rule_id) in rules.iter().enumerate() {
            let resp = replicas[k % 3].api(
                "POST",
                "/scheduled_changes/rules",
                Some(json!({"change_type": "update", "rule_id": rule_id,
                            "data_version": 1, "priority": 500 + k, "when": due})),
            );
            assert_eq!(resp.status, 201, "{}", resp.body);
            ids.push(resp.json()["sc_id"].as_i64().unwrap());
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let states: Vec<String> = ids
                .iter()
                .map(|id| {
                    let one = replicas[2]
                        .api("GET", &format!("/scheduled_changes/rules/{id}"), None)
                        .json();
                    one["state"].as_str().unwrap_or("").to_owned()
                })
                .collect();
            if states.iter().all(|s| s == "enacted") {
                break;
            }
            assert!(
                !states.iter().any(|s| s == "failed"),
                "a change failed (enacted twice?): {states:?}"
            );
            assert!(Instant::now() < deadline, "not enacted in time: {states:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
        // Give every replica's scheduler more ticks to (wrongly) enact again.
        std::thread::sleep(Duration::from_millis(500));
        for (k, rule_id) in rules.iter().enumerate() {
            let stored = replicas[0]
                .api("GET", &format!("/rules/{rule_id}"), None)
                .json();
            assert_eq!(stored["data_version"], 2, "rule {rule_id}: {stored}");
            assert_eq!(stored["priority"], 500 + k as i64);
            let history = replicas[1]
                .api(
                    "GET",
                    &format!("/history?object_kind=rule&object_key={rule_id}"),
                    None,
                )
                .json();
            assert_eq!(history["count"], 2, "created + enacted once: {history}");
        }
        for id in &ids {
            let sc = replicas[0]
                .api("GET", &format!("/scheduled_changes/rules/{id}"), None)
                .json();
            assert_eq!(sc["state"], "enacted");
        }
        for replica in &replicas {
            replica.wait_for_rule_version(2, WITHIN);
        }
    });
}

/// A replica started after ten changes answers with the latest at once, and follows the next
/// change within 1 s.
#[test]
fn a_replica_started_later_converges() {
    run(Backend::Postgres, || {
        let cluster = Cluster::new();
        let first = cluster.replica();
        let mut version = cluster.stored_rule_version();
        for k in 0..10 {
            let (status, new) = bump(&first, cluster.rule_id, version, 200 + k);
            assert_eq!(status, 200);
            version = new;
        }
        let late = cluster.replica();
        assert_eq!(late.rule_version(), version);
        let (status, new) = bump(&first, cluster.rule_id, version, 999);
        assert_eq!(status, 200);
        late.wait_for_rule_version(new, WITHIN);
        let (status, newer) = bump(&late, cluster.rule_id, new, 998);
        assert_eq!(status, 200);
        first.wait_for_rule_version(newer, WITHIN);
    });
}

/// A change whose notification is lost (written with the change version bumped but no
/// `NOTIFY`, as when a replica's listening session dropped at that moment) still reaches a
/// replica through its periodic version check; a replica that polls only every 60 s does not see
/// it within the same time, which shows the change really was silent.
#[test]
fn the_poll_alone_converges_when_a_notification_is_lost() {
    run(Backend::Postgres, || {
        let cluster = Cluster::new();
        let polling = cluster.replica_with("snapshot_poll_ms = 200");
        let deaf = cluster.replica_with("snapshot_poll_ms = 60000");
        let version = cluster.stored_rule_version();
        assert_eq!(polling.rule_version(), version);
        assert_eq!(deaf.rule_version(), version);
        let mut db = postgres::Client::connect(&cluster.url, postgres::NoTls).unwrap();
        db.batch_execute(&format!(
            "UPDATE rules SET data_version = data_version + 1 WHERE rule_id = {};
             UPDATE kiln_state SET version = version + 1 WHERE id = 1;",
            cluster.rule_id
        ))
        .unwrap();
        let took = polling.wait_for_rule_version(version + 1, Duration::from_secs(3));
        println!("converged by polling alone in {took:?}");
        std::thread::sleep(Duration::from_millis(1500));
        assert_eq!(
            deaf.rule_version(),
            version,
            "the change was announced after all: this test would pass with polling broken"
        );
    });
}
