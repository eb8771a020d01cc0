//! The periodic checker: one task per server, each keeping one connection of its own and,
//! every interval, timing `SELECT 1`; masters also report their GTID position, replicas
//! their replication. On each new connection it also notes the server's version and
//! (masters) global sql_mode, which the planner needs to read statements as the servers will
//! (`server_syntax`). It is the only writer of rotation state besides statement-path
//! failures, and it is also the breaker's probe: a check that fails opens a master's
//! circuit, a good one closes it, and each check slides every server's throttling window
//! (`breaker`).
//!
//! It logs in as `[health] user` (default the `[backend]` user). A replica is checked with
//! `SHOW SLAVE STATUS` when that user may run it (SUPER or SLAVE MONITOR); otherwise with
//! GTID positions any user may read (`replication`). Which method, and why, is decided on
//! each new connection and logged whenever it changes, so once per server at startup and
//! for the servers a reload adds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, Row};
use tokio_util::sync::CancellationToken;

use super::health::{CheckOutcome, HealthRegistry, ReplicationStatus, ServerHealth};
use super::pools::split_addr;
use super::replication::{position_lag, CheckMethod};
use super::server_syntax::ServerSyntax;
use crate::config::server::{BackendConfig, HealthConfig};
use crate::gtid::GtidPos;

/// Starts one checking task per registered server that has none yet, on the current
/// runtime (so a reload may call it again for the servers it added); they stop when
/// `shutdown` is cancelled.
pub fn spawn_checkers(
    registry: &HealthRegistry,
    backend: &BackendConfig,
    health: &HealthConfig,
    shutdown: CancellationToken,
) {
    let (user, password) = match &health.monitor {
        Some(m) => (m.user.clone(), m.password.clone()),
        None => (backend.user.clone(), backend.password.clone()),
    };
    for server in registry.servers() {
        if !server.claim_checker() {
            continue;
        }
        let opts = check_opts(&server.addr, &user, &password);
        let syntax = registry.server_syntax().clone();
        let interval = health.interval;
        // A check may take at most one interval (and never longer than a connect), so a
        // server that stopped answering is noticed within about two intervals.
        let timeout = interval
            .min(backend.connect_timeout)
            .max(Duration::from_millis(50));
        let token = shutdown.clone();
        let checker = Checker {
            server,
            syntax,
            opts,
            user: user.clone(),
            conn: None,
            method: None,
            previous_position: None,
        };
        tokio::spawn(async move {
            tokio::select! {
                _ = checker.run(interval, timeout) => {}
                _ = token.cancelled() => {}
            }
        });
    }
}

fn check_opts(addr: &str, user: &str, password: &str) -> Opts {
    let (host, port) = split_addr(addr);
    OptsBuilder::default()
        .ip_or_hostname(host)
        .tcp_port(port)
        .user(Some(user.to_string()))
        .pass(Some(password.to_string()))
        // TCP, not the unix socket: the check must see what clients of this address see.
        .prefer_socket(false)
        .stmt_cache_size(0)
        .into()
}

/// How a replica's replication is read on the current connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReplicaMethod {
    SlaveStatus,
    GtidPositions,
}

struct Checker {
    server: Arc<ServerHealth>,
    syntax: Arc<ServerSyntax>,
    opts: Opts,
    /// The login, for the log lines that say why a method was chosen.
    user: String,
    conn: Option<Conn>,
    /// Decided on each new connection (privileges may have changed meanwhile).
    method: Option<ReplicaMethod>,
    /// The replica's GTID position at the previous check (is it moving?).
    previous_position: Option<GtidPos>,
}

impl Checker {
    async fn run(mut self, interval: Duration, timeout: Duration) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let outcome = match tokio::time::timeout(timeout, self.check_once()).await {
                Ok(Ok(o)) => o,
                Ok(Err(e)) => {
                    self.conn = None;
                    CheckOutcome::Down(e.to_string())
                }
                Err(_) => {
                    self.conn = None;
                    CheckOutcome::Down(format!("no answer within {timeout:?}"))
                }
            };
            self.server.apply(outcome);
        }
    }

    async fn check_once(&mut self) -> Result<CheckOutcome, mysql_async::Error> {
        let replica = self.server.is_replica();
        let c = match &mut self.conn {
            Some(c) => c,
            None => {
                let mut c = Conn::new(self.opts.clone()).await?;
                // Once per connection: what the planner must know to read text as this server.
                self.syntax.saw_version(c.server_version());
                if !replica {
                    let mode: Option<String> = c.query_first("SELECT @@GLOBAL.sql_mode").await?;
                    self.syntax.saw_global_mode(mode.as_deref().unwrap_or(""));
                }
                self.method = None;
                self.conn.insert(c)
            }
        };
        let start = Instant::now();
        c.query_drop("SELECT 1").await?;
        let latency_us = start.elapsed().as_micros() as u64;
        let replication = if replica {
            Some(self.replication().await?)
        } else {
            self.master_position().await?;
            None
        };
        Ok(CheckOutcome::Up {
            latency_us,
            replication,
        })
    }

    /// A master's GTID position, remembered for its replicas' GTID method. A server that
    /// has none to show (not MariaDB) is still up; its replicas then say why they cannot
    /// be measured.
    async fn master_position(&mut self) -> Result<(), mysql_async::Error> {
        let Some(c) = self.conn.as_mut() else {
            return Ok(());
        };
        let first = self.server.set_check_method(CheckMethod::Master);
        let read: Result<Option<String>, _> =
            c.query_first("SELECT @@global.gtid_binlog_pos").await;
        let problem = match read {
            Ok(text) => match text.unwrap_or_default().parse::<GtidPos>() {
                Ok(pos) => {
                    self.server.binlog_history().saw(pos, Instant::now());
                    None
                }
                Err(e) => Some(format!("{e:#}")),
            },
            Err(mysql_async::Error::Server(e)) => Some(e.message),
            Err(e) => return Err(e),
        };
        if first {
            match &problem {
                None => tracing::info!(
                    server = %self.server.addr,
                    role = "master",
                    user = %self.user,
                    "health check: SELECT 1; GTID position read for replicas checked by GTID positions"
                ),
                Some(p) => tracing::warn!(
                    server = %self.server.addr,
                    role = "master",
                    user = %self.user,
                    "health check: SELECT 1; GTID position (@@gtid_binlog_pos) unreadable, so \
                     replicas without SHOW SLAVE STATUS cannot be measured: {p}"
                ),
            }
        }
        Ok(())
    }

    /// The replica's replication, by SHOW SLAVE STATUS when allowed, else by GTID positions.
    async fn replication(&mut self) -> Result<ReplicationStatus, mysql_async::Error> {
        let Some(c) = self.conn.as_mut() else {
            return Ok(ReplicationStatus::Unmeasurable("not connected".into()));
        };
        if self.method != Some(ReplicaMethod::GtidPositions) {
            match c.query_first::<Row, _>("SHOW SLAVE STATUS").await {
                Ok(row) => {
                    if self.method.is_none() {
                        self.method = Some(ReplicaMethod::SlaveStatus);
                        if self.server.set_check_method(CheckMethod::SlaveStatus) {
                            tracing::info!(
                                server = %self.server.addr,
                                role = "replica",
                                user = %self.user,
                                "health check: SHOW SLAVE STATUS (the user may run it): \
                                 replication threads and Seconds_Behind_Master"
                            );
                        }
                    }
                    self.read_only().await?;
                    return Ok(match row {
                        Some(row) => parse_slave_status(&row),
                        None => ReplicationStatus::Threads {
                            io_running: false,
                            sql_running: false,
                            lag_s: None,
                        },
                    });
                }
                Err(mysql_async::Error::Server(e)) if is_access_denied(e.code) => {
                    self.method = Some(ReplicaMethod::GtidPositions);
                    if self.server.set_check_method(CheckMethod::GtidPositions) {
                        tracing::info!(
                            server = %self.server.addr,
                            role = "replica",
                            user = %self.user,
                            "health check: GTID positions (@@gtid_slave_pos against the \
                             master's @@gtid_binlog_pos over time), because the user may not \
                             run SHOW SLAVE STATUS ({}); grant it SLAVE MONITOR (or set \
                             [health] user) to see replication thread states",
                            e.message
                        );
                    }
                }
                Err(mysql_async::Error::Server(e)) => {
                    return Ok(ReplicationStatus::Unmeasurable(format!(
                        "SHOW SLAVE STATUS failed: {}",
                        e.message
                    )))
                }
                Err(e) => return Err(e),
            }
        }
        self.by_positions().await
    }

    async fn by_positions(&mut self) -> Result<ReplicationStatus, mysql_async::Error> {
        let Some(c) = self.conn.as_mut() else {
            return Ok(ReplicationStatus::Unmeasurable("not connected".into()));
        };
        let read: Result<Option<(Option<String>, i64)>, _> = c
            .query_first("SELECT @@global.gtid_slave_pos, @@global.read_only")
            .await;
        let (text, read_only) = match read {
            Ok(Some(row)) => row,
            Ok(None) => (None, 0),
            Err(mysql_async::Error::Server(e)) => {
                return Ok(ReplicationStatus::Unmeasurable(format!(
                    "neither SHOW SLAVE STATUS nor @@gtid_slave_pos can be read: {}",
                    e.message
                )))
            }
            Err(e) => return Err(e),
        };
        self.note_read_only(read_only != 0);
        let position: GtidPos = match text.unwrap_or_default().parse() {
            Ok(p) => p,
            Err(e) => {
                return Ok(ReplicationStatus::Unmeasurable(format!(
                    "@@gtid_slave_pos: {e:#}"
                )))
            }
        };
        let Some(master) = self.server.master() else {
            return Ok(ReplicationStatus::Unmeasurable(
                "no master to compare GTID positions with".into(),
            ));
        };
        let lag = position_lag(
            &master.binlog_history(),
            &position,
            self.previous_position.as_ref(),
            Instant::now(),
        );
        self.previous_position = Some(position);
        Ok(ReplicationStatus::Positions(lag))
    }

    async fn read_only(&mut self) -> Result<(), mysql_async::Error> {
        let Some(c) = self.conn.as_mut() else {
            return Ok(());
        };
        let on: Option<i64> = c.query_first("SELECT @@global.read_only").await?;
        self.note_read_only(on.unwrap_or(0) != 0);
        Ok(())
    }

    /// A writable replica takes writes a client sends it straight, which replication then
    /// conflicts with (or, under gtid_strict_mode, stops on): worth a warning, not an
    /// ejection (the proxy itself sends it reads only).
    fn note_read_only(&self, on: bool) {
        if self.server.set_read_only(on) {
            if on {
                tracing::info!(server = %self.server.addr, role = "replica", "read_only is ON");
            } else {
                tracing::warn!(
                    server = %self.server.addr,
                    role = "replica",
                    "read_only is OFF: writes sent straight to this replica would diverge it from its master"
                );
            }
        }
    }
}

/// Access denied for a statement (1227 needs a privilege, 1142/1143 table or column, 1044
/// database).
fn is_access_denied(code: u16) -> bool {
    matches!(code, 1227 | 1142 | 1143 | 1044)
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
    ReplicationStatus::Threads {
        io_running: text("Slave_IO_Running").as_deref() == Some("Yes"),
        sql_running: text("Slave_SQL_Running").as_deref() == Some("Yes"),
        lag_s: text("Seconds_Behind_Master").and_then(|s| s.parse().ok()),
    }
}
