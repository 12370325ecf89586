//! The update XML, byte-identical to Balrog's for legitimate data (`docs/update-protocol.md`
//! Part B (d)).
//!
//! Lines are joined with `\n` without a trailing newline. Balrog then turns every `&` that does
//! not start `&amp;` into `&amp;` and escapes nothing else, so a stored `"` or `<` can close an
//! attribute or an element and add one (a `<patch>` on any host). Kiln applies Balrog's `&` rule
//! to each attribute value as it is written (`attr`) and also escapes `"`, `<` and `>`, which
//! no legitimate value holds: for every value Balrog renders as well-formed XML the bytes are
//! Balrog's, and no stored value can change the document's structure. A value holding a
//! character XML cannot carry at all (a control character) fails the render with
//! [`Error::Unservable`], and the release is not served.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

use crate::client::blob::{
    py_str, truthy, Addon, AppRelease, Blob, Desupport, Patch, Release, SystemAddons, UpdateLineFor,
};
use crate::client::matching::{compile_versions, match_channel, match_version, BuildIdCmp};
use crate::client::query::UpdateQuery;
use crate::client::rule::UpdateType;
use crate::client::snapshot::Releases;
use crate::client::version::MozVersion;
use crate::config::ClientConfig;
use crate::error::Error;

/// The exact document Balrog sends when there is no update.
pub const EMPTY: &str = "<?xml version=\"1.0\"?>\n<updates>\n</updates>";

/// What the writer needs besides the release itself.
#[derive(Debug, Clone, Copy)]
pub struct RenderCtx<'a> {
    /// The client's request.
    pub query: &'a UpdateQuery,
    /// The winning rule's `update_type`.
    pub update_type: UpdateType,
    /// Allowlist and special-force hosts.
    pub client: &'a ClientConfig,
    /// All releases, to look up partials' from-releases.
    pub releases: &'a Releases,
}

/// Renders the whole document for `release`: Balrog's outer header, the release's inner header,
/// inner XML and inner footer, the outer footer.
pub fn render(release: &Release, ctx: &RenderCtx<'_>) -> Result<String, Error> {
    let header = inner_header(release, ctx)?;
    let lines = inner_lines(release, ctx)?;
    let footer = inner_footer(release, ctx)?;
    let mut xml = assemble(&header, &lines, &footer);
    // Bug 1517743: these two nightly builds need the document without newlines and indents.
    if release.name == "Firefox-mozilla-central-nightly-latest"
        && matches!(
            ctx.query.build_id.as_str(),
            "20190103220533" | "20190104093221"
        )
    {
        xml = xml.replace('\n', "").replace("    ", "");
    }
    Ok(xml)
}

/// One release answering inside a SuperBlob, with its own query (product) and update type.
#[derive(Debug, Clone, Copy)]
pub struct Part<'a> {
    /// The release whose inner XML is used.
    pub release: &'a Release,
    /// Its query and update type.
    pub ctx: RenderCtx<'a>,
}

/// Renders a SuperBlob's answer: its `<addons>` around the inner XML of every part, in order.
pub fn render_super(parts: &[Part<'_>]) -> Result<String, Error> {
    let mut lines = Vec::new();
    for part in parts {
        lines.extend(inner_lines(part.release, &part.ctx)?);
    }
    Ok(assemble("    <addons>", &lines, "    </addons>"))
}

/// `"\n".join([xml declaration, "<updates>", header, *lines, footer, "</updates>"])`. An empty
/// header or footer still makes its (empty) line, as in Balrog. The values in the lines were
/// escaped as they were written (`attr`).
fn assemble(header: &str, lines: &[String], footer: &str) -> String {
    let mut doc = String::with_capacity(256 + lines.iter().map(String::len).sum::<usize>());
    doc.push_str("<?xml version=\"1.0\"?>\n<updates>\n");
    doc.push_str(header);
    doc.push('\n');
    for line in lines {
        doc.push_str(line);
        doc.push('\n');
    }
    doc.push_str(footer);
    doc.push_str("\n</updates>");
    doc
}

fn not_xml(release: &Release) -> Error {
    Error::Internal(format!(
        "release {} cannot be rendered as update XML",
        release.name
    ))
}

/// Balrog's `getInnerHeaderXML`.
fn inner_header(release: &Release, ctx: &RenderCtx<'_>) -> Result<String, Error> {
    Ok(match &release.blob {
        Blob::App(app) => update_line(app, ctx)?,
        Blob::Desupport(_) => String::new(),
        Blob::Gmp(_) | Blob::Super(_) => "    <addons>".to_owned(),
        Blob::SystemAddons(s) => system_addons_frame(s, ctx, "    <addons>")?,
        Blob::Guardian(_) => return Err(not_xml(release)),
    })
}

/// Balrog's `getInnerFooterXML`.
fn inner_footer(release: &Release, ctx: &RenderCtx<'_>) -> Result<String, Error> {
    Ok(match &release.blob {
        Blob::App(_) => "    </update>".to_owned(),
        Blob::Desupport(_) => "</update>".to_owned(),
        Blob::Gmp(_) | Blob::Super(_) => "    </addons>".to_owned(),
        Blob::SystemAddons(s) => system_addons_frame(s, ctx, "    </addons>")?,
        Blob::Guardian(_) => return Err(not_xml(release)),
    })
}

/// Balrog's `getInnerXML`.
fn inner_lines(release: &Release, ctx: &RenderCtx<'_>) -> Result<Vec<String>, Error> {
    match &release.blob {
        Blob::App(app) => app_patches(app, ctx),
        Blob::Desupport(d) => Ok(vec![desupport_line(d, ctx)?]),
        Blob::Gmp(g) => addon_lines(&g.vendors, g.hash_function.as_deref(), ctx, true),
        Blob::SystemAddons(s) => match &s.addons {
            None => Ok(Vec::new()),
            Some(addons) => addon_lines(addons, s.hash_function.as_deref(), ctx, false),
        },
        Blob::Super(_) | Blob::Guardian(_) => Err(not_xml(release)),
    }
}

fn app_patches(app: &AppRelease, ctx: &RenderCtx<'_>) -> Result<Vec<String>, Error> {
    let q = ctx.query;
    let Some(locale) = app.locale(&q.build_target, &q.locale) else {
        return Err(Error::BadData(format!(
            "No such locale '{}' in platform '{}'",
            q.locale,
            app.resolve_platform(&q.build_target)
        )));
    };
    let mut lines = Vec::new();
    if app.schema_version <= 2 {
        // Schemas 1-2: the locale's single `complete`, then `partial`.
        for (is_complete, patch) in [(true, &locale.complete), (false, &locale.partial)] {
            if let Some(patch) = patch {
                lines.extend(patch_line(app, patch, is_complete, ctx)?);
            }
        }
    } else {
        // Schemas 3+: the first qualifying entry of `completes`, then of `partials`.
        for (is_complete, patches) in [(true, &locale.completes), (false, &locale.partials)] {
            for patch in patches {
                if let Some(line) = patch_line(app, patch, is_complete, ctx)? {
                    lines.push(line);
                    break;
                }
            }
        }
    }
    Ok(lines)
}

/// GMP vendors / system add-ons serving the client's platform, sorted by id; a forbidden URL
/// drops the add-on. Special-force hosts do not apply (these are served externally).
fn addon_lines(
    addons: &BTreeMap<String, Addon>,
    hash_function: Option<&str>,
    ctx: &RenderCtx<'_>,
    gmp: bool,
) -> Result<Vec<String>, Error> {
    let q = ctx.query;
    let mut lines = Vec::new();
    for (id, addon) in addons.iter().filter(|(_, a)| a.serves(&q.build_target)) {
        let Some(platform) = addon.platform(&q.build_target) else {
            // GMP raises BadDataError here; system add-ons fail on the missing data (500).
            let why = format!("No platform '{}' in add-on '{id}'", q.build_target);
            return Err(if gmp {
                Error::BadData(why)
            } else {
                Error::Internal(why)
            });
        };
        let broken = |what: &str| Error::Internal(format!("add-on {id}: no {what}"));
        let url = platform
            .file_url
            .as_deref()
            .ok_or_else(|| broken("fileUrl"))?;
        if ctx
            .client
            .allowlisted_domains
            .forbids(url, Some(&q.product))
        {
            continue;
        }
        let hash_function = hash_function.ok_or_else(|| broken("hashFunction"))?;
        let hash_value = platform
            .hash_value
            .as_deref()
            .ok_or_else(|| broken("hashValue"))?;
        let size = platform
            .filesize
            .as_ref()
            .ok_or_else(|| broken("filesize"))?;
        lines.push(format!(
            "        <addon id=\"{}\" URL=\"{}\" hashFunction=\"{}\" hashValue=\"{}\" size=\"{}\" version=\"{}\"/>",
            attr(id)?,
            attr(url)?,
            attr(hash_function)?,
            attr(hash_value)?,
            attr(&size.to_string())?,
            attr(&addon.version)?
        ));
    }
    Ok(lines)
}

/// A system add-ons blob writes `<addons>`/`</addons>` only when it uninstalls or has an add-on
/// the client may download; otherwise the header and footer lines are empty.
fn system_addons_frame(
    blob: &SystemAddons,
    ctx: &RenderCtx<'_>,
    tag: &str,
) -> Result<String, Error> {
    if blob.uninstall == Some(true) {
        return Ok(tag.to_owned());
    }
    let q = ctx.query;
    for (id, addon) in blob.addons.iter().flatten() {
        if !addon.serves(&q.build_target) {
            continue;
        }
        let url = addon
            .platform(&q.build_target)
            .and_then(|p| p.file_url.as_deref())
            .ok_or_else(|| Error::Internal(format!("add-on {id}: no file for the platform")))?;
        if !ctx
            .client
            .allowlisted_domains
            .forbids(url, Some(&q.product))
        {
            return Ok(tag.to_owned());
        }
    }
    Ok(String::new())
}

/// An attribute value as written into the document: Balrog's `&` rule (every `&` that does not
/// start `&amp;` becomes `&amp;`) plus `"`, `<` and `>` as entities, so the value stays inside
/// its attribute. Hand-rolled: Balrog's `&amp;` exception is not what an XML library does, and
/// the bytes must stay Balrog's. A control character (other than tab, line feed and carriage
/// return, which XML allows) cannot be written at all and is an error.
fn attr(value: &str) -> Result<Cow<'_, str>, Error> {
    // One table lookup per byte: is it copied as is, escaped, or to be looked at as a character
    // (a control or non-ASCII one)?
    let kinds = value
        .bytes()
        .fold(0, |kinds, b| kinds | BYTE_KIND[usize::from(b)]);
    if kinds == COPIED {
        return Ok(Cow::Borrowed(value));
    }
    if kinds & CHARACTER != 0 {
        if let Some(c) = value
            .chars()
            .find(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
        {
            return Err(Error::Unservable(format!(
                "a stored value holds the control character {c:?}, which XML cannot carry"
            )));
        }
    }
    if kinds & ESCAPED == 0 {
        return Ok(Cow::Borrowed(value));
    }
    let mut out = String::with_capacity(value.len() + 16);
    let mut rest = value;
    while let Some(at) = rest
        .bytes()
        .position(|b| BYTE_KIND[usize::from(b)] == ESCAPED)
    {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let (escaped, len) = match tail.as_bytes()[0] {
            b'&' if tail.starts_with("&amp;") => ("&amp;", "&amp;".len()),
            b'&' => ("&amp;", 1),
            b'"' => ("&quot;", 1),
            b'<' => ("&lt;", 1),
            _ => ("&gt;", 1),
        };
        out.push_str(escaped);
        rest = &tail[len..];
    }
    out.push_str(rest);
    Ok(Cow::Owned(out))
}

/// [`BYTE_KIND`]: printable ASCII written as it is.
const COPIED: u8 = 0;
/// [`BYTE_KIND`]: `&`, `"`, `<` and `>`, escaped.
const ESCAPED: u8 = 1;
/// [`BYTE_KIND`]: a control byte or part of a non-ASCII character, checked as a character.
const CHARACTER: u8 = 2;

/// What [`attr`] does with each byte.
static BYTE_KIND: [u8; 256] = {
    let mut kinds = [CHARACTER; 256];
    let mut b = b' ';
    while b <= b'~' {
        kinds[b as usize] = match b {
            b'&' | b'"' | b'<' | b'>' => ESCAPED,
            _ => COPIED,
        };
        b += 1;
    }
    kinds
};

/// `text` with every `from` replaced by `to`, exactly as `str::replace` (leftmost matches, not
/// overlapping), but without a copy when `from` does not occur (a vectorised `contains`), and
/// with matches found from `from`'s first character (a `memchr`) instead of a substring searcher.
fn replace(text: &mut String, from: &str, to: &str) {
    let Some(first) = from.chars().next() else {
        return;
    };
    if !text.contains(from) {
        return;
    }
    let mut out: Option<String> = None;
    let mut rest = text.as_str();
    while let Some(at) = rest.find(first) {
        let out = out.get_or_insert_with(|| String::with_capacity(text.len() + to.len()));
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix(from) {
            out.push_str(to);
            rest = after;
        } else {
            out.push(first);
            rest = &tail[first.len_utf8()..];
        }
    }
    if let Some(mut out) = out {
        out.push_str(rest);
        *text = out;
    }
}

/// `line` with ` name="value"` appended, the value escaped by [`attr`].
fn push_attr(line: &mut String, name: &str, value: &str) -> Result<(), Error> {
    line.push(' ');
    line.push_str(name);
    line.push_str("=\"");
    line.push_str(&attr(value)?);
    line.push('"');
    Ok(())
}

/// [`push_attr`], or, for a value known to be plain (from a blob whose text is, see
/// [`AppRelease::plain_text`], or a constant), the value copied without the check.
fn push_blob_attr(line: &mut String, name: &str, value: &str, plain: bool) -> Result<(), Error> {
    if !plain {
        return push_attr(line, name, value);
    }
    line.push(' ');
    line.push_str(name);
    line.push_str("=\"");
    line.push_str(value);
    line.push('"');
    Ok(())
}

/// Balrog's `%LOCALE%`/`%locale%` substitution in a stored URL.
fn with_locale(url: &str, locale: &str) -> String {
    let mut url = url.to_owned();
    replace(&mut url, "%LOCALE%", locale);
    replace(&mut url, "%locale%", locale);
    url
}

/// An attribute name from stored data (an `updateLine` field's key), else an error.
fn attr_name(name: &str) -> Result<&str, Error> {
    if crate::client::blob::text::is_xml_name(name) {
        Ok(name)
    } else {
        Err(Error::Unservable(format!(
            "a stored updateLine field name {name:?} is not an XML attribute name"
        )))
    }
}

fn or_none(v: Option<&str>) -> &str {
    v.unwrap_or("None")
}

fn desupport_line(d: &Desupport, ctx: &RenderCtx<'_>) -> Result<String, Error> {
    let q = ctx.query;
    let os = q.build_target.split('_').next().unwrap_or("");
    // Upper-case placeholders first, then the lower-case ones, as Balrog does.
    let details = d
        .details_url
        .replace("%LOCALE%", &q.locale)
        .replace("%VERSION%", &q.version)
        .replace("%OS%", os)
        .replace("%locale%", &q.locale)
        .replace("%version%", &q.version)
        .replace("%os%", os);
    Ok(format!(
        "    <update type=\"{}\" unsupported=\"true\" detailsURL=\"{}\" displayVersion=\"{}\">",
        ctx.update_type.as_str(),
        attr(&details)?,
        attr(&d.display_version)?
    ))
}

fn bool_str(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}

fn update_line(app: &AppRelease, ctx: &RenderCtx<'_>) -> Result<String, Error> {
    match app.schema_version {
        1 => return update_line_v1(app, ctx),
        9 => return update_line_v9(app, ctx),
        _ => {}
    }
    let q = ctx.query;
    let (bt, loc) = (q.build_target.as_str(), q.locale.as_str());
    let display = app.locale_or_top(
        bt,
        loc,
        |l| l.display_version.as_ref(),
        &app.display_version,
    );
    let platform_version = app.locale_or_top(
        bt,
        loc,
        |l| l.platform_version.as_ref(),
        &app.platform_version,
    );
    let build_id = app.build_id(bt, loc).map_err(Error::BadData)?;
    let mut line = format!(
        "    <update type=\"{}\" displayVersion=\"{}\" appVersion=\"{}\" platformVersion=\"{}\" buildID=\"{}\"",
        ctx.update_type.as_str(),
        attr(or_none(display))?,
        attr(or_none(app.app_version_for(bt, loc)))?,
        attr(or_none(platform_version))?,
        attr(build_id)?,
    );
    let interpolate = |s: &str| with_locale(s, loc);
    if let Some(url) = app.details_url.as_deref() {
        let _ = write!(line, " detailsURL=\"{}\"", attr(&interpolate(url))?);
    }
    if let Some(url) = app.license_url.as_deref() {
        let _ = write!(line, " licenseURL=\"{}\"", attr(&interpolate(url))?);
    }
    if app
        .locale(bt, loc)
        .and_then(|l| l.is_os_update.as_ref())
        .is_some_and(truthy)
    {
        line.push_str(" isOSUpdate=\"true\"");
    }
    let mut attrs: Vec<(&str, Option<String>)> = Vec::new();
    if app.schema_version <= 5 {
        attrs.push((
            "billboardURL",
            app.billboard_url.as_deref().map(interpolate),
        ));
    }
    attrs.extend([
        ("showPrompt", app.show_prompt.as_ref().map(py_str)),
        (
            "showNeverForVersion",
            app.show_never_for_version.as_ref().map(py_str),
        ),
        ("actions", app.actions.clone()),
        ("openURL", app.open_url.as_deref().map(interpolate)),
        (
            "notificationURL",
            app.notification_url.as_deref().map(interpolate),
        ),
        ("alertURL", app.alert_url.as_deref().map(interpolate)),
    ]);
    if app.schema_version >= 5 {
        attrs.push(("promptWaitTime", app.prompt_wait_time.as_ref().map(py_str)));
    }
    if app.schema_version == 8 {
        attrs.extend([
            ("binTransMerkleRoot", app.bin_trans_merkle_root.clone()),
            ("binTransCertificate", app.bin_trans_certificate.clone()),
            ("binTransSCTList", app.bin_trans_sct_list.clone()),
        ]);
    }
    for (name, value) in attrs {
        if let Some(value) = value {
            let _ = write!(line, " {name}=\"{}\"", attr(&value)?);
        }
    }
    line.push('>');
    Ok(line)
}

/// Schema 1: `version` (appv) and `extensionVersion` (extv), and the rewrites of
/// `oldVersionSpecialCases` for 2.0-3.6 clients (bugs 998721, 1174605), done on the text as
/// Balrog does.
fn update_line_v1(app: &AppRelease, ctx: &RenderCtx<'_>) -> Result<String, Error> {
    let q = ctx.query;
    let (bt, loc) = (q.build_target.as_str(), q.locale.as_str());
    let appv = attr(or_none(app.locale_or_top(
        bt,
        loc,
        |l| l.appv.as_ref(),
        &app.appv,
    )))?;
    let extv = attr(or_none(app.locale_or_top(
        bt,
        loc,
        |l| l.extv.as_ref(),
        &app.extv,
    )))?;
    let build_id = attr(app.build_id(bt, loc).map_err(Error::BadData)?)?;
    let mut line = format!(
        "    <update type=\"{}\" version=\"{appv}\" extensionVersion=\"{extv}\" buildID=\"{build_id}\"",
        ctx.update_type.as_str(),
    );
    let interpolate = |s: &str| with_locale(s, loc);
    if let Some(url) = app.details_url.as_deref() {
        let _ = write!(line, " detailsURL=\"{}\"", attr(&interpolate(url))?);
    }
    if let Some(url) = app.license_url.as_deref() {
        let _ = write!(line, " licenseURL=\"{}\"", attr(&interpolate(url))?);
    }
    line.push('>');
    if app.old_version_special_cases == Some(true) {
        let qv = q
            .parsed_version
            .as_ref()
            .map_err(|e| Error::BadData(e.to_string()))?;
        let at = |v: &str| MozVersion::parse(v).ok();
        let in_range = |lo: &str, hi: &str| {
            at(lo).is_some_and(|lo| *qv >= lo) && at(hi).is_some_and(|hi| *qv < hi)
        };
        let ext_attr = format!("extensionVersion=\"{extv}\"");
        let query_version = attr(&q.version)?;
        if in_range("2.0", "3.5") {
            line = line
                .replace(
                    &format!("version=\"{appv}\""),
                    &format!("version=\"{query_version}\""),
                )
                .replace(&format!("{ext_attr} "), "");
        } else if in_range("3.5", "3.6") {
            line = line.replace(&format!("{ext_attr} "), "");
        } else if in_range("3.6", "4.0") {
            line = line.replace(&ext_attr, &format!("extensionVersion=\"{query_version}\""));
        }
    }
    Ok(line)
}

fn group_applies(cond: &UpdateLineFor, q: &UpdateQuery) -> bool {
    let channels = cond.channels.as_ref().is_none_or(|cs| {
        cs.iter()
            .any(|c| match_channel(c, &q.channel, &q.fallback_channel))
    });
    let locales = cond
        .locales
        .as_ref()
        .is_none_or(|ls| ls.contains(&q.locale));
    let versions = cond.versions.as_ref().is_none_or(|vs| {
        vs.iter().any(|v| {
            compile_versions(v)
                .is_ok_and(|terms| match_version(&terms, &q.parsed_version).unwrap_or(false))
        })
    });
    let build_ids = cond.build_ids.as_ref().is_none_or(|bs| {
        bs.iter()
            .any(|b| BuildIdCmp::compile(b).is_ok_and(|c| c.matches(&q.build_id)))
    });
    channels && locales && versions && build_ids
}

fn update_line_v9(app: &AppRelease, ctx: &RenderCtx<'_>) -> Result<String, Error> {
    let q = ctx.query;
    let (bt, loc) = (q.build_target.as_str(), q.locale.as_str());
    let mut attrs: BTreeMap<&str, Cow<'_, str>> = BTreeMap::new();
    attrs.insert("appVersion", or_none(app.app_version_for(bt, loc)).into());
    attrs.insert(
        "buildID",
        app.build_id(bt, loc).map_err(Error::BadData)?.into(),
    );
    attrs.insert(
        "displayVersion",
        or_none(app.locale_or_top(
            bt,
            loc,
            |l| l.display_version.as_ref(),
            &app.display_version,
        ))
        .into(),
    );
    attrs.insert("type", ctx.update_type.as_str().into());
    for group in app.update_line.iter().flatten() {
        if group_applies(&group.for_, q) {
            for (key, value) in &group.fields {
                let text = match value {
                    Value::String(s) => Cow::Borrowed(s.as_str()),
                    Value::Bool(b) => Cow::Borrowed(bool_str(*b)),
                    other => Cow::Owned(other.to_string()),
                };
                attrs.insert(key.as_str(), text);
            }
        }
    }
    for key in ["detailsURL", "openURL", "notificationURL", "alertURL"] {
        if let Some(v) = attrs.get_mut(key) {
            if v.contains('%') {
                *v = Cow::Owned(with_locale(v, loc));
            }
        }
    }
    let mut line = String::with_capacity(256);
    line.push_str("    <update");
    for (key, value) in &attrs {
        // Borrowed: the blob's own text or a constant, which `plain_text` covers (the
        // `updateLine` URLs too) except under the names it leaves to the URL check; owned: a
        // substituted URL or a JSON value, checked.
        let plain = app.plain_text
            && matches!(value, Cow::Borrowed(_))
            && !matches!(*key, "fileUrls" | "fileUrl");
        push_blob_attr(&mut line, attr_name(key)?, value, plain)?;
    }
    line.push('>');
    Ok(line)
}

/// Does the client run exactly `from`'s build (its buildTarget or a platform aliased to the same one)?
fn from_release_matches(current: &AppRelease, from: &Release, q: &UpdateQuery) -> bool {
    let Blob::App(from) = &from.blob else {
        return false;
    };
    let real = current.resolve_platform(&q.build_target);
    let runs = |target: &str| {
        // A numeric buildID never equals the query's string in Balrog (Python `"50" == 50`).
        from.build_id_text(target, &q.locale)
            .is_ok_and(|b| !b.numeric && b.as_str() == q.build_id)
    };
    runs(&q.build_target)
        || runs(real)
        || current
            .platforms
            .keys()
            .any(|k| current.resolve_platform(k) == real && runs(k))
}

/// Why a patch has no URL: Balrog's `ValueError` (drops a partial, fails a complete) or a
/// missing key (`KeyError`, a 500 whatever the patch).
enum NoUrl {
    NotFound,
    Broken(String),
}

/// The patch URL: the patch's own `fileUrl`, else the blob's `fileUrls` for the channel.
fn patch_url(
    app: &AppRelease,
    patch: &Patch,
    is_complete: bool,
    q: &UpdateQuery,
) -> Result<String, NoUrl> {
    if let Some(url) = &patch.file_url {
        return Ok(url.clone());
    }
    if app.schema_version <= 3 {
        separated_url(app, patch, is_complete, q)
    } else {
        unified_url(app, patch, is_complete, q)
    }
}

/// Schemas 1-3 (`SeparatedFileUrlsMixin`): one template per channel (else the fallback
/// channel; no `*`), with `%FILENAME%`/`%PRODUCT%` from `ftpFilenames`/`bouncerProducts`.
fn separated_url(
    app: &AppRelease,
    patch: &Patch,
    is_complete: bool,
    q: &UpdateQuery,
) -> Result<String, NoUrl> {
    let broken = |what: &str| NoUrl::Broken(format!("release {}: {what}", app.name));
    let blocks = app.file_urls.as_ref();
    let template = [q.channel.as_str(), q.fallback_channel.as_str()]
        .iter()
        .find_map(|c| blocks.and_then(|b| b.get(*c)))
        .ok_or_else(|| broken("no fileUrls entry for the channel"))?;
    let crate::client::blob::FileUrl::Template(template) = template else {
        return Err(broken("fileUrls entries must be strings in this schema"));
    };
    let platform = app
        .platform(&q.build_target)
        .ok_or_else(|| broken("no such platform"))?;
    let ftp = platform
        .os_ftp
        .as_deref()
        .ok_or_else(|| broken("no OS_FTP"))?;
    let bouncer = platform
        .os_bouncer
        .as_deref()
        .ok_or_else(|| broken("no OS_BOUNCER"))?;
    let key = match (app.schema_version, is_complete) {
        (3, true) => "completes",
        (3, false) => "partials",
        (_, true) => "complete",
        (_, false) => "partial",
    };
    let name = |names: &Option<
        std::collections::BTreeMap<String, crate::client::blob::PatchNames>,
    >| match names.as_ref().and_then(|n| n.get(key)) {
        Some(crate::client::blob::PatchNames::One(s)) if app.schema_version < 3 => s.clone(),
        Some(crate::client::blob::PatchNames::ByFrom(m)) if app.schema_version == 3 => {
            m.get(&patch.from).cloned().unwrap_or_default()
        }
        _ => String::new(),
    };
    let (filename, product) = (name(&app.ftp_filenames), name(&app.bouncer_products));
    Ok(template
        .replace("%LOCALE%", &q.locale)
        .replace("%OS_FTP%", ftp)
        .replace("%FILENAME%", &filename)
        .replace("%PRODUCT%", &product)
        .replace("%OS_BOUNCER%", bouncer)
        .replace("%locale%", &q.locale)
        .replace("%os_ftp%", ftp)
        .replace("%filename%", &filename)
        .replace("%product%", &product)
        .replace("%os_bouncer%", bouncer))
}

/// Schemas 4+ (`UnifiedFileUrlsMixin`): the first `fileUrls` block that exists among
/// [channel, fallback channel, `*`], with no fall-through once a block exists.
fn unified_url(
    app: &AppRelease,
    patch: &Patch,
    is_complete: bool,
    q: &UpdateQuery,
) -> Result<String, NoUrl> {
    let blocks = app.file_urls.as_ref().ok_or(NoUrl::NotFound)?;
    let block = [q.channel.as_str(), q.fallback_channel.as_str(), "*"]
        .iter()
        .find_map(|c| match blocks.get(*c) {
            Some(crate::client::blob::FileUrl::Block(b)) if !b.is_empty() => Some(b),
            _ => None,
        })
        .ok_or(NoUrl::NotFound)?;
    let templates = if is_complete {
        &block.completes
    } else {
        &block.partials
    };
    let template = templates
        .get(&patch.from)
        .filter(|t| !t.as_str().is_empty())
        .ok_or(NoUrl::NotFound)?;
    let platform = app.platform(&q.build_target);
    let ftp = platform.and_then(|p| p.os_ftp.as_deref());
    let bouncer = platform.and_then(|p| p.os_bouncer.as_deref());
    // Split when the release was parsed: one pass, the same bytes as the steps below.
    if let Some(url) = template.fill(&q.locale, ftp, bouncer) {
        return Ok(url);
    }
    let mut url = with_locale(template.as_str(), &q.locale);
    if !url.contains('%') {
        return Ok(url);
    }
    // Balrog raises (500) when the platform lacks OS_FTP/OS_BOUNCER even if the template does
    // not use them; Kiln substitutes what is there (see the crate docs' differences).
    if let Some(ftp) = ftp {
        replace(&mut url, "%OS_FTP%", ftp);
        replace(&mut url, "%os_ftp%", ftp);
    }
    if let Some(bouncer) = bouncer {
        replace(&mut url, "%OS_BOUNCER%", bouncer);
        replace(&mut url, "%os_bouncer%", bouncer);
    }
    Ok(url)
}

fn patch_line(
    app: &AppRelease,
    patch: &Patch,
    is_complete: bool,
    ctx: &RenderCtx<'_>,
) -> Result<Option<String>, Error> {
    let q = ctx.query;
    if patch.from != "*" {
        match ctx.releases.get(&patch.from) {
            Some(from) if from_release_matches(app, from, q) => {}
            _ => return Ok(None),
        }
    }
    let mut url = match patch_url(app, patch, is_complete, q) {
        Ok(url) => url,
        Err(NoUrl::NotFound) if !is_complete => return Ok(None),
        Err(NoUrl::NotFound) => {
            return Err(Error::Internal(format!(
                "release {} has no URL for a complete patch",
                app.name
            )))
        }
        Err(NoUrl::Broken(why)) => return Err(Error::Internal(why)),
    };
    if let Some(force) = q.force.query_value() {
        if ctx
            .client
            .special_force_hosts
            .iter()
            .any(|h| url.starts_with(h.as_str()))
        {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str("force=");
            url.push_str(force);
        }
    }
    if ctx
        .client
        .allowlisted_domains
        .forbids(&url, Some(&q.product))
    {
        return Ok(None);
    }
    let mut line = String::with_capacity(128 + url.len() + patch.hash_value.len());
    line.push_str("        <patch");
    let plain = app.plain_text;
    let kind = if is_complete { "complete" } else { "partial" };
    push_blob_attr(&mut line, "type", kind, true)?;
    push_attr(&mut line, "URL", &url)?;
    let hash_function = or_none(app.hash_function.as_deref());
    push_blob_attr(&mut line, "hashFunction", hash_function, plain)?;
    push_blob_attr(&mut line, "hashValue", &patch.hash_value, plain)?;
    push_blob_attr(&mut line, "size", patch.filesize.as_str(), plain)?;
    if app.schema_version >= 8 {
        if let Some(proof) = &patch.bin_trans_inclusion_proof {
            push_blob_attr(&mut line, "binTransInclusionProof", proof, plain)?;
        }
    }
    line.push_str("/>");
    Ok(Some(line))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_values_keep_balrogs_ampersands_and_cannot_leave_their_attribute() {
        let a = |v: &str| attr(v).unwrap().into_owned();
        // Balrog's rule: `&amp;` stays, every other `&` becomes `&amp;`.
        assert_eq!(a("a&b&amp;c&&"), "a&amp;b&amp;c&amp;&amp;");
        assert_eq!(a("none"), "none");
        assert_eq!(a("ünïcode"), "ünïcode");
        assert_eq!(
            a("x\"/><patch URL=\"http://evil/"),
            "x&quot;/&gt;&lt;patch URL=&quot;http://evil/"
        );
        assert!(attr("a\u{0}b").is_err());
        assert!(attr("a\u{1b}[31m").is_err());
        assert_eq!(a("tab\there"), "tab\there");
    }

    #[test]
    fn placeholders_are_replaced_as_str_replace_does() {
        for text in [
            "",
            "plain",
            "%LOCALE%",
            "a%LOCALE%b%LOCALE%",
            "%%LOCALE%%",
            "%LOCALE%LOCALE%",
            "ü%LOCALEü%LOCALE%é",
            "%OS_FTP%LOCALE%",
        ] {
            for to in ["", "de", "%LOCALE%", "x%"] {
                let mut replaced = text.to_owned();
                replace(&mut replaced, "%LOCALE%", to);
                assert_eq!(replaced, text.replace("%LOCALE%", to), "{text:?} -> {to:?}");
            }
        }
    }

    #[test]
    fn plain_blobs_are_copied_and_everything_else_is_still_escaped() {
        use crate::client::query;
        use serde_json::json;
        let blob = |fields: serde_json::Value| {
            json!({
                "name": "R", "schema_version": 9, "hashFunction": "sha512",
                "appVersion": "99.0", "displayVersion": "99.0",
                "fileUrls": {"*": {"completes": {"*": "https://h/?os=%OS_BOUNCER%&lang=%LOCALE%"}}},
                "updateLine": [{"for": {}, "fields": fields}],
                "platforms": {"Linux_x86_64-gcc3": {"OS_BOUNCER": "linux64", "locales": {"de": {
                    "buildID": "20200101000000",
                    "completes": [{"from": "*", "filesize": 5, "hashValue": "ab"}]
                }}}}
            })
        };
        let q = query::parse(
            "/update/3/Firefox/98.0/20200100000000/Linux_x86_64-gcc3/de/release/Linux/default/default/update.xml",
            "",
            "",
        )
        .unwrap()
        .unwrap();
        let client = ClientConfig {
            allowlisted_domains: serde_json::from_value(json!({"h": ["Firefox"]})).unwrap(),
            ..ClientConfig::default()
        };
        let render_blob = |value: serde_json::Value| {
            let release = Release::load("R", 1, &value).unwrap();
            let ctx = RenderCtx {
                query: &q,
                update_type: UpdateType::Minor,
                client: &client,
                releases: &Releases::new(),
            };
            let Blob::App(app) = &release.blob else {
                unreachable!()
            };
            (app.plain_text, render(&release, &ctx).unwrap())
        };
        let (plain, doc) = render_blob(blob(json!({"detailsURL": "https://h/%LOCALE%/"})));
        assert!(plain);
        assert!(doc.contains(" detailsURL=\"https://h/de/\""), "{doc}");
        assert!(
            doc.contains(" URL=\"https://h/?os=linux64&amp;lang=de\""),
            "{doc}"
        );
        assert!(doc.contains(" hashValue=\"ab\" size=\"5\""), "{doc}");
        // Under a URL's name the check still runs; a blob with `&` elsewhere is not plain.
        let (plain, doc) = render_blob(blob(json!({"fileUrl": "a&b"})));
        assert!(plain);
        assert!(doc.contains(" fileUrl=\"a&amp;b\""), "{doc}");
        let (plain, doc) = render_blob(blob(json!({"actions": "a&b"})));
        assert!(!plain);
        assert!(doc.contains(" actions=\"a&amp;b\""), "{doc}");
    }

    #[test]
    fn attribute_names_from_data_are_xml_names() {
        assert_eq!(attr_name("detailsURL").unwrap(), "detailsURL");
        assert_eq!(attr_name("_x-y.z").unwrap(), "_x-y.z");
        for bad in ["", "1x", "a b", "a=\"1\" b", "a>", "x\u{0}"] {
            assert!(attr_name(bad).is_err(), "{bad:?}");
        }
    }
}
