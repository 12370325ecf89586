use std::collections::BTreeMap;

use mar::update::generate::{complete_mar, partial_mar, PartialOptions, Tree};
use proptest::prelude::*;

use crate::trees::{apply_kiln, materialize, params, snapshot, with_precomplete, Snapshot};

/// File paths: up to two directory levels from a small alphabet; files end in `.txt`, so a file
/// never takes a directory's name.
fn path() -> impl Strategy<Value = String> {
    (prop::collection::vec(0..3u8, 0..3), 0..6u8).prop_map(|(dirs, name)| {
        let mut parts: Vec<String> = dirs.iter().map(|d| format!("d{d}")).collect();
        parts.push(format!("f{name}.txt"));
        parts.join("/")
    })
}

fn content() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(Vec::new()),
        prop::collection::vec(any::<u8>(), 1..64),
        // Larger, compressible files so that small edits become patches.
        (1..400usize, any::<u8>()).prop_map(|(lines, seed)| {
            (0..lines)
                .flat_map(|i| format!("line {i} seed {seed}\n").into_bytes())
                .collect()
        }),
    ]
}

fn mode() -> impl Strategy<Value = u32> {
    prop_oneof![Just(0o644), Just(0o755)]
}

#[derive(Clone, Debug)]
enum Change {
    Remove(usize),
    Add(String, Vec<u8>, u32),
    Rename(usize, String),
    SmallEdit(usize, usize, u8),
    Rewrite(usize, Vec<u8>),
    Chmod(usize, u32),
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        any::<usize>().prop_map(Change::Remove),
        (path(), content(), mode()).prop_map(|(p, c, m)| Change::Add(p, c, m)),
        (any::<usize>(), path()).prop_map(|(i, p)| Change::Rename(i, p)),
        (any::<usize>(), any::<usize>(), any::<u8>())
            .prop_map(|(i, at, b)| Change::SmallEdit(i, at, b)),
        (any::<usize>(), content()).prop_map(|(i, c)| Change::Rewrite(i, c)),
        (any::<usize>(), mode()).prop_map(|(i, m)| Change::Chmod(i, m)),
    ]
}

fn evolve(
    old: &BTreeMap<String, (Vec<u8>, u32)>,
    changes: &[Change],
) -> BTreeMap<String, (Vec<u8>, u32)> {
    let mut new = old.clone();
    for change in changes {
        let keys: Vec<String> = new.keys().cloned().collect();
        let pick = |i: &usize| (!keys.is_empty()).then(|| keys[i % keys.len()].clone());
        match change {
            Change::Remove(i) => {
                if let Some(k) = pick(i) {
                    new.remove(&k);
                }
            }
            Change::Add(p, c, m) => {
                new.insert(p.clone(), (c.clone(), *m));
            }
            Change::Rename(i, p) => {
                if let Some(k) = pick(i) {
                    let f = new.remove(&k).unwrap();
                    new.insert(p.clone(), f);
                }
            }
            Change::SmallEdit(i, at, b) => {
                if let Some(k) = pick(i) {
                    let f = new.get_mut(&k).unwrap();
                    if f.0.is_empty() {
                        f.0.push(*b);
                    } else {
                        let at = at % f.0.len();
                        f.0[at] = f.0[at].wrapping_add(1 + b % 254);
                    }
                }
            }
            Change::Rewrite(i, c) => {
                if let Some(k) = pick(i) {
                    new.get_mut(&k).unwrap().0 = c.clone();
                }
            }
            Change::Chmod(i, m) => {
                if let Some(k) = pick(i) {
                    new.get_mut(&k).unwrap().1 = *m;
                }
            }
        }
    }
    new
}

fn to_snapshot(files: &BTreeMap<String, (Vec<u8>, u32)>) -> Snapshot {
    with_precomplete(
        files
            .iter()
            .map(|(p, f)| (p.clone(), Some(f.clone())))
            .collect(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// apply(partial) to old == apply(complete) to old == apply(complete) to empty == new.
    #[test]
    fn partial_and_complete_give_the_new_tree(
        old in prop::collection::btree_map(path(), (content(), mode()), 0..10),
        changes in prop::collection::vec(change(), 0..8),
    ) {
        let new = evolve(&old, &changes);
        let (old, new) = (to_snapshot(&old), to_snapshot(&new));
        let dir = tempfile::tempdir().unwrap();
        materialize(&dir.path().join("old"), &old);
        materialize(&dir.path().join("new"), &new);
        let old_tree = Tree::from_dir(&dir.path().join("old")).unwrap();
        let new_tree = Tree::from_dir(&dir.path().join("new")).unwrap();
        let (partial, complete) = (dir.path().join("p.mar"), dir.path().join("c.mar"));
        partial_mar(&old_tree, &new_tree, &params("2.0"), &PartialOptions::default(), &partial).unwrap();
        complete_mar(&new_tree, &params("2.0"), &complete).unwrap();
        let expected = snapshot(&dir.path().join("new"));
        for (start, mar) in [(Some(&old), &partial), (Some(&old), &complete), (None, &complete)] {
            let install = tempfile::tempdir().unwrap();
            if let Some(tree) = start {
                materialize(install.path(), tree);
            }
            apply_kiln(install.path(), mar).unwrap();
            prop_assert_eq!(snapshot(install.path()), expected.clone(), "{}", mar.display());
        }
    }
}
