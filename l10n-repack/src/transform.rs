//! The tree transformations of a repack: localizing an en-US tree and adding a partner's files.

use std::path::Path;

use crate::sources::{is_localized_app_file, LocaleSource, PartnerSource};
use crate::tree::{Node, Tree};
use crate::{omni, precomplete, Locale, Platform, RepackError};

/// Checks that an unpacked build holds exactly the platform's app dir and its resources dir.
pub(crate) fn check_layout(
    tree: &Tree,
    platform: Platform,
    path: &Path,
) -> Result<(), RepackError> {
    let layout = |message: String| RepackError::UnexpectedLayout {
        path: path.to_owned(),
        message,
    };
    for top in tree.top_level() {
        if top != platform.app_root() {
            return Err(layout(format!(
                "top-level entry {top:?} is not {}/",
                platform.app_root()
            )));
        }
    }
    if tree
        .file(&format!("{}/omni.ja", platform.resources_dir()))
        .is_none()
    {
        return Err(layout(format!("no {}/omni.ja", platform.resources_dir())));
    }
    Ok(())
}

/// The `locale` build from the en-US tree: localized files replaced, `update.locale` written,
/// `precomplete` regenerated. Everything else keeps its bytes (shared, not copied).
pub(crate) fn localize(
    base: &Tree,
    platform: Platform,
    locale: &Locale,
    source: Option<&LocaleSource>,
    what: &Path,
) -> Result<Tree, RepackError> {
    let mut tree = base.clone();
    let resources = platform.resources_dir();
    let prefix = format!("{resources}/");
    if let Some(source) = source {
        tree.remove_where(|path, node| {
            matches!(node, Node::File { .. } | Node::Symlink(_))
                && path
                    .strip_prefix(&prefix)
                    .is_some_and(is_localized_app_file)
        });
        for (rel, data) in &source.app {
            tree.put_file(&format!("{prefix}{rel}"), data.clone());
        }
        let omni_path = format!("{prefix}omni.ja");
        let base_omni =
            tree.file(&omni_path)
                .cloned()
                .ok_or_else(|| RepackError::UnexpectedLayout {
                    path: what.to_owned(),
                    message: format!("no {omni_path}"),
                })?;
        let localized = omni::localize(&base_omni, locale, &source.omni, &what.join("omni.ja"))?;
        tree.put_file(&omni_path, localized);
    }
    tree.put_file(
        &format!("{prefix}update.locale"),
        format!("{locale}\n").into_bytes(),
    );
    precomplete::regenerate(&mut tree, platform);
    Ok(tree)
}

/// Adds a partner's `distribution/` and `extensions/` to the resources dir and regenerates
/// `precomplete` (which leaves `distribution/` out, as Mozilla's script does).
pub(crate) fn add_partner(tree: &mut Tree, platform: Platform, partner: &PartnerSource) {
    let resources = platform.resources_dir();
    for (rel, data) in &partner.distribution {
        tree.put_file(&format!("{resources}/distribution/{rel}"), data.clone());
    }
    for (rel, data) in &partner.extensions {
        tree.put_file(&format!("{resources}/extensions/{rel}"), data.clone());
    }
    precomplete::regenerate(tree, platform);
}
