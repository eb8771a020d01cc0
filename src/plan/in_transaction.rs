//! `@@in_transaction` tells whether the connection is inside a transaction. The proxy opens
//! the backend transaction only where a statement first reaches a group (so a transaction
//! stays on the groups it touches), so right after BEGIN, and for a statement without a
//! table that runs off the transaction's connection, the server asked says 0 where one
//! server says 1.
//!
//! While the session is in a transaction each read becomes `(@@in_transaction | 1)`: 1 on
//! every connection, with the variable's own column type (BIGINT UNSIGNED); select items
//! keep their names as `select_item_splice` says.

use super::lexer::{session_variable_at, Token};
use super::select_item_splice::{spliced, Splice};
use crate::error::Result;

/// `sql` with every read of `@@in_transaction` (any spelling `session_variable_at` reads)
/// made 1; `None` when it reads none.
pub fn with_in_transaction(sql: &str) -> Result<Option<String>> {
    if !super::statement_words::mentioned(sql).has(super::statement_words::IN_TRANSACTION) {
        return Ok(None);
    }
    let target_len = |sql: &str, toks: &[Token], i: usize| {
        session_variable_at(toks, i, sql)
            .filter(|(name, _)| name == "in_transaction")
            .map(|(_, used)| used)
    };
    spliced(
        sql,
        &Splice {
            target_len: &target_len,
            replacement: &|_| "(@@in_transaction | 1)".to_string(),
            what: "@@in_transaction",
            why: "inside a transaction shardgate makes it 1, since backends open theirs only \
                  where a statement reaches a group",
        },
    )
}

#[cfg(test)]
mod tests {
    use super::with_in_transaction;

    fn w(sql: &str) -> Option<String> {
        with_in_transaction(sql).unwrap()
    }

    #[test]
    fn reads_become_one_with_the_same_name() {
        assert_eq!(
            w("SELECT @@in_transaction").as_deref(),
            Some("SELECT (@@in_transaction | 1) AS `@@in_transaction`")
        );
        assert_eq!(
            w("select @@session.in_transaction, 1").as_deref(),
            Some("select (@@in_transaction | 1) AS `@@session.in_transaction`, 1")
        );
        assert_eq!(
            w("SELECT @@in_transaction AS t").as_deref(),
            Some("SELECT (@@in_transaction | 1) AS t")
        );
        assert_eq!(
            w("SELECT CONCAT('a', @@in_transaction, 'b') AS c").as_deref(),
            Some("SELECT CONCAT('a', (@@in_transaction | 1), 'b') AS c")
        );
        assert_eq!(
            w("SELECT 1 FROM t WHERE @@in_transaction = 1").as_deref(),
            Some("SELECT 1 FROM t WHERE (@@in_transaction | 1) = 1")
        );
        assert_eq!(
            w("SELECT a FROM t ORDER BY b, @@in_transaction").as_deref(),
            Some("SELECT a FROM t ORDER BY b, (@@in_transaction | 1)")
        );
        assert_eq!(w("SELECT 'in_transaction', @in_transaction"), None);
        assert_eq!(w("SELECT @@global.in_transaction"), None);
    }

    #[test]
    fn a_larger_item_without_alias_is_refused() {
        assert!(with_in_transaction("SELECT @@in_transaction + 0").is_err());
    }
}
