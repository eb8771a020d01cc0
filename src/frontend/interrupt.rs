//! Stopping a running statement when KILL asks, the way the server does it: the statement
//! fails with 1317 and the session goes on.
//!
//! A statement is stopped where it runs: `KILL QUERY <thread>` goes to every backend
//! connection it uses (noted as it takes them), sent from the target session's own worker on
//! a connection of its own, outside the pool (which the statement may hold entirely). Each
//! backend then ends its part with 1317, which the statement passes on like any backend
//! error; its connections stay in a clean state and an
//! open transaction stays open, exactly as on one server.
//!
//! Only when the statement does not wind down within `WIND_DOWN` (a merge busy in the proxy,
//! a backend that does not answer) does the proxy drop it mid-protocol. Its backend
//! connections are then in an unknown state: they are closed, never reused or pooled, and if
//! one carried the open transaction, the transaction is lost (the error says so, and the
//! session refuses statements until ROLLBACK). Merge lanes run in their own tasks and always
//! finish their protocol step before their connection goes back to its pool.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::Row;
use mysql_common::packets::Column;
use tokio::task::JoinHandle;

use crate::backend::in_use::{BackendThread, InUse};
use crate::backend::GroupPool;
use crate::error::Error;
use crate::execute::{self, ColumnRename, Context, OkInfo, ResultSink, Session};
use crate::plan::{Plan, SessionKind};
use crate::protocol::PacketRun;

use super::session_signal::{QueryToken, SessionSignal};
use super::sessions::LiveSession;

/// How long a killed statement may take to end by its backends' 1317, counted from when
/// every backend KILL QUERY was delivered, before the proxy abandons it. Abandoning closes
/// the statement's connections and so loses an open transaction; the clock starts only once
/// the kills are through, since sending them may wait for a pooled connection on a loaded
/// machine. MariaDB itself may take two seconds to wake a killed thread after its KILL
/// answered (`THD::awake` retries the victim's mutex for `SECONDS_TO_WAIT_FOR_KILL`, and a
/// victim woken meanwhile waits on that loop: measured 1.8-2.0 s from the KILL with 16
/// concurrent kills of SLEEP on one server), so anything under that abandons statements
/// the server was about to end cleanly (1 s did, in CI).
pub const WIND_DOWN: Duration = Duration::from_secs(3);
/// A killed statement with nothing running on a backend (waiting for a pooled connection,
/// say) has nothing to lose: it is abandoned after this.
const NOTHING_RUNNING: Duration = Duration::from_millis(200);
/// How often a killed statement's new backend connections are looked for.
const TICK: Duration = Duration::from_millis(20);
/// How long closing an abandoned connection may take (it is discarded either way).
const DISCARD: Duration = Duration::from_millis(200);

/// Runs one planned statement so that KILL can stop it. Like `execute::run`: query errors
/// go to the sink, `Ok(false)` means the statement failed.
pub async fn run_statement<S: ResultSink>(
    live: &LiveSession,
    sql: &str,
    plan: Plan,
    ctx: &Context<'_>,
    session: &mut Session,
    sink: &mut S,
) -> io::Result<bool> {
    let db = session.current_db.as_ref().map(|d| d.name.as_str());
    let commits = commits_a_transaction(&plan, session);
    let writes = matches!(&plan, Plan::Route(r) if r.is_write);
    let token = live.begin_statement(sql, db);
    let answered = AtomicBool::new(false);
    let outcome = {
        let mut watched = Watched {
            inner: &mut *sink,
            answered: &answered,
            ended: live.ended(),
        };
        // Pinned here and lent to `watch`: the statement's future is 5 KB, which passing it
        // by value copied on every statement.
        let fut = execute::run(plan, ctx, session, &mut watched);
        tokio::pin!(fut);
        watch(fut, &token, &live.in_use, ctx.backends.connect_timeout).await
    };
    let result = match outcome {
        Some(r) => r,
        None => {
            let used = live.in_use.snapshot();
            let answered = answered.load(Ordering::Relaxed);
            let ended = live.ended().is_cancelled();
            let cut_off = CutOff { commits, writes };
            abandon(&used, session, sink, answered, ended, cut_off).await
        }
    };
    live.end_statement();
    result
}

/// Polls `fut` to its end. Once `token` is cancelled, stops what the statement runs on its
/// backends and keeps polling while it winds down; `None` when it did not within
/// `WIND_DOWN` (the future is dropped by the caller).
pub async fn watch<F: Future>(
    mut fut: Pin<&mut F>,
    token: &QueryToken,
    in_use: &InUse,
    connect_timeout: Duration,
) -> Option<F::Output> {
    tokio::select! {
        biased;
        out = &mut fut => return Some(out),
        _ = token.cancelled() => {}
    }
    let mut killed: Vec<(Arc<GroupPool>, u32)> = Vec::new();
    let mut kills: Vec<JoinHandle<()>> = Vec::new();
    let started = Instant::now();
    let mut quiet_since = started;
    let out = loop {
        // A statement may open further connections while it winds down: stop those too.
        for t in in_use.snapshot() {
            let known = killed
                .iter()
                .any(|(p, id)| *id == t.thread && Arc::ptr_eq(p, &t.pool));
            if !known {
                killed.push((t.pool.clone(), t.thread));
                in_use.killing(&t);
                kills.push(spawn_kill_query(t, connect_timeout));
                quiet_since = Instant::now();
            }
        }
        if kills.iter().any(|k| !k.is_finished()) {
            quiet_since = Instant::now();
        }
        let waited_out = if killed.is_empty() {
            started.elapsed() >= NOTHING_RUNNING
        } else {
            quiet_since.elapsed() >= WIND_DOWN || started.elapsed() >= connect_timeout + WIND_DOWN
        };
        if waited_out {
            break None;
        }
        tokio::select! {
            biased;
            out = &mut fut => break Some(out),
            _ = tokio::time::sleep(TICK) => {}
        }
    };
    // A KILL QUERY arriving late would stop the session's next statement on that thread.
    for k in kills {
        let _ = tokio::time::timeout(connect_timeout + WIND_DOWN, k).await;
    }
    out
}

/// `KILL QUERY <thread>` on the thread's server, in a task of its own so that nothing can
/// drop the kill connection mid-protocol. The backend user may kill its own threads
/// without SUPER, and every proxy connection uses that one user.
fn spawn_kill_query(t: BackendThread, connect_timeout: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        // A connection of its own, not the pool's: the statement being stopped may hold every
        // connection the pool may open (and keep it until it is stopped), and the sessions
        // holding the others may send statement after statement.
        let got =
            tokio::time::timeout(connect_timeout, mysql_async::Conn::new(t.pool.opts.clone()))
                .await;
        let mut conn = match got {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                tracing::warn!(addr = %t.pool.addr, "cannot connect to kill thread {}: {e}", t.thread);
                return;
            }
            Err(_) => {
                tracing::warn!(addr = %t.pool.addr, "no connection to kill thread {} within {connect_timeout:?}", t.thread);
                return;
            }
        };
        let kill = format!("KILL QUERY {}", t.thread);
        // 1094 (unknown thread) means the statement ended meanwhile: nothing to stop.
        match conn.query_drop(&kill).await {
            Err(mysql_async::Error::Server(e)) if e.code == 1095 => {
                return kill_as_the_other_account(conn, &kill, connect_timeout).await;
            }
            Err(e) => tracing::debug!(addr = %t.pool.addr, "{kill}: {e}"),
            Ok(()) => {}
        }
        let _ = tokio::time::timeout(DISCARD, conn.disconnect()).await;
    })
}

/// MariaDB's thread ownership includes the host: `app@localhost` (the unix socket, which
/// the pools prefer) cannot kill a thread of `app@127.0.0.1` (a pool connection that stayed
/// on TCP), nor the other way round, without CONNECTION ADMIN, which the backend user need
/// not hold. After 1095 the kill is sent again over the other transport.
async fn kill_as_the_other_account(
    mut conn: mysql_async::Conn,
    kill: &str,
    connect_timeout: Duration,
) {
    let me: Option<String> = conn
        .query_first("SELECT CURRENT_USER()")
        .await
        .ok()
        .flatten();
    let socket: Option<String> = conn.query_first("SELECT @@socket").await.ok().flatten();
    let on_socket = me.is_some_and(|u| u.ends_with("@localhost"));
    let opts = mysql_async::OptsBuilder::from_opts(conn.opts().clone());
    let other = if on_socket {
        opts.prefer_socket(false).socket(None::<String>)
    } else {
        match socket {
            Some(path) => opts.socket(Some(path)),
            None => return,
        }
    };
    drop(conn);
    match tokio::time::timeout(connect_timeout, mysql_async::Conn::new(other)).await {
        Ok(Ok(mut c)) => {
            if let Err(e) = c.query_drop(kill).await {
                tracing::debug!("{kill} over the other transport: {e}");
            }
            let _ = c.disconnect().await;
        }
        Ok(Err(e)) => tracing::warn!("{kill}: cannot connect over the other transport: {e}"),
        Err(_) => tracing::warn!("{kill}: no connection over the other transport in time"),
    }
}

/// True when `plan` commits the session's open backend transaction (COMMIT, BEGIN or
/// `SET autocommit = 1` inside one): cut off, its outcome is unknown.
fn commits_a_transaction(plan: &Plan, session: &Session) -> bool {
    if !session.txn.pins_connections() {
        return false;
    }
    let Plan::Session(stmt) = plan else {
        return false;
    };
    match &stmt.kind {
        SessionKind::End { rollback, .. } => !rollback,
        SessionKind::Begin { .. } => true,
        SessionKind::Set { autocommit, .. } => *autocommit == Some(true),
        _ => false,
    }
}

/// What an abandoned statement was doing, for its error.
struct CutOff {
    /// It committed the open transaction.
    commits: bool,
    /// It wrote (outside a transaction its server commits it on its own).
    writes: bool,
}

/// The statement was dropped mid-protocol: closes the connections it left in doubt, marks
/// the transaction lost if one of them carried it, and answers 1317 (1927 when the session
/// is being killed) unless the statement had already answered.
async fn abandon<S: ResultSink>(
    used: &[BackendThread],
    session: &mut Session,
    sink: &mut S,
    answered: bool,
    ended: bool,
    cut_off: CutOff,
) -> io::Result<bool> {
    let doomed = session.conns.take_held(|pool, id| {
        used.iter()
            .any(|t| t.thread == id && Arc::ptr_eq(&t.pool, pool))
    });
    for (_, _, conn) in doomed {
        discard(conn).await;
    }
    let lost_before = session.txn.lost().is_some();
    for t in used {
        session.txn.connection_lost(
            &t.pool.database,
            t.group,
            "the statement was killed and did not stop in time, so shardgate closed its \
             backend connection",
        );
    }
    let txn_lost = !lost_before && session.txn.lost().is_some();
    let commit_cut_off = cut_off.commits && txn_lost;
    if commit_cut_off {
        // Whether the server committed before its connection was closed is unknown: the
        // transaction is over either way (COMMIT's own 1180 when a connection breaks).
        session.txn.end();
    }
    if answered {
        return Ok(true);
    }
    let err = if ended {
        Error::ConnectionKilled
    } else if commit_cut_off {
        Error::CommitOutcomeUnknown(format!(
            "the COMMIT was killed and its backend ({}) did not stop in time, so shardgate \
             closed the connection: whether the transaction committed there is unknown; the \
             transaction is over, check the data before retrying",
            groups_of(used)
        ))
    } else if txn_lost {
        Error::Interrupted(
            " (shardgate closed the statement's backend connections; the open transaction \
             was rolled back: ROLLBACK to go on)"
                .into(),
        )
    } else if cut_off.writes && !used.is_empty() && !session.txn.pins_connections() {
        // Outside a transaction the server commits the write on its own whenever it gets
        // to it: 1317 alone would say it did not happen.
        Error::Interrupted(format!(
            " (shardgate closed the statement's backend connections ({}) before they \
             answered: whether the write took effect there is unknown, check before retrying)",
            groups_of(used)
        ))
    } else {
        Error::Interrupted(String::new())
    };
    sink.error(&err);
    Ok(false)
}

/// "group 'g1' of database 'db'" for each connection a statement used.
fn groups_of(used: &[BackendThread]) -> String {
    let mut names: Vec<String> = used
        .iter()
        .map(|t| format!("group '{}' of database '{}'", t.pool.group, t.pool.database))
        .collect();
    names.dedup();
    names.join(", ")
}

/// Closes a connection for good. `disconnect` marks it closed before its first await, so
/// even when the timeout drops it half-way its pool discards it instead of reusing it.
pub async fn discard(conn: crate::backend::BackendConn) {
    let _ = tokio::time::timeout(DISCARD, conn.disconnect()).await;
}

/// The statement's sink, noting whether the statement has given its final answer (after
/// which nothing more may be written) and telling a killed session's client 1927.
struct Watched<'a, S> {
    inner: &'a mut S,
    answered: &'a AtomicBool,
    ended: &'a SessionSignal,
}

impl<S: ResultSink> ResultSink for Watched<'_, S> {
    fn ok(&mut self, ok: &OkInfo) {
        self.answered.store(true, Ordering::Relaxed);
        self.inner.ok(ok);
    }

    fn error(&mut self, err: &Error) {
        self.answered.store(true, Ordering::Relaxed);
        if err.code() == 1317 && self.ended.is_cancelled() {
            self.inner.error(&Error::ConnectionKilled);
        } else {
            self.inner.error(err);
        }
    }

    fn columns<'a>(
        &mut self,
        cols: &'a [Column],
        status: u16,
        rename: &dyn Fn(&'a Column) -> ColumnRename<'a>,
    ) {
        self.inner.columns(cols, status, rename);
    }

    fn synthetic_columns(&mut self, table: &str, names: &[&str]) {
        self.inner.synthetic_columns(table, names);
    }

    fn row(&mut self, row: &Row) {
        self.inner.row(row);
    }

    fn row_cells(&mut self, cells: &[Option<&[u8]>]) {
        self.inner.row_cells(cells);
    }

    fn end_rows(&mut self, ok: &OkInfo) {
        self.answered.store(true, Ordering::Relaxed);
        self.inner.end_rows(ok);
    }

    fn prepared_form(&self, sql: &str) -> Option<(String, Vec<mysql_async::Value>)> {
        self.inner.prepared_form(sql)
    }

    fn forwarded_form(&self, sql: &str) -> Option<crate::execute::ForwardedExecute> {
        self.inner.forwarded_form(sql)
    }

    fn wants_binary_backend(&self) -> bool {
        self.inner.wants_binary_backend()
    }

    async fn maybe_flush(&mut self) -> io::Result<()> {
        self.inner.maybe_flush().await
    }

    fn raw_rows(&self) -> Option<crate::execute::RowFormat> {
        self.inner.raw_rows()
    }

    fn raw_header(&mut self, write: &mut dyn FnMut(&mut Vec<u8>)) {
        self.inner.raw_header(write);
    }

    fn raw_columns_end(&mut self, status: u16) {
        self.inner.raw_columns_end(status);
    }

    fn raw_row(&mut self, payload: &[u8]) {
        self.inner.raw_row(payload);
    }

    fn raw_row_run(&mut self, run: PacketRun<'_>) {
        self.inner.raw_row_run(run);
    }

    fn prepared_column_name(&self, index: usize, count: usize) -> Option<&[u8]> {
        self.inner.prepared_column_name(index, count)
    }
}
