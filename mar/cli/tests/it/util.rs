//! Shared helpers: the `mar` command under test, fixture paths and writable fixture installs.

use std::path::PathBuf;
use std::process::Command;

pub(crate) use kiln_test_support::{parse_table, run, run_ok, sample_tree, snapshot};

/// The `mar` command built from this package.
pub(crate) fn mar() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mar"))
}

/// One file of `fixtures/data/mar`.
pub(crate) fn fixture(name: &str) -> PathBuf {
    kiln_test_support::mar_fixtures().join(name)
}

/// One file of the Mozilla-made update fixtures (`fixtures/data/mar/update`).
pub(crate) fn update_fixture(name: &str) -> PathBuf {
    fixture("update").join(name)
}

/// A writable copy of a fixture install in a new temporary directory.
pub(crate) fn install_copy(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    kiln_test_support::copy_tree(&update_fixture(name), dir.path());
    dir
}
