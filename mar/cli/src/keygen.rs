//! `mar keygen`: generate an Ed25519 signing key pair.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use mar::keys::SigningKey;

/// Generate an Ed25519 key pair: PREFIX.key (PKCS#8 PEM, mode 0600) and PREFIX.pub (SPKI PEM).
#[derive(Debug, Args)]
pub(crate) struct KeygenArgs {
    /// Path prefix of the two files.
    #[arg(short = 'o', long = "output")]
    prefix: PathBuf,
}

impl KeygenArgs {
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        let key = SigningKey::generate_ed25519();
        let private = with_suffix(&self.prefix, "key");
        let public = with_suffix(&self.prefix, "pub");
        write_private(&private, key.to_pkcs8_pem()?.as_bytes())?;
        std::fs::write(&public, key.public_key().to_pem()?)
            .with_context(|| format!("writing {}", public.display()))?;
        println!("{}", key.public_key().key_id());
        Ok(ExitCode::SUCCESS)
    }
}

fn with_suffix(prefix: &std::path::Path, suffix: &str) -> PathBuf {
    let mut name = prefix.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

fn write_private(path: &std::path::Path, pem: &[u8]) -> anyhow::Result<()> {
    mar::keys::write_secret_file(path, pem)
        .with_context(|| format!("creating {} (it must not exist yet)", path.display()))
}
