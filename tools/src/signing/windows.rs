//! Authenticode applied to Windows builds: which files are signed (every `.exe` and `.dll`), the
//! signer configure hands to `l10n_repack::inject`, and [`Trust`], the check certify and
//! `kiln verify` run on every PE file of a build.

use x509_cert::Certificate;

use super::authenticode::{self, AuthenticodeError, CodeSigner};

/// Whether a path inside a build names a PE file Kiln signs: `.exe` or `.dll`, any case.
pub fn is_pe_name(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    lower.ends_with(".exe") || lower.ends_with(".dll")
}

impl l10n_repack::BuildFileSigner for CodeSigner {
    fn sign_file(&self, path: &str, data: &[u8]) -> Result<Option<Vec<u8>>, String> {
        if !is_pe_name(path) {
            return Ok(None);
        }
        self.sign(data).map(Some).map_err(|e| e.to_string())
    }
}

/// What a build's PE files must carry: a signature chaining to one of `roots`, and, when
/// `signer` is set, made by exactly that certificate (a release's own leaf).
#[derive(Debug, Clone)]
pub struct Trust {
    roots: Vec<Certificate>,
    signer: Option<Certificate>,
}

impl Trust {
    /// Any code-signing certificate that chains to `roots` (`kiln verify --authenticode-ca`).
    pub fn roots(roots: Vec<Certificate>) -> Trust {
        Trust {
            roots,
            signer: None,
        }
    }

    /// Exactly the release's signer: the chain's first certificate, chaining to its last.
    pub fn release(chain: &[Certificate]) -> Result<Trust, AuthenticodeError> {
        let (Some(leaf), Some(root)) = (chain.first(), chain.last()) else {
            return Err(AuthenticodeError::Malformed(
                "empty certificate chain".to_owned(),
            ));
        };
        Ok(Trust {
            roots: vec![root.clone()],
            signer: Some(leaf.clone()),
        })
    }

    /// Checks one PE file's signature.
    pub fn check(&self, data: &[u8]) -> Result<(), AuthenticodeError> {
        let verified = authenticode::verify_image(data, &self.roots)?;
        match &self.signer {
            Some(signer) if *signer != verified.signer => {
                Err(AuthenticodeError::Untrusted(format!(
                    "signed by {}, not the release's signer {}",
                    verified.signer.tbs_certificate.subject, signer.tbs_certificate.subject
                )))
            }
            _ => Ok(()),
        }
    }

    /// The problems of a build's files, given as (path, bytes): one line per PE file whose
    /// signature is missing or bad, and one if the build holds no PE file at all.
    pub fn problems<'a>(
        &self,
        files: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    ) -> Vec<String> {
        let mut problems = Vec::new();
        let mut seen = 0;
        for (path, data) in files {
            if is_pe_name(path) {
                seen += 1;
                if let Err(e) = self.check(data) {
                    problems.push(format!("{path}: Authenticode: {e}"));
                }
            }
        }
        if seen == 0 {
            problems.push("no .exe or .dll to check Authenticode on".to_owned());
        }
        problems
    }
}
