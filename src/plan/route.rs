//! Turning what the walk collected into targets: which groups and shards run the statement,
//! each with its own rewritten text.
//!
//! Rules (ARCHITECTURE.md: never a silently wrong answer):
//! - no sharded table: the default group (unsharded tables live there, broadcast tables are
//!   everywhere, a statement without tables carries no data);
//! - sharded tables: the outermost block may select several shards, whose results are then
//!   concatenated, unless the query needs merging (ORDER BY, LIMIT, aggregates, ...); every
//!   other block with sharded tables (subqueries, UNION branches) must be on the same single
//!   shard as the rest;
//! - unsharded tables next to sharded ones only when every shard used is in the default group.

use std::fmt::Write;
use std::sync::Arc;

use sqlparser::ast::{Query, SetExpr, TableFactor};

use super::collect::Collector;
use super::columns::ColumnsWanted;
use super::scatter;
use super::shardset::ShardSet;
use super::{Plan, ResultRewrite, Route, Scatter, Target};
use crate::config::model::{Database, ShardSpec, TableRule};
use crate::error::{Error, Result};

/// The database a statement runs against when none of its tables names one.
pub(crate) fn fallback_db<'a>(c: &Collector<'_, 'a>) -> Result<&'a Arc<Database>> {
    if let Some(db) = c.db {
        return Ok(db);
    }
    if c.system {
        return c.ctx.current_db.ok_or_else(|| {
            Error::unsupported(
                "a query on a system schema (information_schema, mysql, ...) without a current \
                 database: USE one first, so shardgate knows which servers to ask"
                    .to_string(),
            )
        });
    }
    c.ctx
        .current_db
        .or_else(|| c.ctx.rules.databases().values().next())
        .ok_or(Error::NoDatabaseSelected)
}

/// The route of a collected SELECT / UPDATE / DELETE / INSERT.
pub(crate) fn route(c: &Collector<'_, '_>, is_write: bool) -> Result<Plan> {
    route_with(c, is_write, None)
}

/// The route of a collected SELECT statement (not under EXPLAIN): over several shards it
/// may be merged at the proxy (`scatter`) instead of refused.
pub(crate) fn route_query(c: &Collector<'_, '_>, q: &Query, is_write: bool) -> Result<Plan> {
    route_with(c, is_write, Some(q))
}

fn route_with(c: &Collector<'_, '_>, is_write: bool, query: Option<&Query>) -> Result<Plan> {
    let db = fallback_db(c)?;
    let Some(&(rule, spec)) = c.sharded.first() else {
        let group = db.default_group;
        let schema = group_schema(db, group)?;
        let reason = if let Some(name) = &c.unsharded {
            format!("unsharded table '{name}': default group")
        } else if let Some(b) = c.broadcast {
            format!("broadcast table '{}': default group", b.name)
        } else if c.system {
            super::SYSTEM_SCHEMA_REASON.to_string()
        } else {
            super::NO_TABLE_REASON.to_string()
        };
        let mut plan = single(db, group, None, render(c, None, schema), is_write, reason);
        if let (true, Plan::Route(r)) = (c.session_values, &mut plan) {
            r.result_rewrite = ResultRewrite::InsertIdRows;
        }
        return Ok(plan);
    };
    if c.system {
        return Err(Error::unsupported(format!(
            "a statement joining a system schema table with sharded table '{}'",
            rule.name
        )));
    }

    // Subqueries correlated on the main block's key run whole on each of its shards.
    let blocks: Vec<&super::collect::BlockInfo<'_>> = c
        .blocks
        .iter()
        .filter(|b| !b.shards.follows_main || !c.blocks.iter().any(|m| m.main))
        .collect();
    let shards: ShardSet = match blocks.as_slice() {
        [] => {
            return Err(Error::unsupported(format!(
                "sharded table '{}' outside of a FROM clause shardgate can analyse",
                rule.name
            )))
        }
        [only] if only.main => only.shards.shards.clone(),
        blocks => {
            let mut chosen: Option<u32> = None;
            for b in blocks {
                match b.shards.shards.only() {
                    Some(s) if chosen.is_none_or(|c| c == s) => chosen = Some(s),
                    _ => {
                        return Err(Error::unsupported(format!(
                            "a statement whose parts on sharded table '{}' are not all on the \
                             same single shard (subqueries and UNION branches must be)",
                            b.shards.rule.name
                        )))
                    }
                }
            }
            let s = chosen.expect("at least one block");
            ShardSet::single(spec.shards(), s)
        }
    };

    let mut list = String::new();
    for (i, s) in shards.iter().enumerate() {
        let _ = write!(list, "{}{s}", if i > 0 { ", " } else { "" });
    }
    let mut scatter_plan = None;
    if shards.len() > 1 && c.blocker.is_some() {
        if let Some(q) = query {
            let quals = key_qualifiers(q, &c.sharded);
            let columns_of_table = || {
                let db = c.db.ok_or(Error::NoDatabaseSelected)?;
                let orders = c.ctx.columns.ok_or_else(|| {
                    Error::unsupported(format!(
                        "a GROUP BY name that may be a column of sharded table '{}' (its \
                         columns are not known here)",
                        rule.name
                    ))
                })?;
                orders.get_or_ask(ColumnsWanted::shard_zero(db, &rule.name, spec)?)
            };
            // Only what is learned already: a merged read never waits for the types.
            let sorts = match (c.db, c.ctx.columns) {
                (Some(db), Some(orders)) => ColumnsWanted::shard_zero(db, &rule.name, spec)
                    .ok()
                    .and_then(|w| orders.sorts_of(&w)),
                _ => None,
            };
            scatter_plan = Some(scatter::plan(
                c.sql,
                q,
                c.blocker,
                rule,
                spec,
                quals,
                &columns_of_table,
                sorts,
            )?);
        }
    }
    if shards.len() > 1 && scatter_plan.is_none() {
        if let Some(feature) = c.blocker {
            return Err(Error::unsupported(format!(
                "{feature} on sharded table '{}' over several shards (its {} condition selects \
                 shards {list}): the results would need merging",
                rule.name, spec.shard_key
            )));
        }
    }
    if let Some(name) = &c.unsharded {
        for s in shards.iter() {
            let g = group_of(db, spec.placement.get(s as usize).copied())?;
            if g != db.default_group {
                return Err(Error::unsupported(format!(
                    "a statement on sharded table '{}' (shard {s} in group '{}') and unsharded \
                     table '{name}', which lives only in the default group '{}'",
                    rule.name, db.groups[g].name, db.groups[db.default_group].name
                )));
            }
        }
    }

    let mut targets = Vec::with_capacity(shards.len());
    for s in shards.iter() {
        let group = group_of(db, spec.placement.get(s as usize).copied())?;
        let schema = group_schema(db, group)?;
        targets.push(Target {
            group,
            shard: Some(s),
            sql: match &scatter_plan {
                Some(sp) => scatter::render(c.sql, &c.edits, &sp.splices, Some(s), schema),
                None => render(c, Some(s), schema),
            },
        });
    }
    let reason = if blocks.iter().any(|b| !b.shards.keyed) {
        format!(
            "no {} condition: all {} shards of '{}': {}",
            spec.shard_key,
            targets.len(),
            rule.name,
            if is_write {
                "affected rows summed"
            } else {
                "results concatenated"
            }
        )
    } else if targets.len() == 1 {
        format!("{} selects shard {list} of '{}'", spec.shard_key, rule.name)
    } else {
        format!(
            "{} selects shards {list} of '{}': {}",
            spec.shard_key,
            rule.name,
            if c.noun == "a query" {
                "results concatenated"
            } else {
                "affected rows summed"
            }
        )
    };
    let route = Route {
        db: db.clone(),
        targets,
        is_write,
        result_rewrite: ResultRewrite::Columns,
        spread: Default::default(),
        reason,
        generated_id: None,
        all_shards: shards.len() > 1 && shards.len() == spec.shards() as usize,
        first_row_target: 0,
    };
    Ok(match scatter_plan {
        Some(sp) => {
            let mut route = route;
            route.reason = format!(
                "{} selects shards {list} of '{}': rows merged",
                spec.shard_key, rule.name
            );
            Plan::Scatter(Box::new(Scatter {
                route,
                merge: sp.merge,
                sql: c.sql.to_string(),
            }))
        }
        None => Plan::Route(route),
    })
}

/// Names and aliases of the sharded tables in the main SELECT's FROM: a shard key column
/// qualified by one of them is the key.
fn key_qualifiers(q: &Query, sharded: &[(&TableRule, &Arc<ShardSpec>)]) -> Vec<String> {
    let mut out = Vec::new();
    let SetExpr::Select(sel) = &*q.body else {
        return out;
    };
    let mut add = |f: &TableFactor| {
        if let TableFactor::Table { name, alias, .. } = f {
            let last = name.0.last().and_then(|p| p.as_ident());
            if let Some(t) = last {
                if sharded
                    .iter()
                    .any(|(r, _)| r.name.eq_ignore_ascii_case(&t.value))
                {
                    out.push(t.value.clone());
                    if let Some(a) = alias {
                        out.push(a.name.value.clone());
                    }
                }
            }
        }
    };
    for twj in &sel.from {
        add(&twj.relation);
        for j in &twj.joins {
            add(&j.relation);
        }
    }
    out
}

/// The text for one target: the original when nothing is renamed.
pub(crate) fn render(c: &Collector<'_, '_>, shard: Option<u32>, schema: &str) -> String {
    if c.edits.is_empty() {
        c.sql.to_string()
    } else {
        c.edits.render(c.sql, shard, schema)
    }
}

pub(crate) fn group_of(db: &Database, g: Option<usize>) -> Result<usize> {
    g.filter(|&g| g < db.groups.len())
        .ok_or_else(|| Error::Internal(format!("database '{}': placement names no group", db.name)))
}

pub(crate) fn group_schema(db: &Database, g: usize) -> Result<&str> {
    db.groups
        .get(g)
        .map(|g| g.schema.as_str())
        .ok_or_else(|| Error::Internal(format!("database '{}': no group {g}", db.name)))
}

/// A plan with one target.
pub(crate) fn single(
    db: &Arc<Database>,
    group: usize,
    shard: Option<u32>,
    sql: String,
    is_write: bool,
    reason: String,
) -> Plan {
    Plan::Route(Route {
        db: db.clone(),
        targets: vec![Target { group, shard, sql }],
        is_write,
        result_rewrite: ResultRewrite::Columns,
        spread: Default::default(),
        reason,
        generated_id: None,
        all_shards: false,
        first_row_target: 0,
    })
}
