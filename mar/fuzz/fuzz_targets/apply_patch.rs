//! Fuzzes Kiln's patch applier (algorithms 1–4) and Mozilla's MBDIFF10 applier with hostile
//! bodies. A Kiln patch's header names its source's SHA-256, which a fuzzer cannot guess, so the
//! header is built here around the fuzzed body and source: every input reaches the body decoders.
//!
//! Input: byte 0 picks the algorithm (or MBDIFF10), byte 1 × 8 is the source length, bytes 2–3
//! the target length (u16 LE), then the source, then the body.
//!
//! Run: `cd mar && RUSTC_BOOTSTRAP=1 cargo fuzz run apply_patch -- -max_total_time=900`.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use mar::update::mbdiff::apply_mbdiff;
use mar::update::patch::{apply_kiln_patch, sha256_of, PatchAlgorithm, PatchHeader};

fuzz_target!(|data: &[u8]| {
    let [choice, old_len, t0, t1, rest @ ..] = data else {
        return;
    };
    let old_len = (usize::from(*old_len) * 8).min(rest.len());
    let (old, body) = rest.split_at(old_len);
    let algorithm = match choice % 5 {
        0 => PatchAlgorithm::Bidiff1,
        1 => PatchAlgorithm::BidiffSplit,
        2 => PatchAlgorithm::Sections,
        3 => PatchAlgorithm::SectionsX86,
        _ => {
            let _ = apply_mbdiff(body, old);
            return;
        }
    };
    let (source_len, source_sha256) = sha256_of(&mut Cursor::new(old)).expect("in memory");
    let header = PatchHeader {
        algorithm,
        source_len,
        source_sha256,
        target_len: u64::from(u16::from_le_bytes([*t0, *t1])),
        target_sha256: [0; 32],
    };
    let patch = [&header.encode()[..], body].concat();
    let _ = apply_kiln_patch(&patch, &mut Cursor::new(old), &mut std::io::sink());
});
