//! [`Updater`]: the configured updater, and its steps — check, download, verify, install,
//! finish at start — plus [`Updater::update_once`], which chains them with the partial →
//! complete fallback.

use std::fs;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mar::keys::PublicKey;
use mar::update::apply::{
    accepted_channels, check_build, installed_build, installed_version, ApplyError, ApplyOptions,
};
use mar::update::compare_versions;
use mar::update::layout::{check_install_root, resource_entry, resources_dir};
use mar::{Mar, VerifiedMar, Verifier};

use crate::clock::{unix_secs, Clock, SystemClock};
use crate::config::UpdateConfig;
use crate::crash::{self, kill_point};
use crate::download::{self, DownloadError, Downloaded};
use crate::error::{Error, ErrorKind};
use crate::identity::Identity;
use crate::limits::Limits;
use crate::offer::{self, PatchType, UpdateOffer, UpdatePatch};
use crate::report::{self, Report};
use crate::signature::{ContentSignature, ResponseKey};
use crate::status::{ActiveUpdate, StatusFiles, UpdateState};
use crate::swap;
use crate::transport::{self, Failure};
use crate::url::UrlTemplate;
use crate::xml;
use mar::update::apply::ini_value;

/// The default check interval (Firefox's `app.update.interval`): 12 hours.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(43_200);

/// Builds an [`Updater`].
#[derive(Debug)]
pub struct UpdaterBuilder {
    install: PathBuf,
    update_root: Option<PathBuf>,
    urls: Vec<String>,
    response_keys: Vec<ResponseKey>,
    mar_keys: Vec<PublicKey>,
    mar_threshold: usize,
    limits: Limits,
    interval: Duration,
    jitter: Duration,
    staging: bool,
    clock: Arc<dyn Clock>,
    identity: Option<Identity>,
    channel: Option<String>,
    build_target: Option<String>,
    report_url: Option<String>,
    accept_unsigned: bool,
}

impl UpdaterBuilder {
    /// The update root (default `<install>/updates`).
    pub fn update_root(mut self, dir: &Path) -> Self {
        self.update_root = Some(dir.to_owned());
        self
    }

    /// Adds an update URL template (tried in the order added).
    pub fn url(mut self, template: &str) -> Self {
        self.urls.push(template.to_owned());
        self
    }

    /// Replaces the update URL templates.
    pub fn urls(mut self, templates: Vec<String>) -> Self {
        self.urls = templates;
        self
    }

    /// Pins a response-signing key.
    pub fn response_key(mut self, key: ResponseKey) -> Self {
        self.response_keys.push(key);
        self
    }

    /// Pins a MAR-signing key.
    pub fn mar_key(mut self, key: PublicKey) -> Self {
        self.mar_keys.push(key);
        self
    }

    /// How many distinct pinned MAR keys must have signed (default 1).
    pub fn mar_threshold(mut self, threshold: usize) -> Self {
        self.mar_threshold = threshold;
        self
    }

    /// Network and size limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Background check interval (default 43 200 s) and the random jitter added to each wait.
    pub fn check_interval(mut self, interval: Duration, jitter: Duration) -> Self {
        self.interval = interval;
        self.jitter = jitter;
        self
    }

    /// Stage updates into a copy and swap at the next start (default on), or apply in place at
    /// the next start.
    pub fn staging(mut self, on: bool) -> Self {
        self.staging = on;
        self
    }

    /// The clock (default the system's).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Uses this identity instead of reading it from the install.
    pub fn identity(mut self, identity: Identity) -> Self {
        self.identity = Some(identity);
        self
    }

    /// Overrides the channel read from `channel-prefs.js`.
    pub fn channel(mut self, channel: &str) -> Self {
        self.channel = Some(channel.to_owned());
        self
    }

    /// Overrides the build target this client was compiled for.
    pub fn build_target(mut self, target: &str) -> Self {
        self.build_target = Some(target.to_owned());
        self
    }

    /// POSTs outcomes to `url`.
    pub fn report_url(mut self, url: &str) -> Self {
        self.report_url = Some(url.to_owned());
        self
    }

    /// **Dangerous**: accepts update responses without a valid `Content-Signature`, so anyone who
    /// can alter traffic can freeze this client or replay old responses. MARs are still verified.
    pub fn dangerous_accept_unsigned_responses(mut self) -> Self {
        self.accept_unsigned = true;
        self
    }

    /// Validates the configuration; refuses a directory inside a mac bundle as the install
    /// ([`Error::InstallRoot`]).
    pub fn build(self) -> Result<Updater, Error> {
        check_install_root(&self.install)?;
        if self.urls.is_empty() {
            return Err(Error::Config("no update URL".to_owned()));
        }
        let urls = self
            .urls
            .iter()
            .map(|u| UrlTemplate::new(u))
            .collect::<Result<Vec<_>, _>>()?;
        if self.response_keys.is_empty() && !self.accept_unsigned {
            return Err(Error::Config("no pinned response-signing key".to_owned()));
        }
        if self.mar_keys.is_empty() {
            return Err(Error::Config("no pinned MAR-signing key".to_owned()));
        }
        if self.mar_threshold == 0 || self.mar_threshold > self.mar_keys.len() {
            return Err(Error::Config(format!(
                "MAR threshold {} is not within 1..={}",
                self.mar_threshold,
                self.mar_keys.len()
            )));
        }
        let update_root = self
            .update_root
            .unwrap_or_else(|| self.install.join("updates"));
        let agent = transport::agent(&self.limits);
        Ok(Updater {
            inner: Arc::new(Inner {
                status: StatusFiles::new(&update_root),
                install: self.install,
                update_root,
                urls,
                response_keys: self.response_keys,
                mar_keys: self.mar_keys,
                mar_threshold: self.mar_threshold,
                limits: self.limits,
                interval: self.interval,
                jitter: self.jitter,
                staging: self.staging,
                clock: self.clock,
                identity: self.identity,
                channel: self.channel,
                build_target: self.build_target,
                report_url: self.report_url,
                accept_unsigned: self.accept_unsigned,
                agent,
                mirror_failures: Mutex::new(Vec::new()),
                cancel: AtomicBool::new(false),
            }),
        })
    }
}

#[derive(Debug)]
struct Inner {
    install: PathBuf,
    update_root: PathBuf,
    status: StatusFiles,
    urls: Vec<UrlTemplate>,
    response_keys: Vec<ResponseKey>,
    mar_keys: Vec<PublicKey>,
    mar_threshold: usize,
    limits: Limits,
    interval: Duration,
    jitter: Duration,
    staging: bool,
    clock: Arc<dyn Clock>,
    identity: Option<Identity>,
    channel: Option<String>,
    build_target: Option<String>,
    report_url: Option<String>,
    accept_unsigned: bool,
    agent: ureq::Agent,
    mirror_failures: Mutex<Vec<String>>,
    cancel: AtomicBool,
}

/// The updater of one install. Cheap to clone (shared state).
#[derive(Clone, Debug)]
pub struct Updater {
    inner: Arc<Inner>,
}

/// An update archive whose signatures reached the threshold of pinned keys and whose product
/// information (channel, version) and identity fit the install. Only [`Updater::verify`] makes
/// one, and only this can be installed.
#[derive(Debug)]
pub struct VerifiedUpdate {
    mar: VerifiedMar<BufReader<fs::File>>,
    downloaded: Downloaded,
}

impl VerifiedUpdate {
    /// What was downloaded.
    pub fn downloaded(&self) -> &Downloaded {
        &self.downloaded
    }
}

/// What [`Updater::update_once`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The server offers nothing newer.
    NoUpdate,
    /// The server says this system is no longer supported.
    Unsupported(UpdateOffer),
    /// The update is staged (`applied`); it is swapped in at the next start.
    Staged(UpdateOffer, PatchType),
    /// The update is downloaded and verified (`pending`); it is applied at the next start.
    Pending(UpdateOffer, PatchType),
}

/// What [`Updater::finish_pending`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartOutcome {
    /// No update was waiting.
    Nothing,
    /// The update was installed; the install is now this version.
    Updated(String),
    /// The waiting update failed with this code; the install is unchanged.
    Failed(u8),
    /// The waiting update was dropped (older than the running version).
    Discarded,
}

impl Updater {
    /// A builder for the install rooted at `install`: the directory the update archives' paths
    /// are relative to (`Firefox.app` for a mac bundle, whose resources are in
    /// `Contents/Resources/`).
    pub fn builder(install: &Path) -> UpdaterBuilder {
        UpdaterBuilder {
            install: install.to_owned(),
            update_root: None,
            urls: Vec::new(),
            response_keys: Vec::new(),
            mar_keys: Vec::new(),
            mar_threshold: 1,
            limits: Limits::default(),
            interval: DEFAULT_INTERVAL,
            jitter: Duration::from_secs(600),
            staging: true,
            clock: Arc::new(SystemClock),
            identity: None,
            channel: None,
            build_target: None,
            report_url: None,
            accept_unsigned: false,
        }
    }

    /// A builder configured from the install's `kiln-update.toml` (in its resources directory);
    /// refuses a directory inside a mac bundle as the install ([`Error::InstallRoot`]).
    pub fn from_install_config(install: &Path) -> Result<UpdaterBuilder, Error> {
        check_install_root(install)?;
        Updater::from_config(install, &UpdateConfig::load(install)?)
    }

    /// A builder configured from `config`.
    pub fn from_config(install: &Path, config: &UpdateConfig) -> Result<UpdaterBuilder, Error> {
        let mut builder = Updater::builder(install).urls(config.urls.clone());
        for pem in &config.response_keys {
            builder = builder.response_key(ResponseKey::from_pem(pem.as_bytes())?);
        }
        for pem in &config.mar_keys {
            let key = PublicKey::from_bytes(pem.as_bytes(), "MAR key")
                .map_err(|e| Error::Config(e.to_string()))?;
            builder = builder.mar_key(key);
        }
        builder = builder.mar_threshold(config.mar_threshold);
        if let Some(url) = &config.report_url {
            builder = builder.report_url(url);
        }
        if let Some(channel) = &config.channel {
            builder = builder.channel(channel);
        }
        if let Some(target) = &config.build_target {
            builder = builder.build_target(target);
        }
        if let Some(staging) = config.staging {
            builder = builder.staging(staging);
        }
        if let Some(secs) = config.interval_secs {
            builder = builder.check_interval(Duration::from_secs(secs), Duration::from_secs(600));
        }
        Ok(builder)
    }

    /// The install directory.
    pub fn install_dir(&self) -> &Path {
        &self.inner.install
    }

    /// The status files.
    pub fn status(&self) -> &StatusFiles {
        &self.inner.status
    }

    /// Whether updates are staged.
    pub fn staging(&self) -> bool {
        self.inner.staging
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// Set to abandon a download in progress at its next read (background shutdown).
    pub(crate) fn cancel_flag(&self) -> &AtomicBool {
        &self.inner.cancel
    }

    pub(crate) fn interval(&self) -> (Duration, Duration) {
        (self.inner.interval, self.inner.jitter)
    }

    /// The install's identity (read afresh, so it reflects an update applied since).
    pub fn identity(&self) -> Result<Identity, Error> {
        if let Some(identity) = &self.inner.identity {
            return Ok(identity.clone());
        }
        Ok(Identity::from_install(
            &self.inner.install,
            self.inner.channel.as_deref(),
            self.inner.build_target.as_deref(),
        )?)
    }

    /// The check URLs for this install (`force` adds `force=1`).
    pub fn check_urls(&self, force: bool) -> Result<Vec<String>, Error> {
        let identity = self.identity()?;
        Ok(self
            .inner
            .urls
            .iter()
            .map(|t| t.expand(&identity, force))
            .collect())
    }

    /// The URLs that failed during the last check, with why (a bad mirror is recorded here).
    pub fn last_mirror_failures(&self) -> Vec<String> {
        self.inner
            .mirror_failures
            .lock()
            .map(|f| f.clone())
            .unwrap_or_default()
    }

    /// Checks for an update: each URL in turn until one gives a signed, valid answer.
    pub fn check(&self, force: bool) -> Result<Option<UpdateOffer>, Error> {
        let identity = self.identity()?;
        let mut failures = Vec::new();
        for template in &self.inner.urls {
            let url = template.expand(&identity, force);
            match self.check_one(&url, &identity) {
                Ok(offer) => {
                    self.set_failures(failures);
                    return Ok(offer);
                }
                Err(e) => {
                    tracing::warn!(url, error = %e, "update URL failed");
                    let kind = if e.kind() == ErrorKind::Network {
                        "network"
                    } else {
                        "refused"
                    };
                    failures.push(format!("{kind}: {url}: {e}"));
                }
            }
        }
        self.set_failures(failures.clone());
        Err(Error::CheckFailed(failures))
    }

    fn set_failures(&self, failures: Vec<String>) {
        if let Ok(mut f) = self.inner.mirror_failures.lock() {
            *f = failures;
        }
    }

    fn check_one(&self, url: &str, identity: &Identity) -> Result<Option<UpdateOffer>, Error> {
        let limits = &self.inner.limits;
        let deadline = Instant::now() + limits.check_timeout;
        let (answered, response) = transport::get(&self.inner.agent, url, deadline, 0, limits)
            .map_err(|e| match e {
                Failure::Refused(e) => Error::UrlRefused(e),
                Failure::Network { url, reason } => Error::Network { url, reason },
            })?;
        let status = response.status().as_u16();
        if (400..500).contains(&status) {
            let limit = limits.max_refusal_message_bytes;
            let mut body = Vec::new();
            // What arrived is quoted; a failure to read the rest changes nothing.
            let _ = response
                .into_body()
                .into_reader()
                .take(limit + 1)
                .read_to_end(&mut body);
            let truncated = body.len() as u64 > limit;
            body.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
            return Err(Error::refused(&answered, status, &body, truncated));
        }
        if status != 200 {
            return Err(Error::HttpStatus {
                url: answered,
                status,
            });
        }
        let signature = response
            .headers()
            .get("content-signature")
            .map(|v| v.to_str().unwrap_or("").to_owned());
        let mut body = Vec::new();
        response
            .into_body()
            .into_reader()
            .take(limits.max_response_bytes + 1)
            .read_to_end(&mut body)
            .map_err(|e| Error::Network {
                url: url.to_owned(),
                reason: e.to_string(),
            })?;
        if body.len() as u64 > limits.max_response_bytes {
            return Err(Error::ResponseTooLarge {
                url: url.to_owned(),
                limit: limits.max_response_bytes,
            });
        }
        let mut accepted_expiry = None;
        match signature {
            Some(value) => {
                let parsed = ContentSignature::parse(&value)?;
                parsed.verify(
                    &body,
                    &self.inner.response_keys,
                    self.inner.clock.now(),
                    self.inner.status.seen_expiry(),
                    limits,
                )?;
                accepted_expiry = Some(parsed.expires);
            }
            None if self.inner.accept_unsigned => {
                tracing::warn!(url, "accepting an unsigned update response (dangerous)");
            }
            None => return Err(crate::signature::SignatureError::Missing.into()),
        }
        let updates = xml::parse(&body)?;
        if let Some(expires) = accepted_expiry {
            self.inner.status.record_expiry(expires)?;
        }
        Ok(offer::select(
            &updates,
            &identity.version,
            &identity.build_id,
            limits.max_archive_bytes,
        )
        .map(|offer| UpdateOffer {
            check_url: Some(url.to_owned()),
            ..offer
        }))
    }

    /// Downloads the first patch of `offer` that can be fetched (partial, then complete), to
    /// `updates/0/update.mar`. A partial that failed before for this update is skipped.
    pub fn download(
        &self,
        offer: &UpdateOffer,
        progress: &dyn Fn(u64, u64),
    ) -> Result<Downloaded, Error> {
        if offer.unsupported {
            return Err(Error::Unsupported);
        }
        let skip_partial = self.partial_failed_before(offer);
        let mut last = None;
        for patch in &offer.patches {
            if skip_partial && patch.patch_type == PatchType::Partial {
                continue;
            }
            match self.download_patch(offer, patch, progress) {
                Ok(d) => return Ok(d),
                Err(e) => {
                    tracing::warn!(url = patch.url, error = %e, "download failed");
                    if self.resumable(&e) {
                        return Err(e); // resumed next time rather than switching patch
                    }
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or(Error::Unsupported))
    }

    /// A download cut short (deadline, rate, connection) with bytes kept: the next attempt
    /// resumes this patch with `Range` (Firefox resumes a `downloading` patch too).
    fn resumable(&self, e: &Error) -> bool {
        use crate::download::DownloadError as D;
        matches!(
            e,
            Error::Download(D::Deadline { .. } | D::TooSlow { .. } | D::Network { .. })
        ) && fs::metadata(self.inner.status.downloading().join("update.mar"))
            .is_ok_and(|m| m.len() > 0)
    }

    /// The outcome of an earlier run when this offer is already staged or pending (Firefox's
    /// `_selectPatch`: nothing to do), so it is not downloaded again.
    fn already_ready(&self, offer: &UpdateOffer) -> Option<Outcome> {
        let status = &self.inner.status;
        let active = status.active()?;
        if active.app_version != offer.app_version || active.build_id != offer.build_id {
            return None;
        }
        match status.state()? {
            UpdateState::Applied if self.inner.install.join(swap::STAGED_DIR).is_dir() => {
                Some(Outcome::Staged(offer.clone(), active.patch_type))
            }
            UpdateState::Pending if status.mar().is_file() => {
                Some(Outcome::Pending(offer.clone(), active.patch_type))
            }
            _ => None,
        }
    }

    /// When the update in `active-update.json` finished downloading.
    pub fn downloaded_at(&self) -> Option<std::time::SystemTime> {
        let secs = self.inner.status.active()?.downloaded_at?;
        Some(std::time::UNIX_EPOCH + Duration::from_secs(secs))
    }

    fn partial_failed_before(&self, offer: &UpdateOffer) -> bool {
        self.inner.status.active().is_some_and(|a| {
            a.partial_failed && a.app_version == offer.app_version && a.build_id == offer.build_id
        })
    }

    /// Downloads one patch of `offer`. Its URL is checked first ([`crate::transport`]): one with
    /// credentials, or an http one when the offer's [`UpdateOffer::check_url`] is not http, is
    /// refused before anything is requested or written.
    pub fn download_patch(
        &self,
        offer: &UpdateOffer,
        patch: &UpdatePatch,
        progress: &dyn Fn(u64, u64),
    ) -> Result<Downloaded, Error> {
        transport::check_download(&patch.url, offer.check_url.as_deref())
            .map_err(DownloadError::Refused)?;
        let identity = self.identity()?;
        let status = &self.inner.status;
        let partial_failed = self.partial_failed_before(offer);
        status.set_active(&ActiveUpdate {
            from_version: identity.version.clone(),
            from_build_id: identity.build_id.clone(),
            app_version: offer.app_version.clone(),
            display_version: offer.display_version.clone(),
            build_id: offer.build_id.clone(),
            patch_type: patch.patch_type,
            url: patch.url.clone(),
            sha512: patch.sha512.clone(),
            size: patch.size,
            prompt_wait_time: offer.prompt_wait_time,
            show_prompt: offer.show_prompt,
            downloaded_at: None,
            state: UpdateState::Downloading.to_string(),
            error_code: None,
            partial_failed,
        })?;
        status.set_state(UpdateState::Downloading)?;
        let dest = status.mar();
        let _ = fs::remove_file(&dest);
        let _ = fs::remove_dir_all(self.inner.install.join(swap::STAGED_DIR));
        download::fetch(
            &self.inner.agent,
            patch,
            &status.downloading(),
            &dest,
            &self.inner.limits,
            &self.inner.cancel,
            progress,
        )?;
        if let Some(mut active) = status.active() {
            active.downloaded_at = Some(unix_secs(self.inner.clock.now()));
            status.set_active(&active)?;
        }
        Ok(Downloaded {
            path: dest,
            offer: offer.clone(),
            patch: patch.clone(),
        })
    }

    /// Verifies a downloaded archive: signatures (threshold of pinned keys, else 19), channel
    /// (22), version (23), and that it is for this install's product, locale and build target (22).
    pub fn verify(&self, downloaded: &Downloaded) -> Result<VerifiedUpdate, Error> {
        let mar = self.verify_file(&downloaded.path)?;
        kill_point();
        Ok(VerifiedUpdate {
            mar,
            downloaded: downloaded.clone(),
        })
    }

    fn verify_file(&self, path: &Path) -> Result<VerifiedMar<BufReader<fs::File>>, Error> {
        let file = fs::File::open(path).map_err(Error::io(path))?;
        let archive = Mar::open(BufReader::new(file)).map_err(|source| Error::Archive {
            path: path.to_owned(),
            source,
        })?;
        let mut verified = Verifier::new(self.inner.mar_keys.clone())
            .with_threshold(self.inner.mar_threshold)
            .verify(archive)
            .map_err(ApplyError::Signature)?;
        self.check_product(verified.archive_mut())?;
        Ok(verified)
    }

    /// The PIB and identity checks `mar`'s apply repeats, made before anything is staged.
    fn check_product(&self, mar: &mut Mar<BufReader<fs::File>>) -> Result<(), Error> {
        let install = &self.inner.install;
        let pib = mar
            .product_info()
            .cloned()
            .ok_or(ApplyError::NoProductInfo)?;
        let accepted = accepted_channels(install);
        if !accepted.is_empty() && !accepted.iter().any(|c| c == pib.channel()) {
            return Err(ApplyError::ChannelMismatch {
                channel: pib.channel().to_owned(),
                accepted,
            }
            .into());
        }
        if let Some(installed) = installed_version(install) {
            if compare_versions(&installed, pib.version()) == std::cmp::Ordering::Greater {
                return Err(ApplyError::Downgrade {
                    installed,
                    update: pib.version().to_owned(),
                }
                .into());
            }
        }
        // Bind the archive to this install beyond the PIB: same product name, locale and build target.
        let small_entry = |mar: &mut Mar<BufReader<fs::File>>, name: &str| -> Option<String> {
            let entry = mar.entry(name)?.clone();
            let mut out = Vec::new();
            mar.entry_reader(&entry)
                .ok()?
                .take(64 * 1024)
                .read_to_end(&mut out)
                .ok()?;
            Some(String::from_utf8_lossy(&out).into_owned())
        };
        // The identity files are resources: `Contents/Resources/…` in a mac bundle's archive.
        let resources = resources_dir(install);
        let entry = |name: &str| resource_entry(install, name);
        if let (Some(theirs), Ok(ours)) = (
            small_entry(mar, &entry("update.locale")),
            fs::read_to_string(resources.join("update.locale")),
        ) {
            if theirs.trim() != ours.trim() {
                return Err(Error::WrongInstall(format!(
                    "locale {:?}, this install is {:?}",
                    theirs.trim(),
                    ours.trim()
                )));
            }
        }
        // The platform: the build target the release pipeline wrote into the archive's
        // `kiln-update.toml` must be this install's (a partial that leaves the file alone keeps it).
        if let (Some(theirs), Ok(ours)) = (
            small_entry(mar, &entry(crate::config::CONFIG_FILE)),
            UpdateConfig::load(install),
        ) {
            let theirs = UpdateConfig::from_toml(&theirs).map_err(|e| {
                Error::WrongInstall(format!("the archive's {}: {e}", crate::config::CONFIG_FILE))
            })?;
            if let (Some(a), Some(b)) = (&theirs.build_target, &ours.build_target) {
                if a != b {
                    return Err(Error::WrongInstall(format!(
                        "build target {a:?}, this install is {b:?}"
                    )));
                }
            }
        }
        if let (Some(theirs), Ok(ours)) = (
            small_entry(mar, &entry("application.ini")),
            fs::read_to_string(resources.join("application.ini")),
        ) {
            let (a, b) = (
                ini_value(&theirs, "App", "Name"),
                ini_value(&ours, "App", "Name"),
            );
            if a != b {
                return Err(Error::WrongInstall(format!(
                    "product {a:?}, this install is {b:?}"
                )));
            }
        }
        Ok(())
    }

    /// Top-level names of the install the updater keeps out of staging and swaps.
    fn keep_names(&self) -> Vec<String> {
        let mut keep = Vec::new();
        if let Ok(rel) = self.inner.update_root.strip_prefix(&self.inner.install) {
            if let Some(first) = rel.components().next() {
                keep.push(first.as_os_str().to_string_lossy().into_owned());
            }
        }
        keep
    }

    /// Installs a verified update: with staging, applies it to a copy (`applied`); without,
    /// marks it `pending`. Either way the running install is untouched until the next start.
    pub fn install(&self, mut update: VerifiedUpdate) -> Result<Outcome, Error> {
        let status = &self.inner.status;
        let offer = update.downloaded.offer.clone();
        let patch_type = update.downloaded.patch.patch_type;
        status.set_version(&offer.app_version)?;
        if !self.inner.staging {
            status.set_state(UpdateState::Pending)?;
            return Ok(Outcome::Pending(offer, patch_type));
        }
        status.set_state(UpdateState::Applying)?;
        let staged = self.inner.install.join(swap::STAGED_DIR);
        let _ = fs::remove_dir_all(&staged);
        let mut options = ApplyOptions::default()
            .staged(&staged)
            .stage_exclude(swap::STAGED_DIR)
            .stage_exclude(swap::OLD_DIR)
            .expect_build(&offer.app_version, &offer.build_id);
        for name in self.keep_names() {
            options = options.stage_exclude(&name);
        }
        crash::arm();
        match mar::update::apply(&self.inner.install, &mut update.mar, &options) {
            Ok(_) => {
                kill_point();
                status.set_state(UpdateState::Applied)?;
                Ok(Outcome::Staged(offer, patch_type))
            }
            Err(e) => {
                let _ = fs::remove_dir_all(&staged);
                let e = Error::from(e);
                self.record_failure(&e, patch_type)?;
                Err(e)
            }
        }
    }

    fn record_failure(&self, e: &Error, patch_type: PatchType) -> Result<(), Error> {
        let status = &self.inner.status;
        let download = matches!(
            e,
            Error::Download(_) | Error::Network { .. } | Error::HttpStatus { .. }
        );
        let state = if download {
            UpdateState::DownloadFailed
        } else {
            UpdateState::Failed(e.code().unwrap_or(19))
        };
        if let Some(mut active) = status.active() {
            if patch_type == PatchType::Partial && e.kind() != ErrorKind::Network {
                active.partial_failed = true;
            }
            status.set_active(&active)?;
        }
        status.set_state(state)?;
        if !download {
            let _ = fs::remove_file(status.mar());
        }
        Ok(())
    }

    /// Check, download, verify and install, with the fallback: if a partial fails to download,
    /// verify or apply, the complete is tried; if the complete fails, the error is returned and
    /// the status is `failed: N`. Reports the outcome when a report URL is set.
    pub fn update_once(&self, force: bool) -> Result<Outcome, Error> {
        let Some(offer) = self.check(force)? else {
            return Ok(Outcome::NoUpdate);
        };
        self.update_offer(&offer, &|_, _| {})
    }

    /// Download, verify and install `offer`, with the partial → complete fallback of
    /// [`Updater::update_once`].
    pub fn update_offer(
        &self,
        offer: &UpdateOffer,
        progress: &dyn Fn(u64, u64),
    ) -> Result<Outcome, Error> {
        if offer.unsupported {
            return Ok(Outcome::Unsupported(offer.clone()));
        }
        if let Some(ready) = self.already_ready(offer) {
            return Ok(ready);
        }
        let mut last = None;
        let skip_partial = self.partial_failed_before(offer);
        for patch in &offer.patches {
            if skip_partial && patch.patch_type == PatchType::Partial {
                continue;
            }
            let result = self
                .download_patch(offer, patch, progress)
                .and_then(|d| self.verify(&d))
                .and_then(|v| self.install(v));
            match result {
                // Reported when it is installed, by `finish_pending` (one report an update).
                Ok(outcome) => return Ok(outcome),
                Err(e) => {
                    tracing::warn!(patch = patch.patch_type.as_str(), error = %e, "update attempt failed");
                    self.record_failure(&e, patch.patch_type)?;
                    self.report(
                        Attempt {
                            from: None,
                            to_version: &offer.app_version,
                            to_build_id: &offer.build_id,
                            patch_type: patch.patch_type,
                        },
                        false,
                        e.code(),
                    );
                    if self.resumable(&e) {
                        return Err(e); // resumed next time rather than switching patch
                    }
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or(Error::Unsupported))
    }

    /// Reports an update's outcome once: `failure` (with the updater's error code when it has
    /// one; a download or hash failure has none) when an attempt fails, `success` when the update
    /// is installed at start. Product, channel, build target and locale are the install's.
    fn report(&self, attempt: Attempt<'_>, succeeded: bool, code: Option<u8>) {
        let Some(url) = &self.inner.report_url else {
            return;
        };
        let identity = match self.identity() {
            Ok(identity) => identity,
            Err(e) => {
                tracing::warn!(error = %e, "no report: the install's identity is unreadable");
                return;
            }
        };
        let result = if succeeded { "success" } else { "failure" };
        report::send(
            &self.inner.agent,
            url,
            &Report {
                product: identity.product,
                channel: identity.channel,
                build_target: identity.build_target,
                locale: identity.locale,
                from_version: attempt.from.map_or(identity.version, |(v, _)| v.to_owned()),
                from_build_id: attempt
                    .from
                    .map_or(identity.build_id, |(_, b)| b.to_owned()),
                to_version: attempt.to_version.to_owned(),
                to_build_id: attempt.to_build_id.to_owned(),
                patch_type: attempt.patch_type.as_str().to_owned(),
                result: result.to_owned(),
                error_code: code,
            },
        );
    }

    /// What an application runs at launch: recovers an interrupted swap or apply, then swaps in
    /// an `applied` update or applies a `pending` one in place (verifying the archive again).
    /// Afterwards the install is exactly the old or exactly the new version, and
    /// `update.status` is `succeeded` exactly when it is the new one: the swapped or applied tree
    /// must carry the offered version and build ID in its `application.ini` before it is
    /// committed, else it is rolled back and the update fails (22).
    pub fn finish_pending(&self) -> Result<StartOutcome, Error> {
        let install = &self.inner.install;
        let status = &self.inner.status;
        recover_install(install)?;
        let Some(state) = status.state() else {
            return Ok(StartOutcome::Nothing);
        };
        let Some(active) = status.active() else {
            return Ok(StartOutcome::Nothing);
        };
        if !matches!(
            state,
            UpdateState::Pending | UpdateState::Applying | UpdateState::Applied
        ) {
            return Ok(StartOutcome::Nothing);
        }
        let expected = |root: &Path| -> Result<(), Error> {
            Ok(check_build(root, &active.app_version, &active.build_id)?)
        };
        if expected(install).is_ok() {
            // A swap or apply that was interrupted after its commit was rolled forward.
            return self.succeeded(&active);
        }
        let version = installed_version(install);
        let staged = install.join(swap::STAGED_DIR);
        if state == UpdateState::Applied && staged.is_dir() {
            return match swap::swap(install, &self.keep_names(), &expected) {
                Ok(()) => self.succeeded(&active),
                Err(e) => {
                    let _ = fs::remove_dir_all(&staged);
                    self.failed(&active, &e, 7)
                }
            };
        }
        // Pending, or staging interrupted: apply in place.
        let _ = fs::remove_dir_all(&staged);
        if let (Some(update_version), Some(installed)) = (status.version(), version.as_deref()) {
            if compare_versions(installed, &update_version) == std::cmp::Ordering::Greater {
                let _ = fs::remove_file(status.mar());
                status.set_state(UpdateState::Failed(23))?;
                return Ok(StartOutcome::Discarded);
            }
        }
        let options = ApplyOptions::default().expect_build(&active.app_version, &active.build_id);
        let result = self.verify_file(&status.mar()).and_then(|mut mar| {
            status.set_state(UpdateState::Applying)?;
            crash::arm();
            mar::update::apply(install, &mut mar, &options).map_err(Error::from)
        });
        match result {
            Ok(_) => self.succeeded(&active),
            Err(e) => self.failed(&active, &e, 19),
        }
    }

    /// Records and reports a failed waiting update (`default` when the error has no code).
    fn failed(&self, active: &ActiveUpdate, e: &Error, default: u8) -> Result<StartOutcome, Error> {
        self.record_failure(e, active.patch_type)?;
        self.report(active.attempt(), false, e.code());
        Ok(StartOutcome::Failed(e.code().unwrap_or(default)))
    }

    /// `succeeded`, with the version read back from the installed tree, which must be the
    /// update's version and build ID (else it is a failure, 22).
    fn succeeded(&self, active: &ActiveUpdate) -> Result<StartOutcome, Error> {
        let install = &self.inner.install;
        if let Err(e) = check_build(install, &active.app_version, &active.build_id) {
            return self.failed(active, &Error::from(e), 22);
        }
        let status = &self.inner.status;
        status.set_state(UpdateState::Succeeded)?;
        let _ = fs::remove_file(status.mar());
        self.report(active.attempt(), true, None);
        let installed = installed_build(install).version;
        Ok(StartOutcome::Updated(
            installed.unwrap_or_else(|| active.app_version.clone()),
        ))
    }
}

/// The update an outcome is reported for.
#[derive(Debug, Clone, Copy)]
struct Attempt<'a> {
    /// The version and build ID updated from, when the install no longer shows them.
    from: Option<(&'a str, &'a str)>,
    to_version: &'a str,
    to_build_id: &'a str,
    patch_type: PatchType,
}

impl ActiveUpdate {
    fn attempt(&self) -> Attempt<'_> {
        Attempt {
            from: Some((&self.from_version, &self.from_build_id)),
            to_version: &self.app_version,
            to_build_id: &self.build_id,
            patch_type: self.patch_type,
        }
    }
}

/// Finishes or undoes an interrupted swap or apply, so the install is exactly old or exactly
/// new. Needs no configuration (an interrupted swap may have moved `kiln-update.toml` aside), so
/// a host runs it first at launch; [`Updater::finish_pending`] runs it too. Refuses a directory
/// inside a mac bundle ([`Error::InstallRoot`]) before touching anything.
pub fn recover_install(install: &Path) -> Result<(), Error> {
    check_install_root(install)?;
    swap::recover(install)?;
    crash::arm();
    mar::update::recover(install)?;
    Ok(())
}
