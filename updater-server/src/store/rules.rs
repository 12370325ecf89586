//! Rules: stored rows by id or alias, and their writes.

use super::*;

/// A rule row with its id and version.
#[derive(Debug, Clone, Serialize)]
pub struct StoredRule {
    /// Rule id.
    pub rule_id: i64,
    /// Row version.
    pub data_version: i64,
    /// The columns.
    #[serde(flatten)]
    pub row: RuleRow,
}

impl Tx<'_> {
    fn rule_from(r: &Row<'_>) -> rusqlite::Result<(i64, i64, String)> {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    }

    fn to_rule((rule_id, data_version, row): (i64, i64, String)) -> Result<StoredRule> {
        Ok(StoredRule {
            rule_id,
            data_version,
            row: parse_json(&row)?,
        })
    }

    /// One rule by id.
    pub fn rule(&self, rule_id: i64) -> Result<Option<StoredRule>> {
        let raw = self
            .tx
            .prepare_cached("SELECT rule_id, data_version, row FROM rules WHERE rule_id = ?1")?
            .query_row([rule_id], Self::rule_from)
            .optional()?;
        raw.map(Self::to_rule).transpose()
    }

    /// One rule by alias.
    pub fn rule_by_alias(&self, alias: &str) -> Result<Option<StoredRule>> {
        let raw = self
            .tx
            .prepare_cached("SELECT rule_id, data_version, row FROM rules WHERE alias = ?1")?
            .query_row([alias], Self::rule_from)
            .optional()?;
        raw.map(Self::to_rule).transpose()
    }

    /// Rules, optionally of one product, by id.
    pub fn rules(&self, product: Option<&str>) -> Result<Vec<StoredRule>> {
        self.collect(
            "SELECT rule_id, data_version, row FROM rules WHERE ?1 IS NULL OR product = ?1 ORDER BY rule_id",
            [product],
            Self::rule_from,
        )?
        .into_iter()
        .map(Self::to_rule)
        .collect()
    }

    /// Inserts or replaces a rule; `rule_id` `None` picks the next id. Returns the id.
    pub fn put_rule(&self, rule_id: Option<i64>, data_version: i64, row: &RuleRow) -> Result<i64> {
        self.tx.execute(
            "INSERT INTO rules (rule_id, alias, product, channel, mapping, fallback_mapping, data_version, row)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT(rule_id) DO UPDATE SET alias = ?2, product = ?3, channel = ?4, mapping = ?5,
                 fallback_mapping = ?6, data_version = ?7, row = ?8",
            params![
                rule_id,
                row.alias,
                row.product,
                row.channel,
                row.mapping,
                row.fallback_mapping,
                data_version,
                json_text(row)?
            ],
        )?;
        Ok(rule_id.unwrap_or_else(|| self.tx.last_insert_rowid()))
    }

    /// Deletes a rule.
    pub fn delete_rule(&self, rule_id: i64) -> Result<()> {
        self.tx
            .execute("DELETE FROM rules WHERE rule_id = ?1", [rule_id])?;
        Ok(())
    }
}
