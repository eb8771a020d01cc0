//! The periodic checker: one task per server, each keeping one connection of its own and,
//! every interval, timing `SELECT 1` and (replicas) reading `SHOW SLAVE STATUS`. On each new
//! connection it also notes the server's version and (masters) global sql_mode, which the
//! planner needs to read statements as the servers will (`server_syntax`). It is the
//! only writer of rotation state besides statement-path failures, and it is also the probe
//! that closes a master's open circuit again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, Row};
use tokio_util::sync::CancellationToken;

use super::health::{CheckOutcome, HealthRegistry, ReplicationStatus, ServerHealth};
use super::pools::split_addr;
use super::server_syntax::ServerSyntax;
use crate::config::server::{BackendConfig, HealthConfig};

/// Starts one checking task per registered server that has none yet, on the current
/// runtime (so a reload may call it again for the servers it added); they stop when
/// `shutdown` is cancelled.
pub fn spawn_checkers(
    registry: &HealthRegistry,
    backend: &BackendConfig,
    health: &HealthConfig,
    shutdown: CancellationToken,
) {
    for server in registry.servers() {
        if !server.claim_checker() {
            continue;
        }
        let opts = check_opts(&server.addr, backend);
        let syntax = registry.server_syntax().clone();
        let (interval, failures) = (health.interval, health.failures_to_open);
        // A check may take at most one interval (and never longer than a connect), so a
        // server that stopped answering is noticed within about two intervals.
        let timeout = interval
            .min(backend.connect_timeout)
            .max(Duration::from_millis(50));
        let token = shutdown.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = check_loop(server, syntax, opts, interval, timeout, failures) => {}
                _ = token.cancelled() => {}
            }
        });
    }
}

fn check_opts(addr: &str, backend: &BackendConfig) -> Opts {
    let (host, port) = split_addr(addr);
    OptsBuilder::default()
        .ip_or_hostname(host)
        .tcp_port(port)
        .user(Some(backend.user.clone()))
        .pass(Some(backend.password.clone()))
        // TCP, not the unix socket: the check must see what clients of this address see.
        .prefer_socket(false)
        .stmt_cache_size(0)
        .into()
}

async fn check_loop(
    server: Arc<ServerHealth>,
    syntax: Arc<ServerSyntax>,
    opts: Opts,
    interval: Duration,
    timeout: Duration,
    failures_to_open: u32,
) {
    let mut conn: Option<Conn> = None;
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let outcome = match tokio::time::timeout(
            timeout,
            check_once(&mut conn, &opts, server.is_replica(), &syntax),
        )
        .await
        {
            Ok(Ok(o)) => o,
            Ok(Err(e)) => {
                conn = None;
                CheckOutcome::Down(e.to_string())
            }
            Err(_) => {
                conn = None;
                CheckOutcome::Down(format!("no answer within {timeout:?}"))
            }
        };
        server.apply(outcome, failures_to_open);
    }
}

async fn check_once(
    conn: &mut Option<Conn>,
    opts: &Opts,
    replica: bool,
    syntax: &ServerSyntax,
) -> Result<CheckOutcome, mysql_async::Error> {
    let c = match conn {
        Some(c) => c,
        None => {
            let mut c = Conn::new(opts.clone()).await?;
            // Once per connection: what the planner must know to read text as this server.
            syntax.saw_version(c.server_version());
            if !replica {
                let mode: Option<String> = c.query_first("SELECT @@GLOBAL.sql_mode").await?;
                syntax.saw_global_mode(mode.as_deref().unwrap_or(""));
            }
            conn.insert(c)
        }
    };
    let start = Instant::now();
    c.query_drop("SELECT 1").await?;
    let latency_us = start.elapsed().as_micros() as u64;
    let replication = if replica {
        let row: Option<Row> = c.query_first("SHOW SLAVE STATUS").await?;
        Some(match row {
            Some(row) => parse_slave_status(&row),
            None => ReplicationStatus {
                io_running: false,
                sql_running: false,
                lag_s: None,
            },
        })
    } else {
        None
    };
    Ok(CheckOutcome::Up {
        latency_us,
        replication,
    })
}

fn parse_slave_status(row: &Row) -> ReplicationStatus {
    let text = |name: &str| -> Option<String> {
        let idx = row
            .columns_ref()
            .iter()
            .position(|c| c.name_str() == name)?;
        match row.as_ref(idx)? {
            mysql_async::Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
            mysql_async::Value::Int(i) => Some(i.to_string()),
            mysql_async::Value::UInt(u) => Some(u.to_string()),
            _ => None,
        }
    };
    ReplicationStatus {
        io_running: text("Slave_IO_Running").as_deref() == Some("Yes"),
        sql_running: text("Slave_SQL_Running").as_deref() == Some("Yes"),
        lag_s: text("Seconds_Behind_Master").and_then(|s| s.parse().ok()),
    }
}
