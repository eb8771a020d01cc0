//! `@@last_gtid` is the GTID of the connection's last committed transaction. Through the
//! proxy a session's writes run on the connections of several groups, each numbering its
//! own transactions, and a read of the variable reaches whichever connection the statement
//! goes to: an empty string or the GTID of an earlier write on another group, where one
//! server gives the last one. No single value is right, so reads are refused. (An unfiltered
//! `SHOW VARIABLES`, or a pattern such as `LIKE 'last%'`, still lists the default group
//! connection's value: refusing every listing would lock out the tools that run one.)

use super::lexer::{session_variable_at, significant, Kind, Token};
use super::statement_words::{mentioned, GTID};
use crate::error::{Error, Result};

/// Refuses a statement that reads `@@last_gtid` in any spelling `session_variable_at` reads,
/// or asks for it by name as a row (`SHOW VARIABLES LIKE 'last_gtid'`, the
/// information_schema `*_VARIABLES` tables): a string naming a GTID variable there.
pub(crate) fn refuse_reads(sql: &str) -> Result<()> {
    if !mentioned(sql).has(GTID) {
        return Ok(());
    }
    let toks: Vec<Token> = significant(sql).collect();
    let read = (0..toks.len())
        .any(|i| session_variable_at(&toks, i, sql).is_some_and(|(name, _)| name == "last_gtid"));
    // Where rows are variables: SHOW VARIABLES, or information_schema's tables of them.
    let lists_variables = toks.first().is_some_and(|t| t.is_word(sql, "SHOW"))
        && toks.iter().take(3).any(|t| t.is_word(sql, "VARIABLES"))
        || toks
            .iter()
            .any(|t| t.is_name(sql, "SESSION_VARIABLES") || t.is_name(sql, "SYSTEM_VARIABLES"));
    let as_row = lists_variables
        && toks.iter().any(|t| {
            t.kind == Kind::Str && {
                let text = t.text(sql).to_ascii_lowercase().replace('\\', "");
                text.contains("last_gtid") || text.contains("last%gtid")
            }
        });
    if read || as_row {
        return Err(Error::unsupported(
            "@@last_gtid: each group of servers numbers its own transactions, and the session's \
             writes ran on several (read-your-writes across replicas is shardgate's own: \
             [backend] read_your_writes = \"gtid\")"
                .to_string(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::refuse_reads;

    #[test]
    fn reads_in_any_spelling_are_refused() {
        for sql in [
            "SELECT @@last_gtid",
            "select @@SESSION.Last_Gtid",
            "SELECT @@session . `last_gtid`",
            "SET @g = @@last_gtid",
            "SHOW VARIABLES LIKE 'last_gtid'",
            "SHOW SESSION VARIABLES LIKE 'LAST\\_GTID'",
            "SELECT SESSION_VALUE FROM information_schema.SYSTEM_VARIABLES WHERE VARIABLE_NAME='LAST_GTID'",
        ] {
            assert!(refuse_reads(sql).is_err(), "{sql}");
        }
        for sql in [
            "SELECT 'last_gtid'",
            "SELECT @last_gtid",
            "SELECT last_gtid FROM t",
            "SHOW VARIABLES LIKE 'gtid_domain_id'",
            "SELECT 'last_gtid' AS variables",
            "INSERT INTO notes (body) VALUES ('variables: last_gtid')",
        ] {
            assert!(refuse_reads(sql).is_ok(), "{sql}");
        }
    }
}
