//! The client path, everything a client's request touches and nothing operational: it reads no
//! database, takes no admin lock and imports only [`crate::error`] and [`crate::config`] from
//! outside this folder (`tools/tests/workspace.rs` keeps it so).
//!
//! A request goes [`query`] (path, query string and User-Agent parsed into an
//! [`query::UpdateQuery`]) → [`snapshot`] (the immutable view: [`rule::CompiledRule`]s by
//! product and channel, each bucket a [`rule_index::RuleList`] that skips the rules whose version
//! column cannot hold, parsed [`blob::Release`]s, shutoffs and pins) → [`matching`] (Balrog's
//! per-column rules, on [`version`]s) → [`evaluate`] (rule choice, throttling with the [`dice`],
//! pinning, downgrade protection) → [`xml`] (the document) → [`memo`] (answers kept per
//! snapshot); [`offers`] counts what was served and [`signing`] signs it. [`report`] is what a
//! client sends back after an update, queued for the report writer.

pub mod blob;
pub mod dice;
pub mod evaluate;
pub mod matching;
pub mod memo;
pub mod offers;
pub mod query;
pub mod report;
pub mod rule;
pub mod rule_index;
pub mod signing;
pub mod snapshot;
pub mod version;
pub mod xml;
