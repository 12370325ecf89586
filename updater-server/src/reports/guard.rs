//! Health guards: a rule may carry `min_reports` and `max_failure_rate`; once its release has at
//! least `min_reports` reports through that rule, fails more often than `max_failure_rate`, and
//! does so significantly (one-sided, at `reports.alpha`) — against the previous release's reports
//! with Fisher's exact test, or against the bound itself with a binomial test when there is no
//! previous release — the guard sets the rule's `backgroundRate` to 0 through the ordinary write
//! path (`changed_by = "health-guard"`, a history row) and records that it tripped.

use serde_json::{json, Value};

use super::rollout::tally;
use super::stats::{binomial_upper_tail, fisher_greater};
use crate::admin::auth::Actor;
use crate::admin::{rules, Mode};
use crate::error::Result;
use crate::state::AppState;
use crate::store::{now_ms, HealthGuard, Permission, PermissionOptions, Tx};

/// The user the guard's changes are recorded under.
pub const GUARD_USER: &str = "health-guard";

fn guard_actor() -> Actor {
    Actor {
        username: GUARD_USER.to_owned(),
        permissions: vec![Permission {
            username: GUARD_USER.to_owned(),
            permission: "admin".to_owned(),
            options: PermissionOptions::default(),
            data_version: 1,
        }],
        roles: Vec::new(),
    }
}

/// The release the rule mapped before `current` (from its history), if any.
fn previous_release(tx: &Tx<'_>, rule_id: i64, current: &str) -> Result<Option<String>> {
    let history = tx.history(Some("rule"), Some(&rule_id.to_string()), 1000)?;
    Ok(history
        .iter()
        .filter_map(|h| h.row.as_ref()?.get("mapping")?.as_str().map(str::to_owned))
        .find(|m| m != current))
}

/// What a guard concludes from the reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// Reports of the release through the rule.
    pub reports: u64,
    /// Their failure rate.
    pub failure_rate: f64,
    /// The baseline release compared with, if any.
    pub baseline: Option<String>,
    /// The one-sided p-value.
    pub p_value: f64,
    /// Halt the rule?
    pub halt: bool,
}

/// Evaluates one guard in `tx`; `None` when the rule or its mapping is gone.
pub fn verdict(tx: &Tx<'_>, guard: &HealthGuard, alpha: f64) -> Result<Option<Verdict>> {
    let Some(rule) = tx.rule(guard.rule_id)? else {
        return Ok(None);
    };
    let Some(release) = rule.row.mapping.as_deref() else {
        return Ok(None);
    };
    let mine = tally(&tx.report_counts(release)?, Some(guard.rule_id));
    let n = mine.total();
    let failure_rate = if n == 0 {
        0.0
    } else {
        mine.failure as f64 / n as f64
    };
    let baseline = match &guard.baseline_release {
        Some(b) => Some(b.clone()),
        None => previous_release(tx, guard.rule_id, release)?,
    };
    let p_value = match &baseline {
        Some(b) => {
            let base = tally(&tx.report_counts(b)?, None);
            fisher_greater(mine.failure, mine.success, base.failure, base.success)
        }
        None => binomial_upper_tail(mine.failure, n, guard.max_failure_rate),
    };
    let halt = i64::try_from(n).unwrap_or(i64::MAX) >= guard.min_reports
        && failure_rate > guard.max_failure_rate
        && p_value < alpha;
    Ok(Some(Verdict {
        reports: n,
        failure_rate,
        baseline,
        p_value,
        halt,
    }))
}

/// Checks every untripped guard and halts the rules whose release fails. Returns how many.
pub fn check_all(state: &AppState) -> Result<usize> {
    let alpha = state.config.reports.alpha;
    // Judge on a read connection first: a write (and the snapshot it publishes, which empties the
    // answer memo) happens only for a guard that is about to halt its rule.
    let due: Vec<HealthGuard> = state.store.read(|tx| {
        let mut due = Vec::new();
        for guard in tx.health_guards()? {
            if guard.tripped_ms.is_none() && verdict(tx, &guard, alpha)?.is_some_and(|v| v.halt) {
                due.push(guard);
            }
        }
        Ok(due)
    })?;
    let mut halted = 0;
    for guard in due {
        let tripped = state.write(|tx| {
            let Some(current) = tx.health_guard(guard.rule_id)? else {
                return Ok(false);
            };
            if current.tripped_ms.is_some() {
                return Ok(false);
            }
            let Some(v) = verdict(tx, &current, alpha)? else {
                return Ok(false);
            };
            let Some(rule) = tx.rule(current.rule_id)? else {
                return Ok(false);
            };
            if !v.halt || rule.row.background_rate == 0 {
                return Ok(false);
            }
            let body: Value = json!({"backgroundRate": 0, "data_version": rule.data_version});
            rules::update(
                tx,
                &guard_actor(),
                Mode::HealthGuard,
                &rule.rule_id.to_string(),
                body,
            )?;
            tx.put_health_guard(&HealthGuard {
                tripped_ms: Some(now_ms()),
                data_version: current.data_version + 1,
                ..current
            })?;
            tracing::warn!(
                rule_id = rule.rule_id,
                failure_rate = v.failure_rate,
                p_value = v.p_value,
                "health guard halted a rule"
            );
            Ok(true)
        })?;
        halted += usize::from(tripped);
    }
    Ok(halted)
}
