use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::pkcs8::{spki::der::pem::LineEnding, EncodePrivateKey};
use ed25519_dalek::{Signature, SigningKey, Verifier};
use serde_json::json;
use updater_server::signing::{key_id, signed_message};

use crate::util::*;

#[test]
fn content_signature_verifies_over_expires_and_body() {
    let key = SigningKey::from_bytes(&[7u8; 32]);
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("ed25519.key");
    std::fs::write(
        &key_path,
        key.to_pkcs8_pem(LineEnding::LF).unwrap().as_bytes(),
    )
    .unwrap();
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
    for path in [
        v6(
            "54.0.1",
            "20170628075643",
            "WINNT_x86-msvc",
            "en-US",
            "release",
        ),
        v6("99.0", "1", "X", "en-US", "none"),
    ] {
        let resp = srv.get(&path);
        let header = resp.header("Content-Signature").expect("signed").to_owned();
        let fields: std::collections::HashMap<&str, &str> = header
            .split("; ")
            .map(|kv| kv.split_once('=').unwrap())
            .collect();
        let public = key.verifying_key();
        assert_eq!(fields["keyid"], key_id(&public));
        assert_eq!(fields["keyid"].len(), 16);
        let expires: u64 = fields["expires"].parse().unwrap();
        assert!(
            expires >= now + 590 && expires <= now + 610,
            "expires {expires} now {now}"
        );
        let sig =
            Signature::from_slice(&URL_SAFE_NO_PAD.decode(fields["ed25519"]).unwrap()).unwrap();
        public
            .verify(&signed_message(expires, resp.body.as_bytes()), &sig)
            .expect("valid signature");
        let mut tampered = resp.body.clone().into_bytes();
        tampered.push(b' ');
        assert!(public
            .verify(&signed_message(expires, &tampered), &sig)
            .is_err());
        assert!(public
            .verify(&signed_message(expires + 1, resp.body.as_bytes()), &sig)
            .is_err());
    }
}
