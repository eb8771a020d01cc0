//! Shard results as streams of rows, each lane (one backend connection) read by its own
//! task, so all shards run and send at once while the merge takes rows in the order it
//! needs.
//!
//! A lane normally runs one shard query and sends through a bounded channel: only a few
//! rows per shard wait in memory, and when the merge stops early (LIMIT reached) it drops
//! the receiver, the task stops reading, and the connection drains the rest of the result
//! before its next use (mysql_async does this for pending results).
//!
//! Inside a transaction every shard of a group must run on the transaction's one
//! connection, one query after the other (so must a shard that found the pool busy, see
//! `lanes`). Such a lane sends all but its last query through
//! unbounded channels (the merge may need the later shard's first row before it has
//! consumed the earlier one's), counting the bytes it holds back against the merge cap.

use std::sync::Arc;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};

use crate::backend::BackendConn;
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
    End(ShardEnd),
    Failed(Error),
}

#[derive(Default, Clone, Copy)]
pub struct ShardEnd {
    pub warnings: u16,
    pub status: u16,
}

pub enum Rx {
    Bounded(mpsc::Receiver<Msg>),
    Unbounded(mpsc::UnboundedReceiver<Msg>),
}

impl Rx {
    pub async fn recv(&mut self) -> Option<Msg> {
        match self {
            Rx::Bounded(r) => r.recv().await,
            Rx::Unbounded(r) => r.recv().await,
        }
    }
    pub fn close(&mut self) {
        match self {
            Rx::Bounded(r) => r.close(),
            Rx::Unbounded(r) => r.close(),
        }
    }
}

enum Tx {
    Bounded(mpsc::Sender<Msg>),
    Unbounded(mpsc::UnboundedSender<Msg>),
}

impl Tx {
    async fn send(&self, m: Msg) -> bool {
        match self {
            Tx::Bounded(t) => t.send(m).await.is_ok(),
            Tx::Unbounded(t) => t.send(m).is_ok(),
        }
    }
}

/// What a lane task hands back: its connection, whether the connection broke (a driver
/// error: it must not be reused), and with `found_rows` the sum of its queries'
/// FOUND_ROWS() (`None` when one could not be read).
pub struct LaneEnd {
    pub conn: BackendConn,
    pub broken: bool,
    pub found_rows: Option<u64>,
}

const ROWS_AHEAD: usize = 64;

/// Runs `sqls` one after the other on `conn`; one receiver per query, in order. With
/// `found_rows` (the queries carry SQL_CALC_FOUND_ROWS), each query's FOUND_ROWS() is read
/// on the same connection right after it, whether the merge read all its rows or not.
pub fn spawn_lane(
    mut conn: BackendConn,
    sqls: Vec<String>,
    cap: usize,
    table: String,
    found_rows: bool,
) -> (Vec<Rx>, JoinHandle<LaneEnd>) {
    let last = sqls.len().saturating_sub(1);
    let mut txs = Vec::with_capacity(sqls.len());
    let mut rxs = Vec::with_capacity(sqls.len());
    for k in 0..sqls.len() {
        if k < last {
            let (t, r) = mpsc::unbounded_channel();
            txs.push(Tx::Unbounded(t));
            rxs.push(Rx::Unbounded(r));
        } else {
            let (t, r) = mpsc::channel(ROWS_AHEAD);
            txs.push(Tx::Bounded(t));
            rxs.push(Rx::Bounded(r));
        }
    }
    let task = tokio::spawn(async move {
        let mut held = 0usize;
        let mut broken = false;
        let mut found: Option<u64> = found_rows.then_some(0);
        for (k, sql) in sqls.iter().enumerate() {
            if let Err(e) = read(&mut conn, sql, &txs[k], &mut held, cap, &table).await {
                broken = e.breaks_connection();
                found = None;
                // The lane's later queries will not run: their streams fail alike.
                for tx in &txs[k..] {
                    tx.send(Msg::Failed(e.clone())).await;
                }
                break;
            }
            if let Some(sum) = found {
                found = match conn.query_first::<u64, _>("SELECT FOUND_ROWS()").await {
                    Ok(Some(n)) => Some(sum + n),
                    Ok(None) => None,
                    Err(e) => {
                        broken = !matches!(e, mysql_async::Error::Server(_));
                        None
                    }
                };
            }
        }
        LaneEnd {
            conn,
            broken,
            found_rows: found,
        }
    });
    (rxs, task)
}

async fn read(
    conn: &mut Conn,
    sql: &str,
    tx: &Tx,
    held: &mut usize,
    cap: usize,
    table: &str,
) -> Result<(), Error> {
    let mut result = conn.query_iter(sql).await.map_err(Error::from)?;
    let cols = result.columns().unwrap_or_else(|| Arc::from(Vec::new()));
    if !tx.send(Msg::Columns(cols)).await {
        return Ok(());
    }
    while let Some(row) = result.next().await.map_err(Error::from)? {
        let cells = cells_of(row);
        if let Tx::Unbounded(_) = tx {
            *held += cells
                .iter()
                .map(|c| c.as_ref().map_or(1, |v| v.len() + 8))
                .sum::<usize>();
            if *held > cap {
                return Err(Error::unsupported(format!(
                    "a merged read of sharded table '{table}' that runs several shards one \
                     after the other on one connection (inside a transaction, or while the \
                     pool has no connection free) and holds back more than {cap} bytes of \
                     shard rows (limits.merge_buffer_bytes)"
                )));
            }
        }
        if !tx.send(Msg::Row(cells)).await {
            // The merge has what it needs; the rest drains on the connection's next use.
            return Ok(());
        }
    }
    let warnings = result.warnings();
    drop(result);
    let status = conn
        .last_ok_packet()
        .map(|p| p.status_flags().bits())
        .unwrap_or(crate::execute::status::AUTOCOMMIT)
        & !crate::execute::status::MORE_RESULTS_EXISTS;
    tx.send(Msg::End(ShardEnd { warnings, status })).await;
    Ok(())
}
