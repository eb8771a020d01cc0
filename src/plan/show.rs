//! SHOW, DESCRIBE and friends.
//!
//! - `SHOW DATABASES` lists logical databases (answered by the proxy);
//! - `SHOW [FULL] TABLES` runs on the default group, the executor hides the shard tables and
//!   adds the logical names;
//! - `DESCRIBE t`, `SHOW COLUMNS/FIELDS/INDEX/KEYS FROM t`, `SHOW CREATE TABLE t` on a sharded
//!   table run on shard 0 (all shards share one definition) with the physical name;
//! - `SHOW [SESSION] VARIABLES` too, with the session's last insert id in its `identity` and
//!   `last_insert_id` rows (`ResultRewrite::InsertIdVariables`);
//! - any other SHOW runs on the default group as written. (`SHOW WARNINGS`/`SHOW ERRORS` are
//!   intercepted by the frontend, which sends them to the connection that ran the previous
//!   statement.)

use sqlparser::ast::{
    Ident, ObjectName, ObjectNamePart, ShowStatementFilter, ShowStatementFilterPosition,
    ShowStatementOptions, Statement,
};
use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::{Token, TokenWithSpan};

use super::collect::Collector;
use super::names::{is_system_schema, write_ident, write_string_literal};
use super::route::{fallback_db, group_of, group_schema, render, single};
use super::tables::Resolved;
use super::{Plan, PlanContext, ResultRewrite, Route};

use crate::error::{Error, Result};

/// True for the statements this module plans.
pub(crate) fn is_show(s: &Statement) -> bool {
    matches!(
        s,
        Statement::ShowDatabases { .. }
            | Statement::ShowSchemas { .. }
            | Statement::ShowTables { .. }
            | Statement::ShowColumns { .. }
            | Statement::ShowCreate { .. }
            | Statement::ExplainTable { .. }
            | Statement::ShowVariable { .. }
            | Statement::ShowVariables { .. }
            | Statement::ShowStatus { .. }
            | Statement::ShowCollation { .. }
            | Statement::ShowCharset(_)
            | Statement::ShowProcessList { .. }
            | Statement::ShowFunctions { .. }
            | Statement::ShowViews { .. }
            | Statement::ShowObjects(_)
    )
}

pub(crate) fn plan(
    stmt: &Statement,
    sql: &str,
    tokens: &[TokenWithSpan],
    ctx: &PlanContext<'_>,
) -> Result<Plan> {
    match stmt {
        Statement::ShowDatabases { show_options, .. }
        | Statement::ShowSchemas { show_options, .. } => Ok(Plan::ShowDatabases {
            like: like(show_options, "SHOW DATABASES")?,
        }),
        Statement::ShowTables {
            full, show_options, ..
        } => show_tables(*full, show_options, ctx),
        Statement::ShowColumns { show_options, .. } => {
            let name = show_options
                .show_in
                .as_ref()
                .and_then(|i| i.parent_name.as_ref())
                .ok_or_else(|| Error::unsupported("SHOW COLUMNS without a table".to_string()))?;
            on_table(name, false, sql, tokens, ctx)
        }
        Statement::ExplainTable { table_name, .. } => on_table(table_name, false, sql, tokens, ctx),
        Statement::ShowCreate { obj_type, obj_name } => {
            let is_table = matches!(obj_type, sqlparser::ast::ShowCreateObject::Table);
            if is_table {
                on_table(obj_name, true, sql, tokens, ctx)
            } else {
                pass_through(Some(obj_name), sql, tokens, ctx)
            }
        }
        Statement::ShowVariable { variable } => {
            let first = variable.first().map(|i| i.value.to_ascii_uppercase());
            match first.as_deref() {
                Some("INDEX" | "INDEXES" | "KEYS") => {
                    let name = index_table(variable, sql)?;
                    // Each row's `Table` cell names the shard's physical table.
                    on_table(&name, true, sql, tokens, ctx)
                }
                // sqlparser knows SESSION and GLOBAL only.
                Some("LOCAL")
                    if variable
                        .get(1)
                        .is_some_and(|v| v.value.eq_ignore_ascii_case("VARIABLES")) =>
                {
                    let filtered = tokens
                        .iter()
                        .any(|t| matches!(&t.token, Token::Word(w) if w.keyword == Keyword::WHERE));
                    insert_id_variables(pass_through(None, sql, tokens, ctx)?, filtered)
                }
                _ => pass_through(None, sql, tokens, ctx),
            }
        }
        Statement::ShowVariables {
            global: false,
            filter,
            ..
        } => insert_id_variables(
            pass_through(None, sql, tokens, ctx)?,
            matches!(filter, Some(ShowStatementFilter::Where(_))),
        ),
        _ => pass_through(None, sql, tokens, ctx),
    }
}

/// A session-scope SHOW VARIABLES: see `ResultRewrite::InsertIdVariables`.
fn insert_id_variables(mut plan: Plan, filtered: bool) -> Result<Plan> {
    if let Plan::Route(route) = &mut plan {
        route.result_rewrite = ResultRewrite::InsertIdVariables {
            value: None,
            filtered,
        };
    }
    Ok(plan)
}

fn like(opts: &ShowStatementOptions, what: &str) -> Result<Option<String>> {
    match &opts.filter_position {
        None => Ok(None),
        Some(ShowStatementFilterPosition::Infix(f) | ShowStatementFilterPosition::Suffix(f)) => {
            match f {
                ShowStatementFilter::Like(p) => Ok(Some(p.clone())),
                _ => Err(Error::unsupported(format!(
                    "{what} with a filter other than LIKE"
                ))),
            }
        }
    }
}

fn show_tables(full: bool, opts: &ShowStatementOptions, ctx: &PlanContext<'_>) -> Result<Plan> {
    let like = like(opts, "SHOW TABLES")?;
    let db = match opts.show_in.as_ref().and_then(|i| i.parent_name.as_ref()) {
        Some(name) => {
            let ident = single_ident(name)?;
            if is_system_schema(&ident.value) {
                return system_tables(full, &ident.value, like, ctx);
            }
            ctx.rules
                .database(&ident.value)
                .ok_or_else(|| Error::UnknownDatabase(ident.value.clone()))?
        }
        None => match ctx.system_schema {
            Some(schema) => return system_tables(full, schema, like, ctx),
            None => ctx.current_db.ok_or(Error::NoDatabaseSelected)?,
        },
    };
    let schema = group_schema(db, db.default_group)?;
    let mut sql = String::from(if full {
        "SHOW FULL TABLES FROM "
    } else {
        "SHOW TABLES FROM "
    });
    write_ident(&mut sql, schema, true);
    Ok(Plan::ShowTables {
        db: db.clone(),
        full,
        like,
        sql,
    })
}

/// SHOW TABLES of a system schema: the servers' own, answered by the default group.
fn system_tables(
    full: bool,
    schema: &str,
    like: Option<String>,
    ctx: &PlanContext<'_>,
) -> Result<Plan> {
    let db = ctx
        .current_db
        .or_else(|| ctx.rules.databases().values().next())
        .ok_or(Error::NoDatabaseSelected)?;
    let mut sql = String::from(if full {
        "SHOW FULL TABLES FROM "
    } else {
        "SHOW TABLES FROM "
    });
    write_ident(&mut sql, schema, true);
    if let Some(p) = like {
        sql.push_str(" LIKE ");
        write_string_literal(&mut sql, &p);
    }
    Ok(single(
        db,
        db.default_group,
        None,
        sql,
        false,
        super::SYSTEM_SCHEMA_REASON.to_string(),
    ))
}

fn single_ident(name: &ObjectName) -> Result<&Ident> {
    match name.0.as_slice() {
        [ObjectNamePart::Identifier(i)] => Ok(i),
        _ => Err(Error::unsupported(format!("the database name {name}"))),
    }
}

/// `SHOW INDEX FROM t [FROM db]` / `SHOW INDEX FROM db.t`: sqlparser gives only a list of
/// words; rebuild the table name from them (their spans stay valid).
fn index_table(words: &[Ident], sql: &str) -> Result<ObjectName> {
    let is_from =
        |i: &Ident| i.value.eq_ignore_ascii_case("FROM") || i.value.eq_ignore_ascii_case("IN");
    let unsupported = || Error::unsupported("this form of SHOW INDEX".to_string());
    let parts: Vec<Ident> = match words {
        [_, f, t] if is_from(f) => vec![t.clone()],
        [_, f, t, f2, d] if is_from(f) && is_from(f2) => vec![d.clone(), t.clone()],
        [_, f, d, t] if is_from(f) => {
            // `db.t` arrives as two words: make sure a dot separated them.
            let offsets = super::offsets::Offsets::new(sql);
            let between = offsets
                .byte(d.span.end)
                .zip(offsets.byte(t.span.start))
                .and_then(|(a, b)| sql.get(a..b));
            if between.map(str::trim) != Some(".") {
                return Err(unsupported());
            }
            vec![d.clone(), t.clone()]
        }
        _ => return Err(unsupported()),
    };
    Ok(ObjectName(
        parts.into_iter().map(ObjectNamePart::Identifier).collect(),
    ))
}

/// A statement about one table: sharded tables are answered by shard 0; `rename_rows` when
/// the rows name the table (SHOW CREATE TABLE, SHOW INDEX).
fn on_table(
    name: &ObjectName,
    rename_rows: bool,
    sql: &str,
    tokens: &[TokenWithSpan],
    ctx: &PlanContext<'_>,
) -> Result<Plan> {
    let mut c = Collector::new(ctx, sql, "SHOW");
    let resolved = c.register_table(name)?;
    c.finish(tokens)?;
    let db = fallback_db(&c)?;
    if let (Resolved::Table { .. }, Some(&(rule, spec))) = (resolved, c.sharded.first()) {
        let group = group_of(db, spec.placement.first().copied())?;
        let schema = group_schema(db, group)?;
        let result_rewrite = if rename_rows {
            ResultRewrite::ShowCreateTable {
                physical: rule.physical_name(0),
                logical: rule.name.clone(),
            }
        } else {
            ResultRewrite::Columns
        };
        return Ok(Plan::Route(Route {
            db: db.clone(),
            targets: vec![super::Target {
                group,
                shard: Some(0),
                sql: render(&c, Some(0), schema),
            }],
            is_write: false,
            result_rewrite,
            spread: Default::default(),
            reason: format!("definition of sharded table '{}' from shard 0", rule.name),
            generated_id: None,
            all_shards: false,
            first_row_target: 0,
        }));
    }
    let schema = group_schema(db, db.default_group)?;
    Ok(single(
        db,
        db.default_group,
        None,
        render(&c, None, schema),
        false,
        "table definition: default group".to_string(),
    ))
}

/// Any other SHOW: the default group, as written (a named object's qualifier rewritten).
fn pass_through(
    name: Option<&ObjectName>,
    sql: &str,
    tokens: &[TokenWithSpan],
    ctx: &PlanContext<'_>,
) -> Result<Plan> {
    let mut c = Collector::new(ctx, sql, "SHOW");
    if let Some(name) = name {
        c.register_table(name)?;
    }
    c.finish(tokens)?;
    let db = fallback_db(&c)?;
    let schema = group_schema(db, db.default_group)?;
    Ok(single(
        db,
        db.default_group,
        None,
        render(&c, None, schema),
        false,
        "SHOW: default group".to_string(),
    ))
}
