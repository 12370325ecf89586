//! Resume: a download cut at 50 % is continued with `Range` by the next attempt, and the
//! result's SHA-512 matches the signed one. Also the exit codes of network and usage failures.

use crate::util::*;

#[test]
fn a_download_cut_at_half_resumes_with_range_and_the_hash_matches() {
    let server = TestServer::start();
    let mut config = config(vec![server.url("/update.xml")]);
    config.report_url = Some(server.url("/report"));
    server.route("/report", Reply::status(204));
    let (dir, before) = install(&BuildSpec::new("120.0", "20231113000000"), &config);
    let new_tree = build_tree(&BuildSpec::new("121.0", "20231211000000"), Some(&config));
    let mar = complete(&new_tree, &MarSpec::new("121.0"));
    let half = mar.len() / 2;
    server.route(
        "/update.xml",
        Reply::signed(
            update_xml(
                "121.0",
                "20231211000000",
                "",
                &[patch_xml("complete", &server.url("/c.mar"), &mar)],
            ),
            &keys().response,
            now_secs() + 600,
        ),
    );
    server.route(
        "/c.mar",
        Reply::Cut {
            body: mar.clone(),
            at: half,
        },
    );
    let install = path_str(dir.path());
    let out = kiln_client(&["update", "--install", install, "--no-stage", "--json"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_eq!(status_of(dir.path()), "download-failed");
    let part = dir.path().join("updates/downloading/update.mar");
    assert_eq!(std::fs::metadata(&part).unwrap().len(), half as u64);
    assert_tree(dir.path(), &before);

    server.route("/c.mar", Reply::ok(mar.clone()));
    let out = kiln_client(&["update", "--install", install, "--no-stage", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let requests = server.requests("/c.mar");
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].headers.get("range"), None);
    assert_eq!(
        requests[1].headers.get("range").map(String::as_str),
        Some(&*format!("bytes={half}-"))
    );
    let got = std::fs::read(dir.path().join("updates/0/update.mar")).unwrap();
    assert_eq!(sha512_hex(&got), sha512_hex(&mar));
    assert_eq!(status_of(dir.path()), "pending");
    // And it applies at the next start.
    let out = kiln_client(&["start", "--install", install]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Firefox 121.0"),
        "{out:?}"
    );
    assert_eq!(status_of(dir.path()), "succeeded");
    assert_tree(dir.path(), &new_tree);
    // Each outcome was reported once: the cut download failed, the update went in at start.
    let results: Vec<String> = server
        .requests("/report")
        .iter()
        .map(|r| {
            let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            format!(
                "{} {}",
                v["result"].as_str().unwrap(),
                v["patch_type"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(results, ["failure complete", "success complete"]);
}

#[test]
fn exit_codes_network_failure_is_3_and_usage_or_configuration_is_2() {
    // Every URL unreachable (a closed port): 3, nothing touched.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let config = config(vec![
        format!("http://{closed}/a/update.xml"),
        format!("http://{closed}/b/update.xml"),
    ]);
    let (dir, before) = install(&BuildSpec::new("120.0", "20231113000000"), &config);
    let install = path_str(dir.path());
    let out = kiln_client(&["update", "--install", install, "--json"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        json["mirror_failures"].as_array().unwrap().len(),
        2,
        "{json}"
    );
    assert_tree(dir.path(), &before);
    // Usage and configuration errors: 2.
    assert_eq!(kiln_client(&["update"]).status.code(), Some(2));
    let empty = tempfile::tempdir().unwrap();
    let out = kiln_client(&["check", "--install", path_str(empty.path())]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    std::fs::write(
        dir.path().join("kiln-update.toml"),
        "urls = [\"ftp://x\"]\nresponse_keys = []\nmar_keys = []\n",
    )
    .unwrap();
    assert_eq!(
        kiln_client(&["check", "--install", install]).status.code(),
        Some(2)
    );
}

#[test]
fn a_cut_partial_is_resumed_not_swapped_for_the_complete() {
    let server = TestServer::start();
    let config = config(vec![server.url("/update.xml")]);
    let old = build_tree(&BuildSpec::new("120.0", "20231113000000"), Some(&config));
    let (dir, _) = install(&BuildSpec::new("120.0", "20231113000000"), &config);
    let new_tree = build_tree(&BuildSpec::new("121.0", "20231211000000"), Some(&config));
    let complete_mar = complete(&new_tree, &MarSpec::new("121.0"));
    let partial_mar = partial(&old, &new_tree, &MarSpec::new("121.0"));
    let half = partial_mar.len() / 2;
    let xml = update_xml(
        "121.0",
        "20231211000000",
        "",
        &[
            patch_xml("complete", &server.url("/c.mar"), &complete_mar),
            patch_xml("partial", &server.url("/p.mar"), &partial_mar),
        ],
    );
    server.route(
        "/update.xml",
        Reply::signed(xml, &keys().response, now_secs() + 600),
    );
    server.route("/c.mar", Reply::ok(complete_mar));
    server.route(
        "/p.mar",
        Reply::Cut {
            body: partial_mar.clone(),
            at: half,
        },
    );
    let install = path_str(dir.path());
    let out = kiln_client(&["update", "--install", install, "--json"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(
        server.requests("/c.mar").is_empty(),
        "the complete was not fetched"
    );
    server.route("/p.mar", Reply::ok(partial_mar.clone()));
    let out = kiln_client(&["update", "--install", install, "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (out.status.code(), json["patch_type"].as_str()),
        (Some(0), Some("partial")),
        "{json}"
    );
    let last = server.requests("/p.mar").pop().unwrap();
    assert_eq!(
        last.headers.get("range").map(String::as_str),
        Some(&*format!("bytes={half}-"))
    );
    assert!(server.requests("/c.mar").is_empty());
}
