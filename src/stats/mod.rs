//! Statement statistics, in one place: the execution path reports every statement here once
//! (`Stats::record`) with its route kind, result, rows sent, total time and, per shard part,
//! the server, time and rows it took. From that one report come the process-wide counters
//! that `SHOW SHARDGATE STATS` reads, the `metrics` series (`emit`) and the slow query log.
//!
//! The hot path stays cheap: the counters are atomics in fixed arrays indexed by the route
//! kind; errors by code sit in a small map behind a short std mutex (an error is rarer than
//! a statement, and the lock is never held across an await).
//!
//! # Layout
//! `kind` (the route kind of a plan), `trace` (the shard parts a statement noted),
//! `emit` (the metrics facade), `slow_log` (the writer thread and its JSON lines), `mask`
//! (literals out of logged SQL), `clock` (UTC text for times).

mod clock;
mod emit;
mod kind;
pub mod mask;
pub mod slow_log;
mod trace;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

pub use clock::utc;
pub use kind::RouteKind;
pub use slow_log::SlowLog;
pub use trace::{ShardPart, Trace};

use crate::plan::Syntax;

/// One finished statement, as the frontend reports it.
pub struct Finished<'a> {
    pub kind: RouteKind,
    /// The error code the client got, `None` when it succeeded.
    pub error: Option<u16>,
    pub rows_sent: u64,
    pub elapsed: Duration,
    pub parts: &'a [ShardPart],
    /// Who ran it, for the slow log.
    pub session: u32,
    pub user: &'a str,
    pub database: Option<&'a str>,
    /// The logical statement as the client sent it.
    pub sql: &'a str,
    /// How to read `sql` (for masking its literals).
    pub syntax: Syntax,
}

/// The process's statement counters (one per process, in `ProxyState`).
pub struct Stats {
    /// [route kind][0 = ok, 1 = error].
    statements: [[AtomicU64; 2]; RouteKind::COUNT],
    errors: Mutex<BTreeMap<u16, u64>>,
    slow_log: OnceLock<SlowLog>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            statements: std::array::from_fn(|_| [AtomicU64::new(0), AtomicU64::new(0)]),
            errors: Mutex::default(),
            slow_log: OnceLock::new(),
        }
    }
}

impl Stats {
    pub fn record(&self, f: &Finished<'_>) {
        let result = usize::from(f.error.is_some());
        self.statements[f.kind.index()][result].fetch_add(1, Ordering::Relaxed);
        if let Some(code) = f.error {
            let mut errors = self.errors.lock().unwrap_or_else(|p| p.into_inner());
            *errors.entry(code).or_insert(0) += 1;
        }
        emit::statement(f);
        if let Some(log) = self.slow_log.get() {
            log.offer(f);
        }
    }

    /// Statements of `kind` that succeeded (`ok`) or failed so far.
    pub fn statements(&self, kind: RouteKind, ok: bool) -> u64 {
        self.statements[kind.index()][usize::from(!ok)].load(Ordering::Relaxed)
    }

    /// Errors by code so far.
    pub fn errors(&self) -> BTreeMap<u16, u64> {
        self.errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Starts the slow log (once per process; later calls keep the first).
    pub fn set_slow_log(&self, log: SlowLog) {
        let _ = self.slow_log.set(log);
    }

    pub fn slow_log(&self) -> Option<&SlowLog> {
        self.slow_log.get()
    }

    /// Every counter as (name, value), in a fixed order: one row each in SHOW SHARDGATE
    /// STATS. Statement counters are listed even at zero, so a client can diff two reads.
    pub fn rows(&self) -> Vec<(String, u64)> {
        let mut rows = Vec::with_capacity(RouteKind::COUNT * 2 + 8);
        for kind in RouteKind::ALL {
            for (ok, result) in [(true, "ok"), (false, "error")] {
                rows.push((
                    format!("statements.{}.{result}", kind.name()),
                    self.statements(kind, ok),
                ));
            }
        }
        for (code, n) in self.errors() {
            rows.push((format!("errors.{code}"), n));
        }
        if let Some(log) = self.slow_log() {
            rows.push(("slow_log.dropped".into(), log.dropped()));
        }
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finished(kind: RouteKind, error: Option<u16>) -> Finished<'static> {
        Finished {
            kind,
            error,
            rows_sent: 1,
            elapsed: Duration::from_millis(1),
            parts: &[],
            session: 1,
            user: "app",
            database: None,
            sql: "SELECT 1",
            syntax: Syntax::default(),
        }
    }

    #[test]
    fn counts_by_kind_result_and_code() {
        let s = Stats::default();
        s.record(&finished(RouteKind::Single, None));
        s.record(&finished(RouteKind::Single, None));
        s.record(&finished(RouteKind::Refused, Some(1235)));
        s.record(&finished(RouteKind::Merged, Some(1317)));
        s.record(&finished(RouteKind::Refused, Some(1235)));
        assert_eq!(s.statements(RouteKind::Single, true), 2);
        assert_eq!(s.statements(RouteKind::Single, false), 0);
        assert_eq!(s.statements(RouteKind::Refused, false), 2);
        assert_eq!(s.statements(RouteKind::Merged, false), 1);
        assert_eq!(s.errors().get(&1235), Some(&2));
        let rows = s.rows();
        assert_eq!(rows.len(), RouteKind::COUNT * 2 + 2);
        assert!(rows.contains(&("statements.single.ok".into(), 2)));
        assert!(rows.contains(&("errors.1317".into(), 1)));
    }
}
