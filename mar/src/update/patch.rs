//! Kiln's patch entry format: a fixed header that makes a `bidiff` stream safe to apply.
//!
//! ```text
//! off len field
//! 0   8   magic             "KILNDIFF"
//! 8   2   format version    u16 BE, 1
//! 10  2   algorithm id      u16 BE: 1 = bidiff stream, 2 = bidiff split (below), 3 = sections,
//!                               4 = sections with x86 displacement prediction
//! 12  8   source length     u64 BE
//! 20  32  source SHA-256
//! 52  8   target length     u64 BE
//! 60  32  target SHA-256
//! 92  ... the body                   (format version 1)
//! 92  2   source path length u16 BE  (format version 2: a rename)
//! 94  n   source path        UTF-8, a valid MAR entry path
//! 94+n ... the body
//! ```
//!
//! Version 1 patches the file at the instruction's own path. Version 2 names the installed file
//! the patch was made from (a file renamed between releases, e.g. `pkg-1.2.dist-info/RECORD` →
//! `pkg-1.3.dist-info/RECORD`): the applier reads and checks that source instead, and writes the
//! result to the instruction's path, which need not exist yet.
//!
//! Algorithm 1's body is a `bidiff` 1.0 stream, applied with `bipatch` 1.0. Algorithm 2 keeps
//! bidiff's matches but stores them the way bsdiff does, in three sections, because the add
//! bytes (new minus old, mostly zeros) compress far better on their own (algorithms 3 and 4, what
//! Kiln writes, are in [`sections`](crate::update::sections) and its `x86` module):
//!
//! ```text
//! u64 BE controls length, u64 BE adds length, u64 BE copies length
//! controls: per control, LEB128 add length, LEB128 copy length, zigzag LEB128 seek
//! adds:     the add bytes of every control, as concatenated bzip2 streams
//! copies:   the copy bytes of every control, raw
//! ```
//!
//! Applying a control: `add` bytes are added (mod 256) to the source from the current position,
//! which advances by the add length; `copy` bytes are output as they are; then the position
//! moves by `seek`. Every step is bounds-checked.
//!
//! The bidiff stream carries no sizes or checksums, and a stream cut at an instruction boundary
//! applies without error; the header is what makes application safe: the source is checked
//! before patching (length → Firefox error 2, hash → 4) and the output after (length and hash).
//! In a MAR the whole entry (header and stream) is zstd-compressed like every other entry.

use std::io::{self, Read, Seek, Write};

use sha2::{Digest, Sha256};

use crate::entry_path::EntryPath;

/// The 8 bytes every Kiln patch starts with.
pub const KILN_PATCH_MAGIC: &[u8; 8] = b"KILNDIFF";
/// The header format version of a patch of the file at its own path.
pub const KILN_PATCH_VERSION: u16 = 1;
/// The header format version of a patch whose source is another file (named in the header).
pub const KILN_PATCH_VERSION_RENAMED: u16 = 2;
/// Length of the fixed header in bytes (a version-2 header adds the source path).
pub const KILN_PATCH_HEADER_LEN: usize = 92;
/// The longest source path a version-2 header may name.
const MAX_SOURCE_PATH_LEN: usize = 4096;

/// The diff algorithm of a Kiln patch's body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PatchAlgorithm {
    /// A `bidiff` 1.0 stream, applied with `bipatch` 1.0 (id 1).
    Bidiff1,
    /// bidiff's matches in three sections, adds bzip2-compressed (id 2).
    BidiffSplit,
    /// bidiff's matches in five separately compressed sections (id 3; see
    /// [`sections`](crate::update::sections)).
    Sections,
    /// Algorithm 3 whose add bytes hold x86 displacements as residuals against a prediction from
    /// the patch's own alignment (id 4; see `docs/update-packages.md`). Kiln writes it when it
    /// leaves fewer non-zero add bytes than algorithm 3, else algorithm 3.
    SectionsX86,
}

impl PatchAlgorithm {
    /// The id written in the header.
    pub fn id(self) -> u16 {
        match self {
            PatchAlgorithm::Bidiff1 => 1,
            PatchAlgorithm::BidiffSplit => 2,
            PatchAlgorithm::Sections => 3,
            PatchAlgorithm::SectionsX86 => 4,
        }
    }

    fn from_id(id: u16) -> Option<PatchAlgorithm> {
        match id {
            1 => Some(PatchAlgorithm::Bidiff1),
            2 => Some(PatchAlgorithm::BidiffSplit),
            3 => Some(PatchAlgorithm::Sections),
            4 => Some(PatchAlgorithm::SectionsX86),
            _ => None,
        }
    }
}

/// Why a Kiln patch could not be applied.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PatchError {
    /// The header is missing, has the wrong magic, or is too short.
    #[error("not a Kiln patch (bad header)")]
    BadHeader,
    /// The header's format version is not one this crate reads.
    #[error("Kiln patch format version {0} is not supported")]
    UnsupportedVersion(u16),
    /// The header names an unknown diff algorithm.
    #[error("Kiln patch algorithm {0} is not supported")]
    UnsupportedAlgorithm(u16),
    /// The source has the wrong length (Firefox's error 2).
    #[error("source is {actual} bytes, the patch expects {expected}")]
    SourceSize {
        /// Length the patch was made from.
        expected: u64,
        /// The source's real length.
        actual: u64,
    },
    /// The source's SHA-256 differs (Firefox's error 4).
    #[error("source SHA-256 differs from the one the patch was made from")]
    SourceHash,
    /// The output has the wrong length or hash: the patch is corrupt.
    #[error("patched output does not match the patch's target length and SHA-256")]
    TargetMismatch,
    /// The bidiff stream could not be decoded.
    #[error("corrupt patch stream")]
    Decode(#[source] io::Error),
}

/// The header of a Kiln patch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PatchHeader {
    /// Algorithm of the body.
    pub algorithm: PatchAlgorithm,
    /// Length of the file the patch applies to.
    pub source_len: u64,
    /// SHA-256 of that file.
    pub source_sha256: [u8; 32],
    /// Length of the result.
    pub target_len: u64,
    /// SHA-256 of the result.
    pub target_sha256: [u8; 32],
}

impl PatchHeader {
    /// Encodes the 92-byte header.
    pub fn encode(&self) -> [u8; KILN_PATCH_HEADER_LEN] {
        let mut out = [0u8; KILN_PATCH_HEADER_LEN];
        out[..8].copy_from_slice(KILN_PATCH_MAGIC);
        out[8..10].copy_from_slice(&KILN_PATCH_VERSION.to_be_bytes());
        out[10..12].copy_from_slice(&self.algorithm.id().to_be_bytes());
        out[12..20].copy_from_slice(&self.source_len.to_be_bytes());
        out[20..52].copy_from_slice(&self.source_sha256);
        out[52..60].copy_from_slice(&self.target_len.to_be_bytes());
        out[60..92].copy_from_slice(&self.target_sha256);
        out
    }

    /// Decodes the header at the start of `patch`.
    pub fn decode(patch: &[u8]) -> Result<PatchHeader, PatchError> {
        if patch.len() < KILN_PATCH_HEADER_LEN || &patch[..8] != KILN_PATCH_MAGIC {
            return Err(PatchError::BadHeader);
        }
        let u16_at = |at: usize| u16::from_be_bytes([patch[at], patch[at + 1]]);
        let u64_at = |at: usize| u64::from_be_bytes(patch[at..at + 8].try_into().expect("8 bytes"));
        let version = u16_at(8);
        if version != KILN_PATCH_VERSION && version != KILN_PATCH_VERSION_RENAMED {
            return Err(PatchError::UnsupportedVersion(version));
        }
        let algorithm = PatchAlgorithm::from_id(u16_at(10))
            .ok_or(PatchError::UnsupportedAlgorithm(u16_at(10)))?;
        Ok(PatchHeader {
            algorithm,
            source_len: u64_at(12),
            source_sha256: patch[20..52].try_into().expect("32 bytes"),
            target_len: u64_at(52),
            target_sha256: patch[60..92].try_into().expect("32 bytes"),
        })
    }

    /// Checks a source's length (error 2) and SHA-256 (error 4) before anything is patched.
    pub fn check_source(&self, len: u64, sha256: &[u8; 32]) -> Result<(), PatchError> {
        if len != self.source_len {
            return Err(PatchError::SourceSize {
                expected: self.source_len,
                actual: len,
            });
        }
        if sha256 != &self.source_sha256 {
            return Err(PatchError::SourceHash);
        }
        Ok(())
    }
}

/// A whole Kiln patch entry split into its parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedPatch<'a> {
    /// The fixed header.
    pub header: PatchHeader,
    /// The file the patch was made from, when it is not the patched path (version 2).
    pub source_path: Option<EntryPath>,
    /// The body.
    pub body: &'a [u8],
}

/// Splits a whole patch entry into header, source path and body.
pub fn parse_patch(patch: &[u8]) -> Result<ParsedPatch<'_>, PatchError> {
    let header = PatchHeader::decode(patch)?;
    let version = u16::from_be_bytes([patch[8], patch[9]]);
    let rest = &patch[KILN_PATCH_HEADER_LEN..];
    if version == KILN_PATCH_VERSION {
        return Ok(ParsedPatch {
            header,
            source_path: None,
            body: rest,
        });
    }
    let (len, rest) = rest.split_first_chunk::<2>().ok_or(PatchError::BadHeader)?;
    let len = usize::from(u16::from_be_bytes(*len));
    if len == 0 || len > MAX_SOURCE_PATH_LEN || len > rest.len() {
        return Err(PatchError::BadHeader);
    }
    let (path, body) = rest.split_at(len);
    let path = std::str::from_utf8(path)
        .ok()
        .and_then(|p| EntryPath::new(p).ok())
        .ok_or(PatchError::BadHeader)?;
    Ok(ParsedPatch {
        header,
        source_path: Some(path),
        body,
    })
}

/// Turns a version-1 patch into a version-2 patch made from `source` (the same body).
pub fn with_source_path(patch: &[u8], source: &EntryPath) -> Result<Vec<u8>, PatchError> {
    let parsed = parse_patch(patch)?;
    let path = source.as_str().as_bytes();
    if parsed.source_path.is_some() || path.len() > MAX_SOURCE_PATH_LEN {
        return Err(PatchError::BadHeader);
    }
    let mut out = Vec::with_capacity(patch.len() + 2 + path.len());
    out.extend_from_slice(&patch[..KILN_PATCH_HEADER_LEN]);
    out[8..10].copy_from_slice(&KILN_PATCH_VERSION_RENAMED.to_be_bytes());
    out.extend_from_slice(&(path.len() as u16).to_be_bytes());
    out.extend_from_slice(path);
    out.extend_from_slice(parsed.body);
    Ok(out)
}

/// Parses a whole patch entry and checks what can be checked without the source: for
/// algorithms 3 and 4, that the sections' framing adds up (a truncated patch is refused here).
pub fn check_patch(patch: &[u8]) -> Result<ParsedPatch<'_>, PatchError> {
    let parsed = parse_patch(patch)?;
    if let PatchAlgorithm::Sections | PatchAlgorithm::SectionsX86 = parsed.header.algorithm {
        crate::update::sections::check_framing(parsed.body)?;
    }
    Ok(parsed)
}

/// True when `bytes` start like a Kiln patch.
pub fn is_kiln_patch(bytes: &[u8]) -> bool {
    bytes.starts_with(KILN_PATCH_MAGIC)
}

/// SHA-256 and length of everything `reader` yields.
pub fn sha256_of(reader: &mut dyn Read) -> io::Result<(u64, [u8; 32])> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 << 10];
    let mut len = 0u64;
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            return Ok((len, hasher.finalize().into()));
        }
        hasher.update(&buf[..n]);
        len += n as u64;
    }
}

/// Applies a Kiln patch to `source`, streaming the result into `out`.
///
/// The source is checked first (length and SHA-256), and the output's length and SHA-256 are
/// checked against the header; on any error, what was written to `out` must be discarded.
pub fn apply_kiln_patch<S: Read + Seek>(
    patch: &[u8],
    source: &mut S,
    out: &mut dyn Write,
) -> Result<PatchHeader, PatchError> {
    let ParsedPatch { header, body, .. } = parse_patch(patch)?;
    let mut checked = CheckedWriter {
        out,
        hasher: Sha256::new(),
        written: 0,
        limit: header.target_len,
    };
    match header.algorithm {
        PatchAlgorithm::Bidiff1 => {
            let (len, sha) = sha256_of(source).map_err(PatchError::Decode)?;
            header.check_source(len, &sha)?;
            source.rewind().map_err(PatchError::Decode)?;
            let reader = bipatch::Reader::new(body, source).map_err(|e| {
                PatchError::Decode(io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
            })?;
            // Never produce more than one byte past the promised length.
            let mut limited = reader.take(header.target_len.saturating_add(1));
            io::copy(&mut limited, &mut checked).map_err(PatchError::Decode)?;
        }
        PatchAlgorithm::BidiffSplit | PatchAlgorithm::Sections | PatchAlgorithm::SectionsX86 => {
            let mut old = Vec::new();
            source.read_to_end(&mut old).map_err(PatchError::Decode)?;
            let sha: [u8; 32] = Sha256::digest(&old).into();
            header.check_source(old.len() as u64, &sha)?;
            match header.algorithm {
                PatchAlgorithm::Sections => {
                    crate::update::sections::apply_sections(body, &old, &mut checked, false)?
                }
                PatchAlgorithm::SectionsX86 => {
                    crate::update::sections::apply_sections(body, &old, &mut checked, true)?
                }
                _ => apply_split(body, &old, &mut checked)?,
            }
        }
    }
    let digest: [u8; 32] = checked.hasher.finalize().into();
    if checked.written != header.target_len || digest != header.target_sha256 {
        return Err(PatchError::TargetMismatch);
    }
    Ok(header)
}

/// Hashes and counts what passes through, refusing to go past `limit` bytes.
pub(crate) struct CheckedWriter<'a> {
    out: &'a mut dyn Write,
    hasher: Sha256,
    /// Bytes written so far.
    pub(crate) written: u64,
    /// The target length.
    pub(crate) limit: u64,
}

impl CheckedWriter<'_> {
    /// Whether `add` then `copy` more bytes still fit within the target length (checked
    /// arithmetic: lengths read from a patch never wrap).
    pub(crate) fn has_room_for(&self, add: u64, copy: u64) -> bool {
        self.written
            .checked_add(add)
            .and_then(|n| n.checked_add(copy))
            .is_some_and(|n| n <= self.limit)
    }
}

/// A zigzag-coded seek (as the control data stores it) back to its signed value.
pub(crate) fn unzigzag(zigzag: u64) -> i64 {
    (zigzag >> 1) as i64 ^ -((zigzag & 1) as i64)
}

impl Write for CheckedWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self
            .written
            .checked_add(buf.len() as u64)
            .filter(|&n| n <= self.limit)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    "patch output exceeds the target length",
                )
            })?;
        self.out.write_all(buf)?;
        self.hasher.update(buf);
        self.written = written;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// A decode error for a malformed patch body.
pub(crate) fn corrupt(what: &'static str) -> PatchError {
    PatchError::Decode(io::Error::new(io::ErrorKind::InvalidData, what))
}

/// Decodes one LEB128 number from the bytes `next_byte` yields (the one decoder of every patch
/// control, from a slice or from a streamed section).
pub(crate) fn decode_leb128(
    mut next_byte: impl FnMut() -> Result<u8, PatchError>,
) -> Result<u64, PatchError> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = next_byte()?;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(corrupt("control varint too long"))
}

/// Reads one LEB128 number from the front of `input`.
pub(crate) fn read_leb128(input: &mut &[u8]) -> Result<u64, PatchError> {
    decode_leb128(|| {
        let (&byte, rest) = input.split_first().ok_or(corrupt("truncated control"))?;
        *input = rest;
        Ok(byte)
    })
}

/// Appends a LEB128 varint.
#[cfg(any(test, feature = "generate"))]
pub(crate) fn write_leb128(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Applies an algorithm-2 body to `old`.
fn apply_split(body: &[u8], old: &[u8], out: &mut CheckedWriter<'_>) -> Result<(), PatchError> {
    if body.len() < 24 {
        return Err(corrupt("truncated section lengths"));
    }
    let len_at = |at: usize| u64::from_be_bytes(body[at..at + 8].try_into().expect("8 bytes"));
    let (controls_len, adds_len, copies_len) = (len_at(0), len_at(8), len_at(16));
    let rest = &body[24..];
    let total = controls_len
        .checked_add(adds_len)
        .and_then(|n| n.checked_add(copies_len));
    if total != Some(rest.len() as u64) {
        return Err(corrupt("section lengths do not add up"));
    }
    let (mut controls, rest) = rest.split_at(controls_len as usize);
    let (adds, mut copies) = rest.split_at(adds_len as usize);
    let mut adds = bzip2::read::MultiBzDecoder::new(adds);
    let mut pos: u64 = 0;
    let mut buf = Vec::new();
    while !controls.is_empty() {
        let add = read_leb128(&mut controls)?;
        let copy = read_leb128(&mut controls)?;
        let zigzag = read_leb128(&mut controls)?;
        let seek = unzigzag(zigzag);
        // Bounds first: the output limit also bounds every length read from the patch.
        if !out.has_room_for(add, copy) || copy > copies.len() as u64 {
            return Err(corrupt("control past the target or copy section"));
        }
        let end = pos
            .checked_add(add)
            .filter(|&end| end <= old.len() as u64)
            .ok_or(corrupt("add past the source"))?;
        buf.resize(add as usize, 0);
        adds.read_exact(&mut buf).map_err(PatchError::Decode)?;
        for (b, o) in buf.iter_mut().zip(&old[pos as usize..end as usize]) {
            *b = b.wrapping_add(*o);
        }
        out.write_all(&buf).map_err(PatchError::Decode)?;
        out.write_all(&copies[..copy as usize])
            .map_err(PatchError::Decode)?;
        copies = &copies[copy as usize..];
        pos = end
            .checked_add_signed(seek)
            .filter(|&p| p <= old.len() as u64)
            .ok_or(corrupt("seek outside the source"))?;
    }
    if !copies.is_empty() {
        return Err(corrupt("copy bytes left over"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_rejects_unknowns() {
        let header = PatchHeader {
            algorithm: PatchAlgorithm::Bidiff1,
            source_len: 7,
            source_sha256: [1; 32],
            target_len: 9,
            target_sha256: [2; 32],
        };
        let bytes = header.encode();
        assert_eq!(PatchHeader::decode(&bytes).unwrap(), header);
        let mut bad = bytes;
        bad[9] = 3;
        assert!(matches!(
            PatchHeader::decode(&bad),
            Err(PatchError::UnsupportedVersion(3))
        ));
        // Version 2 names its source after the fixed header.
        let source = EntryPath::new("pkg-1.2.dist-info/RECORD").unwrap();
        let mut v1 = bytes.to_vec();
        v1.extend_from_slice(b"body");
        let v2 = with_source_path(&v1, &source).unwrap();
        let parsed = parse_patch(&v2).unwrap();
        assert_eq!(parsed.header, header);
        assert_eq!(parsed.source_path, Some(source.clone()));
        assert_eq!(parsed.body, b"body");
        assert!(with_source_path(&v2, &source).is_err());
        for cut in [KILN_PATCH_HEADER_LEN + 1, KILN_PATCH_HEADER_LEN + 5] {
            assert!(matches!(
                parse_patch(&v2[..cut]),
                Err(PatchError::BadHeader)
            ));
        }
        let mut evil = v2.clone();
        evil[KILN_PATCH_HEADER_LEN + 2..KILN_PATCH_HEADER_LEN + 5].copy_from_slice(b"../");
        assert!(matches!(parse_patch(&evil), Err(PatchError::BadHeader)));
        let mut bad = bytes;
        bad[11] = 9;
        assert_eq!(
            PatchAlgorithm::from_id(2),
            Some(PatchAlgorithm::BidiffSplit)
        );
        assert!(matches!(
            PatchHeader::decode(&bad),
            Err(PatchError::UnsupportedAlgorithm(9))
        ));
        assert!(matches!(
            PatchHeader::decode(&bytes[..50]),
            Err(PatchError::BadHeader)
        ));
        assert!(matches!(
            header.check_source(8, &[1; 32]),
            Err(PatchError::SourceSize {
                expected: 7,
                actual: 8
            })
        ));
        assert!(matches!(
            header.check_source(7, &[0; 32]),
            Err(PatchError::SourceHash)
        ));
    }

    /// Lengths near `u64::MAX` in an algorithm-2 body are refused, never wrapped.
    #[test]
    fn huge_lengths_in_a_patch_are_refused_not_wrapped() {
        let old = b"0123456789".to_vec();
        let header = PatchHeader {
            algorithm: PatchAlgorithm::BidiffSplit,
            source_len: old.len() as u64,
            source_sha256: Sha256::digest(&old).into(),
            target_len: u64::MAX,
            target_sha256: [0; 32],
        };
        for (add, copy) in [
            (u64::MAX, 1),
            (1, u64::MAX),
            (u64::MAX / 2 + 1, u64::MAX / 2 + 1),
        ] {
            let mut controls = Vec::new();
            for v in [add, copy, 0] {
                write_leb128(&mut controls, v);
            }
            let mut patch = header.encode().to_vec();
            for len in [controls.len() as u64, 0, 0] {
                patch.extend_from_slice(&len.to_be_bytes());
            }
            patch.extend_from_slice(&controls);
            let result = apply_kiln_patch(&patch, &mut io::Cursor::new(&old), &mut io::sink());
            assert!(matches!(result, Err(PatchError::Decode(_))), "{add} {copy}");
        }
        // Section lengths whose sum overflows.
        let mut patch = header.encode().to_vec();
        for len in [u64::MAX, 2, 0] {
            patch.extend_from_slice(&len.to_be_bytes());
        }
        let result = apply_kiln_patch(&patch, &mut io::Cursor::new(&old), &mut io::sink());
        assert!(matches!(result, Err(PatchError::Decode(_))));
    }

    /// Algorithm 1 (a plain bidiff stream, applied by bipatch) still applies, with every check.
    #[cfg(feature = "generate")]
    #[test]
    fn bidiff_stream_patches_apply_with_bipatch() {
        let old = b"the quick brown fox jumps over the lazy dog".repeat(40);
        let mut new = old.clone();
        new[100..105].copy_from_slice(b"QUICK");
        let header = PatchHeader {
            algorithm: PatchAlgorithm::Bidiff1,
            source_len: old.len() as u64,
            source_sha256: Sha256::digest(&old).into(),
            target_len: new.len() as u64,
            target_sha256: Sha256::digest(&new).into(),
        };
        let mut patch = header.encode().to_vec();
        bidiff::simple_diff(&old, &new, &mut patch).unwrap();
        let mut out = Vec::new();
        apply_kiln_patch(&patch, &mut io::Cursor::new(&old), &mut out).unwrap();
        assert_eq!(out, new);
        let truncated = &patch[..patch.len() - 3];
        assert!(apply_kiln_patch(truncated, &mut io::Cursor::new(&old), &mut io::sink()).is_err());
        assert!(matches!(
            apply_kiln_patch(&patch, &mut io::Cursor::new(&new), &mut io::sink()),
            Err(PatchError::SourceHash)
        ));
    }
}
