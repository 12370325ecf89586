//! Fuzzes Kiln's PE reader (`PeImage::parse`) and, on every image it accepts, what Authenticode
//! reads through it: the SHA-256 Authenticode digest (as `signing::authenticode::image_digest`
//! computes it) and the certificate table's entries and their signatures (as `verify_image`
//! reads them). Every input must end in a value or a typed error, never a panic.
//!
//! Run: `cd tools && RUSTC_BOOTSTRAP=1 cargo fuzz run pe_parse fuzz/corpus/pe_parse
//! ../fixtures/data/fuzz/pe_parse -- -max_total_time=300`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

/// Kiln's PE reader, the very file the `kiln` binary compiles.
#[allow(dead_code, unreachable_pub)]
#[path = "../../src/signing/pe.rs"]
mod pe;

use pe::{PeImage, PeLimits};

fuzz_target!(|data: &[u8]| {
    let limits = PeLimits {
        max_image_len: 1 << 22,
        ..PeLimits::default()
    };
    let Ok(image) = PeImage::parse_with(data, &limits) else {
        return;
    };
    // Everything the reader hands out lies inside the file.
    assert!(image.checksum_offset() + 4 <= data.len());
    assert!(image.certificate_directory_offset() + 8 <= data.len());
    if let Some(table) = image.certificate_table() {
        assert!(table.start <= table.end && table.end <= data.len());
    }
    let mut hasher = Sha256::new();
    let _ = authenticode::authenticode_digest(&image, &mut hasher);
    if let Ok(Some(entries)) = authenticode::AttributeCertificateIterator::new(&image) {
        for entry in entries.take(4) {
            if let Ok(entry) = entry {
                let _ = entry.get_authenticode_signature();
            }
        }
    }
});
