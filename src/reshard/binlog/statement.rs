//! What a Query event's statement means for the stream: transaction control (BEGIN, COMMIT,
//! savepoints, XA), or a statement that may touch a filtered table (DDL, or DML a session
//! logged as a statement).
//!
//! Reading which tables a DDL names errs on the side of seeing one: a false "schema change"
//! stops a job loudly, a missed one would let it copy rows into a layout that no longer
//! matches. Only statements that never change a table's rows or columns (views, grants,
//! ANALYZE/OPTIMIZE/CHECK/REPAIR, FLUSH) and `CREATE TABLE`'s source tables (`LIKE t`,
//! `SELECT ... FROM t`) are passed over.

use std::collections::BTreeSet;

use crate::plan::lexer::{ident_value, Kind, Lexer, Token};
use crate::plan::syntax::{SqlMode, Syntax};

/// Transaction control, or something else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    Begin,
    Commit,
    Rollback,
    Savepoint(String),
    RollbackTo(String),
    /// `XA START`/`XA END`: brackets inside a prepared XA group.
    XaBracket,
    XaCommit,
    XaRollback,
    Other,
}

/// What a statement that is not transaction control does to the filtered tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Touch {
    None,
    /// DDL naming this filtered table (`*`: the whole schema, as DROP DATABASE).
    Schema(String),
    /// DML logged as a statement naming this filtered table: its rows are not in the binlog.
    Rows(String),
}

/// Where a statement is read: the filter and how the server reads text.
pub struct Scope<'a> {
    pub schema: &'a str,
    pub tables: &'a BTreeSet<String>,
    pub server_version: u32,
}

fn words(sql: &str, syntax: Syntax) -> Vec<Token> {
    Lexer::with_syntax(sql, syntax)
        .filter(|t| !t.is_trivia())
        .collect()
}

pub fn control(sql: &str) -> Control {
    let toks = words(sql, Syntax::default());
    let word = |i: usize, kw: &str| toks.get(i).is_some_and(|t| t.is_word(sql, kw));
    let name = |i: usize| {
        toks.get(i)
            .map(|t| ident_value(t, sql).into_owned())
            .unwrap_or_default()
    };
    if word(0, "BEGIN") && toks.len() <= 2 || word(0, "START") && word(1, "TRANSACTION") {
        Control::Begin
    } else if word(0, "COMMIT") {
        Control::Commit
    } else if word(0, "SAVEPOINT") {
        Control::Savepoint(name(1))
    } else if word(0, "ROLLBACK") && word(1, "TO") {
        Control::RollbackTo(name(if word(2, "SAVEPOINT") { 3 } else { 2 }))
    } else if word(0, "ROLLBACK") {
        Control::Rollback
    } else if word(0, "XA") && (word(1, "START") || word(1, "BEGIN") || word(1, "END")) {
        Control::XaBracket
    } else if word(0, "XA") && word(1, "COMMIT") {
        Control::XaCommit
    } else if word(0, "XA") && word(1, "ROLLBACK") {
        Control::XaRollback
    } else {
        Control::Other
    }
}

/// The first filtered table `sql` touches, read as the server read it: `default_db` is the
/// event's current database, `sql_mode` the event's (`None` when it could not be read: then
/// every way the quotes could have read counts).
pub fn touch(sql: &str, default_db: &str, sql_mode: Option<u64>, scope: &Scope<'_>) -> Touch {
    let modes: Vec<SqlMode> = match sql_mode {
        Some(bits) => vec![mode_of(bits)],
        None => [false, true]
            .into_iter()
            .flat_map(|ansi_quotes| {
                [false, true].map(|no_backslash_escapes| SqlMode {
                    ansi_quotes,
                    no_backslash_escapes,
                    ..SqlMode::default()
                })
            })
            .collect(),
    };
    for mode in modes {
        let syntax = Syntax {
            version: scope.server_version,
            mode,
        };
        let found = touch_as(sql, &words(sql, syntax), default_db, scope);
        if found != Touch::None {
            return found;
        }
    }
    Touch::None
}

/// The sql_mode bits that change how text reads (MySQL's numbering, which MariaDB logs).
fn mode_of(bits: u64) -> SqlMode {
    const ANSI_QUOTES: u64 = 0x4;
    // POSTGRESQL, ORACLE, MSSQL, DB2, MAXDB and ANSI all imply ANSI_QUOTES.
    const IMPLY_ANSI_QUOTES: u64 = 0x100 | 0x200 | 0x400 | 0x800 | 0x1000 | 0x40000;
    const NO_BACKSLASH_ESCAPES: u64 = 0x100000;
    SqlMode {
        ansi_quotes: bits & (ANSI_QUOTES | IMPLY_ANSI_QUOTES) != 0,
        no_backslash_escapes: bits & NO_BACKSLASH_ESCAPES != 0,
        ..SqlMode::default()
    }
}

fn touch_as(sql: &str, toks: &[Token], default_db: &str, scope: &Scope<'_>) -> Touch {
    let word = |i: usize, kw: &str| toks.get(i).is_some_and(|t| t.is_word(sql, kw));
    let first_is = |kws: &[&str]| kws.iter().any(|kw| word(0, kw));
    if first_is(&[
        "GRANT", "REVOKE", "ANALYZE", "OPTIMIZE", "CHECK", "CHECKSUM", "REPAIR", "FLUSH",
    ]) {
        return Touch::None;
    }
    let until_as = toks
        .iter()
        .position(|t| t.is_word(sql, "AS"))
        .unwrap_or(toks.len());
    if first_is(&["CREATE", "ALTER", "DROP"])
        && toks[..until_as].iter().any(|t| t.is_word(sql, "VIEW"))
    {
        return Touch::None;
    }
    if first_is(&["DROP", "ALTER", "CREATE"])
        && (word(1, "DATABASE") || word(1, "SCHEMA"))
        && chains(sql, toks)
            .iter()
            .any(|c| c.len() == 1 && c[0].eq_ignore_ascii_case(scope.schema))
    {
        return if first_is(&["DROP"]) {
            Touch::Schema("*".to_string())
        } else {
            Touch::None
        };
    }
    let dml = first_is(&[
        "INSERT", "REPLACE", "UPDATE", "DELETE", "LOAD", "WITH", "CALL", "DO", "SELECT",
    ]);
    let toks = created_table(sql, toks).unwrap_or(toks);
    let in_schema = default_db.eq_ignore_ascii_case(scope.schema);
    let filtered = |name: &str| {
        let lower = name.to_lowercase();
        scope.tables.contains(&lower).then_some(lower)
    };
    for chain in chains(sql, toks) {
        let mut hit = None;
        if in_schema {
            hit = filtered(&chain[0]);
        }
        for pair in chain.windows(2) {
            if hit.is_none() && pair[0].eq_ignore_ascii_case(scope.schema) {
                hit = filtered(&pair[1]);
            }
        }
        if let Some(table) = hit {
            return if dml {
                Touch::Rows(table)
            } else {
                Touch::Schema(table)
            };
        }
    }
    Touch::None
}

/// For `CREATE [OR REPLACE] [TEMPORARY] TABLE [IF NOT EXISTS] name ...`, the tokens of the
/// created table's name: the tables it reads from (`LIKE t`, `AS SELECT ... FROM t`) do not
/// change.
fn created_table<'t>(sql: &str, toks: &'t [Token]) -> Option<&'t [Token]> {
    let mut i = 0;
    let is = |i: usize, kw: &str| toks.get(i).is_some_and(|t| t.is_word(sql, kw));
    if !is(i, "CREATE") {
        return None;
    }
    i += 1;
    if is(i, "OR") && is(i + 1, "REPLACE") {
        i += 2;
    }
    if is(i, "TEMPORARY") {
        i += 1;
    }
    if !is(i, "TABLE") {
        return None;
    }
    i += 1;
    if is(i, "IF") && is(i + 1, "NOT") && is(i + 2, "EXISTS") {
        i += 3;
    }
    // name, or db . name
    let end = if matches!(toks.get(i + 1).map(|t| t.kind), Some(Kind::Punct(b'.'))) {
        i + 3
    } else {
        i + 1
    };
    toks.get(i..end.min(toks.len()))
}

/// Dotted identifier chains (`db.t`, `t.col`, `t`), unquoted.
fn chains(sql: &str, toks: &[Token]) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut after_dot = false;
    for t in toks {
        match t.kind {
            Kind::Word | Kind::QuotedIdent if current.is_empty() || after_dot => {
                current.push(ident_value(t, sql).into_owned());
                after_dot = false;
            }
            Kind::Word | Kind::QuotedIdent => {
                out.push(std::mem::take(&mut current));
                current.push(ident_value(t, sql).into_owned());
            }
            Kind::Punct(b'.') if !current.is_empty() => after_dot = true,
            _ => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
                after_dot = false;
            }
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope_tables() -> BTreeSet<String> {
        ["patients_0", "patients_1"]
            .map(String::from)
            .into_iter()
            .collect()
    }

    fn t(sql: &str, db: &str) -> Touch {
        let tables = scope_tables();
        let scope = Scope {
            schema: "clinical",
            tables: &tables,
            server_version: 101119,
        };
        touch(sql, db, Some(0), &scope)
    }

    fn schema(table: &str) -> Touch {
        Touch::Schema(table.to_string())
    }

    #[test]
    fn reads_transaction_control() {
        assert_eq!(control("BEGIN"), Control::Begin);
        assert_eq!(control("COMMIT"), Control::Commit);
        assert_eq!(control("ROLLBACK"), Control::Rollback);
        assert_eq!(control("SAVEPOINT `s 1`"), Control::Savepoint("s 1".into()));
        assert_eq!(
            control("ROLLBACK TO `s1`"),
            Control::RollbackTo("s1".into())
        );
        assert_eq!(
            control("ROLLBACK TO SAVEPOINT s1"),
            Control::RollbackTo("s1".into())
        );
        assert_eq!(control("XA START X'7831',X'',1"), Control::XaBracket);
        assert_eq!(control("XA END X'7831',X'',1"), Control::XaBracket);
        assert_eq!(control("XA COMMIT X'7831',X'',1"), Control::XaCommit);
        assert_eq!(control("XA ROLLBACK X'7831',X'',1"), Control::XaRollback);
        assert_eq!(control("alter table t add c int"), Control::Other);
        assert_eq!(control("BEGIN NOT ATOMIC SELECT 1; END"), Control::Other);
    }

    #[test]
    fn ddl_naming_a_filtered_table_is_a_schema_change() {
        assert_eq!(
            t("alter table patients_0 add w int", "clinical"),
            schema("patients_0")
        );
        assert_eq!(
            t("ALTER TABLE `Patients_1` ADD w INT", "clinical"),
            schema("patients_1")
        );
        assert_eq!(
            t("alter table clinical.patients_0 drop w", "other"),
            schema("patients_0")
        );
        assert_eq!(
            t("TRUNCATE TABLE `clinical`.`patients_1`", ""),
            schema("patients_1")
        );
        assert_eq!(
            t(
                "RENAME TABLE x TO patients_0_old, patients_0 TO x",
                "clinical"
            ),
            schema("patients_0")
        );
        assert_eq!(
            t(
                "DROP TABLE IF EXISTS `a`,`patients_1` /* generated by server */",
                "clinical"
            ),
            schema("patients_1")
        );
        assert_eq!(t("drop database clinical", ""), schema("*"));
        assert_eq!(
            t("CREATE OR REPLACE TABLE patients_0 (id int)", "clinical"),
            schema("patients_0")
        );
        assert_eq!(
            t("create index i on patients_0 (a)", "clinical"),
            schema("patients_0")
        );
        // Executable comments run; ordinary ones do not.
        assert_eq!(
            t("ALTER TABLE /*!40000 patients_0 */ x", "clinical"),
            schema("patients_0")
        );
    }

    #[test]
    fn ddl_elsewhere_is_not_a_schema_change() {
        assert_eq!(t("alter table patients_0 add w int", "other"), Touch::None);
        assert_eq!(
            t("alter table other.patients_0 add w int", "clinical"),
            Touch::None
        );
        assert_eq!(
            t("alter table patients_2 add w int", "clinical"),
            Touch::None
        );
        assert_eq!(
            t("alter table x comment 'patients_0'", "clinical"),
            Touch::None
        );
        assert_eq!(
            t("alter table x /* patients_0 */ add y int", "clinical"),
            Touch::None
        );
        assert_eq!(t("drop database other", "clinical"), Touch::None);
        assert_eq!(
            t("create table patients_v2_0 like patients_0", "clinical"),
            Touch::None
        );
        assert_eq!(
            t(
                "CREATE TABLE IF NOT EXISTS clinical.copy AS SELECT * FROM patients_0",
                "x"
            ),
            Touch::None
        );
        assert_eq!(
            t(
                "CREATE DEFINER=`app`@`%` SQL SECURITY DEFINER VIEW v AS SELECT * FROM patients_0",
                "clinical"
            ),
            Touch::None
        );
        assert_eq!(
            t("GRANT SELECT ON clinical.patients_0 TO u", "clinical"),
            Touch::None
        );
        assert_eq!(t("OPTIMIZE TABLE patients_0", "clinical"), Touch::None);
    }

    #[test]
    fn statement_logged_dml_on_a_filtered_table_is_rows_missing() {
        assert_eq!(
            t("insert into patients_0 values (1)", "clinical"),
            Touch::Rows("patients_0".into())
        );
        assert_eq!(
            t("UPDATE clinical.patients_1 SET a = 1", ""),
            Touch::Rows("patients_1".into())
        );
        assert_eq!(t("insert into other values (1)", "clinical"), Touch::None);
    }

    #[test]
    fn ansi_quotes_follow_the_event_s_sql_mode() {
        let tables = scope_tables();
        let scope = Scope {
            schema: "clinical",
            tables: &tables,
            server_version: 101119,
        };
        let sql = r#"ALTER TABLE "patients_0" ADD w INT"#;
        assert_eq!(touch(sql, "clinical", Some(0), &scope), Touch::None);
        assert_eq!(
            touch(sql, "clinical", Some(0x4), &scope),
            schema("patients_0")
        );
        // Unknown mode: read every way.
        assert_eq!(touch(sql, "clinical", None, &scope), schema("patients_0"));
    }
}
