//! The "codec limit" of a repack run, for BENCHMARKS.md: the time to just decompress every
//! locale archive a run produced and compress the same bytes again with the same settings
//! (xz preset [`XZ_PRESET`] as one stream, gzip/deflate level [`DEFLATE_LEVEL`], every zip
//! entry re-deflated), on a rayon pool of the same size. A naive repack can be no faster.
//!
//! Usage: `cargo run --release -p l10n-repack --example codec_limit -- OUT [THREADS [PER_PLATFORM]]`
//! where OUT is a `kiln repack --out` directory; only `OUT/<platform>/<locale>/*` archives
//! (locale repacks) are measured, all of them or the first PER_PLATFORM locales (sorted) of each
//! platform, in which case the time is also extrapolated to every archive of OUT.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use l10n_repack::{DEFLATE_LEVEL, XZ_PRESET};
use rayon::prelude::*;

fn roundtrip(path: &Path) -> std::io::Result<(u64, u64)> {
    let bytes = std::fs::read(path)?;
    let name = path.to_string_lossy();
    if name.ends_with(".zip") {
        let mut archive =
            zip::ZipArchive::new(std::io::Cursor::new(&bytes)).map_err(std::io::Error::other)?;
        let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .compression_level(Some(i64::from(DEFLATE_LEVEL)));
        let mut raw = 0;
        for index in 0..archive.len() {
            let mut file = archive.by_index(index).map_err(std::io::Error::other)?;
            let name = file.name().map_err(std::io::Error::other)?.into_owned();
            if file.is_dir() {
                writer
                    .add_directory(name, options)
                    .map_err(std::io::Error::other)?;
                continue;
            }
            let mut data = Vec::new();
            file.read_to_end(&mut data)?;
            raw += data.len() as u64;
            writer
                .start_file(name, options)
                .map_err(std::io::Error::other)?;
            writer.write_all(&data)?;
        }
        let out = writer.finish().map_err(std::io::Error::other)?.into_inner();
        return Ok((raw, out.len() as u64));
    }
    let mut raw = Vec::new();
    if name.ends_with(".tar.xz") {
        liblzma::read::XzDecoder::new_multi_decoder(&bytes[..]).read_to_end(&mut raw)?;
        let mut encoder = liblzma::write::XzEncoder::new(Vec::new(), XZ_PRESET);
        encoder.write_all(&raw)?;
        let out = encoder.finish()?;
        Ok((raw.len() as u64, out.len() as u64))
    } else {
        flate2::read::MultiGzDecoder::new(&bytes[..]).read_to_end(&mut raw)?;
        let mut encoder =
            flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(DEFLATE_LEVEL));
        encoder.write_all(&raw)?;
        let out = encoder.finish()?;
        Ok((raw.len() as u64, out.len() as u64))
    }
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(args.next().expect("usage: codec_limit OUT [THREADS]"));
    let threads: usize = args
        .next()
        .map_or(0, |t| t.parse().expect("THREADS is a number"));
    let per_platform: usize = args
        .next()
        .map_or(usize::MAX, |t| t.parse().expect("PER_PLATFORM is a number"));
    let mut archives = Vec::new();
    let mut all = 0;
    for platform in ["linux-x86_64", "mac", "win64"] {
        let Ok(locales) = std::fs::read_dir(out.join(platform)) else {
            continue;
        };
        let mut found = Vec::new();
        for locale in locales {
            for file in std::fs::read_dir(locale?.path())? {
                let path = file?.path();
                let name = path.to_string_lossy();
                if [".tar.xz", ".tar.gz", ".zip"]
                    .iter()
                    .any(|e| name.ends_with(e))
                {
                    found.push(path);
                }
            }
        }
        found.sort();
        all += found.len();
        archives.extend(found.into_iter().take(per_platform));
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(std::io::Error::other)?;
    let started = Instant::now();
    let totals: Vec<(u64, u64)> = pool.install(|| {
        archives
            .par_iter()
            .map(|p| roundtrip(p))
            .collect::<std::io::Result<_>>()
    })?;
    let seconds = started.elapsed().as_secs_f64();
    let raw: u64 = totals.iter().map(|t| t.0).sum();
    println!(
        "codec limit: {} archives, {:.1} GB unpacked, decompress+recompress in {seconds:.1}s on {} threads",
        archives.len(),
        raw as f64 / 1e9,
        pool.current_num_threads()
    );
    if archives.len() < all {
        let per_platform_count = archives.len() / 3;
        println!(
            "extrapolated to all {all} archives ({} per platform measured): {:.1}s",
            per_platform_count,
            seconds * all as f64 / archives.len() as f64
        );
    }
    Ok(())
}
