//! Mozilla's MBDIFF10 patches (`docs/mar-format.md` B3): parsing, the source checks, and a bounds-checked bspatch.
//!
//! Unlike Mozilla's older `bspatch.cpp`, this requires a non-empty control block that is a whole
//! number of 12-byte triples, bounds every step (including negative seeks) against the old file,
//! the diff and extra blocks, and checks that exactly `dlen` bytes come out (`docs/mar-format.md` B6.5).

/// The 8-byte tag every MBDIFF10 patch starts with.
pub const MBDIFF_MAGIC: &[u8; 8] = b"MBDIFF10";
const HEADER_LEN: usize = 32;

/// Why an MBDIFF10 patch was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MbdiffError {
    /// The patch does not start with `MBDIFF10` or is shorter than its header.
    #[error("not an MBDIFF10 patch")]
    BadHeader,
    /// The block lengths do not add up to the patch length.
    #[error("block lengths add up to {declared} bytes, the patch has {actual}")]
    LengthMismatch {
        /// 32 + cblen + difflen + extralen.
        declared: u64,
        /// The real patch length.
        actual: u64,
    },
    /// The control block is empty or not a multiple of 12 bytes.
    #[error("control block of {0} bytes is not a non-empty multiple of 12")]
    BadControlBlock(u32),
    /// The source has the wrong length (Firefox's error 2).
    #[error("source is {actual} bytes, the patch expects {expected}")]
    SourceSize {
        /// `slen`.
        expected: u64,
        /// The source's real length.
        actual: u64,
    },
    /// The source's CRC-32/BZIP2 differs (Firefox's error 4).
    #[error("source CRC-32 is {actual:#010x}, the patch expects {expected:#010x}")]
    SourceCrc {
        /// `scrc32`.
        expected: u32,
        /// The source's CRC.
        actual: u32,
    },
    /// A control triple reads or writes out of bounds, or the output is not `dlen` bytes.
    #[error("corrupt patch: {0}")]
    Corrupt(&'static str),
}

/// The parsed 32-byte header of an MBDIFF10 patch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MbdiffHeader {
    /// Length of the source file.
    pub slen: u32,
    /// CRC-32/BZIP2 of the source file.
    pub scrc32: u32,
    /// Length of the result.
    pub dlen: u32,
    /// Control block length in bytes.
    pub cblen: u32,
    /// Diff block length.
    pub difflen: u32,
    /// Extra block length.
    pub extralen: u32,
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

impl MbdiffHeader {
    /// Parses and checks the header against the whole patch's length (`MBS_ReadHeader`).
    pub fn parse(patch: &[u8]) -> Result<MbdiffHeader, MbdiffError> {
        if patch.len() < HEADER_LEN || &patch[..8] != MBDIFF_MAGIC {
            return Err(MbdiffError::BadHeader);
        }
        let header = MbdiffHeader {
            slen: be32(&patch[8..]),
            scrc32: be32(&patch[12..]),
            dlen: be32(&patch[16..]),
            cblen: be32(&patch[20..]),
            difflen: be32(&patch[24..]),
            extralen: be32(&patch[28..]),
        };
        let declared = HEADER_LEN as u64
            + u64::from(header.cblen)
            + u64::from(header.difflen)
            + u64::from(header.extralen);
        if declared != patch.len() as u64 {
            return Err(MbdiffError::LengthMismatch {
                declared,
                actual: patch.len() as u64,
            });
        }
        if header.cblen == 0 || !header.cblen.is_multiple_of(12) {
            return Err(MbdiffError::BadControlBlock(header.cblen));
        }
        Ok(header)
    }

    /// The checks `PatchFile::LoadSourceFile` makes before patching: size (2), then CRC (4).
    pub fn check_source(&self, source: &[u8]) -> Result<(), MbdiffError> {
        if source.len() as u64 != u64::from(self.slen) {
            return Err(MbdiffError::SourceSize {
                expected: self.slen.into(),
                actual: source.len() as u64,
            });
        }
        let actual = crc32_bzip2(source);
        if actual != self.scrc32 {
            return Err(MbdiffError::SourceCrc {
                expected: self.scrc32,
                actual,
            });
        }
        Ok(())
    }
}

/// Applies a whole MBDIFF10 patch to `source` after checking its size and CRC.
pub fn apply_mbdiff(patch: &[u8], source: &[u8]) -> Result<Vec<u8>, MbdiffError> {
    let header = MbdiffHeader::parse(patch)?;
    header.check_source(source)?;
    // `parse` checked that the three blocks add up to the patch's length, so these slices are in
    // bounds; every run below is checked with `checked_add` against its block and the output.
    let control_end = HEADER_LEN + header.cblen as usize;
    let diff_end = control_end + header.difflen as usize;
    let control = &patch[HEADER_LEN..control_end];
    let diff = &patch[control_end..diff_end];
    let extra = &patch[diff_end..];
    let dlen = header.dlen as usize;
    let mut out = Vec::with_capacity(dlen);
    let (mut diff_pos, mut extra_pos, mut old_pos) = (0usize, 0usize, 0i64);
    let within =
        |pos: usize, len: usize, limit: usize| pos.checked_add(len).filter(|&end| end <= limit);
    for triple in control.chunks_exact(12) {
        let x = be32(&triple[0..]) as usize;
        let y = be32(&triple[4..]) as usize;
        let z = i64::from(be32(&triple[8..]) as i32);
        let (Some(_), Some(diff_end)) =
            (within(out.len(), x, dlen), within(diff_pos, x, diff.len()))
        else {
            return Err(MbdiffError::Corrupt(
                "diff run past the output or diff block",
            ));
        };
        let old_start = usize::try_from(old_pos)
            .ok()
            .filter(|&start| within(start, x, source.len()).is_some())
            .ok_or(MbdiffError::Corrupt("diff run past the source"))?;
        out.extend(
            diff[diff_pos..diff_end]
                .iter()
                .zip(&source[old_start..old_start + x])
                .map(|(d, o)| d.wrapping_add(*o)),
        );
        diff_pos = diff_end;
        let (Some(_), Some(extra_end)) = (
            within(out.len(), y, dlen),
            within(extra_pos, y, extra.len()),
        ) else {
            return Err(MbdiffError::Corrupt(
                "extra run past the output or extra block",
            ));
        };
        out.extend_from_slice(&extra[extra_pos..extra_end]);
        extra_pos = extra_end;
        // x < 2^32 and |z| < 2^31, so old_pos stays far from i64's limits; checked all the same.
        old_pos = (old_start as i64)
            .checked_add(x as i64)
            .and_then(|p| p.checked_add(z))
            .filter(|&p| (0..=source.len() as i64).contains(&p))
            .ok_or(MbdiffError::Corrupt("seek outside the source"))?;
    }
    if out.len() != dlen {
        return Err(MbdiffError::Corrupt("output is not dlen bytes"));
    }
    Ok(out)
}

const fn crc_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u32) << 24;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04C1_1DB7
            } else {
                crc << 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

static CRC_TABLE: [u32; 256] = crc_table();

/// CRC-32/BZIP2 (MSB-first, polynomial 0x04C11DB7, init and final XOR 0xFFFFFFFF): the CRC
/// Mozilla's updater computes with `BZ2_crc32Table`. Not zlib's CRC-32.
pub fn crc32_bzip2(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in data {
        crc = (crc << 8) ^ CRC_TABLE[((crc >> 24) ^ u32::from(byte)) as usize];
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal MBDIFF10 writer for tests: one triple per call of (x, y, z).
    fn patch(
        source: &[u8],
        triples: &[(u32, u32, i32)],
        diff: &[u8],
        extra: &[u8],
        dlen: u32,
    ) -> Vec<u8> {
        let mut p = MBDIFF_MAGIC.to_vec();
        for v in [
            source.len() as u32,
            crc32_bzip2(source),
            dlen,
            triples.len() as u32 * 12,
            diff.len() as u32,
            extra.len() as u32,
        ] {
            p.extend_from_slice(&v.to_be_bytes());
        }
        for &(x, y, z) in triples {
            p.extend_from_slice(&x.to_be_bytes());
            p.extend_from_slice(&y.to_be_bytes());
            p.extend_from_slice(&z.to_be_bytes());
        }
        p.extend_from_slice(diff);
        p.extend_from_slice(extra);
        p
    }

    #[test]
    fn crc_is_bzip2_flavour() {
        assert_eq!(crc32_bzip2(b"123456789"), 0xFC89_1918);
        assert_eq!(crc32_bzip2(b""), 0);
    }

    #[test]
    fn applies_and_checks_the_source() {
        let source = b"hello world";
        let p = patch(
            source,
            &[(5, 3, 1), (5, 0, 0)],
            &[0, 0, 0, 0, 1, 0, 0, 0, 0, 0],
            b"XYZ",
            13,
        );
        assert_eq!(apply_mbdiff(&p, source).unwrap(), b"hellpXYZworld");
        assert!(matches!(
            apply_mbdiff(&p, b"hello worl"),
            Err(MbdiffError::SourceSize {
                expected: 11,
                actual: 10
            })
        ));
        assert!(matches!(
            apply_mbdiff(&p, b"hello World"),
            Err(MbdiffError::SourceCrc { .. })
        ));
    }

    #[test]
    fn rejects_malformed_patches() {
        let source = b"abc";
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (patch(source, &[], &[], &[], 0), "empty control"),
            (
                patch(source, &[(4, 0, 0)], &[0; 4], &[], 4),
                "x past source",
            ),
            (patch(source, &[(1, 0, -5)], &[0], &[], 1), "negative seek"),
            (patch(source, &[(1, 2, 0)], &[0], b"x", 3), "y past extra"),
            (patch(source, &[(3, 0, 0)], &[0; 3], &[], 2), "x past dlen"),
            (patch(source, &[(1, 0, 0)], &[0], &[], 2), "short output"),
        ];
        for (p, what) in cases {
            assert!(apply_mbdiff(&p, source).is_err(), "{what}");
        }
        let mut p = patch(source, &[(3, 0, 0)], &[0; 3], &[], 3);
        p.push(0);
        assert!(matches!(
            apply_mbdiff(&p, source),
            Err(MbdiffError::LengthMismatch { .. })
        ));
        assert_eq!(
            apply_mbdiff(b"BSDIFF40", source),
            Err(MbdiffError::BadHeader)
        );
    }
}
