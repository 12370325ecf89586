//! The values that cross the store's SQL boundary, the same for SQLite and PostgreSQL: query
//! parameters, result rows, and their conversions to and from each driver's types.
//!
//! Every typed query in the store is written once, with SQLite-style `?N` placeholders, binds
//! [`SqlValue`]s and reads [`Row`]s; the backend converts at the edge.

use std::error::Error as StdError;

use bytes::BytesMut;
use postgres::types::{IsNull, ToSql, Type};
use rusqlite::types::{ToSqlOutput, ValueRef};

use crate::error::{Error, Result};

/// One SQL value. Booleans are stored as integers 0/1 in both backends; PostgreSQL's own booleans
/// (from `EXISTS`) are read as [`SqlValue::Bool`].
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    /// SQL NULL.
    Null,
    /// A 64-bit integer.
    Int(i64),
    /// A double.
    Real(f64),
    /// Text.
    Text(String),
    /// A PostgreSQL boolean.
    Bool(bool),
}

/// One result row.
#[derive(Debug, Clone)]
pub struct Row(pub Vec<SqlValue>);

impl Row {
    /// Column `idx` converted to `T`; a missing column or another type is an internal error.
    pub fn get<T: FromValue>(&self, idx: usize) -> Result<T> {
        let value = self
            .0
            .get(idx)
            .ok_or_else(|| Error::Internal(format!("query returned no column {idx}")))?;
        T::from_value(value)
    }
}

/// Conversion of a column value to a Rust type.
pub trait FromValue: Sized {
    /// Converts `v`, or explains why it cannot.
    fn from_value(v: &SqlValue) -> Result<Self>;
}

fn mismatch(want: &str, v: &SqlValue) -> Error {
    Error::Internal(format!("stored value {v:?} is not {want}"))
}

impl FromValue for i64 {
    fn from_value(v: &SqlValue) -> Result<Self> {
        match v {
            SqlValue::Int(i) => Ok(*i),
            other => Err(mismatch("an integer", other)),
        }
    }
}

impl FromValue for f64 {
    fn from_value(v: &SqlValue) -> Result<Self> {
        match v {
            SqlValue::Real(f) => Ok(*f),
            // SQLite hands back a REAL column holding a whole number as an integer.
            SqlValue::Int(i) => Ok(*i as f64),
            other => Err(mismatch("a number", other)),
        }
    }
}

impl FromValue for String {
    fn from_value(v: &SqlValue) -> Result<Self> {
        match v {
            SqlValue::Text(s) => Ok(s.clone()),
            other => Err(mismatch("text", other)),
        }
    }
}

impl FromValue for bool {
    fn from_value(v: &SqlValue) -> Result<Self> {
        match v {
            SqlValue::Bool(b) => Ok(*b),
            SqlValue::Int(i) => Ok(*i != 0),
            other => Err(mismatch("a boolean", other)),
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: &SqlValue) -> Result<Self> {
        match v {
            SqlValue::Null => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

impl From<i64> for SqlValue {
    fn from(v: i64) -> Self {
        SqlValue::Int(v)
    }
}

impl From<f64> for SqlValue {
    fn from(v: f64) -> Self {
        SqlValue::Real(v)
    }
}

impl From<bool> for SqlValue {
    fn from(v: bool) -> Self {
        SqlValue::Int(i64::from(v))
    }
}

impl From<&str> for SqlValue {
    fn from(v: &str) -> Self {
        SqlValue::Text(v.to_owned())
    }
}

impl From<String> for SqlValue {
    fn from(v: String) -> Self {
        SqlValue::Text(v)
    }
}

impl From<&String> for SqlValue {
    fn from(v: &String) -> Self {
        SqlValue::Text(v.clone())
    }
}

impl<T: Into<SqlValue> + Clone> From<&Option<T>> for SqlValue {
    fn from(v: &Option<T>) -> Self {
        v.clone().map_or(SqlValue::Null, Into::into)
    }
}

impl<T: Into<SqlValue>> From<Option<T>> for SqlValue {
    fn from(v: Option<T>) -> Self {
        v.map_or(SqlValue::Null, Into::into)
    }
}

/// Query parameters: `sql_args![a, b]` is a `Vec<SqlValue>` of the converted values.
#[macro_export]
macro_rules! sql_args {
    ($($v:expr),* $(,)?) => {
        vec![$($crate::store::SqlValue::from($v)),*]
    };
}
pub(crate) use crate::sql_args as args;

impl rusqlite::ToSql for SqlValue {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            SqlValue::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            SqlValue::Int(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            SqlValue::Real(f) => ToSqlOutput::Borrowed(ValueRef::Real(*f)),
            SqlValue::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            SqlValue::Bool(b) => ToSqlOutput::Borrowed(ValueRef::Integer(i64::from(*b))),
        })
    }
}

impl SqlValue {
    /// Reads one SQLite column.
    pub(crate) fn from_sqlite(v: ValueRef<'_>) -> Result<Self> {
        Ok(match v {
            ValueRef::Null => SqlValue::Null,
            ValueRef::Integer(i) => SqlValue::Int(i),
            ValueRef::Real(f) => SqlValue::Real(f),
            ValueRef::Text(t) => SqlValue::Text(
                std::str::from_utf8(t)
                    .map_err(|e| Error::Internal(format!("stored text is not UTF-8: {e}")))?
                    .to_owned(),
            ),
            ValueRef::Blob(_) => {
                return Err(Error::Internal("unexpected BLOB column".to_owned()));
            }
        })
    }

    /// Reads column `idx` of a PostgreSQL row by the column's type.
    pub(crate) fn from_postgres(row: &postgres::Row, idx: usize) -> Result<Self> {
        let ty = row.columns()[idx].type_().clone();
        let value = if ty == Type::INT8 {
            row.try_get::<_, Option<i64>>(idx)?.map(SqlValue::Int)
        } else if ty == Type::INT4 {
            row.try_get::<_, Option<i32>>(idx)?
                .map(|i| SqlValue::Int(i64::from(i)))
        } else if ty == Type::INT2 {
            row.try_get::<_, Option<i16>>(idx)?
                .map(|i| SqlValue::Int(i64::from(i)))
        } else if ty == Type::FLOAT8 {
            row.try_get::<_, Option<f64>>(idx)?.map(SqlValue::Real)
        } else if ty == Type::FLOAT4 {
            row.try_get::<_, Option<f32>>(idx)?
                .map(|f| SqlValue::Real(f64::from(f)))
        } else if ty == Type::BOOL {
            row.try_get::<_, Option<bool>>(idx)?.map(SqlValue::Bool)
        } else if ty == Type::TEXT || ty == Type::VARCHAR || ty == Type::NAME {
            row.try_get::<_, Option<String>>(idx)?.map(SqlValue::Text)
        } else {
            return Err(Error::Internal(format!("unexpected column type {ty}")));
        };
        Ok(value.unwrap_or(SqlValue::Null))
    }
}

impl ToSql for SqlValue {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn StdError + Sync + Send>> {
        match self {
            SqlValue::Null => Ok(IsNull::Yes),
            SqlValue::Int(i) if *ty == Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
            SqlValue::Int(i) if *ty == Type::BOOL => (*i != 0).to_sql(ty, out),
            SqlValue::Int(i) if *ty == Type::TEXT => i.to_string().to_sql(ty, out),
            SqlValue::Int(i) => i.to_sql(ty, out),
            SqlValue::Real(f) => f.to_sql(ty, out),
            SqlValue::Text(s) => s.to_sql(ty, out),
            SqlValue::Bool(b) if *ty == Type::BOOL => b.to_sql(ty, out),
            SqlValue::Bool(b) => i64::from(*b).to_sql(ty, out),
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

/// `?N` placeholders (SQLite) rewritten as `$N` (PostgreSQL). The store's SQL has no `?` inside
/// string literals.
pub(crate) fn postgres_placeholders(sql: &str) -> String {
    sql.replace('?', "$")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_renumbered_for_postgres() {
        assert_eq!(
            postgres_placeholders("SELECT a FROM t WHERE (?1 IS NULL OR b = ?1) AND c = ?2"),
            "SELECT a FROM t WHERE ($1 IS NULL OR b = $1) AND c = $2"
        );
    }

    #[test]
    fn rows_convert_and_refuse_other_types() {
        let row = Row(vec![
            SqlValue::Int(3),
            SqlValue::Null,
            SqlValue::Text("x".into()),
            SqlValue::Bool(true),
        ]);
        assert_eq!(row.get::<i64>(0).unwrap(), 3);
        assert!(row.get::<bool>(0).unwrap());
        assert_eq!(row.get::<Option<String>>(1).unwrap(), None);
        assert_eq!(row.get::<String>(2).unwrap(), "x");
        assert!(row.get::<bool>(3).unwrap());
        assert!(row.get::<i64>(2).is_err());
        assert!(row.get::<i64>(9).is_err());
    }
}
