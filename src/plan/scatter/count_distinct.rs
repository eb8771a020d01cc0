//! `SELECT COUNT(DISTINCT x)` over several shards, counted exactly without buffering.

use sqlparser::ast::Expr;

use super::aggregate::AggShape;
use super::clauses;
use super::columns::inner_args;
use super::{Piece, Planner, ScatterPlan, Splice};
use crate::error::Result;
use crate::plan::merge::{AggKind, Col, MergeSpec, SortKey};

/// `SELECT COUNT(DISTINCT x)` alone (x not the shard key): shards group by the weight of
/// `x` so that each distinct value comes once per shard, sorted, next to the real
/// COUNT(DISTINCT x) column (whose definition the client gets); the proxy counts distinct
/// weights across shards while merging, holding nothing.
#[allow(clippy::too_many_arguments)]
pub(crate) fn count_distinct(
    p: &Planner<'_>,
    cl: &clauses::Clauses,
    shapes: &[AggShape],
    group_exprs: &[Expr],
    distinct: bool,
    sel: &sqlparser::ast::Select,
    offset: u64,
    limit: Option<u64>,
) -> Result<Option<ScatterPlan>> {
    let [AggShape::Simple {
        kind: AggKind::Count,
        distinct: true,
        arg: Some(arg),
    }] = shapes
    else {
        return Ok(None);
    };
    if p.is_shard_key(arg) || !group_exprs.is_empty() || distinct || sel.having.is_some() {
        return Ok(None);
    }
    let Some((s, e)) = inner_args(p.sql, p.items[0].range) else {
        return Ok(None);
    };
    // Drop the DISTINCT keyword inside the parentheses.
    let toks: Vec<_> = crate::plan::lexer::significant(&p.sql[s..e]).collect();
    let (Some(first), Some(second)) = (toks.first(), toks.get(1)) else {
        return Ok(None);
    };
    if !first.is_word(&p.sql[s..e], "DISTINCT") || toks.len() < 2 {
        return Ok(None);
    }
    let arg_range = (s + second.start, e);
    let mut splices = vec![Splice {
        start: cl.from,
        end: cl.from,
        pieces: [
            vec![Piece::Text(", ".into())],
            super::columns::weight_pieces(arg_range),
            vec![Piece::Text(" ".into())],
        ]
        .concat(),
    }];
    super::splice::replace_order_and_limit(
        &mut splices,
        cl,
        vec![Piece::Text("GROUP BY 2 ORDER BY 2 ".into())],
    );
    splices.sort_by_key(|s| (s.start, s.end));
    Ok(Some(ScatterPlan {
        merge: MergeSpec {
            table: p.table.clone(),
            hidden: 1,
            order: vec![SortKey {
                col: Col::Hidden(0),
                weight: None,
                desc: false,
            }],
            offset,
            limit,
            count_distinct: true,
            ..MergeSpec::default()
        },
        splices,
    }))
}
