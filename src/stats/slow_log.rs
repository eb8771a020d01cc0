//! The slow query log (`[log] slow_query_log`): one JSON object per line for every statement
//! that took at least `slow_query_ms`.
//!
//! Workers never touch the disk: they hand finished lines to a writer thread over a bounded
//! channel and go on; when the writer falls behind (a slow disk), lines are dropped and
//! counted (`slow_log.dropped` in SHOW SHARDGATE STATS) instead of stalling clients. A
//! thread rather than a task because workers run on runtimes of their own and the writes
//! block. SIGHUP and every reload reopen the file, so logrotate can move it away.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::Finished;
use crate::config::server::LogConfig;

/// Lines waiting for the writer; past this they are dropped.
const QUEUE: usize = 4096;
/// How often an idle writer looks whether it must reopen the file.
const IDLE_TICK: Duration = Duration::from_millis(200);

pub struct SlowLog {
    threshold: Duration,
    log_literals: bool,
    tx: SyncSender<String>,
    reopen: Arc<AtomicBool>,
    dropped: AtomicU64,
}

/// Opens (creates, appends to) the file: what startup checks, so a path that cannot be
/// written fails the start instead of every line later.
pub fn open_file(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

impl SlowLog {
    /// The log `cfg` asks for, with its writer thread running; `None` when none is set.
    pub fn start(cfg: &LogConfig) -> io::Result<Option<SlowLog>> {
        let Some(path) = &cfg.slow_query_log else {
            return Ok(None);
        };
        let file = open_file(path)?;
        let (tx, rx) = sync_channel(QUEUE);
        let reopen = Arc::new(AtomicBool::new(false));
        let writer = Writer {
            path: path.clone(),
            out: BufWriter::new(file),
            reopen: reopen.clone(),
        };
        std::thread::Builder::new()
            .name("shardgate-slow-log".into())
            .spawn(move || writer.run(rx))?;
        Ok(Some(SlowLog {
            threshold: Duration::from_millis(cfg.slow_query_ms),
            log_literals: cfg.log_literals,
            tx,
            reopen,
            dropped: AtomicU64::new(0),
        }))
    }

    /// Writes `f` as one line if it was slow enough. Never blocks.
    pub(super) fn offer(&self, f: &Finished<'_>) {
        if f.elapsed < self.threshold {
            return;
        }
        let line = line(f, self.log_literals, SystemTime::now());
        match self.tx.try_send(line) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Lines dropped because the writer was behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// The file is opened anew before the next line (after logrotate moved it).
    pub fn reopen(&self) {
        self.reopen.store(true, Ordering::Release);
    }
}

#[derive(Serialize)]
struct Line<'a> {
    time: String,
    session: u32,
    user: &'a str,
    database: Option<&'a str>,
    sql: &'a str,
    route: &'static str,
    shards: Vec<Shard<'a>>,
    total_ms: f64,
    rows_sent: u64,
    error: Option<u16>,
}

#[derive(Serialize)]
struct Shard<'a> {
    group: &'a str,
    role: &'static str,
    server: &'a str,
    shard: Option<u32>,
    ms: f64,
    rows: u64,
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// The JSON text of one slow statement (no newline).
fn line(f: &Finished<'_>, log_literals: bool, now: SystemTime) -> String {
    let masked;
    let sql = if log_literals && !super::mask::mentions_credentials(f.sql, f.syntax) {
        f.sql
    } else {
        masked = super::mask::mask_literals(f.sql, f.syntax);
        masked.as_str()
    };
    let line = Line {
        time: super::clock::utc(now),
        session: f.session,
        user: f.user,
        database: f.database,
        sql,
        route: f.kind.name(),
        shards: f
            .parts
            .iter()
            .map(|p| Shard {
                group: &p.server.group,
                role: p.server.role.name(),
                server: &p.server.addr,
                shard: p.shard,
                ms: ms(p.elapsed),
                rows: p.rows,
            })
            .collect(),
        total_ms: ms(f.elapsed),
        rows_sent: f.rows_sent,
        error: f.error,
    };
    serde_json::to_string(&line).unwrap_or_default()
}

struct Writer {
    path: PathBuf,
    out: BufWriter<File>,
    reopen: Arc<AtomicBool>,
}

impl Writer {
    /// Until every sender is gone: writes what arrives, flushing once the queue is empty.
    fn run(mut self, rx: Receiver<String>) {
        loop {
            match rx.recv_timeout(IDLE_TICK) {
                Ok(first) => {
                    self.reopen_if_asked();
                    self.write(&first);
                    while let Ok(next) = rx.try_recv() {
                        self.write(&next);
                    }
                    self.flush();
                }
                Err(RecvTimeoutError::Timeout) => self.reopen_if_asked(),
                Err(RecvTimeoutError::Disconnected) => {
                    self.flush();
                    return;
                }
            }
        }
    }

    fn write(&mut self, line: &str) {
        let written = self
            .out
            .write_all(line.as_bytes())
            .and_then(|()| self.out.write_all(b"\n"));
        if let Err(e) = written {
            tracing::warn!("slow query log {}: {e}", self.path.display());
        }
    }

    fn flush(&mut self) {
        if let Err(e) = self.out.flush() {
            tracing::warn!("slow query log {}: {e}", self.path.display());
        }
    }

    fn reopen_if_asked(&mut self) {
        if !self.reopen.swap(false, Ordering::AcqRel) {
            return;
        }
        self.flush();
        match open_file(&self.path) {
            Ok(f) => self.out = BufWriter::new(f),
            Err(e) => tracing::warn!(
                "slow query log: cannot reopen {} (writing on to the old file): {e}",
                self.path.display()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Syntax;
    use crate::stats::RouteKind;

    fn finished(sql: &str) -> Finished<'_> {
        Finished {
            kind: RouteKind::Single,
            error: Some(1062),
            rows_sent: 0,
            elapsed: Duration::from_micros(1500),
            parts: &[],
            session: 7,
            user: "app",
            database: Some("clinical"),
            sql,
            syntax: Syntax::default(),
        }
    }

    /// A writer that does not keep up loses lines, counted, and never blocks the caller.
    #[test]
    fn a_full_queue_drops_and_counts_instead_of_waiting() {
        let (tx, rx) = sync_channel(2);
        let log = SlowLog {
            threshold: Duration::ZERO,
            log_literals: false,
            tx,
            reopen: Arc::default(),
            dropped: AtomicU64::new(0),
        };
        let started = std::time::Instant::now();
        for _ in 0..5 {
            log.offer(&finished("SELECT 1"));
        }
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(log.dropped(), 3);
        assert_eq!(rx.try_iter().count(), 2);
        let fast = SlowLog {
            threshold: Duration::from_secs(1),
            ..log
        };
        fast.offer(&finished("SELECT 1"));
        assert_eq!(rx.try_iter().count(), 0, "under the threshold: no line");
    }

    #[test]
    fn a_line_is_one_json_object_with_masked_literals() {
        let sql = "INSERT INTO t VALUES (1, 'secret\nline')";
        let text = line(&finished(sql), false, std::time::UNIX_EPOCH);
        assert!(!text.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["sql"], "INSERT INTO t VALUES (?, ?)");
        assert_eq!(v["session"], 7);
        assert_eq!(v["route"], "single");
        assert_eq!(v["error"], 1062);
        assert_eq!(v["total_ms"], 1.5);
        assert_eq!(v["time"], "1970-01-01T00:00:00.000Z");
        let kept = line(&finished(sql), true, std::time::UNIX_EPOCH);
        let v: serde_json::Value = serde_json::from_str(&kept).unwrap();
        assert_eq!(v["sql"], sql);
    }
}
