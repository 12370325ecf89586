//! Making Kiln patch entries with bidiff: diff on the rayon pool, compression in a second thread,
//! and a check by applying before a patch is trusted.

use std::io::{self, Write};
use std::sync::mpsc;

use sha2::{Digest, Sha256};

use crate::update::patch::{apply_kiln_patch, PatchAlgorithm, PatchHeader};

/// zstd level of patch entries (and the comparison with full files).
pub const PATCH_ZSTD_LEVEL: i32 = 19;
/// Files at least this large are scanned in parallel chunks.
const PARALLEL_SCAN_MIN: usize = 1 << 20;

/// A version string of everything that shapes a patch's bytes; part of every cache key.
pub const DIFF_PARAMS_VERSION: &str = "bidiff1.0.0-chunk4-zstd19-v1";

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

/// Sends the diff stream to the compressing thread in 1 MiB chunks.
struct ChannelWriter {
    tx: mpsc::SyncSender<Vec<u8>>,
    buf: Vec<u8>,
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= 1 << 20 {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(1 << 20));
            self.tx
                .send(chunk)
                .map_err(|_| io::Error::other("patch compressor stopped"))?;
        }
        Ok(())
    }
}

/// Diffs `old` → `new` and returns the Kiln patch entry, zstd-compressed (header + bidiff).
///
/// The zstd encoder runs in its own thread while bidiff scans, so both cores work. Both files
/// must be non-empty (bidiff cannot index an empty source, and an empty target needs no patch).
pub fn make_patch(old: &[u8], new: &[u8]) -> io::Result<Vec<u8>> {
    if old.is_empty() || new.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "cannot diff from or to an empty file",
        ));
    }
    let header = PatchHeader {
        algorithm: PatchAlgorithm::Bidiff1,
        source_len: old.len() as u64,
        source_sha256: sha256(old),
        target_len: new.len() as u64,
        target_sha256: sha256(new),
    };
    let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(8);
    std::thread::scope(|scope| {
        let compressor = scope.spawn(move || -> io::Result<Vec<u8>> {
            let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), PATCH_ZSTD_LEVEL)?;
            encoder.include_checksum(false)?;
            encoder.long_distance_matching(true)?;
            encoder.write_all(&header.encode())?;
            for chunk in rx {
                encoder.write_all(&chunk)?;
            }
            encoder.finish()
        });
        let mut writer = ChannelWriter {
            tx,
            buf: Vec::with_capacity(1 << 20),
        };
        let diffed =
            bidiff::simple_diff_with_params(old, new, &mut writer, &diff_params(new.len()))
                .and_then(|()| writer.flush());
        drop(writer);
        let compressed = compressor
            .join()
            .map_err(|_| io::Error::other("patch compressor panicked"))?;
        diffed?;
        compressed
    })
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
