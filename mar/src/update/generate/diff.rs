//! Making Kiln patch entries: bidiff finds the matches (scanning chunks on the rayon pool), the
//! controls and data go into five sections (algorithm 3, see [`sections`]; algorithm 4 when x86
//! displacement prediction thins the add bytes), each compressed on the rayon pool with the
//! smaller of the candidate codecs, and every patch is checked by applying it before it is
//! trusted.
//!
//! [`sections`]: crate::update::sections

use std::io::{self, Write};

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::update::patch::{apply_kiln_patch, write_leb128, PatchAlgorithm, PatchHeader};
use crate::update::sections::{regions_allowed, SectionCodec, SECTION_COUNT};
use crate::update::x86::{residual_fields, Alignment, Region};

/// Patches whose header and sections are at most this long are small: their zstd wrapper is
/// level 19, and they are also tried with every section raw (the wrapper compresses them
/// together, saving each section's xz framing), keeping the smaller. On numpy 2.4.5 → 2.4.6
/// (24 small patch entries) this saved 1,108 B, on pillow 12.2 → 12.3 3,567 B.
const SMALL_PATCH: usize = 1 << 20;
/// Files at least this large are scanned in parallel chunks.
const PARALLEL_SCAN_MIN: usize = 1 << 20;
/// bzip2 pieces: a multiple of bzip2's 900 kB block, so splitting costs almost nothing.
const BZIP2_PIECE: usize = 4 * 900_000;
/// xz pieces and their dictionary size (also what bounds the applier's decoder memory).
const XZ_PIECE: usize = 4 << 20;
/// A match of bidiff's with fewer bytes equal in old and new than this is not kept
/// ([`drop_short_matches`]). Measured on pairs b, c, e with [`extend_into_new_bytes`] (bytes of
/// the whole partial): 16 → 2,163,696 / – / 2,923,842; 20 → 2,149,140 / 6,211,055 / 2,898,598;
/// **24 → 2,153,748 / 6,163,051 / 2,890,174** (the smallest sum); 28 → 2,166,380 / 6,142,092 /
/// 2,904,286; keeping every match: 2,276,034 / 6,888,041 / 3,152,568.
const MIN_EQUAL_BYTES: usize = 24;
/// Add bytes with fewer non-zero bytes than this (percent) are only bzip2-compressed.
const SPARSE_ADDS_PERCENT: usize = 4;
/// Add bytes with at least this share of non-zero bytes (percent) are only xz-compressed.
const DENSE_ADDS_PERCENT: usize = 8;

/// A version string of everything that shapes a patch's bytes; part of every cache key.
pub const DIFF_PARAMS_VERSION: &str =
    "bidiff1.0.0-chunk4m-min24-extend-sections5leb-xz9e-bz9-sparse4-dense8-x86pred64-small1m-v4";

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

/// What a section holds, which sets its LZMA literal coding and effort.
#[derive(Clone, Copy)]
enum Content {
    /// Varints: no useful literal context (lc=0, lp=0, pb=0), small, so `-9e`.
    Numbers,
    /// Difference bytes: lc=0, lp=0, pb=0, and `-9` with nice length 128 and depth 32 (on
    /// pair b: 1,036,736 B in 6.4 s against 1,023,053 B in 8.2 s for `-9e`).
    Differences,
    /// New bytes of the file: xz's literal coding (lc=3, pb=2), `-9e`.
    Bytes,
}

fn xz_piece(piece: &[u8], content: Content) -> io::Result<Vec<u8>> {
    use liblzma::stream::{Check, Filters, LzmaOptions, Stream, PRESET_EXTREME};
    let preset = match content {
        Content::Differences => 9,
        Content::Numbers | Content::Bytes => 9 | PRESET_EXTREME,
    };
    let mut options = LzmaOptions::new_preset(preset).map_err(io::Error::other)?;
    options.dict_size((piece.len() as u32).clamp(4096, XZ_PIECE as u32));
    if let Content::Differences = content {
        options.nice_len(128).depth(32);
    }
    if let Content::Numbers | Content::Differences = content {
        options
            .literal_context_bits(0)
            .literal_position_bits(0)
            .position_bits(0);
    }
    let mut filters = Filters::new();
    filters.lzma2(&options);
    let stream = Stream::new_stream_encoder(&filters, Check::None).map_err(io::Error::other)?;
    let mut encoder = liblzma::write::XzEncoder::new_stream(Vec::new(), stream);
    encoder.write_all(piece)?;
    encoder.finish()
}

/// Compresses `data` in parallel pieces with `codec`.
fn compress_pieces(data: &[u8], codec: SectionCodec, content: Content) -> io::Result<Vec<u8>> {
    let pieces: Vec<Vec<u8>> = match codec {
        SectionCodec::Raw => return Ok(data.to_vec()),
        SectionCodec::Bzip2 => data
            .par_chunks(BZIP2_PIECE)
            .map(bzip2_piece)
            .collect::<io::Result<_>>()?,
        SectionCodec::Xz => data
            .par_chunks(XZ_PIECE)
            .map(|piece| xz_piece(piece, content))
            .collect::<io::Result<_>>()?,
    };
    Ok(pieces.concat())
}

/// The smallest encoding of one section among `candidates` (compressed in parallel); raw when
/// none is smaller.
fn encode_section(
    data: &[u8],
    candidates: &[SectionCodec],
    content: Content,
) -> io::Result<(SectionCodec, Vec<u8>)> {
    let mut best = (SectionCodec::Raw, data.to_vec());
    if data.is_empty() {
        return Ok(best);
    }
    let encoded: Vec<(SectionCodec, Vec<u8>)> = candidates
        .par_iter()
        .map(|&codec| compress_pieces(data, codec, content).map(|bytes| (codec, bytes)))
        .collect::<io::Result<_>>()?;
    for candidate in encoded {
        if candidate.1.len() < best.1.len() {
            best = candidate;
        }
    }
    Ok(best)
}

/// The codecs worth trying on add bytes, bounded by counting their non-zero bytes: sparse adds
/// (a patch release; esbuild pair a: 2.3 % non-zero) are smaller under bzip2's run-length and
/// BWT stages and xz over megabytes of zeros costs seconds for nothing; dense adds (a minor
/// release; pair b: 11.5 %) are 15 % smaller under xz; in between both are tried.
fn add_codecs(adds: &[u8]) -> &'static [SectionCodec] {
    let percent = non_zero(adds) * 100 / adds.len().max(1);
    if percent < SPARSE_ADDS_PERCENT {
        &[SectionCodec::Bzip2]
    } else if percent >= DENSE_ADDS_PERCENT {
        &[SectionCodec::Xz]
    } else {
        &[SectionCodec::Bzip2, SectionCodec::Xz]
    }
}

/// Number of non-zero bytes: the cheap bound on how well add bytes compress.
fn non_zero(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b != 0).count()
}

/// One of bidiff's controls, by position: `add` bytes of the old file at `old` line up with the
/// new file at `new`, then `copy` new bytes follow.
#[derive(Clone, Copy)]
struct Match {
    old: u64,
    new: u64,
    add: u64,
    copy: u64,
}

impl Match {
    /// How many of its add bytes are equal in `old` and `new`.
    fn equal_bytes(&self, old: &[u8], new: &[u8]) -> usize {
        let (o, n, len) = (self.old as usize, self.new as usize, self.add as usize);
        old[o..o + len]
            .iter()
            .zip(&new[n..n + len])
            .filter(|(a, b)| a == b)
            .count()
    }
}

/// bidiff's matches, in order, taken as positions (its `Translator` would compute every add
/// byte, which [`diff_sections`] computes once the matches are final). The first starts at 0 in
/// both files; every patch is applied and checked before it is used anyway.
fn bidiff_matches(old: &[u8], new: &[u8]) -> io::Result<Vec<Match>> {
    let mut matches = Vec::new();
    bidiff::diff(old, new, &diff_params(new.len()), |m| -> io::Result<()> {
        matches.push(Match {
            old: m.add_old_start as u64,
            new: m.add_new_start as u64,
            add: m.add_length as u64,
            copy: (m.copy_end - m.copy_start()) as u64,
        });
        Ok(())
    })?;
    Ok(matches)
}

/// Drops the matches with fewer than [`MIN_EQUAL_BYTES`] bytes equal in old and new (all but
/// the first): their bytes become new bytes of the match before (see also
/// [`extend_into_new_bytes`]). bidiff keeps every match it finds, and in a minor release most
/// are short hits somewhere else in the old file, each costing a control with a far seek (about
/// 4 compressed bytes) to save a few bytes that compress well as new bytes anyway.
fn drop_short_matches(matches: Vec<Match>, old: &[u8], new: &[u8]) -> Vec<Match> {
    let mut kept: Vec<Match> = Vec::with_capacity(matches.len());
    for m in matches {
        if let Some(previous) = kept.last_mut() {
            if m.equal_bytes(old, new) < MIN_EQUAL_BYTES {
                previous.copy += m.add + m.copy;
                continue;
            }
        }
        kept.push(m);
    }
    kept
}

/// How far past `len` bytes a match may grow, comparing `old_byte(k)` with `new_byte(k)` for
/// `k` in `0..len`: the length with the best score, each equal byte scoring +1 and each other
/// byte −1 (bsdiff's rule: at least half the bytes the match grows by are equal).
fn best_extension(len: u64, mut equal_at: impl FnMut(u64) -> bool) -> u64 {
    let (mut score, mut best, mut best_len) = (0i64, 0i64, 0u64);
    for k in 0..len {
        score += if equal_at(k) { 1 } else { -1 };
        if score > best {
            (best, best_len) = (score, k + 1);
        }
    }
    best_len
}

/// Grows each match forward, and the next one backward, into the new bytes between them, where
/// most bytes still match on their diagonals. bidiff stopped growing them where its next match
/// began; once [`drop_short_matches`] has turned short matches into new bytes, their neighbours
/// often reach further.
fn extend_into_new_bytes(matches: &mut [Match], old: &[u8], new: &[u8]) {
    for i in 0..matches.len() {
        let m = matches[i];
        let (old_end, new_end) = (m.old + m.add, m.new + m.add);
        let room = m.copy.min(old.len() as u64 - old_end);
        let forward = best_extension(room, |k| {
            old[(old_end + k) as usize] == new[(new_end + k) as usize]
        });
        matches[i].add += forward;
        matches[i].copy -= forward;
        if let Some(&next) = matches.get(i + 1) {
            let room = matches[i].copy.min(next.old);
            let backward = best_extension(room, |k| {
                old[(next.old - 1 - k) as usize] == new[(next.new - 1 - k) as usize]
            });
            matches[i].copy -= backward;
            let next = &mut matches[i + 1];
            next.old -= backward;
            next.new -= backward;
            next.add += backward;
        }
    }
}

/// The five sections of algorithm 3 for `matches`, and their add regions (the alignment of old
/// and new) in order.
fn diff_sections(old: &[u8], new: &[u8]) -> io::Result<([Vec<u8>; SECTION_COUNT], Vec<Region>)> {
    let mut matches = drop_short_matches(bidiff_matches(old, new)?, old, new);
    extend_into_new_bytes(&mut matches, old, new);
    let (mut add_lens, mut copy_lens, mut seeks) = (Vec::new(), Vec::new(), Vec::new());
    let (mut adds, mut copies) = (Vec::with_capacity(new.len()), Vec::new());
    let mut regions = Vec::new();
    for (i, m) in matches.iter().enumerate() {
        let end = m.old + m.add;
        let seek = matches
            .get(i + 1)
            .map_or(0, |next| next.old as i64 - end as i64);
        write_leb128(&mut add_lens, m.add);
        write_leb128(&mut copy_lens, m.copy);
        write_leb128(&mut seeks, ((seek << 1) ^ (seek >> 63)) as u64);
        let (o, n, add, copy) = (
            m.old as usize,
            m.new as usize,
            m.add as usize,
            m.copy as usize,
        );
        adds.extend(
            new[n..n + add]
                .iter()
                .zip(&old[o..o + add])
                .map(|(a, b)| a.wrapping_sub(*b)),
        );
        copies.extend_from_slice(&new[n + add..n + add + copy]);
        if m.add > 0 {
            regions.push(Region {
                old: m.old,
                new: m.new,
                len: m.add,
            });
        }
    }
    Ok(([add_lens, copy_lens, seeks, adds, copies], regions))
}

/// Algorithm 4's add bytes: `adds` with every x86 displacement field turned into its residual
/// against the prediction from `regions` (see the `x86` module), or `None` when the diff has
/// more regions than an applier accepts.
fn predicted_adds(old: &[u8], new: &[u8], regions: &[Region], adds: &[u8]) -> Option<Vec<u8>> {
    if !regions_allowed(regions.len() as u64, new.len() as u64) {
        return None;
    }
    let alignment = Alignment::new(regions.to_vec());
    let mut predicted = adds.to_vec();
    let mut at = 0;
    for &region in regions {
        let (o, n, len) = (
            region.old as usize,
            region.new as usize,
            region.len as usize,
        );
        residual_fields(
            &alignment,
            region,
            &old[o..o + len],
            &new[n..n + len],
            &mut predicted[at..at + len],
        );
        at += len;
    }
    Some(predicted)
}

/// Which algorithm [`encode_patch`] writes.
#[derive(Clone, Copy)]
enum Choice {
    /// Algorithm 4 when x86 displacement prediction leaves fewer non-zero add bytes than
    /// algorithm 3's add section (code whose references moved), else algorithm 3: what Kiln
    /// writes. A prediction from the add sections' non-zero counts (zeros compress to almost
    /// nothing); neither patch is encoded or compressed to compare sizes.
    FewerNonZeroAdds,
    /// Algorithm 4 whenever the applier would accept it (tests of its round trip).
    #[cfg(test)]
    Algorithm4,
    /// Algorithm 3 always (tests comparing the two).
    #[cfg(test)]
    Algorithm3,
}

/// Diffs `old` → `new` and returns the Kiln patch entry (algorithm 4 when x86 displacement
/// prediction leaves fewer non-zero add bytes, else algorithm 3), zstd-wrapped.
///
/// Both files must be non-empty (bidiff cannot index an empty source, and an empty target needs
/// no patch).
pub fn make_patch(old: &[u8], new: &[u8]) -> io::Result<Vec<u8>> {
    encode_patch(old, new, Choice::FewerNonZeroAdds)
}

fn encode_patch(old: &[u8], new: &[u8], choice: Choice) -> io::Result<Vec<u8>> {
    if old.is_empty() || new.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "cannot diff from or to an empty file",
        ));
    }
    let (mut sections, regions) = diff_sections(old, new)?;
    let predicted = predicted_adds(old, new, &regions, &sections[3]).filter(|p| match choice {
        Choice::FewerNonZeroAdds => non_zero(p) < non_zero(&sections[3]),
        #[cfg(test)]
        Choice::Algorithm4 => true,
        #[cfg(test)]
        Choice::Algorithm3 => false,
    });
    let algorithm = match predicted {
        Some(predicted) => {
            sections[3] = predicted;
            PatchAlgorithm::SectionsX86
        }
        None => PatchAlgorithm::Sections,
    };
    let header = PatchHeader {
        algorithm,
        source_len: old.len() as u64,
        source_sha256: sha256(old),
        target_len: new.len() as u64,
        target_sha256: sha256(new),
    };
    // Varints and new bytes are always smaller under xz than under bzip2 or zstd 19
    // (docs/update-packages.md, algorithm 3); add bytes depend on their density.
    let xz: &[SectionCodec] = &[SectionCodec::Xz];
    let plans: [(&[SectionCodec], Content); SECTION_COUNT] = [
        (xz, Content::Numbers),
        (xz, Content::Numbers),
        (xz, Content::Numbers),
        (add_codecs(&sections[3]), Content::Differences),
        (xz, Content::Bytes),
    ];
    let encoded: Vec<(SectionCodec, Vec<u8>)> = sections
        .par_iter()
        .zip(plans)
        .map(|(data, (candidates, content))| encode_section(data, candidates, content))
        .collect::<io::Result<_>>()?;
    let entry = wrap_patch(&framed(
        &header,
        encoded.iter().map(|(c, b)| (*c, b.as_slice())),
        &sections,
    ))?;
    let decoded: usize = sections.iter().map(Vec::len).sum();
    if decoded > SMALL_PATCH {
        return Ok(entry);
    }
    let raw = sections
        .iter()
        .map(|data| (SectionCodec::Raw, data.as_slice()));
    let raw_entry = wrap_patch(&framed(&header, raw, &sections))?;
    Ok(if raw_entry.len() < entry.len() {
        raw_entry
    } else {
        entry
    })
}

/// A whole patch: `header`, then each section as `stored` (codec and bytes) with its decoded
/// length (from `sections`) and stored length.
fn framed<'a>(
    header: &PatchHeader,
    stored: impl IntoIterator<Item = (SectionCodec, &'a [u8])>,
    sections: &[Vec<u8>],
) -> Vec<u8> {
    let mut patch = header.encode().to_vec();
    for ((codec, bytes), data) in stored.into_iter().zip(sections) {
        patch.push(codec.id());
        write_leb128(&mut patch, data.len() as u64);
        write_leb128(&mut patch, bytes.len() as u64);
        patch.extend_from_slice(bytes);
    }
    patch
}

/// A whole patch (header and body) as a MAR entry: a zstd stream, level 19 for small patches
/// (see [`SMALL_PATCH`]), else level 3 (the sections are compressed already: the wrapper only
/// makes the entry a zstd stream like every other).
pub fn wrap_patch(patch: &[u8]) -> io::Result<Vec<u8>> {
    let level = if patch.len() <= SMALL_PATCH { 19 } else { 3 };
    // One shot, so zstd sizes its window and tables to the patch (a streaming level-19 encoder
    // allocates for an unknown size: about 100 MiB per file diffed in parallel).
    zstd::bulk::compress(patch, level)
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
    use proptest::prelude::*;

    /// Makes a patch with `choice`, applies it, and returns its algorithm.
    fn round_trip_as(old: &[u8], new: &[u8], choice: Choice) -> PatchAlgorithm {
        let patch = encode_patch(old, new, choice).unwrap();
        let plain = zstd::stream::decode_all(&patch[..]).unwrap();
        let algorithm = PatchHeader::decode(&plain).unwrap().algorithm;
        let mut out = Vec::new();
        apply_kiln_patch(&plain, &mut io::Cursor::new(old), &mut out).unwrap();
        assert!(out == new, "round trip differs ({algorithm:?})");
        algorithm
    }

    fn round_trip(old: &[u8], new: &[u8]) {
        round_trip_as(old, new, Choice::FewerNonZeroAdds);
        assert_eq!(
            round_trip_as(old, new, Choice::Algorithm4),
            PatchAlgorithm::SectionsX86
        );
    }

    /// x86-like bytes: random bytes with many opcodes that start displacement fields.
    fn code_like() -> impl Strategy<Value = Vec<u8>> {
        let token = prop_oneof![
            any::<u8>().prop_map(|b| vec![b]),
            any::<i32>().prop_map(|d| [&[0xE8][..], &d.to_le_bytes()].concat()),
            (0x80u8..0x90, any::<i16>()).prop_map(|(op, d)| [
                &[0x0F, op][..],
                &i32::from(d).to_le_bytes()
            ]
            .concat()),
            any::<i16>()
                .prop_map(|d| [&[0x48, 0x8D, 0x05][..], &i32::from(d).to_le_bytes()].concat()),
        ];
        proptest::collection::vec(token, 1..800).prop_map(|t| t.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// Algorithms 3 and 4 round-trip arbitrary bytes, and edits of them.
        #[test]
        fn algorithms_3_and_4_round_trip_arbitrary_bytes(
            old in proptest::collection::vec(any::<u8>(), 1..4000),
            new in proptest::collection::vec(any::<u8>(), 1..4000),
            cut in 0usize..4000,
        ) {
            round_trip(&old, &new);
            let mut edited = old.clone();
            let cut = cut % edited.len();
            edited.splice(cut..cut, new.iter().copied().take(64));
            round_trip(&old, &edited);
        }

        /// Algorithm 4 round-trips x86-like code, edited by an insertion (code moves) and by
        /// overwriting displacements (references change).
        #[test]
        fn algorithm_4_round_trips_code_like_bytes(
            old in code_like(),
            insert in code_like(),
            cut in 0usize..20_000,
            poke in proptest::collection::vec((0usize..20_000, any::<u8>()), 0..40),
        ) {
            let mut new = old.clone();
            let cut = cut % new.len();
            new.splice(cut..cut, insert);
            for (at, byte) in poke {
                let at = at % new.len();
                new[at] = byte;
            }
            round_trip(&old, &new);
        }
    }

    /// Real x86-64 ELF files, as algorithm 3 or 4 (whichever Kiln chooses) and as algorithm 4:
    /// every pair among four coreutils programs of this machine and two releases of the same
    /// library (`fixtures/data/elf`, MarkupSafe 3.0.2 and 3.0.3's `_speedups`).
    #[test]
    fn algorithms_3_and_4_round_trip_real_elf_files() {
        let elf = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/data/elf/");
        let programs = [
            "/usr/bin/ls",
            "/usr/bin/cp",
            "/usr/bin/mv",
            "/usr/bin/dir",
            &format!("{elf}markupsafe-3.0.2-_speedups.so"),
            &format!("{elf}markupsafe-3.0.3-_speedups.so"),
        ];
        let files: Vec<Vec<u8>> = programs.iter().map(|p| std::fs::read(p).unwrap()).collect();
        for old in &files {
            assert_eq!(&old[..4], b"\x7fELF");
            for new in &files {
                round_trip(old, new);
            }
        }
    }

    #[test]
    fn a_match_grows_while_at_least_half_its_new_bytes_are_equal() {
        let grow = |pattern: &str| {
            let equal: Vec<bool> = pattern.chars().map(|c| c == '=').collect();
            best_extension(equal.len() as u64, |k| equal[k as usize])
        };
        assert_eq!(grow(""), 0);
        assert_eq!(grow("xx=="), 0);
        assert_eq!(grow("==x=xxx"), 2);
        assert_eq!(grow("=x==x==xxxx"), 7);
    }

    #[test]
    fn short_matches_become_new_bytes() {
        let old = kiln_test_support::noise(0x9E37_79B9_7F4A_7C15, 64 << 10);
        // A long run of old, then 300 snippets of 12 old bytes from all over between new bytes,
        // then another long run.
        let mut new = old[..20_000].to_vec();
        for i in 0..300 {
            new.extend(kiln_test_support::noise(i as u64 + 1, 40));
            let at = (i * 7919) % (old.len() - 12);
            new.extend_from_slice(&old[at..at + 12]);
        }
        new.extend_from_slice(&old[30_000..60_000]);
        let matches = bidiff_matches(&old, &new).unwrap();
        let kept = drop_short_matches(matches.clone(), &old, &new);
        assert!(
            kept.len() * 4 < matches.len(),
            "{} matches kept of {}",
            kept.len(),
            matches.len()
        );
        for m in &kept[1..] {
            assert!(m.equal_bytes(&old, &new) >= MIN_EQUAL_BYTES);
        }
        let last = kept.last().unwrap();
        assert_eq!((last.new + last.add + last.copy) as usize, new.len());
        round_trip(&old, &new);
    }

    #[test]
    fn moved_code_is_written_as_algorithm_4_and_is_smaller() {
        let old = kiln_test_support::x86_program(3000, &[]);
        let new = kiln_test_support::x86_program(3000, &[10, 1500]);
        let predicted = encode_patch(&old, &new, Choice::FewerNonZeroAdds).unwrap();
        assert_eq!(
            round_trip_as(&old, &new, Choice::FewerNonZeroAdds),
            PatchAlgorithm::SectionsX86
        );
        // The same diff without prediction: every call across a grown function changed.
        let (mut sections, regions) = diff_sections(&old, &new).unwrap();
        let plain_non_zero = non_zero(&sections[3]);
        sections[3] = predicted_adds(&old, &new, &regions, &sections[3]).unwrap();
        assert!(
            non_zero(&sections[3]) * 4 < plain_non_zero,
            "{} non-zero add bytes with prediction, {plain_non_zero} without",
            non_zero(&sections[3])
        );
        let text = b"plain text, no code here: the quick brown fox\n".repeat(2000);
        let mut edited = text.clone();
        edited.splice(500..500, *b"an inserted line\n");
        assert_eq!(
            round_trip_as(&text, &edited, Choice::FewerNonZeroAdds),
            PatchAlgorithm::Sections
        );
        assert!(predicted.len() < 4096, "{}", predicted.len());
        // The whole patch entry, as written, is smaller than algorithm 3's.
        let plain = encode_patch(&old, &new, Choice::Algorithm3).unwrap();
        assert!(
            predicted.len() < plain.len(),
            "algorithm 4: {} B, algorithm 3: {} B",
            predicted.len(),
            plain.len()
        );
    }

    /// On real code whose functions moved between two releases (charset-normalizer 3.3.1 →
    /// 3.3.2's mypyc module, x86-64, `fixtures/data/elf/`), Kiln writes algorithm 4 and its
    /// patch is smaller than algorithm 3's of the same files.
    #[test]
    fn real_code_is_written_as_algorithm_4_and_is_smaller() {
        let elf = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/data/elf/");
        let old = std::fs::read(format!("{elf}charset-normalizer-3.3.1-md__mypyc.so")).unwrap();
        let new = std::fs::read(format!("{elf}charset-normalizer-3.3.2-md__mypyc.so")).unwrap();
        assert_eq!(
            round_trip_as(&old, &new, Choice::FewerNonZeroAdds),
            PatchAlgorithm::SectionsX86
        );
        let written = encode_patch(&old, &new, Choice::FewerNonZeroAdds).unwrap();
        let plain = encode_patch(&old, &new, Choice::Algorithm3).unwrap();
        assert!(
            written.len() < plain.len(),
            "algorithm 4: {} B, algorithm 3: {} B",
            written.len(),
            plain.len()
        );
    }

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
