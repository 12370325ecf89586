//! The background thread: interval and on-demand checks, events, prompt timing on a fake clock
//! (release-process scenario 19), reports, and a prompt shutdown.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use client_updater::background::DEFAULT_PROMPT_WAIT;
use client_updater::{Event, ManualClock, ResponseKey, Updater};

use crate::util::*;

const WAIT: Duration = Duration::from_secs(20);

struct Setup {
    server: TestServer,
    dir: tempfile::TempDir,
    clock: ManualClock,
    updater: Updater,
    mar: Vec<u8>,
}

fn setup(attrs: &str) -> Setup {
    let server = TestServer::start();
    let cfg = config(vec![server.url("/update.xml")]);
    let (dir, _) = install(&BuildSpec::new("120.0", "20231113000000"), &cfg);
    let new_tree = build_tree(&BuildSpec::new("121.0", "20231211000000"), Some(&cfg));
    let mar = complete(&new_tree, &MarSpec::new("121.0"));
    server.route("/c.mar", Reply::ok(mar.clone()));
    server.route(
        "/update.xml",
        Reply::signed(
            update_xml(
                "121.0",
                "20231211000000",
                attrs,
                &[patch_xml("complete", &server.url("/c.mar"), &mar)],
            ),
            &keys().response,
            now_secs() + 600,
        ),
    );
    server.route(
        "/report",
        Reply::Full {
            status: 201,
            headers: Vec::new(),
            body: Vec::new(),
        },
    );
    let clock = ManualClock::new(SystemTime::now());
    let updater = Updater::builder(dir.path())
        .url(&server.url("/update.xml"))
        .response_key(ResponseKey::from_pem(pem(&keys().response).as_bytes()).unwrap())
        .mar_key(keys().mar.public_key())
        .build_target(TARGET)
        .clock(Arc::new(clock.clone()))
        .check_interval(Duration::from_secs(43_200), Duration::ZERO)
        .report_url(&server.url("/report"))
        .build()
        .unwrap();
    Setup {
        server,
        dir,
        clock,
        updater,
        mar,
    }
}

/// Events until (and including) the first one `stop` accepts.
fn events_until(bg: &client_updater::Background, stop: impl Fn(&Event) -> bool) -> Vec<Event> {
    let mut out = Vec::new();
    loop {
        let event = bg.events().recv_timeout(WAIT).expect("an event");
        let done = stop(&event);
        out.push(event);
        if done {
            return out;
        }
    }
}

fn no_event_for(bg: &client_updater::Background, d: Duration) {
    if let Ok(event) = bg.events().recv_timeout(d) {
        panic!("unexpected event {event:?}");
    }
}

#[test]
fn scenario_19_background_update_prompts_after_the_wait_on_a_fake_clock() {
    let s = setup(" promptWaitTime=\"3600\"");
    let bg = s.updater.start_background(DEFAULT_PROMPT_WAIT);
    let events = events_until(&bg, |e| matches!(e, Event::Downloaded(_)));
    assert!(
        matches!(&events[0], Event::Available(o) if o.app_version == "121.0"),
        "{events:?}"
    );
    assert!(events.iter().any(|e| matches!(e, Event::Progress { done, total } if done == total && *total == s.mar.len() as u64)));
    assert_eq!(status_of(s.dir.path()), "applied");
    // Not before the wait: 3599 s later, nothing; 1 s more and the prompt comes.
    no_event_for(&bg, Duration::from_millis(300));
    s.clock.advance(Duration::from_secs(3599));
    no_event_for(&bg, Duration::from_millis(300));
    s.clock.advance(Duration::from_secs(1));
    let event = bg.events().recv_timeout(WAIT).unwrap();
    assert!(
        matches!(&event, Event::ReadyToRestart(o) if o.app_version == "121.0"),
        "{event:?}"
    );
    assert_eq!(
        s.server.requests("/update.xml").len(),
        1,
        "no second check before the interval"
    );

    // Nothing is reported while the update is only staged: one report an update, when it is in.
    assert_eq!(s.server.requests("/report").len(), 0);

    // The interval: 12 h later the thread checks again by itself.
    s.server.route(
        "/update.xml",
        Reply::signed(
            b"<?xml version=\"1.0\"?>\n<updates>\n</updates>".to_vec(),
            &keys().response,
            now_secs() + 2 * 86_400, // valid on the fake clock, 12 h ahead
        ),
    );
    s.clock.advance(Duration::from_secs(43_200));
    assert_eq!(bg.events().recv_timeout(WAIT).unwrap(), Event::NoUpdate);
    // A manual check happens at once, with force=1.
    bg.check_now();
    assert_eq!(bg.events().recv_timeout(WAIT).unwrap(), Event::NoUpdate);
    let checks = s.server.requests("/update.xml");
    assert_eq!(checks.len(), 3);
    assert!(checks[2].path.ends_with("?force=1") && !checks[1].path.contains("force"));
    let t = Instant::now();
    bg.shutdown();
    assert!(t.elapsed() < Duration::from_secs(2));
    // At the next start the staged update goes in, and that is reported, from 120.0.
    assert_eq!(
        s.updater.finish_pending().unwrap(),
        client_updater::StartOutcome::Updated("121.0".to_owned())
    );
    let reports = s.server.requests("/report");
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].method, "POST");
    let report: serde_json::Value = serde_json::from_slice(&reports[0].body).unwrap();
    assert_eq!(
        report,
        serde_json::json!({"product": "Firefox", "channel": "release", "build_target": TARGET,
            "locale": "de", "from_version": "120.0", "from_build_id": "20231113000000",
            "to_version": "121.0", "to_build_id": "20231211000000", "patch_type": "complete",
            "result": "success", "error_code": null})
    );
}

#[test]
fn scenario_19_prompt_wait_zero_prompts_at_once_and_a_failing_report_is_not_fatal() {
    let s = setup(" promptWaitTime=\"0\"");
    s.server.route("/report", Reply::status(500));
    let bg = s.updater.start_background(DEFAULT_PROMPT_WAIT);
    events_until(&bg, |e| matches!(e, Event::Downloaded(_)));
    let event = bg.events().recv_timeout(WAIT).unwrap();
    assert!(matches!(event, Event::ReadyToRestart(_)), "{event:?}");
    assert_eq!(status_of(s.dir.path()), "applied");
    bg.shutdown();
    // The report of the installed update is refused (500): logged, and the start goes on.
    assert_eq!(
        s.updater.finish_pending().unwrap(),
        client_updater::StartOutcome::Updated("121.0".to_owned())
    );
    assert_eq!(s.server.requests("/report").len(), 1);
    assert_eq!(status_of(s.dir.path()), "succeeded");
}

#[test]
fn shutdown_is_prompt_during_a_slow_download() {
    let s = setup("");
    s.server.route(
        "/c.mar",
        Reply::Drip {
            body: s.mar.clone(),
            fast: 10,
            bytes_per_sec: 5,
        },
    );
    let bg = s.updater.start_background(DEFAULT_PROMPT_WAIT);
    events_until(&bg, |e| matches!(e, Event::Progress { .. }));
    let t = Instant::now();
    bg.shutdown();
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert_eq!(status_of(s.dir.path()), "download-failed");
}

#[test]
fn kiln_client_watch_prints_the_events_and_status_reports_them() {
    let s = setup(" promptWaitTime=\"0\"");
    let install = path_str(s.dir.path());
    let out = kiln_client(&["watch", "--install", install, "--for-secs", "4"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let names: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(names.first(), Some(&"available"), "{names:?}");
    assert!(names.contains(&"progress"), "{names:?}");
    let downloaded = names
        .iter()
        .position(|n| *n == "downloaded")
        .expect("downloaded");
    assert_eq!(
        names.get(downloaded + 1),
        Some(&"ready-to-restart"),
        "{names:?}"
    );
    let status = kiln_client(&["status", "--install", install, "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(json["status"], "applied");
    assert_eq!(json["version"], "121.0");
    assert_eq!(json["active"]["from_version"], "120.0");
    assert_eq!(json["active"]["patch_type"], "complete");
}
