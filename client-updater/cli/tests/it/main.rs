//! Integration tests of the client updater: one binary, one module per topic. Everything runs
//! over real HTTP on loopback, with real MARs made by `mar`'s generator and real keys.

/// The attacks of `docs/client-protocol.md` Part C, one named test each, against a fault-injecting server.
mod attacks;
/// Background thread, events, prompt timing (fake clock) and reports.
mod background;
/// SIGKILL at every crash point of `kiln-client`; the install is always exactly old or new.
mod crash;
/// Success only for the offered build: a result that is not it fails (22); `start` exits 1 after a
/// failed or discarded update.
mod honesty;
/// A mac-bundle install: rooted at `Firefox.app`, refused inside the bundle.
mod mac;
/// Resuming a cut download with `Range`; the exit codes for network and usage errors.
mod resume;
/// Against the real `updater-server`: partial/complete selection, staging, fallback, refusals.
mod server;
/// Shared helpers: installs, MARs, the test HTTP server, `kiln-client`.
mod util;
