//! Signature algorithms and the hashing of the signed region (`docs/mar-format.md` B1.3).
//!
//! Every signature covers the whole file except the signature *values*: bytes `0..20`, then the
//! 8-byte (algorithm, length) header of each signature, then everything from the end of the
//! signature block to EOF. One streaming pass feeds every digest the signatures need.

use std::io::{Read, Seek, SeekFrom};

use sha2::Digest;

use crate::error::Result;

/// Ed25519ph context string of Kiln MAR signatures (`docs/mar-format.md` Part A).
pub const ED25519_CONTEXT: &[u8] = b"kiln-mar-v1";

/// A signature algorithm id found in, or written to, a signature block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignatureAlgorithm {
    /// Id 1: RSA PKCS#1 v1.5 over SHA-1 (legacy Mozilla; verify only).
    RsaPkcs1Sha1,
    /// Id 2: RSA PKCS#1 v1.5 over SHA-384 (what Firefox's updater accepts).
    RsaPkcs1Sha384,
    /// Id `0x45443235` (`ED25`): Kiln's Ed25519ph over SHA-512 with context `kiln-mar-v1`.
    Ed25519ph,
    /// Any other id: reported, never silently skipped.
    Unknown(u32),
}

impl SignatureAlgorithm {
    /// Kiln's algorithm id, ASCII `ED25`.
    pub const ED25519PH_ID: u32 = 0x4544_3235;

    /// Maps a block's algorithm id to an algorithm.
    pub fn from_id(id: u32) -> SignatureAlgorithm {
        match id {
            1 => SignatureAlgorithm::RsaPkcs1Sha1,
            2 => SignatureAlgorithm::RsaPkcs1Sha384,
            SignatureAlgorithm::ED25519PH_ID => SignatureAlgorithm::Ed25519ph,
            other => SignatureAlgorithm::Unknown(other),
        }
    }

    /// The id written in the signature block.
    pub fn id(self) -> u32 {
        match self {
            SignatureAlgorithm::RsaPkcs1Sha1 => 1,
            SignatureAlgorithm::RsaPkcs1Sha384 => 2,
            SignatureAlgorithm::Ed25519ph => SignatureAlgorithm::ED25519PH_ID,
            SignatureAlgorithm::Unknown(id) => id,
        }
    }

    /// A short name for listings and JSON.
    pub fn name(self) -> String {
        match self {
            SignatureAlgorithm::RsaPkcs1Sha1 => "rsa-pkcs1-sha1".to_owned(),
            SignatureAlgorithm::RsaPkcs1Sha384 => "rsa-pkcs1-sha384".to_owned(),
            SignatureAlgorithm::Ed25519ph => "ed25519ph".to_owned(),
            SignatureAlgorithm::Unknown(id) => format!("unknown-{id:#x}"),
        }
    }
}

/// One signature as stored in the signature block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    pub(crate) algorithm: SignatureAlgorithm,
    pub(crate) value: Vec<u8>,
}

impl Signature {
    /// The algorithm it claims.
    pub fn algorithm(&self) -> SignatureAlgorithm {
        self.algorithm
    }

    /// The signature value.
    pub fn value(&self) -> &[u8] {
        &self.value
    }
}

/// The digests of one archive's signed region, one per hash any signature needs.
#[derive(Default)]
pub(crate) struct SignedRegionDigests {
    pub(crate) sha1: Option<sha1::Sha1>,
    pub(crate) sha384: Option<sha2::Sha384>,
    pub(crate) sha512: Option<sha2::Sha512>,
}

impl SignedRegionDigests {
    /// Prepares the digests the given algorithms need.
    pub(crate) fn for_algorithms(algorithms: impl IntoIterator<Item = SignatureAlgorithm>) -> Self {
        let mut digests = SignedRegionDigests::default();
        for algorithm in algorithms {
            match algorithm {
                SignatureAlgorithm::RsaPkcs1Sha1 => digests.sha1 = Some(sha1::Sha1::new()),
                SignatureAlgorithm::RsaPkcs1Sha384 => digests.sha384 = Some(sha2::Sha384::new()),
                SignatureAlgorithm::Ed25519ph => digests.sha512 = Some(sha2::Sha512::new()),
                SignatureAlgorithm::Unknown(_) => {}
            }
        }
        digests
    }

    fn update(&mut self, bytes: &[u8]) {
        if let Some(d) = &mut self.sha1 {
            d.update(bytes);
        }
        if let Some(d) = &mut self.sha384 {
            d.update(bytes);
        }
        if let Some(d) = &mut self.sha512 {
            d.update(bytes);
        }
    }

    /// Streams the signed region of a current-layout archive into the digests.
    ///
    /// `signature_lengths` are the lengths of the signature values in block order, and
    /// `file_len` is the archive's real length.
    pub(crate) fn hash_archive<R: Read + Seek>(
        mut self,
        reader: &mut R,
        signature_lengths: &[u32],
        file_len: u64,
    ) -> Result<Self> {
        let mut head = [0u8; 20];
        reader.seek(SeekFrom::Start(0))?;
        reader.read_exact(&mut head)?;
        self.update(&head);
        let mut pos = 20u64;
        for &len in signature_lengths {
            let mut header = [0u8; 8];
            reader.seek(SeekFrom::Start(pos))?;
            reader.read_exact(&mut header)?;
            self.update(&header);
            pos += 8 + u64::from(len);
        }
        reader.seek(SeekFrom::Start(pos))?;
        let mut rest = reader.take(file_len.saturating_sub(pos));
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = rest.read(&mut buf)?;
            if n == 0 {
                break;
            }
            self.update(&buf[..n]);
        }
        Ok(self)
    }
}
