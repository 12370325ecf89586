//! Downloading a patch: streamed to `updates/downloading/update.mar`, resumed with HTTP `Range`,
//! cut at the advertised size (endless data), under a total deadline and a minimum rate (slow
//! retrieval), checked against the SHA-512 of the signed response, then moved to
//! `updates/0/update.mar`. Memory use is one fixed buffer; disk use never exceeds the size.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha512};

use crate::crash::kill_point;
use crate::limits::Limits;
use crate::offer::{UpdateOffer, UpdatePatch};
use crate::transport::{self, Failure, UrlRefused};

const BUFFER: usize = 64 * 1024;

/// Why a download failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DownloadError {
    /// The server sent more than the advertised size (endless data); the file was deleted.
    #[error("endless data: {url} sent more than the advertised {limit} bytes")]
    TooLarge {
        /// The URL.
        url: String,
        /// The advertised size.
        limit: u64,
    },
    /// The file's SHA-512 is not the signed one; the file was deleted.
    #[error("{url}: SHA-512 does not match the signed hashValue")]
    HashMismatch {
        /// The URL.
        url: String,
    },
    /// The attempt ran past its deadline (slow retrieval); what arrived is kept for a resume.
    #[error("slow retrieval: {url} not complete within {secs} s ({received} of {size} bytes)")]
    Deadline {
        /// The URL.
        url: String,
        /// The deadline in seconds.
        secs: u64,
        /// Bytes held so far.
        received: u64,
        /// The advertised size.
        size: u64,
    },
    /// The rate fell below the minimum (slow retrieval); what arrived is kept for a resume.
    #[error("slow retrieval: {url} at {rate} bytes/s, below the minimum {min}")]
    TooSlow {
        /// The URL.
        url: String,
        /// The measured rate.
        rate: u64,
        /// The minimum.
        min: u64,
    },
    /// The connection failed or closed early; what arrived is kept for a resume.
    #[error("downloading {url}: {reason}")]
    Network {
        /// The URL.
        url: String,
        /// What happened.
        reason: String,
    },
    /// The server answered with an unexpected status.
    #[error("{url} answered HTTP {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status.
        status: u16,
    },
    /// The patch URL, or a redirect's target, broke a rule of [`crate::transport`] (credentials,
    /// https to http, http under an https update URL); nothing was sent to it.
    #[error(transparent)]
    Refused(#[from] UrlRefused),
    /// A local file could not be written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl DownloadError {
    /// A network-side failure (retrying later may work), as opposed to a refusal.
    pub fn is_network(&self) -> bool {
        matches!(
            self,
            DownloadError::Deadline { .. }
                | DownloadError::TooSlow { .. }
                | DownloadError::Network { .. }
                | DownloadError::Status { .. }
        )
    }
}

/// A patch downloaded to `updates/0/update.mar` whose size and SHA-512 match the signed
/// response. Not yet verified: see [`crate::Updater::verify`].
#[derive(Clone, Debug)]
pub struct Downloaded {
    pub(crate) path: PathBuf,
    pub(crate) offer: UpdateOffer,
    pub(crate) patch: UpdatePatch,
}

impl Downloaded {
    /// The archive's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The offer it belongs to.
    pub fn offer(&self) -> &UpdateOffer {
        &self.offer
    }

    /// The patch it is.
    pub fn patch(&self) -> &UpdatePatch {
        &self.patch
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DownloadError + '_ {
    move |source| DownloadError::Io {
        path: path.to_owned(),
        source,
    }
}

/// What identifies a partial file, so a resume never mixes two patches.
fn marker(patch: &UpdatePatch) -> String {
    format!("{}\n{}\n{}\n", patch.url, patch.sha512, patch.size)
}

/// Downloads `patch` into `downloading/update.mar` (resuming what is there for the same patch),
/// checks it and moves it to `dest`.
pub(crate) fn fetch(
    agent: &ureq::Agent,
    patch: &UpdatePatch,
    downloading: &Path,
    dest: &Path,
    limits: &Limits,
    cancel: &AtomicBool,
    progress: &dyn Fn(u64, u64),
) -> Result<(), DownloadError> {
    fs::create_dir_all(downloading).map_err(io(downloading))?;
    let part = downloading.join("update.mar");
    let marker_path = downloading.join("patch.txt");
    let same_patch = fs::read_to_string(&marker_path).ok().as_deref() == Some(&marker(patch));
    if !same_patch {
        let _ = fs::remove_file(&part);
        fs::write(&marker_path, marker(patch)).map_err(io(&marker_path))?;
    }
    let mut held = fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
    if held > patch.size {
        fs::remove_file(&part).map_err(io(&part))?;
        held = 0;
    }
    let mut hasher = Sha512::new();
    if held > 0 {
        let mut file = File::open(&part).map_err(io(&part))?;
        let mut buf = vec![0u8; BUFFER];
        loop {
            let n = file.read(&mut buf).map_err(io(&part))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
    }
    if held < patch.size {
        held = receive(
            agent,
            patch,
            &part,
            held,
            &mut hasher,
            limits,
            cancel,
            progress,
        )?;
    }
    kill_point();
    if held != patch.size || hex::encode(hasher.finalize()) != patch.sha512 {
        let _ = fs::remove_file(&part);
        return Err(DownloadError::HashMismatch {
            url: patch.url.clone(),
        });
    }
    let dir = dest.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io(dir))?;
    fs::rename(&part, dest).map_err(io(dest))?;
    let _ = fs::remove_file(&marker_path);
    kill_point();
    Ok(())
}

/// One HTTP attempt from byte `held`; returns the bytes held afterwards.
#[allow(clippy::too_many_arguments)]
fn receive(
    agent: &ureq::Agent,
    patch: &UpdatePatch,
    part: &Path,
    mut held: u64,
    hasher: &mut Sha512,
    limits: &Limits,
    cancel: &AtomicBool,
    progress: &dyn Fn(u64, u64),
) -> Result<u64, DownloadError> {
    let url = &patch.url;
    let start = Instant::now();
    let deadline_error = |held| DownloadError::Deadline {
        url: url.clone(),
        secs: limits.download_deadline.as_secs(),
        received: held,
        size: patch.size,
    };
    let (_, response) = transport::get(agent, url, start + limits.download_deadline, held, limits)
        .map_err(|e| match e {
            Failure::Refused(e) => DownloadError::Refused(e),
            Failure::Network { .. } if start.elapsed() >= limits.download_deadline => {
                deadline_error(held)
            }
            Failure::Network { url, reason } => DownloadError::Network { url, reason },
        })?;
    let status = response.status().as_u16();
    match status {
        206 if held > 0 => {
            let range = response
                .headers()
                .get("content-range")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !range.starts_with(&format!("bytes {held}-")) {
                return Err(DownloadError::Network {
                    url: url.clone(),
                    reason: format!("unexpected Content-Range {range:?}"),
                });
            }
        }
        200 => {
            if held > 0 {
                tracing::info!(url, "server ignored Range; downloading from the start");
                held = 0;
                *hasher = Sha512::new();
                File::create(part).map_err(io(part))?;
            }
        }
        _ => {
            return Err(DownloadError::Status {
                url: url.clone(),
                status,
            })
        }
    }
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(part)
        .map_err(io(part))?;
    let mut body = response.into_body().into_reader();
    let mut buf = vec![0u8; BUFFER];
    let (mut window_start, mut window_bytes) = (Instant::now(), 0u64);
    let result = loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => n,
            Err(e) => {
                break Err(if start.elapsed() >= limits.download_deadline {
                    deadline_error(held)
                } else {
                    DownloadError::Network {
                        url: url.clone(),
                        reason: e.to_string(),
                    }
                })
            }
        };
        if held + n as u64 > patch.size {
            drop(file);
            let _ = fs::remove_file(part);
            return Err(DownloadError::TooLarge {
                url: url.clone(),
                limit: patch.size,
            });
        }
        if let Err(e) = file.write_all(&buf[..n]) {
            break Err(DownloadError::Io {
                path: part.to_owned(),
                source: e,
            });
        }
        hasher.update(&buf[..n]);
        if window_bytes == 0 && held == 0 {
            kill_point(); // mid-download: the first bytes are on disk
        }
        held += n as u64;
        window_bytes += n as u64;
        progress(held, patch.size);
        if cancel.load(Ordering::SeqCst) {
            break Err(DownloadError::Network {
                url: url.clone(),
                reason: "cancelled".to_owned(),
            });
        }
        if start.elapsed() >= limits.download_deadline {
            break Err(deadline_error(held));
        }
        let window = window_start.elapsed();
        if window >= limits.min_rate_window {
            let rate = rate(window_bytes, window);
            if rate < limits.min_rate_bytes_per_sec {
                break Err(DownloadError::TooSlow {
                    url: url.clone(),
                    rate,
                    min: limits.min_rate_bytes_per_sec,
                });
            }
            (window_start, window_bytes) = (Instant::now(), 0);
        }
    };
    file.sync_all().map_err(io(part))?;
    result?;
    if held < patch.size {
        return Err(DownloadError::Network {
            url: url.clone(),
            reason: format!("connection closed after {held} of {} bytes", patch.size),
        });
    }
    Ok(held)
}

fn rate(bytes: u64, over: Duration) -> u64 {
    let ms = over.as_millis().max(1) as u64;
    bytes.saturating_mul(1000) / ms
}
