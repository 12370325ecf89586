//! Reporting an attempt's outcome: a JSON `POST` to the configured report URL. Failures to report
//! are logged, never fatal.

use std::time::Duration;

use serde::Serialize;

/// What is reported after an attempt: the body of the update server's `POST /api/v1/reports`
/// (`docs/updater-server.md`), which attributes it to the release and rule that served it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The product (`[App] Name`).
    pub product: String,
    /// The update channel the install checks.
    pub channel: String,
    /// The install's build target (`%BUILD_TARGET%`).
    pub build_target: String,
    /// The install's locale.
    pub locale: String,
    /// The version before the update.
    pub from_version: String,
    /// The build ID before the update.
    pub from_build_id: String,
    /// The offered version.
    pub to_version: String,
    /// The offered build ID.
    pub to_build_id: String,
    /// `complete` or `partial`.
    pub patch_type: String,
    /// `success` (downloaded, verified and staged or pending) or `failure`.
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
