//! Fuzzes the client's update XML parser (`client_updater::xml::parse`) and Firefox's offer
//! selection on what it accepts (`client_updater::offer::select`): any body a mirror could send,
//! once its signature passed. Neither may panic; a selected offer must keep the rules selection
//! promises (a supported offer has exactly one complete, the partial first, sizes in bounds).
//!
//! Run: `cd client-updater && RUSTC_BOOTSTRAP=1 cargo fuzz run update_xml \
//!   fuzz/corpus/update_xml ../fixtures/data/fuzz/update_xml -- -max_total_time=300`.
#![no_main]

use client_updater::offer::{select, PatchType};
use client_updater::xml::{parse, MAX_PATCHES, MAX_UPDATES};
use libfuzzer_sys::fuzz_target;

/// The largest archive accepted here: small, so the size bound is reached by fuzzed sizes.
const MAX_ARCHIVE_BYTES: u64 = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Ok(updates) = parse(data) else {
        return;
    };
    assert!(updates.len() <= MAX_UPDATES);
    assert!(updates.iter().all(|u| u.patches.len() <= MAX_PATCHES));
    for (version, build_id) in [("120.0", "20231113000000"), ("1.0", "1"), ("", "")] {
        let Some(offer) = select(&updates, version, build_id, MAX_ARCHIVE_BYTES) else {
            continue;
        };
        let completes = offer
            .patches
            .iter()
            .filter(|p| p.patch_type == PatchType::Complete)
            .count();
        if offer.unsupported {
            assert!(offer.patches.is_empty());
        } else {
            assert_eq!(completes, 1);
            assert!(offer.patches.len() <= 2);
            assert_eq!(
                offer.patches.last().map(|p| p.patch_type),
                Some(PatchType::Complete)
            );
        }
        for patch in &offer.patches {
            assert!(patch.size > 0 && patch.size <= MAX_ARCHIVE_BYTES);
            assert!(patch.url.starts_with("https://") || patch.url.starts_with("http://"));
            assert_eq!(patch.sha512.len(), 128);
        }
    }
});
