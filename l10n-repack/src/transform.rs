//! The tree transformations of a repack: localizing an en-US tree and adding a partner's files.

use std::path::Path;

use crate::sources::{is_localized_app_file, LocaleSource, PartnerSource};
use crate::tree::{Node, Tree};
use crate::{omni, precomplete, Locale, Platform, Product, RepackError};

/// Checks that an unpacked build holds exactly the product's app dir for the platform and its
/// resources dir.
pub(crate) fn check_layout(
    tree: &Tree,
    platform: Platform,
    product: &Product,
    path: &Path,
) -> Result<(), RepackError> {
    let root = platform.app_root(product);
    let resources = platform.resources_dir(product);
    let layout = |message: String| RepackError::UnexpectedLayout {
        path: path.to_owned(),
        message,
    };
    for top in tree.top_level() {
        if top != root {
            return Err(layout(format!("top-level entry {top:?} is not {root}/")));
        }
    }
    if tree.file(&format!("{resources}/omni.ja")).is_none() {
        return Err(layout(format!("no {resources}/omni.ja")));
    }
    Ok(())
}

/// The `locale` build from the en-US tree: localized files replaced, `update.locale` written,
/// `precomplete` regenerated. Everything else keeps its bytes (shared, not copied).
pub(crate) fn localize(
    base: &Tree,
    platform: Platform,
    product: &Product,
    locale: &Locale,
    source: Option<&LocaleSource>,
    what: &Path,
) -> Result<Tree, RepackError> {
    let mut tree = base.clone();
    let resources = platform.resources_dir(product);
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
    precomplete::regenerate(&mut tree, platform, product);
    Ok(tree)
}

/// Adds a partner's `distribution/` and `extensions/` to the resources dir and regenerates
/// `precomplete` (which leaves `distribution/` out, as Mozilla's script does).
pub(crate) fn add_partner(
    tree: &mut Tree,
    platform: Platform,
    product: &Product,
    partner: &PartnerSource,
) {
    let resources = platform.resources_dir(product);
    for (rel, data) in &partner.distribution {
        tree.put_file(&format!("{resources}/distribution/{rel}"), data.clone());
    }
    for (rel, data) in &partner.extensions {
        tree.put_file(&format!("{resources}/extensions/{rel}"), data.clone());
    }
    precomplete::regenerate(tree, platform, product);
}
