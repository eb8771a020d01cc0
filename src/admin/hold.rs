//! The write-hold endpoints a resharding job's cutover uses (see `crate::hold`):
//!
//! - `POST /hold?database=D&tables=a,b,c[&drain_ms=500][&lease_ms=5000]`: hold writes to
//!   those tables, then wait up to drain_ms for the work begun before the hold to end. 200
//!   when it did; otherwise the hold is lifted at once and the answer is 409, counting the
//!   statements and transactions still open. Unreleased, the hold lifts itself after
//!   lease_ms (the job may have died), with a warning in the log.
//! - `POST /release?database=D`: lifts the hold (idempotent).
//! - `GET /hold`: the holds on now.
//!
//! Answers are JSON objects, errors (400) text.

use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use crate::hold::drain::{drain, Open};
use crate::hold::Hold;
use crate::proxy_state::ProxyState;

use super::http::{json_str, Params, Response};

const DEFAULT_DRAIN_MS: u64 = 500;
const DEFAULT_LEASE_MS: u64 = 5_000;
const MAX_DRAIN_MS: u64 = 60_000;
const MAX_LEASE_MS: u64 = 3_600_000;

pub async fn hold(state: &Arc<ProxyState>, p: &Params) -> Response {
    match try_hold(state, p).await {
        Ok(r) | Err(r) => r,
    }
}

async fn try_hold(state: &Arc<ProxyState>, p: &Params) -> Result<Response, Response> {
    p.only(&["database", "tables", "drain_ms", "lease_ms"])?;
    let rules = state.rules();
    let name = p.required("database")?;
    let db = rules
        .database(name)
        .ok_or_else(|| unknown_database(name, state))?;
    let mut tables: Vec<String> = Vec::new();
    for t in p.required("tables")?.split(',').map(str::trim) {
        let Some(rule) = db.table(t) else {
            return Err(Response::text(
                400,
                format!(
                    "table `{t}` is not in the rules of database `{}` (a hold names the logical \
                     sharded or broadcast tables that move)",
                    db.name
                ),
            ));
        };
        let lower = rule.name.to_ascii_lowercase();
        if !tables.contains(&lower) {
            tables.push(lower);
        }
    }
    let budget = p.millis("drain_ms", DEFAULT_DRAIN_MS, MAX_DRAIN_MS)?;
    let lease = p.millis("lease_ms", DEFAULT_LEASE_MS, MAX_LEASE_MS)?;
    if lease <= budget {
        return Err(Response::text(
            400,
            format!(
                "lease_ms ({}) must be longer than drain_ms ({})",
                lease.as_millis(),
                budget.as_millis()
            ),
        ));
    }
    let hold = state.holds().begin(&db.name, tables, lease).map_err(|on| {
        Response::json(
            409,
            format!(
                "{{\"held\":false,\"reason\":{},\"hold\":{}}}",
                json_str(&format!(
                    "database `{}` is already held; release it first \
                         (POST /release?database={})",
                    on.database, on.database
                )),
                describe(&on)
            ),
        )
    })?;
    lift_after_lease(state.clone(), hold.clone());
    tracing::info!(
        "write hold {} on database `{}` (tables {}): draining for up to {budget:?}",
        hold.id,
        hold.database,
        hold.tables.join(", ")
    );
    match drain(&hold, state.sessions(), budget).await {
        Ok(took) => {
            tracing::info!(
                "write hold {} on database `{}` holds (drained in {took:?})",
                hold.id,
                hold.database
            );
            Ok(Response::json(
                200,
                format!(
                    "{{\"held\":true,\"drained_us\":{},\"hold\":{}}}",
                    took.as_micros(),
                    describe(&hold)
                ),
            ))
        }
        Err(open) => {
            state.holds().release_hold(hold.id);
            let reason = not_drained(&hold, budget, &open);
            tracing::warn!("{reason}");
            Ok(Response::json(
                409,
                format!(
                    "{{\"held\":false,\"reason\":{},\"open_transactions\":{},\
                     \"running_statements\":{},\"sessions\":{}}}",
                    json_str(&reason),
                    open.transactions.len(),
                    open.statements.len(),
                    ids(&open),
                ),
            ))
        }
    }
}

/// Lifts `hold` when its lease runs out, unless it was released (or replaced) before.
fn lift_after_lease(state: Arc<ProxyState>, hold: Arc<Hold>) {
    tokio::spawn(async move {
        tokio::time::sleep(hold.lease).await;
        if state.holds().release_hold(hold.id).is_some() {
            state.holds().stats.lifted_by_lease.fetch_add(1, Relaxed);
            tracing::warn!(
                "write hold {} on database `{}` (tables {}) was not released within its lease \
                 of {:?}: lifted, writes flow again on the running rules (did the resharding \
                 job die?)",
                hold.id,
                hold.database,
                hold.tables.join(", "),
                hold.lease
            );
        }
    });
}

fn not_drained(hold: &Hold, budget: Duration, open: &Open) -> String {
    format!(
        "write hold on database `{}` released: within {budget:?}, {} transaction(s) that wrote \
         there before the hold were still open and {} statement(s) that may write {} still \
         running (sessions {})",
        hold.database,
        open.transactions.len(),
        open.statements.len(),
        hold.tables.join(", "),
        sessions(open)
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    )
}

pub fn release(state: &ProxyState, p: &Params) -> Response {
    if let Err(bad) = p.only(&["database"]) {
        return bad;
    }
    let name = match p.required("database") {
        Ok(n) => n,
        Err(bad) => return bad,
    };
    match state.holds().release(name) {
        Some(h) => {
            tracing::info!(
                "write hold {} on database `{}` released after {:?}",
                h.id,
                h.database,
                h.since.elapsed()
            );
            Response::json(
                200,
                format!("{{\"released\":true,\"hold\":{}}}", describe(&h)),
            )
        }
        // A database the rules no longer name may still have had a hold: looked up after.
        None if state.rules().database(name).is_none() => unknown_database(name, state),
        None => Response::json(
            200,
            format!("{{\"released\":false,\"database\":{}}}", json_str(name)),
        ),
    }
}

pub fn list(state: &ProxyState, p: &Params) -> Response {
    if let Err(bad) = p.only(&[]) {
        return bad;
    }
    let holds = state.holds();
    let mut body = String::from("{\"holds\":[");
    for (i, h) in holds.list().iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&describe(h));
    }
    let _ = write!(
        body,
        "],\"waiting_statements\":{}}}",
        holds.stats.waiting.load(Relaxed)
    );
    Response::json(200, body)
}

/// One hold as a JSON object.
fn describe(h: &Hold) -> String {
    let tables: Vec<String> = h.tables.iter().map(|t| json_str(t)).collect();
    format!(
        "{{\"id\":{},\"database\":{},\"tables\":[{}],\"held_ms\":{},\"lease_ms\":{}}}",
        h.id,
        json_str(&h.database),
        tables.join(","),
        h.since.elapsed().as_millis(),
        h.lease.as_millis()
    )
}

/// The sessions still open, each once.
fn sessions(open: &Open) -> Vec<u32> {
    let mut all: Vec<u32> = open
        .transactions
        .iter()
        .chain(&open.statements)
        .copied()
        .collect();
    all.sort_unstable();
    all.dedup();
    all
}

fn ids(open: &Open) -> String {
    let list: Vec<String> = sessions(open).iter().map(u32::to_string).collect();
    format!("[{}]", list.join(","))
}

pub(super) fn unknown_database(name: &str, state: &ProxyState) -> Response {
    let rules = state.rules();
    let known: Vec<&str> = rules
        .databases()
        .values()
        .map(|d| d.name.as_str())
        .collect();
    Response::text(
        400,
        format!(
            "unknown database `{name}`; the rules serve: {}",
            known.join(", ")
        ),
    )
}
