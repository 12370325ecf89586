//! Kiln's patch entry format: a fixed header that makes a `bidiff` stream safe to apply.
//!
//! ```text
//! off len field
//! 0   8   magic             "KILNDIFF"
//! 8   2   format version    u16 BE, 1
//! 10  2   algorithm id      u16 BE, 1 = bidiff 1.0 stream (apply with bipatch 1.0)
//! 12  8   source length     u64 BE
//! 20  32  source SHA-256
//! 52  8   target length     u64 BE
//! 60  32  target SHA-256
//! 92  ... the bidiff stream
//! ```
//!
//! The bidiff stream carries no sizes or checksums, and a stream cut at an instruction boundary
//! applies without error; the header is what makes application safe: the source is checked
//! before patching (length → Firefox error 2, hash → 4) and the output after (length and hash).
//! In a MAR the whole entry (header and stream) is zstd-compressed like every other entry.

use std::io::{self, Read, Seek, Write};

use sha2::{Digest, Sha256};

/// The 8 bytes every Kiln patch starts with.
pub const KILN_PATCH_MAGIC: &[u8; 8] = b"KILNDIFF";
/// The header format version this crate writes and reads.
pub const KILN_PATCH_VERSION: u16 = 1;
/// Length of the header in bytes.
pub const KILN_PATCH_HEADER_LEN: usize = 92;

/// The diff algorithm of a Kiln patch's body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PatchAlgorithm {
    /// A `bidiff` 1.0 stream, applied with `bipatch` 1.0 (id 1).
    Bidiff1,
}

impl PatchAlgorithm {
    /// The id written in the header.
    pub fn id(self) -> u16 {
        match self {
            PatchAlgorithm::Bidiff1 => 1,
        }
    }

    fn from_id(id: u16) -> Option<PatchAlgorithm> {
        (id == 1).then_some(PatchAlgorithm::Bidiff1)
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
        if version != KILN_PATCH_VERSION {
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
    let header = PatchHeader::decode(patch)?;
    let (len, sha) = sha256_of(source).map_err(PatchError::Decode)?;
    header.check_source(len, &sha)?;
    source.rewind().map_err(PatchError::Decode)?;
    let reader = bipatch::Reader::new(&patch[KILN_PATCH_HEADER_LEN..], source).map_err(|e| {
        PatchError::Decode(io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
    })?;
    // Never produce more than one byte past the promised length, whatever the stream says.
    let mut limited = reader.take(header.target_len.saturating_add(1));
    let mut hasher = Sha256::new();
    let mut written = 0u64;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = limited.read(&mut buf).map_err(PatchError::Decode)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(PatchError::Decode)?;
        written += n as u64;
    }
    let digest: [u8; 32] = hasher.finalize().into();
    if written != header.target_len || digest != header.target_sha256 {
        return Err(PatchError::TargetMismatch);
    }
    Ok(header)
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
        bad[9] = 2;
        assert!(matches!(
            PatchHeader::decode(&bad),
            Err(PatchError::UnsupportedVersion(2))
        ));
        let mut bad = bytes;
        bad[11] = 9;
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
}
