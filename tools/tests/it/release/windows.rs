//! Authenticode in the pipeline (issue 20): certify fails a Windows build carrying a PE file the
//! release did not sign, the release is marked failed with the item named, and once the cause is
//! fixed a rerun of promote redoes only that build.
//!
//! The cause is a realistic one: a partner's `distribution/` ships a helper executable. A partner
//! build may differ from its locale build there, so only the Authenticode check catches it —
//! first unsigned, then signed with the partner's own code-signing certificate (another CA); the
//! fix is to sign it with the release's certificate (`kiln sign --authenticode`).

use std::io::Read;
use std::path::Path;

use kiln_tools::release::config::Config;
use kiln_tools::release::coordinator::open_state;
use kiln_tools::release::quickstart;

use super::story::*;
use crate::authenticode::sign;
use crate::util::{kiln_ok as tool_ok, s};

const RELEASE: &str = "Firefox-121.0-build1";
const PARTNER_BUILD: &str = "partner/acme/acme/v1/win64/en-US";

/// A real, unsigned PE image: the en-US win64 build's `pingsender.exe`.
fn unsigned_pe(inputs: &Path) -> Vec<u8> {
    let archive = inputs.join("builds/121.0/win64/en-US/firefox-121.0.zip");
    let mut zip = zip::ZipArchive::new(std::fs::File::open(archive).unwrap()).unwrap();
    let mut entry = zip.by_name("firefox/pingsender.exe").unwrap();
    let mut data = Vec::new();
    entry.read_to_end(&mut data).unwrap();
    data
}

/// Promote fails in certify, naming the partner build and `reason`; the release is `failed`.
fn assert_certify_fails(config: &Config, output: &std::process::Output, reason: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("certify: 1 item(s) failed"), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{PARTNER_BUILD}: firefox/distribution/acme-helper.exe: Authenticode: {reason}"
        )),
        "{stderr}"
    );
    let state = open_state(config).unwrap();
    assert_eq!(
        state.release(RELEASE).unwrap().status,
        ReleaseStatus::Failed
    );
    let failed: Vec<String> = state
        .items(RELEASE, Some("certify"))
        .unwrap()
        .into_iter()
        .filter(|row| row.status == ItemStatus::Failed)
        .map(|row| row.key.to_string())
        .collect();
    assert_eq!(failed, [PARTNER_BUILD]);
}

#[test]
fn certify_fails_a_windows_build_with_a_pe_file_the_release_did_not_sign() {
    let options = kiln_fixtures::Options {
        locales: "fr".parse().unwrap(),
        versions: vec!["121.0".to_owned()],
        ..Default::default()
    };
    let mut env = quickstart::prepare(&story_dir("windows-signing"), &options, false).unwrap();
    env.config.platforms.retain(|p, _| p == "win64");
    env.config.save(&env.config_path).unwrap();
    env.config = Config::load(&env.config_path).unwrap();
    let config = &env.config_path;
    let helper = env
        .config
        .inputs
        .join("partners/acme/acme/distribution/acme-helper.exe");
    std::fs::write(&helper, unsigned_pe(&env.config.inputs)).unwrap();

    // Unsigned: go-to-build's promote fails in certify on acme's win64 build only.
    let revision = env.commits["121.0"].clone();
    let first = kiln(
        config,
        &["go-to-build", "--version", "121.0", "--revision", &revision],
    );
    assert_certify_fails(&env.config, &first, "not signed");
    // en-US and fr, acme's en-US, EME-free's en-US and fr: every other build passed.
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert_eq!(counts(&stdout, "construct"), (0, 5, 0, 0), "{stdout}");

    // Signed by the partner's own certificate, which the release does not trust: still refused,
    // and only acme's build is repacked and certified again.
    let partner_keys = env.dir.join("partner-keys");
    tool_ok(&["keys", "generate", "--out", s(&partner_keys)]);
    sign(std::slice::from_ref(&helper), &partner_keys);
    let second = kiln(config, &["promote", RELEASE]);
    assert_certify_fails(&env.config, &second, "untrusted signer");
    let stdout = String::from_utf8_lossy(&second.stdout);
    assert_eq!(counts(&stdout, "construct"), (4, 0, 1, 0), "{stdout}");

    // Signed with the release's certificate: the rerun redoes acme's build and goes on.
    let keys = env.dir.join("keys");
    sign(std::slice::from_ref(&helper), &keys);
    let third = kiln_ok(config, &["promote", RELEASE]);
    assert_eq!(counts(&third, "configure"), (1, 0, 0, 0), "{third}");
    assert_eq!(counts(&third, "construct"), (4, 0, 1, 0), "{third}");
    assert_eq!(counts(&third, "certify"), (4, 0, 1, 0), "{third}");
    let state = open_state(&env.config).unwrap();
    assert_eq!(
        state.release(RELEASE).unwrap().status,
        ReleaseStatus::Candidates
    );
    // Every PE file of every Windows build, the partner's helper included, verifies.
    let build = env.config.root.join("candidates/121.0-candidates/build1");
    let ca = keys.join("authenticode-ca.pem");
    let ed25519 = keys.join("ed25519.pub");
    tool_ok(&[
        "verify",
        "--dir",
        s(&build),
        "--key",
        s(&ed25519),
        "--authenticode-ca",
        s(&ca),
    ]);
    // A rerun has nothing to do.
    let noop = kiln_ok(config, &["promote", RELEASE]);
    assert_eq!(counts(&noop, "certify"), (5, 0, 0, 0), "{noop}");
}
