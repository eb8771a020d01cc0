//! Fetching a sharded table's column order for the planner (see `plan::columns`): one query
//! on the master of shard 0's group, on the session's own connection there.

use mysql_async::prelude::Queryable;

use crate::config::model::Rules;
use crate::error::Error;
use crate::plan::{ColumnOrders, ColumnsWanted, Plan, PlanContext};

use super::{Context, Session};

/// Reads the column names of `w.table` in table order into `orders`. A table without
/// columns does not exist: 1146 under its logical name.
pub async fn fetch(
    w: &ColumnsWanted,
    orders: &ColumnOrders,
    ctx: &Context<'_>,
    session: &mut Session,
) -> Result<(), Error> {
    let db = ctx
        .rules
        .database(&w.db)
        .ok_or_else(|| Error::UnknownDatabase(w.db.clone()))?
        .clone();
    let conn = session.conns.get(ctx.backends, &db, w.group).await?;
    let columns: Vec<String> = conn
        .exec(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
            (w.schema.as_str(), w.table.as_str()),
        )
        .await?;
    if columns.is_empty() {
        return Err(Error::NoSuchTable {
            db: w.db.clone(),
            table: w.logical.clone(),
        });
    }
    orders.insert(w, columns);
    Ok(())
}

/// Plans `sql` for the session; when the planner needs a table's column order, fetches it
/// and plans again.
/// How the statement is read: the session's syntax and the functions known not to write.
#[derive(Clone, Copy)]
pub struct Reading<'a> {
    pub syntax: crate::plan::Syntax,
    pub read_only_functions: &'a [String],
}

pub async fn plan(
    sql: &str,
    orders: &ColumnOrders,
    reading: Reading<'_>,
    ctx: &Context<'_>,
    session: &mut Session,
) -> Result<Plan, Error> {
    let plan_once = |session: &Session| {
        crate::plan::plan(
            sql,
            &PlanContext {
                rules: ctx.rules,
                current_db: session.current_db.as_ref(),
                columns: Some(orders),
                system_schema: session.system_schema.as_deref(),
                syntax: reading.syntax,
                read_only_functions: reading.read_only_functions,
            },
        )
    };
    match plan_once(session) {
        Err(Error::NeedColumns(w)) => {
            fetch(&w, orders, ctx, session).await?;
            plan_once(session)
        }
        planned => planned,
    }
}

/// After a statement ran: DDL (`changes_columns`, see `plan::first_word_changes_columns`)
/// forgets every column order, which it may have changed, and the plans made from them.
/// `rules`: the statement's and the current ones (a transaction keeps the rules it began
/// with across a reload).
pub fn after_statement(changes_columns: bool, orders: &ColumnOrders, rules: &[&Rules]) {
    if changes_columns {
        orders.forget_all();
        rules.iter().for_each(|r| r.plans.forget_all());
    }
}
