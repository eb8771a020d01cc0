//! The moment a multiplexed session keeps its previous statement's connections as spares
//! (`[backend] idle_hold_ms`), in case its next statement wants them at once.
//!
//! Why a value of its own, started when the statement ends: the hold must end early when
//! another session waits for one of those pools (`SLOT_WANTED`), and that signal reaches only
//! a listener that exists when it is sent. Listening from the statement's end covers the
//! flush of its answer too, which a client that does not read can make last indefinitely.

use std::pin::Pin;
use std::time::Duration;

use tokio::sync::futures::Notified;
use tokio::time::Instant;

use crate::backend::pools::SLOT_WANTED;

pub(super) struct IdleHold {
    until: Instant,
    wanted: Pin<Box<Notified<'static>>>,
}

impl IdleHold {
    /// Starts listening: call before looking whether a pool is wanted already, so that a
    /// waiter is either seen counted then or heard later.
    pub(super) fn start(hold: Duration) -> IdleHold {
        let mut wanted = Box::pin(SLOT_WANTED.notified());
        wanted.as_mut().enable();
        IdleHold {
            until: Instant::now() + hold,
            wanted,
        }
    }

    /// Resolves when the spares must go back: the hold is over, or a statement of some
    /// session waits for a pool slot. Once resolved, the hold is spent (drop it).
    pub(super) async fn over(&mut self) {
        tokio::select! {
            _ = tokio::time::sleep_until(self.until) => {}
            _ = self.wanted.as_mut() => {}
        }
    }
}
