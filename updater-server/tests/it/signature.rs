//! `Content-Signature` checked by an independent implementation: OpenSSL generates the key and
//! verifies (`openssl pkeyutl -verify -rawin`), and the signed bytes are assembled here from the
//! spec (`docs/update-protocol.md` Part A: `expires` as 8 bytes big-endian, then the exact body),
//! not by the crate's own message builder.

use std::path::Path;
use std::process::Command;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::util::*;

fn openssl(args: &[&str]) -> std::process::Output {
    Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl must be installed (scripts/test.sh installs it)")
}

/// Does OpenSSL accept `sig` over `msg` for the public key in `public_pem`?
fn openssl_verifies(dir: &Path, public_pem: &Path, msg: &[u8], sig: &[u8]) -> bool {
    let (msg_path, sig_path) = (dir.join("msg.bin"), dir.join("sig.bin"));
    std::fs::write(&msg_path, msg).unwrap();
    std::fs::write(&sig_path, sig).unwrap();
    let out = openssl(&[
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        public_pem.to_str().unwrap(),
        "-rawin",
        "-in",
        msg_path.to_str().unwrap(),
        "-sigfile",
        sig_path.to_str().unwrap(),
    ]);
    out.status.success()
}

/// The spec's signed bytes, assembled here.
fn spec_message(expires: u64, body: &[u8]) -> Vec<u8> {
    let mut msg = expires.to_be_bytes().to_vec();
    msg.extend_from_slice(body);
    msg
}

both_backends! {
#[test]
fn content_signature_verifies_with_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("ed25519.key");
    let public_path = dir.path().join("ed25519.pub.pem");
    let der_path = dir.path().join("ed25519.pub.der");
    let key = key_path.to_str().unwrap();
    assert!(openssl(&["genpkey", "-algorithm", "ed25519", "-out", key])
        .status
        .success());
    for (form, out) in [("PEM", &public_path), ("DER", &der_path)] {
        let out = out.to_str().unwrap();
        let args = ["pkey", "-in", key, "-pubout", "-outform", form, "-out", out];
        assert!(openssl(&args).status.success());
    }
    // SubjectPublicKeyInfo for Ed25519 is a 12-byte prefix and the 32-byte raw key.
    let der = std::fs::read(&der_path).unwrap();
    let raw_public = &der[der.len() - 32..];
    let srv = Server::start_with(|c| {
        c.response_signing_key = Some(key_path.clone());
        c.signature_ttl_secs = 600;
    });
    srv.put_release(firefox_54());
    srv.put_release(firefox_56());
    srv.add_rule(rule(1, "Firefox-56.0-build1", json!({})));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let update = v6(
        "54.0.1",
        "20170628075643",
        "WINNT_x86-msvc",
        "en-US",
        "release",
    );
    for path in [update, v6("99.0", "1", "X", "en-US", "none")] {
        let resp = srv.get(&path);
        let header = resp.header("Content-Signature").expect("signed").to_owned();
        let fields: std::collections::HashMap<&str, &str> = header
            .split("; ")
            .map(|kv| kv.split_once('=').unwrap())
            .collect();
        // keyid: the first 8 bytes of SHA-256 of the raw public key, in hex.
        assert_eq!(
            fields["keyid"],
            hex::encode(&Sha256::digest(raw_public)[..8])
        );
        let expires: u64 = fields["expires"].parse().unwrap();
        assert!(
            expires >= now + 590 && expires <= now + 610,
            "expires {expires} now {now}"
        );
        let sig = URL_SAFE_NO_PAD.decode(fields["ed25519"]).unwrap();
        let body = resp.body.as_bytes();
        assert!(
            openssl_verifies(dir.path(), &public_path, &spec_message(expires, body), &sig),
            "OpenSSL rejects the signature of {path}"
        );
        // The verifier is not a rubber stamp: a changed body or expiry is refused.
        let mut tampered = body.to_vec();
        tampered.push(b' ');
        assert!(!openssl_verifies(
            dir.path(),
            &public_path,
            &spec_message(expires, &tampered),
            &sig
        ));
        assert!(!openssl_verifies(
            dir.path(),
            &public_path,
            &spec_message(expires + 1, body),
            &sig
        ));
    }
}
}
