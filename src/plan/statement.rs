//! The parsed path: parse, then hand the statement to the module that plans its kind.
//!
//! ALTER TABLE is read from tokens (`ddl_tokens`), and so is other table-level DDL that
//! sqlparser cannot parse. Any other statement sqlparser cannot parse is refused with its
//! syntax error, with one exception:
//! a SELECT or SHOW whose text names no sharded or broadcast table at all (checked as a plain
//! case-insensitive substring, so even a mention in a string or comment counts) goes to the
//! default group unchanged. MariaDB has syntax sqlparser lacks, and such a statement cannot
//! touch a sharded table, so the server can judge it; its unsharded tables must then be
//! named as they are physically (a qualifier is not rewritten).

use sqlparser::ast::Statement;

use super::classify::statement_name;
use super::ddl_tokens::{self, Shapes};
use super::lexer::{self, significant};
use super::mentions::mentions;
use super::parse::{parse, ParseFail};
use super::route::single;
use super::{ddl, dml, show, Plan, PlanContext, ResultRewrite};
use crate::error::{Error, Result};

pub(crate) fn plan(sql: &str, ctx: &PlanContext<'_>, analyze_statement: bool) -> Result<Plan> {
    if super::FirstWord::of(sql).may_be("SHOW") {
        if let Some(e) = super::show_diagnostics::malformed(sql) {
            return Err(e);
        }
    }
    if !analyze_statement {
        if let Some(plan) = ddl_tokens::plan(sql, ctx, Shapes::Alter) {
            return plan;
        }
        if let Some(plan) = super::table_status::plan(sql, ctx) {
            return plan;
        }
    }
    let parsed = match parse(sql, analyze_statement) {
        Ok(p) => p,
        Err(ParseFail::Refused(e)) => return Err(e),
        Err(ParseFail::Syntax(msg)) => return unparsable(sql, ctx, msg),
    };
    let (stmt, tokens) = (&parsed.stmt, parsed.tokens.as_slice());
    if analyze_statement {
        if let Statement::Explain { statement, .. } = stmt {
            return dml::plan(
                stmt,
                statement,
                sql,
                tokens,
                ctx,
                dml::is_write_statement(statement),
            );
        }
    }
    match stmt {
        Statement::Query(_)
        | Statement::Insert(_)
        | Statement::Update(_)
        | Statement::Delete(_) => {
            dml::plan(stmt, stmt, sql, tokens, ctx, dml::is_write_statement(stmt))
        }
        Statement::Explain { statement, .. }
            if matches!(
                **statement,
                Statement::Query(_)
                    | Statement::Insert(_)
                    | Statement::Update(_)
                    | Statement::Delete(_)
            ) =>
        {
            dml::plan(stmt, stmt, sql, tokens, ctx, false)
        }
        s if show::is_show(s) => show::plan(s, sql, tokens, ctx),
        s if ddl::is_ddl(s) => ddl::plan(s, &ddl::name(s, sql), sql, tokens, ctx),
        _ => Err(Error::unsupported(statement_name(sql, 2))),
    }
}

/// True if `sql` mentions the name of any sharded or broadcast table of any database.
fn mentions_rule_table(sql: &str, ctx: &PlanContext<'_>) -> bool {
    let lower = sql.to_ascii_lowercase();
    ctx.rules
        .databases()
        .values()
        .any(|db| db.tables.keys().any(|name| lower.contains(name.as_str())))
}

fn default_route(sql: &str, ctx: &PlanContext<'_>, reason: &str) -> Result<Plan> {
    let db = ctx
        .current_db
        .or_else(|| ctx.rules.databases().values().next())
        .ok_or(Error::NoDatabaseSelected)?;
    Ok(single(
        db,
        db.default_group,
        None,
        sql.to_string(),
        false,
        reason.to_string(),
    ))
}

fn unparsable(sql: &str, ctx: &PlanContext<'_>, msg: String) -> Result<Plan> {
    if let Some(plan) = ddl_tokens::plan(sql, ctx, Shapes::All) {
        return plan;
    }
    let first = significant(sql).next();
    let read_only = first.is_some_and(|t| t.is_word(sql, "SELECT") || t.is_word(sql, "SHOW"));
    if read_only && !mentions_rule_table(sql, ctx) && !lexer::has_second_statement(sql) {
        let mut plan = default_route(
            sql,
            ctx,
            "not understood by the parser, names no sharded table: default group as written",
        )?;
        if let Plan::Route(r) = &mut plan {
            // A locking read (FOR UPDATE, LOCK IN SHARE MODE) must run on the masters.
            r.is_write =
                significant(sql).any(|t| t.is_word(sql, "UPDATE") || t.is_word(sql, "SHARE"));
            let b = sql.as_bytes();
            let reads_session_values =
                mentions(b, b"session_variables") || mentions(b, b"system_variables");
            if lists_session_variables(sql) {
                // Whatever its filter says, the server evaluates it with its own values.
                r.result_rewrite = ResultRewrite::InsertIdVariables {
                    value: None,
                    filtered: true,
                };
            } else if reads_session_values {
                r.result_rewrite = ResultRewrite::InsertIdRows;
            }
        }
        return Ok(plan);
    }
    Err(Error::Syntax(msg))
}

/// `SHOW [SESSION | LOCAL] VARIABLES ...` (not GLOBAL).
fn lists_session_variables(sql: &str) -> bool {
    let toks: Vec<_> = significant(sql).take(3).collect();
    let word = |i: usize, w: &str| toks.get(i).is_some_and(|t| t.is_word(sql, w));
    word(0, "SHOW")
        && (word(1, "VARIABLES")
            || (word(1, "SESSION") || word(1, "LOCAL")) && word(2, "VARIABLES"))
}

/// OPTIMIZE / REPAIR / CHECK / CHECKSUM / ANALYZE TABLE: fine on unsharded tables, which are
/// in the default group; on sharded or broadcast tables they would have to run everywhere.
pub(crate) fn maintenance(sql: &str, ctx: &PlanContext<'_>) -> Result<Plan> {
    if mentions_rule_table(sql, ctx) {
        return Err(Error::unsupported(format!(
            "{} on sharded or broadcast tables",
            statement_name(sql, 2)
        )));
    }
    let mut plan = default_route(sql, ctx, "table maintenance: default group")?;
    if let Plan::Route(r) = &mut plan {
        r.is_write = true;
    }
    Ok(plan)
}

/// CREATE / ALTER / DROP SEQUENCE: sequences are not sharded; like unsharded tables they live
/// in the default group, where `NEXTVAL` (always on the master, see `side_effects`) finds them.
pub(crate) fn sequence_ddl(sql: &str, ctx: &PlanContext<'_>) -> Result<Plan> {
    if mentions_rule_table(sql, ctx) {
        return Err(Error::unsupported(format!(
            "{} naming a sharded or broadcast table",
            statement_name(sql, 2)
        )));
    }
    let mut plan = default_route(sql, ctx, "sequence: default group")?;
    if let Plan::Route(r) = &mut plan {
        r.is_write = true;
    }
    Ok(plan)
}
