//! A client transaction over a sharded database: it lives on one group, the one its first
//! statement touches, and on one backend connection of that group's master.
//!
//! Why lazily: at BEGIN the proxy does not know which group the transaction will need, and
//! a BEGIN on every group would cost a round trip per group and hold a connection on each.
//! So BEGIN / START TRANSACTION (and savepoints taken before any statement, and `SET
//! TRANSACTION` characteristics) are remembered and sent on the chosen group's connection
//! right before the first statement. A statement that would touch a second group is refused
//! (1235: cross-group atomic commit is not supported yet) before anything reaches that
//! group, and the transaction stays usable on its group.
//!
//! `SET autocommit=0` makes every statement part of a transaction, as on one server: the
//! backend connections carry autocommit=0 themselves, so no BEGIN is sent; the transaction's
//! group is chosen by the first statement and freed by COMMIT / ROLLBACK.
//!
//! The backend's IN_TRANS status after each statement is the truth: a DDL statement commits
//! implicitly, and the proxy then forgets the transaction like the server did.

use std::sync::Arc;

use mysql_async::prelude::Queryable;

use crate::backend::session_conns::master_unavailable;
use crate::config::model::{Database, GroupId};
use crate::error::Error;
use crate::plan::{Route, Target};

use super::{status, Context, Failure, Session};

/// The transaction state of one client session.
#[derive(Debug)]
pub struct Txn {
    /// Autocommit as the client set it (`SET autocommit`).
    pub autocommit: bool,
    /// The client's BEGIN / START TRANSACTION text while an explicit transaction is open.
    begin: Option<String>,
    /// `SET TRANSACTION ...` texts for the next transaction.
    next_characteristics: Vec<String>,
    /// Savepoints taken before the transaction touched a group (names as written).
    pending_savepoints: Vec<String>,
    /// The group the transaction runs on, once a statement touched it.
    group: Option<TxnGroup>,
    /// Why the transaction is gone although the client did not end it (its backend
    /// connection broke): every statement but ROLLBACK is refused until the client ends it,
    /// so nothing runs outside the transaction the client believes open.
    lost: Option<String>,
}

#[derive(Debug, Clone)]
pub struct TxnGroup {
    pub db: Arc<Database>,
    pub group: GroupId,
    /// How the first statement was routed (names its table), for the refusal message.
    pub first: String,
}

impl Default for Txn {
    fn default() -> Self {
        Txn {
            autocommit: true,
            begin: None,
            next_characteristics: Vec::new(),
            pending_savepoints: Vec::new(),
            group: None,
            lost: None,
        }
    }
}

impl Txn {
    /// True while statements belong to a transaction: after BEGIN, or always with
    /// autocommit off.
    #[inline]
    pub fn active(&self) -> bool {
        self.begin.is_some() || !self.autocommit
    }

    pub fn group(&self) -> Option<&TxnGroup> {
        self.group.as_ref()
    }

    /// Status flags for answers the proxy makes itself.
    pub fn status(&self) -> u16 {
        let mut s = 0;
        if self.autocommit {
            s |= status::AUTOCOMMIT;
        }
        if self.begin.is_some() || self.group.is_some() {
            s |= status::IN_TRANS;
        }
        s
    }

    /// BEGIN: the transaction is open, nothing is sent yet.
    pub fn begin(&mut self, sql: &str) {
        self.begin = Some(sql.to_string());
        self.pending_savepoints.clear();
        self.group = None;
    }

    /// The transaction ended (COMMIT, ROLLBACK, implicit commit).
    pub fn end(&mut self) {
        self.lost = None;
        self.begin = None;
        self.pending_savepoints.clear();
        self.next_characteristics.clear();
        self.group = None;
    }

    /// The connection of `group` in `db` broke: if the transaction was on it, it is lost.
    pub fn connection_lost(&mut self, db: &str, group: GroupId, reason: &str) {
        if self
            .group
            .as_ref()
            .is_some_and(|g| g.group == group && g.db.name.eq_ignore_ascii_case(db))
        {
            let name = self.group.as_ref().map(|g| g.db.groups[group].name.clone());
            self.group = None;
            self.lost = Some(format!(
                "the transaction was lost: the backend connection to group '{}' of database \
                 '{db}' broke ({reason}); ROLLBACK to go on",
                name.unwrap_or_default()
            ));
        }
    }

    /// The error for a statement sent after the transaction was lost.
    pub fn lost(&self) -> Option<Error> {
        self.lost
            .as_ref()
            .map(|m| Error::TransactionLost(m.clone()))
    }

    pub fn set_next_characteristics(&mut self, sql: &str) {
        self.next_characteristics.push(sql.to_string());
    }

    /// SAVEPOINT before the transaction touched a group. A name taken again replaces the
    /// old savepoint, as on the server.
    pub fn pending_savepoint(&mut self, name: &str) {
        self.pending_savepoints.retain(|n| !same_savepoint(n, name));
        self.pending_savepoints.push(name.to_string());
    }

    /// ROLLBACK TO / RELEASE before the transaction touched a group: drops the savepoints
    /// after `name` (and `name` itself when `release`); false if there is no such savepoint.
    pub fn unwind_pending(&mut self, name: &str, release: bool) -> bool {
        let Some(i) = self
            .pending_savepoints
            .iter()
            .position(|n| same_savepoint(n, name))
        else {
            return false;
        };
        self.pending_savepoints
            .truncate(if release { i } else { i + 1 });
        true
    }

    /// After a statement ran on the transaction's group: the backend says whether a
    /// transaction is still open there (a DDL commits implicitly).
    pub fn after_statement(&mut self, backend_status: u16) {
        if self.group.is_some() && backend_status & status::IN_TRANS == 0 {
            self.end();
        }
    }
}

fn same_savepoint(a: &str, b: &str) -> bool {
    a.trim_matches('`')
        .eq_ignore_ascii_case(b.trim_matches('`'))
}

/// Called before a route runs inside a transaction. Returns a route to run instead when a
/// statement without tables is moved onto the transaction's group; refuses a statement that
/// needs another group; starts the backend transaction on the first statement.
pub async fn before_route(
    route: &Route,
    ctx: &Context<'_>,
    session: &mut Session,
) -> Result<Option<Route>, Failure> {
    if let Some(e) = session.txn.lost() {
        return Err(Failure::Query(e));
    }
    if let Some(tg) = session.txn.group.clone() {
        let same = route.db.name.eq_ignore_ascii_case(&tg.db.name)
            && route.targets.iter().all(|t| t.group == tg.group);
        if same {
            return Ok(None);
        }
        if let Some(moved) = movable_to(route, &tg) {
            return Ok(Some(moved));
        }
        let other = route
            .targets
            .iter()
            .find(|t| t.group != tg.group || !route.db.name.eq_ignore_ascii_case(&tg.db.name))
            .map(|t| t.group)
            .unwrap_or(0);
        return Err(Failure::Query(second_group(route, other, &tg)));
    }

    if carries_no_data(route) || (session.txn.autocommit && is_broadcast_read(route)) {
        // Not a reason to tie the transaction to the default group: `SELECT 1` or a lookup
        // of a broadcast table right after BEGIN must not make the patient's group
        // unreachable. (Under autocommit=0 a broadcast read would leave an implicit
        // transaction open on the default group, so it does choose the group there.)
        return Ok(None);
    }
    let first = route.targets.first().map(|t| t.group).unwrap_or(0);
    if let Some(t) = route.targets.iter().find(|t| t.group != first) {
        let tg = TxnGroup {
            db: route.db.clone(),
            group: first,
            first: route.reason.clone(),
        };
        return Err(Failure::Query(second_group(route, t.group, &tg)));
    }
    // First statement of the transaction: open it on this group's connection.
    let conn = session.conns.get(ctx.backends, &route.db, first).await?;
    let mut opening: Vec<String> = session.txn.next_characteristics.clone();
    if let Some(begin) = &session.txn.begin {
        opening.push(begin.clone());
    }
    opening.extend(
        session
            .txn
            .pending_savepoints
            .iter()
            .map(|n| format!("SAVEPOINT {n}")),
    );
    for sql in &opening {
        if let Err(e) = conn.query_drop(sql.as_str()).await {
            let err = Error::from(e);
            if let Error::BackendConnection(reason) = err {
                let err = master_unavailable(&route.db, first, reason);
                session.conns.discard(&route.db.name, first);
                return Err(Failure::Query(err));
            }
            return Err(Failure::Query(err));
        }
    }
    session.txn.next_characteristics.clear();
    session.txn.pending_savepoints.clear();
    session.txn.group = Some(TxnGroup {
        db: route.db.clone(),
        group: first,
        first: route.reason.clone(),
    });
    Ok(None)
}

/// A statement without tables (`SELECT 1`, `SELECT @@tx_isolation`, `SELECT NOW()`) carries
/// no data: it runs on the transaction's connection instead of the default group's, so an
/// ORM's checks inside a transaction are not refused.
fn movable_to(route: &Route, tg: &TxnGroup) -> Option<Route> {
    let [only] = route.targets.as_slice() else {
        return None;
    };
    // A broadcast table has the same rows on every group; its text names the default
    // group's schema, so it moves only where the schema is the same.
    let broadcast_here = is_broadcast_read(route)
        && route.db.name.eq_ignore_ascii_case(&tg.db.name)
        && route.db.groups.get(only.group).map(|g| &g.schema)
            == tg.db.groups.get(tg.group).map(|g| &g.schema);
    if !(carries_no_data(route) || broadcast_here) {
        return None;
    }
    Some(Route {
        db: tg.db.clone(),
        targets: vec![Target {
            group: tg.group,
            shard: None,
            sql: only.sql.clone(),
        }],
        is_write: route.is_write,
        result_rewrite: route.result_rewrite.clone(),
        reason: format!(
            "{}, moved to the transaction's group '{}'",
            route.reason, tg.db.groups[tg.group].name
        ),
        spread: route.spread,
        generated_id: None,
    })
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

/// The refusal of a statement that needs group `other` while the transaction is on `tg`.
/// 1235 because a transaction over two groups needs an atomic cross-group commit, which
/// this version lacks; it is a statement error (SQLSTATE 42000), so drivers keep the
/// transaction and the client can go on or roll back.
fn second_group(route: &Route, other: GroupId, tg: &TxnGroup) -> Error {
    let name = |db: &Database, g: GroupId| {
        db.groups
            .get(g)
            .map(|g| g.name.clone())
            .unwrap_or_else(|| format!("#{g}"))
    };
    Error::unsupported(format!(
        "a transaction over two groups: it runs on group '{}' of database '{}' (first \
         statement: {}), and this statement needs group '{}' of database '{}' ({}); commit or \
         roll back first (cross-group atomic commit is not supported)",
        name(&tg.db, tg.group),
        tg.db.name,
        tg.first,
        name(&route.db, other),
        route.db.name,
        route.reason
    ))
}

/// The client left: an open transaction is rolled back before its connection goes back to
/// the pool (the pool's reset would roll it back too, but a pool may be configured not to
/// reset, and a lock must not outlive its client). A connection that cannot roll back is
/// closed, which makes the server roll back.
/// `reset`: the pools do not reset returned connections (multiplexing), so connections
/// that carry session state are reset here.
pub async fn close(session: &mut Session, reset: bool) {
    // Decided before the transaction's connection leaves the session: it carries the
    // session's SETs too, and a pool that does not reset would hand them to the next client.
    let needs_reset = reset && session.conns.has_state();
    if let Some(tg) = session.txn.group.take() {
        if let Some(mut conn) = session.conns.take_master(&tg.db.name, tg.group) {
            let limit = std::time::Duration::from_secs(5);
            let rolled_back = tokio::time::timeout(limit, conn.query_drop("ROLLBACK")).await;
            let clean = matches!(rolled_back, Ok(Ok(())))
                && (!needs_reset
                    || matches!(tokio::time::timeout(limit, conn.reset()).await, Ok(Ok(_))));
            if !clean {
                let _ = conn.disconnect().await;
            }
        }
    }
    session.txn.end();
    if needs_reset {
        session.conns.reset_and_release_all().await;
    } else {
        session.conns.release_all();
    }
}
