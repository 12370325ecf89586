//! Property round trips (write → read → same names, modes, bytes), determinism and signing.

use std::collections::BTreeMap;
use std::fs::File;

use mar::keys::SigningKey;
use mar::{Compression, EntryPath, Error, Mar, MarBuilder, ProductInfo, Verifier};
use proptest::prelude::*;

fn name_strategy() -> impl Strategy<Value = String> {
    proptest::collection::vec("[a-zA-Z0-9_][a-zA-Z0-9_.@-]{0,11}", 1..4)
        .prop_map(|parts| parts.join("/"))
        .prop_filter("valid entry path", |n| EntryPath::new(n).is_ok())
}

fn tree_strategy() -> impl Strategy<Value = BTreeMap<String, (Vec<u8>, u32)>> {
    let mode = prop_oneof![
        Just(0o644u32),
        Just(0o755),
        Just(0o600),
        Just(0o444),
        0u32..0o1000
    ];
    let bytes = prop_oneof![
        Just(Vec::new()),
        proptest::collection::vec(any::<u8>(), 0..300),
        (any::<u8>(), 0usize..70_000).prop_map(|(b, n)| vec![b; n]),
    ];
    proptest::collection::btree_map(name_strategy(), (bytes, mode), 0..12)
        // A name may not also be a directory of another name.
        .prop_filter("no file/dir clash", |tree| {
            !tree
                .keys()
                .any(|a| tree.keys().any(|b| b.starts_with(&format!("{a}/"))))
        })
}

fn write(tree: &BTreeMap<String, (Vec<u8>, u32)>, compression: Compression, out: &std::path::Path) {
    let mut builder = MarBuilder::new();
    builder
        .compression(compression)
        .product_info(ProductInfo::new("kiln-test", "1.0").unwrap());
    for (name, (bytes, mode)) in tree {
        builder
            .add_bytes(EntryPath::new(name).unwrap(), *mode, bytes.clone())
            .unwrap();
    }
    builder.write(out).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_trees_round_trip_in_every_compression(tree in tree_strategy()) {
        let dir = tempfile::tempdir().unwrap();
        for compression in [Compression::Zstd { level: 3 }, Compression::Xz { preset: 1 }, Compression::None] {
            let out = dir.path().join("t.mar");
            write(&tree, compression, &out);
            let mut mar = Mar::open(File::open(&out).unwrap()).unwrap();
            let mut got = BTreeMap::new();
            for entry in mar.entries().to_vec() {
                let mut bytes = Vec::new();
                mar.copy_entry(&entry, &mut bytes).unwrap();
                got.insert(entry.name().to_string(), (bytes, entry.mode()));
            }
            prop_assert_eq!(&got, &tree);
            // And through the filesystem: extract, then archive the directory again.
            let dest = dir.path().join("x");
            let _ = std::fs::remove_dir_all(&dest);
            mar::extract_all(&mut mar, &dest, mar::ExtractMode::Decompress, &mut |_, _| {}).unwrap();
            for (name, (bytes, mode)) in &tree {
                let path = dest.join(name);
                prop_assert_eq!(&std::fs::read(&path).unwrap(), bytes);
                prop_assert_eq!(crate::util::mode_of(&path), *mode);
            }
        }
    }
}

/// Thread counts matter only with the `parallel` feature (rayon).
#[cfg(feature = "parallel")]
#[test]
fn output_is_byte_identical_for_identical_inputs_at_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    crate::util::sample_tree(&src);
    std::fs::write(
        src.join("big.bin"),
        (0..3_000_000u32)
            .map(|i| (i * 7 % 253) as u8)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let build = |out: &std::path::Path| {
        let mut builder = MarBuilder::new();
        builder.product_info(ProductInfo::new("kiln-test", "2.0").unwrap());
        builder.add_dir_tree(&src).unwrap();
        builder.write(out).unwrap();
    };
    let one = dir.path().join("one.mar");
    let many = dir.path().join("many.mar");
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| build(&one));
    rayon::ThreadPoolBuilder::new()
        .num_threads(4)
        .build()
        .unwrap()
        .install(|| build(&many));
    build(&dir.path().join("again.mar"));
    let bytes = std::fs::read(&one).unwrap();
    assert_eq!(bytes, std::fs::read(&many).unwrap());
    assert_eq!(bytes, std::fs::read(dir.path().join("again.mar")).unwrap());
    // Entries are in sorted order, PIB first.
    let mar = Mar::open(File::open(&one).unwrap()).unwrap();
    let names: Vec<_> = mar.entries().iter().map(|e| e.name().to_string()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
}

fn signed_archive(dir: &std::path::Path, keys: &[SigningKey]) -> std::path::PathBuf {
    let out = dir.join(format!("signed-{}.mar", keys.len()));
    let mut builder = MarBuilder::new();
    builder.product_info(ProductInfo::new("kiln-release", "3.0").unwrap());
    for key in keys {
        builder.sign_with(key.clone());
    }
    builder
        .add_bytes(EntryPath::new("a.txt").unwrap(), 0o644, b"payload".to_vec())
        .unwrap();
    builder.write(&out).unwrap();
    out
}

#[test]
fn key_rotation_signs_with_both_keys_and_thresholds_count_distinct_keys() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new, stranger) = (
        SigningKey::generate_ed25519(),
        SigningKey::generate_ed25519(),
        SigningKey::generate_ed25519(),
    );
    let rsa = SigningKey::load(&crate::util::fixture("keys/rsa4096-private.pem")).unwrap();
    let path = signed_archive(dir.path(), &[old.clone(), new.clone(), rsa.clone()]);
    let open = || Mar::open(File::open(&path).unwrap()).unwrap();
    let ids: Vec<u32> = open()
        .signatures()
        .iter()
        .map(|s| s.algorithm().id())
        .collect();
    assert_eq!(ids, vec![0x4544_3235, 0x4544_3235, 2]);
    // Either key alone verifies; both are needed for threshold 2; three for threshold 3.
    assert!(Verifier::new(vec![old.public_key()]).verify(open()).is_ok());
    assert!(Verifier::new(vec![new.public_key()]).verify(open()).is_ok());
    let both = Verifier::new(vec![old.public_key(), new.public_key()])
        .with_threshold(2)
        .verify(open())
        .unwrap();
    assert_eq!(both.report().verified_keys().len(), 2);
    let all = vec![old.public_key(), new.public_key(), rsa.public_key()];
    assert!(Verifier::new(all.clone())
        .with_threshold(3)
        .verify(open())
        .is_ok());
    // The same key listed twice does not count twice.
    let twice = Verifier::new(vec![old.public_key(), old.public_key()])
        .with_threshold(2)
        .verify(open());
    assert!(twice.unwrap_err().is_verification_failure());
    assert!(Verifier::new(vec![stranger.public_key()])
        .verify(open())
        .unwrap_err()
        .is_verification_failure());
}

#[test]
fn signing_an_unsigned_archive_later_equals_signing_while_creating() {
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::load(&crate::util::fixture("keys/rsa4096-private.pem")).unwrap();
    let inline = signed_archive(dir.path(), std::slice::from_ref(&key));
    let unsigned = signed_archive(dir.path(), &[]);
    let later = dir.path().join("later.mar");
    mar::sign_archive(
        &mut Mar::open(File::open(&unsigned).unwrap()).unwrap(),
        std::slice::from_ref(&key),
        &later,
    )
    .unwrap();
    // RSA PKCS#1 v1.5 is deterministic, so both paths give the same bytes.
    assert_eq!(
        std::fs::read(&inline).unwrap(),
        std::fs::read(&later).unwrap()
    );
    // Re-signing a signed archive is refused with a clear error.
    let err = mar::sign_archive(
        &mut Mar::open(File::open(&later).unwrap()).unwrap(),
        &[key],
        &dir.path().join("x.mar"),
    )
    .unwrap_err();
    assert!(matches!(err, Error::AlreadySigned { count: 1 }));
    assert!(!dir.path().join("x.mar").exists());
}

#[test]
fn signing_converts_a_legacy_archive_and_keeps_its_entries() {
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::generate_ed25519();
    let out = dir.path().join("signed.mar");
    let mut legacy = Mar::open(File::open(crate::util::fixture("legacy-xz.mar")).unwrap()).unwrap();
    mar::sign_archive(&mut legacy, std::slice::from_ref(&key), &out).unwrap();
    let mut verified = Verifier::new(vec![key.public_key()])
        .verify(Mar::open(File::open(&out).unwrap()).unwrap())
        .unwrap();
    assert_eq!(verified.archive().layout(), mar::Layout::Current);
    assert_eq!(
        verified
            .archive_mut()
            .read_entry_to_vec("hello.txt")
            .unwrap()
            .len(),
        26
    );
}

#[test]
fn writer_refuses_what_mozilla_would_reject() {
    let mut builder = MarBuilder::new();
    builder
        .add_bytes(EntryPath::new("a").unwrap(), 0o644, vec![])
        .unwrap();
    assert!(matches!(
        builder.add_bytes(EntryPath::new("a").unwrap(), 0o644, vec![]),
        Err(Error::DuplicateEntry { .. })
    ));
    let mut too_many = MarBuilder::new();
    for _ in 0..9 {
        too_many.sign_with(SigningKey::generate_ed25519());
    }
    too_many
        .add_bytes(EntryPath::new("a").unwrap(), 0o644, vec![1])
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        too_many.write(&dir.path().join("x.mar")),
        Err(Error::Unwritable(_))
    ));
    assert!(!dir.path().join("x.mar").exists());
    assert!(ProductInfo::new("has space", "1").is_err());
}

#[test]
fn archives_are_published_world_readable() {
    let dir = tempfile::tempdir().unwrap();
    let path = signed_archive(dir.path(), &[]);
    assert_eq!(crate::util::mode_of(&path), 0o644);
}
