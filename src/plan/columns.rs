//! The column order of sharded tables, for `INSERT INTO t VALUES (...)` without a column
//! list: the shard key's position in each row is its column's position in the table; and
//! the column names, for a read over several shards whose GROUP BY names both a select item
//! and perhaps a column (the server takes the column).
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

use super::column_sorts::{ColumnSorts, TableSorts};
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

type Key = super::column_sorts::TableKey;

/// Column names in table order, per physical table.
#[derive(Debug, Default)]
pub struct ColumnOrders {
    map: RwLock<HashMap<Key, Arc<[String]>>>,
    /// How the columns sort, learned in the background; forgotten with the names.
    pub sorts: ColumnSorts,
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

    /// Where what is known of this table is kept.
    pub fn key(&self) -> Key {
        key(self)
    }
}

impl ColumnOrders {
    /// The columns of `w`, or `Error::NeedColumns` for the caller to fetch them first.
    pub(crate) fn get_or_ask(&self, w: ColumnsWanted) -> Result<Arc<[String]>> {
        self.get(&w).ok_or_else(|| Error::NeedColumns(Box::new(w)))
    }

    pub fn get(&self, w: &ColumnsWanted) -> Option<Arc<[String]>> {
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        map.get(&key(w)).cloned()
    }

    pub fn insert(&self, w: &ColumnsWanted, columns: Vec<String>) {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        map.insert(key(w), columns.into());
    }

    /// How the columns of `w` sort, if learned.
    pub fn sorts_of(&self, w: &ColumnsWanted) -> Option<Arc<TableSorts>> {
        self.sorts.get(&key(w))
    }

    /// Keeps what the learner (`backend::column_sorts`) read of each table: the names in
    /// table order and how each sorts; nothing when the columns were forgotten since it began
    /// (what it read may predate the DDL). True when it kept them.
    pub fn learned(&self, began: u64, tables: Vec<(Key, Vec<String>, TableSorts)>) -> bool {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        if self.sorts.generation() != began {
            return false;
        }
        let mut sorts = Vec::with_capacity(tables.len());
        for (key, names, sorted) in tables {
            map.insert(key.clone(), names.into());
            sorts.push((key, sorted));
        }
        drop(map);
        self.sorts.learned(began, sorts)
    }

    /// After DDL: any table's columns may have changed. The generation moves first, so that
    /// a learning that read before cannot store its names after they were cleared.
    pub fn forget_all(&self) {
        self.sorts.forget_all();
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
