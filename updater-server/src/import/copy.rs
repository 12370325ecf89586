//! The `copy` command: moves a whole deployment (releases, rules, shutoffs, pins, required
//! signoffs, users, permissions, roles, tokens, scheduled changes and signoffs, history, reports,
//! health guards) from one database to another, SQLite or PostgreSQL either way, keeping every
//! id and `data_version`.
//!
//! The source is read in one consistent transaction and the destination written in one, so a
//! copy is all-or-nothing; the destination must be empty. Replicas already serving the
//! destination see the copy through the change version like any other write.

use crate::error::{Error, Result};
use crate::store::schema::TABLES;
use crate::store::{Dialect, Row, Store};

/// Rows copied per table, in [`TABLES`] order.
pub type CopyReport = Vec<(&'static str, usize)>;

/// Copies every row of `from` into `to`, which must hold no rows yet.
pub fn copy(from: &Store, to: &Store) -> Result<CopyReport> {
    let data: Vec<Vec<Row>> = from.read(|tx| {
        TABLES
            .iter()
            .map(|(table, columns, _)| {
                tx.query(
                    &format!("SELECT {} FROM {table} ORDER BY 1", columns.join(", ")),
                    Vec::new(),
                )
            })
            .collect()
    })?;
    to.write(None, |tx| {
        for (table, _, _) in TABLES {
            let present = tx
                .query_one(&format!("SELECT COUNT(*) FROM {table}"), Vec::new())?
                .get::<i64>(0)?;
            if present > 0 {
                return Err(Error::Invalid(format!(
                    "the destination is not empty: {table} holds {present} row(s)"
                )));
            }
        }
        let mut report = Vec::new();
        for ((table, columns, serial), rows) in TABLES.iter().zip(&data) {
            let placeholders: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
            let sql = format!(
                "INSERT INTO {table} ({}) VALUES ({})",
                columns.join(", "),
                placeholders.join(", ")
            );
            for row in rows {
                tx.execute(&sql, row.0.clone())?;
            }
            if let (Some(column), Dialect::Postgres) = (serial, tx.dialect()) {
                // Explicit ids do not move an identity's sequence: start it after the copied ones.
                tx.query(
                    &format!(
                        "SELECT setval(pg_get_serial_sequence('{table}', '{column}'),
                                COALESCE(MAX({column}), 0) + 1, false) FROM {table}"
                    ),
                    Vec::new(),
                )?;
            }
            report.push((*table, rows.len()));
        }
        Ok(report)
    })
}
