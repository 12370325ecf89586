//! RFC 3161 timestamps on Authenticode signatures against a local time-stamping authority:
//! OpenSSL's `ts -reply` behind a loopback HTTP server, a TSA certificate from its own CA, and
//! `osslsigncode verify -TSA-CAfile` as the judge.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use kiln_tools::signing::authenticode::{self, AuthenticodeError};
use kiln_tools::signing::timestamp::{self, TimestampError};

use crate::authenticode::{kiln_sign, osslsigncode, pe_files, sign};
use crate::util::{release, s};

/// `openssl ARGS` in `dir`, asserting success.
fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A TSA's CA (`tsa-ca.pem`), its certificate (`tsa.pem`, critical `timeStamping` usage) and
/// key, and the `openssl ts` configuration (`ts.cnf`), in `dir`.
fn tsa_credentials(dir: &Path) {
    let p256 = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut ca = vec![
        "req",
        "-x509",
        "-days",
        "30",
        "-subj",
        "/CN=Kiln test TSA CA",
    ];
    ca.extend(p256);
    ca.extend(["-keyout", "tsa-ca.key", "-out", "tsa-ca.pem"]);
    openssl(dir, &ca);
    let mut csr = vec!["req", "-subj", "/CN=Kiln test TSA"];
    csr.extend(p256);
    csr.extend(["-keyout", "tsa.key", "-out", "tsa.csr"]);
    openssl(dir, &csr);
    std::fs::write(
        dir.join("tsa.ext"),
        "extendedKeyUsage = critical, timeStamping\nbasicConstraints = CA:FALSE\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-days",
            "30",
            "-in",
            "tsa.csr",
            "-CA",
            "tsa-ca.pem",
            "-CAkey",
            "tsa-ca.key",
            "-set_serial",
            "7",
            "-extfile",
            "tsa.ext",
            "-out",
            "tsa.pem",
        ],
    );
    std::fs::write(dir.join("serial"), "01\n").unwrap();
    std::fs::write(
        dir.join("ts.cnf"),
        "[ tsa ]\ndefault_tsa = kiln\n[ kiln ]\nserial = ./serial\nsigner_digest = sha256\n\
         default_policy = 1.3.6.1.4.1.99999.1\ndigests = sha256\naccuracy = secs:1\n\
         ess_cert_id_alg = sha256\n",
    )
    .unwrap();
}

/// `openssl ts -reply` for a DER `TimeStampReq`: the DER `TimeStampResp`.
fn reply(dir: &Path, query: &[u8]) -> Vec<u8> {
    std::fs::write(dir.join("q.tsq"), query).unwrap();
    openssl(
        dir,
        &[
            "ts",
            "-reply",
            "-config",
            "ts.cnf",
            "-queryfile",
            "q.tsq",
            "-signer",
            "tsa.pem",
            "-inkey",
            "tsa.key",
            "-out",
            "r.tsr",
        ],
    );
    std::fs::read(dir.join("r.tsr")).unwrap()
}

/// A local TSA: answers every HTTP POST on loopback with `openssl ts -reply` for its body.
/// Returns its URL; the server thread lives as long as the test process.
fn serve_tsa(dir: PathBuf) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/tsa", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(value) = lower.strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut query = vec![0; length];
            if reader.read_exact(&mut query).is_err() {
                continue;
            }
            let body = reply(&dir, &query);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/timestamp-reply\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    url
}

/// `kiln sign --authenticode FILE --timestamp-url URL` with the shared release's keys.
fn sign_timestamped(file: &Path, url: &str) -> std::process::Output {
    kiln_sign(
        &[file.to_owned()],
        &release().keys,
        &["--timestamp-url", url],
    )
}

#[test]
fn a_timestamped_signature_verifies_with_osslsigncode_and_the_tsa_ca() {
    let dir = tempfile::tempdir().unwrap();
    let tsa = dir.path().join("tsa");
    std::fs::create_dir(&tsa).unwrap();
    tsa_credentials(&tsa);
    let url = serve_tsa(tsa.clone());
    let keys = &release().keys;
    let files = pe_files(dir.path());
    let exe = files
        .iter()
        .find(|f| s(f).ends_with("firefox.exe"))
        .unwrap();
    let signed = sign_timestamped(exe, &url);
    assert!(signed.status.success(), "{signed:?}");
    let ca = keys.join("authenticode-ca.pem");
    let tsa_ca = tsa.join("tsa-ca.pem");
    let (ok, text) = osslsigncode(&[
        "verify",
        "-CAfile",
        s(&ca),
        "-TSA-CAfile",
        s(&tsa_ca),
        "-in",
        s(exe),
    ]);
    assert!(ok, "{text}");
    assert!(
        text.contains("Timestamp Server Signature verification: ok"),
        "{text}"
    );
    assert!(text.contains("Issuer: /CN=Kiln test TSA CA"), "{text}");
    // The judge is real: with another TSA CA, the timestamp's check fails (osslsigncode then
    // falls back to checking the signer at the current time).
    let (_, text) = osslsigncode(&[
        "verify",
        "-CAfile",
        s(&ca),
        "-TSA-CAfile",
        s(&ca),
        "-in",
        s(exe),
    ]);
    assert!(
        text.contains("Timestamp Server Signature verification: failed"),
        "{text}"
    );
    // Kiln's own verification reads the token and checks it timestamps the signature.
    let roots = authenticode::load_certificates(&ca).unwrap();
    let verified = authenticode::verify_image(&std::fs::read(exe).unwrap(), &roots).unwrap();
    assert!(verified.timestamp.is_some());
    // Without one, there is none; signing twice gives different tokens, the same digest.
    let plain = files.iter().find(|f| s(f).ends_with("xul.dll")).unwrap();
    sign(std::slice::from_ref(plain), keys);
    let verified = authenticode::verify_image(&std::fs::read(plain).unwrap(), &roots).unwrap();
    assert!(verified.timestamp.is_none());
}

#[test]
fn a_token_for_another_signature_or_an_unreachable_tsa_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    tsa_credentials(dir.path());
    let nonce = der::asn1::Int::new(&[0x11, 0x22]).unwrap();
    let query = timestamp::request(b"signature A", &nonce).unwrap();
    let answer = reply(dir.path(), &query);
    assert!(timestamp::token_of("tsa", &answer, b"signature A", &nonce).is_ok());
    assert!(matches!(
        timestamp::token_of("tsa", &answer, b"signature B", &nonce),
        Err(TimestampError::Malformed(_))
    ));
    let other = der::asn1::Int::new(&[0x33]).unwrap();
    assert!(matches!(
        timestamp::token_of("tsa", &answer, b"signature A", &other),
        Err(TimestampError::Malformed(_))
    ));
    assert!(matches!(
        timestamp::token_of("tsa", b"\x30\x03\x02\x01\x02", b"signature A", &nonce),
        Err(TimestampError::Malformed(_))
    ));

    // Nobody listening: signing fails with the TSA named, and the file is left as it was.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/tsa");
    let files = pe_files(dir.path());
    let before = std::fs::read(&files[0]).unwrap();
    let output = sign_timestamped(&files[0], &url);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("timestamp server {url}")),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&files[0]).unwrap(), before);
    let keys = &release().keys;
    let (cert, key) = (keys.join("authenticode.pem"), keys.join("authenticode.key"));
    let signer = kiln_tools::signing::authenticode::CodeSigner::load(&cert, &key)
        .unwrap()
        .with_timestamper(timestamp::Timestamper::new(&url));
    assert!(matches!(
        signer.sign(&before),
        Err(AuthenticodeError::Timestamp(
            TimestampError::Transport { .. }
        ))
    ));
}
