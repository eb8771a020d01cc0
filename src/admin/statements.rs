//! Recognising the proxy's own admin statements, read by the lexer: `SHOW SHARDGATE
//! GROUPS | RULES | SESSIONS | STATS`, `SHARDGATE RELOAD` and `SHARDGATE PREVIEW
//! <statement>`. A statement that starts like one but says something else (`SHOW SHARDGATE
//! FOO`, a bare `SHARDGATE PREVIEW`) is a syntax error naming what is wrong; no backend
//! would understand it either.

use crate::error::{Error, Result};
use crate::plan::lexer::{significant, Kind, Token};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminStatement<'a> {
    ShowGroups,
    ShowRules,
    ShowSessions,
    ShowStats,
    Reload,
    /// The statement to preview, as written after `PREVIEW`.
    Preview(&'a str),
}

impl AdminStatement<'_> {
    /// The statement's name, for the error that refuses it to a user without `admin`.
    pub fn name(&self) -> &'static str {
        match self {
            AdminStatement::ShowGroups => "SHOW SHARDGATE GROUPS",
            AdminStatement::ShowRules => "SHOW SHARDGATE RULES",
            AdminStatement::ShowSessions => "SHOW SHARDGATE SESSIONS",
            AdminStatement::ShowStats => "SHOW SHARDGATE STATS",
            AdminStatement::Reload => "SHARDGATE RELOAD",
            AdminStatement::Preview(_) => "SHARDGATE PREVIEW",
        }
    }
}

const SHOW_WHAT: &str = "SHOW SHARDGATE GROUPS, RULES, SESSIONS, STATS or TRANSACTIONS";

/// `None` when `sql` is none of the admin statements.
pub fn recognise(sql: &str) -> Option<Result<AdminStatement<'_>>> {
    // Unicode whitespace first (which the lexer would read as part of a word), as the
    // word-based recognisers before this one accepted it.
    let sql = sql.trim_start();
    let mut toks = significant(sql).filter(|t| t.kind != Kind::Punct(b';'));
    let first = toks.next()?;
    if first.is_word(sql, "SHOW") {
        let second = toks.next()?;
        if !second.is_word(sql, "SHARDGATE") {
            return None;
        }
        let Some(what) = toks.next() else {
            return Some(Err(Error::Syntax(format!(
                "SHOW SHARDGATE needs what to show: {SHOW_WHAT}"
            ))));
        };
        let stmt = match word(&what, sql).to_ascii_uppercase().as_str() {
            "GROUPS" => AdminStatement::ShowGroups,
            "RULES" => AdminStatement::ShowRules,
            "SESSIONS" => AdminStatement::ShowSessions,
            "STATS" => AdminStatement::ShowStats,
            _ => {
                return Some(Err(Error::Syntax(format!(
                    "unknown SHOW SHARDGATE {}: shardgate has {SHOW_WHAT}",
                    what.text(sql)
                ))))
            }
        };
        if let Some(extra) = toks.next() {
            return Some(Err(Error::Syntax(format!(
                "{} takes nothing after it, near '{}'",
                stmt.name(),
                near(sql, extra)
            ))));
        }
        return Some(Ok(stmt));
    }
    if !first.is_word(sql, "SHARDGATE") {
        return None;
    }
    let Some(what) = toks.next() else {
        return Some(Err(Error::Syntax(
            "SHARDGATE needs a command: SHARDGATE RELOAD, SHARDGATE PREVIEW <statement> or SHARDGATE RESOLVE".into(),
        )));
    };
    if what.is_word(sql, "RELOAD") {
        return Some(match toks.next() {
            None => Ok(AdminStatement::Reload),
            Some(extra) => Err(Error::Syntax(format!(
                "SHARDGATE RELOAD takes nothing after it, near '{}'",
                near(sql, extra)
            ))),
        });
    }
    if what.is_word(sql, "PREVIEW") {
        let rest = sql[what.end..].trim();
        let rest = rest.strip_suffix(';').unwrap_or(rest).trim_end();
        if toks.next().is_none() {
            return Some(Err(Error::Syntax(
                "SHARDGATE PREVIEW needs the statement to preview after it, near ''".into(),
            )));
        }
        return Some(Ok(AdminStatement::Preview(rest)));
    }
    Some(Err(Error::Syntax(format!(
        "unknown SHARDGATE command '{}': SHARDGATE RELOAD, SHARDGATE PREVIEW <statement> or SHARDGATE RESOLVE",
        what.text(sql)
    ))))
}

fn word<'a>(t: &Token, sql: &'a str) -> &'a str {
    if t.kind == Kind::Word {
        t.text(sql)
    } else {
        ""
    }
}

fn near(sql: &str, t: Token) -> String {
    sql[t.start..].chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(sql: &str) -> AdminStatement<'_> {
        recognise(sql).expect("recognised").expect("valid")
    }

    fn code(sql: &str) -> u16 {
        recognise(sql).expect("recognised").unwrap_err().code()
    }

    #[test]
    fn recognises_each_statement() {
        assert_eq!(ok("SHOW SHARDGATE RULES"), AdminStatement::ShowRules);
        assert_eq!(
            ok(" show  shardgate\tsessions ;"),
            AdminStatement::ShowSessions
        );
        assert_eq!(
            ok("/* x */ SHOW SHARDGATE STATS"),
            AdminStatement::ShowStats
        );
        assert_eq!(ok("SHOW SHARDGATE GROUPS"), AdminStatement::ShowGroups);
        assert_eq!(ok("shardgate reload;"), AdminStatement::Reload);
        assert_eq!(
            ok("SHARDGATE PREVIEW SELECT * FROM t WHERE id = 1;"),
            AdminStatement::Preview("SELECT * FROM t WHERE id = 1")
        );
    }

    #[test]
    fn other_statements_are_not_admin() {
        assert!(recognise("SHOW TABLES").is_none());
        assert!(recognise("SELECT 'SHOW SHARDGATE RULES'").is_none());
        assert!(recognise("SHOW").is_none());
        assert!(recognise("").is_none());
    }

    #[test]
    fn malformed_admin_statements_are_syntax_errors() {
        assert_eq!(code("SHOW SHARDGATE"), 1064);
        assert_eq!(code("SHOW SHARDGATE FOO"), 1064);
        assert_eq!(code("SHOW SHARDGATE STATS NOW"), 1064);
        assert_eq!(code("SHARDGATE"), 1064);
        assert_eq!(code("SHARDGATE PREVIEW"), 1064);
        assert_eq!(code("SHARDGATE PREVIEW ;"), 1064);
        assert_eq!(code("SHARDGATE PREVIEW /* only */"), 1064);
        assert_eq!(code("SHARDGATE FLY"), 1064);
        assert_eq!(code("SHARDGATE RELOAD NOW"), 1064);
        let msg = recognise("SHARDGATE PREVIEW")
            .unwrap()
            .unwrap_err()
            .to_string();
        assert!(msg.contains("needs the statement to preview"), "{msg}");
    }
}
