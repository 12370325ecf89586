//! Scheduled changes and their signoffs.

use super::*;

/// A scheduled change.
#[derive(Debug, Clone, Serialize)]
pub struct ScheduledChange {
    /// Scheduled change id.
    pub sc_id: i64,
    /// `rules`, `releases` or `emergency_shutoffs`.
    pub kind: String,
    /// `insert`, `update` or `delete`.
    pub change_type: String,
    /// The row (or changed columns) to apply.
    pub row: Value,
    /// The `data_version` the change was based on.
    pub base_data_version: Option<i64>,
    /// Earliest enactment time, ms since the epoch.
    pub when: Option<i64>,
    /// Who scheduled it (enacted with their permissions).
    pub scheduled_by: String,
    /// `pending`, `enacted`, `cancelled` or `failed`.
    pub state: String,
    /// Row version (starts at 1, +1 per change).
    pub data_version: i64,
    /// User → role of each signoff.
    pub signoffs: HashMap<String, String>,
}

impl Tx<'_> {
    /// Inserts a pending scheduled change; returns its id.
    pub fn insert_scheduled_change(
        &self,
        kind: &str,
        change_type: &str,
        row: &Value,
        base_data_version: Option<i64>,
        when: Option<i64>,
        scheduled_by: &str,
    ) -> Result<i64> {
        self.query_one(
            "INSERT INTO scheduled_changes (kind, change_type, row, base_data_version, when_ms, scheduled_by,
                 state, data_version, created_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', 1, ?7) RETURNING sc_id",
            args![kind, change_type, json_text(row)?, base_data_version, when, scheduled_by, now_ms()],
        )?
        .get(0)
    }

    fn sc_signoffs(&self, sc_id: i64) -> Result<HashMap<String, String>> {
        Ok(self
            .collect(
                "SELECT username, role FROM signoffs WHERE sc_id = ?1",
                args![sc_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?
            .into_iter()
            .collect())
    }

    /// Scheduled changes matching the filters, with their signoffs.
    pub fn scheduled_changes(
        &self,
        kind: Option<&str>,
        state: Option<&str>,
        sc_id: Option<i64>,
    ) -> Result<Vec<ScheduledChange>> {
        let rows = self.query(
            "SELECT sc_id, kind, change_type, row, base_data_version, when_ms, scheduled_by, state, data_version
             FROM scheduled_changes
             WHERE (CAST(?1 AS TEXT) IS NULL OR kind = ?1) AND (CAST(?2 AS TEXT) IS NULL OR state = ?2)
                 AND (CAST(?3 AS BIGINT) IS NULL OR sc_id = ?3)
             ORDER BY sc_id",
            args![kind, state, sc_id],
        )?;
        rows.iter()
            .map(|r| {
                let sc_id = r.get(0)?;
                Ok(ScheduledChange {
                    signoffs: self.sc_signoffs(sc_id)?,
                    sc_id,
                    kind: r.get(1)?,
                    change_type: r.get(2)?,
                    row: parse_json(&r.get::<String>(3)?)?,
                    base_data_version: r.get(4)?,
                    when: r.get(5)?,
                    scheduled_by: r.get(6)?,
                    state: r.get(7)?,
                    data_version: r.get(8)?,
                })
            })
            .collect()
    }

    /// Sets a scheduled change's state and bumps its data_version.
    pub fn set_scheduled_change_state(&self, sc_id: i64, state: &str) -> Result<()> {
        self.execute(
            "UPDATE scheduled_changes SET state = ?2, data_version = data_version + 1 WHERE sc_id = ?1",
            args![sc_id, state],
        )?;
        Ok(())
    }

    /// Records a signoff; returns false if the user had signed already.
    pub fn insert_signoff(&self, sc_id: i64, username: &str, role: &str) -> Result<bool> {
        Ok(self.execute(
            "INSERT INTO signoffs (sc_id, username, role) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
            args![sc_id, username, role],
        )? > 0)
    }

    /// Withdraws a signoff; returns whether it existed.
    pub fn delete_signoff(&self, sc_id: i64, username: &str) -> Result<bool> {
        Ok(self.execute(
            "DELETE FROM signoffs WHERE sc_id = ?1 AND username = ?2",
            args![sc_id, username],
        )? > 0)
    }
}
