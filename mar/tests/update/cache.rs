use mar::update::cache::DiffCache;
use mar::update::generate::{partial_mar, Decision, PartialOptions, Tree};

use crate::trees::{
    apply_kiln, ed_key, file, materialize, params, snapshot, with_precomplete, Snapshot,
};

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

#[test]
fn two_processes_sharing_a_cache_produce_correct_output() {
    let dir = tempfile::tempdir().unwrap();
    pair(dir.path());
    let cache = dir.path().join("cache");
    let key = dir.path().join("key.pem");
    std::fs::write(&key, ed_key().to_pkcs8_pem().unwrap()).unwrap();
    let spawn = |out: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_mar"))
            .args(["update", "partial", "-H", "kiln-test", "-V", "2.0"])
            .arg("--from")
            .arg(dir.path().join("old"))
            .arg("--to")
            .arg(dir.path().join("new"))
            .arg("--cache")
            .arg(&cache)
            .arg("--sign-key")
            .arg(&key)
            .arg("-o")
            .arg(dir.path().join(out))
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let (mut a, mut b) = (spawn("a.mar"), spawn("b.mar"));
    assert!(a.wait().unwrap().success());
    assert!(b.wait().unwrap().success());
    let a = std::fs::read(dir.path().join("a.mar")).unwrap();
    assert_eq!(a, std::fs::read(dir.path().join("b.mar")).unwrap());
    for out in ["a.mar", "b.mar"] {
        let install = tempfile::tempdir().unwrap();
        materialize(install.path(), &snapshot(&dir.path().join("old")));
        apply_kiln(install.path(), &dir.path().join(out)).unwrap();
        assert_eq!(snapshot(install.path()), snapshot(&dir.path().join("new")));
    }
    // Exactly one entry per patch, and no temporary files left behind.
    assert_eq!(walk_files(&cache).len(), 4);
}
