//! Streaming, bounds-checked parsing of MAR archives (current and legacy layouts).

use std::collections::HashSet;
use std::io::{self, Read, Seek, SeekFrom, Write};

use crate::compression::{DecodingReader, StoredFormat};
use crate::entry_path::EntryPath;
use crate::error::{Error, Result};
use crate::limits::Limits;
use crate::product_info::{ProductInfo, PRODUCT_INFO_BLOCK_ID};
use crate::signature::{Signature, SignatureAlgorithm};

/// The four magic bytes every MAR starts with.
pub const MAGIC: &[u8; 4] = b"MAR1";
/// Offset of the first entry in a legacy archive, which tells the two layouts apart.
const LEGACY_CONTENT_START: u64 = 8;
/// Size of the fixed header of the current layout (magic, index offset, file size, sig count).
const CURRENT_HEADER_LEN: u64 = 20;
/// Bytes moved per read/write when copying an entry out (fewer syscalls than `io::copy`'s 8 KiB).
const COPY_BUFFER_LEN: usize = 256 << 10;
/// Smallest index entry: offset, size, flags, one name byte and the NUL.
const MIN_INDEX_ENTRY_LEN: usize = 14;

/// Which of Mozilla's two container layouts an archive uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Signature block and additional blocks after the header (what Kiln writes).
    Current,
    /// Pre-signing layout: entries right after the 8-byte header (read only).
    Legacy,
}

/// One index entry: a name, where its stored bytes are, and its permission flags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub(crate) name: EntryPath,
    pub(crate) offset: u32,
    pub(crate) size: u32,
    pub(crate) flags: u32,
}

impl Entry {
    /// The validated entry name.
    pub fn name(&self) -> &EntryPath {
        &self.name
    }

    /// Absolute offset of the stored bytes.
    pub fn offset(&self) -> u32 {
        self.offset
    }

    /// Length of the stored (compressed) bytes.
    pub fn stored_size(&self) -> u32 {
        self.size
    }

    /// The flags exactly as stored (may carry setuid and other bits a writer should not set).
    pub fn raw_flags(&self) -> u32 {
        self.flags
    }

    /// The permission bits to apply: the stored flags masked to `0o777`.
    pub fn mode(&self) -> u32 {
        self.flags & 0o777
    }
}

/// An additional block other than a leading PIB, kept so re-signing preserves it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdditionalBlock {
    pub(crate) id: u32,
    pub(crate) data: Vec<u8>,
}

impl AdditionalBlock {
    /// The block id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The block's data (without the 8-byte header).
    pub fn data(&self) -> &[u8] {
        &self.data
    }
}

/// A parsed but **unverified** MAR archive over a seekable reader.
///
/// Opening parses the header, signature block, additional blocks and index, and enforces every
/// structural rule of `docs/mar-format.md` Part A and B5–B6 with the given [`Limits`]; entry bytes are only read on demand.
/// Nothing here says the archive is authentic: see [`Verifier`](crate::Verifier).
#[derive(Debug)]
pub struct Mar<R> {
    reader: R,
    limits: Limits,
    layout: Layout,
    file_len: u64,
    offset_to_index: u64,
    signatures: Vec<Signature>,
    product_info: Option<ProductInfo>,
    other_blocks: Vec<AdditionalBlock>,
    entries: Vec<Entry>,
}

impl<R: Read + Seek> Mar<R> {
    /// Parses an archive with the default [`Limits`].
    pub fn open(reader: R) -> Result<Mar<R>> {
        Mar::open_with_limits(reader, Limits::default())
    }

    /// Parses an archive, enforcing `limits` before any allocation or seek they bound.
    pub fn open_with_limits(mut reader: R, limits: Limits) -> Result<Mar<R>> {
        let file_len = reader.seek(SeekFrom::End(0))?;
        if file_len > limits.max_file_size {
            return Err(Error::LimitExceeded {
                what: "file size",
                value: file_len,
                limit: limits.max_file_size,
            });
        }
        let mut bounded = BoundedReader {
            reader: &mut reader,
            file_len,
        };
        let head = bounded.read_at(0, 8, "header")?;
        if &head[..4] != MAGIC {
            return Err(Error::BadMagic);
        }
        let offset_to_index = u64::from(be32(&head[4..8]));
        let index_size = be32(&bounded.read_at(offset_to_index, 4, "index size")?);
        if index_size > limits.max_index_size {
            return Err(Error::LimitExceeded {
                what: "index size",
                value: index_size.into(),
                limit: limits.max_index_size.into(),
            });
        }
        let index_start = offset_to_index + 4;
        let index = bounded.read_at(index_start, index_size.into(), "index")?;
        let index_end = index_start + u64::from(index_size);
        if index_end != file_len {
            return Err(Error::IndexNotAtEnd {
                index_end,
                file_len,
            });
        }
        let entries = parse_index(&index, index_start, &limits)?;

        let legacy = match entries.first() {
            Some(first) => u64::from(first.offset) == LEGACY_CONTENT_START,
            None => offset_to_index == LEGACY_CONTENT_START,
        };
        let mut mar = Mar {
            reader,
            limits,
            layout: if legacy {
                Layout::Legacy
            } else {
                Layout::Current
            },
            file_len,
            offset_to_index,
            signatures: Vec::new(),
            product_info: None,
            other_blocks: Vec::new(),
            entries,
        };
        let content_start = if legacy {
            LEGACY_CONTENT_START
        } else {
            mar.parse_current_header()?
        };
        check_entry_ranges(&mar.entries, content_start, offset_to_index)?;
        Ok(mar)
    }

    /// Parses the signature block and additional blocks; returns where entry data may start.
    fn parse_current_header(&mut self) -> Result<u64> {
        let limits = self.limits;
        // Header structures must end before the index.
        let mut bounded = BoundedReader {
            reader: &mut self.reader,
            file_len: self.offset_to_index,
        };
        let head = bounded.read_at(8, 12, "signature block header")?;
        let declared = u64::from_be_bytes(head[..8].try_into().expect("8 bytes"));
        if declared != self.file_len {
            return Err(Error::FileSizeMismatch {
                declared,
                actual: self.file_len,
            });
        }
        let num_signatures = be32(&head[8..12]);
        if num_signatures > limits.max_signatures {
            return Err(Error::LimitExceeded {
                what: "signature count",
                value: num_signatures.into(),
                limit: limits.max_signatures.into(),
            });
        }
        let mut pos = CURRENT_HEADER_LEN;
        for _ in 0..num_signatures {
            let header = bounded.read_at(pos, 8, "signature header")?;
            let len = be32(&header[4..8]);
            if len > limits.max_signature_len {
                return Err(Error::LimitExceeded {
                    what: "signature length",
                    value: len.into(),
                    limit: limits.max_signature_len.into(),
                });
            }
            let value = bounded.read_at(pos + 8, len.into(), "signature")?;
            self.signatures.push(Signature {
                algorithm: SignatureAlgorithm::from_id(be32(&header[..4])),
                value,
            });
            pos += 8 + u64::from(len);
        }
        let num_blocks = be32(&bounded.read_at(pos, 4, "additional block count")?);
        if num_blocks > limits.max_additional_blocks {
            return Err(Error::LimitExceeded {
                what: "additional block count",
                value: num_blocks.into(),
                limit: limits.max_additional_blocks.into(),
            });
        }
        pos += 4;
        for i in 0..num_blocks {
            let header = bounded.read_at(pos, 8, "additional block header")?;
            let (size, id) = (be32(&header[..4]), be32(&header[4..8]));
            if size < 8 {
                return Err(Error::BadAdditionalBlock {
                    offset: pos,
                    reason: format!("block size {size} is smaller than its 8-byte header"),
                });
            }
            if size > limits.max_additional_block_size {
                return Err(Error::LimitExceeded {
                    what: "additional block size",
                    value: size.into(),
                    limit: limits.max_additional_block_size.into(),
                });
            }
            let data = bounded.read_at(pos + 8, u64::from(size) - 8, "additional block")?;
            if i == 0 && id == PRODUCT_INFO_BLOCK_ID {
                self.product_info = Some(ProductInfo::decode(&data)?);
            } else {
                self.other_blocks.push(AdditionalBlock { id, data });
            }
            pos += u64::from(size);
        }
        Ok(pos)
    }
}

impl<R> Mar<R> {
    /// Which layout the archive uses.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The archive's length in bytes.
    pub fn file_len(&self) -> u64 {
        self.file_len
    }

    /// The index entries, in index order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The entry with this name, if any.
    pub fn entry(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.name.as_str() == name)
    }

    /// The product information block, if the archive has one as its first additional block.
    pub fn product_info(&self) -> Option<&ProductInfo> {
        self.product_info.as_ref()
    }

    /// The signatures in block order (empty for legacy archives).
    pub fn signatures(&self) -> &[Signature] {
        &self.signatures
    }

    /// Additional blocks other than a leading PIB.
    pub fn other_blocks(&self) -> &[AdditionalBlock] {
        &self.other_blocks
    }

    /// The limits this archive was opened with.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Gives the reader back.
    pub fn into_inner(self) -> R {
        self.reader
    }
}

impl<R: Read + Seek> Mar<R> {
    /// The stored (still compressed) bytes of an entry.
    pub fn stored_reader(&mut self, entry: &Entry) -> Result<io::Take<&mut R>> {
        self.reader.seek(SeekFrom::Start(entry.offset.into()))?;
        Ok((&mut self.reader).take(entry.size.into()))
    }

    /// Detects how an entry's bytes are stored.
    pub fn stored_format(&mut self, entry: &Entry) -> Result<StoredFormat> {
        let mut head = Vec::with_capacity(6);
        self.stored_reader(entry)?.take(6).read_to_end(&mut head)?;
        Ok(StoredFormat::detect(&head))
    }

    /// A reader of an entry's decompressed content, bounded by `max_entry_unpacked_size`.
    ///
    /// Read errors (corrupt stream, trailing data, size limit) surface as `io::Error`s of kind
    /// `InvalidData`; [`Mar::copy_entry`] maps them to [`Error::Decode`].
    pub fn entry_reader(&mut self, entry: &Entry) -> Result<impl Read + '_> {
        let limit = self.limits.max_entry_unpacked_size;
        let stored = self.stored_reader(entry)?;
        let (reader, _) = DecodingReader::new(stored, limit).map_err(|source| Error::Decode {
            name: entry.name.to_string(),
            source,
        })?;
        Ok(reader)
    }

    /// Decompresses an entry into `out`, returning the number of bytes written.
    ///
    /// Errors decoding the entry are [`Error::Decode`]; errors writing to `out` are [`Error::Io`].
    pub fn copy_entry(&mut self, entry: &Entry, out: &mut dyn Write) -> Result<u64> {
        let mut reader = self.entry_reader(entry)?;
        let mut buf = vec![0u8; COPY_BUFFER_LEN];
        let mut total = 0u64;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => return Ok(total),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(Error::Decode {
                        name: entry.name.to_string(),
                        source,
                    })
                }
            };
            out.write_all(&buf[..n])?;
            total += n as u64;
        }
    }

    /// Decompresses the named entry into memory.
    pub fn read_entry_to_vec(&mut self, name: &str) -> Result<Vec<u8>> {
        let entry = self
            .entry(name)
            .cloned()
            .ok_or_else(|| Error::NoSuchEntry { name: name.into() })?;
        let mut out = Vec::new();
        self.copy_entry(&entry, &mut out)?;
        Ok(out)
    }

    /// Mutable access to the underlying reader (for hashing the signed region).
    pub(crate) fn reader_mut(&mut self) -> &mut R {
        &mut self.reader
    }
}

/// Reads from a seekable source, refusing any range past `file_len` before allocating.
struct BoundedReader<'a, R> {
    reader: &'a mut R,
    file_len: u64,
}

impl<R: Read + Seek> BoundedReader<'_, R> {
    fn read_at(&mut self, offset: u64, len: u64, what: &'static str) -> Result<Vec<u8>> {
        let end = offset.checked_add(len);
        if end.is_none_or(|end| end > self.file_len) {
            return Err(Error::Truncated {
                what,
                offset,
                needed: len,
                file_len: self.file_len,
            });
        }
        self.reader.seek(SeekFrom::Start(offset))?;
        let mut buf = vec![0u8; len as usize];
        self.reader.read_exact(&mut buf)?;
        Ok(buf)
    }
}

fn be32(bytes: &[u8]) -> u32 {
    u32::from_be_bytes(bytes[..4].try_into().expect("4 bytes"))
}

/// Parses index entries, consuming the index exactly and validating every name.
fn parse_index(index: &[u8], index_start: u64, limits: &Limits) -> Result<Vec<Entry>> {
    let mut entries = Vec::new();
    let mut names = HashSet::new();
    let mut pos = 0usize;
    while pos < index.len() {
        let offset = index_start + pos as u64;
        let rest = &index[pos..];
        if rest.len() < MIN_INDEX_ENTRY_LEN {
            return Err(Error::BadIndexEntry {
                offset,
                reason: "shorter than the 14-byte minimum",
            });
        }
        if entries.len() >= limits.max_entries {
            return Err(Error::LimitExceeded {
                what: "entry count",
                value: entries.len() as u64 + 1,
                limit: limits.max_entries as u64,
            });
        }
        let name_len = rest[12..]
            .iter()
            .position(|&b| b == 0)
            .ok_or(Error::BadIndexEntry {
                offset,
                reason: "name is not NUL-terminated",
            })?;
        let raw_name = &rest[12..12 + name_len];
        let name = EntryPath::from_bytes(raw_name).map_err(|reason| Error::BadEntryName {
            name: String::from_utf8_lossy(raw_name).into_owned(),
            reason,
        })?;
        if !names.insert(name.clone()) {
            return Err(Error::DuplicateEntry {
                name: name.to_string(),
            });
        }
        entries.push(Entry {
            name,
            offset: be32(&rest[0..4]),
            size: be32(&rest[4..8]),
            flags: be32(&rest[8..12]),
        });
        pos += 12 + name_len + 1;
    }
    Ok(entries)
}

/// Checks that every entry lies in `start..end` and that no two non-empty entries overlap.
fn check_entry_ranges(entries: &[Entry], start: u64, end: u64) -> Result<()> {
    let mut ranges = Vec::with_capacity(entries.len());
    for entry in entries {
        let offset = u64::from(entry.offset);
        let size = u64::from(entry.size);
        if offset < start || offset + size > end {
            return Err(Error::EntryOutOfBounds {
                name: entry.name.to_string(),
                offset,
                size,
                start,
                end,
            });
        }
        if size > 0 {
            ranges.push((offset, offset + size, entry));
        }
    }
    ranges.sort_by_key(|&(offset, end, _)| (offset, end));
    for pair in ranges.windows(2) {
        let (_, prev_end, prev) = pair[0];
        let (next_start, _, next) = pair[1];
        if next_start < prev_end {
            return Err(Error::OverlappingEntries {
                first: prev.name.to_string(),
                second: next.name.to_string(),
            });
        }
    }
    Ok(())
}
