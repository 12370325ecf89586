//! Choosing an update from the parsed XML as Firefox's `selectUpdate` does, and the validated
//! [`UpdateOffer`] the rest of the updater works with.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use mar::update::compare_versions;

use crate::xml::{Attributes, UpdateElement};

/// A patch's kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PatchType {
    /// A complete update (applies to any older install).
    Complete,
    /// A partial update (applies only to the exact from-build).
    Partial,
}

impl PatchType {
    /// `complete` or `partial`.
    pub fn as_str(self) -> &'static str {
        match self {
            PatchType::Complete => "complete",
            PatchType::Partial => "partial",
        }
    }
}

/// One validated `<patch>`: an `http(s)` URL, a SHA-512 and a size in `1..=max_archive_bytes`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdatePatch {
    /// Complete or partial.
    #[serde(rename = "type")]
    pub patch_type: PatchType,
    /// Where to download it.
    pub url: String,
    /// SHA-512 of the file, lowercase hex.
    pub sha512: String,
    /// The advertised size: the download is cut at this many bytes.
    pub size: u64,
}

/// An update the server offers and the client should take.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateOffer {
    /// `minor` or `major`.
    pub update_type: String,
    /// The new version (`appVersion`).
    pub app_version: String,
    /// The version to show (`displayVersion`, defaulting to `appVersion`).
    pub display_version: String,
    /// The new build's ID.
    pub build_id: String,
    /// `detailsURL`, if any.
    pub details_url: Option<String>,
    /// Seconds to wait after the download before prompting to restart (`promptWaitTime`).
    pub prompt_wait_time: Option<u64>,
    /// `showPrompt`: prompt at once instead of waiting.
    pub show_prompt: bool,
    /// `unsupported="true"`: the system is no longer supported; there is nothing to download.
    pub unsupported: bool,
    /// The patches in the order to try them: the partial (preferred) first, then the complete.
    /// A supported offer always has exactly one complete.
    pub patches: Vec<UpdatePatch>,
    /// The check URL whose answer gave this offer (set by [`crate::Updater::check`]; `None` from
    /// [`select`]). A patch is downloaded over http only when this is an http URL
    /// ([`crate::transport`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_url: Option<String>,
}

impl UpdateOffer {
    /// The complete patch.
    pub fn complete(&self) -> Option<&UpdatePatch> {
        self.patches
            .iter()
            .find(|p| p.patch_type == PatchType::Complete)
    }

    /// The partial patch, if offered.
    pub fn partial(&self) -> Option<&UpdatePatch> {
        self.patches
            .iter()
            .find(|p| p.patch_type == PatchType::Partial)
    }
}

fn patch(attrs: &Attributes, max_archive_bytes: u64) -> Option<UpdatePatch> {
    let patch_type = match attrs.get("type")?.as_str() {
        "complete" => PatchType::Complete,
        "partial" => PatchType::Partial,
        _ => return None,
    };
    let url = attrs.get("URL")?;
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return None;
    }
    if !attrs.get("hashFunction")?.eq_ignore_ascii_case("sha512") {
        return None;
    }
    let sha512 = attrs.get("hashValue")?.to_ascii_lowercase();
    if sha512.len() != 128 || !sha512.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let size: u64 = attrs.get("size")?.parse().ok()?;
    if size == 0 || size > max_archive_bytes {
        return None;
    }
    Some(UpdatePatch {
        patch_type,
        url: url.clone(),
        sha512,
        size,
    })
}

fn offer(update: &UpdateElement, max_archive_bytes: u64) -> Option<UpdateOffer> {
    let a = &update.attributes;
    let unsupported = a.get("unsupported").is_some_and(|v| v == "true");
    let app_version = match a.get("appVersion").or_else(|| a.get("version")) {
        Some(v) => v.clone(),
        None if unsupported => String::new(),
        None => return None,
    };
    let mut complete = None;
    let mut partial = None;
    for attrs in &update.patches {
        match patch(attrs, max_archive_bytes) {
            Some(p) if p.patch_type == PatchType::Complete && complete.is_none() => {
                complete = Some(p)
            }
            Some(p) if p.patch_type == PatchType::Partial && partial.is_none() => partial = Some(p),
            _ => {}
        }
    }
    if complete.is_none() && !unsupported {
        return None; // "it must have at least a <patch> block whose type is complete"
    }
    let patches = if unsupported {
        Vec::new()
    } else {
        partial.into_iter().chain(complete).collect()
    };
    Some(UpdateOffer {
        update_type: a.get("type").cloned().unwrap_or_else(|| "minor".to_owned()),
        display_version: a
            .get("displayVersion")
            .cloned()
            .unwrap_or_else(|| app_version.clone()),
        app_version,
        build_id: a.get("buildID").cloned().unwrap_or_default(),
        details_url: a.get("detailsURL").cloned(),
        prompt_wait_time: a.get("promptWaitTime").and_then(|v| v.parse().ok()),
        show_prompt: a.get("showPrompt").is_some_and(|v| v == "true"),
        unsupported,
        patches,
        check_url: None,
    })
}

/// Firefox's choice among `<update>` elements: skip older versions and the same version with the
/// same build ID; skip unknown types and updates without a valid complete patch; take the newest
/// `minor`, else the newest `major`.
pub fn select(
    updates: &[UpdateElement],
    current_version: &str,
    current_build_id: &str,
    max_archive_bytes: u64,
) -> Option<UpdateOffer> {
    let mut best: [Option<UpdateOffer>; 2] = [None, None];
    for update in updates {
        let Some(candidate) = offer(update, max_archive_bytes) else {
            continue;
        };
        if !candidate.unsupported {
            match compare_versions(&candidate.app_version, current_version) {
                Ordering::Less => continue,
                Ordering::Equal if candidate.build_id == current_build_id => continue,
                _ => {}
            }
        }
        let slot = match candidate.update_type.as_str() {
            "minor" => 0,
            "major" => 1,
            _ => continue,
        };
        let newer = best[slot].as_ref().is_none_or(|b| {
            compare_versions(&candidate.app_version, &b.app_version) == Ordering::Greater
        });
        if newer {
            best[slot] = Some(candidate);
        }
    }
    let [minor, major] = best;
    minor.or(major)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::parse;

    fn doc(updates: &str) -> Vec<UpdateElement> {
        parse(format!("<updates>{updates}</updates>").as_bytes()).unwrap()
    }

    fn patch_xml(kind: &str, size: u64) -> String {
        format!(
            "<patch type=\"{kind}\" URL=\"https://d/{kind}.mar\" hashFunction=\"sha512\" hashValue=\"{}\" size=\"{size}\"/>",
            "a".repeat(128)
        )
    }

    #[test]
    fn prefers_the_partial_and_requires_a_complete() {
        let both = doc(&format!(
            "<update type=\"minor\" appVersion=\"121.0\" buildID=\"2\">{}{}</update>",
            patch_xml("complete", 10),
            patch_xml("partial", 5)
        ));
        let offer = select(&both, "120.0", "1", 1 << 30).unwrap();
        assert_eq!(offer.patches[0].patch_type, PatchType::Partial);
        assert_eq!(offer.complete().unwrap().size, 10);
        assert_eq!(offer.display_version, "121.0");
        let partial_only = doc(&format!(
            "<update type=\"minor\" appVersion=\"121.0\" buildID=\"2\">{}</update>",
            patch_xml("partial", 5)
        ));
        assert!(select(&partial_only, "120.0", "1", 1 << 30).is_none());
        let zero = doc(&format!(
            "<update type=\"minor\" appVersion=\"121.0\" buildID=\"2\">{}</update>",
            patch_xml("complete", 0)
        ));
        assert!(select(&zero, "120.0", "1", 1 << 30).is_none());
    }

    #[test]
    fn skips_older_and_same_build_and_unknown_types() {
        let c = patch_xml("complete", 10);
        let updates = doc(&format!(
            "<update type=\"minor\" appVersion=\"119.0\" buildID=\"2\">{c}</update>"
        ));
        assert!(select(&updates, "120.0", "1", 1 << 30).is_none());
        let same = doc(&format!(
            "<update type=\"minor\" appVersion=\"120.0\" buildID=\"1\">{c}</update>"
        ));
        assert!(select(&same, "120.0", "1", 1 << 30).is_none());
        assert!(select(&same, "120.0", "0", 1 << 30).is_some());
        let unknown = doc(&format!(
            "<update type=\"weird\" appVersion=\"121.0\" buildID=\"2\">{c}</update>"
        ));
        assert!(select(&unknown, "120.0", "1", 1 << 30).is_none());
        let two = doc(&format!(
            "<update type=\"major\" appVersion=\"130.0\" buildID=\"3\">{c}</update><update type=\"minor\" appVersion=\"121.0\" buildID=\"2\" promptWaitTime=\"0\" showPrompt=\"true\">{c}</update>"
        ));
        let offer = select(&two, "120.0", "1", 1 << 30).unwrap();
        assert_eq!(
            (
                offer.app_version.as_str(),
                offer.prompt_wait_time,
                offer.show_prompt
            ),
            ("121.0", Some(0), true)
        );
        let unsupported =
            doc("<update type=\"minor\" unsupported=\"true\" detailsURL=\"https://x\"></update>");
        assert!(
            select(&unsupported, "120.0", "1", 1 << 30)
                .unwrap()
                .unsupported
        );
    }
}
