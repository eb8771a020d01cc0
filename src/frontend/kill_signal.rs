//! What KILL sets for one session, and how the session hears it.
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
pub struct KillSignal {
    ended: AtomicBool,
    /// KILL QUERYs that found a statement running. A statement's token holds the count at
    /// its start, so a kill reaches the statement it was meant for and no later one.
    queries_killed: AtomicU64,
    /// The session task's waker, registered by whichever of its futures polled last. Only
    /// that task may await the signal: a second task's waker would replace it.
    waker: AtomicWaker,
}

impl KillSignal {
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

    fn fired(&self, kills_before: Option<u64>) -> bool {
        self.is_cancelled()
            || kills_before.is_some_and(|k| self.queries_killed.load(Ordering::SeqCst) != k)
    }
}

/// One statement's view of the signal: stopped by a KILL QUERY made while it runs, or by
/// the session's end.
#[derive(Debug, Clone)]
pub struct QueryToken {
    signal: Arc<KillSignal>,
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
    signal: &'a KillSignal,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_kill_wakes_the_task_waiting_for_it() {
        let signal = Arc::new(KillSignal::default());
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
