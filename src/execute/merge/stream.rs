//! Shard results as streams of rows, each lane (one backend connection) read by its own
//! task, so all shards run and send at once while the merge takes rows in the order it
//! needs.
//!
//! A lane normally runs one shard query and sends through a bounded channel: only a few
//! rows per shard wait in memory. It sends the rows the driver has at hand together (see
//! `BATCH_ROWS`), and when the merge stops early (LIMIT reached) it drops
//! the receiver and the task reads and drops what is left of the result if that is quick
//! (`drain`), else leaves it for the connection's next use (mysql_async reads a pending
//! result first) and keeps the connection from being parked.
//!
//! Inside a transaction every shard of a group must run on the transaction's one
//! connection, one query after the other (so must a shard that found the pool busy, see
//! `lanes`). Such a lane sends all but its last query through
//! unbounded channels (the merge may need the later shard's first row before it has
//! consumed the earlier one's), counting the bytes it holds back against the merge cap.

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use mysql_async::prelude::{Protocol, Queryable};
use mysql_async::{Conn, QueryResult, Row, Value};

use crate::backend::BackendConn;
use mysql_common::packets::Column;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::Error;

/// A row as cells: `None` is NULL.
pub type Cells = Vec<Option<Vec<u8>>>;

/// A shard row as cells. Text-protocol rows are bytes already; a binary row's values are
/// printed as the server prints them, except FLOAT and DOUBLE, which get the shortest text
/// that reads back as the same number (the reason the row was read in binary).
pub fn cells_of(row: Row) -> Cells {
    let cols = row.columns();
    row.unwrap_raw()
        .into_iter()
        .enumerate()
        .map(|(i, v)| match v {
            Some(Value::Bytes(b)) => Some(b),
            Some(Value::NULL) | None => None,
            Some(other) => Some(binary_text(&other, cols.get(i)).into_bytes()),
        })
        .collect()
}

fn binary_text(v: &Value, col: Option<&Column>) -> String {
    use mysql_common::constants::ColumnType as T;
    let fraction = |us: u32| {
        let digits = col.map_or(if us != 0 { 6 } else { 0 }, |c| c.decimals().min(6));
        let s = format!("{us:06}");
        if digits == 0 {
            String::new()
        } else {
            format!(".{}", &s[..digits as usize])
        }
    };
    // YEAR and ZEROFILL integers print padded to the column's width: YEAR 0 is `0000`
    // (read back, `0` would be the year 2000), ZEROFILL 7 in INT(3) is `007`.
    let padded = |digits: String| {
        let width = col.map_or(0, |c| {
            let year = c.column_type() == T::MYSQL_TYPE_YEAR;
            let zerofill = c
                .flags()
                .contains(mysql_common::constants::ColumnFlags::ZEROFILL_FLAG);
            if year || zerofill {
                c.column_length() as usize
            } else {
                0
            }
        });
        match digits.strip_prefix('-') {
            Some(rest) => format!("-{rest:0>w$}", w = width.saturating_sub(1)),
            None => format!("{digits:0>width$}"),
        }
    };
    match *v {
        Value::Int(i) => padded(i.to_string()),
        Value::UInt(u) => padded(u.to_string()),
        Value::Float(f) => f.to_string(),
        Value::Double(d) => d.to_string(),
        Value::Date(y, mo, d, h, mi, s, us) => {
            let date_only = col.is_some_and(|c| {
                matches!(c.column_type(), T::MYSQL_TYPE_DATE | T::MYSQL_TYPE_NEWDATE)
            });
            if date_only {
                format!("{y:04}-{mo:02}-{d:02}")
            } else {
                format!(
                    "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}{}",
                    fraction(us)
                )
            }
        }
        Value::Time(neg, days, h, mi, s, us) => {
            let hours = u64::from(days) * 24 + u64::from(h);
            let sign = if neg { "-" } else { "" };
            format!("{sign}{hours:02}:{mi:02}:{s:02}{}", fraction(us))
        }
        Value::Bytes(_) | Value::NULL => String::new(),
    }
}

/// One shard query of a lane as it goes to the server.
pub struct LaneQuery {
    /// The query, in the client's charset.
    pub text: Vec<u8>,
    /// A backend prepared statement and its values to run instead (see
    /// `ResultSink::prepared_form`).
    pub prepared: Option<(Vec<u8>, Vec<Value>)>,
}

pub enum Msg {
    Columns(Arc<[Column]>),
    /// Rows in the shard's order, at most `BATCH_ROWS`, never none.
    Rows(Vec<Cells>),
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

pub(super) enum Tx {
    Bounded(mpsc::Sender<Msg>),
    Unbounded(mpsc::UnboundedSender<Msg>),
}

impl Tx {
    pub(super) async fn send(&self, m: Msg) -> bool {
        match self {
            Tx::Bounded(t) => t.send(m).await.is_ok(),
            Tx::Unbounded(t) => t.send(m).is_ok(),
        }
    }
}

/// What a lane task hands back: its connection, whether the connection broke (a driver
/// error: it must not be reused), with `found_rows` the sum of its queries'
/// FOUND_ROWS() (`None` when one could not be read), and whether its queries may have left
/// an error or warnings in the connection's diagnostics (one failed or warned, or a result
/// was left unread, whose end is not known).
pub struct LaneEnd {
    pub conn: BackendConn,
    pub broken: bool,
    pub found_rows: Option<u64>,
    pub left_diagnostics: bool,
}

/// Rows a lane may have read ahead of the merge: the batches in its channel and the one it
/// is filling (the merge holds the rest of the last batch it took besides).
const ROWS_AHEAD: usize = 64;

/// At most this many rows go in one message. A lane sends what the driver had buffered as
/// soon as the next row is not there yet, so a slow shard's rows are not held back; a fast
/// one's go in batches, and the channel's hand-offs (a semaphore, a queue and a wake-up,
/// each way) are paid per batch: one message per row was a tenth of a 4-shard
/// `ORDER BY .. LIMIT 10`.
pub(super) const BATCH_ROWS: usize = 16;

/// One channel per query of a lane: all but the last unbounded (the merge may need a later
/// query's first row before it has consumed an earlier one's; `hold` counts what they keep),
/// the last bounded to `ROWS_AHEAD`.
pub(super) fn channels(queries: usize) -> (Vec<Tx>, Vec<Rx>) {
    let last = queries.saturating_sub(1);
    let mut txs = Vec::with_capacity(queries);
    let mut rxs = Vec::with_capacity(queries);
    for k in 0..queries {
        if k < last {
            let (t, r) = mpsc::unbounded_channel();
            txs.push(Tx::Unbounded(t));
            rxs.push(Rx::Unbounded(r));
        } else {
            let (t, r) = mpsc::channel((ROWS_AHEAD - BATCH_ROWS) / BATCH_ROWS);
            txs.push(Tx::Bounded(t));
            rxs.push(Rx::Bounded(r));
        }
    }
    (txs, rxs)
}

/// Counts `cells` against the merge cap when they go through an unbounded channel (`held`:
/// the lane's bytes so far), refusing the read once a lane holds back more than `cap`.
pub(super) fn hold(
    tx: &Tx,
    cells: &Cells,
    held: &mut usize,
    cap: usize,
    table: &str,
) -> Result<(), Error> {
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
    Ok(())
}

/// Runs `sqls` one after the other on `conn`; one receiver per query, in order. With
/// `found_rows` (the queries carry SQL_CALC_FOUND_ROWS), each query's FOUND_ROWS() is read
/// on the same connection right after it, whether the merge read all its rows or not.
pub fn spawn_lane(
    mut conn: BackendConn,
    sqls: Vec<LaneQuery>,
    cap: usize,
    table: String,
    found_rows: bool,
) -> (Vec<Rx>, JoinHandle<LaneEnd>) {
    let (txs, rxs) = channels(sqls.len());
    let task = tokio::spawn(async move {
        let mut held = 0usize;
        let mut broken = false;
        let mut left_diagnostics = false;
        let mut found: Option<u64> = found_rows.then_some(0);
        for (k, sql) in sqls.iter().enumerate() {
            let read = read(&mut conn, sql, &txs[k], &mut held, cap, &table).await;
            if let Ok(false) = read {
                // Its rest drains on the connection's next use, and an error there (the 1317
                // of a KILL QUERY) would be that statement's: not for another session.
                conn.keep_from_parking();
                left_diagnostics = true;
            }
            if let Err(e) = read {
                left_diagnostics = true;
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
        // The count the server sent last is the diagnostics area's: a statement without
        // tables (FOUND_ROWS()) keeps the one before's.
        left_diagnostics |= conn.get_warnings() > 0;
        LaneEnd {
            conn,
            broken,
            found_rows: found,
            left_diagnostics,
        }
    });
    (rxs, task)
}

/// Runs one shard query and sends its result; false when the merge stopped taking rows
/// before the result's end (left pending on the connection).
async fn read(
    conn: &mut Conn,
    q: &LaneQuery,
    tx: &Tx,
    held: &mut usize,
    cap: usize,
    table: &str,
) -> Result<bool, Error> {
    let warnings = if let Some((sql, params)) = &q.prepared {
        let result = conn
            .exec_iter(sql.as_slice(), params.clone())
            .await
            .map_err(Error::from)?;
        rows(result, tx, held, cap, table).await?
    } else {
        let result = conn
            .query_iter(q.text.as_slice())
            .await
            .map_err(Error::from)?;
        rows(result, tx, held, cap, table).await?
    };
    // None: the merge has what it needs; the rest drains on the connection's next use.
    let Some(warnings) = warnings else {
        return Ok(false);
    };
    let status = conn
        .last_ok_packet()
        .map(|p| p.status_flags().bits())
        .unwrap_or(crate::execute::status::AUTOCOMMIT)
        & !crate::execute::status::MORE_RESULTS_EXISTS;
    tx.send(Msg::End(ShardEnd { warnings, status })).await;
    Ok(true)
}

/// Sends one result's columns and rows; its warnings, or None when the receiver is gone.
async fn rows<P: Protocol>(
    mut result: QueryResult<'_, 'static, P>,
    tx: &Tx,
    held: &mut usize,
    cap: usize,
    table: &str,
) -> Result<Option<u16>, Error> {
    let cols = result.columns().unwrap_or_else(|| Arc::from(Vec::new()));
    if !tx.send(Msg::Columns(cols)).await {
        return Ok(None);
    }
    let mut batch: Vec<Cells> = Vec::new();
    loop {
        let (next, merge_gone) = {
            let mut next = pin!(result.next());
            match poll_once(next.as_mut()).await {
                Poll::Ready(row) => (row, false),
                // The server has not sent the next row yet: the merge gets what is here,
                // and the lane waits for the row after that (which it reads either way).
                Poll::Pending => {
                    let gone =
                        !batch.is_empty() && !tx.send(Msg::Rows(std::mem::take(&mut batch))).await;
                    (next.await, gone)
                }
            }
        };
        let next = next.map_err(Error::from)?;
        if merge_gone {
            return Ok(drain(&mut result).await?.then(|| result.warnings()));
        }
        let Some(row) = next else {
            break;
        };
        let cells = cells_of(row);
        hold(tx, &cells, held, cap, table)?;
        batch.push(cells);
        if batch.len() == BATCH_ROWS && !tx.send(Msg::Rows(std::mem::take(&mut batch))).await {
            return Ok(drain(&mut result).await?.then(|| result.warnings()));
        }
    }
    if !batch.is_empty() && !tx.send(Msg::Rows(batch)).await {
        return Ok(None);
    }
    let warnings = result.warnings();
    drop(result);
    Ok(Some(warnings))
}

/// `fut` polled once: `Pending` leaves it to be awaited later (never dropped half-read).
async fn poll_once<F: Future>(mut fut: Pin<&mut F>) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await
}

/// Rows a lane reads and drops after the merge stopped taking them (LIMIT reached), so that
/// its connection comes back clean. A result left pending keeps the connection from being
/// parked, and the next statement then pays for a reset and for replaying the session's state
/// on a fresh one: two round trips, more than reading this many rows costs.
pub(super) const DRAIN_ROWS: usize = 256;

/// How long a lane may drain. The statement answers only once every lane is back, so a
/// rest the server still computes (rows with SLEEP, a slow expression or scan) would
/// otherwise hold the client's answer for 256 of its rows, where the two round trips the
/// drain saves take a millisecond or so: past this the connection goes back unclean.
/// Checked between rows, so a lane takes at most about one row's time more than one that
/// stops at once (which waits for its next row too before it sees the merge is gone).
pub(super) const DRAIN_FOR: Duration = Duration::from_millis(10);

/// Reads the rest of `result` (at most `DRAIN_ROWS` rows, for at most `DRAIN_FOR`); true
/// when it reached the end. An error of the server's leaves the connection usable but not
/// clean (false); a broken connection is the lane's error.
async fn drain<P: Protocol>(result: &mut QueryResult<'_, 'static, P>) -> Result<bool, Error> {
    let started = Instant::now();
    for _ in 0..DRAIN_ROWS {
        if started.elapsed() > DRAIN_FOR {
            return Ok(false);
        }
        match result.next().await {
            Ok(Some(_)) => {}
            Ok(None) => return Ok(true),
            Err(mysql_async::Error::Server(_)) => return Ok(false),
            Err(e) => return Err(Error::from(e)),
        }
    }
    Ok(false)
}
