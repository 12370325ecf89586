//! The crate's error type and its single mapping to HTTP responses.
//!
//! Every failure in the library is an [`Error`]. Its [`ResponseError`] impl is the only place where an
//! error becomes an HTTP response, and it never writes internal text (SQLite messages, I/O errors)
//! into a body: those become a generic 500 and are logged instead.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

/// Everything that can go wrong in the update server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Balrog's `BadDataError` on the client endpoint: 400 `text/plain`, message HTML-escaped.
    #[error("{0}")]
    BadData(String),
    /// A client request that fails the API's strict validation: 400 `application/problem+json`.
    #[error("{0}")]
    BadRequestProblem(String),
    /// An admin request with malformed JSON, an invalid row or blob: 400 JSON with the reason.
    #[error("{0}")]
    Invalid(String),
    /// A direct change to a product/channel that requires signoffs: 400 JSON.
    #[error("{0}")]
    SignoffRequired(String),
    /// No or unknown bearer token: 401.
    #[error("authentication required")]
    Unauthorized,
    /// The caller lacks the permission named in the message: 403.
    #[error("{0}")]
    Forbidden(String),
    /// The named object does not exist: 404.
    #[error("{0}")]
    NotFound(String),
    /// A write carried a stale (or no) `data_version`: 409 with the current one.
    #[error("{}", conflict_message(*.sent, *.current))]
    Conflict {
        /// The version the client sent, if any.
        sent: Option<i64>,
        /// The version stored now.
        current: i64,
    },
    /// The object exists already (create of an existing name/id): 409.
    #[error("{0}")]
    AlreadyExists(String),
    /// A request body above the endpoint's size cap: 413.
    #[error("{0}")]
    TooLarge(String),
    /// A client sent more than its rate allows: 429.
    #[error("{0}")]
    TooManyRequests(String),
    /// The server cannot take the request now (a full queue): 503.
    #[error("{0}")]
    Unavailable(String),
    /// SQLite failed; the text is logged, never returned.
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
    /// PostgreSQL answered with an error; the text is logged, never returned. A lost or refused
    /// connection is [`Error::Unavailable`] instead.
    #[error("database error: {0}")]
    Postgres(postgres::Error),
    /// A stored release holds data the update document cannot carry (a control character, a
    /// name that is not an attribute name, a version that is not one): evaluation answers "no
    /// update" for it and logs this, rather than failing every request for its rule.
    #[error("release cannot be served: {0}")]
    Unservable(String),
    /// Any other internal failure; the text is logged, never returned.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The message of a write refused because the database cannot be reached.
pub const DATABASE_UNAVAILABLE: &str =
    "the database is unreachable; nothing was changed, retry later";

impl From<postgres::Error> for Error {
    /// Connection failures (closed, refused, I/O, SQLSTATE class 08, or the server shutting the
    /// session down with 57P0x) become [`Error::Unavailable`] (503); the rest is a database error.
    fn from(e: postgres::Error) -> Self {
        let code = e.code().map(|c| c.code());
        let connection = e.is_closed()
            || code.is_some_and(|c| c.starts_with("08") || c.starts_with("57P0"))
            || std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
        if connection {
            tracing::warn!(error = %e, "database connection lost");
            Error::Unavailable(DATABASE_UNAVAILABLE.to_owned())
        } else {
            Error::Postgres(e)
        }
    }
}

impl From<r2d2::Error> for Error {
    /// No pooled connection within the pool's timeout: the database is unreachable (503).
    fn from(e: r2d2::Error) -> Self {
        tracing::warn!(error = %e, "no database connection");
        Error::Unavailable(DATABASE_UNAVAILABLE.to_owned())
    }
}

fn conflict_message(sent: Option<i64>, current: i64) -> String {
    match sent {
        Some(sent) => format!("data_version {sent} is stale, current data_version is {current}"),
        None => format!("data_version is required, current data_version is {current}"),
    }
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Python's `html.escape(s, quote=False)`, which Balrog applies to `BadDataError` messages.
fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

fn problem(status: StatusCode, detail: &str) -> HttpResponse {
    let body = serde_json::json!({
        "detail": detail,
        "status": status.as_u16(),
        "title": status.canonical_reason().unwrap_or(""),
        "type": "about:blank",
    });
    HttpResponse::build(status)
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        ))
        .body(body.to_string())
}

fn json_error(status: StatusCode, body: serde_json::Value) -> HttpResponse {
    HttpResponse::build(status).json(body)
}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        match self {
            Error::BadData(_)
            | Error::BadRequestProblem(_)
            | Error::Invalid(_)
            | Error::SignoffRequired(_) => StatusCode::BAD_REQUEST,
            Error::Unauthorized => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Conflict { .. } | Error::AlreadyExists(_) => StatusCode::CONFLICT,
            Error::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Database(_) | Error::Postgres(_) | Error::Unservable(_) | Error::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        match self {
            Error::BadData(msg) => HttpResponse::BadRequest()
                .insert_header((
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                ))
                .body(html_escape(msg)),
            Error::BadRequestProblem(msg) => problem(status, msg),
            Error::Unauthorized => HttpResponse::Unauthorized()
                .insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")))
                .json(serde_json::json!({ "error": self.to_string() })),
            Error::Conflict { current, .. } => json_error(
                status,
                serde_json::json!({ "error": self.to_string(), "data_version": current }),
            ),
            Error::Invalid(_)
            | Error::SignoffRequired(_)
            | Error::Forbidden(_)
            | Error::NotFound(_)
            | Error::AlreadyExists(_)
            | Error::TooLarge(_)
            | Error::TooManyRequests(_)
            | Error::Unavailable(_) => {
                json_error(status, serde_json::json!({ "error": self.to_string() }))
            }
            Error::Database(_) | Error::Postgres(_) | Error::Unservable(_) | Error::Internal(_) => {
                tracing::error!(error = %self, "internal error");
                problem(status, "The server encountered an internal error.")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escape_matches_python() {
        assert_eq!(
            html_escape("No such locale 'xx' in <p> & \"q\""),
            "No such locale 'xx' in &lt;p&gt; &amp; \"q\""
        );
    }
}
