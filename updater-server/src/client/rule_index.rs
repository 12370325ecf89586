//! The rule index: the rules of one snapshot bucket (a product and channel) in priority order,
//! plus, for every stretch of versions, the ones whose `version` column can hold there.
//!
//! A Balrog deployment is mostly watershed ladders: per channel, hundreds of rules `<31.0`,
//! `<32.0`, … in priority order, so a client scans every rung below its version before it finds
//! its rule. The distinct versions the bucket's comparisons name (`<31.0` names 31.0) cut the
//! version line into points and the open stretches between them; on each, every comparison
//! (`<`, `<=`, `>`, `>=`, equality) is either true throughout or false throughout. The index
//! keeps, per point and per stretch, the bucket's rules in priority order minus those whose
//! version comparisons are all false there. A rule without a version column or with a glob
//! (`78.*`) is kept everywhere. Nothing else is decided here: every rule returned is still
//! matched on all its columns, so the first match is the one a full scan finds.

use crate::client::matching::{Op, VersionTerm};
use crate::client::rule::CompiledRule;
use crate::client::version::MozVersion;

/// At most this many entries (rule indices, 4 bytes each) per bucket; a bucket whose index would
/// be larger is scanned whole.
const MAX_ENTRIES: usize = 1 << 21;

/// The rules of one bucket: all of them in priority order, and the version index over them.
#[derive(Debug, Default)]
pub struct RuleList {
    /// Indices into the snapshot's rules, ascending (= priority order).
    all: Vec<u32>,
    /// The distinct versions the bucket's comparisons name, ascending; empty when the bucket
    /// has no index.
    bounds: Vec<MozVersion>,
    /// For position `p` (`2k` is the stretch below `bounds[k]`, `2k + 1` is `bounds[k]`, `2m`
    /// is above the last), its rules are `entries[starts[p]..starts[p + 1]]`.
    starts: Vec<u32>,
    /// Rule indices, position by position, ascending within each.
    entries: Vec<u32>,
}

/// Positions `lo..=hi` where a term holds.
type Span = (usize, usize);

impl RuleList {
    /// Appends the rule at `idx` (the snapshot's rules are added in priority order).
    pub fn push(&mut self, idx: u32) {
        self.all.push(idx);
    }

    /// Every rule of the bucket, in priority order.
    pub fn all(&self) -> &[u32] {
        &self.all
    }

    /// The rules whose version column can hold for `version` (every rule when the query's
    /// version did not parse, or the bucket has no index), in priority order.
    pub fn for_version(&self, version: Option<&MozVersion>) -> &[u32] {
        let Some(v) = version.filter(|_| !self.bounds.is_empty()) else {
            return &self.all;
        };
        let p = position(&self.bounds, v);
        let range = self.starts[p] as usize..self.starts[p + 1] as usize;
        &self.entries[range]
    }

    /// Builds the version index over `rules` (the snapshot's, which `all` indexes), or leaves
    /// the bucket without one when no rule compares versions or the index would be too large.
    pub fn build_index(&mut self, rules: &[CompiledRule]) {
        let mut bounds: Vec<MozVersion> = self
            .all
            .iter()
            .filter_map(|&idx| rules.get(idx as usize)?.version_terms())
            .flatten()
            .filter_map(|term| match term {
                VersionTerm::Cmp(_, v) => Some(v.clone()),
                VersionTerm::Glob { .. } => None,
            })
            .collect();
        bounds.sort_unstable();
        bounds.dedup();
        let positions = 2 * bounds.len() + 1;
        if bounds.is_empty() || positions.saturating_mul(self.all.len()) > MAX_ENTRIES {
            return;
        }
        // Per rule: the spans where one of its terms holds, or `None` when it is kept everywhere.
        let spans: Vec<(u32, Option<Vec<Span>>)> = self
            .all
            .iter()
            .map(|&idx| {
                let terms = rules
                    .get(idx as usize)
                    .and_then(CompiledRule::version_terms);
                (idx, terms.and_then(|terms| term_spans(terms, &bounds)))
            })
            .collect();
        let mut starts = Vec::with_capacity(positions + 1);
        let mut entries = Vec::new();
        for p in 0..positions {
            starts.push(u32::try_from(entries.len()).unwrap_or(u32::MAX));
            entries.extend(spans.iter().filter_map(|(idx, spans)| {
                let kept = spans
                    .as_ref()
                    .is_none_or(|s| s.iter().any(|&(lo, hi)| (lo..=hi).contains(&p)));
                kept.then_some(*idx)
            }));
        }
        starts.push(u32::try_from(entries.len()).unwrap_or(u32::MAX));
        self.bounds = bounds;
        self.starts = starts;
        self.entries = entries;
    }
}

/// `v`'s position among `bounds` (sorted, distinct): `2k + 1` when it is `bounds[k]`, else `2k`
/// with `k` the number of bounds below it.
fn position(bounds: &[MozVersion], v: &MozVersion) -> usize {
    let k = bounds.partition_point(|b| b < v);
    if bounds.get(k) == Some(v) {
        2 * k + 1
    } else {
        2 * k
    }
}

/// The positions where each of `terms` holds, or `None` when one of them is a glob (kept
/// everywhere). Every compared version is in `bounds`.
fn term_spans(terms: &[VersionTerm], bounds: &[MozVersion]) -> Option<Vec<Span>> {
    let last = 2 * bounds.len();
    terms
        .iter()
        .map(|term| {
            let VersionTerm::Cmp(op, v) = term else {
                return None;
            };
            let at = 2 * bounds.partition_point(|b| b < v) + 1;
            Some(match op {
                Op::Lt => (0, at - 1),
                Op::Le => (0, at),
                Op::Gt => (at + 1, last),
                Op::Ge => (at, last),
                Op::Eq => (at, at),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::matching::match_version;
    use crate::client::rule::{RuleRow, UpdateType};

    fn rule(id: i64, version: Option<&str>) -> CompiledRule {
        let row = RuleRow {
            alias: None,
            priority: 0,
            mapping: None,
            fallback_mapping: None,
            background_rate: 100,
            update_type: UpdateType::Minor,
            product: None,
            version: version.map(str::to_owned),
            channel: None,
            build_target: None,
            build_id: None,
            locale: None,
            os_version: None,
            memory: None,
            instruction_set: None,
            jaws: None,
            mig64: None,
            distribution: None,
            dist_version: None,
            header_architecture: None,
            comment: None,
        };
        CompiledRule::compile(id, 1, row).unwrap()
    }

    #[test]
    fn keeps_exactly_the_rules_whose_version_can_hold_in_priority_order() {
        let columns = [
            None,
            Some("<31.0"),
            Some("<=31.0"),
            Some(">31.0"),
            Some(">=31.0"),
            Some("31.0"),
            Some("<32.0a2"),
            Some("31.0,>=40.0.1"),
            Some("<31.0,>32.0"),
            Some("33.*"),
            Some("<4.0,34.*"),
            Some(">=32.0a1"),
            Some("<31.0"),
        ];
        let rules: Vec<CompiledRule> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| rule(i64::try_from(i).unwrap(), *c))
            .collect();
        let mut list = RuleList::default();
        for idx in 0..rules.len() {
            list.push(u32::try_from(idx).unwrap());
        }
        list.build_index(&rules);
        assert!(!list.bounds.is_empty());
        let versions = [
            "1.0", "3.9", "4.0", "30.0", "30.9.9", "31.0a1", "31.0", "31.0.1", "31.1", "32.0a1",
            "32.0a2", "32.0a3", "32.0", "33.0", "33.5.1", "34.0", "40.0", "40.0.1", "40.0.2",
            "99.0",
        ];
        for text in versions {
            let v = MozVersion::parse(text).unwrap();
            let expected: Vec<u32> = (0..rules.len())
                .filter(|&i| {
                    rules[i]
                        .version_terms()
                        .is_none_or(|t| match_version(t, &Ok(v.clone())).unwrap())
                })
                .map(|i| u32::try_from(i).unwrap())
                .collect();
            let globbed: Vec<u32> = vec![9, 10];
            let got: Vec<u32> = list.for_version(Some(&v)).to_vec();
            // Glob rules are kept everywhere; every other rule exactly where it holds.
            let mut want: Vec<u32> = expected.into_iter().chain(globbed).collect();
            want.sort_unstable();
            want.dedup();
            assert_eq!(got, want, "{text}");
        }
        assert_eq!(list.for_version(None), list.all());
    }

    #[test]
    fn a_bucket_without_comparisons_has_no_index() {
        let rules = vec![rule(1, None), rule(2, Some("40.*"))];
        let mut list = RuleList::default();
        list.push(0);
        list.push(1);
        list.build_index(&rules);
        assert!(list.bounds.is_empty());
        let v = MozVersion::parse("40.0").unwrap();
        assert_eq!(list.for_version(Some(&v)), &[0, 1]);
    }
}
