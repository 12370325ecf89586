//! Integration tests of the `mar` command: one binary, one module per topic.

/// Archives: subcommands, Mozilla-style flags and exit codes.
mod archives;
/// `mar update`: Firefox's exit codes, JSON decisions, a diff cache shared by two processes.
mod updates;
/// Shared helpers: the `mar` command, fixture paths and installs.
mod util;
