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
use self::stream::{Cells, Msg, ShardStream};
use super::{status, Context, Failure, OkInfo, ResultSink, Session};
use crate::backend::ServerRef;
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
    list: Vec<ShardStream>,
    done: Vec<Option<stream::Finished>>,
}

impl Streams {
    async fn next(&mut self, i: usize) -> Result<Option<Msg>, Error> {
        if self.done[i].is_some() {
            return Ok(None);
        }
        if let Some(m) = self.list[i].rx.recv().await {
            return Ok(Some(m));
        }
        let mut fin = (&mut self.list[i].task)
            .await
            .map_err(|e| Error::Internal(format!("shard task failed: {e}")))?;
        let outcome = std::mem::replace(&mut fin.outcome, Ok(stream::ShardEnd::default()));
        let end = outcome?;
        fin.outcome = Ok(end);
        self.done[i] = Some(fin);
        Ok(None)
    }

    async fn next_row(&mut self, i: usize) -> Result<Option<Cells>, Error> {
        loop {
            match self.next(i).await? {
                Some(Msg::Row(r)) => return Ok(Some(r)),
                Some(Msg::Columns(_)) => continue,
                None => return Ok(None),
            }
        }
    }
}

/// Runs a scatter read. `merge` is `None` for a plain concatenation.
pub async fn run<S: ResultSink>(
    route: &Route,
    merge: &MergeSpec,
    ctx: &Context<'_>,
    session: &mut Session,
    sink: &mut S,
) -> Result<(), Failure> {
    let db = route.db.clone();
    let in_trans = session.status & status::IN_TRANS != 0;
    let mut seen: Vec<usize> = Vec::new();
    for t in &route.targets {
        if seen.contains(&t.group) && in_trans {
            return Err(Failure::Query(Error::unsupported(format!(
                "a merged read of sharded table '{}' over several shards of group '{}' inside a \
                 transaction",
                merge.table, db.groups[t.group].name
            ))));
        }
        seen.push(t.group);
    }
    // Connections: the session's for the first shard of each group, extras for the rest.
    let mut conns = Vec::with_capacity(route.targets.len());
    let mut pinned = Vec::with_capacity(route.targets.len());
    let mut servers = Vec::with_capacity(route.targets.len());
    let mut failed = None;
    for (k, t) in route.targets.iter().enumerate() {
        let first = route.targets[..k].iter().all(|o| o.group != t.group);
        let access = session.reads.access(
            route,
            t,
            session.txn_aware_status(),
            ctx.backends.master_after_write,
        );
        let server = ctx
            .backends
            .group(&db.name, t.group)
            .map(|g| g.choose(access))
            .unwrap_or(ServerRef::Master);
        servers.push(server);
        let got = if first {
            session.conns.take(ctx.backends, &db, t.group, server).await
        } else {
            session
                .conns
                .extra(ctx.backends, &db, t.group, server)
                .await
        };
        match got {
            Ok(c) => {
                conns.push(c);
                pinned.push(first);
            }
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    if let Some(e) = failed {
        for (i, (c, p)) in conns.into_iter().zip(pinned).enumerate() {
            if p {
                let group = route.targets[i].group;
                session
                    .conns
                    .put_back(ctx.backends, &db, group, servers[i], c);
            }
        }
        return Err(Failure::Query(e));
    }
    let list: Vec<ShardStream> = conns
        .into_iter()
        .zip(&route.targets)
        .map(|(c, t)| stream::spawn(c, t.sql.clone()))
        .collect();
    let n = list.len();
    let mut streams = Streams {
        list,
        done: (0..n).map(|_| None).collect(),
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
        cap: ctx.limits.merge_buffer_bytes,
    };
    let result = pump(&mut streams, &mut out).await;

    // Stop every stream, take the connections back.
    let mut warnings: u16 = 0;
    let mut last_status = session.status;
    for (i, s) in streams.list.iter_mut().enumerate() {
        s.rx.close();
        let fin = match streams.done[i].take() {
            Some(f) => Some(f),
            None => {
                while s.rx.recv().await.is_some() {}
                (&mut s.task).await.ok()
            }
        };
        if let Some(f) = fin {
            let broken = matches!(&f.outcome, Err(Error::BackendConnection(_)));
            if let Ok(end) = &f.outcome {
                warnings = warnings.saturating_add(end.warnings);
                if end.status != 0 {
                    last_status = end.status;
                }
            }
            if pinned[i] && !broken {
                session.conns.put_back(
                    ctx.backends,
                    &db,
                    route.targets[i].group,
                    servers[i],
                    f.conn,
                );
            }
        }
    }
    match result {
        Ok(()) => {
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
        Err(e) => Err(e),
    }
}

/// Reads the shard streams in merge order and feeds the pipeline.
async fn pump<S: ResultSink>(
    streams: &mut Streams,
    out: &mut Output<'_, S>,
) -> Result<(), Failure> {
    let n = streams.list.len();
    // Column definitions: the first shard's are the client's.
    for i in 0..n {
        match streams.next(i).await? {
            Some(Msg::Columns(c)) => {
                if out.layout.is_none() {
                    out.layout = Some(Layout::new(c, out.spec.hidden));
                }
            }
            Some(Msg::Row(_)) | None => {}
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
        let mut best: Option<usize> = None;
        for (i, h) in heads.iter().enumerate() {
            if let Some(r) = h {
                best = match best {
                    Some(b)
                        if lay.cmp(&spec.order, heads[b].as_ref().expect("head"), r)
                            != Ordering::Greater =>
                    {
                        Some(b)
                    }
                    _ => Some(i),
                };
            }
        }
        let Some(b) = best else { break };
        let row = heads[b].take().expect("head");
        heads[b] = streams.next_row(b).await?;
        if out.push(row).await? == Flow::Stop {
            break;
        }
    }
    out.finish().await
}

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
}

impl<S: ResultSink> Output<'_, S> {
    fn lay(&self) -> &Layout {
        self.layout.as_ref().expect("layout")
    }

    /// A row from the merge.
    async fn push(&mut self, row: Cells) -> Result<Flow, Failure> {
        let spec = self.spec;
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
