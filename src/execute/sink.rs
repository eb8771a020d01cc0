//! Where execution writes its answer. `execute` defines the vocabulary; the frontend turns
//! it into packets. Keeping the trait here lets execute stream rows without knowing about
//! sockets, and lets tests collect results in memory.

use std::io;

use mysql_async::Row;
use mysql_common::packets::Column;

use crate::error::Error;
use crate::protocol::PacketRun;

/// What an OK packet (or the end of a result set) reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OkInfo {
    pub affected_rows: u64,
    pub last_insert_id: u64,
    pub status: u16,
    pub warnings: u16,
    pub info: Vec<u8>,
}

/// Names shown to the client instead of the backend's physical ones.
#[derive(Debug, Clone, Copy, Default)]
pub struct ColumnRename<'a> {
    pub schema: Option<&'a str>,
    pub table: Option<&'a str>,
    pub org_table: Option<&'a str>,
}

/// The row format of a result, for a sink that takes rows as the backend sent them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowFormat {
    /// Text protocol rows (COM_QUERY).
    Text,
    /// Binary protocol rows (COM_STMT_EXECUTE).
    Binary,
}

/// A shard query as a backend prepared statement with the client's parameter block.
pub struct ForwardedExecute {
    /// The statement's text with `?`, after the session's statement prefix.
    pub sql: std::sync::Arc<str>,
    /// How many `?` the text has.
    pub params: usize,
    /// A COM_STMT_EXECUTE body after the statement id.
    pub body: Vec<u8>,
}

/// Receives one statement's answer: either `ok`, or `error`, or
/// `columns` + rows + `end_rows` (+ maybe `error` instead of `end_rows` when a shard fails
/// mid-stream). Calls must come in that order.
#[allow(async_fn_in_trait)]
pub trait ResultSink {
    fn ok(&mut self, ok: &OkInfo);
    fn error(&mut self, err: &Error);
    /// Column definitions as the backend sent them, with physical names renamed. `status`
    /// goes into the old-style EOF after them: the backend's own value there is not exposed
    /// by the driver, so it is the session's status before the statement.
    fn columns<'a>(
        &mut self,
        cols: &'a [Column],
        status: u16,
        rename: &dyn Fn(&'a Column) -> ColumnRename<'a>,
    );
    /// Column definitions the proxy makes up itself: names only, all text.
    fn synthetic_columns(&mut self, table: &str, names: &[&str]);
    /// One text-protocol row exactly as the backend produced it.
    fn row(&mut self, row: &Row);
    /// One text-protocol row given cell by cell (None is NULL).
    fn row_cells(&mut self, cells: &[Option<&[u8]>]);
    fn end_rows(&mut self, ok: &OkInfo);
    /// True when the statement must run as a backend prepared statement (binary rows): the
    /// text protocol prints FLOAT with 6 digits, losing what the binary protocol keeps.
    /// No default: a wrapping sink that forgot to forward it would silently lose precision.
    fn wants_binary_backend(&self) -> bool;
    /// The backend prepared statement to run for the shard query `sql`, when it must run as
    /// one: a client's prepared statement whose values bind to a statement meaning the same
    /// as `sql` (its text with `?`, and the values: they go as they came, bytes in their
    /// charset, blobs without hex doubling them), or `sql` without values when the sink
    /// `wants_binary_backend`. None: run `sql` as text. The text starts with the session's
    /// `SessionConns::statement_prefix`: backend connections keep statements by their text,
    /// and one prepared under other SETs (sql_mode, SET NAMES) must never be found for it.
    /// Every shard query run as a backend prepared statement takes its text from here, so
    /// none lacks the prefix (the proxy's own catalogue statements, `materialize` and
    /// `columns`, quote every name and read nothing a SET changes).
    /// No default, for the same reason: a wrapper must forward it.
    fn prepared_form(&self, sql: &str) -> Option<(String, Vec<mysql_async::Value>)>;
    /// `sql` as a backend prepared statement executed with the client's own parameter block
    /// (`ForwardedExecute`), where its values are all placeholders of `sql` in the client's
    /// order; None: see `prepared_form`. Preferred where the connection takes an execute
    /// body as it is (the proxy's own wire connections): the values are neither decoded
    /// into the driver's nor encoded again, and each keeps the type the client gave it.
    /// No default: a wrapper must forward it, or its prepared reads would lose the saving.
    fn forwarded_form(&self, sql: &str) -> Option<ForwardedExecute>;
    /// Called between rows so large results go out while the backend still sends.
    async fn maybe_flush(&mut self) -> io::Result<()>;
    /// The row format this sink can hand on as the backend sent it (`raw_*`), if any: a
    /// route to one shard then copies the backend's packets instead of decoding every cell
    /// and encoding it again. No default: a wrapper that forgot to forward the raw calls
    /// would lose the rows.
    fn raw_rows(&self) -> Option<RowFormat>;
    /// One packet of a result's header as the backend sent it: the column count, then each
    /// column definition (`write` puts in the payload, with physical names renamed).
    fn raw_header(&mut self, write: &mut dyn FnMut(&mut Vec<u8>));
    /// After the last column definition: what the client's protocol puts there (an EOF
    /// packet with `status` for a client without DEPRECATE_EOF).
    fn raw_columns_end(&mut self, status: u16);
    /// One row packet's payload as the backend sent it, in the format `raw_rows` named.
    fn raw_row(&mut self, payload: &[u8]);
    /// Row packets as the backend framed them, in the format `raw_rows` named: several
    /// `raw_row`s in one copy (their sequence ids become the client's).
    fn raw_row_run(&mut self, run: PacketRun<'_>);
    /// The name a client's prepared statement announced at PREPARE for expression column
    /// `index` of `count`, where this execute's text (with literals instead of `?`) would
    /// name it otherwise.
    fn prepared_column_name(&self, index: usize, count: usize) -> Option<&[u8]>;
}
