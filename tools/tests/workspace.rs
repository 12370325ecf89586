//! Workspace invariants checked as tests (ARCHITECTURE.md "Architecture invariants"): the crate
//! dependency graph flows one way, the libraries' default builds are the libraries (the commands
//! are packages of their own), every module opens with a `//!` doc comment, and the repository
//! stands alone (nothing refers outside the clone).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The crates of this workspace, by package name.
const WORKSPACE_CRATES: [&str; 9] = [
    "mar",
    "mar-cli",
    "client-updater",
    "kiln-client",
    "l10n-repack",
    "kiln-fixtures",
    "kiln-test-support",
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
    for package in ["l10n-repack", "kiln-fixtures", "client-updater", "mar-cli"] {
        let deps = ours(&normal_dependencies(package, &[]), package);
        assert!(
            deps.is_subset(&allowed),
            "{package} may depend on mar at most, has {deps:?}"
        );
    }
    let client: BTreeSet<String> = ["mar", "client-updater"].map(str::to_owned).into();
    assert_eq!(
        ours(&normal_dependencies("kiln-client", &[]), "kiln-client"),
        client
    );
    // The coordinator sits on top: it may use every other crate (the update server only to run
    // it in-process for quickstart and tests, the client updater for `kiln-update.toml` and
    // quickstart's client), and the graph stays acyclic.
    let tools: BTreeSet<String> = [
        "mar",
        "l10n-repack",
        "kiln-fixtures",
        "updater-server",
        "client-updater",
    ]
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
    // The shared test helpers are a dev-dependency only, and depend on no crate of ours.
    assert_eq!(
        ours(
            &cargo_tree(&["--invert", "kiln-test-support"]),
            "kiln-test-support"
        ),
        none,
        "no crate depends on kiln-test-support outside its tests"
    );
    assert_eq!(
        ours(
            &normal_dependencies("kiln-test-support", &[]),
            "kiln-test-support"
        ),
        none
    );
}

/// Crates a library's default build must not pull: command-line and terminal crates (the
/// binaries' packages have them), update generation and threads (the tools enable them), and the
/// server and pipeline side.
const NOT_IN_A_LIBRARY: [&str; 12] = [
    "clap",
    "anyhow",
    "indicatif",
    "tracing-subscriber",
    "bidiff",
    "rayon",
    "actix-web",
    "tokio",
    "rusqlite",
    "postgres",
    "sequoia-openpgp",
    "updater-server",
];

/// What an application gets from `mar = "…"` or `client-updater = "…"`: the default features'
/// normal dependency tree holds the library and none of [`NOT_IN_A_LIBRARY`].
#[test]
fn the_libraries_default_builds_are_the_libraries() {
    for library in ["mar", "client-updater"] {
        let deps = normal_dependencies(library, &[]);
        let heavy: Vec<&str> = NOT_IN_A_LIBRARY
            .into_iter()
            .filter(|h| deps.contains(*h))
            .collect();
        assert!(
            heavy.is_empty(),
            "{library}'s default build pulls {heavy:?}"
        );
        assert!(
            deps.contains(library),
            "cargo tree lists {library}: {deps:?}"
        );
    }
    let client = normal_dependencies("client-updater", &[]);
    assert!(
        client.contains("mar") && client.contains("ureq"),
        "{client:?}"
    );
    // Generation is a feature the tools enable, and still leaves out the CLI crates.
    let generating = normal_dependencies("mar", &["--features", "generate,parallel"]);
    assert!(generating.contains("bidiff") && generating.contains("rayon"));
    for cli in ["clap", "anyhow", "indicatif", "tracing-subscriber"] {
        assert!(!generating.contains(cli), "mar's generate pulls {cli}");
    }
}

/// The commands live in packages of their own, which nothing depends on.
#[test]
fn the_commands_are_packages_of_their_own() {
    for (package, library) in [("mar-cli", "mar"), ("kiln-client", "client-updater")] {
        let deps = normal_dependencies(package, &[]);
        assert!(deps.contains(library) && deps.contains("clap"), "{deps:?}");
        assert_eq!(
            ours(&cargo_tree(&["--invert", package]), package),
            BTreeSet::new(),
            "nothing depends on {package}"
        );
    }
}

/// Files git tracks in this workspace (a fresh clone has exactly these), relative to its root.
fn tracked_files() -> Vec<String> {
    let output = Command::new("git")
        .current_dir(workspace_root())
        .args(["ls-files", "-z"])
        .output()
        .expect("git runs (the tidy checks read the tracked files)");
    assert!(output.status.success(), "git ls-files failed");
    String::from_utf8(output.stdout)
        .expect("utf-8 paths")
        .split('\0')
        .filter(|path| !path.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The tracked `.rs` files whose path `select` accepts, with their text.
fn tracked_rust_sources(select: impl Fn(&str) -> bool) -> Vec<(String, String)> {
    tracked_files()
        .into_iter()
        .filter(|path| path.ends_with(".rs") && select(path))
        .map(|path| {
            let text = std::fs::read_to_string(workspace_root().join(&path)).expect("utf-8 source");
            (path, text)
        })
        .collect()
}

/// The public error types of the library crates follow ARCHITECTURE.md's "Errors" rule: each is
/// a `#[non_exhaustive]` thiserror type, none is a bare message (`(pub String)`), and the
/// paragraph names each of them and no error type that does not exist.
#[test]
fn library_errors_follow_the_documented_rule() {
    let architecture =
        std::fs::read_to_string(workspace_root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let start = architecture
        .find("- **Errors**")
        .expect("ARCHITECTURE.md has an Errors rule");
    let rule = &architecture[start..];
    let rule = &rule[..rule[1..].find("\n- **").map_or(rule.len(), |end| end + 1)];
    // Backticked names in the rule that look like error types (last path segment).
    let documented: BTreeSet<String> = rule
        .split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|name| name.rsplit("::").next())
        .filter(|name| name.contains("Error") || *name == "UrlRefused")
        .filter(|name| name.chars().all(|c| c.is_ascii_alphanumeric()))
        .map(str::to_owned)
        .collect();
    let mut found = BTreeSet::new();
    let mut offenders = Vec::new();
    let in_library =
        |path: &str| path.starts_with("mar/src/") || path.starts_with("client-updater/src/");
    for (path, text) in tracked_rust_sources(in_library) {
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let line = line.trim_start();
            let Some(rest) = line
                .strip_prefix("pub enum ")
                .or_else(|| line.strip_prefix("pub struct "))
            else {
                continue;
            };
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // The attributes and doc comments right above the declaration.
            let above: Vec<&str> = lines[..i]
                .iter()
                .rev()
                .map(|l| l.trim_start())
                .take_while(|l| l.starts_with("#[") || l.starts_with("///") || l.starts_with('"'))
                .collect();
            let derives_error = above
                .iter()
                .any(|l| l.starts_with("#[derive(") && l.contains("thiserror::Error"));
            if !(derives_error || name.ends_with("Error")) {
                continue;
            }
            let site = format!("{path}:{}: {name}", i + 1);
            if !derives_error {
                offenders.push(format!("{site} does not derive thiserror::Error"));
            }
            if !above.contains(&"#[non_exhaustive]") {
                offenders.push(format!("{site} is not #[non_exhaustive]"));
            }
            if rest.contains("(pub String)") {
                offenders.push(format!("{site} is a bare message"));
            }
            found.insert(name);
        }
    }
    assert!(offenders.is_empty(), "{offenders:#?}");
    assert!(
        found.contains("Error") && found.contains("XmlError"),
        "the scan sees the libraries' errors: {found:?}"
    );
    let undocumented: Vec<&String> = found.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "ARCHITECTURE.md's Errors rule omits {undocumented:?}"
    );
    let stale: Vec<&String> = documented
        .iter()
        .filter(|name| name.ends_with("Error") && !found.contains(*name))
        .collect();
    assert!(
        stale.is_empty(),
        "ARCHITECTURE.md's Errors rule names no such error: {stale:?}"
    );
}

/// Every library or binary module of every crate opens with a `//!` doc and has no TODO left.
#[test]
fn every_module_opens_with_a_doc_comment() {
    let mut checked = 0;
    let mut offenders = Vec::new();
    let in_crate_source = |path: &str| path.contains("/src/") || path.contains("/examples/");
    for (path, text) in tracked_rust_sources(in_crate_source) {
        if !text.trim_start().starts_with("//!") {
            offenders.push(format!("{path}: no //! module doc"));
        }
        if text.contains("TODO") || text.contains("todo!") {
            offenders.push(format!("{path}: a TODO is left"));
        }
        checked += 1;
    }
    assert!(checked > 100, "only {checked} modules found");
    assert!(offenders.is_empty(), "untidy modules: {offenders:#?}");
}

/// A user's clone has nothing beside it: no tracked file may read or cite the developers' own
/// `shared` folder next to the checkout. Test data lives in `fixtures/data/`, specs in `docs/`.
#[test]
fn no_tracked_file_refers_to_a_folder_beside_the_checkout() {
    let needle = concat!("..", "/shared");
    let mut offenders = Vec::new();
    for path in tracked_files() {
        if path == "Cargo.lock" {
            continue;
        }
        let Ok(bytes) = std::fs::read(workspace_root().join(&path)) else {
            continue; // deleted in the working tree but still in the index
        };
        if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
            offenders.push(path);
        }
    }
    assert!(
        offenders.is_empty(),
        "tracked files refer to {needle}: {offenders:#?}"
    );
}

/// `kiln`'s library never reaches up into its CLI layer: only `main.rs` and `cmd/` (the thin
/// binary's argument parsing) name `crate::cmd`, so the pipeline, signing and quickstart are
/// usable, and tested, without clap.
#[test]
fn the_tools_library_does_not_use_its_cli_layer() {
    let needle = concat!("crate::", "cmd");
    let mut checked = 0;
    let mut offenders = Vec::new();
    for path in tracked_files() {
        let library = path.starts_with("tools/src/")
            && path.ends_with(".rs")
            && !path.starts_with("tools/src/cmd/")
            && path != "tools/src/main.rs";
        if !library {
            continue;
        }
        let text = std::fs::read_to_string(workspace_root().join(&path)).expect("utf-8 source");
        if text.contains(needle) {
            offenders.push(path);
        }
        checked += 1;
    }
    assert!(checked > 20, "only {checked} library modules found");
    assert!(
        offenders.is_empty(),
        "library modules using the CLI layer: {offenders:#?}"
    );
}

/// The update server's top-level modules (a folder is one module) and, for each, the top-level
/// modules its code names as `crate::…` (in `use` statements and paths, comments left out).
fn update_server_module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let prefix = "updater-server/src/";
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut sources = Vec::new();
    for path in tracked_files() {
        let Some(rel) = path.strip_prefix(prefix) else {
            continue;
        };
        if !rel.ends_with(".rs") || rel == "lib.rs" || rel == "main.rs" {
            continue;
        }
        let top = rel.split('/').next().unwrap_or(rel).trim_end_matches(".rs");
        graph.entry(top.to_owned()).or_default();
        sources.push((top.to_owned(), path));
    }
    for (top, path) in sources {
        let text = std::fs::read_to_string(workspace_root().join(&path)).expect("utf-8 source");
        let code: String = text
            .lines()
            .map(|line| line.split("//").next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        for named in crate_paths(&code) {
            if named != top && graph.contains_key(&named) {
                graph.get_mut(&top).expect("known module").insert(named);
            }
        }
    }
    graph
}

/// The first segment of every `crate::x…` path in `code`, and each top-level name of a
/// `crate::{x, y::z}` group.
fn crate_paths(code: &str) -> Vec<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut names = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        let Some(group) = rest.strip_prefix('{') else {
            names.push(ident(rest));
            continue;
        };
        let mut depth = 0;
        let mut item_start = true;
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => break,
                '}' => depth -= 1,
                ',' if depth == 0 => item_start = true,
                c if item_start && !c.is_whitespace() => {
                    names.push(ident(&group[i..]));
                    item_start = false;
                }
                _ => {}
            }
        }
    }
    names
}

/// A cycle of `graph` as `a → b → … → a`, if it has one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<String> {
    fn visit<'g>(
        node: &'g str,
        graph: &'g BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<&'g str>,
        done: &mut BTreeSet<&'g str>,
    ) -> Option<String> {
        if let Some(start) = path.iter().position(|n| *n == node) {
            let mut cycle = path[start..].to_vec();
            cycle.push(node);
            return Some(cycle.join(" → "));
        }
        if !done.insert(node) {
            return None;
        }
        path.push(node);
        for next in &graph[node] {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

/// The update server's layout is its architecture (ARCHITECTURE.md, updater-server map): its
/// top-level modules import each other without a cycle, and the client path (`client/`: query,
/// snapshot, matching, evaluation, XML, memo) reaches no operational module, only the shared
/// leaves `error` and `config`.
#[test]
fn the_update_server_layers_have_no_cycle_and_a_self_contained_client_path() {
    let graph = update_server_module_graph();
    for expected in ["client", "store", "admin", "reports", "app"] {
        assert!(
            graph.contains_key(expected),
            "no `{expected}` module in {graph:?}"
        );
    }
    if let Some(cycle) = find_cycle(&graph) {
        panic!("the update server's modules import each other in a cycle: {cycle}");
    }
    let leaves = ["error", "config"];
    for leaf in leaves {
        assert_eq!(
            graph.get(leaf),
            Some(&BTreeSet::new()),
            "the shared module `{leaf}` must import no other module"
        );
    }
    let mut reached = BTreeSet::from(["client"]);
    let mut queue = vec!["client"];
    while let Some(node) = queue.pop() {
        for next in &graph[node] {
            if reached.insert(next.as_str()) {
                queue.push(next.as_str());
            }
        }
    }
    let operational: Vec<&&str> = reached
        .iter()
        .filter(|m| **m != "client" && !leaves.contains(m))
        .collect();
    assert!(
        operational.is_empty(),
        "the client path reaches operational modules {operational:?} (client imports {:?})",
        graph["client"]
    );
}
