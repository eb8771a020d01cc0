//! Statement atomicity inside a transaction for a write sent as several backend statements
//! (shards of one group, or groups in xa mode). On one server a failing statement leaves
//! nothing behind and the transaction goes on; here the parts that ran before the failing
//! one would stay and a later COMMIT would commit a statement the client was told failed.
//! So such a write first takes a savepoint of its own on each of its groups, and a failure
//! rolls every group back to it: the statement is undone everywhere, the transaction stays.

use crate::error::Error;
use crate::plan::Route;

use super::super::Session;
use super::end::{send, Op, Sent};
use super::group_name;

const SAVEPOINT: &str = "SAVEPOINT shardgate_statement";
const BACK_TO: &str = "ROLLBACK TO SAVEPOINT shardgate_statement";

/// The distinct groups of `route`'s targets that the transaction joined, in target order.
fn joined_groups(session: &Session, route: &Route) -> Vec<super::Joined> {
    let mut out: Vec<super::Joined> = Vec::with_capacity(2);
    for t in &route.targets {
        if out.iter().any(|j| j.group == t.group) {
            continue;
        }
        if let Some(i) = session.txn.joined_index(&route.db.name, t.group) {
            out.push(session.txn.groups[i].clone());
        }
    }
    out
}

/// Whether `route` needs the guard: a data change in an open transaction that goes out as
/// several backend statements.
pub fn needs_statement_undo(route: &Route, session: &Session) -> bool {
    route.is_write
        && route.targets.len() > 1
        && session.txn.active()
        && !session.txn.single_statement
        && route
            .targets
            .first()
            .is_some_and(|t| super::atomic_write::is_data_change(&t.sql))
}

/// Takes the statement's savepoint on each of its groups. `false`: it could not (the
/// statement then runs unguarded and reports any partial application as before).
pub async fn mark_statement(session: &mut Session, route: &Route) -> bool {
    // A target outside the transaction would commit on its own: nothing to undo it with.
    let all_joined = route
        .targets
        .iter()
        .all(|t| session.txn.is_joined(&route.db.name, t.group));
    if !all_joined {
        return false;
    }
    for j in joined_groups(session, route) {
        if !matches!(
            send(session, &j, Op::Sql(SAVEPOINT)).await,
            Sent::Done { .. }
        ) {
            return false;
        }
    }
    true
}

/// After the write failed part-way: rolls each group back to the statement's savepoint.
/// `Ok` is the error for the client (the cause, saying the statement was undone); `Err`
/// gives `cause` back when a group could not be rolled back.
pub async fn undo_statement(
    session: &mut Session,
    route: &Route,
    cause: Error,
) -> Result<Error, Error> {
    let groups = joined_groups(session, route);
    for j in &groups {
        if !matches!(send(session, j, Op::Sql(BACK_TO)).await, Sent::Done { .. }) {
            return Err(cause);
        }
    }
    let names: Vec<String> = groups
        .iter()
        .map(|j| format!("'{}'", group_name(&j.db, j.group)))
        .collect();
    Ok(Error::RolledBackEverywhere {
        cause: Box::new(cause),
        note: format!(
            "the statement was undone on every group it ran on ({}); the transaction is still open",
            names.join(", ")
        ),
    })
}
