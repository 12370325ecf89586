//! Interop with Mozilla's own tool, build-mar (PyPI `mar==3.2.1`): it lists and verifies Kiln's
//! archives, and Kiln reads, verifies and extracts its archives. Listings are compared parsed.

use std::fs::File;
use std::path::Path;

use mar::keys::{PublicKey, SigningKey};
use mar::{Compression, ExtractMode, Mar, MarBuilder, ProductInfo, Verifier};

use crate::util::{
    fixtures, parse_python_details, parse_table, python_mar, run, run_ok, sample_tree, tree, Row,
};

fn rsa4096() -> (SigningKey, std::path::PathBuf) {
    let keys = fixtures().join("keys");
    (
        SigningKey::load(&keys.join("rsa4096-private.pem")).unwrap(),
        keys.join("rsa4096-public.pem"),
    )
}

fn kiln_archive(
    src: &Path,
    out: &Path,
    compression: Compression,
    pib: bool,
    key: Option<SigningKey>,
) -> Vec<Row> {
    let mut builder = MarBuilder::new();
    builder.compression(compression);
    if pib {
        builder.product_info(ProductInfo::new("firefox-mozilla-release", "120.0").unwrap());
    }
    if let Some(key) = key {
        builder.sign_with(key);
    }
    builder.add_dir_tree(src).unwrap();
    builder.write(out).unwrap();
    let mar = Mar::open(File::open(out).unwrap()).unwrap();
    mar.entries()
        .iter()
        .map(|e| Row {
            size: e.stored_size().into(),
            mode: e.mode(),
            name: e.name().to_string(),
        })
        .collect()
}

#[test]
fn mozilla_tool_lists_and_verifies_kiln_xz_archives() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    sample_tree(&src);
    let (key, public) = rsa4096();
    for (pib, signed) in [(true, true), (false, true), (true, false), (false, false)] {
        let out = dir.path().join(format!("kiln-{pib}-{signed}.mar"));
        let rows = kiln_archive(
            &src,
            &out,
            Compression::XZ_DEFAULT,
            pib,
            signed.then(|| key.clone()),
        );
        let listing = run_ok(std::process::Command::new(python_mar()).arg("-T").arg(&out));
        assert_eq!(
            parse_table(&listing),
            rows,
            "pib={pib} signed={signed}\n{listing}"
        );
        let (signatures, product) = parse_python_details(&listing);
        if signed {
            assert_eq!(signatures, vec![(2, 512)], "{listing}");
        }
        // build-mar shows the PIB only when it can detect the signature block (`docs/mar-format.md` B1.2).
        let want_pib = pib.then(|| ("firefox-mozilla-release".to_owned(), "120.0".to_owned()));
        assert_eq!(product, want_pib, "{listing}");
        if signed {
            let verified = run_ok(
                std::process::Command::new(python_mar())
                    .arg("-v")
                    .arg(&out)
                    .arg("-k")
                    .arg(&public),
            );
            assert_eq!(verified.trim(), "Verification OK");
        }
        // build-mar decompresses Kiln's xz entries to the original bytes.
        let extracted = dir.path().join(format!("py-x-{pib}-{signed}"));
        std::fs::create_dir(&extracted).unwrap();
        run_ok(
            std::process::Command::new(python_mar())
                .arg("--auto")
                .arg("-x")
                .arg(&out)
                .current_dir(&extracted),
        );
        assert_eq!(tree(&extracted), tree(&src));
    }
}

#[test]
fn mozilla_tool_rejects_a_tampered_kiln_signature() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    sample_tree(&src);
    let (key, public) = rsa4096();
    let out = dir.path().join("signed.mar");
    kiln_archive(&src, &out, Compression::XZ_DEFAULT, true, Some(key));
    let mut bytes = std::fs::read(&out).unwrap();
    let last = bytes.len() - 2; // inside the index's last name
    bytes[last] ^= 0x01;
    std::fs::write(&out, bytes).unwrap();
    let output = run(std::process::Command::new(python_mar())
        .arg("-v")
        .arg(&out)
        .arg("-k")
        .arg(&public));
    assert!(
        !output.status.success(),
        "build-mar accepted a tampered archive"
    );
}

#[test]
fn mozilla_tool_lists_kiln_zstd_archives() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    sample_tree(&src);
    let out = dir.path().join("zstd.mar");
    let rows = kiln_archive(
        &src,
        &out,
        Compression::default(),
        true,
        Some(SigningKey::generate_ed25519()),
    );
    let listing = run_ok(std::process::Command::new(python_mar()).arg("-t").arg(&out));
    assert_eq!(parse_table(&listing), rows);
}

#[test]
fn kiln_reads_verifies_and_extracts_archives_made_by_mozilla_tool() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    sample_tree(&src);
    let names = [
        "browser/features/blob.bin",
        "defaults/pref/channel-prefs.js",
        "distribution/extensions/test@example.com/sub/inner.js",
        "empty.txt",
        "firefox",
        "hello.txt",
    ];
    let keys = fixtures().join("keys");
    let cases = [("-j", "rsa2048", 1u32), ("-J", "rsa4096", 2u32)];
    for (flag, key, algorithm) in cases {
        let out = dir.path().join(format!("moz{flag}.mar"));
        run_ok(
            std::process::Command::new(python_mar())
                .arg("-C")
                .arg(&src)
                .arg(flag)
                .args(["-V", "121.0", "-H", "firefox-mozilla-beta", "-k"])
                .arg(keys.join(format!("{key}-private.pem")))
                .arg("-c")
                .arg(&out)
                .args(names),
        );
        let mar = Mar::open(File::open(&out).unwrap()).unwrap();
        let pib = mar.product_info().unwrap();
        assert_eq!(
            (pib.channel(), pib.version()),
            ("firefox-mozilla-beta", "121.0")
        );
        assert_eq!(mar.signatures()[0].algorithm().id(), algorithm);
        let public = PublicKey::load(&keys.join(format!("{key}-public.pem"))).unwrap();
        let mut verified = Verifier::new(vec![public]).verify(mar).unwrap();
        let dest = dir.path().join(format!("x{flag}"));
        mar::extract_all(
            verified.archive_mut(),
            &dest,
            ExtractMode::Decompress,
            &mut |_, _| {},
        )
        .unwrap();
        assert_eq!(tree(&dest), tree(&src), "{flag}");
    }
}
