//! The two release stories, run once per test process, and helpers to query the servers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use kiln_tools::release::quickstart::{self, Env};
pub(crate) use kiln_tools::release::state::{ItemStatus, ReleaseStatus, State};
use serde_json::Value;
pub(crate) use updater_server::config::Database;

/// Runs `kiln --config <config> args…`.
pub(crate) fn kiln(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(args)
        .arg("--config")
        .arg(config)
        .env("KILN_USER", "relman@kiln.invalid")
        .output()
        .expect("run kiln")
}

/// Runs kiln and asserts success; returns stdout.
pub(crate) fn kiln_ok(config: &Path, args: &[&str]) -> String {
    let output = kiln(config, args);
    assert!(
        output.status.success(),
        "kiln {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// An HTTP GET: (status, body).
pub(crate) fn get(url: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut request = agent.get(url);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let mut response = request.call().expect("HTTP");
    let status = response.status().as_u16();
    (
        status,
        response.body_mut().read_to_string().unwrap_or_default(),
    )
}

/// `(done, made, redone, failed)` of a stage's summary line in promote's output.
pub(crate) fn counts(stdout: &str, stage: &str) -> (usize, usize, usize, usize) {
    let line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{stage}:")))
        .unwrap_or_else(|| panic!("no {stage} line in:\n{stdout}"));
    let numbers: Vec<usize> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    // "<stage>: N items: D done, M made, R redone, F failed (S.Ss)"
    (numbers[1], numbers[2], numbers[3], numbers[4])
}

pub(crate) const LINUX: &str = "Linux_x86_64-gcc3";

/// The buildID of `release` for `target`, from the blob deploy published.
pub(crate) fn build_id(env: &Env, release: &str, target: &str) -> String {
    let blob: Value = serde_json::from_str(
        &std::fs::read_to_string(env.config.work_dir.join(release).join("blob.json")).unwrap(),
    )
    .unwrap();
    blob["platforms"][target]["buildID"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The update.xml a client of `release` (locale, channel) gets; `query` like `?force=1`.
pub(crate) fn check(
    env: &Env,
    release: &str,
    locale: &str,
    channel: &str,
    dist: &str,
    query: &str,
    dice: Option<u8>,
) -> String {
    let version = release.split('-').nth(1).unwrap();
    let url = format!(
        "{}/update/6/Firefox/{version}/{}/{LINUX}/{locale}/{channel}/Linux%206.1/ISET:SSE4_2,MEM:16384/{dist}/default/update.xml{query}",
        env.server.server.url,
        build_id(env, release, LINUX)
    );
    let dice = dice.map(|d| d.to_string());
    let headers: Vec<(&str, &str)> = dice.iter().map(|d| ("X-Test-Dice", d.as_str())).collect();
    let (status, body) = get(&url, &headers);
    assert_eq!(status, 200, "{url}: {body}");
    body
}

/// The offered appVersion of an update.xml, if any.
pub(crate) fn offered(xml: &str) -> Option<String> {
    let start = xml.find("appVersion=\"")? + "appVersion=\"".len();
    Some(xml[start..].split('"').next()?.to_owned())
}

/// sha256 of every file under `dir`, by relative path.
pub(crate) fn snapshot(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for entry in walkdir::WalkDir::new(dir).into_iter().flatten() {
        if entry.file_type().is_file() {
            let rel = entry
                .path()
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            out.insert(
                rel,
                kiln_tools::release::items::sha256_file(entry.path()).unwrap(),
            );
        }
    }
    out
}

/// What the main story observed along the way.
#[derive(Debug)]
pub(crate) struct Main {
    pub(crate) env: Env,
    pub(crate) gtb_stdout: String,
    pub(crate) second_gtb: Output,
    pub(crate) releases_after_promote: bool,
    pub(crate) localtest_after_promote: String,
    pub(crate) cdntest_before_push: String,
    pub(crate) cdntest_after_push: String,
    pub(crate) push_again: String,
    pub(crate) release_before_signoffs: String,
    pub(crate) release_after_one_signoff: String,
    pub(crate) release_after_signoffs: String,
    pub(crate) ship_change: Value,
    pub(crate) conflict_push: Output,
    pub(crate) releases_before_conflict: BTreeMap<String, String>,
    pub(crate) releases_after_conflict: BTreeMap<String, String>,
}

pub(crate) const R121: &str = "Firefox-121.0-build1";
pub(crate) const R120: &str = "Firefox-120.0-build1";
pub(crate) const R119: &str = "Firefox-119.0-build1";

/// A story's directory under the target's tmp dir.
pub(crate) fn story_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("kiln-release-{name}"))
}

fn ship_old(env: &Env) {
    let state = kiln_tools::release::coordinator::open_state(&env.config).unwrap();
    for version in ["119.0", "120.0"] {
        quickstart::release(env, &state, version, "release", 100).unwrap();
    }
}

/// The main train: 119.0 and 120.0 shipped; `kiln go-to-build 121.0` (promote), push, ship at
/// 25 % with two signoffs; then a build2 of 121.0 made from changed inputs whose push must abort.
pub(crate) fn main_story() -> &'static Main {
    static MAIN: OnceLock<Main> = OnceLock::new();
    MAIN.get_or_init(|| {
        let options = kiln_fixtures::Options {
            versions: vec!["119.0".into(), "120.0".into(), "121.0".into()],
            ..Default::default()
        };
        let env = quickstart::prepare(&story_dir("main"), &options, true).unwrap();
        ship_old(&env);
        let config = env.config_path.clone();
        let r1 = env.commits["121.0"].clone();
        let gtb_stdout = kiln_ok(
            &config,
            &["go-to-build", "--version", "121.0", "--revision", &r1],
        );
        let second_gtb = kiln(
            &config,
            &["go-to-build", "--version", "121.0", "--revision", &r1],
        );
        let releases_after_promote = env.config.root.join("releases/121.0").exists();
        let localtest_after_promote =
            check(&env, R120, "de", "release-localtest", "default", "", None);
        let cdntest_before_push = check(&env, R120, "de", "release-cdntest", "default", "", None);
        kiln_ok(&config, &["push", R121]);
        let cdntest_after_push = check(&env, R120, "de", "release-cdntest", "default", "", None);
        let push_again = kiln_ok(&config, &["push", R121]);
        kiln_ok(&config, &["ship", R121, "--rate", "25"]);
        let forced = "?force=1";
        let release_before_signoffs = check(&env, R119, "de", "release", "default", forced, None);
        kiln_ok(&config, &["signoff", R121, "--role", "relman"]);
        let release_after_one_signoff = check(&env, R119, "de", "release", "default", forced, None);
        let releng = env.server.releng_token_file.to_str().unwrap().to_owned();
        kiln_ok(
            &config,
            &["signoff", R121, "--role", "releng", "--token-file", &releng],
        );
        let release_after_signoffs = check(&env, R119, "de", "release", "default", forced, None);
        let state = kiln_tools::release::coordinator::open_state(&env.config).unwrap();
        let sc = state.release(R121).unwrap().ship_change.unwrap();
        let admin = kiln_tools::release::server::Admin::new(
            &env.config.server.url,
            &env.config.admin_token().unwrap(),
        );
        let ship_change = admin.scheduled_change(sc).unwrap();

        // A respin from changed localized inputs, then an attempt to push it over build1.
        let de = env.config.inputs.join("l10n/de/app");
        let changed = walkdir::WalkDir::new(&de)
            .into_iter()
            .flatten()
            .find(|e| e.file_type().is_file())
            .unwrap()
            .into_path();
        let mut text = std::fs::read(&changed).unwrap();
        text.extend_from_slice(b"\n// respin fix\n");
        std::fs::write(&changed, text).unwrap();
        kiln_ok(
            &config,
            &[
                "go-to-build",
                "--version",
                "121.0",
                "--build",
                "2",
                "--revision",
                &r1,
            ],
        );
        let releases_before_conflict = snapshot(&env.config.root.join("releases/121.0"));
        let conflict_push = kiln(&config, &["push", "Firefox-121.0-build2"]);
        let releases_after_conflict = snapshot(&env.config.root.join("releases/121.0"));
        Main {
            env,
            gtb_stdout,
            second_gtb,
            releases_after_promote,
            localtest_after_promote,
            cdntest_before_push,
            cdntest_after_push,
            push_again,
            release_before_signoffs,
            release_after_one_signoff,
            release_after_signoffs,
            ship_change,
            conflict_push,
            releases_before_conflict,
            releases_after_conflict,
        }
    })
}

/// What the respin + chemspill story observed.
#[derive(Debug)]
pub(crate) struct Respin {
    pub(crate) env: Env,
    pub(crate) releases_after_push: BTreeMap<String, String>,
    pub(crate) build2_candidates: BTreeMap<String, String>,
    pub(crate) chemspill_stdout: String,
}

/// 119.0 and 120.0 shipped; 121.0 build1 promoted and halted; build2 (another revision)
/// promoted, pushed and shipped; then `kiln chemspill --version 121.0.1` and two signoffs.
pub(crate) fn respin_story() -> &'static Respin {
    static RESPIN: OnceLock<Respin> = OnceLock::new();
    RESPIN.get_or_init(|| {
        let options = kiln_fixtures::Options {
            versions: vec![
                "119.0".into(),
                "120.0".into(),
                "121.0".into(),
                "121.0.1".into(),
            ],
            ..Default::default()
        };
        let env = quickstart::prepare(&story_dir("respin"), &options, true).unwrap();
        ship_old(&env);
        let config = env.config_path.clone();
        let repo = env.config.git_repo.clone();
        kiln_ok(
            &config,
            &[
                "go-to-build",
                "--version",
                "121.0",
                "--revision",
                &env.commits["121.0"],
            ],
        );
        kiln_ok(&config, &["halt", R121, "--reason", "QA found a crash"]);
        let git = |args: &[&str]| kiln_tools::release::git::git(&repo, args).unwrap();
        git(&[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "--allow-empty",
            "-qm",
            "Fix the crash",
        ]);
        let r2 = git(&["rev-parse", "HEAD"]);
        kiln_ok(
            &config,
            &[
                "go-to-build",
                "--version",
                "121.0",
                "--build",
                "2",
                "--revision",
                &r2,
            ],
        );
        kiln_ok(&config, &["push", "Firefox-121.0-build2"]);
        let releases_after_push = snapshot(&env.config.root.join("releases/121.0"));
        let build2_candidates =
            snapshot(&env.config.root.join("candidates/121.0-candidates/build2"));
        kiln_ok(&config, &["ship", "Firefox-121.0-build2"]);
        let releng = env.server.releng_token_file.to_str().unwrap().to_owned();
        kiln_ok(
            &config,
            &["signoff", "Firefox-121.0-build2", "--role", "relman"],
        );
        kiln_ok(
            &config,
            &[
                "signoff",
                "Firefox-121.0-build2",
                "--role",
                "releng",
                "--token-file",
                &releng,
            ],
        );
        let chemspill_stdout = kiln_ok(
            &config,
            &[
                "chemspill",
                "--version",
                "121.0.1",
                "--revision",
                &env.commits["121.0.1"],
            ],
        );
        kiln_ok(
            &config,
            &["signoff", "Firefox-121.0.1-build1", "--role", "relman"],
        );
        kiln_ok(
            &config,
            &[
                "signoff",
                "Firefox-121.0.1-build1",
                "--role",
                "releng",
                "--token-file",
                &releng,
            ],
        );
        Respin {
            env,
            releases_after_push,
            build2_candidates,
            chemspill_stdout,
        }
    })
}

/// Starts `kiln <args> --config <config>` in the background, output discarded (to be killed).
pub(crate) fn spawn_promote(config: &Path, args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(args)
        .arg("--config")
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Waits (5 minutes at most) until `ready`, asserting the child is still running meanwhile.
pub(crate) fn wait_for(
    what: &str,
    mut ready: impl FnMut() -> bool,
    child: &mut std::process::Child,
) {
    let deadline = Instant::now() + Duration::from_secs(300);
    while !ready() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "{what}: kiln finished before it could be killed"
        );
        assert!(Instant::now() < deadline, "{what}: timed out");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A build directory's files and digests, but OpenPGP signatures (whose time differs) and
/// hidden files: what two runs of the same inputs must agree on.
pub(crate) fn comparable(dir: &Path) -> BTreeMap<String, String> {
    snapshot(dir)
        .into_iter()
        .filter(|(k, _)| !k.ends_with(".asc") && !k.starts_with('.'))
        .collect()
}

/// Work items of `stage` recorded done in the state database `db`, over every release.
pub(crate) fn done_items(db: &Database, stage: &str) -> usize {
    let Ok(state) = State::connect(db) else {
        return 0;
    };
    let releases = state.releases().unwrap_or_default();
    releases
        .iter()
        .flat_map(|r| state.items(&r.name, Some(stage)).unwrap_or_default())
        .filter(|item| item.status == ItemStatus::Done)
        .count()
}

/// go-to-build (with promote) → push → ship → both signoffs, through the `kiln` binary.
pub(crate) fn ship(
    config: &kiln_tools::release::config::Config,
    config_path: &Path,
    commit: &str,
    version: &str,
    releng: &Path,
) {
    let name = format!("{}-{version}-build1", config.product);
    kiln_ok(
        config_path,
        &["go-to-build", "--version", version, "--revision", commit],
    );
    kiln_ok(config_path, &["push", &name]);
    kiln_ok(config_path, &["ship", &name]);
    kiln_ok(config_path, &["signoff", &name, "--role", "relman"]);
    let releng = releng.to_str().unwrap();
    kiln_ok(
        config_path,
        &["signoff", &name, "--role", "releng", "--token-file", releng],
    );
}

/// `releases/V` as a user checks it with stock tools: `sha256sum -c` and `sha512sum -c` pass
/// with `--strict`, the sums list exactly the artifacts present, and gpg verifies their `.asc`.
pub(crate) fn assert_users_can_check(dir: &Path) {
    for tool in ["sha256sum", "sha512sum"] {
        let name = if tool == "sha256sum" {
            "SHA256SUMS"
        } else {
            "SHA512SUMS"
        };
        let out = Command::new(tool)
            .args(["--strict", "-c", name])
            .current_dir(dir)
            .output()
            .expect("coreutils");
        assert!(
            out.status.success(),
            "{tool} -c in {}: {}{}",
            dir.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let listed: Vec<String> = std::fs::read_to_string(dir.join(name))
            .unwrap()
            .lines()
            .map(|l| l.split_once("  ").unwrap().1.to_owned())
            .collect();
        let present: Vec<String> = snapshot(dir)
            .into_keys()
            .filter(|rel| kiln_tools::checksums::is_listed(rel))
            .collect();
        assert_eq!(
            listed,
            present,
            "{name} lists exactly the files in {}",
            dir.display()
        );
    }
    gpg_verifies_sums(dir);
}

/// Stock gpg, in a home of its own holding `dir/KEY`, verifies `dir`'s `SHA256SUMS.asc` and
/// `SHA512SUMS.asc`; the home is returned for further checks.
pub(crate) fn gpg_verifies_sums(dir: &Path) -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    let import = gpg(
        home.path(),
        &["--import", dir.join("KEY").to_str().unwrap()],
    );
    assert!(
        import.status.success(),
        "{}",
        String::from_utf8_lossy(&import.stderr)
    );
    for name in ["SHA256SUMS", "SHA512SUMS"] {
        let asc = dir.join(format!("{name}.asc"));
        let out = gpg(
            home.path(),
            &[
                "--verify",
                asc.to_str().unwrap(),
                dir.join(name).to_str().unwrap(),
            ],
        );
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    home
}

/// Runs `kiln init --dir DIR` with `args`, asserts it succeeded, and loads the `kiln.toml` it
/// wrote.
pub(crate) fn kiln_init(dir: &Path, args: &[&str]) -> kiln_tools::release::config::Config {
    let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .arg("init")
        .args(args)
        .arg("--dir")
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    kiln_tools::release::config::Config::load(&dir.join("kiln.toml")).unwrap()
}

/// Runs stock `gpg` with its own home directory.
pub(crate) fn gpg(home: &Path, args: &[&str]) -> std::process::Output {
    Command::new("gpg")
        .arg("--homedir")
        .arg(home)
        .arg("--batch")
        .args(args)
        .output()
        .expect("gpg must be installed (scripts/test.sh installs gnupg)")
}
