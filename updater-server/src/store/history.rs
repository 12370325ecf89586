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
        self.tx.execute(
            "INSERT INTO history (object_kind, object_key, changed_by, timestamp_ms, data_version, row)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![kind, key, changed_by, now_ms(), data_version, row],
        )?;
        Ok(self.tx.last_insert_rowid())
    }

    /// History rows, newest first, optionally of one kind and object.
    pub fn history(
        &self,
        kind: Option<&str>,
        key: Option<&str>,
        limit: i64,
    ) -> Result<Vec<HistoryEntry>> {
        type Raw = (
            i64,
            String,
            String,
            String,
            i64,
            Option<i64>,
            Option<String>,
        );
        let raws: Vec<Raw> = self.collect(
            "SELECT change_id, object_kind, object_key, changed_by, timestamp_ms, data_version, row FROM history
             WHERE (?1 IS NULL OR object_kind = ?1) AND (?2 IS NULL OR object_key = ?2)
             ORDER BY change_id DESC LIMIT ?3",
            params![kind, key, limit],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)),
        )?;
        raws.into_iter()
            .map(
                |(change_id, object_kind, object_key, changed_by, timestamp, data_version, row)| {
                    Ok(HistoryEntry {
                        change_id,
                        object_kind,
                        object_key,
                        changed_by,
                        timestamp,
                        data_version,
                        row: row.as_deref().map(parse_json).transpose()?,
                    })
                },
            )
            .collect()
    }

    /// One history row.
    pub fn history_entry(&self, change_id: i64) -> Result<Option<HistoryEntry>> {
        let raw = self
            .tx
            .query_row(
                "SELECT object_kind, object_key, changed_by, timestamp_ms, data_version, row FROM history WHERE change_id = ?1",
                [change_id],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, Option<i64>>(4)?,
                        r.get::<_, Option<String>>(5)?,
                    ))
                },
            )
            .optional()?;
        raw.map(
            |(object_kind, object_key, changed_by, timestamp, data_version, row)| {
                Ok(HistoryEntry {
                    change_id,
                    object_kind,
                    object_key,
                    changed_by,
                    timestamp,
                    data_version,
                    row: row.as_deref().map(parse_json).transpose()?,
                })
            },
        )
        .transpose()
    }
}
