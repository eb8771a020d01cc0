//! DDL: on unsharded tables it runs in the default group with names as written (a qualifier
//! naming the logical database becomes the group's schema). On sharded or broadcast tables
//! it would have to run on every shard table or every group, consistently: refused until a
//! later version does that. Databases are defined by rule files, so CREATE/DROP DATABASE are
//! refused too.

use sqlparser::ast::{CreateTableLikeKind, ObjectName, ObjectType, Statement};
use sqlparser::tokenizer::TokenWithSpan;

use super::collect::Collector;
use super::dml::walk;
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
    if let Some((rule, _)) = c.sharded.first() {
        return Err(Error::unsupported(format!(
            "{what} on sharded table '{}' (run it on each shard table, or wait for DDL \
             support)",
            rule.name
        )));
    }
    if let Some(rule) = c.broadcast {
        return Err(Error::unsupported(format!(
            "{what} on broadcast table '{}' (it must change in every group)",
            rule.name
        )));
    }
    c.finish(tokens)?;
    route(&c, true)
}
