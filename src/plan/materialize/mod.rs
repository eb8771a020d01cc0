//! Reads over several shards that no streaming merge answers exactly (DISTINCT aggregates
//! beside others, expressions over aggregates, GROUP_CONCAT, UNION, subqueries and joins
//! across shards, window functions, ENUM order, ...): the server answers them itself.
//! Each sharded table the statement reads is fetched (only the rows its WHERE can need,
//! `pushdown`) into a temporary table on the master of the default group, and the
//! statement runs there with those tables in place of the sharded ones. Unsharded and
//! broadcast tables are read where they live, in the default group. So the answer is the
//! server's own, with its types, collations, precision, NULLs and warnings, at the cost of
//! moving the rows, which caps (`[limits]`) bound.

mod hints;
mod pushdown;

use std::cell::Cell;
use std::sync::Arc;

use sqlparser::ast::{ObjectName, Query};

use super::collect::Collector;
use super::names::write_ident;
use super::rewrite::EditKind;
use super::route::fallback_db;
use super::Plan;
use crate::config::model::{Database, GroupId};
use crate::error::{Error, Result};

pub(crate) use pushdown::FETCH_ALIAS;

/// A read answered by the default group's master over temporary copies of its sharded
/// tables.
#[derive(Debug, Clone)]
pub struct Materialize {
    pub db: Arc<Database>,
    /// The default group, whose master holds the temporary tables and runs `sql`.
    pub group: GroupId,
    pub tables: Vec<MaterializedTable>,
    /// The statement with each sharded table renamed to its temporary table.
    pub sql: String,
    /// Why the streaming merge could not answer (the refusal it gave), for PREVIEW.
    pub reason: String,
    /// Every column name the statement mentions (lower-cased), so a copy needs only those
    /// of its table's columns; `None` when a `*` or NATURAL JOIN needs them all.
    pub columns: Option<Vec<String>>,
}

#[derive(Debug, Clone)]
pub struct MaterializedTable {
    /// The logical table name, as the rules spell it.
    pub logical: String,
    /// The temporary table's name on the default group's master.
    pub temp: String,
    /// Where the column definitions are read: shard 0's group, schema and table.
    pub definition: (GroupId, String, String),
    /// The logical statement reading the rows (for PREVIEW and messages).
    pub fetch_sql: String,
    /// `fetch_sql` planned: a route or merge over the shards it needs.
    pub fetch: Box<Plan>,
}

thread_local! {
    /// Set while a fetch statement is planned: a fetch never materializes again.
    static IN_FETCH: Cell<bool> = const { Cell::new(false) };
    /// Set by `forcing`: the reason the next read is materialized whatever its shape.
    static FORCED: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f` (a planning) with reads materialized for `reason`. The flag is cleared however
/// `f` ends: a runtime worker survives a task's panic, and a flag left set would
/// materialize every read planned on that thread afterwards, and the plan cache would hand
/// those plans to every session.
pub(crate) fn forcing<R>(reason: String, f: impl FnOnce() -> R) -> R {
    let _cleared = Reset(|| FORCED.with(|r| *r.borrow_mut() = None));
    FORCED.with(|r| *r.borrow_mut() = Some(reason));
    f()
}

/// Runs its closure when dropped (also on unwind).
struct Reset<F: FnMut()>(F);

impl<F: FnMut()> Drop for Reset<F> {
    fn drop(&mut self) {
        (self.0)()
    }
}

/// True while a fetch statement is planned.
pub(crate) fn in_fetch() -> bool {
    IN_FETCH.with(Cell::get)
}

/// The reason a read must be materialized, when `forcing` says so (never for a fetch).
pub(crate) fn forced() -> Option<String> {
    if in_fetch() {
        return None;
    }
    FORCED.with(|r| r.borrow().clone())
}

/// Plans `q` (walked into `c`) as a materialized read, or gives back `refusal` when it
/// cannot be (nothing sharded, system tables, a fetch that does not plan).
pub(crate) fn plan(c: &Collector<'_, '_>, q: &Query, refusal: Error) -> Result<Plan> {
    if in_fetch() || c.sharded.is_empty() || c.system {
        return Err(refusal);
    }
    if c.blocker == Some("SELECT ... INTO") {
        return Err(refusal);
    }
    let Ok(db) = fallback_db(c) else {
        return Err(refusal);
    };
    let group = db.default_group;
    let Some(default_schema) = db.groups.get(group).map(|g| g.schema.clone()) else {
        return Err(refusal);
    };

    let is_sharded = |name: &ObjectName| -> Option<String> {
        let parts = super::tables::name_parts(name).ok()?;
        if let Some(d) = parts.db {
            if !d.value.eq_ignore_ascii_case(&db.name) {
                return None;
            }
        }
        let lower = parts.table.value.to_ascii_lowercase();
        c.sharded
            .iter()
            .any(|(rule, _)| rule.name.eq_ignore_ascii_case(&lower))
            .then_some(lower)
    };
    let filters = pushdown::filters(q, c.sql, &is_sharded);

    let mut tables = Vec::with_capacity(c.sharded.len());
    for (i, (rule, spec)) in c.sharded.iter().enumerate() {
        let temp = temp_name(i, &rule.name);
        let Some(&shard0_group) = spec.placement.first() else {
            return Err(refusal);
        };
        let Some(shard0_schema) = db.groups.get(shard0_group).map(|g| g.schema.clone()) else {
            return Err(refusal);
        };
        let physical = spec.physical.name(&rule.name, 0);
        let filter = filters
            .get(&rule.name.to_ascii_lowercase())
            .cloned()
            .flatten();
        let fetch_sql = fetch_text(&db.name, &rule.name, None);
        let (fetch_sql, fetch) = match filter
            .map(|f| fetch_text(&db.name, &rule.name, Some(&f)))
            .and_then(|sql| plan_fetch(&sql, c).ok().map(|p| (sql, p)))
        {
            Some(found) => found,
            None => match plan_fetch(&fetch_sql, c) {
                Ok(p) => (fetch_sql, p),
                Err(_) => return Err(refusal),
            },
        };
        tables.push(MaterializedTable {
            logical: rule.name.clone(),
            temp,
            definition: (shard0_group, shard0_schema, physical),
            fetch_sql,
            fetch: Box::new(fetch),
        });
    }

    if let Some(name) = named_like_a_copy(q, &tables, &is_sharded) {
        return Err(Error::unsupported(format!(
            "a query over several shards naming table '{name}': shardgate answers it from \
             temporary copies of the sharded tables' rows named like that, which would hide \
             it"
        )));
    }

    let sql = c
        .edits
        .render_with(c.sql, &default_schema, &|kind| match kind {
            EditKind::ShardTable { logical, .. } => {
                let t = tables
                    .iter()
                    .find(|t| t.logical.eq_ignore_ascii_case(logical))?;
                let mut out = String::new();
                write_ident(&mut out, &t.temp, true);
                Some(out)
            }
            _ => None,
        });
    let temps: Vec<&str> = tables.iter().map(|t| t.temp.as_str()).collect();
    let sql = hints::without_index_hints(&sql, &temps);
    let reason = match &refusal {
        Error::Unsupported(m) => m.clone(),
        other => other.to_string(),
    };
    Ok(Plan::Materialize(Box::new(Materialize {
        db: db.clone(),
        group,
        tables,
        sql,
        reason,
        columns: pushdown::mentioned_columns(q),
    })))
}

/// A table of `q` (other than the sharded ones) spelled like one of the temporary tables,
/// which would hide it in the final statement.
fn named_like_a_copy(
    q: &Query,
    tables: &[MaterializedTable],
    is_sharded: &dyn Fn(&ObjectName) -> Option<String>,
) -> Option<String> {
    let mut found = None;
    let _ = sqlparser::ast::visit_relations(q, |name: &ObjectName| {
        let last = name
            .0
            .last()
            .and_then(|p| p.as_ident())
            .map(|i| i.value.clone());
        if let Some(last) = last {
            if is_sharded(name).is_none()
                && tables.iter().any(|t| t.temp.eq_ignore_ascii_case(&last))
            {
                found = Some(last);
                return std::ops::ControlFlow::Break(());
            }
        }
        std::ops::ControlFlow::Continue(())
    });
    found
}

fn fetch_text(db: &str, table: &str, filter: Option<&str>) -> String {
    let mut sql = String::from("SELECT * FROM ");
    write_ident(&mut sql, db, true);
    sql.push('.');
    write_ident(&mut sql, table, true);
    sql.push_str(" AS ");
    write_ident(&mut sql, FETCH_ALIAS, true);
    if let Some(f) = filter {
        sql.push_str(" WHERE ");
        sql.push_str(f);
    }
    sql
}

fn plan_fetch(sql: &str, c: &Collector<'_, '_>) -> Result<Plan> {
    let planned = {
        let _cleared = Reset(|| IN_FETCH.with(|f| f.set(false)));
        IN_FETCH.with(|f| f.set(true));
        super::plan(sql, c.ctx)
    };
    match planned? {
        p @ (Plan::Route(_) | Plan::Scatter(_)) => Ok(p),
        _ => Err(Error::Internal("a fetch planned as something else".into())),
    }
}

/// `shardgate_m<i>_<table>`, at most 64 bytes (MariaDB's limit for a name).
fn temp_name(i: usize, table: &str) -> String {
    let mut name = format!("shardgate_m{i}_{table}");
    if name.len() > 64 {
        let mut cut = 64;
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        name.truncate(cut);
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_planning_that_panics_while_forced_leaves_later_plannings_unforced() {
        let unwound = std::panic::catch_unwind(|| {
            forcing("ENUM order".into(), || -> () { panic!("a planner bug") })
        });
        assert!(unwound.is_err());
        assert_eq!(forced(), None);
        let seen = forcing("ENUM order".into(), forced);
        assert_eq!(seen.as_deref(), Some("ENUM order"));
        assert_eq!(forced(), None);
    }
}
