//! The connections a merged read streams on: one lane per connection, each running one or
//! more shard queries.
//!
//! Outside a transaction a group's first shard runs on the session's own connection and
//! every further shard of that group gets an extra connection, so all shards work at once.
//! Extra connections are taken only when the pool has one free right now: a session that
//! waited for one while holding its own could wait for ever on sessions doing the same (each
//! holding one connection and wanting a second), so a shard that finds the pool busy runs
//! after the others on the session's connection instead. Inside a transaction every shard
//! of a group runs on the transaction's connection (extra ones would not see its writes).

use crate::backend::pools::Ticket;
use crate::backend::{BackendConn, ServerRef};
use crate::error::Error;
use crate::plan::Route;

use super::super::{status, Context, Session};

pub(super) struct Lane<'c> {
    pub group: usize,
    /// The session's own connection to the group (else an extra one).
    pub pinned: bool,
    pub server: ServerRef,
    /// Indexes into the route's targets, in the order the lane runs them.
    pub targets: Vec<usize>,
    pub conn: BackendConn,
    /// The lane's admission by its server's breaker, held while the lane streams.
    pub ticket: Ticket<'c>,
}

/// The server a lane of `group` whose first target is `first` reads from: the read split
/// picks it (in a transaction: the master).
pub(super) fn server_for(
    route: &Route,
    ctx: &Context<'_>,
    session: &Session,
    group: usize,
    first: usize,
) -> ServerRef {
    let access = session.reads.access(
        route,
        &route.targets[first],
        session.txn_aware_status(),
        ctx.backends.master_after_write,
    );
    let server = ctx
        .backends
        .group(&route.db, group)
        .map(|g| g.choose(access))
        .unwrap_or(ServerRef::Master);
    // Read-your-writes (gtid mode): a replica that has not yet applied the session's last
    // write here would miss it; the master has it (a single-shard read waits for the
    // replica instead, on the connection it reads on).
    match server {
        ServerRef::Replica(i)
            if session
                .reads
                .gtid_to_wait(&route.db.name, group, i)
                .is_some() =>
        {
            ServerRef::Master
        }
        other => other,
    }
}

/// Asks `server`'s breaker to admit one lane.
pub(super) fn admit<'c>(
    ctx: &Context<'c>,
    route: &Route,
    group: usize,
    server: ServerRef,
) -> Result<Ticket<'c>, Error> {
    match ctx.backends.group(&route.db, group) {
        Some(g) => g.server(server).admit(),
        None => Err(Error::Internal(format!(
            "no pools for group {group} of database '{}'",
            route.db.name
        ))),
    }
}

/// Takes a connection for every lane of `route`'s read.
pub(super) async fn open<'c>(
    route: &Route,
    ctx: &Context<'c>,
    session: &mut Session,
) -> Result<Vec<Lane<'c>>, Error> {
    let db = &route.db;
    session.reads.check_variables(route)?;
    let in_trans = session.txn_aware_status() & status::IN_TRANS != 0 || session.txn.active();
    // A temporary table, or a user variable a statement assigned, exists on the session's
    // connection only: another connection of the group would read the base table it hides
    // (or none), or NULL, so the group's shards share the session's connection.
    let one_connection_per_group = in_trans
        || session.reads.has_temporary_tables()
        || session.reads.has_assigned_variables(db);
    // (group, pinned, targets): the first shard of each group on the session's connection.
    let mut planned: Vec<(usize, bool, Vec<usize>)> = Vec::new();
    for (k, t) in route.targets.iter().enumerate() {
        match planned.iter_mut().find(|l| l.0 == t.group && l.1) {
            Some(l) if one_connection_per_group => l.2.push(k),
            Some(_) => planned.push((t.group, false, vec![k])),
            None => planned.push((t.group, true, vec![k])),
        }
    }
    let mut lanes: Vec<Lane<'c>> = Vec::with_capacity(planned.len());
    let mut waiting: Vec<(usize, ServerRef, Vec<usize>)> = Vec::new();
    for (group, pinned, targets) in planned {
        let server = server_for(route, ctx, session, group, targets[0]);
        if !pinned {
            waiting.push((group, server, targets));
            continue;
        }
        let ticket = match admit(ctx, route, group, server) {
            Ok(t) => t,
            Err(e) => {
                give_back(lanes, ctx, route, session);
                return Err(e);
            }
        };
        match session.conns.take(ctx.backends, db, group, server).await {
            Ok(conn) => lanes.push(Lane {
                group,
                pinned,
                server,
                targets,
                conn,
                ticket,
            }),
            Err(e) => {
                ticket.judge(&e);
                give_back(lanes, ctx, route, session);
                return Err(e);
            }
        }
    }
    for (group, server, targets) in waiting {
        let ticket = match admit(ctx, route, group, server) {
            Ok(t) => t,
            Err(e) => {
                give_back(lanes, ctx, route, session);
                return Err(e);
            }
        };
        match session
            .conns
            .extra_if_free(ctx.backends, db, group, server)
            .await
        {
            Ok(Some(conn)) => lanes.push(Lane {
                group,
                pinned: false,
                server,
                targets,
                conn,
                ticket,
            }),
            Ok(None) => {
                // Runs on the session's own lane of the group, which holds a ticket.
                drop(ticket);
                let own = lanes
                    .iter_mut()
                    .find(|l| l.pinned && l.group == group)
                    .expect("every group of the read has a lane on the session's connection");
                own.targets.extend(targets);
            }
            Err(e) => {
                ticket.judge(&e);
                give_back(lanes, ctx, route, session);
                return Err(e);
            }
        }
    }
    Ok(lanes)
}

/// Returns the lanes' connections to the session (its own) or the pool (extras).
fn give_back(lanes: Vec<Lane<'_>>, ctx: &Context<'_>, route: &Route, session: &mut Session) {
    for lane in lanes {
        if lane.pinned {
            session
                .conns
                .put_back(ctx.backends, &route.db, lane.group, lane.server, lane.conn);
        } else if let Some(g) = ctx.backends.group(&route.db, lane.group) {
            // Nothing ran on it yet.
            session
                .conns
                .return_extra(g.server(lane.server), lane.conn, false);
        }
    }
}
