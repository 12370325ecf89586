//! Signature verification: the only way to obtain a [`VerifiedMar`].

use std::collections::BTreeSet;
use std::io::{Read, Seek};

use rsa::Pkcs1v15Sign;
use sha2::Digest;

use crate::error::{Error, Result};
use crate::keys::{KeyId, PublicKey};
use crate::reader::{Layout, Mar};
use crate::signature::{SignatureAlgorithm, SignedRegionDigests, ED25519_CONTEXT};

/// What happened to one signature of an archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignatureOutcome {
    /// A trusted key verified it.
    Verified(KeyId),
    /// No trusted key of its algorithm's kind verified it.
    NotVerified,
    /// Its algorithm id is not one this crate knows.
    UnknownAlgorithm(u32),
}

/// The outcome of checking every signature of an archive against a set of trusted keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerificationReport {
    outcomes: Vec<(SignatureAlgorithm, SignatureOutcome)>,
}

impl VerificationReport {
    /// One outcome per signature, in block order.
    pub fn outcomes(&self) -> &[(SignatureAlgorithm, SignatureOutcome)] {
        &self.outcomes
    }

    /// The distinct trusted keys that verified a signature, sorted.
    pub fn verified_keys(&self) -> Vec<KeyId> {
        let set: BTreeSet<&KeyId> = self
            .outcomes
            .iter()
            .filter_map(|(_, o)| match o {
                SignatureOutcome::Verified(id) => Some(id),
                _ => None,
            })
            .collect();
        set.into_iter().cloned().collect()
    }

    fn problems(&self) -> Vec<String> {
        let mut problems: Vec<String> = self
            .outcomes
            .iter()
            .enumerate()
            .filter_map(|(i, (algorithm, outcome))| match outcome {
                SignatureOutcome::Verified(_) => None,
                SignatureOutcome::NotVerified => Some(format!(
                    "signature {i} ({}) matches no trusted key",
                    algorithm.name()
                )),
                SignatureOutcome::UnknownAlgorithm(id) => {
                    Some(format!("signature {i} has unknown algorithm id {id:#x}"))
                }
            })
            .collect();
        if self.outcomes.is_empty() {
            problems.push("archive has no signatures".to_owned());
        }
        problems
    }
}

/// A MAR whose signatures were checked against trusted keys and reached the threshold.
///
/// There is no public constructor: the only way to get one is [`Verifier::verify`]. APIs that
/// install or ship an archive's contents take this type, never a bare [`Mar`].
#[derive(Debug)]
pub struct VerifiedMar<R> {
    mar: Mar<R>,
    report: VerificationReport,
}

impl<R> VerifiedMar<R> {
    /// The verified archive.
    pub fn archive(&self) -> &Mar<R> {
        &self.mar
    }

    /// The verified archive, mutably (to read its entries).
    pub fn archive_mut(&mut self) -> &mut Mar<R> {
        &mut self.mar
    }

    /// What verification found.
    pub fn report(&self) -> &VerificationReport {
        &self.report
    }
}

/// Checks MAR signatures against a set of trusted keys.
#[derive(Clone, Debug)]
pub struct Verifier {
    keys: Vec<PublicKey>,
    threshold: usize,
}

impl Verifier {
    /// A verifier trusting `keys`, passing when at least one distinct key verifies.
    pub fn new(keys: Vec<PublicKey>) -> Verifier {
        Verifier { keys, threshold: 1 }
    }

    /// Requires `threshold` distinct trusted keys (at least 1) to verify, e.g. 2 during a key
    /// rotation that must prove both keys signed.
    pub fn with_threshold(mut self, threshold: usize) -> Verifier {
        self.threshold = threshold.max(1);
        self
    }

    /// Checks every signature and reports, without judging the threshold.
    pub fn check<R: Read + Seek>(&self, mar: &mut Mar<R>) -> Result<VerificationReport> {
        if mar.layout() == Layout::Legacy {
            return Ok(VerificationReport {
                outcomes: Vec::new(),
            });
        }
        let signatures = mar.signatures().to_vec();
        let lengths: Vec<u32> = signatures.iter().map(|s| s.value.len() as u32).collect();
        let file_len = mar.file_len();
        let digests = SignedRegionDigests::for_algorithms(signatures.iter().map(|s| s.algorithm))
            .hash_archive(mar.reader_mut(), &lengths, file_len)?;
        let outcomes = signatures
            .iter()
            .map(|signature| {
                let outcome = match signature.algorithm {
                    SignatureAlgorithm::Unknown(id) => SignatureOutcome::UnknownAlgorithm(id),
                    algorithm => self
                        .keys
                        .iter()
                        .find(|key| verifies(key, algorithm, &digests, &signature.value))
                        .map(|key| SignatureOutcome::Verified(key.key_id()))
                        .unwrap_or(SignatureOutcome::NotVerified),
                };
                (signature.algorithm, outcome)
            })
            .collect();
        Ok(VerificationReport { outcomes })
    }

    /// Verifies an archive, returning it as a [`VerifiedMar`] when at least `threshold` distinct
    /// trusted keys verified a signature.
    pub fn verify<R: Read + Seek>(&self, mut mar: Mar<R>) -> Result<VerifiedMar<R>> {
        let report = self.check(&mut mar)?;
        let verified = report.verified_keys().len();
        if verified < self.threshold {
            return Err(Error::VerificationFailed {
                verified,
                threshold: self.threshold,
                problems: report.problems(),
            });
        }
        Ok(VerifiedMar { mar, report })
    }
}

fn verifies(
    key: &PublicKey,
    algorithm: SignatureAlgorithm,
    digests: &SignedRegionDigests,
    value: &[u8],
) -> bool {
    match (key, algorithm) {
        (PublicKey::Rsa(key), SignatureAlgorithm::RsaPkcs1Sha1) => {
            digests.sha1.as_ref().is_some_and(|d| {
                key.verify(
                    Pkcs1v15Sign::new::<sha1::Sha1>(),
                    &d.clone().finalize(),
                    value,
                )
                .is_ok()
            })
        }
        (PublicKey::Rsa(key), SignatureAlgorithm::RsaPkcs1Sha384) => {
            digests.sha384.as_ref().is_some_and(|d| {
                key.verify(
                    Pkcs1v15Sign::new::<sha2::Sha384>(),
                    &d.clone().finalize(),
                    value,
                )
                .is_ok()
            })
        }
        (PublicKey::Ed25519(key), SignatureAlgorithm::Ed25519ph) => {
            let Ok(signature) = ed25519_dalek::Signature::from_slice(value) else {
                return false;
            };
            digests.sha512.as_ref().is_some_and(|d| {
                key.verify_prehashed_strict(d.clone(), Some(ED25519_CONTEXT), &signature)
                    .is_ok()
            })
        }
        _ => false,
    }
}
