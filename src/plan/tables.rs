//! Resolving a table name written in SQL (`t`, `db.t`) to what the rules say about it.
//!
//! Unqualified names resolve through the session's current database; a qualifier names a
//! logical database (never a physical schema). System schemas (`information_schema`, ...) are
//! the servers' own and pass through.

use std::sync::Arc;

use sqlparser::ast::{Ident, ObjectName};

use super::names::{is_system_schema, table_rule};
use super::PlanContext;
use crate::config::model::{Database, ShardSpec, TableKind, TableRule};
use crate::error::{Error, Result};

/// What a logical table is.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Layout<'a> {
    /// Not in the rules: lives in the default group under its own name.
    Unsharded,
    /// A full copy in every group.
    Broadcast(&'a TableRule),
    /// One physical table per shard.
    Sharded(&'a TableRule, &'a Arc<ShardSpec>),
    /// The physical name of a shard of this sharded table (`clinical_data_0`): not a logical
    /// table. Reached by name it would bypass the rule (a row written there is invisible to
    /// reads by its key), so `resolve` refuses it.
    PhysicalShard(&'a TableRule),
}

impl<'a> Layout<'a> {
    pub fn sharded(&self) -> Option<(&'a TableRule, &'a Arc<ShardSpec>)> {
        match *self {
            Layout::Sharded(rule, spec) => Some((rule, spec)),
            _ => None,
        }
    }
}

/// A table name resolved against the rules.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Resolved<'a> {
    Table {
        db: &'a Arc<Database>,
        layout: Layout<'a>,
    },
    /// A table of `information_schema`, `mysql`, `performance_schema` or `sys`.
    System,
    /// Not a stored table: `DUAL`, or the name of a common table expression.
    Virtual,
}

/// The identifiers of a table name: optional database qualifier and the table itself.
pub(crate) struct NameParts<'q> {
    pub db: Option<&'q Ident>,
    pub table: &'q Ident,
}

/// Splits `name` into its parts; more than two parts or computed parts are refused.
pub(crate) fn name_parts(name: &ObjectName) -> Result<NameParts<'_>> {
    let mut idents = name.0.iter().map(|p| p.as_ident());
    let parts = match (idents.next(), idents.next(), idents.next()) {
        (Some(Some(t)), None, None) => NameParts { db: None, table: t },
        (Some(Some(d)), Some(Some(t)), None) => NameParts {
            db: Some(d),
            table: t,
        },
        _ => {
            return Err(Error::unsupported(format!(
                "the table name {name} (only `table` or `database`.`table`)"
            )))
        }
    };
    // sqlparser reads a quoted string where MariaDB wants a name (`FROM "t"` outside
    // ANSI_QUOTES, `FROM 't'`) as a name; the server refuses such a statement, so must we,
    // or a client would get rows for a text the server calls a syntax error.
    let not_a_name = |i: &sqlparser::ast::Ident| match i.quote_style {
        Some('\'') => true,
        Some('"') => !super::Syntax::current().mode.ansi_quotes,
        _ => false,
    };
    if let Some(bad) = parts
        .db
        .iter()
        .chain([&parts.table])
        .find(|i| not_a_name(i))
    {
        return Err(Error::Syntax(format!(
            "a string where a table name belongs: {bad} (double quotes name tables only \
             under sql_mode ANSI_QUOTES)"
        )));
    }
    Ok(parts)
}

/// Looks `parts` up. `ctes` says whether an unqualified name is a common table expression.
pub(crate) fn resolve<'a>(
    ctx: &PlanContext<'a>,
    parts: &NameParts<'_>,
    is_cte: impl Fn(&str) -> bool,
) -> Result<Resolved<'a>> {
    let db = match parts.db {
        None => {
            let name = parts.table.value.as_str();
            if name.eq_ignore_ascii_case("dual") || is_cte(name) {
                return Ok(Resolved::Virtual);
            }
            if ctx.system_schema.is_some() {
                return Ok(Resolved::System);
            }
            ctx.current_db.ok_or(Error::NoDatabaseSelected)?
        }
        Some(q) if is_system_schema(&q.value) => {
            if q.value.eq_ignore_ascii_case("information_schema")
                && parts.table.value.eq_ignore_ascii_case("PROCESSLIST")
            {
                // A backend's list shows the proxy's pooled connections, not the clients.
                return Err(Error::unsupported(
                    "information_schema.PROCESSLIST (it would list a backend's connections, \
                     not shardgate's sessions; use SHOW [FULL] PROCESSLIST)",
                ));
            }
            return Ok(Resolved::System);
        }
        Some(q) => ctx
            .rules
            .database(&q.value)
            .ok_or_else(|| Error::UnknownDatabase(q.value.clone()))?,
    };
    let layout = layout_of(db, &parts.table.value);
    if let Layout::PhysicalShard(_) = layout {
        return Err(no_such_table(db, &parts.table.value));
    }
    Ok(Resolved::Table { db, layout })
}

/// 1146, as one unsharded server holding the logical tables would answer: the physical
/// names of shards are not tables of the logical database.
pub(crate) fn no_such_table(db: &Database, table: &str) -> Error {
    Error::NoSuchTable {
        db: db.name.clone(),
        table: table.to_string(),
    }
}

/// What `db` says about table `name`.
pub(crate) fn layout_of<'a>(db: &'a Database, name: &str) -> Layout<'a> {
    match table_rule(db, name) {
        None => match db.sharded_table_of_physical(name) {
            Some(rule) => Layout::PhysicalShard(rule),
            None => Layout::Unsharded,
        },
        Some(rule) => match &rule.kind {
            TableKind::Broadcast => Layout::Broadcast(rule),
            TableKind::Sharded(spec) => Layout::Sharded(rule, spec),
        },
    }
}
