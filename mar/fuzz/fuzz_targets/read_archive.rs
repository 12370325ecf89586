//! Fuzzes the MAR reader end to end: parse, list, read every entry, verify, extract.
//!
//! Run: `cd mar && RUSTC_BOOTSTRAP=1 cargo fuzz run read_archive -- -max_total_time=900`.
#![no_main]

use std::io::Cursor;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mar::keys::{PublicKey, SigningKey};
use mar::{ExtractMode, Limits, Mar, Verifier};

/// Trusted keys: one Ed25519 key generated once, and Mozilla's RSA-4096 fixture key.
fn verifier() -> &'static Verifier {
    static VERIFIER: OnceLock<Verifier> = OnceLock::new();
    VERIFIER.get_or_init(|| {
        let mut keys = vec![SigningKey::generate_ed25519().public_key()];
        let rsa = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/data/mar/keys/rsa4096-public.pem");
        if let Ok(key) = PublicKey::load(std::path::Path::new(rsa)) {
            keys.push(key);
        }
        Verifier::new(keys)
    })
}

fuzz_target!(|data: &[u8]| {
    // Small limits keep each execution fast; every bound is still exercised.
    let limits = Limits {
        max_entry_unpacked_size: 1 << 20,
        ..Limits::default()
    };
    let Ok(mut mar) = Mar::open_with_limits(Cursor::new(data), limits) else {
        return;
    };
    for entry in mar.entries().to_vec() {
        let _ = mar.stored_format(&entry);
        let _ = mar.copy_entry(&entry, &mut std::io::sink());
    }
    let _ = verifier().check(&mut mar);
    let dir = tempfile::tempdir().expect("temp dir");
    let _ = mar::extract_all(&mut mar, dir.path(), ExtractMode::Decompress, &mut |_, _| {});
});
