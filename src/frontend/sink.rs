//! The `ResultSink` that writes packets to the client, in the EOF style the client
//! negotiated (DEPRECATE_EOF or the old EOF packets).

use std::io;

use mysql_async::{Row, Value};
use mysql_common::packets::Column;
use tokio::io::AsyncWrite;

use crate::error::Error;
use crate::execute::{status, ColumnRename, OkInfo, ResultSink, RowFormat};
use crate::protocol::PacketRun;

use super::encode::{
    column_payload, eof_payload, err_payload, ok_payload, put_lenenc_int, put_lenenc_str,
    synthetic_column_payload, EOF_HEADER, NULL_CELL,
};
use super::packet::PacketWriter;

pub struct ClientSink<'w, W> {
    pub writer: &'w mut PacketWriter<W>,
    pub deprecate_eof: bool,
    /// Set while more statements of a multi-statement batch follow this one.
    pub more_results: bool,
}

impl<W: AsyncWrite + Unpin> ClientSink<'_, W> {
    fn status(&self, s: u16) -> u16 {
        if self.more_results {
            s | status::MORE_RESULTS_EXISTS
        } else {
            s & !status::MORE_RESULTS_EXISTS
        }
    }

    fn column_count(&mut self, n: usize) {
        let p = self.writer.begin();
        put_lenenc_int(p, n as u64);
        self.writer.finish();
    }

    fn end_of_columns(&mut self, status: u16) {
        if !self.deprecate_eof {
            let p = self.writer.begin();
            eof_payload(p, 0, status);
            self.writer.finish();
        }
    }
}

impl<W: AsyncWrite + Unpin> ResultSink for ClientSink<'_, W> {
    fn ok(&mut self, ok: &OkInfo) {
        let ok = OkInfo {
            status: self.status(ok.status),
            ..ok.clone()
        };
        let p = self.writer.begin();
        ok_payload(p, 0x00, &ok);
        self.writer.finish();
    }

    fn error(&mut self, err: &Error) {
        let p = self.writer.begin();
        err_payload(p, err.code(), err.sqlstate(), &err.to_string());
        self.writer.finish();
    }

    fn columns<'a>(
        &mut self,
        cols: &'a [Column],
        status: u16,
        rename: &dyn Fn(&'a Column) -> ColumnRename<'a>,
    ) {
        self.column_count(cols.len());
        for col in cols {
            let p = self.writer.begin();
            column_payload(p, col, rename(col));
            self.writer.finish();
        }
        let st = self.status(status);
        self.end_of_columns(st);
    }

    fn synthetic_columns(&mut self, table: &str, names: &[&str]) {
        self.column_count(names.len());
        for name in names {
            let p = self.writer.begin();
            synthetic_column_payload(p, table, name, 45);
            self.writer.finish();
        }
        let st = self.status(status::AUTOCOMMIT);
        self.end_of_columns(st);
    }

    fn row(&mut self, row: &Row) {
        let p = self.writer.begin();
        for i in 0..row.len() {
            match row.as_ref(i) {
                Some(Value::Bytes(b)) => put_lenenc_str(p, b),
                Some(Value::NULL) | None => p.push(NULL_CELL),
                Some(other) => {
                    // The text protocol only yields bytes and NULL; anything else would be a
                    // driver change, so fall back to its SQL text rather than lose the value.
                    let text = other.as_sql(true);
                    put_lenenc_str(p, text.trim_matches('\'').as_bytes());
                }
            }
        }
        self.writer.finish();
    }

    fn row_cells(&mut self, cells: &[Option<&[u8]>]) {
        let p = self.writer.begin();
        for cell in cells {
            match cell {
                Some(b) => put_lenenc_str(p, b),
                None => p.push(NULL_CELL),
            }
        }
        self.writer.finish();
    }

    fn end_rows(&mut self, ok: &OkInfo) {
        let st = self.status(ok.status);
        let p = self.writer.begin();
        if self.deprecate_eof {
            ok_payload(
                p,
                EOF_HEADER,
                &OkInfo {
                    status: st,
                    ..ok.clone()
                },
            );
        } else {
            eof_payload(p, ok.warnings, st);
        }
        self.writer.finish();
    }

    /// The text protocol: shard queries run as text.
    fn wants_binary_backend(&self) -> bool {
        false
    }

    fn prepared_form(&self, _sql: &str) -> Option<(String, Vec<mysql_async::Value>)> {
        None
    }

    fn forwarded_form(&self, _sql: &str) -> Option<crate::execute::ForwardedExecute> {
        None
    }

    async fn maybe_flush(&mut self) -> io::Result<()> {
        self.writer.maybe_flush().await
    }

    /// The text protocol's rows need no change on their way through.
    fn raw_rows(&self) -> Option<RowFormat> {
        Some(RowFormat::Text)
    }

    fn raw_header(&mut self, write: &mut dyn FnMut(&mut Vec<u8>)) {
        write(self.writer.begin());
        self.writer.finish();
    }

    fn raw_columns_end(&mut self, status: u16) {
        let st = self.status(status);
        self.end_of_columns(st);
    }

    fn raw_row(&mut self, payload: &[u8]) {
        self.writer.begin().extend_from_slice(payload);
        self.writer.finish();
    }

    fn raw_row_run(&mut self, run: PacketRun<'_>) {
        self.writer.write_run(run);
    }

    fn prepared_column_name(&self, _index: usize, _count: usize) -> Option<&[u8]> {
        None
    }
}
