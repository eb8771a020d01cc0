//! ORDER BY / GROUP BY lists split into expressions, and LIMIT values.

use sqlparser::ast::{Expr, LimitClause, Query};

use super::clauses::{split_commas, tokens_in};
use super::refuse;
use crate::error::Result;
use crate::plan::lexer::Token;

/// Ranges of a comma-separated list (ORDER BY / GROUP BY) with ASC/DESC dropped.
pub(crate) fn list_ranges(
    sql: &str,
    toks: &[Token],
    from: usize,
    to: usize,
    expect: usize,
    table: &str,
) -> Result<Vec<(usize, usize)>> {
    let toks = tokens_in(toks, from, to);
    let mut out = Vec::new();
    for (s, e) in split_commas(&toks, from, to) {
        let inner: Vec<_> = toks.iter().filter(|t| t.start >= s && t.end <= e).collect();
        let mut end = e;
        if let Some(last) = inner.last() {
            if inner.len() > 1 && (last.is_word(sql, "ASC") || last.is_word(sql, "DESC")) {
                end = inner[inner.len() - 2].end;
            }
        }
        out.push((s, end));
    }
    if out.len() != expect {
        return Err(refuse(
            "an ORDER BY / GROUP BY list shardgate cannot split",
            table,
        ));
    }
    Ok(out)
}

pub(crate) fn limits(q: &Query, table: &str) -> Result<(u64, Option<u64>)> {
    let num = |e: &Expr| -> Result<u64> {
        match e {
            Expr::Value(v) => match &v.value {
                sqlparser::ast::Value::Number(n, _) => n
                    .parse::<u64>()
                    .map_err(|_| refuse(format!("LIMIT {n}"), table)),
                _ => Err(refuse("a LIMIT that is not a number", table)),
            },
            _ => Err(refuse("a LIMIT that is not a number", table)),
        }
    };
    Ok(match &q.limit_clause {
        None => (0, None),
        Some(LimitClause::LimitOffset {
            limit,
            offset,
            limit_by,
        }) => {
            if !limit_by.is_empty() {
                return Err(refuse("LIMIT BY", table));
            }
            let off = match offset {
                Some(o) => num(&o.value)?,
                None => 0,
            };
            let lim = match limit {
                Some(l) => Some(num(l)?),
                None => None,
            };
            (off, lim)
        }
        Some(LimitClause::OffsetCommaLimit { offset, limit }) => (num(offset)?, Some(num(limit)?)),
    })
}
