//! Prometheus text metrics (`GET /metrics` on `admin_listen`, see `http`).

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use crate::backend::health::{HealthRegistry, Role, LAG_UNKNOWN};
use crate::proxy_state::ProxyState;

/// The metrics text, one series per (database, group, role, address).
pub fn render(registry: &HealthRegistry, state: &ProxyState) -> String {
    let mut out = String::with_capacity(4096);
    let _ = writeln!(
        out,
        "# HELP shardgate_client_connections Client connections open now.\n\
         # TYPE shardgate_client_connections gauge\n\
         shardgate_client_connections {}",
        state.open_connections()
    );
    render_holds(&mut out, state);
    let _ = writeln!(
        out,
        "# HELP shardgate_uptime_seconds Seconds since the proxy started.\n\
         # TYPE shardgate_uptime_seconds counter\n\
         shardgate_uptime_seconds {}",
        registry.uptime_secs()
    );
    let entries = registry.entries();
    let series: [(&str, &str, &str); 7] = [
        (
            "shardgate_server_up",
            "gauge",
            "1 if the server answered its last health check.",
        ),
        (
            "shardgate_server_in_rotation",
            "gauge",
            "1 if the server takes statements now (replica: reads; master: circuit closed).",
        ),
        (
            "shardgate_replica_replicating",
            "gauge",
            "1 if both replication threads run, or (GTID positions) the replica is caught up or applying (replicas only).",
        ),
        (
            "shardgate_replica_lag_seconds",
            "gauge",
            "Seconds_Behind_Master, or the estimate from GTID positions (replicas only; absent when unknown).",
        ),
        (
            "shardgate_server_check_latency_microseconds",
            "gauge",
            "Moving average of the health check round trip.",
        ),
        (
            "shardgate_server_open_connections",
            "gauge",
            "Backend connections client sessions hold.",
        ),
        (
            "shardgate_server_queries_total",
            "counter",
            "Statements sent to the server.",
        ),
    ];
    for (i, (name, kind, help)) in series.iter().enumerate() {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for e in &entries {
            let h = &e.health;
            let replica = e.role == Role::Replica;
            let value: Option<i64> = match i {
                0 => Some(h.is_up() as i64),
                1 => Some(h.in_rotation() as i64),
                2 => replica.then(|| h.is_replicating() as i64),
                3 => (replica && h.lag_s() != LAG_UNKNOWN).then(|| h.lag_s()),
                4 => Some(h.latency_us() as i64),
                5 => Some(e.stats.open_conns.load(Ordering::Relaxed)),
                _ => Some(e.stats.queries.load(Ordering::Relaxed) as i64),
            };
            if let Some(v) = value {
                let _ = writeln!(
                    out,
                    "{name}{{database=\"{}\",group=\"{}\",role=\"{}\",address=\"{}\"}} {v}",
                    escape(&e.database),
                    escape(&e.group),
                    e.role.name(),
                    escape(&e.addr)
                );
            }
        }
    }
    out
}

/// Write holds of resharding cutovers: how many are on, how many statements waited and
/// for how long at most.
fn render_holds(out: &mut String, state: &ProxyState) {
    let holds = state.holds();
    let stats = &holds.stats;
    let longest = stats.longest_wait_us.load(Ordering::Relaxed) as f64 / 1e6;
    let _ = writeln!(
        out,
        "# HELP shardgate_write_holds Write holds (resharding cutovers) on now.\n\
         # TYPE shardgate_write_holds gauge\n\
         shardgate_write_holds {}\n\
         # HELP shardgate_held_statements_total Statements that waited for a write hold.\n\
         # TYPE shardgate_held_statements_total counter\n\
         shardgate_held_statements_total {}\n\
         # HELP shardgate_held_statements_waiting Statements waiting for a write hold now.\n\
         # TYPE shardgate_held_statements_waiting gauge\n\
         shardgate_held_statements_waiting {}\n\
         # HELP shardgate_hold_wait_longest_seconds The longest wait of a statement for a write hold.\n\
         # TYPE shardgate_hold_wait_longest_seconds gauge\n\
         shardgate_hold_wait_longest_seconds {longest:.6}\n\
         # HELP shardgate_holds_lifted_by_lease_total Write holds that lifted themselves (not released in time).\n\
         # TYPE shardgate_holds_lifted_by_lease_total counter\n\
         shardgate_holds_lifted_by_lease_total {}",
        holds.list().len(),
        stats.held_statements.load(Ordering::Relaxed),
        stats.waiting.load(Ordering::Relaxed),
        stats.lifted_by_lease.load(Ordering::Relaxed),
    );
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
