//! The product information block (PIB): MAR channel id and product version.

use std::fmt;

/// Most bytes of a MAR channel id (Mozilla's `PIB_MAX_MAR_CHANNEL_ID_SIZE`).
pub const MAX_CHANNEL_LEN: usize = 63;
/// Most bytes of a product version (Mozilla's `PIB_MAX_PRODUCT_VERSION_SIZE`).
pub const MAX_VERSION_LEN: usize = 31;
/// Most data bytes of a PIB Mozilla's reader accepts (`MAXADDITIONALBLOCKSIZE`).
pub(crate) const MAX_PIB_DATA_LEN: usize = 96;
/// The additional-block id of the PIB.
pub(crate) const PRODUCT_INFO_BLOCK_ID: u32 = 1;

/// Why a channel or version cannot go into a PIB.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProductInfoError {
    /// The channel id is longer than 63 bytes.
    #[error("MAR channel id is {len} bytes, at most {MAX_CHANNEL_LEN} allowed")]
    ChannelTooLong {
        /// Its length.
        len: usize,
    },
    /// The version is longer than 31 bytes.
    #[error("product version is {len} bytes, at most {MAX_VERSION_LEN} allowed")]
    VersionTooLong {
        /// Its length.
        len: usize,
    },
    /// The channel id contains a separator the updater splits on (`,`, space, tab) or a NUL.
    #[error("MAR channel id {channel:?} contains ',', a space, a tab or a NUL")]
    ChannelSeparator {
        /// The channel id.
        channel: String,
    },
    /// The version contains a NUL or whitespace.
    #[error("product version {version:?} contains whitespace or a NUL")]
    BadVersion {
        /// The version.
        version: String,
    },
    /// The block's data is larger than Mozilla's reader accepts.
    #[error("product information block has {len} data bytes, at most {MAX_PIB_DATA_LEN} allowed")]
    BlockTooLarge {
        /// Data bytes in the block.
        len: usize,
    },
    /// The block does not hold two NUL-terminated UTF-8 strings.
    #[error("product information block is not two NUL-terminated strings")]
    Malformed,
}

/// A validated product information block: what channel a MAR is for, and what version it installs.
///
/// Every `ProductInfo` fits Mozilla's reader: channel ≤ 63 bytes without `,`/space/tab/NUL,
/// version ≤ 31 bytes without whitespace/NUL.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ProductInfo {
    channel: String,
    version: String,
}

impl ProductInfo {
    /// Validates a channel id and product version.
    pub fn new(channel: &str, version: &str) -> Result<ProductInfo, ProductInfoError> {
        if channel.len() > MAX_CHANNEL_LEN {
            return Err(ProductInfoError::ChannelTooLong { len: channel.len() });
        }
        if version.len() > MAX_VERSION_LEN {
            return Err(ProductInfoError::VersionTooLong { len: version.len() });
        }
        if channel.contains([',', ' ', '\t', '\0']) {
            return Err(ProductInfoError::ChannelSeparator {
                channel: channel.to_owned(),
            });
        }
        if version.contains(|c: char| c.is_whitespace() || c == '\0') {
            return Err(ProductInfoError::BadVersion {
                version: version.to_owned(),
            });
        }
        Ok(ProductInfo {
            channel: channel.to_owned(),
            version: version.to_owned(),
        })
    }

    /// The MAR channel id, e.g. `firefox-mozilla-release`.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// The product version, e.g. `120.0`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Parses a PIB's data bytes (after the 8-byte block header). Zero padding after the two
    /// strings is allowed, as the C tool pads to 104 bytes.
    pub fn decode(data: &[u8]) -> Result<ProductInfo, ProductInfoError> {
        if data.len() > MAX_PIB_DATA_LEN {
            return Err(ProductInfoError::BlockTooLarge { len: data.len() });
        }
        let mut parts = data.splitn(3, |&b| b == 0);
        let channel = parts.next().ok_or(ProductInfoError::Malformed)?;
        let version = parts.next().ok_or(ProductInfoError::Malformed)?;
        // A third part exists only if the version was NUL-terminated.
        if parts.next().is_none() {
            return Err(ProductInfoError::Malformed);
        }
        let channel = std::str::from_utf8(channel).map_err(|_| ProductInfoError::Malformed)?;
        let version = std::str::from_utf8(version).map_err(|_| ProductInfoError::Malformed)?;
        ProductInfo::new(channel, version)
    }

    /// The PIB's data bytes as Kiln writes them: `channel\0version\0`, unpadded (like build-mar).
    pub fn encode(&self) -> Vec<u8> {
        let mut data = Vec::with_capacity(self.channel.len() + self.version.len() + 2);
        data.extend_from_slice(self.channel.as_bytes());
        data.push(0);
        data.extend_from_slice(self.version.as_bytes());
        data.push(0);
        data
    }
}

impl fmt::Debug for ProductInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProductInfo({}/{})", self.channel, self.version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_padded_and_unpadded_blocks() {
        let pib = ProductInfo::new("firefox-mozilla-release", "120.0").unwrap();
        assert_eq!(ProductInfo::decode(&pib.encode()).unwrap(), pib);
        let mut padded = pib.encode();
        padded.resize(96, 0);
        assert_eq!(ProductInfo::decode(&padded).unwrap(), pib);
    }

    #[test]
    fn enforces_mozilla_limits() {
        assert!(matches!(
            ProductInfo::new(&"c".repeat(64), "1"),
            Err(ProductInfoError::ChannelTooLong { len: 64 })
        ));
        assert!(ProductInfo::new(&"c".repeat(63), &"1".repeat(31)).is_ok());
        assert!(matches!(
            ProductInfo::new("a", &"1".repeat(32)),
            Err(ProductInfoError::VersionTooLong { len: 32 })
        ));
        assert!(matches!(
            ProductInfo::new("a,b", "1"),
            Err(ProductInfoError::ChannelSeparator { .. })
        ));
        assert_eq!(
            ProductInfo::decode(b"chan\0ver"),
            Err(ProductInfoError::Malformed)
        );
        assert!(matches!(
            ProductInfo::decode(&[b'a'; 97]),
            Err(ProductInfoError::BlockTooLarge { len: 97 })
        ));
    }
}
