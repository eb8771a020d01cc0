//! Statements that change the session rather than read or write data: SET, transaction
//! control, USE. Transaction control goes only to the transaction's group (see `txn`).

use mysql_async::prelude::Queryable;

use crate::backend::session_conns::master_unavailable;
use crate::config::model::Rules;
use crate::error::Error;
use crate::plan::{SessionKind, SessionStatement};

use super::{status, Context, Failure, OkInfo, ResultSink, Session};

/// Runs a session statement: transaction control on the transaction's connection (or only
/// in the proxy's bookkeeping while the transaction touched nothing), SET on every
/// connection the session holds.
pub async fn run_session_statement<S: ResultSink>(
    stmt: &SessionStatement,
    ctx: &Context<'_>,
    session: &mut Session,
    sink: &mut S,
) -> Result<(), Failure> {
    match &stmt.kind {
        SessionKind::Set {
            autocommit,
            select_limit,
        } => {
            run_set(stmt, ctx, session, sink).await?;
            if let Some(capped) = *select_limit {
                session.select_limited = capped;
            }
            if let Some(on) = *autocommit {
                // Turning autocommit on commits an implicit transaction (the SET just did so
                // on the backend); an explicit one stays open.
                if on && !session.txn.autocommit && session.txn.group().is_some() {
                    session.txn.end();
                }
                session.txn.autocommit = on;
                session.status = session.txn.status();
            }
            Ok(())
        }
        SessionKind::NextTransaction => {
            if session.txn.group().is_some() {
                // Inside a transaction the server refuses it (1568): let it say so.
                let ok = on_txn_conn(ctx, session, &stmt.sql).await?;
                session.status = ok.status;
                sink.ok(&ok);
            } else {
                // Applies to the next transaction, wherever it starts: sent before its
                // BEGIN on the group it touches.
                session.txn.set_next_characteristics(&stmt.sql);
                proxy_ok(session, sink);
            }
            Ok(())
        }
        SessionKind::Begin => {
            // BEGIN inside a transaction commits it first, as on one server.
            if session.txn.group().is_some() {
                on_txn_conn(ctx, session, "COMMIT").await?;
            }
            session.txn.begin(&stmt.sql);
            proxy_ok(session, sink);
            Ok(())
        }
        SessionKind::End { chain, .. } => {
            if session.txn.group().is_some() {
                let ok = on_txn_conn(ctx, session, &stmt.sql).await;
                if !chain || ok.is_err() {
                    session.txn.end();
                }
                let ok = ok?;
                session.status = ok.status;
                sink.ok(&ok);
            } else {
                if !chain {
                    session.txn.end();
                }
                proxy_ok(session, sink);
            }
            Ok(())
        }
        SessionKind::Savepoint(name) => {
            if session.txn.group().is_some() {
                let ok = on_txn_conn(ctx, session, &stmt.sql).await?;
                session.status = ok.status;
                sink.ok(&ok);
            } else {
                if session.txn.active() {
                    session.txn.pending_savepoint(name);
                }
                proxy_ok(session, sink);
            }
            Ok(())
        }
        SessionKind::RollbackTo(name) | SessionKind::ReleaseSavepoint(name) => {
            if session.txn.group().is_some() {
                let ok = on_txn_conn(ctx, session, &stmt.sql).await?;
                session.status = ok.status;
                sink.ok(&ok);
            } else {
                let release = matches!(stmt.kind, SessionKind::ReleaseSavepoint(_));
                if !session.txn.unwind_pending(name, release) {
                    return Err(Failure::Query(Error::NoSuchSavepoint(name.clone())));
                }
                proxy_ok(session, sink);
            }
            Ok(())
        }
    }
}

/// An OK the proxy answers itself, with the session's transaction status.
fn proxy_ok<S: ResultSink>(session: &mut Session, sink: &mut S) {
    session.status = session.txn.status();
    sink.ok(&OkInfo {
        status: session.status,
        ..OkInfo::default()
    });
}

/// Runs transaction control on the transaction's connection.
async fn on_txn_conn(
    ctx: &Context<'_>,
    session: &mut Session,
    sql: &str,
) -> Result<OkInfo, Failure> {
    let Some(tg) = session.txn.group().cloned() else {
        return Err(Failure::Query(Error::Internal(
            "transaction control without a transaction group".into(),
        )));
    };
    let conn = session.conns.get(ctx.backends, &tg.db, tg.group).await?;
    match conn.query_drop(sql).await {
        Ok(()) => {
            let status = conn
                .last_ok_packet()
                .map(|p| p.status_flags().bits() & !status::MORE_RESULTS_EXISTS)
                .unwrap_or_else(|| session.txn.status());
            Ok(OkInfo {
                status,
                warnings: conn.get_warnings(),
                ..OkInfo::default()
            })
        }
        Err(mysql_async::Error::Server(e)) => {
            Err(Failure::Query(Error::from(mysql_async::Error::Server(e))))
        }
        Err(e) => {
            let reason = e.to_string();
            let err = master_unavailable(&tg.db, tg.group, reason.clone());
            session.conns.discard(&tg.db.name, tg.group);
            session.txn.connection_lost(&tg.db.name, tg.group, &reason);
            Err(Failure::Query(err))
        }
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
    // A master, not only replicas: the SET must reach the server writes will use.
    if session.conns.masters_count() == 0 {
        let db = session
            .current_db
            .clone()
            .or_else(|| ctx.rules.databases.values().next().cloned())
            .ok_or_else(|| Error::Internal("no logical database is configured".into()))?;
        session
            .conns
            .get(ctx.backends, &db, db.default_group)
            .await?;
    }
    let mut ok = OkInfo {
        status: session.status,
        ..OkInfo::default()
    };
    let mut failure = None;
    for (pool, conn) in session.conns.all() {
        match conn.query_drop(stmt.sql.as_str()).await {
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
            .remember_keyed(&stmt.sql, stmt.replay_key.as_deref());
    }
    // The last connection's flags need not be the transaction's: keep IN_TRANS from the
    // proxy's own bookkeeping.
    ok.status = (ok.status & !status::IN_TRANS) | (session.txn.status() & status::IN_TRANS);
    session.status = ok.status;
    sink.ok(&ok);
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
            session.current_db = rules.databases.values().next().cloned();
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
/// client's; `SELECT ROW_COUNT()` / `SELECT LAST_INSERT_ID()` alone are answered from the
/// session, see `plan::row_count_query`).
pub fn multiplexed_use(sql: &str, session_has_state: bool) -> Result<Option<&'static str>, Error> {
    let mentions = |w: &[u8]| {
        sql.as_bytes()
            .windows(w.len())
            .any(|x| x.eq_ignore_ascii_case(w))
    };
    let calc_found_rows = mentions(b"sql_calc_found_rows");
    let found_rows = !calc_found_rows && mentions(b"found_rows");
    if !session_has_state {
        let row_count = mentions(b"row_count") && crate::plan::row_count_query(sql).is_none();
        let insert_id = (mentions(b"last_insert_id") || mentions(b"@@identity"))
            && crate::plan::last_insert_id_query(sql).is_none();
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
    for (i, &c) in b.iter().enumerate() {
        if c == b'@' && b.get(i + 1) != Some(&b'@') && (i == 0 || b[i - 1] != b'@') {
            return Ok(Some("a user variable"));
        }
    }
    Ok(if mentions(b"temporary") {
        Some("a temporary table")
    } else if mentions(b"get_lock") {
        Some("a user-level lock")
    } else if calc_found_rows {
        Some("SQL_CALC_FOUND_ROWS")
    } else if found_rows {
        Some("FOUND_ROWS()")
    } else {
        None
    })
}

#[cfg(test)]
mod tests {
    use super::multiplexed_use;

    fn pins_connection(sql: &str) -> Option<&'static str> {
        multiplexed_use(sql, true).unwrap()
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
    }
}
