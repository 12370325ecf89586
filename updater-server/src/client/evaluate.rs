//! Balrog's `AUS.evaluateRules` plus `shouldServeUpdate` and pinning: from a query and a snapshot
//! to the document to send.

use std::borrow::Cow;
use std::sync::Arc;

use crate::client::blob::{Blob, Release};
use crate::client::query::{Force, UpdateQuery};
use crate::client::rule::UpdateType;
use crate::client::snapshot::Snapshot;
use crate::client::version::{MozVersion, PinVersion};
use crate::client::xml::{self, RenderCtx};
use crate::config::ClientConfig;
use crate::error::Error;

/// The answer to one update request.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// `(rule_id, data_version)` of the winning rule, `None` when no rule was chosen.
    pub rule: Option<(i64, i64)>,
    /// The XML document.
    pub body: Cow<'static, str>,
    /// The release offered, when the document offers one.
    pub served: Option<String>,
}

impl Outcome {
    fn empty(rule: Option<(i64, i64)>) -> Self {
        Outcome {
            served: None,
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
    let app = match &release.blob {
        Blob::App(app) => app,
        Blob::Guardian(g) => {
            return match g.should_serve(&q.build_target, &q.version) {
                Ok(true) => Ok(Serve::Yes),
                Ok(false) => Ok(Serve::No),
                Err(e) => Err(Error::Internal(e.to_string())),
            }
        }
        // Desupport, GMP, system add-ons and SuperBlobs are always served.
        _ => return Ok(Serve::Yes),
    };
    let Some(rv) = app.app_version_for(&q.build_target, &q.locale) else {
        return Ok(Serve::No);
    };
    let rv = match MozVersion::parse(rv) {
        Ok(rv) => rv,
        // Stored before writes were checked, or imported: the release is skipped, not every
        // request for its rule answered 400.
        Err(e) => {
            tracing::error!(release = %release.name, "release cannot be served: its version {rv:?} is not one ({e})");
            return Ok(Serve::No);
        }
    };
    let qv = q.parsed_version.as_ref().map_err(bad)?;
    if *qv > rv {
        return Ok(Serve::No);
    }
    if *qv == rv {
        let build_id = app
            .build_id_text(&q.build_target, &q.locale)
            .map_err(Error::BadData)?;
        if build_id.numeric {
            // Balrog compares the query's string with the stored number: Python raises (500).
            return Err(Error::Internal(format!(
                "release {}: numeric buildID cannot be compared with the query's",
                release.name
            )));
        }
        if q.build_id.as_str() >= build_id.as_str() {
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

/// Balrog's `evaluateRules`: the rule that decides, and the release it serves (if any) with the
/// rule's `update_type`.
#[derive(Debug)]
pub struct Choice<'s> {
    /// `(rule_id, data_version)` of the winning rule, `None` when no rule was chosen.
    pub rule: Option<(i64, i64)>,
    /// The release to serve.
    pub release: Option<(&'s Arc<Release>, UpdateType)>,
}

/// Chooses the release for `q`. `dice` is rolled (0–99) only when a throttled rule needs it.
pub fn choose<'s>(
    snap: &'s Snapshot,
    q: &UpdateQuery,
    dice: &mut dyn FnMut() -> u8,
) -> Result<Choice<'s>, Error> {
    let none = |rule| Choice {
        rule,
        release: None,
    };
    if snap.is_shut_off(q) {
        return Ok(none(None));
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
        return Ok(none(None));
    };
    let meta = Some((rule.rule_id, rule.data_version));
    let Some(mut mapping) = rule.row.mapping.as_deref() else {
        return Ok(none(meta));
    };
    let throttled = q.force != Force::Main
        && rule.row.background_rate < 100
        && (q.force == Force::Fallback || i64::from(dice()) >= rule.row.background_rate);
    if throttled {
        match rule.row.fallback_mapping.as_deref() {
            Some(fallback) => mapping = fallback,
            None => return Ok(none(meta)),
        }
    }
    let releases = snap.releases();
    let Some(mut release) = releases.get(mapping) else {
        tracing::warn!(mapping, "rule maps a release that is not in the snapshot");
        return Ok(none(meta));
    };
    match should_serve(release, q)? {
        Serve::No => return Ok(none(meta)),
        Serve::Yes => {}
        Serve::Maybe => {
            let pin = PinVersion::parse(q.pin.as_deref().unwrap_or(""))
                .map_err(bad)?
                .key();
            if let Some(pinned) = snap.pin(&q.product, &q.fallback_channel, &pin) {
                match releases.get(pinned) {
                    Some(p) if should_serve(p, q)? != Serve::No => release = p,
                    _ => return Ok(none(meta)),
                }
            }
        }
    }
    Ok(Choice {
        rule: meta,
        release: Some((release, rule.row.update_type)),
    })
}

/// Evaluates the rules for `q` and renders the XML answer. A SuperBlob's answer is assembled
/// from other releases as Balrog does: for `products`, the rules are evaluated again per product
/// (the rule headers then name the last of those evaluations); for `blobs`, the named releases
/// are used under their own product.
pub fn evaluate(
    snap: &Snapshot,
    q: &UpdateQuery,
    client: &ClientConfig,
    dice: &mut dyn FnMut() -> u8,
) -> Result<Outcome, Error> {
    let choice = choose(snap, q, dice)?;
    let Some((release, update_type)) = choice.release else {
        return Ok(Outcome::empty(choice.rule));
    };
    let releases = snap.releases();
    let ctx = |query, update_type| RenderCtx {
        query,
        update_type,
        client,
        releases,
    };
    let Blob::Super(superblob) = &release.blob else {
        let body = match xml::render(release, &ctx(q, update_type)) {
            Ok(body) => body,
            Err(Error::Unservable(why)) => {
                tracing::error!(release = %release.name, "release cannot be served: {why}");
                return Ok(Outcome::empty(choice.rule));
            }
            Err(e) => return Err(e),
        };
        return Ok(Outcome {
            served: Some(release.name.clone()),
            rule: choice.rule,
            body: Cow::Owned(body),
        });
    };
    let mut rule = choice.rule;
    let mut found: Vec<(UpdateQuery, &Arc<Release>, UpdateType)> = Vec::new();
    let products = superblob.products.as_deref().unwrap_or_default();
    let blobs = superblob.blobs.as_deref().unwrap_or_default();
    if !products.is_empty() {
        for product in products {
            let mut pq = q.clone();
            pq.product.clone_from(product);
            let c = choose(snap, &pq, dice)?;
            rule = c.rule;
            if let Some((r, t)) = c.release {
                found.push((pq, r, t));
            }
        }
    } else if !blobs.is_empty() {
        for name in blobs {
            let Some(r) = releases.get(name) else {
                tracing::warn!(release = %name, "SuperBlob names a release that does not exist");
                continue;
            };
            let mut pq = q.clone();
            if let Some(product) = r.row_product.as_deref().or(r.product()) {
                product.clone_into(&mut pq.product);
            }
            found.push((pq, r, update_type));
        }
    } else {
        return Err(Error::Internal(format!(
            "SuperBlob {} has neither products nor blobs",
            release.name
        )));
    }
    let parts: Vec<xml::Part<'_>> = found
        .iter()
        .map(|(pq, r, t)| xml::Part {
            release: r,
            ctx: ctx(pq, *t),
        })
        .collect();
    Ok(Outcome {
        served: Some(release.name.clone()),
        rule,
        body: Cow::Owned(xml::render_super(&parts)?),
    })
}

/// A JSON answer: the winning rule (`(rule_id, data_version)`) and the body.
#[derive(Debug, Clone)]
pub struct JsonOutcome {
    /// The winning rule.
    pub rule: Option<(i64, i64)>,
    /// The JSON document.
    pub body: String,
}

/// The JSON endpoint (`/json/…`, Balrog's `web/public/json.py`): `None` when no release is chosen
/// (Balrog answers 404), else the rule and the Guardian blob's response. Any other blob type there
/// is Balrog's `AttributeError`, an internal error.
pub fn evaluate_json(
    snap: &Snapshot,
    q: &UpdateQuery,
    client: &ClientConfig,
    dice: &mut dyn FnMut() -> u8,
) -> Result<Option<JsonOutcome>, Error> {
    let choice = choose(snap, q, dice)?;
    let Some((release, _)) = choice.release else {
        return Ok(None);
    };
    let Blob::Guardian(g) = &release.blob else {
        return Err(Error::Internal(format!(
            "release {} has no JSON response",
            release.name
        )));
    };
    let body = g
        .response(&q.build_target, &q.product, &client.allowlisted_domains)
        .map_err(Error::Internal)?;
    Ok(Some(JsonOutcome {
        rule: choice.rule,
        body,
    }))
}
