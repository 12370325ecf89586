//! [`extract`]: unpacks a build archive into a directory through the same hardened reader the
//! repacks use, so the release pipeline can make update MARs from (and compare) the real trees.

use std::fmt;
use std::path::Path;

use crate::archive::{self, Limits};
use crate::error::RepackError;
use crate::locale::ArchiveFormat;
use crate::tree::Node;

/// The archive format of a file name (`.tar.xz`, `.tar.gz`, `.zip`), if it is one.
pub fn format_of(name: &str) -> Option<ArchiveFormat> {
    [
        ArchiveFormat::TarXz,
        ArchiveFormat::TarGz,
        ArchiveFormat::Zip,
    ]
    .into_iter()
    .find(|f| name.ends_with(&format!(".{}", f.extension())))
}

/// The format of `archive` from its name, and its bytes unpacked into a validated tree.
fn read_tree(archive: &Path) -> Result<crate::tree::Tree, RepackError> {
    let name = archive.file_name().unwrap_or_default().to_string_lossy();
    let format = format_of(&name).ok_or(RepackError::InvalidValue {
        what: "archive",
        value: name.to_string(),
        reason: "not a .tar.xz, .tar.gz or .zip",
    })?;
    let bytes = std::fs::read(archive).map_err(RepackError::io(archive))?;
    archive::unpack(&bytes, format, archive, Limits::default())
}

/// Calls `visit(path, contents)` for every regular file of `archive`, in path order, through
/// the same hardened reader as [`extract`] but without writing anything: for checks that only
/// read a build (the release pipeline's certify compares partner builds this way).
pub fn read_files(archive: &Path, mut visit: impl FnMut(&str, &[u8])) -> Result<(), RepackError> {
    for (path, node) in read_tree(archive)?.iter() {
        if let Node::File { data, .. } = node {
            visit(path, data);
        }
    }
    Ok(())
}

/// Unpacks `archive` into `dest` (created if missing): directories, files (mode 0755 for
/// executables, 0644 otherwise) and symlinks that stay inside the tree. Every entry is checked
/// as for a repack (no `..`, no absolute names, no devices, bounded sizes) before anything is
/// written.
pub fn extract(archive: &Path, dest: &Path) -> Result<(), RepackError> {
    let tree = read_tree(archive)?;
    std::fs::create_dir_all(dest).map_err(RepackError::io(dest))?;
    for (path, node) in tree.iter() {
        let target = dest.join(path);
        match node {
            Node::Dir => std::fs::create_dir_all(&target).map_err(RepackError::io(&target))?,
            Node::File { data, executable } => {
                std::fs::write(&target, data.as_slice()).map_err(RepackError::io(&target))?;
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    let mode = if *executable { 0o755 } else { 0o644 };
                    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode))
                        .map_err(RepackError::io(&target))?;
                }
                #[cfg(not(unix))]
                let _ = executable;
            }
            Node::Symlink(link) => {
                #[cfg(unix)]
                std::os::unix::fs::symlink(link, &target).map_err(RepackError::io(&target))?;
                #[cfg(not(unix))]
                let _ = link;
            }
        }
    }
    Ok(())
}

/// Rewrites files of a build as [`inject`] packs it: e.g. signs a Windows build's executables
/// (Authenticode), so every repack made from the build carries the same signed binaries. The
/// crate holds no keys; the caller's implementation does.
pub trait BuildFileSigner: fmt::Debug {
    /// The new bytes of the file at `path` (relative to the archive root, e.g.
    /// `firefox/xul.dll`), or `None` to keep it as it is.
    fn sign_file(&self, path: &str, data: &[u8]) -> Result<Option<Vec<u8>>, String>;
}

/// Writes `out`: the build `archive` of `product` for `platform` with `files` (relative to the resources dir,
/// e.g. `kiln-update.toml`) added or replaced, every file `signer` rewrites replaced (executable
/// bits kept) and `precomplete` regenerated, packed as reproducibly as a repack. This is how a
/// pipeline bakes per-release configuration into the en-US build before its repacks (which keep
/// the file byte-identical in every locale), and signs its binaries.
pub fn inject(
    archive: &Path,
    platform: crate::Platform,
    product: &crate::Product,
    files: &[(&str, &[u8])],
    signer: Option<&dyn BuildFileSigner>,
    out: &Path,
) -> Result<(), RepackError> {
    let format = platform.format();
    let bytes = std::fs::read(archive).map_err(RepackError::io(archive))?;
    let mut tree = archive::unpack(&bytes, format, archive, Limits::default())?;
    crate::transform::check_layout(&tree, platform, product, archive)?;
    for (rel, data) in files {
        let rel =
            crate::tree::check_entry_name(rel).map_err(|reason| RepackError::InvalidValue {
                what: "injected file",
                value: (*rel).to_owned(),
                reason,
            })?;
        tree.put_file(
            &format!("{}/{rel}", platform.resources_dir(product)),
            data.to_vec(),
        );
    }
    if let Some(signer) = signer {
        tree.rewrite_files(|path, data| {
            signer
                .sign_file(path, data)
                .map_err(|message| RepackError::Signing {
                    path: archive.to_owned(),
                    entry: path.to_owned(),
                    message,
                })
        })?;
    }
    crate::precomplete::regenerate(&mut tree, platform, product);
    let packed = archive::pack(&tree, format, &archive::MemberCache::default(), out)?;
    crate::output::write_atomic(out, &packed)
}
