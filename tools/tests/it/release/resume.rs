//! Resumability: a failing chunk (scenario 9) and kill -9 during construct and package.

use kiln_tools::release::quickstart;

use super::story::*;

fn env(name: &str, versions: &[&str]) -> quickstart::Env {
    let options = kiln_fixtures::Options {
        versions: versions.iter().map(|v| (*v).to_owned()).collect(),
        ..Default::default()
    };
    quickstart::prepare(&story_dir(name), &options, false).unwrap()
}

#[test]
fn scenario_09_parallel_and_chunked_repacks() {
    let env = env("chunks", &["121.0"]);
    let mut config = env.config.clone();
    config.chunk_size = 2;
    let text = std::fs::read_to_string(&env.config_path).unwrap();
    std::fs::write(
        &env.config_path,
        text.replace("chunk_size = 0", "chunk_size = 2"),
    )
    .unwrap();
    // 24 repack jobs in chunks of 2: each platform's 4 locales are ⌈4/2⌉ = 2 chunks.
    let chunks =
        kiln_tools::release::stages::construct::chunks(24, config.chunk_size, None).unwrap();
    assert_eq!(chunks.len(), 12);
    // fr on linux cannot be written: its job, its chunk and the promote fail.
    let build = env.config.root.join("candidates/121.0-candidates/build1");
    let blocker = build.join("linux-x86_64/fr/firefox-121.0.tar.xz");
    std::fs::create_dir_all(blocker.join("in-the-way")).unwrap();
    kiln_ok(
        &env.config_path,
        &[
            "go-to-build",
            "--version",
            "121.0",
            "--revision",
            &env.commits["121.0"],
            "--no-promote",
        ],
    );
    // A job runner's slice: chunk 1 of 12 is linux-x86_64's de and en-US, and nothing else.
    let slice = kiln_ok(&env.config_path, &["promote", R121, "--chunk", "1/12"]);
    assert_eq!(counts(&slice, "construct"), (0, 2, 0, 0), "{slice}");
    assert!(!slice.contains("certify:"), "{slice}");
    let first = kiln(&env.config_path, &["promote", R121]);
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(!first.status.success());
    assert!(stderr.contains("l10n/linux-x86_64/fr"), "{stderr}");
    assert!(
        stderr.contains("construct: chunk ") && stderr.contains("/12 failed"),
        "{stderr}"
    );
    let state = kiln_tools::release::coordinator::open_state(&env.config).unwrap();
    assert_eq!(state.release(R121).unwrap().status, ReleaseStatus::Failed);
    let kept = snapshot(&build);
    assert!(
        kept.contains_key("linux-x86_64/ja/firefox-121.0.tar.xz"),
        "the failing chunk's other job finished"
    );
    assert!(kept.contains_key("mac/de/firefox-121.0.tar.gz"));
    // Retry: only fr is made again; every other output is reused untouched.
    std::fs::remove_dir_all(&blocker).unwrap();
    let retry = kiln_ok(&env.config_path, &["promote", R121]);
    assert_eq!(counts(&retry, "construct"), (23, 0, 1, 0), "{retry}");
    let after = snapshot(&build);
    for (path, sha) in kept
        .iter()
        .filter(|(p, _)| p.ends_with(".tar.xz") || p.ends_with(".zip") || p.ends_with(".tar.gz"))
    {
        assert_eq!(after.get(path), Some(sha), "{path} was recomputed");
    }
}

/// `kiln status R121 --json`: the one release's report.
fn status_json(config: &std::path::Path) -> serde_json::Value {
    let out = kiln_ok(config, &["status", R121, "--json"]);
    let reports: serde_json::Value = serde_json::from_str(&out).unwrap();
    reports[0].clone()
}

#[test]
fn resume_after_kill_9_during_construct_and_package() {
    let env = env("kill", &["121.0"]);
    let config = env.config_path.clone();
    let build = env.config.root.join("candidates/121.0-candidates/build1");
    let revision = env.commits["121.0"].clone();
    kiln_ok(
        &config,
        &[
            "go-to-build",
            "--version",
            "121.0",
            "--revision",
            &revision,
            "--no-promote",
        ],
    );

    // kill -9 while construct has written some archives but not all.
    let mut child = spawn_promote(&config, &["promote", R121]);
    wait_for(
        "construct",
        || {
            walkdir::WalkDir::new(&build)
                .into_iter()
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".sig"))
                .count()
                >= 4
        },
        &mut child,
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let sigs = walkdir::WalkDir::new(&build)
        .into_iter()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".sig"))
        .count();
    assert!(
        sigs < 24,
        "construct had already finished ({sigs} signed archives)"
    );

    // kill -9 while package has recorded some MARs but not all.
    let mut child = spawn_promote(&config, &["promote", R121]);
    wait_for(
        "package",
        || done_items(&env.config.state_db, "package") >= 2,
        &mut child,
    );
    let while_running = status_json(&config);
    assert!(
        child.try_wait().unwrap().is_none(),
        "promote finished early"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let packaged = done_items(&env.config.state_db, "package");
    assert!(packaged < 13, "package had already finished");
    // status tells the live stage from the killed one.
    let phase = |report: &serde_json::Value| {
        report["phases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["stage"] == "package")
            .map(|p| p["status"].as_str().unwrap().to_owned())
    };
    assert_eq!(while_running["interrupted"], false, "{while_running}");
    assert_eq!(phase(&while_running).as_deref(), Some("running"));
    let after_kill = status_json(&config);
    assert_eq!(after_kill["interrupted"], true, "{after_kill}");
    assert_eq!(phase(&after_kill).as_deref(), Some("interrupted"));
    let text = kiln_ok(&config, &["status", R121]);
    assert!(text.contains("interrupted"), "{text}");

    // A killed writer can leave its temporary beside the outputs; plant one where a MAR goes so
    // the rerun must remove it whether or not this kill happened to leave one.
    let planted = build.join("update/linux-x86_64/de/.mar-planted");
    std::fs::create_dir_all(planted.parent().unwrap()).unwrap();
    std::fs::write(&planted, b"half a MAR").unwrap();
    let resumed = kiln_ok(&config, &["promote", R121]);
    assert!(
        !planted.exists(),
        "a killed run's temporary survived the rerun"
    );
    assert_eq!(counts(&resumed, "construct"), (24, 0, 0, 0), "{resumed}");
    assert_eq!(counts(&resumed, "certify"), (24, 0, 0, 0), "{resumed}");
    let (done, made, redone, failed) = counts(&resumed, "package");
    assert_eq!((done, failed), (packaged, 0), "{resumed}");
    assert_eq!(done + made + redone, 13, "{resumed}");
    assert!(made + redone >= 1, "{resumed}");

    // A no-op rerun, then an uninterrupted build of the same inputs: identical outputs.
    let noop = kiln_ok(&config, &["promote", R121]);
    assert_eq!(counts(&noop, "package"), (13, 0, 0, 0), "{noop}");
    let candidates_notices = std::fs::read_dir(&env.config.outbox)
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .contains("Firefox-121.0-build1-candidates")
        })
        .count();
    assert_eq!(candidates_notices, 1, "the candidates notice goes out once");
    kiln_ok(
        &config,
        &[
            "go-to-build",
            "--version",
            "121.0",
            "--build",
            "2",
            "--revision",
            &revision,
        ],
    );
    let clean = env.config.root.join("candidates/121.0-candidates/build2");
    assert_eq!(
        comparable(&build),
        comparable(&clean),
        "resumed outputs differ from a clean run"
    );
}
