//! The history of every change.

use super::*;

/// One history row: who changed what, when, and the full row after the change (`None`: deleted).
#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    /// History row id.
    pub change_id: i64,
    /// What changed (`rule`, `release`, ...).
    pub object_kind: String,
    /// Which object changed.
    pub object_key: String,
    /// Who made the change.
    pub changed_by: String,
    /// When, ms since the epoch.
    pub timestamp: i64,
    /// Row version (starts at 1, +1 per change).
    pub data_version: Option<i64>,
    /// The row (or changed columns) to apply.
    pub row: Option<Value>,
}

fn history_entry(r: &Row) -> Result<HistoryEntry> {
    Ok(HistoryEntry {
        change_id: r.get(0)?,
        object_kind: r.get(1)?,
        object_key: r.get(2)?,
        changed_by: r.get(3)?,
        timestamp: r.get(4)?,
        data_version: r.get(5)?,
        row: r
            .get::<Option<String>>(6)?
            .as_deref()
            .map(parse_json)
            .transpose()?,
    })
}

impl Tx<'_> {
    /// Appends a history row (`row` `None` records a deletion). Returns the change id.
    pub fn add_history(
        &self,
        kind: &str,
        key: &str,
        changed_by: &str,
        data_version: Option<i64>,
        row: Option<&Value>,
    ) -> Result<i64> {
        tracing::info!(
            kind,
            key,
            changed_by,
            data_version,
            deleted = row.is_none(),
            "recording change"
        );
        let row = row.map(json_text).transpose()?;
        self.query_one(
            "INSERT INTO history (object_kind, object_key, changed_by, timestamp_ms, data_version, row)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING change_id",
            args![kind, key, changed_by, now_ms(), data_version, row],
        )?
        .get(0)
    }

    /// History rows, newest first, optionally of one kind and object.
    pub fn history(
        &self,
        kind: Option<&str>,
        key: Option<&str>,
        limit: i64,
    ) -> Result<Vec<HistoryEntry>> {
        self.collect(
            "SELECT change_id, object_kind, object_key, changed_by, timestamp_ms, data_version, row FROM history
             WHERE (CAST(?1 AS TEXT) IS NULL OR object_kind = ?1) AND (CAST(?2 AS TEXT) IS NULL OR object_key = ?2)
             ORDER BY change_id DESC LIMIT ?3",
            args![kind, key, limit],
            history_entry,
        )
    }

    /// One history row.
    pub fn history_entry(&self, change_id: i64) -> Result<Option<HistoryEntry>> {
        self.query_opt(
            "SELECT change_id, object_kind, object_key, changed_by, timestamp_ms, data_version, row
             FROM history WHERE change_id = ?1",
            args![change_id],
        )?
        .as_ref()
        .map(history_entry)
        .transpose()
    }
}
