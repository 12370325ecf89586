//! How a release's update MARs are written, from `[mar] format` and `[keys]`: Kiln's format
//! (Ed25519, plus RSA when `[keys] rsa` is set; zstd entries; Kiln patches through the diff
//! cache) or Firefox's (RSA PKCS#1 v1.5 SHA-384 only, xz entries, MBDIFF10 patches), which
//! Firefox's own updater and Mozilla's `mar -v`/`mar -x` read. The package stage writes with it,
//! certifies against its keys, and configure pins the same keys in `kiln-update.toml`.

use anyhow::Context;
use mar::keys::{PublicKey, SigningKey};
use mar::update::generate::{PatchFormat, UpdateParams};
use mar::{Compression, ProductInfo, Verifier};

use crate::release::config::{Config, MarFormat};

/// The keys, compression and patch format of a release's MARs.
#[derive(Debug)]
pub struct UpdateFormat {
    format: MarFormat,
    keys: Vec<SigningKey>,
}

impl UpdateFormat {
    /// Loads the MAR signing keys `config` names for its format: Kiln's signs with the Ed25519
    /// key and the optional RSA key, Firefox's with the RSA key alone (Firefox's updater refuses
    /// an archive carrying a signature algorithm it does not know).
    pub fn load(config: &Config) -> anyhow::Result<UpdateFormat> {
        let load = |path: &std::path::Path| {
            SigningKey::load(path).with_context(|| format!("MAR signing key {}", path.display()))
        };
        let mut keys = Vec::new();
        if config.mar.format == MarFormat::Kiln {
            keys.push(load(&config.keys.ed25519)?);
        }
        if let Some(rsa) = &config.keys.rsa {
            let key = load(rsa)?;
            anyhow::ensure!(
                matches!(key, SigningKey::Rsa(_)),
                "[keys] rsa {} is not an RSA key",
                rsa.display()
            );
            keys.push(key);
        }
        anyhow::ensure!(
            !keys.is_empty(),
            "[mar] format = \"firefox\" signs with RSA only: set [keys] rsa"
        );
        Ok(UpdateFormat {
            format: config.mar.format,
            keys,
        })
    }

    /// The public keys of every MAR signature, in signing order: what clients pin.
    pub fn public_keys(&self) -> Vec<PublicKey> {
        self.keys.iter().map(SigningKey::public_key).collect()
    }

    /// A verifier that requires every one of the release's signatures.
    pub fn verifier(&self) -> Verifier {
        let keys = self.public_keys();
        let all = keys.len();
        Verifier::new(keys).with_threshold(all)
    }

    /// The generation parameters of a MAR for `info`: compression and signing keys.
    pub fn params(&self, info: ProductInfo) -> UpdateParams {
        let compression = match self.format {
            MarFormat::Kiln => Compression::default(),
            MarFormat::Firefox => Compression::XZ_DEFAULT,
        };
        self.keys
            .iter()
            .cloned()
            .fold(UpdateParams::new(info).compression(compression), |p, k| {
                p.sign_with(k)
            })
    }

    /// The patch format of partials.
    pub fn patch_format(&self) -> PatchFormat {
        match self.format {
            MarFormat::Kiln => PatchFormat::Kiln,
            MarFormat::Firefox => PatchFormat::Mbdiff,
        }
    }

    /// What a MAR item's fingerprint includes so that a change of format or keys remakes it.
    pub fn fingerprint_tag(&self) -> String {
        let ids: Vec<String> = self
            .public_keys()
            .iter()
            .map(|k| k.key_id().to_string())
            .collect();
        format!("mar-v2/{}/{}", self.format.as_str(), ids.join(","))
    }
}
