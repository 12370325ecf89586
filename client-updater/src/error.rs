//! [`Error`]: why a check, download or update did not happen, and which kind of failure it is.

use std::path::PathBuf;

use crate::download::DownloadError;
use crate::signature::SignatureError;
use crate::transport::UrlRefused;
use crate::xml::XmlError;

/// The broad kind of a failure, which `kiln-client` maps to its exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The update was refused: signature, channel, version, hash, size, identity (exit 1).
    Refused,
    /// The configuration or the install's identity is unusable, or the install directory is not
    /// an install root (exit 2).
    Config,
    /// The network failed, after every URL and retry (exit 3).
    Network,
    /// Applying failed for another reason (a write error, a changed source file); the install
    /// is unchanged (exit 1).
    Failed,
}

/// Why the updater failed. Whatever the error, the install is exactly as it was.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid.
    #[error("configuration: {0}")]
    Config(String),
    /// The install's identity could not be read.
    #[error(transparent)]
    Identity(#[from] crate::identity::IdentityError),
    /// The directory given is not an install root (a directory inside a mac bundle); the error
    /// names the bundle to use. Nothing was read or written.
    #[error(transparent)]
    InstallRoot(#[from] mar::update::layout::InstallRootError),
    /// Every update URL failed; one reason per URL, in order.
    #[error("update check failed: {}", .0.join("; "))]
    CheckFailed(Vec<String>),
    /// An HTTP request failed at the transport level.
    #[error("request to {url} failed: {reason}")]
    Network {
        /// The URL.
        url: String,
        /// What happened.
        reason: String,
    },
    /// The update server answered the check with a 4xx: it understood and refused the request
    /// (exit 1). Not a network failure: the same URL is not asked again.
    #[error("{url} refused the request: HTTP {status}{}", quoted(message))]
    HttpRefused {
        /// The URL.
        url: String,
        /// The status (400–499).
        status: u16,
        /// The server's message: the start of its answer (the `detail`, `error` or `message` of
        /// a JSON body), at most [`crate::Limits::max_refusal_message_bytes`], controls removed.
        message: String,
    },
    /// A server answered with an unexpected status (a 5xx, or a 4xx while downloading).
    #[error("{url} answered HTTP {status}")]
    HttpStatus {
        /// The URL.
        url: String,
        /// The status.
        status: u16,
    },
    /// A check URL or a redirect's target broke a rule of [`crate::transport`] (credentials, https
    /// to http, another scheme); nothing was sent to it.
    #[error(transparent)]
    UrlRefused(#[from] UrlRefused),
    /// A response body exceeded [`crate::Limits::max_response_bytes`].
    #[error("response from {url} exceeds {limit} bytes")]
    ResponseTooLarge {
        /// The URL.
        url: String,
        /// The limit.
        limit: u64,
    },
    /// The response's `Content-Signature` is missing, invalid, from an unknown key or expired.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// The update XML is malformed or breaks a rule.
    #[error(transparent)]
    Xml(#[from] XmlError),
    /// A download failed (size, hash, deadline, rate, network).
    #[error(transparent)]
    Download(#[from] DownloadError),
    /// The offer says the system is no longer supported; nothing can be downloaded.
    #[error("the update server says this system is no longer supported")]
    Unsupported,
    /// The archive is not a readable MAR.
    #[error("update archive {}: {source}", path.display())]
    Archive {
        /// The archive.
        path: PathBuf,
        /// What is wrong.
        #[source]
        source: mar::Error,
    },
    /// The archive was refused or failed to apply; [`Error::code`] is Firefox's code.
    #[error(transparent)]
    Apply(#[from] mar::update::apply::ApplyError),
    /// The archive's contents are for another install (locale) than this one (22).
    #[error("archive is for another install: {0}")]
    WrongInstall(String),
    /// Swapping the staged update in failed (7); the install was rolled back.
    #[error("swapping the staged update in: {0}")]
    Swap(String),
    /// A file of the updater's own state could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Firefox's update error code (`updatererrors.h`) for a refused or failed apply, if any.
    pub fn code(&self) -> Option<u8> {
        match self {
            Error::Apply(e) => Some(e.code()),
            Error::WrongInstall(_) => Some(22),
            Error::Swap(_) => Some(7),
            Error::Archive { .. } => Some(19),
            _ => None,
        }
    }

    /// The broad kind of this failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Config(_) | Error::Identity(_) | Error::InstallRoot(_) => ErrorKind::Config,
            Error::CheckFailed(reasons) => {
                if reasons.iter().all(|r| r.starts_with("network:")) {
                    ErrorKind::Network
                } else {
                    ErrorKind::Refused
                }
            }
            Error::Network { .. } | Error::HttpStatus { .. } => ErrorKind::Network,
            Error::Download(e) if e.is_network() => ErrorKind::Network,
            Error::Apply(e) if matches!(e.code(), 19 | 21 | 22 | 23) => ErrorKind::Refused,
            Error::Apply(_) | Error::Swap(_) | Error::Io { .. } => ErrorKind::Failed,
            Error::HttpRefused { .. }
            | Error::UrlRefused(_)
            | Error::ResponseTooLarge { .. }
            | Error::Signature(_)
            | Error::Xml(_)
            | Error::Download(_)
            | Error::Unsupported
            | Error::Archive { .. }
            | Error::WrongInstall(_) => ErrorKind::Refused,
        }
    }

    /// A 4xx answer to `url`: `body` is the start of the answer, `truncated` when there was more.
    pub(crate) fn refused(url: &str, status: u16, body: &[u8], truncated: bool) -> Error {
        Error::HttpRefused {
            url: url.to_owned(),
            status,
            message: server_message(body, truncated),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }
}

fn quoted(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

/// The text a refusing server gave: a JSON body's `detail` (problem+json), `error` or `message`,
/// else the body as text; control characters (terminal escapes included) become spaces, runs of
/// whitespace one space, and `…` marks a cut.
fn server_message(body: &[u8], truncated: bool) -> String {
    let text = String::from_utf8_lossy(body);
    let field = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| {
            ["detail", "error", "message"]
                .iter()
                .find_map(|k| v.get(k).and_then(|m| m.as_str()).map(str::to_owned))
        });
    let raw = field.as_deref().unwrap_or(&text);
    let mut message = raw
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if truncated && field.is_none() {
        message.push('…');
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_quotes_the_servers_message_cleanly() {
        let problem = br#"{"detail": "Extra query parameter(s) x not in spec", "status": 400}"#;
        assert_eq!(
            server_message(problem, false),
            "Extra query parameter(s) x not in spec"
        );
        assert_eq!(server_message(br#"{"error": "no"}"#, false), "no");
        assert_eq!(
            server_message(b"bad\x1b[31m pin\r\n\tvalue", true),
            "bad [31m pin value…"
        );
        let e = Error::refused("https://u/x", 400, b"", false);
        assert_eq!(e.to_string(), "https://u/x refused the request: HTTP 400");
        assert_eq!(e.kind(), ErrorKind::Refused);
    }
}
