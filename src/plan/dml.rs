//! SELECT, UPDATE, DELETE (and EXPLAIN of them): walk, check what a write touches, route.
//!
//! An UPDATE or DELETE without a usable shard key condition runs on every shard (or the
//! subset an IN / OR allows) and reports the affected rows summed; with ORDER BY or LIMIT
//! over several shards it is refused, since which rows it picks depends on the order
//! across all shards. A write to a broadcast table runs in every group (`everywhere`).
//! Changing a row's shard key is refused: the row would have to move.

use std::ops::ControlFlow;

use sqlparser::ast::{
    Assignment, AssignmentTarget, Delete, Expr, FromTable, FunctionArg, FunctionArgExpr,
    FunctionArguments, Ident, ObjectName, Statement, TableFactor, TableWithJoins, Update,
    UpdateTableFromKind, Visit,
};
use sqlparser::tokenizer::TokenWithSpan;

use super::collect::Collector;
use super::everywhere::{check_copy_sources, check_no_returning, every_group};
use super::insert;
use super::literal::{literal, shard_of};
use super::route::{route, route_query};
use super::shardset::ShardSet;
use super::tables::{layout_of, name_parts, resolve, Layout, Resolved};
use super::{Plan, PlanContext};
use crate::config::model::{ShardSpec, TableKind, TableRule};
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
            // Locking reads (FOR UPDATE, LOCK IN SHARE MODE) must run on the masters.
            let locking = !q.locks.is_empty() || super::parse::is_lock_in_share_mode(sql);
            let materializable = std::ptr::eq(root, stmt) && !is_write && !locking;
            c.defer_refusals = materializable;
            walk(root, &mut c)?;
            c.finish(tokens)?;
            if let Some(refusal) = c.deferred.take() {
                return super::materialize::plan(&c, q, refusal);
            }
            if let Some(reason) = super::materialize::forced().filter(|_| materializable) {
                return super::materialize::plan(&c, q, Error::Unsupported(reason));
            }
            if std::ptr::eq(root, stmt) {
                match route_query(&c, q, is_write || locking) {
                    Err(refusal @ Error::Unsupported(_)) if !is_write && !locking => {
                        super::materialize::plan(&c, q, refusal)
                    }
                    planned => planned,
                }
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
    c.scatter_unkeyed = true;
    c.add_block(&from, u.selection.as_ref(), true)?;
    refuse_ordered_scatter(&c, !u.order_by.is_empty(), u.limit.is_some())?;
    assignment_names(&mut c, &u.assignments)?;
    walk(root, &mut c)?;
    let all = ShardSet::empty(0);
    let main_shards = c
        .blocks
        .iter()
        .find(|b| b.main)
        .map_or(&all, |b| &b.shards.shards);
    refuse_key_assignment(&c, &u.assignments, Assigning::Update(main_shards))?;

    // Which tables are written: those named by the assignments' qualifiers.
    let clause = clause_tables(ctx, &from)?;
    let mut written_broadcast = None;
    for a in &u.assignments {
        for name in target_names(&a.target) {
            let quals: Vec<&Ident> = name.0.iter().filter_map(|p| p.as_ident()).collect();
            let written: Vec<&ClauseTable<'_, '_>> = match quals.as_slice() {
                [.., q, _col] => clause.iter().filter(|t| t.answers_to(q)).collect(),
                _ => clause.iter().collect(),
            };
            if let Some(b) = written.iter().find_map(|t| t.broadcast) {
                written_broadcast.get_or_insert(b);
            }
        }
    }
    c.finish(tokens)?;
    finish_write(&c, written_broadcast, false, is_write)
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
    // MySQL's multi-table forms name the tables deleted from (by name or alias) in one list
    // and the table references in another: `DELETE t1, t2 FROM <refs>` and
    // `DELETE FROM t1, t2 USING <refs>`. The single-table form deletes from its FROM table.
    let (targets, refs): (Vec<&ObjectName>, &[TableWithJoins]) = match &d.using {
        Some(using) => {
            if !d.tables.is_empty() {
                return Err(Error::unsupported(
                    "a DELETE with both a table list before FROM and USING".to_string(),
                ));
            }
            let mut names = Vec::with_capacity(f.len());
            for twj in f {
                match &twj.relation {
                    TableFactor::Table {
                        name, alias: None, ..
                    } if twj.joins.is_empty() => {
                        c.not_a_relation(name);
                        names.push(name);
                    }
                    _ => {
                        return Err(Error::unsupported(
                            "a DELETE ... USING whose FROM list is not a list of table names"
                                .to_string(),
                        ))
                    }
                }
            }
            (names, using.as_slice())
        }
        None => (d.tables.iter().collect(), f.as_slice()),
    };
    let from: Vec<&[TableWithJoins]> = vec![refs];
    c.scatter_unkeyed = true;
    c.add_block(&from, d.selection.as_ref(), true)?;
    refuse_ordered_scatter(&c, !d.order_by.is_empty(), d.limit.is_some())?;
    let clause = clause_tables(ctx, &from)?;
    let mut written_broadcast = None;
    if targets.is_empty() {
        written_broadcast = clause.iter().find_map(|t| t.broadcast);
    }
    for name in targets {
        let parts: Vec<Ident> = name
            .0
            .iter()
            .filter_map(|p| p.as_ident().cloned())
            .collect();
        let Some(last) = parts.last() else {
            continue;
        };
        // A target that names none of the tables is an error on the server too; here it
        // would mean the statement was misread, so it is refused before anything runs.
        let written: Vec<&ClauseTable<'_, '_>> =
            clause.iter().filter(|t| t.answers_to(last)).collect();
        if written.is_empty() {
            return Err(Error::unsupported(format!(
                "a multi-table DELETE whose target '{}' is none of its tables or aliases",
                last.value
            )));
        }
        c.mark_handled(last);
        if let Some(b) = written.iter().find_map(|t| t.broadcast) {
            written_broadcast.get_or_insert(b);
        }
        // `DELETE clinical_data FROM clinical_data ...` names the table: rename it.
        c.add_qualifier(&parts)?;
    }
    walk(root, &mut c)?;
    c.finish(tokens)?;
    finish_write(&c, written_broadcast, d.returning.is_some(), is_write)
}

/// Routes an UPDATE or DELETE once collected: a write to a broadcast table goes to every
/// group (an EXPLAIN of it to the default group only), anything else by its shards.
fn finish_write(
    c: &Collector<'_, '_>,
    written_broadcast: Option<&TableRule>,
    returning: bool,
    is_write: bool,
) -> Result<Plan> {
    match written_broadcast {
        Some(b) if is_write => {
            check_copy_sources(c, b)?;
            check_no_returning(returning, b)?;
            every_group(c, true, copies_reason(b))
        }
        _ => route(c, is_write),
    }
}

pub(crate) fn copies_reason(b: &TableRule) -> String {
    format!(
        "broadcast table '{}': every group, default group first",
        b.name
    )
}

/// ORDER BY and LIMIT pick rows by their order across the whole table; shard by shard they
/// would pick different ones (LIMIT 1 on four shards changes up to four rows).
fn refuse_ordered_scatter(c: &Collector<'_, '_>, order_by: bool, limit: bool) -> Result<()> {
    let feature = match (order_by, limit) {
        (_, true) => "LIMIT",
        (true, false) => "ORDER BY",
        (false, false) => return Ok(()),
    };
    let Some(main) = c.blocks.iter().find(|b| b.main) else {
        return Ok(());
    };
    if main.shards.shards.len() <= 1 {
        return Ok(());
    }
    let spec_key = match &main.shards.rule.kind {
        TableKind::Sharded(spec) => spec.shard_key.as_str(),
        _ => "shard key",
    };
    let chosen = if main.shards.keyed {
        let list: Vec<String> = main.shards.shards.iter().map(|s| s.to_string()).collect();
        format!(
            "its {spec_key} condition selects shards {}",
            list.join(", ")
        )
    } else {
        format!("no {spec_key} condition, so all shards")
    };
    Err(Error::unsupported(format!(
        "{} with {feature} on sharded table '{}' over several shards ({chosen}): the rows it \
         picks depend on the order across all shards, which no single shard knows",
        c.noun, main.shards.rule.name
    )))
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
/// have to move to another shard. An assignment that cannot move a row is allowed: the key
/// to itself (`SET k = k`, and `k = VALUES(k)` in ON DUPLICATE KEY UPDATE, where the inserted
/// row's key was placed on this shard), or a literal whose shard is the only one the
/// statement runs on (`UPDATE t SET k = 7 WHERE k = 7`): under mod 4, `k = 3` to `k = 7`
/// stays on shard 3 too.
pub(crate) fn refuse_key_assignment(
    c: &Collector<'_, '_>,
    assignments: &[Assignment],
    of: Assigning<'_>,
) -> Result<()> {
    for a in assignments {
        for name in target_names(&a.target) {
            let Some(col) = name.0.last().and_then(|p| p.as_ident()) else {
                continue;
            };
            let Some((rule, spec)) = c
                .sharded
                .iter()
                .find(|(_, spec)| spec.shard_key.eq_ignore_ascii_case(&col.value))
            else {
                continue;
            };
            let tuple = matches!(a.target, AssignmentTarget::Tuple(_));
            if !tuple && keeps_shard(name, &a.value, spec, &rule.name, of)? {
                continue;
            }
            return Err(Error::unsupported(format!(
                "{} that changes the shard key ({}) of sharded table '{}': the row would \
                 have to move to another shard",
                c.noun, spec.shard_key, rule.name
            )));
        }
    }
    Ok(())
}

/// Where assignments are made.
#[derive(Clone, Copy)]
pub(crate) enum Assigning<'s> {
    /// An UPDATE running on these shards.
    Update(&'s ShardSet),
    /// ON DUPLICATE KEY UPDATE: `VALUES(k)` is the inserted row's key.
    OnDuplicate,
}

/// True if assigning `value` to the key column `target` leaves every row on its shard.
fn keeps_shard(
    target: &ObjectName,
    value: &Expr,
    spec: &ShardSpec,
    table: &str,
    of: Assigning<'_>,
) -> Result<bool> {
    let parts =
        |n: &[Ident]| -> Vec<String> { n.iter().map(|i| i.value.to_ascii_lowercase()).collect() };
    let target: Vec<Ident> = target
        .0
        .iter()
        .filter_map(|p| p.as_ident().cloned())
        .collect();
    let same_column = |v: &Expr| match v {
        Expr::Identifier(i) => parts(&target) == parts(std::slice::from_ref(i)),
        Expr::CompoundIdentifier(v) => parts(&target) == parts(v),
        _ => false,
    };
    let shards = match of {
        Assigning::OnDuplicate => return Ok(same_column(value) || inserted(value, &same_column)),
        Assigning::Update(shards) => shards,
    };
    if same_column(value) || matches!(value, Expr::Nested(inner) if same_column(inner)) {
        return Ok(true);
    }
    let (Some(lit), Some(only)) = (literal(value), shards.only()) else {
        return Ok(false);
    };
    Ok(shard_of(lit, spec, table)? == Some(only))
}

/// `VALUES(k)` / `VALUE(k)` of the same column, or the column itself, in parentheses or not.
fn inserted(value: &Expr, same_column: &dyn Fn(&Expr) -> bool) -> bool {
    match value {
        Expr::Nested(inner) => same_column(inner) || inserted(inner, same_column),
        Expr::Function(f) => {
            let name = f.name.0.last().and_then(|p| p.as_ident());
            let is_values = name.is_some_and(|n| {
                n.value.eq_ignore_ascii_case("VALUES") || n.value.eq_ignore_ascii_case("VALUE")
            });
            let arg = match &f.args {
                FunctionArguments::List(l) if l.args.len() == 1 => match &l.args[0] {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
                    _ => None,
                },
                _ => None,
            };
            is_values && arg.is_some_and(same_column)
        }
        _ => false,
    }
}

fn target_names(t: &AssignmentTarget) -> &[ObjectName] {
    match t {
        AssignmentTarget::ColumnName(n) => std::slice::from_ref(n),
        AssignmentTarget::Tuple(v) => v,
    }
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
