//! DDL: on unsharded tables it runs in the default group with names as written (a qualifier
//! naming the logical database becomes the group's schema). On a sharded table it runs on
//! every physical table (`CREATE TABLE clinical_data` creates `clinical_data_0..3` in their
//! groups, names rewritten inside the statement), on a broadcast table in every group; see
//! `everywhere` for the order and what a failure part-way means. DDL is not transactional,
//! so a failure leaves the earlier shards changed: the error says which, and `IF EXISTS` /
//! `IF NOT EXISTS` (kept as written) make the repair a plain re-run.
//!
//! Refused: renaming sharded or broadcast tables (the rules name their physical tables),
//! `CREATE TABLE ... SELECT` and views on them, a statement mixing tables of different
//! layouts, and CREATE/DROP DATABASE (databases are defined by rule files).

use sqlparser::ast::{AlterTableOperation, CreateTableLikeKind, ObjectName, ObjectType, Statement};
use sqlparser::tokenizer::TokenWithSpan;

use super::collect::Collector;
use super::dml::walk;
use super::everywhere::{every_group, every_shard};
use super::route::route;
use super::{Plan, PlanContext};
use crate::error::{Error, Result};

/// True for the statements this module plans.
pub(crate) fn is_ddl(s: &Statement) -> bool {
    matches!(
        s,
        Statement::CreateTable(_)
            | Statement::AlterTable(_)
            | Statement::Drop { .. }
            | Statement::Truncate(_)
            | Statement::RenameTable(_)
            | Statement::CreateIndex(_)
            | Statement::CreateView(_)
            | Statement::AlterView(_)
            | Statement::CreateDatabase { .. }
            | Statement::CreateSchema { .. }
            | Statement::AlterSchema(_)
    )
}

/// The statement's name for messages: `CREATE INDEX` for `CREATE UNIQUE INDEX`, ...
pub(crate) fn name(s: &Statement, sql: &str) -> String {
    match s {
        Statement::CreateTable(_) => "CREATE TABLE",
        Statement::AlterTable(_) => "ALTER TABLE",
        Statement::CreateIndex(_) => "CREATE INDEX",
        Statement::Truncate(_) => "TRUNCATE TABLE",
        Statement::RenameTable(_) => "RENAME TABLE",
        Statement::CreateView(_) => "CREATE VIEW",
        Statement::AlterView(_) => "ALTER VIEW",
        Statement::Drop {
            object_type: ObjectType::Table,
            ..
        } => "DROP TABLE",
        Statement::Drop {
            object_type: ObjectType::Index,
            ..
        } => "DROP INDEX",
        _ => return super::classify::statement_name(sql, 2),
    }
    .to_string()
}

/// `what` names the statement in messages ("ALTER TABLE").
pub(crate) fn plan(
    stmt: &Statement,
    what: &str,
    sql: &str,
    tokens: &[TokenWithSpan],
    ctx: &PlanContext<'_>,
) -> Result<Plan> {
    let mut explicit: Vec<&ObjectName> = Vec::new();
    match stmt {
        Statement::CreateDatabase { .. }
        | Statement::CreateSchema { .. }
        | Statement::AlterSchema(_)
        | Statement::Drop {
            object_type: ObjectType::Database | ObjectType::Schema,
            ..
        } => {
            return Err(Error::unsupported(format!(
                "{what}: logical databases are defined by rule files (shard-rules/)"
            )))
        }
        Statement::Drop { names, table, .. } => {
            explicit.extend(table.iter());
            if !matches!(
                stmt,
                Statement::Drop {
                    object_type: ObjectType::Index,
                    ..
                }
            ) {
                explicit.extend(names.iter());
            }
        }
        Statement::RenameTable(renames) => {
            for r in renames {
                explicit.push(&r.old_name);
                explicit.push(&r.new_name);
            }
        }
        Statement::CreateTable(ct) => {
            explicit.push(&ct.name);
            if let Some(CreateTableLikeKind::Parenthesized(l) | CreateTableLikeKind::Plain(l)) =
                &ct.like
            {
                explicit.push(&l.name);
            }
        }
        Statement::CreateIndex(ci) => explicit.push(&ci.table_name),
        Statement::CreateView(cv) => explicit.push(&cv.name),
        _ => {}
    }
    let mut c = Collector::new(ctx, sql, "DDL");
    for name in explicit {
        c.register_table(name)?;
    }
    walk(stmt, &mut c)?;
    if c.sharded.is_empty() && c.broadcast.is_none() {
        c.finish(tokens)?;
        return route(&c, true);
    }
    refuse_everywhere_forms(stmt, what, &c)?;
    c.finish(tokens)?;
    fan_out(&c, what)
}

/// Where DDL on the collected tables runs: every shard of a sharded table, every group of a
/// broadcast table, the default group otherwise.
pub(crate) fn fan_out(c: &Collector<'_, '_>, what: &str) -> Result<Plan> {
    if let Some(&(rule, spec)) = c.sharded.first() {
        let reason = format!(
            "{what} on sharded table '{}': every shard, in shard order",
            rule.name
        );
        return every_shard(c, spec, true, reason);
    }
    if let Some(rule) = c.broadcast {
        let reason = format!(
            "{what} on broadcast table '{}': every group, default group first",
            rule.name
        );
        return every_group(c, true, reason);
    }
    route(c, true)
}

/// The DDL forms that cannot simply be repeated on each shard table or group copy.
fn refuse_everywhere_forms(stmt: &Statement, what: &str, c: &Collector<'_, '_>) -> Result<()> {
    let (kind, name) = match (c.sharded.first(), c.broadcast) {
        (Some((rule, _)), _) => ("sharded", rule.name.as_str()),
        (None, Some(rule)) => ("broadcast", rule.name.as_str()),
        (None, None) => return Ok(()),
    };
    match stmt {
        Statement::CreateTable(ct) => super::ddl_guard::refuse_temporary(ct.temporary, c)?,
        Statement::AlterTable(at) => super::ddl_guard::refuse_key_operations(&at.operations, c)?,
        _ => {}
    }
    let refuse = |why: &str| {
        Err(Error::unsupported(format!(
            "{what} on {kind} table '{name}': {why}"
        )))
    };
    let refused = match stmt {
        Statement::RenameTable(_) => {
            Some("the rule file names its physical tables; rename them and edit the rules")
        }
        Statement::AlterTable(at)
            if at
                .operations
                .iter()
                .any(|op| matches!(op, AlterTableOperation::RenameTable { .. })) =>
        {
            Some("the rule file names its physical tables; rename them and edit the rules")
        }
        Statement::CreateTable(ct) if ct.query.is_some() => {
            Some("CREATE TABLE ... SELECT would need the query's rows split by shard")
        }
        Statement::CreateView(_) | Statement::AlterView(_) => {
            Some("a view over it would have to be answered by shardgate, not a backend")
        }
        _ => None,
    };
    if let Some(why) = refused {
        return refuse(why);
    }
    refuse_mixed(what, c)
}

/// Tables of different layouts live in different places: one statement cannot reach them all
/// with the same text.
pub(crate) fn refuse_mixed(what: &str, c: &Collector<'_, '_>) -> Result<()> {
    let (kind, name) = match (c.sharded.first(), c.broadcast) {
        (Some((rule, _)), _) => ("sharded", rule.name.as_str()),
        (None, Some(rule)) => ("broadcast", rule.name.as_str()),
        (None, None) => return Ok(()),
    };
    let refuse = |why: &str| {
        Err(Error::unsupported(format!(
            "{what} on {kind} table '{name}': {why}"
        )))
    };
    if let (Some(_), Some(b)) = (c.sharded.first(), c.broadcast) {
        return refuse(&format!(
            "it also names broadcast table '{}'; send one statement per table",
            b.name
        ));
    }
    if let Some(other) = &c.unsharded {
        return refuse(&format!(
            "it also names unsharded table '{other}'; send one statement per table"
        ));
    }
    if c.system {
        return refuse("it also names a system schema table");
    }
    Ok(())
}
