//! A write over several groups with autocommit on, in xa mode (a broadcast table's copies,
//! a key-less UPDATE / DELETE over shards of several groups, a multi-row INSERT spread over
//! groups): it runs as an XA transaction of its own, so it applies on every group or on
//! none. A write over several shards of one group runs in one plain transaction there, in
//! any mode, for the same reason. A failure on any group rolls back all of them, and the client gets that group's
//! error, saying so. DDL is not transactional and keeps its place-by-place behaviour.

use std::io;

use mysql_async::Row;
use mysql_common::packets::Column;

use crate::backend::ServerRef;
use crate::error::Error;
use crate::plan::lexer::significant;
use crate::plan::{Route, Target};
use crate::protocol::PacketRun;

use super::super::{route, status, ColumnRename, Context, Failure, OkInfo, ResultSink, Session};

/// Whether `route` must run as an atomic write: no transaction open, a data change (not
/// DDL) sent as several backend statements, either on more than one group in xa mode, or
/// on shards of one group in any mode (one plain transaction there makes it atomic, as the
/// one statement is on one server).
pub fn needs_atomic_write(route: &Route, ctx: &Context<'_>, session: &Session) -> bool {
    if !route.is_write
        || route.targets.len() < 2
        || session.txn.active()
        || session.txn.pins_connections()
        || !super::confined_write(route)
    {
        return false;
    }
    let Some(first) = route.targets.first() else {
        return false;
    };
    let several = route.targets.iter().any(|t| t.group != first.group);
    (ctx.xa.is_some() || !several) && is_data_change(&first.sql)
}

pub(super) fn is_data_change(sql: &str) -> bool {
    significant(sql).next().is_some_and(|t| {
        ["INSERT", "UPDATE", "DELETE", "REPLACE"]
            .iter()
            .any(|w| t.is_word(sql, w))
    })
}

/// Runs `route` as one XA transaction over its groups.
pub async fn run_atomic<S: ResultSink>(
    route: &Route,
    server: Option<ServerRef>,
    ctx: &Context<'_>,
    session: &mut Session,
    sink: &mut S,
) -> Result<(), Failure> {
    session.txn.begin("BEGIN");
    session.txn.single_statement = true;
    let mut capture = Capture {
        inner: sink,
        ok: None,
    };
    let outcome = Box::pin(route::run_targets(
        route,
        server,
        ctx,
        session,
        &mut capture,
    ))
    .await;
    let ok = capture.ok.take();
    let result = match outcome {
        Ok(()) => match super::commit(session, ctx, "COMMIT", false).await {
            Ok(_) => {
                // Its writes became visible at this COMMIT: the read split learns their
                // GTIDs now, as after a client's COMMIT.
                session.reads.refresh_writes();
                if super::super::read_split::ReadSplit::uses_gtid(ctx.backends.read_your_writes) {
                    for (db, group) in session.reads.pending_gtids() {
                        let gtid = route::last_gtid(session, ctx, &db, group).await;
                        session.reads.record_write(&db, group, gtid);
                    }
                }
                let mut ok = ok.unwrap_or_default();
                ok.status =
                    (ok.status & !(status::IN_TRANS | status::AUTOCOMMIT)) | session.txn.status();
                session.keep_status(ok.status);
                sink.ok(&ok);
                Ok(())
            }
            Err(e) => Err(e),
        },
        Err(Failure::Query(e)) => {
            super::rollback(session, "ROLLBACK", false).await;
            Err(Failure::Query(rolled_back(route, e)))
        }
        Err(client) => {
            super::rollback(session, "ROLLBACK", false).await;
            Err(client)
        }
    };
    session.txn.end();
    session.status = (session.status & !status::IN_TRANS) | session.txn.status();
    result
}

/// The failing group's error, saying the write was undone everywhere.
fn rolled_back(route: &Route, e: Error) -> Error {
    let (cause, failed) = match e {
        Error::PartlyApplied { cause, failed, .. } => (*cause, Some(failed)),
        other => (other, None),
    };
    let groups: Vec<String> = {
        let mut seen: Vec<String> = Vec::new();
        for t in &route.targets {
            let n = group_of(route, t);
            if !seen.contains(&n) {
                seen.push(n);
            }
        }
        seen
    };
    Error::RolledBackEverywhere {
        cause: Box::new(cause),
        note: format!(
            "{}the write was rolled back on every group ({}): {}",
            failed
                .map(|f| format!("failed on {f}; "))
                .unwrap_or_default(),
            groups.join(", "),
            if groups.len() > 1 {
                "xa mode"
            } else {
                "one transaction"
            }
        ),
    }
}

fn group_of(route: &Route, t: &Target) -> String {
    format!(
        "'{}'",
        route
            .db
            .groups
            .get(t.group)
            .map_or("?", |g| g.name.as_str())
    )
}

/// Passes rows through, keeps the OK for after the commit.
struct Capture<'s, S> {
    inner: &'s mut S,
    ok: Option<OkInfo>,
}

impl<S: ResultSink> ResultSink for Capture<'_, S> {
    fn ok(&mut self, ok: &OkInfo) {
        self.ok = Some(ok.clone());
    }
    fn error(&mut self, err: &Error) {
        self.inner.error(err);
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
        self.inner.end_rows(ok);
    }
    fn wants_binary_backend(&self) -> bool {
        self.inner.wants_binary_backend()
    }
    fn prepared_form(&self, sql: &str) -> Option<(String, Vec<mysql_async::Value>)> {
        self.inner.prepared_form(sql)
    }

    fn forwarded_form(&self, sql: &str) -> Option<crate::execute::ForwardedExecute> {
        self.inner.forwarded_form(sql)
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
