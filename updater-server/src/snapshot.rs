//! The immutable in-memory view the client endpoint reads: compiled rules indexed by product and
//! channel, parsed releases, emergency shutoffs and pins.
//!
//! A [`Snapshot`] is built from one consistent read of the database after each committed admin
//! change and published through a [`SnapshotCell`]; a request clones the current `Arc` once and
//! never touches SQLite. Because a snapshot is built from a single committed state in which no rule
//! maps a missing release, no request can see a rule pointing at a deleted release.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use crate::blob::Release;
use crate::matching::fallback_channel;
use crate::query::UpdateQuery;
use crate::rule::{CompiledRule, RuleRow};

/// Releases by name.
pub type Releases = HashMap<String, Arc<Release>>;

/// Rules of one product (plus the product-wildcard rules), bucketed by channel.
#[derive(Debug, Default)]
struct ChannelIndex {
    exact: HashMap<String, Vec<u32>>,
    globs: Vec<(String, u32)>,
    any: Vec<u32>,
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

    fn candidates(&self, q: &UpdateQuery, out: &mut Vec<u32>) {
        out.extend(&self.any);
        for channel in [q.channel.as_str(), q.fallback_channel.as_str()] {
            if let Some(v) = self.exact.get(channel) {
                out.extend(v);
            }
        }
        for (prefix, idx) in &self.globs {
            if q.channel.starts_with(prefix.as_str())
                || q.fallback_channel.starts_with(prefix.as_str())
            {
                out.push(*idx);
            }
        }
        out.sort_unstable();
        out.dedup();
    }
}

/// Everything a snapshot is built from, as read in one transaction.
#[derive(Debug, Default)]
pub struct SnapshotData {
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
    rules: Vec<CompiledRule>,
    by_product: HashMap<String, ChannelIndex>,
    any_product: ChannelIndex,
    releases: Releases,
    shutoffs: HashSet<(String, String)>,
    pins: HashMap<(String, String, String), String>,
    built_at: SystemTime,
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
        Snapshot {
            rules,
            by_product,
            any_product,
            releases: data
                .releases
                .into_iter()
                .map(|r| (r.name.clone(), r))
                .collect(),
            shutoffs: data.shutoffs.into_iter().collect(),
            pins: data
                .pins
                .into_iter()
                .map(|(p, c, v, m)| ((p, c, v), m))
                .collect(),
            built_at: SystemTime::now(),
        }
    }

    /// The rules that may match `q`, in priority order (highest first).
    pub fn candidates<'a>(
        &'a self,
        q: &UpdateQuery,
    ) -> impl Iterator<Item = &'a CompiledRule> + 'a {
        let index = self.by_product.get(&q.product).unwrap_or(&self.any_product);
        let mut idx = Vec::new();
        index.candidates(q, &mut idx);
        idx.into_iter()
            .filter_map(move |i| self.rules.get(i as usize))
    }

    /// Is updating shut off for the query's product on its channel or fallback channel?
    pub fn is_shut_off(&self, q: &UpdateQuery) -> bool {
        let key = |c: &str| (q.product.clone(), c.to_owned());
        self.shutoffs.contains(&key(&q.channel))
            || self.shutoffs.contains(&key(fallback_channel(&q.channel)))
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

    /// How many rules the snapshot holds.
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// When the snapshot was built.
    pub fn built_at(&self) -> SystemTime {
        self.built_at
    }
}

/// The published snapshot; readers clone the `Arc`, writers swap it.
#[derive(Debug)]
pub struct SnapshotCell(RwLock<Arc<Snapshot>>);

impl SnapshotCell {
    /// Starts with `snapshot`.
    pub fn new(snapshot: Snapshot) -> Self {
        SnapshotCell(RwLock::new(Arc::new(snapshot)))
    }

    /// The current snapshot.
    pub fn load(&self) -> Arc<Snapshot> {
        match self.0.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Publishes `snapshot` to every later reader.
    pub fn store(&self, snapshot: Snapshot) {
        let new = Arc::new(snapshot);
        match self.0.write() {
            Ok(mut guard) => *guard = new,
            Err(poisoned) => *poisoned.into_inner() = new,
        }
    }
}
