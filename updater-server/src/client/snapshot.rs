//! The immutable in-memory view the client endpoint reads: compiled rules indexed by product and
//! channel, parsed releases, emergency shutoffs and pins.
//!
//! A [`Snapshot`] is built from one consistent read of the database after each committed admin
//! change and published through a [`SnapshotCell`]; a request clones the current `Arc` once and
//! never touches the database. Every snapshot carries the change version (`kiln_state.version`)
//! it was read at; a cell only ever moves to a newer version, so a replica that published its own
//! write never falls back to an older state when a slower reload finishes after it. Because a snapshot is built from a single committed state in which no rule
//! maps a missing release, no request can see a rule pointing at a deleted release.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;

use crate::client::blob::Release;
use crate::client::memo::ResponseMemo;
use crate::client::offers::{OfferRegistry, OfferTable};
use crate::client::query::UpdateQuery;
use crate::client::rule::{CompiledRule, RuleRow};
use crate::client::rule_index::RuleList;

/// Releases by name.
pub type Releases = HashMap<String, Arc<Release>>;

/// Rules of one product (plus the product-wildcard rules), bucketed by channel; each bucket
/// indexed by version ([`RuleList`]).
#[derive(Debug, Default)]
struct ChannelIndex {
    exact: HashMap<String, RuleList>,
    globs: Vec<(String, u32)>,
    any: RuleList,
}

impl ChannelIndex {
    fn add(&mut self, idx: u32, rule: &CompiledRule) {
        match rule.row.channel.as_deref() {
            None => self.any.push(idx),
            Some(c) => match c.strip_suffix('*') {
                Some(prefix) if c.len() >= 3 => self.globs.push((prefix.to_owned(), idx)),
                Some(_) => {}
                None => self.exact.entry(c.to_owned()).or_default().push(idx),
            },
        }
    }

    /// Builds every bucket's version index, once all rules are added.
    fn build_indexes(&mut self, rules: &[CompiledRule]) {
        self.any.build_index(rules);
        for list in self.exact.values_mut() {
            list.build_index(rules);
        }
    }

    /// Indices of the rules that may match `q`, ascending (= priority order): the buckets of
    /// the query's channels, without the rules whose version column cannot hold for the query's
    /// version. Borrowed from the index when a single bucket applies, which is the common case.
    fn candidates(&self, q: &UpdateQuery) -> Cow<'_, [u32]> {
        let version = q.parsed_version.as_ref().ok();
        let mut sources: [&[u32]; 3] = [&[]; 3];
        sources[0] = self.any.for_version(version);
        if let Some(list) = self.exact.get(&q.channel) {
            sources[1] = list.for_version(version);
        }
        if q.fallback_channel != q.channel {
            if let Some(list) = self.exact.get(&q.fallback_channel) {
                sources[2] = list.for_version(version);
            }
        }
        let globs = self.globs.iter().filter(|(prefix, _)| {
            q.channel.starts_with(prefix.as_str())
                || q.fallback_channel.starts_with(prefix.as_str())
        });
        let mut nonempty = sources.iter().filter(|s| !s.is_empty());
        match (nonempty.next(), nonempty.next(), globs.clone().next()) {
            (None, _, None) => Cow::Borrowed(&[]),
            (Some(single), None, None) => Cow::Borrowed(*single),
            _ => {
                let mut all: Vec<u32> = sources.concat();
                all.extend(globs.map(|(_, idx)| *idx));
                all.sort_unstable();
                all.dedup();
                Cow::Owned(all)
            }
        }
    }
}

/// Everything a snapshot is built from, as read in one transaction.
#[derive(Debug, Default)]
pub struct SnapshotData {
    /// The change version the data was read at.
    pub version: i64,
    /// `(rule_id, data_version, row)` for every rule.
    pub rules: Vec<(i64, i64, RuleRow)>,
    /// Every release, parsed.
    pub releases: Vec<Arc<Release>>,
    /// Emergency shutoffs `(product, channel)`.
    pub shutoffs: Vec<(String, String)>,
    /// Pinnable releases `(product, channel, version, mapping)`.
    pub pins: Vec<(String, String, String, String)>,
}

/// An immutable view of rules and releases.
#[derive(Debug)]
pub struct Snapshot {
    version: i64,
    rules: Vec<CompiledRule>,
    by_product: HashMap<String, ChannelIndex>,
    any_product: ChannelIndex,
    releases: Releases,
    shutoffs: HashMap<String, HashSet<String>>,
    pins: HashMap<(String, String, String), String>,
    built_at: SystemTime,
    memo: ResponseMemo,
    offers: OfferTable,
}

impl Snapshot {
    /// Builds a snapshot. Rules that fail to compile (which validation on write prevents) are
    /// skipped with an error log rather than taking the server down.
    pub fn build(data: SnapshotData) -> Self {
        let mut rules: Vec<CompiledRule> = data
            .rules
            .into_iter()
            .filter_map(|(id, dv, row)| match CompiledRule::compile(id, dv, row) {
                Ok(rule) => Some(rule),
                Err(e) => {
                    tracing::error!(rule_id = id, error = %e, "skipping invalid rule");
                    None
                }
            })
            .collect();
        // Priority descending; Balrog leaves ties to database order, Kiln uses rule_id ascending.
        rules.sort_by(|a, b| {
            b.row
                .priority
                .cmp(&a.row.priority)
                .then(a.rule_id.cmp(&b.rule_id))
        });
        let mut by_product: HashMap<String, ChannelIndex> = HashMap::new();
        let mut any_product = ChannelIndex::default();
        let products: HashSet<&str> = rules
            .iter()
            .filter_map(|r| r.row.product.as_deref())
            .collect();
        for (idx, rule) in rules.iter().enumerate() {
            let idx = u32::try_from(idx).unwrap_or(u32::MAX);
            match rule.row.product.as_deref() {
                Some(p) => by_product.entry(p.to_owned()).or_default().add(idx, rule),
                None => {
                    any_product.add(idx, rule);
                    for p in &products {
                        by_product
                            .entry((*p).to_owned())
                            .or_default()
                            .add(idx, rule);
                    }
                }
            }
        }
        any_product.build_indexes(&rules);
        for index in by_product.values_mut() {
            index.build_indexes(&rules);
        }
        Snapshot {
            version: data.version,
            rules,
            by_product,
            any_product,
            releases: data
                .releases
                .into_iter()
                .map(|r| (r.name.clone(), r))
                .collect(),
            shutoffs: data.shutoffs.into_iter().fold(
                HashMap::new(),
                |mut map, (product, channel)| {
                    map.entry(product)
                        .or_insert_with(HashSet::new)
                        .insert(channel);
                    map
                },
            ),
            pins: data
                .pins
                .into_iter()
                .map(|(p, c, v, m)| ((p, c, v), m))
                .collect(),
            built_at: SystemTime::now(),
            memo: ResponseMemo::default(),
            offers: OfferTable::default(),
        }
    }

    /// The rules that may match `q`, in priority order (highest first).
    pub fn candidates<'a>(
        &'a self,
        q: &UpdateQuery,
    ) -> impl Iterator<Item = &'a CompiledRule> + 'a {
        let index = self.by_product.get(&q.product).unwrap_or(&self.any_product);
        let idx = index.candidates(q);
        (0..idx.len()).filter_map(move |n| self.rules.get(idx[n] as usize))
    }

    /// Is updating shut off for the query's product on its channel or fallback channel?
    pub fn is_shut_off(&self, q: &UpdateQuery) -> bool {
        self.shutoffs.get(&q.product).is_some_and(|channels| {
            channels.contains(&q.channel) || channels.contains(&q.fallback_channel)
        })
    }

    /// The pinnable release for (product, channel, pin), if any.
    pub fn pin(&self, product: &str, channel: &str, pin: &str) -> Option<&str> {
        self.pins
            .get(&(product.to_owned(), channel.to_owned(), pin.to_owned()))
            .map(String::as_str)
    }

    /// All releases by name.
    pub fn releases(&self) -> &Releases {
        &self.releases
    }

    /// The change version the snapshot was read at.
    pub fn version(&self) -> i64 {
        self.version
    }

    /// How many rules the snapshot holds.
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// Answers already computed against this snapshot.
    pub fn memo(&self) -> &ResponseMemo {
        &self.memo
    }

    /// When the snapshot was built.
    pub fn built_at(&self) -> SystemTime {
        self.built_at
    }

    /// The offer counters of this snapshot's rules.
    pub fn offers(&self) -> &OfferTable {
        &self.offers
    }

    /// `(rule_id, release)` for every release a rule maps or falls back to.
    fn mapped(&self) -> impl Iterator<Item = (i64, &str)> {
        self.rules.iter().flat_map(|r| {
            let names = [r.row.mapping.as_deref(), r.row.fallback_mapping.as_deref()];
            names.into_iter().flatten().map(move |n| (r.rule_id, n))
        })
    }
}

/// The published snapshot (`arc-swap`): readers load the `Arc` without a lock, writers swap it. Each published snapshot
/// gets a fresh, empty answer memo of the cell's capacity.
#[derive(Debug)]
pub struct SnapshotCell {
    current: ArcSwap<Snapshot>,
    publishing: Mutex<()>,
    started: Instant,
    /// When the snapshot was last confirmed, in microseconds after `started`.
    confirmed_us: AtomicU64,
    memo_capacity: usize,
    offers: OfferRegistry,
}

impl SnapshotCell {
    /// Starts with `snapshot`; memos hold at most `memo_capacity` answers (0 disables them).
    pub fn new(mut snapshot: Snapshot, memo_capacity: usize) -> Self {
        snapshot.memo = ResponseMemo::new(memo_capacity);
        let offers = OfferRegistry::default();
        snapshot.offers = offers.table(snapshot.mapped());
        SnapshotCell {
            current: ArcSwap::from_pointee(snapshot),
            publishing: Mutex::new(()),
            started: Instant::now(),
            confirmed_us: AtomicU64::new(0),
            memo_capacity,
            offers,
        }
    }

    /// The offer counters of every snapshot this cell published.
    pub fn offers(&self) -> &OfferRegistry {
        &self.offers
    }

    /// The current snapshot: one atomic load, no lock.
    pub fn load(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Publishes `snapshot` to every later reader unless the current one is at the same or a
    /// newer version; either way the current snapshot is then known to be current. Returns
    /// whether it was published.
    pub fn publish(&self, mut snapshot: Snapshot) -> bool {
        let _guard = match self.publishing.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        self.confirm();
        if snapshot.version <= self.current.load().version {
            return false;
        }
        snapshot.memo = ResponseMemo::new(self.memo_capacity);
        snapshot.offers = self.offers.table(snapshot.mapped());
        self.current.store(Arc::new(snapshot));
        true
    }

    /// Records that the current snapshot was just found to match the database.
    pub fn confirm(&self) {
        let since_start = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.confirmed_us.store(since_start, Ordering::Relaxed);
    }

    /// How long ago the current snapshot was last known to match the database.
    pub fn confirmed_age(&self) -> Duration {
        let confirmed = Duration::from_micros(self.confirmed_us.load(Ordering::Relaxed));
        self.started.elapsed().saturating_sub(confirmed)
    }
}
