use mar::update::cache::DiffCache;
use mar::update::generate::{partial_mar, Decision, PartialOptions, Tree};

use crate::trees::{apply_kiln, file, materialize, params, snapshot, with_precomplete, Snapshot};

/// A build pair with a few compressible files that change a little.
fn pair(root: &std::path::Path) -> (Tree, Tree) {
    let text = |seed: u32, edit: u32| -> Vec<u8> {
        (0..3000u32)
            .flat_map(|i| {
                if i == edit {
                    format!("edited {seed}\n")
                } else {
                    format!("{seed} line {i}\n")
                }
                .into_bytes()
            })
            .collect()
    };
    let build = |edit: u32| -> Snapshot {
        with_precomplete(
            (0..4u32)
                .map(|n| (format!("lib/lib{n}.so"), file(&text(n, edit), 0o755)))
                .collect(),
        )
    };
    materialize(&root.join("old"), &build(u32::MAX));
    materialize(&root.join("new"), &build(1500));
    (
        Tree::from_dir(&root.join("old")).unwrap(),
        Tree::from_dir(&root.join("new")).unwrap(),
    )
}

fn patches(report: &mar::update::generate::GenerateReport) -> Vec<bool> {
    report
        .decisions
        .iter()
        .filter_map(|(_, d)| match d {
            Decision::Patch { cached, .. } => Some(*cached),
            _ => None,
        })
        .collect()
}

#[test]
fn second_run_is_all_hits_and_byte_identical_and_corruption_is_recomputed() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = pair(dir.path());
    let cache = DiffCache::open(&dir.path().join("cache")).unwrap();
    let options = PartialOptions::default().cache(&cache);
    let run = |name: &str| {
        let out = dir.path().join(name);
        let report = partial_mar(&old, &new, &params("2.0"), &options, &out).unwrap();
        (report, std::fs::read(out).unwrap())
    };
    let (first, first_bytes) = run("1.mar");
    assert_eq!(patches(&first), [false; 4]);
    assert_eq!(first.cache.unwrap().inserted, 4);
    let (second, second_bytes) = run("2.mar");
    assert_eq!(patches(&second), [true; 4]);
    assert_eq!(second.cache.unwrap().hits, 4);
    assert_eq!(first_bytes, second_bytes);
    // Corrupt every entry: each is detected, discarded and recomputed; the output is unchanged.
    for entry in walk_files(&dir.path().join("cache")) {
        let mut bytes = std::fs::read(&entry).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x55;
        std::fs::write(&entry, bytes).unwrap();
    }
    let (third, third_bytes) = run("3.mar");
    assert_eq!(patches(&third), [false; 4]);
    assert_eq!(third.cache.unwrap().discarded, 4);
    assert_eq!(third_bytes, first_bytes);
    let install = tempfile::tempdir().unwrap();
    materialize(install.path(), &snapshot(&dir.path().join("old")));
    apply_kiln(install.path(), &dir.path().join("3.mar")).unwrap();
    assert_eq!(snapshot(install.path()), snapshot(&dir.path().join("new")));
}

fn walk_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk_files(&path));
        } else {
            out.push(path);
        }
    }
    out
}
