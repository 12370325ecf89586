//! The release pipeline behind `kiln go-to-build`, `promote`, `push`, `ship`, `signoff`,
//! `chemspill`, `halt` and `status`.
//!
//! * [`config`]: `kiln.toml`; [`name`]: validated versions and release names; [`builds`]: the
//!   en-US builds a release starts from, checked against the configured product.
//! * [`state`]: the SQLite database (releases, stages, work items); [`items`]: resumable,
//!   verified work items and their counts.
//! * [`stages`]: configure → construct → certify → package → deploy; [`update_format`]: the
//!   keys, compression and patch format of the release's MARs (`[mar] format`).
//! * [`coordinator`]: the commands' logic; [`activity`]: whether a process is working on a
//!   release (so `status` tells a running stage from an interrupted one); [`server`]: the
//!   update server's admin API;
//!   [`notice`]: RFC 5322 notices; [`git`]: tags and changelogs; [`layout`]: directories;
//!   [`log`]: per-release log files; [`local`]: local servers for quickstart and tests.

pub mod activity;
pub mod builds;
pub mod config;
pub mod coordinator;
pub mod executor;
pub mod git;
pub mod item_key;
pub mod items;
pub mod layout;
pub mod local;
pub mod log;
pub mod name;
pub mod notice;
pub mod quickstart;
pub mod server;
pub mod stages;
pub mod state;
pub mod store;
pub mod update_format;
pub mod worker;
