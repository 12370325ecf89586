use l10n_repack::{ArtifactSigner, Chunk, RepackOptions};
use sha2::{Digest, Sha256};

use crate::util::{files, fixtures, mtimes, repack};

/// A keyed-hash stand-in for a real signer.
#[derive(Debug)]
struct TestSigner(u8);

impl ArtifactSigner for TestSigner {
    fn sign(&self, data: &[u8]) -> Vec<u8> {
        let mut hasher = Sha256::new();
        hasher.update([self.0]);
        hasher.update(data);
        hasher.finalize().to_vec()
    }

    fn verify(&self, data: &[u8], signature: &[u8]) -> bool {
        self.sign(data) == signature
    }
}

#[test]
fn reruns_skip_verified_outputs_and_redo_damaged_ones() {
    let dir = tempfile::tempdir().unwrap();
    let out = &dir.path().join("out");
    let journal = dir.path().join("journal");
    let signer = TestSigner(1);
    let options = RepackOptions {
        chunk: Some(Chunk::new(1, 3).unwrap()),
        signer: Some(&signer),
        journal: Some(&journal),
        ..Default::default()
    };
    let first = repack(fixtures(), out, &options);
    assert_eq!(first.written.len(), 8);
    for path in &first.written {
        let data = std::fs::read(out.join(path)).unwrap();
        let sig = std::fs::read(out.join(format!("{}.sig", path.display()))).unwrap();
        assert!(signer.verify(&data, &sig), "{}", path.display());
    }

    // A rerun keeps everything, rewriting nothing.
    let times = mtimes(out);
    let second = repack(fixtures(), out, &options);
    assert!(second.written.is_empty());
    assert_eq!(second.skipped, first.written);
    assert_eq!(mtimes(out), times);

    // A damaged archive and a missing signature are redone; the rest is kept.
    let damaged = out.join(&first.written[0]);
    let mut bytes = std::fs::read(&damaged).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&damaged, &bytes).unwrap();
    std::fs::remove_file(out.join(format!("{}.sig", first.written[1].display()))).unwrap();
    let third = repack(fixtures(), out, &options);
    assert_eq!(third.written, first.written[..2].to_vec());
    assert_eq!(third.skipped.len(), 6);

    // Another key: no old signature verifies, so everything is redone.
    let other = TestSigner(2);
    let resigned = RepackOptions {
        signer: Some(&other),
        ..options
    };
    let fourth = repack(fixtures(), out, &resigned);
    assert_eq!(fourth.written.len(), 8);

    // No temp file is ever left behind, and the journal is where it was asked to be: nothing
    // hidden lands in the (published) output.
    assert!(files(out).keys().all(|p| !p.contains(".tmp-")));
    assert_no_hidden_files(out);
    assert_eq!(files(&journal).len(), 8);
}

/// Nothing under `dir` has a hidden component.
fn assert_no_hidden_files(dir: &std::path::Path) {
    let hidden: Vec<String> = files(dir)
        .into_keys()
        .filter(|p| p.split('/').any(|c| c.starts_with('.')))
        .collect();
    assert!(hidden.is_empty(), "hidden state in the output: {hidden:?}");
}

#[test]
fn without_a_journal_every_job_runs_again() {
    let dir = tempfile::tempdir().unwrap();
    let options = RepackOptions {
        chunk: Some(Chunk::new(2, 3).unwrap()),
        ..Default::default()
    };
    let first = repack(fixtures(), dir.path(), &options);
    let again = repack(fixtures(), dir.path(), &options);
    assert!(again.skipped.is_empty());
    assert_eq!(again.written, first.written);
    assert_no_hidden_files(dir.path());
}

#[test]
fn a_failed_job_leaves_no_file_and_others_complete() {
    let dir = tempfile::tempdir().unwrap();
    let out = &dir.path().join("out");
    let journal = dir.path().join("journal");
    // The de output directory is a file, so the de jobs cannot write; every other job can.
    std::fs::create_dir_all(out.join("linux-x86_64")).unwrap();
    std::fs::write(out.join("linux-x86_64/de"), b"in the way").unwrap();
    let options = RepackOptions {
        chunk: Some(Chunk::new(1, 3).unwrap()),
        journal: Some(&journal),
        ..Default::default()
    };
    let report = repack(fixtures(), out, &options);
    let failed: Vec<&str> = report.failures.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(failed, ["l10n/linux-x86_64/de"]);
    assert_eq!(report.written.len(), 7);
    assert!(files(out).keys().all(|p| !p.contains(".tmp-")));
    assert!(files(&journal)
        .keys()
        .all(|p| !p.contains("l10n+linux-x86_64+de")));
    // After the obstacle is gone, a rerun does only the failed job.
    std::fs::remove_file(out.join("linux-x86_64/de")).unwrap();
    let retry = repack(fixtures(), out, &options);
    assert_eq!(retry.written.len(), 1);
    assert_eq!(retry.skipped.len(), 7);
}
