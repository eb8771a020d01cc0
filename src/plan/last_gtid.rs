//! `@@last_gtid` is the GTID of the connection's last committed transaction. Through the
//! proxy a session's writes run on the connections of several groups, each numbering its
//! own transactions, and a read of the variable reaches whichever connection the statement
//! goes to: an empty string or the GTID of an earlier write on another group, where one
//! server gives the last one. No single value is right, so reads are refused.

use super::lexer::{session_variable_at, significant, Token};
use super::mentions::mentions;
use crate::error::{Error, Result};

/// Refuses a statement that reads `@@last_gtid` in any spelling `session_variable_at` reads.
pub(crate) fn refuse_reads(sql: &str) -> Result<()> {
    let b = sql.as_bytes();
    if !(b.contains(&b'@') && mentions(b, b"last_gtid")) {
        return Ok(());
    }
    let toks: Vec<Token> = significant(sql).collect();
    let reads = (0..toks.len())
        .any(|i| session_variable_at(&toks, i, sql).is_some_and(|(name, _)| name == "last_gtid"));
    if reads {
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
        ] {
            assert!(refuse_reads(sql).is_err(), "{sql}");
        }
        for sql in [
            "SELECT 'last_gtid'",
            "SELECT @last_gtid",
            "SELECT last_gtid FROM t",
        ] {
            assert!(refuse_reads(sql).is_ok(), "{sql}");
        }
    }
}
