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
    fn rule_from(r: &Row) -> Result<StoredRule> {
        Ok(StoredRule {
            rule_id: r.get(0)?,
            data_version: r.get(1)?,
            row: parse_json(&r.get::<String>(2)?)?,
        })
    }

    /// One rule by id.
    pub fn rule(&self, rule_id: i64) -> Result<Option<StoredRule>> {
        self.query_opt(
            "SELECT rule_id, data_version, row FROM rules WHERE rule_id = ?1",
            args![rule_id],
        )?
        .as_ref()
        .map(Self::rule_from)
        .transpose()
    }

    /// One rule by alias.
    pub fn rule_by_alias(&self, alias: &str) -> Result<Option<StoredRule>> {
        self.query_opt(
            "SELECT rule_id, data_version, row FROM rules WHERE alias = ?1",
            args![alias],
        )?
        .as_ref()
        .map(Self::rule_from)
        .transpose()
    }

    /// Rules, optionally of one product, by id.
    pub fn rules(&self, product: Option<&str>) -> Result<Vec<StoredRule>> {
        self.collect(
            "SELECT rule_id, data_version, row FROM rules
             WHERE CAST(?1 AS TEXT) IS NULL OR product = ?1 ORDER BY rule_id",
            args![product],
            Self::rule_from,
        )
    }

    /// Inserts or replaces a rule; `rule_id` `None` picks the next id (one above the highest,
    /// as SQLite's rowid does; writes are serialized, so two writers never pick the same).
    /// Returns the id.
    pub fn put_rule(&self, rule_id: Option<i64>, data_version: i64, row: &RuleRow) -> Result<i64> {
        let rule_id = match rule_id {
            Some(id) => id,
            None => self
                .query_one("SELECT COALESCE(MAX(rule_id), 0) + 1 FROM rules", args![])?
                .get(0)?,
        };
        self.execute(
            "INSERT INTO rules (rule_id, alias, product, channel, mapping, fallback_mapping, data_version, row)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT(rule_id) DO UPDATE SET alias = ?2, product = ?3, channel = ?4, mapping = ?5,
                 fallback_mapping = ?6, data_version = ?7, row = ?8",
            args![
                rule_id,
                &row.alias,
                &row.product,
                &row.channel,
                &row.mapping,
                &row.fallback_mapping,
                data_version,
                json_text(row)?
            ],
        )?;
        Ok(rule_id)
    }

    /// Deletes a rule.
    pub fn delete_rule(&self, rule_id: i64) -> Result<()> {
        self.execute("DELETE FROM rules WHERE rule_id = ?1", args![rule_id])?;
        Ok(())
    }
}
