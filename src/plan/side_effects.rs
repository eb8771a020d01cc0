//! SELECTs that write or take locks: they must run on the master, never on a replica.
//!
//! A replica runs with read_only, so a write there fails at best; at worst it succeeds in a
//! way nobody sees: `SELECT NEXTVAL(s)` on a replica hands out ids the master hands out again
//! (and breaks replication), `SELECT GET_LOCK('job', 0)` takes a lock no other session on the
//! master can see. So a read is marked master-only (`Route::is_write`) when it
//! - calls a sequence function (NEXTVAL, SETVAL, LASTVAL, `NEXT VALUE FOR`, `PREVIOUS VALUE
//!   FOR`), a user-lock function (GET_LOCK, RELEASE_LOCK, RELEASE_ALL_LOCKS, IS_USED_LOCK,
//!   IS_FREE_LOCK: the locks live on the master) or `LAST_INSERT_ID(expr)` (sets it);
//! - stores its result (`INTO @var`, `INTO OUTFILE`, `INTO DUMPFILE`) or assigns a user
//!   variable (`@x := ...`);
//! - calls a function that is not one of MariaDB's built-in functions (`functions`): a stored
//!   function may write, so unless the server config lists it in
//!   `[routing] read_only_functions` it runs on the master.
//!
//! Sequences, locks, `INTO` and assignments hold state on one server connection: run once per
//! shard they would take several values, locks or rows, so over several targets they are
//! refused.

use super::functions::is_builtin;
use super::lexer::{significant, Kind, Token};
use super::statement_words::{mentioned, COLON, INTO, OPEN_PAREN, VALUE};
use super::Plan;
use crate::error::{Error, Result};

/// What in a statement makes it master-only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SideEffect {
    /// State on one connection (sequence value, lock, variable, file): named for messages.
    Stateful(String),
    /// A function that may write (a stored function).
    MayWrite(String),
}

/// Marks a read with side effects as master-only, or refuses it over several targets.
pub(crate) fn apply(sql: &str, plan: &mut Plan, read_only_functions: &[String]) -> Result<()> {
    let route = match plan {
        Plan::Route(r) => r,
        Plan::Scatter(s) => &mut s.route,
        Plan::Materialize(m) => {
            // The statement runs once, on the default group's master, but over copies:
            // what it writes or locks would not be the tables it names.
            return match find(sql, read_only_functions) {
                None => Ok(()),
                Some(SideEffect::Stateful(what) | SideEffect::MayWrite(what)) => {
                    Err(Error::unsupported(format!(
                        "{what} in a query over several shards that shardgate answers from \
                         copies of the rows ({})",
                        m.reason
                    )))
                }
            };
        }
        _ => return Ok(()),
    };
    if route.is_write {
        return refuse_stateful_write(sql, route.targets.len(), read_only_functions);
    }
    match find(sql, read_only_functions) {
        None => Ok(()),
        Some(SideEffect::Stateful(what)) if route.targets.len() > 1 => {
            Err(Error::unsupported(format!(
                "{what} in a statement over {} shards or groups (it would run once on each)",
                route.targets.len()
            )))
        }
        Some(_) => {
            route.is_write = true;
            Ok(())
        }
    }
}

/// A write over several shards or groups runs once per target, each on its own connection: a
/// variable assigned in one row is not there for a row of another shard, a sequence exists in
/// the default group only (a broadcast copy elsewhere fails after the first applied), a lock
/// is taken once per connection. Such writes are refused before anything runs. (INTO belongs
/// to the write itself there, and `LAST_INSERT_ID(expr)` is the generated-key idiom the
/// session answers from the OK packets.)
fn refuse_stateful_write(sql: &str, targets: usize, read_only_functions: &[String]) -> Result<()> {
    if targets < 2 {
        return Ok(());
    }
    match find(sql, read_only_functions) {
        Some(SideEffect::Stateful(what))
            if !what.starts_with("SELECT ... INTO") && !what.starts_with("LAST_INSERT_ID") =>
        {
            Err(Error::unsupported(format!(
                "{what} in a write over {targets} shards or groups (each runs it on its own \
                 connection)"
            )))
        }
        _ => Ok(()),
    }
}

/// `sql` calls a function that is neither built in nor listed as read-only: a stored
/// function, whose effects on its connection the proxy cannot see.
pub(crate) fn calls_stored_function(sql: &str, read_only_functions: &[String]) -> bool {
    matches!(
        find(sql, read_only_functions),
        Some(SideEffect::MayWrite(_))
    )
}

/// The first side effect of `sql`, if any (stateful ones win over functions that may write).
pub(crate) fn find(sql: &str, read_only_functions: &[String]) -> Option<SideEffect> {
    if !may_have_side_effect(sql) {
        return None;
    }
    let toks: Vec<Token> = significant(sql).collect();
    let word = |i: usize, w: &str| toks.get(i).is_some_and(|t| t.is_word(sql, w));
    let punct = |i: usize, p: u8| toks.get(i).is_some_and(|t| t.kind == Kind::Punct(p));
    let mut may_write = None;
    for (i, t) in toks.iter().enumerate() {
        match t.kind {
            Kind::Word => {
                if (word(i, "NEXT") || word(i, "PREVIOUS"))
                    && word(i + 1, "VALUE")
                    && word(i + 2, "FOR")
                {
                    return Some(SideEffect::Stateful(format!(
                        "{} VALUE FOR (a sequence)",
                        t.text(sql).to_ascii_uppercase()
                    )));
                }
                if word(i, "INTO") && !is_insert_like(&toks[..i], sql) {
                    return Some(SideEffect::Stateful("SELECT ... INTO".to_string()));
                }
                if !punct(i + 1, b'(') {
                    continue;
                }
                if names_a_column_list(&toks, i, sql) {
                    continue;
                }
                let name = t.text(sql).to_ascii_lowercase();
                if name == "group" && i > 0 && word(i - 1, "WITHIN") {
                    // `PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY ..)`.
                    continue;
                }
                let qualified = i > 0 && punct(i - 1, b'.');
                if !qualified {
                    if let Some(what) = stateful_function(&name, punct(i + 2, b')')) {
                        return Some(SideEffect::Stateful(what));
                    }
                    if is_builtin(&name) || is_keyword_before_paren(&name) {
                        continue;
                    }
                }
                if may_write.is_none() && !read_only_functions.iter().any(|f| f == &name) {
                    may_write = Some(SideEffect::MayWrite(name));
                }
            }
            Kind::QuotedIdent if punct(i + 1, b'(') => {
                // A quoted function name can only be a stored function; a quoted table or
                // CTE name before its column list is not a call.
                if names_a_column_list(&toks, i, sql) {
                    continue;
                }
                let name = super::lexer::ident_value(t, sql).to_ascii_lowercase();
                if may_write.is_none() && !read_only_functions.iter().any(|f| f == &name) {
                    may_write = Some(SideEffect::MayWrite(name));
                }
            }
            Kind::Variable if punct(i + 1, b':') && punct(i + 2, b'=') => {
                return Some(SideEffect::Stateful(format!(
                    "the assignment {} :=",
                    t.text(sql)
                )));
            }
            _ => {}
        }
    }
    may_write
}

/// The name at `toks[i]`, followed by `(`, names a table's or a CTE's column list, not a
/// call: after INTO, an INSERT's modifiers, WITH or RECURSIVE (the name may be qualified), or
/// followed after its list by `AS (` (a CTE after the first: `WITH a AS (..), b (y) AS (..)`).
fn names_a_column_list(toks: &[Token], i: usize, sql: &str) -> bool {
    let word = |i: usize, w: &str| toks.get(i).is_some_and(|t| t.is_word(sql, w));
    let punct = |i: usize, p: u8| toks.get(i).is_some_and(|t| t.kind == Kind::Punct(p));
    let qualified = i > 0 && punct(i - 1, b'.');
    let before_name = if qualified { i.checked_sub(2) } else { Some(i) };
    let after_keyword = before_name.and_then(|n| n.checked_sub(1)).is_some_and(|p| {
        [
            "INTO",
            "AS",
            "WITH",
            "RECURSIVE",
            "INSERT",
            "REPLACE",
            "IGNORE",
            "LOW_PRIORITY",
            "DELAYED",
            "HIGH_PRIORITY",
        ]
        .iter()
        .any(|w| word(p, w))
    });
    if after_keyword {
        return true;
    }
    // The list's closing parenthesis, then `AS (`.
    let mut depth = 0usize;
    for (j, t) in toks.iter().enumerate().skip(i + 1) {
        match t.kind {
            Kind::Punct(b'(') => depth += 1,
            Kind::Punct(b')') => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return word(j + 1, "AS") && punct(j + 2, b'(');
                }
            }
            _ => {}
        }
    }
    false
}

/// Whether `sql` has what every side effect `find` looks for needs: a call's `(`, the `:`
/// of `:=`, INTO, or the VALUE of `NEXT VALUE FOR`. Every read passes here, and most (a
/// point SELECT) have none of them: one pass over the bytes instead of lexing the text.
fn may_have_side_effect(sql: &str) -> bool {
    let words = mentioned(sql);
    [OPEN_PAREN, COLON, INTO, VALUE]
        .into_iter()
        .any(|w| words.has(w))
}

/// Sequence and user-lock functions, and `LAST_INSERT_ID(expr)` (`empty_args`: called with
/// no argument, which only reads).
fn stateful_function(name: &str, empty_args: bool) -> Option<String> {
    match name {
        "nextval" | "setval" | "lastval" => Some(format!("{}() (a sequence)", name.to_uppercase())),
        "get_lock" | "release_lock" | "release_all_locks" | "is_used_lock" | "is_free_lock" => {
            Some(format!("{}() (a user-level lock)", name.to_uppercase()))
        }
        "last_insert_id" if !empty_args => Some("LAST_INSERT_ID(expr)".to_string()),
        _ => None,
    }
}

/// An INTO after INSERT or REPLACE (also under EXPLAIN) is the insert's own.
fn is_insert_like(before: &[Token], sql: &str) -> bool {
    before
        .iter()
        .any(|t| t.is_word(sql, "INSERT") || t.is_word(sql, "REPLACE"))
}

/// Words that may stand before `(` without being a function call.
fn is_keyword_before_paren(name: &str) -> bool {
    matches!(
        name,
        "in" | "exists"
            | "as"
            | "from"
            | "join"
            | "on"
            | "using"
            | "and"
            | "or"
            | "xor"
            | "not"
            | "where"
            | "having"
            | "select"
            | "values"
            | "value"
            | "by"
            | "over"
            | "window"
            | "when"
            | "then"
            | "else"
            | "case"
            | "between"
            | "like"
            | "rlike"
            | "regexp"
            | "is"
            | "distinct"
            | "all"
            | "any"
            | "some"
            | "union"
            | "except"
            | "intersect"
            | "with"
            | "recursive"
            | "lateral"
            | "limit"
            | "offset"
            | "partition"
            | "against"
            | "into"
            | "set"
            | "return"
            | "returning"
            | "table"
            | "index"
            | "key"
            | "for"
            | "of"
            | "div"
            | "mod"
            | "interval"
            | "row"
            | "rows"
            | "range"
            | "escape"
            | "binary"
            | "collate"
            | "straight_join"
            | "cross"
            | "inner"
            | "left"
            | "right"
            | "outer"
            | "natural"
            | "use"
            | "ignore"
            | "force"
            | "do"
            | "call"
            | "explain"
            | "analyze"
            | "describe"
            | "update"
            | "delete"
            | "insert"
            | "replace"
            | "duplicate"
            | "unique"
            | "primary"
            | "foreign"
            | "references"
            | "check"
            | "constraint"
            | "default"
            | "nulls"
            | "json_table"
            | "columns"
            | "path"
            | "nested"
            | "ordinality"
            | "char"
            | "character"
            | "varchar"
            | "decimal"
            | "numeric"
            | "float"
            | "double"
            | "int"
            | "integer"
            | "bigint"
            | "datetime"
            | "timestamp"
            | "time"
            | "signed"
            | "unsigned"
            | "precision"
    )
}

/// The user variables (lower-cased, with their `@`) `sql` gives a value on the connection
/// that runs it: `@v := ...`, `SELECT ... INTO @v, @w` (which SET replay does not carry to
/// the session's other connections), or, with `set` (a SET statement), `@v = ...`.
pub(crate) fn assigned_user_variables(sql: &str, set: bool) -> Vec<String> {
    let toks: Vec<Token> = significant(sql).collect();
    let punct = |i: usize, p: u8| toks.get(i).is_some_and(|t| t.kind == Kind::Punct(p));
    let user_variable = |i: usize| {
        toks.get(i)
            .is_some_and(|t| t.kind == Kind::Variable && !t.text(sql).starts_with("@@"))
    };
    let name = |i: usize| super::lexer::user_variable_name(toks[i].text(sql));
    let mut names = Vec::new();
    for (i, t) in toks.iter().enumerate() {
        if user_variable(i)
            && ((punct(i + 1, b':') && punct(i + 2, b'=')) || (set && punct(i + 1, b'=')))
        {
            names.push(name(i));
        }
        if t.is_word(sql, "INTO") && !is_insert_like(&toks[..i], sql) {
            let mut j = i + 1;
            while user_variable(j) {
                names.push(name(j));
                if !punct(j + 1, b',') {
                    break;
                }
                j += 2;
            }
        }
    }
    names
}

/// The user variables (lower-cased, with their `@`) `sql` mentions.
pub(crate) fn user_variables(sql: &str) -> Vec<String> {
    significant(sql)
        .filter(|t| t.kind == Kind::Variable && !t.text(sql).starts_with("@@"))
        .map(|t| super::lexer::user_variable_name(t.text(sql)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn effect(sql: &str) -> Option<SideEffect> {
        find(sql, &["my_pure_fn".to_string()])
    }

    #[test]
    fn stateful_reads() {
        for sql in [
            "SELECT NEXTVAL(seq1)",
            "SELECT nextval(`s`), 1",
            "SELECT SETVAL(s, 100)",
            "SELECT LASTVAL(s)",
            "SELECT NEXT VALUE FOR s",
            "SELECT PREVIOUS VALUE FOR db.s",
            "SELECT GET_LOCK('job-42', 0)",
            "SELECT RELEASE_LOCK('job-42')",
            "SELECT RELEASE_ALL_LOCKS()",
            "SELECT IS_USED_LOCK('x'), IS_FREE_LOCK('y')",
            "SELECT LAST_INSERT_ID(5)",
            "SELECT id INTO @v FROM t WHERE k = 1",
            "SELECT * FROM t INTO OUTFILE '/tmp/x'",
            "SELECT 1 INTO DUMPFILE '/tmp/y'",
            "SELECT @x := id FROM t",
        ] {
            assert!(
                matches!(effect(sql), Some(SideEffect::Stateful(_))),
                "{sql}: {:?}",
                effect(sql)
            );
        }
    }

    #[test]
    fn stored_functions_may_write() {
        assert_eq!(
            effect("SELECT add_visit(3) FROM t"),
            Some(SideEffect::MayWrite("add_visit".into()))
        );
        assert_eq!(
            effect("SELECT app.add_visit(3)"),
            Some(SideEffect::MayWrite("add_visit".into()))
        );
        assert_eq!(
            effect("SELECT `count`(3)"),
            Some(SideEffect::MayWrite("count".into()))
        );
        assert_eq!(effect("SELECT my_pure_fn(3)"), None);
    }

    #[test]
    fn plain_reads_stay_reads() {
        for sql in [
            "SELECT LAST_INSERT_ID()",
            "SELECT COUNT(*), SUM(a), CONCAT(b, 'x'), NOW(), IFNULL(c, 0) FROM t WHERE id IN (1, 2)",
            "SELECT * FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.a = t.a) AND b NOT IN (3)",
            "SELECT CAST(a AS CHAR(10)), CONVERT(b, DECIMAL(10, 2)) FROM t",
            "SELECT ROW_NUMBER() OVER (PARTITION BY a ORDER BY b) FROM t",
            "SELECT JSON_EXTRACT(j, '$.a'), DATE_FORMAT(d, '%Y') FROM t",
            "SELECT a FROM t1 JOIN t2 USING (id) WHERE (a = 1 OR b = 2)",
            "SELECT @x, @@sql_mode, 'NEXTVAL(s)' FROM t",
            "SELECT MATCH (a) AGAINST ('x') FROM t",
            "WITH c AS (SELECT 1) SELECT * FROM c",
            "SELECT a FROM t WHERE a = 1 LOCK IN SHARE MODE",
            "INSERT INTO t SELECT NEXTVAL(s)",
            "EXPLAIN INSERT INTO db.t (a, b) VALUES (1, 2)",
            "WITH c (x) AS (SELECT 1) SELECT * FROM (SELECT 2) AS d (y), c",
        ] {
            let e = effect(sql);
            assert!(
                e.is_none() || sql.starts_with("INSERT"),
                "{sql}: {e:?}"
            );
        }
    }

    #[test]
    fn assigned_user_variables_are_found() {
        use super::assigned_user_variables as assigned;
        assert_eq!(assigned("SELECT @W := 1, @x", false), vec!["@w"]);
        assert_eq!(
            assigned("SELECT id, v INTO @a, @b FROM t", false),
            vec!["@a", "@b"]
        );
        assert!(assigned("INSERT INTO t VALUES (@a)", false).is_empty());
        assert!(assigned("SET @a = 1", false).is_empty());
        assert_eq!(assigned("SET @a = 1, @@sql_mode = ''", true), vec!["@a"]);
    }
}
