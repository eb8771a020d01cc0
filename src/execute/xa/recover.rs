//! Recovery: finishing branches a coordinator left prepared (it crashed, its connection to a
//! group broke during XA COMMIT, or a group master restarted). Every proxy in xa mode runs
//! it at start-up and every `recover_interval`, over every group master of every database:
//!
//! 1. read the decision logs (before step 2: a decision read here was made after all its
//!    branches were prepared, so a branch it names that step 2 does not find is done);
//! 2. XA RECOVER on every master: the prepared branches, shardgate's by their gtrid prefix;
//! 3. a branch with a decision gets it (XA COMMIT / XA ROLLBACK); a branch without one is
//!    rolled back once nobody can be running it: it is from a previous run of this proxy,
//!    or it has stayed prepared for `abandon_after` and is not running in this process.
//!    That rollback first records `rollback` in the log, so a coordinator that was only slow
//!    finds the decision taken and rolls back too (see `log`);
//! 4. log rows whose branches are all gone are removed (`rollback` rows only after a grace
//!    period, so a slow coordinator still meets them).
//!
//! On MariaDB 10.11 a user with privileges on its own schemas only sees every branch in XA
//! RECOVER and may commit or roll back branches another connection or user prepared (checked
//! by tests/xa.rs); no SUPER is needed.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder};
use tokio_util::sync::CancellationToken;

use crate::backend::pools::split_addr;
use crate::config::model::Rules;
use crate::error::Error;

use super::log::{self, Decision};
use super::{Coordinator, Xid};

/// A prepared branch recovery found and did not finish (yet).
#[derive(Debug, Clone)]
pub struct InDoubt {
    pub addr: String,
    /// The groups on that server (`database.group`).
    pub groups: String,
    pub xid: Xid,
    pub first_seen: Instant,
    pub decision: Option<Decision>,
}

/// `rollback` rows stay this long after their branches are gone.
const ROLLBACK_GRACE_SECS: u64 = 3600;

/// Runs recovery now and then every `recover_interval` (or when woken) until `shutdown`.
pub async fn run(
    coordinator: Arc<Coordinator>,
    rules: impl Fn() -> Arc<Rules>,
    shutdown: CancellationToken,
) {
    let mut seen: HashMap<(String, Xid), Instant> = HashMap::new();
    loop {
        let current = rules();
        if let Err(e) = pass(&coordinator, &current, &mut seen).await {
            tracing::warn!("xa recovery: {e}");
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(coordinator.recover_interval) => {}
            _ = coordinator.wake.notified() => {}
        }
    }
}

fn opts(addr: &str, coordinator: &Coordinator) -> Opts {
    let (host, port) = split_addr(addr);
    OptsBuilder::default()
        .ip_or_hostname(host)
        .tcp_port(port)
        .user(Some(coordinator.backend.user.clone()))
        .pass(Some(coordinator.backend.password.clone()))
        .prefer_socket(false)
        .into()
}

pub(crate) async fn connect(addr: &str, coordinator: &Coordinator) -> Result<Conn, String> {
    let limit = coordinator
        .backend
        .connect_timeout
        .max(Duration::from_secs(1));
    match tokio::time::timeout(limit, Conn::new(opts(addr, coordinator))).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(format!("{addr}: {e}")),
        Err(_) => Err(format!("{addr}: connect timed out")),
    }
}

/// Where a database's decisions live: its default group's master and physical schema.
fn log_place(rules: &Rules, db: &str) -> Option<(String, String)> {
    let db = rules.database(db)?;
    let g = db.groups.get(db.default_group)?;
    Some((g.master.clone(), g.schema.clone()))
}

/// Every group master, with the groups it serves (`database.group`).
fn masters(rules: &Rules) -> Vec<(String, String)> {
    let mut by_addr: HashMap<String, BTreeSet<String>> = HashMap::new();
    for db in rules.databases().values() {
        for g in &db.groups {
            by_addr
                .entry(g.master.clone())
                .or_default()
                .insert(format!("{}.{}", db.name, g.name));
        }
    }
    let mut out: Vec<_> = by_addr
        .into_iter()
        .map(|(a, g)| (a, g.into_iter().collect::<Vec<_>>().join(", ")))
        .collect();
    out.sort();
    out
}

/// The prepared shardgate branches on one server.
pub async fn prepared(conn: &mut Conn) -> Result<Vec<Xid>, mysql_async::Error> {
    let rows: Vec<(i64, usize, usize, Vec<u8>)> = conn.query("XA RECOVER").await?;
    Ok(rows
        .into_iter()
        .filter_map(|(_, g, b, data)| Xid::from_recover(g, b, &data))
        .collect())
}

/// Applies `decision` to one branch; a branch that is already gone counts as done.
pub async fn finish_branch(
    conn: &mut Conn,
    xid: &Xid,
    decision: Decision,
) -> Result<(), mysql_async::Error> {
    let verb = match decision {
        Decision::Commit => "COMMIT",
        Decision::Rollback => "ROLLBACK",
    };
    match conn.query_drop(format!("XA {verb} {}", xid.sql())).await {
        // XAER_NOTA: finished meanwhile (by its coordinator or another proxy's recovery).
        Err(mysql_async::Error::Server(e)) if e.code == 1397 => Ok(()),
        other => other,
    }
}

/// One recovery pass (see the module doc).
pub async fn pass(
    coordinator: &Coordinator,
    rules: &Rules,
    seen: &mut HashMap<(String, Xid), Instant>,
) -> Result<(), String> {
    let mut problems = Vec::new();
    // 1. The logs.
    let mut places: BTreeSet<(String, String)> = BTreeSet::new();
    for db in rules.databases().keys() {
        if let Some(p) = log_place(rules, db) {
            places.insert(p);
        }
    }
    let mut decisions: HashMap<String, (Decision, u64, (String, String))> = HashMap::new();
    for (addr, schema) in &places {
        let read = async {
            let mut c = connect(addr, coordinator).await?;
            let rows = match log::read_all(&mut c, schema).await {
                Ok(Some(rows)) => Ok(rows),
                // Created once, before the first commit needs it (a DDL per pass would go
                // to the binlog and the replicas every time).
                Ok(None) => log::ensure(&mut c, schema)
                    .await
                    .map(|()| Vec::new())
                    .map_err(|e| format!("{addr}: {e}")),
                Err(e) => Err(format!("{addr}: {e}")),
            };
            let _ = c.disconnect().await;
            rows
        };
        match read.await {
            Ok(rows) => {
                for e in rows {
                    decisions.insert(
                        e.gtrid,
                        (e.decision, e.age_secs, (addr.clone(), schema.clone())),
                    );
                }
            }
            Err(e) => problems.push(format!("decision log unreadable: {e}")),
        }
    }
    // 2-3. The branches.
    let mut pending: Vec<InDoubt> = Vec::new();
    let mut with_branches: BTreeSet<String> = BTreeSet::new();
    let mut still_seen: HashMap<(String, Xid), Instant> = HashMap::new();
    let mut unreachable = false;
    for (addr, groups) in masters(rules) {
        let mut conn = match connect(&addr, coordinator).await {
            Ok(c) => c,
            Err(e) => {
                unreachable = true;
                problems.push(e);
                continue;
            }
        };
        let branches = match prepared(&mut conn).await {
            Ok(b) => b,
            Err(e) => {
                unreachable = true;
                problems.push(format!("{addr}: XA RECOVER: {e}"));
                continue;
            }
        };
        for xid in branches {
            with_branches.insert(xid.gtrid.clone());
            let key = (addr.clone(), xid.clone());
            let first_seen = *seen.get(&key).unwrap_or(&Instant::now());
            still_seen.insert(key, first_seen);
            let mut decision = decisions.get(&xid.gtrid).map(|d| d.0);
            if decision.is_none() && !coordinator.is_live(&xid.gtrid) {
                let abandoned = coordinator.from_previous_run(&xid.gtrid)
                    || first_seen.elapsed() >= coordinator.abandon_after;
                if abandoned {
                    match give_up(coordinator, rules, &xid).await {
                        Ok(d) => decision = Some(d),
                        Err(e) => problems.push(e),
                    }
                }
            }
            let done = match decision {
                Some(d) if !(d == Decision::Commit && coordinator.is_live(&xid.gtrid)) => {
                    match finish_branch(&mut conn, &xid, d).await {
                        Ok(()) => {
                            tracing::info!(
                                "xa recovery: {} {} on {addr} ({groups})",
                                d.word(),
                                xid.gtrid
                            );
                            true
                        }
                        Err(e) => {
                            problems.push(format!("{addr}: XA {} {}: {e}", d.word(), xid.gtrid));
                            false
                        }
                    }
                }
                _ => false,
            };
            if !done {
                pending.push(InDoubt {
                    addr: addr.clone(),
                    groups: groups.clone(),
                    xid,
                    first_seen,
                    decision,
                });
            }
        }
        let _ = conn.disconnect().await;
    }
    *seen = still_seen;
    // 4. Rows whose branches are all gone (only when every master answered).
    if !unreachable {
        forget_finished(coordinator, &decisions, &pending, &with_branches).await;
    }
    if let Ok(mut d) = coordinator.in_doubt.lock() {
        *d = pending;
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

async fn forget_finished(
    coordinator: &Coordinator,
    decisions: &HashMap<String, (Decision, u64, (String, String))>,
    pending: &[InDoubt],
    with_branches: &BTreeSet<String>,
) {
    let mut by_place: HashMap<&(String, String), Vec<&str>> = HashMap::new();
    for (gtrid, (decision, age, place)) in decisions {
        let finished = !with_branches.contains(gtrid)
            && !pending.iter().any(|p| &p.xid.gtrid == gtrid)
            && !coordinator.is_live(gtrid);
        let old_enough = *decision == Decision::Commit || *age >= ROLLBACK_GRACE_SECS;
        if finished && old_enough {
            by_place.entry(place).or_default().push(gtrid);
        }
    }
    for ((addr, schema), gtrids) in by_place {
        if let Ok(mut c) = connect(addr, coordinator).await {
            for g in gtrids {
                let _ = log::forget(&mut c, schema, g).await;
            }
            let _ = c.disconnect().await;
        }
    }
}

/// Records `rollback` for a transaction nobody is running; returns the decision that stands
/// (a coordinator may have recorded `commit` first).
async fn give_up(coordinator: &Coordinator, rules: &Rules, xid: &Xid) -> Result<Decision, String> {
    decide_in_log(
        coordinator,
        rules,
        xid,
        Decision::Rollback,
        "recovery: abandoned",
    )
    .await
}

async fn decide_in_log(
    coordinator: &Coordinator,
    rules: &Rules,
    xid: &Xid,
    decision: Decision,
    why: &str,
) -> Result<Decision, String> {
    let db = xid.log_db().unwrap_or_default();
    let (addr, schema) = log_place(rules, db).ok_or_else(|| {
        format!(
            "{}: its decision log is in database '{db}', which the rules no longer name",
            xid.gtrid
        )
    })?;
    let mut c = connect(&addr, coordinator).await?;
    let d = log::decide(&mut c, &schema, &xid.gtrid, decision, why)
        .await
        .map_err(|e| format!("{addr}: decision log: {e}"))?;
    let _ = c.disconnect().await;
    Ok(d)
}

/// `SHARDGATE RESOLVE <gtrid> COMMIT|ROLLBACK`: records the operator's decision (refused when
/// the log already holds the other one) and applies it to every prepared branch of the
/// transaction. Returns how many branches it finished.
pub async fn resolve(
    coordinator: &Coordinator,
    rules: &Rules,
    gtrid: &str,
    decision: Decision,
) -> Result<usize, Error> {
    if coordinator.is_live(gtrid) {
        return Err(Error::unsupported(format!(
            "SHARDGATE RESOLVE of transaction '{gtrid}': it is running in this proxy; its \
             coordinator finishes it"
        )));
    }
    let mut found: Vec<(String, Xid)> = Vec::new();
    let mut problems = Vec::new();
    for (addr, _) in masters(rules) {
        match connect(&addr, coordinator).await {
            Ok(mut c) => match prepared(&mut c).await {
                Ok(b) => found.extend(
                    b.into_iter()
                        .filter(|x| x.gtrid == gtrid)
                        .map(|x| (addr.clone(), x)),
                ),
                Err(e) => problems.push(format!("{addr}: {e}")),
            },
            Err(e) => problems.push(e),
        }
    }
    let Some((_, first)) = found.first() else {
        return Err(Error::unsupported(format!(
            "SHARDGATE RESOLVE: no prepared branch of transaction '{gtrid}' on any group \
             master{}",
            if problems.is_empty() {
                String::new()
            } else {
                format!(" that answered ({})", problems.join("; "))
            }
        )));
    };
    let standing = decide_in_log(coordinator, rules, first, decision, "SHARDGATE RESOLVE")
        .await
        .map_err(|e| Error::Internal(format!("SHARDGATE RESOLVE: {e}")))?;
    if standing != decision {
        return Err(Error::unsupported(format!(
            "SHARDGATE RESOLVE {gtrid} {}: its decision log already says {}; resolve it {} \
             (other branches may be finished that way already)",
            decision.word().to_uppercase(),
            standing.word().to_uppercase(),
            standing.word().to_uppercase()
        )));
    }
    let mut done = 0;
    for (addr, xid) in &found {
        let mut c = connect(addr, coordinator)
            .await
            .map_err(|e| Error::Internal(format!("SHARDGATE RESOLVE: {e}")))?;
        finish_branch(&mut c, xid, decision)
            .await
            .map_err(|e| Error::Internal(format!("SHARDGATE RESOLVE on {addr}: {e}")))?;
        let _ = c.disconnect().await;
        done += 1;
    }
    Ok(done)
}
