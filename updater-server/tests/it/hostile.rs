//! A release writer cannot redirect clients (issue 19): blob fields that reach `update.xml` are
//! refused on write when they hold what XML attributes cannot (with the field's path), and the
//! writer escapes whatever a stored blob holds, so no data changes the document's structure. A
//! real XML parser (quick-xml) reads every answer.

use std::sync::Arc;

use serde_json::{json, Value};
use updater_server::client::blob::Release;
use updater_server::client::evaluate::evaluate;
use updater_server::client::query;
use updater_server::client::snapshot::{Snapshot, SnapshotData};
use updater_server::config::ClientConfig;

use crate::util::*;

/// The `<patch>` URLs of an update document, read by a real XML parser.
fn patch_urls(xml: &str) -> Vec<String> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut urls = Vec::new();
    loop {
        match reader.read_event().expect("well-formed XML") {
            quick_xml::events::Event::Empty(e) | quick_xml::events::Event::Start(e) => {
                let name = e.name();
                let name: &str = name.as_ref();
                if name == "patch" {
                    let url = e
                        .try_get_attribute("URL")
                        .unwrap()
                        .expect("a URL")
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .unwrap()
                        .into_owned();
                    urls.push(url);
                }
            }
            quick_xml::events::Event::Eof => break,
            _ => {}
        }
    }
    urls
}

/// The `error` of an admin API answer.
fn error(resp: &Resp) -> String {
    resp.json()["error"].as_str().unwrap_or_default().to_owned()
}

/// Firefox 56.0 with `value` at `path` (keys, top-down).
fn firefox_56_with(path: &[&str], value: &str) -> Value {
    let mut blob = firefox_56();
    let mut at = &mut blob;
    for key in path {
        at = &mut at[*key];
    }
    *at = Value::String(value.to_owned());
    blob
}

const INJECTION: &str =
    "x\"/><patch type=\"complete\" URL=\"http://127.0.0.1:9/evil.mar\" hashFunction=\"sha512\" hashValue=\"00\" size=\"1\"/><x y=\"";

#[test]
fn a_write_that_could_change_the_update_document_is_refused_with_the_fields_path() {
    let server = Server::start();
    server.put_release(firefox_54());
    let cases: [(&[&str], &str, &str); 5] = [
        (
            &["fileUrls", "*", "completes", "*"],
            "http://download.mozilla.org/?a=\"/><patch URL=\"http://127.0.0.1:9/\"/>",
            "fileUrls.*.completes.* holds '\"'",
        ),
        (&["detailsUrl"], INJECTION, "detailsUrl holds '\"'"),
        (
            &["displayVersion"],
            "56.0\u{1b}[2J",
            "displayVersion holds the control character U+001B",
        ),
        (
            &["appVersion"],
            "56.0\u{0}",
            "appVersion holds the control character U+0000",
        ),
        (
            &["platforms", "WINNT_x86-msvc", "OS_BOUNCER"],
            "win><patch",
            "platforms.WINNT_x86-msvc.OS_BOUNCER holds '>'",
        ),
    ];
    for (path, value, message) in cases {
        let blob = firefox_56_with(path, value);
        let resp = server.api(
            "PUT",
            "/releases/Firefox-56.0-build1",
            Some(&server.admin_token),
            Some(json!({"blob": blob, "product": "Firefox"})),
        );
        assert_eq!(resp.status, 400, "{path:?}: {}", resp.body);
        assert!(error(&resp).contains(message), "{path:?}: {}", resp.body);
        // Nothing was stored.
        let get = server.api(
            "GET",
            "/releases/Firefox-56.0-build1",
            Some(&server.admin_token),
            None,
        );
        assert_eq!(get.status, 404, "{path:?}: {}", get.body);
    }
    // A schema-9 updateLine field and a field name that is not an attribute name; the
    // conditions (`<60.0`) of the blob's other groups are data, not attributes, and pass.
    let mut blob = firefox_70();
    blob["updateLine"][0]["fields"]["detailsURL"] = json!(INJECTION);
    let resp = server.api(
        "PUT",
        "/releases/Firefox-70.0-build1",
        Some(&server.admin_token),
        Some(json!({"blob": blob.clone(), "product": "Firefox"})),
    );
    assert_eq!(resp.status, 400, "{}", resp.body);
    assert!(
        error(&resp).contains("updateLine.0.fields.detailsURL holds '\"'"),
        "{}",
        resp.body
    );
    blob["updateLine"][0]["fields"] = json!({"x=\"1\" URL": "a", "type": "minor"});
    let resp = server.api(
        "PUT",
        "/releases/Firefox-70.0-build1",
        Some(&server.admin_token),
        Some(json!({"blob": blob, "product": "Firefox"})),
    );
    assert_eq!(resp.status, 400, "{}", resp.body);
    assert!(error(&resp).contains("x=\"1\" URL"), "{}", resp.body);
    // The legitimate releases still go in, and are served as Balrog serves them.
    server.put_release(firefox_70());
    server.put_release(firefox_56());
    server.add_rule(rule(
        100,
        "Firefox-56.0-build1",
        json!({"channel": "release"}),
    ));
    let resp = server.get(&v6(
        "54.0.1",
        "20170628075643",
        "WINNT_x86-msvc",
        "en-US",
        "release",
    ));
    assert_eq!(resp.body, FX56_EN);
}

/// A snapshot whose one rule serves `blob`, loaded as stored (below the admin API's checks, as
/// a row written before them or imported).
fn serving(blob: &Value) -> Snapshot {
    let release = Arc::new(Release::load("Firefox-56.0-build1", 1, blob).unwrap());
    let rule = serde_json::from_value(json!({"priority": 1, "backgroundRate": 100,
        "update_type": "minor", "mapping": "Firefox-56.0-build1"}))
    .unwrap();
    Snapshot::build(SnapshotData {
        rules: vec![(1, 1, rule)],
        releases: vec![release],
        ..SnapshotData::default()
    })
}

/// A blob already in a database (written before these checks, or imported) cannot inject either:
/// the writer escapes its values, and the client sees exactly the patches the blob names.
#[test]
fn a_stored_blob_cannot_add_a_patch_to_the_document() {
    let mut blob = firefox_56();
    blob["fileUrls"]["*"]["completes"]["*"] = json!(format!(
        "http://download.mozilla.org/?product=firefox-56.0-complete&os=%OS_BOUNCER%{INJECTION}"
    ));
    let snapshot = serving(&blob);
    let path = "/update/6/Firefox/55.0/20170101000000/WINNT_x86-msvc/en-US/release/Windows_NT%2010.0/SSE3/default/default/update.xml";
    let q = query::parse(path, "", "Mozilla/5.0").unwrap().unwrap();
    let mut client = ClientConfig::default();
    client.allowlisted_domains.0.insert(
        "download.mozilla.org".to_owned(),
        vec!["Firefox".to_owned()],
    );
    let outcome = evaluate(&snapshot, &q, &client, &mut || 0).unwrap();
    let urls = patch_urls(&outcome.body);
    assert_eq!(urls.len(), 1, "{}", outcome.body);
    assert!(
        urls[0].starts_with("http://download.mozilla.org/"),
        "{urls:?}"
    );
    assert!(
        urls[0].ends_with(INJECTION),
        "the value is kept, as text: {urls:?}"
    );
    // A control character cannot be written as XML at all: the release is skipped (no update),
    // not every request for its rule failed.
    let mut blob = firefox_56();
    blob["displayVersion"] = json!("56.0\u{0}");
    let snapshot = serving(&blob);
    let outcome = evaluate(&snapshot, &q, &client, &mut || 0).unwrap();
    assert_eq!(outcome.body, EMPTY);
    assert_eq!(outcome.served, None);
}

/// Sends a raw HTTP/1.1 request with `method` to `path`; returns the response head and body.
fn raw(server: &Server, method: &str, path: &str) -> (String, String) {
    use std::io::{Read, Write};
    let addr = server.base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (head.to_ascii_lowercase(), body.to_owned())
}

/// `/update/…` is read-only: GET and HEAD answer, anything else is 405 with `Allow`, and a
/// probe with another method no longer gets an (empty) update document.
#[test]
fn the_update_endpoint_answers_get_and_head_only() {
    let server = Server::start();
    server.put_release(firefox_54());
    server.put_release(firefox_56());
    server.add_rule(rule(
        100,
        "Firefox-56.0-build1",
        json!({"channel": "release"}),
    ));
    let path = v6(
        "54.0.1",
        "20170628075643",
        "WINNT_x86-msvc",
        "en-US",
        "release",
    );
    let (head, body) = raw(&server, "GET", &path);
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert_eq!(body, FX56_EN);
    let (head, body) = raw(&server, "HEAD", &path);
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("content-type: text/xml"), "{head}");
    assert_eq!(body, "", "HEAD has no body");
    for method in ["POST", "PUT", "DELETE", "FOOBAR"] {
        for target in [
            path.as_str(),
            "/update/7/anything",
            "/json/1/x",
            "/__heartbeat__",
        ] {
            let (head, body) = raw(&server, method, target);
            assert!(
                head.starts_with("http/1.1 405"),
                "{method} {target}: {head}"
            );
            assert!(
                head.contains("allow: get, head"),
                "{method} {target}: {head}"
            );
            assert!(!body.contains("<updates>"), "{method} {target}: {body}");
        }
    }
}

/// `/metrics` can move off the client listener: with `metrics_listen`, the real binary serves it
/// there alone and the client listener answers 404 for it.
#[test]
fn metrics_can_have_a_listener_of_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let (port, metrics_port) = (free_port(), free_port());
    let config = dir.path().join("kiln.toml");
    std::fs::write(
        &config,
        format!(
            "database = \"{}\"\nworkers = 1\nmetrics_listen = \"127.0.0.1:{metrics_port}\"\n",
            dir.path().join("kiln.db").display()
        ),
    )
    .unwrap();
    let mut child = serve(&config, port);
    let agent = agent();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while agent.get(format!("{base}/__lbheartbeat__")).call().is_err() {
        assert!(std::time::Instant::now() < deadline, "server did not start");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let on_client = to_resp(agent.get(format!("{base}/metrics")).call());
    let on_own = to_resp(
        agent
            .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
            .call(),
    );
    let elsewhere = to_resp(
        agent
            .get(format!("http://127.0.0.1:{metrics_port}/update/6/x"))
            .call(),
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(on_client.status, 404, "{}", on_client.body);
    assert_eq!(on_own.status, 200);
    assert!(
        on_own
            .body
            .contains("kiln_update_reports_totals_age_seconds"),
        "{}",
        on_own.body
    );
    assert_eq!(elsewhere.status, 404);
}
