//! INSERT and REPLACE (parsed path).
//!
//! Into a sharded table, every row must name its shard key as a literal: a single-shard
//! statement goes as written (table renamed); a multi-row INSERT touching several shards is
//! split into one INSERT per shard, each made of the original text before the first row,
//! that shard's rows (their original text, joined by ","), and the original text after the
//! last row (`ON DUPLICATE KEY UPDATE ...`, which must not assign the key).
//!
//! Into an unsharded table the statement goes to the default group; an `INSERT ... SELECT`
//! reading sharded tables is then routed like the SELECT (its shards must be in the default
//! group). `INSERT ... SELECT` into a sharded table runs on the shards the SELECT reads when
//! the key it inserts is the key column of a bound table it reads (see `insert_select`), and
//! is refused otherwise.

use sqlparser::ast::{
    Expr, Ident, Insert, OnInsert, Query, SelectItem, SetExpr, Statement, TableFactor, TableObject,
};
use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::{Token, TokenWithSpan};

use super::collect::Collector;
use super::columns::ColumnsWanted;
use super::dml::{assignment_names, copies_reason, refuse_key_assignment, walk, Assigning};
use super::everywhere::{check_copy_sources, check_no_returning, every_group};
use super::literal::{literal, shard_of, Literal};
use super::names::write_ident;
use super::rewrite::EditKind;
use super::route::{group_of, group_schema, route};
use super::tables::{name_parts, resolve, Layout, Resolved};
use super::{Plan, PlanContext, ResultRewrite, Route, Target};
use crate::config::model::{ShardSpec, TableRule};
use crate::error::{Error, Result};
use crate::keygen;

pub(crate) fn plan(
    root: &Statement,
    ins: &Insert,
    sql: &str,
    tokens: &[TokenWithSpan],
    ctx: &PlanContext<'_>,
    is_write: bool,
) -> Result<Plan> {
    let mut c = Collector::new(ctx, sql, "an INSERT");
    c.expect_main_query();
    let TableObject::TableName(name) = &ins.table else {
        return Err(Error::unsupported(
            "INSERT INTO a table function".to_string(),
        ));
    };
    for col in &ins.columns {
        if let Some(last) = col.0.last().and_then(|p| p.as_ident()) {
            c.mark_handled(last);
        }
    }
    assignment_names(&mut c, &ins.assignments)?;
    if let Some(OnInsert::DuplicateKeyUpdate(a)) = &ins.on {
        assignment_names(&mut c, a)?;
    }
    let parts = name_parts(name)?;
    let layout = match resolve(ctx, &parts, |_| false)? {
        Resolved::Table { layout, .. } => layout,
        _ => Layout::Unsharded,
    };
    if matches!(layout, Layout::Sharded(..)) && select_source(ins).is_some() {
        // Each shard may run the INSERT ... SELECT over its own rows (see `insert_select`).
        c.scatter_unkeyed = true;
    }
    walk(root, &mut c)?;
    match layout {
        Layout::Broadcast(rule) if is_write => {
            check_copy_sources(&c, rule)?;
            check_no_returning(ins.returning.is_some(), rule)?;
            c.finish(tokens)?;
            every_group(&c, true, copies_reason(rule))
        }
        // `resolve` refused physical shard names already; the walk registered the table.
        Layout::Unsharded | Layout::Broadcast(_) | Layout::PhysicalShard(_) => {
            c.finish(tokens)?;
            route(&c, is_write)
        }
        Layout::Sharded(rule, spec) => sharded(&mut c, ins, rule, spec, tokens, is_write),
    }
}

fn sharded(
    c: &mut Collector<'_, '_>,
    ins: &Insert,
    rule: &TableRule,
    spec: &ShardSpec,
    tokens: &[TokenWithSpan],
    is_write: bool,
) -> Result<Plan> {
    let key = spec.shard_key.as_str();
    let table = rule.name.as_str();
    if let Some(select) = select_source(ins) {
        return insert_select(c, ins, select, rule, spec, tokens, is_write);
    }
    if !c.blocks.is_empty()
        || c.sharded.len() > 1
        || c.unsharded.is_some()
        || c.broadcast.is_some()
        || c.system
    {
        return Err(Error::unsupported(format!(
            "an INSERT into sharded table '{table}' that reads other tables (INSERT ... SELECT \
             or a subquery)"
        )));
    }
    if let Some(OnInsert::DuplicateKeyUpdate(a)) = &ins.on {
        refuse_key_assignment(c, a, Assigning::OnDuplicate).map_err(|_| {
            Error::unsupported(format!(
                "ON DUPLICATE KEY UPDATE that changes the shard key ({key}) of sharded table \
                 '{table}'"
            ))
        })?;
    } else if ins.on.is_some() {
        return Err(Error::unsupported(format!(
            "this ON ... clause on sharded table '{table}'"
        )));
    }
    c.finish(tokens)?;

    let no_key = || {
        Error::unsupported(format!(
            "an INSERT into sharded table '{table}' without the shard key column ({key})"
        ))
    };
    // INSERT ... SET key = value, ...: one row.
    if ins.source.is_none() {
        let assigned = |name: &str| {
            ins.assignments.iter().find(|a| match &a.target {
                sqlparser::ast::AssignmentTarget::ColumnName(n) => {
                    n.0.last()
                        .and_then(|p| p.as_ident())
                        .is_some_and(|i| i.value.eq_ignore_ascii_case(name))
                }
                _ => false,
            })
        };
        let generated = match &spec.key_generator {
            Some(g) if assigned(&g.column).is_none() => {
                Some((generate_set_id(c, ins, &g.column, table)?, g))
            }
            _ => None,
        };
        let shard = match (assigned(key), generated) {
            (Some(value), _) => row_shard(&value.value, spec, table, 1)?,
            (None, Some((id, g))) if g.column.eq_ignore_ascii_case(key) => {
                shard_of(Literal::Int(i128::from(id)), spec, table)?.ok_or_else(no_key)?
            }
            _ => return Err(no_key()),
        };
        let mut plan = one_shard(c, rule, spec, shard, is_write)?;
        if let Plan::Route(r) = &mut plan {
            r.generated_id = generated.map(|(id, _)| id);
        }
        return Ok(plan);
    }
    let source = ins.source.as_deref().expect("checked");
    let SetExpr::Values(values) = &*source.body else {
        return Err(Error::unsupported(format!(
            "INSERT ... SELECT into sharded table '{table}'"
        )));
    };
    if source.with.is_some() || source.order_by.is_some() || source.limit_clause.is_some() {
        return Err(Error::unsupported(format!(
            "this INSERT form on sharded table '{table}'"
        )));
    }
    let names = |col: &sqlparser::ast::ObjectName, name: &str| {
        col.0
            .last()
            .and_then(|p| p.as_ident())
            .is_some_and(|i| i.value.eq_ignore_ascii_case(name))
    };
    let (key_idx, generated) = if ins.columns.is_empty() {
        // Every column in table order: no generated column, the key where the table has it.
        (Some(table_order_key(c, rule, spec, tokens)?), None)
    } else {
        let key_idx = ins.columns.iter().position(|col| names(col, key));
        // The proxy fills a key generator's column that the column list leaves out.
        let generated = match &spec.key_generator {
            Some(g) if !ins.columns.iter().any(|col| names(col, &g.column)) => {
                Some(generate_ids(c, ins, values, &g.column, table)?)
            }
            _ => None,
        };
        (key_idx, generated)
    };
    // Without the key in the list, only a generated key can place the rows.
    let key_is_generated = generated.is_some()
        && spec
            .key_generator
            .as_ref()
            .is_some_and(|g| g.column.eq_ignore_ascii_case(key));
    if key_idx.is_none() && !key_is_generated {
        return Err(no_key());
    }

    // Shard of each row, and the rows of each shard.
    let mut shards: Vec<u32> = Vec::with_capacity(values.rows.len());
    for (n, row) in values.rows.iter().enumerate() {
        let Some(key_idx) = key_idx else {
            // The generated id is the shard key.
            let id = generated.as_ref().and_then(|ids| ids.get(n)).copied();
            let lit = id.map_or(Literal::Null, |id| Literal::Int(i128::from(id)));
            shards.push(shard_of(lit, spec, table)?.ok_or_else(no_key)?);
            continue;
        };
        let Some(expr) = row.content.get(key_idx) else {
            return Err(Error::unsupported(format!(
                "an INSERT into sharded table '{table}' whose row {} has no value for the shard \
                 key ({key})",
                n + 1
            )));
        };
        shards.push(row_shard(expr, spec, table, n + 1)?);
    }
    let generated_id = generated.as_ref().and_then(|ids| ids.first().copied());
    let first = shards.first().copied().ok_or_else(no_key)?;
    if shards.iter().all(|&s| s == first) {
        let mut plan = one_shard(c, rule, spec, first, is_write)?;
        if let Plan::Route(r) = &mut plan {
            r.generated_id = generated_id;
        }
        return Ok(plan);
    }

    // Split: one statement per shard.
    let mut ranges = Vec::with_capacity(values.rows.len());
    for row in &values.rows {
        let start = c.offsets.byte(row.opening_token.0.span.start);
        let end = c.offsets.byte(row.closing_token.0.span.end);
        let (Some(mut start), Some(end)) = (start, end) else {
            return Err(unlocatable(table));
        };
        if values.explicit_row {
            start = row_keyword_start(c.sql, start).ok_or_else(|| unlocatable(table))?;
        }
        // The span must cover exactly `(...)` (or `ROW(...)`), after the previous row.
        let text = c.sql.get(start..end).unwrap_or_default();
        if !(text.starts_with('(') || values.explicit_row)
            || !text.ends_with(')')
            || ranges.last().is_some_and(|&(_, e)| e > start)
        {
            return Err(unlocatable(table));
        }
        ranges.push((start, end));
    }
    let (prefix_end, suffix_start) = (ranges[0].0, ranges[ranges.len() - 1].1);
    let mut order: Vec<u32> = shards.clone();
    order.sort_unstable();
    order.dedup();
    let db =
        c.db.ok_or_else(|| Error::Internal("INSERT without a database".into()))?;
    let mut targets = Vec::with_capacity(order.len());
    for &s in &order {
        let group = group_of(db, spec.placement.get(s as usize).copied())?;
        let schema = group_schema(db, group)?;
        let mut out = String::with_capacity(c.sql.len());
        c.edits
            .render_range(c.sql, 0, prefix_end, Some(s), schema, &mut out);
        let mut first_row = true;
        for (i, &(rs, re)) in ranges.iter().enumerate() {
            if shards[i] != s {
                continue;
            }
            if !first_row {
                out.push(',');
            }
            first_row = false;
            c.edits
                .render_range(c.sql, rs, re, Some(s), schema, &mut out);
        }
        c.edits
            .render_range(c.sql, suffix_start, c.sql.len(), Some(s), schema, &mut out);
        targets.push(Target {
            group,
            shard: Some(s),
            sql: out,
        });
    }
    let list = order
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    Ok(Plan::Route(Route {
        db: db.clone(),
        targets,
        is_write,
        result_rewrite: ResultRewrite::Columns,
        spread: Default::default(),
        reason: format!("{key} values select shards {list} of '{table}': one INSERT per shard"),
        generated_id,
        all_shards: false,
        first_row_target: order.binary_search(&shards[0]).map_or(0, |i| i as u32),
    }))
}

/// The SELECT of an `INSERT ... SELECT` (not of `INSERT ... VALUES`).
fn select_source(ins: &Insert) -> Option<&Query> {
    ins.source
        .as_deref()
        .filter(|q| !matches!(*q.body, SetExpr::Values(_)))
}

/// `INSERT INTO t (..., k, ...) SELECT ...` into sharded table `t`: each inserted row's
/// shard is that of the value selected for its key `k`. When that value is the key column of
/// a table of `t`'s bind family read by the SELECT, every row the SELECT reads on a shard
/// is inserted on the same shard, so the statement runs on each shard the SELECT needs (all
/// of them without a key condition), with its tables renamed for that shard. Anything else
/// could put rows on the wrong shard: refused.
fn insert_select(
    c: &mut Collector<'_, '_>,
    ins: &Insert,
    select: &Query,
    rule: &TableRule,
    spec: &ShardSpec,
    tokens: &[TokenWithSpan],
    is_write: bool,
) -> Result<Plan> {
    let (key, table) = (spec.shard_key.as_str(), rule.name.as_str());
    let refuse = |why: &str| {
        Err(Error::unsupported(format!(
            "INSERT ... SELECT into sharded table '{table}' {why}: the inserted rows could \
             belong to other shards than the ones the SELECT reads"
        )))
    };
    let Some(key_idx) = ins.columns.iter().position(|col| {
        col.0
            .last()
            .and_then(|p| p.as_ident())
            .is_some_and(|i| i.value.eq_ignore_ascii_case(key))
    }) else {
        return refuse(&format!("without its shard key ({key}) in the column list"));
    };
    let SetExpr::Select(sel) = &*select.body else {
        return refuse("whose source is not one SELECT");
    };
    let item = match sel.projection.get(key_idx) {
        Some(SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. }) => e,
        _ => return refuse(&format!("whose SELECT list has no plain column for {key}")),
    };
    let (qualifier, column) = match item {
        Expr::Identifier(i) => (None, i),
        Expr::CompoundIdentifier(parts) => match parts.as_slice() {
            [.., q, col] => (Some(q), col),
            _ => return refuse(&format!("whose value for {key} is not a column")),
        },
        _ => {
            return refuse(&format!(
                "whose value for {key} is not the shard key column of a table it reads"
            ))
        }
    };
    // The FROM's sharded tables, by name and alias.
    let mut sources: Vec<(&Ident, Option<&Ident>, &ShardSpec)> = Vec::new();
    for twj in &sel.from {
        for f in std::iter::once(&twj.relation).chain(twj.joins.iter().map(|j| &j.relation)) {
            if let TableFactor::Table { name, alias, .. } = f {
                let Some(t) = name.0.last().and_then(|p| p.as_ident()) else {
                    continue;
                };
                if let Some((_, s)) = c
                    .sharded
                    .iter()
                    .find(|(r, _)| r.name.eq_ignore_ascii_case(&t.value))
                {
                    sources.push((t, alias.as_ref().map(|a| &a.name), s));
                }
            }
        }
    }
    let from_key = sources.iter().filter(|(t, alias, s)| {
        let named = match qualifier {
            None => true,
            Some(q) => alias.unwrap_or(t).value.eq_ignore_ascii_case(&q.value),
        };
        named && s.family == spec.family && s.shard_key.eq_ignore_ascii_case(&column.value)
    });
    let ok = match qualifier {
        None => sources.len() == 1 && from_key.count() == 1,
        Some(_) => from_key.count() == 1,
    };
    if !ok {
        return refuse(&format!(
            "whose value for {key} is not the shard key column of a table of its bind family \
             in the SELECT's FROM"
        ));
    }
    if let Some(OnInsert::DuplicateKeyUpdate(a)) = &ins.on {
        refuse_key_assignment(c, a, Assigning::OnDuplicate)?;
    }
    c.finish(tokens)?;
    route(c, is_write)
}

fn one_shard(
    c: &Collector<'_, '_>,
    rule: &TableRule,
    spec: &ShardSpec,
    shard: u32,
    is_write: bool,
) -> Result<Plan> {
    let db =
        c.db.ok_or_else(|| Error::Internal("INSERT without a database".into()))?;
    let group = group_of(db, spec.placement.get(shard as usize).copied())?;
    let schema = group_schema(db, group)?;
    Ok(super::route::single(
        db,
        group,
        Some(shard),
        c.edits.render(c.sql, Some(shard), schema),
        is_write,
        format!(
            "{} selects shard {shard} of '{}'",
            spec.shard_key, rule.name
        ),
    ))
}

/// `INSERT INTO t VALUES (...)` without a column list: the key's position in the table's
/// column order (read from shard 0, see `columns`), and the column list spelled out in the
/// text sent, so a table whose columns changed behind the proxy rejects the rows instead of
/// storing their values in other columns.
fn table_order_key(
    c: &mut Collector<'_, '_>,
    rule: &TableRule,
    spec: &ShardSpec,
    tokens: &[TokenWithSpan],
) -> Result<usize> {
    let (key, table) = (spec.shard_key.as_str(), rule.name.as_str());
    let no_list = || {
        Error::unsupported(format!(
            "an INSERT into sharded table '{table}' without a column list naming the shard key \
             ({key})"
        ))
    };
    let db =
        c.db.ok_or_else(|| Error::Internal("INSERT without a database".into()))?;
    let orders = c.ctx.columns.ok_or_else(no_list)?;
    let columns = orders.get_or_ask(ColumnsWanted::shard_zero(db, table, spec)?)?;
    let key_idx = columns
        .iter()
        .position(|col| col.eq_ignore_ascii_case(key))
        .ok_or_else(|| {
            Error::unsupported(format!(
                "an INSERT into sharded table '{table}', whose shard 0 has no shard key column \
                 ({key})"
            ))
        })?;
    let values_at = tokens
        .iter()
        .find_map(|t| match &t.token {
            Token::Word(w)
                if w.quote_style.is_none()
                    && matches!(w.keyword, Keyword::VALUES | Keyword::VALUE) =>
            {
                c.offsets.byte(t.span.start)
            }
            _ => None,
        })
        .ok_or_else(no_list)?;
    let mut list = String::from("(");
    for (i, col) in columns.iter().enumerate() {
        if i > 0 {
            list.push_str(", ");
        }
        write_ident(&mut list, col, true);
    }
    list.push_str(") ");
    c.edits.push(values_at, values_at, EditKind::Text(list));
    c.edits.finish()?;
    Ok(key_idx)
}

/// Adds the generated column to the column list and one new id to each row (as edits of
/// the text); the ids in row order.
fn generate_ids(
    c: &mut Collector<'_, '_>,
    ins: &Insert,
    values: &sqlparser::ast::Values,
    column: &str,
    table: &str,
) -> Result<Vec<u64>> {
    let first_col = ins
        .columns
        .first()
        .and_then(|col| col.0.first())
        .and_then(|p| p.as_ident())
        .and_then(|i| c.offsets.byte(i.span.start))
        .ok_or_else(|| unlocatable(table))?;
    let ids = keygen::next_ids(values.rows.len());
    c.edits.push(
        first_col,
        first_col,
        EditKind::Text(format!("`{column}`, ")),
    );
    for (row, id) in values.rows.iter().zip(&ids) {
        let open = c
            .offsets
            .byte(row.opening_token.0.span.end)
            .filter(|&at| c.sql.as_bytes().get(at.wrapping_sub(1)) == Some(&b'('))
            .ok_or_else(|| unlocatable(table))?;
        c.edits.push(open, open, EditKind::Text(format!("{id}, ")));
    }
    c.edits.finish()?;
    Ok(ids)
}

/// `INSERT ... SET a = 1, ...` without the generated column: adds `` `id` = <new id>, ``
/// before the first assignment.
fn generate_set_id(
    c: &mut Collector<'_, '_>,
    ins: &Insert,
    column: &str,
    table: &str,
) -> Result<u64> {
    let first = ins
        .assignments
        .first()
        .and_then(|a| match &a.target {
            sqlparser::ast::AssignmentTarget::ColumnName(n) => n.0.first(),
            _ => None,
        })
        .and_then(|p| p.as_ident())
        .and_then(|i| c.offsets.byte(i.span.start))
        .ok_or_else(|| unlocatable(table))?;
    let id = keygen::next_id();
    c.edits
        .push(first, first, EditKind::Text(format!("`{column}` = {id}, ")));
    c.edits.finish()?;
    Ok(id)
}

/// The shard of one row's key expression (`n` is the 1-based row number for messages).
pub(crate) fn row_shard(
    expr: &sqlparser::ast::Expr,
    spec: &ShardSpec,
    table: &str,
    n: usize,
) -> Result<u32> {
    let lit = literal(expr).ok_or_else(|| {
        Error::unsupported(format!(
            "an INSERT into sharded table '{table}' whose shard key ({}) is not a literal in \
             row {n}",
            spec.shard_key
        ))
    })?;
    shard_of(lit, spec, table)?.ok_or_else(|| {
        Error::BadShardKey(format!(
            "shard key {} of table '{table}' is NULL in row {n}: such a row has no shard",
            spec.shard_key
        ))
    })
}

/// With `VALUES ROW(...)`, a row's text starts at the ROW keyword before its parenthesis.
fn row_keyword_start(sql: &str, paren: usize) -> Option<usize> {
    let before = sql.get(..paren)?.trim_end();
    let start = before.len().checked_sub(3)?;
    before
        .get(start..)
        .is_some_and(|w| w.eq_ignore_ascii_case("ROW"))
        .then_some(start)
}

fn unlocatable(table: &str) -> Error {
    Error::unsupported(format!(
        "a multi-row INSERT into sharded table '{table}' whose rows shardgate cannot locate in \
         the text"
    ))
}
