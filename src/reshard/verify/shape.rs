//! A physical table's columns and primary key, read from `information_schema`: what the
//! chunked walks order by and what the row comparison selects.

use anyhow::{bail, Context};
use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use super::sql::qualified;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ColumnInfo {
    pub name: String,
    /// `DATA_TYPE`: `int`, `varchar`, ...
    pub data_type: String,
    /// `COLUMN_TYPE`: `int(10) unsigned`, ...
    pub column_type: String,
    /// `None` for binary strings and non-string types.
    pub collation: Option<String>,
}

impl ColumnInfo {
    pub fn is_unsigned(&self) -> bool {
        self.column_type.to_ascii_lowercase().contains("unsigned")
    }
}

#[derive(Debug, Clone)]
pub(crate) struct TableShape {
    /// In ordinal order.
    pub columns: Vec<ColumnInfo>,
    /// Indices into `columns`, in key order.
    pub primary_key: Vec<usize>,
}

impl TableShape {
    /// `None` when the table does not exist; an error naming it when it has no primary key
    /// (without one, rows cannot be walked in chunks nor told apart).
    pub async fn read(conn: &mut Conn, schema: &str, table: &str) -> anyhow::Result<Option<Self>> {
        let shown = qualified(schema, table);
        let columns: Vec<(String, String, String, Option<String>)> = conn
            .exec(
                "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, COLLATION_NAME \
                 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? \
                 ORDER BY ORDINAL_POSITION",
                (schema, table),
            )
            .await
            .with_context(|| format!("reading the columns of {shown}"))?;
        if columns.is_empty() {
            return Ok(None);
        }
        let key: Vec<String> = conn
            .exec(
                "SELECT COLUMN_NAME FROM information_schema.STATISTICS \
                 WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND INDEX_NAME = 'PRIMARY' \
                 ORDER BY SEQ_IN_INDEX",
                (schema, table),
            )
            .await
            .with_context(|| format!("reading the primary key of {shown}"))?;
        let columns: Vec<ColumnInfo> = columns
            .into_iter()
            .map(|(name, data_type, column_type, collation)| ColumnInfo {
                name,
                data_type: data_type.to_ascii_lowercase(),
                column_type,
                collation,
            })
            .collect();
        if key.is_empty() {
            bail!(
                "table {shown} has no primary key: its rows cannot be read in chunks nor \
                 matched with a copy's; add one"
            );
        }
        let primary_key = key
            .iter()
            .map(|k| {
                columns
                    .iter()
                    .position(|c| c.name.eq_ignore_ascii_case(k))
                    .with_context(|| format!("primary key column `{k}` of {shown} not listed"))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Some(TableShape {
            columns,
            primary_key,
        }))
    }

    pub fn column(&self, name: &str) -> Option<&ColumnInfo> {
        self.columns
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
    }

    pub fn key_names(&self) -> Vec<String> {
        self.primary_key
            .iter()
            .map(|&i| self.columns[i].name.clone())
            .collect()
    }

    /// Why `other` (a copy of this table) cannot be compared column by column with it.
    pub fn mismatch(&self, other: &TableShape) -> Option<String> {
        let names = |s: &TableShape| {
            let mut n: Vec<String> = s
                .columns
                .iter()
                .map(|c| c.name.to_ascii_lowercase())
                .collect();
            n.sort();
            n
        };
        let (mine, theirs) = (names(self), names(other));
        if let Some(c) = mine.iter().find(|c| !theirs.contains(c)) {
            return Some(format!("has no column `{c}`"));
        }
        if let Some(c) = theirs.iter().find(|c| !mine.contains(c)) {
            return Some(format!("has a column `{c}` the source lacks"));
        }
        let key = |s: &TableShape| -> Vec<String> {
            s.key_names()
                .iter()
                .map(|k| k.to_ascii_lowercase())
                .collect()
        };
        if key(self) != key(other) {
            return Some(format!(
                "has primary key ({}) where the source has ({})",
                key(other).join(", "),
                key(self).join(", ")
            ));
        }
        None
    }
}
