//! Reporting each statement once to the process's statistics (`stats::Stats`): a sink that
//! counts the rows and notes the error code the client got, and the report itself with the
//! statement's route kind, time and the shard parts execution noted in the session.

use std::io;
use std::time::Instant;

use mysql_async::Row;
use mysql_common::packets::Column;

use crate::error::Error;
use crate::execute::{ColumnRename, OkInfo, ResultSink, Session};
use crate::plan::Syntax;
use crate::protocol::PacketRun;
use crate::server::Shared;
use crate::stats::{Finished, RouteKind};

use super::sessions::LiveSession;

/// The client's sink, counting what went through it.
pub(super) struct Counted<S> {
    inner: S,
    rows: u64,
    error: Option<u16>,
    /// The error's message as the client got it (`Session::last_error`).
    message: Option<String>,
    /// The warning count the client was told.
    warnings: u16,
}

impl<S> Counted<S> {
    pub(super) fn new(inner: S) -> Self {
        Counted {
            inner,
            rows: 0,
            error: None,
            message: None,
            warnings: 0,
        }
    }

    /// Rows sent without passing through `row` (a cached answer replayed whole).
    pub(super) fn count_rows(&mut self, rows: u64) {
        self.rows += rows;
    }

    pub(super) fn inner_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Rows sent and the error code, if the statement failed.
    pub(super) fn outcome(&self) -> (u64, Option<u16>) {
        (self.rows, self.error)
    }

    /// The error the statement ended with, code and message.
    pub(super) fn failure(&self) -> Option<(u16, String)> {
        Some((self.error?, self.message.clone()?))
    }

    /// The warning count the client was told.
    pub(super) fn warnings(&self) -> u16 {
        self.warnings
    }
}

impl<S: ResultSink> ResultSink for Counted<S> {
    fn ok(&mut self, ok: &OkInfo) {
        self.warnings = self.warnings.max(ok.warnings);
        self.inner.ok(ok);
    }

    fn error(&mut self, err: &Error) {
        self.error = Some(err.code());
        self.message = Some(err.to_string());
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
        self.rows += 1;
        self.inner.row(row);
    }

    fn row_cells(&mut self, cells: &[Option<&[u8]>]) {
        self.rows += 1;
        self.inner.row_cells(cells);
    }

    fn end_rows(&mut self, ok: &OkInfo) {
        self.warnings = self.warnings.max(ok.warnings);
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
        self.rows += 1;
        self.inner.raw_row(payload);
    }

    fn raw_row_run(&mut self, run: PacketRun<'_>) {
        self.rows += run.count() as u64;
        self.inner.raw_row_run(run);
    }

    fn prepared_column_name(&self, index: usize, count: usize) -> Option<&[u8]> {
        self.inner.prepared_column_name(index, count)
    }
}

/// One statement, reported once it answered.
pub(super) struct Report<'a> {
    pub kind: RouteKind,
    pub started: Instant,
    /// Rows sent and error code (`Counted::outcome`).
    pub outcome: (u64, Option<u16>),
    pub sql: &'a str,
    pub syntax: Syntax,
}

/// `user` is the session's current one (COM_CHANGE_USER may have changed it), passed in so
/// that reporting takes no lock.
pub(super) fn report(
    shared: &Shared,
    live: &LiveSession,
    user: &str,
    session: &Session,
    r: Report<'_>,
) {
    let (rows_sent, error) = r.outcome;
    shared.state().stats().record(&Finished {
        kind: r.kind,
        error,
        rows_sent,
        elapsed: r.started.elapsed(),
        parts: session.trace.parts(),
        session: live.id,
        user,
        database: session.current_db.as_ref().map(|d| d.name.as_str()),
        sql: r.sql,
        syntax: r.syntax,
    });
}
