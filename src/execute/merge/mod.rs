//! Runs a read over several shards at once and merges their rows into the answer one
//! unsharded server would give (`plan::merge::MergeSpec`).
//!
//! Connections (why not one UNION ALL query per group): each shard streams on its own
//! connection, so every shard works in parallel and the column definitions the client sees
//! are exactly a shard's own. The first shard of a group uses the session's connection to
//! that group; further shards of the same group take extra connections from the pool,
//! brought up to the session's replayable state. Inside a transaction those extra
//! connections would not see the transaction's writes, so a merge needing two shards of one
//! group there is refused (a plain concatenation runs them one after the other instead).
//!
//! Pipeline: k-way merge of the sorted shard streams (a few rows per shard in memory) ->
//! grouping of adjacent equal keys with partial aggregates combined -> HAVING -> final sort
//! (the only buffer, under the cap) -> OFFSET / LIMIT -> the client, hidden columns cut.
//! Once LIMIT is reached the shard streams are dropped and reading stops.

mod combine;
pub mod compare;
pub mod decimal;
mod stream;

use std::cmp::Ordering;
use std::sync::Arc;

use mysql_common::packets::Column;

use self::compare::{cmp_cells, kind_of, Kind};
use self::stream::{Cells, Msg, ShardEnd};
use super::{status, Context, Failure, OkInfo, ResultSink, Session};
use crate::error::Error;
use crate::plan::merge::{Col, MergeSpec, SortKey};
use crate::plan::Route;

/// Column positions and kinds of the shard rows, known once the first shard answers.
pub struct Layout {
    cols: Arc<[Column]>,
    hidden: usize,
    kinds: Vec<Kind>,
}

impl Layout {
    fn new(cols: Arc<[Column]>, hidden: usize) -> Self {
        let kinds = cols.iter().map(kind_of).collect();
        Layout {
            cols,
            hidden,
            kinds,
        }
    }
    fn visible(&self) -> usize {
        self.cols.len().saturating_sub(self.hidden)
    }
    pub fn index(&self, c: Col) -> usize {
        match c {
            Col::Visible(i) => i,
            Col::Hidden(i) => self.visible() + i,
        }
    }
    pub fn kind(&self, i: usize) -> Kind {
        self.kinds.get(i).copied().unwrap_or(Kind::Bytes)
    }
    pub fn decimals(&self, i: usize) -> u8 {
        self.cols.get(i).map_or(0, |c| c.decimals())
    }
    fn cmp_key(&self, k: &SortKey, a: &Cells, b: &Cells) -> Ordering {
        let i = self.index(k.col);
        let ord = match k.weight.map(|w| self.index(w)) {
            Some(w) if self.kind(i) == Kind::Text => {
                // NULL values have NULL weights: still first.
                cmp_cells(Kind::Bytes, cell(a, w), cell(b, w))
            }
            _ => cmp_cells(self.kind(i), cell(a, i), cell(b, i)),
        };
        if k.desc {
            ord.reverse()
        } else {
            ord
        }
    }
    fn cmp(&self, keys: &[SortKey], a: &Cells, b: &Cells) -> Ordering {
        for k in keys {
            let o = self.cmp_key(k, a, b);
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    }
}

fn cell(r: &Cells, i: usize) -> Option<&[u8]> {
    r.get(i).and_then(|c| c.as_deref())
}

struct Streams {
    rx: Vec<stream::Rx>,
    /// Per stream, the error for a connection that broke, naming its group.
    unavailable: Vec<Box<dyn Fn(String) -> Error + Send>>,
    /// How each stream ended, once it has.
    ended: Vec<Option<ShardEnd>>,
}

impl Streams {
    async fn next(&mut self, i: usize) -> Result<Option<Msg>, Error> {
        if self.ended[i].is_some() {
            return Ok(None);
        }
        match self.rx[i].recv().await {
            Some(Msg::End(end)) => {
                self.ended[i] = Some(end);
                Ok(None)
            }
            Some(Msg::Failed(Error::BackendConnection(reason))) => {
                self.ended[i] = Some(ShardEnd::default());
                Err((self.unavailable[i])(reason))
            }
            Some(Msg::Failed(e)) => {
                self.ended[i] = Some(ShardEnd::default());
                Err(e)
            }
            Some(m) => Ok(Some(m)),
            None => Err(Error::Internal(
                "a shard stream ended without its result".into(),
            )),
        }
    }

    async fn next_row(&mut self, i: usize) -> Result<Option<Cells>, Error> {
        loop {
            match self.next(i).await? {
                Some(Msg::Row(r)) => return Ok(Some(r)),
                Some(_) => continue,
                None => return Ok(None),
            }
        }
    }
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
    let in_trans = session.status & status::IN_TRANS != 0;
    let cap = ctx.limits.merge_buffer_bytes;
    // Lanes: (group, pinned, target indexes). Outside a transaction every shard gets its own
    // connection (the session's for a group's first shard); inside, one lane per group on
    // the transaction's connection.
    let mut lanes: Vec<(usize, bool, Vec<usize>)> = Vec::new();
    for (k, t) in route.targets.iter().enumerate() {
        match lanes.iter_mut().find(|l| l.0 == t.group && l.1) {
            Some(l) if in_trans => l.2.push(k),
            Some(_) => lanes.push((t.group, false, vec![k])),
            None => lanes.push((t.group, true, vec![k])),
        }
    }
    let mut conns = Vec::with_capacity(lanes.len());
    let mut failed = None;
    for (group, pinned, _) in &lanes {
        let got = if *pinned {
            session.conns.take(ctx.backends, &db, *group).await
        } else {
            session.conns.extra(ctx.backends, &db, *group).await
        };
        match got {
            Ok(c) => conns.push(c),
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    if let Some(e) = failed {
        for (c, (group, pinned, _)) in conns.into_iter().zip(&lanes) {
            if *pinned {
                session.conns.put_back(ctx.backends, &db, *group, c);
            }
        }
        return Err(Failure::Query(e));
    }
    let mut slots: Vec<Option<stream::Rx>> = (0..route.targets.len()).map(|_| None).collect();
    let mut tasks = Vec::with_capacity(lanes.len());
    for (conn, (group, pinned, idx)) in conns.into_iter().zip(&lanes) {
        let sqls = idx.iter().map(|&k| route.targets[k].sql.clone()).collect();
        let (rxs, task) = stream::spawn_lane(conn, sqls, cap, merge.table.clone());
        for (&k, rx) in idx.iter().zip(rxs) {
            slots[k] = Some(rx);
        }
        tasks.push((*group, *pinned, task));
    }
    let n = route.targets.len();
    let unavailable = route
        .targets
        .iter()
        .map(|t| {
            let g = &db.groups[t.group];
            let (database, group, addr) = (db.name.clone(), g.name.clone(), g.master.clone());
            Box::new(move |reason| Error::GroupUnavailable {
                database: database.clone(),
                group: group.clone(),
                addr: addr.clone(),
                reason,
            }) as Box<dyn Fn(String) -> Error + Send>
        })
        .collect();
    let mut streams = Streams {
        unavailable,
        rx: slots
            .into_iter()
            .map(|r| r.expect("every target has a lane"))
            .collect(),
        ended: (0..n).map(|_| None).collect(),
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
    };
    let result = pump(&mut streams, &mut out).await;

    // Stop every stream, take the connections back.
    for rx in &mut streams.rx {
        rx.close();
        while rx.recv().await.is_some() {}
    }
    for (group, pinned, task) in tasks {
        if let Ok(end) = task.await {
            if pinned && !end.broken {
                session.conns.put_back(ctx.backends, &db, group, end.conn);
            }
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
    result?;
    out.ensure_columns();
    if !out.sent_columns {
        return Err(Failure::Query(Error::Internal(
            "no shard returned a result set".into(),
        )));
    }
    session.status = last_status;
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
        // NO PAD collations (MariaDB ids 1024-2047) keep trailing spaces significant, which
        // the RTRIM in the shards' weight columns would hide.
        let nopad = lay.kind(i) == Kind::Text
            && lay
                .cols
                .get(i)
                .is_some_and(|c| (1024..2048).contains(&c.character_set()));
        if nopad {
            return Err(Failure::Query(Error::unsupported(format!(
                "ordering or grouping by a NO PAD collation text column over several shards of                  sharded table '{}'",
                spec.table
            ))));
        }
        if lay.cols.get(i).is_some_and(compare::sorts_by_index) {
            return Err(Failure::Query(Error::unsupported(format!(
                "ordering or grouping by an ENUM or SET column over several shards of sharded                  table '{}'",
                spec.table
            ))));
        }
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

#[derive(PartialEq, Eq)]
enum Flow {
    Go,
    Stop,
}

struct Output<'o, S: ResultSink> {
    sink: &'o mut S,
    layout: Option<Layout>,
    sent_columns: bool,
    status_before: u16,
    db: &'o crate::config::model::Database,
    schema: String,
    offset_left: u64,
    remaining: Option<u64>,
    spec: &'o MergeSpec,
    /// The current group (grouping) or the rows awaiting the final sort.
    buffer: Vec<Cells>,
    /// Rows awaiting the final sort, and their approximate size.
    sorted: Vec<Cells>,
    buffered: usize,
    cap: usize,
    /// COUNT(DISTINCT): the last weight seen and the count so far.
    last_weight: Option<Vec<u8>>,
    distinct: u64,
}

impl<S: ResultSink> Output<'_, S> {
    fn lay(&self) -> &Layout {
        self.layout.as_ref().expect("layout")
    }

    /// A row from the merge.
    async fn push(&mut self, row: Cells) -> Result<Flow, Failure> {
        let spec = self.spec;
        if spec.count_distinct {
            let w = row.get(self.lay().index(Col::Hidden(0))).cloned().flatten();
            if w.is_some() && w != self.last_weight {
                self.distinct += 1;
                self.last_weight = w;
            }
            return Ok(Flow::Go);
        }
        let Some(g) = &spec.group else {
            return self.after_group(row).await;
        };
        if let Some(cur) = self.buffer.first_mut() {
            let lay = self.layout.as_ref().expect("layout");
            if lay.cmp(&g.keys, cur, &row) == Ordering::Equal {
                combine::fold(cur, &row, &g.aggs, lay, &spec.table)?;
                return Ok(Flow::Go);
            }
            let done = self.buffer.pop().expect("group");
            self.buffer.push(row);
            return self.close_group(done).await;
        }
        self.buffer.push(row);
        Ok(Flow::Go)
    }

    async fn close_group(&mut self, mut row: Cells) -> Result<Flow, Failure> {
        let spec = self.spec;
        let g = spec.group.as_ref().expect("grouping");
        combine::finish(&mut row, &g.aggs, self.lay(), &spec.table)?;
        if let Some(h) = &spec.having {
            if combine::having(h, &row, self.lay()) != Some(true) {
                return Ok(Flow::Go);
            }
        }
        self.after_group(row).await
    }

    async fn after_group(&mut self, row: Cells) -> Result<Flow, Failure> {
        if !self.spec.final_order.is_empty() {
            self.buffered += row
                .iter()
                .map(|c| c.as_ref().map_or(1, |v| v.len() + 8))
                .sum::<usize>()
                + 24;
            if self.buffered > self.cap {
                return Err(Failure::Query(Error::unsupported(format!(
                    "a merged query on sharded table '{}' that needs more than {} bytes \
                     buffered at the proxy (limits.merge_buffer_bytes)",
                    self.spec.table, self.cap
                ))));
            }
            self.sorted.push(row);
            return Ok(Flow::Go);
        }
        self.limit(row).await
    }

    async fn limit(&mut self, row: Cells) -> Result<Flow, Failure> {
        if self.offset_left > 0 {
            self.offset_left -= 1;
            return Ok(Flow::Go);
        }
        match self.remaining {
            Some(0) => return Ok(Flow::Stop),
            Some(n) => self.remaining = Some(n - 1),
            None => {}
        }
        self.emit(&row).await?;
        Ok(if self.remaining == Some(0) {
            Flow::Stop
        } else {
            Flow::Go
        })
    }

    fn ensure_columns(&mut self) {
        if self.sent_columns {
            return;
        }
        let Some(lay) = &self.layout else { return };
        let visible = lay.visible();
        let cols = lay.cols.clone();
        let db = self.db;
        let schema = self.schema.clone();
        self.sink
            .columns(&cols[..visible], self.status_before, &|c: &Column| {
                super::route::rename_column(c, db, &schema)
            });
        self.sent_columns = true;
    }

    async fn emit(&mut self, row: &Cells) -> Result<(), Failure> {
        self.ensure_columns();
        let visible = self.lay().visible();
        let refs: Vec<Option<&[u8]>> = row[..visible.min(row.len())]
            .iter()
            .map(|c| c.as_deref())
            .collect();
        self.sink.row_cells(&refs);
        self.sink.maybe_flush().await?;
        Ok(())
    }

    /// The streams are done (or no longer needed): close the last group, sort, emit.
    async fn finish(&mut self) -> Result<(), Failure> {
        let spec = self.spec;
        if spec.count_distinct {
            let mut row: Cells = vec![None; self.lay().cols.len()];
            if let Some(first) = row.first_mut() {
                *first = Some(self.distinct.to_string().into_bytes());
            }
            self.limit(row).await?;
            return Ok(());
        }
        if let Some(g) = &spec.group {
            if let Some(last) = self.buffer.pop() {
                if self.close_group(last).await? == Flow::Stop {
                    return Ok(());
                }
            } else if g.keys.is_empty() {
                // An aggregate without GROUP BY answers one row even over no rows; every
                // shard sends one, so this only happens when none answered.
            }
        }
        if !spec.final_order.is_empty() {
            let mut rows = std::mem::take(&mut self.sorted);
            let lay = self.lay();
            rows.sort_by(|a, b| lay.cmp(&spec.final_order, a, b));
            for r in rows {
                if self.limit(r).await? == Flow::Stop {
                    break;
                }
            }
        }
        Ok(())
    }
}
