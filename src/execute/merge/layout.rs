//! The shard rows' columns as the merge sees them: where hidden columns start, how each
//! column compares (from the column definitions, known once the first shard answers).

use std::cmp::Ordering;
use std::sync::Arc;

use mysql_common::packets::Column;

use super::compare::{cmp_cells, kind_of, Kind};
use super::stream::Cells;
use crate::plan::merge::{Col, SortKey};

/// Column positions and kinds of the shard rows, known once the first shard answers.
pub struct Layout {
    pub cols: Arc<[Column]>,
    hidden: usize,
    kinds: Vec<Kind>,
}

impl Layout {
    pub fn new(cols: Arc<[Column]>, hidden: usize) -> Self {
        let kinds = cols.iter().map(kind_of).collect();
        Layout {
            cols,
            hidden,
            kinds,
        }
    }
    pub fn visible(&self) -> usize {
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
    pub fn cmp_key(&self, k: &SortKey, a: &Cells, b: &Cells) -> Ordering {
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
    pub fn cmp(&self, keys: &[SortKey], a: &Cells, b: &Cells) -> Ordering {
        for k in keys {
            let o = self.cmp_key(k, a, b);
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    }
}

pub fn cell(r: &Cells, i: usize) -> Option<&[u8]> {
    r.get(i).and_then(|c| c.as_deref())
}
