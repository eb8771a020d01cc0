//! What ends the idle holds of one worker's sessions: each hold's deadline, and a statement
//! of any session finding a pool full (`pools::signal_slot_wanted`).
//!
//! Why one task per worker instead of a timer and a listener per hold: a hold starts after
//! every statement of a multiplexed session and nearly always ends by the session's next
//! statement. A `Sleep` and a `Notified` per hold cost a timer-wheel insertion and removal,
//! an allocation and two locks of a process-wide `Notify` per statement (about 2,000
//! instructions of a point select). Here a hold is an entry pushed under the worker's own
//! lock; the task wakes once per hold duration at most, and the entries of holds that ended
//! by their next statement are dropped then, untouched (`SessionSignal::end_hold` ends
//! only the hold the session is still in).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;
use tokio::time::Instant;

use super::session_signal::SessionSignal;
use crate::backend::pools::{slot_wanted_generation, SLOT_WANTED};

#[derive(Debug, Default)]
pub struct IdleHoldEnds {
    pending: Mutex<Pending>,
    /// Wakes the task when a hold is due before the task's next look (`Pending::armed`).
    rearm: Notify,
    /// The task runs (it is started with the first hold, on the runtime of that session).
    running: AtomicBool,
}

#[derive(Debug, Default)]
struct Pending {
    /// In the order the holds started, which is the order of their deadlines: every hold
    /// lasts the worker's `idle_hold_ms`, which the server config fixes for the process.
    holds: VecDeque<Entry>,
    /// When the task looks at the deadlines next; `None` while it waits for a hold.
    armed: Option<Instant>,
}

#[derive(Debug)]
struct Entry {
    deadline: Instant,
    id: u64,
    signal: Arc<SessionSignal>,
}

impl IdleHoldEnds {
    fn pending(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Ends hold `id` of `signal`'s session at `deadline`, or earlier when a pool slot is
    /// wanted. Call before looking whether one is wanted already (`spares_wanted`): a
    /// statement that starts waiting after that look ends the hold through this task.
    pub(super) fn register(
        self: &Arc<Self>,
        signal: &Arc<SessionSignal>,
        id: u64,
        deadline: Instant,
    ) {
        let rearm = {
            let mut p = self.pending();
            p.holds.push_back(Entry {
                deadline,
                id,
                signal: signal.clone(),
            });
            p.armed.is_none_or(|armed| deadline < armed)
        };
        if rearm {
            self.rearm.notify_one();
        }
        if !self.running.swap(true, Ordering::AcqRel) {
            tokio::spawn(run(self.clone()));
        }
    }
}

/// Clears `running` when the task ends (its runtime shut down), so a later hold starts it
/// again.
struct Running(Arc<IdleHoldEnds>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.running.store(false, Ordering::Release);
    }
}

async fn run(ends: Arc<IdleHoldEnds>) {
    let ends = Running(ends);
    let ends = &ends.0;
    // Starting from none seen ends the holds registered before this task first ran if a
    // slot was ever wanted: spurious at worst (a hold ends early), where reading the
    // generation now could take a signal sent after the first hold began as already heard.
    let mut seen = 0;
    loop {
        // Listening before the generation is read: a slot wanted after the read is heard,
        // one wanted before it shows in the generation.
        let wanted = SLOT_WANTED.notified();
        tokio::pin!(wanted);
        wanted.as_mut().enable();
        let generation = slot_wanted_generation();
        let now = Instant::now();
        let next = {
            let mut p = ends.pending();
            if generation != seen {
                seen = generation;
                for e in p.holds.drain(..) {
                    e.signal.end_hold(e.id);
                }
            }
            // Due holds end; holds their sessions left already (nearly all: the next
            // statement came) are dropped without waiting for their deadlines, so the task
            // sleeps until a hold that may still need it.
            while let Some(e) = p.holds.front() {
                let due = e.deadline <= now;
                if !due && e.signal.holds(e.id) {
                    break;
                }
                if let Some(e) = p.holds.pop_front() {
                    if due {
                        e.signal.end_hold(e.id);
                    }
                }
            }
            p.armed = p.holds.front().map(|e| e.deadline);
            p.armed
        };
        tokio::select! {
            biased;
            _ = &mut wanted => {}
            _ = ends.rearm.notified() => {}
            _ = tokio::time::sleep_until(next.unwrap_or(now)), if next.is_some() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::backend::pools::signal_slot_wanted;

    fn within<F: std::future::Future>(f: F) -> tokio::time::Timeout<F> {
        tokio::time::timeout(Duration::from_secs(5), f)
    }

    #[tokio::test]
    async fn a_hold_ends_at_its_deadline_or_when_a_slot_is_wanted() {
        let ends = Arc::new(IdleHoldEnds::default());
        let hold = Duration::from_millis(20);
        let (a, b) = (
            Arc::<SessionSignal>::default(),
            Arc::<SessionSignal>::default(),
        );
        // `a` leaves its first hold (its next statement came), then starts another after b.
        let left = a.hold_started();
        ends.register(&a, left, Instant::now() + hold);
        a.hold_dropped(left);
        let other = b.hold_started();
        let started = Instant::now();
        ends.register(&b, other, started + hold);
        tokio::time::sleep(Duration::from_millis(5)).await;
        let second = a.hold_started();
        // Well after b's deadline: on a loaded machine b's end may be handled late, and must
        // still find a's second hold running.
        ends.register(&a, second, Instant::now() + hold * 10);
        within(b.hold_over(other))
            .await
            .expect("b's hold ends at its deadline");
        assert!(started.elapsed() >= hold, "not before its deadline");
        assert!(
            a.holds(second),
            "the end of a's first hold leaves its second alone"
        );
        within(a.hold_over(second))
            .await
            .expect("a's second hold ends");

        // A slot wanted anywhere in the process (in the same test: signalling it ends every
        // hold, and a test running beside this one would see its holds end early).
        let signals: Vec<Arc<SessionSignal>> = (0..3).map(|_| Arc::default()).collect();
        let far = Instant::now() + Duration::from_secs(3600);
        let ids: Vec<u64> = signals
            .iter()
            .map(|s| {
                let id = s.hold_started();
                ends.register(s, id, far);
                id
            })
            .collect();
        tokio::task::yield_now().await;
        signal_slot_wanted();
        for (s, id) in signals.iter().zip(ids) {
            within(s.hold_over(id))
                .await
                .expect("ended by the wanted slot");
        }
    }
}
