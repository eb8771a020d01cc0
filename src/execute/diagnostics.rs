//! MariaDB leaves a session's diagnostics (SHOW WARNINGS, `@@warning_count`,
//! `@@error_count`) as they were across a statement that uses no table and raises nothing:
//! a SET, `SELECT 1`, `SELECT @@time_zone`. The proxy runs such a statement on whatever
//! connection it gets, which forgot (or, reading its own count, replaced) what the session
//! knew of the statement before. So that knowledge is set aside while it runs and put back
//! when it ended clean; a statement that failed or warned has diagnostics of its own.

use crate::backend::session_conns::AsideWireWarnings;
use crate::plan::{Plan, SessionKind, NO_TABLE_REASON};

use super::Session;

/// The previous statement's diagnostics as the session knew them.
pub struct Aside {
    /// None for a read of `@@warning_count` or `@@error_count`, which asks the previous
    /// statement's connection itself (`wire_read::asks_about_warnings`) and leaves it as
    /// its answer says.
    wire: Option<AsideWireWarnings>,
    /// A SET, whose own warnings are on every connection the session holds.
    set: bool,
    last_warnings: u16,
    last_error: Option<(u16, String)>,
}

/// The aside for a statement the server runs without touching its diagnostics when it
/// raises nothing, if `plan` is one.
pub fn set_aside(plan: &Plan, session: &mut Session) -> Option<Aside> {
    let set = matches!(plan, Plan::Session(s) if matches!(s.kind, SessionKind::Set { .. }));
    let asks_warnings = match plan {
        _ if set => false,
        Plan::Route(r) if reads_no_table(r) => r
            .targets
            .iter()
            .any(|t| super::wire_read::asks_about_warnings(r, t)),
        _ => return None,
    };
    Some(Aside {
        wire: (!asks_warnings).then(|| session.conns.set_aside_wire_warnings()),
        set,
        last_warnings: session.last_warnings,
        last_error: session.last_error.clone(),
    })
}

/// After each statement, which ended with `failure` or not and told the client
/// `warnings`: its error is the session's last. What `set_aside` took comes back if the
/// statement raised nothing; otherwise it is dropped (a kept connection goes back to serving
/// any read). A SET's own warnings are kept only where the session holds its connections
/// anyway (a user variable, a transaction): else its driver connections would stay with an
/// idle session (the pool's slots are worth more than a deprecation notice), and SHOW
/// WARNINGS says they are gone (1235).
pub fn after_statement(
    session: &mut Session,
    aside: Option<Aside>,
    failure: Option<(u16, String)>,
    warnings: u16,
) {
    let failed = failure.is_some();
    session
        .conns
        .note_statement_diagnostics(failed || warnings > 0);
    session.last_error = failure;
    let Some(aside) = aside else {
        return;
    };
    if failed {
        return;
    }
    if warnings > 0 {
        if aside.set {
            if session.conns.keeps_connections() || session.txn.pins_connections() {
                // Held anyway: SHOW WARNINGS asks the connection the SET ran on.
                session.last_warnings = warnings;
            } else {
                session.last_warnings = 0;
                session.conns.wire_warnings_lost();
            }
        }
        return;
    }
    session.last_warnings = aside.last_warnings;
    session.last_error = aside.last_error;
    if let Some(wire) = aside.wire {
        session.conns.put_back_wire_warnings(wire);
    }
}

/// An idle session kept its driver connections only for the warnings of its last statement,
/// and another session waits for a slot of their pool: they go back (a session idling with
/// warnings must not lock others out of a server), and the warnings with them, so SHOW
/// WARNINGS says they are gone (1235) rather than list another connection's. Connections a
/// server still counts in a transaction stay.
pub fn give_back_warned_connections(session: &mut Session) {
    session.conns.release_between_statements(false, false);
    if !session.conns.holds_any() {
        session.last_warnings = 0;
        session.conns.wire_warnings_lost();
    }
}

/// A read the server runs without touching its diagnostics when it raises nothing (and
/// whose PREPARE leaves them alone too).
pub fn reads_no_table(route: &crate::plan::Route) -> bool {
    !route.is_write
        && route.reason == NO_TABLE_REASON
        && route.targets.iter().all(|t| !reads_a_derived_table(&t.sql))
}

/// A SELECT without a table of the rules may still read a derived table (`FROM (SELECT 1)
/// d`, in a subquery or a UNION's second SELECT too): the server then counts it as using a
/// table and clears its diagnostics (what `wire_read::clear_warnings` relies on). Only
/// `FROM DUAL` does not. A FROM inside a function's parentheses (`EXTRACT(YEAR FROM ..)`,
/// `TRIM(.. FROM ..)`) is no clause.
fn reads_a_derived_table(sql: &str) -> bool {
    let toks: Vec<crate::plan::lexer::Token> = crate::plan::lexer::significant(sql).collect();
    // For each open parenthesis: whether a query starts inside it.
    let mut queries: Vec<bool> = Vec::new();
    for (i, t) in toks.iter().enumerate() {
        match t.kind {
            crate::plan::lexer::Kind::Punct(b'(') => {
                queries.push(toks.get(i + 1).is_some_and(|n| {
                    n.is_word(sql, "SELECT") || n.is_word(sql, "WITH") || n.is_word(sql, "VALUES")
                }))
            }
            crate::plan::lexer::Kind::Punct(b')') => {
                queries.pop();
            }
            _ if t.is_word(sql, "FROM")
                && queries.last().is_none_or(|q| *q)
                && !toks.get(i + 1).is_some_and(|n| n.is_word(sql, "DUAL")) =>
            {
                return true;
            }
            _ => {}
        }
    }
    false
}
