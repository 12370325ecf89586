//! Kiln's update server: a Balrog-compatible client endpoint, rules engine and admin API on SQLite
//! (embedded) or PostgreSQL (any number of replicas on one database).
//!
//! A Firefox-style client asking `GET /update/6/Firefox/…/update.xml` gets exactly the XML that
//! Mozilla's Balrog would answer for the same rules and releases (`docs/update-protocol.md`
//! Part B): same routes and quirks, same rule matching, same throttling, pinning and downgrade
//! protection, and the documents of every blob type Balrog serves: App Release schemas 1–6, 8, 9,
//! Desupport (50), GMP (1000), SuperBlob (4000) and SystemAddons (5000), plus Guardian (10000) as
//! JSON on `/json/…`. Balrog's captured answers check schemas 1, 4 and 9 byte for byte; the other
//! types follow Balrog's code line by line and are tested against documents written from it.
//! `tests/it/conformance.rs` replays answers captured from Balrog itself
//! (`fixtures/data/balrog/cases.json`) against a real server.
//! Release managers change rules and releases through an authenticated JSON API under `/api/v1`
//! that never loses an update (`data_version` checks, 409 on conflict), keeps every change in
//! history, and enforces required signoffs through scheduled changes.
//!
//! # Brief overview
//!
//! The folders are the architecture; `tools/tests/workspace.rs` checks that their imports form
//! no cycle and that the client path reaches nothing operational.
//!
//! * [`client`] is the request path, and depends on nothing operational (only [`error`] and
//!   [`config`]): [`client::query::parse`] turns a request path, query string and User-Agent into
//!   an [`client::query::UpdateQuery`]; [`client::snapshot::Snapshot`] is the immutable view the
//!   client endpoint reads: [`client::rule::CompiledRule`]s indexed by product and channel, parsed
//!   [`client::blob::Release`]s, shutoffs and pins; [`client::evaluate::evaluate`] is Balrog's
//!   `evaluateRules` + `shouldServeUpdate` + pinning, and [`client::xml::render`] writes the
//!   document; [`client::memo`] keeps answers per snapshot, [`client::offers`] counts offers
//!   lock-free.
//! * [`store::Store`] owns all database access (SQLite or PostgreSQL, one set of typed queries).
//! * [`state::AppState`] is what every handler reaches; [`state::AppState::write`] runs an admin
//!   change in one transaction and publishes the new snapshot before the request returns.
//! * [`admin`] holds the admin operations and handlers, scheduled changes and
//!   [`admin::auth`] (tokens and permissions).
//! * [`reports`] stores update reports (queued, stored in batches off the request path),
//!   summarises rollouts and runs the rules' health guards; [`metrics`] counts requests.
//! * [`import`] loads a Balrog export and copies a database across backends; [`commands`] are the
//!   CLI's offline commands.
//! * [`app`] wires it all: [`app::endpoint`] answers clients over HTTP, [`app::refresh`] brings
//!   other replicas' changes in, [`app::start`] serves it with actix-web and [`app::configure`] is
//!   the route table.
//!
//! ```
//! use std::sync::Arc;
//! use serde_json::json;
//! use updater_server::client::blob::Release;
//! use updater_server::config::ClientConfig;
//! use updater_server::client::evaluate::evaluate;
//! use updater_server::client::query;
//! use updater_server::client::snapshot::{Snapshot, SnapshotData};
//!
//! // A desupport blob, and a rule sending every client older than 50.0 to it.
//! let blob = json!({"name": "Desupport", "schema_version": 50,
//!                   "detailsUrl": "https://example.org/%OS%", "displayVersion": "Old"});
//! let release = Arc::new(Release::parse("Desupport", 1, &blob, None).unwrap());
//! let rule = serde_json::from_value(json!({"priority": 1, "backgroundRate": 100,
//!     "update_type": "minor", "mapping": "Desupport", "version": "<50.0"})).unwrap();
//! let snapshot = Snapshot::build(SnapshotData {
//!     rules: vec![(7, 1, rule)],
//!     releases: vec![release],
//!     ..SnapshotData::default()
//! });
//! let path = "/update/6/Firefox/45.0/2016/WINNT_x86-msvc/en-US/release/Windows/SSE3/default/default/update.xml";
//! let q = query::parse(path, "", "Mozilla/5.0").unwrap().expect("a client route");
//! let outcome = evaluate(&snapshot, &q, &ClientConfig::default(), &mut || 0).unwrap();
//! assert_eq!(outcome.rule, Some((7, 1)));
//! assert!(outcome.body.contains(r#"unsupported="true" detailsURL="https://example.org/WINNT""#));
//! ```
//!
//! # Design decisions
//!
//! * **The hot path never touches the database.** Each committed admin write rebuilds the
//!   snapshot from the same transaction (unchanged releases are reused, not re-parsed) and swaps
//!   it atomically. A snapshot is one committed state, and writes refuse rules that map missing
//!   releases and deletes of mapped releases, so a client can never be sent to a deleted release
//!   (Balrog issue #1067).
//! * **Answers that did not roll the dice are memoized per snapshot** ([`client::memo::ResponseMemo`],
//!   bounded by `client.response_memo_entries`, 0 disables it). Such an answer is a pure function
//!   of the snapshot and the request, and the memo lives inside the snapshot, so it can never serve
//!   an answer from an older state. It roughly doubles throughput on repeated requests.
//! * **One write path.** Direct API calls, enactment of scheduled changes and the offline import
//!   run the same operations; only [`admin::Mode`] differs, and only `Direct` is refused where
//!   signoffs are required (a health guard's halt, like an emergency shutoff, needs none).
//! * **Durability.** SQLite in WAL mode with `synchronous=FULL`: a write acknowledged with a 2xx
//!   has been committed to disk (SQLite's guarantee for that setting). The tests show what a
//!   test can: acknowledged writes survive a SIGKILL, and WAL recovery from a copy of the files
//!   taken at the kill; only a power cut could show the fsync itself.
//! * **Replicas.** On PostgreSQL, every admin write takes one advisory lock for its transaction
//!   (writes from all replicas are serialized as on one SQLite node) and bumps a change version
//!   that `NOTIFY` announces; [`app::refresh`] reloads each replica's snapshot on the notification or
//!   on its periodic version check. A replica whose database is unreachable keeps serving its last
//!   snapshot, reports `degraded` on `/__heartbeat__` and refuses writes with 503.
//! * **Testing hooks are opt-in.** The throttling dice is a [`client::dice::Dice`]; requests may fix it
//!   with `X-Test-Dice` only when `testing.dice_header = true` (off by default).
//!
//! # Where Kiln differs from Balrog (deliberately)
//!
//! * **Blob text that could change `update.xml`'s structure is refused** on write (400 with the
//!   field's path): control characters anywhere, `"`, `<` and `>` in any value that is rendered
//!   ([`client::blob::text`]). On output every attribute value is escaped (Balrog escapes only `&`, so a
//!   stored `"` in Balrog can close an attribute and add a `<patch>` on any host); for every
//!   legitimate value the bytes are Balrog's.
//! * The client endpoints answer GET and HEAD only; other methods get **405** with `Allow`
//!   (Balrog answers any method on `/update/…` with an empty document).
//! * Conflicting `data_version`s answer **409** with the current version (Balrog: 400), and
//!   release blobs are not 3-way merged: the caller re-reads and retries.
//! * Emergency shutoffs are served on Balrog's paths (`/emergency_shutoff…`) and on Kiln's
//!   (`/emergency_shutoffs`, a JSON body on every verb); a scheduled change of a shutoff may also
//!   be an `insert` (Balrog: `delete` only), and scheduling answers 201 (Balrog: 200).
//! * Rule ties on priority are broken by `rule_id` (Balrog: database order).
//! * `Content-Signature` is Ed25519 over `expires || body` with a key id, not Autograph's P-384.
//! * Release history lives in the same history table as everything else (Balrog: GCS buckets).
//! * Only update answers (200 from a rule evaluation) are signed; the empty document of an
//!   unmatched `/update…` path and error bodies are not.
//! * A schema 4+ patch URL whose platform lacks `OS_FTP`/`OS_BOUNCER` gets the placeholders it
//!   can fill (Balrog raises and answers 500 even when the template does not use them).
//! * The admin API refuses a platform alias to a missing platform or to another alias (Balrog's
//!   schema accepts it and then fails to serve it).
//! * Rule `version` columns are matched with Mozilla versions for every product (Balrog uses a
//!   strict `x.y[.z][ab]N` class for FirefoxVPN/Guardian); Guardian blobs compare loosely, as
//!   Balrog's do. JSON answers are signed like XML ones when a key is configured.
//! * Not implemented: path-regex allowlist entries; telemetry-uptake conditions on
//!   scheduled changes; scheduled changes for permissions, required signoffs and pinnable
//!   releases (those are changed directly, with their own permissions); `X-Forwarded-For` for the
//!   report rate limit; offers per from-version (offers are counted per release and rule, reports
//!   per rule and per from-version).
//!
//! # Running it
//!
//! ```text
//! updater-server user add alice --admin --db kiln-updates.db
//! updater-server token create --user alice --db kiln-updates.db   # prints kiln_… once
//! updater-server serve --config kiln.toml
//! ```
//! See `docs/updater-server.md` for loading a release and a rule with curl.

#![deny(missing_docs)]

pub mod admin;
pub mod app;
pub mod client;
pub mod commands;
pub mod config;
pub mod error;
pub mod import;
pub mod metrics;
pub mod reports;
pub mod state;
pub mod store;

pub use app::{configure, start};
pub use config::Config;
pub use error::Error;
pub use state::AppState;
