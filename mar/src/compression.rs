//! Entry compression: detection by magic, streaming encoders and bounded decoders.
//!
//! A MAR records no compression method: readers sniff each entry's first bytes. Kiln writes zstd
//! (one frame, content size recorded) or xz (CRC64, what Firefox's updater decodes); it reads those,
//! bzip2 (legacy full updates) and raw entries.

use std::io::{self, BufRead, BufReader, Read, Write};

/// zstd frame magic.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];
/// xz stream magic.
const XZ_MAGIC: [u8; 6] = [0xFD, b'7', b'z', b'X', b'Z', 0x00];
/// bzip2 stream magic.
const BZIP2_MAGIC: [u8; 3] = *b"BZh";
/// Largest dictionary an xz entry may need (Firefox's updater uses 64 MiB).
const XZ_MEMORY_LIMIT: u64 = 64 << 20;
/// Largest zstd window accepted when decoding (2^27 = 128 MiB, zstd's default for decoders).
const ZSTD_WINDOW_LOG_MAX: u32 = 27;

/// How an entry's stored bytes are encoded, as detected from their first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StoredFormat {
    /// Stored as is.
    Raw,
    /// One zstd frame.
    Zstd,
    /// One xz stream.
    Xz,
    /// One bzip2 stream (read only).
    Bzip2,
}

impl StoredFormat {
    /// Detects the format of stored bytes from their first bytes (at least 6 are needed to tell
    /// every format apart; fewer means raw).
    pub fn detect(head: &[u8]) -> StoredFormat {
        if head.starts_with(&ZSTD_MAGIC) {
            StoredFormat::Zstd
        } else if head.starts_with(&XZ_MAGIC) {
            StoredFormat::Xz
        } else if head.starts_with(&BZIP2_MAGIC) {
            StoredFormat::Bzip2
        } else {
            StoredFormat::Raw
        }
    }

    /// A lowercase name for listings and JSON (`raw`, `zstd`, `xz`, `bz2`).
    pub fn name(self) -> &'static str {
        match self {
            StoredFormat::Raw => "raw",
            StoredFormat::Zstd => "zstd",
            StoredFormat::Xz => "xz",
            StoredFormat::Bzip2 => "bz2",
        }
    }
}

/// How a writer compresses entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Compression {
    /// Store entries as they are (Mozilla's legacy style; Firefox's updater cannot read them).
    None,
    /// zstd at the given level (1–22), one frame per entry with its content size recorded.
    Zstd {
        /// The zstd level.
        level: i32,
    },
    /// xz with CRC64 at the given preset (0–9), what Firefox's updater decodes.
    Xz {
        /// The xz preset.
        preset: u32,
    },
}

impl Default for Compression {
    /// zstd level 19: update MARs are downloaded by every user, so size wins over speed.
    fn default() -> Compression {
        Compression::Zstd { level: 19 }
    }
}

impl Compression {
    /// Default xz settings: preset 6 with CRC64, as Mozilla's build-mar `-J`.
    pub const XZ_DEFAULT: Compression = Compression::Xz { preset: 6 };

    /// Compresses `input` (exactly `len` bytes) into `out`, returning the bytes `input` held.
    pub(crate) fn encode(
        self,
        input: &mut dyn Read,
        len: u64,
        out: &mut dyn Write,
    ) -> io::Result<u64> {
        match self {
            Compression::None => io::copy(input, out),
            Compression::Zstd { level } => {
                let mut encoder = zstd::stream::write::Encoder::new(out, level)?;
                encoder.include_checksum(false)?;
                encoder.include_contentsize(true)?;
                encoder.set_pledged_src_size(Some(len))?;
                let copied = io::copy(input, &mut encoder)?;
                encoder.finish()?;
                Ok(copied)
            }
            Compression::Xz { preset } => {
                let stream = liblzma::stream::Stream::new_easy_encoder(
                    preset,
                    liblzma::stream::Check::Crc64,
                )
                .map_err(io::Error::other)?;
                let mut encoder = liblzma::write::XzEncoder::new_stream(out, stream);
                let copied = io::copy(input, &mut encoder)?;
                encoder.finish()?;
                Ok(copied)
            }
        }
    }
}

/// Reads one entry's stored bytes and yields its decompressed content.
///
/// It never yields more than `limit` bytes (an error past that), and after the compressed stream
/// ends it requires that no stored bytes are left over (trailing data is an error, as in mardor).
pub(crate) struct DecodingReader<R: Read> {
    inner: Decoder<R>,
    produced: u64,
    limit: u64,
    finished: bool,
}

enum Decoder<R: Read> {
    Raw(BufReader<R>),
    Zstd(Box<zstd::stream::read::Decoder<'static, BufReader<R>>>),
    Xz(Box<liblzma::bufread::XzDecoder<BufReader<R>>>),
    Bzip2(Box<bzip2::bufread::BzDecoder<BufReader<R>>>),
}

impl<R: Read> DecodingReader<R> {
    /// Wraps stored bytes, sniffing their format; `limit` bounds the decoded size.
    pub(crate) fn new(stored: R, limit: u64) -> io::Result<(DecodingReader<R>, StoredFormat)> {
        let mut buffered = BufReader::with_capacity(64 << 10, stored);
        let format = StoredFormat::detect(buffered.fill_buf()?);
        DecodingReader::with_format(buffered, format, limit).map(|r| (r, format))
    }

    /// Wraps stored bytes whose format is already known.
    fn with_format(
        buffered: BufReader<R>,
        format: StoredFormat,
        limit: u64,
    ) -> io::Result<DecodingReader<R>> {
        let inner = match format {
            StoredFormat::Raw => Decoder::Raw(buffered),
            StoredFormat::Zstd => {
                let mut decoder =
                    zstd::stream::read::Decoder::with_buffer(buffered)?.single_frame();
                decoder.window_log_max(ZSTD_WINDOW_LOG_MAX)?;
                Decoder::Zstd(Box::new(decoder))
            }
            StoredFormat::Xz => {
                let stream = liblzma::stream::Stream::new_stream_decoder(XZ_MEMORY_LIMIT, 0)
                    .map_err(io::Error::other)?;
                Decoder::Xz(Box::new(liblzma::bufread::XzDecoder::new_stream(
                    buffered, stream,
                )))
            }
            StoredFormat::Bzip2 => {
                Decoder::Bzip2(Box::new(bzip2::bufread::BzDecoder::new(buffered)))
            }
        };
        Ok(DecodingReader {
            inner,
            produced: 0,
            limit,
            finished: false,
        })
    }

    fn check_no_trailing_data(&mut self) -> io::Result<()> {
        let rest = match &mut self.inner {
            Decoder::Raw(_) => return Ok(()),
            Decoder::Zstd(d) => d.get_mut().fill_buf()?.len(),
            Decoder::Xz(d) => d.get_mut().fill_buf()?.len(),
            Decoder::Bzip2(d) => d.get_mut().fill_buf()?.len(),
        };
        if rest == 0 {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{rest} bytes of trailing data after the compressed stream"),
            ))
        }
    }
}

impl<R: Read> Read for DecodingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.finished || buf.is_empty() {
            return Ok(0);
        }
        let n = match &mut self.inner {
            Decoder::Raw(r) => r.read(buf)?,
            Decoder::Zstd(d) => d.read(buf)?,
            Decoder::Xz(d) => d.read(buf)?,
            Decoder::Bzip2(d) => d.read(buf)?,
        };
        if n == 0 {
            self.finished = true;
            self.check_no_trailing_data()?;
            return Ok(0);
        }
        self.produced = self.produced.saturating_add(n as u64);
        if self.produced > self.limit {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("entry decompresses to more than {} bytes", self.limit),
            ));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(compression: Compression, data: &[u8]) -> (Vec<u8>, StoredFormat) {
        let mut stored = Vec::new();
        compression
            .encode(&mut &data[..], data.len() as u64, &mut stored)
            .unwrap();
        let (mut reader, format) = DecodingReader::new(&stored[..], u64::MAX).unwrap();
        let mut out = Vec::new();
        reader.read_to_end(&mut out).unwrap();
        (out, format)
    }

    #[test]
    fn every_written_format_round_trips_and_is_detected() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        assert_eq!(
            round_trip(Compression::default(), &data),
            (data.clone(), StoredFormat::Zstd)
        );
        assert_eq!(
            round_trip(Compression::XZ_DEFAULT, &data),
            (data.clone(), StoredFormat::Xz)
        );
        assert_eq!(
            round_trip(Compression::None, &data),
            (data.clone(), StoredFormat::Raw)
        );
        assert_eq!(
            round_trip(Compression::default(), b""),
            (vec![], StoredFormat::Zstd)
        );
        assert_eq!(
            round_trip(Compression::XZ_DEFAULT, b""),
            (vec![], StoredFormat::Xz)
        );
    }

    #[test]
    fn trailing_data_and_bombs_are_errors() {
        let mut stored = Vec::new();
        Compression::default()
            .encode(&mut &[7u8; 1000][..], 1000, &mut stored)
            .unwrap();
        let mut with_tail = stored.clone();
        with_tail.extend_from_slice(b"junk");
        let (mut reader, _) = DecodingReader::new(&with_tail[..], u64::MAX).unwrap();
        assert!(reader.read_to_end(&mut Vec::new()).is_err());
        let (mut reader, _) = DecodingReader::new(&stored[..], 999).unwrap();
        assert!(reader.read_to_end(&mut Vec::new()).is_err());
    }

    #[test]
    fn truncated_streams_are_errors() {
        let data = vec![42u8; 50_000];
        for compression in [Compression::default(), Compression::XZ_DEFAULT] {
            let mut stored = Vec::new();
            compression
                .encode(&mut &data[..], 50_000, &mut stored)
                .unwrap();
            stored.truncate(stored.len() - 3);
            let (mut reader, _) = DecodingReader::new(&stored[..], u64::MAX).unwrap();
            assert!(
                reader.read_to_end(&mut Vec::new()).is_err(),
                "{compression:?}"
            );
        }
    }
}
