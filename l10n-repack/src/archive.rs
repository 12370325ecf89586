//! Unpacking and reproducible packing of `.tar.xz`, `.tar.gz` and `.zip` builds.
//!
//! Unpacking validates every entry (see [`Limits`] and [`RepackError::HostileEntry`]) before
//! anything is used. Packing is reproducible: entries in sorted path order (directories before
//! their contents), timestamp [`MTIME`], uid/gid 0 with empty owner names, mode 0755 for
//! directories and executables and 0644 otherwise, and fixed compression settings
//! ([`XZ_PRESET`], [`DEFLATE_LEVEL`]), so equal trees always give byte-identical archives.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::tree::{check_entry_name, symlink_stays_inside, Node, Tree};
use crate::{ArchiveFormat, RepackError};

/// The timestamp of every packed entry: 2000-01-01T00:00:00Z (zip: its 1980 epoch, no time).
pub const MTIME: u64 = 946_684_800;
/// The xz preset of `.tar.xz` outputs (single-threaded, CRC64 check).
pub const XZ_PRESET: u32 = 6;
/// The gzip level of `.tar.gz` outputs and the deflate level of `.zip` entries.
pub const DEFLATE_LEVEL: u32 = 6;

/// Bounds enforced while unpacking, against archive bombs.
///
/// Defaults: 100 000 entries, 4 GiB per entry, 16 GiB in total.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most entries an archive may hold.
    pub max_entries: u64,
    /// Largest unpacked size of one entry, in bytes.
    pub max_entry_bytes: u64,
    /// Largest unpacked size of the whole archive, in bytes.
    pub max_total_bytes: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_entries: 100_000,
            max_entry_bytes: 4 << 30,
            max_total_bytes: 16 << 30,
        }
    }
}

/// Counts entries and bytes against [`Limits`] with saturating arithmetic.
struct Budget<'a> {
    limits: Limits,
    path: &'a Path,
    entries: u64,
    bytes: u64,
}

impl Budget<'_> {
    fn entry(&mut self) -> Result<(), RepackError> {
        self.entries = self.entries.saturating_add(1);
        if self.entries > self.limits.max_entries {
            return Err(self.exceeded("entry count", self.limits.max_entries));
        }
        Ok(())
    }

    /// Reads one entry's data, never more than the limits allow.
    fn read(&mut self, reader: &mut dyn Read) -> Result<Vec<u8>, RepackError> {
        let cap = self
            .limits
            .max_entry_bytes
            .min(self.limits.max_total_bytes - self.bytes.min(self.limits.max_total_bytes));
        let mut data = Vec::new();
        reader
            .take(cap.saturating_add(1))
            .read_to_end(&mut data)
            .map_err(|e| self.corrupt(e.to_string()))?;
        if data.len() as u64 > cap {
            return Err(if data.len() as u64 > self.limits.max_entry_bytes {
                self.exceeded("entry size", self.limits.max_entry_bytes)
            } else {
                self.exceeded("total size", self.limits.max_total_bytes)
            });
        }
        self.bytes = self.bytes.saturating_add(data.len() as u64);
        Ok(data)
    }

    fn exceeded(&self, what: &'static str, limit: u64) -> RepackError {
        RepackError::LimitExceeded {
            path: self.path.to_owned(),
            what,
            limit,
        }
    }

    fn corrupt(&self, message: String) -> RepackError {
        RepackError::CorruptArchive {
            path: self.path.to_owned(),
            message,
        }
    }

    fn hostile(&self, entry: &str, reason: &'static str) -> RepackError {
        RepackError::HostileEntry {
            path: self.path.to_owned(),
            entry: entry.to_owned(),
            reason,
        }
    }
}

/// Unpacks `bytes` (an archive of `format` read from `path`) into a validated tree.
pub(crate) fn unpack(
    bytes: &[u8],
    format: ArchiveFormat,
    path: &Path,
    limits: Limits,
) -> Result<Tree, RepackError> {
    let mut budget = Budget {
        limits,
        path,
        entries: 0,
        bytes: 0,
    };
    match format {
        ArchiveFormat::TarXz => unpack_tar(
            liblzma::read::XzDecoder::new_multi_decoder(bytes),
            &mut budget,
        ),
        ArchiveFormat::TarGz => unpack_tar(flate2::read::MultiGzDecoder::new(bytes), &mut budget),
        ArchiveFormat::Zip => unpack_zip(bytes, &mut budget),
    }
}

fn add(tree: &mut Tree, budget: &Budget<'_>, raw: &str, node: Node) -> Result<(), RepackError> {
    let name = match check_entry_name(raw) {
        Ok(name) => name,
        // The root entry of `tar -C dir .` archives.
        Err(_) if raw == "./" || raw == "." => return Ok(()),
        Err(reason) => return Err(budget.hostile(raw, reason)),
    };
    if let Node::Symlink(target) = &node {
        if !symlink_stays_inside(&name, target) {
            return Err(budget.hostile(raw, "symlink points outside the archive"));
        }
    }
    if !tree.insert(&name, node) {
        return Err(budget.hostile(raw, "duplicate entry"));
    }
    Ok(())
}

fn unpack_tar(reader: impl Read, budget: &mut Budget<'_>) -> Result<Tree, RepackError> {
    let mut archive = tar::Archive::new(reader);
    let mut tree = Tree::default();
    let entries = archive
        .entries()
        .map_err(|e| budget.corrupt(e.to_string()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| budget.corrupt(e.to_string()))?;
        budget.entry()?;
        let raw_bytes = entry.path_bytes().into_owned();
        let raw = String::from_utf8(raw_bytes)
            .map_err(|_| budget.hostile("<non-UTF-8 name>", "entry name is not UTF-8"))?;
        let kind = entry.header().entry_type();
        let node = match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let mode = entry
                    .header()
                    .mode()
                    .map_err(|e| budget.corrupt(e.to_string()))?;
                let data = budget.read(&mut entry)?;
                Node::File {
                    data: Arc::new(data),
                    executable: mode & 0o111 != 0,
                }
            }
            tar::EntryType::Directory => Node::Dir,
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| String::from_utf8_lossy(&t).into_owned())
                    .unwrap_or_default();
                Node::Symlink(target)
            }
            tar::EntryType::Link => {
                return Err(budget.hostile(&raw, "hard links are not supported"))
            }
            _ => {
                return Err(budget.hostile(&raw, "unsupported entry type (device, fifo or unknown)"))
            }
        };
        add(&mut tree, budget, &raw, node)?;
    }
    Ok(tree)
}

fn unpack_zip(bytes: &[u8], budget: &mut Budget<'_>) -> Result<Tree, RepackError> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| budget.corrupt(e.to_string()))?;
    let mut tree = Tree::default();
    for index in 0..archive.len() {
        budget.entry()?;
        let mut file = archive
            .by_index(index)
            .map_err(|e| budget.corrupt(e.to_string()))?;
        let raw = file
            .name()
            .map_err(|_| budget.hostile("<undecodable name>", "entry name is not UTF-8"))?
            .into_owned();
        if file.size() > budget.limits.max_entry_bytes {
            return Err(budget.exceeded("entry size", budget.limits.max_entry_bytes));
        }
        let node = if file.is_dir() {
            Node::Dir
        } else if file.is_symlink() {
            let target = budget.read(&mut file)?;
            Node::Symlink(String::from_utf8_lossy(&target).into_owned())
        } else {
            let executable = file.unix_mode().is_some_and(|m| m & 0o111 != 0);
            let data = budget.read(&mut file)?;
            Node::File {
                data: Arc::new(data),
                executable,
            }
        };
        add(&mut tree, budget, &raw, node)?;
    }
    Ok(tree)
}

/// Normalised permission bits of a node.
fn mode(node: &Node) -> u32 {
    match node {
        Node::Dir
        | Node::File {
            executable: true, ..
        } => 0o755,
        Node::File {
            executable: false, ..
        } => 0o644,
        Node::Symlink(_) => 0o777,
    }
}

/// Files at least this large are compressed on their own (a separate xz/gzip member, or a
/// zip entry compressed once) and cached, so every job of a platform reuses the compressed
/// bytes of the shared binaries instead of compressing them again. 256 KiB: a build's helper
/// executables and bundled extensions are a few hundred KiB each, and compressing them again
/// for every locale cost more than the localized files themselves; below that, a file's own
/// stream would cost more in lost context than its compression takes.
pub const MEMBER_THRESHOLD: usize = 256 << 10;

/// One piece of a tar stream, compressed as its own xz stream or gzip member.
enum Segment {
    /// Headers and data of small entries (and, last, the end-of-archive blocks).
    Small(std::ops::Range<usize>),
    /// One large file: its header(s), data and padding.
    Large {
        range: std::ops::Range<usize>,
        data: Arc<Vec<u8>>,
    },
}

/// A cached member: the file bytes it was made from (for the identity check) and the member.
type CachedMember = (Arc<Vec<u8>>, Arc<Vec<u8>>);

/// Compressed members of large files, shared by every job that packs the same bytes.
///
/// A hit requires the same header bytes (path, mode, size) *and* the same bytes: the same
/// shared buffer (`Arc::ptr_eq`, the en-US binaries every job carries) or equal contents (a
/// partner build's localized `omni.ja`, identical to its locale build's), so a cached member
/// always holds exactly the bytes it replaces. Member boundaries depend only on the tree, never
/// on what is cached, so outputs stay reproducible.
#[derive(Debug, Default)]
pub(crate) struct MemberCache {
    members: Mutex<HashMap<Vec<u8>, CachedMember>>,
}

impl MemberCache {
    fn get(&self, key: &[u8], data: &Arc<Vec<u8>>) -> Option<Arc<Vec<u8>>> {
        let members = self.members.lock().unwrap_or_else(|e| e.into_inner());
        match members.get(key) {
            Some((cached, member)) if Arc::ptr_eq(cached, data) || cached == data => {
                Some(member.clone())
            }
            _ => None,
        }
    }

    fn insert(&self, key: Vec<u8>, data: &Arc<Vec<u8>>, member: Arc<Vec<u8>>) {
        let mut members = self.members.lock().unwrap_or_else(|e| e.into_inner());
        members.insert(key, (data.clone(), member));
    }

    fn get_or_compress(
        &self,
        key: &[u8],
        data: &Arc<Vec<u8>>,
        compress: impl FnOnce() -> Result<Vec<u8>, RepackError>,
    ) -> Result<Arc<Vec<u8>>, RepackError> {
        if let Some(member) = self.get(key, data) {
            return Ok(member);
        }
        let member = Arc::new(compress()?);
        self.insert(key.to_owned(), data, member.clone());
        Ok(member)
    }
}

/// The tree as an uncompressed tar stream (GNU headers, long names as GNU extensions), cut
/// into segments.
fn tar_stream(tree: &Tree) -> std::io::Result<(Vec<u8>, Vec<Segment>)> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    let mut segments = Vec::new();
    let mut small_start = 0;
    for (path, node) in tree.iter() {
        let start = builder.get_ref().len();
        let mut header = tar::Header::new_gnu();
        header.set_mtime(MTIME);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mode(mode(node));
        match node {
            Node::Dir => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_size(0);
                builder.append_data(&mut header, format!("{path}/"), std::io::empty())?;
            }
            Node::File { data, .. } => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(data.len() as u64);
                builder.append_data(&mut header, path, data.as_slice())?;
                if data.len() >= MEMBER_THRESHOLD {
                    if small_start < start {
                        segments.push(Segment::Small(small_start..start));
                    }
                    small_start = builder.get_ref().len();
                    segments.push(Segment::Large {
                        range: start..small_start,
                        data: data.clone(),
                    });
                }
            }
            Node::Symlink(target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                builder.append_link(&mut header, path, target)?;
            }
        }
    }
    let raw = builder.into_inner()?;
    segments.push(Segment::Small(small_start..raw.len()));
    Ok((raw, segments))
}

/// One xz stream or gzip member of `bytes`.
fn compress_member(
    bytes: &[u8],
    format: ArchiveFormat,
    what: &Path,
) -> Result<Vec<u8>, RepackError> {
    if format == ArchiveFormat::TarXz {
        let stream =
            liblzma::stream::Stream::new_easy_encoder(XZ_PRESET, liblzma::stream::Check::Crc64)
                .map_err(|e| RepackError::io(what)(e.into()))?;
        let mut encoder =
            liblzma::write::XzEncoder::new_stream(Vec::with_capacity(bytes.len() / 2), stream);
        encoder.write_all(bytes).map_err(RepackError::io(what))?;
        encoder.finish().map_err(RepackError::io(what))
    } else {
        let mut encoder = flate2::GzBuilder::new().mtime(0).write(
            Vec::with_capacity(bytes.len() / 2),
            flate2::Compression::new(DEFLATE_LEVEL),
        );
        encoder.write_all(bytes).map_err(RepackError::io(what))?;
        encoder.finish().map_err(RepackError::io(what))
    }
}

/// The cache key of a large tar segment: its header bytes (without the data and padding).
fn segment_key<'a>(raw: &'a [u8], range: &std::ops::Range<usize>, data_len: usize) -> &'a [u8] {
    let padded = data_len.div_ceil(512) * 512;
    &raw[range.start..range.end - padded]
}

/// Packs `tree` reproducibly in `format`, reusing (and filling) `cache` for large files;
/// `what` names the output in errors.
pub(crate) fn pack(
    tree: &Tree,
    format: ArchiveFormat,
    cache: &MemberCache,
    what: &Path,
) -> Result<Vec<u8>, RepackError> {
    if format == ArchiveFormat::Zip {
        return pack_zip(tree, cache, what);
    }
    let (raw, segments) = tar_stream(tree).map_err(RepackError::io(what))?;
    let mut out = Vec::with_capacity(raw.len() / 2);
    for segment in segments {
        match segment {
            Segment::Small(range) => {
                out.extend_from_slice(&compress_member(&raw[range], format, what)?)
            }
            Segment::Large { range, data } => {
                let key = segment_key(&raw, &range, data.len());
                let member = cache.get_or_compress(key, &data, || {
                    compress_member(&raw[range.clone()], format, what)
                })?;
                out.extend_from_slice(&member);
            }
        }
    }
    Ok(out)
}

/// Compresses the large files of `tree` into `cache` ahead of the jobs, in parallel.
pub(crate) fn warm(
    tree: &Tree,
    format: ArchiveFormat,
    cache: &MemberCache,
    what: &Path,
) -> Result<(), RepackError> {
    use rayon::prelude::*;
    if format == ArchiveFormat::Zip {
        let large: Vec<(&str, &Node, &Arc<Vec<u8>>)> = tree
            .iter()
            .filter_map(|(path, node)| match node {
                Node::File { data, .. } if data.len() >= MEMBER_THRESHOLD => {
                    Some((path, node, data))
                }
                _ => None,
            })
            .collect();
        return large.into_par_iter().try_for_each(|(path, node, data)| {
            cache
                .get_or_compress(&zip_key(path, node, data.len()), data, || {
                    single_entry_zip(path, node, data, what)
                })
                .map(drop)
        });
    }
    let (raw, segments) = tar_stream(tree).map_err(RepackError::io(what))?;
    segments
        .into_par_iter()
        .try_for_each(|segment| match segment {
            Segment::Small(_) => Ok(()),
            Segment::Large { range, data } => {
                let key = segment_key(&raw, &range, data.len());
                cache
                    .get_or_compress(key, &data, || {
                        compress_member(&raw[range.clone()], format, what)
                    })
                    .map(drop)
            }
        })
}

/// The options of every zip entry Kiln writes.
pub(crate) fn zip_options(unix_mode: u32) -> zip::write::SimpleFileOptions {
    zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(i64::from(DEFLATE_LEVEL)))
        .last_modified_time(zip::DateTime::DEFAULT)
        .unix_permissions(unix_mode)
}

fn zip_key(path: &str, node: &Node, len: usize) -> Vec<u8> {
    format!("zip\0{path}\0{:o}\0{len}", mode(node)).into_bytes()
}

/// A zip holding only `path`, compressed with Kiln's settings (the source of raw copies).
fn single_entry_zip(
    path: &str,
    node: &Node,
    data: &[u8],
    what: &Path,
) -> Result<Vec<u8>, RepackError> {
    let err = |source| RepackError::Zip {
        what: what.display().to_string(),
        source,
    };
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::with_capacity(data.len() / 2)));
    writer
        .start_file(path, zip_options(mode(node)))
        .map_err(err)?;
    writer.write_all(data).map_err(RepackError::io(what))?;
    Ok(writer.finish().map_err(err)?.into_inner())
}

fn pack_zip(tree: &Tree, cache: &MemberCache, what: &Path) -> Result<Vec<u8>, RepackError> {
    let err = |source| RepackError::Zip {
        what: what.display().to_string(),
        source,
    };
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (path, node) in tree.iter() {
        let options = zip_options(mode(node));
        match node {
            Node::Dir => writer
                .add_directory(format!("{path}/"), options)
                .map_err(err)?,
            Node::File { data, .. } if data.len() >= MEMBER_THRESHOLD => {
                let single =
                    cache.get_or_compress(&zip_key(path, node, data.len()), data, || {
                        single_entry_zip(path, node, data, what)
                    })?;
                let mut archive =
                    zip::ZipArchive::new(std::io::Cursor::new(single.as_slice())).map_err(err)?;
                let file = archive.by_index_raw(0).map_err(err)?;
                writer.raw_copy_file(file).map_err(err)?;
            }
            Node::File { data, .. } => {
                writer.start_file(path, options).map_err(err)?;
                writer.write_all(data).map_err(RepackError::io(what))?;
            }
            Node::Symlink(target) => writer.add_symlink(path, target, options).map_err(err)?,
        }
    }
    Ok(writer.finish().map_err(err)?.into_inner())
}
