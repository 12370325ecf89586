//! A local code-signing CA and its leaf, for Authenticode: a self-signed root (what users
//! trust, `keys/authenticode-ca.pem`) and a leaf certificate with the code-signing extended key
//! usage (`keys/authenticode.pem`, leaf then root) for an ECDSA P-256 key
//! (`keys/authenticode.key`, PKCS#8 PEM). Made with RustCrypto's `x509-cert` builder.

use std::str::FromStr;
use std::time::Duration;

use der::pem::LineEnding;
use der::EncodePem;
use p256::ecdsa::{DerSignature, SigningKey};
use p256::pkcs8::EncodePrivateKey;
use rand_core::{OsRng, RngCore};
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::ext::pkix::ExtendedKeyUsage;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Validity;
use x509_cert::Certificate;

use super::authenticode::{AuthenticodeError, ID_KP_CODE_SIGNING};

/// How long the generated certificates are valid, from the moment they are made.
pub const VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// A generated CA, leaf and leaf key, as the PEM texts `kiln keys generate` writes.
#[derive(Debug)]
pub struct CodeSigningCredentials {
    /// The root certificate (PEM): what users and `kiln verify` trust.
    pub ca_pem: String,
    /// The leaf certificate then the root (PEM): the chain every signature carries.
    pub chain_pem: String,
    /// The leaf's private key (PKCS#8 PEM); a secret.
    pub key_pem: String,
}

fn serial() -> Result<SerialNumber, der::Error> {
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    bytes[0] &= 0x7f; // positive
    bytes[0] |= 0x01; // no leading zero byte
    SerialNumber::new(&bytes)
}

fn build_error(e: impl std::fmt::Display) -> AuthenticodeError {
    AuthenticodeError::Malformed(format!("building a certificate: {e}"))
}

/// A new CA and leaf valid for [`VALIDITY`] from now, keys from the operating system's random
/// source.
pub fn generate() -> Result<CodeSigningCredentials, AuthenticodeError> {
    generate_valid(Validity::from_now(VALIDITY)?)
}

/// A new CA and leaf, both valid for `validity` (an expired pair, in tests).
pub fn generate_valid(validity: Validity) -> Result<CodeSigningCredentials, AuthenticodeError> {
    let ca_key = SigningKey::random(&mut OsRng);
    let leaf_key = SigningKey::random(&mut OsRng);
    let ca_name = Name::from_str("CN=Kiln local code signing CA,O=Kiln").map_err(build_error)?;
    let leaf_name = Name::from_str("CN=Kiln local code signing,O=Kiln").map_err(build_error)?;

    let ca_spki =
        SubjectPublicKeyInfoOwned::from_key(*ca_key.verifying_key()).map_err(build_error)?;
    let ca: Certificate = CertificateBuilder::new(
        Profile::Root,
        serial()?,
        validity,
        ca_name.clone(),
        ca_spki,
        &ca_key,
    )
    .map_err(build_error)?
    .build::<DerSignature>()
    .map_err(build_error)?;

    let leaf_spki =
        SubjectPublicKeyInfoOwned::from_key(*leaf_key.verifying_key()).map_err(build_error)?;
    let mut leaf = CertificateBuilder::new(
        Profile::Leaf {
            issuer: ca_name,
            enable_key_agreement: false,
            enable_key_encipherment: false,
        },
        serial()?,
        validity,
        leaf_name,
        leaf_spki,
        &ca_key,
    )
    .map_err(build_error)?;
    leaf.add_extension(&ExtendedKeyUsage(vec![ID_KP_CODE_SIGNING]))
        .map_err(build_error)?;
    let leaf: Certificate = leaf.build::<DerSignature>().map_err(build_error)?;

    let ca_pem = ca.to_pem(LineEnding::LF)?;
    Ok(CodeSigningCredentials {
        chain_pem: format!("{}{ca_pem}", leaf.to_pem(LineEnding::LF)?),
        ca_pem,
        key_pem: leaf_key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(build_error)?
            .to_string(),
    })
}
