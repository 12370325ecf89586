//! A mac-bundle install: the client is pointed at `Firefox.app` (the root the MARs' `Contents/…`
//! paths are relative to) and reads its identity and `kiln-update.toml` from
//! `Contents/Resources/`; pointed inside the bundle it refuses, exit 2, writing nothing.

use std::path::{Path, PathBuf};

use crate::util::*;

const B119: &str = "20231016000000";
const B120: &str = "20231113000000";
const B121: &str = "20231211000000";

/// A mac 119.0 install at `<tmp>/Firefox.app`, checking `server`'s `/update.xml`.
struct MacInstall {
    dir: tempfile::TempDir,
    server: TestServer,
    config: client_updater::UpdateConfig,
}

impl MacInstall {
    fn new() -> MacInstall {
        let server = TestServer::start();
        let config = config(vec![server.url("/update.xml")]);
        let dir = tempfile::tempdir().unwrap();
        let install = MacInstall {
            dir,
            server,
            config,
        };
        materialize(&install.app(), &install.tree("119.0", B119));
        install
    }

    fn app(&self) -> PathBuf {
        self.dir.path().join("Firefox.app")
    }

    fn tree(&self, version: &'static str, build_id: &'static str) -> Snapshot {
        build_tree(&BuildSpec::new(version, build_id).mac(), Some(&self.config))
    }

    /// Offers `version` with these `(type, mar)` patches, each served at `/<type>.mar`.
    fn offer(&self, version: &str, build_id: &str, patches: &[(&str, Vec<u8>)]) {
        let lines: Vec<String> = patches
            .iter()
            .map(|(kind, mar)| {
                let path = format!("/{kind}.mar");
                self.server.route(&path, Reply::ok(mar.clone()));
                patch_xml(kind, &self.server.url(&path), mar)
            })
            .collect();
        let xml = update_xml(version, build_id, "", &lines);
        self.server.route(
            "/update.xml",
            Reply::signed(xml, &keys().response, now_secs() + 600),
        );
    }
}

#[test]
fn a_client_pointed_at_the_bundle_takes_a_partial_then_a_complete() {
    let mac = MacInstall::new();
    let app = mac.app();
    let (t119, t120, t121) = (
        mac.tree("119.0", B119),
        mac.tree("120.0", B120),
        mac.tree("121.0", B121),
    );
    assert!(t119.contains_key("Contents/Resources/gmp-clearkey/0.1/manifest.json"));
    assert!(t121.contains_key("Contents/MacOS/firefox"));
    assert_eq!(start(&app), format!("Firefox 119.0 ({B119})"));

    // 119.0 → 120.0 by the partial, staged and swapped in at start.
    let partial = partial(&t119, &t120, &MarSpec::new("120.0"));
    let complete_120 = complete(&t120, &MarSpec::new("120.0"));
    mac.offer(
        "120.0",
        B120,
        &[("partial", partial), ("complete", complete_120)],
    );
    update_then_start(&app, "--stage", ("applied", "partial"), ("120.0", B120));
    assert_tree(&app, &t120);

    // 120.0 → 121.0 by the complete, pending and applied in place at start: the directories
    // only 120.0 has go (precomplete read from Contents/Resources/).
    mac.offer(
        "121.0",
        B121,
        &[("complete", complete(&t121, &MarSpec::new("121.0")))],
    );
    update_then_start(&app, "--no-stage", ("pending", "complete"), ("121.0", B121));
    assert_tree(&app, &t121);
    assert!(!app.join("Contents/Resources/gmp-clearkey").exists());
    // Nothing was written beside the bundle: the client's own state is in `Firefox.app/updates`.
    let beside: Vec<_> = std::fs::read_dir(mac.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(beside, ["Firefox.app"]);
}

/// `kiln-client update <flag>` must give `(result, patch_type)`; then `start` must print `new`
/// and the status be `succeeded`.
fn update_then_start(app: &Path, flag: &str, outcome: (&str, &str), new: (&str, &str)) {
    let (code, json) = run_json(&["update", "--install", path_str(app), flag, "--json"]);
    assert_eq!(
        (code, json["result"].as_str(), json["patch_type"].as_str()),
        (0, Some(outcome.0), Some(outcome.1)),
        "{json}"
    );
    assert_eq!(start(app), format!("Firefox {} ({})", new.0, new.1));
    assert_eq!(status_of(app), "succeeded");
}

/// `kiln-client <args…> --install <dir>`: exit code and stderr.
fn refused(args: &[&str], dir: &Path) -> (Option<i32>, String) {
    let mut all = args.to_vec();
    all.extend(["--install", path_str(dir)]);
    let out = kiln_client(&all);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_client_pointed_inside_the_bundle_is_refused_with_exit_2_and_writes_nothing() {
    let mac = MacInstall::new();
    let app = mac.app();
    let t120 = mac.tree("120.0", B120);
    mac.offer(
        "120.0",
        B120,
        &[("complete", complete(&t120, &MarSpec::new("120.0")))],
    );
    let before = snapshot(mac.dir.path());
    for inner in ["Contents/Resources", "Contents", "Contents/MacOS"] {
        let dir = app.join(inner);
        for args in [
            &["update", "--stage"][..],
            &["update", "--no-stage"],
            &["check"],
            &["start"],
            &["status"],
            &["watch", "--for-secs", "1"],
        ] {
            let (code, stderr) = refused(args, &dir);
            assert_eq!(code, Some(2), "{args:?} in {inner}: {stderr}");
            assert!(
                stderr.contains(&format!("mac bundle {}", app.display())),
                "{args:?} in {inner}: {stderr}"
            );
            assert_eq!(snapshot(mac.dir.path()), before, "{args:?} in {inner}");
        }
    }
    assert!(mac.server.requests("/").is_empty(), "nothing was fetched");
}
