//! Algorithm 3 of Kiln's patch entry: bidiff's controls and data in five separately compressed
//! sections, applied as a stream.
//!
//! ```text
//! body = 5 × section, in this order:
//!   add lengths   LEB128, one per control
//!   copy lengths  LEB128, one per control
//!   seeks         zigzag LEB128, one per control
//!   adds          the add bytes of every control (new minus old, mod 256)
//!   copies        the copy bytes of every control (new bytes, as they are)
//! section = u8 codec (0 raw, 1 bzip2, 2 xz), LEB128 decoded length, LEB128 stored length, bytes
//! ```
//!
//! A section may be several concatenated bzip2 or xz streams (pieces compressed in parallel).
//! Control `i` takes its three numbers from the three control sections; `add` bytes are added
//! to the source from the current position (which advances by the add length), `copy` bytes
//! are output, then the position moves by `seek`. Every length is checked with `checked_add`
//! against the source, the sections and the target length; each section must yield exactly its
//! declared length and the stored lengths must add up to the body.

use std::io::{self, BufRead, BufReader, Read};

use crate::update::patch::{corrupt, read_leb128, unzigzag, CheckedWriter, PatchError};

/// How one section's bytes are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SectionCodec {
    /// As they are (id 0).
    Raw,
    /// One or more concatenated bzip2 streams (id 1).
    Bzip2,
    /// One or more concatenated xz streams (id 2).
    Xz,
}

impl SectionCodec {
    /// The id written before the section.
    pub fn id(self) -> u8 {
        match self {
            SectionCodec::Raw => 0,
            SectionCodec::Bzip2 => 1,
            SectionCodec::Xz => 2,
        }
    }

    fn from_id(id: u8) -> Option<SectionCodec> {
        match id {
            0 => Some(SectionCodec::Raw),
            1 => Some(SectionCodec::Bzip2),
            2 => Some(SectionCodec::Xz),
            _ => None,
        }
    }
}

/// Number of sections of an algorithm-3 body.
pub const SECTION_COUNT: usize = 5;
/// The xz decoder refuses streams needing more memory than this (Kiln writes 8 MiB dictionaries).
const XZ_MEMORY_LIMIT: u64 = 64 << 20;

/// One section being decoded: yields exactly `remaining` bytes, then must be at its end.
struct Section<'a> {
    inner: BufReader<Box<dyn Read + 'a>>,
    remaining: u64,
}

impl<'a> Section<'a> {
    fn new(codec: SectionCodec, stored: &'a [u8], decoded_len: u64) -> Result<Self, PatchError> {
        let inner: Box<dyn Read + 'a> = match codec {
            SectionCodec::Raw => {
                if stored.len() as u64 != decoded_len {
                    return Err(corrupt(
                        "raw section length differs from its decoded length",
                    ));
                }
                Box::new(stored)
            }
            SectionCodec::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(stored)),
            SectionCodec::Xz => {
                let stream = liblzma::stream::Stream::new_stream_decoder(
                    XZ_MEMORY_LIMIT,
                    liblzma::stream::CONCATENATED,
                )
                .map_err(|e| PatchError::Decode(io::Error::other(e)))?;
                Box::new(liblzma::read::XzDecoder::new_stream(stored, stream))
            }
        };
        Ok(Section {
            inner: BufReader::with_capacity(64 << 10, inner),
            remaining: decoded_len,
        })
    }

    /// Reads exactly `buf.len()` bytes, which must not go past the declared length.
    fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), PatchError> {
        self.remaining = self
            .remaining
            .checked_sub(buf.len() as u64)
            .ok_or(corrupt("section shorter than its controls need"))?;
        self.inner.read_exact(buf).map_err(PatchError::Decode)
    }

    /// True when every declared byte was read.
    fn is_done(&self) -> bool {
        self.remaining == 0
    }

    /// Reads one LEB128 number.
    fn leb128(&mut self) -> Result<u64, PatchError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let mut byte = [0u8];
            self.read_exact(&mut byte)?;
            value |= u64::from(byte[0] & 0x7f) << shift;
            if byte[0] & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(corrupt("control varint too long"))
    }

    /// Checks that the stored stream ends where the declared length does.
    fn finish(mut self) -> Result<(), PatchError> {
        if self.remaining != 0 {
            return Err(corrupt("section longer than its controls use"));
        }
        match self.inner.fill_buf() {
            Ok([]) => Ok(()),
            Ok(_) => Err(corrupt("section decodes to more than its declared length")),
            Err(e) => Err(PatchError::Decode(e)),
        }
    }
}

/// Splits an algorithm-3 body into its five sections, checking the lengths add up.
fn split_sections(mut body: &[u8]) -> Result<Vec<Section<'_>>, PatchError> {
    let mut sections = Vec::with_capacity(SECTION_COUNT);
    for _ in 0..SECTION_COUNT {
        let (&codec, rest) = body
            .split_first()
            .ok_or(corrupt("truncated section header"))?;
        let codec = SectionCodec::from_id(codec).ok_or(corrupt("unknown section codec"))?;
        body = rest;
        let decoded_len = read_leb128(&mut body)?;
        let stored_len = read_leb128(&mut body)?;
        let stored_len = usize::try_from(stored_len)
            .ok()
            .filter(|&n| n <= body.len())
            .ok_or(corrupt("section past the end of the patch"))?;
        let (stored, rest) = body.split_at(stored_len);
        sections.push(Section::new(codec, stored, decoded_len)?);
        body = rest;
    }
    if !body.is_empty() {
        return Err(corrupt("bytes after the last section"));
    }
    Ok(sections)
}

/// Checks an algorithm-3 body's framing (codecs, and section lengths adding up to the body)
/// without decompressing anything: a truncated patch is refused before anything is written.
pub(crate) fn check_framing(body: &[u8]) -> Result<(), PatchError> {
    split_sections(body).map(drop)
}

/// Applies an algorithm-3 body to `old`, writing the result through `out`.
pub(crate) fn apply_sections(
    body: &[u8],
    old: &[u8],
    out: &mut CheckedWriter<'_>,
) -> Result<(), PatchError> {
    let mut sections = split_sections(body)?;
    let mut copies = sections.pop().expect("five sections");
    let mut adds = sections.pop().expect("five sections");
    let mut seeks = sections.pop().expect("five sections");
    let mut copy_lens = sections.pop().expect("five sections");
    let mut add_lens = sections.pop().expect("five sections");
    let mut pos: u64 = 0;
    let mut buf = Vec::new();
    while !add_lens.is_done() {
        let add = add_lens.leb128()?;
        let copy = copy_lens.leb128()?;
        let zigzag = seeks.leb128()?;
        let seek = unzigzag(zigzag);
        // Bounds first: the output limit and the source bound every length read.
        if !out.has_room_for(add, copy) {
            return Err(corrupt("control past the target length"));
        }
        let end = pos
            .checked_add(add)
            .filter(|&end| end <= old.len() as u64)
            .ok_or(corrupt("add past the source"))?;
        buf.resize(add as usize, 0);
        adds.read_exact(&mut buf)?;
        for (b, o) in buf.iter_mut().zip(&old[pos as usize..end as usize]) {
            *b = b.wrapping_add(*o);
        }
        io::Write::write_all(out, &buf).map_err(PatchError::Decode)?;
        // `copy` fits the target length, which the output is checked against as it grows.
        let mut left = copy;
        while left > 0 {
            let n = left.min(64 << 10) as usize;
            buf.resize(n, 0);
            copies.read_exact(&mut buf)?;
            io::Write::write_all(out, &buf).map_err(PatchError::Decode)?;
            left -= n as u64;
        }
        pos = end
            .checked_add_signed(seek)
            .filter(|&p| p <= old.len() as u64)
            .ok_or(corrupt("seek outside the source"))?;
    }
    for section in [add_lens, copy_lens, seeks, adds, copies] {
        section.finish()?;
    }
    Ok(())
}
