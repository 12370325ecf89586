//! `kiln quickstart [--dir D] [--serve] [--json] [--state-db DB] [--workers N] [--store URL
//! [--store-endpoint URL] [--store-region R]]`: the whole release train on local defaults (see
//! [`crate::release::quickstart`]).

use std::path::PathBuf;
use std::process::ExitCode;

use updater_server::config::Database;

use crate::release::config::StoreSettings;
use crate::release::quickstart::Options;

/// Arguments of `kiln quickstart`.
#[derive(Debug, clap::Args)]
pub struct QuickstartArgs {
    /// Working directory (emptied first).
    #[arg(long, default_value = "target/quickstart")]
    pub dir: PathBuf,
    /// Keep the update server and the file server running afterwards.
    #[arg(long)]
    pub serve: bool,
    /// Print the summary as JSON at the end.
    #[arg(long)]
    pub json: bool,
    /// The pipeline state database: a SQLite path or a `postgres://` URL, holding no release
    /// (default: `kiln-state.db` in the working directory).
    #[arg(long, value_name = "PATH|URL")]
    pub state_db: Option<String>,
    /// Run construct, certify and package's MARs on N `kiln worker` processes (children of this
    /// one, sharing the state database) instead of this process's threads.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub workers: Option<u16>,
    /// Publish every artifact to an S3-compatible bucket too (`s3://bucket/prefix`, which must
    /// exist; credentials from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` …), as `[store]`.
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// The bucket's S3 endpoint (`http://127.0.0.1:9000`), for a server other than AWS.
    #[arg(long, value_name = "URL", requires = "store")]
    pub store_endpoint: Option<String>,
    /// The bucket's region.
    #[arg(long, requires = "store")]
    pub store_region: Option<String>,
}

impl QuickstartArgs {
    /// Runs quickstart.
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let state_db = match self.state_db.as_deref().map(Database::parse) {
            // Relative to where kiln runs, not to the kiln.toml quickstart writes.
            Some(Database::Sqlite(path)) => Some(Database::Sqlite(std::path::absolute(path)?)),
            other => other,
        };
        let options = Options {
            serve: self.serve,
            state_db,
            workers: self.workers.map(usize::from),
            store: self.store.map(|url| StoreSettings {
                url: Some(url),
                endpoint: self.store_endpoint,
                region: self.store_region,
            }),
        };
        let summary = crate::release::quickstart::run(&self.dir, &options)?;
        if self.json {
            println!("{}", serde_json::to_string_pretty(&summary)?);
        }
        Ok(ExitCode::SUCCESS)
    }
}
