//! Resource limits a reader enforces on untrusted archives.

/// Bounds on what a MAR reader accepts, checked before any allocation or seek.
///
/// The defaults follow Mozilla's reader where it has a limit (`docs/mar-format.md` B5: 8 signatures of at
/// most 2048 bytes, a PIB of at most 96 data bytes) and are generous elsewhere:
///
/// | field | default |
/// |---|---|
/// | `max_file_size` | 4 GiB + 64 KiB (the u32 offsets cap the format near 4 GiB) |
/// | `max_index_size` | 64 MiB |
/// | `max_entries` | 1,000,000 |
/// | `max_signatures` | 8 |
/// | `max_signature_len` | 2048 bytes |
/// | `max_additional_blocks` | 16 |
/// | `max_additional_block_size` | 64 KiB (the PIB itself is held to 96 data bytes) |
/// | `max_entry_unpacked_size` | 8 GiB (decompression-bomb guard per entry) |
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest archive accepted, in bytes.
    pub max_file_size: u64,
    /// Largest index block accepted, in bytes.
    pub max_index_size: u32,
    /// Most index entries accepted.
    pub max_entries: usize,
    /// Most signatures accepted in the signature block.
    pub max_signatures: u32,
    /// Longest signature value accepted, in bytes.
    pub max_signature_len: u32,
    /// Most additional blocks accepted.
    pub max_additional_blocks: u32,
    /// Largest additional block accepted, header included, in bytes.
    pub max_additional_block_size: u32,
    /// Most bytes one entry may decompress to.
    pub max_entry_unpacked_size: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_file_size: (4 << 30) + (64 << 10),
            max_index_size: 64 << 20,
            max_entries: 1_000_000,
            max_signatures: 8,
            max_signature_len: 2048,
            max_additional_blocks: 16,
            max_additional_block_size: 64 << 10,
            max_entry_unpacked_size: 8 << 30,
        }
    }
}
