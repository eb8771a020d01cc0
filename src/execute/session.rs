//! Statements that change the session rather than read or write data: SET, transaction
//! control, USE.

use mysql_async::prelude::Queryable;

use crate::error::Error;
use crate::plan::SessionStatement;

use super::{status, Context, Failure, OkInfo, ResultSink, Session};

/// Runs a session statement on every connection the session holds (opening the default
/// group's when it holds none, so the server validates it), and remembers it for
/// connections opened later when it is meant to last.
pub async fn run_session_statement<S: ResultSink>(
    stmt: &SessionStatement,
    ctx: &Context<'_>,
    session: &mut Session,
    sink: &mut S,
) -> Result<(), Failure> {
    // A master, not only replicas: BEGIN must reach the server the transaction will use.
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
        session.conns.remember(&stmt.sql);
    }
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
    let db = ctx
        .rules
        .database(name)
        .ok_or_else(|| Error::UnknownDatabase(name.to_string()))?;
    session.current_db = Some(db.clone());
    sink.ok(&OkInfo {
        status: session.status,
        ..OkInfo::default()
    });
    Ok(())
}
