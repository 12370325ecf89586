//! Archives made by Mozilla's build-mar read to exactly the listing in their README, verify with
//! the fixture keys, and extract to the trees given.

use std::fs::File;

use mar::keys::PublicKey;
use mar::{ExtractMode, Layout, Mar, Verifier};

use crate::util::{fixture, fixtures, tree};

const PIB: Option<(&str, &str)> = Some(("firefox-mozilla-release", "120.0"));
const HELLO_XZ: [(u32, u32, &str); 2] = [
    (84, 0o644, "hello.txt"),
    (96, 0o644, "defaults/pref/channel-prefs.js"),
];
const HELLO_BZ2: [(u32, u32, &str); 2] = [
    (69, 0o644, "hello.txt"),
    (76, 0o644, "defaults/pref/channel-prefs.js"),
];

struct Expected {
    file: &'static str,
    layout: Layout,
    pib: Option<(&'static str, &'static str)>,
    signatures: &'static [(u32, usize)],
    rows: &'static [(u32, u32, &'static str)],
}

const EXPECTED: &[Expected] = &[
    Expected {
        file: "legacy-uncompressed.mar",
        layout: Layout::Legacy,
        pib: None,
        signatures: &[],
        rows: &[
            (26, 0o644, "hello.txt"),
            (39, 0o644, "defaults/pref/channel-prefs.js"),
        ],
    },
    Expected {
        file: "legacy-bz2.mar",
        layout: Layout::Legacy,
        pib: None,
        signatures: &[],
        rows: &HELLO_BZ2,
    },
    Expected {
        file: "legacy-xz.mar",
        layout: Layout::Legacy,
        pib: None,
        signatures: &[],
        rows: &HELLO_XZ,
    },
    Expected {
        file: "pib-bz2.mar",
        layout: Layout::Current,
        pib: PIB,
        signatures: &[],
        rows: &HELLO_BZ2,
    },
    Expected {
        file: "pib-xz.mar",
        layout: Layout::Current,
        pib: PIB,
        signatures: &[],
        rows: &HELLO_XZ,
    },
    Expected {
        file: "signed-sha384-xz.mar",
        layout: Layout::Current,
        pib: PIB,
        signatures: &[(2, 512)],
        rows: &HELLO_XZ,
    },
    Expected {
        file: "signed-external-sha384-xz.mar",
        layout: Layout::Current,
        pib: PIB,
        signatures: &[(2, 512)],
        rows: &HELLO_XZ,
    },
    Expected {
        file: "signed-sha1-bz2.mar",
        layout: Layout::Current,
        pib: PIB,
        signatures: &[(1, 256)],
        rows: &HELLO_BZ2,
    },
    Expected {
        file: "nested-perms-xz.mar",
        layout: Layout::Current,
        pib: PIB,
        signatures: &[],
        rows: &[
            (72, 0o644, "browser/features/blob.bin"),
            (96, 0o644, "defaults/pref/channel-prefs.js"),
            (
                68,
                0o600,
                "distribution/extensions/test@example.com/sub/inner.js",
            ),
            (32, 0o644, "empty.txt"),
            (84, 0o755, "firefox"),
            (84, 0o644, "hello.txt"),
            (116, 0o644, "update-settings.ini"),
        ],
    },
    Expected {
        file: "empty-legacy.mar",
        layout: Layout::Legacy,
        pib: None,
        signatures: &[],
        rows: &[],
    },
    // Kiln detects the PIB that build-mar cannot see without entries (`docs/mar-format.md` B1.2).
    Expected {
        file: "empty-pib.mar",
        layout: Layout::Current,
        pib: PIB,
        signatures: &[],
        rows: &[],
    },
    Expected {
        file: "update/firefox-120.0.complete.mar",
        layout: Layout::Current,
        pib: PIB,
        signatures: &[(2, 512)],
        rows: &[
            (280, 0o644, "updatev3.manifest"),
            (116, 0o644, "update-settings.ini"),
            (80, 0o644, "unchanged.txt"),
            (128, 0o644, "removed-files"),
            (208, 0o644, "precomplete"),
            (65616, 0o755, "libxul.so"),
            (88, 0o755, "firefox"),
            (96, 0o644, "defaults/pref/channel-prefs.js"),
            (4156, 0o644, "browser/omni.ja"),
            (72, 0o644, "browser/features/new-addon.xpi"),
            (76, 0o644, "application.ini"),
        ],
    },
    Expected {
        file: "update/firefox-119.0-120.0.partial.mar",
        layout: Layout::Current,
        pib: PIB,
        signatures: &[(2, 512)],
        rows: &[
            (304, 0o644, "updatev3.manifest"),
            (116, 0o644, "update-settings.ini"),
            (208, 0o644, "precomplete"),
            (196, 0o755, "libxul.so.patch"),
            (88, 0o755, "firefox"),
            (96, 0o644, "defaults/pref/channel-prefs.js"),
            (4156, 0o644, "browser/omni.ja"),
            (76, 0o644, "application.ini"),
            (128, 0o644, "removed-files"),
            (72, 0o644, "browser/features/new-addon.xpi"),
        ],
    },
];

#[test]
fn every_mozilla_fixture_reads_to_its_readme_listing() {
    for want in EXPECTED {
        let mut mar = Mar::open(File::open(fixture(want.file)).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", want.file));
        assert_eq!(mar.layout(), want.layout, "{}", want.file);
        let pib = mar
            .product_info()
            .map(|p| (p.channel().to_owned(), p.version().to_owned()));
        assert_eq!(
            pib,
            want.pib.map(|(c, v)| (c.to_owned(), v.to_owned())),
            "{}",
            want.file
        );
        let sigs: Vec<(u32, usize)> = mar
            .signatures()
            .iter()
            .map(|s| (s.algorithm().id(), s.value().len()))
            .collect();
        assert_eq!(sigs, want.signatures, "{}", want.file);
        let rows: Vec<(u32, u32, String)> = mar
            .entries()
            .iter()
            .map(|e| (e.stored_size(), e.mode(), e.name().to_string()))
            .collect();
        let want_rows: Vec<(u32, u32, String)> = want
            .rows
            .iter()
            .map(|&(s, m, n)| (s, m, n.to_owned()))
            .collect();
        assert_eq!(rows, want_rows, "{}", want.file);
        // Every entry decodes fully (xz CRC64, bz2 CRC, raw).
        for entry in mar.entries().to_vec() {
            mar.copy_entry(&entry, &mut std::io::sink())
                .unwrap_or_else(|e| panic!("{} {}: {e}", want.file, entry.name()));
        }
    }
}

#[test]
fn hello_entries_decode_to_the_source_bytes_in_every_compression() {
    for file in [
        "legacy-uncompressed.mar",
        "legacy-bz2.mar",
        "legacy-xz.mar",
        "pib-bz2.mar",
        "pib-xz.mar",
    ] {
        let mut mar = Mar::open(File::open(fixture(file)).unwrap()).unwrap();
        let hello = mar.read_entry_to_vec("hello.txt").unwrap();
        assert_eq!(hello.len(), 26, "{file}");
        assert_eq!(
            mar.read_entry_to_vec("defaults/pref/channel-prefs.js")
                .unwrap()
                .len(),
            39,
            "{file}"
        );
    }
}

fn key(name: &str) -> PublicKey {
    PublicKey::load(&fixtures().join("keys").join(name)).unwrap()
}

#[test]
fn signed_fixtures_verify_with_their_keys_and_fail_with_others() {
    let cases = [
        (
            "signed-sha384-xz.mar",
            "rsa4096-public.pem",
            "rsa2048-public.pem",
        ),
        (
            "signed-external-sha384-xz.mar",
            "rsa4096-public.der",
            "rsa2048-public.der",
        ),
        (
            "signed-sha1-bz2.mar",
            "rsa2048-public.pem",
            "rsa4096-public.pem",
        ),
        (
            "update/firefox-120.0.complete.mar",
            "rsa4096-public.pem",
            "rsa2048-public.pem",
        ),
        (
            "update/firefox-119.0-120.0.partial.mar",
            "rsa4096-public.pem",
            "rsa2048-public.pem",
        ),
    ];
    for (file, good, bad) in cases {
        let open = || Mar::open(File::open(fixture(file)).unwrap()).unwrap();
        let verified = Verifier::new(vec![key(good)])
            .verify(open())
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(verified.report().verified_keys(), vec![key(good).key_id()]);
        let err = Verifier::new(vec![key(bad)]).verify(open()).unwrap_err();
        assert!(err.is_verification_failure(), "{file}: {err}");
    }
    // An unsigned archive never verifies.
    let unsigned = Mar::open(File::open(fixture("pib-xz.mar")).unwrap()).unwrap();
    assert!(Verifier::new(vec![key("rsa4096-public.pem")])
        .verify(unsigned)
        .unwrap_err()
        .is_verification_failure());
}

#[test]
fn malformed_signature_fixtures_fail_verification() {
    // The algorithm id is covered by the signature; the file-size field is checked on open.
    let wrong_alg =
        Mar::open(File::open(fixture("malformed/signature-wrong-algorithm.mar")).unwrap()).unwrap();
    let err = Verifier::new(vec![key("rsa4096-public.pem")])
        .verify(wrong_alg)
        .unwrap_err();
    assert!(err.is_verification_failure());
}

#[test]
fn complete_update_extracts_to_the_install_tree() {
    let dest = tempfile::tempdir().unwrap();
    let mut mar =
        Mar::open(File::open(fixture("update/firefox-120.0.complete.mar")).unwrap()).unwrap();
    mar::extract_all(
        &mut mar,
        dest.path(),
        ExtractMode::Decompress,
        &mut |_, _| {},
    )
    .unwrap();
    std::fs::remove_file(dest.path().join("updatev3.manifest")).unwrap();
    let got: Vec<(String, Vec<u8>)> = tree(dest.path())
        .into_iter()
        .map(|(n, b, _)| (n, b))
        .collect();
    let want: Vec<(String, Vec<u8>)> = tree(&fixture("update/install-120.0"))
        .into_iter()
        .map(|(n, b, _)| (n, b))
        .collect();
    assert_eq!(got, want);
    assert_eq!(crate::util::mode_of(&dest.path().join("libxul.so")), 0o755);
    assert_eq!(
        crate::util::mode_of(&dest.path().join("browser/omni.ja")),
        0o644
    );
    let manifest = {
        let mut mar =
            Mar::open(File::open(fixture("update/firefox-120.0.complete.mar")).unwrap()).unwrap();
        mar.read_entry_to_vec("updatev3.manifest").unwrap()
    };
    assert_eq!(
        manifest,
        std::fs::read(fixture("update/complete.updatev3.manifest.txt")).unwrap()
    );
}

#[test]
fn partial_update_entries_match_the_new_tree() {
    let mut mar =
        Mar::open(File::open(fixture("update/firefox-119.0-120.0.partial.mar")).unwrap()).unwrap();
    let new = fixture("update/install-120.0");
    for name in [
        "precomplete",
        "firefox",
        "browser/omni.ja",
        "application.ini",
        "removed-files",
        "browser/features/new-addon.xpi",
    ] {
        assert_eq!(
            mar.read_entry_to_vec(name).unwrap(),
            std::fs::read(new.join(name)).unwrap(),
            "{name}"
        );
    }
    assert!(mar
        .read_entry_to_vec("libxul.so.patch")
        .unwrap()
        .starts_with(b"MBDIFF10"));
    assert_eq!(
        mar.read_entry_to_vec("updatev3.manifest").unwrap(),
        std::fs::read(fixture("update/partial.updatev3.manifest.txt")).unwrap()
    );
}
