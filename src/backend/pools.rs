//! One pool per (logical database, group) master. Pools connect lazily, so a group that is
//! down does not stop the proxy from starting or from serving the other groups.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use mysql_async::{Opts, OptsBuilder, Pool, PoolConstraints, PoolOpts};

use crate::config::model::{GroupId, Rules};
use crate::config::server::BackendConfig;

/// The pool of one group's master, with what error messages need to name it.
#[derive(Debug)]
pub struct GroupPool {
    pub database: Arc<str>,
    pub group: Arc<str>,
    pub addr: Arc<str>,
    pub schema: Arc<str>,
    pub pool: Pool,
}

#[derive(Debug, Default)]
pub struct Backends {
    /// Keyed by (lower-cased logical database, group index).
    pools: HashMap<(String, GroupId), Arc<GroupPool>>,
    pub connect_timeout: Duration,
}

impl Backends {
    pub fn new(rules: &Rules, cfg: &BackendConfig) -> Self {
        let mut pools = HashMap::new();
        for (key, db) in &rules.databases {
            for (gid, group) in db.groups.iter().enumerate() {
                let (host, port) = split_addr(&group.master);
                // A non-zero idle TTL and min keep connections around; with the defaults the
                // pool opened one backend connection per statement (DEPENDENCIES.md).
                let constraints =
                    PoolConstraints::new(cfg.pool_min.min(cfg.pool_max), cfg.pool_max.max(1))
                        .unwrap_or_default();
                let pool_opts = PoolOpts::default()
                    .with_constraints(constraints)
                    .with_inactive_connection_ttl(Duration::from_secs(60))
                    // Multiplexed sessions give clean connections back after each query;
                    // a reset per return would cost a round trip per statement, so
                    // SessionConns resets only connections that carry session state.
                    .with_reset_connection(!cfg.multiplex);
                let opts = OptsBuilder::default()
                    .ip_or_hostname(host)
                    .tcp_port(port)
                    .user(Some(cfg.user.clone()))
                    .pass(Some(cfg.password.clone()))
                    .db_name(Some(group.schema.clone()))
                    .prefer_socket(true)
                    .stmt_cache_size(0)
                    .pool_opts(pool_opts);
                let pool = Pool::new(Opts::from(opts));
                pools.insert(
                    (key.clone(), gid),
                    Arc::new(GroupPool {
                        database: Arc::from(db.name.as_str()),
                        group: Arc::from(group.name.as_str()),
                        addr: Arc::from(group.master.as_str()),
                        schema: Arc::from(group.schema.as_str()),
                        pool,
                    }),
                );
            }
        }
        Backends {
            pools,
            connect_timeout: cfg.connect_timeout,
        }
    }

    pub fn pool(&self, database: &str, group: GroupId) -> Option<&Arc<GroupPool>> {
        self.pools.get(&(database.to_ascii_lowercase(), group))
    }

    pub async fn disconnect_all(&self) {
        for p in self.pools.values() {
            let _ = p.pool.clone().disconnect().await;
        }
    }
}

fn split_addr(addr: &str) -> (String, u16) {
    match addr.rsplit_once(':') {
        Some((h, p)) => (
            h.trim_start_matches('[').trim_end_matches(']').to_string(),
            p.parse().unwrap_or(3306),
        ),
        None => (addr.to_string(), 3306),
    }
}
