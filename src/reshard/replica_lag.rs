//! The copy pauses while a replica of a source or target group lags more than
//! `max_replica_lag_s`: the copy's writes would otherwise pile up on the replicas that serve
//! the application's reads.

use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::Row;

use super::job::Job;
use super::servers::{self, connect};
use crate::config::BackendConfig;

const CHECK_EVERY: Duration = Duration::from_secs(1);

pub struct LagGate {
    replicas: Vec<(String, String)>,
    max_lag_s: u64,
    checked: Option<Instant>,
    /// Said once: replicas whose lag cannot be read (e.g. no SLAVE MONITOR privilege).
    unreadable_said: bool,
}

impl LagGate {
    pub fn new(job: &Job) -> Self {
        let mut replicas = Vec::new();
        for (db, groups) in [
            (&job.before, job.source_groups()),
            (&job.after, job.target_groups()),
        ] {
            for g in groups {
                for r in &servers::group(db, &g).replicas {
                    let entry = (g.clone(), r.addr.clone());
                    if !replicas.contains(&entry) {
                        replicas.push(entry);
                    }
                }
            }
        }
        LagGate {
            replicas,
            max_lag_s: job.options.max_replica_lag_s,
            checked: None,
            unreadable_said: false,
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
            let mut worst: Option<(String, u64)> = None;
            for (group, addr) in &self.replicas {
                match lag_of(addr, backend).await {
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
}

async fn lag_of(addr: &str, backend: &BackendConfig) -> anyhow::Result<Option<u64>> {
    let mut conn = connect(addr, None, backend).await?;
    let row: Option<Row> = conn.query_first("SHOW SLAVE STATUS").await?;
    conn.disconnect().await.ok();
    Ok(row.and_then(|r| {
        r.get_opt::<Option<u64>, _>("Seconds_Behind_Master")
            .and_then(Result::ok)
            .flatten()
    }))
}
