//! How each column of a sharded table sorts, so that a merged read asks the shards for a
//! collation weight only where one decides the order.
//!
//! Why: every key of a read merged over several shards (ORDER BY, GROUP BY, DISTINCT) that
//! may be text asks each shard for `WEIGHT_STRING(IF(COLLATION(x) LIKE '%nopad%', x,
//! RTRIM(x)))`. For an integer `id` the merge never reads it, yet it costs each shard query
//! 10-15 µs of server CPU (30-40 µs without it for `ORDER BY id LIMIT 10`).
//!
//! The types are learned off the sessions' connections (`backend::column_sorts`), at
//! startup, at every reload and after DDL through the proxy, and the planner uses them only
//! once known: until then, and for a table never learned, every key keeps its weight. A read
//! must never wait on them nor send anything extra on a session's connections (a statement
//! there changes what SHOW WARNINGS reads, and fails on a connection the server closed).
//!
//! A type changed behind the proxy's back (an INT column made VARCHAR directly on the
//! servers) is seen by the merge, which then finds text without a weight
//! (`Error::MergeNeedsWeights`): the types are forgotten and the read planned anew with
//! weights, before any row reached the client. Text keeps its weight even when its
//! collation is known: a collation changed behind the proxy's back would go unseen, since
//! the result's column definitions do not carry it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use tokio::sync::Notify;

use super::names::same_column_name;

/// How a merge orders a column's values, from its declared type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnSort {
    /// Numbers, temporal values and binary strings: the merge compares the values
    /// themselves (FLOAT, which prints too few digits, is answered over copies anyway).
    ByValue,
    /// Text, and anything else (ENUM, SET, JSON, types of plugins): the shard's weight is
    /// asked for, in the collation the column has when the query runs.
    ByWeight,
}

impl ColumnSort {
    /// From information_schema.COLUMNS' DATA_TYPE.
    pub fn of(data_type: &str) -> ColumnSort {
        const BY_VALUE: &[&str] = &[
            "tinyint",
            "smallint",
            "mediumint",
            "int",
            "bigint",
            "decimal",
            "float",
            "double",
            "year",
            "date",
            "datetime",
            "timestamp",
            "time",
            "bit",
            "binary",
            "varbinary",
            "tinyblob",
            "blob",
            "mediumblob",
            "longblob",
        ];
        if BY_VALUE.iter().any(|t| t.eq_ignore_ascii_case(data_type)) {
            ColumnSort::ByValue
        } else {
            ColumnSort::ByWeight
        }
    }
}

/// The columns of one physical table and how each sorts.
#[derive(Debug, Default)]
pub struct TableSorts {
    columns: Vec<(String, ColumnSort)>,
}

impl TableSorts {
    pub fn new(columns: Vec<(String, ColumnSort)>) -> TableSorts {
        TableSorts { columns }
    }

    /// How the column `name` sorts; `ByWeight` for a name the table lacks.
    pub fn sort_of(&self, name: &str) -> ColumnSort {
        self.columns
            .iter()
            .find(|(n, _)| same_column_name(n, name))
            .map_or(ColumnSort::ByWeight, |(_, s)| *s)
    }
}

/// Server, schema and lower-cased physical table, as `ColumnOrders` keys them.
pub type TableKey = (String, String, String);

/// What has been learned, per physical table, shared by every worker.
#[derive(Debug, Default)]
pub struct ColumnSorts {
    map: RwLock<HashMap<TableKey, Arc<TableSorts>>>,
    /// Bumped whenever what was learned may be wrong: a learning that began before must not
    /// store what it read.
    generation: AtomicU64,
    /// Wakes the learner (`backend::column_sorts`).
    wanted: Notify,
}

impl ColumnSorts {
    pub fn get(&self, key: &TableKey) -> Option<Arc<TableSorts>> {
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        map.get(key).cloned()
    }

    /// For a learning about to read the servers: pass it back to `learned`.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Keeps what a learning read, unless the types were forgotten since it began (what it
    /// read may predate the DDL); false then.
    pub fn learned(&self, began: u64, tables: Vec<(TableKey, TableSorts)>) -> bool {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        if self.generation.load(Ordering::Acquire) != began {
            return false;
        }
        for (key, sorts) in tables {
            map.insert(key, Arc::new(sorts));
        }
        true
    }

    /// After DDL through the proxy, or when a merge found a type changed behind its back:
    /// every table's types may have changed. The learner reads them again.
    pub fn forget_all(&self) {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        map.clear();
        drop(map);
        self.wanted.notify_one();
    }

    /// New rules (a reload) may name tables not learned yet.
    pub fn learn_again(&self) {
        self.wanted.notify_one();
    }

    /// Until `forget_all` or `learn_again` asks for a learning (at once if one was asked
    /// meanwhile).
    pub async fn wanted(&self) {
        self.wanted.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(t: &str) -> TableKey {
        ("m".into(), "s".into(), t.into())
    }

    #[test]
    fn types_sort_by_value_or_weight() {
        for t in [
            "INT",
            "bigint",
            "decimal",
            "datetime",
            "varbinary",
            "blob",
            "bit",
        ] {
            assert_eq!(ColumnSort::of(t), ColumnSort::ByValue, "{t}");
        }
        for t in [
            "varchar", "char", "text", "enum", "set", "json", "inet6", "uuid", "",
        ] {
            assert_eq!(ColumnSort::of(t), ColumnSort::ByWeight, "{t}");
        }
    }

    #[test]
    fn a_column_is_found_in_any_letter_case() {
        let t = TableSorts::new(vec![
            ("Id".into(), ColumnSort::ByValue),
            ("Ñ".into(), ColumnSort::ByValue),
            ("name".into(), ColumnSort::ByWeight),
        ]);
        assert_eq!(t.sort_of("ID"), ColumnSort::ByValue);
        assert_eq!(t.sort_of("ñ"), ColumnSort::ByValue);
        assert_eq!(t.sort_of("NAME"), ColumnSort::ByWeight);
        assert_eq!(t.sort_of("missing"), ColumnSort::ByWeight);
    }

    #[test]
    fn a_learning_older_than_a_forget_is_dropped() {
        let s = ColumnSorts::default();
        let began = s.generation();
        s.forget_all();
        let t = TableSorts::new(vec![("id".into(), ColumnSort::ByValue)]);
        assert!(!s.learned(began, vec![(key("t"), t)]));
        assert!(s.get(&key("t")).is_none());
        let now = s.generation();
        let t = TableSorts::new(vec![("id".into(), ColumnSort::ByValue)]);
        assert!(s.learned(now, vec![(key("t"), t)]));
        assert!(s.get(&key("t")).is_some());
        s.forget_all();
        assert!(s.get(&key("t")).is_none());
    }
}
