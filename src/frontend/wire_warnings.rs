//! SHOW WARNINGS, SHOW ERRORS and SHOW COUNT(*) WARNINGS after a read that ran on a wire
//! connection (`execute::wire_read`): asked of that connection, which the session kept for
//! this (`SessionConns::keep_for_warnings`), and answered as its server answers.

use crate::backend::wire::{column_fields, Reply};
use crate::backend::WireLease;
use crate::error::Error;
use crate::execute::{self, OkInfo, ResultSink, RowFormat};
use crate::protocol::put_lenenc_int;

pub(super) async fn show<S: ResultSink>(
    sql: &str,
    lease: &mut WireLease,
    status: u16,
    sink: &mut S,
) -> Result<(), execute::Failure> {
    let reply = lease.conn().query(sql).await.map_err(Error::from)?;
    let Reply::Rows(mut result) = reply else {
        return Err(Error::Internal("SHOW WARNINGS answered without a result set".into()).into());
    };
    // A text client gets the server's packets; a prepared one the same cells as text
    // columns (its sink encodes binary rows from cells).
    let raw = sink.raw_rows() == Some(RowFormat::Text);
    let count = result.column_count();
    let mut names = Vec::new();
    if raw {
        sink.raw_header(&mut |p| put_lenenc_int(p, count));
    }
    while let Some(def) = result.next_column().await.map_err(Error::from)? {
        if raw {
            sink.raw_header(&mut |p| p.extend_from_slice(def));
        } else {
            let fields = column_fields(def).map_err(Error::from)?;
            names.push(String::from_utf8_lossy(fields.name).into_owned());
        }
    }
    if raw {
        sink.raw_columns_end(status);
    } else {
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        sink.synthetic_columns("", &names);
    }
    while let Some(row) = result.next_row().await.map_err(Error::from)? {
        if raw {
            sink.raw_row(row);
            continue;
        }
        let cells = crate::execute::text_cells(row, count as usize)?;
        sink.row_cells(&cells);
    }
    let end = result.end().map_or(status, |e| e.status);
    sink.end_rows(&OkInfo {
        status: end,
        ..OkInfo::default()
    });
    Ok(())
}
