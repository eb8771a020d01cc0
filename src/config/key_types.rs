//! `mod` on a non-integer key column: the one rule check that needs the live schema, so it is
//! separate from loading and run by `shardgate check --connect` with the column types it
//! fetched.

use super::diagnostic::{Diagnostics, Reporter};
use super::document::{Document, Value};
use super::model::{Database, TableKind};
use crate::sharding::Algorithm;

/// Reports every `mod` table whose key column is not an integer type. `column_type(table,
/// column)` gives the column's MySQL type as `information_schema.COLUMNS.COLUMN_TYPE` spells
/// it (`bigint(20) unsigned`, `varchar(64)`), for the logical table name as written in the
/// rules and the lower-cased key column; `None` when unknown, which is not reported.
pub fn check_key_column_types(
    db: &Database,
    column_type: impl Fn(&str, &str) -> Option<String>,
) -> Diagnostics {
    // Only for line numbers; without the file the diagnostics simply have none.
    let doc = std::fs::read_to_string(&db.source)
        .ok()
        .and_then(|text| Document::parse(&text).ok());
    let mut r = Reporter::new(&db.source, doc.as_ref());
    let mut tables: Vec<_> = db.tables.values().collect();
    tables.sort_by(|a, b| a.name.cmp(&b.name));
    for table in tables {
        let TableKind::Sharded(spec) = &table.kind else {
            continue;
        };
        if spec.sharder.algorithm() != Algorithm::Mod {
            continue;
        }
        let Some(ty) = column_type(&table.name, &spec.shard_key) else {
            continue;
        };
        if !is_integer_type(&ty) {
            let key = match doc.as_ref().and_then(|d| table_index(d, &table.name)) {
                Some(i) => format!("tables[{i}].shard_key"),
                None => format!("{}.shard_key", table.name),
            };
            r.error(
                key,
                format!(
                    "algorithm mod needs an integer key column, but `{}`.`{}` is {ty}; use \
                     hash or ring for other types",
                    table.name, spec.shard_key
                ),
            );
        }
    }
    Diagnostics(r.out)
}

/// MySQL's integer types, as `COLUMN_TYPE` or `DATA_TYPE` writes them.
fn is_integer_type(column_type: &str) -> bool {
    let ty = column_type.trim().to_ascii_lowercase();
    let base = ty
        .split(|c: char| c == '(' || c.is_whitespace())
        .next()
        .unwrap_or_default();
    matches!(
        base,
        "tinyint"
            | "smallint"
            | "mediumint"
            | "int"
            | "integer"
            | "bigint"
            | "int1"
            | "int2"
            | "int3"
            | "int4"
            | "int8"
            | "middleint"
            | "serial"
            | "bool"
            | "boolean"
    )
}

/// Position of the `[[tables]]` entry named `name`, to give the diagnostic a key path.
fn table_index(doc: &Document, name: &str) -> Option<usize> {
    let Value::Array(tables) = &doc.get("tables")?.value else {
        return None;
    };
    tables.iter().position(|t| match &t.value {
        Value::Table(entries) => entries.iter().any(|e| {
            e.key == "name"
                && matches!(&e.node.value, Value::String(s) if s.eq_ignore_ascii_case(name))
        }),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_integer_column_types() {
        for ty in [
            "int(11)",
            "bigint(20) unsigned",
            "BIGINT",
            "tinyint(1)",
            "smallint unsigned zerofill",
            "int",
        ] {
            assert!(is_integer_type(ty), "{ty}");
        }
        for ty in [
            "varchar(64)",
            "char(36)",
            "decimal(20,0)",
            "double",
            "binary(16)",
            "datetime",
            "bit(8)",
            "intx",
        ] {
            assert!(!is_integer_type(ty), "{ty}");
        }
    }
}
