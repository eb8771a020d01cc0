//! The `ResultSink` for an EXECUTE: everything as the text path writes it (column
//! definitions, EOF/OK rules, errors), except rows, which go out in the binary protocol.

use std::io;
use std::sync::Arc;

use mysql_async::{Row, Value};
use mysql_common::packets::Column;
use tokio::io::AsyncWrite;

use crate::error::Error;
use crate::execute::{ColumnRename, ForwardedExecute, OkInfo, ResultSink};
use crate::frontend::sink::ClientSink;
use crate::protocol::PacketRun;

use super::binary_row::{encode_row, CellType};
use super::bound::BoundValues;

pub struct BinarySink<'w, W> {
    pub inner: ClientSink<'w, W>,
    types: Vec<CellType>,
    /// Set once an error went out mid-result: the rest of the answer is dropped.
    failed: bool,
    binary_backend: bool,
    /// Column names the PREPARE answered with (see `Prepared::column_names`).
    prepared_names: Arc<[Vec<u8>]>,
    /// This execute's values, to bind to backend prepared statements where they match.
    values: Option<BoundValues>,
    /// Before every backend statement text (`SessionConns::statement_prefix`).
    statement_prefix: Arc<str>,
}

impl<'w, W: AsyncWrite + Unpin> BinarySink<'w, W> {
    pub fn new(
        inner: ClientSink<'w, W>,
        binary_backend: bool,
        prepared_names: Arc<[Vec<u8>]>,
        values: Option<BoundValues>,
        statement_prefix: Arc<str>,
    ) -> Self {
        BinarySink {
            inner,
            types: Vec::new(),
            failed: false,
            binary_backend,
            prepared_names,
            values,
            statement_prefix,
        }
    }

    fn write_row<'v>(&mut self, cell: impl Fn(usize) -> Option<&'v Value>) {
        if self.failed {
            return;
        }
        let p = self.inner.writer.begin();
        match encode_row(p, &self.types, cell) {
            Ok(()) => self.inner.writer.finish(),
            Err(e) => {
                self.inner.writer.abandon();
                self.error(&Error::Internal(format!(
                    "cannot encode a binary result row ({e})"
                )));
            }
        }
    }
}

impl<W: AsyncWrite + Unpin> ResultSink for BinarySink<'_, W> {
    fn ok(&mut self, ok: &OkInfo) {
        if !self.failed {
            self.inner.ok(ok);
        }
    }

    fn error(&mut self, err: &Error) {
        if !self.failed {
            self.failed = true;
            self.inner.error(err);
        }
    }

    fn columns<'a>(
        &mut self,
        cols: &'a [Column],
        status: u16,
        rename: &dyn Fn(&'a Column) -> ColumnRename<'a>,
    ) {
        self.types = cols.iter().map(CellType::of).collect();
        match with_prepared_names(cols, &self.prepared_names) {
            None => self.inner.columns(cols, status, rename),
            Some(named) => {
                let renames: Vec<ColumnRename<'a>> = cols.iter().map(rename).collect();
                self.inner.columns(&named, status, &|c| {
                    let i = named.iter().position(|n| std::ptr::eq(n, c)).unwrap_or(0);
                    renames[i]
                });
            }
        }
    }

    fn synthetic_columns(&mut self, table: &str, names: &[&str]) {
        self.types = vec![CellType::text(); names.len()];
        self.inner.synthetic_columns(table, names);
    }

    fn row(&mut self, row: &Row) {
        self.write_row(|i| row.as_ref(i));
    }

    fn row_cells(&mut self, cells: &[Option<&[u8]>]) {
        let values: Vec<Value> = cells
            .iter()
            .map(|c| c.map_or(Value::NULL, |b| Value::Bytes(b.to_vec())))
            .collect();
        self.write_row(|i| values.get(i));
    }

    fn end_rows(&mut self, ok: &OkInfo) {
        if !self.failed {
            self.inner.end_rows(ok);
        }
    }

    fn wants_binary_backend(&self) -> bool {
        self.binary_backend
    }

    fn prepared_form(&self, sql: &str) -> Option<(String, Vec<Value>)> {
        let bound = self.values.as_ref().and_then(|v| v.prepared_form(sql));
        let (mut text, params) = match bound {
            Some(form) => (form.sql, form.params),
            None if self.binary_backend => (sql.to_owned(), Vec::new()),
            None => return None,
        };
        text.insert_str(0, &self.statement_prefix);
        Some((text, params))
    }

    fn forwarded_form(&self, sql: &str) -> Option<ForwardedExecute> {
        let values = self.values.as_ref()?;
        let (text, body) = match values.forwarded_as_planned(sql) {
            Some(planned) => planned,
            None => {
                let (mut text, body) = values.forwarded_form(sql)?;
                text.insert_str(0, &self.statement_prefix);
                (text.into(), body)
            }
        };
        Some(ForwardedExecute {
            sql: text,
            params: values.count(),
            body,
        })
    }

    async fn maybe_flush(&mut self) -> io::Result<()> {
        self.inner.maybe_flush().await
    }

    /// The backend's binary rows, from a statement it executed (`prepared_form`).
    fn raw_rows(&self) -> Option<crate::execute::RowFormat> {
        Some(crate::execute::RowFormat::Binary)
    }

    fn raw_header(&mut self, write: &mut dyn FnMut(&mut Vec<u8>)) {
        if !self.failed {
            self.inner.raw_header(write);
        }
    }

    fn raw_columns_end(&mut self, status: u16) {
        if !self.failed {
            self.inner.raw_columns_end(status);
        }
    }

    fn raw_row(&mut self, payload: &[u8]) {
        if !self.failed {
            self.inner.raw_row(payload);
        }
    }

    fn raw_row_run(&mut self, run: PacketRun<'_>) {
        if !self.failed {
            self.inner.raw_row_run(run);
        }
    }

    fn prepared_column_name(&self, index: usize, count: usize) -> Option<&[u8]> {
        if self.prepared_names.len() != count {
            return None;
        }
        self.prepared_names.get(index).map(Vec::as_slice)
    }
}

/// The columns with expression columns (no org_name) named as at PREPARE, where their text
/// had `?` instead of this execute's literals; None when nothing changes.
fn with_prepared_names(cols: &[Column], names: &[Vec<u8>]) -> Option<Vec<Column>> {
    let renamed = |c: &Column, n: &Vec<u8>| c.org_name_ref().is_empty() && c.name_ref() != n;
    if names.len() != cols.len() || !cols.iter().zip(names).any(|(c, n)| renamed(c, n)) {
        return None;
    }
    Some(
        cols.iter()
            .zip(names)
            .map(|(c, n)| {
                if renamed(c, n) {
                    c.clone().with_name(n)
                } else {
                    c.clone()
                }
            })
            .collect(),
    )
}
