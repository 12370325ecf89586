//! `[platforms]` is the set a release builds (issue 23): a linux-only release of fixtures made
//! for all three platforms goes through go-to-build → promote → push → ship twice (the second
//! with a partial) without the mac and win64 en-US builds, and nothing of mac or win64 is built,
//! packaged, listed in checksums or offered by the update server.

use std::path::Path;

use kiln_tools::release::config::Config;
use kiln_tools::release::coordinator::open_state;
use kiln_tools::release::quickstart;
use kiln_tools::release::server::Admin;

use super::story::*;

const VERSIONS: [&str; 2] = ["120.0", "121.0"];
const OTHERS: [&str; 2] = ["mac", "win64"];

/// Whether a relative path names mac or win64 (a platform directory or a partner's
/// `mac-EME-free`/`win64-EME-free`).
fn other_platform(rel: &str) -> bool {
    rel.split('/').any(|c| {
        OTHERS
            .iter()
            .any(|p| c == *p || c.starts_with(&format!("{p}-")))
    })
}

/// Every file of `dir` that belongs to mac or win64, and every SUMS line that names one.
fn other_platform_files(dir: &Path) -> Vec<String> {
    let mut found: Vec<String> = snapshot(dir)
        .into_keys()
        .filter(|rel| other_platform(rel))
        .collect();
    for sums in ["SHA256SUMS", "SHA512SUMS"] {
        let text = std::fs::read_to_string(dir.join(sums)).unwrap();
        found.extend(
            text.lines()
                .filter(|line| other_platform(line))
                .map(|line| format!("{sums}: {line}")),
        );
    }
    found
}

#[test]
fn a_linux_only_release_builds_and_ships_only_linux() {
    let options = kiln_fixtures::Options {
        locales: "fr".parse().unwrap(),
        versions: VERSIONS.iter().map(|v| (*v).to_owned()).collect(),
        ..Default::default()
    };
    let mut env = quickstart::prepare(&story_dir("platforms"), &options, false).unwrap();
    env.config.platforms.retain(|p, _| p == "linux-x86_64");
    env.config.save(&env.config_path).unwrap();
    env.config = Config::load(&env.config_path).unwrap();
    // The fixtures hold all three platforms: configure must not need the other two.
    for version in VERSIONS {
        for platform in OTHERS {
            let dir = env
                .config
                .inputs
                .join("builds")
                .join(version)
                .join(platform);
            std::fs::remove_dir_all(dir).unwrap();
        }
    }
    let releng = env.server.releng_token_file.clone();
    for version in VERSIONS {
        ship(
            &env.config,
            &env.config_path,
            &env.commits[version],
            version,
            &releng,
        );
    }

    let root = &env.config.root;
    let state = open_state(&env.config).unwrap();
    let admin = Admin::new(&env.config.server.url, &env.config.admin_token().unwrap());
    for version in VERSIONS {
        let release = format!("Firefox-{version}-build1");
        let candidates = root.join(format!("candidates/{version}-candidates/build1"));
        let releases = root.join(format!("releases/{version}"));
        for dir in [&candidates, &releases] {
            assert_eq!(
                other_platform_files(dir),
                Vec::<String>::new(),
                "{}",
                dir.display()
            );
            assert!(dir.join("linux-x86_64/fr").is_dir(), "{}", dir.display());
        }
        assert_users_can_check(&releases);
        // Only acme (en-US here) builds, on linux; mozilla-EMEfree (mac and win64) gets no job.
        let partners: Vec<String> = snapshot(&candidates.join("partner-repacks"))
            .into_keys()
            .filter(|rel| kiln_tools::checksums::is_listed(rel))
            .collect();
        assert_eq!(
            partners,
            [format!(
                "acme/acme/v1/linux-x86_64/en-US/firefox-{version}.tar.xz"
            )]
        );
        // Every work item of every stage is linux-only (or platform-free: the checksums).
        let items: Vec<String> = state
            .items(&release, None)
            .unwrap()
            .into_iter()
            .map(|row| format!("{}/{}", row.stage, row.key))
            .filter(|key| other_platform(key))
            .collect();
        assert_eq!(items, Vec::<String>::new(), "{release}");
        // The release blob, as the update server holds it, has the Linux build target only.
        let blob = admin.release(&release).unwrap().expect("the release blob");
        let targets: Vec<&String> = blob["platforms"].as_object().unwrap().keys().collect();
        assert_eq!(targets, [LINUX], "{release}");
        let locales: Vec<&String> = blob["platforms"][LINUX]["locales"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        assert_eq!(locales, ["en-US", "fr"], "{release}");
    }
    // 121.0 has its partial from the shipped 120.0, for Linux only.
    let update = root.join("releases/121.0/update/linux-x86_64/fr");
    assert!(update.join("firefox-120.0-121.0.partial.mar").is_file());
}
