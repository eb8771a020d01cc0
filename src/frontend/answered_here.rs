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
pub(super) use crate::plan::show_diagnostics::{show_diagnostics, ShowDiagnostics};

pub(super) fn is_show_warnings(first: FirstWord<'_>, sql: &str) -> bool {
    first.may_be("SHOW") && show_diagnostics(sql).is_some()
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
