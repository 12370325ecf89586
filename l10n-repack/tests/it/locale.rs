use std::collections::BTreeSet;

use crate::util::{baseline, fixtures, layout, unpack, zip_entries, VERSION};

const PLATFORMS: [&str; 3] = ["linux-x86_64", "mac", "win64"];

/// Whether a path (relative to the resources dir) is one a locale repack may change.
fn localized(rel: &str) -> bool {
    rel.starts_with("dictionaries/")
        || (rel.starts_with("defaults/pref/") && rel.ends_with("-l10n.js"))
        || ["omni.ja", "update.locale", "precomplete"].contains(&rel)
}

#[test]
fn de_differs_from_en_us_only_in_localized_files() {
    for platform in PLATFORMS {
        let (archive, resources) = layout(platform);
        let en = unpack(&baseline().join(platform).join("en-US").join(&archive));
        let de = unpack(&baseline().join(platform).join("de").join(&archive));
        let paths: BTreeSet<&String> = en.files.keys().chain(de.files.keys()).collect();
        let mut changed = Vec::new();
        for path in paths {
            if en.files.get(path) != de.files.get(path) {
                let rel = path.strip_prefix(resources).unwrap_or(path);
                assert!(
                    localized(rel),
                    "{platform}: {path} differs but is not localized"
                );
                changed.push(rel.to_owned());
            }
        }
        for expected in [
            "omni.ja",
            "update.locale",
            "precomplete",
            "dictionaries/de.dic",
            "defaults/pref/firefox-l10n.js",
        ] {
            assert!(
                changed.iter().any(|c| c == expected),
                "{platform}: {expected} unchanged"
            );
        }
        // The channel files and every binary are byte-identical.
        let binaries = match platform {
            "mac" => vec![
                "Firefox.app/Contents/MacOS/XUL",
                "Firefox.app/Contents/MacOS/firefox",
            ],
            "win64" => vec![
                "firefox/xul.dll",
                "firefox/firefox.exe",
                "firefox/updater.exe",
            ],
            _ => vec!["firefox/libxul.so", "firefox/firefox", "firefox/updater"],
        };
        let channel = [
            format!("{resources}update-settings.ini"),
            format!("{resources}defaults/pref/channel-prefs.js"),
        ];
        for path in binaries.iter().map(|s| (*s).to_owned()).chain(channel) {
            assert!(en.files.contains_key(&path), "{platform}: {path} missing");
            assert_eq!(
                en.files.get(&path),
                de.files.get(&path),
                "{platform}: {path}"
            );
        }
        assert_eq!(de.files[&format!("{resources}update.locale")], b"de\n");
        assert_eq!(en.files[&format!("{resources}update.locale")], b"en-US\n");
        // Inside omni.ja only locale entries and chrome.manifest change.
        let en_omni = zip_entries(&en.files[&format!("{resources}omni.ja")]);
        let de_omni = zip_entries(&de.files[&format!("{resources}omni.ja")]);
        let names: BTreeSet<&String> = en_omni.keys().chain(de_omni.keys()).collect();
        for name in names {
            if en_omni.get(name) != de_omni.get(name) {
                assert!(
                    name.starts_with("chrome/en-US/")
                        || name.starts_with("chrome/de/")
                        || name.starts_with("localization/de/")
                        || name == "chrome.manifest",
                    "{platform}: omni.ja entry {name} changed"
                );
            }
        }
        assert!(en_omni.contains_key("localization/en-US/browser/browser.ftl"));
        assert_eq!(
            en_omni.get("localization/en-US/browser/browser.ftl"),
            de_omni.get("localization/en-US/browser/browser.ftl"),
            "en-US Fluent stays as fallback"
        );
        assert!(String::from_utf8_lossy(&de_omni["chrome.manifest"])
            .contains("locale browser de chrome/de/locale/browser/"));
    }
}

/// `createprecomplete.py`, re-implemented independently over an unpacked tree.
fn expected_precomplete(files: &[&str], dirs: &[&str]) -> String {
    let mut f: Vec<&str> = files
        .iter()
        .copied()
        .filter(|p| {
            !(p.ends_with("channel-prefs.js")
                || p.ends_with("update-settings.ini")
                || p.contains("distribution/"))
        })
        .collect();
    let mut d: Vec<String> = dirs
        .iter()
        .map(|d| format!("{d}/"))
        .filter(|d| !d.contains("distribution/"))
        .collect();
    f.sort_unstable_by(|a, b| b.cmp(a));
    d.sort_unstable_by(|a, b| b.cmp(a));
    let mut out = String::new();
    for file in f {
        out.push_str(&format!("remove \"{file}\"\n"));
    }
    for dir in d {
        out.push_str(&format!("rmdir \"{dir}\"\n"));
    }
    out
}

#[test]
fn precomplete_lists_exactly_the_repacked_tree() {
    let mut checked = 0;
    for entry in walkdir::WalkDir::new(baseline()) {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy();
        if !(name.ends_with(".tar.xz") || name.ends_with(".tar.gz") || name.ends_with(".zip")) {
            continue;
        }
        let tree = unpack(entry.path());
        let root = if tree.files.keys().any(|p| p.starts_with("Firefox.app/")) {
            "Firefox.app/"
        } else {
            "firefox/"
        };
        let files: Vec<&str> = tree
            .files
            .keys()
            .filter_map(|p| p.strip_prefix(root))
            .collect();
        let dirs: Vec<&str> = tree
            .dirs
            .iter()
            .filter_map(|p| p.strip_prefix(root))
            .filter(|p| !p.is_empty())
            .collect();
        let precomplete_path = if root == "Firefox.app/" {
            "Firefox.app/Contents/Resources/precomplete"
        } else {
            "firefox/precomplete"
        };
        let actual = String::from_utf8(tree.files[precomplete_path].clone()).unwrap();
        assert_eq!(
            actual,
            expected_precomplete(&files, &dirs),
            "{}",
            entry.path().display()
        );
        checked += 1;
    }
    assert!(checked >= 24, "checked {checked} archives");
}

#[test]
fn ja_is_not_on_mac_and_ja_jp_mac_only_on_mac() {
    let out = baseline();
    for platform in ["linux-x86_64", "win64"] {
        assert!(out
            .join(platform)
            .join("ja")
            .join(layout(platform).0)
            .is_file());
        assert!(!out.join(platform).join("ja-JP-mac").exists());
    }
    assert!(out.join("mac/ja-JP-mac").join(layout("mac").0).is_file());
    assert!(!out.join("mac/ja").exists());
    let locales = |platform: &str| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(out.join(platform))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    assert_eq!(locales("mac"), ["de", "en-US", "fr", "ja-JP-mac"]);
    assert_eq!(locales("linux-x86_64"), ["de", "en-US", "fr", "ja"]);
}

#[test]
fn en_us_repack_has_the_input_build_tree() {
    for platform in PLATFORMS {
        let archive = layout(platform).0;
        let input = unpack(
            &fixtures()
                .join("builds")
                .join(VERSION)
                .join(platform)
                .join("en-US")
                .join(&archive),
        );
        let output = unpack(&baseline().join(platform).join("en-US").join(&archive));
        assert_eq!(
            input.files.keys().collect::<Vec<_>>(),
            output.files.keys().collect::<Vec<_>>(),
            "{platform}"
        );
        for (path, data) in &input.files {
            assert!(&output.files[path] == data, "{platform}: {path} changed");
        }
    }
}

#[test]
fn another_products_builds_repack_under_its_own_names() {
    let dir = tempfile::tempdir().unwrap();
    let options = kiln_fixtures::Options {
        versions: vec![VERSION.to_owned()],
        locales: "de".parse().unwrap(),
        product: "Thunderbird".to_owned(),
        ..Default::default()
    };
    kiln_fixtures::generate(&dir.path().join("in"), &options).unwrap();
    let thunderbird: l10n_repack::Product = "Thunderbird".parse().unwrap();
    // Firefox's names are not there: the product decides which builds are read.
    assert!(matches!(
        l10n_repack::RepackInputs::load(&dir.path().join("in"), &crate::util::firefox(), VERSION),
        Err(l10n_repack::RepackError::MissingBuild { .. })
    ));
    let inputs =
        l10n_repack::RepackInputs::load(&dir.path().join("in"), &thunderbird, VERSION).unwrap();
    let out = dir.path().join("out");
    let options = l10n_repack::RepackOptions::default();
    let report = l10n_repack::run(&inputs, &options, &out, &l10n_repack::NoProgress).unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    for (platform, archive, resources) in [
        ("linux-x86_64", "thunderbird-121.0.tar.xz", "thunderbird/"),
        (
            "mac",
            "thunderbird-121.0.tar.gz",
            "Thunderbird.app/Contents/Resources/",
        ),
        ("win64", "thunderbird-121.0.zip", "thunderbird/"),
    ] {
        let tree = unpack(&out.join(platform).join("de").join(archive));
        assert_eq!(
            tree.files[&format!("{resources}update.locale")],
            b"de\n",
            "{platform}"
        );
        let root = resources.split('/').next().unwrap();
        assert!(
            tree.files
                .keys()
                .all(|p| p.starts_with(&format!("{root}/"))),
            "{platform}"
        );
        assert!(
            tree.files.contains_key(&format!("{resources}precomplete")),
            "{platform}"
        );
    }
}
