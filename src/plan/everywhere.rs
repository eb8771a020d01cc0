//! Statements that must run on every copy or every shard of a table: writes to a broadcast
//! table (every group, since each holds a full copy), and DDL on a sharded table (every
//! physical table) or a broadcast table (every group).
//!
//! Order and failure: the default group's copy goes first (it is the copy unsharded tables
//! and reads without a shard see), then the other groups in rule-file order; shards go in
//! index order. The executor connects to every group before running anything, so a group
//! that is down fails the statement with nothing applied; a statement that fails part-way
//! (a server error on a later target) stops there and the client's error names the failed
//! target and the ones that already ran, so an operator can repair the copies.

use std::sync::Arc;

use super::collect::Collector;
use super::route::{fallback_db, group_of, group_schema, render};
use super::{Plan, ResultRewrite, Route, Spread, Target};
use crate::config::model::{Database, ShardSpec, TableRule};
use crate::error::{Error, Result};

/// Refuses a write to broadcast table `rule` that also reads tables whose rows are not in
/// every group: the copies would be computed from different data.
pub(crate) fn check_copy_sources(c: &Collector<'_, '_>, rule: &TableRule) -> Result<()> {
    let other = if let Some((sharded, _)) = c.sharded.first() {
        format!("sharded table '{}'", sharded.name)
    } else if let Some(name) = &c.unsharded {
        format!("unsharded table '{name}', which lives only in the default group")
    } else if c.system {
        "a system schema table".to_string()
    } else {
        return Ok(());
    };
    Err(Error::unsupported(format!(
        "{} on broadcast table '{}' that reads {other}: every group's copy must be computed \
         from the same rows",
        c.noun, rule.name
    )))
}

/// Refuses RETURNING on a write to broadcast table `rule`: every group would return its
/// copy's rows, and the client expects the rows of one table.
pub(crate) fn check_no_returning(returning: bool, rule: &TableRule) -> Result<()> {
    if returning {
        return Err(Error::unsupported(format!(
            "RETURNING on a write to broadcast table '{}' (every group would return its copy's \
             rows)",
            rule.name
        )));
    }
    Ok(())
}

/// One target per group, default group first, each a copy of the same statement.
pub(crate) fn every_group(c: &Collector<'_, '_>, is_write: bool, reason: String) -> Result<Plan> {
    let db = fallback_db(c)?;
    let mut targets = Vec::with_capacity(db.groups.len());
    for group in group_order(db) {
        let schema = group_schema(db, group)?;
        targets.push(Target {
            group,
            shard: None,
            sql: render(c, None, schema),
        });
    }
    Ok(plan(db, targets, is_write, reason, Spread::Copies))
}

/// One target per shard of `spec`, in shard order, each on its group with its physical
/// table names.
pub(crate) fn every_shard(
    c: &Collector<'_, '_>,
    spec: &ShardSpec,
    is_write: bool,
    reason: String,
) -> Result<Plan> {
    let db = fallback_db(c)?;
    let mut targets = Vec::with_capacity(spec.shards() as usize);
    for s in 0..spec.shards() {
        let group = group_of(db, spec.placement.get(s as usize).copied())?;
        let schema = group_schema(db, group)?;
        targets.push(Target {
            group,
            shard: Some(s),
            sql: render(c, Some(s), schema),
        });
    }
    Ok(plan(db, targets, is_write, reason, Spread::Shards))
}

/// The groups that hold the database's data (see `Database::holds_data`), default first.
fn group_order(db: &Database) -> impl Iterator<Item = usize> + '_ {
    std::iter::once(db.default_group)
        .chain((0..db.groups.len()).filter(move |&g| g != db.default_group && db.holds_data(g)))
}

fn plan(
    db: &Arc<Database>,
    targets: Vec<Target>,
    is_write: bool,
    reason: String,
    spread: Spread,
) -> Plan {
    let targets_len = targets.len();
    Plan::Route(Route {
        db: db.clone(),
        targets,
        is_write,
        result_rewrite: ResultRewrite::Columns,
        reason,
        all_shards: spread == Spread::Shards && targets_len > 1,
        first_row_target: 0,
        spread,
        generated_id: None,
    })
}
