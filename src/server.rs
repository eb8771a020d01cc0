//! Accepting clients and giving each to a worker.
//!
//! `run(listener, shared, shutdown)` serves on the caller's runtime (tests bind 127.0.0.1:0).
//! `serve_workers` is the production shape: one acceptor, and N worker threads each with a
//! current-thread runtime and its own backend pools. A client and its backend connections
//! live on one thread, so a query costs no cross-thread wake-ups; on this kind of machine
//! those wake-ups, not parsing, dominate a proxy's cost (DEPENDENCIES.md).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use mysql_async::prelude::Queryable;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::backend::health::HealthRegistry;
use crate::backend::health_check::spawn_checkers;
use crate::backend::Backends;
use crate::config::model::Rules;
use crate::config::server::ServerConfig;
use crate::frontend::full_auth::Sha2Cache;
use crate::frontend::sessions::Sessions;
use crate::plan::ColumnOrders;

/// Process-wide counters, shared by every worker.
pub struct Counters {
    /// The live client sessions and their connection ids, for every worker.
    sessions: Arc<Sessions>,
    open_connections: AtomicUsize,
    started: Instant,
    /// caching_sha2_password's cache of verified users and the RSA key for full auth.
    sha2: Sha2Cache,
    /// Health and counters of every backend server (the checker writes, workers read).
    health: HealthRegistry,
    /// Column orders of sharded tables, fetched for INSERTs without a column list; shared by
    /// the workers so DDL through any of them forgets them for all.
    column_orders: ColumnOrders,
    /// The rules every worker serves. A reload swaps them whole and bumps `generation`;
    /// each worker then brings its own pools up to date before its next statement.
    rules: RwLock<Arc<Rules>>,
    /// Address of the rules `rules` holds: a session pinned to rules (an open transaction)
    /// tells with one load whether a reload replaced them. A pinned `Arc` keeps its address
    /// from being reused.
    rules_at: AtomicUsize,
    generation: AtomicU64,
    /// Write holds of resharding cutovers (admin `POST /hold`), for every worker.
    holds: crate::hold::Holds,
    /// What a reload needs besides the rules: where they are read from, how checkers log
    /// in, and when they stop. Set when the background tasks start; reloads hold the lock,
    /// so two never interleave.
    pub(crate) reload: Mutex<Option<crate::reload::ReloadContext>>,
}

impl Counters {
    pub fn health(&self) -> &HealthRegistry {
        &self.health
    }

    pub fn open_connections(&self) -> usize {
        self.open_connections.load(Ordering::Relaxed)
    }

    pub fn holds(&self) -> &crate::hold::Holds {
        &self.holds
    }

    pub fn sessions(&self) -> &Arc<Sessions> {
        &self.sessions
    }
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            sessions: Arc::default(),
            open_connections: AtomicUsize::new(0),
            started: Instant::now(),
            sha2: Sha2Cache::default(),
            health: HealthRegistry::default(),
            column_orders: ColumnOrders::default(),
            rules: RwLock::default(),
            rules_at: AtomicUsize::new(0),
            generation: AtomicU64::new(0),
            holds: crate::hold::Holds::default(),
            reload: Mutex::new(None),
        }
    }
}

impl Counters {
    pub fn rules(&self) -> Arc<Rules> {
        match self.rules.read() {
            Ok(r) => r.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Reloads so far; workers compare it with the one their pools were built for.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Installs new rules for every statement that starts from now on.
    pub(crate) fn swap_rules(&self, rules: Arc<Rules>) {
        self.rules_at
            .store(Arc::as_ptr(&rules) as usize, Ordering::Release);
        match self.rules.write() {
            Ok(mut r) => *r = rules,
            Err(poisoned) => *poisoned.into_inner() = rules,
        }
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Whether `rules` are the ones served now (one load; see `rules_at`).
    #[inline]
    pub fn rules_are_current(&self, rules: &Arc<Rules>) -> bool {
        self.rules_at.load(Ordering::Acquire) == Arc::as_ptr(rules) as usize
    }

    /// The first rules of the process (every worker passes the same ones).
    fn install_first(&self, rules: &Arc<Rules>) {
        if self.generation() == 0 {
            let mut r = match self.rules.write() {
                Ok(r) => r,
                Err(poisoned) => poisoned.into_inner(),
            };
            *r = rules.clone();
            self.rules_at
                .store(Arc::as_ptr(rules) as usize, Ordering::Release);
        }
    }
}

/// What every connection task of one worker reads. Rules and pools sit behind locks only to
/// be swapped whole on reload; readers clone the `Arc` and never hold a lock across an await.
pub struct Shared {
    /// This worker's pools and the rules generation they were built for.
    backends: RwLock<(u64, Arc<Backends>)>,
    pub config: ServerConfig,
    pub server_version: String,
    counters: Arc<Counters>,
}

impl Shared {
    pub fn new(config: ServerConfig, rules: Rules, server_version: String) -> Self {
        Self::for_worker(config, Arc::new(rules), server_version, Arc::default())
    }

    /// A worker's view: its own pools (pools must live on the runtime that uses them), the
    /// process's rules and counters.
    pub fn for_worker(
        config: ServerConfig,
        rules: Arc<Rules>,
        server_version: String,
        counters: Arc<Counters>,
    ) -> Self {
        counters.install_first(&rules);
        let rules = counters.rules();
        let backends = Backends::new(&rules, &config.backend, &config.health, &counters.health);
        crate::keygen::set_worker_id(config.worker_id);
        Shared {
            backends: RwLock::new((counters.generation(), Arc::new(backends))),
            config,
            server_version: greeting_version(&server_version),
            counters,
        }
    }

    pub fn column_orders(&self) -> &ColumnOrders {
        &self.counters.column_orders
    }

    pub fn rules(&self) -> Arc<Rules> {
        self.counters.rules()
    }

    /// This worker's pools for the current rules. After a reload the first caller rebuilds
    /// them, keeping the pool of every server that is still named (connections and sessions
    /// holding them carry on), on this worker's runtime where pools must live.
    pub fn backends(&self) -> Arc<Backends> {
        let now = self.counters.generation();
        {
            let current = match self.backends.read() {
                Ok(b) => b,
                Err(poisoned) => poisoned.into_inner(),
            };
            if current.0 == now {
                return current.1.clone();
            }
        }
        let mut current = match self.backends.write() {
            Ok(b) => b,
            Err(poisoned) => poisoned.into_inner(),
        };
        if current.0 != now {
            let rules = self.counters.rules();
            let rebuilt = Backends::reusing(
                Some(&current.1),
                &rules,
                &self.config.backend,
                &self.config.health,
                &self.counters.health,
            );
            *current = (now, Arc::new(rebuilt));
        }
        current.1.clone()
    }

    /// Re-reads the rule files now (SIGHUP does the same): see `reload`.
    pub fn reload(&self) -> Result<crate::reload::Reloaded, String> {
        crate::reload::reload(&self.counters)
    }

    pub fn uptime_secs(&self) -> u64 {
        self.counters.started.elapsed().as_secs()
    }

    pub fn sha2_cache(&self) -> &Sha2Cache {
        &self.counters.sha2
    }

    pub fn open_connections(&self) -> usize {
        self.counters.open_connections.load(Ordering::Relaxed)
    }

    pub fn health(&self) -> &HealthRegistry {
        &self.counters.health
    }

    pub fn sessions(&self) -> &Arc<Sessions> {
        &self.counters.sessions
    }

    pub fn holds(&self) -> &crate::hold::Holds {
        &self.counters.holds
    }

    /// Whether `rules` are the ones served now.
    #[inline]
    pub fn rules_are_current(&self, rules: &Arc<Rules>) -> bool {
        self.counters.rules_are_current(rules)
    }
}

/// The process's background tasks on the current runtime: one health checker per server,
/// and the admin HTTP endpoint when `admin_listen` is set.
fn spawn_background(config: &ServerConfig, counters: &Arc<Counters>, shutdown: &CancellationToken) {
    if let Ok(mut r) = counters.reload.lock() {
        *r = Some(crate::reload::ReloadContext {
            rules_path: config.rules.clone(),
            backend: config.backend.clone(),
            health: config.health.clone(),
            shutdown: shutdown.clone(),
        });
    }
    spawn_checkers(
        &counters.health,
        &config.backend,
        &config.health,
        shutdown.clone(),
    );
    if let Some(addr) = &config.admin_listen {
        let (addr, counters, token) = (addr.clone(), counters.clone(), shutdown.clone());
        tokio::spawn(async move {
            match TcpListener::bind(&addr).await {
                Ok(l) => {
                    tracing::info!("admin HTTP (metrics, holds, reload) listening on {addr}");
                    crate::admin::http::serve(l, counters, token).await;
                }
                Err(e) => tracing::error!("cannot listen on admin_listen {addr}: {e}"),
            }
        });
    }
}

/// MariaDB 10+ greets with a `5.5.5-` prefix, and clients rely on it: mysql-connector-python
/// reads a bare `10.11...` as "MySQL 8 or later" and asks for utf8mb4_0900_ai_ci, which
/// MariaDB does not have.
pub fn greeting_version(version: &str) -> String {
    let major: u32 = version
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    if version.contains("MariaDB") && major >= 10 {
        format!("5.5.5-{version}")
    } else {
        version.to_string()
    }
}

/// The version string of the default group of the first database, so clients that look at
/// the greeting see what they would see connecting directly; a fixed one when unreachable.
pub async fn discover_server_version(rules: &Rules, backends: &Backends) -> String {
    const FALLBACK: &str = "10.11.0-MariaDB-shardgate";
    let Some(db) = rules.databases.values().next() else {
        return FALLBACK.to_string();
    };
    let Some(pool) = backends.pool(db, db.default_group) else {
        return FALLBACK.to_string();
    };
    let attempt = async {
        let mut conn = pool.pool.get_conn().await.ok()?;
        conn.query_first::<String, _>("SELECT VERSION()")
            .await
            .ok()
            .flatten()
    };
    match tokio::time::timeout(backends.connect_timeout, attempt).await {
        Ok(Some(v)) => v,
        _ => FALLBACK.to_string(),
    }
}

/// Serves one accepted client to the end (or until shutdown).
async fn serve_stream(
    stream: TcpStream,
    peer: std::net::SocketAddr,
    shared: Arc<Shared>,
    token: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    let id = shared.counters.sessions.next_id();
    shared
        .counters
        .open_connections
        .fetch_add(1, Ordering::Relaxed);
    let (r, w) = stream.into_split();
    tokio::select! {
        _ = crate::frontend::serve_client(r, w, shared.clone(), id, peer.ip().to_string()) => {}
        _ = token.cancelled() => {}
    }
    shared
        .counters
        .open_connections
        .fetch_sub(1, Ordering::Relaxed);
}

async fn accept(
    listener: &TcpListener,
    shutdown: &CancellationToken,
) -> Option<(TcpStream, std::net::SocketAddr)> {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return None,
            a = listener.accept() => a,
        };
        match accepted {
            Ok(x) => return Some(x),
            Err(e) => {
                // Out of file descriptors and the like: wait a little instead of spinning.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

/// Serves clients on the current runtime until `shutdown` is cancelled, then waits for open
/// connections to end.
pub async fn run(listener: TcpListener, shared: Arc<Shared>, shutdown: CancellationToken) {
    spawn_background(&shared.config, &shared.counters, &shutdown);
    let tracker = TaskTracker::new();
    while let Some((stream, peer)) = accept(&listener, &shutdown).await {
        tracker.spawn(serve_stream(stream, peer, shared.clone(), shutdown.clone()));
    }
    tracker.close();
    tracker.wait().await;
}

type Handoff = (std::net::TcpStream, std::net::SocketAddr);

/// Runs the acceptor on the calling thread and `workers` worker threads; returns after
/// `shutdown` when every worker has drained its clients and closed its pools.
pub fn serve_workers(
    listener: std::net::TcpListener,
    config: ServerConfig,
    rules: Arc<Rules>,
    server_version: String,
    workers: usize,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let workers = workers.max(1);
    let counters = Arc::new(Counters::default());
    let mut senders = Vec::with_capacity(workers);
    let mut threads = Vec::with_capacity(workers);
    for i in 0..workers {
        let (tx, rx) = mpsc::unbounded_channel::<Handoff>();
        senders.push(tx);
        let mut cfg = config.clone();
        // pool_max is per server for the whole process: split it between the workers.
        cfg.backend.pool_max = config.backend.pool_max.div_ceil(workers).max(1);
        cfg.backend.pool_min = config.backend.pool_min.min(cfg.backend.pool_max);
        let (rules, version, counters, token) = (
            rules.clone(),
            server_version.clone(),
            counters.clone(),
            shutdown.clone(),
        );
        threads.push(
            std::thread::Builder::new()
                .name(format!("shardgate-worker-{i}"))
                .spawn(move || worker(rx, cfg, rules, version, counters, token))?,
        );
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        counters.install_first(&rules);
        counters.health.register(&rules);
        spawn_background(&config, &counters, &shutdown);
        #[cfg(unix)]
        crate::reload::reload_on_hangup(counters.clone(), shutdown.clone());
        listener.set_nonblocking(true)?;
        let listener = TcpListener::from_std(listener)?;
        let mut next = 0usize;
        while let Some((stream, peer)) = accept(&listener, &shutdown).await {
            // Round robin keeps the clients even across workers (SO_REUSEPORT hashing does not).
            if let Ok(std_stream) = stream.into_std() {
                let _ = senders[next % workers].send((std_stream, peer));
                next = next.wrapping_add(1);
            }
        }
        std::io::Result::Ok(())
    })?;
    drop(senders);
    for t in threads {
        let _ = t.join();
    }
    Ok(())
}

fn worker(
    mut rx: mpsc::UnboundedReceiver<Handoff>,
    config: ServerConfig,
    rules: Arc<Rules>,
    version: String,
    counters: Arc<Counters>,
    shutdown: CancellationToken,
) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("worker runtime: {e}");
            return;
        }
    };
    rt.block_on(async move {
        let shared = Arc::new(Shared::for_worker(config, rules, version, counters));
        let tracker = TaskTracker::new();
        loop {
            let next = tokio::select! {
                _ = shutdown.cancelled() => None,
                n = rx.recv() => n,
            };
            let Some((std_stream, peer)) = next else {
                break;
            };
            match TcpStream::from_std(std_stream) {
                Ok(stream) => {
                    tracker.spawn(serve_stream(stream, peer, shared.clone(), shutdown.clone()));
                }
                Err(e) => tracing::warn!("cannot adopt client socket: {e}"),
            }
        }
        tracker.close();
        tracker.wait().await;
        shared.backends().disconnect_all().await;
    });
}
