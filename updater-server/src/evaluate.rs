//! Balrog's `AUS.evaluateRules` plus `shouldServeUpdate` and pinning: from a query and a snapshot
//! to the document to send.

use std::borrow::Cow;

use crate::blob::{Blob, Release};
use crate::config::ClientConfig;
use crate::error::Error;
use crate::query::{Force, UpdateQuery};
use crate::snapshot::Snapshot;
use crate::version::{MozVersion, PinVersion};
use crate::xml::{self, RenderCtx};

/// The answer to one update request.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// `(rule_id, data_version)` of the winning rule, `None` when no rule was chosen.
    pub rule: Option<(i64, i64)>,
    /// The XML document.
    pub body: Cow<'static, str>,
}

impl Outcome {
    fn empty(rule: Option<(i64, i64)>) -> Self {
        Outcome {
            rule,
            body: Cow::Borrowed(xml::EMPTY),
        }
    }
}

/// `shouldServeUpdate`'s three answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Serve {
    No,
    Maybe,
    Yes,
}

fn bad(e: impl ToString) -> Error {
    Error::BadData(e.to_string())
}

fn should_serve(release: &Release, q: &UpdateQuery) -> Result<Serve, Error> {
    let Blob::App(app) = &release.blob else {
        return Ok(Serve::Yes);
    };
    let Some(rv) = app.app_version_for(&q.build_target, &q.locale) else {
        return Ok(Serve::No);
    };
    let rv = MozVersion::parse(rv).map_err(bad)?;
    let qv = q.parsed_version.as_ref().map_err(bad)?;
    if *qv > rv {
        return Ok(Serve::No);
    }
    if *qv == rv {
        let build_id = app
            .build_id(&q.build_target, &q.locale)
            .map_err(Error::BadData)?;
        if q.build_id.as_str() >= build_id {
            return Ok(Serve::No);
        }
    }
    if !app.platforms.contains_key(&q.build_target) {
        return Ok(Serve::No);
    }
    if let Some(pin) = &q.pin {
        if PinVersion::parse(pin).map_err(bad)?.is_older_than(&rv) {
            return Ok(Serve::Maybe);
        }
    }
    Ok(Serve::Yes)
}

/// Evaluates the rules for `q`. `dice` is rolled (0–99) only when a throttled rule needs it.
pub fn evaluate(
    snap: &Snapshot,
    q: &UpdateQuery,
    client: &ClientConfig,
    dice: &mut dyn FnMut() -> u8,
) -> Result<Outcome, Error> {
    if snap.is_shut_off(q) {
        return Ok(Outcome::empty(None));
    }
    if q.parsed_version.is_err() {
        // Balrog evaluates every candidate rule, so any version comparison raises.
        if let Some(e) = snap.candidates(q).find_map(|r| r.version_error(q)) {
            return Err(bad(e));
        }
    }
    let mut winner = None;
    for rule in snap.candidates(q) {
        if rule.matches(q).map_err(bad)? {
            winner = Some(rule);
            break;
        }
    }
    let Some(rule) = winner else {
        return Ok(Outcome::empty(None));
    };
    let meta = Some((rule.rule_id, rule.data_version));
    let Some(mut mapping) = rule.row.mapping.as_deref() else {
        return Ok(Outcome::empty(meta));
    };
    let throttled = q.force != Force::Main
        && rule.row.background_rate < 100
        && (q.force == Force::Fallback || i64::from(dice()) >= rule.row.background_rate);
    if throttled {
        match rule.row.fallback_mapping.as_deref() {
            Some(fallback) => mapping = fallback,
            None => return Ok(Outcome::empty(meta)),
        }
    }
    let releases = snap.releases();
    let Some(mut release) = releases.get(mapping) else {
        tracing::warn!(mapping, "rule maps a release that is not in the snapshot");
        return Ok(Outcome::empty(meta));
    };
    match should_serve(release, q)? {
        Serve::No => return Ok(Outcome::empty(meta)),
        Serve::Yes => {}
        Serve::Maybe => {
            let pin = PinVersion::parse(q.pin.as_deref().unwrap_or(""))
                .map_err(bad)?
                .key();
            if let Some(pinned) = snap.pin(&q.product, &q.fallback_channel, &pin) {
                match releases.get(pinned) {
                    Some(p) if should_serve(p, q)? != Serve::No => release = p,
                    _ => return Ok(Outcome::empty(meta)),
                }
            }
        }
    }
    let ctx = RenderCtx {
        query: q,
        update_type: rule.row.update_type,
        client,
        releases,
    };
    Ok(Outcome {
        rule: meta,
        body: Cow::Owned(xml::render(release, &ctx)?),
    })
}
