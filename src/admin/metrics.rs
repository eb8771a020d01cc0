//! Prometheus metrics (`GET /metrics` on `admin_listen`, see `http`), through the `metrics`
//! facade and its Prometheus exporter rather than hand-written text, so names, escaping and
//! histogram buckets follow the exposition format without us maintaining it.
//!
//! Two recorders feed one page:
//! - the process's global recorder, which the statement path reports to with the `metrics`
//!   macros (statements by route kind, latencies per group and role, errors by code), and
//! - one recorder per `ProxyState` for what the state already counts (server health, pool
//!   use, write holds, reloads), set from that state at scrape time. A state owns its own
//!   recorder so that several proxies in one process (the test suite) never overwrite each
//!   other's gauges between setting and rendering.

use std::sync::atomic::Ordering;
use std::sync::OnceLock;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, Unit};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

use crate::backend::health::{Role, ServerEntry, LAG_UNKNOWN};
use crate::proxy_state::ProxyState;

/// Latency buckets for every `_seconds` histogram: a point query through the proxy takes
/// about 100 µs on loopback, a scatter over a large table can take seconds.
const SECONDS_BUCKETS: &[f64] = &[
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0,
];

fn builder() -> PrometheusBuilder {
    let b = PrometheusBuilder::new();
    match b.set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS) {
        Ok(b) => b,
        // Only an empty bucket list is refused, and ours is not empty.
        Err(_) => PrometheusBuilder::new(),
    }
}

/// The global recorder's handle, installed on first use. `None` when another recorder was
/// installed first (an embedding program's own): then only the state's metrics are shown.
fn global() -> Option<&'static PrometheusHandle> {
    static GLOBAL: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    GLOBAL
        .get_or_init(|| {
            let recorder = builder().build_recorder();
            let handle = recorder.handle();
            match metrics::set_global_recorder(recorder) {
                Ok(()) => {
                    describe_statement_metrics();
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!("metrics: another recorder is installed ({e}); /metrics shows the proxy state only");
                    None
                }
            }
        })
        .as_ref()
}

/// Installs the global recorder now, so that statements before the first scrape count.
pub fn install() {
    let _ = global();
}

/// Help texts of the metrics the statement path records (in `stats`); described here so
/// the exporter prints them even before the first statement of a kind.
fn describe_statement_metrics() {
    describe_counter!(
        "shardgate_statements_total",
        "Client statements by route kind and result."
    );
    describe_counter!(
        "shardgate_errors_total",
        "Error packets sent to clients, by MySQL error code."
    );
    describe_histogram!(
        "shardgate_statement_seconds",
        Unit::Seconds,
        "Client statement latency through the proxy, by route kind."
    );
    describe_histogram!(
        "shardgate_backend_statement_seconds",
        Unit::Seconds,
        "Latency of the statements sent to backend servers, by group and role."
    );
    describe_histogram!(
        "shardgate_pool_wait_seconds",
        Unit::Seconds,
        "Time statements waited for a free backend connection (pool at pool_max)."
    );
}

/// The recorder of one proxy's own state.
pub struct StateMetrics {
    recorder: PrometheusRecorder,
}

impl Default for StateMetrics {
    fn default() -> Self {
        let recorder = builder().build_recorder();
        metrics::with_local_recorder(&recorder, describe_state_metrics);
        StateMetrics { recorder }
    }
}

impl std::fmt::Debug for StateMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StateMetrics")
    }
}

/// The metrics page: the state's series set from `state` now, then the global ones.
pub fn render(state: &ProxyState) -> String {
    let global = global();
    let own = &state.metrics().recorder;
    metrics::with_local_recorder(own, || record_state(state));
    let handle = own.handle();
    handle.run_upkeep();
    let mut out = handle.render();
    if let Some(g) = global {
        g.run_upkeep();
        out.push_str(&g.render());
    }
    out
}

fn describe_state_metrics() {
    describe_gauge!(
        "shardgate_client_connections",
        "Client connections open now."
    );
    describe_gauge!(
        "shardgate_uptime_seconds",
        Unit::Seconds,
        "Seconds since the proxy started."
    );
    describe_gauge!(
        "shardgate_server_up",
        "1 if the server answered its last health check."
    );
    describe_gauge!(
        "shardgate_server_in_rotation",
        "1 if the server takes statements now (replica: reads; master: circuit closed)."
    );
    describe_gauge!(
        "shardgate_server_circuit_open",
        "1 while a master's circuit breaker is open (statements fail at once, probing continues)."
    );
    describe_gauge!(
        "shardgate_server_consecutive_failures",
        "Failed connects and checks in a row (a master's circuit opens at the first hard failure)."
    );
    describe_counter!(
        "shardgate_server_breaker_rejected_total",
        "Statements the adaptive breaker rejected locally for this server (SRE client-side throttling)."
    );
    describe_gauge!(
        "shardgate_server_breaker_reject_probability",
        "Current probability the adaptive breaker rejects a statement for this server: max(0, (requests - K*accepts) / (requests + 1)) over breaker_window_ms."
    );
    describe_gauge!(
        "shardgate_replica_replicating",
        "1 if both replication threads run, or (GTID positions) the replica is caught up or applying (replicas only)."
    );
    describe_gauge!(
        "shardgate_replica_lag_seconds",
        Unit::Seconds,
        "Seconds_Behind_Master, or the estimate from GTID positions (replicas only; NaN while unknown)."
    );
    describe_gauge!(
        "shardgate_server_check_latency_seconds",
        Unit::Seconds,
        "Moving average of the health check round trip."
    );
    describe_counter!(
        "shardgate_server_checks_total",
        "Health checks run against the server."
    );
    describe_gauge!(
        "shardgate_pool_connections_in_use",
        "Backend connections client sessions hold now (all workers)."
    );
    describe_gauge!(
        "shardgate_pool_connections_parked",
        "Backend connections parked with a session's SET state between statements (all workers)."
    );
    describe_gauge!(
        "shardgate_pool_connections_open",
        "Connections the pools hold open to the server (all workers; idle and in use)."
    );
    describe_gauge!(
        "shardgate_pool_connections_idle",
        "Connections idle in the pools, ready for the next statement (all workers)."
    );
    describe_gauge!(
        "shardgate_pool_waiting",
        "Statements waiting for a free backend connection now."
    );
    describe_counter!(
        "shardgate_pool_waits_total",
        "Statements that found the pool at pool_max and waited."
    );
    describe_counter!(
        "shardgate_pool_exhausted_total",
        "Statements that got no backend connection within connect_timeout (error 1040)."
    );
    describe_counter!(
        "shardgate_server_queries_total",
        "Statements sent to the server."
    );
    describe_gauge!(
        "shardgate_write_holds",
        "Write holds (resharding cutovers) on now."
    );
    describe_counter!(
        "shardgate_held_statements_total",
        "Statements that waited for a write hold."
    );
    describe_gauge!(
        "shardgate_held_statements_waiting",
        "Statements waiting for a write hold now."
    );
    describe_gauge!(
        "shardgate_hold_wait_longest_seconds",
        Unit::Seconds,
        "The longest wait of a statement for a write hold."
    );
    describe_counter!(
        "shardgate_holds_lifted_by_lease_total",
        "Write holds that lifted themselves (not released in time)."
    );
    describe_gauge!(
        "shardgate_user_connections",
        "Sessions of a user with limits ([[users]] max_connections, max_qps)."
    );
    describe_counter!(
        "shardgate_user_logins_refused_total",
        "Logins refused with 1203 (over the user's max_connections)."
    );
    describe_counter!(
        "shardgate_user_statements_delayed_total",
        "Statements that waited for the user's max_qps and then ran."
    );
    describe_counter!(
        "shardgate_user_statements_limited_total",
        "Statements refused with 1226 (over the user's max_qps after limit_wait_ms)."
    );
    describe_counter!(
        "shardgate_cache_hits_total",
        "Reads answered from the result cache (tables with cache_ttl_ms)."
    );
    describe_counter!(
        "shardgate_cache_misses_total",
        "Cacheable reads that found no fresh answer and went to the backends."
    );
    describe_counter!(
        "shardgate_cache_evictions_total",
        "Answers dropped to stay within [cache] max_bytes."
    );
    describe_counter!(
        "shardgate_cache_invalidations_total",
        "Writes through the proxy (and their transactions' ends) that made cached answers stale."
    );
    describe_gauge!(
        "shardgate_cache_bytes",
        "Memory the result cache holds now."
    );
    describe_gauge!(
        "shardgate_cache_entries",
        "Answers the result cache holds now."
    );
    describe_counter!(
        "shardgate_plan_cache_hits_total",
        "Reads over several shards planned from a kept plan of the same text (since the last reload)."
    );
    describe_counter!(
        "shardgate_plan_cache_misses_total",
        "Reads over several shards planned in full, then kept (since the last reload)."
    );
    describe_gauge!(
        "shardgate_plan_cache_entries",
        "Plans kept for the current rules."
    );
    describe_counter!(
        "shardgate_reloads_total",
        "Rule reloads (SIGHUP, SHARDGATE RELOAD, POST /reload) by result."
    );
}

/// Sets every state series from `state`; runs with the state's recorder as the local one.
fn record_state(state: &ProxyState) {
    gauge!("shardgate_client_connections").set(state.open_connections() as f64);
    gauge!("shardgate_uptime_seconds").set(state.health().uptime_secs() as f64);
    for e in state.health().entries() {
        record_server(&e);
    }
    let holds = state.holds();
    let stats = &holds.stats;
    gauge!("shardgate_write_holds").set(holds.list().len() as f64);
    counter!("shardgate_held_statements_total")
        .absolute(stats.held_statements.load(Ordering::Relaxed));
    gauge!("shardgate_held_statements_waiting").set(stats.waiting.load(Ordering::Relaxed) as f64);
    gauge!("shardgate_hold_wait_longest_seconds")
        .set(stats.longest_wait_us.load(Ordering::Relaxed) as f64 / 1e6);
    counter!("shardgate_holds_lifted_by_lease_total")
        .absolute(stats.lifted_by_lease.load(Ordering::Relaxed));
    for u in state.user_limits().all() {
        let user = [("user", u.user.clone())];
        gauge!("shardgate_user_connections", &user).set(f64::from(u.connections()));
        counter!("shardgate_user_logins_refused_total", &user)
            .absolute(u.refused_logins.load(Ordering::Relaxed));
        counter!("shardgate_user_statements_delayed_total", &user)
            .absolute(u.delayed_statements.load(Ordering::Relaxed));
        counter!("shardgate_user_statements_limited_total", &user)
            .absolute(u.limited_statements.load(Ordering::Relaxed));
    }
    if let Some(c) = state.result_cache() {
        counter!("shardgate_cache_hits_total").absolute(c.hits.load(Ordering::Relaxed));
        counter!("shardgate_cache_misses_total").absolute(c.misses.load(Ordering::Relaxed));
        counter!("shardgate_cache_evictions_total").absolute(c.evictions.load(Ordering::Relaxed));
        counter!("shardgate_cache_invalidations_total")
            .absolute(c.invalidations.load(Ordering::Relaxed));
        gauge!("shardgate_cache_bytes").set(c.bytes() as f64);
        gauge!("shardgate_cache_entries").set(c.entries() as f64);
    }
    let rules = state.rules();
    counter!("shardgate_plan_cache_hits_total").absolute(rules.plans.hits.load(Ordering::Relaxed));
    counter!("shardgate_plan_cache_misses_total")
        .absolute(rules.plans.misses.load(Ordering::Relaxed));
    gauge!("shardgate_plan_cache_entries").set(rules.plans.len() as f64);
    let (ok, failed) = state.reload_counts();
    counter!("shardgate_reloads_total", "result" => "ok").absolute(ok);
    counter!("shardgate_reloads_total", "result" => "failed").absolute(failed);
}

fn record_server(e: &ServerEntry) {
    let labels = [
        ("database", e.database.clone()),
        ("group", e.group.clone()),
        ("role", e.role.name().to_owned()),
        ("address", e.addr.clone()),
    ];
    let h = &e.health;
    let s = &e.stats;
    let flag = |b: bool| if b { 1.0 } else { 0.0 };
    gauge!("shardgate_server_up", &labels).set(flag(h.is_up()));
    gauge!("shardgate_server_in_rotation", &labels).set(flag(h.in_rotation()));
    gauge!("shardgate_server_consecutive_failures", &labels).set(h.failures() as f64);
    gauge!("shardgate_server_check_latency_seconds", &labels).set(h.latency_us() as f64 / 1e6);
    counter!("shardgate_server_checks_total", &labels).absolute(h.checks());
    gauge!("shardgate_pool_connections_in_use", &labels)
        .set(s.open_conns.load(Ordering::Relaxed) as f64);
    gauge!("shardgate_pool_connections_parked", &labels)
        .set(s.parked.load(Ordering::Relaxed) as f64);
    gauge!("shardgate_pool_waiting", &labels).set(s.waiting.load(Ordering::Relaxed) as f64);
    let (open, idle) = s.pool_connections();
    gauge!("shardgate_pool_connections_open", &labels).set(open as f64);
    gauge!("shardgate_pool_connections_idle", &labels).set(idle as f64);
    counter!("shardgate_pool_waits_total", &labels).absolute(s.waits.load(Ordering::Relaxed));
    counter!("shardgate_pool_exhausted_total", &labels)
        .absolute(s.exhausted.load(Ordering::Relaxed));
    counter!("shardgate_server_queries_total", &labels).absolute(s.queries.load(Ordering::Relaxed));
    counter!("shardgate_server_breaker_rejected_total", &labels).absolute(h.throttle.rejected());
    gauge!("shardgate_server_breaker_reject_probability", &labels).set(h.throttle.probability());
    match e.role {
        Role::Master => {
            gauge!("shardgate_server_circuit_open", &labels).set(flag(!h.in_rotation()));
        }
        Role::Replica => {
            gauge!("shardgate_replica_replicating", &labels).set(flag(h.is_replicating()));
            let lag = match h.lag_s() {
                LAG_UNKNOWN => f64::NAN,
                s => s as f64,
            };
            gauge!("shardgate_replica_lag_seconds", &labels).set(lag);
        }
    }
}
