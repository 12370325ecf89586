//! RFC 3161 timestamps for Authenticode signatures, as `signtool /tr` and `osslsigncode -ts`
//! add them: a `TimeStampReq` for the SHA-256 of the signer's signature value, POSTed
//! (`application/timestamp-query`) to a time-stamping authority, whose `TimeStampToken` goes
//! into the signer's unsigned attributes as Microsoft's RFC 3161 countersignature
//! (`1.3.6.1.4.1.311.3.3.1`). The structures are RustCrypto's `x509-tsp`.

use cmpv2::status::PkiStatus;
use cms::content_info::ContentInfo;
use cms::signed_data::SignedData;
use const_oid::db::rfc5912::ID_SHA_256;
use const_oid::ObjectIdentifier;
use der::asn1::{Int, OctetString};
use der::{Any, Decode, Encode};
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};
use spki::AlgorithmIdentifier;
use x509_tsp::{MessageImprint, TimeStampReq, TimeStampResp, TspVersion, TstInfo};

/// `SPC_RFC3161_OBJID`: the unsigned attribute holding an RFC 3161 timestamp token.
pub const SPC_RFC3161_OBJID: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.3.3.1");
/// `id-ct-TSTInfo` (RFC 3161): the content type of a timestamp token's `SignedData`.
const ID_CT_TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
/// The largest reply read from a TSA.
const MAX_REPLY: u64 = 1 << 20;
/// How long one request may take, connection included.
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Why a timestamp could not be had, or a token is not the one asked for.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TimestampError {
    /// The TSA could not be reached or did not answer.
    #[error("timestamp server {url}: {message}")]
    Transport {
        /// The TSA's URL.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The TSA answered with an HTTP status other than 200.
    #[error("timestamp server {url}: HTTP {status}")]
    Http {
        /// The TSA's URL.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// The TSA refused the request (`PKIStatus` other than granted).
    #[error("timestamp server {url} refused the request: {status}")]
    Refused {
        /// The TSA's URL.
        url: String,
        /// The status and any text it gave.
        status: String,
    },
    /// The reply or token is not what RFC 3161 says, or not for this request.
    #[error("timestamp token: {0}")]
    Malformed(String),
}

fn malformed(what: impl std::fmt::Display) -> TimestampError {
    TimestampError::Malformed(what.to_string())
}

/// The `MessageImprint` of a signature value: SHA-256 of its bytes.
fn imprint(signature: &[u8]) -> Result<MessageImprint, der::Error> {
    Ok(MessageImprint {
        hash_algorithm: AlgorithmIdentifier {
            oid: ID_SHA_256,
            parameters: Some(Any::null()),
        },
        hashed_message: OctetString::new(Sha256::digest(signature).to_vec())?,
    })
}

/// A DER `TimeStampReq` for `signature` (the signer's signature value) with `nonce`, asking for
/// the TSA's certificate in the token.
pub fn request(signature: &[u8], nonce: &Int) -> Result<Vec<u8>, der::Error> {
    TimeStampReq {
        version: TspVersion::V1,
        message_imprint: imprint(signature)?,
        req_policy: None,
        nonce: Some(nonce.clone()),
        cert_req: true,
        extensions: None,
    }
    .to_der()
}

/// The `TSTInfo` inside a timestamp token.
pub fn tst_info(token: &ContentInfo) -> Result<TstInfo, TimestampError> {
    let signed = token
        .content
        .decode_as::<SignedData>()
        .map_err(|e| malformed(format!("not a SignedData: {e}")))?;
    let content = &signed.encap_content_info;
    if content.econtent_type != ID_CT_TST_INFO {
        return Err(malformed(format!(
            "content type {} is not id-ct-TSTInfo",
            content.econtent_type
        )));
    }
    let octets = content
        .econtent
        .as_ref()
        .ok_or_else(|| malformed("no TSTInfo"))?
        .decode_as::<OctetString>()
        .map_err(malformed)?;
    TstInfo::from_der(octets.as_bytes()).map_err(malformed)
}

/// Whether `token` timestamps exactly `signature`: its imprint is the SHA-256 of the bytes.
pub fn check_imprint(token: &ContentInfo, signature: &[u8]) -> Result<TstInfo, TimestampError> {
    let info = tst_info(token)?;
    if info.message_imprint != imprint(signature).map_err(malformed)? {
        return Err(malformed("its message imprint is not the signature's"));
    }
    Ok(info)
}

/// The token of a DER `TimeStampResp`, checked against what was asked: granted, an imprint of
/// `signature` and the request's `nonce`.
pub fn token_of(
    url: &str,
    reply: &[u8],
    signature: &[u8],
    nonce: &Int,
) -> Result<ContentInfo, TimestampError> {
    let response = TimeStampResp::from_der(reply).map_err(malformed)?;
    if !matches!(
        response.status.status,
        PkiStatus::Accepted | PkiStatus::GrantedWithMods
    ) {
        return Err(TimestampError::Refused {
            url: url.to_owned(),
            status: format!("{:?}", response.status),
        });
    }
    let token = response
        .time_stamp_token
        .ok_or_else(|| malformed("granted without a token"))?;
    let info = check_imprint(&token, signature)?;
    if info.nonce.as_ref() != Some(nonce) {
        return Err(malformed("its nonce is not the request's"));
    }
    Ok(token)
}

/// A time-stamping authority Kiln asks for RFC 3161 timestamps over HTTP.
#[derive(Debug, Clone)]
pub struct Timestamper {
    url: String,
    agent: ureq::Agent,
}

impl Timestamper {
    /// A client of the TSA at `url` (e.g. `http://timestamp.digicert.com`).
    pub fn new(url: &str) -> Timestamper {
        Timestamper {
            url: url.to_owned(),
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(TIMEOUT))
                .build()
                .into(),
        }
    }

    /// The TSA's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A token timestamping `signature` (the signer's signature value), checked against the
    /// request.
    pub fn timestamp(&self, signature: &[u8]) -> Result<ContentInfo, TimestampError> {
        let mut bytes = [0u8; 8];
        OsRng.fill_bytes(&mut bytes);
        bytes[0] = (bytes[0] & 0x7f) | 0x01; // positive, minimal
        let nonce = Int::new(&bytes).map_err(malformed)?;
        let body = request(signature, &nonce).map_err(malformed)?;
        let transport = |e: ureq::Error| TimestampError::Transport {
            url: self.url.clone(),
            message: e.to_string(),
        };
        let mut response = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/timestamp-query")
            .send(&body[..])
            .map_err(transport)?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(TimestampError::Http {
                url: self.url.clone(),
                status,
            });
        }
        let reply = response
            .body_mut()
            .with_config()
            .limit(MAX_REPLY)
            .read_to_vec()
            .map_err(transport)?;
        token_of(&self.url, &reply, signature, &nonce)
    }
}
