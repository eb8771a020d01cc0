//! SELECT, UPDATE, DELETE (and EXPLAIN of them): walk, check what a write touches, route.
//!
//! Writes are refused where this version cannot make them exact: changing a row's shard key
//! (the row would have to move), and writing a broadcast table (every group must change).

use std::ops::ControlFlow;

use sqlparser::ast::{
    Assignment, AssignmentTarget, Delete, FromTable, Ident, ObjectName, Statement, TableFactor,
    TableWithJoins, Update, UpdateTableFromKind, Visit,
};
use sqlparser::tokenizer::TokenWithSpan;

use super::collect::Collector;
use super::insert;
use super::route::{route, route_query};
use super::tables::{layout_of, name_parts, resolve, Layout, Resolved};
use super::{Plan, PlanContext};
use crate::config::model::TableRule;
use crate::error::{Error, Result};

/// Plans a data statement; `root` is what gets walked (the statement itself, or the EXPLAIN
/// around it).
pub(crate) fn plan(
    root: &Statement,
    stmt: &Statement,
    sql: &str,
    tokens: &[TokenWithSpan],
    ctx: &PlanContext<'_>,
    is_write: bool,
) -> Result<Plan> {
    match stmt {
        Statement::Query(q) => {
            let mut c = Collector::new(ctx, sql, "a query");
            c.expect_main_query();
            walk(root, &mut c)?;
            c.finish(tokens)?;
            // Locking reads (FOR UPDATE, LOCK IN SHARE MODE) must run on the masters.
            let locking = !q.locks.is_empty() || super::parse::is_lock_in_share_mode(sql);
            if std::ptr::eq(root, stmt) {
                route_query(&c, q, is_write || locking)
            } else {
                route(&c, is_write || locking)
            }
        }
        Statement::Update(u) => update(root, u, sql, tokens, ctx, is_write),
        Statement::Delete(d) => delete(root, d, sql, tokens, ctx, is_write),
        Statement::Insert(i) => insert::plan(root, i, sql, tokens, ctx, is_write),
        Statement::Explain {
            statement, analyze, ..
        } => {
            // EXPLAIN runs nothing; EXPLAIN ANALYZE runs the statement.
            let inner_write = *analyze && is_write_statement(statement);
            plan(root, statement, sql, tokens, ctx, inner_write)
        }
        _ => Err(Error::Internal("not a data statement".into())),
    }
}

pub(crate) fn is_write_statement(s: &Statement) -> bool {
    matches!(
        s,
        Statement::Insert(_) | Statement::Update(_) | Statement::Delete(_)
    )
}

/// Walks `root` with `c`, turning a break into the error it carries.
pub(crate) fn walk(root: &Statement, c: &mut Collector<'_, '_>) -> Result<()> {
    match root.visit(c) {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(e) => Err(e),
    }
}

fn update(
    root: &Statement,
    u: &Update,
    sql: &str,
    tokens: &[TokenWithSpan],
    ctx: &PlanContext<'_>,
    is_write: bool,
) -> Result<Plan> {
    let mut c = Collector::new(ctx, sql, "an UPDATE");
    c.statement_is_main();
    let mut from: Vec<&[TableWithJoins]> = vec![std::slice::from_ref(&u.table)];
    if let Some(UpdateTableFromKind::BeforeSet(f) | UpdateTableFromKind::AfterSet(f)) = &u.from {
        from.push(f);
    }
    c.add_block(&from, u.selection.as_ref(), true)?;
    if !u.order_by.is_empty() {
        c.block_multi_shard("ORDER BY");
    }
    if u.limit.is_some() {
        c.block_multi_shard("LIMIT");
    }
    assignment_names(&mut c, &u.assignments)?;
    walk(root, &mut c)?;
    refuse_key_assignment(&c, &u.assignments)?;

    // Which tables are written: those named by the assignments' qualifiers.
    let clause = clause_tables(ctx, &from)?;
    for a in &u.assignments {
        for name in target_names(&a.target) {
            let quals: Vec<&Ident> = name.0.iter().filter_map(|p| p.as_ident()).collect();
            let written: Vec<&ClauseTable<'_, '_>> = match quals.as_slice() {
                [.., q, _col] => clause.iter().filter(|t| t.answers_to(q)).collect(),
                _ => clause.iter().collect(),
            };
            if let Some(b) = written.iter().find_map(|t| t.broadcast) {
                return Err(broadcast_write(b));
            }
        }
    }
    c.finish(tokens)?;
    route(&c, is_write)
}

fn delete(
    root: &Statement,
    d: &Delete,
    sql: &str,
    tokens: &[TokenWithSpan],
    ctx: &PlanContext<'_>,
    is_write: bool,
) -> Result<Plan> {
    let mut c = Collector::new(ctx, sql, "a DELETE");
    c.statement_is_main();
    let (FromTable::WithFromKeyword(f) | FromTable::WithoutKeyword(f)) = &d.from;
    let mut from: Vec<&[TableWithJoins]> = vec![f];
    if let Some(using) = &d.using {
        from.push(using);
    }
    c.add_block(&from, d.selection.as_ref(), true)?;
    if !d.order_by.is_empty() {
        c.block_multi_shard("ORDER BY");
    }
    if d.limit.is_some() {
        c.block_multi_shard("LIMIT");
    }
    let clause = clause_tables(ctx, &from)?;
    if d.tables.is_empty() {
        // Single-table form (or USING form): the FROM tables are the ones deleted from.
        let direct = clause_tables(ctx, &[f.as_slice()])?;
        if let Some(b) = direct.iter().find_map(|t| t.broadcast) {
            return Err(broadcast_write(b));
        }
    } else {
        for name in &d.tables {
            let parts: Vec<Ident> = name
                .0
                .iter()
                .filter_map(|p| p.as_ident().cloned())
                .collect();
            if let Some(last) = parts.last() {
                c.mark_handled(last);
                if let Some(b) = clause
                    .iter()
                    .filter(|t| t.answers_to(last))
                    .find_map(|t| t.broadcast)
                {
                    return Err(broadcast_write(b));
                }
            }
            // `DELETE clinical_data FROM clinical_data ...` names the table: rename it.
            c.add_qualifier(&parts)?;
        }
    }
    walk(root, &mut c)?;
    c.finish(tokens)?;
    route(&c, is_write)
}

/// Qualified assignment targets (`t.col = ...`) need their qualifier renamed like columns.
pub(crate) fn assignment_names(
    c: &mut Collector<'_, '_>,
    assignments: &[Assignment],
) -> Result<()> {
    for a in assignments {
        for name in target_names(&a.target) {
            let parts: Vec<Ident> = name
                .0
                .iter()
                .filter_map(|p| p.as_ident().cloned())
                .collect();
            if let Some((col, quals)) = parts.split_last() {
                c.mark_handled(col);
                c.add_qualifier(quals)?;
            }
        }
    }
    Ok(())
}

/// Refuses assignments to the shard key of any sharded table of the statement: the row would
/// have to move to another shard.
pub(crate) fn refuse_key_assignment(
    c: &Collector<'_, '_>,
    assignments: &[Assignment],
) -> Result<()> {
    for a in assignments {
        for name in target_names(&a.target) {
            let Some(col) = name.0.last().and_then(|p| p.as_ident()) else {
                continue;
            };
            if let Some((rule, spec)) = c
                .sharded
                .iter()
                .find(|(_, spec)| spec.shard_key.eq_ignore_ascii_case(&col.value))
            {
                return Err(Error::unsupported(format!(
                    "{} that changes the shard key ({}) of sharded table '{}': the row would \
                     have to move to another shard",
                    c.noun, spec.shard_key, rule.name
                )));
            }
        }
    }
    Ok(())
}

fn target_names(t: &AssignmentTarget) -> &[ObjectName] {
    match t {
        AssignmentTarget::ColumnName(n) => std::slice::from_ref(n),
        AssignmentTarget::Tuple(v) => v,
    }
}

pub(crate) fn broadcast_write(rule: &TableRule) -> Error {
    Error::unsupported(format!(
        "writes to broadcast table '{}' (they must go to every group)",
        rule.name
    ))
}

/// A table of an UPDATE's or DELETE's table list.
struct ClauseTable<'q, 'a> {
    name: &'q Ident,
    alias: Option<&'q Ident>,
    broadcast: Option<&'a TableRule>,
}

impl ClauseTable<'_, '_> {
    fn answers_to(&self, q: &Ident) -> bool {
        match self.alias {
            Some(a) => a.value.eq_ignore_ascii_case(&q.value),
            None => self.name.value.eq_ignore_ascii_case(&q.value),
        }
    }
}

fn clause_tables<'q, 'a>(
    ctx: &PlanContext<'a>,
    from: &[&'q [TableWithJoins]],
) -> Result<Vec<ClauseTable<'q, 'a>>> {
    fn factor<'q, 'a>(
        ctx: &PlanContext<'a>,
        f: &'q TableFactor,
        out: &mut Vec<ClauseTable<'q, 'a>>,
    ) -> Result<()> {
        match f {
            TableFactor::Table { name, alias, .. } => {
                let parts = name_parts(name)?;
                let broadcast = match resolve(ctx, &parts, |_| false)? {
                    Resolved::Table { db, .. } => match layout_of(db, &parts.table.value) {
                        Layout::Broadcast(rule) => Some(rule),
                        _ => None,
                    },
                    _ => None,
                };
                out.push(ClauseTable {
                    name: parts.table,
                    alias: alias.as_ref().map(|a| &a.name),
                    broadcast,
                });
            }
            TableFactor::NestedJoin {
                table_with_joins, ..
            } => {
                factor(ctx, &table_with_joins.relation, out)?;
                for j in &table_with_joins.joins {
                    factor(ctx, &j.relation, out)?;
                }
            }
            _ => {}
        }
        Ok(())
    }
    let mut out = Vec::new();
    for list in from {
        for twj in *list {
            factor(ctx, &twj.relation, &mut out)?;
            for j in &twj.joins {
                factor(ctx, &j.relation, &mut out)?;
            }
        }
    }
    Ok(out)
}
