use l10n_repack::RepackOptions;

use crate::util::{baseline, copy_tree, files, fixtures, layout, mtimes, repack, unpack};

fn listed(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

// See: `docs/release-process.md` Part C scenario 20.
#[test]
fn partner_builds_have_scenario_20_paths() {
    let acme = baseline().join("partner-repacks/acme/acme/v1");
    assert_eq!(listed(&acme), ["linux-x86_64", "win64"]);
    assert_eq!(listed(&acme.join("linux-x86_64")), ["de", "en-US"]);
    assert_eq!(listed(&acme.join("win64")), ["de", "en-US"]);
    assert!(acme
        .join("linux-x86_64/de")
        .join(layout("linux-x86_64").0)
        .is_file());
    let eme = baseline().join("partner-repacks/mozilla-EMEfree/mozilla-EMEfree/v1");
    assert_eq!(listed(&eme), ["mac-EME-free", "win64-EME-free"]);
    assert_eq!(
        listed(&eme.join("mac-EME-free")),
        ["de", "en-US", "fr", "ja-JP-mac"]
    );
    assert_eq!(
        listed(&eme.join("win64-EME-free")),
        ["de", "en-US", "fr", "ja"]
    );
}

#[test]
fn partner_build_is_the_locale_build_plus_distribution() {
    for (platform, partner, dir) in [
        ("linux-x86_64", "acme/acme", "linux-x86_64"),
        ("win64", "acme/acme", "win64"),
        ("mac", "mozilla-EMEfree/mozilla-EMEfree", "mac-EME-free"),
    ] {
        let (archive, resources) = layout(platform);
        let locale = unpack(&baseline().join(platform).join("de").join(&archive));
        let built = unpack(
            &baseline()
                .join("partner-repacks")
                .join(partner)
                .join("v1")
                .join(dir)
                .join("de")
                .join(&archive),
        );
        let source = files(
            &fixtures()
                .join("partners")
                .join(partner)
                .join("distribution"),
        );
        for (path, data) in &built.files {
            match path.strip_prefix(&format!("{resources}distribution/")) {
                Some(rel) => assert_eq!(Some(data), source.get(rel), "{platform}: {path}"),
                None => assert!(
                    locale.files.get(path) == Some(data),
                    "{platform}: {path} differs from the de build"
                ),
            }
        }
        assert_eq!(
            built.files.len(),
            locale.files.len() + source.len(),
            "{platform}"
        );
        let ini = String::from_utf8(
            built.files[&format!("{resources}distribution/distribution.ini")].clone(),
        )
        .unwrap();
        let id = partner.split('/').next().unwrap();
        assert!(ini.contains(&format!("[Global]\nid={id}\n")), "{ini}");
    }
    let acme = unpack(
        &baseline()
            .join("partner-repacks/acme/acme/v1/linux-x86_64/de")
            .join(layout("linux-x86_64").0),
    );
    assert!(acme
        .files
        .contains_key("firefox/distribution/extensions/toolbar@acme.example.xpi"));
}

// See: `docs/release-process.md` Part C scenario 21.
#[test]
fn v2_respin_touches_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(baseline(), dir.path());
    let before_files = files(dir.path());
    let before_times = mtimes(dir.path());
    let acme = ["acme".to_owned()];
    let journal = tempfile::tempdir().unwrap();
    let options = RepackOptions {
        partners: Some(&acme),
        partner_build: 2,
        journal: Some(journal.path()),
        ..Default::default()
    };
    let report = repack(fixtures(), dir.path(), &options);
    assert!(report.failures.is_empty());
    assert_eq!(report.written.len(), 4);
    assert!(report
        .written
        .iter()
        .all(|p| p.starts_with("partner-repacks/acme/acme/v2")));
    let after_files = files(dir.path());
    let after_times = mtimes(dir.path());
    for (path, data) in &before_files {
        assert!(after_files.get(path) == Some(data), "{path} changed");
        assert_eq!(
            after_times.get(path),
            before_times.get(path),
            "{path} rewritten"
        );
    }
    for path in after_files
        .keys()
        .filter(|p| !before_files.contains_key(*p))
    {
        assert!(
            path.starts_with("partner-repacks/acme/acme/v2/"),
            "unexpected new file {path}"
        );
        if let Some(v1) = path.strip_prefix("partner-repacks/acme/acme/v2/") {
            assert!(
                after_files[path] == before_files[&format!("partner-repacks/acme/acme/v1/{v1}")],
                "v2 {v1} differs from v1"
            );
        }
    }
    let records: Vec<String> = files(journal.path()).into_keys().collect();
    assert_eq!(records.len(), 4, "{records:?}");
    assert!(records
        .iter()
        .all(|r| r.starts_with("partner+acme+acme+v2+")));
}

#[test]
fn unknown_partner_is_rejected() {
    let inputs =
        l10n_repack::RepackInputs::load(fixtures(), &crate::util::firefox(), crate::util::VERSION)
            .unwrap();
    let names = ["nobody".to_owned()];
    let options = RepackOptions {
        partners: Some(&names),
        ..Default::default()
    };
    assert!(matches!(
        inputs.plan(&options),
        Err(l10n_repack::RepackError::InvalidValue {
            what: "partner",
            ..
        })
    ));
}
