//! Process-wide health of every backend server, written by the checker and read on every
//! statement by all worker threads. Plain atomics: a read costs a few loads, never a lock,
//! and no worker ever waits for another.
//!
//! The registry's maps are locked only while workers build their pools and while the
//! checker or an admin listing takes its snapshot, never around an await.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use super::breaker::{now_ms, Throttle};
use super::replication::{BinlogHistory, CheckMethod, PositionLag};
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
    /// Both replication threads running, or (GTID method) caught up or applying (replicas
    /// only; masters always true).
    replicating: AtomicBool,
    /// Seconds_Behind_Master or the GTID method's estimate, or `LAG_UNKNOWN`.
    lag_s: AtomicI64,
    /// How replication is checked (`CheckMethod` as u8).
    method: AtomicU8,
    /// `@@global.read_only` at the last check: 0 unknown, 1 off, 2 on.
    read_only: AtomicU8,
    /// A master's GTID positions over time, for its replicas' GTID method; locked only by
    /// checkers, never across an await.
    binlog: Mutex<BinlogHistory>,
    /// Whether reads may go here: up, replicating, and lag within the strictest
    /// `max_replica_lag_s` of the groups it serves. Masters: whether the circuit is closed.
    in_rotation: AtomicBool,
    /// Consecutive failures of checks and connects (shown in listings and metrics).
    failures: AtomicU32,
    /// Adaptive client-side throttling of the statements sent here (`breaker`).
    pub throttle: Throttle,
    /// When the last half-open probe statement was let through an open circuit (ms on the
    /// breaker's clock).
    probe_at_ms: AtomicU64,
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
            method: AtomicU8::new(CheckMethod::Unknown as u8),
            read_only: AtomicU8::new(0),
            binlog: Mutex::new(BinlogHistory::default()),
            in_rotation: AtomicBool::new(true),
            failures: AtomicU32::new(0),
            throttle: Throttle::default(),
            probe_at_ms: AtomicU64::new(0),
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

    pub fn check_method(&self) -> CheckMethod {
        CheckMethod::from_u8(self.method.load(Ordering::Relaxed))
    }

    /// Records how this server is checked; true when that changed (the caller logs why).
    pub fn set_check_method(&self, method: CheckMethod) -> bool {
        self.method.swap(method as u8, Ordering::Relaxed) != method as u8
    }

    /// `@@global.read_only` as last read (replicas), `None` before.
    pub fn read_only(&self) -> Option<bool> {
        match self.read_only.load(Ordering::Relaxed) {
            1 => Some(false),
            2 => Some(true),
            _ => None,
        }
    }

    /// Records `@@global.read_only`; true when it changed.
    pub fn set_read_only(&self, on: bool) -> bool {
        let v = if on { 2 } else { 1 };
        self.read_only.swap(v, Ordering::Relaxed) != v
    }

    /// The master this replica follows (the first group that named it), if any.
    pub fn master(&self) -> Option<&Arc<ServerHealth>> {
        self.master.get()
    }

    /// The positions this server (a master) showed, for the GTID method.
    pub fn binlog_history(&self) -> std::sync::MutexGuard<'_, BinlogHistory> {
        lock(&self.binlog)
    }

    pub fn last_error(&self) -> String {
        match self.last_error.lock() {
            Ok(e) => e.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// A connect on the statement path failed (refused, reset, no handshake within
    /// connect_timeout): a hard failure, which opens a master's circuit at once. Statements
    /// then fail at once until the checker's check, or one probe statement per check
    /// interval (half-open), gets through again.
    pub fn hard_failure(&self, reason: &str) {
        let n = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        self.set_error(reason);
        if self.is_replica() {
            if self.in_rotation.swap(false, Ordering::Relaxed) {
                tracing::warn!(server = %self.addr, role = "replica", "out of rotation: {reason}");
            }
            return;
        }
        self.probe_at_ms.store(now_ms(), Ordering::Relaxed);
        if self.in_rotation.swap(false, Ordering::Relaxed) {
            tracing::warn!(server = %self.addr, failures = n, "master circuit open: {reason}");
        }
    }

    /// Half-open: whether this statement may probe a master whose circuit is open (one per
    /// `every`, the check interval); the others fail at once.
    pub fn try_probe(&self, every: std::time::Duration) -> bool {
        let now = now_ms();
        let last = self.probe_at_ms.load(Ordering::Relaxed);
        now.saturating_sub(last) >= every.as_millis() as u64
            && self
                .probe_at_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    /// A probe statement connected: the circuit closes, and the outage is forgotten.
    pub fn probe_succeeded(&self) {
        self.failures.store(0, Ordering::Relaxed);
        self.throttle.reset(now_ms());
        if !self.in_rotation.swap(true, Ordering::Relaxed) {
            tracing::info!(server = %self.addr, role = "master", "circuit closed: a probe statement connected");
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

    /// Remembers why the last statement failed here (listings show it).
    pub fn note_error(&self, reason: &str) {
        self.set_error(reason);
    }

    fn set_error(&self, reason: &str) {
        if let Ok(mut e) = self.last_error.lock() {
            e.clear();
            e.push_str(reason);
        }
    }

    /// Applies one check's outcome; logs each change of rotation.
    pub fn apply(&self, check: CheckOutcome) {
        self.checks.fetch_add(1, Ordering::Relaxed);
        let was = self.in_rotation();
        let was_up = self.is_up();
        let now_ms = now_ms();
        let (now, reason) = match check {
            CheckOutcome::Down(reason) => {
                let n = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
                self.up.store(false, Ordering::Relaxed);
                self.lag_s.store(LAG_UNKNOWN, Ordering::Relaxed);
                self.set_error(&reason);
                // The checker is the breaker's probe: a check that gets no answer (refused,
                // or not within its timeout) opens a master's circuit, and a replica leaves
                // rotation (the master can serve its reads).
                tracing::debug!(server = %self.addr, failures = n, "check failed");
                self.probe_at_ms.store(now_ms, Ordering::Relaxed);
                self.throttle.refresh(now_ms);
                (false, reason)
            }
            CheckOutcome::Up {
                latency_us,
                replication,
            } => {
                self.failures.store(0, Ordering::Relaxed);
                self.up.store(true, Ordering::Relaxed);
                if !was_up || (!was && !self.is_replica()) {
                    // Back after an outage: recovery within one check, not one window.
                    self.throttle.reset(now_ms);
                } else {
                    self.throttle.refresh(now_ms);
                }
                let old = self.latency_us.load(Ordering::Relaxed);
                let avg = if old == 0 {
                    latency_us
                } else {
                    (old * 7 + latency_us) / 8
                };
                self.latency_us.store(avg.max(1), Ordering::Relaxed);
                match replication {
                    None => (true, String::new()),
                    Some(r) => self.judge_replication(r, was),
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

impl ServerHealth {
    /// Whether a replica that answered may take reads, and why not.
    fn judge_replication(&self, r: ReplicationStatus, was: bool) -> (bool, String) {
        let max = self.max_lag_s.load(Ordering::Relaxed);
        let master = self.master.get();
        let master_down = master.is_some_and(|m| !m.is_up());
        let (running, lag, stopped) = match r {
            ReplicationStatus::Threads {
                io_running,
                sql_running,
                lag_s,
            } => {
                let running = io_running && sql_running;
                let lag = lag_s.map(|l| l as i64).unwrap_or(LAG_UNKNOWN);
                if sql_running && !io_running && master_down {
                    self.store_replication(running, lag);
                    return self.stale_but_best(was);
                }
                let stopped = (!running).then(|| {
                    format!(
                        "replication stopped (IO thread {}, SQL thread {})",
                        yes_no(io_running),
                        yes_no(sql_running)
                    )
                });
                (running, lag, stopped)
            }
            ReplicationStatus::Positions(PositionLag { lag_s, moving }) => {
                let lag = lag_s.map(|l| l as i64).unwrap_or(LAG_UNKNOWN);
                if master_down {
                    // The master cannot be compared with: the replica has what it had.
                    self.store_replication(moving, lag);
                    return self.stale_but_best(was);
                }
                if lag_s.is_none() && master.is_none_or(|m| m.checks() == 0) {
                    // The master's first check has not read its position yet.
                    self.store_replication(moving, lag);
                    return (was, String::new());
                }
                let unknown = lag_s.is_none().then(|| {
                    "lag unknown: the master's GTID position (@@gtid_binlog_pos) could not be                      read"
                        .to_string()
                });
                (moving, lag, unknown)
            }
            ReplicationStatus::Unmeasurable(reason) => {
                self.store_replication(false, LAG_UNKNOWN);
                if master_down {
                    return self.stale_but_best(was);
                }
                (false, LAG_UNKNOWN, Some(reason))
            }
        };
        self.store_replication(running, lag);
        let reason = match stopped {
            Some(reason) => reason,
            None if lag < 0 || lag as u64 > max => {
                format!("lag {lag} s is beyond max_replica_lag_s = {max}")
            }
            None => return (true, String::new()),
        };
        self.set_error(&reason);
        (false, reason)
    }

    fn store_replication(&self, running: bool, lag: i64) {
        self.replicating.store(running, Ordering::Relaxed);
        self.lag_s.store(lag, Ordering::Relaxed);
    }

    /// Its master is down: a replica that answers keeps serving reads, possibly stale.
    fn stale_but_best(&self, was: bool) -> (bool, String) {
        if was {
            tracing::warn!(server = %self.addr, "master is down: replica keeps serving reads, possibly stale");
        }
        (true, String::new())
    }
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "running"
    } else {
        "stopped"
    }
}

/// What one check learned of a replica's replication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplicationStatus {
    /// SHOW SLAVE STATUS, the parts that matter.
    Threads {
        io_running: bool,
        sql_running: bool,
        /// Seconds_Behind_Master (NULL when the SQL thread is not running).
        lag_s: Option<u64>,
    },
    /// No privilege for SHOW SLAVE STATUS: GTID positions against the master's.
    Positions(PositionLag),
    /// Neither could be read (the reason); the replica is not trusted with reads.
    Unmeasurable(String),
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
    /// Backend connections parked with a session's replayable state between its statements
    /// (`warm`), held by no session: the next statement with that state takes one as it is.
    pub parked: AtomicI64,
    /// The proxy's own connections (`wire_pool`), in use or idle, and of them idle: the
    /// driver's pool counts neither.
    pub wire_open: AtomicI64,
    pub wire_idle: AtomicI64,
    /// Statements waiting for a connection of a pool at `pool_max` now, how many ever
    /// waited, and how many gave up after connect_timeout: pool sizing shows here first.
    pub waiting: AtomicI64,
    pub waits: AtomicU64,
    pub exhausted: AtomicU64,
    /// The driver's counters of this server's pool in every worker (each worker has its
    /// own pool), for the idle and open connection gauges; pools of rules a reload dropped
    /// fall out as they are freed.
    pools: Mutex<Vec<std::sync::Weak<mysql_async::Metrics>>>,
}

impl ServerStats {
    pub(crate) fn track_pool(&self, pool: &mysql_async::Pool) {
        let mut pools = lock(&self.pools);
        pools.retain(|m| m.strong_count() > 0);
        pools.push(Arc::downgrade(&pool.metrics()));
    }

    /// (connections open to the server, of them idle in a pool) over every worker's pool.
    pub fn pool_connections(&self) -> (usize, usize) {
        use std::sync::atomic::Ordering::Relaxed;
        lock(&self.pools)
            .iter()
            .filter_map(std::sync::Weak::upgrade)
            .fold(
                (
                    self.wire_open.load(Relaxed).max(0) as usize,
                    self.wire_idle.load(Relaxed).max(0) as usize,
                ),
                |(open, idle), m| {
                    (
                        open + m.connection_count.load(Relaxed),
                        idle + m.connections_in_pool.load(Relaxed),
                    )
                },
            )
    }
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
    /// `[health] breaker_k` and `breaker_window_ms`, for every server's throttle.
    breaker: Mutex<(f64, u64)>,
}

impl Default for HealthRegistry {
    fn default() -> Self {
        HealthRegistry {
            started: Instant::now(),
            servers: Mutex::default(),
            stats: Mutex::default(),
            entries: Mutex::default(),
            syntax: Arc::default(),
            breaker: Mutex::new((super::breaker::DEFAULT_K, super::breaker::DEFAULT_WINDOW_MS)),
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
        let (k, window_ms) = *lock(&self.breaker);
        let mut m = lock(&self.servers);
        m.entry(addr.to_string())
            .or_insert_with(|| {
                let h = ServerHealth::new(addr);
                h.throttle.configure(k, window_ms);
                Arc::new(h)
            })
            .clone()
    }

    /// Sets every server's throttle (now and for servers registered later).
    pub fn configure_breaker(&self, k: f64, window_ms: u64) {
        *lock(&self.breaker) = (k, window_ms);
        for h in lock(&self.servers).values() {
            h.throttle.configure(k, window_ms);
        }
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
        for db in rules.databases().values() {
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
            replication: Some(ReplicationStatus::Threads {
                io_running: io,
                sql_running: sql,
                lag_s: lag,
            }),
        }
    }

    #[test]
    fn replica_leaves_when_stopped_lagging_or_down_and_comes_back() {
        let h = replica(5);
        h.apply(up(true, true, Some(0)));
        assert!(h.in_rotation());
        h.apply(up(true, false, None));
        assert!(!h.in_rotation());
        assert!(
            h.last_error().contains("SQL thread stopped"),
            "{}",
            h.last_error()
        );
        h.apply(up(true, true, Some(6)));
        assert!(!h.in_rotation());
        h.apply(up(true, true, Some(5)));
        assert!(h.in_rotation());
        h.apply(CheckOutcome::Down("refused".into()));
        assert!(!h.in_rotation() && !h.is_up());
        h.apply(up(true, true, Some(0)));
        assert!(h.in_rotation() && h.is_up());
    }

    #[test]
    fn replica_keeps_serving_while_its_master_is_down() {
        let h = replica(5);
        let m = Arc::new(ServerHealth::new("127.0.0.1:3"));
        let _ = h.master.set(m.clone());
        h.apply(up(false, true, None));
        assert!(!h.in_rotation(), "IO thread down, master up: stale, out");
        m.apply(CheckOutcome::Down("refused".into()));
        h.apply(up(false, true, None));
        assert!(h.in_rotation(), "master down: best available");
    }

    fn by_positions(lag: Option<u64>, moving: bool) -> CheckOutcome {
        CheckOutcome::Up {
            latency_us: 100,
            replication: Some(ReplicationStatus::Positions(PositionLag {
                lag_s: lag,
                moving,
            })),
        }
    }

    #[test]
    fn gtid_method_replica_leaves_beyond_max_lag_and_returns_when_caught_up() {
        let h = replica(2);
        let m = Arc::new(ServerHealth::new("127.0.0.1:4"));
        let _ = h.master.set(m.clone());
        // The master not checked yet: no verdict, the optimistic start stands.
        h.apply(by_positions(None, false));
        assert!(h.in_rotation());
        m.apply(CheckOutcome::Up {
            latency_us: 1,
            replication: None,
        });
        h.apply(by_positions(Some(0), true));
        assert!(h.in_rotation() && h.is_replicating());
        assert_eq!(h.lag_s(), 0);
        h.apply(by_positions(Some(2), false));
        assert!(h.in_rotation(), "at the limit is still in");
        h.apply(by_positions(Some(3), false));
        assert!(!h.in_rotation() && !h.is_replicating());
        assert!(h.last_error().contains("lag 3 s"), "{}", h.last_error());
        h.apply(by_positions(Some(0), true));
        assert!(h.in_rotation());
        // The master answers but its position could not be read: not trusted.
        h.apply(by_positions(None, false));
        assert!(!h.in_rotation());
        assert!(
            h.last_error().contains("gtid_binlog_pos"),
            "{}",
            h.last_error()
        );
        // The master down: the replica is the best there is.
        m.apply(CheckOutcome::Down("refused".into()));
        h.apply(by_positions(None, false));
        assert!(h.in_rotation());
    }

    #[test]
    fn unmeasurable_replica_stays_out_unless_its_master_is_down() {
        let h = replica(5);
        let m = Arc::new(ServerHealth::new("127.0.0.1:5"));
        let _ = h.master.set(m.clone());
        let unmeasurable = || CheckOutcome::Up {
            latency_us: 1,
            replication: Some(ReplicationStatus::Unmeasurable("no privilege".into())),
        };
        h.apply(unmeasurable());
        assert!(!h.in_rotation());
        assert_eq!(h.last_error(), "no privilege");
        m.apply(CheckOutcome::Down("refused".into()));
        h.apply(unmeasurable());
        assert!(h.in_rotation());
    }

    #[test]
    fn master_circuit_opens_on_a_hard_failure_and_closes_on_a_good_check_or_probe() {
        let h = ServerHealth::new("127.0.0.1:2");
        let up = CheckOutcome::Up {
            latency_us: 50,
            replication: None,
        };
        h.apply(up.clone());
        assert!(h.in_rotation());
        // A failed check opens it; the next good one closes it.
        h.apply(CheckOutcome::Down("no answer within 1s".into()));
        assert!(!h.in_rotation() && !h.is_up());
        h.apply(up.clone());
        assert!(h.in_rotation());
        assert_eq!(h.failures(), 0);
        // A refused connect on the statement path opens it at once.
        h.hard_failure("connect refused");
        assert!(!h.in_rotation());
        assert_eq!(h.last_error(), "connect refused");
        // Half-open: no probe right after opening, one per interval after that.
        assert!(!h.try_probe(std::time::Duration::from_secs(60)));
        assert!(h.try_probe(std::time::Duration::ZERO));
        h.probe_succeeded();
        assert!(h.in_rotation());
        assert_eq!(h.failures(), 0);
    }

    #[test]
    fn a_server_back_after_an_outage_is_not_throttled_for_a_whole_window() {
        let h = ServerHealth::new("127.0.0.1:6");
        h.apply(CheckOutcome::Up {
            latency_us: 50,
            replication: None,
        });
        for _ in 0..20 {
            h.throttle.failed_unadmitted(1);
        }
        h.apply(CheckOutcome::Down("no answer".into()));
        assert!(
            h.throttle.probability() > 0.9,
            "{}",
            h.throttle.probability()
        );
        h.apply(CheckOutcome::Up {
            latency_us: 50,
            replication: None,
        });
        assert_eq!(h.throttle.probability(), 0.0);
        assert!(h.in_rotation());
    }
}
