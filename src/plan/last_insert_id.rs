//! `SELECT LAST_INSERT_ID()` (or `@@identity`, `@@last_insert_id`) and `SELECT ROW_COUNT()`,
//! alone, with an optional alias. ROW_COUNT() is about the previous statement, whose
//! connection a multiplexed session may already have given back; so it too is answered from
//! the session, as `SELECT COALESCE(<value>, ROW_COUNT())`, which has ROW_COUNT()'s type.
//!
//! LAST_INSERT_ID(): On one server it returns the last id that connection generated; through the proxy
//! the insert may have run on another group's connection, or the id may have been generated
//! by the proxy. So execution answers it from the session's own value, asking the backend
//! `SELECT LAST_INSERT_ID(<value>) AS <name>` so that the column definition is exactly the
//! server's.

use super::lexer::{session_variable_at, significant, Kind, Token};

/// Whether `toks[i]` starts the connection's last insert id as a variable: `@@identity` or
/// `@@last_insert_id`, in every spelling the server reads (scoped `session.` / `local.`,
/// backquoted, spaces around the dot; see `lexer::session_variable_at`), and how many
/// tokens it takes. `toks` without trivia.
fn insert_id_variable_at(toks: &[Token], i: usize, sql: &str) -> Option<usize> {
    let (name, used) = session_variable_at(toks, i, sql)?;
    (name == "identity" || name == "last_insert_id").then_some(used)
}

/// Whether `toks[i]` starts a read of the connection's last insert id: `LAST_INSERT_ID()`
/// (with no argument: with one it sets the value) or the variable (`insert_id_variable_at`),
/// and how many tokens it takes. `toks` without trivia.
pub(crate) fn insert_id_read_at(toks: &[Token], i: usize, sql: &str) -> Option<usize> {
    let punct = |k: usize, p: u8| toks.get(k).is_some_and(|t| t.kind == Kind::Punct(p));
    if toks.get(i)?.is_name(sql, "LAST_INSERT_ID") && punct(i + 1, b'(') && punct(i + 2, b')') {
        return Some(3);
    }
    insert_id_variable_at(toks, i, sql)
}

/// Whether `sql` reads the connection's last insert id (see `insert_id_read_at`): a
/// string that names it (`SHOW VARIABLES LIKE 'last_insert_id'`) or a call that sets it
/// (`LAST_INSERT_ID(42)`) does not.
pub fn reads_insert_id(sql: &str) -> bool {
    let toks: Vec<Token> = significant(sql).collect();
    (0..toks.len()).any(|i| insert_id_read_at(&toks, i, sql).is_some())
}

/// `sql` with each read of the connection's last insert id (`LAST_INSERT_ID()`, the
/// `@@identity` / `@@last_insert_id` variables) replaced by `value`, the session's own;
/// `None` when it reads none. A SET runs on every connection of the session, each of which
/// would give its own; the number is the one a single server would.
pub fn with_insert_id(sql: &str, value: u64) -> Option<String> {
    let toks: Vec<Token> = significant(sql).collect();
    let mut out = String::with_capacity(sql.len());
    let mut copied = 0;
    let mut replaced = false;
    let mut i = 0;
    while i < toks.len() {
        match insert_id_read_at(&toks, i, sql) {
            Some(used) => {
                out.push_str(&sql[copied..toks[i].start]);
                out.push_str(&value.to_string());
                copied = toks[i + used - 1].end;
                replaced = true;
                i += used;
            }
            None => i += 1,
        }
    }
    replaced.then(|| {
        out.push_str(&sql[copied..]);
        out
    })
}

/// `sql` with every read of the connection's last insert id (see `insert_id_read_at`) made
/// 0, for a session that has generated none: the connection the statement reaches may have
/// come from the pool still holding another session's id (a connection a stateless session
/// gives back is not reset). `IF(FALSE, <read>, CAST(0 AS UNSIGNED))` keeps the read's column
/// type; select items keep their names as `select_item_splice` says. `None` when it reads
/// none.
pub fn with_no_insert_id(sql: &str) -> crate::error::Result<Option<String>> {
    let target_len = |sql: &str, toks: &[Token], i: usize| insert_id_read_at(toks, i, sql);
    super::select_item_splice::spliced(
        sql,
        &super::select_item_splice::Splice {
            target_len: &target_len,
            replacement: &|read| format!("IF(FALSE, {read}, CAST(0 AS UNSIGNED))"),
            what: "LAST_INSERT_ID() or @@identity",
            why: "shardgate puts the session's own value there, 0 before its first insert",
        },
    )
}

/// The column name the client expects, when `sql` is such a query.
pub fn last_insert_id_query(sql: &str) -> Option<String> {
    let toks: Vec<_> = significant(sql)
        .filter(|t| t.kind != Kind::Punct(b';'))
        .collect();
    let word = |i: usize, w: &str| toks.get(i).is_some_and(|t| t.is_word(sql, w));
    if !word(0, "SELECT") {
        return None;
    }
    let expr_end = match toks.get(1)?.kind {
        Kind::Variable => 1 + insert_id_variable_at(&toks, 1, sql)?,
        _ if toks[1].is_name(sql, "LAST_INSERT_ID") => {
            let open = toks.get(2)?.kind == Kind::Punct(b'(');
            let close = toks.get(3)?.kind == Kind::Punct(b')');
            if !(open && close) {
                return None;
            }
            4
        }
        _ => return None,
    };
    column_name(sql, &toks, expr_end)
}

/// The column name the client expects, when `sql` is `SELECT ROW_COUNT() [[AS] alias]`.
pub fn row_count_query(sql: &str) -> Option<String> {
    let toks: Vec<_> = significant(sql)
        .filter(|t| t.kind != Kind::Punct(b';'))
        .collect();
    let word = |i: usize, w: &str| toks.get(i).is_some_and(|t| t.is_word(sql, w));
    let call = word(0, "SELECT")
        && toks.get(1).is_some_and(|t| t.is_name(sql, "ROW_COUNT"))
        && toks.get(2)?.kind == Kind::Punct(b'(')
        && toks.get(3)?.kind == Kind::Punct(b')');
    if !call {
        return None;
    }
    column_name(sql, &toks, 4)
}

/// The column name the client expects, when `sql` is `SELECT FOUND_ROWS() [[AS] alias]`.
pub fn found_rows_query(sql: &str) -> Option<String> {
    let toks: Vec<_> = significant(sql)
        .filter(|t| t.kind != Kind::Punct(b';'))
        .collect();
    let word = |i: usize, w: &str| toks.get(i).is_some_and(|t| t.is_word(sql, w));
    let call = word(0, "SELECT")
        && toks.get(1).is_some_and(|t| t.is_name(sql, "FOUND_ROWS"))
        && toks.get(2)?.kind == Kind::Punct(b'(')
        && toks.get(3)?.kind == Kind::Punct(b')');
    if !call {
        return None;
    }
    column_name(sql, &toks, 4)
}

/// The query that returns `value` under `name` with FOUND_ROWS()'s column type.
pub fn found_rows_sql(value: u64, name: &str) -> String {
    format!(
        "SELECT COALESCE({value}, FOUND_ROWS()) AS `{}`",
        name.replace('`', "``")
    )
}

/// The query that returns `value` under `name` with ROW_COUNT()'s column type.
pub fn row_count_sql(value: i64, name: &str) -> String {
    format!(
        "SELECT COALESCE({value}, ROW_COUNT()) AS `{}`",
        name.replace('`', "``")
    )
}

/// The select item's name: its text, or the alias after it (the only tokens allowed there).
fn column_name(sql: &str, toks: &[super::lexer::Token], expr_end: usize) -> Option<String> {
    let word = |i: usize, w: &str| toks.get(i).is_some_and(|t| t.is_word(sql, w));
    let expr = &sql[toks[1].start..toks[expr_end - 1].end];
    let mut end = toks.len();
    // `FROM DUAL` names no table: the same query.
    if end >= expr_end + 2 && word(end - 2, "FROM") && word(end - 1, "DUAL") {
        end -= 2;
    }
    let alias = match end - expr_end {
        0 => None,
        1 => Some(toks[expr_end]),
        2 if word(expr_end, "AS") => Some(toks[expr_end + 1]),
        _ => return None,
    };
    match alias {
        None => Some(expr.to_string()),
        Some(a) if matches!(a.kind, Kind::Word | Kind::QuotedIdent | Kind::Str) => {
            let text = a.text(sql);
            Some(match a.kind {
                Kind::Word => text.to_string(),
                _ => super::lexer::ident_value(&a, sql).into_owned(),
            })
        }
        Some(_) => None,
    }
}

/// The query that returns `value` under `name` with LAST_INSERT_ID()'s column type.
pub fn answer_sql(value: u64, name: &str) -> String {
    format!(
        "SELECT LAST_INSERT_ID({value}) AS `{}`",
        name.replace('`', "``")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_insert_id_yet_reads_zero() {
        assert_eq!(
            with_no_insert_id("SELECT LAST_INSERT_ID()")
                .unwrap()
                .as_deref(),
            Some("SELECT IF(FALSE, LAST_INSERT_ID(), CAST(0 AS UNSIGNED)) AS `LAST_INSERT_ID()`")
        );
        assert_eq!(
            with_no_insert_id("SELECT @@identity + 1 AS n")
                .unwrap()
                .as_deref(),
            Some("SELECT IF(FALSE, @@identity, CAST(0 AS UNSIGNED)) + 1 AS n")
        );
        assert_eq!(
            with_no_insert_id("INSERT INTO t (p) VALUES (LAST_INSERT_ID())")
                .unwrap()
                .as_deref(),
            Some("INSERT INTO t (p) VALUES (IF(FALSE, LAST_INSERT_ID(), CAST(0 AS UNSIGNED)))")
        );
        assert!(with_no_insert_id("SELECT LAST_INSERT_ID() + 1").is_err());
        assert_eq!(with_no_insert_id("SELECT LAST_INSERT_ID(5)").unwrap(), None);
    }

    #[test]
    fn recognises_the_forms() {
        let q = last_insert_id_query;
        assert_eq!(
            q("SELECT LAST_INSERT_ID() AS id FROM DUAL").as_deref(),
            Some("id")
        );
        assert_eq!(
            q("select last_insert_id() from dual").as_deref(),
            Some("last_insert_id()")
        );
        assert_eq!(q("SELECT LAST_INSERT_ID() FROM t"), None);
        assert_eq!(
            q("SELECT LAST_INSERT_ID()").as_deref(),
            Some("LAST_INSERT_ID()")
        );
        assert_eq!(
            q("select last_insert_id ( );").as_deref(),
            Some("last_insert_id ( )")
        );
        assert_eq!(q("SELECT @@identity").as_deref(), Some("@@identity"));
        assert_eq!(
            q("SELECT @@session.last_insert_id").as_deref(),
            Some("@@session.last_insert_id")
        );
        assert_eq!(q("SELECT LAST_INSERT_ID() AS id").as_deref(), Some("id"));
        assert_eq!(
            q("SELECT LAST_INSERT_ID() `my id`").as_deref(),
            Some("my id")
        );
        assert_eq!(q("SELECT LAST_INSERT_ID(5)"), None);
        assert_eq!(q("SELECT LAST_INSERT_ID(), 1"), None);
        assert_eq!(q("SELECT LAST_INSERT_ID() FROM t"), None);
        assert_eq!(q("SELECT @@version"), None);
        assert_eq!(
            q("SELECT @@LOCAL.Identity").as_deref(),
            Some("@@LOCAL.Identity")
        );
        assert_eq!(q("SELECT @@global.identity"), None);
        assert_eq!(q("SELECT @identity"), None);
        assert!(reads_insert_id("SELECT 1 + @@Session.IDENTITY"));
        assert!(reads_insert_id("SELECT @@session . `last_insert_id` + 1"));
        assert_eq!(
            q("SELECT @@session /* x */ . identity").as_deref(),
            Some("@@session /* x */ . identity")
        );
        assert_eq!(q("SELECT `LAST_INSERT_ID`() AS id").as_deref(), Some("id"));
        assert_eq!(
            row_count_query("SELECT `row_count`()").as_deref(),
            Some("`row_count`()")
        );
        assert_eq!(
            found_rows_query("SELECT `Found_Rows`()").as_deref(),
            Some("`Found_Rows`()")
        );
        assert!(!reads_insert_id("SELECT identity FROM t"));
        assert_eq!(
            with_insert_id(
                "SET @a = LAST_INSERT_ID() + @@session . identity, @b = 'x'",
                7
            )
            .as_deref(),
            Some("SET @a = 7 + 7, @b = 'x'")
        );
        assert_eq!(
            with_insert_id("SET @a = `last_insert_id` ( )", 9).as_deref(),
            Some("SET @a = 9")
        );
        assert_eq!(with_insert_id("SET @a = LAST_INSERT_ID(5)", 7), None);
        assert_eq!(with_insert_id("SET @a = 'LAST_INSERT_ID()'", 7), None);
        assert!(!reads_insert_id("SELECT @@local.identity_x"));
        assert_eq!(answer_sql(42, "a`b"), "SELECT LAST_INSERT_ID(42) AS `a``b`");
    }

    #[test]
    fn recognises_row_count() {
        let q = row_count_query;
        assert_eq!(q("SELECT ROW_COUNT()").as_deref(), Some("ROW_COUNT()"));
        assert_eq!(q("select row_count ( ) AS n;").as_deref(), Some("n"));
        assert_eq!(q("SELECT ROW_COUNT() + 1"), None);
        assert_eq!(q("SELECT ROW_COUNT() FROM t"), None);
        assert_eq!(
            row_count_sql(-1, "ROW_COUNT()"),
            "SELECT COALESCE(-1, ROW_COUNT()) AS `ROW_COUNT()`"
        );
    }
}
