//! The state every worker of the process shares: live sessions, rules and their generation,
//! backend health, write holds, column orders. It has its own home so that the admin views
//! (`admin`) and the accept loop (`server`) both import it without importing each other.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Instant, SystemTime};

use crate::backend::health::HealthRegistry;
use crate::config::model::Rules;
use crate::frontend::full_auth::Sha2Cache;
use crate::frontend::sessions::Sessions;
use crate::plan::ColumnOrders;

/// Process-wide state, shared by every worker.
pub struct ProxyState {
    /// The live client sessions and their connection ids, for every worker.
    pub(crate) sessions: Arc<Sessions>,
    pub(crate) open_connections: AtomicUsize,
    pub(crate) started: Instant,
    /// caching_sha2_password's cache of verified users and the RSA key for full auth.
    pub(crate) sha2: Sha2Cache,
    /// Health and state of every backend server (the checker writes, workers read).
    pub(crate) health: HealthRegistry,
    /// Column orders of sharded tables, fetched for INSERTs without a column list; shared by
    /// the workers so DDL through any of them forgets them for all.
    pub(crate) column_orders: ColumnOrders,
    /// The rules every worker serves. A reload swaps them whole and bumps `generation`;
    /// each worker then brings its own pools up to date before its next statement.
    rules: RwLock<Arc<Rules>>,
    /// Address of the rules `rules` holds: a session pinned to rules (an open transaction)
    /// tells with one load whether a reload replaced them. A pinned `Arc` keeps its address
    /// from being reused.
    rules_at: AtomicUsize,
    generation: AtomicU64,
    /// When the rules `rules` holds were loaded (SHOW SHARDGATE RULES).
    rules_loaded: Mutex<SystemTime>,
    /// Statement statistics (SHOW SHARDGATE STATS, metrics, the slow query log).
    stats: crate::stats::Stats,
    /// Write holds of resharding cutovers (admin `POST /hold`), for every worker.
    holds: crate::hold::Holds,
    /// What a reload needs besides the rules: where they are read from, how checkers log
    /// in, and when they stop. Set when the background tasks start; reloads hold the lock,
    /// so two never interleave.
    pub(crate) reload: Mutex<Option<crate::reload::ReloadContext>>,
    /// Reloads that took effect and that were refused, for the metrics.
    reloads_ok: AtomicU64,
    reloads_failed: AtomicU64,
    /// This proxy's own series on `/metrics` (see `admin::metrics`).
    metrics: crate::admin::metrics::StateMetrics,
    /// The result cache (`[cache]`), from the server config the first worker brings;
    /// `None` inside when its size is 0.
    result_cache: std::sync::OnceLock<Option<crate::cache::ResultCache>>,
    /// Per-user connection and rate limits, from the server config the first worker brings.
    user_limits: std::sync::OnceLock<crate::frontend::user_limits::UserLimiters>,
    /// The two-phase commit coordinator (`[transactions] mode = "xa"`), set by the first
    /// worker from the config.
    pub(crate) xa: std::sync::OnceLock<Option<Arc<crate::execute::xa::Coordinator>>>,
}

impl ProxyState {
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

    /// The result cache, when the config gives it memory.
    pub fn result_cache(&self) -> Option<&crate::cache::ResultCache> {
        self.result_cache.get().and_then(Option::as_ref)
    }

    pub(crate) fn install_result_cache(&self, max_bytes: usize) {
        let _ = self
            .result_cache
            .set((max_bytes > 0).then(|| crate::cache::ResultCache::new(max_bytes)));
    }

    /// The per-user limits (none until a worker installed them from its config).
    pub fn user_limits(&self) -> &crate::frontend::user_limits::UserLimiters {
        self.user_limits.get_or_init(Default::default)
    }

    /// Every worker passes the same users; the first one's limits count for all.
    pub(crate) fn install_user_limits(&self, users: &[crate::config::server::UserConfig]) {
        let _ = self
            .user_limits
            .set(crate::frontend::user_limits::UserLimiters::new(users));
    }

    pub fn metrics(&self) -> &crate::admin::metrics::StateMetrics {
        &self.metrics
    }

    /// (reloads that took effect, reloads refused).
    pub fn reload_counts(&self) -> (u64, u64) {
        (
            self.reloads_ok.load(Ordering::Relaxed),
            self.reloads_failed.load(Ordering::Relaxed),
        )
    }

    pub(crate) fn count_reload(&self, took_effect: bool) {
        let c = if took_effect {
            &self.reloads_ok
        } else {
            &self.reloads_failed
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub fn stats(&self) -> &crate::stats::Stats {
        &self.stats
    }

    /// When the rules served now were loaded.
    pub fn rules_loaded(&self) -> SystemTime {
        *self.rules_loaded.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn note_rules_loaded(&self) {
        *self.rules_loaded.lock().unwrap_or_else(|p| p.into_inner()) = SystemTime::now();
    }
}

impl Default for ProxyState {
    fn default() -> Self {
        ProxyState {
            sessions: Arc::default(),
            open_connections: AtomicUsize::new(0),
            started: Instant::now(),
            sha2: Sha2Cache::default(),
            health: HealthRegistry::default(),
            column_orders: ColumnOrders::default(),
            rules: RwLock::default(),
            rules_at: AtomicUsize::new(0),
            generation: AtomicU64::new(0),
            rules_loaded: Mutex::new(SystemTime::now()),
            stats: crate::stats::Stats::default(),
            holds: crate::hold::Holds::default(),
            reload: Mutex::new(None),
            reloads_ok: AtomicU64::new(0),
            reloads_failed: AtomicU64::new(0),
            metrics: Default::default(),
            user_limits: Default::default(),
            result_cache: Default::default(),
            xa: std::sync::OnceLock::new(),
        }
    }
}

impl ProxyState {
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
        self.note_rules_loaded();
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Whether `rules` are the ones served now (one load; see `rules_at`).
    #[inline]
    pub fn rules_are_current(&self, rules: &Arc<Rules>) -> bool {
        self.rules_at.load(Ordering::Acquire) == Arc::as_ptr(rules) as usize
    }

    /// The first rules of the process (every worker passes the same ones).
    pub(crate) fn install_first(&self, rules: &Arc<Rules>) {
        if self.generation() == 0 {
            let mut r = match self.rules.write() {
                Ok(r) => r,
                Err(poisoned) => poisoned.into_inner(),
            };
            *r = rules.clone();
            self.rules_at
                .store(Arc::as_ptr(rules) as usize, Ordering::Release);
            drop(r);
            self.note_rules_loaded();
        }
    }
}
