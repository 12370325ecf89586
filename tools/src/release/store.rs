//! The artifact store: where candidates, releases, logs, the baked inputs and the diff cache live
//! when the pipeline spans machines. `[store] url` unset keeps everything in the local `root` and
//! `work_dir` (one machine, or a shared filesystem); `url = "s3://bucket/prefix"` makes an
//! S3-compatible bucket the place every host publishes to and fetches from, through Apache
//! Arrow's `object_store` client (retries with backoff on 5xx and timeouts, multipart uploads for
//! large files, server-side copies).
//!
//! Local directories stay the working copy: a process writes under `root`/`work_dir` as before
//! and [`Store::publish`] uploads what it made; another host [`Store::pull`]s a prefix before it
//! reads. Every object carries its SHA-256 as metadata (`x-amz-meta-sha256`), and S3 checks each
//! upload's own SHA-256 checksum; an upload is confirmed by reading back the object's size and
//! digest, and a download is hashed as it is written and refused unless it matches.
//!
//! Keys mirror the local layout: a path under `root` keeps its relative path (`candidates/…`,
//! `releases/…`, `logs/…`), a path under `work_dir` gets `work/` in front.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::buffered::BufWriter;
use object_store::path::Path as ObjectPath;
use object_store::{
    Attribute, Attributes, BackoffConfig, ClientOptions, GetOptions, ObjectStore, ObjectStoreExt,
    RetryConfig,
};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::release::config::Config;

/// A store error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// `[store]` is not usable.
    #[error("[store]: {0}")]
    Config(String),
    /// The object store refused or failed (after its retries).
    #[error("object store: {0}")]
    Remote(#[from] object_store::Error),
    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// An object's bytes or size do not match what was uploaded or recorded.
    #[error("{key}: {what}")]
    Mismatch {
        /// The object.
        key: String,
        /// What differs.
        what: String,
    },
}

type Result<T> = std::result::Result<T, StoreError>;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The metadata key holding an object's SHA-256.
const DIGEST: &str = "sha256";

/// Files from this size on are uploaded in parts.
const PART_SIZE: usize = 8 << 20;

/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the client keeps retrying a request that fails with a 5xx, a timeout or a broken
/// connection (with exponential backoff up to 15 s between tries) before the operation fails.
const RETRY_FOR: Duration = Duration::from_secs(180);

/// The remote side: the bucket, the key prefix and the runtime its client runs on.
struct Remote {
    url: String,
    bucket: Arc<AmazonS3>,
    prefix: String,
    runtime: tokio::runtime::Runtime,
}

/// Where artifacts are published: only locally, or also to an S3-compatible bucket.
pub struct Store {
    root: PathBuf,
    work_dir: PathBuf,
    remote: Option<Remote>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("root", &self.root)
            .field("remote", &self.remote.as_ref().map(|r| &r.url))
            .finish()
    }
}

impl Store {
    /// The store `config` names (`[store] url`; credentials from the standard AWS environment
    /// variables: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, …).
    pub fn open(config: &Config) -> Result<Store> {
        let remote = match &config.store.url {
            None => None,
            Some(url) => Some(Remote::open(
                url,
                config.store.endpoint.as_deref(),
                config.store.region.as_deref(),
            )?),
        };
        Ok(Store {
            root: config.root.clone(),
            work_dir: config.work_dir.clone(),
            remote,
        })
    }

    /// Whether artifacts go to a bucket (else they stay in the local directories).
    pub fn is_remote(&self) -> bool {
        self.remote.is_some()
    }

    /// The key of a local path under `root` or `work_dir`.
    pub fn key_of(&self, path: &Path) -> Result<String> {
        let relative = |base: &Path, prefix: &str| {
            path.strip_prefix(base)
                .ok()
                .map(|rel| format!("{prefix}{}", rel.to_string_lossy().replace('\\', "/")))
        };
        // work_dir may live under root (or the other way round): the longer base wins.
        let mut candidates = [
            (self.work_dir.as_path(), "work/"),
            (self.root.as_path(), ""),
        ];
        candidates.sort_by_key(|(base, _)| std::cmp::Reverse(base.as_os_str().len()));
        candidates
            .iter()
            .find_map(|(base, prefix)| relative(base, prefix))
            .ok_or_else(|| {
                StoreError::Config(format!(
                    "{} is under neither root nor work_dir",
                    path.display()
                ))
            })
    }

    /// The local path of `key`.
    pub fn path_of(&self, key: &str) -> PathBuf {
        match key.strip_prefix("work/") {
            Some(rest) => self.work_dir.join(rest),
            None => self.root.join(key),
        }
    }

    /// Uploads `path` (a file under `root` or `work_dir`) unless the bucket already holds the
    /// same bytes; confirms the upload by reading back the object's size and digest. Returns
    /// whether it uploaded. A local-only store does nothing.
    pub fn publish(&self, path: &Path) -> Result<bool> {
        if self.remote.is_none() {
            return Ok(false);
        }
        let sha256 = crate::release::items::sha256_file(path).map_err(io(path))?;
        self.publish_hashed(path, &sha256)
    }

    /// [`Store::publish`] of a file whose SHA-256 the caller has just computed.
    fn publish_hashed(&self, path: &Path, sha256: &str) -> Result<bool> {
        let Some(remote) = &self.remote else {
            return Ok(false);
        };
        let key = self.key_of(path)?;
        let size = std::fs::metadata(path).map_err(io(path))?.len();
        if remote
            .digest(&key)?
            .is_some_and(|(s, d)| s == size && d == sha256)
        {
            return Ok(false);
        }
        remote.upload(&key, path, sha256)?;
        match remote.digest(&key)? {
            Some((s, d)) if s == size && d == sha256 => Ok(true),
            other => Err(StoreError::Mismatch {
                key,
                what: format!(
                    "uploaded {size} bytes with SHA-256 {sha256}, the bucket holds {other:?}"
                ),
            }),
        }
    }

    /// Publishes `path`, whose SHA-256 is `sha256` (the digest its item records), and its
    /// detached signatures (`.sig`, `.asc`) when they exist.
    pub fn publish_with_signatures(&self, path: &Path, sha256: &str) -> Result<()> {
        self.publish_hashed(path, sha256)?;
        for extension in ["sig", "asc"] {
            let mut name = path.as_os_str().to_owned();
            name.push(".");
            name.push(extension);
            let companion = PathBuf::from(name);
            if companion.is_file() {
                self.publish(&companion)?;
            }
        }
        Ok(())
    }

    /// Publishes every file under `dir` (a directory under `root` or `work_dir`) that the bucket
    /// lacks or holds other bytes of. Returns how many it uploaded.
    pub fn publish_dir(&self, dir: &Path) -> Result<usize> {
        if self.remote.is_none() || !dir.is_dir() {
            return Ok(0);
        }
        let mut uploaded = 0;
        for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
            let entry = entry.map_err(|e| StoreError::Io {
                path: dir.to_owned(),
                source: e.into(),
            })?;
            let name = entry.file_name().to_string_lossy();
            if entry.file_type().is_file() && !crate::release::stages::is_stale_temporary(&name) {
                uploaded += usize::from(self.publish(entry.path())?);
            }
        }
        Ok(uploaded)
    }

    /// Fetches `path` (and its `.sig` when the bucket has one) unless the local file already
    /// holds the bucket's bytes; each download is verified against its recorded digest. A
    /// local-only store does nothing.
    pub fn fetch_with_signature(&self, path: &Path) -> Result<()> {
        let Some(remote) = &self.remote else {
            return Ok(());
        };
        let mut signature = path.as_os_str().to_owned();
        signature.push(".sig");
        for local in [path.to_owned(), PathBuf::from(signature)] {
            let key = self.key_of(&local)?;
            let Some((size, digest)) = remote.digest(&key)? else {
                continue;
            };
            let current = std::fs::metadata(&local).is_ok_and(|m| m.len() == size)
                && crate::release::items::sha256_file(&local).is_ok_and(|sha| sha == digest);
            if !current {
                remote.download(&key, &local)?;
            }
        }
        Ok(())
    }

    /// Fetches every object under the key of `dir` that is missing locally or whose local bytes
    /// differ, each verified against its recorded digest. Returns how many it downloaded.
    pub fn pull(&self, dir: &Path) -> Result<usize> {
        let Some(remote) = &self.remote else {
            return Ok(0);
        };
        let prefix = self.key_of(dir)?;
        let mut downloaded = 0;
        for (key, size) in remote.list(&prefix)? {
            let local = self.path_of(&key);
            let same_size = std::fs::metadata(&local).is_ok_and(|m| m.len() == size);
            if same_size {
                let local_sha = crate::release::items::sha256_file(&local).map_err(io(&local))?;
                if remote.digest(&key)?.is_some_and(|(_, d)| d == local_sha) {
                    continue;
                }
            }
            remote.download(&key, &local)?;
            downloaded += 1;
        }
        Ok(downloaded)
    }

    /// Copies `from` to `to` (both under `root`) inside the bucket, without the bytes passing
    /// through this machine; the copy keeps the digest metadata, which is checked after.
    pub fn copy(&self, from: &Path, to: &Path) -> Result<()> {
        let Some(remote) = &self.remote else {
            return Ok(());
        };
        let (from, to) = (self.key_of(from)?, self.key_of(to)?);
        let source = remote.digest(&from)?;
        remote
            .runtime
            .block_on(remote.bucket.copy(&remote.path(&from), &remote.path(&to)))?;
        let copied = remote.digest(&to)?;
        if source.is_none() || copied != source {
            return Err(StoreError::Mismatch {
                key: to,
                what: format!("the copy holds {copied:?}, its source {source:?}"),
            });
        }
        Ok(())
    }
}

impl Remote {
    fn open(url: &str, endpoint: Option<&str>, region: Option<&str>) -> Result<Remote> {
        let rest = url.strip_prefix("s3://").ok_or_else(|| {
            StoreError::Config(format!("url {url:?}: expected s3://bucket[/prefix]"))
        })?;
        let (bucket_name, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket_name.is_empty() {
            return Err(StoreError::Config(format!("url {url:?} names no bucket")));
        }
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(bucket_name)
            .with_checksum_algorithm(object_store::aws::Checksum::SHA256)
            .with_retry(RetryConfig {
                backoff: BackoffConfig::default(),
                // The time bound is the limit, not the count.
                max_retries: 1_000,
                retry_timeout: RETRY_FOR,
            })
            .with_client_options(
                ClientOptions::new()
                    .with_timeout(REQUEST_TIMEOUT)
                    .with_connect_timeout(Duration::from_secs(5)),
            );
        if let Some(endpoint) = endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        if let Some(region) = region {
            builder = builder.with_region(region);
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| StoreError::Config(format!("cannot start the store's runtime: {e}")))?;
        Ok(Remote {
            url: url.to_owned(),
            bucket: Arc::new(builder.build()?),
            prefix: prefix.trim_matches('/').to_owned(),
            runtime,
        })
    }

    fn path(&self, key: &str) -> ObjectPath {
        if self.prefix.is_empty() {
            ObjectPath::from(key)
        } else {
            ObjectPath::from(format!("{}/{key}", self.prefix))
        }
    }

    /// The key of an object path (its prefix removed).
    fn key(&self, path: &ObjectPath) -> String {
        let full = path.as_ref();
        if self.prefix.is_empty() {
            full.to_owned()
        } else {
            full.strip_prefix(&format!("{}/", self.prefix))
                .unwrap_or(full)
                .to_owned()
        }
    }

    /// The object's size and recorded SHA-256, or `None` when there is no such object.
    fn digest(&self, key: &str) -> Result<Option<(u64, String)>> {
        let head = self.runtime.block_on(self.bucket.get_opts(
            &self.path(key),
            GetOptions {
                head: true,
                ..GetOptions::default()
            },
        ));
        match head {
            Ok(result) => Ok(Some((
                result.meta.size,
                result
                    .attributes
                    .get(&Attribute::Metadata(DIGEST.into()))
                    .map(|v| v.to_string())
                    .unwrap_or_default(),
            ))),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Streams `path` to `key` (in parts from [`PART_SIZE`] on), with its digest as metadata.
    fn upload(&self, key: &str, path: &Path, sha256: &str) -> Result<()> {
        let mut attributes = Attributes::new();
        attributes.insert(Attribute::Metadata(DIGEST.into()), sha256.to_owned().into());
        let target = self.path(key);
        self.runtime.block_on(async {
            let mut file = tokio::fs::File::open(path).await.map_err(io(path))?;
            let mut writer = BufWriter::with_capacity(self.bucket.clone(), target, PART_SIZE)
                .with_attributes(attributes);
            let mut buffer = vec![0u8; 1 << 20];
            loop {
                let n = file.read(&mut buffer).await.map_err(io(path))?;
                if n == 0 {
                    break;
                }
                if let Err(e) = writer.write_all(&buffer[..n]).await {
                    let _ = writer.abort().await;
                    return Err(io(path)(e));
                }
            }
            writer.shutdown().await.map_err(io(path))
        })?;
        tracing::debug!(key, "uploaded");
        Ok(())
    }

    /// Downloads `key` to `local` through a temporary file beside it, hashing the bytes; the
    /// file appears only if they match the object's recorded digest.
    fn download(&self, key: &str, local: &Path) -> Result<()> {
        let parent = local.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(io(parent))?;
        let temp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(parent)
            .map_err(io(parent))?;
        let (expected, actual) = self.runtime.block_on(async {
            let result = self.bucket.get(&self.path(key)).await?;
            let expected = result
                .attributes
                .get(&Attribute::Metadata(DIGEST.into()))
                .map(|v| v.to_string());
            let mut file = tokio::fs::File::from_std(temp.reopen().map_err(io(local))?);
            let mut hasher = Sha256::new();
            let mut stream = result.into_stream();
            while let Some(chunk) = stream.try_next().await? {
                hasher.update(&chunk);
                file.write_all(&chunk).await.map_err(io(local))?;
            }
            file.flush().await.map_err(io(local))?;
            Ok::<_, StoreError>((expected, hex::encode(hasher.finalize())))
        })?;
        match expected {
            Some(expected) if expected == actual => {}
            other => {
                return Err(StoreError::Mismatch {
                    key: key.to_owned(),
                    what: format!("downloaded bytes have SHA-256 {actual}, recorded {other:?}"),
                })
            }
        }
        // Published files are world-readable, as the ones written here are (a temporary file
        // starts at 0600, and a bucket keeps no modes).
        #[cfg(unix)]
        std::fs::set_permissions(
            temp.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o644),
        )
        .map_err(io(local))?;
        temp.persist(local).map_err(|e| io(local)(e.error))?;
        Ok(())
    }

    /// Every object under `prefix`, `(key, size)`.
    fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>> {
        let path = self.path(prefix);
        let objects: Vec<object_store::ObjectMeta> = self
            .runtime
            .block_on(self.bucket.list(Some(&path)).try_collect())?;
        Ok(objects
            .iter()
            .map(|meta| (self.key(&meta.location), meta.size))
            .collect())
    }
}
