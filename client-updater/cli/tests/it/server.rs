//! Against the real `updater-server` (in-process, loopback, its own SQLite database, signing its
//! responses): release-process Part C scenarios 13–18, with MARs made by `mar`'s generator and
//! served by a plain file server.

use std::net::TcpListener;
use std::path::Path;
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use actix_web::dev::ServerHandle;
use serde_json::{json, Value};
use updater_server::config::Allowlist;
use updater_server::{commands, AppState, Config};

use crate::util::*;

const B119: &str = "20231016000000";
const B120: &str = "20231113000000";
const B121: &str = "20231211000000";

/// The real update server on a loopback port.
struct RealServer {
    base: String,
    token: String,
    _dir: tempfile::TempDir,
    handle: ServerHandle,
    thread: Option<JoinHandle<()>>,
}

impl RealServer {
    fn start(file_host: &str) -> RealServer {
        let dir = tempfile::tempdir().unwrap();
        let key_path = dir.path().join("response.key");
        std::fs::write(&key_path, keys().response.to_pkcs8_pem().unwrap()).unwrap();
        let mut config = Config {
            database: updater_server::config::Database::Sqlite(dir.path().join("kiln.db")),
            workers: Some(1),
            response_signing_key: Some(key_path),
            signature_ttl_secs: 600,
            ..Config::default()
        };
        config.client.allowlisted_domains = Allowlist(
            [(file_host.to_owned(), vec!["Firefox".to_owned()])]
                .into_iter()
                .collect(),
        );
        commands::add_user(&config.database, "admin", true, &[]).unwrap();
        let token = commands::create_token(&config.database, "admin").unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(AppState::open(config).unwrap());
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = updater_server::start(state, listener).unwrap();
                tx.send(server.handle()).unwrap();
                server.await.unwrap();
            });
        });
        RealServer {
            base,
            token,
            _dir: dir,
            handle: rx.recv().unwrap(),
            thread: Some(thread),
        }
    }

    /// `GET /api/v1{path}` with the admin token: the JSON answer.
    fn get(&self, path: &str) -> Value {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut resp = agent
            .get(&format!("{}/api/v1{path}", self.base))
            .header("Authorization", &format!("Bearer {}", self.token))
            .call()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200, "GET {path}");
        serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap()
    }

    fn admin(&self, method: &str, path: &str, body: Value) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let url = format!("{}/api/v1{path}", self.base);
        let auth = format!("Bearer {}", self.token);
        let req = match method {
            "PUT" => agent.put(&url),
            _ => agent.post(&url),
        };
        let mut resp = req
            .header("Authorization", &auth)
            .header("Content-Type", "application/json")
            .send(body.to_string())
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        assert!(status < 300, "{method} {path} -> {status} {text}");
    }
}

impl Drop for RealServer {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        actix_web::rt::System::new().block_on(handle.stop(false));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Three releases (119.0, 120.0, 121.0, `de`, Linux), 121.0's complete and its partials from
/// 119.0 and 120.0 on a file server, the real update server mapping `release` to 121.0.
struct World {
    files: TestServer,
    server: RealServer,
    config: client_updater::UpdateConfig,
    trees: [Snapshot; 3],
    mars: std::collections::BTreeMap<&'static str, Vec<u8>>,
    version_121: std::cell::Cell<i64>,
}

fn spec(i: usize) -> BuildSpec {
    [
        BuildSpec::new("119.0", B119),
        BuildSpec::new("120.0", B120),
        BuildSpec::new("121.0", B121),
    ][i]
        .clone()
}

fn entry(from: &str, mar: &[u8]) -> Value {
    json!({"from": from, "filesize": mar.len(), "hashValue": sha512_hex(mar)})
}

impl World {
    fn new() -> World {
        let files = TestServer::start();
        let host = files.base.trim_start_matches("http://").to_owned();
        let server = RealServer::start(&host);
        let mut config = config(vec![format!("{}{CHECK_PATH}", server.base)]);
        // Outcomes go to the real server's report endpoint, which must accept the client's body.
        config.report_url = Some(format!("{}/api/v1/reports", server.base));
        let trees = [0, 1, 2].map(|i| build_tree(&spec(i), Some(&config)));
        let mut mars = std::collections::BTreeMap::new();
        mars.insert("complete", complete(&trees[2], &MarSpec::new("121.0")));
        mars.insert("119", partial(&trees[0], &trees[2], &MarSpec::new("121.0")));
        mars.insert("120", partial(&trees[1], &trees[2], &MarSpec::new("121.0")));
        files.route(
            "/firefox-121.0.complete.mar",
            Reply::ok(mars["complete"].clone()),
        );
        files.route(
            "/firefox-119.0-121.0.partial.mar",
            Reply::ok(mars["119"].clone()),
        );
        files.route(
            "/firefox-120.0-121.0.partial.mar",
            Reply::ok(mars["120"].clone()),
        );
        let world = World {
            files,
            server,
            config,
            trees,
            mars,
            version_121: std::cell::Cell::new(0),
        };
        for (version, build) in [("119.0", B119), ("120.0", B120)] {
            world.put_release(json!({
                "name": format!("Firefox-{version}-build1"), "schema_version": 4, "hashFunction": "sha512",
                "product": "Firefox", "appVersion": version, "displayVersion": version, "platformVersion": version,
                "fileUrls": {"*": {"completes": {"*": world.files.url(&format!("/firefox-{version}.complete.mar"))}}},
                "platforms": {TARGET: {"buildID": build, "locales": {"de": {"completes": [{"from": "*", "filesize": 1, "hashValue": "00"}]}}}}
            }));
        }
        world.put_121(&world.mars["complete"].clone());
        world.server.admin(
            "POST",
            "/rules",
            json!({"priority": 100, "mapping": "Firefox-121.0-build1", "backgroundRate": 100,
                   "update_type": "minor", "product": "Firefox", "channel": "release"}),
        );
        world
    }

    fn put_release(&self, blob: Value) {
        self.put_release_version(blob, None);
    }

    fn put_release_version(&self, blob: Value, data_version: Option<i64>) {
        let name = blob["name"].as_str().unwrap().to_owned();
        let mut body = json!({"blob": blob, "product": "Firefox"});
        if let Some(v) = data_version {
            body["data_version"] = json!(v);
        }
        self.server.admin("PUT", &format!("/releases/{name}"), body);
    }

    /// (Re)publishes 121.0 with `complete` as its complete.
    fn put_121(&self, complete: &[u8]) {
        let current = self.version_121.get();
        self.version_121.set(current + 1);
        self.put_release_version(json!({
            "name": "Firefox-121.0-build1", "schema_version": 4, "hashFunction": "sha512",
            "product": "Firefox", "appVersion": "121.0", "displayVersion": "121.0", "platformVersion": "121.0",
            "fileUrls": {"*": {
                "completes": {"*": self.files.url("/firefox-121.0.complete.mar")},
                "partials": {
                    "Firefox-119.0-build1": self.files.url("/firefox-119.0-121.0.partial.mar"),
                    "Firefox-120.0-build1": self.files.url("/firefox-120.0-121.0.partial.mar")}}},
            "platforms": {TARGET: {"buildID": B121, "locales": {"de": {
                "completes": [entry("*", complete)],
                "partials": [entry("Firefox-119.0-build1", &self.mars["119"]), entry("Firefox-120.0-build1", &self.mars["120"])]}}}}
        }), (current > 0).then_some(current));
    }

    /// A fresh install of build `i` (0 = 119.0, 1 = 120.0), optionally with another build ID.
    fn install(&self, i: usize, build_id: Option<&'static str>) -> (tempfile::TempDir, Snapshot) {
        let mut s = spec(i);
        if let Some(b) = build_id {
            s.build_id = b;
        }
        install(&s, &self.config)
    }
}

fn patch_types(offer: &Value) -> Vec<String> {
    offer["patches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["type"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_known_build_gets_the_partial_staged_then_swapped_in_at_start() {
    let w = World::new();
    let (dir, before) = w.install(1, None);
    let install = path_str(dir.path());
    let (code, check) = run_json(&["check", "--install", install, "--json"]);
    assert_eq!(code, 0, "{check}");
    assert_eq!(patch_types(&check["offer"]), ["partial", "complete"]);
    let (code, json) = run_json(&["update", "--install", install, "--stage", "--json"]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(
        (json["result"].as_str(), json["patch_type"].as_str()),
        (Some("applied"), Some("partial"))
    );
    assert_eq!(status_of(dir.path()), "applied");
    // A second run finds it ready: nothing is downloaded again.
    let (code, json) = run_json(&["update", "--install", install, "--stage", "--json"]);
    assert_eq!(
        (code, json["result"].as_str()),
        (0, Some("applied")),
        "{json}"
    );
    assert_eq!(
        w.files.requests("/firefox-120.0-121.0.partial.mar").len(),
        1
    );
    // The running install is unchanged until restart; the staged copy is the new build.
    let staged = dir.path().join("updated");
    assert_eq!(snapshot(&staged), w.trees[2]);
    let mut with_staged = before.clone();
    with_staged.extend(
        w.trees[2]
            .iter()
            .map(|(k, v)| (format!("updated/{k}"), v.clone())),
    );
    assert_tree(dir.path(), &with_staged);
    assert_eq!(start(dir.path()), format!("Firefox 121.0 ({B121})"));
    assert_eq!(status_of(dir.path()), "succeeded");
    assert_tree(dir.path(), &w.trees[2]);
    assert_eq!(w.files.requests("/firefox-121.0.complete.mar").len(), 0);
    // The real server accepted the client's report (stored in batches, so wait for it) and
    // attributes it to 121.0 and the 120.0 from-version.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let rollout = loop {
        let rollout = w.server.get("/rollouts/Firefox-121.0-build1");
        if rollout["reports"]["total"] == 1 || std::time::Instant::now() > deadline {
            break rollout;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(rollout["reports"]["total"], 1, "{rollout}");
    assert_eq!(rollout["reports"]["success"], 1, "{rollout}");
}

#[test]
fn an_unknown_build_gets_only_the_complete_applied_in_place_at_start() {
    let w = World::new();
    let (dir, before) = w.install(1, Some("20231113999999"));
    let install = path_str(dir.path());
    let (_, check) = run_json(&["check", "--install", install, "--json"]);
    assert_eq!(patch_types(&check["offer"]), ["complete"]);
    let (code, json) = run_json(&["update", "--install", install, "--no-stage", "--json"]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(
        (json["result"].as_str(), json["patch_type"].as_str()),
        (Some("pending"), Some("complete"))
    );
    assert_eq!(status_of(dir.path()), "pending");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("updates/0/update.version"))
            .unwrap()
            .trim(),
        "121.0"
    );
    assert_tree(dir.path(), &before);
    assert_eq!(start(dir.path()), format!("Firefox 121.0 ({B121})"));
    assert_eq!(status_of(dir.path()), "succeeded");
    assert_tree(dir.path(), &w.trees[2]);
    // A second start has nothing to do.
    assert_eq!(start(dir.path()), format!("Firefox 121.0 ({B121})"));
    let (_, check) = run_json(&["check", "--install", install, "--json"]);
    assert_eq!(check["result"], "no-update");
}

#[test]
fn skip_to_latest_119_gets_the_119_to_121_partial() {
    let w = World::new();
    let (dir, _) = w.install(0, None);
    let install = path_str(dir.path());
    let (_, check) = run_json(&["check", "--install", install, "--json"]);
    assert_eq!(check["offer"]["app_version"], "121.0");
    assert!(check["offer"]["patches"][0]["url"]
        .as_str()
        .unwrap()
        .ends_with("/firefox-119.0-121.0.partial.mar"));
    let (code, json) = run_json(&["update", "--install", install, "--no-stage", "--json"]);
    assert_eq!(
        (code, json["patch_type"].as_str()),
        (0, Some("partial")),
        "{json}"
    );
    assert_eq!(start(dir.path()), format!("Firefox 121.0 ({B121})"));
    assert_tree(dir.path(), &w.trees[2]);
    assert_eq!(
        w.files.requests("/firefox-119.0-121.0.partial.mar").len(),
        1
    );
    assert!(w
        .files
        .requests("/firefox-120.0-121.0.partial.mar")
        .is_empty());
}

fn corrupt_patched_source(install: &Path) -> Snapshot {
    let path = install.join("libxul.so");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[10] ^= 0x20; // same size: the source hash (4) fails, not its length (2)
    std::fs::write(&path, bytes).unwrap();
    snapshot(install)
}

#[test]
fn scenario_16_a_corrupt_source_fails_the_partial_with_4_then_the_complete_succeeds() {
    let w = World::new();
    let (dir, _) = w.install(1, None);
    let install = path_str(dir.path());
    let before = corrupt_patched_source(dir.path());
    let (code, json) = run_json(&["update", "--install", install, "--no-stage", "--json"]);
    assert_eq!(
        (code, json["patch_type"].as_str()),
        (0, Some("partial")),
        "{json}"
    );
    // Applying the partial at start fails; every original is restored; start exits 1.
    let out = kiln_client(&["start", "--install", install]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("update failed: 4"),
        "{out:?}"
    );
    assert_eq!(status_of(dir.path()), "failed: 4");
    assert_tree(dir.path(), &before);
    // The next run takes the complete and succeeds.
    let (code, json) = run_json(&["update", "--install", install, "--no-stage", "--json"]);
    assert_eq!(
        (code, json["patch_type"].as_str()),
        (0, Some("complete")),
        "{json}"
    );
    assert_eq!(start(dir.path()), format!("Firefox 121.0 ({B121})"));
    assert_eq!(status_of(dir.path()), "succeeded");
    assert_tree(dir.path(), &w.trees[2]);
}

#[test]
fn scenario_16_with_staging_the_fallback_to_the_complete_happens_at_once() {
    let w = World::new();
    let (dir, _) = w.install(1, None);
    let install = path_str(dir.path());
    let before = corrupt_patched_source(dir.path());
    let (code, json) = run_json(&["update", "--install", install, "--stage", "--json"]);
    assert_eq!(
        (code, json["patch_type"].as_str()),
        (0, Some("complete")),
        "{json}"
    );
    assert_eq!(
        w.files.requests("/firefox-120.0-121.0.partial.mar").len(),
        1
    );
    assert_eq!(w.files.requests("/firefox-121.0.complete.mar").len(), 1);
    assert_eq!(status_of(dir.path()), "applied");
    let active: Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("updates/active-update.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(active["partial_failed"], true);
    let mut with_staged = before.clone();
    with_staged.extend(
        w.trees[2]
            .iter()
            .map(|(k, v)| (format!("updated/{k}"), v.clone())),
    );
    assert_tree(dir.path(), &with_staged);
    assert_eq!(start(dir.path()), format!("Firefox 121.0 ({B121})"));
    assert_tree(dir.path(), &w.trees[2]);
}

#[test]
fn scenario_17_refusals_19_22_23_leave_the_install_untouched() {
    let w = World::new();
    let (dir, before) = w.install(1, Some("20231113999999"));
    let install = path_str(dir.path());
    let wrong_key = complete(
        &w.trees[2],
        &MarSpec {
            keys: vec![&keys().rogue],
            ..MarSpec::new("121.0")
        },
    );
    let beta = complete(
        &w.trees[2],
        &MarSpec {
            channel: "firefox-mozilla-beta",
            ..MarSpec::new("121.0")
        },
    );
    let older = complete(&w.trees[2], &MarSpec::new("119.0"));
    for (mar, code) in [(wrong_key, 19), (beta, 22), (older, 23)] {
        w.files
            .route("/firefox-121.0.complete.mar", Reply::ok(mar.clone()));
        w.put_121(&mar);
        for stage in ["--stage", "--no-stage"] {
            let (exit, json) = run_json(&["update", "--install", install, stage, "--json"]);
            assert_eq!((exit, json["code"].as_u64()), (1, Some(code)), "{json}");
            assert_eq!(status_of(dir.path()), format!("failed: {code}"));
            assert_tree(dir.path(), &before);
            assert_eq!(start(dir.path()), format!("Firefox 120.0 (20231113999999)"));
            assert_tree(dir.path(), &before);
        }
    }
}

#[test]
fn scenario_13_the_check_url_comes_from_a_real_installs_files() {
    // A real synthetic Linux build from kiln-fixtures, as the `de` repack would have it.
    let fixtures = tempfile::tempdir().unwrap();
    let options = kiln_fixtures::Options {
        versions: vec!["119.0".to_owned()],
        locales: kiln_fixtures::Locales::Count(1),
        ..Default::default()
    };
    let summary = kiln_fixtures::generate(fixtures.path(), &options).unwrap();
    let archive = summary
        .builds
        .iter()
        .find(|b| b.to_string_lossy().contains("linux-x86_64"))
        .expect("a Linux build");
    assert!(
        archive.to_string_lossy().ends_with(".tar.xz"),
        "{archive:?}"
    );
    let root = tempfile::tempdir().unwrap();
    let file = std::fs::File::open(fixtures.path().join(archive)).unwrap();
    tar::Archive::new(liblzma::read::XzDecoder::new(file))
        .unpack(root.path())
        .unwrap();
    let install = root.path().join("firefox");
    std::fs::write(install.join("update.locale"), "de\n").unwrap();
    let app = std::fs::read_to_string(install.join("application.ini")).unwrap();
    let build_id = app
        .lines()
        .find_map(|l| l.strip_prefix("BuildID="))
        .unwrap()
        .to_owned();
    let mut cfg = config(Vec::new());
    cfg.build_target = None; // the compiled-in target: this test runs on x86_64 Linux
    let empty = b"<?xml version=\"1.0\"?>\n<updates>\n</updates>".to_vec();
    let answer = Reply::signed(empty, &keys().response, now_secs() + 600);
    let handler_server =
        TestServer::with_handler(std::sync::Arc::new(move |_: &Seen| answer.clone()));
    cfg.urls = vec![format!("{}{CHECK_PATH}", handler_server.base)];
    cfg.write(&install).unwrap();
    for force in [false, true] {
        let mut args = vec!["check", "--install", path_str(&install), "--json"];
        if force {
            args.push("--force");
        }
        let (code, json) = run_json(&args);
        assert_eq!(
            (code, json["result"].as_str()),
            (0, Some("no-update")),
            "{json}"
        );
    }
    let seen = handler_server.requests("/update/6/");
    assert_eq!(seen.len(), 2);
    let prefix = format!("/update/6/Firefox/119.0/{build_id}/Linux_x86_64-gcc3/de/release/");
    for (req, force) in seen.iter().zip([false, true]) {
        assert!(req.path.starts_with(&prefix), "{}", req.path);
        let suffix = if force {
            "/default/default/update.xml?force=1"
        } else {
            "/default/default/update.xml"
        };
        assert!(req.path.ends_with(suffix), "{}", req.path);
        // <os>/<caps> are present and percent-encoded (no raw spaces, colons or commas).
        let middle = &req.path[prefix.len()..req.path.len() - suffix.len()];
        let parts: Vec<&str> = middle.split('/').collect();
        assert_eq!(parts.len(), 2, "{middle}");
        assert!(parts[0].starts_with("Linux%20"), "{middle}");
        assert!(parts[1].starts_with("ISET%3A"), "{middle}");
    }
    assert_eq!(client_updater::DEFAULT_INTERVAL.as_secs(), 43_200);
}

/// `CHECK_PATH` with a fixed OS version written into the template, as a tester would.
fn windows_template(base: &str, os: &str) -> String {
    format!("{base}/update/6/%PRODUCT%/%VERSION%/%BUILD_ID%/%BUILD_TARGET%/%LOCALE%/%CHANNEL%/{os}/ISET:SSE4_2,MEM:16384/default/default/update.xml")
}

#[test]
fn templates_with_an_escaped_or_a_literal_space_reach_the_server_as_firefox_sends_them() {
    let w = World::new();
    // The only rule now answers Windows 7 (`Windows_NT 6.1…`) clients: an offer proves the server
    // decoded the space.
    w.server.admin(
        "PUT",
        "/rules/1",
        json!({"osVersion": "Windows_NT 6.1", "data_version": 1}),
    );
    let (dir, _) = w.install(0, None);
    let install = path_str(dir.path());
    let expected = format!(
        "{}/update/6/Firefox/119.0/{B119}/{TARGET}/de/release/Windows_NT%206.1.1.0/ISET:SSE4_2,MEM:16384/default/default/update.xml",
        w.server.base
    );
    for os in ["Windows_NT%206.1.1.0", "Windows_NT 6.1.1.0"] {
        let template = windows_template(&w.server.base, os);
        let (code, json) = run_json(&["check", "--install", install, "--url", &template, "--json"]);
        assert_eq!(code, 0, "{os}: {json}");
        assert_eq!(json["url"], expected.as_str(), "{os}");
        assert_eq!(json["offer"]["app_version"], "121.0", "{os}: {json}");
    }
    // This machine's own OS version is not Windows 7: the same server has nothing for it.
    let (code, json) = run_json(&["check", "--install", install, "--json"]);
    assert_eq!(
        (code, json["result"].as_str()),
        (0, Some("no-update")),
        "{json}"
    );
}

/// `kiln_http_requests_total` of the real server's `/update/` route answered with `status`.
fn update_requests(base: &str, status: u16) -> u64 {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let text = agent
        .get(&format!("{base}/metrics"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    let series = format!("kiln_http_requests_total{{route=\"update\",status=\"{status}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&series))
        .map_or(0, |n| n.trim().parse().unwrap())
}

#[test]
fn a_400_from_the_server_is_its_refusal_exit_1_with_its_message_asked_once() {
    let w = World::new();
    let (dir, before) = w.install(1, None);
    let install = path_str(dir.path());
    // An unknown query parameter: the real server answers 400 (problem+json, Balrog's text).
    let url = format!("{}{CHECK_PATH}?bogus=1", w.server.base);
    let (code, json) = run_json(&["check", "--install", install, "--url", &url, "--json"]);
    assert_eq!(code, 1, "refused, not a network failure (3): {json}");
    assert_eq!(json["kind"], "Refused", "{json}");
    let error = json["error"].as_str().unwrap();
    assert!(error.contains("HTTP 400"), "{error}");
    assert!(
        error.contains("Extra query parameter(s) bogus not in spec"),
        "{error}"
    );
    assert_eq!(update_requests(&w.server.base, 400), 1, "asked once");

    let (code, json) = run_json(&["update", "--install", install, "--url", &url, "--json"]);
    assert_eq!(code, 1, "{json}");
    let failures = json["mirror_failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{json}");
    assert!(
        failures[0].as_str().unwrap().starts_with("refused: "),
        "{json}"
    );
    assert_eq!(update_requests(&w.server.base, 400), 2, "asked once more");
    assert_eq!(update_requests(&w.server.base, 200), 0);
    assert_tree(dir.path(), &before);
}
