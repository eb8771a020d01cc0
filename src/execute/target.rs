//! One target of a route on one server of its group: the read/write split picks the server,
//! a replica that cannot serve (unreachable, or behind the session's last write in gtid
//! mode) hands the read to the master, and a broken connection is dropped and reported
//! with the group's name and address.

use std::sync::atomic::Ordering;
use std::time::Instant;

use mysql_async::prelude::Queryable;

use crate::backend::session_conns::KeptWire;
use crate::backend::{Access, ServerRef};
use crate::error::Error;
use crate::plan::{Route, Target};
use crate::stats::ShardPart;

use super::route::{run_one, OneResult};
use super::wire_read::run_on_wire;
use super::{Context, Failure, ResultSink, Session};

pub(crate) async fn run_target<S: ResultSink>(
    route: &Route,
    target: &Target,
    forced: Option<ServerRef>,
    send_columns: Option<u16>,
    ctx: &Context<'_>,
    session: &mut Session,
    sink: &mut S,
) -> Result<OneResult, Failure> {
    let db = &route.db;
    let group = ctx.backends.group(db, target.group).ok_or_else(|| {
        Error::Internal(format!(
            "no pools for group {} of database '{}'",
            target.group, db.name
        ))
    })?;
    let access = session.reads.access(
        route,
        target,
        session.txn_aware_status(),
        ctx.backends.master_after_write,
    );
    let mut server = match (
        forced,
        session.reads.sticky_server(db, target.group, &target.sql),
    ) {
        (Some(forced), _) => forced,
        (None, Some(previous)) if access != Access::Master => previous,
        _ => group.choose(access),
    };
    if super::wire_read::asks_about_warnings(route, target) {
        match session.conns.take_last_wire() {
            KeptWire::Here(lease) => {
                return warnings_on_wire(*lease, true, route, target, send_columns, session, sink)
                    .await
            }
            KeptWire::Gone => return Err(warnings_gone().into()),
            KeptWire::Nothing => {}
        }
        if session.conns.last_ran_clean_on_wire() {
            // The statement before had no warnings, but every other connection may have
            // some of its own last statement's: asked on a wire connection whose warnings
            // were cleared first.
            let lease = session
                .conns
                .wire(ctx.backends, db, target.group, ServerRef::Master)
                .await?;
            if let Some(mut lease) = lease {
                super::wire_read::clear_warnings(&mut lease).await?;
                return warnings_on_wire(lease, false, route, target, send_columns, session, sink)
                    .await;
            }
        }
    }
    // Read as the server will (`'x\', LAST_INSERT_ID(5), '\'` under NO_BACKSLASH_ESCAPES
    // calls it), as `previous_conn::place` reads it when the session's value is marked.
    let before = ctx.read_by_syntax(|| super::previous_conn::InsertIdBefore::of(route, session));
    let insert_id_before = match before {
        Some(before) => Some(before.resolve(db, target.group, session).await),
        None => None,
    };
    let on_wire = super::wire_read::eligible(route, target, ctx, session, sink)
        .filter(|_| insert_id_before.is_none());
    loop {
        // The server's adaptive breaker may refuse at once; a replica's refusal hands the
        // read to the master.
        let ticket = match group.server(server).admit() {
            Ok(ticket) => ticket,
            Err(_) if server != ServerRef::Master && forced.is_none() => {
                server = ServerRef::Master;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let gtid_wait = match server {
            ServerRef::Replica(i) => session
                .reads
                .gtid_to_wait(&db.name, target.group, i)
                .is_some(),
            ServerRef::Master => false,
        };
        let wire_form = on_wire
            .as_ref()
            .filter(|_| !gtid_wait && !session.conns.holds_any());
        if let Some(form) = wire_form {
            let lease = match session
                .conns
                .wire(ctx.backends, db, target.group, server)
                .await
            {
                Ok(lease) => lease,
                Err(e) => {
                    ticket.judge(&e);
                    if server != ServerRef::Master && forced.is_none() {
                        server = ServerRef::Master;
                        continue;
                    }
                    return Err(e.into());
                }
            };
            if let Some(mut lease) = lease {
                let pool = group.server(server);
                pool.stats.queries.fetch_add(1, Ordering::Relaxed);
                let mut sent = false;
                let started = Instant::now();
                let charset = &session.charset;
                let outcome = run_on_wire(
                    &mut lease,
                    form,
                    route,
                    target,
                    send_columns,
                    &mut sent,
                    sink,
                    charset,
                )
                .await;
                note_part(session, pool, target, started, &outcome);
                match outcome {
                    Ok(mut one) => {
                        session.reads.ran_on(db, target.group, server);
                        one.server = server;
                        if one.ok.warnings > 0 {
                            session.conns.keep_for_warnings(lease);
                        } else {
                            session.conns.wire_ran_clean();
                            session.conns.keep_wire_spare(lease);
                        }
                        return Ok(one);
                    }
                    Err(Failure::Query(e)) if connection_broke(&e) => {
                        // Closed when dropped: its last answer was not read to the end. Not
                        // run again: an idle connection the server had closed was replaced
                        // when it was taken (`SessionConns::wire`), so this one failed
                        // under the statement (an operator's KILL CONNECTION of this very
                        // read must stop it, not see it start over).
                        drop(lease);
                        let reason = broken_reason(e);
                        pool.failed(&reason);
                        ticket.failed();
                        if server != ServerRef::Master && !sent && forced.is_none() {
                            server = ServerRef::Master;
                            continue;
                        }
                        return Err(Failure::Query(pool.unavailable(reason)));
                    }
                    Err(e @ Failure::Query(Error::Backend(_))) => {
                        // The server's error is the connection's diagnostics now:
                        // `@@error_count` and `@@warning_count` (1, as the server counts an
                        // error) are asked there, as of a connection with warnings.
                        session.conns.keep_for_warnings(lease);
                        session.last_warnings = 1;
                        return Err(e);
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        let conn = match session
            .conns
            .get_at(ctx.backends, db, target.group, server)
            .await
        {
            Ok(conn) => conn,
            Err(e) => {
                ticket.judge(&e);
                // A replica that cannot be reached left rotation: the master serves this read.
                if server != ServerRef::Master && forced.is_none() {
                    server = ServerRef::Master;
                    continue;
                }
                return Err(e.into());
            }
        };
        if let ServerRef::Replica(i) = server {
            if let Some(gtid) = session.reads.gtid_to_wait(&db.name, target.group, i) {
                // Read-your-writes (gtid mode): this replica serves the session only once
                // it has applied the session's last write here.
                let wait = format!(
                    "SELECT MASTER_GTID_WAIT('{gtid}', {:.3})",
                    ctx.backends.gtid_wait.as_secs_f64()
                );
                match conn.query_first::<i64, _>(wait).await {
                    Ok(Some(0)) => session.reads.caught_up(&db.name, target.group, i),
                    Ok(_) => {
                        server = ServerRef::Master;
                        continue;
                    }
                    Err(mysql_async::Error::Server(_)) => {
                        server = ServerRef::Master;
                        continue;
                    }
                    Err(e) => {
                        group.server(server).failed(&e.to_string());
                        ticket.failed();
                        session.conns.discard_at(db, target.group, server);
                        server = ServerRef::Master;
                        continue;
                    }
                }
            }
        }
        let pool = group.server(server);
        pool.stats.queries.fetch_add(1, Ordering::Relaxed);
        let mut sent = false;
        let charset = &session.charset;
        let started = Instant::now();
        let primed = match &insert_id_before {
            Some(before) => before.prime(conn).await.map_err(Failure::Query),
            None => Ok(false),
        };
        if let (Some(_), Ok(primed)) = (&insert_id_before, &primed) {
            // From here the session's value is this connection's, whether the statement
            // succeeds or fails after its call was evaluated (a duplicate key further on);
            // unprimed, it is nowhere the session can read.
            session.insert_id_from_expr = true;
            session.insert_id_conn = primed.then(|| super::previous_conn::ConnAt {
                db: db.clone(),
                group: target.group,
                server,
                conn_id: conn.id(),
            });
        }
        let outcome = match primed {
            Ok(primed) => run_one(conn, route, target, send_columns, &mut sent, sink, charset)
                .await
                .map(|one| OneResult {
                    insert_id_primed: primed,
                    ..one
                }),
            Err(e) => Err(e),
        };
        note_part(session, pool, target, started, &outcome);
        match outcome {
            Ok(mut one) => {
                session.reads.ran_on(db, target.group, server);
                one.server = server;
                return Ok(one);
            }
            Err(Failure::Query(e)) if connection_broke(&e) => {
                let reason = broken_reason(e);
                // A driver error (not a server error) means the connection is gone: drop
                // it, tell the health state, and name the group, so the next statement
                // starts on a fresh one. A replica read that sent nothing yet is retried
                // on the master.
                pool.failed(&reason);
                ticket.failed();
                let err = pool.unavailable(reason);
                session.conns.discard_at(db, target.group, server);
                if server == ServerRef::Master {
                    session
                        .txn
                        .connection_lost(&db.name, target.group, &err.to_string());
                }
                if server != ServerRef::Master && !sent && forced.is_none() {
                    server = ServerRef::Master;
                    continue;
                }
                return Err(Failure::Query(err));
            }
            Err(Failure::Query(e @ Error::PacketTooLarge(_))) => {
                // The driver refused to send a statement over the server's
                // max_allowed_packet and closed the connection: the server was never asked,
                // so its health stays as it was. The connection, and a transaction on it,
                // are gone all the same.
                session.conns.discard_at(db, target.group, server);
                let err = e.packet_too_large_at(|| pool.place(target.shard));
                if server == ServerRef::Master {
                    session
                        .txn
                        .connection_lost(&db.name, target.group, &err.to_string());
                }
                return Err(Failure::Query(err));
            }
            Err(e) => return Err(e),
        }
    }
}

/// A read without tables about the warnings of the previous statement, which ran on a wire
/// connection the session kept for them: asked there, as the server that ran it would be.
async fn warnings_on_wire<S: ResultSink>(
    mut lease: crate::backend::WireLease,
    kept: bool,
    route: &Route,
    target: &Target,
    send_columns: Option<u16>,
    session: &mut Session,
    sink: &mut S,
) -> Result<OneResult, Failure> {
    let mut sent = false;
    let form = super::wire_read::WireForm::Text;
    let charset = &session.charset;
    let started = Instant::now();
    let outcome = run_on_wire(
        &mut lease,
        &form,
        route,
        target,
        send_columns,
        &mut sent,
        sink,
        charset,
    )
    .await;
    note_part(session, lease.pool(), target, started, &outcome);
    let mut one = outcome?;
    one.server = lease.server;
    // The connection kept for the previous statement is kept again whatever this read was
    // told: a read of `@@warning_count` leaves its diagnostics as they were (its own count
    // is 0), so they are still the ones a following SHOW WARNINGS asks for.
    if kept || one.ok.warnings > 0 {
        session.conns.keep_for_warnings(lease);
    } else {
        session.conns.wire_ran_clean();
    }
    Ok(one)
}

/// The previous statement's warnings were kept on a wire connection that another statement
/// needed (its pool was full) before the session asked.
pub fn warnings_gone() -> Error {
    Error::unsupported(
        "the warnings of the previous statement are gone: the backend connection that ran it \
         was given back before they were asked for (every connection of its pool, [backend] \
         pool_max, was wanted, a read over several shards stopped it part-way, or it was a \
         SET, whose connections a multiplexed session gives back)"
            .to_string(),
    )
}

/// Notes the shard's part of the statement for its trace.
fn note_part(
    session: &mut Session,
    pool: &std::sync::Arc<crate::backend::GroupPool>,
    target: &Target,
    started: Instant,
    outcome: &Result<OneResult, Failure>,
) {
    session.trace.note(ShardPart {
        server: pool.clone(),
        shard: target.shard,
        elapsed: started.elapsed(),
        rows: match outcome {
            Ok(one) if one.had_columns => one.rows,
            Ok(one) => one.ok.affected_rows,
            Err(_) => 0,
        },
    });
}

/// What to say of a connection that broke (`connection_broke`).
fn broken_reason(e: Error) -> String {
    match e {
        Error::BackendConnection(r) => r,
        other => other.to_string(),
    }
}

/// The connection is gone: a driver error, or a server error after which the server closes
/// it (the connection was killed).
fn connection_broke(e: &Error) -> bool {
    match e {
        Error::BackendConnection(_) => true,
        Error::Backend(b) => super::txn::connection_gone(b.code),
        _ => false,
    }
}
