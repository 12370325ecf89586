//! `GET /api/v1/rollouts/{release}`: how a release is doing.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::stats::wilson95;
use crate::store::ReportCount;

/// Successes, failures and failures by error code of one group of reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Successful updates.
    pub success: u64,
    /// Failed updates.
    pub failure: u64,
}

impl Tally {
    fn add(&mut self, c: &ReportCount) {
        let n = u64::try_from(c.count).unwrap_or(0);
        if c.success {
            self.success += n;
        } else {
            self.failure += n;
        }
    }

    /// All reports of the group.
    pub fn total(&self) -> u64 {
        self.success + self.failure
    }

    fn json(&self) -> Value {
        let n = self.total();
        let (lo, hi) = wilson95(self.success, n);
        json!({
            "success": self.success,
            "failure": self.failure,
            "success_rate": (n > 0).then(|| self.success as f64 / n as f64),
            "ci95": [lo, hi],
        })
    }
}

/// Adds up `counts` (all reports of one release).
pub fn tally(counts: &[ReportCount], rule: Option<i64>) -> Tally {
    let mut t = Tally::default();
    for c in counts
        .iter()
        .filter(|c| rule.is_none() || c.rule_id == rule)
    {
        t.add(c);
    }
    t
}

/// The rollout document: offers (per rule), reports (totals, error codes, success rate with a
/// 95 % Wilson interval), per rule and per from-version.
pub fn summary(release: &str, offers: &[(i64, u64)], counts: &[ReportCount]) -> Value {
    let mut by_rule: BTreeMap<String, Tally> = BTreeMap::new();
    let mut by_from: BTreeMap<String, Tally> = BTreeMap::new();
    let mut by_code: BTreeMap<String, u64> = BTreeMap::new();
    let mut all = Tally::default();
    for c in counts {
        all.add(c);
        let rule = c
            .rule_id
            .map_or("unattributed".to_owned(), |r| r.to_string());
        by_rule.entry(rule).or_default().add(c);
        by_from.entry(c.from_version.clone()).or_default().add(c);
        if !c.success {
            let code = c.error_code.map_or("none".to_owned(), |e| e.to_string());
            *by_code.entry(code).or_default() += u64::try_from(c.count).unwrap_or(0);
        }
    }
    let offers_by_rule: BTreeMap<String, u64> =
        offers.iter().map(|(r, n)| (r.to_string(), *n)).collect();
    let mut reports = all.json();
    reports["total"] = json!(all.total());
    reports["by_error_code"] = json!(by_code);
    json!({
        "release": release,
        "offers": {"total": offers.iter().map(|(_, n)| n).sum::<u64>(), "by_rule": offers_by_rule},
        "reports": reports,
        "by_rule": by_rule.iter().map(|(k, t)| (k.clone(), t.json())).collect::<serde_json::Map<_, _>>(),
        "by_from_version": by_from.iter().map(|(k, t)| (k.clone(), t.json())).collect::<serde_json::Map<_, _>>(),
    })
}
