//! Statements without tables carry no data, so any group's server can answer them. They go
//! to the default group; when that group cannot be reached (down, its circuit open, or its
//! pool exhausted) they move to the first other group that can, so a down default group
//! does not lock out the clients of the other groups: drivers send such statements right
//! after connecting (mysql_async's `SELECT @@max_allowed_packet, @@wait_timeout`).

use crate::backend::ServerRef;
use crate::error::Error;
use crate::plan::Route;

use super::{Context, Failure, Session};

/// Moves a read without tables off an unreachable default group (see the module doc) by
/// taking the session's master connection to it before the statement runs (the statement
/// then runs on it). Inside a transaction nothing moves: the transaction decides where
/// statements run.
pub async fn reach_a_group(
    route: &mut Route,
    ctx: &Context<'_>,
    session: &mut Session,
) -> Result<(), Failure> {
    let movable = route.reason == crate::plan::NO_TABLE_REASON
        && route.targets.len() == 1
        && route.targets[0].shard.is_none()
        && !route.is_write
        && !session.txn.active()
        && route.db.groups.len() > 1;
    if !movable {
        return Ok(());
    }
    if (session.conns.keeps_wire_for_warnings() || session.conns.last_ran_clean_on_wire())
        && super::wire_read::asks_about_warnings(route, &route.targets[0])
    {
        // Asked where the statement before ran (`target::warnings_on_wire`).
        return Ok(());
    }
    let db = route.db.clone();
    let default = route.targets[0].group;
    if !db.groups[default].replicas.is_empty() {
        // Read/write split picks a server of the group itself (a replica serves while the
        // master is down): nothing to probe here.
        return Ok(());
    }
    if session
        .conns
        .held(&db, default, ServerRef::Master)
        .is_some()
    {
        return Ok(());
    }
    let others = (0..db.groups.len()).filter(|g| *g != default);
    let mut first_failure = None;
    for group in std::iter::once(default).chain(others) {
        match session.conns.get(ctx.backends, &db, group).await {
            Ok(_) => {
                route.targets[0].group = group;
                return Ok(());
            }
            Err(e @ (Error::GroupUnavailable { .. } | Error::PoolExhausted { .. })) => {
                first_failure.get_or_insert(e);
            }
            Err(e) => return Err(Failure::Query(e)),
        }
    }
    Err(Failure::Query(first_failure.unwrap_or_else(|| {
        Error::Internal(format!("database '{}' has no groups", db.name))
    })))
}
