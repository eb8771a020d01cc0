//! Accepting clients and giving each to a worker.
//!
//! `run(listener, shared, shutdown)` serves on the caller's runtime (tests bind 127.0.0.1:0).
//! `serve_workers` is the production shape: one acceptor, and N worker threads each with a
//! current-thread runtime and its own backend pools. A client and its backend connections
//! live on one thread, so a query costs no cross-thread wake-ups; on this kind of machine
//! those wake-ups, not parsing, dominate a proxy's cost (DEPENDENCIES.md).

use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};

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
use crate::proxy_state::ProxyState;

/// What every connection task of one worker reads. Rules and pools sit behind locks only to
/// be swapped whole on reload; readers clone the `Arc` and never hold a lock across an await.
pub struct Shared {
    /// This worker's pools and the rules generation they were built for.
    backends: RwLock<(u64, Arc<Backends>)>,
    pub config: ServerConfig,
    pub server_version: String,
    state: Arc<ProxyState>,
    /// `[tls]`: the acceptor for clients that ask for TLS.
    tls: Option<tokio_rustls::TlsAcceptor>,
    /// Ends this worker's sessions' idle holds (`[backend] idle_hold_ms`).
    pub idle_hold_ends: Arc<crate::frontend::idle_hold_ends::IdleHoldEnds>,
}

impl Shared {
    pub fn new(config: ServerConfig, rules: Rules, server_version: String) -> Self {
        Self::for_worker(config, Arc::new(rules), server_version, Arc::default())
    }

    /// A worker's view: its own pools (pools must live on the runtime that uses them), the
    /// process's rules and state.
    pub fn for_worker(
        config: ServerConfig,
        rules: Arc<Rules>,
        server_version: String,
        state: Arc<ProxyState>,
    ) -> Self {
        state.install_first(&rules);
        if config.admin_listen.is_some() {
            // Before the pools: each registers its latency histogram with the recorder
            // installed now (a handle taken earlier would record nowhere).
            crate::admin::metrics::install();
        }
        state.install_user_limits(&config.users);
        state.install_result_cache(config.cache_max_bytes);
        state.xa.get_or_init(|| {
            crate::execute::xa::Coordinator::for_config(&config.transactions, &config.backend)
        });
        let rules = state.rules();
        let backends = Backends::new(&rules, &config.backend, &config.health, &state.health);
        crate::keygen::set_worker_id(config.worker_id);
        let tls = config
            .tls
            .as_ref()
            .and_then(|t| match crate::frontend::tls::server_config(t) {
                Ok(c) => Some(tokio_rustls::TlsAcceptor::from(c)),
                Err(e) => {
                    tracing::error!("TLS for clients is off: {e}");
                    None
                }
            });
        Shared {
            tls,
            backends: RwLock::new((state.generation(), Arc::new(backends))),
            config,
            server_version: greeting_version(&server_version),
            state,
            idle_hold_ends: Arc::default(),
        }
    }

    /// The two-phase commit coordinator, in xa mode.
    pub fn xa(&self) -> Option<&Arc<crate::execute::xa::Coordinator>> {
        self.state.xa.get().and_then(Option::as_ref)
    }

    pub fn column_orders(&self) -> &ColumnOrders {
        &self.state.column_orders
    }

    pub fn rules(&self) -> Arc<Rules> {
        self.state.rules()
    }

    /// This worker's pools for the current rules. After a reload the first caller rebuilds
    /// them, keeping the pool of every server that is still named (connections and sessions
    /// holding them carry on), on this worker's runtime where pools must live.
    pub fn backends(&self) -> Arc<Backends> {
        let now = self.state.generation();
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
            let rules = self.state.rules();
            let rebuilt = Backends::reusing(
                Some(&current.1),
                &rules,
                &self.config.backend,
                &self.config.health,
                &self.state.health,
            );
            *current = (now, Arc::new(rebuilt));
        }
        current.1.clone()
    }

    /// Re-reads the rule files now (SIGHUP does the same): see `reload`.
    pub fn reload(&self) -> Result<crate::reload::Reloaded, String> {
        crate::reload::reload(&self.state)
    }

    pub fn uptime_secs(&self) -> u64 {
        self.state.started.elapsed().as_secs()
    }

    pub fn sha2_cache(&self) -> &Sha2Cache {
        &self.state.sha2
    }

    pub fn open_connections(&self) -> usize {
        self.state.open_connections.load(Ordering::Relaxed)
    }

    pub fn health(&self) -> &HealthRegistry {
        &self.state.health
    }

    pub fn sessions(&self) -> &Arc<Sessions> {
        &self.state.sessions
    }

    pub fn state(&self) -> &ProxyState {
        &self.state
    }

    pub fn holds(&self) -> &crate::hold::Holds {
        self.state.holds()
    }

    pub fn user_limits(&self) -> &crate::frontend::user_limits::UserLimiters {
        self.state.user_limits()
    }

    pub fn result_cache(&self) -> Option<&crate::cache::ResultCache> {
        self.state.result_cache()
    }

    /// Whether `rules` are the ones served now.
    #[inline]
    pub fn rules_are_current(&self, rules: &Arc<Rules>) -> bool {
        self.state.rules_are_current(rules)
    }
}

/// The process's background tasks on the current runtime: one health checker per server,
/// and the admin HTTP endpoint when `admin_listen` is set.
fn spawn_background(config: &ServerConfig, state: &Arc<ProxyState>, shutdown: &CancellationToken) {
    if let Ok(mut r) = state.reload.lock() {
        *r = Some(crate::reload::ReloadContext {
            rules_path: config.rules.clone(),
            backend: config.backend.clone(),
            health: config.health.clone(),
            shutdown: shutdown.clone(),
        });
    }
    spawn_checkers(
        &state.health,
        &config.backend,
        &config.health,
        shutdown.clone(),
    );
    crate::backend::column_sorts::spawn_learner(
        state.clone(),
        config.backend.clone(),
        shutdown.clone(),
    );
    if state.stats().slow_log().is_none() {
        match crate::stats::SlowLog::start(&config.log) {
            Ok(Some(log)) => state.stats().set_slow_log(log),
            Ok(None) => {}
            Err(e) => tracing::error!(
                "log.slow_query_log: cannot write {}: {e}",
                config
                    .log
                    .slow_query_log
                    .as_deref()
                    .unwrap_or_else(|| "".as_ref())
                    .display()
            ),
        }
    }
    let coordinator = state.xa.get_or_init(|| {
        crate::execute::xa::Coordinator::for_config(&config.transactions, &config.backend)
    });
    if let Some(c) = coordinator.clone() {
        let (state, token) = (state.clone(), shutdown.clone());
        tokio::spawn(crate::execute::xa::recover::run(
            c,
            move || state.rules(),
            token,
        ));
    }
    if let Some(addr) = &config.admin_listen {
        crate::admin::metrics::install();
        let (addr, state, token) = (addr.clone(), state.clone(), shutdown.clone());
        tokio::spawn(async move {
            match TcpListener::bind(&addr).await {
                Ok(l) => {
                    tracing::info!("admin HTTP (metrics, holds, reload) listening on {addr}");
                    crate::admin::http::serve(l, state, token).await;
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
    let Some(db) = rules.databases().values().next() else {
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
    let id = shared.state.sessions.next_id();
    shared
        .state
        .open_connections
        .fetch_add(1, Ordering::Relaxed);
    let host = peer.ip().to_string();
    let serve = async {
        match shared.tls.clone() {
            Some(acceptor) => {
                crate::frontend::tls::serve_tcp(stream, acceptor, shared.clone(), id, host).await
            }
            None => {
                let (r, w) = stream.into_split();
                crate::frontend::serve_client(r, w, shared.clone(), id, host).await
            }
        }
    };
    tokio::select! {
        _ = serve => {}
        _ = token.cancelled() => {}
    }
    shared
        .state
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
    spawn_background(&shared.config, &shared.state, &shutdown);
    crate::backend::key_columns::learn_before_serving(
        shared.state.rules(),
        shared.config.backend.clone(),
    )
    .await;
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
    let state = Arc::new(ProxyState::default());
    let mut senders = Vec::with_capacity(workers);
    let mut threads = Vec::with_capacity(workers);
    for i in 0..workers {
        let (tx, rx) = mpsc::unbounded_channel::<Handoff>();
        senders.push(tx);
        let mut cfg = config.clone();
        // pool_max is per server for the whole process: split it between the workers.
        cfg.backend.pool_max = config.backend.pool_max.div_ceil(workers).max(1);
        cfg.backend.pool_min = config.backend.pool_min.min(cfg.backend.pool_max);
        let (rules, version, state, token) = (
            rules.clone(),
            server_version.clone(),
            state.clone(),
            shutdown.clone(),
        );
        threads.push(
            std::thread::Builder::new()
                .name(format!("shardgate-worker-{i}"))
                .spawn(move || worker(rx, cfg, rules, version, state, token))?,
        );
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        state.install_first(&rules);
        state.install_user_limits(&config.users);
        state.install_result_cache(config.cache_max_bytes);
        state.health.register(&rules);
        spawn_background(&config, &state, &shutdown);
        crate::backend::key_columns::learn_before_serving(state.rules(), config.backend.clone())
            .await;
        #[cfg(unix)]
        crate::reload::reload_on_hangup(state.clone(), shutdown.clone());
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
    state: Arc<ProxyState>,
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
        let shared = Arc::new(Shared::for_worker(config, rules, version, state));
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
