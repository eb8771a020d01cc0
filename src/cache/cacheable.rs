//! Which statements the result cache may answer, and which tables a write may have changed.

use std::time::Duration;

use crate::config::model::Database;
use crate::plan::mentions::mentions;

/// Functions whose answer may change from call to call (time, randomness, the session or
/// connection, sequences, locks): a call to one (the name, then `(`) keeps a statement out.
const VARYING_CALLS: [&[u8]; 22] = [
    b"now",
    b"curdate",
    b"curtime",
    b"sysdate",
    b"unix_timestamp",
    b"rand",
    b"uuid",
    b"uuid_short",
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
    b"sleep",
    b"get_lock",
    b"benchmark",
    b"master_pos_wait",
];

/// Words that vary or have an effect wherever they stand (with or without parentheses),
/// matched as substrings, case-insensitively: over-matching only makes a statement uncached.
const VARYING_WORDS: [&[u8]; 11] = [
    b"current_",
    b"utc_",
    b"localtime",
    b"@",
    b"into",
    b"for update",
    b"lock in share",
    b"next value",
    b"sql_no_cache",
    b"sql_calc_found_rows",
    b"is_used_lock",
];

/// The text may answer differently each time, so no answer of it is kept.
pub fn varies_per_call(sql: &str) -> bool {
    let bytes = sql.as_bytes();
    VARYING_WORDS.iter().any(|w| mentions(bytes, w))
        || VARYING_CALLS.iter().any(|f| calls(bytes, f))
}

/// Whether `sql` calls the function `name` (lower-case): the name as a whole word, then `(`
/// after optional spaces.
fn calls(sql: &[u8], name: &[u8]) -> bool {
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'$';
    let mut from = 0;
    while let Some(at) = find_ignore_case(&sql[from..], name).map(|i| i + from) {
        let before_ok = at == 0 || !is_ident(sql[at - 1]);
        let rest = &sql[at + name.len()..];
        let after = rest.iter().find(|b| !b.is_ascii_whitespace());
        if before_ok && after == Some(&b'(') {
            return true;
        }
        from = at + 1;
    }
    false
}

fn find_ignore_case(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
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

#[cfg(test)]
mod tests {
    use super::varies_per_call;

    #[test]
    fn calls_of_varying_functions_and_varying_words_keep_a_statement_out() {
        for sql in [
            "SELECT NOW()",
            "SELECT * FROM t WHERE d > now ()",
            "SELECT RAND() FROM t",
            "SELECT USER()",
            "SELECT CURRENT_TIMESTAMP",
            "SELECT @x",
            "SELECT a INTO @a FROM t",
            "SELECT * FROM t FOR UPDATE",
            "SELECT NEXT VALUE FOR s",
        ] {
            assert!(varies_per_call(sql), "{sql}");
        }
        for sql in [
            "SELECT user_id, users.name FROM users WHERE user_id = 5",
            "SELECT id FROM t WHERE random_score > 1 AND known = 'now'",
            "SELECT database_name FROM catalogs",
        ] {
            assert!(!varies_per_call(sql), "{sql}");
        }
    }
}
