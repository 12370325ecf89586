use mar::update::ApplyOptions;

use crate::trees::{apply_with, install_copy, rsa_key, snapshot, update_fixture};

const PARTIAL: &str = "firefox-119.0-120.0.partial.mar";
const COMPLETE: &str = "firefox-120.0.complete.mar";

fn expected() -> crate::trees::Snapshot {
    snapshot(install_copy("install-120.0").path())
}

#[test]
fn partial_applies_to_119_and_gives_120() {
    let install = install_copy("install-119.0");
    let summary = apply_with(
        install.path(),
        &update_fixture(PARTIAL),
        vec![rsa_key()],
        &ApplyOptions::default(),
    )
    .unwrap();
    assert_eq!(summary.patched, 1);
    assert_eq!(snapshot(install.path()), expected());
}

#[test]
fn complete_applies_to_119_and_to_an_empty_dir() {
    let install = install_copy("install-119.0");
    apply_with(
        install.path(),
        &update_fixture(COMPLETE),
        vec![rsa_key()],
        &ApplyOptions::default(),
    )
    .unwrap();
    assert_eq!(snapshot(install.path()), expected());
    let empty = tempfile::tempdir().unwrap();
    apply_with(
        empty.path(),
        &update_fixture(COMPLETE),
        vec![rsa_key()],
        &ApplyOptions::default(),
    )
    .unwrap();
    assert_eq!(snapshot(empty.path()), expected());
}

#[test]
fn staged_apply_leaves_the_install_alone() {
    let install = install_copy("install-119.0");
    let before = snapshot(install.path());
    let staging = tempfile::tempdir().unwrap();
    let staged = staging.path().join("staged");
    let summary = apply_with(
        install.path(),
        &update_fixture(PARTIAL),
        vec![rsa_key()],
        &ApplyOptions::default().staged(&staged),
    )
    .unwrap();
    assert_eq!(summary.applied_to, staged);
    assert_eq!(snapshot(install.path()), before);
    assert_eq!(snapshot(&staged), expected());
}

#[test]
fn tampered_source_fails_with_4_and_changes_nothing() {
    let install = install_copy("install-119.0");
    let libxul = install.path().join("libxul.so");
    let mut bytes = std::fs::read(&libxul).unwrap();
    bytes[100] ^= 0xff;
    std::fs::write(&libxul, bytes).unwrap();
    let before = snapshot(install.path());
    let err = apply_with(
        install.path(),
        &update_fixture(PARTIAL),
        vec![rsa_key()],
        &ApplyOptions::default(),
    )
    .unwrap_err();
    assert_eq!(err.code(), 4, "{err}");
    assert_eq!(snapshot(install.path()), before);
    // A truncated source fails the size check first (2).
    std::fs::write(&libxul, b"short").unwrap();
    let err = apply_with(
        install.path(),
        &update_fixture(PARTIAL),
        vec![rsa_key()],
        &ApplyOptions::default(),
    )
    .unwrap_err();
    assert_eq!(err.code(), 2, "{err}");
}

#[test]
fn wrong_channel_is_22_downgrade_is_23_wrong_key_is_19() {
    let install = install_copy("install-119.0");
    let before = snapshot(install.path());
    let wrong_key = mar::keys::SigningKey::generate_ed25519().public_key();
    let err = apply_with(
        install.path(),
        &update_fixture(PARTIAL),
        vec![wrong_key],
        &ApplyOptions::default(),
    )
    .unwrap_err();
    assert_eq!(err.code(), 19);
    let err = apply_with(
        install.path(),
        &update_fixture(COMPLETE),
        vec![rsa_key()],
        &ApplyOptions::default().current_version("121.0"),
    )
    .unwrap_err();
    assert_eq!(err.code(), 23);
    // The same version is allowed (checked via application.ini of a 120.0 install).
    let same = install_copy("install-120.0");
    apply_with(
        same.path(),
        &update_fixture(COMPLETE),
        vec![rsa_key()],
        &ApplyOptions::default(),
    )
    .unwrap();
    std::fs::write(
        install.path().join("update-settings.ini"),
        "[Settings]\nACCEPTED_MAR_CHANNEL_IDS=firefox-mozilla-beta\n",
    )
    .unwrap();
    let before_channel = snapshot(install.path());
    let err = apply_with(
        install.path(),
        &update_fixture(PARTIAL),
        vec![rsa_key()],
        &ApplyOptions::default(),
    )
    .unwrap_err();
    assert_eq!(err.code(), 22);
    assert_eq!(snapshot(install.path()), before_channel);
    assert_ne!(before, before_channel);
}

#[test]
fn a_result_that_is_not_the_expected_build_is_22_and_rolled_back() {
    let install = install_copy("install-119.0");
    let before = snapshot(install.path());
    for staged in [false, true] {
        let staging = tempfile::tempdir().unwrap();
        let options = if staged {
            ApplyOptions::default().staged(&staging.path().join("staged"))
        } else {
            ApplyOptions::default()
        };
        // The partial makes 120.0, whose application.ini has no BuildID: not build 1.
        let err = apply_with(
            install.path(),
            &update_fixture(PARTIAL),
            vec![rsa_key()],
            &options.expect_build("120.0", "1"),
        )
        .unwrap_err();
        assert!(
            matches!(err, mar::update::ApplyError::UnexpectedBuild { .. }),
            "{err}"
        );
        assert_eq!(err.code(), 22);
        assert_eq!(snapshot(install.path()), before, "staged: {staged}");
        assert!(!staging.path().join("staged").exists());
    }
}

#[test]
fn a_directory_inside_a_mac_bundle_is_refused_as_the_root_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("Firefox.app");
    let resources = app.join("Contents/Resources");
    crate::trees::copy_tree(&update_fixture("install-119.0"), &resources);
    std::fs::write(app.join("Contents/Info.plist"), "<plist/>").unwrap();
    let before = snapshot(dir.path());
    for inner in [resources.clone(), app.join("Contents")] {
        let err = apply_with(
            &inner,
            &update_fixture(COMPLETE),
            vec![rsa_key()],
            &ApplyOptions::default(),
        )
        .unwrap_err();
        assert!(
            matches!(err, mar::update::ApplyError::InstallRoot(_)),
            "{err}"
        );
        assert!(err.to_string().contains("Firefox.app"), "{err}");
        assert_eq!(snapshot(dir.path()), before);
    }
}
