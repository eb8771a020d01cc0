//! Before a statement runs inside a transaction: refuse a write that would leave the
//! transaction's one write group, open the transaction on each group the statement needs
//! and has not joined yet, and move statements that carry no data onto a group the
//! transaction already runs on.

use std::sync::Arc;

use mysql_async::prelude::Queryable;

use crate::backend::session_conns::master_unavailable;
use crate::config::model::{Database, GroupId};
use crate::error::Error;
use crate::plan::lexer::{significant, Kind};
use crate::plan::{Route, Spread, Target};

use super::super::{Context, Failure, Session};
use super::{group_name, Joined, Txn, Writer};

/// Called before a route runs inside a transaction. Returns a route to run instead when a
/// statement without data is moved onto a group of the transaction; refuses a write outside
/// the transaction's write group; opens the transaction on every group the route needs.
pub async fn before_route(
    route: &Route,
    ctx: &Context<'_>,
    session: &mut Session,
) -> Result<Option<Route>, Failure> {
    if let Some(e) = session.txn.lost() {
        return Err(Failure::Query(e));
    }
    if carries_no_data(route) {
        // `SELECT 1`, `SELECT @@tx_isolation`: on the transaction's connection when it has
        // one (an ORM's checks see its state), else on the default group without joining it.
        return Ok(home(&session.txn).map(|j| moved(route, j)));
    }
    if is_broadcast_read(route) {
        // Every group holds the same copy: read it where the transaction already runs.
        if let Some(j) = same_copy(route, &session.txn) {
            return Ok(Some(moved(route, &j)));
        }
    }
    let write = confined_write(route);
    if write && ctx.xa.is_none() {
        check_write(route, &session.txn).map_err(Failure::Query)?;
    }
    let mut seen: Vec<GroupId> = Vec::with_capacity(2);
    for t in &route.targets {
        if seen.contains(&t.group) {
            continue;
        }
        seen.push(t.group);
        if !session.txn.is_joined(&route.db.name, t.group) {
            join(ctx, session, &route.db, t.group, &route.reason).await?;
        }
    }
    if write && session.txn.writer.is_none() {
        if let Some(t) = route.targets.first() {
            session.txn.writer = Some(Writer {
                db: route.db.clone(),
                group: t.group,
                first: route.reason.clone(),
            });
        }
    }
    Ok(None)
}

/// `START TRANSACTION WITH CONSISTENT SNAPSHOT`: opens the transaction (and so its snapshot)
/// on every group of the session's database (the only one, when none is selected) now
/// rather than at each group's first statement. On failure nothing stays open.
pub async fn open_snapshots(ctx: &Context<'_>, session: &mut Session) -> Result<(), Failure> {
    if ctx.xa.is_some() {
        // XA START takes no snapshot option, and one taken at each group's first read is
        // not the one the client asked for.
        session.txn.end();
        return Err(Failure::Query(Error::unsupported(
            "START TRANSACTION WITH CONSISTENT SNAPSHOT in [transactions] mode = \"xa\" (an XA \
             branch takes its snapshot at its first read on each group); use START TRANSACTION"
                .to_string(),
        )));
    }
    let only = || {
        let mut all = ctx.rules.databases().values();
        match (all.next(), all.next()) {
            (Some(db), None) => Some(db.clone()),
            _ => None,
        }
    };
    let Some(db) = session.current_db.clone().or_else(only) else {
        return Ok(());
    };
    for g in 0..db.groups.len() {
        if session.txn.is_joined(&db.name, g) {
            continue;
        }
        if let Err(e) = join(
            ctx,
            session,
            &db,
            g,
            "START TRANSACTION WITH CONSISTENT SNAPSHOT",
        )
        .await
        {
            super::end::rollback_quietly(session).await;
            session.txn.end();
            return Err(e);
        }
    }
    Ok(())
}

/// Opens the transaction on `group`: its characteristics, the client's BEGIN text and the
/// live savepoints, in that order, on the session's master connection there.
async fn join(
    ctx: &Context<'_>,
    session: &mut Session,
    db: &Arc<Database>,
    group: GroupId,
    why: &str,
) -> Result<(), Failure> {
    let txn = &mut session.txn;
    if txn.groups.is_empty() && txn.begin.is_none() {
        // autocommit=0: the implicit transaction starts with this statement.
        txn.characteristics = std::mem::take(&mut txn.next_characteristics);
    }
    let mut opening: Vec<String> = txn.characteristics.clone();
    let branch = match ctx.xa {
        Some(coordinator) => Some(xa_branch(txn, coordinator, db, group)?),
        None => None,
    };
    match &branch {
        Some(xid) => {
            if txn.begin.as_deref().is_some_and(begins_read_only) {
                opening.push("SET TRANSACTION READ ONLY".to_string());
            }
            opening.push(format!("XA START {}", xid.sql()));
        }
        None => opening.extend(txn.begin.clone()),
    }
    opening.extend(
        txn.savepoints
            .iter()
            .map(|s| format!("SAVEPOINT {}", s.name)),
    );
    let conn = session.conns.get(ctx.backends, db, group).await?;
    let conn_id = conn.id();
    for sql in &opening {
        if let Err(e) = conn.query_drop(sql.as_str()).await {
            return Err(Failure::Query(match Error::from(e) {
                Error::BackendConnection(reason) => {
                    session.conns.discard(db, group);
                    master_unavailable(db, group, reason)
                }
                other => other,
            }));
        }
    }
    session.txn.groups.push(Joined {
        db: db.clone(),
        group,
        conn_id,
        first: why.to_string(),
        branch,
    });
    Ok(())
}

/// The XA branch `group` joins with: the transaction's id (made at its first group) and the
/// next branch number.
fn xa_branch(
    txn: &mut Txn,
    coordinator: &Arc<crate::execute::xa::Coordinator>,
    db: &Arc<Database>,
    group: GroupId,
) -> Result<crate::execute::xa::Xid, Failure> {
    let xa = txn.xa.get_or_insert_with(|| super::XaTxn {
        live: coordinator.begin(),
        log_db: db.name.clone(),
        branches: 0,
    });
    let xid = crate::execute::xa::Xid::branch(&xa.live.gtrid, xa.branches, &xa.log_db).ok_or_else(
        || {
            Failure::Query(Error::unsupported(format!(
                "an XA transaction whose first database name '{}' is longer than 60 bytes",
                xa.log_db
            )))
        },
    )?;
    xa.branches += 1;
    xa.live
        .add_group(format!("{}.{}", db.name, group_name(db, group)));
    Ok(xid)
}

/// `START TRANSACTION READ ONLY` (XA START has no such option).
fn begins_read_only(begin: &str) -> bool {
    let toks: Vec<_> = significant(begin).collect();
    toks.windows(2)
        .any(|w| w[0].is_word(begin, "READ") && w[1].is_word(begin, "ONLY"))
}

/// Where a statement without data runs inside the transaction: the write group, else the
/// first group it joined.
fn home(txn: &Txn) -> Option<&Joined> {
    let writer = txn.writer.as_ref().and_then(|w| {
        txn.groups
            .iter()
            .find(|j| j.group == w.group && j.db.name == w.db.name)
    });
    writer.or_else(|| txn.groups.first())
}

/// A joined group holding the same copy of the broadcast table `route` reads: same
/// database, same physical schema (the text names the schema of the route's group).
fn same_copy(route: &Route, txn: &Txn) -> Option<Joined> {
    let [only] = route.targets.as_slice() else {
        return None;
    };
    let schema = route.db.groups.get(only.group).map(|g| &g.schema);
    txn.groups
        .iter()
        .find(|j| {
            j.db.name.eq_ignore_ascii_case(&route.db.name)
                && j.db.groups.get(j.group).map(|g| &g.schema) == schema
        })
        .cloned()
}

fn moved(route: &Route, j: &Joined) -> Route {
    Route {
        db: j.db.clone(),
        targets: vec![Target {
            group: j.group,
            shard: None,
            sql: route.targets[0].sql.clone(),
        }],
        is_write: route.is_write,
        result_rewrite: route.result_rewrite.clone(),
        reason: format!(
            "{}, moved to the transaction's group '{}'",
            route.reason,
            group_name(&j.db, j.group)
        ),
        spread: route.spread,
        generated_id: None,
        all_shards: false,
        first_row_target: 0,
    }
}

/// A statement without tables (the planner's reason says so).
fn carries_no_data(route: &Route) -> bool {
    route.targets.len() == 1
        && route.targets[0].shard.is_none()
        && route.reason == crate::plan::NO_TABLE_REASON
}

/// A plain (not locking) read of a broadcast table.
fn is_broadcast_read(route: &Route) -> bool {
    !route.is_write && route.targets.len() == 1 && route.reason.starts_with("broadcast table '")
}

/// A statement that changes data (or DDL), as opposed to a read. Locking reads (FOR UPDATE,
/// LOCK IN SHARE MODE) are routed like writes, to the masters, but they change nothing: they
/// may lock rows on several groups, and COMMIT / ROLLBACK releases them on each.
pub(crate) fn confined_write(route: &Route) -> bool {
    route.is_write && !route.targets.first().is_some_and(|t| is_select(&t.sql))
}

/// The statement is a SELECT (possibly parenthesized).
fn is_select(sql: &str) -> bool {
    significant(sql)
        .find(|t| t.kind != Kind::Punct(b'('))
        .is_some_and(|t| t.is_word(sql, "SELECT"))
}

/// Refuses a write the transaction cannot commit atomically: one needing two groups at once
/// (a broadcast table's copies, shards on two groups), or a group other than the one the
/// transaction already wrote to.
fn check_write(route: &Route, txn: &Txn) -> Result<(), Error> {
    let mut groups: Vec<GroupId> = Vec::with_capacity(2);
    for t in &route.targets {
        if !groups.contains(&t.group) {
            groups.push(t.group);
        }
    }
    let names = groups
        .iter()
        .map(|&g| format!("'{}'", group_name(&route.db, g)))
        .collect::<Vec<_>>()
        .join(", ");
    if groups.len() > 1 {
        let what = if route.spread == Spread::Copies {
            "a write to a broadcast table inside a transaction (it changes the copy on every group"
        } else {
            "a write over shards of several groups inside a transaction (it changes rows on each"
        };
        return Err(Error::unsupported(format!(
            "{what}: groups {names} of database '{}'; {}): a transaction's writes must stay on \
             one group in [transactions] mode = \"single_group\" (mode = \"xa\" commits \
             atomically across groups); run it outside a transaction, with autocommit on",
            route.db.name, route.reason
        )));
    }
    let Some(w) = &txn.writer else {
        return Ok(());
    };
    let same = groups
        .first()
        .is_none_or(|&g| g == w.group && w.db.name.eq_ignore_ascii_case(&route.db.name));
    if same {
        return Ok(());
    }
    Err(Error::unsupported(format!(
        "writes to two groups in one transaction: a transaction's writes must stay on one \
         group in [transactions] mode = \"single_group\" (mode = \"xa\" commits atomically \
         across groups); this transaction wrote to group '{}' of database '{}' (first \
         write: {}), and this statement writes to group {} of database '{}' ({}); commit or \
         roll back first",
        group_name(&w.db, w.group),
        w.db.name,
        w.first,
        names,
        route.db.name,
        route.reason
    )))
}

#[cfg(test)]
mod tests {
    use super::is_select;

    #[test]
    fn locking_reads_are_selects() {
        assert!(is_select("SELECT * FROM t FOR UPDATE"));
        assert!(is_select("/* shardgate:master */ select 1"));
        assert!(is_select("(SELECT a FROM t) LOCK IN SHARE MODE"));
        assert!(!is_select("UPDATE t SET a = 1"));
        assert!(!is_select("INSERT INTO t SELECT * FROM u"));
    }
}
