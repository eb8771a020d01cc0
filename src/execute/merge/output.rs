//! The merge pipeline after the k-way merge: grouping with partial aggregates combined,
//! HAVING, the final sort (the one buffer, under the cap), OFFSET / LIMIT, and the rows the
//! client gets with hidden columns cut.

use std::cmp::Ordering;

use mysql_common::packets::Column;

use super::combine;
use super::layout::Layout;
use super::stream::Cells;
use crate::error::Error;
use crate::execute::{Failure, ResultSink};
use crate::plan::merge::{Col, MergeSpec};

#[derive(PartialEq, Eq)]
pub(crate) enum Flow {
    Go,
    Stop,
}

pub(crate) struct Output<'o, S: ResultSink> {
    pub(crate) sink: &'o mut S,
    pub(crate) layout: Option<Layout>,
    pub(crate) sent_columns: bool,
    pub(crate) status_before: u16,
    pub(crate) db: &'o crate::config::model::Database,
    pub(crate) schema: String,
    pub(crate) offset_left: u64,
    pub(crate) remaining: Option<u64>,
    pub(crate) spec: &'o MergeSpec,
    /// The current group (grouping) or the rows awaiting the final sort.
    pub(crate) buffer: Vec<Cells>,
    /// Rows awaiting the final sort, and their approximate size.
    pub(crate) sorted: Vec<Cells>,
    pub(crate) buffered: usize,
    pub(crate) cap: usize,
    /// COUNT(DISTINCT): the last weight seen and the count so far.
    pub(crate) last_weight: Option<Vec<u8>>,
    pub(crate) distinct: u64,
    /// Rows that reached OFFSET / LIMIT before LIMIT stopped the read, skipped ones
    /// included: what one server's FOUND_ROWS() counts without SQL_CALC_FOUND_ROWS.
    pub(crate) found: u64,
}

impl<S: ResultSink> Output<'_, S> {
    fn lay(&self) -> &Layout {
        self.layout.as_ref().expect("layout")
    }

    /// A row from the merge.
    pub(crate) async fn push(&mut self, row: Cells) -> Result<Flow, Failure> {
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
            self.found += 1;
            return Ok(Flow::Go);
        }
        match self.remaining {
            Some(0) => return Ok(Flow::Stop),
            Some(n) => self.remaining = Some(n - 1),
            None => {}
        }
        self.found += 1;
        self.emit(&row).await?;
        Ok(if self.remaining == Some(0) {
            Flow::Stop
        } else {
            Flow::Go
        })
    }

    pub(crate) fn ensure_columns(&mut self) {
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
                crate::execute::route::rename_column(c, db, &schema)
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
    pub(crate) async fn finish(&mut self) -> Result<(), Failure> {
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
