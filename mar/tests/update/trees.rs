use std::path::{Path, PathBuf};

use mar::keys::SigningKey;
use mar::update::{apply, verify_update, ApplyError, ApplyOptions, ApplySummary};
use mar::Mar;

pub(crate) use kiln_test_support::{copy_tree, materialize, snapshot, Snapshot};

pub(crate) fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/data/mar")
}

pub(crate) fn update_fixture(name: &str) -> PathBuf {
    fixtures().join("update").join(name)
}

/// A writable copy of a fixture install in a new temporary directory.
pub(crate) fn install_copy(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&update_fixture(name), dir.path());
    dir
}

pub(crate) fn rsa_key() -> mar::keys::PublicKey {
    mar::keys::PublicKey::load(&fixtures().join("keys/rsa4096-public.pem")).unwrap()
}

/// A fixed Ed25519 test key (generated once per process).
pub(crate) fn ed_key() -> &'static SigningKey {
    static KEY: std::sync::OnceLock<SigningKey> = std::sync::OnceLock::new();
    KEY.get_or_init(SigningKey::generate_ed25519)
}

/// Opens, verifies against `keys` and applies `mar` to `install`.
pub(crate) fn apply_with(
    install: &Path,
    mar: &Path,
    keys: Vec<mar::keys::PublicKey>,
    options: &ApplyOptions,
) -> Result<ApplySummary, ApplyError> {
    let archive = Mar::open(std::io::BufReader::new(std::fs::File::open(mar).unwrap())).unwrap();
    let mut verified = verify_update(archive, keys)?;
    apply(install, &mut verified, options)
}

/// Applies a Kiln-made MAR signed with [`ed_key`].
pub(crate) fn apply_kiln(install: &Path, mar: &Path) -> Result<ApplySummary, ApplyError> {
    apply_with(
        install,
        mar,
        vec![ed_key().public_key()],
        &ApplyOptions::default(),
    )
}

/// Adds a `precomplete` (computed like Mozilla's) to a snapshot of files.
pub(crate) fn with_precomplete(mut tree: Snapshot) -> Snapshot {
    tree.remove("precomplete");
    let mut dirs = std::collections::BTreeSet::new();
    for (path, file) in &tree {
        if file.is_none() {
            dirs.insert(path.clone());
        }
        let parts: Vec<&str> = path.split('/').collect();
        for depth in 1..parts.len() {
            dirs.insert(parts[..depth].join("/"));
        }
    }
    let files: Vec<&str> = tree
        .iter()
        .filter(|(_, f)| f.is_some())
        .map(|(p, _)| p.as_str())
        .collect();
    let text = mar::update::precomplete::precomplete_text(files, dirs.iter().map(String::as_str));
    for dir in &dirs {
        tree.insert(dir.clone(), None);
    }
    tree.insert("precomplete".into(), Some((text.into_bytes(), 0o644)));
    tree
}

/// A file entry for a snapshot.
pub(crate) fn file(bytes: &[u8], mode: u32) -> Option<(Vec<u8>, u32)> {
    Some((bytes.to_vec(), mode))
}

/// A manifest's instructions, one line each as written.
pub(crate) fn lines(manifest: &mar::update::Manifest) -> Vec<String> {
    manifest
        .instructions()
        .iter()
        .map(|i| i.to_string())
        .collect()
}

/// Writes `old` and `new` to `dir/old` and `dir/new` and makes the partial between them, with
/// `params` and `options`, at `dir/partial.mar` (returned with the report).
pub(crate) fn write_partial(
    dir: &Path,
    old: &Snapshot,
    new: &Snapshot,
    params: &mar::update::generate::UpdateParams,
    options: &mar::update::generate::PartialOptions,
) -> (PathBuf, mar::update::generate::GenerateReport) {
    use mar::update::generate::{partial_mar, Tree};
    materialize(&dir.join("old"), old);
    materialize(&dir.join("new"), new);
    let out = dir.join("partial.mar");
    let report = partial_mar(
        &Tree::from_dir(&dir.join("old")).unwrap(),
        &Tree::from_dir(&dir.join("new")).unwrap(),
        params,
        options,
        &out,
    )
    .unwrap();
    (out, report)
}

/// Kiln update parameters: channel `kiln-test`, the given version, signed with [`ed_key`].
pub(crate) fn params(version: &str) -> mar::update::generate::UpdateParams {
    mar::update::generate::UpdateParams::new(mar::ProductInfo::new("kiln-test", version).unwrap())
        .sign_with(ed_key().clone())
}
