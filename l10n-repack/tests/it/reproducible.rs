use std::collections::BTreeMap;

use l10n_repack::{Chunk, RepackInputs, RepackOptions};
use proptest::prelude::*;

use crate::util::{baseline, files, firefox, fixtures, repack, VERSION};

/// Output does not depend on the thread count: `--jobs 1` and `--jobs 4` (four worker threads
/// whatever the machine's core count) write the same files, byte for byte.
#[test]
fn one_thread_and_four_threads_write_byte_identical_output() {
    let run = |jobs: usize| {
        let dir = tempfile::tempdir().unwrap();
        let options = RepackOptions {
            jobs: Some(jobs),
            ..Default::default()
        };
        let report = repack(fixtures(), dir.path(), &options);
        assert!(
            report.failures.is_empty(),
            "--jobs {jobs}: {:?}",
            report.failures
        );
        assert_eq!(report.written.len(), 24, "--jobs {jobs}");
        files(dir.path())
    };
    let (one, four) = (run(1), run(4));
    assert_eq!(
        one.keys().collect::<Vec<_>>(),
        four.keys().collect::<Vec<_>>()
    );
    for (path, data) in &one {
        assert!(
            data == &four[path],
            "{path} differs between --jobs 1 and --jobs 4"
        );
    }
}

#[test]
fn union_of_three_chunks_equals_the_unchunked_run() {
    let mut union: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for k in 1..=3 {
        let dir = tempfile::tempdir().unwrap();
        let options = RepackOptions {
            chunk: Some(Chunk::new(k, 3).unwrap()),
            ..Default::default()
        };
        let report = repack(fixtures(), dir.path(), &options);
        assert!(report.failures.is_empty());
        assert_eq!(report.written.len(), 8, "chunk {k}/3");
        for (path, data) in files(dir.path()) {
            assert!(
                union.insert(path.clone(), data).is_none(),
                "{path} produced by two chunks"
            );
        }
    }
    let whole = files(baseline());
    assert_eq!(
        union.keys().collect::<Vec<_>>(),
        whole.keys().collect::<Vec<_>>()
    );
    for (path, data) in &union {
        assert!(
            data == &whole[path],
            "{path} differs between chunked and unchunked runs"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn chunks_partition_the_plan(total in 1usize..40) {
        let inputs = RepackInputs::load(fixtures(), &firefox(), VERSION).unwrap();
        let plan = inputs.plan(&RepackOptions::default()).unwrap();
        let mut seen = Vec::new();
        for k in 1..=total {
            let chunk = Chunk::new(k, total).unwrap();
            let slice = chunk.select(&plan);
            prop_assert!(slice.len() <= plan.len() / total + 1);
            seen.extend(slice.iter().map(|j| j.id().to_owned()));
        }
        let all: Vec<String> = plan.iter().map(|j| j.id().to_owned()).collect();
        prop_assert_eq!(seen, all);
    }
}

#[test]
fn bad_chunks_are_rejected() {
    for bad in ["0/3", "4/3", "1/0", "x/3", "1-3", ""] {
        assert!(bad.parse::<Chunk>().is_err(), "{bad}");
    }
}
