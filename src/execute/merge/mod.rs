//! Runs a read over several shards at once and merges their rows into the answer one
//! unsharded server would give (`plan::merge::MergeSpec`).
//!
//! Connections (why not one UNION ALL query per group): each shard streams on its own
//! connection, so every shard works in parallel and the column definitions the client sees
//! are exactly a shard's own. The first shard of a group uses the session's connection to
//! that group; further shards of the same group take extra connections from the pool when
//! it has one free, brought up to the session's replayable state (see `lanes`). Inside a
//! transaction every shard of a group runs on the transaction's connection to it, one after
//! the other (each group the read needs joins the transaction first, see `txn`).
//!
//! FOUND_ROWS(): the rows that reached OFFSET / LIMIT are counted; with SQL_CALC_FOUND_ROWS
//! each lane asks its connection for the shard's own FOUND_ROWS() after each query, and
//! the session remembers the sum (see `found_rows`).
//!
//! Pipeline: k-way merge of the sorted shard streams (a few rows per shard in memory) ->
//! grouping of adjacent equal keys with partial aggregates combined -> HAVING -> final sort
//! (the only buffer, under the cap) -> OFFSET / LIMIT -> the client, hidden columns cut.
//! Once LIMIT is reached the shard streams are dropped and reading stops.

mod combine;
pub mod compare;
pub mod decimal;
mod lanes;
pub(crate) mod stream;
mod wire_lanes;

use std::cmp::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use self::compare::Kind;
use self::stream::{Cells, Msg, ShardEnd};
use super::found_rows::FoundRows;
use super::{Context, Failure, OkInfo, ResultSink, Session};
use crate::backend::{GroupPool, ServerRef};
use crate::error::Error;
use crate::plan::merge::{AggKind, MergeSpec, SortKey};
use crate::plan::Route;
use crate::stats::ShardPart;
mod layout;
mod output;

pub use self::layout::Layout;
use self::output::{Flow, Output};

struct Streams {
    rx: Vec<stream::Rx>,
    /// Per stream, the server it reads from: a connection that broke is reported naming it.
    servers: Vec<Arc<GroupPool>>,
    /// Per stream, the shard it reads (for the same reports).
    shards: Vec<Option<u32>>,
    /// How each stream ended, once it has.
    ended: Vec<Option<ShardEnd>>,
    /// For the statement's statistics: rows the merge took from each stream, and when each
    /// ended, counted from `started`.
    rows: Vec<u64>,
    ended_after: Vec<Option<Duration>>,
    started: Instant,
    /// Per stream, the rest of the batch of rows it sent last.
    batches: Vec<std::vec::IntoIter<Cells>>,
}

impl Streams {
    async fn next(&mut self, i: usize) -> Result<Option<Msg>, Error> {
        if self.ended[i].is_some() {
            return Ok(None);
        }
        match self.rx[i].recv().await {
            Some(Msg::End(end)) => {
                self.ended[i] = Some(end);
                self.ended_after[i] = Some(self.started.elapsed());
                Ok(None)
            }
            Some(Msg::Failed(e)) => {
                self.ended[i] = Some(ShardEnd::default());
                self.ended_after[i] = Some(self.started.elapsed());
                let server = &self.servers[i];
                Err(match e {
                    Error::BackendConnection(reason) => server.unavailable(reason),
                    e => e.packet_too_large_at(|| server.place(self.shards[i])),
                })
            }
            Some(m) => Ok(Some(m)),
            None => Err(Error::Internal(
                "a shard stream ended without its result".into(),
            )),
        }
    }

    async fn next_row(&mut self, i: usize) -> Result<Option<Cells>, Error> {
        loop {
            if let Some(r) = self.batches[i].next() {
                self.rows[i] += 1;
                return Ok(Some(r));
            }
            match self.next(i).await? {
                Some(Msg::Rows(rows)) => self.batches[i] = rows.into_iter(),
                Some(_) => continue,
                None => return Ok(None),
            }
        }
    }
}

/// A lane's task: on a driver connection, given back to the session or its pool at the end;
/// on a wire connection, which goes back idle by itself.
enum LaneTask {
    Driver {
        group: usize,
        pinned: bool,
        server: ServerRef,
        task: tokio::task::JoinHandle<stream::LaneEnd>,
    },
    Wire {
        /// The lane's targets, in the order it runs them.
        targets: Vec<usize>,
        task: tokio::task::JoinHandle<wire_lanes::WireLaneEnd>,
    },
}

/// Runs a scatter read (an empty `merge` concatenates).
pub async fn run<S: ResultSink>(
    route: &Route,
    merge: &MergeSpec,
    ctx: &Context<'_>,
    session: &mut Session,
    sink: &mut S,
) -> Result<(), Failure> {
    let db = route.db.clone();
    let calc_found_rows = ctx.read_by_syntax(|| {
        route
            .targets
            .first()
            .is_some_and(|t| super::found_rows::calc_found_rows(&t.sql))
    });
    if calc_found_rows && (merge.group.is_some() || merge.count_distinct) {
        return Err(Failure::Query(Error::unsupported(format!(
            "SQL_CALC_FOUND_ROWS with aggregates, GROUP BY or DISTINCT over several shards of \
             sharded table '{}' (a group may span shards, so their counts do not add up; use \
             COUNT(*) over the same grouping in a derived table)",
            merge.table
        ))));
    }
    let cap = ctx.limits.merge_buffer_bytes;
    // Each shard query as it goes to the server (before any connection is taken).
    let mut queries = Vec::with_capacity(route.targets.len());
    for t in &route.targets {
        queries.push(Some(stream::LaneQuery {
            text: session.charset.encode(&t.sql)?.into_owned(),
            prepared: match sink.prepared_form(&t.sql) {
                Some((sql, params)) => Some((session.charset.encode(&sql)?.into_owned(), params)),
                None => None,
            },
        }));
    }
    let started = Instant::now();
    let on_wire = if wire_lanes::eligible(route, &queries, calc_found_rows, ctx, session, sink) {
        wire_lanes::open(route, ctx, session).await?
    } else {
        None
    };
    let mut slots: Vec<Option<stream::Rx>> = (0..route.targets.len()).map(|_| None).collect();
    let mut stream_servers: Vec<Option<Arc<GroupPool>>> = vec![None; route.targets.len()];
    let mut tasks = Vec::with_capacity(route.targets.len());
    // Held until the merged read ends: a lane stuck on a server counts as unanswered.
    let mut _tickets = Vec::with_capacity(route.targets.len());
    // Each lane's receivers go to its targets' slots, and its queries are counted on its
    // server, as the single-target path counts them, so the listings and metrics show
    // where merged reads went.
    let mut place = |group: usize, server: ServerRef, targets: &[usize], rxs: Vec<stream::Rx>| {
        let pool = ctx
            .backends
            .group(&db, group)
            .map(|g| g.server(server).clone());
        if let Some(pool) = &pool {
            pool.stats
                .queries
                .fetch_add(targets.len() as u64, std::sync::atomic::Ordering::Relaxed);
        }
        for (&k, rx) in targets.iter().zip(rxs) {
            slots[k] = Some(rx);
            stream_servers[k] = pool.clone();
        }
    };
    if let Some(lanes) = on_wire {
        for lane in lanes {
            _tickets.push(lane.ticket);
            let sqls = lane
                .targets
                .iter()
                .filter_map(|&k| queries[k].take().map(|q| q.text))
                .collect();
            let (rxs, task) =
                wire_lanes::spawn_wire_lane(lane.lease, sqls, cap, merge.table.clone());
            place(lane.group, lane.server, &lane.targets, rxs);
            tasks.push(LaneTask::Wire {
                targets: lane.targets,
                task,
            });
        }
    } else {
        for lane in lanes::open(route, ctx, session).await? {
            _tickets.push(lane.ticket);
            let sqls = lane
                .targets
                .iter()
                .filter_map(|&k| queries[k].take())
                .collect();
            let (rxs, task) =
                stream::spawn_lane(lane.conn, sqls, cap, merge.table.clone(), calc_found_rows);
            place(lane.group, lane.server, &lane.targets, rxs);
            tasks.push(LaneTask::Driver {
                group: lane.group,
                pinned: lane.pinned,
                server: lane.server,
                task,
            });
        }
    }
    let n = route.targets.len();
    let mut streams = Streams {
        servers: stream_servers
            .into_iter()
            .map(|p| p.expect("every target has a lane on a known server"))
            .collect(),
        shards: route.targets.iter().map(|t| t.shard).collect(),
        rx: slots
            .into_iter()
            .map(|r| r.expect("every target has a lane"))
            .collect(),
        ended: (0..n).map(|_| None).collect(),
        rows: vec![0; n],
        ended_after: vec![None; n],
        started,
        batches: (0..n).map(|_| Vec::new().into_iter()).collect(),
    };
    let status_before = session.status;
    let mut out = Output {
        sink,
        layout: None,
        sent_columns: false,
        status_before,
        db: &db,
        schema: db.groups[route.targets[0].group].schema.clone(),
        offset_left: merge.offset,
        remaining: merge.limit,
        spec: merge,
        buffer: Vec::new(),
        sorted: Vec::new(),
        buffered: 0,
        cap,
        last_weight: None,
        distinct: 0,
        found: 0,
    };
    let result = pump(&mut streams, &mut out).await;
    // A stream the merge stopped reading (LIMIT reached, an error) ends now.
    let stopped = started.elapsed();
    for (i, server) in streams.servers.iter().enumerate() {
        session.trace.note(ShardPart {
            server: server.clone(),
            shard: streams.shards[i],
            elapsed: streams.ended_after[i].unwrap_or(stopped),
            rows: streams.rows[i],
        });
    }

    // Stop every stream, take the connections back (one that broke, or whose task did not
    // come back, is dropped: closed, or reset before anyone else gets it).
    for rx in &mut streams.rx {
        rx.close();
        while rx.recv().await.is_some() {}
    }
    let mut shard_found: Option<u64> = Some(0);
    // On wire lanes (`wire_lanes`): whether a lane's warnings are unknown (its task did not
    // come back), and the connection still holding the first shard's (in the route's
    // order), if any.
    let mut wire_unknown = false;
    let mut wire_kept: Option<(usize, crate::backend::WireLease)> = None;
    let mut on_wire = false;
    for task in tasks {
        let (group, pinned, server, task) = match task {
            LaneTask::Driver {
                group,
                pinned,
                server,
                task,
            } => (group, pinned, server, task),
            LaneTask::Wire { targets, task } => {
                on_wire = true;
                // A task that did not come back counts as a lane whose warnings are unknown.
                let Ok(end) = task.await else {
                    wire_unknown = true;
                    continue;
                };
                if let (Some((k, shown)), Some(lease)) = (end.shown, end.lease) {
                    let target = targets.get(k).copied().unwrap_or(usize::MAX);
                    if shown > 0 && wire_kept.as_ref().is_none_or(|(t, _)| target < *t) {
                        wire_kept = Some((target, lease));
                    }
                }
                continue;
            }
        };
        let end = task.await.ok();
        shard_found = match (shard_found, end.as_ref().and_then(|e| e.found_rows)) {
            (Some(sum), Some(n)) => Some(sum + n),
            _ => None,
        };
        match end {
            Some(end) if !end.broken => {
                if pinned {
                    let transaction_open = session.txn.pins_connections();
                    session
                        .conns
                        .note_statement_diagnostics(end.left_diagnostics);
                    session.conns.put_back_after_merge(
                        ctx.backends,
                        &db,
                        group,
                        server,
                        end.conn,
                        transaction_open,
                    );
                } else if let Some(g) = ctx.backends.group(&db, group) {
                    session
                        .conns
                        .return_extra(g.server(server), end.conn, end.left_diagnostics);
                }
            }
            _ if pinned && server == ServerRef::Master => {
                // The session's own connection is gone, and with it a transaction on it.
                session.txn.connection_lost(
                    &db.name,
                    group,
                    "its connection broke during a read over several shards",
                );
            }
            _ => {}
        }
    }
    let mut warnings: u16 = 0;
    let mut last_status = session.status;
    for end in streams.ended.iter().flatten() {
        warnings = warnings.saturating_add(end.warnings);
        if end.status != 0 {
            last_status = end.status;
        }
    }
    if on_wire {
        // By the count the client gets (the shards whose end the merge read): a read that
        // says it had no warnings has none to show either.
        match wire_kept {
            _ if warnings == 0 && !wire_unknown => session.conns.wire_ran_clean(),
            Some((_, lease)) => session.conns.keep_for_warnings(lease),
            None => session.conns.wire_warnings_lost(),
        }
    }
    result?;
    out.ensure_columns();
    if !out.sent_columns {
        return Err(Failure::Query(Error::Internal(
            "no shard returned a result set".into(),
        )));
    }
    session.found_rows = match (calc_found_rows, shard_found) {
        (false, _) => FoundRows::Known(out.found),
        (true, Some(n)) => FoundRows::Known(n),
        (true, None) => FoundRows::Unknown(format!(
            "a shard of sharded table '{}' did not report its FOUND_ROWS()",
            merge.table
        )),
    };
    session.keep_status(last_status);
    session.last_row_count = -1;
    // Kept for SHOW WARNINGS: the connections stay with the session while it has some.
    session.last_warnings = warnings;
    out.sink.end_rows(&OkInfo {
        warnings,
        status: last_status,
        ..OkInfo::default()
    });
    Ok(())
}

/// Reads the shard streams in merge order and feeds the pipeline.
async fn pump<S: ResultSink>(
    streams: &mut Streams,
    out: &mut Output<'_, S>,
) -> Result<(), Failure> {
    let n = streams.rx.len();
    // Column definitions: the first shard's are the client's.
    for i in 0..n {
        if let Some(Msg::Columns(c)) = streams.next(i).await? {
            if out.layout.is_none() {
                out.layout = Some(Layout::new(c, out.spec.hidden));
            }
        }
    }
    let Some(lay) = &out.layout else {
        return Ok(());
    };
    let spec = out.spec;
    let group_keys = spec.group.iter().flat_map(|g| g.keys.iter());
    for k in spec.order.iter().chain(&spec.final_order).chain(group_keys) {
        let i = lay.index(k.col);
        if lay
            .cols
            .get(i)
            .is_some_and(compare::orders_only_on_one_server)
        {
            return Err(Failure::Query(Error::MergeCannotOrder(spec.table.clone())));
        }
        // A key planned as a column that sorts by value (`plan::column_sorts`) asked for no
        // weight; text there means the column changed behind the proxy's back since its type
        // was learned, and its bytes are not its collation's order.
        if k.weight.is_none() && lay.kind(i) == Kind::Text {
            return Err(Failure::Query(Error::MergeNeedsWeights(spec.table.clone())));
        }
    }
    // The shards' partial sums of a double are added in another order than one server adds
    // the rows, and MariaDB prints doubles its own way (2.5e15): not reproducible exactly.
    let float_sums = spec
        .group
        .iter()
        .flat_map(|g| g.aggs.iter())
        .any(|a| match a.kind {
            AggKind::Sum => lay.kind(lay.index(a.col)) == Kind::Float,
            AggKind::Avg { sum, .. } => {
                lay.kind(lay.index(a.col)) == Kind::Float || lay.kind(lay.index(sum)) == Kind::Float
            }
            _ => false,
        });
    if float_sums {
        return Err(Failure::Query(Error::unsupported(format!(
            "SUM/AVG of a FLOAT/DOUBLE column over several shards of sharded table '{}'",
            spec.table
        ))));
    }
    if out.remaining == Some(0) {
        return Ok(());
    }
    let mut heads: Vec<Option<Cells>> = Vec::with_capacity(n);
    if spec.order.is_empty() {
        // Concatenation: one shard after the other (the others are already running).
        for i in 0..n {
            while let Some(r) = streams.next_row(i).await? {
                if out.push(r).await? == Flow::Stop {
                    return out.finish().await;
                }
            }
        }
        return out.finish().await;
    }
    for i in 0..n {
        heads.push(streams.next_row(i).await?);
    }
    loop {
        let lay = out.layout.as_ref().expect("layout");
        let Some(b) = pick(lay, &spec.order, &heads) else {
            break;
        };
        let row = heads[b].take().expect("head");
        heads[b] = streams.next_row(b).await?;
        if out.push(row).await? == Flow::Stop {
            break;
        }
    }
    out.finish().await
}

/// The shard whose head row comes first in `keys` order (the earliest shard on ties, so
/// equal rows keep the shards' order).
fn pick(lay: &Layout, keys: &[SortKey], heads: &[Option<Cells>]) -> Option<usize> {
    let mut best: Option<(usize, &Cells)> = None;
    for (i, h) in heads.iter().enumerate() {
        if let Some(r) = h {
            match best {
                Some((_, b)) if lay.cmp(keys, b, r) != Ordering::Greater => {}
                _ => best = Some((i, r)),
            }
        }
    }
    best.map(|(i, _)| i)
}

#[cfg(test)]
mod tests;
