//! Integration tests of the `mar` crate: Mozilla's fixtures, interop with Mozilla's build-mar,
//! hostile archives, property round trips, the CLI, and release versions against Mozilla's
//! `mozilla-version`.

mod cli;
mod fixtures;
mod hostile;
mod interop;
mod provenance;
mod roundtrip;
mod util;
mod versions;
