//! Displacement prediction for x86 code (patch algorithm 4): the executable-aware part of Kiln's
//! diffs.
//!
//! When code moves between releases, every `call`, `jmp`, `jcc` and RIP-relative operand whose
//! target moved by a different amount than the instruction itself gets a new 32-bit displacement,
//! and a plain byte-wise difference turns each of them into up to four non-zero add bytes. This
//! is the problem Chrome's Courgette and Zucchini solve by disassembling both files and matching
//! their references. Algorithm 4 uses what the patch already knows instead, the alignment of old
//! and new (the add regions of its controls): for a displacement field found in the old bytes of
//! an add region, the old target is mapped through the alignment into the new file, and the add
//! bytes of the field hold the difference between the new displacement and that prediction (as a
//! little-endian `u32`, wrapping), so a reference whose target moved with the code costs four zero
//! bytes. When the target lies in no add region, the prediction is the old displacement.
//!
//! The rule is exact and symmetric: fields are found in the **old** bytes only, and both sides
//! read the same controls, so the applier predicts exactly what the generator predicted and the
//! target's SHA-256 in the header checks the result. Bytes that merely look like an instruction
//! (data, or the middle of another instruction) are predicted too; that only costs compression.
//!
//! The instruction patterns are hand-written (no crate matches "find rel32 fields by opcode
//! without decoding"), after the x86 BCJ filters of xz and Zucchini's `rel32_finder`:
//! - `E8`/`E9` (call, jmp rel32): field at +1;
//! - `0F 80`–`0F 8F` (jcc rel32): field at +2;
//! - `FF 15` / `FF 25` (call/jmp through `[rip+disp32]`, the PLT and GOT calls): field at +2;
//! - a REX prefix `40`–`4F`, one of the common ALU/`mov`/`lea`/`movsxd` opcodes, and a ModRM byte
//!   selecting `[rip+disp32]` (`modrm & 0xC7 == 0x05`): field at +3.
//!
//! In each case the displacement is relative to the end of the field (no immediate follows).

/// How many regions (in order of their old start, backwards) a target lookup visits at most: a
/// limit so a hostile patch cannot make lookups quadratic. On esbuild 0.27.7 → 0.28.0 the exact
/// search and a look-back of 64 give the same size within 0.01 %.
const LOOKBACK: usize = 64;

/// REX-prefixed opcodes whose ModRM operand may be `[rip+disp32]` with no immediate after it.
const REX_RIP_OPCODES: [u8; 14] = [
    0x03, 0x0B, 0x13, 0x1B, 0x23, 0x2B, 0x33, 0x3B, 0x39, 0x63, 0x85, 0x89, 0x8B, 0x8D,
];

/// One add region of a patch: `len` bytes of the old file at `old` line up with the new file at
/// `new`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Region {
    /// Start in the old file.
    pub(crate) old: u64,
    /// Start in the new file.
    pub(crate) new: u64,
    /// Length in both.
    pub(crate) len: u64,
}

/// The add regions of a patch, indexed by their old start, which maps old positions to new ones.
pub(crate) struct Alignment {
    /// Regions sorted by old start (stable: equal starts keep control order).
    regions: Vec<Region>,
    /// `reach[i]`: the largest old end among `regions[..=i]`, so a lookup stops early.
    reach: Vec<u64>,
}

impl Alignment {
    /// The alignment of `regions` (in control order; empty regions are ignored).
    pub(crate) fn new(mut regions: Vec<Region>) -> Alignment {
        regions.retain(|r| r.len > 0);
        regions.sort_by_key(|r| r.old);
        let mut reach = Vec::with_capacity(regions.len());
        let mut max = 0;
        for r in &regions {
            max = max.max(r.old + r.len);
            reach.push(max);
        }
        Alignment { regions, reach }
    }

    /// Where old position `target` went in the new file: through the latest-starting region that
    /// contains it, among the last [`LOOKBACK`] starting at or before it.
    fn new_position_of(&self, target: u64) -> Option<u64> {
        let end = self.regions.partition_point(|r| r.old <= target);
        (end.saturating_sub(LOOKBACK)..end)
            .rev()
            .take_while(|&i| self.reach[i] > target)
            .map(|i| self.regions[i])
            .find(|r| target < r.old + r.len)
            .map(|r| r.new + (target - r.old))
    }

    /// The displacement predicted for the field at offset `field` of `region`, whose old value is
    /// `old_displacement`.
    fn predict(&self, region: Region, field: usize, old_displacement: i32) -> i32 {
        let old_end = region.old as i64 + field as i64 + 4;
        let target = old_end + i64::from(old_displacement);
        match u64::try_from(target)
            .ok()
            .and_then(|t| self.new_position_of(t))
        {
            // Truncation is the rule: the generator computes the same wrapping value.
            Some(new_target) => (new_target as i64 - (region.new as i64 + field as i64 + 4)) as i32,
            None => old_displacement,
        }
    }
}

/// The offsets of the displacement fields the patterns above find in `old` (an add region's old
/// bytes), scanning forward and skipping over each field found.
pub(crate) fn displacement_fields(old: &[u8]) -> impl Iterator<Item = usize> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        while at < old.len() {
            let byte = |k: usize| old.get(at + k).copied();
            let field = match old[at] {
                0xE8 | 0xE9 => Some(at + 1),
                0x0F if byte(1).is_some_and(|b| b & 0xF0 == 0x80) => Some(at + 2),
                0xFF if matches!(byte(1), Some(0x15 | 0x25)) => Some(at + 2),
                0x40..=0x4F
                    if byte(1).is_some_and(|b| REX_RIP_OPCODES.contains(&b))
                        && byte(2).is_some_and(|b| b & 0xC7 == 0x05) =>
                {
                    Some(at + 3)
                }
                _ => None,
            };
            match field.filter(|&f| f + 4 <= old.len()) {
                Some(f) => {
                    at = f + 4;
                    return Some(f);
                }
                None => at += 1,
            }
        }
        None
    })
}

fn le32(bytes: &[u8]) -> i32 {
    i32::from_le_bytes(bytes[..4].try_into().expect("four bytes"))
}

/// Applier side: `bytes` holds a region's old bytes plus its add bytes (mod 256); the fields are
/// turned into the predicted displacement plus the residual the add bytes carried.
pub(crate) fn restore_fields(alignment: &Alignment, region: Region, old: &[u8], bytes: &mut [u8]) {
    for f in displacement_fields(old) {
        let residual: [u8; 4] = std::array::from_fn(|i| bytes[f + i].wrapping_sub(old[f + i]));
        let predicted = alignment.predict(region, f, le32(&old[f..]));
        let value = predicted.wrapping_add(i32::from_le_bytes(residual));
        bytes[f..f + 4].copy_from_slice(&value.to_le_bytes());
    }
}

/// Generator side: `adds` holds a region's add bytes (new minus old, mod 256); the fields are
/// turned into the residual of the new displacement against the prediction, so that
/// [`restore_fields`] gives back `new`.
#[cfg(feature = "generate")]
pub(crate) fn residual_fields(
    alignment: &Alignment,
    region: Region,
    old: &[u8],
    new: &[u8],
    adds: &mut [u8],
) {
    for f in displacement_fields(old) {
        let predicted = alignment.predict(region, f, le32(&old[f..]));
        let residual = le32(&new[f..]).wrapping_sub(predicted);
        adds[f..f + 4].copy_from_slice(&residual.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_found_by_opcode_and_skipped_over() {
        // call rel32; jne rel32; call [rip+d]; lea rax,[rip+d]; mov ecx,[rax] (no field).
        let code = [
            0xE8, 1, 0, 0, 0, 0x0F, 0x85, 2, 0, 0, 0, 0xFF, 0x15, 3, 0, 0, 0, 0x48, 0x8D, 0x05, 4,
            0, 0, 0, 0x8B, 0x08,
        ];
        let fields: Vec<usize> = displacement_fields(&code).collect();
        assert_eq!(fields, [1, 7, 13, 20]);
        // A field that would run past the region is not one.
        assert_eq!(displacement_fields(&[0x90, 0xE8, 1, 2]).count(), 0);
    }

    #[test]
    fn a_call_whose_callee_moved_with_its_region_predicts_exactly() {
        // Old: a call at 0 to 100. New: the caller's region stayed, the callee moved +16.
        let regions = vec![
            Region {
                old: 0,
                new: 0,
                len: 50,
            },
            Region {
                old: 100,
                new: 116,
                len: 50,
            },
        ];
        let alignment = Alignment::new(regions.clone());
        let old_code: [u8; 5] = [0xE8, 95, 0, 0, 0]; // target 5 + 95 = 100
        let new_code: [u8; 5] = [0xE8, 111, 0, 0, 0]; // target 5 + 111 = 116
        let mut adds: Vec<u8> = new_code
            .iter()
            .zip(&old_code)
            .map(|(n, o)| n.wrapping_sub(*o))
            .collect();
        residual_fields(&alignment, regions[0], &old_code, &new_code, &mut adds);
        assert_eq!(adds, [0, 0, 0, 0, 0], "a moved callee costs no add bytes");
        let mut bytes: Vec<u8> = adds
            .iter()
            .zip(&old_code)
            .map(|(a, o)| a.wrapping_add(*o))
            .collect();
        restore_fields(&alignment, regions[0], &old_code, &mut bytes);
        assert_eq!(bytes, new_code);
    }

    #[test]
    fn targets_outside_every_region_fall_back_to_the_old_displacement() {
        let alignment = Alignment::new(vec![Region {
            old: 0,
            new: 8,
            len: 10,
        }]);
        let region = Region {
            old: 0,
            new: 8,
            len: 10,
        };
        assert_eq!(alignment.predict(region, 1, 1000), 1000);
        assert_eq!(alignment.predict(region, 1, -100), -100);
        assert_eq!(alignment.predict(region, 1, i32::MIN), i32::MIN);
    }
}
