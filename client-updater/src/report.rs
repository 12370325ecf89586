//! Reporting an attempt's outcome: a JSON `POST` to the configured report URL. Failures to report
//! are logged, never fatal.

use std::time::Duration;

use serde::Serialize;

/// What is reported after an attempt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The version before the update.
    pub from_version: String,
    /// The build before the update.
    pub from_build: String,
    /// The offered version.
    pub to_version: String,
    /// The offered build.
    pub to_build: String,
    /// `complete` or `partial`.
    pub patch_type: String,
    /// `succeeded`, `staged`, `pending` or `failed`.
    pub result: String,
    /// Firefox's error code of a failure.
    pub error_code: Option<u8>,
}

/// POSTs `report` to `url` (10 s timeout); logs and returns `false` on any failure.
pub fn send(agent: &ureq::Agent, url: &str, report: &Report) -> bool {
    let body = serde_json::to_string(report).expect("serializable");
    let result = agent
        .post(url)
        .config()
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .header("Content-Type", "application/json")
        .send(body.as_bytes());
    match result {
        Ok(response) if response.status().is_success() => true,
        Ok(response) => {
            tracing::warn!(
                url,
                status = response.status().as_u16(),
                "update report refused"
            );
            false
        }
        Err(e) => {
            tracing::warn!(url, error = %e, "update report failed");
            false
        }
    }
}
