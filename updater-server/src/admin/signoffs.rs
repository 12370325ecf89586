//! Which required signoffs cover a change (Balrog's product/channel signoff requirements).
//!
//! A rule is covered by every requirement whose product it matches (NULL product = all) and whose
//! channel its channel pattern matches (NULL channel = all). A release is covered by the union of
//! the requirements of every rule that maps it. An emergency shutoff is covered by the requirements
//! of its exact product and channel.

use std::collections::BTreeMap;

use crate::client::matching::{fallback_channel, match_channel};
use crate::client::rule::RuleRow;
use crate::error::{Error, Result};
use crate::store::{RequiredSignoff, Tx};

use super::Mode;

/// Role → number of distinct signoffs needed.
pub type Needed = BTreeMap<String, i64>;

fn add(needed: &mut Needed, rs: &RequiredSignoff) {
    let n = needed.entry(rs.role.clone()).or_insert(0);
    *n = (*n).max(rs.signoffs_required);
}

/// Requirements covering a rule row.
pub fn for_rule(tx: &Tx<'_>, row: &RuleRow, needed: &mut Needed) -> Result<()> {
    for rs in tx.required_signoffs()? {
        let product = row.product.as_deref().is_none_or(|p| p == rs.product);
        let channel = row
            .channel
            .as_deref()
            .is_none_or(|c| match_channel(c, &rs.channel, &fallback_channel(&rs.channel)));
        if product && channel {
            add(needed, &rs);
        }
    }
    Ok(())
}

/// Requirements covering a release (through the rules mapping it).
pub fn for_release(tx: &Tx<'_>, name: &str, needed: &mut Needed) -> Result<()> {
    for id in tx.rules_mapping(name)? {
        if let Some(rule) = tx.rule(id)? {
            for_rule(tx, &rule.row, needed)?;
        }
    }
    Ok(())
}

/// Requirements covering an emergency shutoff.
pub fn for_shutoff(tx: &Tx<'_>, product: &str, channel: &str, needed: &mut Needed) -> Result<()> {
    for rs in tx.required_signoffs()? {
        if rs.product == product && rs.channel == channel {
            add(needed, &rs);
        }
    }
    Ok(())
}

/// Refuses a direct change that signoffs cover; `kind` names the scheduled-change endpoint to use.
pub fn guard(mode: Mode, needed: &Needed, what: &str, kind: &str) -> Result<()> {
    if mode != Mode::Direct || needed.is_empty() {
        return Ok(());
    }
    let roles: Vec<String> = needed
        .iter()
        .map(|(role, n)| format!("{n} from {role}"))
        .collect();
    Err(Error::SignoffRequired(format!(
        "{what} requires signoffs ({}); submit it as a scheduled change: POST /api/v1/scheduled_changes/{kind}",
        roles.join(", ")
    )))
}
