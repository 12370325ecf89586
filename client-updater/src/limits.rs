//! Every bound the updater enforces, as data with documented defaults.

use std::time::Duration;

/// Bounds on network and disk use (defeating endless data and slow retrieval).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest update response body read (default 1 MiB); a longer body is an error.
    pub max_response_bytes: u64,
    /// Most bytes of a refusing server's answer (HTTP 4xx) quoted in the error (default 512).
    pub max_refusal_message_bytes: u64,
    /// Largest archive accepted at all (default 4 GiB); each download is also capped at its
    /// patch's advertised `size`.
    pub max_archive_bytes: u64,
    /// Time allowed to connect (default 15 s).
    pub connect_timeout: Duration,
    /// Total time allowed for an update check request (default 60 s).
    pub check_timeout: Duration,
    /// Total time allowed for one download attempt (default 1 h); what was received is kept for
    /// a resumed attempt.
    pub download_deadline: Duration,
    /// Minimum average rate over each [`Limits::min_rate_window`] (default 4096 bytes/s).
    pub min_rate_bytes_per_sec: u64,
    /// Window over which the minimum rate is measured (default 30 s).
    pub min_rate_window: Duration,
    /// A signed response whose expiry lies further ahead than this is refused as clock skew or a
    /// forged lifetime (default 7 days).
    pub max_signature_lifetime: Duration,
    /// A signed response that expires this much earlier than one already accepted is refused as
    /// a replay (default 1 h).
    pub replay_tolerance: Duration,
    /// Most redirects followed by one check or download request (default 5); one more is a
    /// network failure (a redirect loop).
    pub max_redirects: u32,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_response_bytes: 1 << 20,
            max_refusal_message_bytes: 512,
            max_archive_bytes: 4 << 30,
            connect_timeout: Duration::from_secs(15),
            check_timeout: Duration::from_secs(60),
            download_deadline: Duration::from_secs(3600),
            min_rate_bytes_per_sec: 4096,
            min_rate_window: Duration::from_secs(30),
            max_signature_lifetime: Duration::from_secs(7 * 24 * 3600),
            replay_tolerance: Duration::from_secs(3600),
            max_redirects: 5,
        }
    }
}
