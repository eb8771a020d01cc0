//! A transaction that lost a group: its connection there broke (or was dropped), so the
//! server rolled that part back and released its locks and snapshot. One server would have
//! lost all of it; so does the proxy. The statement that found out fails with 1213 / 40001,
//! the other groups are rolled back at once (their locks must not outlive the transaction),
//! and every later statement but ROLLBACK gets the same error, COMMIT included, until the
//! client rolls back.
//!
//! A deadlock (1213 from a group) rolled back the group's part on the server: the other
//! groups are rolled back too and the transaction is over, as on one server.

use crate::backend::ServerRef;
use crate::error::Error;
use crate::plan::{Plan, SessionKind};

use super::super::{Failure, Session};
use super::end::rollback_quietly;

/// Server errors after which the connection is gone (the server closes it).
pub(crate) fn connection_gone(code: u16) -> bool {
    crate::backend::wire::code_ends_connection(code)
}

/// Marks the transaction lost when the connection of a group it runs on is gone or was
/// replaced, whichever path dropped it.
/// Runs before and after every statement of a transaction: the groups are looked at in
/// place, not cloned (their texts made it a thousand instructions a statement).
fn verify_connections(session: &mut Session) {
    // Each pass removes the group it finds lost, so there are at most as many as groups.
    for _ in 0..session.txn.groups.len() {
        let conns = &session.conns;
        let Some((db, group)) = session
            .txn
            .groups
            .iter()
            .find(|j| conns.held_id(&j.db, j.group, ServerRef::Master) != Some(j.conn_id))
            .map(|j| (j.db.clone(), j.group))
        else {
            return;
        };
        session.txn.connection_lost(
            &db.name,
            group,
            "its connection is no longer held by the session",
        );
    }
}

/// Rolls back the groups a lost transaction still runs on; it stays lost.
async fn release_survivors(session: &mut Session) {
    if !session.txn.groups.is_empty() {
        rollback_quietly(session).await;
        session.txn.groups.clear();
        session.txn.writer = None;
    }
}

/// Gives the transaction up for `why`: its groups are rolled back now, and this statement
/// and every later one but ROLLBACK fail with 1213 / 40001 (which clients retry) until the
/// client rolls back. For a transaction that cannot go on on its rules, e.g. a write held
/// across a resharding cutover of its table.
pub async fn abandon(session: &mut Session, why: String) -> Error {
    if session.txn.lost.is_none() {
        session.txn.lost = Some(why.clone());
    }
    release_survivors(session).await;
    session.txn.lost().unwrap_or(Error::TransactionLost(why))
}

/// Before a statement: the refusal while the transaction is lost. ROLLBACK ends it; USE and
/// SHOW DATABASES touch no backend.
pub async fn refusal(plan: &Plan, session: &mut Session) -> Option<Error> {
    verify_connections(session);
    if !session.txn.is_lost() {
        return None;
    }
    release_survivors(session).await;
    let allowed = match plan {
        Plan::Session(s) => matches!(s.kind, SessionKind::End { rollback: true, .. }),
        Plan::UseDatabase(_) | Plan::ShowDatabases { .. } => true,
        _ => false,
    };
    (!allowed).then(|| session.txn.lost()).flatten()
}

/// After a statement: the transaction lost a group during it (the statement's error becomes
/// the lost transaction's, naming the cause), or a group answered a deadlock.
pub async fn after_outcome(
    session: &mut Session,
    outcome: Result<(), Failure>,
    lost_before: bool,
) -> Result<(), Failure> {
    verify_connections(session);
    if !lost_before && session.txn.is_lost() {
        release_survivors(session).await;
        return match outcome {
            Err(Failure::Query(e)) => Err(Failure::Query(match (session.txn.lost(), e) {
                (Some(Error::TransactionLost(lost)), Error::PacketTooLarge(place)) => {
                    Error::PacketTooLargeInTransaction { place, lost }
                }
                (Some(Error::TransactionLost(m)), e) if !matches!(e, Error::TransactionLost(_)) => {
                    Error::TransactionLost(format!("{m} [{e}]"))
                }
                (_, e) => e,
            })),
            other => other,
        };
    }
    if let Err(Failure::Query(e)) = &outcome {
        let deadlock = e.code() == 1213 && !matches!(e, Error::TransactionLost(_));
        if deadlock && !session.txn.groups.is_empty() {
            rollback_quietly(session).await;
            session.txn.end();
        }
    }
    outcome
}
