//! Session statements, recognised by their leading keywords rather than parsed: sqlparser
//! cannot parse several MySQL forms (`SET @a := 1`) and prints others back with a different
//! meaning (`SET SESSION TRANSACTION` loses SESSION), and they are sent as written anyway.
//!
//! - `SET ...` runs on every backend connection of the session and is replayed on the ones
//!   opened later, except `SET TRANSACTION` (without SESSION), which applies to the next
//!   transaction only. `SET GLOBAL` / `SET PERSIST` are refused: they would change one
//!   server's configuration behind the proxy's back. A SET with a subquery is refused (its
//!   tables would not be rewritten).
//! - transaction control (BEGIN, START TRANSACTION, COMMIT, ROLLBACK, SAVEPOINT, RELEASE
//!   SAVEPOINT) is not replayed.
//! - `USE db` selects a logical database.

use super::lexer::{ident_value, significant, Kind, Token};
use super::names::is_rule_table_anywhere;
use super::{Plan, PlanContext, SessionStatement};
use crate::error::{Error, Result};

pub(crate) fn set(sql: &str, ctx: &PlanContext<'_>) -> Result<Plan> {
    let toks: Vec<Token> = significant(sql).collect();
    for t in &toks {
        if matches!(t.kind, Kind::Word | Kind::QuotedIdent)
            && is_rule_table_anywhere(ctx.rules, &ident_value(t, sql))
        {
            return Err(Error::unsupported(format!(
                "SET naming table '{}' (it runs on every connection, unrewritten)",
                ident_value(t, sql)
            )));
        }
        let global = match t.kind {
            Kind::Word => ["GLOBAL", "PERSIST", "PERSIST_ONLY"]
                .iter()
                .any(|w| t.is_word(sql, w)),
            Kind::Variable => {
                let v = t.text(sql).to_ascii_lowercase();
                v.starts_with("@@global.") || v.starts_with("@@persist")
            }
            _ => false,
        };
        if global {
            return Err(Error::unsupported(
                "SET GLOBAL: it is not forwarded, set it on each server".to_string(),
            ));
        }
        if t.is_word(sql, "SELECT") {
            return Err(Error::unsupported("SET with a subquery".to_string()));
        }
    }
    // toks[0] is SET.
    let second = toks.get(1);
    let word = |t: Option<&Token>, w: &str| t.is_some_and(|t| t.is_word(sql, w));
    for refused in ["PASSWORD", "ROLE", "DEFAULT", "STATEMENT"] {
        if word(second, refused) {
            return Err(Error::unsupported(format!("SET {refused}")));
        }
    }
    // SET SESSION TRANSACTION / SET LOCAL TRANSACTION keep applying, and are replayed.
    let replay = !word(second, "TRANSACTION");
    Ok(Plan::Session(SessionStatement {
        sql: sql.to_string(),
        replay,
    }))
}

/// BEGIN, START TRANSACTION, COMMIT, ROLLBACK, SAVEPOINT, RELEASE SAVEPOINT.
pub(crate) fn transaction(sql: &str) -> Plan {
    Plan::Session(SessionStatement {
        sql: sql.to_string(),
        replay: false,
    })
}

pub(crate) fn use_db(sql: &str, ctx: &PlanContext<'_>) -> Result<Plan> {
    let mut toks = significant(sql).skip(1);
    let name = toks.next();
    let rest = toks.find(|t| t.kind != Kind::Punct(b';'));
    let (Some(name), None) = (name, rest) else {
        return Err(Error::Syntax(
            "USE needs exactly one database name".to_string(),
        ));
    };
    if !matches!(name.kind, Kind::Word | Kind::QuotedIdent) {
        return Err(Error::Syntax(format!(
            "near '{}': expected a database name after USE",
            name.text(sql)
        )));
    }
    let name = ident_value(&name, sql).into_owned();
    if ctx.rules.database(&name).is_none() {
        return Err(Error::UnknownDatabase(name));
    }
    Ok(Plan::UseDatabase(name))
}
