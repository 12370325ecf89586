//! Integration tests of the update server, one binary grouped by topic. Every test gets its own
//! temporary directory and database; HTTP tests talk to a real server bound on 127.0.0.1:0. The
//! tests wrapped in `both_backends!` run on SQLite and on PostgreSQL (`KILN_TEST_POSTGRES_URL`).

/// Shared helpers: a real server per test, an HTTP client, fixtures.
#[macro_use]
mod util;

/// Rule matching, column by column, with the examples of `docs/update-protocol.md` Part B (b).
mod matching;

/// The client endpoint over HTTP: URL versions, quirks, exact XML, throttling, pinning, shutoffs.
mod http;

/// The admin API: auth matrix, conflicts, history and revert, guards, signoffs, snapshot visibility.
mod admin;

/// Balrog's emergency shutoff routes (`/emergency_shutoff[/{product}/{channel}]`) and lifting a
/// signed-off shutoff through `/scheduled_changes/emergency_shutoff`.
mod shutoffs;

/// Restart and SIGKILL of the real binary, and WAL recovery from a copy of the files taken at the kill.
mod durability;

/// The `user`, `token` and `import` commands of the real binary.
mod cli;

/// `Content-Signature` verified by OpenSSL over the bytes the spec defines.
mod signature;

/// Balrog's own captured answers (`fixtures/data/balrog/cases.json`) replayed against Kiln.
mod conformance;

/// GMP, SuperBlob, SystemAddons and Guardian (`/json/`) blobs.
mod addons;

/// A Balrog dump with every blob schema through `updater-server import` and the real binary.
mod schemas;

/// Update reports, rollout summaries, metrics and health guards.
mod reports;

/// Real `updater-server serve` processes on one PostgreSQL database, and a TCP proxy to it.
mod cluster;

/// Two and three replicas on one PostgreSQL: convergence, conflicts, scheduled changes.
mod replicas;

/// Fault injection: killed sessions, a SIGKILLed replica, network delay and cut.
mod faults;

/// What a hostile release writer tries: XML injection through blob fields, control characters.
mod hostile;
