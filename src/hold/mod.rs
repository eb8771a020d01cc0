//! Write holds: what a resharding job's cutover asks of the running proxy (issue 11). While
//! a hold is on, statements that may write the held tables of its database wait before
//! they are planned (they do not fail); reads go on. A held statement is let through when
//! the hold is released (or its lease runs out) and is then planned with the rules current
//! at that moment, so after a cutover it goes to the new layout.
//!
//! Work that began before the hold is not stopped: a statement already past the gate
//! finishes, and a transaction that had already written in the held database may go on
//! writing (blocking it could deadlock against whoever waits for it to end). Both are what
//! the drain (`drain`) waits for before the hold counts as held.
//!
//! # Layout
//! - this file: the process-wide registry (`Holds`), shared by every worker like the rules;
//!   statements look at one atomic of it when no hold is on;
//! - `slot`: what each session shows of itself: whether a statement of it is past the gate,
//!   and in which database, since which hold, its open transaction wrote;
//! - `drain`: waiting until the work that began before a hold has ended.

pub mod drain;
pub mod slot;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::plan::held_writes::held_table_written;
use crate::plan::Syntax;
use slot::HoldSlot;

/// The holds in force. `state` is `(epoch << 1) | any_active`: the epoch counts the holds
/// ever begun, so a session can tell work it began before a hold from work begun after.
pub struct Holds {
    state: AtomicU64,
    current: Mutex<Vec<Arc<Hold>>>,
    /// Bumped whenever a hold ends; held statements wait for it.
    changed: watch::Sender<u64>,
    pub stats: HoldStats,
}

/// One hold: the writes to `tables` of `database` wait.
#[derive(Debug)]
pub struct Hold {
    /// The epoch it began (unique).
    pub id: u64,
    /// As the rules spell it.
    pub database: String,
    /// Lower-case logical names.
    pub tables: Vec<String>,
    pub since: Instant,
    /// It lifts itself after this (the job that asked for it may have died).
    pub lease: Duration,
}

/// Counters for the metrics endpoint.
#[derive(Default)]
pub struct HoldStats {
    /// Statements that had to wait for a hold.
    pub held_statements: AtomicU64,
    /// Statements waiting now.
    pub waiting: AtomicU64,
    /// The longest wait so far, in microseconds.
    pub longest_wait_us: AtomicU64,
    /// Holds that ran out of lease instead of being released.
    pub lifted_by_lease: AtomicU64,
}

impl Default for Holds {
    fn default() -> Self {
        Holds {
            state: AtomicU64::new(0),
            current: Mutex::new(Vec::new()),
            changed: watch::Sender::new(0),
            stats: HoldStats::default(),
        }
    }
}

impl Holds {
    fn current(&self) -> MutexGuard<'_, Vec<Arc<Hold>>> {
        self.current.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `(epoch << 1) | any_active`: the one load a statement makes when no hold is on.
    #[inline]
    pub fn state(&self) -> u64 {
        self.state.load(Ordering::SeqCst)
    }

    /// Starts holding writes to `tables` of `database`. `Err` is the hold already on for
    /// that database (one at a time: release it first).
    pub fn begin(
        &self,
        database: &str,
        tables: Vec<String>,
        lease: Duration,
    ) -> Result<Arc<Hold>, Arc<Hold>> {
        let mut current = self.current();
        if let Some(h) = current
            .iter()
            .find(|h| h.database.eq_ignore_ascii_case(database))
        {
            return Err(h.clone());
        }
        let id = (self.state.load(Ordering::SeqCst) >> 1) + 1;
        let hold = Arc::new(Hold {
            id,
            database: database.to_string(),
            tables,
            since: Instant::now(),
            lease,
        });
        current.push(hold.clone());
        // Before any session is looked at by the drain (see `slot` for the ordering).
        self.state.store((id << 1) | 1, Ordering::SeqCst);
        Ok(hold)
    }

    /// Lifts the hold on `database`, if there is one.
    pub fn release(&self, database: &str) -> Option<Arc<Hold>> {
        self.end(|h| h.database.eq_ignore_ascii_case(database))
    }

    /// Lifts exactly this hold, if it is still on (a lease or a failed drain must not lift a
    /// later hold of the same database).
    pub fn release_hold(&self, id: u64) -> Option<Arc<Hold>> {
        self.end(|h| h.id == id)
    }

    fn end(&self, which: impl Fn(&Hold) -> bool) -> Option<Arc<Hold>> {
        let ended = {
            let mut current = self.current();
            let i = current.iter().position(|h| which(h))?;
            let ended = current.remove(i);
            let epoch = self.state.load(Ordering::SeqCst) >> 1;
            let active = u64::from(!current.is_empty());
            self.state.store((epoch << 1) | active, Ordering::SeqCst);
            ended
        };
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
        Some(ended)
    }

    /// The holds on now, oldest first.
    pub fn list(&self) -> Vec<Arc<Hold>> {
        self.current().clone()
    }

    /// A receiver that wakes when a hold ends; subscribe before looking, so no end is missed.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// The hold `sql` must wait for, if any: one whose tables it may write, unless this
    /// session's open transaction had written in that database before the hold began.
    pub fn blocking(
        &self,
        sql: &str,
        syntax: Syntax,
        current_db: Option<&str>,
        slot: &HoldSlot,
    ) -> Option<Arc<Hold>> {
        let holds = self.list();
        holds.into_iter().find(|h| {
            held_table_written(sql, syntax, current_db, &h.database, &h.tables).is_some()
                && !slot.wrote_before(h)
        })
    }

    /// A statement waited `waited` for a hold.
    pub fn note_wait(&self, waited: Duration) {
        let us = u64::try_from(waited.as_micros()).unwrap_or(u64::MAX);
        self.stats.longest_wait_us.fetch_max(us, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_hold_per_database_and_epochs_grow() {
        let holds = Holds::default();
        assert_eq!(holds.state() & 1, 0);
        let a = holds
            .begin("clinical", vec!["patients".into()], Duration::from_secs(1))
            .unwrap();
        assert_eq!(holds.state(), (a.id << 1) | 1);
        let again = holds.begin("CLINICAL", vec![], Duration::from_secs(1));
        assert_eq!(again.unwrap_err().id, a.id);
        let b = holds
            .begin("sbtest", vec!["t".into()], Duration::from_secs(1))
            .unwrap();
        assert!(b.id > a.id);
        assert!(holds.release_hold(a.id).is_some());
        assert!(holds.release_hold(a.id).is_none(), "only once");
        assert_eq!(holds.state() & 1, 1, "sbtest is still held");
        assert!(holds.release("sbtest").is_some());
        assert_eq!(holds.state(), b.id << 1, "the epoch stays");
        assert!(holds.release("sbtest").is_none());
    }

    #[test]
    fn a_release_wakes_subscribers() {
        let holds = Holds::default();
        holds
            .begin("clinical", vec![], Duration::from_secs(1))
            .unwrap();
        let mut rx = holds.subscribe();
        assert!(!rx.has_changed().unwrap());
        holds.release("clinical");
        assert!(rx.has_changed().unwrap());
        rx.borrow_and_update();
        assert!(!rx.has_changed().unwrap());
    }
}
