//! Combining partial aggregates of one group (COUNT/SUM/MIN/MAX/AVG) and evaluating HAVING
//! on the combined row.

use std::cmp::Ordering;

use super::compare::{cmp_cells, cmp_values, Kind};
use super::decimal::Dec;
use super::stream::Cells;
use super::Layout;
use crate::error::{Error, Result};
use crate::plan::merge::{Agg, AggKind, CmpOp, Filter, Operand};

fn overflow(table: &str) -> Error {
    Error::unsupported(format!(
        "a sum over several shards of sharded table '{table}' beyond 38 digits"
    ))
}

fn add_text(a: &[u8], b: &[u8], float: bool, table: &str) -> Result<Vec<u8>> {
    if float {
        let p = |x: &[u8]| {
            std::str::from_utf8(x)
                .ok()
                .and_then(|s| s.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        return Ok(format!("{}", p(a) + p(b)).into_bytes());
    }
    let (x, y) = (
        Dec::parse(a).ok_or_else(|| overflow(table))?,
        Dec::parse(b).ok_or_else(|| overflow(table))?,
    );
    Ok(x.checked_add(y)
        .ok_or_else(|| overflow(table))?
        .to_text()
        .into_bytes())
}

/// Folds `next` (a shard's partial row of the same group) into `acc`.
pub fn fold(acc: &mut Cells, next: &Cells, aggs: &[Agg], lay: &Layout, table: &str) -> Result<()> {
    for a in aggs {
        let i = lay.index(a.col);
        match a.kind {
            AggKind::Count | AggKind::Sum => {
                let float = lay.kind(i) == Kind::Float;
                acc[i] = match (acc[i].take(), &next[i]) {
                    (None, None) => None,
                    (Some(x), None) => Some(x),
                    (None, Some(y)) => Some(y.clone()),
                    (Some(x), Some(y)) => Some(add_text(&x, y, float, table)?),
                };
            }
            AggKind::Min | AggKind::Max => {
                let (vi, kind) = match a.weight.map(|w| lay.index(w)) {
                    Some(w) if lay.kind(i) == Kind::Text => (w, Kind::Bytes),
                    _ => (i, lay.kind(i)),
                };
                let ord = match (&acc[vi], &next[vi]) {
                    (_, None) => continue,
                    (None, Some(_)) => Ordering::Greater,
                    (Some(x), Some(y)) => cmp_values(kind, y, x),
                };
                let better = if a.kind == AggKind::Min {
                    ord == Ordering::Less
                } else {
                    ord == Ordering::Greater
                } || acc[vi].is_none();
                if better {
                    acc[i] = next[i].clone();
                    if vi != i {
                        acc[vi] = next[vi].clone();
                    }
                }
            }
            AggKind::Avg { sum, count } => {
                for c in [lay.index(sum), lay.index(count)] {
                    let float = lay.kind(c) == Kind::Float;
                    acc[c] = match (acc[c].take(), &next[c]) {
                        (None, None) => None,
                        (Some(x), None) => Some(x),
                        (None, Some(y)) => Some(y.clone()),
                        (Some(x), Some(y)) => Some(add_text(&x, y, float, table)?),
                    };
                }
            }
        }
    }
    Ok(())
}

/// Computes AVG columns from their combined SUM and COUNT at the AVG column's own scale.
pub fn finish(acc: &mut Cells, aggs: &[Agg], lay: &Layout, table: &str) -> Result<()> {
    for a in aggs {
        if let AggKind::Avg { sum, count } = a.kind {
            let i = lay.index(a.col);
            let (s, c) = (&acc[lay.index(sum)], &acc[lay.index(count)]);
            let count: i128 = c
                .as_deref()
                .and_then(|c| std::str::from_utf8(c).ok()?.parse().ok())
                .unwrap_or(0);
            acc[i] = match s {
                None => None,
                Some(_) if count == 0 => None,
                Some(s) if lay.kind(i) == Kind::Float => {
                    let v: f64 = std::str::from_utf8(s)
                        .ok()
                        .and_then(|x| x.parse().ok())
                        .unwrap_or(0.0);
                    Some(format!("{}", v / count as f64).into_bytes())
                }
                Some(s) => {
                    let d = Dec::parse(s).ok_or_else(|| overflow(table))?;
                    let scale = u32::from(lay.decimals(i));
                    Some(
                        d.div_int(count, scale)
                            .ok_or_else(|| overflow(table))?
                            .to_text()
                            .into_bytes(),
                    )
                }
            };
        }
    }
    Ok(())
}

/// Three-valued HAVING: `None` is UNKNOWN (a NULL operand), which filters the row out.
pub fn having(f: &Filter, row: &Cells, lay: &Layout) -> Option<bool> {
    match f {
        Filter::And(a, b) => match (having(a, row, lay), having(b, row, lay)) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        },
        Filter::Or(a, b) => match (having(a, row, lay), having(b, row, lay)) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (Some(false), Some(false)) => Some(false),
            _ => None,
        },
        Filter::Not(a) => having(a, row, lay).map(|v| !v),
        Filter::Cmp { op, left, right } => {
            let val = |o: &Operand| -> Option<Vec<u8>> {
                match o {
                    Operand::Col(c) => row[lay.index(*c)].clone(),
                    Operand::Number(n) => Some(n.as_bytes().to_vec()),
                }
            };
            let (l, r) = (val(left)?, val(right)?);
            let ord = cmp_cells(Kind::Number, Some(&l), Some(&r));
            Some(match op {
                CmpOp::Eq => ord == Ordering::Equal,
                CmpOp::NotEq => ord != Ordering::Equal,
                CmpOp::Lt => ord == Ordering::Less,
                CmpOp::LtEq => ord != Ordering::Greater,
                CmpOp::Gt => ord == Ordering::Greater,
                CmpOp::GtEq => ord != Ordering::Less,
            })
        }
    }
}
