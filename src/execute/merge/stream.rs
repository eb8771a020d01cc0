//! One shard's result as a stream of rows read by its own task, so all shards run and send
//! at once while the merge takes rows in the order it needs. A bounded channel keeps only a
//! few rows per shard in memory; when the merge stops early (LIMIT reached) it drops the
//! receiver, the task stops reading, and the connection drains the rest of the result
//! before its next use (mysql_async does this for pending results).

use std::sync::Arc;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};
use mysql_common::packets::Column;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::Error;

/// A row as cells: `None` is NULL (the text protocol sends nothing else).
pub type Cells = Vec<Option<Vec<u8>>>;

pub fn cells_of(row: Row) -> Cells {
    row.unwrap_raw()
        .into_iter()
        .map(|v| match v {
            Some(Value::Bytes(b)) => Some(b),
            Some(Value::NULL) | None => None,
            Some(other) => Some(other.as_sql(true).into_bytes()),
        })
        .collect()
}

pub enum Msg {
    Columns(Arc<[Column]>),
    Row(Cells),
}

/// What a shard task hands back: its connection (to keep or return) and how it ended.
pub struct Finished {
    pub conn: Conn,
    pub outcome: Result<ShardEnd, Error>,
}

#[derive(Default)]
pub struct ShardEnd {
    pub warnings: u16,
    pub status: u16,
}

pub struct ShardStream {
    pub rx: mpsc::Receiver<Msg>,
    pub task: JoinHandle<Finished>,
}

const ROWS_AHEAD: usize = 64;

pub fn spawn(mut conn: Conn, sql: String) -> ShardStream {
    let (tx, rx) = mpsc::channel(ROWS_AHEAD);
    let task = tokio::spawn(async move {
        let outcome = read(&mut conn, &sql, &tx).await;
        Finished { conn, outcome }
    });
    ShardStream { rx, task }
}

async fn read(conn: &mut Conn, sql: &str, tx: &mpsc::Sender<Msg>) -> Result<ShardEnd, Error> {
    let mut result = conn.query_iter(sql).await.map_err(Error::from)?;
    let cols = result.columns().unwrap_or_else(|| Arc::from(Vec::new()));
    if tx.send(Msg::Columns(cols)).await.is_err() {
        return Ok(ShardEnd::default());
    }
    while let Some(row) = result.next().await.map_err(Error::from)? {
        if tx.send(Msg::Row(cells_of(row))).await.is_err() {
            // The merge has what it needs; the rest drains on the connection's next use.
            return Ok(ShardEnd::default());
        }
    }
    let warnings = result.warnings();
    drop(result);
    let status = conn
        .last_ok_packet()
        .map(|p| p.status_flags().bits())
        .unwrap_or(crate::execute::status::AUTOCOMMIT)
        & !crate::execute::status::MORE_RESULTS_EXISTS;
    Ok(ShardEnd { warnings, status })
}
