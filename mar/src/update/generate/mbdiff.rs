//! Making Mozilla MBDIFF10 patches (for `--patch-format mbdiff`, what Firefox's own updater
//! applies): bidiff's matches as bsdiff control triples, with uncompressed control, diff and
//! extra blocks, as Mozilla's `mbsdiff` writes them (the MAR entry's xz compression is the only
//! compression; `docs/mar-format.md` B3).

use std::io;

use crate::update::mbdiff::{crc32_bzip2, MBDIFF_MAGIC};

fn too_large(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{what} does not fit MBDIFF10's 32-bit fields"),
    )
}

fn u32_of(value: usize, what: &str) -> io::Result<u32> {
    u32::try_from(value).map_err(|_| too_large(what))
}

/// Diffs `old` → `new` into an uncompressed MBDIFF10 patch. Fails for files of 4 GiB or more
/// (or a seek beyond ±2 GiB), which the format cannot describe.
pub fn make_mbdiff(old: &[u8], new: &[u8]) -> io::Result<Vec<u8>> {
    let (mut control, mut diff, mut extra) = (Vec::new(), Vec::new(), Vec::new());
    let slen = u32_of(old.len(), "the source length")?;
    let dlen = u32_of(new.len(), "the target length")?;
    {
        let mut translator =
            bidiff::Translator::new(old, new, |c: &bidiff::Control| -> io::Result<()> {
                let seek = i32::try_from(c.seek).map_err(|_| too_large("a seek"))?;
                control.extend_from_slice(&u32_of(c.add.len(), "an add run")?.to_be_bytes());
                control.extend_from_slice(&u32_of(c.copy.len(), "a copy run")?.to_be_bytes());
                control.extend_from_slice(&seek.to_be_bytes());
                diff.extend_from_slice(c.add);
                extra.extend_from_slice(c.copy);
                Ok(())
            });
        let params = bidiff::DiffParams::new(1, None).expect("valid diff parameters");
        bidiff::diff(old, new, &params, |m| translator.translate(m))?;
        translator.close()?;
    }
    if control.is_empty() {
        // The applier requires at least one control triple: an empty run.
        control.extend_from_slice(&[0; 12]);
    }
    let mut out = Vec::with_capacity(32 + control.len() + diff.len() + extra.len());
    out.extend_from_slice(MBDIFF_MAGIC);
    for field in [
        slen,
        crc32_bzip2(old),
        dlen,
        u32_of(control.len(), "the control block")?,
        u32_of(diff.len(), "the diff block")?,
        u32_of(extra.len(), "the extra block")?,
    ] {
        out.extend_from_slice(&field.to_be_bytes());
    }
    out.extend_from_slice(&control);
    out.extend_from_slice(&diff);
    out.extend_from_slice(&extra);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::update::mbdiff::apply_mbdiff;

    #[test]
    fn mbdiff_patches_round_trip() {
        let old: Vec<u8> = (0..100_000u32).map(|i| (i * 31 % 253) as u8).collect();
        let mut new = old.clone();
        new[5000..5008].copy_from_slice(b"modified");
        new.splice(70_000..70_000, b"inserted bytes".iter().copied());
        for (a, b) in [(&old, &new), (&new, &old), (&old, &old)] {
            let patch = make_mbdiff(a, b).unwrap();
            assert_eq!(&apply_mbdiff(&patch, a).unwrap(), b);
        }
    }
}
