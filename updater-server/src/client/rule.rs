//! Rules: the stored row (Balrog's column names) and its compiled, match-ready form.

use serde::{Deserialize, Serialize};

use crate::client::matching::{
    compile_versions, match_channel, match_tristate, BuildIdCmp, CsvSet, MemoryCmp, OsVersionExpr,
    VersionTerm,
};
use crate::client::query::UpdateQuery;
use crate::client::version::InvalidVersion;

/// Balrog's `update_type` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpdateType {
    /// `minor`
    Minor,
    /// `major`
    Major,
}

impl UpdateType {
    /// The attribute value written into `<update type="…">`.
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateType::Minor => "minor",
            UpdateType::Major => "major",
        }
    }
}

/// A rule's columns, as stored and as exchanged by the admin API (without `rule_id` and
/// `data_version`, which the store owns). `None` in a matchable column is a wildcard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleRow {
    /// Balrog's `alias`.
    #[serde(default)]
    pub alias: Option<String>,
    /// Balrog's `priority`.
    pub priority: i64,
    /// Balrog's `mapping`.
    #[serde(default)]
    pub mapping: Option<String>,
    /// Balrog's `fallbackMapping`.
    #[serde(default, rename = "fallbackMapping")]
    pub fallback_mapping: Option<String>,
    /// Balrog's `backgroundRate`.
    #[serde(rename = "backgroundRate")]
    pub background_rate: i64,
    /// Balrog's `update_type`.
    pub update_type: UpdateType,
    /// Balrog's `product`.
    #[serde(default)]
    pub product: Option<String>,
    /// Balrog's `version`.
    #[serde(default)]
    pub version: Option<String>,
    /// Balrog's `channel`.
    #[serde(default)]
    pub channel: Option<String>,
    /// Balrog's `buildTarget`.
    #[serde(default, rename = "buildTarget")]
    pub build_target: Option<String>,
    /// Balrog's `buildID`.
    #[serde(default, rename = "buildID")]
    pub build_id: Option<String>,
    /// Balrog's `locale`.
    #[serde(default)]
    pub locale: Option<String>,
    /// Balrog's `osVersion`.
    #[serde(default, rename = "osVersion")]
    pub os_version: Option<String>,
    /// Balrog's `memory`.
    #[serde(default)]
    pub memory: Option<String>,
    /// Balrog's `instructionSet`.
    #[serde(default, rename = "instructionSet")]
    pub instruction_set: Option<String>,
    /// Balrog's `jaws`.
    #[serde(default)]
    pub jaws: Option<bool>,
    /// Balrog's `mig64`.
    #[serde(default)]
    pub mig64: Option<bool>,
    /// Balrog's `distribution`.
    #[serde(default)]
    pub distribution: Option<String>,
    /// Balrog's `distVersion`.
    #[serde(default, rename = "distVersion")]
    pub dist_version: Option<String>,
    /// Balrog's `headerArchitecture`.
    #[serde(default, rename = "headerArchitecture")]
    pub header_architecture: Option<String>,
    /// Balrog's `comment`.
    #[serde(default)]
    pub comment: Option<String>,
}

/// The column names a rule row may carry, in Balrog's spelling.
pub const RULE_COLUMNS: &[&str] = &[
    "alias",
    "priority",
    "mapping",
    "fallbackMapping",
    "backgroundRate",
    "update_type",
    "product",
    "version",
    "channel",
    "buildTarget",
    "buildID",
    "locale",
    "osVersion",
    "memory",
    "instructionSet",
    "jaws",
    "mig64",
    "distribution",
    "distVersion",
    "headerArchitecture",
    "comment",
];

/// Is `alias` usable in place of a rule id (`^[a-zA-Z][a-zA-Z0-9-]*$`, at most 50 characters)?
pub fn valid_alias(alias: &str) -> bool {
    let mut chars = alias.chars();
    alias.len() <= 50
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// A rule ready for the hot path: every expression column is parsed once, when the snapshot is built.
#[derive(Debug, Clone)]
pub struct CompiledRule {
    /// The rule's id.
    pub rule_id: i64,
    /// The rule's `data_version`.
    pub data_version: i64,
    /// The stored columns.
    pub row: RuleRow,
    version: Option<Vec<VersionTerm>>,
    build_id: Option<BuildIdCmp>,
    memory: Option<MemoryCmp>,
    os_version: Option<OsVersionExpr>,
    instruction_set: Option<CsvSet>,
    distribution: Option<CsvSet>,
    locale: Option<CsvSet>,
}

impl CompiledRule {
    /// Validates `row` and compiles its expressions; the error names the offending column.
    pub fn compile(rule_id: i64, data_version: i64, row: RuleRow) -> Result<Self, String> {
        if let Some(alias) = &row.alias {
            if !valid_alias(alias) {
                return Err(format!(
                    "alias '{alias}' must match ^[a-zA-Z][a-zA-Z0-9-]*$ (at most 50 characters)"
                ));
            }
        }
        if !(0..=100).contains(&row.background_rate) {
            return Err(format!(
                "backgroundRate must be between 0 and 100, got {}",
                row.background_rate
            ));
        }
        if row.fallback_mapping.is_some() && row.mapping.is_none() {
            return Err("fallbackMapping needs a mapping".to_owned());
        }
        Ok(CompiledRule {
            rule_id,
            data_version,
            version: row.version.as_deref().map(compile_versions).transpose()?,
            build_id: row
                .build_id
                .as_deref()
                .map(BuildIdCmp::compile)
                .transpose()?,
            memory: row.memory.as_deref().map(MemoryCmp::compile).transpose()?,
            os_version: row.os_version.as_deref().map(OsVersionExpr::compile),
            instruction_set: row.instruction_set.as_deref().map(CsvSet::compile),
            distribution: row.distribution.as_deref().map(CsvSet::compile),
            locale: row.locale.as_deref().map(CsvSet::compile),
            row,
        })
    }

    /// The columns that Balrog filters in SQL (exact equality) plus the channel.
    fn matches_cheap(&self, q: &UpdateQuery) -> bool {
        let r = &self.row;
        eq_or_null(&r.product, &q.product)
            && eq_or_null(&r.build_target, &q.build_target)
            && eq_or_null(&r.header_architecture, q.header_architecture)
            && match (&r.dist_version, &q.dist_version) {
                (None, _) => true,
                (Some(rv), Some(qv)) => rv == qv,
                (Some(_), None) => false,
            }
            && r.channel
                .as_deref()
                .is_none_or(|c| match_channel(c, &q.channel, &q.fallback_channel))
    }

    /// The compiled `version` column (`None`: the column is NULL, a wildcard).
    pub fn version_terms(&self) -> Option<&[VersionTerm]> {
        self.version.as_deref()
    }

    /// Only the version column; errors when a comparison needs an unparsable query version.
    fn matches_version(&self, q: &UpdateQuery) -> Result<bool, InvalidVersion> {
        match &self.version {
            None => Ok(true),
            Some(terms) => crate::client::matching::match_version(terms, &q.parsed_version),
        }
    }

    /// Every column of Balrog's `getRulesMatchingQuery`.
    pub fn matches(&self, q: &UpdateQuery) -> Result<bool, InvalidVersion> {
        let columns = if q.parsed_version.is_ok() {
            // No comparison can fail: the version first, it rejects most rules of a watershed
            // ladder with integer comparisons before any string is compared.
            self.matches_version(q)? && self.matches_cheap(q)
        } else {
            self.matches_cheap(q) && self.matches_version(q)?
        };
        if !columns {
            return Ok(false);
        }
        let r = &self.row;
        Ok(self
            .build_id
            .as_ref()
            .is_none_or(|b| b.matches(&q.build_id))
            && self.memory.is_none_or(|m| m.matches(q.memory))
            && self
                .os_version
                .as_ref()
                .is_none_or(|e| e.matches(&q.os_version))
            && self
                .instruction_set
                .as_ref()
                .is_none_or(|s| s.matches(q.instruction_set.as_deref().unwrap_or("")))
            && self
                .distribution
                .as_ref()
                .is_none_or(|s| s.matches(q.distribution.as_deref().unwrap_or("")))
            && self.locale.as_ref().is_none_or(|s| s.matches(&q.locale))
            && match_tristate(r.mig64, q.mig64)
            && match_tristate(r.jaws, q.jaws))
    }

    /// Would evaluating this rule raise Balrog's invalid-version error for `q`?
    pub fn version_error(&self, q: &UpdateQuery) -> Option<InvalidVersion> {
        if !self.matches_cheap(q) {
            return None;
        }
        self.matches_version(q).err()
    }
}

fn eq_or_null(rule: &Option<String>, query: &str) -> bool {
    rule.as_deref().is_none_or(|r| r == query)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases() {
        assert!(valid_alias("firefox-release"));
        assert!(!valid_alias("1abc"));
        assert!(!valid_alias("a_b"));
        assert!(!valid_alias(""));
    }
}
