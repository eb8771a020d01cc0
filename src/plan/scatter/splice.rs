//! Per-shard text: the client's statement with identifier edits applied, plus the scatter
//! planner's splices (hidden select items, rewritten ORDER BY / LIMIT, removed HAVING).

use crate::plan::rewrite::Edits;

use super::clauses::Clauses;

#[derive(Debug, Clone)]
pub(crate) enum Piece {
    Text(String),
    /// A range of the original text, rendered with the shard's identifier edits.
    Src(usize, usize),
}

/// Replace `[start, end)` (empty for an insertion) with `pieces`.
#[derive(Debug, Clone)]
pub(crate) struct Splice {
    pub start: usize,
    pub end: usize,
    pub pieces: Vec<Piece>,
}

pub(crate) fn render(
    sql: &str,
    edits: &Edits<'_>,
    splices: &[Splice],
    shard: Option<u32>,
    schema: &str,
) -> String {
    let mut out = String::with_capacity(sql.len() + 64);
    let mut pos = 0;
    for sp in splices {
        edits.render_range(sql, pos, sp.start, shard, schema, &mut out);
        for p in &sp.pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Src(s, e) => edits.render_copy(sql, *s, *e, shard, schema, &mut out),
            }
        }
        pos = sp.end;
    }
    edits.render_range(sql, pos, sql.len(), shard, schema, &mut out);
    out
}

/// Puts `pieces` where the statement's ORDER BY is (else where its LIMIT is, else at its end)
/// and drops its LIMIT: each shard orders as the merge needs, and the proxy applies the limit
/// after merging.
pub(crate) fn replace_order_and_limit(splices: &mut Vec<Splice>, cl: &Clauses, pieces: Vec<Piece>) {
    match (cl.order, cl.limit) {
        (Some(o), l) => {
            splices.push(Splice {
                start: o.start,
                end: o.end,
                pieces,
            });
            if let Some(l) = l {
                splices.push(Splice {
                    start: l.start,
                    end: l.end,
                    pieces: vec![],
                });
            }
        }
        (None, Some(l)) => splices.push(Splice {
            start: l.start,
            end: l.end,
            pieces,
        }),
        (None, None) if !pieces.is_empty() => {
            let mut at_end = vec![Piece::Text(" ".into())];
            at_end.extend(pieces);
            splices.push(Splice {
                start: cl.tail,
                end: cl.tail,
                pieces: at_end,
            });
        }
        (None, None) => {}
    }
}
