//! Spec Part C: one named test per attack, against a fault-injecting server. Each asserts the
//! install is byte-identical to before, and the exact exit code, error and status.

use serde_json::Value;

use crate::util::*;

const OLD: (&str, &str) = ("120.0", "20231113000000");
const NEW: (&str, &str) = ("121.0", "20231211000000");

/// A 120.0 install pointed at a test server, and the 121.0 tree it would update to.
struct Scenario {
    server: TestServer,
    dir: tempfile::TempDir,
    before: Snapshot,
    new_tree: Snapshot,
    config: client_updater::UpdateConfig,
}

impl Scenario {
    fn new(tweak: impl FnOnce(&mut client_updater::UpdateConfig, &TestServer)) -> Scenario {
        let server = TestServer::start();
        let mut config = config(vec![server.url("/update.xml?v=%VERSION%&b=%BUILD_ID%")]);
        tweak(&mut config, &server);
        let (dir, before) = install(&BuildSpec::new(OLD.0, OLD.1), &config);
        let new_tree = build_tree(&BuildSpec::new(NEW.0, NEW.1), Some(&config));
        Scenario {
            server,
            dir,
            before,
            new_tree,
            config,
        }
    }

    fn install(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Serves `mar` at `/c.mar` and an update XML for it (hash and size of `advertised`),
    /// signed with the response key.
    fn offer_complete(&self, mar: Vec<u8>, advertised: &[u8]) {
        self.server.route("/c.mar", Reply::ok(mar));
        self.offer_xml(update_xml(
            NEW.0,
            NEW.1,
            "",
            &[patch_xml(
                "complete",
                &self.server.url("/c.mar"),
                advertised,
            )],
        ));
    }

    fn offer_xml(&self, xml: Vec<u8>) {
        self.server.route(
            "/update.xml",
            Reply::signed(xml, &keys().response, now_secs() + 600),
        );
    }

    /// `kiln-client update --json` with extra flags: (exit code, JSON).
    fn update(&self, extra: &[&str]) -> (i32, Value) {
        let mut args = vec!["update", "--install", path_str(self.install()), "--json"];
        args.extend_from_slice(extra);
        run_json(&args)
    }

    #[track_caller]
    fn assert_untouched(&self) {
        assert_tree(self.install(), &self.before);
        assert!(!self.install().join("updated").exists());
    }

    fn good_complete(&self) -> Vec<u8> {
        complete(&self.new_tree, &MarSpec::new(NEW.0))
    }
}

fn error_of(json: &Value) -> String {
    json["error"].as_str().unwrap_or("").to_owned()
}

#[test]
fn arbitrary_installation_flipped_byte_is_refused() {
    let s = Scenario::new(|_, _| {});
    let good = s.good_complete();
    let mut flipped = good.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x01;
    s.offer_complete(flipped, &good);
    let (code, json) = s.update(&[]);
    assert_eq!(code, 1, "{json}");
    assert!(error_of(&json).contains("SHA-512 does not match"), "{json}");
    assert_eq!(status_of(s.install()), "download-failed");
    assert!(!s.install().join("updates/0/update.mar").exists());
    assert!(!s.install().join("updates/downloading/update.mar").exists());
    s.assert_untouched();
}

#[test]
fn arbitrary_installation_response_signed_by_unknown_key_is_refused() {
    let s = Scenario::new(|_, _| {});
    let good = s.good_complete();
    s.server.route("/c.mar", Reply::ok(good.clone()));
    let xml = update_xml(
        NEW.0,
        NEW.1,
        "",
        &[patch_xml("complete", &s.server.url("/c.mar"), &good)],
    );
    s.server.route(
        "/update.xml",
        Reply::signed(xml, &keys().rogue, now_secs() + 600),
    );
    let (code, json) = s.update(&[]);
    assert_eq!(code, 1, "{json}");
    assert!(
        error_of(&json).contains("response signed by unknown key"),
        "{json}"
    );
    assert!(s.server.requests("/c.mar").is_empty(), "nothing downloaded");
    assert_eq!(status_of(s.install()), "");
    s.assert_untouched();
}

#[test]
fn arbitrary_installation_mar_signed_by_unknown_key_is_19() {
    let s = Scenario::new(|_, _| {});
    let rogue = complete(
        &s.new_tree,
        &MarSpec {
            keys: vec![&keys().rogue],
            ..MarSpec::new(NEW.0)
        },
    );
    s.offer_complete(rogue.clone(), &rogue);
    let (code, json) = s.update(&[]);
    assert_eq!((code, json["code"].as_u64()), (1, Some(19)), "{json}");
    assert_eq!(status_of(s.install()), "failed: 19");
    s.assert_untouched();
}

/// Samples the child's resident set while it runs; returns (exit code, peak RSS in KiB).
fn run_measuring_rss(args: &[&str]) -> (i32, u64, String) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kiln-client"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak = 0u64;
    let code = loop {
        if let Ok(text) = std::fs::read_to_string(&status_path) {
            for line in text.lines() {
                if let Some(v) = line
                    .strip_prefix("VmHWM:")
                    .or_else(|| line.strip_prefix("VmRSS:"))
                {
                    let kib: u64 = v.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
                    peak = peak.max(kib);
                }
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status.code().unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    let mut out = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut out).unwrap();
    (code, peak, out)
}

#[test]
fn endless_data_infinite_body_is_cut_at_the_advertised_size() {
    let s = Scenario::new(|_, _| {});
    // The signed response advertises 48 MiB; the mirror never stops sending.
    let advertised = vec![7u8; 48 << 20];
    s.server.route("/c.mar", Reply::Endless);
    s.offer_xml(update_xml(
        NEW.0,
        NEW.1,
        "",
        &[patch_xml("complete", &s.server.url("/c.mar"), &advertised)],
    ));
    let (code, peak_kib, out) =
        run_measuring_rss(&["update", "--install", path_str(s.install()), "--json"]);
    let json: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(code, 1, "{json}");
    assert!(error_of(&json).contains("endless data"), "{json}");
    assert_eq!(status_of(s.install()), "download-failed");
    // Disk: nothing kept. Memory: far below the 48 MiB that went through.
    assert!(!s.install().join("updates/downloading/update.mar").exists());
    assert!(!s.install().join("updates/0/update.mar").exists());
    assert!(peak_kib < 40 * 1024, "peak RSS {peak_kib} KiB");
    s.assert_untouched();
}

#[test]
fn endless_data_one_byte_over_the_signed_size_is_refused() {
    let s = Scenario::new(|_, _| {});
    let good = s.good_complete();
    let mut longer = good.clone();
    longer.push(0);
    s.server.route("/c.mar", Reply::ok(longer));
    s.offer_xml(update_xml(
        NEW.0,
        NEW.1,
        "",
        &[patch_xml("complete", &s.server.url("/c.mar"), &good)],
    ));
    let (code, json) = s.update(&[]);
    assert_eq!(code, 1, "{json}");
    assert!(
        error_of(&json).contains(&format!("more than the advertised {} bytes", good.len())),
        "{json}"
    );
    assert!(!s.install().join("updates/downloading/update.mar").exists());
    assert_eq!(status_of(s.install()), "download-failed");
    s.assert_untouched();
}

#[test]
fn endless_data_infinite_update_response_is_capped() {
    let s = Scenario::new(|_, _| {});
    s.server.route("/update.xml", Reply::Endless);
    let (code, json) = s.update(&[]);
    assert_eq!(code, 1, "{json}");
    assert!(error_of(&json).contains("exceeds 1048576 bytes"), "{json}");
    s.assert_untouched();
}

#[test]
fn extraneous_dependencies_are_ignored_or_rejected() {
    let s = Scenario::new(|_, _| {});
    let good = s.good_complete();
    s.server.route("/c.mar", Reply::ok(good.clone()));
    // An extra "dependency" patch and an extra update of an unknown type: ignored, never fetched.
    let xml = format!(
        "<?xml version=\"1.0\"?>\n<updates>\n<update type=\"addon\" appVersion=\"999.0\" buildID=\"1\">{}</update>\n<update type=\"minor\" appVersion=\"{}\" buildID=\"{}\">{}{}</update>\n</updates>",
        patch_xml("complete", &s.server.url("/evil.mar"), b"evil"),
        NEW.0,
        NEW.1,
        patch_xml("dependency", &s.server.url("/evil.mar"), b"evil"),
        patch_xml("complete", &s.server.url("/c.mar"), &good),
    );
    s.offer_xml(xml.into_bytes());
    let (code, json) = s.update(&["--no-stage"]);
    assert_eq!(
        (code, json["result"].as_str()),
        (0, Some("pending")),
        "{json}"
    );
    assert!(
        s.server.requests("/evil.mar").is_empty(),
        "the extra target was fetched"
    );
    // An element outside the schema: the whole response is rejected.
    let s = Scenario::new(|_, _| {});
    s.offer_xml(
        format!(
            "<updates><update type=\"minor\" appVersion=\"{}\" buildID=\"{}\"><dependency URL=\"{}\"/></update></updates>",
            NEW.0,
            NEW.1,
            s.server.url("/evil.mar")
        )
        .into_bytes(),
    );
    let (code, json) = s.update(&[]);
    assert_eq!(code, 1, "{json}");
    assert!(
        error_of(&json).contains("unexpected element <dependency>"),
        "{json}"
    );
    assert!(s.server.requests("/evil.mar").is_empty());
    s.assert_untouched();
}

#[test]
fn fast_forward_and_rollback_older_signed_mar_is_23() {
    // The latest signed response, but the archive behind it is an older, validly signed build.
    let s = Scenario::new(|_, _| {});
    let older = complete(
        &build_tree(&BuildSpec::new("119.0", "20231016000000"), Some(&s.config)),
        &MarSpec::new("119.0"),
    );
    s.offer_complete(older.clone(), &older);
    let (code, json) = s.update(&[]);
    assert_eq!((code, json["code"].as_u64()), (1, Some(23)), "{json}");
    assert_eq!(status_of(s.install()), "failed: 23");
    s.assert_untouched();
}

#[test]
fn fast_forward_and_rollback_older_signed_response_is_ignored() {
    let s = Scenario::new(|_, _| {});
    let older = complete(
        &build_tree(&BuildSpec::new("119.0", "20231016000000"), Some(&s.config)),
        &MarSpec::new("119.0"),
    );
    s.server.route("/c.mar", Reply::ok(older.clone()));
    for (version, build) in [("119.0", "20231016000000"), (OLD.0, OLD.1)] {
        s.offer_xml(update_xml(
            version,
            build,
            "",
            &[patch_xml("complete", &s.server.url("/c.mar"), &older)],
        ));
        let (code, json) = s.update(&[]);
        assert_eq!(
            (code, json["result"].as_str()),
            (0, Some("no-update")),
            "{json}"
        );
    }
    assert!(s.server.requests("/c.mar").is_empty());
    s.assert_untouched();
}

#[test]
fn indefinite_freeze_expired_signature_is_refused() {
    let s = Scenario::new(|_, _| {});
    let good = s.good_complete();
    s.server.route("/c.mar", Reply::ok(good.clone()));
    let xml = update_xml(
        NEW.0,
        NEW.1,
        "",
        &[patch_xml("complete", &s.server.url("/c.mar"), &good)],
    );
    s.server.route(
        "/update.xml",
        Reply::signed(xml.clone(), &keys().response, now_secs() - 86_400),
    );
    let (code, json) = s.update(&[]);
    assert_eq!(code, 1, "{json}");
    assert!(
        error_of(&json).contains("freeze attack: response signature expired"),
        "{json}"
    );
    // Clock skew the other way: a lifetime far beyond what the server ever signs.
    s.server.route(
        "/update.xml",
        Reply::signed(xml, &keys().response, now_secs() + 30 * 86_400),
    );
    let (code, json) = s.update(&[]);
    assert_eq!(code, 1, "{json}");
    assert!(
        error_of(&json).contains("beyond the allowed lifetime"),
        "{json}"
    );
    assert!(s.server.requests("/c.mar").is_empty());
    s.assert_untouched();
}

#[test]
fn indefinite_freeze_replayed_response_is_refused() {
    let s = Scenario::new(|_, _| {});
    let now = now_secs();
    // Today's "no update" answer is accepted...
    let empty = b"<?xml version=\"1.0\"?>\n<updates>\n</updates>".to_vec();
    s.server.route(
        "/update.xml",
        Reply::signed(empty, &keys().response, now + 2 * 86_400),
    );
    let (code, json) = s.update(&[]);
    assert_eq!(
        (code, json["result"].as_str()),
        (0, Some("no-update")),
        "{json}"
    );
    // ...then yesterday's still-unexpired answer is replayed: refused.
    let good = s.good_complete();
    s.server.route("/c.mar", Reply::ok(good.clone()));
    let xml = update_xml(
        NEW.0,
        NEW.1,
        "",
        &[patch_xml("complete", &s.server.url("/c.mar"), &good)],
    );
    s.server.route(
        "/update.xml",
        Reply::signed(xml, &keys().response, now + 600),
    );
    let (code, json) = s.update(&[]);
    assert_eq!(code, 1, "{json}");
    assert!(error_of(&json).contains("replayed response"), "{json}");
    s.assert_untouched();
}

#[test]
fn malicious_mirrors_garbage_500_and_stale_then_the_good_mirror_succeeds() {
    let s = Scenario::new(|config, server| {
        config.urls = ["/garbage.xml", "/500.xml", "/stale.xml", "/update.xml"]
            .iter()
            .map(|p| server.url(p))
            .collect();
    });
    let good = s.good_complete();
    s.offer_complete(good.clone(), &good);
    let xml = update_xml(
        NEW.0,
        NEW.1,
        "",
        &[patch_xml("complete", &s.server.url("/c.mar"), &good)],
    );
    s.server
        .route("/garbage.xml", Reply::ok(b"\x00\xffgarbage".to_vec()));
    s.server.route("/500.xml", Reply::status(500));
    s.server.route(
        "/stale.xml",
        Reply::signed(xml, &keys().response, now_secs() - 3600),
    );
    let (code, json) = s.update(&["--no-stage"]);
    assert_eq!(
        (code, json["result"].as_str()),
        (0, Some("pending")),
        "{json}"
    );
    let failures: Vec<String> = json["mirror_failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(failures.len(), 3, "{failures:?}");
    assert!(failures[0].contains("/garbage.xml") && failures[0].contains("no Content-Signature"));
    assert!(failures[1].contains("/500.xml") && failures[1].contains("HTTP 500"));
    assert!(failures[2].contains("/stale.xml") && failures[2].contains("freeze attack"));
    assert_eq!(status_of(s.install()), "pending");
    // Pending: the install itself is still untouched until the next start.
    s.assert_untouched();
}

#[test]
fn malicious_mirrors_a_4xx_is_a_refusal_asked_once_and_the_next_mirror_still_asked() {
    let s = Scenario::new(|config, server| {
        config.urls = vec![server.url("/403.xml"), server.url("/update.xml")];
    });
    let mut body = b"\x1b[2Jgo away ".to_vec();
    body.extend(std::iter::repeat_n(b'x', 4000));
    s.server.route(
        "/403.xml",
        Reply::Full {
            status: 403,
            headers: Vec::new(),
            body,
        },
    );
    let good = s.good_complete();
    s.offer_complete(good.clone(), &good);
    let (code, json) = s.update(&["--no-stage"]);
    assert_eq!(
        (code, json["result"].as_str()),
        (0, Some("pending")),
        "{json}"
    );
    let failures = json["mirror_failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{json}");
    let failure = failures[0].as_str().unwrap();
    assert!(failure.starts_with("refused: "), "{failure}");
    assert!(failure.contains("HTTP 403: [2Jgo away xxx"), "{failure}");
    assert!(
        !failure.contains('\x1b'),
        "terminal escapes are not passed on"
    );
    assert!(failure.len() < 800, "the quote is bounded: {failure}");
    assert_eq!(s.server.requests("/403.xml").len(), 1);
    assert_eq!(s.server.requests("/update.xml").len(), 1);

    // Alone, the refusing server fails the check with exit 1 (not 3), after one request.
    let only = s.server.url("/403.xml");
    let (code, json) = run_json(&[
        "check",
        "--install",
        path_str(s.install()),
        "--url",
        &only,
        "--json",
    ]);
    assert_eq!(
        (code, json["kind"].as_str()),
        (1, Some("Refused")),
        "{json}"
    );
    assert!(
        json["error"].as_str().unwrap().contains("HTTP 403"),
        "{json}"
    );
    assert_eq!(s.server.requests("/403.xml").len(), 2);
}

#[test]
fn mix_and_match_complete_of_another_channel_locale_or_platform_is_refused() {
    // Validly signed by the pinned key, served under the right URL with its right hash.
    let s = Scenario::new(|_, _| {});
    let beta = complete(
        &s.new_tree,
        &MarSpec {
            channel: "firefox-mozilla-beta",
            ..MarSpec::new(NEW.0)
        },
    );
    s.offer_complete(beta.clone(), &beta);
    let (code, json) = s.update(&[]);
    assert_eq!((code, json["code"].as_u64()), (1, Some(22)), "{json}");
    assert_eq!(status_of(s.install()), "failed: 22");
    s.assert_untouched();

    let s = Scenario::new(|_, _| {});
    let mut fr = BuildSpec::new(NEW.0, NEW.1);
    fr.locale = "fr";
    let other_locale = complete(&build_tree(&fr, Some(&s.config)), &MarSpec::new(NEW.0));
    s.offer_complete(other_locale.clone(), &other_locale);
    let (code, json) = s.update(&[]);
    assert_eq!((code, json["code"].as_u64()), (1, Some(22)), "{json}");
    assert!(error_of(&json).contains("locale \"fr\""), "{json}");
    assert_eq!(status_of(s.install()), "failed: 22");
    s.assert_untouched();

    // Another platform: its build carries another build target in kiln-update.toml.
    let s = Scenario::new(|_, _| {});
    let mut windows = s.config.clone();
    windows.build_target = Some("WINNT_x86_64-msvc-x64".to_owned());
    let other_platform = complete(
        &build_tree(&BuildSpec::new(NEW.0, NEW.1), Some(&windows)),
        &MarSpec::new(NEW.0),
    );
    s.offer_complete(other_platform.clone(), &other_platform);
    let (code, json) = s.update(&[]);
    assert_eq!((code, json["code"].as_u64()), (1, Some(22)), "{json}");
    assert!(
        error_of(&json).contains("build target \"WINNT_x86_64-msvc-x64\""),
        "{json}"
    );
    s.assert_untouched();
}

#[test]
fn slow_retrieval_times_out_then_resumes_with_range() {
    let s = Scenario::new(|_, _| {});
    let good = s.good_complete();
    s.offer_complete(good.clone(), &good);
    s.server.route(
        "/c.mar",
        Reply::Drip {
            body: good.clone(),
            fast: 1000,
            bytes_per_sec: 1,
        },
    );
    let slow = [
        "--min-rate",
        "100",
        "--rate-window-secs",
        "1",
        "--deadline-secs",
        "20",
        "--no-stage",
    ];
    let (code, json) = s.update(&slow);
    assert_eq!(code, 3, "{json}");
    assert!(error_of(&json).contains("slow retrieval"), "{json}");
    assert_eq!(status_of(s.install()), "download-failed");
    let held = std::fs::metadata(s.install().join("updates/downloading/update.mar"))
        .unwrap()
        .len();
    assert!((1000..good.len() as u64).contains(&held), "held {held}");
    s.assert_untouched();
    // The mirror recovers: the retry asks only for the rest.
    s.server.route("/c.mar", Reply::ok(good.clone()));
    let (code, json) = s.update(&slow);
    assert_eq!(
        (code, json["result"].as_str()),
        (0, Some("pending")),
        "{json}"
    );
    let last = s.server.requests("/c.mar").pop().unwrap();
    assert_eq!(
        last.headers.get("range").map(String::as_str),
        Some(&*format!("bytes={held}-"))
    );
    assert_eq!(
        sha512_hex(&std::fs::read(s.install().join("updates/0/update.mar")).unwrap()),
        sha512_hex(&good)
    );
}

#[test]
fn key_compromise_one_of_two_keys_is_refused() {
    let s = Scenario::new(|config, _| {
        config.mar_keys = vec![pem(&keys().mar), pem(&keys().mar2)];
        config.mar_threshold = 2;
    });
    // The attacker holds one of the two keys the threshold requires.
    let one = complete(&s.new_tree, &MarSpec::new(NEW.0));
    s.offer_complete(one.clone(), &one);
    let (code, json) = s.update(&[]);
    assert_eq!((code, json["code"].as_u64()), (1, Some(19)), "{json}");
    assert_eq!(status_of(s.install()), "failed: 19");
    s.assert_untouched();
    // Both keys: accepted.
    let both = complete(
        &s.new_tree,
        &MarSpec {
            keys: vec![&keys().mar, &keys().mar2],
            ..MarSpec::new(NEW.0)
        },
    );
    s.offer_complete(both.clone(), &both);
    let (code, json) = s.update(&["--no-stage"]);
    assert_eq!(
        (code, json["result"].as_str()),
        (0, Some("pending")),
        "{json}"
    );

    // The response key was rotated: an answer signed with the old key fails.
    let s = Scenario::new(|config, _| config.response_keys = vec![pem(&keys().rogue)]);
    let good = s.good_complete();
    s.offer_complete(good.clone(), &good);
    let (code, json) = s.update(&[]);
    assert_eq!(code, 1, "{json}");
    assert!(error_of(&json).contains("unknown key"), "{json}");
    s.assert_untouched();
}

#[test]
fn wrong_software_other_product_or_channel_in_the_pib_is_refused() {
    let s = Scenario::new(|_, _| {});
    let other_channel = complete(
        &s.new_tree,
        &MarSpec {
            channel: "thunderbird-comm-release",
            ..MarSpec::new(NEW.0)
        },
    );
    s.offer_complete(other_channel.clone(), &other_channel);
    let (code, json) = s.update(&[]);
    assert_eq!((code, json["code"].as_u64()), (1, Some(22)), "{json}");
    assert_eq!(status_of(s.install()), "failed: 22");
    s.assert_untouched();

    let s = Scenario::new(|_, _| {});
    let mut tb = BuildSpec::new(NEW.0, NEW.1);
    tb.product = "Thunderbird";
    let other_product = complete(&build_tree(&tb, Some(&s.config)), &MarSpec::new(NEW.0));
    s.offer_complete(other_product.clone(), &other_product);
    let (code, json) = s.update(&[]);
    assert_eq!((code, json["code"].as_u64()), (1, Some(22)), "{json}");
    assert!(
        error_of(&json).contains("product Some(\"Thunderbird\")"),
        "{json}"
    );
    s.assert_untouched();
}

/// A redirect to `location`.
fn redirect(status: u16, location: &str) -> Reply {
    Reply::Full {
        status,
        headers: vec![("Location".into(), location.into())],
        body: Vec::new(),
    }
}

/// `http://user:secret@` + the server's address + `path`.
fn with_credentials(server: &TestServer, path: &str) -> String {
    server
        .url(path)
        .replacen("http://", "http://user:secret@", 1)
}

/// No request to any of `servers` carried an `Authorization` header.
#[track_caller]
fn assert_no_authorization(servers: &[&TestServer]) {
    for server in servers {
        for seen in server.requests("") {
            assert!(
                !seen.headers.contains_key("authorization"),
                "{} sent Authorization: {:?}",
                seen.path,
                seen.headers
            );
        }
    }
}

#[test]
fn credentials_in_a_patch_url_are_refused_and_never_sent() {
    let s = Scenario::new(|_, _| {});
    let mirror = TestServer::start();
    let good = s.good_complete();
    mirror.route("/c.mar", Reply::ok(good.clone()));
    s.offer_xml(update_xml(
        NEW.0,
        NEW.1,
        "",
        &[patch_xml(
            "complete",
            &with_credentials(&mirror, "/c.mar"),
            &good,
        )],
    ));
    let (code, json) = s.update(&["--no-stage"]);
    assert_eq!(
        (code, json["kind"].as_str()),
        (1, Some("Refused")),
        "{json}"
    );
    let error = error_of(&json);
    assert!(error.contains("credentials"), "{error}");
    assert!(
        !error.contains("secret") && error.contains("***@127.0.0.1"),
        "{error}"
    );
    assert!(mirror.requests("").is_empty(), "the mirror was asked");
    assert_no_authorization(&[&s.server, &mirror]);
    assert_eq!(status_of(s.install()), "download-failed");
    s.assert_untouched();
}

#[test]
fn credentials_in_a_redirect_target_are_refused_and_never_sent() {
    let mirror = TestServer::start();
    let s = Scenario::new(|config, server| config.urls = vec![server.url("/moved.xml")]);
    let good = s.good_complete();
    s.offer_complete(good.clone(), &good);
    mirror.route("/update.xml", Reply::ok(Vec::new()));
    s.server.route(
        "/moved.xml",
        redirect(302, &with_credentials(&mirror, "/update.xml")),
    );
    let (code, json) = s.update(&["--no-stage"]);
    assert_eq!(
        (code, json["kind"].as_str()),
        (1, Some("Refused")),
        "{json}"
    );
    assert!(error_of(&json).contains("credentials"), "{json}");
    assert!(mirror.requests("").is_empty(), "the redirect was followed");
    assert_no_authorization(&[&s.server, &mirror]);
    s.assert_untouched();
}

#[test]
fn redirects_http_to_http_are_followed_on_the_check_and_the_download() {
    let mirror = TestServer::start();
    let s = Scenario::new(|config, server| config.urls = vec![server.url("/old/update.xml")]);
    let good = s.good_complete();
    s.offer_complete(good.clone(), &good);
    // A relative Location on the check, an absolute one to another host on the download.
    s.server
        .route("/old/update.xml", redirect(301, "../update.xml"));
    s.server
        .route("/c.mar", redirect(302, &mirror.url("/cdn/c.mar")));
    mirror.route("/cdn/c.mar", Reply::ok(good.clone()));
    let (code, json) = s.update(&["--no-stage"]);
    assert_eq!(
        (code, json["result"].as_str()),
        (0, Some("pending")),
        "{json}"
    );
    assert_eq!(s.server.requests("/update.xml").len(), 1);
    assert_eq!(mirror.requests("/cdn/c.mar").len(), 1);
    assert_no_authorization(&[&s.server, &mirror]);
}

#[test]
fn a_redirect_loop_ends_after_max_redirects() {
    let s = Scenario::new(|config, server| config.urls = vec![server.url("/loop.xml")]);
    s.server.route("/loop.xml", redirect(307, "/loop.xml"));
    let (code, json) = s.update(&["--no-stage"]);
    assert_eq!(
        (code, json["kind"].as_str()),
        (3, Some("Network")),
        "{json}"
    );
    assert!(error_of(&json).contains("more than 5 redirects"), "{json}");
    // The first request and five redirects, then nothing more.
    assert_eq!(s.server.requests("/loop.xml").len(), 6);
    s.assert_untouched();
}

#[test]
fn an_http_patch_under_an_https_update_url_is_refused() {
    use client_updater::download::DownloadError;
    use client_updater::{Error, ErrorKind, PatchType, UpdateOffer, UpdatePatch, UrlRefused};

    let s = Scenario::new(|_, _| {});
    let mirror = TestServer::start();
    let good = s.good_complete();
    mirror.route("/c.mar", Reply::ok(good.clone()));
    let updater = client_updater::Updater::from_install_config(s.install())
        .unwrap()
        .build()
        .unwrap();
    // The offer as an https check gives it (no TLS server here: the rule looks at the offer's
    // check URL, which `Updater::check` records).
    let offer = |check_url: &str| UpdateOffer {
        update_type: "minor".into(),
        app_version: NEW.0.into(),
        display_version: NEW.0.into(),
        build_id: NEW.1.into(),
        details_url: None,
        prompt_wait_time: None,
        show_prompt: false,
        unsupported: false,
        patches: vec![UpdatePatch {
            patch_type: PatchType::Complete,
            url: mirror.url("/c.mar"),
            sha512: sha512_hex(&good),
            size: good.len() as u64,
        }],
        check_url: Some(check_url.to_owned()),
    };
    let err = updater
        .download(&offer("https://updates.example/update.xml"), &|_, _| {})
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Refused, "{err}");
    assert!(
        matches!(
            err,
            Error::Download(DownloadError::Refused(UrlRefused::InsecureDownload { .. }))
        ),
        "{err}"
    );
    assert!(mirror.requests("").is_empty(), "the http mirror was asked");
    // Under an http update URL (loopback set-ups, these tests) the same download goes ahead.
    let downloaded = updater
        .download(&offer(&s.server.url("/update.xml")), &|_, _| {})
        .unwrap();
    assert_eq!(std::fs::read(downloaded.path()).unwrap(), good);
}
