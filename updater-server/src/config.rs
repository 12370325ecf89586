//! Server configuration: a TOML file where every key is optional, overridden by command-line flags.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Balrog's `ALLOWLISTED_DOMAINS`: domain (`host` or `host:port`) → products allowed to use it.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Allowlist(pub BTreeMap<String, Vec<String>>);

/// The network location of a URL as Python's `urlparse(url)[1]` gives it (empty without `//`).
fn netloc(url: &str) -> &str {
    let Some(idx) = url.find("//") else { return "" };
    let scheme = &url[..idx];
    if !scheme.is_empty() && !scheme.ends_with(':') {
        return "";
    }
    let rest = &url[idx + 2..];
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    &rest[..end]
}

impl Allowlist {
    /// Balrog's `isForbiddenUrl`: the URL's domain must be listed and, when `product` is given,
    /// the product must be allowed for that domain.
    pub fn forbids(&self, url: &str, product: Option<&str>) -> bool {
        match self.0.get(netloc(url)) {
            None => true,
            Some(products) => product.is_some_and(|p| !products.iter().any(|allowed| allowed == p)),
        }
    }
}

/// Where the data lives: a SQLite file (the embedded default) or a PostgreSQL database
/// (`postgres://` or `postgresql://` URL), which any number of replicas may share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL.
    Postgres(String),
}

impl Database {
    /// Parses a `--db` value or the `database` key: a PostgreSQL URL, else a SQLite path.
    pub fn parse(s: &str) -> Database {
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            Database::Postgres(s.to_owned())
        } else {
            Database::Sqlite(PathBuf::from(s))
        }
    }
}

impl std::str::FromStr for Database {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Database::parse(s))
    }
}

impl serde::Serialize for Database {
    /// The value as written in a configuration: the path, or the whole URL.
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Database::Sqlite(path) => s.collect_str(&path.display()),
            Database::Postgres(url) => s.serialize_str(url),
        }
    }
}

impl<'de> Deserialize<'de> for Database {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(|s| Database::parse(&s))
    }
}

impl std::fmt::Display for Database {
    /// The path, or the URL without its password (safe to log).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::Sqlite(path) => write!(f, "{}", path.display()),
            Database::Postgres(url) => {
                let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
                match rest.rsplit_once('@') {
                    Some((userinfo, host)) => {
                        let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
                        write!(f, "{scheme}://{user}@{host}")
                    }
                    None => write!(f, "{url}"),
                }
            }
        }
    }
}

/// The `[client]` table: settings of the client endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientConfig {
    /// Domains patches may point to, with the products allowed on each.
    pub allowlisted_domains: Allowlist,
    /// URL prefixes that get `force=` appended when the request forced a mapping.
    pub special_force_hosts: Vec<String>,
    /// How many dice-independent answers to memoize per snapshot (0 disables the memo).
    pub response_memo_entries: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            allowlisted_domains: Allowlist::default(),
            special_force_hosts: Vec::new(),
            response_memo_entries: 20_000,
        }
    }
}

/// The `[reports]` table: the unauthenticated update-report endpoint and the health guards.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportsConfig {
    /// Largest accepted report body, in bytes (larger: 413).
    pub max_body_bytes: usize,
    /// Reports accepted per client address per minute (more: 429).
    pub per_minute: u32,
    /// Reports waiting to be stored; when full, new reports are refused with 503.
    pub queue: usize,
    /// Most reports stored in one transaction.
    pub batch: usize,
    /// How long the writer waits to fill a batch, in milliseconds.
    pub flush_ms: u64,
    /// One-sided significance level of the health guards' tests.
    pub alpha: f64,
    /// How old, in seconds, the report totals on `/metrics` may be before a scrape reads them
    /// again (a scrape never scans the reports table more often).
    pub totals_max_age_secs: u64,
}

impl Default for ReportsConfig {
    fn default() -> Self {
        ReportsConfig {
            max_body_bytes: 4096,
            per_minute: 60,
            queue: 10_000,
            batch: 500,
            flush_ms: 200,
            alpha: 0.01,
            totals_max_age_secs: 60,
        }
    }
}

/// The `[testing]` table. Everything here is off by default and must stay off in production.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TestingConfig {
    /// Let requests fix the throttling dice with `X-Test-Dice: N` (0–99).
    pub dice_header: bool,
}

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address to listen on.
    pub listen: String,
    /// Address of a separate listener for `/metrics` (e.g. one only the monitoring network
    /// reaches); when set, `listen` does not serve `/metrics`.
    pub metrics_listen: Option<String>,
    /// SQLite database path, or a `postgres://` URL.
    pub database: Database,
    /// PKCS#8 PEM Ed25519 private key; enables `Content-Signature` on update responses.
    pub response_signing_key: Option<PathBuf>,
    /// Lifetime of a response signature in seconds (kept well above `max-age=90`).
    pub signature_ttl_secs: u64,
    /// How often the scheduled-change task looks for changes to enact, in milliseconds.
    pub scheduler_interval_ms: u64,
    /// How often a replica checks the database's change version as a safety net under the
    /// change notifications, in milliseconds.
    pub snapshot_poll_ms: u64,
    /// HTTP worker threads (default: one per core).
    pub workers: Option<usize>,
    /// Client endpoint settings.
    pub client: ClientConfig,
    /// Update reports and health guards.
    pub reports: ReportsConfig,
    /// Test-only switches.
    pub testing: TestingConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8000".to_owned(),
            metrics_listen: None,
            database: Database::Sqlite(PathBuf::from("kiln-updates.db")),
            response_signing_key: None,
            signature_ttl_secs: 3600,
            scheduler_interval_ms: 1000,
            snapshot_poll_ms: 500,
            workers: None,
            client: ClientConfig::default(),
            reports: ReportsConfig::default(),
            testing: TestingConfig::default(),
        }
    }
}

/// A configuration file that could not be read or parsed.
#[derive(Debug, thiserror::Error)]
#[error("cannot load config {path}: {reason}")]
pub struct ConfigError {
    path: PathBuf,
    reason: String,
}

impl Config {
    /// Reads and parses a TOML file. Relative paths in it (`database` when it is a SQLite file,
    /// `response_signing_key`) are relative to the file's directory, so the server finds the
    /// same files whatever directory it is started from.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let err = |reason: String| ConfigError {
            path: path.to_owned(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let mut config: Config = toml::from_str(&text).map_err(|e| err(e.to_string()))?;
        let base = path.parent().unwrap_or(Path::new(""));
        if let Database::Sqlite(file) = &mut config.database {
            *file = base.join(&*file);
        }
        if let Some(key) = &mut config.response_signing_key {
            *key = base.join(&*key);
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_are_relative_to_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.toml");
        std::fs::write(
            &path,
            "database = \"data/kiln.db\"\nresponse_signing_key = \"keys/r.key\"\n",
        )
        .unwrap();
        let config = Config::load(&path).unwrap();
        assert_eq!(
            config.database,
            Database::Sqlite(dir.path().join("data/kiln.db"))
        );
        assert_eq!(
            config.response_signing_key,
            Some(dir.path().join("keys/r.key"))
        );
        std::fs::write(&path, "database = \"postgres://u@h/kiln\"\n").unwrap();
        assert_eq!(
            Config::load(&path).unwrap().database,
            Database::Postgres("postgres://u@h/kiln".to_owned())
        );
    }

    #[test]
    fn parses_issue_example() {
        let cfg: Config = toml::from_str(
            r#"
listen = "127.0.0.1:8000"
database = "kiln-updates.db"
response_signing_key = "ed25519.key"
[client]
allowlisted_domains = { "download.example.org" = ["Firefox"] }
special_force_hosts = ["http://download.example.org"]
[testing]
dice_header = false
"#,
        )
        .unwrap();
        assert!(!cfg.testing.dice_header);
        assert!(!cfg
            .client
            .allowlisted_domains
            .forbids("http://download.example.org/x?a=b", Some("Firefox")));
        assert!(cfg
            .client
            .allowlisted_domains
            .forbids("http://download.example.org/x", Some("Thunderbird")));
        assert!(cfg
            .client
            .allowlisted_domains
            .forbids("http://evil.example.org/x", Some("Firefox")));
        assert!(cfg
            .client
            .allowlisted_domains
            .forbids("download.example.org/x", None));
        assert_eq!(
            cfg.database,
            Database::Sqlite(PathBuf::from("kiln-updates.db"))
        );
        let pg: Config =
            toml::from_str("database = \"postgres://kiln:secret@db:5432/kiln\"").unwrap();
        assert_eq!(
            pg.database,
            Database::Postgres("postgres://kiln:secret@db:5432/kiln".to_owned())
        );
        assert_eq!(pg.database.to_string(), "postgres://kiln@db:5432/kiln");
        let empty: Config = toml::from_str("").unwrap();
        assert!(!empty.testing.dice_header);
        assert!(toml::from_str::<Config>("unknown = 1").is_err());
    }
}
