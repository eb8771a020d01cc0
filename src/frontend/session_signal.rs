//! What other tasks signal to one session, and how the session hears it: KILL, and the end
//! of its idle hold (`idle_hold_ends`).
//!
//! Why not tokio-util's `CancellationToken`: every poll of its future locks the token's tree
//! node and then its `Notify`'s waiter list, and a session polls such futures on each
//! wake-up, several times per statement (the command loop's, the running statement's, the
//! watchdog's): about 1,300 instructions of a point select. Every listener of a session's
//! signal runs in the session's own task, so one waker slot is enough, and polling again
//! with the same waker costs a comparison.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::task::AtomicWaker;

/// The session's end (KILL CONNECTION) and the kills of its statements (KILL QUERY).
#[derive(Debug, Default)]
pub struct SessionSignal {
    ended: AtomicBool,
    /// KILL QUERYs that found a statement running. A statement's token holds the count at
    /// its start, so a kill reaches the statement it was meant for and no later one.
    queries_killed: AtomicU64,
    /// The session's current idle hold (an even number, its id) with `HOLD_OVER` added once
    /// it is over; 0 while it holds nothing.
    hold: AtomicU64,
    /// Idle holds started, twice over (the last one's id).
    holds_started: AtomicU64,
    /// The session task's waker, registered by whichever of its futures polled last. Only
    /// that task may await the signal: a second task's waker would replace it.
    waker: AtomicWaker,
}

/// Added to an idle hold's id once it is over.
const HOLD_OVER: u64 = 1;

impl SessionSignal {
    /// KILL CONNECTION: ends the session, and so its running statement.
    pub fn end(&self) {
        self.ended.store(true, Ordering::SeqCst);
        self.waker.wake();
    }

    /// KILL QUERY of the running statement (the caller knows one runs).
    pub(super) fn kill_query(&self) {
        self.queries_killed.fetch_add(1, Ordering::SeqCst);
        self.waker.wake();
    }

    /// The session was ended.
    pub fn is_cancelled(&self) -> bool {
        self.ended.load(Ordering::SeqCst)
    }

    /// Resolves once the session is ended. Awaited in the session's own task only.
    pub fn cancelled(&self) -> Fired<'_> {
        Fired {
            signal: self,
            kills_before: None,
        }
    }

    /// What a statement starting now listens to.
    pub(super) fn query_token(self: &Arc<Self>) -> QueryToken {
        QueryToken {
            kills_before: self.queries_killed.load(Ordering::SeqCst),
            signal: self.clone(),
        }
    }

    /// The session starts an idle hold: its id (even, never 0).
    pub(super) fn hold_started(&self) -> u64 {
        let id = self.holds_started.fetch_add(2, Ordering::Relaxed) + 2;
        self.hold.store(id, Ordering::SeqCst);
        id
    }

    /// Hold `id` is gone (over, or ended by the session's next statement).
    pub(super) fn hold_dropped(&self, id: u64) {
        let _ = self
            .hold
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |h| {
                (h & !HOLD_OVER == id).then_some(0)
            });
    }

    /// Ends idle hold `id` if the session is still in it, and wakes the session; a hold the
    /// session already left is not touched.
    pub(super) fn end_hold(&self, id: u64) {
        let ended = self
            .hold
            .compare_exchange(id, id + HOLD_OVER, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok();
        if ended {
            self.waker.wake();
        }
    }

    /// The session is still in idle hold `id`, not over.
    pub(super) fn holds(&self, id: u64) -> bool {
        self.hold.load(Ordering::SeqCst) == id
    }

    /// Resolves once idle hold `id` is over. Awaited in the session's own task only.
    pub(super) fn hold_over(&self, id: u64) -> HoldOver<'_> {
        HoldOver { signal: self, id }
    }

    fn fired(&self, kills_before: Option<u64>) -> bool {
        self.is_cancelled()
            || kills_before.is_some_and(|k| self.queries_killed.load(Ordering::SeqCst) != k)
    }
}

/// One statement's view of the signal: stopped by a KILL QUERY made while it runs, or by
/// the session's end.
#[derive(Debug, Clone)]
pub struct QueryToken {
    signal: Arc<SessionSignal>,
    kills_before: u64,
}

impl QueryToken {
    pub fn is_cancelled(&self) -> bool {
        self.signal.fired(Some(self.kills_before))
    }

    /// Resolves once the statement is killed. Awaited in the session's own task only.
    pub fn cancelled(&self) -> Fired<'_> {
        Fired {
            signal: &self.signal,
            kills_before: Some(self.kills_before),
        }
    }
}

/// Resolves when its signal fired.
#[derive(Debug)]
pub struct Fired<'a> {
    signal: &'a SessionSignal,
    kills_before: Option<u64>,
}

impl Future for Fired<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // Registered before looking: a kill after the look wakes this waker.
        self.signal.waker.register(cx.waker());
        if self.signal.fired(self.kills_before) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// Resolves when its idle hold is over.
#[derive(Debug)]
pub struct HoldOver<'a> {
    signal: &'a SessionSignal,
    id: u64,
}

impl Future for HoldOver<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.signal.waker.register(cx.waker());
        if self.signal.hold.load(Ordering::SeqCst) == self.id + HOLD_OVER {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_kill_wakes_the_task_waiting_for_it() {
        let signal = Arc::new(SessionSignal::default());
        let token = signal.query_token();
        let killer = signal.clone();
        let kill = tokio::spawn(async move {
            tokio::task::yield_now().await;
            killer.kill_query();
        });
        token.cancelled().await;
        kill.await.unwrap();
        assert!(token.is_cancelled());
        assert!(!signal.is_cancelled(), "KILL QUERY leaves the session");
        assert!(
            !signal.query_token().is_cancelled(),
            "a later statement runs"
        );
        let ender = signal.clone();
        tokio::spawn(async move { ender.end() });
        signal.cancelled().await;
        assert!(
            signal.query_token().is_cancelled(),
            "an ended session's statements stop"
        );
    }
}
