//! The `mar` binary: subcommands, Mozilla-style flags and exit codes (0 ok, 1 verification
//! failed, 2 usage or malformed input).

use crate::util::{fixture, mar, parse_table, run, run_ok, sample_tree, snapshot};

#[test]
fn create_sign_verify_list_extract_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    sample_tree(&src);
    let prefix = dir.path().join("release");
    let key_id = run_ok(mar().arg("keygen").arg("-o").arg(&prefix));
    assert_eq!(key_id.trim().len(), 16);
    assert_eq!(
        snapshot(dir.path())["release.key"].as_ref().unwrap().1,
        0o600
    );
    let out = dir.path().join("a.mar");
    run_ok(
        mar()
            .args(["create", "-o"])
            .arg(&out)
            .arg("-C")
            .arg(&src)
            .args(["-H", "kiln-release", "-V", "1.0", "--sign-key"])
            .arg(dir.path().join("release.key"))
            .arg("."),
    );
    let verified = run_ok(
        mar()
            .arg("verify")
            .arg(&out)
            .arg("--key")
            .arg(dir.path().join("release.pub")),
    );
    assert!(
        verified.contains(&format!("verified by key {}", key_id.trim())),
        "{verified}"
    );
    let rows = parse_table(&run_ok(mar().arg("list").arg(&out)));
    assert_eq!(rows.len(), 6);
    assert!(rows.iter().any(|r| r.name == "firefox" && r.mode == 0o755));
    let dest = dir.path().join("x");
    run_ok(mar().arg("extract").arg(&out).arg("-C").arg(&dest));
    assert_eq!(snapshot(&dest), snapshot(&src));
    let info: serde_json::Value = serde_json::from_str(&run_ok(
        mar()
            .args(["info", "--json"])
            .arg(&out)
            .arg("--key")
            .arg(dir.path().join("release.pub")),
    ))
    .unwrap();
    assert_eq!(info["layout"], "current");
    assert_eq!(info["compression"], serde_json::json!(["zstd"]));
    assert_eq!(info["product_info"]["channel"], "kiln-release");
    assert_eq!(info["signatures"][0]["algorithm"], "ed25519ph");
    assert_eq!(info["signatures"][0]["key_id"], key_id.trim());
    assert_eq!(info["entries"].as_array().unwrap().len(), 6);
}

#[test]
fn exit_codes_distinguish_verification_failure_from_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    run_ok(mar().arg("keygen").arg("-o").arg(dir.path().join("other")));
    let wrong_key = run(mar()
        .arg("verify")
        .arg(fixture("signed-sha384-xz.mar"))
        .arg("--key")
        .arg(dir.path().join("other.pub")));
    assert_eq!(wrong_key.status.code(), Some(1));
    let malformed = run(mar()
        .arg("list")
        .arg(fixture("malformed/index-size-huge.mar")));
    assert_eq!(malformed.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&malformed.stderr).contains("index size"));
    let usage = run(mar().arg("create"));
    assert_eq!(usage.status.code(), Some(2));
    let ok = run(mar()
        .arg("verify")
        .arg(fixture("signed-sha384-xz.mar"))
        .arg("--key")
        .arg(fixture("keys/rsa4096-public.pem")));
    assert_eq!(ok.status.code(), Some(0));
}

#[test]
fn mozilla_style_flags_work_like_mozillas_tools() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    sample_tree(&src);
    let out = dir.path().join("moz.mar");
    run_ok(
        mar()
            .arg("-C")
            .arg(&src)
            .args(["-J", "-V", "120.0", "-H", "firefox-mozilla-release", "-k"])
            .arg(fixture("keys/rsa4096-private.pem"))
            .arg("-c")
            .arg(&out)
            .args(["hello.txt", "firefox"]),
    );
    let listing = run_ok(mar().arg("-T").arg(&out));
    assert!(listing.contains("- Signature 2 size 512"), "{listing}");
    assert!(
        listing.contains("MAR channel name: firefox-mozilla-release"),
        "{listing}"
    );
    assert_eq!(parse_table(&run_ok(mar().arg("-t").arg(&out))).len(), 2);
    run_ok(
        mar()
            .arg("-v")
            .arg(&out)
            .arg("-k")
            .arg(fixture("keys/rsa4096-public.pem")),
    );
    assert_eq!(
        run(mar()
            .arg("-v")
            .arg(&out)
            .arg("-k")
            .arg(fixture("keys/rsa2048-public.pem")))
        .status
        .code(),
        Some(1)
    );
    // -x writes entries as stored (xz) unless --auto asks for decompression, like build-mar.
    let raw = dir.path().join("raw");
    run_ok(mar().arg("-x").arg(&out).arg("-C").arg(&raw));
    assert!(std::fs::read(raw.join("hello.txt"))
        .unwrap()
        .starts_with(b"\xFD7zXZ\0"));
    let auto = dir.path().join("auto");
    run_ok(mar().arg("-x").arg(&out).arg("-C").arg(&auto).arg("--auto"));
    assert_eq!(
        std::fs::read(auto.join("hello.txt")).unwrap(),
        std::fs::read(src.join("hello.txt")).unwrap()
    );
    // bzip2 is read only.
    let bz2 = run(mar()
        .arg("-C")
        .arg(&src)
        .arg("-j")
        .arg("-c")
        .arg(dir.path().join("b.mar"))
        .arg("hello.txt"));
    assert_eq!(bz2.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bz2.stderr).contains("bzip2"));
}
