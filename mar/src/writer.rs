//! Writing MAR archives: Kiln always writes the current layout, PIB first, deterministically.
//!
//! [`MarBuilder`] collects entries (a directory tree walked in sorted order, single files, or
//! in-memory bytes), compresses them (in parallel with the `parallel` feature; the output is the
//! same either way, since every entry is compressed on its own with fixed settings), writes the
//! index, and finally signs: signature slots of fixed length are reserved in the header, the
//! finished file is hashed once, and the values are written into their slots.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use rsa::traits::PublicKeyParts;
use rsa::Pkcs1v15Sign;
use sha2::Digest;

use crate::compression::Compression;
use crate::entry_path::EntryPath;
use crate::error::{Error, Result};
use crate::keys::SigningKey;
use crate::product_info::{ProductInfo, PRODUCT_INFO_BLOCK_ID};
use crate::reader::{AdditionalBlock, Mar, MAGIC};
use crate::signature::{SignatureAlgorithm, SignedRegionDigests, ED25519_CONTEXT};

/// Most signatures a MAR may carry (Mozilla's `MAX_SIGNATURES`).
const MAX_SIGNATURES: usize = 8;
/// Longest signature value Mozilla's verifier accepts.
const MAX_SIGNATURE_LEN: usize = 2048;
/// Input bytes compressed together in one parallel batch (bounds memory).
#[cfg(feature = "parallel")]
const PARALLEL_BATCH_BYTES: u64 = 64 << 20;

/// A callback told about each entry once it is written, with its uncompressed size.
pub type ProgressFn = dyn Fn(&EntryPath, u64) + Send + Sync;

/// What [`MarBuilder::write`] produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteSummary {
    /// Number of entries.
    pub entries: usize,
    /// Uncompressed bytes of all entries.
    pub input_bytes: u64,
    /// Size of the archive written.
    pub file_len: u64,
}

enum Source {
    File(PathBuf),
    Bytes(Vec<u8>),
}

struct PendingEntry {
    name: EntryPath,
    mode: u32,
    len: u64,
    source: Source,
}

/// Builds a MAR archive. Entries keep the order they were added in; directory trees are added
/// in sorted order, so the same inputs and settings always give the same bytes.
#[derive(Default)]
pub struct MarBuilder {
    compression: Compression,
    product_info: Option<ProductInfo>,
    keys: Vec<SigningKey>,
    entries: Vec<PendingEntry>,
    names: HashSet<EntryPath>,
    progress: Option<Box<ProgressFn>>,
}

impl std::fmt::Debug for MarBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MarBuilder")
            .field("compression", &self.compression)
            .field("product_info", &self.product_info)
            .field("keys", &self.keys)
            .field("entries", &self.entries.len())
            .finish()
    }
}

impl MarBuilder {
    /// A builder with zstd level 19, no PIB and no signing keys.
    pub fn new() -> MarBuilder {
        MarBuilder::default()
    }

    /// Sets how entries are compressed.
    pub fn compression(&mut self, compression: Compression) -> &mut MarBuilder {
        self.compression = compression;
        self
    }

    /// Sets the product information block (channel and version). Without one, the archive has
    /// no additional blocks.
    pub fn product_info(&mut self, product_info: ProductInfo) -> &mut MarBuilder {
        self.product_info = Some(product_info);
        self
    }

    /// Adds a key to sign with (Ed25519 → Kiln's `ED25`; RSA → Mozilla's id 2, SHA-384).
    pub fn sign_with(&mut self, key: SigningKey) -> &mut MarBuilder {
        self.keys.push(key);
        self
    }

    /// Sets a callback told about each entry once written.
    pub fn on_progress(&mut self, progress: Box<ProgressFn>) -> &mut MarBuilder {
        self.progress = Some(progress);
        self
    }

    /// Total uncompressed bytes added so far.
    pub fn input_bytes(&self) -> u64 {
        self.entries.iter().map(|e| e.len).sum()
    }

    fn push(&mut self, entry: PendingEntry) -> Result<()> {
        if !self.names.insert(entry.name.clone()) {
            return Err(Error::DuplicateEntry {
                name: entry.name.to_string(),
            });
        }
        self.entries.push(entry);
        Ok(())
    }

    /// Adds in-memory content under `name` with permission bits `mode` (masked to 0o777).
    pub fn add_bytes(&mut self, name: EntryPath, mode: u32, bytes: Vec<u8>) -> Result<&mut Self> {
        self.push(PendingEntry {
            name,
            mode: mode & 0o777,
            len: bytes.len() as u64,
            source: Source::Bytes(bytes),
        })?;
        Ok(self)
    }

    /// Adds the content of `reader` under `name` with permission bits `mode` (masked to 0o777).
    ///
    /// The content is read now, into memory; for large files prefer [`MarBuilder::add_file`],
    /// which streams from disk when the archive is written.
    pub fn add_reader(
        &mut self,
        name: EntryPath,
        mode: u32,
        reader: &mut dyn Read,
    ) -> Result<&mut Self> {
        let mut bytes = Vec::new();
        reader.read_to_end(&mut bytes)?;
        self.add_bytes(name, mode, bytes)
    }

    /// Adds the regular file at `path` under `name`, taking its permission bits.
    pub fn add_file(&mut self, name: EntryPath, path: &Path) -> Result<&mut Self> {
        let meta = std::fs::symlink_metadata(path).map_err(Error::file(path))?;
        if !meta.is_file() {
            return Err(Error::Unwritable(format!(
                "{} is not a regular file (symlinks and special files cannot go into a MAR)",
                path.display()
            )));
        }
        self.push(PendingEntry {
            name,
            mode: file_mode(&meta),
            len: meta.len(),
            source: Source::File(path.to_owned()),
        })?;
        Ok(self)
    }

    /// Adds `base/rel`: a file under the name `rel`, or every file of a directory in sorted order
    /// under names relative to `base`.
    pub fn add_path(&mut self, base: &Path, rel: &Path) -> Result<&mut Self> {
        let full = base.join(rel);
        let meta = std::fs::symlink_metadata(&full).map_err(Error::file(&full))?;
        if meta.is_dir() {
            let mut children: Vec<PathBuf> = std::fs::read_dir(&full)
                .map_err(Error::file(&full))?
                .map(|e| e.map(|e| rel.join(e.file_name())))
                .collect::<io::Result<_>>()
                .map_err(Error::file(&full))?;
            children.sort();
            for child in children {
                self.add_path(base, &child)?;
            }
            return Ok(self);
        }
        let name = EntryPath::from_relative(rel).map_err(|reason| Error::BadEntryName {
            name: rel.display().to_string(),
            reason,
        })?;
        self.add_file(name, &full)
    }

    /// Adds every file under `dir`, sorted, named relative to `dir`.
    pub fn add_dir_tree(&mut self, dir: &Path) -> Result<&mut Self> {
        self.add_path(dir, Path::new(""))
    }

    /// Writes the archive to `out` atomically (a temporary file beside it, renamed into place).
    pub fn write(&self, out: &Path) -> Result<WriteSummary> {
        let dir = parent_dir(out);
        let mut temp = tempfile::Builder::new()
            .prefix(".mar-")
            .tempfile_in(dir)
            .map_err(Error::file(dir))?;
        let summary = self.write_to(temp.as_file_mut())?;
        temp.as_file().sync_all()?;
        publish(temp, out)?;
        Ok(summary)
    }

    /// Writes the archive into an empty file opened for reading and writing.
    pub fn write_to(&self, file: &mut File) -> Result<WriteSummary> {
        let blocks = self
            .product_info
            .iter()
            .map(|pib| AdditionalBlock {
                id: PRODUCT_INFO_BLOCK_ID,
                data: pib.encode(),
            })
            .collect::<Vec<_>>();
        let mut writer = ArchiveWriter::begin(file, &self.keys, &blocks)?;
        self.write_entries(&mut writer)?;
        let file_len = writer.finish(&self.keys)?;
        Ok(WriteSummary {
            entries: self.entries.len(),
            input_bytes: self.input_bytes(),
            file_len,
        })
    }

    fn report(&self, entry: &PendingEntry) {
        if let Some(progress) = &self.progress {
            progress(&entry.name, entry.len);
        }
    }

    #[cfg(not(feature = "parallel"))]
    fn write_entries(&self, writer: &mut ArchiveWriter<'_>) -> Result<()> {
        for entry in &self.entries {
            writer.append(entry.name.clone(), entry.mode, |out| {
                compress_entry(self.compression, entry, out)
            })?;
            self.report(entry);
        }
        Ok(())
    }

    #[cfg(feature = "parallel")]
    fn write_entries(&self, writer: &mut ArchiveWriter<'_>) -> Result<()> {
        use rayon::prelude::*;
        let mut rest = &self.entries[..];
        while !rest.is_empty() {
            let mut take = 0;
            let mut bytes = 0u64;
            while take < rest.len() && (take == 0 || bytes + rest[take].len <= PARALLEL_BATCH_BYTES)
            {
                bytes += rest[take].len;
                take += 1;
            }
            let (batch, tail) = rest.split_at(take);
            let compressed: Vec<Vec<u8>> = batch
                .par_iter()
                .map(|entry| {
                    let mut out = Vec::new();
                    compress_entry(self.compression, entry, &mut out)?;
                    Ok(out)
                })
                .collect::<Result<_>>()?;
            for (entry, stored) in batch.iter().zip(compressed) {
                writer.append(entry.name.clone(), entry.mode, |out| {
                    out.write_all(&stored).map_err(Error::from)
                })?;
                self.report(entry);
            }
            rest = tail;
        }
        Ok(())
    }
}

fn compress_entry(
    compression: Compression,
    entry: &PendingEntry,
    out: &mut dyn Write,
) -> Result<()> {
    let read = match &entry.source {
        Source::Bytes(bytes) => compression.encode(&mut &bytes[..], entry.len, out)?,
        Source::File(path) => {
            let mut file = File::open(path).map_err(Error::file(path))?;
            compression
                .encode(&mut file, entry.len, out)
                .map_err(Error::file(path))?
        }
    };
    if read != entry.len {
        return Err(Error::Unwritable(format!(
            "{} changed size while being archived ({} bytes, then {read})",
            entry.name, entry.len
        )));
    }
    Ok(())
}

#[cfg(unix)]
fn file_mode(meta: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o777
}

#[cfg(not(unix))]
fn file_mode(_meta: &std::fs::Metadata) -> u32 {
    0o644
}

/// Renames a finished temporary archive into place as a normal, world-readable file (temporary
/// files are created 0600).
fn publish(temp: tempfile::NamedTempFile, out: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        temp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(Error::file(out))?;
    }
    temp.persist(out).map_err(|e| Error::file(out)(e.error))?;
    Ok(())
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Copies an unsigned archive into `out`, adding signatures from `keys` (all at once: signatures
/// cover each other's headers, so an already-signed archive is refused).
///
/// Entries are copied as stored, and a legacy archive becomes the current layout.
pub fn sign_archive<R: Read + Seek>(
    mar: &mut Mar<R>,
    keys: &[SigningKey],
    out: &Path,
) -> Result<u64> {
    if !mar.signatures().is_empty() {
        return Err(Error::AlreadySigned {
            count: mar.signatures().len(),
        });
    }
    if keys.is_empty() {
        return Err(Error::Unwritable("no signing key given".to_owned()));
    }
    let mut blocks: Vec<AdditionalBlock> = mar
        .product_info()
        .map(|pib| AdditionalBlock {
            id: PRODUCT_INFO_BLOCK_ID,
            data: pib.encode(),
        })
        .into_iter()
        .collect();
    blocks.extend(mar.other_blocks().iter().cloned());
    let dir = parent_dir(out);
    let mut temp = tempfile::Builder::new()
        .prefix(".mar-")
        .tempfile_in(dir)
        .map_err(Error::file(dir))?;
    let mut writer = ArchiveWriter::begin(temp.as_file_mut(), keys, &blocks)?;
    for entry in mar.entries().to_vec() {
        let mut stored = mar.stored_reader(&entry)?;
        writer.append(entry.name.clone(), entry.mode(), |out| {
            io::copy(&mut stored, out)?;
            Ok(())
        })?;
    }
    let len = writer.finish(keys)?;
    temp.as_file().sync_all()?;
    publish(temp, out)?;
    Ok(len)
}

/// Streams the pieces of a current-layout archive into a file and signs it at the end.
struct ArchiveWriter<'f> {
    out: BufWriter<&'f mut File>,
    pos: u64,
    signature_slots: Vec<(SignatureAlgorithm, u32)>,
    index: Vec<u8>,
}

impl<'f> ArchiveWriter<'f> {
    /// Writes the header with zeroed signature slots for `keys` and the additional `blocks`.
    fn begin(file: &'f mut File, keys: &[SigningKey], blocks: &[AdditionalBlock]) -> Result<Self> {
        if keys.len() > MAX_SIGNATURES {
            return Err(Error::Unwritable(format!(
                "{} signing keys given, a MAR holds at most {MAX_SIGNATURES} signatures",
                keys.len()
            )));
        }
        let signature_slots = keys
            .iter()
            .map(|key| match key {
                SigningKey::Ed25519(_) => Ok((SignatureAlgorithm::Ed25519ph, 64)),
                SigningKey::Rsa(key) if key.size() <= MAX_SIGNATURE_LEN => {
                    Ok((SignatureAlgorithm::RsaPkcs1Sha384, key.size() as u32))
                }
                SigningKey::Rsa(key) => Err(Error::Unwritable(format!(
                    "RSA key of {} bits makes signatures longer than {MAX_SIGNATURE_LEN} bytes",
                    key.size() * 8
                ))),
            })
            .collect::<Result<Vec<_>>>()?;
        file.seek(SeekFrom::Start(0))?;
        file.set_len(0)?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let mut header = Vec::new();
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&[0u8; 12]); // index offset and file size, patched in `finish`
        header.extend_from_slice(&(signature_slots.len() as u32).to_be_bytes());
        for &(algorithm, len) in &signature_slots {
            header.extend_from_slice(&algorithm.id().to_be_bytes());
            header.extend_from_slice(&len.to_be_bytes());
            header.resize(header.len() + len as usize, 0);
        }
        header.extend_from_slice(&(blocks.len() as u32).to_be_bytes());
        for block in blocks {
            header.extend_from_slice(&(block.data.len() as u32 + 8).to_be_bytes());
            header.extend_from_slice(&block.id.to_be_bytes());
            header.extend_from_slice(&block.data);
        }
        out.write_all(&header)?;
        Ok(ArchiveWriter {
            out,
            pos: header.len() as u64,
            signature_slots,
            index: Vec::new(),
        })
    }

    /// Appends one entry's stored bytes, produced by `fill`.
    fn append(
        &mut self,
        name: EntryPath,
        mode: u32,
        fill: impl FnOnce(&mut dyn Write) -> Result<()>,
    ) -> Result<()> {
        let offset = self.pos;
        let mut counter = CountingWriter {
            inner: &mut self.out,
            count: 0,
        };
        fill(&mut counter)?;
        let size = counter.count;
        self.pos += size;
        let (Ok(offset32), Ok(size32)) = (u32::try_from(offset), u32::try_from(size)) else {
            return Err(Error::Unwritable(format!(
                "entry {name} ends past 4 GiB, the format's limit"
            )));
        };
        self.index.extend_from_slice(&offset32.to_be_bytes());
        self.index.extend_from_slice(&size32.to_be_bytes());
        self.index.extend_from_slice(&(mode & 0o777).to_be_bytes());
        self.index.extend_from_slice(name.as_str().as_bytes());
        self.index.push(0);
        Ok(())
    }

    /// Writes the index, patches the header and fills the signature slots; returns the length.
    fn finish(mut self, keys: &[SigningKey]) -> Result<u64> {
        let offset_to_index = u32::try_from(self.pos)
            .map_err(|_| Error::Unwritable("archive content exceeds 4 GiB".to_owned()))?;
        let index_size = u32::try_from(self.index.len())
            .map_err(|_| Error::Unwritable("index exceeds 4 GiB".to_owned()))?;
        self.out.write_all(&index_size.to_be_bytes())?;
        self.out.write_all(&self.index)?;
        let file_len = self.pos + 4 + self.index.len() as u64;
        let file = self.out.into_inner().map_err(|e| e.into_error())?;
        file.seek(SeekFrom::Start(4))?;
        file.write_all(&offset_to_index.to_be_bytes())?;
        file.write_all(&file_len.to_be_bytes())?;
        file.flush()?;
        if !keys.is_empty() {
            sign_slots(file, keys, &self.signature_slots, file_len)?;
        }
        Ok(file_len)
    }
}

/// Hashes the finished archive once and writes every signature into its reserved slot.
fn sign_slots(
    file: &mut File,
    keys: &[SigningKey],
    slots: &[(SignatureAlgorithm, u32)],
    file_len: u64,
) -> Result<()> {
    let lengths: Vec<u32> = slots.iter().map(|&(_, len)| len).collect();
    let digests = SignedRegionDigests::for_algorithms(slots.iter().map(|&(a, _)| a))
        .hash_archive(file, &lengths, file_len)?;
    let mut slot_offset = 20u64;
    for (key, &(_, len)) in keys.iter().zip(slots) {
        let value = match key {
            SigningKey::Ed25519(key) => {
                let sha512 = digests.sha512.clone().expect("slot planned for Ed25519");
                key.sign_prehashed(sha512, Some(ED25519_CONTEXT))
                    .map_err(|e| Error::Signing(e.to_string()))?
                    .to_bytes()
                    .to_vec()
            }
            SigningKey::Rsa(key) => {
                let sha384 = digests.sha384.clone().expect("slot planned for RSA");
                key.sign(Pkcs1v15Sign::new::<sha2::Sha384>(), &sha384.finalize())
                    .map_err(|e| Error::Signing(e.to_string()))?
            }
        };
        debug_assert_eq!(value.len(), len as usize);
        file.seek(SeekFrom::Start(slot_offset + 8))?;
        file.write_all(&value)?;
        slot_offset += 8 + u64::from(len);
    }
    file.flush()?;
    Ok(())
}

struct CountingWriter<'a, W> {
    inner: &'a mut W,
    count: u64,
}

impl<W: Write> Write for CountingWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
