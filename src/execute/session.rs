//! Statements that change the session rather than read or write data: SET, transaction
//! control, USE. Transaction control goes to every group the transaction runs on (see `txn`).

use mysql_async::prelude::Queryable;

use crate::config::model::Rules;
use crate::error::Error;
use crate::plan::statement_words::{
    mentioned, AT, AT_AT, FOUND_ROWS, GET_LOCK, LAST_INSERT_ID, OPEN_PAREN, ROW_COUNT,
    SQL_CALC_FOUND_ROWS, TEMPORARY,
};
use crate::plan::{SessionKind, SessionStatement, SqlMode};

use super::{status, txn, Context, Failure, OkInfo, ResultSink, Session};

/// Runs a session statement: transaction control on every group the transaction runs on
/// (or only in the proxy's bookkeeping while it runs on none, see `txn`), SET on every
/// connection the session holds.
pub async fn run_session_statement<S: ResultSink>(
    stmt: &SessionStatement,
    ctx: &Context<'_>,
    session: &mut Session,
    sink: &mut S,
) -> Result<(), Failure> {
    if !stmt.sql.is_ascii() && !session.charset.is_utf8() {
        // Its text would be replayed as UTF-8 on connections that read the client's charset.
        return Err(Failure::Query(Error::unsupported(format!(
            "a session statement with non-ASCII text under character set {}",
            session.charset.name()
        ))));
    }
    let ok = match &stmt.kind {
        SessionKind::Set {
            autocommit,
            select_limit,
        } => {
            if *autocommit == Some(true) && !session.txn.autocommit {
                // Turning autocommit on commits the open transaction (an explicit one too):
                // on every group, the write group first, before the SET.
                txn::commit(session, ctx, "COMMIT", false).await?;
            }
            run_set(stmt, ctx, session, sink).await?;
            session.charset.after_set(&stmt.sql);
            if let Some(capped) = *select_limit {
                session.select_limited = capped;
            }
            if let Some(on) = *autocommit {
                session.txn.autocommit = on;
                session.status = session.txn_aware_status_of(session.status);
            }
            return Ok(());
        }
        SessionKind::NextTransaction if session.txn.pins_connections() => {
            // Inside a transaction the server refuses it (1568): let it say so.
            txn::on_every_group(session, &stmt.sql).await?
        }
        SessionKind::NextTransaction => {
            // Applies to the next transaction, wherever it starts: sent before its BEGIN on
            // each group it touches.
            session.txn.set_next_characteristics(&stmt.sql);
            proxy_ok_info(session)
        }
        SessionKind::Begin {
            consistent_snapshot,
        } => {
            // BEGIN inside a transaction commits it first, as on one server.
            if session.txn.pins_connections() {
                txn::commit(session, ctx, "COMMIT", false).await?;
            }
            session.txn.begin(&stmt.sql);
            if *consistent_snapshot {
                txn::open_snapshots(ctx, session).await?;
            }
            proxy_ok_info(session)
        }
        SessionKind::End { rollback, chain } => {
            if *rollback {
                txn::rollback(session, &stmt.sql, *chain).await
            } else {
                txn::commit(session, ctx, &stmt.sql, *chain).await?
            }
        }
        SessionKind::Savepoint(name) => txn::savepoint(session, &stmt.sql, name).await?,
        SessionKind::RollbackTo(name) => txn::unwind(session, &stmt.sql, name, false).await?,
        SessionKind::ReleaseSavepoint(name) => txn::unwind(session, &stmt.sql, name, true).await?,
    };
    let answered = session.txn_aware_status_of(ok.status);
    session.keep_status(answered);
    sink.ok(&OkInfo {
        status: answered,
        ..ok
    });
    Ok(())
}

/// An OK the proxy answers itself, with the session's transaction status.
fn proxy_ok_info(session: &Session) -> OkInfo {
    OkInfo {
        status: session.txn.status(),
        ..OkInfo::default()
    }
}

/// Runs a SET on every connection the session holds (opening the default group's when it
/// holds none, so the server validates it), and remembers it for connections opened later
/// when it is meant to last.
async fn run_set<S: ResultSink>(
    stmt: &SessionStatement,
    ctx: &Context<'_>,
    session: &mut Session,
    sink: &mut S,
) -> Result<(), Failure> {
    if stmt.replay
        && session.conns.replay_is_full()
        && crate::backend::session_conns::set_reads_variables(&stmt.sql)
    {
        return Err(Failure::Query(Error::unsupported(format!(
            "more than {} SETs that read variables in one session (each is replayed on \
             every backend connection the session opens): set the final values instead, \
             or reconnect",
            crate::backend::session_conns::REPLAY_MAX
        ))));
    }
    // A master, not only replicas: the SET must reach the server writes will use.
    if session.conns.masters_count() == 0 {
        let db = session
            .current_db
            .clone()
            .or_else(|| ctx.rules.databases().values().next().cloned())
            .ok_or_else(|| Error::Internal("no logical database is configured".into()))?;
        open_a_master(ctx, session, &db).await?;
    }
    // `SET @id = LAST_INSERT_ID()`: each connection has its own; the session's is the one a
    // single server would give (unless LAST_INSERT_ID(expr) set it on one connection).
    let with_id =
        ctx.read_by_syntax(|| crate::plan::with_insert_id(&stmt.sql, session.last_insert_id));
    if with_id.is_some() && session.insert_id_from_expr {
        return Err(Failure::Query(Error::unsupported(
            "a SET reading LAST_INSERT_ID() after LAST_INSERT_ID(expr) set it on one backend \
             connection (read it with `SELECT LAST_INSERT_ID()` and SET the value)"
                .to_string(),
        )));
    }
    let mut sql: std::borrow::Cow<'_, str> =
        with_id.map_or(std::borrow::Cow::Borrowed(stmt.sql.as_str()), Into::into);
    // `SET @x = @@in_transaction` inside a transaction, which the connections it runs on
    // may not have opened yet (`plan::with_in_transaction`).
    if session.status & status::IN_TRANS != 0 {
        if let Some(one) = ctx
            .read_by_syntax(|| crate::plan::with_in_transaction(&sql))
            .map_err(Failure::Query)?
        {
            sql = one.into();
        }
    }
    let sql = sql.as_ref();
    let mut ok = OkInfo {
        status: session.status,
        ..OkInfo::default()
    };
    let mut failure = None;
    for (pool, conn) in session.conns.all() {
        match conn.query_drop(sql).await {
            Ok(()) => {
                ok.warnings = ok.warnings.max(conn.get_warnings());
                if let Some(p) = conn.last_ok_packet() {
                    ok.status = p.status_flags().bits() & !status::MORE_RESULTS_EXISTS;
                }
            }
            Err(mysql_async::Error::Server(e)) => {
                failure = Some(Error::from(mysql_async::Error::Server(e)));
                break;
            }
            Err(e) => {
                failure = Some(Error::GroupUnavailable {
                    database: pool.database.to_string(),
                    group: pool.group.to_string(),
                    addr: pool.addr.to_string(),
                    reason: e.to_string(),
                });
                break;
            }
        }
    }
    if let Some(e) = failure {
        return Err(Failure::Query(e));
    }
    if stmt.replay {
        session
            .conns
            .remember_keyed(sql, stmt.replay_key.as_deref());
    }
    if names_sql_mode(&stmt.sql) {
        learn_sql_mode(session).await?;
    }
    // The last connection's flags need not be the transaction's: keep IN_TRANS from the
    // proxy's own bookkeeping.
    ok.status = (ok.status & !status::IN_TRANS) | (session.txn.status() & status::IN_TRANS);
    session.keep_status(ok.status);
    sink.ok(&ok);
    Ok(())
}

/// Opens a master connection for a SET to be checked on: the default group's, or when that
/// group cannot be reached (down, or its pool exhausted) the first other group's that can,
/// so a down default group does not lock out clients whose first statement is a SET
/// (pymysql's autocommit, SET NAMES) but which use other groups. Every server validates a
/// SET alike; it is replayed on the default group's connection once one is opened.
async fn open_a_master(
    ctx: &Context<'_>,
    session: &mut Session,
    db: &std::sync::Arc<crate::config::model::Database>,
) -> Result<(), Failure> {
    let others = (0..db.groups.len()).filter(|g| *g != db.default_group);
    let mut first_failure = None;
    for group in std::iter::once(db.default_group).chain(others) {
        match session.conns.get(ctx.backends, db, group).await {
            Ok(_) => return Ok(()),
            Err(e @ (Error::GroupUnavailable { .. } | Error::PoolExhausted { .. })) => {
                first_failure.get_or_insert(e);
            }
            Err(e) => return Err(Failure::Query(e)),
        }
    }
    Err(Failure::Query(first_failure.unwrap_or_else(|| {
        Error::Internal(format!("database '{}' has no groups", db.name))
    })))
}

/// A SET that may change sql_mode: any mention counts (`SET sql_mode = CONCAT(@@sql_mode,
/// ...)`, `SET @@SESSION.sql_mode = DEFAULT`, ...); asking the server once too often is cheap.
fn names_sql_mode(sql: &str) -> bool {
    sql.as_bytes()
        .windows(8)
        .any(|w| w.eq_ignore_ascii_case(b"sql_mode"))
}

/// Asks the session's master connection for the sql_mode the SET left (every connection ran
/// it), so the planner reads the next statements by it. Asking beats evaluating the SET:
/// expressions, DEFAULT and combination modes (`ANSI`) are the server's to resolve.
async fn learn_sql_mode(session: &mut Session) -> Result<(), Failure> {
    let Some((pool, conn)) = session.conns.all().next() else {
        return Ok(());
    };
    let mode: Option<String> = match conn.query_first("SELECT @@SESSION.sql_mode").await {
        Ok(m) => m,
        Err(mysql_async::Error::Server(e)) => {
            return Err(Failure::Query(Error::from(mysql_async::Error::Server(e))))
        }
        Err(e) => {
            return Err(Failure::Query(Error::GroupUnavailable {
                database: pool.database.to_string(),
                group: pool.group.to_string(),
                addr: pool.addr.to_string(),
                reason: e.to_string(),
            }))
        }
    };
    session.sql_mode = Some(SqlMode::parse(mode.as_deref().unwrap_or("")));
    Ok(())
}

pub fn use_database<S: ResultSink>(
    name: &str,
    ctx: &Context<'_>,
    session: &mut Session,
    sink: &mut S,
) -> Result<(), Failure> {
    select_database(name, ctx.rules, session)?;
    sink.ok(&OkInfo {
        status: session.status,
        ..OkInfo::default()
    });
    Ok(())
}

/// Makes `name` the session's database (USE, COM_INIT_DB, the login's). A system schema
/// (`information_schema`, `mysql`, ...) is the servers' own: its tables are read on the
/// default group of the logical database selected before (the first one of the rules if
/// none was), so `SELECT * FROM TABLES` after `USE information_schema` works as on one server.
pub fn select_database(name: &str, rules: &Rules, session: &mut Session) -> Result<(), Error> {
    if crate::plan::is_system_schema(name) {
        if session.current_db.is_none() {
            session.current_db = rules.databases().values().next().cloned();
        }
        session.system_schema = Some(name.to_ascii_lowercase());
        return Ok(());
    }
    let db = rules
        .database(name)
        .ok_or_else(|| Error::UnknownDatabase(name.to_string()))?;
    session.current_db = Some(db.clone());
    session.system_schema = None;
    Ok(())
}

/// Why a statement ties the session to its backend connections (multiplexing), if it does:
/// what it leaves behind lives in that connection and nowhere else. A false alarm only
/// costs sharing; so the check is a cheap scan of the text, not a parse.
/// What a statement means for a multiplexed session's connections: `Ok(Some(why))` keeps
/// them from now on (state that lives on the connection), `Ok(None)` leaves them free, and
/// `Err` refuses a statement about the previous statement's connection when the session
/// already gave it back (FOUND_ROWS(), ROW_COUNT(), LAST_INSERT_ID() would then be another
/// client's; `SELECT ROW_COUNT()` / `SELECT LAST_INSERT_ID()` / `SELECT FOUND_ROWS()` alone
/// are answered from the session or refused there, see `plan::row_count_query` and
/// `execute::found_rows`).
pub fn multiplexed_use(
    sql: &str,
    connections_kept: bool,
    read_only_functions: &[String],
) -> Result<Option<&'static str>, Error> {
    // Every statement passes here: one pass over its text for all the words.
    let words = mentioned(sql);
    let calc_found_rows = words.has(SQL_CALC_FOUND_ROWS);
    // `SELECT FOUND_ROWS()` alone is answered from the session or refused (`found_rows`).
    let found_rows =
        !calc_found_rows && words.has(FOUND_ROWS) && crate::plan::found_rows_query(sql).is_none();
    if !connections_kept {
        let row_count = words.has(ROW_COUNT) && crate::plan::row_count_query(sql).is_none();
        // A SET reading it gets the session's own value (`run_set`). Any spelling of
        // @@identity / @@last_insert_id has the `@@`: the tokens tell.
        let insert_id = (words.has(LAST_INSERT_ID) || words.has(AT_AT))
            && crate::plan::reads_insert_id(sql)
            && crate::plan::last_insert_id_query(sql).is_none()
            && !crate::plan::FirstWord::of(sql).is_one_of(&["SET"]);
        if found_rows || row_count || insert_id {
            return Err(Error::unsupported(
                "FOUND_ROWS(), ROW_COUNT() or LAST_INSERT_ID() inside a larger statement, about \
                 a previous statement whose connection went back to the pool (multiplexing, \
                 [backend] multiplex): use SQL_CALC_FOUND_ROWS in that SELECT (it keeps the \
                 session on its connection), `SELECT ROW_COUNT()` or `SELECT LAST_INSERT_ID()` \
                 alone, or the OK packet's insert id"
                    .to_string(),
            ));
        }
    }
    let b = sql.as_bytes();
    if words.has(AT) {
        for (i, &c) in b.iter().enumerate() {
            if c == b'@' && b.get(i + 1) != Some(&b'@') && (i == 0 || b[i - 1] != b'@') {
                return Ok(Some("a user variable"));
            }
        }
    }
    Ok(if words.has(TEMPORARY) {
        Some("a temporary table")
    } else if words.has(GET_LOCK) {
        Some("a user-level lock")
    } else if words.has(LAST_INSERT_ID) && super::previous_conn::sets_insert_id(sql) {
        // Only that connection knows the value now (`previous_conn::place`).
        Some("LAST_INSERT_ID(expr)")
    } else if calc_found_rows {
        Some("SQL_CALC_FOUND_ROWS")
    } else if found_rows {
        Some("FOUND_ROWS()")
    } else if words.has(OPEN_PAREN)
        && may_call_stored_functions(sql)
        && crate::plan::calls_stored_function(sql, read_only_functions)
    {
        // What it does on its connection (a lock, a variable, a temporary table) is out of
        // sight: a later RELEASE_LOCK on another connection would find no lock, while the
        // pooled one kept it for whichever session gets it next.
        Some(
            "a stored function (it may take locks or set variables on its connection; list \
             those that do not under [routing] read_only_functions)",
        )
    } else {
        None
    })
}

/// Reads and writes of rows, which may call a stored function; not DDL, whose definitions
/// look like calls (`CREATE TABLE t (a INT)`) and would pin every session that runs one.
fn may_call_stored_functions(sql: &str) -> bool {
    crate::plan::FirstWord::of(sql).is_one_of(&[
        "SELECT", "WITH", "DO", "INSERT", "REPLACE", "UPDATE", "DELETE", "VALUES", "TABLE",
    ]) || sql.trim_start().starts_with('(')
}

#[cfg(test)]
mod tests {
    use super::multiplexed_use;

    fn pins_connection(sql: &str) -> Option<&'static str> {
        multiplexed_use(sql, true, &[]).unwrap()
    }

    #[test]
    fn statements_that_pin() {
        assert_eq!(pins_connection("SELECT @a := 1"), Some("a user variable"));
        assert_eq!(pins_connection("select @@version"), None);
        assert_eq!(
            pins_connection("CREATE TEMPORARY TABLE t (a INT)"),
            Some("a temporary table")
        );
        assert_eq!(
            pins_connection("SELECT GET_LOCK('x', 1)"),
            Some("a user-level lock")
        );
        assert_eq!(pins_connection("SELECT c FROM sbtest1 WHERE id = 5"), None);
        assert!(pins_connection("SELECT f_lock('x') FROM patients")
            .is_some_and(|w| w.starts_with("a stored function")));
        assert_eq!(
            pins_connection("SELECT CONCAT(c, 'x'), COUNT(*) FROM t"),
            None
        );
        let listed = ["f_lock".to_string()];
        assert_eq!(
            multiplexed_use("SELECT f_lock('x') FROM patients", true, &listed).unwrap(),
            None
        );
        assert_eq!(
            multiplexed_use("SELECT LAST_INSERT_ID(42)", false, &[]).unwrap(),
            Some("LAST_INSERT_ID(expr)")
        );
    }

    #[test]
    fn a_multiplexed_session_refuses_the_insert_id_inside_a_larger_statement() {
        for sql in [
            "SELECT @@identity + 1",
            "SELECT @@Session.Identity + 1",
            "SELECT 1, @@local.last_insert_id",
        ] {
            assert!(multiplexed_use(sql, false, &[]).is_err(), "{sql}");
        }
        // A SET gets the session's own value (`run_set`).
        assert!(multiplexed_use("SET @id = LAST_INSERT_ID()", false, &[]).is_ok());
        for sql in [
            "SELECT @@session.identity",
            "SELECT identity_no FROM patients",
            "SHOW VARIABLES LIKE 'last_insert_id'",
            "SELECT 'last_insert_id()'",
        ] {
            assert_eq!(multiplexed_use(sql, false, &[]).unwrap(), None, "{sql}");
        }
    }
}
