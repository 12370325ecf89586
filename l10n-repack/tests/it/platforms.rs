//! A repack restricted to some platforms (`RepackInputs::load_for`): nothing of another platform
//! is read, planned or needed.

use l10n_repack::{NoProgress, Platform, RepackError, RepackInputs, RepackOptions};

use crate::util::{copy_tree, files, firefox, fixtures, VERSION};

#[test]
fn a_linux_only_repack_needs_and_builds_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    copy_tree(fixtures(), &input);
    // Without the other platforms' en-US builds, and without the sources of the locale that
    // ships only on mac, a linux-only repack still loads; an every-platform one does not.
    for platform in ["mac", "win64"] {
        std::fs::remove_dir_all(input.join("builds").join(VERSION).join(platform)).unwrap();
    }
    assert!(matches!(
        RepackInputs::load(&input, &firefox(), VERSION),
        Err(RepackError::MissingBuild { .. })
    ));
    std::fs::remove_dir_all(input.join("l10n/ja-JP-mac")).unwrap();
    let inputs = RepackInputs::load_for(&input, &firefox(), VERSION, &[Platform::Linux64]).unwrap();
    assert_eq!(inputs.platforms().collect::<Vec<_>>(), [Platform::Linux64]);
    let locales: Vec<&str> = inputs.locales().map(|l| l.as_str()).collect();
    assert_eq!(locales, ["de", "en-US", "fr", "ja"]);

    let jobs = inputs.plan(&RepackOptions::default()).unwrap();
    let ids: Vec<&str> = jobs.iter().map(|j| j.id()).collect();
    assert_eq!(
        ids,
        [
            "l10n/linux-x86_64/de",
            "l10n/linux-x86_64/en-US",
            "l10n/linux-x86_64/fr",
            "l10n/linux-x86_64/ja",
            // acme (linux-x86_64 and win64) on linux only; mozilla-EMEfree (mac and win64): none.
            "partner/acme/acme/v1/linux-x86_64/de",
            "partner/acme/acme/v1/linux-x86_64/en-US",
        ]
    );
    let out = dir.path().join("out");
    let report = l10n_repack::run(&inputs, &RepackOptions::default(), &out, &NoProgress).unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    let written: Vec<String> = files(&out).into_keys().collect();
    assert_eq!(written.len(), 6, "{written:?}");
    assert!(
        written
            .iter()
            .all(|p| p.starts_with("linux-x86_64/") || p.contains("/v1/linux-x86_64/")),
        "{written:?}"
    );
}
