//! The release matrix as a release manager who is not the quickstart runs it (issue 18): two
//! products on one update server and one CDN, every platform (linux-x86_64, mac, win64), locales
//! other than the quickstart's (`fr`, `pt-BR`).
//!
//! - Firefox ships Firefox-format MARs (RSA only, xz, MBDIFF10), read by Mozilla's own `mar`
//!   tool: 130.0, a halted 131.0 build1, a build2 killed with `kill -9` during promote and
//!   resumed, shipped at 50 %, then the 131.0.1 chemspill. Installs of every platform are taken
//!   130.0 → 131.0 → 131.0.1 by partials and 130.0 → 131.0.1 by the complete.
//! - Thunderbird ships Kiln-format MARs (Ed25519, zstd, Kiln patches): 130.0 → 131.0 by partial
//!   on every platform, in `pt-BR`.
//!
//! Every install must end exactly on the shipped build: files, bytes, modes **and directories**
//! (the third release drops the `gmp-clearkey/0.1/` plugin directory, so a leftover empty
//! directory fails the test), with the mac install rooted at the `.app` bundle.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use kiln_tools::release::config::{Config, MarFormat};
use kiln_tools::release::quickstart::{self, Env, ProductEnv};
use l10n_repack::{Platform, Product};

use super::story::*;

const VERSIONS: [&str; 3] = ["130.0", "131.0", "131.0.1"];
const THUNDERBIRD_VERSIONS: [&str; 2] = ["130.0", "131.0"];
/// Firefox's clients run `fr`; Thunderbird's `pt-BR`, a region-qualified locale in every URL
/// and path.
const LOCALE: &str = "fr";
const THUNDERBIRD_LOCALE: &str = "pt-BR";

/// The locale the matrix's clients of `product` run.
fn locale_of(product: &str) -> &'static str {
    if product == "Thunderbird" {
        THUNDERBIRD_LOCALE
    } else {
        LOCALE
    }
}
const PLATFORMS: [Platform; 3] = [Platform::Linux64, Platform::Mac, Platform::Win64];

/// Runs a command that must succeed.
fn run_ok(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Package work items of `release` recorded done.
fn packaged(db: &Database, release: &str) -> usize {
    State::connect(db)
        .and_then(|state| state.items(release, Some("package")))
        .unwrap_or_default()
        .iter()
        .filter(|item| item.status == ItemStatus::Done)
        .count()
}

/// One client install: where it is and what it went through.
#[derive(Debug)]
pub(crate) struct Install {
    product: Product,
    platform: Platform,
    /// The install root: `firefox/` or `Firefox.app` (never its `Contents/Resources`).
    root: PathBuf,
    /// `130.0 (installed)`, `131.0 (partial)`, …
    path: Vec<String>,
}

impl Install {
    /// Unpacks the shipped `releases/<version>/<platform>/<locale>/` build into `dir`.
    fn new(config: &Config, version: &str, platform: Platform, dir: &Path) -> Install {
        let product: Product = config.product.parse().unwrap();
        let archive = shipped_archive(config, version, platform);
        l10n_repack::extract(&archive, dir).unwrap();
        Install {
            root: dir.join(platform.app_root(&product)),
            product,
            platform,
            path: vec![format!("{version} (installed)")],
        }
    }

    /// One install per platform of `config`'s shipped `version`, under `dir/<label>-<platform>`.
    fn every_platform(config: &Config, version: &str, dir: &Path, label: &str) -> Vec<Install> {
        PLATFORMS
            .iter()
            .map(|p| {
                let at = dir.join(format!("{label}-{}", p.as_str()));
                Install::new(config, version, *p, &at)
            })
            .collect()
    }

    /// What an application does: finish anything pending, check (a manual check, `force=1`,
    /// which a throttled release honours), download, verify, stage, swap at the next start.
    /// With `modify`, that file is changed first so the partial's source check fails.
    fn update(&mut self, modify: Option<&str>) {
        client_updater::recover_install(&self.root).unwrap();
        let updater = client_updater::Updater::from_install_config(&self.root)
            .and_then(|b| b.build())
            .unwrap_or_else(|e| panic!("{self:?}: {e}"));
        updater.finish_pending().unwrap();
        if let Some(file) = modify {
            let path = self.root.join(file);
            let mut bytes = std::fs::read(&path).unwrap();
            bytes.push(b'\n');
            std::fs::write(&path, bytes).unwrap();
        }
        let outcome = updater
            .update_once(true)
            .unwrap_or_else(|e| panic!("{self:?}: {e}"));
        let (offer, patch) = match outcome {
            client_updater::Outcome::Staged(o, p) | client_updater::Outcome::Pending(o, p) => {
                (o, p)
            }
            other => panic!("{self:?}: expected an update, got {other:?}"),
        };
        match updater.finish_pending().unwrap() {
            client_updater::StartOutcome::Updated(version) => {
                assert_eq!(version, offer.app_version);
                self.path.push(format!("{version} ({})", patch.as_str()));
            }
            other => panic!("{self:?}: the update did not go in: {other:?}"),
        }
    }
}

/// The fixtures' main library, which every partial patches, relative to the install root.
fn main_library(platform: Platform) -> &'static str {
    match platform {
        Platform::Mac => "Contents/MacOS/XUL",
        Platform::Win64 => "xul.dll",
        Platform::Linux64 => "libxul.so",
    }
}

/// `releases/<version>/<platform>/<locale>/<product>-<version>.<ext>`.
fn shipped_archive(config: &Config, version: &str, platform: Platform) -> PathBuf {
    let product: Product = config.product.parse().unwrap();
    config
        .root
        .join("releases")
        .join(version)
        .join(platform.as_str())
        .join(locale_of(&config.product))
        .join(platform.archive_name(&product, version))
}

/// What the matrix run left for the tests to assert.
#[derive(Debug)]
pub(crate) struct Matrix {
    env: Env,
    thunderbird: ProductEnv,
    rsa_public: PathBuf,
    status_after_kill: serde_json::Value,
    by_partials: Vec<Install>,
    by_complete: Vec<Install>,
    thunderbird_installs: Vec<Install>,
}

/// Fixtures of `product` for `versions`, in en-US and fr.
fn fixtures(product: &str, versions: &[&str]) -> kiln_fixtures::Options {
    kiln_fixtures::Options {
        versions: versions.iter().map(|v| (*v).to_owned()).collect(),
        locales: locale_of(product).parse().unwrap(),
        product: product.to_owned(),
        mar_channel_id: (product == "Thunderbird").then(|| "thunderbird-comm-release".to_owned()),
        ..Default::default()
    }
}

fn matrix() -> &'static Matrix {
    static MATRIX: OnceLock<Matrix> = OnceLock::new();
    MATRIX.get_or_init(|| {
        let (mut env, mut others) = quickstart::prepare_with(
            &story_dir("matrix"),
            &fixtures("Firefox", &VERSIONS),
            &[fixtures("Thunderbird", &THUNDERBIRD_VERSIONS)],
            false,
        )
        .unwrap();
        let thunderbird = others.remove(0);
        // Firefox-format MARs: one RSA-4096 key, as Mozilla's release key.
        let keys = env.dir.join("keys");
        let rsa = keys.join("rsa.pem");
        let rsa_public = keys.join("rsa.pub");
        run_ok(
            Command::new("openssl")
                .args(["genrsa", "-out"])
                .arg(&rsa)
                .arg("4096"),
        );
        run_ok(
            Command::new("openssl")
                .args(["rsa", "-pubout", "-in"])
                .arg(&rsa)
                .arg("-out")
                .arg(&rsa_public),
        );
        let mut config = env.config.clone();
        config.mar.format = MarFormat::Firefox;
        config.keys.rsa = Some(rsa);
        config.save(&env.config_path).unwrap();
        env.config = Config::load(&env.config_path).unwrap();
        let path = env.config_path.clone();
        let releng = env.server.releng_token_file.to_str().unwrap().to_owned();
        let sign_off = |release: &str| {
            kiln_ok(&path, &["signoff", release, "--role", "relman"]);
            kiln_ok(
                &path,
                &[
                    "signoff",
                    release,
                    "--role",
                    "releng",
                    "--token-file",
                    &releng,
                ],
            );
        };

        // 130.0 ships; every platform's client installs it.
        let state = kiln_tools::release::coordinator::open_state(&env.config).unwrap();
        quickstart::release(&env, &state, "130.0", "release", 100).unwrap();
        let clients = env.dir.join("clients");
        let mut by_partials = Install::every_platform(&env.config, "130.0", &clients, "partials");
        let mut by_complete = Install::every_platform(&env.config, "130.0", &clients, "complete");

        // Thunderbird, on the same update server and CDN, in Kiln's own format.
        let tb = &thunderbird;
        let releng_file = &env.server.releng_token_file;
        ship(
            &tb.config,
            &tb.config_path,
            &tb.commits["130.0"],
            "130.0",
            releng_file,
        );
        let mut thunderbird_installs =
            Install::every_platform(&tb.config, "130.0", &clients, "thunderbird");
        ship(
            &tb.config,
            &tb.config_path,
            &tb.commits["131.0"],
            "131.0",
            releng_file,
        );
        for install in &mut thunderbird_installs {
            install.update(None);
        }

        // 131.0 build1 is halted; build2 is killed during package and resumed.
        let r131 = env.commits["131.0"].clone();
        kiln_ok(
            &path,
            &["go-to-build", "--version", "131.0", "--revision", &r131],
        );
        kiln_ok(
            &path,
            &[
                "halt",
                "Firefox-131.0-build1",
                "--reason",
                "a crash on startup",
            ],
        );
        kiln_ok(
            &path,
            &[
                "go-to-build",
                "--version",
                "131.0",
                "--build",
                "2",
                "--revision",
                &r131,
                "--no-promote",
            ],
        );
        let build2 = "Firefox-131.0-build2";
        let mut child = spawn_promote(&path, &["promote", build2]);
        wait_for(
            "package",
            || packaged(&env.config.state_db, build2) >= 2,
            &mut child,
        );
        child.kill().unwrap();
        child.wait().unwrap();
        let status: serde_json::Value =
            serde_json::from_str(&kiln_ok(&path, &["status", build2, "--json"])).unwrap();
        let status_after_kill = status[0].clone();
        kiln_ok(&path, &["promote", build2]);
        kiln_ok(&path, &["push", build2]);
        kiln_ok(&path, &["ship", build2, "--rate", "50"]);
        sign_off(build2);
        for install in &mut by_partials {
            install.update(None);
        }

        // The 131.0.1 chemspill ships unthrottled once signed off.
        let r1311 = env.commits["131.0.1"].clone();
        kiln_ok(
            &path,
            &["chemspill", "--version", "131.0.1", "--revision", &r1311],
        );
        sign_off("Firefox-131.0.1-build1");
        for install in &mut by_partials {
            install.update(None);
        }
        for install in &mut by_complete {
            install.update(Some(main_library(install.platform)));
        }
        Matrix {
            env,
            thunderbird,
            rsa_public,
            status_after_kill,
            by_partials,
            by_complete,
            thunderbird_installs,
        }
    })
}

/// A tree as the user has it: every file (bytes, mode) and directory, without the client's own
/// `updates/` status directory.
fn installed_tree(root: &Path) -> kiln_test_support::Snapshot {
    kiln_test_support::snapshot(root)
        .into_iter()
        .filter(|(k, _)| k != "updates" && !k.starts_with("updates/"))
        .collect()
}

/// Asserts `install` is exactly the shipped `version` build of its product and platform.
fn assert_is_shipped_build(config: &Config, version: &str, install: &Install) {
    let shipped = tempfile::tempdir().unwrap();
    l10n_repack::extract(
        &shipped_archive(config, version, install.platform),
        shipped.path(),
    )
    .unwrap();
    let expected = kiln_test_support::snapshot(
        &shipped
            .path()
            .join(install.platform.app_root(&install.product)),
    );
    let actual = installed_tree(&install.root);
    let describe = |tree: &kiln_test_support::Snapshot, k: &str| match tree.get(k) {
        None => "absent".to_owned(),
        Some(None) => "a directory".to_owned(),
        Some(Some((bytes, mode))) => format!("{} bytes, mode {mode:o}", bytes.len()),
    };
    let differences: Vec<String> = expected
        .keys()
        .chain(actual.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter(|k| expected.get(*k) != actual.get(*k))
        .map(|k| {
            format!(
                "{k}: shipped {}, installed {}",
                describe(&expected, k),
                describe(&actual, k)
            )
        })
        .collect();
    assert!(
        differences.is_empty(),
        "{} {:?} install at {} ({}) differs from the shipped build:\n{}",
        install.product,
        install.platform,
        install.root.display(),
        install.path.join(" → "),
        differences.join("\n")
    );
}

#[test]
fn matrix_every_platform_ends_on_the_shipped_build_by_partials() {
    let m = matrix();
    for install in &m.by_partials {
        assert_eq!(
            install.path,
            ["130.0 (installed)", "131.0 (partial)", "131.0.1 (partial)"],
            "{:?}",
            install.platform
        );
        assert_is_shipped_build(&m.env.config, "131.0.1", install);
    }
}

/// The third release drops the plugin directory the first two have, so comparing directories
/// tests Mozilla's `rmdir` semantics.
#[test]
fn matrix_the_third_release_drops_a_directory() {
    let m = matrix();
    for platform in PLATFORMS {
        let tree = |version: &str| {
            let dir = tempfile::tempdir().unwrap();
            l10n_repack::extract(
                &shipped_archive(&m.env.config, version, platform),
                dir.path(),
            )
            .unwrap();
            kiln_test_support::snapshot(dir.path())
        };
        let has_plugin_dir = |tree: &kiln_test_support::Snapshot| {
            tree.iter()
                .any(|(k, v)| v.is_none() && k.ends_with("gmp-clearkey/0.1"))
        };
        assert!(has_plugin_dir(&tree("131.0")), "{platform:?}");
        assert!(!has_plugin_dir(&tree("131.0.1")), "{platform:?}");
    }
}

#[test]
fn matrix_every_platform_ends_on_the_shipped_build_by_the_complete() {
    let m = matrix();
    for install in &m.by_complete {
        assert_eq!(
            install.path,
            ["130.0 (installed)", "131.0.1 (complete)"],
            "{:?}",
            install.platform
        );
        assert_is_shipped_build(&m.env.config, "131.0.1", install);
    }
}

#[test]
fn matrix_a_second_product_ends_on_its_shipped_build_on_every_platform() {
    let m = matrix();
    for install in &m.thunderbird_installs {
        assert_eq!(
            install.path,
            ["130.0 (installed)", "131.0 (partial)"],
            "{:?}",
            install.platform
        );
        assert_is_shipped_build(&m.thunderbird.config, "131.0", install);
    }
}

/// What users download checks with stock tools: `sha256sum -c`, `sha512sum -c` and gpg, in the
/// releases directory of each product's last release.
#[test]
fn matrix_releases_are_what_users_get() {
    let m = matrix();
    assert_users_can_check(&m.env.config.root.join("releases/131.0.1"));
    assert_users_can_check(&m.thunderbird.config.root.join("releases/131.0"));
}

#[test]
fn matrix_status_says_the_killed_promote_was_interrupted() {
    let m = matrix();
    assert_eq!(
        m.status_after_kill["interrupted"], true,
        "{}",
        m.status_after_kill
    );
}

/// Every MAR the pipeline wrote for 131.0.1, by path relative to `releases/131.0.1`.
fn mars(config: &Config) -> Vec<PathBuf> {
    let dir = config.root.join("releases/131.0.1");
    let mut out: Vec<PathBuf> = walkdir::WalkDir::new(&dir)
        .into_iter()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".mar"))
        .map(|e| e.into_path())
        .collect();
    out.sort();
    out
}

#[test]
fn matrix_mozillas_mar_verifies_lists_and_extracts_every_firefox_format_mar() {
    let m = matrix();
    let tool = kiln_test_support::python_mar();
    let all = mars(&m.env.config);
    // 3 platforms × 2 locales, each a complete and partials from 130.0 and 131.0.
    assert_eq!(all.len(), 18, "{all:?}");
    for mar in &all {
        let out = Command::new(&tool)
            .arg("-v")
            .arg(mar)
            .arg("-k")
            .arg(&m.rsa_public)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mar -v {}: {}{}",
            mar.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let listing = run_ok(Command::new(&tool).arg("-T").arg(mar));
        assert!(listing.contains("updatev3.manifest"), "{listing}");
        assert!(listing.contains("Compression type: xz"), "{listing}");
    }
    // A complete MAR extracted by Mozilla's tool holds the shipped build's files, byte for byte.
    for platform in PLATFORMS {
        let complete = m
            .env
            .config
            .root
            .join("releases/131.0.1/update")
            .join(platform.as_str())
            .join(LOCALE)
            .join("firefox-131.0.1.complete.mar");
        let out = tempfile::tempdir().unwrap();
        run_ok(
            Command::new(&tool)
                .arg("-x")
                .arg(&complete)
                .arg("-C")
                .arg(out.path())
                .arg("--auto"),
        );
        let shipped = tempfile::tempdir().unwrap();
        l10n_repack::extract(
            &shipped_archive(&m.env.config, "131.0.1", platform),
            shipped.path(),
        )
        .unwrap();
        let firefox: Product = "Firefox".parse().unwrap();
        let files: BTreeMap<String, Vec<u8>> =
            kiln_test_support::files(&shipped.path().join(platform.app_root(&firefox)));
        let extracted = kiln_test_support::files(out.path());
        for (path, bytes) in &files {
            assert_eq!(
                extracted.get(path),
                Some(bytes),
                "{platform:?}: {path} as Mozilla's mar extracts it"
            );
        }
    }
}

#[test]
fn matrix_windows_builds_are_authenticode_signed_as_osslsigncode_checks() {
    let m = matrix();
    let keys = m.env.dir.join("keys");
    let ca = keys.join("authenticode-ca.pem");
    let dir = m.env.config.root.join("releases/131.0.1");
    let scratch = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for entry in walkdir::WalkDir::new(dir.join("win64"))
        .into_iter()
        .flatten()
    {
        if !entry.file_name().to_string_lossy().ends_with(".zip") {
            continue;
        }
        let mut zip = zip::ZipArchive::new(std::fs::File::open(entry.path()).unwrap()).unwrap();
        for i in 0..zip.len() {
            let mut file = zip.by_index(i).unwrap();
            let name = file.name().unwrap().into_owned();
            if !(name.ends_with(".exe") || name.ends_with(".dll")) {
                continue;
            }
            let path = scratch.path().join(format!("{checked}.bin"));
            std::io::copy(&mut file, &mut std::fs::File::create(&path).unwrap()).unwrap();
            let out = Command::new("osslsigncode")
                .args(["verify", "-CAfile"])
                .arg(&ca)
                .arg("-in")
                .arg(&path)
                .output()
                .expect("osslsigncode must be installed (scripts/test.sh installs it)");
            assert!(
                out.status.success(),
                "{} {name}: {}",
                entry.path().display(),
                String::from_utf8_lossy(&out.stdout)
            );
            checked += 1;
        }
    }
    assert!(checked >= 6, "{checked} PE files checked");
    // `kiln verify` reports the same over the whole release directory.
    let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["verify", "--dir"])
        .arg(&dir)
        .arg("--key")
        .arg(keys.join("ed25519.pub"))
        .arg("--authenticode-ca")
        .arg(&ca)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("Authenticode on every .exe and .dll"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
