//! Authenticode: the signature Windows checks on an `.exe` or `.dll` ("Windows Authenticode
//! Portable Executable Signature Format", Microsoft).
//!
//! [`image_digest`] is the SHA-256 Authenticode digest of a PE image as the PE/COFF specification
//! defines it (the `CheckSum` field, the certificate-table directory entry and the certificate
//! table left out; the `authenticode` crate's implementation over [`PeImage`]). [`CodeSigner`]
//! signs: an `SpcIndirectDataContent` holding the digest, a CMS `SignedData` (version 1, one
//! signer identified by issuer and serial number, signed attributes `contentType`,
//! `messageDigest`, `SpcSpOpusInfo` and `SpcStatementType`, ECDSA P-256 with SHA-256) carrying
//! the signer's certificate chain, written as one `WIN_CERTIFICATE` (revision 2.0,
//! `WIN_CERT_TYPE_PKCS_SIGNED_DATA`, 8-byte aligned) at the end of the image, with the
//! certificate-table directory entry and the PE checksum updated. An existing signature is
//! replaced. No signing time is added and ECDSA nonces are RFC 6979's, so signing the same image
//! with the same key gives the same bytes — unless a time-stamping authority is configured
//! ([`CodeSigner::with_timestamper`]): then the signer's unsigned attributes carry an RFC 3161
//! timestamp token over the signature value ([`super::timestamp`]), which differs per request.
//! [`verify_image`] checks all of it against trusted roots.

use std::path::Path;
use std::time::SystemTime;

use authenticode::{
    AttributeCertificateIterator, AuthenticodeSignature, DigestInfo,
    SpcAttributeTypeAndOptionalValue, SpcIndirectDataContent, SPC_INDIRECT_DATA_OBJID,
};
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use const_oid::db::rfc5912::{ECDSA_WITH_SHA_256, ID_SHA_256};
use const_oid::db::rfc6268::{ID_CONTENT_TYPE, ID_MESSAGE_DIGEST, ID_SIGNED_DATA};
use const_oid::ObjectIdentifier;
use der::asn1::{OctetString, SetOfVec};
use der::{Any, Decode, Encode, SliceReader, Tag};
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{DerSignature, SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey};
use sha2::{Digest, Sha256};
use spki::AlgorithmIdentifierOwned;
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::ExtendedKeyUsage;
use x509_cert::Certificate;

use super::pe::{PeError, PeImage};
use super::timestamp::{self, TimestampError, Timestamper, SPC_RFC3161_OBJID};

/// `SpcPeImageData` (`1.3.6.1.4.1.311.2.1.15`): what the indirect data describes.
const SPC_PE_IMAGE_DATA_OBJID: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.2.1.15");
/// `SpcSpOpusInfo` signed attribute (program name and URL; empty here).
const SPC_SP_OPUS_INFO_OBJID: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.2.1.12");
/// `SpcStatementType` signed attribute.
const SPC_STATEMENT_TYPE_OBJID: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.2.1.11");
/// Individual code signing, the statement type signtool and osslsigncode write by default.
const SPC_INDIVIDUAL_SP_KEY_PURPOSE_OBJID: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.2.1.21");
/// The code-signing extended key usage (RFC 5280 `id-kp-codeSigning`).
pub const ID_KP_CODE_SIGNING: ObjectIdentifier = const_oid::db::rfc5280::ID_KP_CODE_SIGNING;

/// `SpcPeImageData { flags: {}, file: [0] SpcLink.file [2] SpcString.unicode [0]
/// "<<<Obsolete>>>" }`, exactly as signtool writes it.
const SPC_PE_IMAGE_DATA: [u8; 39] = [
    0x30, 0x25, 0x03, 0x01, 0x00, 0xa0, 0x20, 0xa2, 0x1e, 0x80, 0x1c, 0x00, b'<', 0x00, b'<', 0x00,
    b'<', 0x00, b'O', 0x00, b'b', 0x00, b's', 0x00, b'o', 0x00, b'l', 0x00, b'e', 0x00, b't', 0x00,
    b'e', 0x00, b'>', 0x00, b'>', 0x00, b'>',
];

/// `WIN_CERTIFICATE` revision 2.0 and type `WIN_CERT_TYPE_PKCS_SIGNED_DATA`.
const WIN_CERT_REVISION_2_0: u16 = 0x0200;
const WIN_CERT_TYPE_PKCS_SIGNED_DATA: u16 = 0x0002;
/// The longest certificate chain [`verify_image`] follows from the signer to a root.
const MAX_CHAIN_DEPTH: usize = 8;

/// Why an image could not be signed or its signature is not good.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthenticodeError {
    /// The file is not a PE image Kiln reads.
    #[error("malformed PE image: {0}")]
    Pe(#[from] PeError),
    /// The image has no certificate table.
    #[error("not signed: the image has no Authenticode signature")]
    Unsigned,
    /// The certificate table or the signature in it is malformed.
    #[error("malformed Authenticode signature: {0}")]
    Malformed(String),
    /// The signed digest is not the image's: the image changed after signing.
    #[error("the image's Authenticode digest {actual} is not the signed one, {signed}")]
    DigestMismatch {
        /// The digest in the signature (hex).
        signed: String,
        /// The digest of the image (hex).
        actual: String,
    },
    /// The signature value does not verify with the signer's certificate.
    #[error("the signature does not verify: {0}")]
    BadSignature(String),
    /// The signer's certificate does not chain to a trusted root, or may not sign code.
    #[error("untrusted signer: {0}")]
    Untrusted(String),
    /// A certificate of the signer's chain is not valid at the time of the check.
    #[error("certificate {subject} is valid from {not_before} to {not_after}, not at {at}")]
    NotValidAt {
        /// The certificate's subject.
        subject: String,
        /// Its `notBefore`.
        not_before: String,
        /// Its `notAfter`.
        not_after: String,
        /// The time checked.
        at: String,
    },
    /// An algorithm other than SHA-256 with ECDSA P-256.
    #[error("unsupported algorithm {0}")]
    Unsupported(String),
    /// A certificate or key file could not be read or parsed.
    #[error("{path}: {message}")]
    Credentials {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The timestamp could not be had, or the signature's token is not for it.
    #[error("RFC 3161 timestamp: {0}")]
    Timestamp(#[from] TimestampError),
    /// Encoding the signature failed.
    #[error("DER: {0}")]
    Der(#[from] der::Error),
}

fn malformed(what: impl std::fmt::Display) -> AuthenticodeError {
    AuthenticodeError::Malformed(what.to_string())
}

/// The SHA-256 Authenticode digest of a PE image.
pub fn image_digest(image: &[u8]) -> Result<[u8; 32], AuthenticodeError> {
    digest_of(&PeImage::parse(image)?)
}

fn digest_of(pe: &PeImage<'_>) -> Result<[u8; 32], AuthenticodeError> {
    let mut hasher = Sha256::new();
    authenticode::authenticode_digest(pe, &mut hasher)
        .map_err(|_| malformed("sections overlap or run past the file"))?;
    Ok(hasher.finalize().into())
}

fn sha256_algorithm() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: ID_SHA_256,
        parameters: Some(Any::null()),
    }
}

/// Reads every certificate of a PEM file, in order.
pub fn load_certificates(path: &Path) -> Result<Vec<Certificate>, AuthenticodeError> {
    let credentials = |message: String| AuthenticodeError::Credentials {
        path: path.to_owned(),
        message,
    };
    let pem = std::fs::read(path).map_err(|e| credentials(e.to_string()))?;
    let certificates =
        Certificate::load_pem_chain(&pem).map_err(|e| credentials(format!("PEM: {e}")))?;
    if certificates.is_empty() {
        return Err(credentials("no certificate".to_owned()));
    }
    Ok(certificates)
}

/// A code-signing identity: an ECDSA P-256 key and its certificate chain (leaf first).
#[derive(Debug, Clone)]
pub struct CodeSigner {
    key: SigningKey,
    chain: Vec<Certificate>,
    timestamper: Option<Timestamper>,
}

impl CodeSigner {
    /// An identity from a key and its chain; the first certificate must be the key's.
    pub fn new(key: SigningKey, chain: Vec<Certificate>) -> Result<CodeSigner, AuthenticodeError> {
        let leaf = chain
            .first()
            .ok_or_else(|| malformed("empty certificate chain"))?;
        let public = leaf
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .map_err(AuthenticodeError::Der)?;
        if VerifyingKey::from_public_key_der(&public).ok() != Some(*key.verifying_key()) {
            return Err(AuthenticodeError::Untrusted(
                "the first certificate is not the signing key's".to_owned(),
            ));
        }
        Ok(CodeSigner {
            key,
            chain,
            timestamper: None,
        })
    }

    /// Loads the chain (PEM, leaf first: `keys/authenticode.pem`) and the PKCS#8 PEM private key
    /// (`keys/authenticode.key`).
    pub fn load(chain: &Path, key: &Path) -> Result<CodeSigner, AuthenticodeError> {
        let pem = std::fs::read_to_string(key).map_err(|e| AuthenticodeError::Credentials {
            path: key.to_owned(),
            message: e.to_string(),
        })?;
        let key = SigningKey::from_pkcs8_pem(&pem).map_err(|e| AuthenticodeError::Credentials {
            path: key.to_owned(),
            message: format!("not an ECDSA P-256 PKCS#8 key: {e}"),
        })?;
        CodeSigner::new(key, load_certificates(chain)?)
    }

    /// This identity, with every signature timestamped (RFC 3161) by `timestamper`.
    pub fn with_timestamper(self, timestamper: Timestamper) -> CodeSigner {
        CodeSigner {
            timestamper: Some(timestamper),
            ..self
        }
    }

    /// The certificate chain, leaf first.
    pub fn chain(&self) -> &[Certificate] {
        &self.chain
    }

    /// The image signed: any existing certificate table removed, then this identity's
    /// signature appended, the directory entry and the checksum updated.
    pub fn sign(&self, image: &[u8]) -> Result<Vec<u8>, AuthenticodeError> {
        self.sign_owned(image.to_vec())
    }

    /// [`CodeSigner::sign`] on an image the caller gives up, signed in its own buffer (a
    /// large library is not copied).
    pub fn sign_owned(&self, image: Vec<u8>) -> Result<Vec<u8>, AuthenticodeError> {
        let pe = PeImage::parse(&image)?;
        let dir = pe.certificate_directory_offset();
        let checksum_at = pe.checksum_offset();
        let end = pe.certificate_table().map_or(image.len(), |t| t.start);
        let mut out = image;
        out.truncate(end);
        out[dir..dir + 8].fill(0);
        // The table starts 8-byte aligned; the padding before it is part of the signed image.
        out.resize(end.next_multiple_of(8), 0);
        let digest = digest_of(&PeImage::parse(&out)?)?;
        let signature = self.signed_data(&digest)?;

        let padded = (signature.len() + 8).next_multiple_of(8);
        let table_at = out.len();
        let length = u32::try_from(padded).map_err(|_| malformed("signature too large"))?;
        out.extend_from_slice(&length.to_le_bytes());
        out.extend_from_slice(&WIN_CERT_REVISION_2_0.to_le_bytes());
        out.extend_from_slice(&WIN_CERT_TYPE_PKCS_SIGNED_DATA.to_le_bytes());
        out.extend_from_slice(&signature);
        out.resize(table_at + padded, 0);
        let table_at = u32::try_from(table_at).map_err(|_| malformed("image too large"))?;
        out[dir..dir + 4].copy_from_slice(&table_at.to_le_bytes());
        out[dir + 4..dir + 8].copy_from_slice(&length.to_le_bytes());
        let sum = kiln_fixtures::pe::checksum(&out, checksum_at);
        out[checksum_at..checksum_at + 4].copy_from_slice(&sum.to_le_bytes());
        Ok(out)
    }

    /// Signs the file at `path` in place (through a temporary file and a rename).
    pub fn sign_file(&self, path: &Path) -> Result<(), SignFileError> {
        let io = |source| SignFileError::Io {
            path: path.to_owned(),
            source,
        };
        let image = std::fs::read(path).map_err(io)?;
        let signed = self
            .sign_owned(image)
            .map_err(|source| SignFileError::Sign {
                path: path.to_owned(),
                source,
            })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut temp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
        std::io::Write::write_all(&mut temp, &signed).map_err(io)?;
        let permissions = std::fs::metadata(path).map_err(io)?.permissions();
        std::fs::set_permissions(temp.path(), permissions).map_err(io)?;
        temp.persist(path).map_err(|e| io(e.error))?;
        Ok(())
    }

    /// The DER `ContentInfo` (`SignedData`) over an image digest.
    fn signed_data(&self, digest: &[u8; 32]) -> Result<Vec<u8>, AuthenticodeError> {
        let indirect = SpcIndirectDataContent {
            data: SpcAttributeTypeAndOptionalValue {
                value_type: SPC_PE_IMAGE_DATA_OBJID,
                value: Any::from_der(&SPC_PE_IMAGE_DATA)?,
            },
            message_digest: DigestInfo {
                digest_algorithm: sha256_algorithm(),
                digest: OctetString::new(digest.to_vec())?,
            },
        };
        let content = Any::encode_from(&indirect)?;
        // Authenticode's messageDigest covers the content's value, without its tag and length.
        let content_digest = Sha256::digest(content.value());
        let attribute = |oid, value: Any| -> Result<Attribute, der::Error> {
            Ok(Attribute {
                oid,
                values: SetOfVec::try_from(vec![value])?,
            })
        };
        let attributes = SetOfVec::try_from(vec![
            attribute(ID_CONTENT_TYPE, Any::encode_from(&SPC_INDIRECT_DATA_OBJID)?)?,
            attribute(
                ID_MESSAGE_DIGEST,
                Any::encode_from(&OctetString::new(content_digest.to_vec())?)?,
            )?,
            attribute(SPC_SP_OPUS_INFO_OBJID, Any::new(Tag::Sequence, Vec::new())?)?,
            attribute(
                SPC_STATEMENT_TYPE_OBJID,
                Any::new(Tag::Sequence, SPC_INDIVIDUAL_SP_KEY_PURPOSE_OBJID.to_der()?)?,
            )?,
        ])?;
        let signature: DerSignature = self.key.sign(&attributes.to_der()?);
        let unsigned_attrs = match &self.timestamper {
            Some(timestamper) => {
                let token = timestamper.timestamp(signature.as_bytes())?;
                Some(SetOfVec::try_from(vec![attribute(
                    SPC_RFC3161_OBJID,
                    Any::encode_from(&token)?,
                )?])?)
            }
            None => None,
        };
        let leaf = &self.chain[0].tbs_certificate;
        let signer = SignerInfo {
            version: CmsVersion::V1,
            sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
                issuer: leaf.issuer.clone(),
                serial_number: leaf.serial_number.clone(),
            }),
            digest_alg: sha256_algorithm(),
            signed_attrs: Some(attributes),
            signature_algorithm: AlgorithmIdentifierOwned {
                oid: ECDSA_WITH_SHA_256,
                parameters: None,
            },
            signature: OctetString::new(signature.to_bytes().to_vec())?,
            unsigned_attrs,
        };
        let certificates = self
            .chain
            .iter()
            .cloned()
            .map(CertificateChoices::Certificate)
            .collect::<Vec<_>>();
        let signed = SignedData {
            version: CmsVersion::V1,
            digest_algorithms: SetOfVec::try_from(vec![sha256_algorithm()])?,
            encap_content_info: EncapsulatedContentInfo {
                econtent_type: SPC_INDIRECT_DATA_OBJID,
                econtent: Some(content),
            },
            certificates: Some(CertificateSet(SetOfVec::try_from(certificates)?)),
            crls: None,
            signer_infos: SignerInfos(SetOfVec::try_from(vec![signer])?),
        };
        Ok(ContentInfo {
            content_type: ID_SIGNED_DATA,
            content: Any::encode_from(&signed)?,
        }
        .to_der()?)
    }
}

/// Why [`CodeSigner::sign_file`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignFileError {
    /// Reading or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file could not be signed.
    #[error("{path}: {source}")]
    Sign {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: AuthenticodeError,
    },
}

/// What a good signature says: the digest it covers and the signer's certificate.
#[derive(Debug, Clone)]
pub struct VerifiedSignature {
    /// The image's SHA-256 Authenticode digest.
    pub digest: [u8; 32],
    /// The signer's certificate.
    pub signer: Certificate,
    /// The time an RFC 3161 timestamp token says the signature existed at, if it carries one
    /// (its imprint checked; the TSA's own signature is not).
    pub timestamp: Option<der::asn1::GeneralizedTime>,
}

/// The one Authenticode signature of an image: its `WIN_CERTIFICATE` parsed, and the
/// `SignedData` inside.
fn signature_of(
    pe: &PeImage<'_>,
) -> Result<(AuthenticodeSignature, SignedData), AuthenticodeError> {
    let mut entries = AttributeCertificateIterator::new(pe)
        .map_err(malformed)?
        .ok_or(AuthenticodeError::Unsigned)?;
    let entry = entries
        .next()
        .ok_or(AuthenticodeError::Unsigned)?
        .map_err(malformed)?;
    if entries.next().is_some() {
        return Err(malformed("more than one certificate table entry"));
    }
    let signature = entry.get_authenticode_signature().map_err(malformed)?;
    // The SignedData again, for its certificate set (kept optional, never unwrapped).
    let mut reader = SliceReader::new(entry.data)?;
    let info = ContentInfo::decode(&mut reader)?;
    let signed = info.content.decode_as::<SignedData>()?;
    Ok((signature, signed))
}

/// The digest an image's signature claims (the value `osslsigncode` reports as the current
/// message digest).
pub fn signed_digest(image: &[u8]) -> Result<Vec<u8>, AuthenticodeError> {
    let pe = PeImage::parse(image)?;
    Ok(signature_of(&pe)?.0.digest().to_vec())
}

/// Checks the image's Authenticode signature: the signed digest is the image's, the signed
/// attributes' message digest is the indirect data's, the signature verifies with the signer's
/// certificate, which may sign code and chains through the signature's certificates to one of
/// `roots` (every link's signature checked, and every certificate from the signer to the root
/// valid now, as `osslsigncode verify` checks without a timestamp). SHA-256 and ECDSA P-256
/// only. A timestamp's time is not used for the validity check: Kiln checks the token's imprint,
/// not the TSA's signature.
pub fn verify_image(
    image: &[u8],
    roots: &[Certificate],
) -> Result<VerifiedSignature, AuthenticodeError> {
    verify_image_at(image, roots, SystemTime::now())
}

/// [`verify_image`] with the certificates' validity checked at `at`.
pub fn verify_image_at(
    image: &[u8],
    roots: &[Certificate],
    at: SystemTime,
) -> Result<VerifiedSignature, AuthenticodeError> {
    let pe = PeImage::parse(image)?;
    let (signature, signed) = signature_of(&pe)?;
    if signature.digest_algorithm().oid != ID_SHA_256 {
        return Err(AuthenticodeError::Unsupported(format!(
            "digest {}",
            signature.digest_algorithm().oid
        )));
    }
    let digest = digest_of(&pe)?;
    if signature.digest() != digest {
        return Err(AuthenticodeError::DigestMismatch {
            signed: hex::encode(signature.digest()),
            actual: hex::encode(digest),
        });
    }
    let signer_info = signature.signer_info();
    let attributes = signer_info
        .signed_attrs
        .as_ref()
        .ok_or_else(|| malformed("no signed attributes"))?;
    let content = signature
        .encapsulated_content()
        .ok_or_else(|| malformed("no content"))?;
    let message_digest = attributes
        .iter()
        .find(|a| a.oid == ID_MESSAGE_DIGEST)
        .and_then(|a| a.values.iter().next())
        .ok_or_else(|| malformed("no messageDigest"))?
        .decode_as::<OctetString>()?;
    if message_digest.as_bytes() != Sha256::digest(content).as_slice() {
        return Err(AuthenticodeError::BadSignature(
            "messageDigest is not the indirect data's".to_owned(),
        ));
    }
    let certificates: Vec<&Certificate> = signed
        .certificates
        .iter()
        .flat_map(|set| set.0.iter())
        .filter_map(|choice| match choice {
            CertificateChoices::Certificate(c) => Some(c),
            CertificateChoices::Other(_) => None,
        })
        .collect();
    let SignerIdentifier::IssuerAndSerialNumber(sid) = &signer_info.sid else {
        return Err(malformed("signer identified by key id"));
    };
    let signer = certificates
        .iter()
        .find(|c| {
            c.tbs_certificate.issuer == sid.issuer
                && c.tbs_certificate.serial_number == sid.serial_number
        })
        .ok_or_else(|| malformed("the signer's certificate is not in the signature"))?;
    if signer_info.signature_algorithm.oid != ECDSA_WITH_SHA_256 {
        return Err(AuthenticodeError::Unsupported(format!(
            "signature {}",
            signer_info.signature_algorithm.oid
        )));
    }
    verify_ecdsa(
        signer,
        &attributes.to_der()?,
        signer_info.signature.as_bytes(),
    )
    .map_err(AuthenticodeError::BadSignature)?;
    check_code_signing(signer)?;
    check_chain(signer, &certificates, roots, at)?;
    let timestamp = timestamp_of(signer_info)?;
    Ok(VerifiedSignature {
        digest,
        signer: (*signer).clone(),
        timestamp,
    })
}

/// The `genTime` of the signer's RFC 3161 timestamp, if it has one, after checking the token
/// timestamps its signature value.
fn timestamp_of(
    signer_info: &SignerInfo,
) -> Result<Option<der::asn1::GeneralizedTime>, AuthenticodeError> {
    let Some(value) = signer_info
        .unsigned_attrs
        .iter()
        .flat_map(|attributes| attributes.iter())
        .find(|a| a.oid == SPC_RFC3161_OBJID)
        .and_then(|a| a.values.iter().next())
    else {
        return Ok(None);
    };
    let token = value.decode_as::<ContentInfo>()?;
    let info = timestamp::check_imprint(&token, signer_info.signature.as_bytes())?;
    Ok(Some(info.gen_time))
}

/// Verifies an ECDSA P-256/SHA-256 signature (DER) over `message` with `certificate`'s key.
fn verify_ecdsa(certificate: &Certificate, message: &[u8], signature: &[u8]) -> Result<(), String> {
    let spki = certificate
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| e.to_string())?;
    let key = VerifyingKey::from_public_key_der(&spki)
        .map_err(|e| format!("not an ECDSA P-256 key: {e}"))?;
    let signature = DerSignature::from_bytes(signature).map_err(|e| e.to_string())?;
    key.verify(message, &signature).map_err(|e| e.to_string())
}

/// The certificate has the code-signing extended key usage.
fn check_code_signing(certificate: &Certificate) -> Result<(), AuthenticodeError> {
    let usage = certificate
        .tbs_certificate
        .get::<ExtendedKeyUsage>()
        .map_err(AuthenticodeError::Der)?;
    match usage {
        Some((_, usage)) if usage.0.contains(&ID_KP_CODE_SIGNING) => Ok(()),
        _ => Err(AuthenticodeError::Untrusted(
            "the signer's certificate lacks the code-signing extended key usage".to_owned(),
        )),
    }
}

/// `certificate` was issued by `issuer`: names match and the signature verifies.
fn issued_by(certificate: &Certificate, issuer: &Certificate) -> bool {
    certificate.tbs_certificate.issuer == issuer.tbs_certificate.subject
        && certificate.signature_algorithm.oid == ECDSA_WITH_SHA_256
        && certificate
            .tbs_certificate
            .to_der()
            .ok()
            .zip(certificate.signature.as_bytes())
            .is_some_and(|(tbs, signature)| verify_ecdsa(issuer, &tbs, signature).is_ok())
}

/// `certificate` is valid at `at` (its `notBefore` ≤ `at` ≤ its `notAfter`).
fn check_validity(certificate: &Certificate, at: SystemTime) -> Result<(), AuthenticodeError> {
    let validity = &certificate.tbs_certificate.validity;
    if validity.not_before.to_system_time() <= at && at <= validity.not_after.to_system_time() {
        return Ok(());
    }
    let at =
        der::DateTime::from_system_time(at).map_or_else(|_| format!("{at:?}"), |t| t.to_string());
    Err(AuthenticodeError::NotValidAt {
        subject: certificate.tbs_certificate.subject.to_string(),
        not_before: validity.not_before.to_string(),
        not_after: validity.not_after.to_string(),
        at,
    })
}

/// Follows issuers from `signer` through `intermediates` until one of `roots` issued a link;
/// every certificate on the way, the root included, must be valid at `at`.
fn check_chain(
    signer: &Certificate,
    intermediates: &[&Certificate],
    roots: &[Certificate],
    at: SystemTime,
) -> Result<(), AuthenticodeError> {
    let mut current = signer;
    for _ in 0..MAX_CHAIN_DEPTH {
        check_validity(current, at)?;
        if let Some(root) = roots
            .iter()
            .find(|root| *root == current || issued_by(current, root))
        {
            return check_validity(root, at);
        }
        current = intermediates
            .iter()
            .copied()
            .find(|c| *c != current && issued_by(current, c))
            .ok_or_else(|| {
                AuthenticodeError::Untrusted(format!(
                    "no trusted root issued {}",
                    current.tbs_certificate.subject
                ))
            })?;
    }
    Err(AuthenticodeError::Untrusted(
        "certificate chain too long".to_owned(),
    ))
}
