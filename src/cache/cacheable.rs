//! Which statements the result cache may answer, and which tables a write may have changed.

use std::time::Duration;

use crate::config::model::Database;
use crate::plan::mentions::mentions;

/// Words whose presence may make the same text answer differently from call to call (time,
/// randomness, the session or connection, sequences, locks, variables) or have an effect
/// beyond reading. Matched as substrings, case-insensitively: a column named `random_score`
/// makes a statement uncached, never a wrong answer.
const VARYING: [&[u8]; 30] = [
    b"now",
    b"current_",
    b"curdate",
    b"curtime",
    b"sysdate",
    b"utc_",
    b"localtime",
    b"unix_timestamp",
    b"rand",
    b"uuid",
    b"connection_id",
    b"last_insert_id",
    b"found_rows",
    b"row_count",
    b"user",
    b"database",
    b"schema",
    b"nextval",
    b"lastval",
    b"setval",
    b"next value",
    b"sleep",
    b"lock",
    b"benchmark",
    b"@",
    b"into",
    b"for update",
    b"sql_no_cache",
    b"sql_calc_found_rows",
    b"master_pos_wait",
];

/// The text may answer differently each time, so no answer of it is kept.
pub fn varies_per_call(sql: &str) -> bool {
    let bytes = sql.as_bytes();
    VARYING.iter().any(|w| mentions(bytes, w))
}

/// When every table `sql` reads is a table of `db` with `cache_ttl_ms`: their lower-case
/// `database.table` names and the shortest TTL. `None` for anything else (tables of other
/// schemas, unknown or uncached tables, no table at all, text the parser cannot read).
pub fn cached_tables_of(sql: &str, db: &Database) -> Option<(Vec<String>, Duration)> {
    let relations = crate::plan::read_relations(sql)?;
    if relations.is_empty() {
        return None;
    }
    let mut ttl = Duration::MAX;
    let mut names = Vec::with_capacity(relations.len());
    for (schema, table) in relations {
        if schema.is_some_and(|s| !s.eq_ignore_ascii_case(&db.name)) {
            return None;
        }
        let rule = db.tables.get(&table.to_ascii_lowercase())?;
        ttl = ttl.min(rule.cache_ttl?);
        names.push(format!(
            "{}.{}",
            db.name.to_ascii_lowercase(),
            table.to_ascii_lowercase()
        ));
    }
    names.sort();
    names.dedup();
    Some((names, ttl))
}

/// Cached tables of `db` whose names occur in `sql` (any case): what a write may have
/// changed. Over-approximate on purpose: an invalidation too many costs a backend read.
pub fn tables_mentioned<'d>(sql: &str, db: &'d Database) -> Vec<&'d str> {
    let bytes = sql.as_bytes();
    db.tables
        .iter()
        .filter(|(lname, rule)| rule.cache_ttl.is_some() && mentions(bytes, lname.as_bytes()))
        .map(|(_, rule)| rule.name.as_str())
        .collect()
}
