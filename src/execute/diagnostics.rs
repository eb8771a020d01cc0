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
    last_warnings: u16,
    last_error: Option<(u16, String)>,
}

/// The aside for a statement the server runs without touching its diagnostics when it
/// raises nothing, if `plan` is one.
pub fn set_aside(plan: &Plan, session: &mut Session) -> Option<Aside> {
    let asks_warnings = match plan {
        Plan::Session(s) if matches!(s.kind, SessionKind::Set { .. }) => false,
        Plan::Route(r) if !r.is_write && r.reason == NO_TABLE_REASON => r
            .targets
            .iter()
            .any(|t| super::wire_read::asks_about_warnings(r, t)),
        _ => return None,
    };
    Some(Aside {
        wire: (!asks_warnings).then(|| session.conns.set_aside_wire_warnings()),
        last_warnings: session.last_warnings,
        last_error: session.last_error.clone(),
    })
}

/// After the statement, which failed or not and told the client `warnings`: what the
/// session knew before comes back if the statement raised nothing; otherwise it is dropped
/// (a kept connection goes back to serving any read). The warnings a read of
/// `@@warning_count` is told are the previous statement's, not its own.
pub fn after(session: &mut Session, aside: Aside, failed: bool, warnings: u16) {
    if failed {
        return;
    }
    match aside.wire {
        None => session.last_error = aside.last_error,
        Some(_) if warnings > 0 => {}
        Some(wire) => {
            session.conns.put_back_wire_warnings(wire);
            session.last_warnings = aside.last_warnings;
            session.last_error = aside.last_error;
        }
    }
}
