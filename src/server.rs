//! Accepting clients: `run(listener, shared, shutdown)` so tests can bind 127.0.0.1:0 and
//! stop the server when they are done.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use mysql_async::prelude::Queryable;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::backend::Backends;
use crate::config::model::Rules;
use crate::config::server::ServerConfig;

/// What every connection task reads. Rules sit behind a lock only to be swapped whole on
/// reload; readers clone the `Arc` and never hold the lock across an await.
pub struct Shared {
    rules: RwLock<Arc<Rules>>,
    pub backends: Backends,
    pub config: ServerConfig,
    pub server_version: String,
    next_connection_id: AtomicU32,
    open_connections: AtomicUsize,
    started: Instant,
}

impl Shared {
    pub fn new(config: ServerConfig, rules: Rules, server_version: String) -> Self {
        let backends = Backends::new(&rules, &config.backend);
        Shared {
            rules: RwLock::new(Arc::new(rules)),
            backends,
            config,
            server_version: greeting_version(&server_version),
            next_connection_id: AtomicU32::new(1),
            open_connections: AtomicUsize::new(0),
            started: Instant::now(),
        }
    }

    pub fn rules(&self) -> Arc<Rules> {
        match self.rules.read() {
            Ok(r) => r.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn uptime_secs(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    pub fn open_connections(&self) -> usize {
        self.open_connections.load(Ordering::Relaxed)
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
pub async fn discover_server_version(shared_rules: &Rules, backends: &Backends) -> String {
    const FALLBACK: &str = "10.11.0-MariaDB-shardgate";
    let Some(db) = shared_rules.databases.values().next() else {
        return FALLBACK.to_string();
    };
    let Some(pool) = backends.pool(&db.name, db.default_group) else {
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

/// Serves clients until `shutdown` is cancelled, then waits for open connections to end.
pub async fn run(listener: TcpListener, shared: Arc<Shared>, shutdown: CancellationToken) {
    let tracker = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // Out of file descriptors and the like: wait a little instead of spinning.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let id = shared.next_connection_id.fetch_add(1, Ordering::Relaxed);
        let token = shutdown.clone();
        tracker.spawn(async move {
            shared.open_connections.fetch_add(1, Ordering::Relaxed);
            let (r, w) = stream.into_split();
            tokio::select! {
                _ = crate::frontend::serve_client(r, w, shared.clone(), id, peer.ip().to_string()) => {}
                _ = token.cancelled() => {}
            }
            shared.open_connections.fetch_sub(1, Ordering::Relaxed);
        });
    }
    tracker.close();
    tracker.wait().await;
}
