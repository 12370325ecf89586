//! Release lines (issue 23): a beta line (132.0b3 → 132.0b5 → the 132.0 release candidate on
//! `beta`) and an ESR line (128.5.0esr → 128.5.1esr) go through go-to-build, push, ship and
//! signoffs with the real update server and CDN; a client of each line asks with its app version
//! on its channel, is offered its line's next build and updates by partial to a tree identical to
//! the shipped build; a beta never reaches `release`.

use std::path::{Path, PathBuf};

use kiln_tools::release::config::Config;
use kiln_tools::release::quickstart::{self, Env};
use mar::update::version::Line;

use super::story::*;

/// One platform's client (the fixtures build all three: `[platforms]` is not restricted here).
const PLATFORM: l10n_repack::Platform = l10n_repack::Platform::Linux64;
const LOCALE: &str = "fr";

/// An environment of `versions` whose `kiln.toml` ships `line`; returns it with the loaded
/// configuration.
fn line_env(name: &str, line: Line, versions: &[&str]) -> (Env, Config) {
    let options = kiln_fixtures::Options {
        versions: versions.iter().map(|v| (*v).to_owned()).collect(),
        locales: LOCALE.parse().unwrap(),
        ..Default::default()
    };
    let env = quickstart::prepare(&story_dir(name), &options, false).unwrap();
    let mut config = Config::load(&env.config_path).unwrap();
    config.set_line(line);
    config.save(&env.config_path).unwrap();
    let config = Config::load(&env.config_path).unwrap();
    (env, config)
}

/// go-to-build (returning its stdout), push, ship and both signoffs of `version`, build 1.
fn ship_line(env: &Env, config: &Config, version: &str) -> String {
    let path = &env.config_path;
    let name = format!("Firefox-{version}-build1");
    let revision = &env.commits[version];
    let stdout = kiln_ok(
        path,
        &["go-to-build", "--version", version, "--revision", revision],
    );
    kiln_ok(path, &["push", &name]);
    kiln_ok(path, &["ship", &name]);
    kiln_ok(path, &["signoff", &name, "--role", "relman"]);
    let releng = env.server.releng_token_file.to_str().unwrap();
    kiln_ok(
        path,
        &["signoff", &name, "--role", "releng", "--token-file", releng],
    );
    assert!(config.root.join("releases").join(version).is_dir());
    stdout
}

/// The shipped `fr` Linux archive of `version`.
fn shipped_archive(config: &Config, version: &str) -> PathBuf {
    config
        .root
        .join("releases")
        .join(version)
        .join(PLATFORM.as_str())
        .join(LOCALE)
        .join(format!("firefox-{version}.tar.xz"))
}

/// A client install of the shipped `version`, in `dir`.
fn install_shipped(config: &Config, version: &str, dir: &Path) -> PathBuf {
    l10n_repack::extract(&shipped_archive(config, version), dir).unwrap();
    dir.join("firefox")
}

/// The tree of an install as the user has it (without the client's `updates/` directory).
fn tree(root: &Path) -> kiln_test_support::Snapshot {
    kiln_test_support::snapshot(root)
        .into_iter()
        .filter(|(k, _)| k != "updates" && !k.starts_with("updates/"))
        .collect()
}

/// The files an update adds only where missing (Mozilla's `add-if-not`): an install keeps its own
/// channel settings, so a beta that takes the release candidate stays on `beta`.
const KEPT: [&str; 2] = ["defaults/pref/channel-prefs.js", "update-settings.ini"];

/// The client of `install` checks (asserting its URL carries `app_version` and `channel`),
/// takes the offered update, which must be a partial, and restarts into it; the install must then
/// be exactly the shipped `version`, but for [`KEPT`] files, which stay those of the shipped
/// `kept_from` when given (an update across lines).
fn update_by_partial(
    config: &Config,
    install: &Path,
    (app_version, channel): (&str, &str),
    version: &str,
    kept_from: Option<&str>,
) {
    let updater = client_updater::Updater::from_install_config(install)
        .unwrap()
        .build()
        .unwrap();
    let url = updater.check_urls(false).unwrap().remove(0);
    assert!(
        url.contains(&format!("/update/6/Firefox/{app_version}/"))
            && url.contains(&format!("/{LOCALE}/{channel}/")),
        "{url}"
    );
    let (offer, patch) = match updater.update_once(false).unwrap() {
        client_updater::Outcome::Staged(offer, patch)
        | client_updater::Outcome::Pending(offer, patch) => (offer, patch),
        other => panic!("{url}: expected {version}, got {other:?}"),
    };
    assert_eq!(patch, client_updater::PatchType::Partial, "{url}");
    let expected_app = version
        .parse::<kiln_tools::release::name::Version>()
        .unwrap();
    assert_eq!(offer.app_version, expected_app.app_version());
    assert_eq!(offer.display_version, version);
    match updater.finish_pending().unwrap() {
        client_updater::StartOutcome::Updated(v) => assert_eq!(v, expected_app.app_version()),
        other => panic!("the {version} update did not go in: {other:?}"),
    }
    let shipped = tempfile::tempdir().unwrap();
    let mut expected = tree(&install_shipped(config, version, shipped.path()));
    if let Some(previous) = kept_from {
        let before = tempfile::tempdir().unwrap();
        let before = tree(&install_shipped(config, previous, before.path()));
        for file in KEPT {
            assert_ne!(before.get(file), expected.get(file), "{file}");
            expected.insert(file.to_owned(), before[file].clone());
        }
    }
    let actual = tree(install);
    let differences: Vec<&String> = expected
        .keys()
        .chain(actual.keys())
        .filter(|k| expected.get(*k) != actual.get(*k))
        .collect();
    assert!(
        differences.is_empty(),
        "the updated install differs from the shipped {version}: {differences:?}"
    );
}

/// The update.xml the server answers a Linux `fr` client of `app_version`/`build_id` on `channel`.
fn answer(env: &Env, app_version: &str, build_id: &str, channel: &str) -> String {
    let url = format!(
        "{}/update/6/Firefox/{app_version}/{build_id}/{LINUX}/{LOCALE}/{channel}/Linux%206.1/ISET:SSE4_2,MEM:16384/default/default/update.xml",
        env.server.server.url
    );
    let (status, body) = get(&url, &[]);
    assert_eq!(status, 200, "{url}: {body}");
    body
}

#[test]
fn beta_line_ships_betas_then_the_release_candidate_on_beta() {
    let (env, config) = line_env("beta-line", Line::Beta, &["132.0b3", "132.0b5", "132.0"]);
    assert_eq!(config.mar_channel_id, "firefox-mozilla-beta");
    let gtb = ship_line(&env, &config, "132.0b3");
    assert!(gtb.contains("next version 132.0b4"), "{gtb}");
    let client = tempfile::tempdir().unwrap();
    let install = install_shipped(&config, "132.0b3", client.path());
    let b3_build_id = build_id(&env, "Firefox-132.0b3-build1", LINUX);

    // A release-line kiln.toml refuses a beta before recording anything.
    let release_toml = env.dir.join("release.toml");
    let mut release = config.clone();
    release.set_line(Line::Release);
    release.save(&release_toml).unwrap();
    let refused = kiln(
        &release_toml,
        &[
            "go-to-build",
            "--version",
            "132.0b5",
            "--revision",
            &env.commits["132.0b5"],
        ],
    );
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("132.0b5 is a beta version, but kiln.toml channel = \"release\""),
        "{stderr}"
    );

    let gtb = ship_line(&env, &config, "132.0b5");
    assert!(gtb.contains("partials: Firefox-132.0b3-build1"), "{gtb}");
    let offered_b5 = answer(&env, "132.0", &b3_build_id, "beta");
    assert_eq!(
        offered(&offered_b5).as_deref(),
        Some("132.0"),
        "{offered_b5}"
    );
    assert!(
        offered_b5.contains("displayVersion=\"132.0b5\""),
        "{offered_b5}"
    );
    // Nothing reaches release: no beta is mapped there.
    assert_eq!(
        offered(&answer(&env, "132.0", &b3_build_id, "release")),
        None
    );
    update_by_partial(&config, &install, ("132.0", "beta"), "132.0b5", None);

    // The release candidate on beta: the release build, partials from the last betas, its MARs
    // on the release MAR channel id the betas accept.
    let gtb = ship_line(&env, &config, "132.0");
    assert!(
        gtb.contains("partials: Firefox-132.0b5-build1, Firefox-132.0b3-build1"),
        "{gtb}"
    );
    assert!(gtb.contains("next version 132.0.1"), "{gtb}");
    let rc_mar = config
        .root
        .join("releases/132.0/update/linux-x86_64/fr/firefox-132.0.complete.mar");
    let archive = mar::Mar::open(std::fs::File::open(&rc_mar).unwrap()).unwrap();
    let info = archive.product_info().unwrap();
    assert_eq!(info.channel(), "firefox-mozilla-release");
    assert_eq!(info.version(), "132.0");
    // The beta keeps its channel settings (beta, accepting beta and release MARs).
    update_by_partial(
        &config,
        &install,
        ("132.0", "beta"),
        "132.0",
        Some("132.0b5"),
    );
}

#[test]
fn esr_line_ships_and_updates_by_partial() {
    let (env, config) = line_env("esr-line", Line::Esr, &["128.5.0esr", "128.5.1esr"]);
    assert_eq!(config.mar_channel_id, "firefox-mozilla-esr");
    let gtb = ship_line(&env, &config, "128.5.0esr");
    assert!(gtb.contains("next version 128.5.1esr"), "{gtb}");
    let tags = std::process::Command::new("git")
        .arg("-C")
        .arg(&config.git_repo)
        .args(["tag", "-l"])
        .output()
        .unwrap();
    let tags = String::from_utf8_lossy(&tags.stdout);
    for tag in ["FIREFOX_128_5_0esr_BUILD1", "FIREFOX_128_5_0esr_RELEASE"] {
        assert!(tags.lines().any(|t| t == tag), "{tag} in {tags}");
    }
    let client = tempfile::tempdir().unwrap();
    let install = install_shipped(&config, "128.5.0esr", client.path());
    let gtb = ship_line(&env, &config, "128.5.1esr");
    assert!(gtb.contains("partials: Firefox-128.5.0esr-build1"), "{gtb}");
    update_by_partial(&config, &install, ("128.5.0", "esr"), "128.5.1esr", None);
}

#[test]
fn init_channel_sets_the_line_and_its_mar_channel_id() {
    for (channel, id) in [
        ("beta", "firefox-mozilla-beta"),
        ("esr", "firefox-mozilla-esr"),
        ("release", "firefox-mozilla-release"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let config = kiln_init(dir.path(), &["--channel", channel]);
        assert_eq!(
            (config.channel.as_str(), config.mar_channel_id.as_str()),
            (channel, id)
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["init", "--channel", "aurora", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "a channel that is no line is a usage error"
    );
}
