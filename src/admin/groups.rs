//! `SHOW SHARDGATE GROUPS`: one row per (database, group, server) with role, health, lag,
//! rotation, held connections and statement counts, how replication is checked
//! (`slave_status` or `gtid_positions`) and a replica's read_only, answered by the proxy
//! itself.

use std::sync::atomic::Ordering;

use crate::backend::health::{HealthRegistry, ServerEntry, LAG_UNKNOWN};

pub const COLUMNS: &[&str] = &[
    "Database",
    "Group",
    "Role",
    "Address",
    "Health",
    "Replicating",
    "Lag_s",
    "In_rotation",
    "Weight",
    "Latency_us",
    "Open_connections",
    "Queries",
    "Last_error",
    // Appended, so the positions of the columns before stay as they were.
    "Check_method",
    "Read_only",
];

/// True for `SHOW SHARDGATE GROUPS` (any case and spacing, optional trailing `;`).
pub fn is_show_groups(sql: &str) -> bool {
    let mut words = sql.trim().trim_end_matches(';').split_ascii_whitespace();
    matches!(
        (words.next(), words.next(), words.next(), words.next()),
        (Some(a), Some(b), Some(c), None)
            if a.eq_ignore_ascii_case("SHOW")
                && b.eq_ignore_ascii_case("SHARDGATE")
                && c.eq_ignore_ascii_case("GROUPS")
    )
}

/// The rows as text cells; `None` is SQL NULL.
pub fn rows(registry: &HealthRegistry) -> Vec<Vec<Option<String>>> {
    registry.entries().iter().map(row).collect()
}

fn row(e: &ServerEntry) -> Vec<Option<String>> {
    let h = &e.health;
    let is_replica = e.role == crate::backend::health::Role::Replica;
    let lag = h.lag_s();
    let error = h.last_error();
    // The last error only while it still matters.
    let healthy = h.in_rotation() && h.is_up();
    vec![
        Some(e.database.clone()),
        Some(e.group.clone()),
        Some(e.role.name().to_string()),
        Some(e.addr.clone()),
        Some(if h.is_up() { "up" } else { "down" }.to_string()),
        is_replica.then(|| yes_no(h.is_replicating())),
        (is_replica && lag != LAG_UNKNOWN).then(|| lag.to_string()),
        Some(yes_no(h.in_rotation())),
        is_replica.then(|| e.weight.to_string()),
        Some(h.latency_us().to_string()),
        Some(e.stats.open_conns.load(Ordering::Relaxed).to_string()),
        Some(e.stats.queries.load(Ordering::Relaxed).to_string()),
        (!healthy && !error.is_empty()).then_some(error),
        h.check_method().name().map(str::to_string),
        is_replica.then(|| h.read_only().map(yes_no)).flatten(),
    ]
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_the_statement() {
        assert!(is_show_groups("SHOW SHARDGATE GROUPS"));
        assert!(is_show_groups("  show  shardgate\tgroups ; "));
        assert!(!is_show_groups("SHOW SHARDGATE GROUPS x"));
        assert!(!is_show_groups("SHOW GROUPS"));
    }
}
