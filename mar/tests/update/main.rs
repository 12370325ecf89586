//! Integration tests of `mar::update`: one binary, one module per topic.

/// The diff cache: hits and corruption (sharing between processes: the `mar` command's tests).
mod cache;
/// A real x86-64 ELF old/new pair from a package registry: patches round-trip both ways.
mod elf_pairs;
/// Update-verify equivalence by property test over random trees.
mod equivalence;
/// Every manifest rule of complete and partial generation, one focused test each.
mod generation;
/// The Mozilla-made update pair: applies to equality; tampering, channel, version, key checks.
mod mozilla_fixtures;
/// Partials Mozilla's `make_incremental_update.sh` wrote: every `rmdir`, in order, repeats kept.
mod mozilla_rmdir;
/// Algorithm-3 patches: tampered or truncated ones are refused before anything is written.
mod patches;
/// Shared helpers: fixture paths, tree copies and snapshots, building and applying MARs.
mod trees;
