//! Algorithms 3 and 4 of Kiln's patch entry: bidiff's controls and data in five separately
//! compressed sections, applied as a stream (algorithm 4 first reads its control sections once
//! more, for the alignment its x86 displacement prediction needs; see the `x86` module).
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

use crate::update::patch::{
    corrupt, decode_leb128, read_leb128, unzigzag, CheckedWriter, PatchError,
};
use crate::update::x86::{restore_fields, Alignment, Region};

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

/// Number of sections of an algorithm-3 or -4 body.
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
        decode_leb128(|| {
            let mut byte = [0u8];
            self.read_exact(&mut byte)?;
            Ok(byte[0])
        })
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

/// One control of a body, checked against the source and target lengths.
struct Control {
    /// Source position of its add bytes.
    old: u64,
    /// Target position of its add bytes.
    new: u64,
    /// Number of add bytes.
    add: u64,
    /// Number of copy bytes after them.
    copy: u64,
}

/// The controls of a body, read from its three control sections. Every length is checked with
/// checked arithmetic against the source and the target length before it is used.
struct Controls<'a> {
    add_lens: Section<'a>,
    copy_lens: Section<'a>,
    seeks: Section<'a>,
    old_pos: u64,
    new_pos: u64,
    old_len: u64,
    target_len: u64,
}

impl<'a> Controls<'a> {
    /// Takes the three control sections off the front of `sections`.
    fn new(sections: &mut Vec<Section<'a>>, old_len: u64, target_len: u64) -> Controls<'a> {
        let mut three = sections.drain(..3);
        let mut next = || three.next().expect("five sections");
        Controls {
            add_lens: next(),
            copy_lens: next(),
            seeks: next(),
            old_pos: 0,
            new_pos: 0,
            old_len,
            target_len,
        }
    }

    /// The next control, or `None` after the last.
    fn next(&mut self) -> Result<Option<Control>, PatchError> {
        if self.add_lens.is_done() {
            return Ok(None);
        }
        let add = self.add_lens.leb128()?;
        let copy = self.copy_lens.leb128()?;
        let seek = unzigzag(self.seeks.leb128()?);
        let new_end = self
            .new_pos
            .checked_add(add)
            .and_then(|end| end.checked_add(copy))
            .filter(|&end| end <= self.target_len)
            .ok_or(corrupt("control past the target length"))?;
        let old_end = self
            .old_pos
            .checked_add(add)
            .filter(|&end| end <= self.old_len)
            .ok_or(corrupt("add past the source"))?;
        let control = Control {
            old: self.old_pos,
            new: self.new_pos,
            add,
            copy,
        };
        self.old_pos = old_end
            .checked_add_signed(seek)
            .filter(|&p| p <= self.old_len)
            .ok_or(corrupt("seek outside the source"))?;
        self.new_pos = new_end;
        Ok(Some(control))
    }

    /// Checks that every control section was read to its end.
    fn finish(self) -> Result<(), PatchError> {
        for section in [self.add_lens, self.copy_lens, self.seeks] {
            section.finish()?;
        }
        Ok(())
    }
}

/// Most add regions an algorithm-4 body may have per target byte (1 in 64, plus
/// [`REGIONS_FLOOR`]): the applier holds them all in memory (24 bytes each), so a hostile body
/// cannot make it allocate more than about a third of the target's length. Real patches have far
/// fewer (esbuild 0.27.7 → 0.28.0: one per 103 bytes; biome: one per 310); the generator writes
/// algorithm 3 instead when a diff has more.
pub(crate) const TARGET_BYTES_PER_REGION: u64 = 64;
/// Add regions any algorithm-4 body may have, whatever its target length.
pub(crate) const REGIONS_FLOOR: u64 = 4096;

/// Whether `regions` add regions are allowed for a target of `target_len` bytes.
pub(crate) fn regions_allowed(regions: u64, target_len: u64) -> bool {
    regions <= target_len / TARGET_BYTES_PER_REGION + REGIONS_FLOOR
}

/// The alignment of an algorithm-4 body: a first pass over its control sections.
fn alignment_of(body: &[u8], old_len: u64, target_len: u64) -> Result<Alignment, PatchError> {
    let mut sections = split_sections(body)?;
    let mut controls = Controls::new(&mut sections, old_len, target_len);
    let mut regions = Vec::new();
    while let Some(c) = controls.next()? {
        if c.add > 0 {
            if !regions_allowed(regions.len() as u64 + 1, target_len) {
                return Err(corrupt("more add regions than the target length allows"));
            }
            regions.push(Region {
                old: c.old,
                new: c.new,
                len: c.add,
            });
        }
    }
    controls.finish()?;
    Ok(Alignment::new(regions))
}

/// Applies an algorithm-3 body (or, with `x86`, algorithm 4) to `old`, writing the result
/// through `out`.
pub(crate) fn apply_sections(
    body: &[u8],
    old: &[u8],
    out: &mut CheckedWriter<'_>,
    x86: bool,
) -> Result<(), PatchError> {
    let alignment = if x86 {
        Some(alignment_of(body, old.len() as u64, out.limit)?)
    } else {
        None
    };
    let mut sections = split_sections(body)?;
    let mut controls = Controls::new(&mut sections, old.len() as u64, out.limit);
    let mut copies = sections.pop().expect("five sections");
    let mut adds = sections.pop().expect("five sections");
    let mut buf = Vec::new();
    while let Some(control) = controls.next()? {
        let old_bytes = &old[control.old as usize..(control.old + control.add) as usize];
        buf.resize(control.add as usize, 0);
        adds.read_exact(&mut buf)?;
        for (b, o) in buf.iter_mut().zip(old_bytes) {
            *b = b.wrapping_add(*o);
        }
        if let Some(alignment) = &alignment {
            let region = Region {
                old: control.old,
                new: control.new,
                len: control.add,
            };
            restore_fields(alignment, region, old_bytes, &mut buf);
        }
        io::Write::write_all(out, &buf).map_err(PatchError::Decode)?;
        // `copy` fits the target length (checked by `Controls`), and the output is checked
        // against it as it grows.
        let mut left = control.copy;
        while left > 0 {
            let n = left.min(64 << 10) as usize;
            buf.resize(n, 0);
            copies.read_exact(&mut buf)?;
            io::Write::write_all(out, &buf).map_err(PatchError::Decode)?;
            left -= n as u64;
        }
    }
    controls.finish()?;
    for section in [adds, copies] {
        section.finish()?;
    }
    Ok(())
}
