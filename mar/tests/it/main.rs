//! Integration tests of the `mar` crate: Mozilla's fixtures, interop with Mozilla's build-mar,
//! hostile archives, property round trips and the CLI.

mod cli;
mod fixtures;
mod hostile;
mod interop;
mod provenance;
mod roundtrip;
mod util;
