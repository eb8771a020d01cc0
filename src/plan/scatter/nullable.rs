//! Tables an outer join may pad with NULLs. Their shard key is NULL in the padded rows, and
//! those rows come from every shard, so groups (or DISTINCT values) of such a key are not
//! shard-local: only the key of a table whose rows are never NULL-extended proves that.

use sqlparser::ast::{JoinOperator, Query, SetExpr, TableFactor, TableWithJoins};

/// Names and aliases of the main SELECT's tables on the nullable side of a LEFT / RIGHT /
/// FULL join.
pub(crate) fn nullable_tables(q: &Query) -> Vec<String> {
    let mut out = Vec::new();
    if let SetExpr::Select(sel) = &*q.body {
        for twj in &sel.from {
            walk(twj, &mut out);
        }
    }
    out
}

/// The names the tables of `twj` go by; the padded ones are added to `nullable` too.
fn walk(twj: &TableWithJoins, nullable: &mut Vec<String>) -> Vec<String> {
    let mut left = names(&twj.relation, nullable);
    for j in &twj.joins {
        let right = names(&j.relation, nullable);
        match &j.join_operator {
            JoinOperator::Left(_) | JoinOperator::LeftOuter(_) => {
                nullable.extend(right.iter().cloned())
            }
            JoinOperator::Right(_) | JoinOperator::RightOuter(_) => {
                nullable.extend(left.iter().cloned())
            }
            JoinOperator::FullOuter(_) => {
                nullable.extend(left.iter().cloned());
                nullable.extend(right.iter().cloned());
            }
            _ => {}
        }
        left.extend(right);
    }
    left
}

fn names(f: &TableFactor, nullable: &mut Vec<String>) -> Vec<String> {
    let mut out = Vec::new();
    match f {
        TableFactor::Table { name, alias, .. } => {
            if let Some(t) = name.0.last().and_then(|p| p.as_ident()) {
                out.push(t.value.clone());
            }
            if let Some(a) = alias {
                out.push(a.name.value.clone());
            }
        }
        TableFactor::Derived { alias: Some(a), .. } => out.push(a.name.value.clone()),
        TableFactor::NestedJoin {
            table_with_joins,
            alias,
        } => {
            out = walk(table_with_joins, nullable);
            if let Some(a) = alias {
                out.push(a.name.value.clone());
            }
        }
        _ => {}
    }
    out
}
