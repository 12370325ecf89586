//! Making Kiln patch entries: bidiff finds the matches (scanning chunks on the rayon pool), the
//! controls are stored in three sections (algorithm 2, see [`patch`](crate::update::patch)), the
//! add section is bzip2-compressed in parallel pieces, and every patch is checked by applying it
//! before it is trusted.

use std::io::{self, Write};

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::update::patch::{apply_kiln_patch, write_leb128, PatchAlgorithm, PatchHeader};

/// zstd level of patch entries (the whole entry: header and sections).
pub const PATCH_ZSTD_LEVEL: i32 = 19;
/// Files at least this large are scanned in parallel chunks.
const PARALLEL_SCAN_MIN: usize = 1 << 20;
/// The add section is bzip2-compressed in pieces of this many bytes (a multiple of bzip2's
/// 900 kB block, so splitting costs almost nothing), in parallel.
const ADD_PIECE: usize = 4 * 900_000;

/// A version string of everything that shapes a patch's bytes; part of every cache key.
pub const DIFF_PARAMS_VERSION: &str = "bidiff1.0.0-chunk4m-split-bz9-zstd19-v2";

/// SHA-256 of a byte slice.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn diff_params(new_len: usize) -> bidiff::DiffParams {
    let chunk = if new_len >= PARALLEL_SCAN_MIN {
        Some((new_len / 4).clamp(256 << 10, 4 << 20))
    } else {
        None
    };
    bidiff::DiffParams::new(1, chunk).expect("valid diff parameters")
}

fn bzip2_piece(piece: &[u8]) -> io::Result<Vec<u8>> {
    let mut encoder = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
    encoder.write_all(piece)?;
    encoder.finish()
}

/// Diffs `old` → `new` and returns the Kiln patch entry (algorithm 2), zstd-compressed.
///
/// Both files must be non-empty (bidiff cannot index an empty source, and an empty target needs
/// no patch).
pub fn make_patch(old: &[u8], new: &[u8]) -> io::Result<Vec<u8>> {
    if old.is_empty() || new.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "cannot diff from or to an empty file",
        ));
    }
    let header = PatchHeader {
        algorithm: PatchAlgorithm::BidiffSplit,
        source_len: old.len() as u64,
        source_sha256: sha256(old),
        target_len: new.len() as u64,
        target_sha256: sha256(new),
    };
    let (mut controls, mut adds, mut copies) =
        (Vec::new(), Vec::with_capacity(new.len()), Vec::new());
    {
        let mut translator =
            bidiff::Translator::new(old, new, |c: &bidiff::Control| -> io::Result<()> {
                write_leb128(&mut controls, c.add.len() as u64);
                write_leb128(&mut controls, c.copy.len() as u64);
                write_leb128(&mut controls, ((c.seek << 1) ^ (c.seek >> 63)) as u64);
                adds.extend_from_slice(c.add);
                copies.extend_from_slice(c.copy);
                Ok(())
            });
        bidiff::diff(old, new, &diff_params(new.len()), |m| {
            translator.translate(m)
        })?;
        translator.close()?;
    }
    let pieces: Vec<Vec<u8>> = adds
        .par_chunks(ADD_PIECE)
        .map(bzip2_piece)
        .collect::<io::Result<_>>()?;
    let adds_len: usize = pieces.iter().map(Vec::len).sum();
    let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), PATCH_ZSTD_LEVEL)?;
    encoder.include_checksum(false)?;
    encoder.write_all(&header.encode())?;
    for len in [controls.len(), adds_len, copies.len()] {
        encoder.write_all(&(len as u64).to_be_bytes())?;
    }
    encoder.write_all(&controls)?;
    for piece in &pieces {
        encoder.write_all(piece)?;
    }
    encoder.write_all(&copies)?;
    encoder.finish()
}

/// True when the compressed patch entry turns `old` into exactly `new` (length and SHA-256 in
/// its header, checked while applying).
pub fn patch_is_valid(compressed: &[u8], old: &[u8], new_sha256: &[u8; 32]) -> bool {
    let Ok(patch) = zstd::stream::decode_all(compressed) else {
        return false;
    };
    match PatchHeader::decode(&patch) {
        Ok(h) if &h.target_sha256 == new_sha256 => {}
        _ => return false,
    }
    apply_kiln_patch(&patch, &mut io::Cursor::new(old), &mut io::sink()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patches_apply_and_corruption_is_caught() {
        let old: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut new = old.clone();
        new[1000..1010].copy_from_slice(b"0123456789");
        new.extend_from_slice(b"tail");
        let patch = make_patch(&old, &new).unwrap();
        assert!(patch.len() < 1000, "{}", patch.len());
        assert!(patch_is_valid(&patch, &old, &sha256(&new)));
        assert!(!patch_is_valid(&patch, &new, &sha256(&new)));
        assert!(!patch_is_valid(
            &patch[..patch.len() / 2],
            &old,
            &sha256(&new)
        ));
        assert!(!patch_is_valid(&patch, &old, &sha256(&old)));
    }
}
