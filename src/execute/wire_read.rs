//! Reads to one shard on the proxy's own backend connections (`[backend] wire_reads`): the
//! column definitions are renamed field by field and the rows handed to the client as the
//! server sent them, where the driver would decode every cell and the sink encode it again
//! (README, Performance).
//!
//! Such a connection is the session's for one statement only, so a read may take it only
//! when nothing of the session lives on the session's own connections and the statement
//! asks nothing about the connection it runs on. What a later statement may ask about the
//! read stays as exact as after a multiplexed driver read whose connection went back:
//! FOUND_ROWS() and ROW_COUNT() inside a statement name the connection by its thread id,
//! which the session does not hold, so they are refused (1235), not answered by another
//! connection (FOUND_ROWS() after `LIMIT 2 OFFSET 5` is 7 on the server, not the 2 rows
//! sent); SHOW WARNINGS reads the warnings of this connection, which the session keeps
//! until its next statement (`SessionConns::keep_for_warnings`).

use crate::backend::wire::{
    column_fields, BackendStream, ColumnFields, OkFields, Reply, RowStep, Rows, WireError,
};
use crate::backend::WireLease;
use crate::config::model::Database;
use crate::error::Error;
use crate::plan::charset::ClientCharset;
use crate::plan::statement_words::{
    has_at_sign, mentioned, CONNECTION_ID, ERROR_COUNT, FOUND_ROWS, GET_LOCK, GTID, INTO,
    IN_TRANSACTION, LASTVAL, LAST_INSERT_ID, LOCK_SUFFIX, PSEUDO_THREAD_ID, ROW_COUNT,
    SQL_CALC_FOUND_ROWS, TEMPORARY, VALUE, WARNING_COUNT,
};
use crate::plan::{ResultRewrite, Route, Target};
use crate::protocol::{put_lenenc_int, Cursor, NULL_CELL};
use mysql_common::io::ParseBuf;
use mysql_common::packets::Column;

use super::renamed_columns;
use super::route::OneResult;
use super::{status, Context, Failure, OkInfo, ResultSink, RowFormat, Session};

/// How a read is sent on a wire connection.
pub(crate) enum WireForm {
    /// COM_QUERY with the shard query; text rows, for a text-protocol client.
    Text,
    /// The statement prepared on the connection (once; it keeps its statements) and
    /// executed with the client's values; binary rows, for a client's prepared statement.
    Prepared {
        sql: std::sync::Arc<str>,
        args: ExecuteArgs,
    },
}

/// The values of a wire execute.
pub(crate) enum ExecuteArgs {
    /// Decoded, sent as the driver types them (`BoundValues::prepared_form`).
    Values(Vec<mysql_async::Value>),
    /// The client's parameter block as it came (`ResultSink::forwarded_form`).
    Forwarded { params: usize, body: Vec<u8> },
}

impl ExecuteArgs {
    fn count(&self) -> usize {
        match self {
            ExecuteArgs::Values(v) => v.len(),
            ExecuteArgs::Forwarded { params, .. } => *params,
        }
    }

    /// The COM_STMT_EXECUTE packet's length: the command byte, the statement id, then the
    /// rest (as mysql_common sizes decoded values: fixed part, NULL bitmap, two type bytes
    /// per value, the values).
    fn packet_len(&self) -> u64 {
        match self {
            ExecuteArgs::Forwarded { body, .. } => 5 + body.len() as u64,
            ExecuteArgs::Values(v) => {
                let n = v.len() as u64;
                11 + n.div_ceil(8) + 2 * n + v.iter().map(|v| v.bin_len()).sum::<u64>()
            }
        }
    }

    /// The COM_STMT_EXECUTE body after the statement id.
    fn body(&self) -> std::borrow::Cow<'_, [u8]> {
        match self {
            ExecuteArgs::Values(v) => std::borrow::Cow::Owned(execute_body(v)),
            ExecuteArgs::Forwarded { body, .. } => std::borrow::Cow::Borrowed(body),
        }
    }
}

/// An execute body larger than one packet would need COM_STMT_SEND_LONG_DATA, which the
/// wire connection does not send (mysql_common's builder leaves such values out of the
/// body): such an execute stays with the driver.
const LARGEST_EXECUTE: u64 = 0xFF_FFFF;

/// A longer statement text stays with the driver, which knows the server's
/// `max_allowed_packet` and refuses (1153, naming the shard) what the server would not
/// take; the server hangs up on a wire connection that sends it, which would read as the
/// server being unreachable.
pub(crate) const LARGEST_WIRE_TEXT: usize = 1 << 20;

/// How `target` of `route` runs on a wire connection for this session, if it may.
pub(crate) fn eligible<S: ResultSink>(
    route: &Route,
    target: &Target,
    ctx: &Context<'_>,
    session: &Session,
    sink: &S,
) -> Option<WireForm> {
    let may = ctx.backends.wire_reads
        && !route.is_write
        && route.targets.len() == 1
        && matches!(route.result_rewrite, ResultRewrite::Columns)
        && session_is_free(session)
        && target.sql.len() <= LARGEST_WIRE_TEXT
        && asks_nothing_of_its_connection(&target.sql);
    if !may {
        return None;
    }
    match sink.raw_rows()? {
        RowFormat::Text => (!sink.wants_binary_backend()).then_some(WireForm::Text),
        RowFormat::Binary => {
            let (sql, args) = match sink.forwarded_form(&target.sql) {
                Some(f) => {
                    let args = ExecuteArgs::Forwarded {
                        params: f.params,
                        body: f.body,
                    };
                    (f.sql, args)
                }
                None => {
                    // None: values the planner could not bind run as text with literals,
                    // whose rows the sink encodes as binary itself.
                    let (sql, params) = sink.prepared_form(&target.sql)?;
                    (sql.into(), ExecuteArgs::Values(params))
                }
            };
            // Kept by their text, statements need it as the server reads it: in a client
            // charset other than UTF-8 a non-ASCII text stays with the driver.
            let as_sent = session.charset.encode(&sql).ok()?;
            let too_large = args.packet_len() > LARGEST_EXECUTE;
            (matches!(as_sent, std::borrow::Cow::Borrowed(_)) && !too_large)
                .then_some(WireForm::Prepared { sql, args })
        }
    }
}

/// A read without tables that asks `@@warning_count` or `@@error_count`: about the
/// statement before, so it runs where that one ran.
pub(crate) fn asks_about_warnings(route: &Route, target: &Target) -> bool {
    if route.is_write || route.targets.len() != 1 || route.reason != crate::plan::NO_TABLE_REASON {
        return false;
    }
    let words = mentioned(&target.sql);
    words.has(WARNING_COUNT) || words.has(ERROR_COUNT)
}

/// Nothing ties the session to its own connections: no transaction (open, implied by
/// autocommit=0, or lost and awaiting ROLLBACK), no state a replay cannot repeat.
pub(crate) fn session_is_free(session: &Session) -> bool {
    let st = session.txn_aware_status();
    !session.txn.active()
        && !session.txn.pins_connections()
        && !session.txn.is_lost()
        && st & status::AUTOCOMMIT != 0
        && st & status::IN_TRANS == 0
        && !session.conns.keeps_connections()
        && session.conns.state_lost().is_none()
}

/// A plain SELECT that reads nothing a connection keeps for its session: no variables, no
/// function about the previous statement, the connection, locks or sequences' last values,
/// no INTO. Judged by the words it mentions anywhere, comments included (a MariaDB
/// executable comment is code), so a word inside a string only sends it the driver's way.
pub(crate) fn asks_nothing_of_its_connection(sql: &str) -> bool {
    let head = sql.trim_start().as_bytes();
    let select = head.len() > 6 && head[..6].eq_ignore_ascii_case(b"select");
    if !select || has_at_sign(sql) {
        return false;
    }
    let words = mentioned(sql);
    ![
        INTO,
        ROW_COUNT,
        FOUND_ROWS,
        SQL_CALC_FOUND_ROWS,
        LAST_INSERT_ID,
        CONNECTION_ID,
        PSEUDO_THREAD_ID,
        GET_LOCK,
        LOCK_SUFFIX,
        TEMPORARY,
        GTID,
        IN_TRANSACTION,
        VALUE,
        LASTVAL,
    ]
    .into_iter()
    .any(|w| words.has(w))
}

/// Runs one target on `lease` and streams its answer into `sink`; the caller set `sent`
/// false, and it turns true once the result's header was read (from then on the read is
/// not retried elsewhere).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run_on_wire<S: ResultSink>(
    lease: &mut WireLease,
    form: &WireForm,
    route: &Route,
    target: &Target,
    send_columns: Option<u16>,
    sent: &mut bool,
    sink: &mut S,
    charset: &ClientCharset,
) -> Result<OneResult, Failure> {
    let conn_id = lease.id();
    let conn = lease.conn();
    let reply = match form {
        WireForm::Text => {
            let sql = charset.encode(&target.sql)?;
            conn.query_bytes(&sql).await.map_err(Error::from)?
        }
        WireForm::Prepared { sql, args } => {
            let stmt = conn.prepare(sql).await.map_err(Error::from)?;
            if usize::from(stmt.params) != args.count() {
                return Err(Error::Internal(format!(
                    "the shard query has {} parameters, the execute {} values",
                    stmt.params,
                    args.count()
                ))
                .into());
            }
            match conn.execute(stmt, &args.body()).await {
                Ok(reply) => reply,
                Err(e) => {
                    if matches!(&e, WireError::Server(s) if s.code == UNKNOWN_STATEMENT) {
                        // Gone from the server behind our back: prepared again next time.
                        conn.forget_statement(sql);
                    }
                    return Err(Error::from(e).into());
                }
            }
        }
    };
    let (had_columns, rows, end) = match reply {
        Reply::Done(ok) => (false, 0, ok),
        Reply::Rows(mut result) => {
            *sent = true;
            let count = result.column_count();
            let db: &Database = &route.db;
            let schema = db.groups[target.group].schema.as_str();
            if matches!(form, WireForm::Text) && sink.raw_rows() != Some(RowFormat::Text) {
                // Text rows for a sink that takes others (a prepared client's question about
                // warnings, `target::warnings_on_wire`): as cells, which it encodes itself.
                let rows =
                    text_result_as_cells(&mut result, send_columns, sink, db, schema).await?;
                let end = result
                    .end()
                    .cloned()
                    .ok_or_else(|| Error::BackendConnection("a result without an end".into()))?;
                return Ok(one_result(true, rows, end, conn_id));
            }
            if let Some(status_before) = send_columns {
                sink.raw_header(&mut |p| put_lenenc_int(p, count));
                let mut index = 0;
                let mut shown = renamed_columns::take_scratch();
                while let Some(def) = result.next_column().await.map_err(Error::from)? {
                    let column = renamed_columns::Column {
                        definition: def,
                        db: &route.db,
                        group: target.group,
                        prepared_name: sink.prepared_column_name(index, count as usize),
                    };
                    shown.clear();
                    if !renamed_columns::append_kept(&column, &mut shown) {
                        let fields = column_fields(def).map_err(Error::from)?;
                        let (s, t, o) = logical_names(&fields, db, schema);
                        // An expression column of a client's prepared statement keeps the
                        // name it had at PREPARE (its text had `?` where this one has values).
                        let name = fields
                            .org_name
                            .is_empty()
                            .then_some(column.prepared_name)
                            .flatten();
                        fields.write_named(&mut shown, s, t, o, name);
                        renamed_columns::keep(&column, &shown);
                    }
                    sink.raw_header(&mut |p| p.extend_from_slice(&shown));
                    index += 1;
                }
                renamed_columns::give_back_scratch(shown);
                sink.raw_columns_end(status_before);
            } else {
                while result.next_column().await.map_err(Error::from)?.is_some() {}
            }
            let mut rows: u64 = 0;
            loop {
                if let Some(run) = result.buffered_rows().map_err(Error::from)? {
                    rows += run.count() as u64;
                    sink.raw_row_run(run);
                }
                match result.buffered_row().map_err(Error::from)? {
                    RowStep::Row(payload) => {
                        sink.raw_row(payload);
                        rows += 1;
                    }
                    RowStep::End => break,
                    RowStep::NotYet => {
                        // A batch handed on: it goes out while the server sends the next.
                        sink.maybe_flush().await?;
                        result.fill().await.map_err(Error::from)?;
                    }
                }
            }
            let end = result
                .end()
                .cloned()
                .ok_or_else(|| Error::BackendConnection("a result without an end".into()))?;
            (true, rows, end)
        }
    };
    Ok(one_result(had_columns, rows, end, conn_id))
}

fn one_result(had_columns: bool, rows: u64, end: OkFields, conn_id: u32) -> OneResult {
    OneResult {
        had_columns,
        ok: OkInfo {
            affected_rows: end.affected_rows,
            last_insert_id: end.last_insert_id,
            warnings: end.warnings,
            info: end.info,
            status: end.status & !status::MORE_RESULTS_EXISTS,
        },
        rows,
        server: crate::backend::ServerRef::Master,
        conn_id,
        insert_id_primed: false,
    }
}

/// Hands a text result to `sink` decoded: column definitions parsed, rows as cells.
async fn text_result_as_cells<S: ResultSink>(
    result: &mut Rows<'_, BackendStream>,
    send_columns: Option<u16>,
    sink: &mut S,
    db: &Database,
    schema: &str,
) -> Result<u64, Failure> {
    let mut columns = Vec::new();
    while let Some(def) = result.next_column().await.map_err(Error::from)? {
        let column: Column = ParseBuf(def)
            .parse(())
            .map_err(|e| Error::BackendConnection(format!("a column definition: {e}")))?;
        columns.push(column);
    }
    if let Some(status_before) = send_columns {
        sink.columns(&columns, status_before, &|c| {
            super::route::rename_column(c, db, schema)
        });
    }
    let mut rows = 0;
    while let Some(row) = result.next_row().await.map_err(Error::from)? {
        let cells = text_cells(row, columns.len())?;
        sink.row_cells(&cells);
        rows += 1;
    }
    Ok(rows)
}

/// The cells of a text-protocol row (None for NULL).
pub fn text_cells(row: &[u8], columns: usize) -> Result<Vec<Option<&[u8]>>, Error> {
    let mut cells = Vec::with_capacity(columns.min(4096));
    each_text_cell(row, |c| cells.push(c))?;
    Ok(cells)
}

/// Hands `cell` each cell of a text-protocol row in turn (None for NULL).
pub fn each_text_cell<'r>(
    row: &'r [u8],
    mut cell: impl FnMut(Option<&'r [u8]>),
) -> Result<(), Error> {
    let malformed = |e: crate::protocol::Malformed| Error::BackendConnection(e.to_string());
    let mut cursor = Cursor::new(row);
    while !cursor.is_empty() {
        if cursor.rest().first() == Some(&NULL_CELL) {
            cursor.u8().map_err(malformed)?;
            cell(None);
        } else {
            cell(Some(cursor.lenenc_str().map_err(malformed)?));
        }
    }
    Ok(())
}

/// Empties the connection's list of warnings (a statement that reads a table and raises
/// none replaces it).
pub(crate) async fn clear_warnings(lease: &mut WireLease) -> Result<(), Error> {
    // A statement without tables leaves the list as it was (`DO 0` does): this one reads a
    // derived table, which clears it, and returns no result set.
    match lease
        .conn()
        .query("DO (SELECT 1 FROM (SELECT 1) AS shardgate_clear LIMIT 0)")
        .await?
    {
        Reply::Done(_) => Ok(()),
        Reply::Rows(rows) => rows.finish().await.map(|_| ()).map_err(Error::from),
    }
}

/// MariaDB's "unknown prepared statement handler".
const UNKNOWN_STATEMENT: u16 = 1243;

/// A COM_STMT_EXECUTE body after the statement id, with `params` typed as the driver types
/// them (so the server reads the client's values as it would through the driver).
fn execute_body(params: &[mysql_async::Value]) -> Vec<u8> {
    use mysql_common::packets::ComStmtExecuteRequestBuilder;
    use mysql_common::proto::MySerialize;
    let (request, _) = ComStmtExecuteRequestBuilder::new(0).build(params);
    let mut packet = Vec::new();
    request.serialize(&mut packet);
    // The command byte and the statement id: `WireConn::execute` writes its own.
    packet.split_off(5)
}

/// Names shown instead of the server's: schema, table, original table (`None`: as sent).
type Shown<'a> = (Option<&'a [u8]>, Option<&'a [u8]>, Option<&'a [u8]>);

/// The logical names to show instead of physical ones (see `route::rename_column`).
fn logical_names<'a>(
    fields: &ColumnFields<'_>,
    db: &'a Database,
    physical_schema: &str,
) -> Shown<'a> {
    let schema = (!fields.schema.is_empty() && fields.schema == physical_schema.as_bytes())
        .then_some(db.name.as_bytes());
    let logical = |physical: &[u8]| super::route::logical_of(physical, db).map(str::as_bytes);
    (schema, logical(fields.table), logical(fields.org_table))
}

#[cfg(test)]
mod tests {
    use super::asks_nothing_of_its_connection as plain;

    #[test]
    fn only_plain_selects_leave_the_driver() {
        assert!(plain("SELECT id, name FROM patients_2 WHERE id = 7"));
        assert!(plain("  select * from t"));
        for sql in [
            "SELECT @x",
            "SELECT @@sql_mode",
            "SELECT FOUND_ROWS()",
            "SELECT SQL_CALC_FOUND_ROWS * FROM t LIMIT 1",
            "SELECT ROW_COUNT()",
            "SELECT LAST_INSERT_ID()",
            "SELECT CONNECTION_ID()",
            "SELECT GET_LOCK('a', 1)",
            "SELECT IS_USED_LOCK('a')",
            "SELECT RELEASE_ALL_LOCKS()",
            "SELECT LASTVAL(s)",
            "SELECT PREVIOUS VALUE FOR s",
            "SELECT * FROM t INTO OUTFILE '/tmp/x'",
            "SELECT 1 /*! , CONNECTION_ID() */",
            "SELECT * FROM t WHERE x = 'into'",
            "INSERT INTO t VALUES (1)",
            "SHOW TABLES",
            "/* hint */ SELECT 1",
            "SELECT",
        ] {
            assert!(!plain(sql), "{sql}");
        }
    }
}
