//! Scenarios 1–12 and 20–25 of release-process.md Part C, asserted against the stories.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use kiln_tools::release::coordinator::open_state;
use kiln_tools::release::stages::certify::{
    is_localized, precomplete_problems, unexpected_differences,
};
use rayon::prelude::*;

use super::story::*;

const MATRIX: [(&str, &[&str]); 3] = [
    ("linux-x86_64", &["de", "en-US", "fr", "ja"]),
    ("mac", &["de", "en-US", "fr", "ja-JP-mac"]),
    ("win64", &["de", "en-US", "fr", "ja"]),
];

fn archive(platform: &str, version: &str) -> String {
    let ext = match platform {
        "mac" => "tar.gz",
        "win64" => "zip",
        _ => "tar.xz",
    };
    format!("firefox-{version}.{ext}")
}

fn build1(main: &Main) -> PathBuf {
    main.env
        .config
        .root
        .join("candidates/121.0-candidates/build1")
}

fn extract(archive: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    l10n_repack::extract(archive, dir.path()).unwrap();
    dir
}

fn kiln_plain(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(args)
        .env(
            "XDG_CACHE_HOME",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("kiln-cache"),
        )
        .output()
        .unwrap()
}

#[test]
fn scenario_01_go_to_build() {
    let main = main_story();
    let state = open_state(&main.env.config).unwrap();
    let row = state.release(R121).unwrap();
    assert_eq!(row.partials, vec![R120.to_owned(), R119.to_owned()]);
    assert_eq!(row.next_version, "121.0.1");
    assert_eq!(row.created_by, "relman@kiln.invalid");
    assert!(
        main.gtb_stdout
            .starts_with("notice: [release] Build of Firefox-121.0-build1"),
        "{}",
        main.gtb_stdout
    );
    assert!(main.gtb_stdout.contains("registered Firefox-121.0-build1"));
    // It was registered `scheduled`: the first stage started only after the record existed.
    let phases = state.phases(R121).unwrap();
    assert_eq!(phases[0].stage, "configure");
    assert!(phases[0].started_at >= row.created_at);
    let r1 = &main.env.commits["121.0"];
    let notice = std::fs::read_dir(&main.env.config.outbox)
        .unwrap()
        .flatten()
        .find(|e| {
            e.file_name()
                .to_string_lossy()
                .ends_with("Firefox-121.0-build1-go-to-build.eml")
        })
        .expect("go-to-build notice in the outbox");
    let text = std::fs::read_to_string(notice.path())
        .unwrap()
        .replace("=\r\n", "")
        .replace("=\n", "");
    assert!(
        text.contains("Subject: [release] Build of Firefox-121.0-build1"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "Commit: https://hg.kiln.invalid/releases/rev/{r1}"
        )),
        "{text}"
    );
    assert!(text.contains("Task group: "));
    assert!(text.contains("Locales: de en-US fr ja ja-JP-mac"));
    assert!(text.contains("Created by relman@kiln.invalid"));
    assert!(
        text.contains(&format!("FIREFOX_120_0_RELEASE..{r1}")),
        "{text}"
    );
    assert!(!main.second_gtb.status.success());
    assert!(String::from_utf8_lossy(&main.second_gtb.stderr)
        .contains("Firefox-121.0-build1 already exists"));
    let repo = &main.env.config.git_repo;
    let tag = kiln_tools::release::git::resolve(repo, "FIREFOX_121_0_BUILD1").unwrap();
    assert_eq!(&tag, r1);
    assert!(kiln_tools::release::git::has_tag(
        repo,
        "FIREFOX_120_0_RELEASE"
    ));
}

#[test]
fn scenario_02_promote_populates_candidates_only() {
    let main = main_story();
    let dir = build1(main);
    for (platform, locales) in MATRIX {
        for locale in locales {
            for rel in [
                format!("{platform}/{locale}/{}", archive(platform, "121.0")),
                format!("update/{platform}/{locale}/firefox-121.0.complete.mar"),
                format!("update/{platform}/{locale}/firefox-120.0-121.0.partial.mar"),
                format!("update/{platform}/{locale}/firefox-119.0-121.0.partial.mar"),
            ] {
                assert!(dir.join(&rel).is_file(), "missing {rel}");
            }
        }
    }
    assert!(!dir.join("mac/ja").exists());
    assert!(!dir.join("linux-x86_64/ja-JP-mac").exists());
    assert!(!dir.join("win64/ja-JP-mac").exists());
    assert!(
        !main.releases_after_promote,
        "releases/121.0 existed right after promote"
    );
}

#[test]
fn scenario_03_checksums() {
    let main = main_story();
    let dir = build1(main);
    // Written out from what the release holds, not from the lister's own rule: the 12 locale
    // builds, the 12 partner builds (acme: linux and win64 in de and en-US; EME-free: mac and
    // win64 in every locale), 12 complete MARs and 24 partials.
    let mut listed: Vec<String> = Vec::new();
    for (platform, locales) in MATRIX {
        for locale in locales {
            let package = archive(platform, "121.0");
            listed.push(format!("{platform}/{locale}/{package}"));
            if platform != "mac" && matches!(*locale, "de" | "en-US") {
                listed.push(format!(
                    "partner-repacks/acme/acme/v1/{platform}/{locale}/{package}"
                ));
            }
            if platform != "linux-x86_64" {
                listed.push(format!(
                    "partner-repacks/mozilla-EMEfree/mozilla-EMEfree/v1/{platform}-EME-free/{locale}/{package}"
                ));
            }
            let update = format!("update/{platform}/{locale}");
            listed.push(format!("{update}/firefox-121.0.complete.mar"));
            for from in ["119.0", "120.0"] {
                listed.push(format!("{update}/firefox-{from}-121.0.partial.mar"));
            }
        }
    }
    listed.sort();
    assert_eq!(listed.len(), 60);
    for (name, len) in [("SHA256SUMS", 64), ("SHA512SUMS", 128)] {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        let mut paths = Vec::new();
        for line in text.lines() {
            let (hash, path) = line.split_once("  ").expect("two spaces");
            assert_eq!(hash.len(), len);
            assert!(
                !path.ends_with(".txt")
                    && !path.ends_with(".json")
                    && !path.ends_with(".checksums")
            );
            let data = std::fs::read(dir.join(path)).unwrap();
            let actual = if len == 64 {
                hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&data))
            } else {
                hex::encode(<sha2::Sha512 as sha2::Digest>::digest(&data))
            };
            assert_eq!(hash, actual, "{path}");
            paths.push(path.to_owned());
        }
        let mut sorted = paths.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(paths, sorted, "{name} is sorted, each path once");
        assert_eq!(paths, listed, "{name} lists every artifact");
    }
}

#[test]
fn scenario_04_openpgp() {
    let main = main_story();
    let dir = build1(main);
    let home = gpg_verifies_sums(&dir);
    for (platform, locales) in MATRIX.iter().take(1) {
        for locale in *locales {
            let tarball = dir
                .join(platform)
                .join(locale)
                .join(archive(platform, "121.0"));
            let asc = format!("{}.asc", tarball.display());
            let out = gpg(home.path(), &["--verify", &asc, tarball.to_str().unwrap()]);
            assert!(out.status.success(), "{asc}");
        }
    }
    let tampered = tempfile::tempdir().unwrap();
    let mut data = std::fs::read(dir.join("SHA512SUMS")).unwrap();
    data[10] ^= 1;
    std::fs::write(tampered.path().join("SHA512SUMS"), data).unwrap();
    let out = gpg(
        home.path(),
        &[
            "--verify",
            dir.join("SHA512SUMS.asc").to_str().unwrap(),
            tampered.path().join("SHA512SUMS").to_str().unwrap(),
        ],
    );
    assert!(!out.status.success(), "a tampered SHA512SUMS verified");
}

#[test]
fn scenario_05_archive_signatures() {
    let main = main_story();
    let dir = build1(main);
    let key = main.env.dir.join("keys/ed25519.pub");
    let ok = kiln_plain(&[
        "verify",
        "--dir",
        dir.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let other = tempfile::tempdir().unwrap();
    let keys = other.path().join("keys");
    assert!(
        kiln_plain(&["keys", "generate", "--out", keys.to_str().unwrap()])
            .status
            .success()
    );
    let bad = kiln_plain(&[
        "verify",
        "--dir",
        dir.to_str().unwrap(),
        "--key",
        keys.join("ed25519.pub").to_str().unwrap(),
    ]);
    assert_eq!(bad.status.code(), Some(1), "a wrong key verified");
    // Every signed archive is named as failing (24 repacks), none as passing.
    let report = String::from_utf8_lossy(&bad.stderr);
    let failures = report
        .lines()
        .filter(|l| l.starts_with("FAIL ") && l.contains(".sig: bad signature"))
        .count();
    assert_eq!(failures, 24, "{report}");
}

/// What `releases/121.0` must hold besides its own sums, written out from what a user downloads
/// (not from push's filter): `KEY`; per platform and locale the package with its `.sig` (and
/// the Linux tarball's `.asc`); the complete MAR and the partials from 119.0 and 120.0. No
/// partner repack, nothing hidden.
fn expected_release_paths() -> std::collections::BTreeSet<String> {
    let mut paths = std::collections::BTreeSet::from(["KEY".to_owned()]);
    for (platform, locales) in MATRIX {
        for locale in locales {
            let package = format!("{platform}/{locale}/{}", archive(platform, "121.0"));
            if platform == "linux-x86_64" {
                paths.insert(format!("{package}.asc"));
            }
            paths.insert(format!("{package}.sig"));
            paths.insert(package);
            let update = format!("update/{platform}/{locale}");
            paths.insert(format!("{update}/firefox-121.0.complete.mar"));
            for from in ["119.0", "120.0"] {
                paths.insert(format!("{update}/firefox-{from}-121.0.partial.mar"));
            }
        }
    }
    paths
}

/// The candidates files push must copy, with their digests: [`expected_release_paths`], each of
/// which must be in the candidates.
fn expected_releases(candidates: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    expected_release_paths()
        .into_iter()
        .map(|rel| {
            let sha = candidates
                .get(&rel)
                .unwrap_or_else(|| panic!("{rel} is not in the candidates"));
            (rel, sha.clone())
        })
        .collect()
}

/// Every signature in `files` stands beside the file it signs.
fn assert_no_orphan_signatures(files: &BTreeMap<String, String>) {
    for rel in files.keys() {
        if let Some(signed) = rel
            .strip_suffix(".sig")
            .or_else(|| rel.strip_suffix(".asc"))
        {
            if !matches!(signed, "SHA256SUMS" | "SHA512SUMS") {
                assert!(files.contains_key(signed), "{rel} without {signed}");
            }
        }
    }
}

#[test]
fn scenario_06_push_is_a_filtered_immutable_copy() {
    let main = main_story();
    let candidates = snapshot(&build1(main));
    let expected = expected_releases(&candidates);
    let releases = main.releases_before_conflict.clone();
    let copied: BTreeMap<String, String> = releases
        .iter()
        .filter(|(k, _)| !k.starts_with("SHA256SUMS") && !k.starts_with("SHA512SUMS"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert_eq!(
        copied, expected,
        "releases/121.0 is build1's candidates minus the exclusions (and its own sums)"
    );
    assert_no_orphan_signatures(&releases);
    assert_users_can_check(&main.env.config.root.join("releases/121.0"));
    assert!(main.push_again.contains("0 copied"), "{}", main.push_again);
    assert!(
        !main.conflict_push.status.success(),
        "pushing a different build2 over build1 succeeded"
    );
    assert!(String::from_utf8_lossy(&main.conflict_push.stderr)
        .contains("already holds different files"));
    assert_eq!(
        main.releases_after_conflict, main.releases_before_conflict,
        "a refused push changed nothing"
    );
}

#[test]
fn scenario_07_ship_is_gated() {
    let main = main_story();
    let required = &main.ship_change["required_signoffs"];
    assert_eq!(required["relman"], 1, "{}", main.ship_change);
    assert_eq!(required["releng"], 1);
    assert_eq!(
        offered(&main.release_before_signoffs).as_deref(),
        Some("120.0")
    );
    assert_eq!(
        offered(&main.release_after_one_signoff).as_deref(),
        Some("120.0")
    );
    assert_eq!(
        offered(&main.release_after_signoffs).as_deref(),
        Some("121.0")
    );
    assert_eq!(
        offered(&main.localtest_after_promote).as_deref(),
        Some("121.0")
    );
    assert!(
        main.localtest_after_promote
            .contains("/candidates/121.0-candidates/build1/update/linux-x86_64/de/"),
        "{}",
        main.localtest_after_promote
    );
    assert_eq!(offered(&main.cdntest_before_push), None);
    assert_eq!(offered(&main.cdntest_after_push).as_deref(), Some("121.0"));
    assert!(main
        .cdntest_after_push
        .contains("/releases/121.0/update/linux-x86_64/de/"));
}

#[test]
fn scenario_08_l10n_repack_content() {
    let main = main_story();
    let dir = build1(main);
    let en = extract(&dir.join("linux-x86_64/en-US/firefox-121.0.tar.xz"));
    let de = extract(&dir.join("linux-x86_64/de/firefox-121.0.tar.xz"));
    let problems = unexpected_differences(en.path(), de.path(), is_localized).unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    for same in [
        "update-settings.ini",
        "defaults/pref/channel-prefs.js",
        "libxul.so",
        "firefox",
        "kiln-update.toml",
    ] {
        let a = std::fs::read(en.path().join("firefox").join(same)).unwrap();
        let b = std::fs::read(de.path().join("firefox").join(same)).unwrap();
        assert_eq!(a, b, "{same}");
    }
    assert_eq!(
        std::fs::read_to_string(de.path().join("firefox/update.locale")).unwrap(),
        "de\n"
    );
    // The client's configuration, baked into en-US by configure, is the same in every build.
    let settings = std::fs::read_to_string(de.path().join("firefox/kiln-update.toml")).unwrap();
    let parsed = client_updater::UpdateConfig::from_toml(&settings).unwrap();
    assert_eq!(parsed.urls.len(), 1);
    assert_eq!(parsed.build_target.as_deref(), Some("Linux_x86_64-gcc3"));
    assert!(parsed.urls[0].ends_with("/update/6/%PRODUCT%/%VERSION%/%BUILD_ID%/%BUILD_TARGET%/%LOCALE%/%CHANNEL%/%OS_VERSION%/%SYSTEM_CAPABILITIES%/%DISTRIBUTION%/%DISTRIBUTION_VERSION%/update.xml"));
    assert_eq!(
        parsed.mar_keys,
        vec![std::fs::read_to_string(main.env.dir.join("keys/ed25519.pub")).unwrap()]
    );
    assert_eq!(parsed.response_keys.len(), 1);
    assert_eq!(parsed.mar_threshold, 1);
    assert!(precomplete_problems(
        de.path(),
        l10n_repack::Platform::Linux64,
        &"Firefox".parse().unwrap()
    )
    .unwrap()
    .is_empty());
}

fn manifest(path: &Path) -> String {
    let mut archive = mar::Mar::open(std::fs::File::open(path).unwrap()).unwrap();
    let bytes = archive.read_entry_to_vec("updatev3.manifest").unwrap();
    String::from_utf8(bytes).unwrap()
}

#[test]
fn scenario_10_partial_contents() {
    let main = main_story();
    let dir = build1(main);
    let text = manifest(&dir.join("update/linux-x86_64/de/firefox-120.0-121.0.partial.mar"));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "type \"partial\"");
    assert!(lines.contains(&"add \"precomplete\""));
    assert!(lines.contains(&"add \"removed-files\""));
    assert!(
        lines.contains(
            &"add-if-not \"defaults/pref/channel-prefs.js\" \"defaults/pref/channel-prefs.js\""
        ),
        "{text}"
    );
    let old_dir = main
        .env
        .config
        .root
        .join("releases/120.0/linux-x86_64/de/firefox-120.0.tar.xz");
    let old = extract(&old_dir);
    let new = extract(&dir.join("linux-x86_64/de/firefox-121.0.tar.xz"));
    let a = snapshot(&old.path().join("firefox"));
    let b = snapshot(&new.path().join("firefox"));
    let mentions = |path: &str| lines.iter().any(|l| l.contains(&format!("\"{path}\"")));
    for (path, sha) in &b {
        match a.get(path) {
            Some(old_sha)
                if old_sha == sha
                    && !path.ends_with("channel-prefs.js")
                    && !path.ends_with("update-settings.ini")
                    && !matches!(path.as_str(), "precomplete" | "removed-files") =>
            {
                assert!(!mentions(path), "unchanged {path} is in the manifest")
            }
            None => assert!(
                lines.contains(&format!("add \"{path}\"").as_str()),
                "new {path} is not added"
            ),
            _ => {}
        }
    }
    let first_remove = lines
        .iter()
        .position(|l| l.starts_with("remove "))
        .expect("a file was deleted in 121.0");
    assert!(
        lines[first_remove..]
            .iter()
            .all(|l| !l.starts_with("add") && !l.starts_with("patch")),
        "removes come after adds and patches"
    );
    for path in a.keys().filter(|p| !b.contains_key(*p)) {
        assert!(
            lines.contains(&format!("remove \"{path}\"").as_str()),
            "deleted {path} is not removed"
        );
    }
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("rmdir \"") && l.ends_with("/\"")),
        "{text}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("patch \"")),
        "the evolving library is patched: {text}"
    );
}

/// The rule behind scenario 10's patch/add choice, on two controlled files: a highly
/// compressible file with a small change is patched; a file rewritten with random bytes, whose
/// diff is no smaller than the file, is added in full.
#[test]
fn scenario_10_patch_iff_the_diff_is_smaller() {
    use mar::update::generate::{
        partial_mar, AddReason, Decision, PartialOptions, Tree, UpdateParams,
    };
    use mar::EntryPath;
    let random = |seed: u64| kiln_test_support::noise(seed | 1, 200_000);
    let text: Vec<u8> = (0..20_000)
        .flat_map(|i| format!("pref(\"line.{i}\", {i});\n").into_bytes())
        .collect();
    let mut edited = text.clone();
    edited[5_000..5_010].copy_from_slice(b"0123456789");
    let tree = |compressible: &[u8], noise: Vec<u8>| {
        let mut tree = Tree::default();
        for (name, bytes) in [
            ("precomplete", b"remove \"prefs.js\"\n".to_vec()),
            ("prefs.js", compressible.to_vec()),
            ("noise.bin", noise),
        ] {
            tree.insert(EntryPath::new(name).unwrap(), 0o644, bytes);
        }
        tree
    };
    let old = tree(&text, random(1));
    let new = tree(&edited, random(2));
    let out = tempfile::tempdir().unwrap();
    let params =
        UpdateParams::new(mar::ProductInfo::new("firefox-mozilla-release", "121.0").unwrap());
    let report = partial_mar(
        &old,
        &new,
        &params,
        &PartialOptions::default(),
        &out.path().join("p.mar"),
    )
    .unwrap();
    let decision = |name: &str| {
        report
            .decisions
            .iter()
            .find(|(p, _)| p.as_str() == name)
            .unwrap()
            .1
            .clone()
    };
    assert!(
        matches!(decision("prefs.js"), Decision::Patch { bytes, full_bytes, .. } if bytes < full_bytes)
    );
    assert!(
        matches!(decision("noise.bin"), Decision::Add { reason: AddReason::Changed, bytes, patch_bytes: Some(p) } if p >= bytes),
        "{:?}",
        decision("noise.bin")
    );
}

fn install(archive: &Path, platform: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = extract(archive);
    let root = dir.path().join(if platform == "mac" {
        "Firefox.app"
    } else {
        "firefox"
    });
    (dir, root)
}

fn apply(root: &Path, update: &Path, key: &Path) {
    let archive = mar::Mar::open(std::fs::File::open(update).unwrap()).unwrap();
    let keys = vec![mar::keys::PublicKey::load(key).unwrap()];
    let mut verified = mar::update::apply::verify_update(archive, keys).unwrap();
    mar::update::apply::apply(
        root,
        &mut verified,
        &mar::update::apply::ApplyOptions::default(),
    )
    .unwrap_or_else(|e| panic!("{}: {e}", update.display()));
}

fn tree_without_updater_files(root: &Path) -> BTreeMap<String, String> {
    snapshot(root)
        .into_iter()
        .filter(|(k, _)| {
            !k.contains("update.status") && !k.ends_with(".log") && !k.contains("updates/")
        })
        .collect()
}

#[test]
fn scenario_11_partial_equivalence() {
    let main = main_story();
    let root = &main.env.config.root;
    let key = main.env.dir.join("keys/ed25519.pub");
    let cases: Vec<(&str, &str, &str)> = MATRIX
        .iter()
        .flat_map(|(p, ls)| {
            ls.iter()
                .flat_map(move |l| ["119.0", "120.0"].map(|f| (*p, *l, f)))
        })
        .collect();
    assert_eq!(cases.len(), 24);
    cases.par_iter().for_each(|(platform, locale, from)| {
        let build = build1(main);
        let (_fresh_dir, fresh) = install(
            &build
                .join(platform)
                .join(locale)
                .join(archive(platform, "121.0")),
            platform,
        );
        let expected = tree_without_updater_files(&fresh);
        let old = root.join(format!(
            "candidates/{from}-candidates/build1/{platform}/{locale}/{}",
            archive(platform, from)
        ));
        for update in [
            build.join(format!(
                "update/{platform}/{locale}/firefox-{from}-121.0.partial.mar"
            )),
            build.join(format!(
                "update/{platform}/{locale}/firefox-121.0.complete.mar"
            )),
        ] {
            let (_dir, client) = install(&old, platform);
            apply(&client, &update, &key);
            assert_eq!(
                tree_without_updater_files(&client),
                expected,
                "{}",
                update.display()
            );
        }
    });
}

#[test]
fn scenario_12_partial_cache() {
    use mar::update::cache::DiffCache;
    use mar::update::generate::{
        partial_mar, Decision, GenerateReport, PartialOptions, Tree, UpdateParams,
    };
    let main = main_story();
    let root = &main.env.config.root;
    let key = mar::keys::SigningKey::load(&main.env.dir.join("keys/ed25519.key")).unwrap();
    let params =
        UpdateParams::new(mar::ProductInfo::new("firefox-mozilla-release", "121.0").unwrap())
            .sign_with(key);
    let locales = ["de", "en-US", "fr", "ja"];
    let trees: Vec<(Tree, Tree, tempfile::TempDir)> = locales
        .iter()
        .map(|l| {
            let from = root.join(format!(
                "releases/120.0/update/linux-x86_64/{l}/firefox-120.0.complete.mar"
            ));
            let old = Tree::from_complete_mar(
                &mut mar::Mar::open(std::fs::File::open(from).unwrap()).unwrap(),
            )
            .unwrap();
            let (dir, app) = install(
                &build1(main).join(format!("linux-x86_64/{l}/firefox-121.0.tar.xz")),
                "linux-x86_64",
            );
            (old, Tree::from_dir(&app).unwrap(), dir)
        })
        .collect();
    let run_reports = |cache: &DiffCache, out: &Path| -> Vec<(Vec<u8>, GenerateReport)> {
        trees
            .iter()
            .enumerate()
            .map(|(i, (old, new, _))| {
                let path = out.join(format!("{i}.mar"));
                let report = partial_mar(
                    old,
                    new,
                    &params,
                    &PartialOptions::default().cache(cache),
                    &path,
                )
                .unwrap();
                (std::fs::read(path).unwrap(), report)
            })
            .collect()
    };
    let run = |cache: &DiffCache, out: &Path| -> Vec<Vec<u8>> {
        run_reports(cache, out)
            .into_iter()
            .map(|(b, _)| b)
            .collect()
    };
    // The distinct (old bytes, new bytes) pairs the four partials diff, from the trees: every
    // file patched, or diffed and then added whole because the patch was not smaller. The
    // locales share their binaries, so this is far fewer than the diffs four partials make.
    let diffed_pairs = |reports: &[(Vec<u8>, GenerateReport)]| {
        let mut pairs = std::collections::BTreeSet::new();
        let mut diffs = 0;
        for ((old, new, _), (_, report)) in trees.iter().zip(reports) {
            for (path, decision) in &report.decisions {
                let source = match decision {
                    Decision::Patch { from, .. } => from.as_ref().unwrap_or(path),
                    Decision::Add {
                        patch_bytes: Some(_),
                        ..
                    } => path,
                    _ => continue,
                };
                let digest = |tree: &Tree, p: &mar::EntryPath| {
                    tree.files().get(p).unwrap().sha256().unwrap()
                };
                diffs += 1;
                pairs.insert((digest(old, source), digest(new, path)));
            }
        }
        (pairs.len() as u64, diffs)
    };
    let cache_dir = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let cache = DiffCache::open(cache_dir.path()).unwrap();
    // One locale first: every diff it needs is a miss.
    let (old, new, _) = &trees[0];
    partial_mar(
        old,
        new,
        &params,
        &PartialOptions::default().cache(&cache),
        &out.path().join("first.mar"),
    )
    .unwrap();
    let first = cache.stats();
    assert!(first.misses > 0 && first.hits == 0, "{first:?}");
    let reports = run_reports(&cache, out.path());
    let bytes: Vec<Vec<u8>> = reports.iter().map(|(b, _)| b.clone()).collect();
    let after = cache.stats();
    let (distinct, diffs) = diffed_pairs(&reports);
    assert!(
        distinct < diffs as u64,
        "the locales share no diffed file: {distinct}/{diffs}"
    );
    assert_eq!(
        after.misses, distinct,
        "every distinct pair is diffed exactly once across the locales ({diffs} diffs)"
    );
    assert_eq!(
        after.hits + after.misses,
        first.misses + diffs as u64,
        "every other diff is a hit"
    );
    let again = run(&cache, out.path());
    let rerun = cache.stats();
    assert_eq!(
        rerun.misses, after.misses,
        "a second identical run is all hits"
    );
    assert_eq!(again, bytes, "byte-identical MARs");
    let purged_dir = tempfile::tempdir().unwrap();
    let purged = DiffCache::open(purged_dir.path()).unwrap();
    let recomputed = run(&purged, out.path());
    assert!(purged.stats().misses > 0, "purging forces recomputation");
    assert_eq!(recomputed, bytes, "identical output after a purge");
}

#[test]
fn scenario_20_partner_build_naming_and_updates() {
    let main = main_story();
    let dir = build1(main);
    let acme = dir.join("partner-repacks/acme/acme/v1/linux-x86_64/de/firefox-121.0.tar.xz");
    assert!(acme.is_file());
    let eme: Vec<String> = snapshot(&dir.join("partner-repacks"))
        .into_keys()
        .filter(|k| k.contains("win64-EME-free/") && k.ends_with("firefox-121.0.zip"))
        .collect();
    assert_eq!(eme.len(), 4, "{eme:?}");
    let tree = extract(&acme);
    let ini =
        std::fs::read_to_string(tree.path().join("firefox/distribution/distribution.ini")).unwrap();
    assert!(ini.contains("[Global]") && ini.contains("id=acme"), "{ini}");
    assert!(
        snapshot(&tree.path().join("firefox"))
            .keys()
            .any(|k| k.contains("extensions/") && k.ends_with(".xpi")),
        "acme's extension"
    );
    // Its client checks release-cck-acme with distribution acme: no such rule, so release's.
    let xml = check(
        &main.env,
        R120,
        "de",
        "release-cck-acme",
        "acme",
        "?force=1",
        None,
    );
    assert_eq!(offered(&xml).as_deref(), Some("121.0"), "{xml}");
    assert!(xml.contains("firefox-120.0-121.0.partial.mar"), "{xml}");
    // Updating a 120.0 acme install with the vanilla partial keeps distribution/.
    let old = main.env.config.root.join("candidates/120.0-candidates/build1/partner-repacks/acme/acme/v1/linux-x86_64/de/firefox-120.0.tar.xz");
    let (_dir, client) = install(&old, "linux-x86_64");
    let before = snapshot(&client.join("distribution"));
    apply(
        &client,
        &dir.join("update/linux-x86_64/de/firefox-120.0-121.0.partial.mar"),
        &main.env.dir.join("keys/ed25519.pub"),
    );
    assert_eq!(snapshot(&client.join("distribution")), before);
    assert!(std::fs::read_to_string(client.join("application.ini"))
        .unwrap()
        .contains("Version=121.0"));
}

/// Every file under `dir` with a hidden path component (`.kiln-repack/…`, `.tmp-…`).
fn hidden_files(dir: &Path) -> Vec<String> {
    snapshot(dir)
        .into_keys()
        .filter(|rel| rel.split('/').any(|c| c.starts_with('.')))
        .collect()
}

/// The respin of docs/release.md §4 on a copy of build1 after its promote: it adds only
/// `partner-repacks/acme/acme/v2/` (signed, the Linux tarballs with their `.asc`) and the sums
/// that now list it, so the build directory verifies as before; its journal stays outside.
#[test]
fn scenario_21_partner_off_cycle_respin() {
    let main = main_story();
    // Construct's repack journal is in the release's work dir, not the published candidates.
    let candidates = main.env.config.root.join("candidates");
    assert_eq!(hidden_files(&candidates), Vec::<String>::new());
    let journal = main.env.config.work_dir.join(R121).join("repack-journal");
    assert!(std::fs::read_dir(&journal).unwrap().next().is_some());

    let copy = tempfile::tempdir().unwrap();
    let out = copy.path().join("build1");
    let status = Command::new("cp")
        .arg("-a")
        .arg(build1(main))
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let before = snapshot(&out);
    let inputs = main.env.config.work_dir.join(format!("{R121}/inputs"));
    let keys = main.env.dir.join("keys");
    let cache = copy.path().join("cache");
    let respin = |pgp: bool| {
        let mut args = vec![
            "repack".to_owned(),
            "--fixtures".to_owned(),
            inputs.to_str().unwrap().to_owned(),
            "--version".to_owned(),
            "121.0".to_owned(),
            "--out".to_owned(),
            out.to_str().unwrap().to_owned(),
            "--partners".to_owned(),
            "acme".to_owned(),
            "--partner-build".to_owned(),
            "2".to_owned(),
            "--sign-key".to_owned(),
            keys.join("ed25519.key").to_str().unwrap().to_owned(),
        ];
        if pgp {
            args.push("--pgp-key".to_owned());
            args.push(keys.join("openpgp.key").to_str().unwrap().to_owned());
        }
        Command::new(env!("CARGO_BIN_EXE_kiln"))
            .args(&args)
            .env("XDG_CACHE_HOME", &cache)
            .output()
            .unwrap()
    };
    // Without the OpenPGP key the sums would go stale: refused before anything is written.
    let refused = respin(false);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("--pgp-key"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert_eq!(snapshot(&out), before);
    let run = respin(true);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );

    let after = snapshot(&out);
    let sums = [
        "SHA256SUMS",
        "SHA256SUMS.asc",
        "SHA512SUMS",
        "SHA512SUMS.asc",
    ];
    for (path, sha) in &before {
        if sums.contains(&path.as_str()) {
            assert_ne!(after.get(path), Some(sha), "{path} was not rewritten");
        } else {
            assert_eq!(after.get(path), Some(sha), "{path} was touched");
        }
    }
    let new: Vec<&String> = after.keys().filter(|k| !before.contains_key(*k)).collect();
    assert!(
        new.iter()
            .all(|k| k.starts_with("partner-repacks/acme/acme/v2/")),
        "{new:?}"
    );
    // acme: de and en-US on linux-x86_64 and win64; each archive signed, Linux ones with .asc.
    let v2: Vec<&String> = new
        .iter()
        .copied()
        .filter(|k| kiln_tools::checksums::is_listed(k))
        .collect();
    assert_eq!(v2.len(), 4, "{v2:?}");
    let sha256sums = std::fs::read_to_string(out.join("SHA256SUMS")).unwrap();
    let home = tempfile::tempdir().unwrap();
    let key = out.join("KEY");
    assert!(gpg(home.path(), &["--import", key.to_str().unwrap()])
        .status
        .success());
    let mut linux = 0;
    for archive in &v2 {
        assert!(after.contains_key(&format!("{archive}.sig")), "{archive}");
        assert!(
            sha256sums.contains(&format!("{}  {archive}\n", after[*archive])),
            "{archive} is not listed in SHA256SUMS"
        );
        if kiln_tools::checksums::is_linux_tarball(archive) {
            linux += 1;
            let path = out.join(archive);
            let asc = out.join(format!("{archive}.asc"));
            let verified = gpg(
                home.path(),
                &["--verify", asc.to_str().unwrap(), path.to_str().unwrap()],
            );
            assert!(
                verified.status.success(),
                "{archive}.asc: {}",
                String::from_utf8_lossy(&verified.stderr)
            );
        }
    }
    assert_eq!(linux, 2);
    let verify = kiln_plain(&[
        "verify",
        "--dir",
        out.to_str().unwrap(),
        "--key",
        keys.join("ed25519.pub").to_str().unwrap(),
    ]);
    assert!(
        verify.status.success(),
        "kiln verify after the respin: {}",
        String::from_utf8_lossy(&verify.stderr)
    );
    assert_users_can_check(&out);
    // The respin's journal went to the cache, not into the build directory.
    assert_eq!(hidden_files(&out), Vec::<String>::new());
    let records = snapshot(&cache.join("kiln/repack"));
    assert_eq!(records.len(), 4, "{records:?}");
    assert!(records.keys().all(|r| r.contains("partner+acme+acme+v2+")));
}

#[test]
fn scenario_22_build2_respin() {
    let story = respin_story();
    let root = &story.env.config.root;
    assert!(root
        .join("candidates/121.0-candidates/build1/update")
        .is_dir());
    assert!(root
        .join("candidates/121.0-candidates/build2/update")
        .is_dir());
    let state = open_state(&story.env.config).unwrap();
    assert_eq!(state.release(R121).unwrap().status, ReleaseStatus::Halted);
    let refused = kiln(&story.env.config_path, &["promote", R121]);
    assert_eq!(
        refused.status.code(),
        Some(1),
        "a halted release was promoted again"
    );
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("is halted: promote is not allowed"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let stop = std::fs::read_dir(&story.env.config.outbox)
        .unwrap()
        .flatten()
        .any(|e| {
            e.file_name()
                .to_string_lossy()
                .ends_with("Firefox-121.0-build1-halt.eml")
        });
    assert!(stop, "no stop notice");
    assert_ne!(
        state.release(R121).unwrap().revision,
        state.release("Firefox-121.0-build2").unwrap().revision
    );
    let expected = expected_releases(&story.build2_candidates);
    let copied: BTreeMap<String, String> = story
        .releases_after_push
        .iter()
        .filter(|(k, _)| !k.starts_with("SHA256SUMS") && !k.starts_with("SHA512SUMS"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert_eq!(copied, expected, "releases/121.0 is build2's content");
    assert_users_can_check(&story.env.config.root.join("releases/121.0"));
    let admin = kiln_tools::release::server::Admin::new(
        &story.env.config.server.url,
        &story.env.config.admin_token().unwrap(),
    );
    let rule = admin.rule_for("Firefox", "release").unwrap().unwrap();
    let revisions = admin
        .ok(
            "GET",
            &format!("/rules/{}/revisions", rule["rule_id"]),
            None,
        )
        .unwrap();
    let mappings: Vec<String> = revisions["revisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["row"]["mapping"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(
        mappings.contains(&"Firefox-121.0-build2".to_owned()),
        "{mappings:?}"
    );
    assert!(
        !mappings.contains(&R121.to_owned()),
        "build1 was offered on release: {mappings:?}"
    );
}

#[test]
fn scenario_23_chemspill() {
    let story = respin_story();
    let env = &story.env;
    let state = open_state(&env.config).unwrap();
    let row = state.release("Firefox-121.0.1-build1").unwrap();
    assert_eq!(row.kind, "chemspill");
    assert_eq!(row.status, ReleaseStatus::Shipped);
    assert!(
        row.partials.contains(&"Firefox-121.0-build2".to_owned()),
        "{:?}",
        row.partials
    );
    assert!(row.partials.contains(&R120.to_owned()));
    assert!(
        story.chemspill_stdout.contains("rate 100%"),
        "{}",
        story.chemspill_stdout
    );
    let admin = kiln_tools::release::server::Admin::new(
        &env.config.server.url,
        &env.config.admin_token().unwrap(),
    );
    let rule = admin.rule_for("Firefox", "release").unwrap().unwrap();
    assert_eq!(rule["backgroundRate"], 100);
    assert_eq!(rule["mapping"], "Firefox-121.0.1-build1");
    let from_121 = check(
        env,
        "Firefox-121.0-build2",
        "de",
        "release",
        "default",
        "",
        None,
    );
    assert_eq!(offered(&from_121).as_deref(), Some("121.0.1"), "{from_121}");
    assert!(
        from_121.contains("type=\"partial\"")
            && from_121.contains("firefox-121.0-121.0.1.partial.mar"),
        "{from_121}"
    );
    let from_120 = check(env, R120, "de", "release", "default", "", None);
    assert_eq!(offered(&from_120).as_deref(), Some("121.0.1"));
    assert!(
        from_120.contains("firefox-120.0-121.0.1.partial.mar"),
        "{from_120}"
    );
}

#[test]
fn scenario_24_throttled_rollout() {
    let main = main_story();
    let mut new = 0;
    for dice in 0..100u8 {
        let xml = check(&main.env, R119, "de", "release", "default", "", Some(dice));
        match offered(&xml).as_deref() {
            Some("121.0") => new += 1,
            Some("120.0") => {}
            other => panic!("dice {dice}: {other:?}"),
        }
    }
    assert_eq!(new, 25, "backgroundRate 25 with a fixed dice");
    for dice in [0u8, 50, 99] {
        let xml = check(
            &main.env,
            R119,
            "de",
            "release",
            "default",
            "?force=1",
            Some(dice),
        );
        assert_eq!(offered(&xml).as_deref(), Some("121.0"));
    }
}

#[test]
fn scenario_25_no_downgrade_across_channels() {
    let story = respin_story();
    let env = &story.env;
    let admin = kiln_tools::release::server::Admin::new(
        &env.config.server.url,
        &env.config.admin_token().unwrap(),
    );
    // A 120.0.1 dot release (120.0's builds relabelled) mapped on beta.
    let mut blob = admin.release(R120).unwrap().unwrap();
    blob["name"] = "Firefox-120.0.1-build1".into();
    blob["appVersion"] = "120.0.1".into();
    blob["displayVersion"] = "120.0.1".into();
    admin
        .put_release("Firefox-120.0.1-build1", "Firefox", &blob)
        .unwrap();
    admin
        .point_channel("Firefox", "beta", "Firefox-120.0.1-build1")
        .unwrap();
    let on_beta = check(
        env,
        "Firefox-121.0-build2",
        "de",
        "beta",
        "default",
        "?force=1",
        None,
    );
    assert_eq!(
        offered(&on_beta),
        None,
        "a 121.0 client on beta was offered 120.0.1: {on_beta}"
    );
    let older = check(env, R119, "de", "beta", "default", "?force=1", None);
    assert_eq!(
        offered(&older).as_deref(),
        Some("120.0.1"),
        "the beta rule works for older clients"
    );
    let release = check(
        env,
        "Firefox-121.0-build2",
        "de",
        "release",
        "default",
        "?force=1",
        None,
    );
    assert_ne!(offered(&release).as_deref(), Some("120.0.1"));
}

/// Quickstart's CDN stand-in answers Range requests, so a client can resume a download.
#[test]
fn file_server_supports_range_requests() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("a.mar"), b"0123456789abcdef").unwrap();
    let server = kiln_tools::release::local::file_server(root.path()).unwrap();
    let (status, body) = get(&format!("{}/a.mar", server.url), &[("Range", "bytes=10-")]);
    assert_eq!((status, body.as_str()), (206, "abcdef"));
}

#[test]
fn init_writes_a_config_and_the_state_database_once() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("relman");
    let ok = kiln_plain(&[
        "init",
        "--dir",
        target.to_str().unwrap(),
        "--product",
        "Firefox",
    ]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let config = kiln_tools::release::config::Config::load(&target.join("kiln.toml")).unwrap();
    assert_eq!(config.channel, "release");
    assert_eq!(config.partial_count, 3);
    assert_eq!(config.signoffs.len(), 2);
    assert!(target.join("kiln-state.db").is_file());
    let before = std::fs::read(target.join("kiln.toml")).unwrap();
    let again = kiln_plain(&["init", "--dir", target.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(1), "init overwrote kiln.toml");
    assert!(String::from_utf8_lossy(&again.stderr).contains("kiln.toml already exists"));
    assert_eq!(std::fs::read(target.join("kiln.toml")).unwrap(), before);
    // init created and migrated the state database: `kiln migrate` finds nothing to do.
    let migrated = kiln_ok(&target.join("kiln.toml"), &["migrate"]);
    assert!(migrated.contains("up to date"), "{migrated}");
}

/// `kiln migrate` brings a state database written by the SQLite-only versions (no migrations
/// table, no queue) up to date, keeping its releases.
#[test]
fn migrate_adopts_a_state_database_from_before_migrations() {
    let dir = tempfile::tempdir().unwrap();
    let config = kiln_init(dir.path(), &[]);
    let db = match &config.state_db {
        Database::Sqlite(path) => path.clone(),
        other => panic!("init wrote {other}"),
    };
    std::fs::remove_file(&db).unwrap();
    let old = rusqlite::Connection::open(&db).unwrap();
    old.execute_batch(
        "CREATE TABLE releases (
            name TEXT PRIMARY KEY, product TEXT NOT NULL, version TEXT NOT NULL,
            build INTEGER NOT NULL, revision TEXT NOT NULL, partials TEXT NOT NULL,
            kind TEXT NOT NULL, status TEXT NOT NULL, next_version TEXT NOT NULL,
            created_by TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
            ship_change INTEGER, note TEXT, UNIQUE (product, version, build));
         INSERT INTO releases VALUES ('Firefox-120.0-build1', 'Firefox', '120.0', 1, 'r', '[]',
            'release', 'shipped', '120.0.1', 'old', 1, 1, NULL, NULL);",
    )
    .unwrap();
    drop(old);
    let config_path = dir.path().join("kiln.toml");
    let out = kiln_ok(&config_path, &["migrate"]);
    assert!(out.contains("applied migration(s) 1, 2"), "{out}");
    let status = kiln_ok(&config_path, &["status", "--json"]);
    let reports: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(reports[0]["release"]["status"], "shipped", "{status}");
}

#[test]
fn status_reports_every_release_and_stage_as_json() {
    let main = main_story();
    let text = kiln_ok(&main.env.config_path, &["status", "--json"]);
    let reports: serde_json::Value = serde_json::from_str(&text).unwrap();
    let by_name = |name: &str| {
        reports
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["release"]["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} missing from {text}"))
    };
    assert_eq!(by_name(R119)["release"]["status"], "shipped");
    let r121 = by_name(R121);
    assert_eq!(r121["release"]["status"], "shipped");
    let stages: Vec<&str> = r121["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["stage"].as_str().unwrap())
        .collect();
    assert_eq!(
        stages,
        [
            "configure",
            "construct",
            "certify",
            "package",
            "deploy",
            "push",
            "ship"
        ]
    );
    // 24 repacks, 12 complete + 24 partial MARs and the checksums.
    assert_eq!(r121["items"]["construct"], serde_json::json!([24, 0]));
    assert_eq!(r121["items"]["package"], serde_json::json!([37, 0]));
    let human = kiln_ok(&main.env.config_path, &["status", R121]);
    assert!(human.contains("Firefox-121.0-build1  shipped"), "{human}");
}
