//! Workspace invariants checked as tests (ARCHITECTURE.md "Architecture invariants"): the crate
//! dependency graph flows one way, the client-facing `mar` build stays lean, and every module
//! opens with a `//!` doc comment.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The crates of this workspace, by package name.
const WORKSPACE_CRATES: [&str; 5] = [
    "mar",
    "l10n-repack",
    "kiln-fixtures",
    "updater-server",
    "kiln-tools",
];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tools/ has a parent")
        .to_owned()
}

/// Package names in the normal (non-dev, non-build) dependency tree of `package`.
fn normal_dependencies(package: &str, extra: &[&str]) -> BTreeSet<String> {
    let mut args = vec!["-p", package];
    args.extend_from_slice(extra);
    cargo_tree(&args)
}

/// Package names that `cargo tree` prints for these arguments (normal edges only).
fn cargo_tree(args: &[&str]) -> BTreeSet<String> {
    let output = Command::new(env!("CARGO"))
        .current_dir(workspace_root())
        .args(["tree", "--offline", "-e", "normal", "--prefix", "none"])
        .args(args)
        .output()
        .expect("cargo tree runs");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("utf-8")
        .lines()
        .filter_map(|line| line.split_whitespace().next().map(str::to_owned))
        .collect()
}

fn ours(deps: &BTreeSet<String>, except: &str) -> BTreeSet<String> {
    deps.iter()
        .filter(|d| WORKSPACE_CRATES.contains(&d.as_str()) && *d != except)
        .cloned()
        .collect()
}

#[test]
fn dependencies_flow_one_way() {
    let none = BTreeSet::new();
    assert_eq!(
        ours(&normal_dependencies("mar", &[]), "mar"),
        none,
        "mar depends on no crate of ours"
    );
    assert_eq!(
        ours(
            &normal_dependencies("updater-server", &[]),
            "updater-server"
        ),
        none
    );
    let allowed: BTreeSet<String> = ["mar".to_owned()].into();
    for package in ["l10n-repack", "kiln-fixtures"] {
        let deps = ours(&normal_dependencies(package, &[]), package);
        assert!(
            deps.is_subset(&allowed),
            "{package} may depend on mar at most, has {deps:?}"
        );
    }
    // The coordinator sits on top: it may use every other crate (the update server only to run
    // it in-process for quickstart and tests), and the graph stays acyclic.
    let tools: BTreeSet<String> = ["mar", "l10n-repack", "kiln-fixtures", "updater-server"]
        .map(str::to_owned)
        .into();
    assert_eq!(
        ours(&normal_dependencies("kiln-tools", &[]), "kiln-tools"),
        tools
    );
    // Workspace-wide inversion: every package with a normal dependency on kiln-tools.
    let dependents = cargo_tree(&["--invert", "kiln-tools"]);
    assert!(
        cargo_tree(&["--invert", "mar"]).contains("kiln-tools"),
        "the inversion sees dependents"
    );
    assert_eq!(
        ours(&dependents, "kiln-tools"),
        none,
        "nothing depends on kiln-tools"
    );
}

#[test]
fn the_client_facing_mar_build_is_lean() {
    let deps = normal_dependencies("mar", &["--no-default-features"]);
    for heavy in [
        "rayon",
        "bidiff",
        "actix-web",
        "tokio",
        "rusqlite",
        "sequoia-openpgp",
        "clap",
        "indicatif",
    ] {
        assert!(
            !deps.contains(heavy),
            "mar without default features pulls {heavy}"
        );
    }
}

#[test]
fn every_module_opens_with_a_doc_comment() {
    let mut missing = Vec::new();
    for krate in ["mar", "l10n-repack", "fixtures", "updater-server", "tools"] {
        let mut stack = vec![workspace_root().join(krate).join("src")];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).expect("readable src dir") {
                let path = entry.expect("dir entry").path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).expect("utf-8 source");
                    if !text.trim_start().starts_with("//!") {
                        missing.push(path.display().to_string());
                    }
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "modules without a //! doc comment: {missing:#?}"
    );
}
