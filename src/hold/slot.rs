//! What one session shows the hold machinery, from any worker thread.
//!
//! The gate (`pass`) runs before each statement is planned. It marks the session as past the
//! gate and then loads `Holds::state`; a hold stores that state and then the drain looks at
//! the marks. Both sides use SeqCst, so either the statement sees the hold (and waits if it
//! must) or the drain sees the statement (and waits for it): a statement planned with the
//! rules of before a cutover can never write after it unseen. The mark stays until the
//! command ends (`idle`), covering planning, the statement, and the moment after it.
//!
//! The open transaction's write database is published with the epoch of the statement that
//! made it a writer, so a transaction that wrote before a hold is told apart from one that
//! wrote after. Publishing compares a pointer first and takes the lock only when the writer
//! changed (once per transaction).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::config::model::Database;

use super::{Hold, Holds};

#[derive(Default)]
pub struct HoldSlot {
    /// A statement of this session is past the gate and its command has not ended.
    passing: AtomicBool,
    /// A statement of this session waits for a hold.
    held: AtomicBool,
    /// The epoch the session's latest statement passed the gate in (session-local).
    gate_epoch: AtomicU64,
    /// Identity of the writer database last published (session-local cache).
    published: AtomicUsize,
    writer: Mutex<Option<TxnWriter>>,
}

/// The open transaction wrote in `database`, first in a statement of gate epoch `epoch`.
struct TxnWriter {
    database: String,
    epoch: u64,
}

impl HoldSlot {
    fn writer(&self) -> MutexGuard<'_, Option<TxnWriter>> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Before a statement is planned: true when some hold is on (the caller then looks at
    /// whether this statement must wait). `writer` is the open transaction's write database.
    #[inline]
    pub fn pass(&self, holds: &Holds, writer: Option<&Arc<Database>>) -> bool {
        self.publish(writer);
        self.passing.store(true, Ordering::SeqCst);
        let state = holds.state();
        self.gate_epoch.store(state >> 1, Ordering::Relaxed);
        state & 1 == 1
    }

    /// The command ended: what its statements wrote is published, then the mark goes.
    #[inline]
    pub fn idle(&self, writer: Option<&Arc<Database>>) {
        self.publish(writer);
        // Release: a drain that reads the mark cleared also reads what was published.
        self.passing.store(false, Ordering::Release);
    }

    /// The statement waits for a hold: it is not running work the drain must wait for.
    pub fn waiting(&self) {
        self.passing.store(false, Ordering::SeqCst);
        self.held.store(true, Ordering::Relaxed);
    }

    /// The wait is over (the statement goes on or was killed).
    pub fn done_waiting(&self) {
        self.held.store(false, Ordering::Relaxed);
    }

    /// A statement of this session waits for a hold now (SHOW PROCESSLIST).
    pub fn is_held(&self) -> bool {
        self.held.load(Ordering::Relaxed)
    }

    pub fn is_passing(&self) -> bool {
        self.passing.load(Ordering::SeqCst)
    }

    #[inline]
    fn publish(&self, writer: Option<&Arc<Database>>) {
        let key = writer.map_or(0, |d| Arc::as_ptr(d) as usize);
        if key != self.published.load(Ordering::Relaxed) {
            self.publish_slow(writer, key);
        }
    }

    #[cold]
    fn publish_slow(&self, writer: Option<&Arc<Database>>, key: usize) {
        *self.writer() = writer.map(|d| TxnWriter {
            database: d.name.clone(),
            epoch: self.gate_epoch.load(Ordering::Relaxed),
        });
        self.published.store(key, Ordering::Relaxed);
    }

    /// The open transaction had written in `hold`'s database before `hold` began: pre-hold
    /// work, which may go on and which the drain waits for.
    pub fn wrote_before(&self, hold: &Hold) -> bool {
        self.writer()
            .as_ref()
            .is_some_and(|w| w.epoch < hold.id && w.database.eq_ignore_ascii_case(&hold.database))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::plan::tests::fixture;

    #[test]
    fn a_transaction_is_pre_hold_work_only_if_it_wrote_before_the_hold() {
        let rules = fixture::rules();
        let clinical = rules.database("clinical").cloned().unwrap();
        let sbtest = rules.database("sbtest").cloned().unwrap();
        let holds = Holds::default();
        let slot = HoldSlot::default();

        // Wrote clinical before the hold: the statement passed in epoch 0.
        assert!(!slot.pass(&holds, None));
        slot.idle(Some(&clinical));
        let h = holds
            .begin("clinical", vec!["patients".into()], Duration::from_secs(1))
            .unwrap();
        assert!(slot.wrote_before(&h));
        // The transaction ends; a new one writes after the hold began.
        assert!(slot.pass(&holds, None));
        slot.idle(Some(&clinical));
        assert!(!slot.wrote_before(&h));
        // Another database's writes are not this hold's business.
        let other = HoldSlot::default();
        other.idle(Some(&sbtest));
        assert!(!other.wrote_before(&h));
        assert!(!other.is_passing());
    }
}
