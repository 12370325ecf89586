//! Update reports, rollout health and health guards over HTTP.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::util::*;

fn server() -> Server {
    Server::start_with(|c| {
        c.reports.per_minute = 100_000;
        c.reports.flush_ms = 20;
    })
}

fn report(to: (&str, &str), from: &str, ok: bool, code: Option<i64>) -> Value {
    json!({"product": "Firefox", "channel": "release", "build_target": "WINNT_x86-msvc",
           "locale": "en-US", "from_version": from, "from_build_id": "20170628075643",
           "to_version": to.0, "to_build_id": to.1, "patch_type": "partial",
           "result": if ok { "success" } else { "failure" }, "error_code": code})
}

const FX56: (&str, &str) = ("56.0", "20170918210324");
const FX54: (&str, &str) = ("54.0.1", "20170628075643");

fn post(srv: &Server, body: Value) -> u16 {
    srv.api("POST", "/reports", None, Some(body)).status
}

/// Posts `n` reports to `to`, every `fail_every`-th one (starting with the first) a failure.
fn stream(srv: &Server, to: (&str, &str), n: usize, fail_every: usize) {
    for i in 0..n {
        let fail = fail_every > 0 && i % fail_every == 0;
        let status = post(srv, report(to, "54.0.1", !fail, fail.then_some(7)));
        assert_eq!(status, 202);
    }
}

fn rollout(srv: &Server, release: &str) -> Value {
    srv.admin("GET", &format!("/rollouts/{release}"), None)
}

fn wait_for(srv: &Server, release: &str, reports: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let doc = rollout(srv, release);
        if doc["reports"]["total"] == reports {
            return doc;
        }
        assert!(Instant::now() < deadline, "reports never stored: {doc}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

both_backends! {
#[test]
fn reports_are_accepted_checked_capped_and_summarised() {
    let srv = server();
    srv.put_release(firefox_54());
    srv.put_release(firefox_56());
    let id = srv.add_rule(rule(
        1,
        "Firefox-56.0-build1",
        json!({"channel": "release"}),
    ));
    // Three offers of 56.0 by the rule (one of them memoized), one empty answer.
    let from54 = v6(
        "54.0.1",
        "20170628075643",
        "WINNT_x86-msvc",
        "en-US",
        "release",
    );
    for _ in 0..3 {
        assert!(srv.get(&from54).body.contains("56.0"));
    }
    srv.get(&v6(
        "56.0",
        "20170918210324",
        "WINNT_x86-msvc",
        "en-US",
        "release",
    ));

    assert_eq!(post(&srv, report(FX56, "54.0.1", true, None)), 202);
    assert_eq!(post(&srv, report(FX56, "54.0.1", false, Some(7))), 202);
    assert_eq!(post(&srv, report(FX56, "55.0", false, Some(9))), 202);
    // Unknown fields, bad values and oversized bodies are refused.
    let mut bogus = report(FX56, "54.0.1", true, None);
    bogus["extra"] = json!(1);
    assert_eq!(post(&srv, bogus), 400);
    let mut bad = report(FX56, "54.0.1", true, None);
    bad["result"] = json!("maybe");
    assert_eq!(post(&srv, bad), 400);
    let mut huge = report(FX56, "54.0.1", true, None);
    huge["locale"] = json!("x".repeat(5000));
    assert_eq!(post(&srv, huge), 413);

    let doc = wait_for(&srv, "Firefox-56.0-build1", 3);
    assert_eq!(doc["offers"]["total"], 3, "{doc}");
    assert_eq!(doc["offers"]["by_rule"][id.to_string()], 3);
    assert_eq!(doc["reports"]["success"], 1);
    assert_eq!(doc["reports"]["failure"], 2);
    assert_eq!(doc["reports"]["by_error_code"], json!({"7": 1, "9": 1}));
    let ci = doc["reports"]["ci95"].as_array().unwrap();
    let (lo, hi) = (ci[0].as_f64().unwrap(), ci[1].as_f64().unwrap());
    assert!(
        lo < 1.0 / 3.0 && 1.0 / 3.0 < hi && lo >= 0.0 && hi <= 1.0,
        "{ci:?}"
    );
    assert_eq!(doc["by_rule"][id.to_string()]["failure"], 2);
    assert_eq!(doc["by_from_version"]["54.0.1"]["success"], 1);
    assert_eq!(doc["by_from_version"]["55.0"]["failure"], 1);
    // Reading needs a token; unknown releases are 404.
    assert_eq!(
        srv.api("GET", "/rollouts/Firefox-56.0-build1", None, None)
            .status,
        401
    );
    let token = Some(srv.admin_token.as_str());
    assert_eq!(srv.api("GET", "/rollouts/nope", token, None).status, 404);
    // Also as Prometheus metrics.
    let metrics = srv.get("/metrics").body;
    let offers =
        format!("kiln_update_offers_total{{release=\"Firefox-56.0-build1\",rule=\"{id}\"}} 3");
    assert!(metrics.contains(&offers), "{metrics}");
    assert!(metrics.contains(
        "kiln_update_reports_total{release=\"Firefox-56.0-build1\",result=\"failure\"} 2"
    ));
    // A scrape does not scan the reports table: a report stored since is not in the totals
    // until they are older than `[reports] totals_max_age_secs` (60 s), and the age is shown.
    assert_eq!(post(&srv, report(FX56, "55.0", false, Some(9))), 202);
    wait_for(&srv, "Firefox-56.0-build1", 4);
    let again = srv.get("/metrics").body;
    assert!(
        again.contains(
            "kiln_update_reports_total{release=\"Firefox-56.0-build1\",result=\"failure\"} 2"
        ),
        "{again}"
    );
    assert!(
        again.contains("\nkiln_update_reports_totals_age_seconds "),
        "{again}"
    );
}
}

both_backends! {
#[test]
fn reports_are_rate_limited_per_address() {
    let srv = Server::start_with(|c| c.reports.per_minute = 3);
    let statuses: Vec<u16> = (0..5)
        .map(|_| post(&srv, report(FX56, "54.0.1", true, None)))
        .collect();
    assert_eq!(statuses, [202, 202, 202, 429, 429]);
    // The update endpoint is not affected.
    assert_eq!(
        srv.get(&v6("1.0", "1", "X", "en-US", "release")).status,
        200
    );
}
}

/// A rule that served 54.0.1 (the previous release) and now serves 56.0, with a guard.
fn guarded(max_failure_rate: f64) -> (Server, i64) {
    let srv = server();
    srv.put_release(firefox_54());
    srv.put_release(firefox_56());
    let id = srv.add_rule(rule(
        1,
        "Firefox-54.0.1-build1",
        json!({"channel": "release"}),
    ));
    srv.admin(
        "PUT",
        &format!("/rules/{id}"),
        Some(json!({"mapping": "Firefox-56.0-build1", "data_version": 1})),
    );
    srv.admin(
        "PUT",
        &format!("/rules/{id}/health_guard"),
        Some(json!({"min_reports": 50, "max_failure_rate": max_failure_rate})),
    );
    (srv, id)
}

fn background_rate(srv: &Server, id: i64) -> i64 {
    srv.admin("GET", &format!("/rules/{id}"), None)["backgroundRate"]
        .as_i64()
        .unwrap()
}

both_backends! {
#[test]
fn health_guard_halts_a_bad_release_through_the_write_path() {
    let (srv, id) = guarded(0.05);
    // The previous release failed 2 % of 200 times; the new one fails 20 %.
    stream(&srv, FX54, 200, 50);
    wait_for(&srv, "Firefox-54.0.1-build1", 200);
    // Fewer than min_reports: no verdict yet, even at 100 % failures.
    stream(&srv, FX56, 40, 1);
    wait_for(&srv, "Firefox-56.0-build1", 40);
    assert_eq!(background_rate(&srv, id), 100);
    stream(&srv, FX56, 60, 5);
    let deadline = Instant::now() + Duration::from_secs(20);
    while background_rate(&srv, id) != 0 {
        assert!(Instant::now() < deadline, "the guard never halted the rule");
        std::thread::sleep(Duration::from_millis(20));
    }
    let guard = srv.admin("GET", &format!("/rules/{id}/health_guard"), None);
    assert!(guard["guard"]["tripped_ms"].is_i64(), "{guard}");
    assert_eq!(
        guard["verdict"]["baseline_release"],
        "Firefox-54.0.1-build1"
    );
    let history = srv.admin(
        "GET",
        &format!("/history?object_kind=rule&object_key={id}"),
        None,
    );
    let latest = &history["history"][0];
    assert_eq!(latest["changed_by"], "health-guard", "{history}");
    assert_eq!(latest["row"]["backgroundRate"], 0);
    // Updates stop being offered (backgroundRate 0, no fallback).
    let from54 = v6(
        "54.0.1",
        "20170628075643",
        "WINNT_x86-msvc",
        "en-US",
        "release",
    );
    assert_eq!(srv.get_with(&from54, &[("X-Test-Dice", "0")]).body, EMPTY);
}
}

both_backends! {
#[test]
fn health_guard_leaves_a_good_release_and_one_at_the_bound_alone() {
    for (fail_every_prev, fail_every_new, label) in [(50, 33, "good"), (20, 16, "at the bound")] {
        let (srv, id) = guarded(0.05);
        stream(&srv, FX54, 200, fail_every_prev);
        wait_for(&srv, "Firefox-54.0.1-build1", 200);
        stream(&srv, FX56, 100, fail_every_new);
        wait_for(&srv, "Firefox-56.0-build1", 100);
        // One more batch cycle so the guard has looked at everything.
        std::thread::sleep(Duration::from_millis(200));
        let guard = srv.admin("GET", &format!("/rules/{id}/health_guard"), None);
        assert_eq!(background_rate(&srv, id), 100, "{label}: {guard}");
        assert!(guard["guard"]["tripped_ms"].is_null(), "{label}: {guard}");
        assert_eq!(guard["verdict"]["halt"], false, "{label}: {guard}");
    }
}
}
