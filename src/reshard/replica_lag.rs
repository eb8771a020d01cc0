//! The copy pauses while a replica of a source or target group lags more than
//! `max_replica_lag_s`: the copy's writes would otherwise pile up on the replicas that serve
//! the application's reads.
//!
//! A replica's lag is its Seconds_Behind_Master when the job's user may run SHOW SLAVE STATUS;
//! otherwise (no SLAVE MONITOR, the usual case) it is measured as the proxy's health checker
//! does, from GTID positions any user may read (`backend::replication`): the job remembers
//! when it first saw each position of the replica's master.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};

use super::job::Job;
use super::servers::{self, connect};
use crate::backend::replication::BinlogHistory;
use crate::config::BackendConfig;
use crate::gtid::GtidPos;

const CHECK_EVERY: Duration = Duration::from_secs(1);

struct Replica {
    group: String,
    addr: String,
    master: String,
}

pub struct LagGate {
    replicas: Vec<Replica>,
    max_lag_s: u64,
    checked: Option<Instant>,
    /// Positions each master showed, by address (for replicas measured by GTID positions).
    masters: HashMap<String, BinlogHistory>,
    /// Said once: replicas whose lag cannot be read at all.
    unreadable_said: bool,
    /// Said once: lag measured by GTID positions.
    positions_said: bool,
}

impl LagGate {
    pub fn new(job: &Job) -> Self {
        let mut replicas: Vec<Replica> = Vec::new();
        for (db, groups) in [
            (&job.before, job.source_groups()),
            (&job.after, job.target_groups()),
        ] {
            for g in groups {
                let group = servers::group(db, &g);
                for r in &group.replicas {
                    if !replicas.iter().any(|x| x.group == g && x.addr == r.addr) {
                        replicas.push(Replica {
                            group: g.clone(),
                            addr: r.addr.clone(),
                            master: group.master.clone(),
                        });
                    }
                }
            }
        }
        LagGate {
            replicas,
            max_lag_s: job.options.max_replica_lag_s,
            checked: None,
            masters: HashMap::new(),
            unreadable_said: false,
            positions_said: false,
        }
    }

    /// Waits while some replica lags too much; checks at most once a second.
    pub async fn wait(&mut self, backend: &BackendConfig, note: &dyn Fn(&str)) {
        if self.replicas.is_empty() || self.max_lag_s == 0 {
            return;
        }
        if self.checked.is_some_and(|t| t.elapsed() < CHECK_EVERY) {
            return;
        }
        loop {
            self.checked = Some(Instant::now());
            self.read_masters(backend).await;
            let mut worst: Option<(String, u64)> = None;
            for i in 0..self.replicas.len() {
                let r = &self.replicas[i];
                let (addr, group) = (r.addr.clone(), r.group.clone());
                match self.lag_of(i, backend, note).await {
                    Ok(Some(lag)) if lag > self.max_lag_s => {
                        if worst.as_ref().is_none_or(|(_, w)| lag > *w) {
                            worst = Some((format!("{addr} (group {group})"), lag));
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        if !self.unreadable_said {
                            note(&format!(
                                "cannot read the lag of replica {addr} (group {group}): {e:#}; \
                                 copying without the lag throttle"
                            ));
                            self.unreadable_said = true;
                        }
                    }
                }
            }
            let Some((replica, lag)) = worst else {
                return;
            };
            note(&format!(
                "copy paused: replica {replica} is {lag} s behind (max_replica_lag_s = {})",
                self.max_lag_s
            ));
            tokio::time::sleep(CHECK_EVERY).await;
        }
    }

    /// Records each master's GTID position now; a master that cannot be read leaves its
    /// replicas' lag unknown (the SHOW SLAVE STATUS way may still work).
    async fn read_masters(&mut self, backend: &BackendConfig) {
        let mut addrs: Vec<String> = self.replicas.iter().map(|r| r.master.clone()).collect();
        addrs.sort();
        addrs.dedup();
        for addr in addrs {
            let Ok(mut conn) = connect(&addr, None, backend).await else {
                continue;
            };
            if let Ok(pos) = position(&mut conn, "SELECT @@global.gtid_binlog_pos").await {
                self.masters
                    .entry(addr)
                    .or_default()
                    .saw(pos, Instant::now());
            }
            conn.disconnect().await.ok();
        }
    }

    async fn lag_of(
        &mut self,
        i: usize,
        backend: &BackendConfig,
        note: &dyn Fn(&str),
    ) -> anyhow::Result<Option<u64>> {
        let r = &self.replicas[i];
        let mut conn = connect(&r.addr, None, backend).await?;
        let status: Result<Option<Row>, _> = conn.query_first("SHOW SLAVE STATUS").await;
        let lag = match status {
            Ok(row) => Ok(row.and_then(|r| {
                r.get_opt::<Option<u64>, _>("Seconds_Behind_Master")
                    .and_then(Result::ok)
                    .flatten()
            })),
            Err(mysql_async::Error::Server(e)) if matches!(e.code, 1227 | 1142) => {
                let replica = position(&mut conn, "SELECT @@global.gtid_slave_pos").await?;
                let lag = self
                    .masters
                    .get(&r.master)
                    .and_then(|h| h.lag(&replica, Instant::now()))
                    .map(|d| d.as_secs());
                if !self.positions_said {
                    self.positions_said = true;
                    note(&format!(
                        "replica lag measured by GTID positions: the job's user may not run \
                         SHOW SLAVE STATUS on {} ({})",
                        r.addr, e.message
                    ));
                }
                Ok(lag)
            }
            Err(e) => Err(e.into()),
        };
        conn.disconnect().await.ok();
        lag
    }
}

async fn position(conn: &mut Conn, sql: &str) -> anyhow::Result<GtidPos> {
    let text: Option<String> = conn.query_first(sql).await?;
    text.unwrap_or_default().parse()
}
