//! Merged reads on the proxy's own backend connections (`[backend] wire_reads`): each lane
//! streams on a wire connection, and its rows are cut into cells straight from the server's
//! packets. The driver parses every packet as an OK and then as an error before it sees a
//! row (two failed parses and an `io::Error` each), then decodes the row into values: for a
//! four-shard `ORDER BY .. LIMIT 10` that was more than half of the proxy's instructions.
//!
//! Lanes are planned as on the driver's connections (`lanes`): the first shard of each group
//! gets a connection (waiting for a slot if it must), and every further shard of the group
//! one only if its server has a slot free now, else it runs after the others on the group's
//! first lane. Only a session that nothing ties to its own connections may read this way
//! (`wire_read::session_is_free`), no statement that asks about its connection
//! (`wire_read::asks_nothing_of_its_connection`), and only text rows: a client's prepared
//! statement (binary rows, bound values) and SQL_CALC_FOUND_ROWS (asked of each connection
//! after its query) stay with the driver.
//!
//! Warnings: a connection holds the warnings of the last query it ran. Of the connections
//! whose last query had some, the one of the first shard in the route's order is kept for
//! SHOW WARNINGS (one shard's warnings, as the driver's lanes leave them), as a single-shard
//! wire read keeps its own; when warnings were only on queries a later one on the same
//! connection replaced, SHOW WARNINGS says they are gone (1235). A read without warnings
//! leaves `@@warning_count` to be asked on a cleared connection.

use std::sync::Arc;
use std::time::Instant;

use mysql_common::io::ParseBuf;
use mysql_common::packets::Column;
use tokio::task::JoinHandle;

use crate::backend::pools::Ticket;
use crate::backend::wire::{BackendStream, OkFields, Reply, RowStep, Rows, WireError};
use crate::backend::{ServerRef, WireLease};
use crate::error::Error;
use crate::plan::Route;

use super::super::wire_read::{
    asks_nothing_of_its_connection, each_text_cell, session_is_free, LARGEST_WIRE_TEXT,
};
use super::super::{status, Context, ResultSink, Session};
use super::lanes::{admit, server_for};
use super::stream::{channels, hold, Cells, LaneQuery, Msg, Rx, ShardEnd, Tx, BATCH_ROWS};
use super::stream::{DRAIN_FOR, DRAIN_ROWS};

pub(super) struct WireLane<'c> {
    pub group: usize,
    pub server: ServerRef,
    /// Indexes into the route's targets, in the order the lane runs them.
    pub targets: Vec<usize>,
    pub lease: WireLease,
    /// The lane's admission by its server's breaker, held while the lane streams.
    pub ticket: Ticket<'c>,
}

/// Whether `route`'s merged read may stream on wire connections.
pub(super) fn eligible<S: ResultSink>(
    route: &Route,
    queries: &[Option<LaneQuery>],
    calc_found_rows: bool,
    ctx: &Context<'_>,
    session: &Session,
    sink: &S,
) -> bool {
    ctx.backends.wire_reads
        && !route.is_write
        && !calc_found_rows
        && !sink.wants_binary_backend()
        && queries
            .iter()
            .flatten()
            .all(|q| q.prepared.is_none() && q.text.len() <= LARGEST_WIRE_TEXT)
        && session_is_free(session)
        && !session.conns.holds_any()
        && !session.reads.has_temporary_tables()
        && !session.reads.has_assigned_variables(&route.db)
        // The shard queries differ only in their tables' physical names, which ask nothing
        // of a connection: one text tells for all (each would miss the words' cache).
        && route
            .targets
            .first()
            .is_some_and(|t| asks_nothing_of_its_connection(&t.sql))
}

/// Takes a wire connection for every lane of `route`'s read; `None` when a server's reads
/// stay with the driver (the connections taken go back idle, and the read takes the
/// driver's way).
pub(super) async fn open<'c>(
    route: &Route,
    ctx: &Context<'c>,
    session: &mut Session,
) -> Result<Option<Vec<WireLane<'c>>>, Error> {
    let db = &route.db;
    session.reads.check_variables(route)?;
    let admit = |group: usize, server: ServerRef| admit(ctx, route, group, server);
    let mut lanes: Vec<WireLane<'c>> = Vec::with_capacity(route.targets.len());
    let mut further: Vec<usize> = Vec::new();
    for (k, t) in route.targets.iter().enumerate() {
        if lanes.iter().any(|l| l.group == t.group) {
            further.push(k);
            continue;
        }
        let server = server_for(route, ctx, session, t.group, k);
        let ticket = admit(t.group, server)?;
        match session.conns.wire(ctx.backends, db, t.group, server).await {
            Ok(Some(lease)) => lanes.push(WireLane {
                group: t.group,
                server,
                targets: vec![k],
                lease,
                ticket,
            }),
            Ok(None) => return Ok(None),
            Err(e) => {
                ticket.judge(&e);
                return Err(e);
            }
        }
    }
    for k in further {
        let group = route.targets[k].group;
        let server = server_for(route, ctx, session, group, k);
        let ticket = admit(group, server)?;
        match session
            .conns
            .wire_if_free(ctx.backends, db, group, server)
            .await
        {
            Ok(Some(lease)) => lanes.push(WireLane {
                group,
                server,
                targets: vec![k],
                lease,
                ticket,
            }),
            Ok(None) => {
                // Runs after the others on the group's first lane, which holds a ticket.
                drop(ticket);
                let first = lanes
                    .iter_mut()
                    .find(|l| l.group == group)
                    .expect("every group of the read has a first lane");
                first.targets.push(k);
            }
            Err(e) => {
                ticket.judge(&e);
                return Err(e);
            }
        }
    }
    Ok(Some(lanes))
}

/// What a wire lane's task hands back: its connection when the last result it ran was
/// read to the end (else it was closed), and which of its queries left the warnings the
/// connection holds now (the last it ran, if the merge took its end) and how many.
pub(super) struct WireLaneEnd {
    pub lease: Option<WireLease>,
    pub shown: Option<(usize, u16)>,
}

/// Runs `sqls` one after the other on `lease`; one receiver per query, in order (see
/// `stream::spawn_lane`, whose channels and limits these are).
pub(super) fn spawn_wire_lane(
    mut lease: WireLease,
    sqls: Vec<Vec<u8>>,
    cap: usize,
    table: String,
) -> (Vec<Rx>, JoinHandle<WireLaneEnd>) {
    let (txs, rxs) = channels(sqls.len());
    let task = tokio::spawn(async move {
        let mut held = 0usize;
        let mut shown = None;
        for (k, sql) in sqls.iter().enumerate() {
            shown = None;
            match read(&mut lease, sql, &txs[k], &mut held, cap, &table).await {
                Ok(Read::Ended(end)) => {
                    shown = Some((k, end.warnings));
                    let status = end.status & !status::MORE_RESULTS_EXISTS;
                    let taken = txs[k]
                        .send(Msg::End(ShardEnd {
                            warnings: end.warnings,
                            status,
                        }))
                        .await;
                    if !taken {
                        // The merge has what it needs: the later queries are not wanted,
                        // and the client's count leaves these warnings out.
                        shown = None;
                        break;
                    }
                }
                // The merge has what it needs: the lane's later queries are not wanted.
                Ok(Read::Stopped) => break,
                Err(e) => {
                    // The lane's later queries will not run: their streams fail alike.
                    for tx in &txs[k..] {
                        tx.send(Msg::Failed(e.clone())).await;
                    }
                    break;
                }
            }
        }
        let usable = lease.conn().is_usable();
        WireLaneEnd {
            lease: usable.then_some(lease),
            shown,
        }
    });
    (rxs, task)
}

enum Read {
    /// The result was read to its end and handed on.
    Ended(OkFields),
    /// The merge stopped taking rows; the rest was drained if that was quick (else the
    /// connection is left unusable, and closed).
    Stopped,
}

/// Runs `sql` and hands its result on to the merge. (An idle connection the server had
/// dropped was replaced when it was taken, `SessionConns::wire`: a failure here is the
/// statement's, and it is not run again.)
async fn read(
    lease: &mut WireLease,
    sql: &[u8],
    tx: &Tx,
    held: &mut usize,
    cap: usize,
    table: &str,
) -> Result<Read, Error> {
    let mut result = match lease.conn().query_bytes(sql).await? {
        Reply::Done(ok) => {
            // No result set (the driver's lane says the same: no columns).
            if !tx.send(Msg::Columns(Arc::from(Vec::new()))).await {
                return Ok(Read::Stopped);
            }
            return Ok(Read::Ended(ok));
        }
        Reply::Rows(result) => result,
    };
    let mut columns = Vec::with_capacity(result.column_count().min(4096) as usize);
    while let Some(def) = result.next_column().await? {
        let column: Column = ParseBuf(def)
            .parse(())
            .map_err(|e| Error::BackendConnection(format!("a column definition: {e}")))?;
        columns.push(column);
    }
    let width = columns.len();
    if !tx.send(Msg::Columns(columns.into())).await {
        drain(&mut result).await?;
        return Ok(Read::Stopped);
    }
    let mut batch: Vec<Cells> = Vec::new();
    loop {
        let cells = match result.buffered_row()? {
            RowStep::Row(payload) => owned_cells(payload, width)?,
            RowStep::End => break,
            RowStep::NotYet => {
                // The server has not sent the next row yet: the merge gets what is here.
                if !batch.is_empty() && !tx.send(Msg::Rows(std::mem::take(&mut batch))).await {
                    drain(&mut result).await?;
                    return Ok(Read::Stopped);
                }
                result.fill().await?;
                continue;
            }
        };
        hold(tx, &cells, held, cap, table)?;
        batch.push(cells);
        if batch.len() == BATCH_ROWS && !tx.send(Msg::Rows(std::mem::take(&mut batch))).await {
            drain(&mut result).await?;
            return Ok(Read::Stopped);
        }
    }
    let end = result
        .end()
        .cloned()
        .ok_or_else(|| Error::BackendConnection("a result without an end".into()))?;
    if !batch.is_empty() && !tx.send(Msg::Rows(batch)).await {
        return Ok(Read::Stopped);
    }
    Ok(Read::Ended(end))
}

/// The cells of a text row, each copied once into the row the merge keeps.
fn owned_cells(payload: &[u8], width: usize) -> Result<Cells, Error> {
    let mut cells = Vec::with_capacity(width.min(4096));
    each_text_cell(payload, |c| cells.push(c.map(<[u8]>::to_vec)))?;
    Ok(cells)
}

/// Reads the rest of `result` (at most `DRAIN_ROWS` rows, for at most `DRAIN_FOR`), so that
/// the connection can go back; one that did not reach the end is closed when dropped.
async fn drain(result: &mut Rows<'_, BackendStream>) -> Result<(), Error> {
    let started = Instant::now();
    for _ in 0..DRAIN_ROWS {
        if started.elapsed() > DRAIN_FOR {
            return Ok(());
        }
        match result.next_row().await {
            Ok(Some(_)) => {}
            Ok(None) => return Ok(()),
            // A server's error ends the result; the connection stays as the exchange left it.
            Err(WireError::Server(_)) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
