use std::sync::{Arc, Barrier};
use std::time::Duration;

use serde_json::{json, Value};

use crate::util::*;

fn base() -> Server {
    let srv = Server::start();
    srv.put_release(firefox_54());
    srv.put_release(firefox_56());
    srv
}

both_backends! {
#[test]
fn unauthenticated_and_unauthorized() {
    let srv = base();
    let rule_body = rule(1, "Firefox-56.0-build1", json!({}));
    for (method, path, body) in [
        ("GET", "/rules", None),
        ("POST", "/rules", Some(rule_body.clone())),
        ("GET", "/releases/Firefox-56.0-build1", None),
        ("PUT", "/releases/x", Some(json!({"blob": {}}))),
        (
            "POST",
            "/emergency_shutoffs",
            Some(json!({"product": "Firefox", "channel": "release"})),
        ),
    ] {
        assert_eq!(
            srv.api(method, path, None, body.clone()).status,
            401,
            "{method} {path} without token"
        );
        assert_eq!(
            srv.api(method, path, Some("kiln_bogus"), body).status,
            401,
            "{method} {path} bad token"
        );
    }
    let nobody = srv.user("nobody", &[], &[]);
    assert_eq!(
        srv.api("GET", "/rules", Some(&nobody), None).status,
        200,
        "any user may read"
    );
    assert_eq!(
        srv.api("POST", "/rules", Some(&nobody), Some(rule_body.clone()))
            .status,
        403
    );
    let fx = srv.user(
        "fx",
        &[(
            "rule",
            json!({"actions": ["create"], "products": ["Firefox"]}),
        )],
        &[],
    );
    assert_eq!(
        srv.api("POST", "/rules", Some(&fx), Some(rule_body.clone()))
            .status,
        201
    );
    let mut tb = rule_body.clone();
    tb["product"] = json!("Thunderbird");
    assert_eq!(srv.api("POST", "/rules", Some(&fx), Some(tb)).status, 403);
    let mut any = rule_body.clone();
    any.as_object_mut().unwrap().remove("product");
    assert_eq!(
        srv.api("POST", "/rules", Some(&fx), Some(any)).status,
        403,
        "product-restricted users cannot write product-less rules"
    );
    assert_eq!(
        srv.api(
            "PUT",
            "/rules/1",
            Some(&fx),
            Some(json!({"priority": 5, "data_version": 1}))
        )
        .status,
        403
    );
    assert_eq!(
        srv.api("DELETE", "/rules/1?data_version=1", Some(&fx), None)
            .status,
        403
    );
    let shut = srv.api(
        "POST",
        "/emergency_shutoffs",
        Some(&fx),
        Some(json!({"product": "Firefox", "channel": "release"})),
    );
    assert_eq!(shut.status, 403);
    assert!(shut.json()["error"]
        .as_str()
        .unwrap()
        .contains("emergency_shutoff"));
    assert_eq!(
        srv.api(
            "PUT",
            "/users/fx/permissions/admin",
            Some(&fx),
            Some(json!({}))
        )
        .status,
        403
    );
}
}

both_backends! {
#[test]
fn bad_input_is_400_with_a_reason() {
    let srv = base();
    let token = srv.admin_token.clone();
    let garbage = {
        let agent = agent();
        let mut resp = agent
            .post(format!("{}/api/v1/rules", srv.base))
            .header("Authorization", format!("Bearer {token}"))
            .header("Content-Type", "application/json")
            .send("{not json")
            .unwrap();
        (
            resp.status().as_u16(),
            resp.body_mut().read_to_string().unwrap(),
        )
    };
    assert_eq!(garbage.0, 400);
    assert!(garbage.1.contains("malformed JSON"), "{}", garbage.1);
    let cases: Vec<(&str, &str, Value, &str)> = vec![
        (
            "POST",
            "/rules",
            json!({"priority": 1, "backgroundRate": 100, "update_type": "minor", "colour": "red"}),
            "unknown rule column",
        ),
        (
            "POST",
            "/rules",
            json!({"priority": 1, "backgroundRate": 100}),
            "update_type",
        ),
        (
            "POST",
            "/rules",
            rule(1, "No-Such-Release", json!({})),
            "does not exist",
        ),
        (
            "POST",
            "/rules",
            rule(1, "Firefox-56.0-build1", json!({"version": "=>1"})),
            "invalid rule",
        ),
        (
            "PUT",
            "/releases/R",
            json!({"blob": {"name": "R", "schema_version": 6}, "product": "Firefox"}),
            "hashFunction",
        ),
        (
            "PUT",
            "/releases/R",
            json!({"blob": {"name": "Other", "schema_version": 6, "hashFunction": "sha512"}, "product": "Firefox"}),
            "does not match",
        ),
        (
            "PUT",
            "/releases/R",
            json!({"blob": {"name": "R", "schema_version": 6, "hashFunction": "sha512",
            "fileUrls": {"*": {"completes": {"*": "http://evil.example.com/x.mar"}}}}, "product": "Firefox"}),
            "allowlisted",
        ),
        (
            "PUT",
            "/releases/R",
            json!({"blob": {"name": "R", "schema_version": 7, "hashFunction": "sha512"}, "product": "Firefox"}),
            "unsupported schema_version",
        ),
    ];
    for (method, path, body, reason) in cases {
        let resp = srv.api(method, path, Some(&token), Some(body));
        assert_eq!(resp.status, 400, "{method} {path}: {}", resp.body);
        assert!(
            resp.json()["error"].as_str().unwrap_or("").contains(reason),
            "{} should mention {reason}",
            resp.body
        );
    }
}
}

both_backends! {
#[test]
fn concurrent_writers_exactly_one_wins() {
    let srv = Arc::new(base());
    let id = srv.add_rule(rule(1, "Firefox-56.0-build1", json!({})));
    let writers = 6;
    let barrier = Arc::new(Barrier::new(writers));
    let handles: Vec<_> = (0..writers)
        .map(|i| {
            let (srv, barrier) = (Arc::clone(&srv), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                let body = json!({"priority": 10 + i, "data_version": 1});
                let resp = srv.api(
                    "PUT",
                    &format!("/rules/{id}"),
                    Some(&srv.admin_token),
                    Some(body),
                );
                (resp.status, resp.json())
            })
        })
        .collect();
    let results: Vec<(u16, Value)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let wins: Vec<_> = results.iter().filter(|(s, _)| *s == 200).collect();
    let conflicts: Vec<_> = results.iter().filter(|(s, _)| *s == 409).collect();
    assert_eq!(
        (wins.len(), conflicts.len()),
        (1, writers - 1),
        "{results:?}"
    );
    assert!(conflicts.iter().all(|(_, body)| body["data_version"] == 2));
    let stored = srv.admin("GET", &format!("/rules/{id}"), None);
    assert_eq!(stored["data_version"], 2);
    // The winner's write is the one stored: nothing was lost or overwritten.
    let revisions = srv.admin("GET", &format!("/rules/{id}/revisions"), None);
    assert_eq!(revisions["count"], 2);
    assert_eq!(
        revisions["revisions"][0]["row"]["priority"],
        stored["priority"]
    );
    // A stale delete is refused too, and a missing data_version is a conflict.
    assert_eq!(
        srv.api(
            "DELETE",
            &format!("/rules/{id}?data_version=1"),
            Some(&srv.admin_token),
            None
        )
        .status,
        409
    );
    assert_eq!(
        srv.api(
            "DELETE",
            &format!("/rules/{id}"),
            Some(&srv.admin_token),
            None
        )
        .status,
        409
    );
    srv.admin("DELETE", &format!("/rules/{id}?data_version=2"), None);
    assert_eq!(
        srv.api("GET", &format!("/rules/{id}"), Some(&srv.admin_token), None)
            .status,
        404
    );
}
}

both_backends! {
/// Writers race on one rule with the same `data_version` through two servers, each with two
/// HTTP workers and its own SQLite connection to the same file (so neither the in-process write
/// mutex nor a single worker can serialise them: only the check inside SQLite's write
/// transaction can). Every round: exactly one 200, the rest 409 with the new version, and the
/// history holds exactly the winner's row.
#[test]
fn concurrent_writers_two_connections_four_workers() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.workers = Some(2);
    updater_server::commands::add_user(&config.database, ADMIN, true, &[]).unwrap();
    let token = updater_server::commands::create_token(&config.database, ADMIN).unwrap();
    let first = Arc::new(updater_server::AppState::open(config.clone()).unwrap());
    let second = Arc::new(updater_server::AppState::open(config).unwrap());
    let a = Arc::new(Server::serve(dir, first, token.clone()));
    let b = Arc::new(Server::serve(tempfile::tempdir().unwrap(), second, token));
    a.put_release(firefox_54());
    let id = a.add_rule(rule(1, "Firefox-54.0.1-build1", json!({})));
    let threads_per_server = 4;
    let rounds = 5;
    for round in 1..=rounds {
        let barrier = Arc::new(Barrier::new(2 * threads_per_server));
        let handles: Vec<_> = (0..2 * threads_per_server)
            .map(|i| {
                let srv = Arc::clone(if i % 2 == 0 { &a } else { &b });
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    let priority = 1000 * round + i64::try_from(i).unwrap();
                    let body = json!({"priority": priority, "data_version": round});
                    barrier.wait();
                    let path = format!("/rules/{id}");
                    let resp = srv.api("PUT", &path, Some(&srv.admin_token), Some(body));
                    (priority, resp.status, resp.json())
                })
            })
            .collect();
        let results: Vec<(i64, u16, Value)> =
            handles.into_iter().map(|h| h.join().unwrap()).collect();
        let wins: Vec<_> = results.iter().filter(|r| r.1 == 200).collect();
        let conflicts = results.iter().filter(|r| r.1 == 409).count();
        assert_eq!(
            (wins.len(), conflicts),
            (1, 2 * threads_per_server - 1),
            "round {round}: {results:?}"
        );
        assert!(results
            .iter()
            .filter(|r| r.1 == 409)
            .all(|r| r.2["data_version"] == round + 1));
        // Both servers read the same committed row: the winner's.
        for srv in [&a, &b] {
            let stored = srv.admin("GET", &format!("/rules/{id}"), None);
            assert_eq!(stored["data_version"], round + 1);
            assert_eq!(stored["priority"], wins[0].0);
        }
    }
    // History is complete: the creation plus one revision per round, newest first, each the
    // row of that round's winner, with consecutive data_versions.
    let revisions = a.admin("GET", &format!("/rules/{id}/revisions"), None);
    assert_eq!(revisions["count"], rounds + 1);
    let list = revisions["revisions"].as_array().unwrap();
    for (i, rev) in list.iter().enumerate() {
        let version = rounds + 1 - i64::try_from(i).unwrap();
        assert_eq!(rev["data_version"], version, "{rev}");
        let priority = rev["row"]["priority"].as_i64().unwrap();
        if version > 1 {
            assert_eq!(priority / 1000, version - 1, "{rev}");
        }
    }
}
}

both_backends! {
#[test]
fn history_and_revert() {
    let srv = base();
    let id = srv.add_rule(rule(
        1,
        "Firefox-56.0-build1",
        json!({"alias": "fx-release", "channel": "release"}),
    ));
    srv.admin(
        "PUT",
        "/rules/fx-release",
        Some(json!({"mapping": "Firefox-54.0.1-build1", "data_version": 1})),
    );
    srv.admin(
        "PUT",
        &format!("/rules/{id}"),
        Some(json!({"channel": "beta", "data_version": 2})),
    );
    let revisions = srv.admin("GET", "/rules/fx-release/revisions", None);
    assert_eq!(revisions["count"], 3);
    let first = &revisions["revisions"][2];
    assert_eq!(first["changed_by"], ADMIN);
    assert_eq!(first["row"]["mapping"], "Firefox-56.0-build1");
    assert!(first["timestamp"].as_i64().unwrap() > 1_600_000_000_000);
    let change_id = first["change_id"].as_i64().unwrap();
    let reverted = srv.admin(
        "POST",
        &format!("/rules/{id}/revisions"),
        Some(json!({"change_id": change_id})),
    );
    assert_eq!(reverted["data_version"], 4);
    let rule_now = srv.admin("GET", &format!("/rules/{id}"), None);
    assert_eq!(
        (rule_now["mapping"].as_str(), rule_now["channel"].as_str()),
        (Some("Firefox-56.0-build1"), Some("release"))
    );
    assert_eq!(
        srv.get(&v6(
            "54.0.1",
            "20170628075643",
            "WINNT_x86-msvc",
            "en-US",
            "release"
        ))
        .body,
        FX56_EN
    );
    // Reverting to a change of another object is refused.
    assert_eq!(
        srv.api(
            "POST",
            &format!("/rules/{id}/revisions"),
            Some(&srv.admin_token),
            Some(json!({"change_id": 1}))
        )
        .status,
        400
    );
    let history = srv.admin("GET", "/history?object_kind=release", None);
    assert_eq!(history["count"], 2);
}
}

both_backends! {
#[test]
fn delete_guards() {
    let srv = base();
    let id = srv.add_rule(rule(
        1,
        "Firefox-56.0-build1",
        json!({"fallbackMapping": "Firefox-54.0.1-build1", "backgroundRate": 50}),
    ));
    let del = |name: &str, dv: i64| {
        srv.api(
            "DELETE",
            &format!("/releases/{name}?data_version={dv}"),
            Some(&srv.admin_token),
            None,
        )
    };
    let mapped = del("Firefox-56.0-build1", 1);
    assert_eq!(mapped.status, 400);
    assert!(mapped.body.contains("mapped by rule"));
    assert_eq!(
        del("Firefox-54.0.1-build1", 1).status,
        400,
        "fallbackMapping counts"
    );
    srv.admin(
        "PUT",
        &format!("/rules/{id}"),
        Some(json!({"fallbackMapping": null, "data_version": 1})),
    );
    srv.admin(
        "PUT",
        "/pinnable_releases/Firefox/release/54.",
        Some(json!({"mapping": "Firefox-54.0.1-build1"})),
    );
    let pinned = del("Firefox-54.0.1-build1", 1);
    assert!(
        pinned.status == 400 && pinned.body.contains("pinnable"),
        "{}",
        pinned.body
    );
    srv.admin("DELETE", "/pinnable_releases/Firefox/release/54.", None);
    srv.admin(
        "PUT",
        "/releases/Firefox-54.0.1-build1/read_only",
        Some(json!({"read_only": true, "data_version": 1})),
    );
    let ro = del("Firefox-54.0.1-build1", 2);
    assert!(
        ro.status == 400 && ro.body.contains("read-only"),
        "{}",
        ro.body
    );
    let modify = srv.api(
        "PUT",
        "/releases/Firefox-54.0.1-build1",
        Some(&srv.admin_token),
        Some(json!({"blob": firefox_54(), "data_version": 2})),
    );
    assert_eq!(modify.status, 400);
    srv.admin(
        "PUT",
        "/releases/Firefox-54.0.1-build1/read_only",
        Some(json!({"read_only": false, "data_version": 2})),
    );
    assert_eq!(del("Firefox-54.0.1-build1", 1).status, 409);
    assert_eq!(del("Firefox-54.0.1-build1", 3).status, 200);
    assert_eq!(
        srv.api(
            "GET",
            "/releases/Firefox-54.0.1-build1",
            Some(&srv.admin_token),
            None
        )
        .status,
        404
    );
}
}

both_backends! {
#[test]
fn build_submission_merges_one_locale() {
    let srv = base();
    let data = json!({"buildID": "20170918210399", "completes": [{"from": "*", "filesize": 5, "hashValue": "fr"}]});
    let resp = srv.admin(
        "PUT",
        "/releases/Firefox-56.0-build1/builds/WINNT_x86-msvc/fr",
        Some(json!({"data": data})),
    );
    assert_eq!(resp["data_version"], 2);
    let release = srv.admin("GET", "/releases/Firefox-56.0-build1", None);
    let locales = &release["blob"]["platforms"]["WINNT_x86-msvc"]["locales"];
    assert!(locales["fr"].is_object() && locales["en-US"].is_object());
    // A new release can be built locale by locale.
    let created = srv.api("PUT", "/releases/Firefox-57.0-build1/builds/WINNT_x86-msvc/en-US", Some(&srv.admin_token),
        Some(json!({"data": {"buildID": "1", "appVersion": "57.0", "completes": []}, "product": "Firefox", "schema_version": 9, "hashFunction": "sha512"})));
    assert_eq!(created.status, 201, "{}", created.body);
    let bad = srv.api(
        "PUT",
        "/releases/Firefox-56.0-build1/builds/WINNT_x86-msvc/it",
        Some(&srv.admin_token),
        Some(json!({"data": {"nonsense": 1}})),
    );
    assert_eq!(bad.status, 400);
    // A bare blob is accepted too; replacing it then takes ?data_version=.
    let bare = srv.api(
        "PUT",
        "/releases/Firefox-60.0-build1",
        Some(&srv.admin_token),
        Some(firefox_60()),
    );
    assert_eq!(bare.status, 201, "{}", bare.body);
    let stale = srv.api(
        "PUT",
        "/releases/Firefox-60.0-build1",
        Some(&srv.admin_token),
        Some(firefox_60()),
    );
    assert_eq!(stale.status, 409);
    let replaced = srv.api(
        "PUT",
        "/releases/Firefox-60.0-build1?data_version=1",
        Some(&srv.admin_token),
        Some(firefox_60()),
    );
    assert_eq!(replaced.status, 200, "{}", replaced.body);
    assert_eq!(
        srv.admin("GET", "/releases/Firefox-60.0-build1", None)["product"],
        "Firefox"
    );
    let list = srv.admin("GET", "/releases?product=Firefox", None);
    assert_eq!(list["releases"].as_array().unwrap().len(), 4);
}
}

both_backends! {
#[test]
fn snapshot_is_visible_right_after_commit_and_never_dangles() {
    let srv = Arc::new(base());
    let id = srv.add_rule(rule(1, "Firefox-56.0-build1", json!({})));
    let path = v6(
        "50.0",
        "20161101000000",
        "WINNT_x86-msvc",
        "en-US",
        "release",
    );
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (srv, stop, path) = (Arc::clone(&srv), Arc::clone(&stop), path.clone());
        std::thread::spawn(move || {
            let mut seen = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let resp = srv.get(&path);
                assert_eq!(resp.status, 200, "{}", resp.body);
                assert!(
                    resp.body.contains("<patch type=\"complete\""),
                    "{}",
                    resp.body
                );
                seen += 1;
            }
            seen
        })
    };
    for (dv, round) in (1..).zip(0..10) {
        let (to, other) = if round % 2 == 0 {
            ("Firefox-54.0.1-build1", "Firefox-56.0-build1")
        } else {
            ("Firefox-56.0-build1", "Firefox-54.0.1-build1")
        };
        srv.admin(
            "PUT",
            &format!("/rules/{id}"),
            Some(json!({"mapping": to, "data_version": dv})),
        );
        let version = if to.contains("54") { "54.0.1" } else { "56.0" };
        assert!(
            srv.get(&path)
                .body
                .contains(&format!("appVersion=\"{version}\"")),
            "round {round}"
        );
        // Delete the release no rule maps any more, then put it back.
        let current = srv.admin("GET", &format!("/releases/{other}"), None);
        let rdv = current["data_version"].as_i64().unwrap();
        srv.admin(
            "DELETE",
            &format!("/releases/{other}?data_version={rdv}"),
            None,
        );
        srv.put_release(if other.contains("54") {
            firefox_54()
        } else {
            firefox_56()
        });
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
}
}

both_backends! {
#[test]
fn signoff_flow_end_to_end() {
    let srv = base();
    let alice = srv.user(
        "alice",
        &[
            ("rule", json!({})),
            ("emergency_shutoff", json!({})),
            ("release", json!({})),
        ],
        &["releng"],
    );
    let bob = srv.user("bob", &[], &["releng"]);
    let carol = srv.user(
        "carol",
        &[("scheduled_change", json!({"actions": ["enact"]}))],
        &["qa"],
    );
    let id = srv.add_rule(rule(
        1,
        "Firefox-54.0.1-build1",
        json!({"channel": "release"}),
    ));
    let too_many = srv.api("POST", "/required_signoffs", Some(&srv.admin_token),
        Some(json!({"product": "Firefox", "channel": "release", "role": "releng", "signoffs_required": 3})));
    assert_eq!(too_many.status, 400, "releng has only 2 members");
    srv.admin("POST", "/required_signoffs", Some(json!({"product": "Firefox", "channel": "release", "role": "releng", "signoffs_required": 2})));

    // Direct changes to covered rules, their releases and shutoffs are refused.
    let direct = srv.api(
        "PUT",
        &format!("/rules/{id}"),
        Some(&alice),
        Some(json!({"mapping": "Firefox-56.0-build1", "data_version": 1})),
    );
    assert_eq!(direct.status, 400);
    assert!(
        direct.json()["error"]
            .as_str()
            .unwrap()
            .contains("scheduled_changes/rules"),
        "{}",
        direct.body
    );
    let glob = srv.api(
        "POST",
        "/rules",
        Some(&alice),
        Some(rule(1, "Firefox-56.0-build1", json!({"channel": "rel*"}))),
    );
    assert_eq!(
        glob.status, 400,
        "a channel glob covering release needs signoff"
    );
    assert_eq!(
        srv.api(
            "PUT",
            "/releases/Firefox-54.0.1-build1",
            Some(&alice),
            Some(json!({"blob": firefox_54(), "data_version": 1}))
        )
        .status,
        400
    );
    assert_eq!(
        srv.api(
            "POST",
            "/rules",
            Some(&alice),
            Some(rule(1, "Firefox-56.0-build1", json!({"channel": "beta"})))
        )
        .status,
        201
    );

    // Schedule, sign off, enact.
    let sc = srv.api("POST", "/scheduled_changes/rules", Some(&alice),
        Some(json!({"change_type": "update", "rule_id": id, "data_version": 1, "mapping": "Firefox-56.0-build1"})));
    assert_eq!(sc.status, 201, "{}", sc.body);
    assert_eq!(sc.json()["required_signoffs"]["releng"], 2);
    let sc_id = sc.json()["sc_id"].as_i64().unwrap();
    let base_path = format!("/scheduled_changes/rules/{sc_id}");
    let enact = |token: &str| srv.api("POST", &format!("{base_path}/enact"), Some(token), None);
    assert_eq!(enact(&carol).status, 400, "no signoffs yet");
    assert_eq!(
        srv.api(
            "POST",
            &format!("{base_path}/signoffs"),
            Some(&carol),
            Some(json!({"role": "releng"}))
        )
        .status,
        403
    );
    assert_eq!(
        srv.api(
            "POST",
            &format!("{base_path}/signoffs"),
            Some(&alice),
            Some(json!({"role": "releng"}))
        )
        .status,
        200
    );
    assert_eq!(
        srv.api(
            "POST",
            &format!("{base_path}/signoffs"),
            Some(&alice),
            Some(json!({"role": "releng"}))
        )
        .status,
        409
    );
    let one = enact(&carol);
    assert!(
        one.status == 400 && one.body.contains("has 1"),
        "{}",
        one.body
    );
    assert_eq!(
        enact(&bob).status,
        403,
        "enacting needs scheduled_change/enact"
    );
    let listed = srv
        .api("GET", "/scheduled_changes/rules", Some(&bob), None)
        .json();
    assert_eq!(listed["scheduled_changes"][0]["ready"], false);
    assert!(listed["scheduled_changes"][0]["waiting_for"]
        .as_str()
        .unwrap()
        .contains("releng"));
    assert_eq!(
        srv.api(
            "POST",
            &format!("{base_path}/signoffs"),
            Some(&bob),
            Some(json!({"role": "releng"}))
        )
        .status,
        200
    );
    // Either the background task or the explicit call enacts it, exactly once.
    let explicit = enact(&carol);
    assert!(
        explicit.status == 200 || explicit.body.contains("is enacted"),
        "{}",
        explicit.body
    );
    let client = update_path();
    assert_eq!(srv.get(&client).body, FX56_EN);
    let stored = srv.admin("GET", &format!("/rules/{id}"), None);
    assert_eq!(stored["data_version"], 2);
    assert_eq!(
        srv.admin("GET", &format!("/rules/{id}/revisions"), None)["revisions"][0]["changed_by"],
        "alice"
    );

    // A timed change is enacted by the background task once signed and due.
    let when = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        + 700;
    let timed = srv.api("POST", "/scheduled_changes/rules", Some(&alice),
        Some(json!({"change_type": "update", "rule_id": id, "data_version": 2, "priority": 77, "when": when})));
    assert_eq!(timed.status, 201, "{}", timed.body);
    let tid = timed.json()["sc_id"].as_i64().unwrap();
    for token in [&alice, &bob] {
        srv.api(
            "POST",
            &format!("/scheduled_changes/rules/{tid}/signoffs"),
            Some(token),
            Some(json!({"role": "releng"})),
        );
    }
    assert!(wait_until(|| srv.admin(
        "GET",
        &format!("/rules/{id}"),
        None
    )["priority"]
        == 77));
    assert!(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
            >= when
    );

    // Shutoffs: creating is immediate, lifting needs the signoffs.
    srv.api(
        "POST",
        "/emergency_shutoffs",
        Some(&alice),
        Some(json!({"product": "Firefox", "channel": "release"})),
    );
    assert_eq!(srv.get(&client).body, EMPTY);
    assert_eq!(
        srv.api(
            "DELETE",
            "/emergency_shutoffs",
            Some(&alice),
            Some(json!({"product": "Firefox", "channel": "release"}))
        )
        .status,
        400
    );
    let lift = srv.api(
        "POST",
        "/scheduled_changes/emergency_shutoffs",
        Some(&alice),
        Some(json!({"change_type": "delete", "product": "Firefox", "channel": "release"})),
    );
    let lid = lift.json()["sc_id"].as_i64().unwrap();
    for token in [&alice, &bob] {
        srv.api(
            "POST",
            &format!("/scheduled_changes/emergency_shutoffs/{lid}/signoffs"),
            Some(token),
            Some(json!({"role": "releng"})),
        );
    }
    assert!(wait_until(|| srv.get(&client).body != EMPTY));

    // A release mapped by a covered rule changes only through a signed-off scheduled change.
    let mut blob = firefox_56();
    blob["displayVersion"] = json!("56.0 (respin)");
    let release_sc = srv.api("POST", "/scheduled_changes/releases", Some(&alice),
        Some(json!({"change_type": "update", "name": "Firefox-56.0-build1", "blob": blob, "data_version": 1})));
    assert_eq!(release_sc.status, 201, "{}", release_sc.body);
    let rid = release_sc.json()["sc_id"].as_i64().unwrap();
    srv.api(
        "POST",
        &format!("/scheduled_changes/releases/{rid}/signoffs"),
        Some(&alice),
        Some(json!({"role": "releng"})),
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !srv.get(&client).body.contains("respin"),
        "one signoff is not enough"
    );
    srv.api(
        "POST",
        &format!("/scheduled_changes/releases/{rid}/signoffs"),
        Some(&bob),
        Some(json!({"role": "releng"})),
    );
    assert!(wait_until(|| srv
        .get(&client)
        .body
        .contains("displayVersion=\"56.0 (respin)\"")));
}
}

both_backends! {
#[test]
fn pending_scheduled_changes_block_direct_changes_until_cancelled() {
    let srv = base();
    let id = srv.add_rule(rule(1, "Firefox-56.0-build1", json!({"channel": "beta"})));
    let later = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        + 3_600_000;
    let sc = srv.admin(
        "POST",
        "/scheduled_changes/rules",
        Some(json!({"change_type": "update", "rule_id": id, "data_version": 1, "priority": 9, "when": later})),
    );
    let sc_id = sc["sc_id"].as_i64().unwrap();
    assert_eq!(sc["required_signoffs"], json!({}));
    let direct = srv.api(
        "PUT",
        &format!("/rules/{id}"),
        Some(&srv.admin_token),
        Some(json!({"priority": 5, "data_version": 1})),
    );
    assert_eq!(direct.status, 400);
    assert!(
        direct.body.contains("pending scheduled change"),
        "{}",
        direct.body
    );
    let other = srv.user("other", &[("rule", json!({}))], &[]);
    assert_eq!(
        srv.api(
            "DELETE",
            &format!("/scheduled_changes/rules/{sc_id}"),
            Some(&other),
            None
        )
        .status,
        403
    );
    srv.admin("DELETE", &format!("/scheduled_changes/rules/{sc_id}"), None);
    srv.admin(
        "PUT",
        &format!("/rules/{id}"),
        Some(json!({"priority": 5, "data_version": 1})),
    );
    let past = srv.api(
        "POST",
        "/scheduled_changes/rules",
        Some(&srv.admin_token),
        Some(json!({"change_type": "delete", "rule_id": id, "data_version": 2, "when": 1})),
    );
    assert_eq!(past.status, 400, "when must be in the future");
    let stale = srv.api(
        "POST",
        "/scheduled_changes/rules",
        Some(&srv.admin_token),
        Some(json!({"change_type": "delete", "rule_id": id, "data_version": 1})),
    );
    assert_eq!(stale.status, 409);
}
}
