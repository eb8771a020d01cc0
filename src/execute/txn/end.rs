//! Ending a transaction on every group it runs on: COMMIT (the write group decides),
//! ROLLBACK, savepoint statements, the implicit end a DDL causes, and the client leaving.
//!
//! COMMIT with a write group and other (read) groups: first every read group is pinged, so
//! the locks and snapshot the transaction read under are known to be still held; then the
//! write group commits, and only then the read groups (their locks outlive the writes'
//! commit, as on one server). A read group that broke before the write group committed makes
//! the COMMIT fail with every group rolled back (1213); the write group's COMMIT failing on a
//! broken connection is an unknown outcome (1180), never OK. A read group failing after the
//! write group committed changes nothing: the answer is OK. Without a write group every
//! group's COMMIT must succeed.

use mysql_async::prelude::Queryable;

use crate::backend::ServerRef;
use crate::error::Error;

use super::super::{status, Context, Failure, OkInfo, Session};
use super::loss::connection_gone;
use super::{group_name, Joined, Txn};

/// What happened to a statement sent on a joined group's connection.
pub(super) enum Sent {
    Done { status: u16, warnings: u16 },
    Refused(Error),
    Broken(String),
}

pub(super) enum Op<'a> {
    Sql(&'a str),
    Ping,
}

/// Runs `op` on the connection group `j` joined with. A connection that is gone or was
/// replaced counts as broken: a transaction never goes on over a fresh connection.
pub(super) async fn send(session: &mut Session, j: &Joined, op: Op<'_>) -> Sent {
    let result = match session.conns.held_to_run(&j.db, j.group, ServerRef::Master) {
        None => return Sent::Broken("the connection is no longer held".into()),
        Some(conn) if conn.id() != j.conn_id => {
            return Sent::Broken("the connection was replaced".into())
        }
        Some(conn) => {
            let r = match op {
                Op::Sql(sql) => conn.query_drop(sql).await,
                Op::Ping => conn.ping().await,
            };
            r.map(|()| {
                let status = conn
                    .last_ok_packet()
                    .map(|p| p.status_flags().bits() & !status::MORE_RESULTS_EXISTS)
                    .unwrap_or(0);
                (status, conn.get_warnings())
            })
        }
    };
    match result {
        Ok((status, warnings)) => Sent::Done { status, warnings },
        Err(mysql_async::Error::Server(e)) if !connection_gone(e.code) => {
            Sent::Refused(Error::from(mysql_async::Error::Server(e)))
        }
        Err(e) => {
            session.conns.discard(&j.db, j.group);
            Sent::Broken(e.to_string())
        }
    }
}

/// The write group first, then the others in the order they joined.
fn commit_order(txn: &Txn) -> Vec<Joined> {
    let mut order = txn.groups.clone();
    if let Some(w) = &txn.writer {
        if let Some(i) = order
            .iter()
            .position(|j| j.group == w.group && j.db.name == w.db.name)
        {
            let writer = order.remove(i);
            order.insert(0, writer);
        }
    }
    order
}

/// COMMIT (the client's text, `AND CHAIN` included) on every group of the transaction.
pub async fn commit(
    session: &mut Session,
    ctx: &Context<'_>,
    sql: &str,
    chain: bool,
) -> Result<OkInfo, Failure> {
    if let Some(e) = session.txn.lost() {
        return Err(Failure::Query(e));
    }
    if session.txn.xa.is_some() && !session.txn.groups.is_empty() {
        return super::two_phase::commit(session, ctx, chain).await;
    }
    if session.txn.groups.is_empty() {
        if !chain {
            session.txn.end();
        }
        return Ok(OkInfo {
            status: session.txn.status(),
            ..OkInfo::default()
        });
    }
    let order = commit_order(&session.txn);
    let has_writer = session.txn.writer.is_some();
    if has_writer {
        for j in &order[1..] {
            let reason = match send(session, j, Op::Ping).await {
                Sent::Done { .. } => continue,
                Sent::Refused(e) => e.to_string(),
                Sent::Broken(reason) => reason,
            };
            rollback_quietly(session).await;
            session.txn.end();
            return Err(Failure::Query(Error::TransactionLost(format!(
                "the transaction was rolled back on every group: before COMMIT, the connection \
                 to group '{}' of database '{}', which it read from, broke ({reason}), so the \
                 locks and snapshot it held there were gone; restart the transaction",
                group_name(&j.db, j.group),
                j.db.name
            ))));
        }
    }
    let mut ok = OkInfo::default();
    let mut committed: Vec<String> = Vec::new();
    let mut broken: Vec<Joined> = Vec::new();
    for (k, j) in order.iter().enumerate() {
        let decisive = !has_writer || k == 0;
        match send(session, j, Op::Sql(sql)).await {
            Sent::Done { status, warnings } => {
                ok.status = status;
                ok.warnings = ok.warnings.max(warnings);
                committed.push(format!("'{}'", group_name(&j.db, j.group)));
                continue;
            }
            Sent::Refused(e) if decisive => {
                rollback_rest(session, &order[k + 1..]).await;
                session.txn.end();
                return Err(Failure::Query(e));
            }
            Sent::Broken(reason) if decisive => {
                rollback_rest(session, &order[k + 1..]).await;
                session.txn.end();
                let before = if committed.is_empty() {
                    String::new()
                } else {
                    format!(" (groups {} had committed)", committed.join(", "))
                };
                return Err(Failure::Query(Error::CommitOutcomeUnknown(format!(
                    "the connection to group '{}' of database '{}' broke during COMMIT \
                     ({reason}){before}: shardgate cannot tell whether the transaction \
                     committed there; the transaction is over, check the data before retrying",
                    group_name(&j.db, j.group),
                    j.db.name
                ))));
            }
            // A read group after the write group committed: nothing of the client's
            // changes depends on it.
            Sent::Refused(_) => {}
            Sent::Broken(_) => broken.push(j.clone()),
        }
    }
    close_or_chain(session, chain, &broken);
    Ok(ok)
}

/// After COMMIT or ROLLBACK on every group: `AND CHAIN` keeps the groups whose connection
/// still stands (each began the next transaction), otherwise the transaction ends.
fn close_or_chain(session: &mut Session, chain: bool, broken: &[Joined]) {
    if chain {
        session.txn.chained();
        session
            .txn
            .groups
            .retain(|g| !broken.iter().any(|b| same(g, b)));
    } else {
        session.txn.end();
    }
}

fn same(a: &Joined, b: &Joined) -> bool {
    a.group == b.group && a.db.name == b.db.name
}

async fn rollback_rest(session: &mut Session, rest: &[Joined]) {
    for j in rest {
        let _ = rollback_group(session, j).await;
    }
}

/// Rolls back the transaction's part on one group: ROLLBACK, or for an XA branch XA END
/// (refused when the server already ended it, e.g. after a deadlock) and XA ROLLBACK.
pub(super) async fn rollback_group(session: &mut Session, j: &Joined) -> Sent {
    match &j.branch {
        None => send(session, j, Op::Sql("ROLLBACK")).await,
        Some(xid) => {
            let _ = send(session, j, Op::Sql(&format!("XA END {}", xid.sql()))).await;
            send(session, j, Op::Sql(&format!("XA ROLLBACK {}", xid.sql()))).await
        }
    }
}

/// In xa mode `AND CHAIN` opens the next transaction the way the last one opened (new
/// branches join lazily, with a new id).
pub(super) fn restart(session: &mut Session) {
    let begin = session.txn.begin.clone();
    let characteristics = std::mem::take(&mut session.txn.characteristics);
    session.txn.end();
    if let Some(b) = begin {
        session.txn.begin(&b);
    }
    session.txn.characteristics = characteristics;
}

/// ROLLBACK (the client's text, `AND CHAIN` included) on every group; a group whose
/// connection broke was rolled back by its server. Clears a lost transaction.
pub async fn rollback(session: &mut Session, sql: &str, chain: bool) -> OkInfo {
    let mut ok = OkInfo::default();
    let mut answered = None;
    let mut broken: Vec<Joined> = Vec::new();
    let xa = session.txn.xa.is_some();
    for j in session.txn.groups.clone() {
        let sent = if j.branch.is_some() {
            rollback_group(session, &j).await
        } else {
            send(session, &j, Op::Sql(sql)).await
        };
        match sent {
            Sent::Done { status, warnings } => {
                answered = Some(status);
                ok.warnings = ok.warnings.max(warnings);
            }
            Sent::Refused(_) => {}
            Sent::Broken(_) => broken.push(j),
        }
    }
    if chain {
        // The chained transaction starts clean (`end` clears it otherwise).
        session.txn.lost = None;
    }
    if xa {
        if chain {
            restart(session);
        } else {
            session.txn.end();
        }
        ok.status = session.txn.status();
        return ok;
    }
    close_or_chain(session, chain, &broken);
    ok.status = answered.unwrap_or_else(|| session.txn.status());
    ok
}

/// Rolls back every group without changing the bookkeeping (the caller does).
pub(super) async fn rollback_quietly(session: &mut Session) {
    for j in session.txn.groups.clone() {
        let _ = rollback_group(session, &j).await;
    }
}

/// A statement about the whole transaction (SAVEPOINT, ROLLBACK TO, RELEASE, SET
/// TRANSACTION) on every group it runs on; the first refusal is the answer.
pub async fn on_every_group(session: &mut Session, sql: &str) -> Result<OkInfo, Failure> {
    if let Some(e) = session.txn.lost() {
        return Err(Failure::Query(e));
    }
    let mut ok = OkInfo {
        status: session.status,
        ..OkInfo::default()
    };
    for j in session.txn.groups.clone() {
        match send(session, &j, Op::Sql(sql)).await {
            Sent::Done { status, warnings } => {
                ok.status = status;
                ok.warnings = ok.warnings.max(warnings);
            }
            Sent::Refused(e) => return Err(Failure::Query(e)),
            Sent::Broken(reason) => {
                session.txn.connection_lost(&j.db.name, j.group, &reason);
                return Err(Failure::Query(session.txn.lost().unwrap_or(
                    Error::Internal("a broken transaction connection".into()),
                )));
            }
        }
    }
    Ok(ok)
}

/// SAVEPOINT: taken on every group, and remembered for groups that join later.
pub async fn savepoint(session: &mut Session, sql: &str, name: &str) -> Result<OkInfo, Failure> {
    let ok = on_every_group(session, sql).await?;
    if session.txn.active() {
        session.txn.add_savepoint(name);
    }
    Ok(ok)
}

/// ROLLBACK TO / RELEASE SAVEPOINT on every group; 1305 for a name the transaction lacks.
pub async fn unwind(
    session: &mut Session,
    sql: &str,
    name: &str,
    release: bool,
) -> Result<OkInfo, Failure> {
    if session.txn.lost().is_none() && !session.txn.has_savepoint(name) {
        return Err(Failure::Query(Error::NoSuchSavepoint(name.to_string())));
    }
    let ok = on_every_group(session, sql).await?;
    session.txn.unwind_savepoint(name, release);
    Ok(ok)
}

/// After a statement ran on the master of `group`: the backend's IN_TRANS says whether the
/// transaction is still open there. A group that ended it (a DDL commits implicitly) ends
/// it everywhere, as one server would; a group that opened one on its own (autocommit=0
/// and a statement the proxy did not expect to touch data) joins the transaction; in xa
/// mode it is committed at once instead (it touched no data), so the group's first statement
/// that does opens an XA branch there.
pub async fn after_statement(
    session: &mut Session,
    db: &std::sync::Arc<crate::config::model::Database>,
    group: crate::config::model::GroupId,
    backend_status: u16,
    xa_mode: bool,
) {
    let in_trans = backend_status & status::IN_TRANS != 0;
    match session.txn.joined_index(&db.name, group) {
        // An XA branch cannot end implicitly (the server refuses what would commit it).
        Some(i) if !in_trans && session.txn.groups[i].branch.is_none() => {
            session.txn.groups.remove(i);
            let writer = session.txn.writer.clone();
            let mut failed: Option<(Joined, String)> = None;
            for j in session.txn.groups.clone() {
                let reason = match send(session, &j, Op::Sql("COMMIT")).await {
                    Sent::Done { .. } => continue,
                    Sent::Refused(e) => e.to_string(),
                    Sent::Broken(r) => r,
                };
                let is_writer = writer
                    .as_ref()
                    .is_some_and(|w| w.group == j.group && w.db.name == j.db.name);
                if is_writer {
                    failed = Some((j, reason));
                }
            }
            session.txn.end();
            if let Some((j, reason)) = failed {
                session.txn.lose(
                    &j,
                    &format!("its implicit COMMIT after a statement that commits failed: {reason}"),
                );
            }
        }
        None if in_trans && session.txn.active() && xa_mode => {
            if let Some(conn) = session.conns.held(db, group, ServerRef::Master) {
                if conn.query_drop("COMMIT").await.is_err() {
                    session.conns.discard(db, group);
                }
            }
        }
        None if in_trans && session.txn.active() => {
            let conn_id = session
                .conns
                .held(db, group, ServerRef::Master)
                .map(|c| c.id());
            if let Some(conn_id) = conn_id {
                session.txn.groups.push(Joined {
                    db: db.clone(),
                    group,
                    conn_id,
                    first: "a statement that opened a transaction on its own".into(),
                    branch: None,
                });
            }
        }
        _ => {}
    }
}

/// The client left: an open transaction is rolled back on every group before its
/// connections go back to the pool (the pool's reset would roll it back too, but a pool may
/// be configured not to reset, and a lock must not outlive its client). A connection that
/// cannot roll back is closed, which makes the server roll back.
/// `reset`: the pools do not reset returned connections (multiplexing), so connections
/// that carry session state are reset here.
pub async fn close(session: &mut Session, reset: bool) {
    // Decided before the transaction's connections leave the session: they carry the
    // session's SETs too, and a pool that does not reset would hand them to the next client.
    let needs_reset = reset && session.conns.has_state();
    for j in std::mem::take(&mut session.txn.groups) {
        if let Some(mut conn) = session.conns.take_master(&j.db, j.group) {
            let limit = std::time::Duration::from_secs(5);
            let sql = match &j.branch {
                Some(xid) => format!("XA END {x};XA ROLLBACK {x}", x = xid.sql()),
                None => "ROLLBACK".to_string(),
            };
            let rolled_back = tokio::time::timeout(limit, conn.query_drop(sql)).await;
            let clean = matches!(rolled_back, Ok(Ok(())))
                && (!needs_reset
                    || matches!(tokio::time::timeout(limit, conn.reset()).await, Ok(Ok(_))));
            if !clean {
                let _ = conn.disconnect().await;
            }
        }
    }
    session.txn.end();
    if needs_reset {
        session.conns.reset_and_release_all().await;
    } else {
        session.conns.release_all();
    }
}
