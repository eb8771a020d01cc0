//! A sink that keeps a fetch's rows in memory as cells, up to the caps, instead of sending
//! them to the client.

use std::io;

use mysql_async::Row;
use mysql_common::packets::Column;

use crate::error::Error;
use crate::execute::merge::stream::cells_of;
use crate::execute::{ColumnRename, OkInfo, ResultSink};
use crate::protocol::PacketRun;

/// Marks the io error a full sink stops a fetch with, told apart from a client that left.
#[derive(Debug)]
pub(super) struct CapReached;

impl std::fmt::Display for CapReached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("materialized rows over their cap")
    }
}

impl std::error::Error for CapReached {}

pub(super) fn is_cap_reached(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<CapReached>())
}

pub(super) struct Collected {
    pub names: Vec<String>,
    pub rows: Vec<Vec<Option<Vec<u8>>>>,
    pub bytes: usize,
    /// The caps were passed: the rows are incomplete.
    pub over: bool,
    pub error: Option<Error>,
    pub max_rows: usize,
    pub max_bytes: usize,
    /// The session's `SessionConns::statement_prefix`, before the shard queries' texts.
    statement_prefix: std::sync::Arc<str>,
}

impl Collected {
    pub fn new(max_rows: usize, max_bytes: usize, statement_prefix: std::sync::Arc<str>) -> Self {
        Collected {
            names: Vec::new(),
            rows: Vec::new(),
            bytes: 0,
            over: false,
            error: None,
            max_rows,
            max_bytes,
            statement_prefix,
        }
    }

    fn keep(&mut self, cells: Vec<Option<Vec<u8>>>) {
        if self.over {
            return;
        }
        let size = cells
            .iter()
            .map(|c| c.as_ref().map_or(1, |b| b.len() + 8))
            .sum::<usize>()
            + 24;
        if self.rows.len() >= self.max_rows || self.bytes + size > self.max_bytes {
            self.over = true;
            return;
        }
        self.bytes += size;
        self.rows.push(cells);
    }
}

impl ResultSink for Collected {
    fn ok(&mut self, _ok: &OkInfo) {}

    fn error(&mut self, err: &Error) {
        self.error = Some(err.clone());
    }

    fn columns<'a>(
        &mut self,
        cols: &'a [Column],
        _status: u16,
        _rename: &dyn Fn(&'a Column) -> ColumnRename<'a>,
    ) {
        self.names = cols
            .iter()
            .map(|c| String::from_utf8_lossy(c.name_ref()).into_owned())
            .collect();
    }

    fn synthetic_columns(&mut self, _table: &str, names: &[&str]) {
        self.names = names.iter().map(|n| n.to_string()).collect();
    }

    fn row(&mut self, row: &Row) {
        self.keep(cells_of(row.clone()));
    }

    fn row_cells(&mut self, cells: &[Option<&[u8]>]) {
        self.keep(cells.iter().map(|c| c.map(<[u8]>::to_vec)).collect());
    }

    fn end_rows(&mut self, _ok: &OkInfo) {}

    /// FLOAT and DOUBLE keep every digit only in binary rows.
    fn wants_binary_backend(&self) -> bool {
        true
    }

    fn prepared_form(&self, sql: &str) -> Option<(String, Vec<mysql_async::Value>)> {
        Some((format!("{}{sql}", self.statement_prefix), Vec::new()))
    }

    /// The proxy's own statement: no client values.
    fn forwarded_form(&self, _sql: &str) -> Option<crate::execute::ForwardedExecute> {
        None
    }

    async fn maybe_flush(&mut self) -> io::Result<()> {
        if self.over {
            return Err(io::Error::other(CapReached));
        }
        Ok(())
    }

    /// Collected rows are kept as cells.
    fn raw_rows(&self) -> Option<crate::execute::RowFormat> {
        None
    }

    fn raw_header(&mut self, _write: &mut dyn FnMut(&mut Vec<u8>)) {}

    fn raw_columns_end(&mut self, _status: u16) {}

    fn raw_row(&mut self, _payload: &[u8]) {}

    fn raw_row_run(&mut self, _run: PacketRun<'_>) {}

    fn prepared_column_name(&self, _index: usize, _count: usize) -> Option<&[u8]> {
        None
    }
}
