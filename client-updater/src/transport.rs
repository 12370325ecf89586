//! The rules every check and download request follows, checked on each URL before anything is
//! sent to it:
//! - a URL carrying credentials (`user@`, `user:password@`) is refused: an HTTP client sends them
//!   as `Authorization: Basic` to whoever serves the URL, in clear over http;
//! - a redirect from https to http is refused;
//! - only `http` and `https` URLs are requested;
//! - a patch is downloaded over http only when the update URL that offered it is http itself.
//!
//! Redirects are therefore followed here, by hand (the HTTP client follows none), at most
//! [`Limits::max_redirects`] of them: a redirect loop ends there as a network failure.

use std::time::Instant;

use ureq::http::Response;
use ureq::Body;

use crate::limits::Limits;
use crate::url::{authority, has_credentials, redacted};

/// Why a URL was refused before any request was made to it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlRefused {
    /// The URL carries credentials, which would be sent to whoever serves it (in clear over
    /// http). The URL is given with them replaced by `***`.
    #[error(
        "{url}: a URL with credentials (user@ or user:password@) is refused: they would be sent \
         to whoever serves it, in clear over http"
    )]
    Credentials {
        /// The URL, credentials redacted.
        url: String,
    },
    /// An https URL redirected to an http one.
    #[error("redirect from {from} to {to} refused: https is never downgraded to http")]
    Downgrade {
        /// The https URL that redirected.
        from: String,
        /// The http URL it redirected to.
        to: String,
    },
    /// An http patch URL offered by a check that was not made over http.
    #[error(
        "{url}: an http download is refused unless the update URL that offered it is http \
         (it was {})",
        check_url.as_deref().unwrap_or("not recorded")
    )]
    InsecureDownload {
        /// The patch URL.
        url: String,
        /// The check URL that gave the offer ([`crate::UpdateOffer::check_url`]).
        check_url: Option<String>,
    },
    /// Neither `http` nor `https` (a redirect to `file:`, `ftp:`, …).
    #[error("{url}: only http and https URLs are requested")]
    Scheme {
        /// The URL.
        url: String,
    },
}

/// Why a request did not give a response.
#[derive(Debug)]
pub(crate) enum Failure {
    /// A URL (the first or a redirect's target) broke a rule; nothing was sent to it.
    Refused(UrlRefused),
    /// The transport failed, a redirect had no usable `Location`, or there were too many.
    Network {
        /// The URL being requested.
        url: String,
        /// What happened.
        reason: String,
    },
}

impl From<UrlRefused> for Failure {
    fn from(e: UrlRefused) -> Failure {
        Failure::Refused(e)
    }
}

/// The HTTP client every request uses: no automatic redirects ([`get`] follows them), HTTP
/// statuses as responses, the connect timeout of `limits`.
pub(crate) fn agent(limits: &Limits) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(limits.connect_timeout))
        .max_redirects(0)
        .user_agent(concat!("kiln-client-updater/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// Checks one URL about to be requested; `from` is the URL that redirected to it.
pub(crate) fn check_hop(from: Option<&str>, url: &str) -> Result<(), UrlRefused> {
    if authority(url).is_none() {
        return Err(UrlRefused::Scheme { url: redacted(url) });
    }
    if has_credentials(url) {
        return Err(UrlRefused::Credentials { url: redacted(url) });
    }
    if let Some(from) = from {
        if from.starts_with("https://") && url.starts_with("http://") {
            return Err(UrlRefused::Downgrade {
                from: from.to_owned(),
                to: url.to_owned(),
            });
        }
    }
    Ok(())
}

/// Checks a patch URL before it is downloaded: the rules of [`check_hop`], and http only under
/// an http update URL (`check_url`, the URL whose answer offered the patch).
pub(crate) fn check_download(url: &str, check_url: Option<&str>) -> Result<(), UrlRefused> {
    check_hop(None, url)?;
    let checked_over_http = check_url.is_some_and(|c| c.starts_with("http://"));
    if url.starts_with("http://") && !checked_over_http {
        return Err(UrlRefused::InsecureDownload {
            url: url.to_owned(),
            check_url: check_url.map(str::to_owned),
        });
    }
    Ok(())
}

/// GETs `url` (with `Range: bytes=N-` when `range_from` is N > 0), following redirects by hand:
/// each target is checked by [`check_hop`] before it is requested. Every request must end by
/// `deadline`. Returns the last URL requested and its response (a 3xx without `Location` is
/// returned as it is).
pub(crate) fn get(
    agent: &ureq::Agent,
    url: &str,
    deadline: Instant,
    range_from: u64,
    limits: &Limits,
) -> Result<(String, Response<Body>), Failure> {
    check_hop(None, url)?;
    let mut current = url.to_owned();
    let mut redirects = 0;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let mut request = agent
            .get(&current)
            .config()
            .timeout_global(Some(remaining))
            .build();
        if range_from > 0 {
            request = request.header("Range", format!("bytes={range_from}-"));
        }
        let response = request.call().map_err(|e| Failure::Network {
            url: current.clone(),
            reason: e.to_string(),
        })?;
        if !matches!(response.status().as_u16(), 301 | 302 | 303 | 307 | 308) {
            return Ok((current, response));
        }
        let Some(location) = response.headers().get("location") else {
            return Ok((current, response));
        };
        if redirects == limits.max_redirects {
            return Err(Failure::Network {
                url: url.to_owned(),
                reason: format!("more than {} redirects", limits.max_redirects),
            });
        }
        redirects += 1;
        let next = location
            .to_str()
            .ok()
            .and_then(|l| resolve(&current, l))
            .ok_or_else(|| Failure::Network {
                url: current.clone(),
                reason: format!("redirect with an unusable Location {location:?}"),
            })?;
        check_hop(Some(&current), &next)?;
        current = next;
    }
}

/// The URL a `Location` names, relative to `base` (an `http(s)` URL): absolute (its scheme
/// lowercased), scheme-relative (`//host/…`), absolute-path (`/…`), query (`?…`) or a path
/// relative to `base`'s directory. `None` for an empty or control-bearing `Location`.
fn resolve(base: &str, location: &str) -> Option<String> {
    if location.is_empty() || location.chars().any(char::is_control) {
        return None;
    }
    if let Some((scheme, rest)) = location.split_once(':') {
        let is_scheme = scheme
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if is_scheme {
            return Some(format!("{}:{rest}", scheme.to_ascii_lowercase()));
        }
    }
    let after_scheme = base.find("://")? + 3;
    if location.starts_with("//") {
        return Some(format!("{}{location}", &base[..after_scheme - 2]));
    }
    let origin = &base[..after_scheme + authority(base)?.len()];
    let path = base[origin.len()..].split(['?', '#']).next().unwrap_or("");
    let path = if path.is_empty() { "/" } else { path };
    if location.starts_with('?') {
        return Some(format!("{origin}{path}{location}"));
    }
    let (target, query) = match location.find(['?', '#']) {
        Some(i) => location.split_at(i),
        None => (location, ""),
    };
    let joined = if target.starts_with('/') {
        target.to_owned()
    } else {
        format!("{}{target}", &path[..path.rfind('/').map_or(0, |i| i + 1)])
    };
    Some(format!("{origin}{}{query}", without_dot_segments(&joined)))
}

/// An absolute path with its `.` and `..` segments applied (RFC 3986, 5.2.4); `..` above the
/// root stays at the root.
fn without_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    for (i, segment) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match *segment {
            "." | ".." => {
                if *segment == ".." {
                    out.pop();
                }
                if last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    format!("/{}", out.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_never_redirects_to_http() {
        let err = check_hop(Some("https://a/x"), "http://b/y").unwrap_err();
        assert!(matches!(err, UrlRefused::Downgrade { .. }), "{err}");
        assert!(err.to_string().contains("never downgraded"), "{err}");
        // Upgrades and same-scheme hops are followed.
        check_hop(Some("http://a/x"), "https://b/y").unwrap();
        check_hop(Some("http://a/x"), "http://b/y").unwrap();
        check_hop(Some("https://a/x"), "https://b/y").unwrap();
        // A Location written `HTTP://` is still http.
        let next = resolve("https://a/x", "HTTP://b/y").unwrap();
        assert!(check_hop(Some("https://a/x"), &next).is_err());
        // A scheme-relative Location keeps https.
        let next = resolve("https://a/x", "//b/y").unwrap();
        assert_eq!(next, "https://b/y");
        check_hop(Some("https://a/x"), &next).unwrap();
    }

    #[test]
    fn credentials_and_other_schemes_are_refused_on_every_hop() {
        for url in ["http://u:p@h/x", "https://token@h/", "http://h@evil/"] {
            let err = check_hop(None, url).unwrap_err();
            assert!(matches!(err, UrlRefused::Credentials { .. }), "{url}");
            assert!(!err.to_string().contains("u:p"), "{err}");
            assert!(check_hop(Some("http://a/"), url).is_err());
        }
        // An @ in the path or query is not userinfo.
        check_hop(None, "https://h/a@b?c=d@e").unwrap();
        for url in ["file:///etc/passwd", "ftp://h/x", "javascript:x"] {
            assert!(matches!(
                check_hop(Some("http://a/"), url),
                Err(UrlRefused::Scheme { .. })
            ));
        }
        assert_eq!(
            redacted("https://user:secret@h:8443/p?q"),
            "https://***@h:8443/p?q"
        );
    }

    #[test]
    fn http_downloads_only_under_an_http_update_url() {
        let https_check = Some("https://updates.example/update.xml");
        let http_check = Some("http://127.0.0.1:8080/update.xml");
        check_download("https://cdn.example/c.mar", https_check).unwrap();
        check_download("https://cdn.example/c.mar", http_check).unwrap();
        check_download("http://127.0.0.1:8081/c.mar", http_check).unwrap();
        for check in [https_check, None] {
            let err = check_download("http://cdn.example/c.mar", check).unwrap_err();
            assert!(matches!(err, UrlRefused::InsecureDownload { .. }), "{err}");
        }
        assert!(matches!(
            check_download("http://u:p@cdn.example/c.mar", http_check),
            Err(UrlRefused::Credentials { .. })
        ));
    }

    #[test]
    fn locations_resolve_against_the_requested_url() {
        let base = "https://a.example:8443/dir/update.xml?x=1";
        for (location, expected) in [
            ("https://b/c", "https://b/c"),
            ("//b/c", "https://b/c"),
            ("/c?d", "https://a.example:8443/c?d"),
            ("c.xml", "https://a.example:8443/dir/c.xml"),
            ("?y=2", "https://a.example:8443/dir/update.xml?y=2"),
            ("../c.xml?q=a/../b", "https://a.example:8443/c.xml?q=a/../b"),
            ("./x/./y/../z", "https://a.example:8443/dir/x/z"),
            ("../../../c", "https://a.example:8443/c"),
            ("..", "https://a.example:8443/"),
            ("/a/b/..", "https://a.example:8443/a/"),
        ] {
            assert_eq!(resolve(base, location).as_deref(), Some(expected));
        }
        assert_eq!(resolve("http://a", "c").as_deref(), Some("http://a/c"));
        assert_eq!(resolve(base, ""), None);
        assert_eq!(resolve(base, "/a\r\nb"), None);
    }
}
