//! COMMIT of a transaction in xa mode. One XA branch: `XA END` + `XA COMMIT ... ONE PHASE`
//! in one round trip, as cheap as a plain COMMIT. Several branches:
//!
//! 1. `XA END` + `XA PREPARE` on every branch at once. Any failure: `XA ROLLBACK` on every
//!    branch, and the client gets 1213 naming the group (a branch whose connection broke
//!    may have been prepared: a `rollback` decision is logged so recovery rolls it back).
//! 2. The decision: a `commit` row in the decision log (`xa::log`), committed before any
//!    branch commits. Refused because recovery already recorded `rollback`: every branch
//!    rolls back (1213). Unknown (the log's master did not answer): the branches stay
//!    prepared for recovery, and the client gets 1180 (outcome unknown), never OK.
//! 3. `XA COMMIT` on every branch at once. The transaction is committed from step 2 on: a
//!    branch that fails here is left to recovery (woken at once), the client gets OK.
//! 4. The log row is removed once every branch committed (in the background).
//!
//! Groups that joined without a branch (a statement opened a transaction on its own) commit
//! plainly after the branches, like the read groups of a single-group transaction.

use std::sync::Arc;

use futures_util::future::join_all;
use mysql_async::prelude::Queryable;

use crate::backend::conn::BackendConn;
use crate::backend::ServerRef;
use crate::error::Error;
use crate::execute::xa::{fault, log, Coordinator, Xid};

use super::super::{Context, Failure, OkInfo, Session};
use super::end::{restart, rollback_group, send, Op, Sent};
use super::loss::connection_gone;
use super::{group_name, Joined};

/// What one branch answered.
enum Answer {
    Done,
    Refused(Error),
    Broken(String),
}

pub(super) async fn commit(
    session: &mut Session,
    ctx: &Context<'_>,
    chain: bool,
) -> Result<OkInfo, Failure> {
    let (branches, plain): (Vec<Joined>, Vec<Joined>) = session
        .txn
        .groups
        .clone()
        .into_iter()
        .partition(|j| j.branch.is_some());
    let outcome = match branches.as_slice() {
        [] => Ok(()),
        [one] => one_phase(session, one).await,
        _ => two_phase(session, ctx, &branches).await,
    };
    if outcome.is_ok() {
        for j in &plain {
            let _ = send(session, j, Op::Sql("COMMIT")).await;
        }
    } else {
        for j in &plain {
            let _ = rollback_group(session, j).await;
        }
    }
    if chain && outcome.is_ok() {
        restart(session);
    } else {
        session.txn.end();
    }
    outcome.map_err(Failure::Query)?;
    Ok(OkInfo {
        status: session.txn.status(),
        ..OkInfo::default()
    })
}

fn xid(j: &Joined) -> &Xid {
    j.branch.as_ref().expect("partitioned on branch")
}

fn name(j: &Joined) -> String {
    format!(
        "group '{}' of database '{}'",
        group_name(&j.db, j.group),
        j.db.name
    )
}

async fn one_phase(session: &mut Session, j: &Joined) -> Result<(), Error> {
    let x = xid(j).sql();
    let sql = format!("XA END {x};XA COMMIT {x} ONE PHASE");
    match send(session, j, Op::Sql(&sql)).await {
        Sent::Done { .. } => Ok(()),
        Sent::Refused(e) => {
            // Ended but not committed (or rolled back by the server): make sure it is gone.
            let _ = rollback_group(session, j).await;
            Err(e)
        }
        Sent::Broken(reason) => Err(Error::CommitOutcomeUnknown(format!(
            "the connection to {} broke during COMMIT ({reason}): shardgate cannot tell \
             whether the transaction committed there; the transaction is over, check the data \
             before retrying",
            name(j)
        ))),
    }
}

/// Takes the branches' connections out of the session (a missing or replaced one is
/// `None`), so statements run on all of them at once.
fn take_all(session: &mut Session, branches: &[Joined]) -> Vec<Option<BackendConn>> {
    branches
        .iter()
        .map(|j| {
            let conn = session.conns.take_master(&j.db, j.group)?;
            (conn.id() == j.conn_id).then_some(conn)
        })
        .collect()
}

fn put_back_all(
    session: &mut Session,
    ctx: &Context<'_>,
    branches: &[Joined],
    conns: Vec<Option<BackendConn>>,
) {
    for (j, conn) in branches.iter().zip(conns) {
        if let Some(c) = conn {
            session
                .conns
                .put_back(ctx.backends, &j.db, j.group, ServerRef::Master, c);
        }
    }
}

/// Runs `sql(branch)` on every branch at once; a broken connection is dropped.
async fn on_all(
    conns: &mut [Option<BackendConn>],
    branches: &[Joined],
    sql: impl Fn(&Xid) -> String,
    after_first: Option<&str>,
) -> Vec<Answer> {
    let runs = conns
        .iter_mut()
        .zip(branches)
        .enumerate()
        .map(|(i, (c, j))| {
            let text = sql(xid(j));
            async move {
                let Some(conn) = c.as_mut() else {
                    return Answer::Broken("the connection is no longer held".into());
                };
                let answer = match conn.query_drop(text).await {
                    Ok(()) => Answer::Done,
                    Err(mysql_async::Error::Server(e)) if !connection_gone(e.code) => {
                        Answer::Refused(Error::from(mysql_async::Error::Server(e)))
                    }
                    Err(e) => Answer::Broken(e.to_string()),
                };
                if i == 0 && matches!(answer, Answer::Done) {
                    if let Some(point) = after_first {
                        fault::point(point);
                    }
                }
                answer
            }
        });
    let answers = join_all(runs).await;
    for (c, a) in conns.iter_mut().zip(&answers) {
        if matches!(a, Answer::Broken(_)) {
            *c = None;
        }
    }
    answers
}

async fn two_phase(
    session: &mut Session,
    ctx: &Context<'_>,
    branches: &[Joined],
) -> Result<(), Error> {
    let Some(xa) = session.txn.xa.as_ref() else {
        return Err(Error::Internal(
            "an XA commit without a transaction id".into(),
        ));
    };
    let gtrid = xa.live.gtrid.clone();
    let log_db = xa.log_db.clone();
    let coordinator: Arc<Coordinator> = xa.live.coordinator().clone();
    xa.live.set_state("preparing");
    let mut conns = take_all(session, branches);
    let prepared = on_all(
        &mut conns,
        branches,
        |x| format!("XA END {x};XA PREPARE {x}", x = x.sql()),
        Some("after_first_prepare"),
    )
    .await;
    if let Some((j, why)) = first_failure(branches, &prepared) {
        put_back_all(session, ctx, branches, conns);
        if let Some(xa) = &session.txn.xa {
            xa.live.set_state("rolling back");
        }
        for b in branches {
            let _ = rollback_group(session, b).await;
        }
        if prepared.iter().any(|a| matches!(a, Answer::Broken(_))) {
            // A branch may have been prepared before its connection broke.
            let _ = record(
                ctx,
                &coordinator,
                &log_db,
                &gtrid,
                log::Decision::Rollback,
                "prepare failed",
            )
            .await;
            coordinator.wake.notify_one();
        }
        return Err(Error::TransactionLost(format!(
            "the transaction was rolled back on every group: XA PREPARE failed on {} ({why})",
            name(j)
        )));
    }
    fault::point("after_prepare");
    fault::pause("slow_decision").await;
    if let Some(xa) = &session.txn.xa {
        xa.live.set_state("deciding");
    }
    let described = branches
        .iter()
        .map(|j| format!("{}.{}", j.db.name, group_name(&j.db, j.group)))
        .collect::<Vec<_>>()
        .join(",");
    let (decided, log_conn) = match record(
        ctx,
        &coordinator,
        &log_db,
        &gtrid,
        log::Decision::Commit,
        &described,
    )
    .await
    {
        Ok(d) => d,
        Err(Recorded::Refused(e)) => {
            roll_back_prepared(&mut conns, branches).await;
            put_back_all(session, ctx, branches, conns);
            return Err(Error::TransactionLost(format!(
                "the transaction was rolled back on every group: its commit decision \
                     could not be written to the decision log of database '{log_db}' ({e})"
            )));
        }
        Err(Recorded::Unknown(e)) => {
            // Prepared branches stay for recovery, which reads the log; their connections
            // are closed, not pooled (the server keeps a prepared branch a client left).
            for c in conns.into_iter().flatten() {
                let _ = c.disconnect().await;
            }
            coordinator.wake.notify_one();
            return Err(Error::CommitOutcomeUnknown(format!(
                "every group prepared the transaction, but writing its commit decision to \
                     the decision log of database '{log_db}' failed ({e}): whether it commits \
                     is decided by recovery from that log (transaction {gtrid}); check the data \
                     before retrying"
            )));
        }
    };
    if decided == log::Decision::Rollback {
        roll_back_prepared(&mut conns, branches).await;
        put_back_all(session, ctx, branches, conns);
        return Err(Error::TransactionLost(format!(
            "the transaction was rolled back on every group: recovery had given it up \
             (transaction {gtrid} stayed prepared too long) before its commit was decided"
        )));
    }
    fault::point("after_decision");
    if let Some(xa) = &session.txn.xa {
        xa.live.set_state("committing");
    }
    let committed = if fault::armed("between_commits") {
        let mut answers = Vec::new();
        for i in 0..branches.len() {
            let a = on_all(
                &mut conns[i..=i],
                &branches[i..=i],
                |x| format!("XA COMMIT {}", x.sql()),
                (i + 1 < branches.len()).then_some("between_commits"),
            )
            .await;
            answers.extend(a);
        }
        answers
    } else {
        on_all(
            &mut conns,
            branches,
            |x| format!("XA COMMIT {}", x.sql()),
            None,
        )
        .await
    };
    put_back_all(session, ctx, branches, conns);
    let all_done = committed.iter().all(|a| match a {
        Answer::Done => true,
        Answer::Refused(e) => e.code() == 1397,
        Answer::Broken(_) => false,
    });
    if all_done {
        if let Some((mut conn, schema)) = log_conn {
            tokio::spawn(async move {
                let _ = log::forget(&mut conn, &schema, &gtrid).await;
                conn.close().await;
            });
        }
    } else {
        tracing::warn!(
            "xa: transaction {gtrid} is committed but a branch did not answer XA COMMIT; \
             recovery finishes it"
        );
        coordinator.wake.notify_one();
    }
    Ok(())
}

fn first_failure<'a>(branches: &'a [Joined], answers: &[Answer]) -> Option<(&'a Joined, String)> {
    branches.iter().zip(answers).find_map(|(j, a)| match a {
        Answer::Done => None,
        Answer::Refused(e) => Some((j, e.to_string())),
        Answer::Broken(r) => Some((j, format!("connection broke: {r}"))),
    })
}

async fn roll_back_prepared(conns: &mut [Option<BackendConn>], branches: &[Joined]) {
    let _ = on_all(
        conns,
        branches,
        |x| format!("XA ROLLBACK {}", x.sql()),
        None,
    )
    .await;
}

enum Recorded {
    /// The server refused the INSERT: nothing was recorded.
    Refused(String),
    /// The connection broke: it may or may not have been recorded.
    Unknown(String),
}

/// A connection to the log's master: from the pool when one is free, else one of its own
/// (every pooled connection may be a branch waiting for its decision: waiting for the pool
/// could wait for ourselves).
enum LogConn {
    Pooled(BackendConn),
    Own(mysql_async::Conn),
}

impl std::ops::Deref for LogConn {
    type Target = mysql_async::Conn;
    fn deref(&self) -> &mysql_async::Conn {
        match self {
            LogConn::Pooled(c) => c,
            LogConn::Own(c) => c,
        }
    }
}

impl std::ops::DerefMut for LogConn {
    fn deref_mut(&mut self) -> &mut mysql_async::Conn {
        match self {
            LogConn::Pooled(c) => c,
            LogConn::Own(c) => c,
        }
    }
}

impl LogConn {
    async fn close(self) {
        if let LogConn::Own(c) = self {
            let _ = c.disconnect().await;
        }
    }
}

/// Writes a decision to the log of `log_db` on a connection of its own (autocommit); returns
/// the decision that stands and the connection, to remove the row later.
async fn record(
    ctx: &Context<'_>,
    coordinator: &Coordinator,
    log_db: &str,
    gtrid: &str,
    decision: log::Decision,
    branches: &str,
) -> Result<(log::Decision, Option<(LogConn, String)>), Recorded> {
    let db = ctx.rules.database(log_db).ok_or_else(|| {
        Recorded::Refused(format!("database '{log_db}' is no longer in the rules"))
    })?;
    let schema = db.groups[db.default_group].schema.clone();
    let pool = ctx
        .backends
        .pool(db, db.default_group)
        .ok_or_else(|| Recorded::Refused("no pool for its default group".into()))?;
    let free = pool
        .connect_if_free(ctx.backends.connect_timeout, ctx.backends.probe_interval)
        .await
        .map_err(|e| Recorded::Refused(e.to_string()))?;
    let mut conn = match free {
        Some(c) => LogConn::Pooled(c),
        None => LogConn::Own(
            crate::execute::xa::recover::connect(&pool.addr, coordinator)
                .await
                .map_err(Recorded::Refused)?,
        ),
    };
    match log::decide(&mut conn, &schema, gtrid, decision, branches).await {
        Ok(d) => Ok((d, Some((conn, schema)))),
        Err(mysql_async::Error::Server(e)) if !connection_gone(e.code) => {
            Err(Recorded::Refused(e.to_string()))
        }
        Err(e) => Err(Recorded::Unknown(e.to_string())),
    }
}
