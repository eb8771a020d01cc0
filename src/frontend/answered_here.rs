//! Statements the proxy answers from its own state, never sent to a backend as they are:
//! the admin statements (`SHARDGATE RELOAD | PREVIEW`, `SHOW SHARDGATE ...`, see
//! `admin::statements`), `KILL ...`, `SHOW [FULL] PROCESSLIST`, and `SHOW WARNINGS` (run on
//! the connection of the statement it is about).
//!
//! Every statement passes here, so each recogniser runs only where the statement's first
//! word (`plan::FirstWord`, read once) allows it: a point SELECT or an UPDATE gets through
//! with a few word comparisons.

use crate::admin::statements::AdminStatement;
use crate::error::Result;
use crate::plan::kill::Kill;
use crate::plan::FirstWord;

/// A statement the proxy answers itself.
pub(super) enum AnsweredHere<'a> {
    /// `SHOW SHARDGATE TRANSACTIONS`, `SHARDGATE RESOLVE`, and the clients' own `XA ...`
    /// (refused), see `xa_admin`.
    Xa(super::xa_admin::XaStatement),
    /// `Err` is the statement's syntax error (`SHOW SHARDGATE FOO`).
    Admin(Result<AdminStatement<'a>>),
    /// `Err` is the KILL's own syntax error or refusal.
    Kill(Result<Kill>),
    ShowProcesslist {
        full: bool,
    },
}

/// Which statement the proxy answers itself `sql` is, if any (SHOW WARNINGS aside: see
/// `is_show_warnings`).
pub(super) fn recognise<'a>(first: FirstWord<'_>, sql: &'a str) -> Option<AnsweredHere<'a>> {
    if let Some(xa) = super::xa_admin::recognise(first, sql) {
        return Some(AnsweredHere::Xa(xa));
    }
    if first.may_be("SHARDGATE") || first.may_be("SHOW") {
        if let Some(admin) = crate::admin::statements::recognise(sql) {
            return Some(AnsweredHere::Admin(admin));
        }
    }
    if first.may_be("KILL") {
        if let Some(kill) = crate::plan::kill::parse(sql) {
            return Some(AnsweredHere::Kill(kill));
        }
    }
    if first.may_be("SHOW") {
        if let Some(full) = crate::admin::processlist::is_show_processlist(sql) {
            return Some(AnsweredHere::ShowProcesslist { full });
        }
    }
    None
}

/// `SHOW WARNINGS` / `SHOW ERRORS` / `SHOW COUNT(*) WARNINGS` are about the previous
/// statement, so they must go to the connection that ran it, not to a routed one.
pub(super) fn is_show_warnings(first: FirstWord<'_>, sql: &str) -> bool {
    first.may_be("SHOW") && show_diagnostics(sql).is_some()
}

/// Which diagnostics statement a `SHOW` is, read past comments and spaces as the server
/// reads it (`SHOW /* c */ COUNT ( * ) ERRORS`): a split at whitespace took such forms for
/// other statements, sent them to a backend connection (which answered its own list), or
/// answered a count with a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ShowDiagnostics {
    /// `SHOW COUNT(*) ...`: one row, the count, in the server's one column.
    pub counted: bool,
    /// `... ERRORS` rather than `... WARNINGS`.
    pub errors: bool,
}

pub(super) fn show_diagnostics(sql: &str) -> Option<ShowDiagnostics> {
    use crate::plan::lexer::{significant, Kind, Token};
    let mut toks = significant(sql);
    let mut next = || toks.next();
    let word = |t: Option<Token>, w: &str| t.is_some_and(|t| t.is_word(sql, w));
    let punct = |t: Option<Token>, p: u8| t.is_some_and(|t| t.kind == Kind::Punct(p));
    let list = |t: Option<Token>| {
        if word(t, "WARNINGS") {
            Some(false)
        } else if word(t, "ERRORS") {
            Some(true)
        } else {
            None
        }
    };
    if !word(next(), "SHOW") {
        return None;
    }
    let second = next();
    if let Some(errors) = list(second) {
        return Some(ShowDiagnostics {
            counted: false,
            errors,
        });
    }
    // `COUNT (*)` is a syntax error on the server: the parenthesis must follow at once.
    let open = next();
    let counted = word(second, "COUNT")
        && punct(open, b'(')
        && second.zip(open).is_some_and(|(c, o)| c.end == o.start)
        && punct(next(), b'*')
        && punct(next(), b')');
    if !counted {
        return None;
    }
    list(next()).map(|errors| ShowDiagnostics {
        counted: true,
        errors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show_warnings(sql: &str) -> bool {
        is_show_warnings(FirstWord::of(sql), sql)
    }

    #[test]
    fn show_warnings_forms() {
        assert!(show_warnings("SHOW WARNINGS"));
        assert!(show_warnings("  show errors limit 1"));
        assert!(show_warnings("SHOW COUNT(*) WARNINGS"));
        assert!(show_warnings("show count(*)  errors"));
        assert!(!show_warnings("SHOW COUNT(*)"));
        assert!(!show_warnings("SHOW TABLES"));
        assert!(!show_warnings("SELECT 'SHOW WARNINGS'"));
        assert!(!show_warnings("SHOW"));
        assert!(
            !show_warnings("\u{a0}SHOW WARNINGS"),
            "a syntax error on the server (checked), which it answers"
        );
    }

    #[test]
    fn diagnostics_statements_read_past_comments_and_spaces() {
        let d = |counted, errors| Some(ShowDiagnostics { counted, errors });
        assert_eq!(show_diagnostics("SHOW WARNINGS LIMIT 1"), d(false, false));
        assert_eq!(show_diagnostics("/* c */ show errors;"), d(false, true));
        assert_eq!(
            show_diagnostics("SHOW /* c */ COUNT(*) WARNINGS"),
            d(true, false)
        );
        assert_eq!(
            show_diagnostics("SHOW COUNT( * ) ERRORS /* c */"),
            d(true, true)
        );
        assert_eq!(
            show_diagnostics("SHOW COUNT(/* x */*)WARNINGS"),
            d(true, false)
        );
        // The server's syntax error (checked), which it answers.
        assert_eq!(show_diagnostics("SHOW COUNT (*) WARNINGS"), None);
        assert_eq!(
            show_diagnostics("SHOW COUNT(*)\n-- x\nERRORS;"),
            d(true, true)
        );
        assert_eq!(show_diagnostics("SHOW COUNT(*) TABLES"), None);
        assert_eq!(show_diagnostics("SHOW COUNT(1) WARNINGS"), None);
        assert_eq!(show_diagnostics("SHOW TABLES"), None);
        assert_eq!(show_diagnostics("SELECT 'SHOW WARNINGS'"), None);
    }

    #[test]
    fn recognises_by_the_first_word() {
        let kind = |sql: &str| match recognise(FirstWord::of(sql), sql) {
            Some(AnsweredHere::Admin(Ok(AdminStatement::Reload))) => "reload",
            Some(AnsweredHere::Admin(Ok(AdminStatement::ShowGroups))) => "groups",
            Some(AnsweredHere::Admin(Ok(AdminStatement::Preview(_)))) => "preview",
            Some(AnsweredHere::Admin(Ok(_))) => "admin",
            Some(AnsweredHere::Admin(Err(_))) => "admin error",
            Some(AnsweredHere::Kill(_)) => "kill",
            Some(AnsweredHere::Xa(super::super::xa_admin::XaStatement::ShowTransactions)) => {
                "transactions"
            }
            Some(AnsweredHere::Xa(_)) => "xa",
            Some(AnsweredHere::ShowProcesslist { full: true }) => "full processlist",
            Some(AnsweredHere::ShowProcesslist { full: false }) => "processlist",
            None => "none",
        };
        assert_eq!(kind("SHARDGATE RELOAD"), "reload");
        assert_eq!(kind(" show shardgate groups;"), "groups");
        assert_eq!(kind("/* x */ KILL QUERY 5"), "kill");
        assert_eq!(kind("kill"), "kill");
        assert_eq!(kind("SHOW FULL PROCESSLIST"), "full processlist");
        assert_eq!(kind("show processlist"), "processlist");
        assert_eq!(kind("SELECT c FROM sbtest1 WHERE id = 5"), "none");
        assert_eq!(kind("UPDATE t SET k = 1 WHERE id = 2"), "none");
        assert_eq!(kind("\u{a0}SHARDGATE RELOAD"), "reload");
        assert_eq!(kind("SHARDGATE PREVIEW SELECT 1"), "preview");
        assert_eq!(kind("show shardgate stats"), "admin");
        assert_eq!(kind("SHOW SHARDGATE"), "admin error");
        assert_eq!(kind("SHOW TABLES"), "none");
        assert_eq!(kind("/* c */ SHOW SHARDGATE TRANSACTIONS"), "transactions");
        assert_eq!(kind("/*!XA RECOVER*/"), "xa");
        assert_eq!(kind("SHARDGATE RESOLVE 'x' COMMIT"), "xa");
    }
}
