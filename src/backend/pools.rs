//! One pool per (logical database, group, server): the master and every replica. Pools connect
//! lazily, so a server that is down does not stop the proxy from starting or from serving the
//! other groups. Each worker thread has its own pools (a pool lives on the runtime that uses
//! it); health and counters are process-wide (`health::HealthRegistry`).
//!
//! A pool with every connection checked out is not a server failure: `connect` waits for a
//! free slot first (at most `connect_timeout`, then error 1040 naming the pool), and only
//! then asks the server, so only a server that does not answer a connect counts against its
//! health.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mysql_async::{Opts, OptsBuilder, Pool, PoolConstraints, PoolOpts};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::balance::{self, Access, ServerRef};
use super::conn::BackendConn;
use super::health::{HealthRegistry, Role, ServerHealth, ServerStats};
use super::warm::WarmConns;
use super::wire::WireOpts;
use super::wire_pool::WireIdle;
use crate::config::model::{Database, Group, GroupId, ReadPolicy, Rules};
use crate::config::server::{BackendConfig, HealthConfig, ReadYourWrites};
use crate::error::{Error, Result};

/// The pool of one server of a group, with what error messages and counters need.
#[derive(Debug)]
pub struct GroupPool {
    pub database: Arc<str>,
    pub group: Arc<str>,
    pub addr: Arc<str>,
    pub schema: Arc<str>,
    pub role: Role,
    pub pool: Pool,
    /// What the pool's connections are opened with, for a connection of its own outside
    /// the pool (KILL QUERY: the statement it stops may hold the pool's every connection).
    pub opts: Opts,
    /// One permit per connection the pool may open (`pool_max`): a checked-out connection
    /// holds one until it is back, so waiting for a permit is waiting for the pool, never
    /// for the server.
    slots: Arc<Semaphore>,
    pub pool_max: usize,
    pub health: Arc<ServerHealth>,
    pub stats: Arc<ServerStats>,
    /// `shardgate_backend_statement_seconds` of this server, registered once: building the
    /// labels on every statement cost 3 µs of CPU per point query.
    pub latency: metrics::Histogram,
    /// Connections parked with a session's replayable state (see `warm`); they hold slots,
    /// which a statement that finds none free takes back.
    pub warm: WarmConns,
    /// The proxy's own connections to this server, idle between reads (`wire_pool`).
    pub wire_idle: WireIdle,
    /// How those connect: the same server and account as `opts`.
    pub wire_opts: WireOpts,
    /// The driver pool's counts: a new wire connection closes one of its idle ones.
    pub(super) driver_metrics: Arc<mysql_async::Metrics>,
}

impl GroupPool {
    /// A master pool that never connects, for tests of what reads a pool's names.
    #[cfg(test)]
    pub(crate) fn for_tests(database: &str, group: &str, addr: &str) -> GroupPool {
        let cfg = BackendConfig::default();
        let registry = HealthRegistry::default();
        let opts = pool_opts(addr, database, &cfg);
        let pool = Pool::new(opts.clone());
        GroupPool {
            database: Arc::from(database),
            group: Arc::from(group),
            addr: Arc::from(addr),
            schema: Arc::from(database),
            role: Role::Master,
            driver_metrics: pool.metrics(),
            wire_opts: wire_opts(&opts, &cfg),
            wire_idle: WireIdle::default(),
            pool,
            opts,
            slots: Arc::new(Semaphore::new(1)),
            pool_max: 1,
            health: registry.server(addr),
            stats: registry.stats(database, group, addr, Role::Master),
            latency: latency_histogram(database, group, Role::Master),
            warm: WarmConns::default(),
        }
    }

    /// The error that names this server's group and address.
    pub fn unavailable(&self, reason: String) -> Error {
        let reason = match self.role {
            Role::Master => reason,
            Role::Replica => format!("replica: {reason}"),
        };
        Error::GroupUnavailable {
            database: self.database.to_string(),
            group: self.group.to_string(),
            addr: self.addr.to_string(),
            reason,
        }
    }

    /// Where a statement for `shard` of this server's group goes, for error messages.
    pub fn place(&self, shard: Option<u32>) -> String {
        let shard = shard.map(|s| format!("shard {s}, ")).unwrap_or_default();
        format!(
            "{shard}group '{}' of database '{}' ({} {})",
            self.group,
            self.database,
            self.role.name(),
            self.addr
        )
    }

    /// Admits one statement for this server through its adaptive breaker, or rejects it at
    /// once (1429 naming the group, the server and the odds). The ticket counts the
    /// statement as answered when dropped, unless `Ticket::failed` says otherwise.
    #[inline]
    pub fn admit(&self) -> Result<Ticket<'_>> {
        match self.health.throttle.admit(rand::random::<f64>) {
            Ok(()) => Ok(Ticket {
                health: &self.health,
                done: false,
            }),
            Err(rejection) => Err(self.unavailable(rejection.to_string())),
        }
    }

    /// A connection from the pool, failing at once when the master's circuit is open
    /// (instead of every statement waiting for a connect to time out), except for one probe
    /// statement per `probe_every` (half-open). Waiting for a free slot and connecting are
    /// bounded by `timeout` each; only the connect's failures open the circuit.
    pub async fn connect(&self, timeout: Duration, probe_every: Duration) -> Result<BackendConn> {
        let probing = self.role == Role::Master && !self.health.in_rotation();
        if probing && !self.health.try_probe(probe_every) {
            return Err(self.circuit_open());
        }
        let slot = match self.free_slot() {
            Some(slot) => slot,
            None => self.wait_for_slot(timeout).await?,
        };
        self.connect_in(slot, timeout, probing).await
    }

    /// Parks `conn`, which carries exactly the replay batch `state`, for the next statement
    /// with that state (see `warm`); to the pool, reset, if a statement waits for a slot.
    pub fn park(&self, state: std::sync::Arc<str>, conn: BackendConn) {
        self.warm.park(state, conn, || {
            self.stats.waiting.load(Ordering::Relaxed) > 0
        });
    }

    /// A connection parked with exactly the replay batch `state`, unless the server is out
    /// of rotation (a master whose circuit is open must go through `connect`'s probe).
    pub fn take_parked(&self, state: &str) -> Option<BackendConn> {
        if !self.health.in_rotation() {
            self.warm.clear();
            return None;
        }
        self.warm.take(state)
    }

    /// A statement waits for a slot of this server's pool (of any worker): a session holding
    /// a connection of it between statements must give it back, not keep or take it back.
    pub fn is_wanted(&self) -> bool {
        self.stats.waiting.load(Ordering::Relaxed) > 0
    }

    /// A slot free right now, evicting parked connections (`warm`) and idle wire
    /// connections (`wire_pool`) if they hold them all.
    pub(super) fn free_slot(&self) -> Option<OwnedSemaphorePermit> {
        loop {
            if let Ok(slot) = self.slots.clone().try_acquire_owned() {
                return Some(slot);
            }
            if !self.warm.evict_oldest() && !self.wire_idle.evict_oldest() {
                return None;
            }
        }
    }

    pub(super) fn circuit_open(&self) -> Error {
        self.unavailable(format!(
            "master is down (circuit open; probing again every health interval): {}",
            self.health.last_error()
        ))
    }

    /// The slow path of `connect`: the pool is at `pool_max`, so wait (counted, timed) for a
    /// connection to come back.
    pub(super) async fn wait_for_slot(&self, timeout: Duration) -> Result<OwnedSemaphorePermit> {
        let _waiting = Waiting::new(&self.stats);
        // Sessions holding spares between statements give them back now. Signalled only once
        // counted as waiting: a session that starts a hold or takes a spare back after this
        // sees the count (`is_wanted`), one that did so before hears the signal.
        signal_slot_wanted();
        // Counted as waiting, so nobody parks a connection from now on; one parked before
        // is evicted here (see `WarmConns::park`).
        if let Some(slot) = self.free_slot() {
            return Ok(slot);
        }
        let started = std::time::Instant::now();
        let answered_before = self.health.throttle.accepts();
        let got = tokio::time::timeout(timeout, self.slots.clone().acquire_owned()).await;
        metrics::histogram!(
            "shardgate_pool_wait_seconds",
            "group" => self.group.to_string(),
            "role" => self.role.name(),
        )
        .record(started.elapsed().as_secs_f64());
        match got {
            Ok(Ok(slot)) => Ok(slot),
            Ok(Err(_)) => Err(Error::Internal("a backend pool was closed".into())),
            Err(_) => {
                self.stats.exhausted.fetch_add(1, Ordering::Relaxed);
                Err(self.stuck_or_exhausted(timeout, answered_before))
            }
        }
    }

    /// Why no connection came back within `waited`: the server answered nothing meanwhile
    /// while statements wait on it (stuck: a server failure, 1429), or sessions simply hold
    /// them all (1040, not the server's fault).
    fn stuck_or_exhausted(&self, waited: Duration, answered_before: u64) -> Error {
        let throttle = &self.health.throttle;
        let waiting = self.stats.waiting.load(Ordering::Relaxed).max(0) as u64;
        if throttle.accepts() == answered_before && throttle.unanswered() > waiting {
            return self.unavailable(format!(
                "not answering: statements on all {} connections of the pool got no answer \
                 within {waited:?}",
                self.pool_max
            ));
        }
        self.exhausted(waited)
    }

    /// Like `connect`, but `None` at once when every connection of the pool is in use.
    pub async fn connect_if_free(
        &self,
        timeout: Duration,
        probe_every: Duration,
    ) -> Result<Option<BackendConn>> {
        if self.role == Role::Master && !self.health.in_rotation() {
            return self.connect(timeout, probe_every).await.map(Some);
        }
        match self.free_slot() {
            Some(slot) => self.connect_in(slot, timeout, false).await.map(Some),
            None => Ok(None),
        }
    }

    /// A connection for a slot this caller holds: from the pool, or a new one (whose
    /// failure to connect is a hard failure of the server). `probing`: this statement is
    /// the half-open circuit's probe, whose success closes it.
    async fn connect_in(
        &self,
        slot: OwnedSemaphorePermit,
        timeout: Duration,
        probing: bool,
    ) -> Result<BackendConn> {
        match tokio::time::timeout(timeout, self.pool.get_conn()).await {
            Ok(Ok(c)) => {
                if probing {
                    self.health.probe_succeeded();
                }
                Ok(BackendConn::new(c, Held::new(self), slot))
            }
            Ok(Err(mysql_async::Error::Server(e))) => {
                Err(Error::from(mysql_async::Error::Server(e)))
            }
            Ok(Err(e)) => {
                let reason = e.to_string();
                self.health.hard_failure(&reason);
                Err(self.unavailable(reason))
            }
            Err(_) => {
                let reason = format!("no connection within {timeout:?}");
                self.health.hard_failure(&reason);
                Err(self.unavailable(reason))
            }
        }
    }

    /// Every connection of this pool is checked out and none came back within `waited`.
    fn exhausted(&self, waited: Duration) -> Error {
        Error::PoolExhausted {
            database: self.database.to_string(),
            group: self.group.to_string(),
            addr: self.addr.to_string(),
            role: self.role.name(),
            pool_max: self.pool_max,
            waited,
        }
    }

    /// A driver failure on the statement path (the connection broke): a replica leaves
    /// rotation until the checker sees it healthy again; for a master the statement's
    /// `Ticket` counts it against the breaker.
    pub fn failed(&self, reason: &str) {
        match self.role {
            Role::Replica => self.health.leave_rotation(reason),
            Role::Master => self.health.note_error(reason),
        }
    }
}

/// One statement admitted to a server by its breaker (`GroupPool::admit`): answered when
/// dropped (an error packet is an answer too), unless `failed` first. A statement stuck on a
/// server holds its ticket, so it counts as unanswered until it ends.
#[derive(Debug)]
#[must_use]
pub struct Ticket<'a> {
    /// Borrowed, not an `Arc` clone: the hot path stays at two counter increments.
    health: &'a ServerHealth,
    done: bool,
}

impl Ticket<'_> {
    /// The statement failed on the server's account: connect, timeout, lost connection.
    pub fn failed(mut self) {
        self.done = true;
        self.health.throttle.failed(super::breaker::now_ms());
    }

    /// Failed if `e` says the server could not be reached; answered otherwise.
    pub fn judge(self, e: &Error) {
        if matches!(
            e,
            Error::GroupUnavailable { .. } | Error::BackendConnection(_)
        ) {
            self.failed();
        }
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.health.throttle.accepted();
        }
    }
}

/// A group's servers and how its reads are spread over them.
#[derive(Debug)]
pub struct GroupServers {
    pub name: String,
    pub master: Arc<GroupPool>,
    pub replicas: Vec<Arc<GroupPool>>,
    pub policy: ReadPolicy,
    /// Running sums of the replicas' weights (weighted policy).
    weight_ends: Vec<u32>,
    /// Round-robin cursor; per worker, so it is never contended.
    next: AtomicUsize,
}

impl GroupServers {
    /// The server a statement of this kind should run on now.
    #[inline]
    pub fn choose(&self, access: Access) -> ServerRef {
        let master_first = match access {
            Access::Master => true,
            Access::PreferMaster => self.master.health.in_rotation(),
            Access::Read => false,
        };
        if master_first || self.replicas.is_empty() {
            return ServerRef::Master;
        }
        balance::choose_replica(self.policy, &self.replicas, &self.weight_ends, &self.next)
            .map_or(ServerRef::Master, ServerRef::Replica)
    }

    pub fn server(&self, r: ServerRef) -> &Arc<GroupPool> {
        match r {
            ServerRef::Master => &self.master,
            ServerRef::Replica(i) => self.replicas.get(i as usize).unwrap_or(&self.master),
        }
    }
}

/// Signalled when a statement finds a pool full: sessions that keep their connections
/// between statements (`[backend] idle_hold_ms`) give them back on it, so holding a
/// connection a little longer never makes another session wait for one. Process-wide
/// (every pool of every reload): a spurious signal only ends a hold early.
pub static SLOT_WANTED: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// Counts the signals of `SLOT_WANTED`, so that a listener that was not listening at the
/// moment of one still learns of it.
static SLOT_WANTED_GENERATION: AtomicU64 = AtomicU64::new(0);

/// Tells the sessions holding spares that a statement waits for a slot.
pub fn signal_slot_wanted() {
    SLOT_WANTED_GENERATION.fetch_add(1, Ordering::SeqCst);
    SLOT_WANTED.notify_waiters();
}

/// How many times a slot was wanted so far (`signal_slot_wanted`).
pub fn slot_wanted_generation() -> u64 {
    SLOT_WANTED_GENERATION.load(Ordering::SeqCst)
}

#[derive(Debug, Default)]
pub struct Backends {
    /// Keyed by the logical database name exactly as its rule file spells it (the name every
    /// `Database` carries), so the per-statement lookup allocates nothing; ordered, since a
    /// few string comparisons cost less than hashing the name, several times a statement.
    groups: BTreeMap<String, Vec<Arc<GroupServers>>>,
    pub connect_timeout: Duration,
    /// How often a statement may probe a master whose circuit is open (the check interval).
    pub probe_interval: Duration,
    /// See `HealthConfig::master_after_write`.
    pub master_after_write: Duration,
    pub read_your_writes: ReadYourWrites,
    pub gtid_wait: Duration,
    /// `[backend] wire_reads`, which needs multiplexing (a session that keeps its
    /// connections reads on them).
    pub wire_reads: bool,
}

impl Backends {
    /// Pools for every server of `rules`; registers each in `registry` so the checker and
    /// the listings see them.
    pub fn new(
        rules: &Rules,
        cfg: &BackendConfig,
        health: &HealthConfig,
        registry: &HealthRegistry,
    ) -> Self {
        Self::reusing(None, rules, cfg, health, registry)
    }

    /// Pools for `rules` after a reload: every server that `previous` already had (same
    /// database, group, address and schema) keeps its pool, so connections, counters and
    /// sessions holding them carry on; new servers get new pools; servers no longer named
    /// are dropped here and close once their last connection comes back.
    pub fn reusing(
        previous: Option<&Backends>,
        rules: &Rules,
        cfg: &BackendConfig,
        health: &HealthConfig,
        registry: &HealthRegistry,
    ) -> Self {
        registry.configure_breaker(health.breaker_k.0, health.breaker_window.as_millis() as u64);
        registry.register(rules);
        let mut groups = BTreeMap::new();
        for db in rules.databases().values() {
            let mut list = Vec::with_capacity(db.groups.len());
            for group in &db.groups {
                let old = previous.and_then(|b| b.group_named(&db.name, &group.name));
                list.push(Arc::new(group_servers(&db.name, group, cfg, registry, old)));
            }
            groups.insert(db.name.clone(), list);
        }
        Backends {
            groups,
            connect_timeout: cfg.connect_timeout,
            probe_interval: health.interval,
            master_after_write: health.master_after_write,
            read_your_writes: health.read_your_writes,
            gtid_wait: health.gtid_wait,
            wire_reads: cfg.wire_reads && cfg.multiplex,
        }
    }

    /// The servers of `group` in `database`.
    #[inline]
    ///
    /// By the group's name: a plan or a transaction may hold a `Database` of the rules before
    /// a reload, whose group numbers need not match these pools' (a new group sorts in
    /// anywhere). The index is tried first, so the usual lookup costs one comparison.
    pub fn group(&self, db: &Database, group: GroupId) -> Option<&Arc<GroupServers>> {
        let name = db.groups.get(group)?.name.as_str();
        let list = self.list(&db.name)?;
        match list.get(group) {
            Some(g) if g.name == name => Some(g),
            _ => list.iter().find(|g| g.name == name),
        }
    }

    fn group_named(&self, database: &str, name: &str) -> Option<&Arc<GroupServers>> {
        self.list(database)?.iter().find(|g| g.name == name)
    }

    fn list(&self, database: &str) -> Option<&Vec<Arc<GroupServers>>> {
        match self.groups.get(database) {
            Some(l) => Some(l),
            None => self
                .groups
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(database))
                .map(|(_, l)| l),
        }
    }

    /// The master's pool of `group` in `db`.
    pub fn pool(&self, db: &Database, group: GroupId) -> Option<&Arc<GroupPool>> {
        self.group(db, group).map(|g| &g.master)
    }

    pub async fn disconnect_all(&self) {
        for list in self.groups.values() {
            for g in list {
                for p in std::iter::once(&g.master).chain(&g.replicas) {
                    p.warm.clear();
                    p.wire_idle.clear();
                    let _ = p.pool.clone().disconnect().await;
                }
            }
        }
    }
}

fn group_servers(
    database: &str,
    group: &Group,
    cfg: &BackendConfig,
    registry: &HealthRegistry,
    previous: Option<&Arc<GroupServers>>,
) -> GroupServers {
    let kept = |addr: &str, role: Role| {
        let old = previous?;
        std::iter::once(&old.master)
            .chain(&old.replicas)
            .find(|p| p.role == role && *p.addr == *addr && *p.schema == *group.schema)
            .cloned()
    };
    let server = |addr: &str, role: Role| {
        if let Some(pool) = kept(addr, role) {
            return pool;
        }
        let opts = pool_opts(addr, &group.schema, cfg);
        let pool = Pool::new(opts.clone());
        let stats = registry.stats(database, &group.name, addr, role);
        stats.track_pool(&pool);
        Arc::new(GroupPool {
            database: Arc::from(database),
            group: Arc::from(group.name.as_str()),
            addr: Arc::from(addr),
            schema: Arc::from(group.schema.as_str()),
            role,
            driver_metrics: pool.metrics(),
            wire_opts: wire_opts(&opts, cfg),
            wire_idle: WireIdle::default(),
            pool,
            opts,
            slots: Arc::new(Semaphore::new(cfg.pool_max.max(1))),
            pool_max: cfg.pool_max.max(1),
            health: registry.server(addr),
            stats,
            latency: latency_histogram(database, &group.name, role),
            warm: WarmConns::for_pool(cfg.pool_max.max(1)),
        })
    };
    let mut sum = 0u32;
    let weight_ends = group
        .replicas
        .iter()
        .map(|r| {
            sum = sum.saturating_add(r.weight);
            sum
        })
        .collect();
    GroupServers {
        name: group.name.clone(),
        master: server(&group.master, Role::Master),
        replicas: group
            .replicas
            .iter()
            .map(|r| server(&r.addr, Role::Replica))
            .collect(),
        policy: group.read_policy,
        weight_ends,
        next: AtomicUsize::new(0),
    }
}

fn pool_opts(addr: &str, schema: &str, cfg: &BackendConfig) -> Opts {
    let (host, port) = split_addr(addr);
    // A non-zero idle TTL and min keep connections around; with the defaults the pool
    // opened one backend connection per statement (DEPENDENCIES.md).
    let constraints = PoolConstraints::new(cfg.pool_min.min(cfg.pool_max), cfg.pool_max.max(1))
        .unwrap_or_default();
    let pool_opts = PoolOpts::default()
        .with_constraints(constraints)
        .with_inactive_connection_ttl(Duration::from_secs(60))
        // Multiplexed sessions give clean connections back after each query; a reset per
        // return would cost a round trip per statement, so only connections that may carry
        // session state are reset (every `BackendConn` not released clean).
        .with_reset_connection(!cfg.multiplex);
    OptsBuilder::default()
        .ip_or_hostname(host)
        .tcp_port(port)
        .user(Some(cfg.user.clone()))
        .pass(Some(cfg.password.clone()))
        .db_name(Some(schema.to_string()))
        .prefer_socket(true)
        // Prepared EXECUTEs bind their values to backend prepared statements: each
        // connection keeps its most recent ones, so a statement is prepared once per
        // connection, not per execute (the server caps them all at max_prepared_stmt_count,
        // 16382 by default: 64 per connection leaves room for 250 connections).
        .stmt_cache_size(64)
        .pool_opts(pool_opts)
        .into()
}

fn wire_opts(opts: &Opts, cfg: &BackendConfig) -> WireOpts {
    let mut wire = WireOpts::from_driver(opts);
    wire.connect_timeout = cfg.connect_timeout;
    wire
}

pub(crate) fn split_addr(addr: &str) -> (String, u16) {
    match addr.rsplit_once(':') {
        Some((h, p)) => (
            h.trim_start_matches('[').trim_end_matches(']').to_string(),
            p.parse().unwrap_or(3306),
        ),
        None => (addr.to_string(), 3306),
    }
}

/// The backend-latency histogram of one server, registered with the recorder installed now.
fn latency_histogram(database: &str, group: &str, role: Role) -> metrics::Histogram {
    metrics::histogram!(
        "shardgate_backend_statement_seconds",
        "database" => database.to_owned(),
        "group" => group.to_owned(),
        "role" => role.name()
    )
}

/// Counts a statement waiting for a pool slot while it waits, also when its client goes
/// away mid-wait (the future is dropped).
#[must_use]
struct Waiting<'a>(&'a ServerStats);

impl<'a> Waiting<'a> {
    fn new(stats: &'a ServerStats) -> Self {
        stats.waits.fetch_add(1, Ordering::Relaxed);
        stats.waiting.fetch_add(1, Ordering::Relaxed);
        Waiting(stats)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Counts a checked-out backend connection, for the listings: as open (a session holds it)
/// or as parked (`warm`), and a wire connection (`wire_pool`) also among the server's open
/// connections, idle while it waits in its pool; dropping it uncounts.
#[derive(Debug)]
pub struct Held {
    stats: Arc<ServerStats>,
    parked: bool,
    wire: bool,
}

impl Held {
    pub fn new(pool: &GroupPool) -> Self {
        pool.stats.open_conns.fetch_add(1, Ordering::Relaxed);
        Held {
            stats: pool.stats.clone(),
            parked: false,
            wire: false,
        }
    }

    /// For a wire connection, which the driver's pool counts nowhere.
    pub fn new_wire(pool: &GroupPool) -> Self {
        pool.stats.wire_open.fetch_add(1, Ordering::Relaxed);
        let mut held = Held::new(pool);
        held.wire = true;
        held
    }

    fn gauge(&self) -> &std::sync::atomic::AtomicI64 {
        match (self.parked, self.wire) {
            (false, _) => &self.stats.open_conns,
            (true, false) => &self.stats.parked,
            (true, true) => &self.stats.wire_idle,
        }
    }

    /// Moves the connection between the open and the parked (or idle) count.
    pub fn set_parked(&mut self, parked: bool) {
        if self.parked != parked {
            self.gauge().fetch_sub(1, Ordering::Relaxed);
            self.parked = parked;
            self.gauge().fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.gauge().fetch_sub(1, Ordering::Relaxed);
        if self.wire {
            self.stats.wire_open.fetch_sub(1, Ordering::Relaxed);
        }
    }
}
