//! Which statements a write hold (a resharding cutover) must stop: those that may write one
//! of the held tables. Read from tokens, without the planner, because the answer is needed
//! before planning (a held statement is planned only once it is let through, with the rules
//! current then) and for the text of statements already running.
//!
//! The answer errs on the side of holding: a statement that may write (anything but a plain
//! read) and names a held table anywhere counts, even where the name is only read
//! (`INSERT INTO audit SELECT * FROM patients`) or is a string equal to the name (which under
//! ANSI_QUOTES may be an identifier). Holding too much only delays a statement; letting one
//! write through would put its row where the new layout no longer looks.

use super::lexer::{ident_value, Kind, Lexer, Token};
use super::syntax::Syntax;

/// The first of `tables` (lower-case logical names of database `db`) that `sql` may write,
/// if any. `current_db` is the database unqualified names belong to (None: unknown, so
/// they count).
pub fn held_table_written<'t>(
    sql: &str,
    syntax: Syntax,
    current_db: Option<&str>,
    db: &str,
    tables: &'t [String],
) -> Option<&'t str> {
    let toks: Vec<Token> = Lexer::with_syntax(sql, syntax)
        .filter(|t| !t.is_trivia())
        .collect();
    if !may_write(&toks, sql) {
        return None;
    }
    let unqualified_counts = current_db.is_none_or(|c| c.eq_ignore_ascii_case(db));
    for (i, t) in toks.iter().enumerate() {
        if !is_name(t) {
            continue;
        }
        let name = name_value(t, sql);
        let Some(held) = tables.iter().find(|h| h.eq_ignore_ascii_case(&name)) else {
            continue;
        };
        let qualifier = (i >= 2 && toks[i - 1].kind == Kind::Punct(b'.') && is_name(&toks[i - 2]))
            .then(|| toks[i - 2]);
        let counts = match qualifier {
            Some(q) => name_value(&q, sql).eq_ignore_ascii_case(db),
            None => unqualified_counts,
        };
        if counts {
            return Some(held);
        }
    }
    None
}

/// An identifier, or a string that may be one (ANSI_QUOTES, or read without the session's
/// sql_mode).
fn is_name(t: &Token) -> bool {
    matches!(t.kind, Kind::Word | Kind::QuotedIdent | Kind::Str)
}

/// The name a token spells: an identifier unquoted, a string without its quotes (escapes
/// are left as they are: a table name has none worth holding for).
fn name_value<'s>(t: &Token, sql: &'s str) -> std::borrow::Cow<'s, str> {
    if t.kind != Kind::Str {
        return ident_value(t, sql);
    }
    let text = t.text(sql);
    let inner = text.get(1..text.len().saturating_sub(1)).unwrap_or("");
    std::borrow::Cow::Borrowed(inner)
}

/// Statements whose first word makes them reads; everything else (INSERT, REPLACE, UPDATE,
/// DELETE, LOAD DATA, DDL, LOCK TABLES, HANDLER, CALL, maintenance, ...) may write.
const READS: &[&str] = &[
    "SELECT",
    "WITH",
    "VALUES",
    "TABLE",
    "SHOW",
    "DESCRIBE",
    "DESC",
    "EXPLAIN",
    "HELP",
    "USE",
    "SET",
    "BEGIN",
    "START",
    "COMMIT",
    "ROLLBACK",
    "SAVEPOINT",
    "RELEASE",
    "KILL",
    "DO",
    "CHECK",
    "CHECKSUM",
    "SHARDGATE",
];

/// A write, or a read that locks rows (FOR UPDATE, FOR SHARE, LOCK IN SHARE MODE) or, after
/// a WITH, changes them (`WITH ... UPDATE` / `DELETE`).
fn may_write(toks: &[Token], sql: &str) -> bool {
    let Some(first) = toks.iter().find(|t| t.kind != Kind::Punct(b'(')) else {
        return false;
    };
    if !READS.iter().any(|w| first.is_word(sql, w)) {
        return true;
    }
    let word = |i: usize, w: &str| toks.get(i).is_some_and(|t| t.is_word(sql, w));
    let with = first.is_word(sql, "WITH");
    (0..toks.len()).any(|i| {
        (word(i, "FOR") && (word(i + 1, "UPDATE") || word(i + 1, "SHARE")))
            || (word(i, "LOCK") && word(i + 1, "IN") && word(i + 2, "SHARE"))
            || (with
                && ["INSERT", "UPDATE", "DELETE", "REPLACE"]
                    .iter()
                    .any(|w| word(i, w)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(sql: &str, current: Option<&str>) -> Option<String> {
        let tables = ["patients".to_string(), "clinical_data".to_string()];
        held_table_written(sql, Syntax::default(), current, "clinical", &tables).map(str::to_string)
    }

    fn holds(sql: &str) -> bool {
        held(sql, Some("clinical")).is_some()
    }

    /// SHARDGATE PREVIEW shows a plan and runs nothing: a cutover does not hold it.
    #[test]
    fn a_preview_of_a_write_is_not_held() {
        assert!(!holds(
            "SHARDGATE PREVIEW INSERT INTO patients (id) VALUES (1)"
        ));
        assert!(!holds("shardgate preview DELETE FROM patients"));
    }

    #[test]
    fn writes_of_every_kind_are_held() {
        for sql in [
            "INSERT INTO patients (id) VALUES (1)",
            "insert into `Patients` values (1)",
            "REPLACE INTO patients VALUES (1)",
            "UPDATE patients SET name = 'x' WHERE id = 1",
            "UPDATE hospitals h JOIN patients p ON p.hospital_id = h.id SET p.name = h.name",
            "DELETE p FROM patients p JOIN hospitals h ON h.id = p.hospital_id",
            "DELETE FROM clinical.patients WHERE id = 1",
            "LOAD DATA LOCAL INFILE '/tmp/p.csv' INTO TABLE patients",
            "ALTER TABLE patients ADD COLUMN x INT",
            "TRUNCATE TABLE clinical_data",
            "DROP TABLE patients",
            "RENAME TABLE patients TO old_patients",
            "LOCK TABLES patients WRITE",
            "SELECT * FROM patients WHERE id = 1 FOR UPDATE",
            "SELECT * FROM patients WHERE id = 1 LOCK IN SHARE MODE",
            "(SELECT * FROM patients) FOR SHARE",
            "/*!40000 INSERT INTO patients VALUES (1) */",
            "WITH x AS (SELECT 1) UPDATE patients SET name = 'y'",
            "INSERT INTO audit SELECT * FROM patients",
        ] {
            assert!(holds(sql), "{sql}");
        }
    }

    #[test]
    fn reads_and_other_tables_go_on() {
        for sql in [
            "SELECT * FROM patients WHERE id = 1",
            "SELECT COUNT(*) FROM clinical_data",
            "WITH p AS (SELECT * FROM patients) SELECT * FROM p",
            "SHOW CREATE TABLE patients",
            "EXPLAIN SELECT * FROM patients",
            "INSERT INTO hospitals VALUES (1, 'patients_ward')",
            "UPDATE hospitals SET name = 'x'",
            "INSERT INTO other.patients VALUES (1)",
            "BEGIN",
            "COMMIT",
            "SET @x = 1",
            "/* INSERT INTO patients */ SELECT 1",
        ] {
            assert!(!holds(sql), "{sql}");
        }
    }

    #[test]
    fn unqualified_names_belong_to_the_current_database() {
        assert_eq!(
            held("INSERT INTO patients VALUES (1)", Some("sbtest")),
            None
        );
        assert_eq!(
            held("INSERT INTO clinical.patients VALUES (1)", Some("sbtest")),
            Some("patients".into())
        );
        assert_eq!(
            held("INSERT INTO patients VALUES (1)", None),
            Some("patients".into())
        );
        assert_eq!(
            held("UPDATE clinical_data SET v = 1", Some("CLINICAL")),
            Some("clinical_data".into())
        );
    }

    #[test]
    fn names_that_may_be_identifiers_count() {
        // Under ANSI_QUOTES "patients" is the table; read without the sql_mode it is a string.
        assert!(holds("INSERT INTO \"patients\" VALUES (1)"));
        assert!(!holds("SELECT 'INSERT INTO patients'"));
    }

    #[test]
    fn nothing_panics_on_odd_text() {
        for sql in [
            "",
            "(",
            ".patients",
            "INSERT",
            "x.patients",
            "'",
            "`patients",
        ] {
            let _ = holds(sql);
        }
    }
}
