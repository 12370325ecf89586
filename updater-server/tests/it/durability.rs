use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use updater_server::commands;

use crate::util::*;

fn call(base: &str, method: &str, path: &str, token: &str, body: serde_json::Value) -> Option<u16> {
    let agent = agent();
    let url = format!("{base}/api/v1{path}");
    let auth = format!("Bearer {token}");
    let result = match method {
        "POST" => agent
            .post(&url)
            .header("Authorization", &auth)
            .header("Content-Type", "application/json")
            .send(body.to_string()),
        _ => agent
            .put(&url)
            .header("Authorization", &auth)
            .header("Content-Type", "application/json")
            .send(body.to_string()),
    };
    result.ok().map(|r| r.status().as_u16())
}

fn rule_ids(base: &str, token: &str) -> Vec<i64> {
    let mut resp = agent()
        .get(format!("{base}/api/v1/rules"))
        .header("Authorization", format!("Bearer {token}"))
        .call()
        .unwrap();
    let body: serde_json::Value =
        serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap();
    body["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["rule_id"].as_i64().unwrap())
        .collect()
}

/// What this proves, and what it does not.
///
/// SIGKILL ends the process without any chance to flush or checkpoint, but the kernel keeps its
/// page cache: reopening the same files after the kill shows that every acknowledged write had
/// been handed to the kernel (committed to SQLite's WAL) before its 2xx left the server. It does
/// not show that the write reached the disk; that is `synchronous=FULL`'s fsync, which only a
/// power cut or a VM snapshot could test, and this test does not claim it.
///
/// The copy half: right after the kill, `kiln.db` and `kiln.db-wal` are copied into a fresh
/// directory *without* `kiln.db-shm`, the dead process's shared-memory index. Opening the copy
/// makes SQLite rebuild the index from the WAL's own frames and checksums, the same recovery it
/// runs after a crash, so the acknowledged rules must be found in the bytes of the files, not in
/// any state the killed process or a live connection left behind.
#[test]
fn restart_keeps_everything_and_sigkill_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let db = updater_server::config::Database::Sqlite(dir.path().join("kiln.db"));
    commands::add_user(&db, "admin", true, &[]).unwrap();
    let token = commands::create_token(&db, "admin").unwrap();
    let mut server = Binary::spawn(dir.path());
    let release = json!({"blob": firefox_54(), "product": "Firefox"});
    assert_eq!(
        call(
            &server.base,
            "PUT",
            "/releases/Firefox-54.0.1-build1",
            &token,
            release
        ),
        Some(201)
    );
    assert_eq!(
        call(
            &server.base,
            "POST",
            "/emergency_shutoffs",
            &token,
            json!({"product": "Firefox", "channel": "nightly"})
        ),
        Some(201)
    );

    // Stream rule inserts from two writers, then SIGKILL the server mid-stream.
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let (base, token, acked, stop) = (
                server.base.clone(),
                token.clone(),
                Arc::clone(&acknowledged),
                Arc::clone(&stop),
            );
            std::thread::spawn(move || {
                let mut id = 1000 * (w + 1);
                while !stop.load(Ordering::Relaxed) {
                    let body = rule(
                        id,
                        "Firefox-54.0.1-build1",
                        json!({"rule_id": id, "channel": "release"}),
                    );
                    match call(&base, "POST", "/rules", &token, body) {
                        Some(201) => acked.lock().unwrap().push(id),
                        Some(status) => panic!("unexpected status {status}"),
                        None => break,
                    }
                    id += 1;
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    while acknowledged.lock().unwrap().len() < 60 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    let acked = acknowledged.lock().unwrap().clone();
    assert!(
        acked.len() >= 60,
        "only {} writes acknowledged",
        acked.len()
    );

    // The copy, taken at the kill, without the -shm index.
    let copy = tempfile::tempdir().unwrap();
    for name in ["kiln.db", "kiln.db-wal"] {
        let from = dir.path().join(name);
        if from.exists() {
            std::fs::copy(&from, copy.path().join(name)).unwrap();
        }
    }
    assert!(!copy.path().join("kiln.db-shm").exists());
    let mut recovered = Binary::spawn(copy.path());
    let stored = rule_ids(&recovered.base, &token);
    let missing: Vec<_> = acked.iter().filter(|id| !stored.contains(id)).collect();
    assert!(missing.is_empty(), "lost in the copy: {missing:?}");
    recovered.child.kill().unwrap();
    recovered.child.wait().unwrap();

    let mut restarted = Binary::spawn(dir.path());
    let stored = rule_ids(&restarted.base, &token);
    let missing: Vec<_> = acked.iter().filter(|id| !stored.contains(id)).collect();
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    // Everything else survived too, and the client endpoint serves from the reloaded snapshot.
    let agent = agent();
    let mut resp = agent
        .get(format!(
            "{}/update/6/Firefox/50.0/1/WINNT_x86-msvc/en-US/release/{Q6}",
            restarted.base
        ))
        .call()
        .unwrap();
    assert!(resp
        .body_mut()
        .read_to_string()
        .unwrap()
        .contains("appVersion=\"54.0.1\""));
    let mut shut = agent
        .get(format!(
            "{}/update/6/Firefox/50.0/1/WINNT_x86-msvc/en-US/nightly/{Q6}",
            restarted.base
        ))
        .call()
        .unwrap();
    assert_eq!(shut.body_mut().read_to_string().unwrap(), EMPTY);
    restarted.child.kill().unwrap();
    restarted.child.wait().unwrap();
}
