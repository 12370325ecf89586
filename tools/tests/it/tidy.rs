use std::path::Path;

/// Every source module of the crates of issue 4 opens with a `//!` doc (STYLE.md §4).
#[test]
fn every_module_starts_with_a_module_doc() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut checked = 0;
    for dir in [
        "fixtures/src",
        "l10n-repack/src",
        "l10n-repack/examples",
        "tools/src",
    ] {
        for entry in walkdir::WalkDir::new(root.join(dir)) {
            let entry = entry.unwrap();
            if entry.path().extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(entry.path()).unwrap();
                assert!(
                    text.starts_with("//!"),
                    "{} has no //! module doc",
                    entry.path().display()
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 30, "checked {checked} files");
}
