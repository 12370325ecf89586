//! The committed fixtures are exactly what `scripts/make-mar-fixtures.sh` makes with Mozilla's
//! build-mar: the names, sizes, hashes and `mar -T` listings it recorded in `listings.txt` still
//! hold, and running it again reproduces every archive byte for byte.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::util::{fixtures, parse_table, run_ok, Row};

/// The archives `listings.txt` records: 11 small ones and the update pair.
const RECORDED_ARCHIVES: usize = 13;

/// One `## NAME SIZE SHA256` section of `listings.txt` and the `mar -T` text under it.
#[derive(Debug)]
struct Recorded {
    name: String,
    size: u64,
    sha256: String,
    listing: String,
}

fn recorded(listings: &Path) -> Vec<Recorded> {
    let text = std::fs::read_to_string(listings).expect("listings.txt is committed");
    let mut out: Vec<Recorded> = Vec::new();
    for line in text.lines() {
        if let Some(head) = line.strip_prefix("## ") {
            let fields: Vec<&str> = head.split(' ').collect();
            assert_eq!(fields.len(), 3, "bad section header {line:?}");
            out.push(Recorded {
                name: fields[0].to_owned(),
                size: fields[1].parse().expect("size"),
                sha256: fields[2].to_owned(),
                listing: String::new(),
            });
        } else if let Some(last) = out.last_mut() {
            last.listing.push_str(line);
            last.listing.push('\n');
        }
    }
    out
}

/// What Kiln reads from an archive, as the rows of a `mar -T` table.
fn kiln_rows(path: &Path) -> Vec<Row> {
    let file = std::fs::File::open(path).expect("readable fixture");
    let archive = mar::Mar::open(std::io::BufReader::new(file)).expect("a valid archive");
    archive
        .entries()
        .iter()
        .map(|entry| Row {
            size: entry.stored_size().into(),
            mode: entry.raw_flags(),
            name: entry.name().as_str().to_owned(),
        })
        .collect()
}

fn sha256_hex(path: &Path) -> String {
    hex::encode(Sha256::digest(
        std::fs::read(path).expect("readable fixture"),
    ))
}

#[test]
fn committed_archives_match_what_the_script_recorded() {
    let all = recorded(&fixtures().join("listings.txt"));
    assert_eq!(all.len(), RECORDED_ARCHIVES, "{all:#?}");
    for archive in &all {
        let path = fixtures().join(&archive.name);
        let size = std::fs::metadata(&path)
            .expect("recorded archive exists")
            .len();
        assert_eq!(size, archive.size, "{}: size", archive.name);
        assert_eq!(
            sha256_hex(&path),
            archive.sha256,
            "{}: SHA-256",
            archive.name
        );
        // Mozilla's listing, as recorded, is what Kiln reads from the committed file.
        assert_eq!(
            kiln_rows(&path),
            parse_table(&archive.listing),
            "{}: Kiln's listing differs from build-mar's",
            archive.name
        );
    }
}

#[test]
fn the_script_reproduces_every_archive_byte_for_byte() {
    let out = tempfile::tempdir().unwrap();
    let script: PathBuf =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/make-mar-fixtures.sh");
    run_ok(Command::new("bash").arg(&script).arg(out.path()));
    let committed = recorded(&fixtures().join("listings.txt"));
    let remade = recorded(&out.path().join("listings.txt"));
    assert_eq!(remade.len(), RECORDED_ARCHIVES);
    for (old, new) in committed.iter().zip(&remade) {
        assert_eq!(old.name, new.name);
        assert_eq!(
            std::fs::read(fixtures().join(&old.name)).unwrap(),
            std::fs::read(out.path().join(&new.name)).unwrap(),
            "{} is not what the script makes",
            old.name
        );
    }
    assert_eq!(
        std::fs::read_to_string(fixtures().join("listings.txt")).unwrap(),
        std::fs::read_to_string(out.path().join("listings.txt")).unwrap()
    );
}
