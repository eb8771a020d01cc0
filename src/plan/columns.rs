//! The column order of sharded tables, for `INSERT INTO t VALUES (...)` without a column
//! list: the shard key's position in each row is its column's position in the table; the
//! column names, for a read over several shards whose GROUP BY names both a select item
//! and perhaps a column (the server takes the column); and how each column sorts, so that a
//! merged read asks the shards for a collation weight only where one decides the order
//! (`ColumnSort`).
//!
//! The planner never asks a server: it reads this cache, and when the table is missing it
//! fails with `Error::NeedColumns`, naming the physical table whose column order the caller
//! (the frontend, through `execute::columns`) fetches from information_schema on shard 0's
//! group before planning again. Entries are keyed by server, schema and physical table, so
//! proxies of one process over different servers never share them, and every entry is
//! forgotten when a DDL statement runs through the proxy. The planned INSERT gets the column
//! list spelled out, so a table changed behind the proxy's back makes the server reject the
//! rows (column count, unknown column) instead of storing values in other columns.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::route::{group_of, group_schema};
use crate::config::model::{Database, ShardSpec};
use crate::error::{Error, Result};

/// Where the column order of a sharded table is read: shard 0's physical table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnsWanted {
    /// The logical database, and the group of shard 0 in it.
    pub db: String,
    pub group: usize,
    pub master: String,
    pub schema: String,
    pub table: String,
    /// The logical table, for messages.
    pub logical: String,
}

type Key = (String, String, String);

/// How a merge orders a column's values, from its declared type.
///
/// Why the planner wants it: a merged read's sort key that may be text asks every shard for
/// `WEIGHT_STRING(IF(COLLATION(x) LIKE '%nopad%', x, RTRIM(x)))`, which the merge compares
/// when the column turns out to be text. That expression doubled a four-shard
/// `ORDER BY name, id LIMIT 10`'s CPU on the servers (30 -> 60 µs per shard query), half of
/// it for the integer `id`, whose weight the merge never reads. Text keeps the expression
/// even when its collation is known: a collation changed behind the proxy's back would go
/// unseen (the result's column definitions do not carry it), while a type changed so is
/// seen by the merge, which then finds text without a weight (`execute::merge`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnSort {
    /// Numbers, temporal values and binary strings: the merge compares the values
    /// themselves, so no weight is asked for.
    ByValue,
    /// Text, and anything else (ENUM, SET, types of plugins): the shard's weight is asked
    /// for, in the collation the column has when the query runs.
    ByWeight,
}

impl ColumnSort {
    /// From information_schema.COLUMNS' DATA_TYPE.
    pub fn of(data_type: &str) -> ColumnSort {
        match data_type.to_ascii_lowercase().as_str() {
            "tinyint" | "smallint" | "mediumint" | "int" | "bigint" | "decimal" | "float"
            | "double" | "year" | "date" | "datetime" | "timestamp" | "time" | "bit" | "binary"
            | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" => ColumnSort::ByValue,
            _ => ColumnSort::ByWeight,
        }
    }
}

/// What is known of one physical table's columns.
#[derive(Debug)]
pub struct TableColumns {
    /// In table order.
    pub names: Arc<[String]>,
    /// One per name (all `ByWeight` when only the names were read).
    pub sorts: Vec<ColumnSort>,
}

impl TableColumns {
    /// How the column `name` (any case) sorts; `ByWeight` for a name the table lacks.
    pub fn sort_of(&self, name: &str) -> ColumnSort {
        let lower = name.to_lowercase();
        self.names
            .iter()
            .position(|n| n.eq_ignore_ascii_case(name) || n.to_lowercase() == lower)
            .and_then(|i| self.sorts.get(i).copied())
            .unwrap_or(ColumnSort::ByWeight)
    }
}

/// Column names in table order, per physical table.
#[derive(Debug, Default)]
pub struct ColumnOrders {
    map: RwLock<HashMap<Key, Arc<TableColumns>>>,
}

impl ColumnsWanted {
    /// Shard 0's physical table of `table`, where its columns are read.
    pub(crate) fn shard_zero(db: &Database, table: &str, spec: &ShardSpec) -> Result<Self> {
        let group = group_of(db, spec.placement.first().copied())?;
        Ok(ColumnsWanted {
            db: db.name.clone(),
            group,
            master: db.groups[group].master.clone(),
            schema: group_schema(db, group)?.to_string(),
            table: spec.physical.name(table, 0),
            logical: table.to_string(),
        })
    }
}

impl ColumnOrders {
    /// The columns of `w`, or `Error::NeedColumns` for the caller to fetch them first.
    pub(crate) fn get_or_ask(&self, w: ColumnsWanted) -> Result<Arc<[String]>> {
        self.get(&w).ok_or_else(|| Error::NeedColumns(Box::new(w)))
    }

    /// The columns of `w` with their sorts, or `Error::NeedColumns`.
    pub(crate) fn table_or_ask(&self, w: ColumnsWanted) -> Result<Arc<TableColumns>> {
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        let found = map.get(&key(&w)).cloned();
        drop(map);
        found.ok_or_else(|| Error::NeedColumns(Box::new(w)))
    }

    pub fn get(&self, w: &ColumnsWanted) -> Option<Arc<[String]>> {
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        map.get(&key(w)).map(|t| t.names.clone())
    }

    /// Keeps the names of `w`'s columns, in table order, without their sorts.
    pub fn insert(&self, w: &ColumnsWanted, columns: Vec<String>) {
        let sorts = vec![ColumnSort::ByWeight; columns.len()];
        self.insert_described(w, columns.into_iter().zip(sorts).collect());
    }

    /// Keeps `w`'s columns, in table order, with how each sorts.
    pub fn insert_described(&self, w: &ColumnsWanted, columns: Vec<(String, ColumnSort)>) {
        let (names, sorts): (Vec<String>, Vec<ColumnSort>) = columns.into_iter().unzip();
        let table = Arc::new(TableColumns {
            names: names.into(),
            sorts,
        });
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        map.insert(key(w), table);
    }

    /// After DDL: any table's columns may have changed.
    pub fn forget_all(&self) {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        map.clear();
    }
}

/// True for statements after which cached column orders may be wrong (DDL).
pub fn changes_columns(sql: &str) -> bool {
    first_word_changes_columns(super::FirstWord::of(sql))
}

/// `changes_columns` for a statement whose first word was read already.
pub fn first_word_changes_columns(first: super::FirstWord<'_>) -> bool {
    first.is_one_of(&["ALTER", "CREATE", "DROP", "RENAME", "TRUNCATE"])
}

fn key(w: &ColumnsWanted) -> Key {
    (
        w.master.clone(),
        w.schema.clone(),
        w.table.to_ascii_lowercase(),
    )
}
