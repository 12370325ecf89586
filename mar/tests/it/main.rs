//! Integration tests of the `mar` crate: Mozilla's fixtures, interop with Mozilla's build-mar,
//! hostile archives, property round trips, and release versions against Mozilla's
//! `mozilla-version`.

mod fixtures;
mod hostile;
mod interop;
mod provenance;
mod roundtrip;
mod util;
mod versions;
