//! Update reports and rule health guards.

use super::*;

/// Where a report belongs: the release it updated to and the rule that offered it, when known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attribution {
    /// The release whose version and buildID the report names.
    pub release: Option<String>,
    /// The rule that answers the report's from-build.
    pub rule_id: Option<i64>,
}

/// One group of stored reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportCount {
    /// The attributed rule.
    pub rule_id: Option<i64>,
    /// The version updated from.
    pub from_version: String,
    /// `result == "success"`.
    pub success: bool,
    /// The updater's error code, for failures.
    pub error_code: Option<i64>,
    /// How many reports.
    pub count: i64,
}

/// A rule's health guard: halt the rule when its release fails too often.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthGuard {
    /// The guarded rule.
    pub rule_id: i64,
    /// Reports needed before the guard may act.
    pub min_reports: i64,
    /// The failure rate the release must significantly exceed.
    pub max_failure_rate: f64,
    /// The release the failure rate is compared with (the previous release), if any.
    pub baseline_release: Option<String>,
    /// When the guard halted the rule (ms), once it has.
    pub tripped_ms: Option<i64>,
    /// Row version.
    pub data_version: i64,
}

fn health_guard_row(row: &Row) -> Result<HealthGuard> {
    Ok(HealthGuard {
        rule_id: row.get(0)?,
        min_reports: row.get(1)?,
        max_failure_rate: row.get(2)?,
        baseline_release: row.get(3)?,
        tripped_ms: row.get(4)?,
        data_version: row.get(5)?,
    })
}

impl Tx<'_> {
    /// Stores one update report, attributed to a release and rule when they are known.
    pub fn insert_report(
        &self,
        r: &crate::client::report::Report,
        attributed: &Attribution,
    ) -> Result<()> {
        self.execute(
            "INSERT INTO reports (received_ms, product, channel, build_target, locale, from_version,
                from_build_id, to_version, to_build_id, patch_type, result, error_code, release, rule_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            args![
                now_ms(), &r.product, &r.channel, &r.build_target, &r.locale, &r.from_version,
                &r.from_build_id, &r.to_version, &r.to_build_id, &r.patch_type, &r.result, r.error_code,
                &attributed.release, attributed.rule_id
            ],
        )?;
        Ok(())
    }

    /// Report counts of `release` grouped by (rule, from-version, result, error code).
    pub fn report_counts(&self, release: &str) -> Result<Vec<ReportCount>> {
        self.collect(
            "SELECT rule_id, from_version, result, error_code, COUNT(*) FROM reports
             WHERE release = ?1 GROUP BY rule_id, from_version, result, error_code",
            args![release],
            |row| {
                Ok(ReportCount {
                    rule_id: row.get(0)?,
                    from_version: row.get(1)?,
                    success: row.get::<String>(2)? == "success",
                    error_code: row.get(3)?,
                    count: row.get(4)?,
                })
            },
        )
    }

    /// Report totals by (release, result), for `/metrics`.
    pub fn report_totals(&self) -> Result<Vec<(String, String, i64)>> {
        self.collect(
            "SELECT release, result, COUNT(*) FROM reports WHERE release IS NOT NULL
             GROUP BY release, result ORDER BY release, result",
            args![],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
    }

    /// The health guard of a rule.
    pub fn health_guard(&self, rule_id: i64) -> Result<Option<HealthGuard>> {
        self.query_opt(
            "SELECT rule_id, min_reports, max_failure_rate, baseline_release, tripped_ms, data_version
             FROM health_guards WHERE rule_id = ?1",
            args![rule_id],
        )?
        .as_ref()
        .map(health_guard_row)
        .transpose()
    }

    /// Every health guard.
    pub fn health_guards(&self) -> Result<Vec<HealthGuard>> {
        self.collect(
            "SELECT rule_id, min_reports, max_failure_rate, baseline_release, tripped_ms, data_version
             FROM health_guards ORDER BY rule_id",
            args![],
            health_guard_row,
        )
    }

    /// Creates or replaces a health guard.
    pub fn put_health_guard(&self, g: &HealthGuard) -> Result<()> {
        self.execute(
            "INSERT INTO health_guards
                (rule_id, min_reports, max_failure_rate, baseline_release, tripped_ms, data_version)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(rule_id) DO UPDATE SET min_reports = ?2, max_failure_rate = ?3,
                 baseline_release = ?4, tripped_ms = ?5, data_version = ?6",
            args![
                g.rule_id,
                g.min_reports,
                g.max_failure_rate,
                &g.baseline_release,
                g.tripped_ms,
                g.data_version
            ],
        )?;
        Ok(())
    }

    /// Removes a health guard.
    pub fn delete_health_guard(&self, rule_id: i64) -> Result<()> {
        self.execute(
            "DELETE FROM health_guards WHERE rule_id = ?1",
            args![rule_id],
        )?;
        Ok(())
    }
}
