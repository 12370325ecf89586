//! Releases: rows, summaries, the rules and pins that reference them.

use super::*;

/// A release row.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseRow {
    /// Release name.
    pub name: String,
    /// Product.
    pub product: String,
    /// Read-only releases cannot be changed or deleted.
    pub read_only: bool,
    /// Row version.
    pub data_version: i64,
    /// The blob as stored.
    pub blob: Value,
}

/// A release without its blob, for listings.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseSummary {
    /// Release name.
    pub name: String,
    /// Product.
    pub product: String,
    /// Read-only flag.
    pub read_only: bool,
    /// Row version.
    pub data_version: i64,
}

fn release_summary(r: &Row) -> Result<ReleaseSummary> {
    Ok(ReleaseSummary {
        name: r.get(0)?,
        product: r.get(1)?,
        read_only: r.get(2)?,
        data_version: r.get(3)?,
    })
}

impl Tx<'_> {
    /// One release.
    pub fn release(&self, name: &str) -> Result<Option<ReleaseRow>> {
        self.query_opt(
            "SELECT name, product, read_only, data_version, blob FROM releases WHERE name = ?1",
            args![name],
        )?
        .map(|r| {
            Ok(ReleaseRow {
                name: r.get(0)?,
                product: r.get(1)?,
                read_only: r.get(2)?,
                data_version: r.get(3)?,
                blob: parse_json(&r.get::<String>(4)?)?,
            })
        })
        .transpose()
    }

    /// Releases, optionally of one product, by name.
    pub fn releases(&self, product: Option<&str>) -> Result<Vec<ReleaseSummary>> {
        self.collect(
            "SELECT name, product, read_only, data_version FROM releases
             WHERE CAST(?1 AS TEXT) IS NULL OR product = ?1 ORDER BY name",
            args![product],
            release_summary,
        )
    }

    /// Inserts or replaces a release row.
    pub fn put_release(&self, row: &ReleaseRow) -> Result<()> {
        self.execute(
            "INSERT INTO releases (name, product, read_only, data_version, blob) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(name) DO UPDATE SET product = ?2, read_only = ?3, data_version = ?4, blob = ?5",
            args![&row.name, &row.product, row.read_only, row.data_version, json_text(&row.blob)?],
        )?;
        Ok(())
    }

    /// Deletes a release row.
    pub fn delete_release(&self, name: &str) -> Result<()> {
        self.execute("DELETE FROM releases WHERE name = ?1", args![name])?;
        Ok(())
    }

    /// Ids of rules whose mapping or fallbackMapping is `name`.
    pub fn rules_mapping(&self, name: &str) -> Result<Vec<i64>> {
        self.collect(
            "SELECT rule_id FROM rules WHERE mapping = ?1 OR fallback_mapping = ?1 ORDER BY rule_id",
            args![name],
            |r| r.get(0),
        )
    }
}
