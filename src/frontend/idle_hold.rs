//! The moment a multiplexed session keeps its previous statement's connections as spares
//! (`[backend] idle_hold_ms`), in case its next statement wants them at once.
//!
//! Why a value of its own, started when the statement ends: the hold must end early when
//! another session waits for one of those pools (`SLOT_WANTED`), and that signal must reach
//! a hold that exists when it is sent. Holding from the statement's end covers the flush of
//! its answer too, which a client that does not read can make last indefinitely. Its worker's
//! `IdleHoldEnds` ends it, and the session's `SessionSignal` wakes the session for that.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::idle_hold_ends::IdleHoldEnds;
use super::session_signal::SessionSignal;

pub(super) struct IdleHold {
    signal: Arc<SessionSignal>,
    id: u64,
}

impl IdleHold {
    /// Starts the hold: call before looking whether a pool is wanted already, so that a
    /// waiter is either seen counted then or ends the hold later.
    pub(super) fn start(
        hold: Duration,
        ends: &Arc<IdleHoldEnds>,
        signal: &Arc<SessionSignal>,
    ) -> IdleHold {
        let id = signal.hold_started();
        ends.register(signal, id, Instant::now() + hold);
        IdleHold {
            signal: signal.clone(),
            id,
        }
    }

    /// Resolves when the spares must go back: the hold is over, or a statement of some
    /// session waits for a pool slot. Once resolved, the hold is spent (drop it).
    pub(super) async fn over(&mut self) {
        self.signal.hold_over(self.id).await
    }
}

impl Drop for IdleHold {
    fn drop(&mut self) {
        self.signal.hold_dropped(self.id);
    }
}
