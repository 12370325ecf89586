//! Balrog's per-column rule matching (`auslib/util/rulematching.py`, `comparison.py`).
//!
//! Each function takes the rule's value (already compiled, see [`crate::client::rule::CompiledRule`]) and
//! the query's value and answers whether the column matches. NULL rule values are handled by the
//! caller (a NULL column is a wildcard).

use crate::client::version::{InvalidVersion, MozVersion};

/// A comparison operator of a rule value (`<`, `<=`, `>`, `>=`, or none for equality).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// No operator: equality.
    Eq,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl Op {
    /// Splits a rule value into its operator and operand like Balrog's `get_op`: a value starting
    /// with a word character is an equality; otherwise it must start with one of the four operators.
    pub fn split(value: &str) -> Option<(Op, &str)> {
        let first = value.chars().next()?;
        if first.is_alphanumeric() || first == '_' {
            return Some((Op::Eq, value));
        }
        for (prefix, op) in [(">=", Op::Ge), ("<=", Op::Le), (">", Op::Gt), ("<", Op::Lt)] {
            if let Some(rest) = value.strip_prefix(prefix) {
                return Some((op, rest));
            }
        }
        None
    }

    /// Applies the operator to `query OP operand`.
    pub fn holds<T: Ord + ?Sized>(self, query: &T, operand: &T) -> bool {
        match self {
            Op::Eq => query == operand,
            Op::Lt => query < operand,
            Op::Le => query <= operand,
            Op::Gt => query > operand,
            Op::Ge => query >= operand,
        }
    }
}

/// The fallback channel of `channel` (Balrog's `getFallbackChannel`): everything before the first
/// `-cck-`, keeping a `-sysaddon` suffix.
pub fn fallback_channel(channel: &str) -> String {
    let mut fallback = channel.split("-cck-").next().unwrap_or(channel).to_owned();
    if channel.ends_with("-sysaddon") && !fallback.ends_with("-sysaddon") {
        fallback.push_str("-sysaddon");
    }
    fallback
}

/// Does one rule channel pattern match `channel`? A pattern ending in `*` of at least 3 characters
/// is a prefix match; shorter globs never match; anything else is an exact comparison.
fn channel_pattern_matches(pattern: &str, channel: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) if pattern.len() >= 3 => channel.starts_with(prefix),
        Some(_) => false,
        None => pattern == channel,
    }
}

/// Channel matching: the pattern is tried against the query channel and its fallback channel.
pub fn match_channel(pattern: &str, channel: &str, fallback: &str) -> bool {
    channel_pattern_matches(pattern, channel) || channel_pattern_matches(pattern, fallback)
}

/// One comma-separated entry of a rule's `version` column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionTerm {
    /// `78.*` or `78.8.*` (major above 4 only, like Balrog's `GlobVersion`).
    Glob {
        /// The major version to match.
        major: u64,
        /// The minor version to match, for `X.Y.*`.
        minor: Option<u64>,
    },
    /// `>=56.0`, `56.0`: a Mozilla-version comparison.
    Cmp(Op, MozVersion),
}

/// Compiles a rule `version` column, rejecting values Balrog could not evaluate.
pub fn compile_versions(value: &str) -> Result<Vec<VersionTerm>, String> {
    value
        .split(',')
        .map(|entry| {
            if entry.ends_with('*') {
                let invalid =
                    || format!("invalid version glob '{entry}': use X.* or X.Y.* with X above 4");
                let prefix = entry.strip_suffix(".*").ok_or_else(invalid)?;
                let nums: Vec<u64> = prefix
                    .split('.')
                    .map(|p| p.parse::<u64>().ok())
                    .collect::<Option<_>>()
                    .ok_or_else(invalid)?;
                return match nums.as_slice() {
                    [major] if *major > 4 => Ok(VersionTerm::Glob {
                        major: *major,
                        minor: None,
                    }),
                    [major, minor] if *major > 4 => Ok(VersionTerm::Glob {
                        major: *major,
                        minor: Some(*minor),
                    }),
                    _ => Err(invalid()),
                };
            }
            let (op, operand) =
                Op::split(entry).ok_or_else(|| format!("invalid version expression '{entry}'"))?;
            let v = MozVersion::parse(operand).map_err(|e| e.to_string())?;
            Ok(VersionTerm::Cmp(op, v))
        })
        .collect()
}

/// Version matching: any entry matches. Every entry needs the query version to parse; when it
/// does not, the error is returned (Balrog answers 400).
///
/// A glob matches like Balrog's two-way `GlobVersion` equality: `X.*` every version with major X
/// (pre-releases included); `X.Y.*` every X.Y.z except the pre-releases of X.Y.0.
pub fn match_version(
    terms: &[VersionTerm],
    parsed: &Result<MozVersion, InvalidVersion>,
) -> Result<bool, InvalidVersion> {
    for term in terms {
        let q = parsed.as_ref().map_err(Clone::clone)?;
        let hit = match term {
            VersionTerm::Glob { major, minor: None } => q.major() == *major,
            VersionTerm::Glob {
                major,
                minor: Some(minor),
            } => {
                (q.major(), q.minor()) == (*major, *minor) && (!q.is_prerelease() || q.patch() != 0)
            }
            VersionTerm::Cmp(op, operand) => op.holds(q, operand),
        };
        if hit {
            return Ok(true);
        }
    }
    Ok(false)
}

/// A compiled `buildID` column: an operator and a string compared lexicographically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildIdCmp {
    op: Op,
    operand: String,
}

impl BuildIdCmp {
    /// Compiles a `buildID` rule value.
    pub fn compile(value: &str) -> Result<Self, String> {
        let (op, operand) =
            Op::split(value).ok_or_else(|| format!("invalid buildID expression '{value}'"))?;
        Ok(BuildIdCmp {
            op,
            operand: operand.to_owned(),
        })
    }

    /// Compares the query buildID as a string.
    pub fn matches(&self, build_id: &str) -> bool {
        self.op.holds(build_id, self.operand.as_str())
    }
}

/// A compiled `memory` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryCmp {
    op: Op,
    operand: i64,
}

impl MemoryCmp {
    /// Compiles a `memory` rule value (`8000`, `<2048`, ...).
    pub fn compile(value: &str) -> Result<Self, String> {
        let (op, operand) =
            Op::split(value).ok_or_else(|| format!("invalid memory expression '{value}'"))?;
        let operand = operand
            .trim()
            .parse()
            .map_err(|_| format!("invalid memory value '{value}'"))?;
        Ok(MemoryCmp { op, operand })
    }

    /// A query without (parsable) memory matches every memory rule.
    pub fn matches(&self, memory: Option<i64>) -> bool {
        memory.is_none_or(|m| self.op.holds(&m, &self.operand))
    }
}

/// A compiled `osVersion` "simple expression": OR over `,`, AND over `&&`, substring terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OsVersionExpr(Vec<Vec<String>>);

impl OsVersionExpr {
    /// Compiles an `osVersion` rule value.
    pub fn compile(value: &str) -> Self {
        OsVersionExpr(
            value
                .split(',')
                .map(|part| part.split("&&").map(|t| t.trim().to_owned()).collect())
                .collect(),
        )
    }

    /// True when every term of some part is a substring of `os_version`.
    pub fn matches(&self, os_version: &str) -> bool {
        self.0
            .iter()
            .any(|terms| terms.iter().all(|t| os_version.contains(t.as_str())))
    }
}

/// A compiled comma-separated membership list (`instructionSet`, `distribution`, `locale`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvSet(Vec<String>);

impl CsvSet {
    /// Compiles a comma-separated rule value.
    pub fn compile(value: &str) -> Self {
        CsvSet(value.split(',').map(str::to_owned).collect())
    }

    /// The query value must equal one entry (no substring match).
    pub fn matches(&self, query: &str) -> bool {
        self.0.iter().any(|v| v == query)
    }

    /// Is `value` one of the entries?
    pub fn contains(&self, value: &str) -> bool {
        self.matches(value)
    }
}

/// `mig64`/`jaws`: a NULL rule matches all; otherwise the query must be present and equal.
pub fn match_tristate(rule: Option<bool>, query: Option<bool>) -> bool {
    match rule {
        None => true,
        Some(r) => query == Some(r),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn op_split() {
        assert_eq!(Op::split("56.0"), Some((Op::Eq, "56.0")));
        assert_eq!(Op::split(">=56.0"), Some((Op::Ge, "56.0")));
        assert_eq!(Op::split("<2"), Some((Op::Lt, "2")));
        assert_eq!(Op::split("=2"), None);
        assert_eq!(Op::split(""), None);
    }

    #[test]
    fn fallback() {
        assert_eq!(fallback_channel("release-cck-foo"), "release");
        assert_eq!(fallback_channel("release"), "release");
        assert_eq!(
            fallback_channel("release-cck-foo-sysaddon"),
            "release-sysaddon"
        );
        assert_eq!(fallback_channel("release-sysaddon"), "release-sysaddon");
    }
}
