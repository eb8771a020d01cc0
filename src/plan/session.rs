//! Session statements, recognised by their leading keywords rather than parsed: sqlparser
//! cannot parse several MySQL forms (`SET @a := 1`) and prints others back with a different
//! meaning (`SET SESSION TRANSACTION` loses SESSION), and they are sent as written anyway.
//!
//! - `SET ...` runs on every backend connection of the session and is replayed on the ones
//!   opened later, except `SET TRANSACTION` (without SESSION), which applies to the next
//!   transaction only. `SET GLOBAL` / `SET PERSIST` are refused: they would change one
//!   server's configuration behind the proxy's back. A SET with a subquery is refused (its
//!   tables would not be rewritten).
//! - transaction control (BEGIN, START TRANSACTION, COMMIT, ROLLBACK, SAVEPOINT, RELEASE
//!   SAVEPOINT) is not replayed; its `SessionKind` tells execution how the transaction
//!   changes, because execution starts the backend transaction lazily on the one group the
//!   transaction touches. `COMMIT RELEASE` / `ROLLBACK RELEASE` are refused: they would close
//!   a pooled backend connection, not the client's.
//! - `USE db` selects a logical database.

use super::lexer::{ident_value, significant, Kind, Token};
use super::names::is_rule_table_anywhere;
use super::{Plan, PlanContext, SessionStatement};
use crate::error::{Error, Result};

pub(crate) fn set(sql: &str, ctx: &PlanContext<'_>) -> Result<Plan> {
    let toks: Vec<Token> = significant(sql).collect();
    for t in &toks {
        if matches!(t.kind, Kind::Word | Kind::QuotedIdent)
            && is_rule_table_anywhere(ctx.rules, &ident_value(t, sql))
        {
            return Err(Error::unsupported(format!(
                "SET naming table '{}' (it runs on every connection, unrewritten)",
                ident_value(t, sql)
            )));
        }
        let global = match t.kind {
            Kind::Word => ["GLOBAL", "PERSIST", "PERSIST_ONLY"]
                .iter()
                .any(|w| t.is_word(sql, w)),
            Kind::Variable => {
                let v = t.text(sql).to_ascii_lowercase();
                v.starts_with("@@global.") || v.starts_with("@@persist")
            }
            _ => false,
        };
        if global {
            return Err(Error::unsupported(
                "SET GLOBAL: it is not forwarded, set it on each server".to_string(),
            ));
        }
        if t.is_word(sql, "SELECT") {
            return Err(Error::unsupported("SET with a subquery".to_string()));
        }
    }
    // Tokens before this one belong to a read of the insert id (`@@session . identity`).
    let mut read_until = 0;
    for (i, t) in toks.iter().enumerate() {
        if i < read_until {
            continue;
        }
        // The session's own last insert id, read (not set): execution puts the number in.
        if let Some(used) = super::last_insert_id::insert_id_read_at(&toks, i, sql)
            .filter(|used| !assigned_at(&toks, i + used))
        {
            read_until = i + used;
            continue;
        }
        // A function call (`SET @x = LAST_INSERT_ID(5)`) is no assignment to the variable.
        let called = toks.get(i + 1).is_some_and(|n| n.kind == Kind::Punct(b'('));
        if let Some(name) = CONNECTION_VALUES
            .iter()
            .find(|f| called && t.is_name(sql, f))
        {
            return Err(Error::unsupported(format!(
                "SET with {name}(): each backend connection of the session has its own, and \
                 shardgate runs a SET on every one (and again on the connections it opens \
                 later); read it with `SELECT {name}()` and SET the value"
            )));
        }
        if let Some(name) = one_shot_variable(&toks, i, sql).filter(|_| !called) {
            return Err(Error::unsupported(format!(
                "SET {name}: it applies to the next statement only, and shardgate replays \
                 session SETs on every backend connection"
            )));
        }
    }
    // toks[0] is SET.
    let second = toks.get(1);
    let word = |t: Option<&Token>, w: &str| t.is_some_and(|t| t.is_word(sql, w));
    for refused in ["PASSWORD", "ROLE", "DEFAULT", "STATEMENT"] {
        if word(second, refused) {
            return Err(Error::unsupported(format!("SET {refused}")));
        }
    }
    // SET SESSION TRANSACTION / SET LOCAL TRANSACTION keep applying, and are replayed.
    let next_transaction = word(second, "TRANSACTION");
    let kind = if next_transaction {
        SessionKind::NextTransaction
    } else {
        SessionKind::Set {
            autocommit: autocommit_value(&toks, sql)?,
            select_limit: select_limit_value(&toks, sql),
        }
    };
    let replay_key = if next_transaction {
        None
    } else {
        single_target(&toks, sql)
    };
    Ok(Plan::Session(SessionStatement {
        sql: sql.to_string(),
        replay: !next_transaction,
        kind,
        replay_key,
    }))
}

/// Variables the server consumes with the next statement that uses them (the next INSERT's
/// id, the next RAND()'s seed) or whose value the proxy answers itself (LAST_INSERT_ID()):
/// replayed on every connection a session opens later, each would apply again and again.
/// (`identity` is `last_insert_id` under another name.)
const ONE_SHOT_VARIABLES: [&str; 5] = [
    "insert_id",
    "last_insert_id",
    "identity",
    "rand_seed1",
    "rand_seed2",
];

/// Functions whose value is about the previous statement on their connection: a SET would
/// evaluate them once per backend connection, each with its own answer. (A read of the
/// session's last insert id, `LAST_INSERT_ID()` or `@@identity`, is answered instead: see
/// `last_insert_id::with_insert_id`.)
const CONNECTION_VALUES: [&str; 3] = ["LAST_INSERT_ID", "ROW_COUNT", "FOUND_ROWS"];

/// Whether `toks[i]` is the `=` or `:=` of an assignment.
fn assigned_at(toks: &[Token], i: usize) -> bool {
    let punct = |k: usize, p: u8| toks.get(k).is_some_and(|t| t.kind == Kind::Punct(p));
    punct(i, b'=') || (punct(i, b':') && punct(i + 1, b'='))
}

/// The one-shot variable `toks[i]` names, if it names one (`toks` without trivia).
fn one_shot_variable(toks: &[Token], i: usize, sql: &str) -> Option<&'static str> {
    let t = toks.get(i)?;
    let name = match t.kind {
        Kind::Word | Kind::QuotedIdent => super::lexer::ident_value(t, sql).to_ascii_lowercase(),
        Kind::Variable => super::lexer::session_variable_at(toks, i, sql)?.0,
        _ => return None,
    };
    ONE_SHOT_VARIABLES.iter().copied().find(|v| *v == name)
}

/// The one variable a SET assigns, if it assigns exactly one.
fn single_target(toks: &[Token], sql: &str) -> Option<String> {
    let mut depth = 0i32;
    for t in toks {
        match t.kind {
            Kind::Punct(b'(') => depth += 1,
            Kind::Punct(b')') => depth -= 1,
            Kind::Punct(b',') if depth == 0 => return None,
            _ => {}
        }
    }
    let mut i = 1;
    if toks
        .get(i)
        .is_some_and(|t| ["SESSION", "LOCAL"].iter().any(|w| t.is_word(sql, w)))
    {
        i += 1;
    }
    let t = toks.get(i)?;
    if t.is_word(sql, "NAMES")
        || t.is_word(sql, "CHARSET")
        || (t.is_word(sql, "CHARACTER") && toks.get(i + 1).is_some_and(|n| n.is_word(sql, "SET")))
    {
        return Some("names".to_string());
    }
    let name = match t.kind {
        Kind::Word => t.text(sql).to_ascii_lowercase(),
        Kind::Variable => {
            let v = t.text(sql).to_ascii_lowercase();
            match v
                .strip_prefix("@@session.")
                .or_else(|| v.strip_prefix("@@local."))
                .or_else(|| v.strip_prefix("@@"))
            {
                Some(system) => system.to_string(),
                None => v,
            }
        }
        _ => return None,
    };
    // Only a plain value replaces an earlier SET: `SET sql_mode = CONCAT(@@sql_mode, ...)`
    // builds on the value before it, which must then still be replayed first.
    let mut j = i + 1;
    if toks.get(j)?.kind == Kind::Punct(b':') {
        j += 1;
    }
    if toks.get(j)?.kind != Kind::Punct(b'=') {
        return None;
    }
    let value: Vec<&Token> = toks[j + 1..]
        .iter()
        .filter(|t| t.kind != Kind::Punct(b';'))
        .collect();
    match value.as_slice() {
        [v] if matches!(v.kind, Kind::Str | Kind::Number | Kind::Word) => Some(name),
        [sign, v] if sign.kind == Kind::Punct(b'-') && v.kind == Kind::Number => Some(name),
        _ => None,
    }
}

/// How a session statement changes the transaction state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionKind {
    /// A SET; `autocommit` is the value it gives autocommit, if it names it;
    /// `select_limit` whether it caps sql_select_limit (false: back to the default), if it
    /// names it.
    Set {
        autocommit: Option<bool>,
        select_limit: Option<bool>,
    },
    /// `SET TRANSACTION ...` (no SESSION): characteristics of the next transaction only.
    NextTransaction,
    /// BEGIN / START TRANSACTION [...]: the text is sent before the transaction's first
    /// statement on each group it touches; `WITH CONSISTENT SNAPSHOT` (`consistent_snapshot`)
    /// sends it on every group at once, so the snapshots are taken at START.
    Begin { consistent_snapshot: bool },
    /// COMMIT or ROLLBACK (`rollback`), with `AND CHAIN` (`chain`).
    End { rollback: bool, chain: bool },
    /// `SAVEPOINT name` (the name as written).
    Savepoint(String),
    /// `ROLLBACK [WORK] TO [SAVEPOINT] name`.
    RollbackTo(String),
    /// `RELEASE SAVEPOINT name`.
    ReleaseSavepoint(String),
}

/// The value `SET ... autocommit = v` gives, if this SET names autocommit. A value the proxy
/// cannot read (an expression, a variable) is refused: the proxy must know whether a
/// transaction is open.
fn autocommit_value(toks: &[Token], sql: &str) -> Result<Option<bool>> {
    let mut found = None;
    for value in assigned_values(toks, sql, "autocommit") {
        // A quoted 'ON' / 'OFF' is as good as the bare word to the server.
        let unquoted = value
            .as_deref()
            .map(|v| v.trim_matches(|c| c == '\'' || c == '"'));
        found = Some(match unquoted {
            Some("1" | "on" | "true") => true,
            Some("0" | "off" | "false") => false,
            _ => {
                return Err(Error::unsupported(
                    "SET autocommit to an expression: use 0, 1, ON or OFF, so shardgate knows \
                     whether a transaction is open"
                        .to_string(),
                ))
            }
        });
    }
    Ok(found)
}

/// Whether this SET gives sql_select_limit a cap (`Some(true)`), puts it back to no cap
/// (`Some(false)`: DEFAULT or the largest BIGINT UNSIGNED), or leaves it alone (`None`).
/// Each shard applies the cap to its own rows, so a merged read must know it is set; any
/// value the proxy cannot read counts as a cap.
fn select_limit_value(toks: &[Token], sql: &str) -> Option<bool> {
    assigned_values(toks, sql, "sql_select_limit")
        .last()
        .map(|value| !matches!(value.as_deref(), Some("default" | "18446744073709551615")))
}

/// The values a SET gives the session variable `name` (written `name`, `@@name`,
/// `@@session.name` or `@@local.name`, with `=` or `:=`), in order: the value's text
/// lower-cased when it is one token, `None` when it is an expression.
fn assigned_values(toks: &[Token], sql: &str, name: &str) -> Vec<Option<String>> {
    let mut out = Vec::new();
    for (i, t) in toks.iter().enumerate() {
        let names_it = match t.kind {
            Kind::Word => t.is_word(sql, name),
            Kind::Variable => {
                let v = t.text(sql).to_ascii_lowercase();
                ["@@", "@@session.", "@@local."]
                    .iter()
                    .any(|p| v.strip_prefix(p) == Some(name))
            }
            _ => false,
        };
        if !names_it {
            continue;
        }
        let mut j = i + 1;
        if toks.get(j).is_some_and(|t| t.kind == Kind::Punct(b':')) {
            j += 1;
        }
        if toks.get(j).is_none_or(|t| t.kind != Kind::Punct(b'=')) {
            continue;
        }
        let value = toks.get(j + 1).map(|t| t.text(sql).to_ascii_lowercase());
        let ends = toks
            .get(j + 2)
            .is_none_or(|t| matches!(t.kind, Kind::Punct(b',') | Kind::Punct(b';')));
        out.push(value.filter(|_| ends));
    }
    out
}

/// A syntax error at token `i` (or at the end), as the server words it.
fn near(toks: &[Token], i: usize, sql: &str) -> Error {
    let rest = toks.get(i).map_or("", |t| &sql[t.start..]);
    Error::Syntax(format!(
        "You have an error in your SQL syntax; check the manual that corresponds to your \
         MariaDB server version for the right syntax to use near '{}'",
        rest.trim_end_matches([';', ' ', '\n', '\t', '\r'])
    ))
}

/// `BEGIN [WORK]` or `START TRANSACTION [mode [, mode] ...]` with the modes `READ ONLY`,
/// `READ WRITE` (not both) and `WITH CONSISTENT SNAPSHOT`; whether the snapshot is asked.
/// The text is sent to a group only when the transaction first reaches it, so a form the
/// server would reject must fail here, at BEGIN, not at some later statement.
fn begin_modes(toks: &[Token], sql: &str) -> Result<bool> {
    let word = |i: usize, w: &str| toks.get(i).is_some_and(|t| t.is_word(sql, w));
    if word(0, "BEGIN") {
        let end = if word(1, "WORK") { 2 } else { 1 };
        return match toks.len() > end {
            true => Err(near(toks, end, sql)),
            false => Ok(false),
        };
    }
    let (mut snapshot, mut access) = (false, false);
    let mut i = 2;
    while i < toks.len() {
        if i > 2 {
            if toks[i].kind != Kind::Punct(b',') {
                return Err(near(toks, i, sql));
            }
            i += 1;
        }
        if word(i, "WITH") && word(i + 1, "CONSISTENT") && word(i + 2, "SNAPSHOT") {
            snapshot = true;
            i += 3;
        } else if word(i, "READ") && (word(i + 1, "ONLY") || word(i + 1, "WRITE")) && !access {
            access = true;
            i += 2;
        } else {
            return Err(near(toks, i, sql));
        }
    }
    Ok(snapshot)
}

/// BEGIN, START TRANSACTION, COMMIT, ROLLBACK, SAVEPOINT, RELEASE SAVEPOINT.
pub(crate) fn transaction(sql: &str) -> Result<Plan> {
    let toks: Vec<Token> = significant(sql)
        .filter(|t| t.kind != Kind::Punct(b';'))
        .collect();
    let word = |i: usize, w: &str| toks.get(i).is_some_and(|t| t.is_word(sql, w));
    let name_at = |i: usize| -> Result<String> {
        match (toks.get(i), toks.get(i + 1)) {
            (Some(t), None) if matches!(t.kind, Kind::Word | Kind::QuotedIdent) => {
                Ok(t.text(sql).to_string())
            }
            _ => Err(Error::Syntax(format!(
                "near '{}': expected one savepoint name",
                sql.trim()
            ))),
        }
    };
    let kind = if word(0, "SAVEPOINT") {
        SessionKind::Savepoint(name_at(1)?)
    } else if word(0, "RELEASE") {
        SessionKind::ReleaseSavepoint(name_at(2)?)
    } else if word(0, "COMMIT") || word(0, "ROLLBACK") {
        let rollback = word(0, "ROLLBACK");
        let mut i = 1;
        if word(i, "WORK") {
            i += 1;
        }
        if rollback && word(i, "TO") {
            i += 1;
            if word(i, "SAVEPOINT") {
                i += 1;
            }
            SessionKind::RollbackTo(name_at(i)?)
        } else {
            let mut chain = false;
            if word(i, "AND") {
                if word(i + 1, "CHAIN") {
                    chain = true;
                    i += 2;
                } else if word(i + 1, "NO") && word(i + 2, "CHAIN") {
                    i += 3;
                } else {
                    return Err(near(&toks, i + 1, sql));
                }
            }
            if word(i, "RELEASE") {
                return Err(Error::unsupported(format!(
                    "{} ... RELEASE (it would close a pooled backend connection; disconnect \
                     instead)",
                    if rollback { "ROLLBACK" } else { "COMMIT" }
                )));
            }
            if word(i, "NO") && word(i + 1, "RELEASE") {
                i += 2;
            }
            // The proxy acts on what it read here (ends or chains the transaction on every
            // group) whatever a server answers, so text the server would reject must not
            // be read as a COMMIT or ROLLBACK.
            if i < toks.len() {
                return Err(near(&toks, i, sql));
            }
            SessionKind::End { rollback, chain }
        }
    } else {
        SessionKind::Begin {
            consistent_snapshot: begin_modes(&toks, sql)?,
        }
    };
    Ok(Plan::Session(SessionStatement {
        sql: sql.to_string(),
        replay: false,
        kind,
        replay_key: None,
    }))
}

pub(crate) fn use_db(sql: &str, ctx: &PlanContext<'_>) -> Result<Plan> {
    let mut toks = significant(sql).skip(1);
    let name = toks.next();
    let rest = toks.find(|t| t.kind != Kind::Punct(b';'));
    let (Some(name), None) = (name, rest) else {
        return Err(Error::Syntax(
            "USE needs exactly one database name".to_string(),
        ));
    };
    if !matches!(name.kind, Kind::Word | Kind::QuotedIdent) {
        return Err(Error::Syntax(format!(
            "near '{}': expected a database name after USE",
            name.text(sql)
        )));
    }
    let name = ident_value(&name, sql).into_owned();
    if ctx.rules.database(&name).is_none() && !super::names::is_system_schema(&name) {
        return Err(Error::UnknownDatabase(name));
    }
    Ok(Plan::UseDatabase(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::tests::fixture::rules;

    fn kind(sql: &str) -> Result<SessionKind> {
        let rules = rules();
        let ctx = PlanContext {
            rules: &rules,
            current_db: None,
            syntax: Default::default(),
            read_only_functions: &[],
            columns: None,
            system_schema: None,
        };
        match crate::plan::plan(sql, &ctx)? {
            Plan::Session(s) => Ok(s.kind),
            other => panic!("{sql}: not a session statement: {other:?}"),
        }
    }

    #[test]
    fn transaction_kinds() {
        use SessionKind::*;
        let plain = Begin {
            consistent_snapshot: false,
        };
        assert_eq!(kind("BEGIN").unwrap(), plain);
        assert_eq!(kind("start transaction read only").unwrap(), plain);
        assert_eq!(
            kind("START TRANSACTION READ ONLY, WITH CONSISTENT SNAPSHOT").unwrap(),
            Begin {
                consistent_snapshot: true
            }
        );
        assert_eq!(
            kind("COMMIT").unwrap(),
            End {
                rollback: false,
                chain: false
            }
        );
        assert_eq!(
            kind("rollback work and chain;").unwrap(),
            End {
                rollback: true,
                chain: true
            }
        );
        assert_eq!(
            kind("COMMIT AND NO CHAIN").unwrap(),
            End {
                rollback: false,
                chain: false
            }
        );
        assert_eq!(kind("SAVEPOINT a1").unwrap(), Savepoint("a1".into()));
        assert_eq!(kind("ROLLBACK TO a1").unwrap(), RollbackTo("a1".into()));
        assert_eq!(
            kind("ROLLBACK WORK TO SAVEPOINT `x y`").unwrap(),
            RollbackTo("`x y`".into())
        );
        assert_eq!(
            kind("RELEASE SAVEPOINT a1").unwrap(),
            ReleaseSavepoint("a1".into())
        );
        assert_eq!(kind("COMMIT RELEASE").unwrap_err().code(), 1235);
        assert_eq!(
            kind("COMMIT WORK AND CHAIN NO RELEASE").unwrap(),
            End {
                rollback: false,
                chain: true
            }
        );
        for invalid in [
            "ROLLBACK AND RELEASE",
            "ROLLBACK foo",
            "COMMIT AND",
            "COMMIT AND NO",
            "COMMIT WORK WORK",
            "START TRANSACTION READ ONLY, READ WRITE",
            "START TRANSACTION READ ONLY READ ONLY",
            "START TRANSACTION WITH CONSISTENT SNAPSHOT foo",
            "START TRANSACTION ,",
            "BEGIN WORK now",
        ] {
            assert_eq!(kind(invalid).unwrap_err().code(), 1064, "{invalid}");
        }
        assert_eq!(
            kind("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ WRITE;").unwrap(),
            Begin {
                consistent_snapshot: true
            }
        );
        assert_eq!(kind("BEGIN WORK").unwrap(), plain);
        assert_eq!(kind("SAVEPOINT").unwrap_err().code(), 1064);
        assert_eq!(kind("XA START 'x'").unwrap_err().code(), 1235);
    }

    #[test]
    fn quoted_autocommit_values_are_read() {
        let off = SessionKind::Set {
            autocommit: Some(false),
            select_limit: None,
        };
        assert_eq!(kind("SET SESSION autocommit = 'OFF'").unwrap(), off);
        assert_eq!(kind("SET autocommit = \"off\"").unwrap(), off);
    }

    #[test]
    fn one_shot_variables_are_refused_but_their_functions_are_not() {
        for sql in [
            "SET insert_id = 100",
            "SET @@session.INSERT_ID=5",
            "SET last_insert_id = 7",
            "SET @a = 1, rand_seed1 = 2",
        ] {
            assert_eq!(kind(sql).unwrap_err().code(), 1235, "{sql}");
        }
        for sql in [
            "SET identity = 42",
            "SET SESSION IDENTITY = 42",
            "SET @a = 1, identity = 47",
            "SET @@session.identity = 43",
            "SET @@`last_insert_id` = 44",
            "SET @@local . insert_id = 45",
        ] {
            assert_eq!(kind(sql).unwrap_err().code(), 1235, "{sql}");
        }
    }

    #[test]
    fn a_set_reading_a_connections_previous_statement_is_refused() {
        for sql in [
            "SET @x = LAST_INSERT_ID(44)",
            "SET @rc = `ROW_COUNT`()",
            "SET @f = FOUND_ROWS() + 1",
        ] {
            assert_eq!(kind(sql).unwrap_err().code(), 1235, "{sql}");
        }
        // Reads of the session's own last insert id: execution puts the number in.
        for sql in [
            "SET @id = LAST_INSERT_ID()",
            "SET @id = last_insert_id ( ) + 1",
            "SET @id = @@identity",
            "SET @id = @@session . last_insert_id",
        ] {
            assert!(kind(sql).is_ok(), "{sql}");
        }
        assert!(kind("SET @found_rows = 1").is_ok());
        assert!(kind("SET @a = 'LAST_INSERT_ID()'").is_ok());
    }

    fn key(sql: &str) -> Option<String> {
        let rules = rules();
        let ctx = PlanContext {
            rules: &rules,
            current_db: None,
            syntax: Default::default(),
            read_only_functions: &[],
            columns: None,
            system_schema: None,
        };
        match crate::plan::plan(sql, &ctx).unwrap() {
            Plan::Session(s) => s.replay_key,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn replay_keys_name_the_one_variable_set() {
        assert_eq!(key("SET @x = 1").as_deref(), Some("@x"));
        assert_eq!(key("SET @x := 1").as_deref(), Some("@x"));
        assert_eq!(
            key("SET SESSION time_zone = '+01:00'").as_deref(),
            Some("time_zone")
        );
        assert_eq!(
            key("SET @@session.time_zone = '+01:00'").as_deref(),
            Some("time_zone")
        );
        assert_eq!(
            key("SET NAMES utf8mb4 COLLATE utf8mb4_bin").as_deref(),
            Some("names")
        );
        assert_eq!(key("SET CHARACTER SET latin1").as_deref(), Some("names"));
        assert_eq!(key("SET sql_mode = CONCAT(@@sql_mode, ',ANSI')"), None);
        assert_eq!(key("SET @i = @i + 1"), None);
        assert_eq!(key("SET @i = -5").as_deref(), Some("@i"));
        assert_eq!(key("SET autocommit = ON").as_deref(), Some("autocommit"));
        assert_eq!(key("SET a = 1, b = 2"), None);
    }

    #[test]
    fn autocommit_is_read_from_set() {
        use SessionKind::*;
        assert_eq!(
            kind("SET autocommit=0").unwrap(),
            Set {
                autocommit: Some(false),
                select_limit: None
            }
        );
        assert_eq!(
            kind("SET SESSION sql_mode='', @@autocommit = ON").unwrap(),
            Set {
                autocommit: Some(true),
                select_limit: None
            }
        );
        assert_eq!(
            kind("set @@session.autocommit:=off").unwrap(),
            Set {
                autocommit: Some(false),
                select_limit: None
            }
        );
        assert_eq!(
            kind("SET NAMES utf8mb4").unwrap(),
            Set {
                autocommit: None,
                select_limit: None
            }
        );
        assert_eq!(kind("SET autocommit = @x").unwrap_err().code(), 1235);
        assert_eq!(
            kind("SET TRANSACTION ISOLATION LEVEL READ COMMITTED").unwrap(),
            NextTransaction
        );
        assert_eq!(
            kind("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED").unwrap(),
            Set {
                autocommit: None,
                select_limit: None
            }
        );
    }

    #[test]
    fn sql_select_limit_is_read_from_set() {
        let limit = |sql: &str| match kind(sql).unwrap() {
            SessionKind::Set { select_limit, .. } => select_limit,
            other => panic!("{other:?}"),
        };
        assert_eq!(limit("SET sql_select_limit = 1"), Some(true));
        assert_eq!(limit("SET @@session.sql_select_limit := @n"), Some(true));
        assert_eq!(
            limit("SET autocommit = 1, @@sql_select_limit = 5 + 1"),
            Some(true)
        );
        assert_eq!(limit("SET SESSION sql_select_limit = DEFAULT"), Some(false));
        assert_eq!(
            limit("SET sql_select_limit=18446744073709551615;"),
            Some(false)
        );
        assert_eq!(limit("SET sql_mode = ''"), None);
    }
}
