//! `kiln.toml`: the release configuration (every key is documented in `docs/release.md`).
//! Relative paths are resolved against the directory holding the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mar::update::version::Line;
use serde::{Deserialize, Serialize};
use updater_server::config::Database;

use crate::release::name::Version;

/// Why the configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read or written.
    #[error("cannot access {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The TOML is malformed or a key is unknown.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's explanation.
        message: String,
    },
    /// A value is out of range.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// The default number of partial sources (the last N shipped releases).
pub const DEFAULT_PARTIAL_COUNT: usize = 3;

/// The release configuration.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Product name as in release names and blobs (`Firefox`).
    pub product: String,
    /// MAR channel id written into every MAR's product information block.
    pub mar_channel_id: String,
    /// The update channel of the release line this configuration ships (`release`, `beta` or
    /// `esr`); its test channels are `<channel>-localtest` (candidates URLs) and
    /// `<channel>-cdntest` (releases URLs).
    pub channel: String,
    /// How many shipped releases get partials (default 3).
    #[serde(default = "default_partial_count")]
    pub partial_count: usize,
    /// Repack jobs per construct chunk (0: one chunk of everything).
    #[serde(default)]
    pub chunk_size: usize,
    /// Worker threads of each stage (0: one per core).
    #[serde(default)]
    pub jobs: usize,
    /// The candidates/releases root (`candidates/`, `releases/`, `logs/` live here).
    pub root: PathBuf,
    /// The pipeline's database: a SQLite file (the default, for one machine), or a PostgreSQL
    /// URL (`postgres://…`) that coordinators and workers on several machines share.
    pub state_db: Database,
    /// Work directory: unpacked trees, injected en-US builds, the shared diff cache.
    pub work_dir: PathBuf,
    /// The input directory: `builds/<version>/<platform>/en-US/<archive>`, `l10n/`,
    /// `shipped-locales`, `partners/` (as `kiln fixtures` lays it out).
    pub inputs: PathBuf,
    /// The product's git repository (tags and changelog ranges).
    pub git_repo: PathBuf,
    /// Where notices (RFC 5322 messages) are written.
    pub outbox: PathBuf,
    /// URL of a revision, `{revision}` replaced (the notice's Commit line).
    #[serde(default = "default_revision_url")]
    pub revision_url: String,
    /// Notice sender and recipient addresses.
    #[serde(default)]
    pub notices: Notices,
    /// Platform directory name → Balrog build target.
    pub platforms: BTreeMap<String, String>,
    /// Signing keys.
    pub keys: Keys,
    /// The update server.
    pub server: Server,
    /// Signoff role → signoffs required before a ship takes effect.
    pub signoffs: BTreeMap<String, u32>,
    /// How update MARs are written.
    #[serde(default)]
    pub mar: MarSettings,
    /// Who runs the distributed stages.
    #[serde(default)]
    pub pipeline: Pipeline,
    /// Where artifacts are published for other machines.
    #[serde(default)]
    pub store: StoreSettings,
}

/// The `[store]` table: an S3-compatible bucket every host publishes to and fetches from.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSettings {
    /// `s3://bucket/prefix`; unset: artifacts stay in `root` and `work_dir` (one machine or a
    /// shared filesystem). `download_base_url` keeps pointing clients at the CDN in front of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The S3 endpoint (`http://minio.internal:9000`); unset: AWS's for the region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The bucket's region; unset: `AWS_DEFAULT_REGION`/`AWS_REGION`, else `us-east-1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

/// The `[pipeline]` table: who runs construct, certify and package's MARs.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    /// `local` (this process's threads, the default) or `workers` (`kiln worker` processes on
    /// any host sharing `state_db` and `root`).
    #[serde(default)]
    pub executor: ExecutorKind,
    /// How long a worker's claim on a unit lasts without a heartbeat (seconds; default 60).
    /// A worker renews it every third of that; a worker that dies or loses the network loses
    /// the unit after at most this long, and another worker redoes it.
    #[serde(default)]
    pub lease_seconds: Option<u64>,
}

/// The default lease of a claimed unit.
pub const DEFAULT_LEASE: std::time::Duration = std::time::Duration::from_secs(60);

impl Pipeline {
    /// The lease of a claimed unit.
    pub fn lease(&self) -> std::time::Duration {
        self.lease_seconds
            .map_or(DEFAULT_LEASE, std::time::Duration::from_secs)
    }
}

/// `[pipeline] executor`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecutorKind {
    /// This process.
    #[default]
    Local,
    /// `kiln worker` processes.
    Workers,
}

/// The `[mar]` table: the update package format.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarSettings {
    /// `kiln` (default) or `firefox`.
    #[serde(default)]
    pub format: MarFormat,
}

/// The update package format of a release (`[mar] format`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MarFormat {
    /// Kiln's: an Ed25519 signature (plus RSA when `[keys] rsa` is set), zstd entries, Kiln
    /// patches; Kiln's client reads it.
    #[default]
    Kiln,
    /// Firefox's: one RSA PKCS#1 v1.5 SHA-384 signature (`[keys] rsa`), xz entries, MBDIFF10
    /// patches; Firefox's own updater and Mozilla's `mar` tool read it, and so does Kiln's client.
    Firefox,
}

impl MarFormat {
    /// The name used in `kiln.toml`.
    pub fn as_str(self) -> &'static str {
        match self {
            MarFormat::Kiln => "kiln",
            MarFormat::Firefox => "firefox",
        }
    }
}

/// Addresses of the notices.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notices {
    /// `From:` of every notice.
    pub from: String,
    /// `To:` of every notice.
    pub to: String,
}

impl Default for Notices {
    fn default() -> Notices {
        Notices {
            from: "Kiln <kiln@kiln.invalid>".to_owned(),
            to: "release-signoff@kiln.invalid".to_owned(),
        }
    }
}

/// Key files.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Keys {
    /// Ed25519 private key (PKCS#8 PEM): archive `.sig` files and MAR signatures.
    pub ed25519: PathBuf,
    /// Its public key (SPKI PEM), pinned by clients.
    pub ed25519_public: PathBuf,
    /// The armored secret OpenPGP release certificate (`SHA*SUMS.asc`, Linux `.asc`).
    pub openpgp: PathBuf,
    /// Optional RSA private key (PKCS#8 PEM) adding a second MAR signature.
    #[serde(default)]
    pub rsa: Option<PathBuf>,
    /// Public keys the client pins for the update server's `Content-Signature` (PEM files).
    #[serde(default)]
    pub response_public: Vec<PathBuf>,
    /// Authenticode certificate chain (PEM, leaf first: `keys/authenticode.pem`). With
    /// `authenticode_key`, configure signs the en-US Windows build's PE files and certify checks
    /// every Windows build's; unset, no Authenticode.
    #[serde(default)]
    pub authenticode_cert: Option<PathBuf>,
    /// The Authenticode leaf's private key (ECDSA P-256, PKCS#8 PEM: `keys/authenticode.key`).
    #[serde(default)]
    pub authenticode_key: Option<PathBuf>,
    /// An RFC 3161 time-stamping authority's URL (`http://timestamp.digicert.com`): every
    /// Authenticode signature then carries its timestamp, so it stays valid after the
    /// certificate expires. Unset: no timestamp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authenticode_timestamp_url: Option<String>,
}

/// The update server.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    /// Base URL of the server (`http://127.0.0.1:8000`): admin API and client endpoint.
    pub url: String,
    /// Admin bearer token (prefer `admin_token_file`).
    #[serde(default)]
    pub admin_token: Option<String>,
    /// File holding the admin bearer token.
    #[serde(default)]
    pub admin_token_file: Option<PathBuf>,
    /// Base URL that release blobs point at; `candidates/…` and `releases/…` are under it.
    pub download_base_url: String,
    /// Update URL template written into `kiln-update.toml` (default: the server's `/update/6/…`).
    #[serde(default)]
    pub update_url: Option<String>,
    /// Telemetry-style report URL written into `kiln-update.toml`, if any.
    #[serde(default)]
    pub report_url: Option<String>,
}

fn default_partial_count() -> usize {
    DEFAULT_PARTIAL_COUNT
}

fn default_revision_url() -> String {
    "https://hg.kiln.invalid/releases/rev/{revision}".to_owned()
}

/// Balrog build targets of Kiln's platforms.
pub fn default_platforms() -> BTreeMap<String, String> {
    [
        ("linux-x86_64", "Linux_x86_64-gcc3"),
        ("mac", "Darwin_x86_64-gcc3-u-i386-x86_64"),
        ("win64", "WINNT_x86_64-msvc-x64"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_owned(), b.to_owned()))
    .collect()
}

impl Config {
    /// The configuration `kiln init` writes for `product` in `dir`.
    pub fn template(product: &str) -> Config {
        Config {
            product: product.to_owned(),
            mar_channel_id: format!(
                "{}-mozilla-release",
                l10n_repack::Product::file_stem_of(product)
            ),
            channel: "release".to_owned(),
            partial_count: DEFAULT_PARTIAL_COUNT,
            chunk_size: 0,
            jobs: 0,
            root: "pub".into(),
            state_db: Database::Sqlite("kiln-state.db".into()),
            work_dir: "work".into(),
            inputs: "fixtures".into(),
            git_repo: "repo".into(),
            outbox: "outbox".into(),
            revision_url: default_revision_url(),
            notices: Notices::default(),
            platforms: default_platforms(),
            keys: Keys {
                ed25519: "keys/ed25519.key".into(),
                ed25519_public: "keys/ed25519.pub".into(),
                openpgp: "keys/openpgp.key".into(),
                rsa: None,
                authenticode_cert: None,
                authenticode_key: None,
                authenticode_timestamp_url: None,
                response_public: Vec::new(),
            },
            server: Server {
                url: "http://127.0.0.1:8000".to_owned(),
                admin_token: None,
                admin_token_file: Some("admin.token".into()),
                download_base_url: "http://127.0.0.1:8001".to_owned(),
                update_url: None,
                report_url: None,
            },
            signoffs: [("relman".to_owned(), 1), ("releng".to_owned(), 1)].into(),
            mar: MarSettings::default(),
            pipeline: Pipeline::default(),
            store: StoreSettings::default(),
        }
    }

    /// Reads and validates `path`, resolving relative paths against its directory.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_owned(),
            source,
        })?;
        let mut config: Config = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let base = std::path::absolute(base).unwrap_or_else(|_| base.to_owned());
        config.resolve(&base);
        config.validate(path)?;
        Ok(config)
    }

    /// Writes the configuration as TOML.
    pub fn save(&self, path: &Path) -> Result<(), ConfigError> {
        let text = toml::to_string_pretty(self).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        std::fs::write(path, text).map_err(|source| ConfigError::Io {
            path: path.to_owned(),
            source,
        })
    }

    fn resolve(&mut self, base: &Path) {
        if let Database::Sqlite(path) = &mut self.state_db {
            *path = base.join(&*path);
        }
        for path in [
            &mut self.root,
            &mut self.work_dir,
            &mut self.inputs,
            &mut self.git_repo,
            &mut self.outbox,
            &mut self.keys.ed25519,
            &mut self.keys.ed25519_public,
            &mut self.keys.openpgp,
        ] {
            *path = base.join(&*path);
        }
        for path in self
            .keys
            .rsa
            .iter_mut()
            .chain(self.keys.response_public.iter_mut())
            .chain(self.keys.authenticode_cert.iter_mut())
            .chain(self.keys.authenticode_key.iter_mut())
            .chain(self.server.admin_token_file.iter_mut())
        {
            *path = base.join(&*path);
        }
    }

    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_owned(),
            message,
        };
        if crate::release::name::ReleaseName::new(&self.product, "1.0".parse().expect("valid"), 1)
            .is_err()
        {
            return Err(invalid(format!(
                "product {:?} is not a capitalised word",
                self.product
            )));
        }
        if !(1..=10).contains(&self.partial_count) {
            return Err(invalid("partial_count must be 1 to 10".to_owned()));
        }
        if self.platforms.is_empty() {
            return Err(invalid("[platforms] is empty".to_owned()));
        }
        for platform in self.platforms.keys() {
            platform
                .parse::<l10n_repack::Platform>()
                .map_err(|e| invalid(format!("[platforms] {platform}: {e}")))?;
        }
        if Line::from_channel(&self.channel).is_none() {
            return Err(invalid(format!(
                "channel {:?} is not a release line's channel: release, beta or esr",
                self.channel
            )));
        }
        if self.keys.authenticode_cert.is_some() != self.keys.authenticode_key.is_some() {
            return Err(invalid(
                "[keys] authenticode_cert and authenticode_key go together".to_owned(),
            ));
        }
        if self.keys.authenticode_timestamp_url.is_some() && self.keys.authenticode_cert.is_none() {
            return Err(invalid(
                "[keys] authenticode_timestamp_url needs authenticode_cert and authenticode_key"
                    .to_owned(),
            ));
        }
        if self.mar.format == MarFormat::Firefox && self.keys.rsa.is_none() {
            return Err(invalid(
                "[mar] format = \"firefox\" signs with RSA only: set [keys] rsa".to_owned(),
            ));
        }
        if self.server.admin_token.is_none() && self.server.admin_token_file.is_none() {
            return Err(invalid(
                "[server] needs admin_token or admin_token_file".to_owned(),
            ));
        }
        Ok(())
    }

    /// The admin token (from `admin_token`, else the first line of `admin_token_file`).
    pub fn admin_token(&self) -> Result<String, ConfigError> {
        if let Some(token) = &self.server.admin_token {
            return Ok(token.clone());
        }
        let path = self.server.admin_token_file.clone().unwrap_or_default();
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Io {
            path: path.clone(),
            source,
        })?;
        Ok(text.trim().to_owned())
    }

    /// The platforms the release builds (`[platforms]`' keys), in order: configure bakes their
    /// en-US builds, construct repacks only for them, and every later stage follows.
    pub fn built_platforms(&self) -> Result<Vec<l10n_repack::Platform>, l10n_repack::RepackError> {
        self.platforms.keys().map(|p| p.parse()).collect()
    }

    /// The product's lowercase file prefix (`firefox`).
    pub fn file_prefix(&self) -> String {
        l10n_repack::Product::file_stem_of(&self.product)
    }

    /// The release line this configuration ships: its `channel` (validated on load).
    pub fn line(&self) -> Line {
        Line::from_channel(&self.channel).unwrap_or(Line::Release)
    }

    /// Makes this configuration ship `line`: its channel, and the line's MAR channel id derived
    /// from the current one (`firefox-mozilla-release` → `firefox-mozilla-beta`).
    pub fn set_line(&mut self, line: Line) {
        self.channel = line.channel().to_owned();
        self.mar_channel_id = line.mar_channel_id(&self.mar_channel_id);
    }

    /// Does this line ship `version`? Each line its own versions; the beta line also the
    /// release's builds, its release candidates (Mozilla ships the RC to `beta` first).
    pub fn ships(&self, version: &Version) -> bool {
        let (own, theirs) = (self.line(), version.line());
        own == theirs || (own == Line::Beta && theirs == Line::Release)
    }

    /// The MAR channel id the MARs of `version` carry: `mar_channel_id` for the line's own
    /// versions; a release candidate on the beta line carries the release id
    /// (`firefox-mozilla-release`), so the same MARs serve both channels.
    pub fn mar_channel_id_for(&self, version: &Version) -> String {
        if version.line() == self.line() {
            self.mar_channel_id.clone()
        } else {
            version.line().mar_channel_id(&self.mar_channel_id)
        }
    }

    /// The localtest channel.
    pub fn localtest_channel(&self) -> String {
        format!("{}-localtest", self.channel)
    }

    /// The cdntest channel.
    pub fn cdntest_channel(&self) -> String {
        format!("{}-cdntest", self.channel)
    }

    /// The update URL template of `kiln-update.toml`.
    pub fn update_url(&self) -> String {
        self.server.update_url.clone().unwrap_or_else(|| {
            format!(
                "{}/update/6/%PRODUCT%/%VERSION%/%BUILD_ID%/%BUILD_TARGET%/%LOCALE%/%CHANNEL%/%OS_VERSION%/%SYSTEM_CAPABILITIES%/%DISTRIBUTION%/%DISTRIBUTION_VERSION%/update.xml",
                self.server.url.trim_end_matches('/')
            )
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn template_round_trips_and_validates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kiln.toml");
        super::Config::template("Firefox").save(&path).unwrap();
        let config = super::Config::load(&path).unwrap();
        assert_eq!(config.partial_count, 3);
        assert!(config.root.is_absolute());
        assert_eq!(config.localtest_channel(), "release-localtest");
        let mut beta = config.clone();
        beta.set_line(mar::update::version::Line::Beta);
        assert_eq!(beta.mar_channel_id, "firefox-mozilla-beta");
        let v = |s: &str| s.parse::<crate::release::name::Version>().unwrap();
        assert!(beta.ships(&v("132.0b3")) && beta.ships(&v("132.0")));
        assert!(!beta.ships(&v("128.5.0esr")));
        assert!(!config.ships(&v("132.0b3")) && config.ships(&v("132.0.1")));
        assert_eq!(
            beta.mar_channel_id_for(&v("132.0")),
            "firefox-mozilla-release"
        );
        assert_eq!(
            beta.mar_channel_id_for(&v("132.0b3")),
            "firefox-mozilla-beta"
        );
        beta.channel = "aurora".to_owned();
        beta.save(&path).unwrap();
        assert!(super::Config::load(&path).is_err(), "aurora is no line");
        std::fs::write(&path, "product = \"Firefox\"\nbogus = 1\n").unwrap();
        assert!(super::Config::load(&path).is_err());
    }
}
