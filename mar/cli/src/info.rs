//! `mar info`: layout, compression, product information, signatures and entries.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use mar::{Layout, SignatureOutcome, Verifier};
use serde_json::json;

use crate::cli::{load_public_keys, open_archive};

/// Describe an archive (add --json for scripts).
#[derive(Debug, Args)]
pub(crate) struct InfoArgs {
    /// The archive.
    file: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Public keys used to name which key made each signature (optional).
    #[arg(long = "key")]
    keys: Vec<PathBuf>,
}

impl InfoArgs {
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        let mut mar = open_archive(&self.file)?;
        let outcomes = Verifier::new(load_public_keys(&self.keys)?)
            .check(&mut mar)?
            .outcomes()
            .to_vec();
        let mut formats = BTreeSet::new();
        let mut entries = Vec::new();
        for entry in mar.entries().to_vec() {
            let format = mar.stored_format(&entry)?.name();
            formats.insert(format);
            entries.push(json!({
                "name": entry.name().as_str(),
                "offset": entry.offset(),
                "stored_size": entry.stored_size(),
                "mode": format!("0{:o}", entry.raw_flags()),
                "format": format,
            }));
        }
        let signatures: Vec<_> = mar
            .signatures()
            .iter()
            .zip(&outcomes)
            .map(|(signature, (_, outcome))| {
                let key_id = match outcome {
                    SignatureOutcome::Verified(id) => Some(id.to_string()),
                    _ => None,
                };
                json!({
                    "algorithm": signature.algorithm().name(),
                    "algorithm_id": signature.algorithm().id(),
                    "length": signature.value().len(),
                    "key_id": key_id,
                })
            })
            .collect();
        let info = json!({
            "file": self.file.display().to_string(),
            "file_size": mar.file_len(),
            "layout": match mar.layout() { Layout::Current => "current", Layout::Legacy => "legacy" },
            "compression": formats.iter().collect::<Vec<_>>(),
            "product_info": mar.product_info().map(|p| json!({"channel": p.channel(), "version": p.version()})),
            "signatures": signatures,
            "entries": entries,
        });
        if self.json {
            println!("{}", serde_json::to_string_pretty(&info)?);
        } else {
            print_text(&info);
        }
        Ok(ExitCode::SUCCESS)
    }
}

fn print_text(info: &serde_json::Value) {
    println!(
        "File: {} ({} bytes, {} layout)",
        info["file"].as_str().unwrap_or(""),
        info["file_size"],
        info["layout"].as_str().unwrap_or("")
    );
    let formats: Vec<&str> = info["compression"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    println!("Compression: {}", formats.join(", "));
    match info["product_info"].as_object() {
        Some(pib) => println!(
            "Product information: channel {}, version {}",
            pib["channel"].as_str().unwrap_or(""),
            pib["version"].as_str().unwrap_or("")
        ),
        None => println!("Product information: none"),
    }
    let signatures = info["signatures"].as_array().cloned().unwrap_or_default();
    println!("Signatures: {}", signatures.len());
    for (i, s) in signatures.iter().enumerate() {
        let key = s["key_id"]
            .as_str()
            .map(|k| format!(", key {k}"))
            .unwrap_or_default();
        println!(
            "  {i}: {} ({} bytes{key})",
            s["algorithm"].as_str().unwrap_or(""),
            s["length"]
        );
    }
    let entries = info["entries"].as_array().cloned().unwrap_or_default();
    println!("Entries: {}", entries.len());
    for e in &entries {
        println!(
            "  {}\t{}\t{}\t{}",
            e["stored_size"],
            e["mode"].as_str().unwrap_or(""),
            e["format"].as_str().unwrap_or(""),
            e["name"].as_str().unwrap_or("")
        );
    }
}
