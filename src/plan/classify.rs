//! What kind of statement a text is, from its first words (comments skipped, executable
//! comments read as code). This runs before any parsing: session statements are never
//! parsed, statements the proxy refuses are refused by name, and INSERT gets its fast path.

use super::first_word::FirstWord;
use super::lexer::{significant, Kind, Token};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Leading {
    Set,
    Use,
    Transaction,
    /// Refused with the given statement name.
    Refuse(String),
    /// INSERT or REPLACE.
    Insert,
    /// SELECT (it has a fast path too).
    Select,
    /// MariaDB's `ANALYZE SELECT|UPDATE|DELETE|INSERT|REPLACE`: runs the statement and
    /// explains it.
    AnalyzeStatement,
    /// OPTIMIZE / REPAIR / CHECK / CHECKSUM / ANALYZE TABLE.
    Maintenance,
    /// CREATE / ALTER / DROP SEQUENCE: a sequence is an unsharded object of the default group.
    SequenceDdl,
    Other,
}

/// The first `n` words of `sql`, upper-cased and joined by spaces (for messages).
pub(crate) fn statement_name(sql: &str, n: usize) -> String {
    let mut out = String::new();
    for t in significant(sql)
        .take_while(|t| t.kind == Kind::Word)
        .take(n)
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&t.text(sql).to_ascii_uppercase());
    }
    if out.is_empty() {
        out.push_str("this statement");
    }
    out
}

pub(crate) fn leading(sql: &str) -> Leading {
    decided_by_first_word(FirstWord::of(sql)).unwrap_or_else(|| leading_by_tokens(sql))
}

fn leading_by_tokens(sql: &str) -> Leading {
    let mut it = significant(sql);
    let (a, b) = (it.next(), it.next());
    let is = |t: Option<Token>, w: &str| t.is_some_and(|t| t.is_word(sql, w));
    let first_is = |ws: &[&str]| ws.iter().any(|w| is(a, w));
    let second_is = |ws: &[&str]| ws.iter().any(|w| is(b, w));
    let refuse = |n: usize, what: &str| {
        let name = statement_name(sql, n);
        Leading::Refuse(if what.is_empty() {
            name
        } else {
            format!("{name} ({what})")
        })
    };

    if first_is(&["SET"]) {
        return Leading::Set;
    }
    if first_is(&["USE"]) {
        return Leading::Use;
    }
    if first_is(&["INSERT", "REPLACE"]) {
        return Leading::Insert;
    }
    if first_is(&["SELECT"]) {
        return Leading::Select;
    }
    if first_is(&[
        "WITH", "UPDATE", "DELETE", "SHOW", "DESCRIBE", "DESC", "EXPLAIN",
    ]) {
        return Leading::Other;
    }
    if first_is(&["COMMIT", "ROLLBACK", "SAVEPOINT"])
        || first_is(&["RELEASE"]) && second_is(&["SAVEPOINT"])
        || first_is(&["START"]) && second_is(&["TRANSACTION"])
        || first_is(&["BEGIN"]) && (b.is_none() || second_is(&["WORK"]) || is_end(b))
    {
        return Leading::Transaction;
    }
    if first_is(&["ANALYZE"]) && second_is(&["SELECT", "UPDATE", "DELETE", "INSERT", "REPLACE"]) {
        return Leading::AnalyzeStatement;
    }
    if first_is(&["OPTIMIZE", "REPAIR", "CHECK", "CHECKSUM", "ANALYZE"])
        && second_is(&["TABLE", "TABLES", "NO_WRITE_TO_BINLOG", "LOCAL"])
    {
        return Leading::Maintenance;
    }
    if first_is(&["CREATE", "DROP", "ALTER"]) && second_is(&["SEQUENCE"]) {
        return Leading::SequenceDdl;
    }
    if first_is(&["CREATE"])
        && second_is(&["OR"])
        && significant(sql)
            .nth(3)
            .is_some_and(|t| t.is_word(sql, "SEQUENCE"))
    {
        return Leading::SequenceDdl;
    }
    if first_is(&["XA"]) {
        return refuse(1, "distributed transactions");
    }
    if first_is(&["PREPARE", "EXECUTE", "DEALLOCATE"])
        || first_is(&["DROP"]) && second_is(&["PREPARE"])
    {
        // The text of `PREPARE s FROM '...'` would run on a backend without being planned
        // (a sharded table's logical name, unrouted), so SQL-level prepared statements are
        // refused, EXECUTE and DEALLOCATE too (no statement can have been prepared).
        return refuse(
            1,
            "SQL-level prepared statements, whose text a server would run unplanned; use the \
             binary protocol (COM_STMT_PREPARE), which routes each execution by its values",
        );
    }
    if first_is(&["CALL"]) {
        return refuse(1, "stored procedures");
    }
    if first_is(&["CREATE", "DROP", "ALTER", "RENAME"])
        && second_is(&[
            "USER",
            "ROLE",
            "PROCEDURE",
            "FUNCTION",
            "TRIGGER",
            "EVENT",
            "SERVER",
            "TABLESPACE",
            "LOGFILE",
            "PACKAGE",
            "DEFINER",
            "AGGREGATE",
        ])
    {
        return refuse(2, "");
    }
    if first_is(&[
        "LOAD", "LOCK", "UNLOCK", "CHANGE", "STOP", "START", "CACHE", "RESET", "PURGE", "BEGIN",
    ]) {
        return refuse(2, "");
    }
    if first_is(&[
        "HANDLER",
        "FLUSH",
        "KILL",
        "GRANT",
        "REVOKE",
        "INSTALL",
        "UNINSTALL",
        "SHUTDOWN",
        "RESTART",
        "BINLOG",
        "SIGNAL",
        "RESIGNAL",
        "GET",
        "HELP",
        "DO",
        "BACKUP",
        "VALUES",
        "TABLE",
    ]) {
        return refuse(1, "");
    }
    Leading::Other
}

/// The kinds whose first word alone decides them, tried in the order `leading` tries them
/// (none of which looks at a second word), read without the lexer when the text starts with
/// a plain word: the statements a proxy serves most (a point select lexed twice here cost a
/// thirtieth of its instructions).
fn decided_by_first_word(first: FirstWord<'_>) -> Option<Leading> {
    const BY_FIRST_WORD: [(&[&str], Leading); 6] = [
        (&["SET"], Leading::Set),
        (&["USE"], Leading::Use),
        (&["INSERT", "REPLACE"], Leading::Insert),
        (&["SELECT"], Leading::Select),
        (
            &[
                "WITH", "UPDATE", "DELETE", "SHOW", "DESCRIBE", "DESC", "EXPLAIN",
            ],
            Leading::Other,
        ),
        (&["COMMIT", "ROLLBACK", "SAVEPOINT"], Leading::Transaction),
    ];
    BY_FIRST_WORD
        .into_iter()
        .find(|(words, _)| first.is_one_of(words))
        .map(|(_, kind)| kind)
}

fn is_end(t: Option<Token>) -> bool {
    t.is_some_and(|t| t.kind == Kind::Punct(b';'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_word_decides_as_the_tokens_do() {
        for sql in [
            "SELECT 1",
            "  select\t* from t",
            "Set names utf8",
            "use db",
            "INSERT INTO t VALUES (1)",
            "replace t set a = 1",
            "WITH x AS (SELECT 1) SELECT * FROM x",
            "update t set a = 1",
            "DELETE FROM t",
            "show tables",
            "desc t",
            "DESCRIBE t",
            "EXPLAIN SELECT 1",
            "commit",
            "ROLLBACK TO SAVEPOINT a",
            "savepoint a",
            "SELECT`a`FROM t",
            "select(1)",
            "SET@x=1",
            "selectx 1",
            "SELECTé 1",
            "/*!40101 SET NAMES utf8 */",
            "-- c\nSELECT 1",
            "x'41'",
        ] {
            let by_tokens = leading_by_tokens(sql);
            if let Some(quick) = decided_by_first_word(FirstWord::of(sql)) {
                assert_eq!(quick, by_tokens, "{sql}");
            }
            assert_eq!(leading(sql), by_tokens, "{sql}");
        }
    }

    #[test]
    fn leading_words() {
        assert_eq!(leading("  /* c */ set names utf8"), Leading::Set);
        assert_eq!(leading("/*!40101 SET NAMES utf8 */"), Leading::Set);
        assert_eq!(leading("-- x\nBEGIN"), Leading::Transaction);
        assert_eq!(leading("begin work;"), Leading::Transaction);
        assert_eq!(leading("START TRANSACTION READ ONLY"), Leading::Transaction);
        assert_eq!(leading("RELEASE SAVEPOINT a"), Leading::Transaction);
        assert_eq!(
            leading("BEGIN NOT ATOMIC SELECT 1; END"),
            Leading::Refuse("BEGIN NOT".into())
        );
        assert_eq!(
            leading("xa start 'x'"),
            Leading::Refuse("XA (distributed transactions)".into())
        );
        assert_eq!(
            leading("LOAD DATA INFILE 'x'"),
            Leading::Refuse("LOAD DATA".into())
        );
        assert_eq!(
            leading("create user x"),
            Leading::Refuse("CREATE USER".into())
        );
        assert_eq!(leading("replace into t values (1)"), Leading::Insert);
        assert_eq!(leading("ANALYZE SELECT 1"), Leading::AnalyzeStatement);
        assert_eq!(leading("ANALYZE TABLE t"), Leading::Maintenance);
        assert_eq!(leading("SELECT 1"), Leading::Select);
        assert_eq!(leading(""), Leading::Other);
    }
}
