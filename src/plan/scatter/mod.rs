//! Planning a SELECT over several shards whose rows the proxy must merge: ORDER BY, LIMIT,
//! aggregates, GROUP BY / HAVING, DISTINCT. The result is the text each shard runs (the
//! client's statement with spliced additions) and a `MergeSpec` saying how the proxy
//! combines the shards' rows into what one unsharded server would answer. Whatever cannot be
//! combined exactly is refused here, naming the construct.
//!
//! Shard text changes, always as splices of the original text:
//! - hidden select items appended before FROM: `WEIGHT_STRING(..expr..)` for every
//!   ordering key (text is merged in its collation by comparing these bytes; trailing
//!   spaces trimmed unless the collation is NO PAD: `columns::weight_pieces`), ORDER BY / GROUP BY
//!   expressions missing from the select list, `SUM(x), COUNT(x)` for `AVG(x)`;
//! - LIMIT m,n becomes LIMIT m+n (rows) or goes away (groups are combined at the proxy);
//! - with grouping at the proxy, ORDER BY becomes the group keys and HAVING goes away.

mod aggregate;
mod clauses;
mod columns;
mod count_distinct;
mod having;
mod lists;
mod nullable;
mod splice;

use sqlparser::ast::{Distinct, Expr, GroupByExpr, OrderByKind, Query, SetExpr};

use self::aggregate::{shape, AggShape};
use self::count_distinct::count_distinct;
use self::lists::{limits, list_ranges};
pub(crate) use self::splice::{render, Piece, Splice};
use super::column_sorts::TableSorts;
use super::merge::{Agg, Col, Grouping, MergeSpec, SortKey};
use crate::config::model::{ShardSpec, TableRule};
use crate::error::{Error, Result};

/// Features the walk flags that no merge can make exact. (SQL_CALC_FOUND_ROWS is flagged
/// too but merges: each shard keeps it and execution sums their counts, see
/// `execute::found_rows`.)
pub(crate) const NEVER: &[&str] = &[
    "UNION",
    "EXCEPT",
    "INTERSECT",
    "MINUS",
    "a window function",
    "SELECT ... INTO",
];

pub(crate) struct ScatterPlan {
    pub merge: MergeSpec,
    pub splices: Vec<Splice>,
}

pub(crate) struct Item {
    range: (usize, usize),
    norm: String,
    alias: Option<String>,
    wildcard: bool,
    expr: Option<Expr>,
}

pub(crate) struct Planner<'q> {
    sql: &'q str,
    table: String,
    shard_key: String,
    /// Names a qualified shard key may use (table names and aliases of sharded tables).
    key_qualifiers: Vec<String>,
    /// Names of tables an outer join pads with NULLs (see `nullable`).
    nullable: Vec<String>,
    items: Vec<Item>,
    hidden: Vec<Vec<Piece>>,
    toks: Vec<super::lexer::Token>,
    /// The sharded table's column names (or `Error::NeedColumns`), asked only when a GROUP BY
    /// name may be a column; None when FROM holds more than that one table.
    columns_of_table: Option<&'q dyn Fn() -> Result<std::sync::Arc<[String]>>>,
    /// How the sharded table's columns sort, when learned (`plan::column_sorts`) and FROM
    /// holds that one table only: a key that is such a column asks no weight.
    sorts: Option<std::sync::Arc<TableSorts>>,
    /// GROUP BY names that are columns though a select item has the name too, and the hidden
    /// copies holding them: HAVING takes such a name as the column as well.
    grouped_columns: Vec<(String, Col)>,
    /// A GROUP BY key is such a column (so the shards' ORDER BY cannot name it by its text).
    shadowed_group_column: bool,
}

/// FROM names one table and nothing else (no join, no derived table): the sharded one.
fn only_table(sel: &sqlparser::ast::Select) -> bool {
    matches!(sel.from.as_slice(), [only] if only.joins.is_empty()
        && matches!(only.relation, sqlparser::ast::TableFactor::Table { .. }))
}

fn refuse(what: impl std::fmt::Display, table: &str) -> Error {
    Error::unsupported(format!(
        "{what} in a query over several shards of sharded table '{table}'"
    ))
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn plan(
    sql: &str,
    q: &Query,
    blocker: Option<&'static str>,
    rule: &TableRule,
    spec: &ShardSpec,
    key_qualifiers: Vec<String>,
    columns_of_table: &dyn Fn() -> Result<std::sync::Arc<[String]>>,
    sorts: Option<std::sync::Arc<TableSorts>>,
) -> Result<ScatterPlan> {
    let table = rule.name.as_str();
    if let Some(b) = blocker.filter(|b| NEVER.contains(b)) {
        return Err(refuse(b, table));
    }
    let SetExpr::Select(sel) = &*q.body else {
        return Err(refuse("a set operation (UNION, ...)", table));
    };
    if super::lexer::significant(sql).any(|t| t.text(sql) == ":" || t.text(sql) == ":=") {
        return Err(refuse("a user variable assignment (:=)", table));
    }
    if q.fetch.is_some() {
        return Err(refuse("FETCH", table));
    }
    let cl = clauses::scan(sql)?;
    if cl.rollup {
        return Err(refuse("WITH ROLLUP", table));
    }
    if cl.items.len() != sel.projection.len() {
        return Err(refuse("a select list shardgate cannot split", table));
    }
    let mut p = Planner {
        sql,
        table: table.to_string(),
        shard_key: spec.shard_key.clone(),
        key_qualifiers,
        nullable: nullable::nullable_tables(q),
        items: Vec::new(),
        hidden: Vec::new(),
        toks: cl.toks.clone(),
        columns_of_table: only_table(sel).then_some(columns_of_table),
        sorts: sorts.filter(|_| only_table(sel)),
        grouped_columns: Vec::new(),
        shadowed_group_column: false,
    };
    for (range, item) in cl.items.iter().zip(&sel.projection) {
        p.items.push(p.item(*range, item)?);
    }
    let (offset, limit) = limits(q, table)?;
    let distinct = match &sel.distinct {
        None | Some(Distinct::All) => false,
        Some(Distinct::Distinct) => true,
        Some(Distinct::On(_)) => return Err(refuse("DISTINCT ON", table)),
    };
    let group_exprs: Vec<Expr> = match &sel.group_by {
        GroupByExpr::All(_) => return Err(refuse("GROUP BY ALL", table)),
        GroupByExpr::Expressions(e, m) if m.is_empty() => e.clone(),
        GroupByExpr::Expressions(..) => return Err(refuse("GROUP BY modifiers", table)),
    };
    let mut shapes = Vec::new();
    for it in &p.items {
        shapes.push(match &it.expr {
            Some(e) => shape(e),
            None => AggShape::NotAggregate,
        });
    }
    for s in &shapes {
        if let AggShape::Unmergeable(what) = s {
            return Err(refuse(what, table));
        }
    }
    let any_agg = shapes.iter().any(|s| matches!(s, AggShape::Simple { .. }));
    let order_exprs: Vec<(Expr, bool)> = match q.order_by.as_ref().map(|o| &o.kind) {
        None => Vec::new(),
        Some(OrderByKind::All(_)) => return Err(refuse("ORDER BY ALL", table)),
        Some(OrderByKind::Expressions(v)) => v
            .iter()
            .map(|o| {
                (
                    o.expr.clone(),
                    matches!(o.options.sort, Some(sqlparser::ast::OrderBySort::Desc)),
                )
            })
            .collect(),
    };
    for (e, _) in &order_exprs {
        if let AggShape::Unmergeable(what) = shape(e) {
            return Err(refuse(what, table));
        }
    }
    let order_ranges = match cl.order {
        Some(o) => list_ranges(sql, &cl.toks, o.body, o.end, order_exprs.len(), table)?,
        None => Vec::new(),
    };
    let group_ranges = match cl.group {
        Some(g) => list_ranges(sql, &cl.toks, g.body, g.end, group_exprs.len(), table)?,
        None => Vec::new(),
    };

    if let Some(plan) =
        count_distinct(&p, &cl, &shapes, &group_exprs, distinct, sel, offset, limit)?
    {
        return calc_found_rows_countable(sql, plan, table);
    }
    // Shard-local groups can run whole on the shards only when nothing above them needs
    // rows of other shards: DISTINCT over them must see the key too (rows of different
    // shards then differ in it), else equal rows of two shards would both come back.
    let key_selected = p
        .items
        .iter()
        .any(|i| i.expr.as_ref().is_some_and(|e| p.is_local_key(e)));
    let pushdown = (!group_exprs.is_empty()
        && group_exprs.iter().any(|e| p.is_local_key(e))
        && (!distinct || key_selected))
        || (group_exprs.is_empty() && distinct && !any_agg && key_selected);
    // HAVING without aggregates filters single rows (like WHERE) and stays on the shards.
    let having_agg = sel.having.as_ref().is_some_and(contains_agg);
    let order_agg = order_exprs.iter().any(|(e, _)| contains_agg(e));
    let rows_mode =
        pushdown || (!any_agg && !having_agg && !order_agg && group_exprs.is_empty() && !distinct);

    let mut splices = Vec::new();
    let mut merge = MergeSpec {
        table: table.to_string(),
        offset,
        limit,
        ..MergeSpec::default()
    };
    if rows_mode {
        if pushdown && !group_exprs.is_empty() && order_exprs.is_empty() {
            // MariaDB returns groups sorted by their keys; keep that order across shards.
            let mut cols = Vec::new();
            for (e, range) in group_exprs.iter().zip(&group_ranges) {
                let col = p.resolve_group_key(e, *range)?;
                let weight = p.weight_of(col, *range);
                merge.order.push(SortKey {
                    col,
                    weight,
                    desc: false,
                });
                cols.push(col);
            }
            let g = cl.group.expect("GROUP BY clause");
            let at = cl.limit.map_or(cl.tail, |l| l.start);
            splices.push(Splice {
                start: at,
                end: at,
                pieces: vec![
                    Piece::Text(" ORDER BY ".into()),
                    p.order_of_keys(&cols, (g.body, g.end))?,
                    Piece::Text(" ".into()),
                ],
            });
        }
        for ((e, desc), range) in order_exprs.iter().zip(&order_ranges) {
            let col = p.resolve(e, *range, true)?;
            let weight = p.weight_of(col, *range);
            merge.order.push(SortKey {
                col,
                weight,
                desc: *desc,
            });
        }
        if let Some(l) = cl.limit {
            let text = match limit {
                Some(n) => format!("LIMIT {}", offset.saturating_add(n)),
                None => String::new(),
            };
            splices.push(Splice {
                start: l.start,
                end: l.end,
                pieces: vec![Piece::Text(text)],
            });
        }
    } else {
        if p.items.iter().any(|i| i.wildcard) {
            return Err(refuse(
                "SELECT * with aggregates, GROUP BY or DISTINCT",
                table,
            ));
        }
        // Group keys: GROUP BY, or every select item for DISTINCT.
        let mut keys = Vec::new();
        let mut key_text: Vec<Piece> = Vec::new();
        if !group_exprs.is_empty() {
            if distinct {
                return Err(refuse("DISTINCT with GROUP BY", table));
            }
            for (e, range) in group_exprs.iter().zip(&group_ranges) {
                if contains_agg(e) {
                    return Err(refuse("an aggregate in GROUP BY", table));
                }
                let col = p.resolve_group_key(e, *range)?;
                let weight = p.weight_of(col, *range);
                keys.push(SortKey {
                    col,
                    weight,
                    desc: false,
                });
            }
            let g = cl.group.expect("GROUP BY clause");
            let cols: Vec<Col> = keys.iter().map(|k| k.col).collect();
            key_text.push(p.order_of_keys(&cols, (g.body, g.end))?);
        } else if distinct {
            if any_agg {
                return Err(refuse("DISTINCT with aggregates", table));
            }
            for i in 0..p.items.len() {
                let range = p.items[i].range;
                let weight = p.weight_of(Col::Visible(i), range);
                keys.push(SortKey {
                    col: Col::Visible(i),
                    weight,
                    desc: false,
                });
            }
            let positions: Vec<String> = (1..=p.items.len()).map(|i| i.to_string()).collect();
            key_text.push(Piece::Text(positions.join(", ")));
        }
        let grouped = !keys.is_empty();
        let mut aggs = Vec::new();
        for (i, s) in shapes.iter().enumerate() {
            match s {
                AggShape::Simple {
                    kind,
                    distinct,
                    arg,
                } => {
                    aggs.push(p.agg(Col::Visible(i), *kind, *distinct, arg.as_deref())?);
                }
                AggShape::NotAggregate if !grouped => {
                    let literal = matches!(p.items[i].expr, Some(Expr::Value(_)));
                    if !literal {
                        return Err(refuse(
                            "a column that is neither aggregated nor grouped next to aggregates",
                            table,
                        ));
                    }
                }
                _ => {}
            }
        }
        // ORDER BY after grouping: computed at the proxy on combined rows.
        for ((e, desc), range) in order_exprs.iter().zip(&order_ranges) {
            let col = match shape(e) {
                AggShape::Simple {
                    kind,
                    distinct,
                    arg,
                } => match p.find_item(e, *range) {
                    Some(c) => c,
                    None => {
                        let col = p.add_hidden(vec![Piece::Src(range.0, range.1)]);
                        aggs.push(p.agg(col, kind, distinct, arg.as_deref())?);
                        col
                    }
                },
                _ => p.resolve(e, *range, true)?,
            };
            let weight = weight_for(col, &keys, &aggs, &mut p, *range);
            merge.final_order.push(SortKey {
                col,
                weight,
                desc: *desc,
            });
        }
        if let Some(h) = &sel.having {
            merge.having = Some(having::filter(&mut p, h, &mut aggs)?);
        }
        // Shard text: HAVING and LIMIT go, ORDER BY becomes the group keys.
        if let Some(h) = cl.having {
            splices.push(Splice {
                start: h.start,
                end: h.end,
                pieces: vec![],
            });
        }
        let mut order_pieces = Vec::new();
        if grouped {
            order_pieces.push(Piece::Text("ORDER BY ".into()));
            order_pieces.extend(key_text);
        }
        splice::replace_order_and_limit(&mut splices, &cl, order_pieces);
        merge.order = keys.clone();
        merge.group = Some(Grouping { keys, aggs });
    }

    merge.hidden = p.hidden.len();
    if !p.hidden.is_empty() {
        let mut pieces = Vec::new();
        for h in std::mem::take(&mut p.hidden) {
            pieces.push(Piece::Text(", ".into()));
            pieces.extend(h);
        }
        pieces.push(Piece::Text(" ".into()));
        splices.push(Splice {
            start: cl.from,
            end: cl.from,
            pieces,
        });
    }
    splices.sort_by_key(|s| (s.start, s.end));
    calc_found_rows_countable(sql, ScatterPlan { merge, splices }, table)
}

/// SQL_CALC_FOUND_ROWS is summed over the shards, which is exact only when every merged row
/// is one shard's row. Refused here, at planning, so that PREPARE refuses it too: the
/// grouped shard query would otherwise reach a server to describe its columns, built around
/// select items that the modifier's position made unreadable (a 1064 about text the client
/// never wrote).
fn calc_found_rows_countable(sql: &str, plan: ScatterPlan, table: &str) -> Result<ScatterPlan> {
    let calc = super::lexer::significant(sql)
        .any(|t| t.kind == super::lexer::Kind::Word && t.is_word(sql, "SQL_CALC_FOUND_ROWS"));
    if calc && (plan.merge.group.is_some() || plan.merge.count_distinct) {
        return Err(Error::unsupported(format!(
            "SQL_CALC_FOUND_ROWS with aggregates, GROUP BY or DISTINCT over several shards of \
             sharded table '{table}' (a group may span shards, so their counts do not add up; \
             use COUNT(*) over the same grouping in a derived table)"
        )));
    }
    Ok(plan)
}

fn contains_agg(e: &Expr) -> bool {
    aggregate::contains_aggregate(e).is_some()
}

/// The weight a final ordering key compares by: a group key's or MIN/MAX's weight, or none
/// for numbers the proxy computed.
fn weight_for(
    col: Col,
    keys: &[SortKey],
    aggs: &[Agg],
    p: &mut Planner<'_>,
    range: (usize, usize),
) -> Option<Col> {
    if let Some(k) = keys.iter().find(|k| k.col == col) {
        return k.weight;
    }
    if let Some(a) = aggs.iter().find(|a| a.col == col) {
        return a.weight;
    }
    p.weight_of(col, range)
}
