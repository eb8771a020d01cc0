//! The materialized statement itself, on the default group's master: its answer streams to
//! the client with the temporary tables' names shown as the logical ones.

use mysql_async::prelude::{Protocol, Queryable};
use mysql_async::{Conn, QueryResult};
use mysql_common::packets::Column;

use crate::error::Error;
use crate::execute::{status, ColumnRename, Failure, OkInfo, ResultSink};
use crate::plan::charset::ClientCharset;
use crate::plan::materialize::Materialize;

use super::Answer;

pub(super) async fn run<S: ResultSink>(
    conn: &mut Conn,
    m: &Materialize,
    status_before: u16,
    sink: &mut S,
    charset: &ClientCharset,
) -> Result<Answer, Failure> {
    let sql = m.sql.as_str();
    let (had_columns, rows, mut ok) = if let Some((prepared, params)) = sink.prepared_form(sql) {
        let wire = charset.encode(&prepared)?;
        let result = conn
            .exec_iter(wire.as_ref(), params)
            .await
            .map_err(Error::from)?;
        stream(result, m, status_before, sink).await?
    } else {
        let wire = charset.encode(sql)?;
        let result = conn.query_iter(wire.as_ref()).await.map_err(Error::from)?;
        stream(result, m, status_before, sink).await?
    };
    ok.status = conn
        .last_ok_packet()
        .map(|p| p.status_flags().bits())
        .unwrap_or(status::AUTOCOMMIT)
        & !status::MORE_RESULTS_EXISTS;
    let found_rows = if super::super::found_rows::sets_found_rows(sql) {
        conn.query_first::<u64, _>("SELECT FOUND_ROWS()")
            .await
            .map_err(Error::from)?
    } else {
        None
    };
    let warning = if ok.warnings > 0 {
        let list: Vec<(String, u16, String)> =
            conn.query("SHOW WARNINGS").await.map_err(Error::from)?;
        list.into_iter()
            .find(|(level, _, _)| !level.eq_ignore_ascii_case("note"))
            .map(|(_, code, message)| (code, message))
    } else {
        None
    };
    Ok(Answer {
        had_columns,
        rows,
        ok,
        found_rows,
        warning,
    })
}

async fn stream<P: Protocol, S: ResultSink>(
    mut result: QueryResult<'_, 'static, P>,
    m: &Materialize,
    status_before: u16,
    sink: &mut S,
) -> Result<(bool, u64, OkInfo), Failure> {
    let had_columns = !result.columns_ref().is_empty();
    let mut rows = 0;
    if had_columns {
        let schema = m.db.groups[m.group].schema.as_str();
        sink.columns(result.columns_ref(), status_before, &|col: &Column| {
            let mut rename = ColumnRename::default();
            if col.schema_ref() == schema.as_bytes() {
                rename.schema = Some(m.db.name.as_str());
            }
            let logical = |name: &[u8]| {
                m.tables
                    .iter()
                    .find(|t| t.temp.as_bytes() == name)
                    .map(|t| t.logical.as_str())
            };
            rename.org_table = logical(col.org_table_ref());
            rename.table = logical(col.table_ref());
            rename
        });
        while let Some(row) = result.next().await.map_err(Error::from)? {
            sink.row(&row);
            rows += 1;
            sink.maybe_flush().await?;
        }
    }
    let ok = OkInfo {
        affected_rows: result.affected_rows(),
        last_insert_id: result.last_insert_id().unwrap_or(0),
        warnings: result.warnings(),
        info: result.info().as_bytes().to_vec(),
        status: 0,
    };
    drop(result);
    Ok((had_columns, rows, ok))
}

/// Raises warning `code` with `message` as the session's diagnostics (at most the 128
/// characters MESSAGE_TEXT holds).
pub(super) fn signal_sql(code: u16, message: &str) -> String {
    let text: String = message.chars().take(128).collect();
    let mut sql = format!("SIGNAL SQLSTATE '01000' SET MYSQL_ERRNO = {code}, MESSAGE_TEXT = ");
    crate::plan::write_string_literal(&mut sql, &text);
    sql
}
