//! Fuzzes the update manifest parsers: `Manifest::parse` (`updatev3.manifest`) and
//! `Manifest::parse_precomplete` (`precomplete`), on the same bytes. Neither may panic, and what
//! either accepts must come back unchanged through `Manifest::to_text` and `Manifest::parse`.
//!
//! Run: `cd mar && RUSTC_BOOTSTRAP=1 cargo fuzz run manifest \
//!   fuzz/corpus/manifest ../fixtures/data/fuzz/manifest -- -max_total_time=300`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mar::update::manifest::Manifest;

fuzz_target!(|data: &[u8]| {
    let parsers: [fn(&[u8]) -> _; 2] = [Manifest::parse, Manifest::parse_precomplete];
    for parser in parsers {
        let Ok(manifest) = parser(data) else {
            continue;
        };
        let text = manifest.to_text();
        let again = parser(text.as_bytes());
        assert_eq!(again.as_ref(), Ok(&manifest), "{text:?}");
    }
});
