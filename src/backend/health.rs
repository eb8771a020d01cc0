//! Process-wide health of every backend server, written by the checker and read on every
//! statement by all worker threads. Plain atomics: a read costs a few loads, never a lock,
//! and no worker ever waits for another.
//!
//! The registry's maps are locked only while workers build their pools and while the
//! checker or an admin listing takes its snapshot, never around an await.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use crate::config::model::Rules;

/// Lag reported when a replica's lag is unknown (not replicating, or never checked).
pub const LAG_UNKNOWN: i64 = -1;

/// What the checker last learned about one server (keyed by address: a server shared by
/// several logical databases is checked once).
#[derive(Debug)]
pub struct ServerHealth {
    pub addr: Arc<str>,
    /// Answered the last check.
    up: AtomicBool,
    /// Both replication threads running (replicas only; masters always true).
    replicating: AtomicBool,
    /// Seconds_Behind_Master, or `LAG_UNKNOWN`.
    lag_s: AtomicI64,
    /// Whether reads may go here: up, replicating, and lag within the strictest
    /// `max_replica_lag_s` of the groups it serves. Masters: whether the circuit is closed.
    in_rotation: AtomicBool,
    /// Consecutive failures of checks and connects; a master's circuit opens at the limit.
    failures: AtomicU32,
    /// Moving average of the check round trip, microseconds (least_latency reads it).
    latency_us: AtomicU64,
    /// Strictest lag limit of the groups this server is a replica of.
    max_lag_s: AtomicU64,
    is_replica: AtomicBool,
    /// A replica's master: while the master is down, a replica whose IO thread cannot reach
    /// it still serves reads (stale but the best there is), instead of leaving no server.
    master: OnceLock<Arc<ServerHealth>>,
    /// Checks done, for tests that wait for "one more check".
    checks: AtomicU64,
    last_error: Mutex<String>,
    /// A checker task runs for this server: a reload that registers servers again starts
    /// checkers only for the new ones.
    checked: AtomicBool,
}

impl ServerHealth {
    fn new(addr: &str) -> Self {
        ServerHealth {
            addr: Arc::from(addr),
            // Optimistic until the first check: the proxy serves at once after starting.
            up: AtomicBool::new(true),
            replicating: AtomicBool::new(true),
            lag_s: AtomicI64::new(LAG_UNKNOWN),
            in_rotation: AtomicBool::new(true),
            failures: AtomicU32::new(0),
            latency_us: AtomicU64::new(0),
            max_lag_s: AtomicU64::new(u64::MAX),
            is_replica: AtomicBool::new(false),
            master: OnceLock::new(),
            checks: AtomicU64::new(0),
            last_error: Mutex::new(String::new()),
            checked: AtomicBool::new(false),
        }
    }

    /// Claims this server for a checker; false when one runs already.
    pub fn claim_checker(&self) -> bool {
        !self.checked.swap(true, Ordering::Relaxed)
    }

    /// May reads (replica) or statements (master) go here now.
    #[inline]
    pub fn in_rotation(&self) -> bool {
        self.in_rotation.load(Ordering::Relaxed)
    }

    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    pub fn is_replicating(&self) -> bool {
        self.replicating.load(Ordering::Relaxed)
    }

    pub fn lag_s(&self) -> i64 {
        self.lag_s.load(Ordering::Relaxed)
    }

    pub fn latency_us(&self) -> u64 {
        self.latency_us.load(Ordering::Relaxed)
    }

    pub fn failures(&self) -> u32 {
        self.failures.load(Ordering::Relaxed)
    }

    pub fn checks(&self) -> u64 {
        self.checks.load(Ordering::Relaxed)
    }

    pub fn is_replica(&self) -> bool {
        self.is_replica.load(Ordering::Relaxed)
    }

    pub fn last_error(&self) -> String {
        match self.last_error.lock() {
            Ok(e) => e.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// A connect or query on the statement path failed with a driver error: counts towards
    /// opening a master's circuit without waiting for the next check.
    pub fn record_failure(&self, failures_to_open: u32, reason: &str) {
        let n = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        self.set_error(reason);
        if !self.is_replica()
            && n >= failures_to_open
            && self.in_rotation.swap(false, Ordering::Relaxed)
        {
            tracing::warn!(server = %self.addr, failures = n, "master circuit open: {reason}");
        }
    }

    /// A replica failed on the statement path: out until the next good check.
    pub fn leave_rotation(&self, reason: &str) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        self.set_error(reason);
        if self.in_rotation.swap(false, Ordering::Relaxed) {
            tracing::warn!(server = %self.addr, role = "replica", "out of rotation: {reason}");
        }
    }

    fn set_error(&self, reason: &str) {
        if let Ok(mut e) = self.last_error.lock() {
            e.clear();
            e.push_str(reason);
        }
    }

    /// Applies one check's outcome; logs each change of rotation.
    pub fn apply(&self, check: CheckOutcome, failures_to_open: u32) {
        self.checks.fetch_add(1, Ordering::Relaxed);
        let was = self.in_rotation();
        let (now, reason) = match check {
            CheckOutcome::Down(reason) => {
                let n = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
                self.up.store(false, Ordering::Relaxed);
                self.lag_s.store(LAG_UNKNOWN, Ordering::Relaxed);
                self.set_error(&reason);
                // A replica leaves at the first failure (the master can serve its reads); a
                // master's circuit opens only after several, so one lost packet does not
                // fail writes.
                let keep = !self.is_replica() && n < failures_to_open && was;
                (keep, reason)
            }
            CheckOutcome::Up {
                latency_us,
                replication,
            } => {
                self.failures.store(0, Ordering::Relaxed);
                self.up.store(true, Ordering::Relaxed);
                let old = self.latency_us.load(Ordering::Relaxed);
                let avg = if old == 0 {
                    latency_us
                } else {
                    (old * 7 + latency_us) / 8
                };
                self.latency_us.store(avg.max(1), Ordering::Relaxed);
                match replication {
                    None => (true, String::new()),
                    Some(r) => {
                        let running = r.io_running && r.sql_running;
                        self.replicating.store(running, Ordering::Relaxed);
                        let lag = r.lag_s.map(|l| l as i64).unwrap_or(LAG_UNKNOWN);
                        self.lag_s.store(lag, Ordering::Relaxed);
                        let max = self.max_lag_s.load(Ordering::Relaxed);
                        let master_down = self.master.get().is_some_and(|m| !m.is_up());
                        if r.sql_running && !r.io_running && master_down {
                            if was {
                                tracing::warn!(server = %self.addr, "master is down: replica keeps serving reads, possibly stale");
                            }
                            (true, String::new())
                        } else if !running {
                            let reason = format!(
                                "replication stopped (IO thread {}, SQL thread {})",
                                yes_no(r.io_running),
                                yes_no(r.sql_running)
                            );
                            self.set_error(&reason);
                            (false, reason)
                        } else if lag < 0 || lag as u64 > max {
                            let reason = format!("lag {lag} s is beyond max_replica_lag_s = {max}");
                            self.set_error(&reason);
                            (false, reason)
                        } else {
                            (true, String::new())
                        }
                    }
                }
            }
        };
        self.in_rotation.store(now, Ordering::Relaxed);
        let role = if self.is_replica() {
            "replica"
        } else {
            "master"
        };
        match (was, now) {
            (true, false) => {
                tracing::warn!(server = %self.addr, role, "out of rotation: {reason}")
            }
            (false, true) => tracing::info!(server = %self.addr, role, "back in rotation"),
            _ => {}
        }
    }
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "running"
    } else {
        "stopped"
    }
}

/// A replica's SHOW SLAVE STATUS, the parts that matter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicationStatus {
    pub io_running: bool,
    pub sql_running: bool,
    /// Seconds_Behind_Master (NULL when the SQL thread is not running).
    pub lag_s: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckOutcome {
    Down(String),
    Up {
        latency_us: u64,
        /// `None` for a master.
        replication: Option<ReplicationStatus>,
    },
}

/// Counters of one server as one group of one logical database uses it.
#[derive(Debug, Default)]
pub struct ServerStats {
    /// Statements sent (shard queries, not client statements).
    pub queries: AtomicU64,
    /// Backend connections sessions hold right now.
    pub open_conns: AtomicI64,
    /// Statements waiting for a connection of a pool at `pool_max` now, how many ever
    /// waited, and how many gave up after connect_timeout: pool sizing shows here first.
    pub waiting: AtomicI64,
    pub waits: AtomicU64,
    pub exhausted: AtomicU64,
}

/// Role of a server within its group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Master,
    Replica,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Master => "master",
            Role::Replica => "replica",
        }
    }
}

/// One row of `SHOW SHARDGATE GROUPS` / the metrics.
#[derive(Debug, Clone)]
pub struct ServerEntry {
    pub database: String,
    pub group: String,
    pub role: Role,
    pub addr: String,
    pub weight: u32,
    pub health: Arc<ServerHealth>,
    pub stats: Arc<ServerStats>,
}

/// (database lower-case, group, addr, role).
type StatsKey = (String, String, String, Role);

/// Every server the rules name, with its health and counters, for the whole process.
pub struct HealthRegistry {
    started: Instant,
    servers: Mutex<HashMap<String, Arc<ServerHealth>>>,
    /// Keyed by (database lower-case, group, addr, role).
    stats: Mutex<HashMap<StatsKey, Arc<ServerStats>>>,
    /// The layout in rule order, for listings.
    entries: Mutex<Vec<ServerEntry>>,
    /// How the servers read SQL text (version, global sql_mode), learned by the checker.
    syntax: Arc<super::server_syntax::ServerSyntax>,
}

impl Default for HealthRegistry {
    fn default() -> Self {
        HealthRegistry {
            started: Instant::now(),
            servers: Mutex::default(),
            stats: Mutex::default(),
            entries: Mutex::default(),
            syntax: Arc::default(),
        }
    }
}

impl HealthRegistry {
    /// How the servers read SQL text, as far as the checker learned it.
    pub fn server_syntax(&self) -> &Arc<super::server_syntax::ServerSyntax> {
        &self.syntax
    }

    /// The health of `addr`, created on first use.
    pub fn server(&self, addr: &str) -> Arc<ServerHealth> {
        let mut m = lock(&self.servers);
        m.entry(addr.to_string())
            .or_insert_with(|| Arc::new(ServerHealth::new(addr)))
            .clone()
    }

    pub fn stats(&self, database: &str, group: &str, addr: &str, role: Role) -> Arc<ServerStats> {
        let mut m = lock(&self.stats);
        m.entry((
            database.to_ascii_lowercase(),
            group.to_string(),
            addr.to_string(),
            role,
        ))
        .or_default()
        .clone()
    }

    /// Registers every server of `rules` (idempotent), and sets each replica's lag limit.
    pub fn register(&self, rules: &Rules) {
        let mut entries = Vec::new();
        for db in rules.databases.values() {
            for g in &db.groups {
                let master = self.server(&g.master);
                entries.push(ServerEntry {
                    database: db.name.clone(),
                    group: g.name.clone(),
                    role: Role::Master,
                    addr: g.master.clone(),
                    weight: 0,
                    health: master.clone(),
                    stats: self.stats(&db.name, &g.name, &g.master, Role::Master),
                });
                for r in &g.replicas {
                    let h = self.server(&r.addr);
                    h.is_replica.store(true, Ordering::Relaxed);
                    let _ = h.master.set(master.clone());
                    h.max_lag_s
                        .fetch_min(g.max_replica_lag_s, Ordering::Relaxed);
                    entries.push(ServerEntry {
                        database: db.name.clone(),
                        group: g.name.clone(),
                        role: Role::Replica,
                        addr: r.addr.clone(),
                        weight: r.weight,
                        health: h,
                        stats: self.stats(&db.name, &g.name, &r.addr, Role::Replica),
                    });
                }
            }
        }
        entries.sort_by(|a, b| {
            (
                a.database.as_str(),
                a.group.as_str(),
                a.role == Role::Replica,
                a.addr.as_str(),
            )
                .cmp(&(
                    b.database.as_str(),
                    b.group.as_str(),
                    b.role == Role::Replica,
                    b.addr.as_str(),
                ))
        });
        *lock(&self.entries) = entries;
    }

    /// Every (database, group, server), sorted.
    pub fn entries(&self) -> Vec<ServerEntry> {
        lock(&self.entries).clone()
    }

    /// Every distinct server, for the checker.
    pub fn servers(&self) -> Vec<Arc<ServerHealth>> {
        let mut v: Vec<_> = lock(&self.servers).values().cloned().collect();
        v.sort_by(|a, b| a.addr.cmp(&b.addr));
        v
    }

    pub fn uptime_secs(&self) -> u64 {
        self.started.elapsed().as_secs()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replica(max: u64) -> ServerHealth {
        let h = ServerHealth::new("127.0.0.1:1");
        h.is_replica.store(true, Ordering::Relaxed);
        h.max_lag_s.store(max, Ordering::Relaxed);
        h
    }

    fn up(io: bool, sql: bool, lag: Option<u64>) -> CheckOutcome {
        CheckOutcome::Up {
            latency_us: 100,
            replication: Some(ReplicationStatus {
                io_running: io,
                sql_running: sql,
                lag_s: lag,
            }),
        }
    }

    #[test]
    fn replica_leaves_when_stopped_lagging_or_down_and_comes_back() {
        let h = replica(5);
        h.apply(up(true, true, Some(0)), 3);
        assert!(h.in_rotation());
        h.apply(up(true, false, None), 3);
        assert!(!h.in_rotation());
        assert!(
            h.last_error().contains("SQL thread stopped"),
            "{}",
            h.last_error()
        );
        h.apply(up(true, true, Some(6)), 3);
        assert!(!h.in_rotation());
        h.apply(up(true, true, Some(5)), 3);
        assert!(h.in_rotation());
        h.apply(CheckOutcome::Down("refused".into()), 3);
        assert!(!h.in_rotation() && !h.is_up());
        h.apply(up(true, true, Some(0)), 3);
        assert!(h.in_rotation() && h.is_up());
    }

    #[test]
    fn replica_keeps_serving_while_its_master_is_down() {
        let h = replica(5);
        let m = Arc::new(ServerHealth::new("127.0.0.1:3"));
        let _ = h.master.set(m.clone());
        h.apply(up(false, true, None), 3);
        assert!(!h.in_rotation(), "IO thread down, master up: stale, out");
        m.apply(CheckOutcome::Down("refused".into()), 3);
        h.apply(up(false, true, None), 3);
        assert!(h.in_rotation(), "master down: best available");
    }

    #[test]
    fn master_circuit_opens_after_consecutive_failures_and_closes_on_success() {
        let h = ServerHealth::new("127.0.0.1:2");
        let up = CheckOutcome::Up {
            latency_us: 50,
            replication: None,
        };
        h.apply(CheckOutcome::Down("x".into()), 3);
        h.apply(CheckOutcome::Down("x".into()), 3);
        assert!(h.in_rotation());
        h.apply(up.clone(), 3);
        h.apply(CheckOutcome::Down("x".into()), 3);
        h.record_failure(3, "connect refused");
        assert!(h.in_rotation());
        h.record_failure(3, "connect refused");
        assert!(!h.in_rotation());
        h.apply(up, 3);
        assert!(h.in_rotation());
        assert_eq!(h.failures(), 0);
    }
}
