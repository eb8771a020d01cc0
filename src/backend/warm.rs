//! Connections kept warm for sessions with replayable state, per server pool.
//!
//! Why: under multiplexing a session whose only state is replayable SETs (the SET NAMES a
//! client's handshake charset implies is the common one) gave its connections back after
//! every statement to be reset (COM_RESET_CONNECTION), and replayed its SETs on the next
//! ones, one round trip per connection before the statement could start. A scatter read
//! over four shards paid four sequential replays and four resets per statement: about 80%
//! of its time through the proxy (measured with strace on deploy/bench-scatter.sh).
//!
//! Instead such a connection is parked here, tagged with the exact replay batch it carries
//! (`SessionConns`): a later statement of any session whose replay batch is the same string
//! takes it as it is, without replay or reset. A connection carries nothing else a session
//! could see (the same rule that lets a stateless session give its connections back
//! without a reset), so two sessions with equal batches cannot tell each other's
//! connections apart, and a session with another batch never gets one.
//!
//! A parked connection keeps its pool slot, so parking never makes the pool open more than
//! `pool_max` connections; a statement that finds no free slot evicts parked connections
//! first (`GroupPool::connect`), so parking never makes anybody wait either. Evicted,
//! expired or surplus connections go back to the pool reset, as before. The lock is a std
//! mutex held for a push or a pop, never across an await, and connections are dropped
//! outside it.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::conn::BackendConn;

/// How long a parked connection waits for a session with its state: past that it goes back
/// to the pool (reset), so a burst of sessions with some rare state does not keep slots, and
/// a connection the server closed meanwhile is not handed out long after.
const PARKED_FOR: Duration = Duration::from_secs(5);

struct Parked {
    state: Arc<str>,
    conn: BackendConn,
    since: Instant,
}

/// The parked connections of one server pool, newest last.
#[derive(Default)]
pub struct WarmConns {
    parked: Mutex<Vec<Parked>>,
    /// At most this many parked at once (0: parking is off).
    cap: usize,
}

impl std::fmt::Debug for WarmConns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WarmConns")
            .field("parked", &self.len())
            .field("cap", &self.cap)
            .finish()
    }
}

impl WarmConns {
    /// Room for a quarter of a pool of `pool_max` (at most 8): enough for the shards of a
    /// scatter read of a few sessions, while most of the pool stays for everyone.
    pub fn for_pool(pool_max: usize) -> Self {
        WarmConns {
            parked: Mutex::default(),
            cap: (pool_max / 4).min(8),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Parked>> {
        self.parked.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Parks `conn`, which carries exactly the replay batch `state`. The oldest parked
    /// connection goes back to the pool, reset, when there is no room; so does `conn` itself
    /// when parking is off or `waited_for()` says a statement waits for a slot of this pool
    /// (asked under the lock, which the waiter takes too after counting itself, see
    /// `GroupPool::wait_for_slot`: either it sees this connection parked and evicts it, or
    /// this sees it waiting).
    pub fn park(&self, state: Arc<str>, mut conn: BackendConn, waited_for: impl Fn() -> bool) {
        if self.cap == 0 || state.is_empty() || !conn.parkable() {
            return;
        }
        let now = Instant::now();
        let surplus = {
            let mut parked = self.lock();
            if waited_for() {
                drop(parked);
                drop(conn);
                return;
            }
            conn.set_parked(true);
            let mut surplus = take_expired(&mut parked, now);
            if parked.len() >= self.cap {
                surplus.push(parked.remove(0));
            }
            parked.push(Parked {
                state,
                conn,
                since: now,
            });
            surplus
        };
        drop(surplus);
    }

    /// The most recently parked connection carrying exactly `state`, if any.
    pub fn take(&self, state: &str) -> Option<BackendConn> {
        if self.cap == 0 || state.is_empty() {
            return None;
        }
        let (found, expired) = {
            let mut parked = self.lock();
            let expired = take_expired(&mut parked, Instant::now());
            let mut found = parked
                .iter()
                .rposition(|p| *p.state == *state)
                .map(|i| parked.remove(i).conn);
            if let Some(conn) = &mut found {
                conn.set_parked(false);
            }
            (found, expired)
        };
        drop(expired);
        found
    }

    /// Gives the oldest parked connection back to the pool (reset), freeing its slot for a
    /// statement that needs one; false when none is parked.
    pub fn evict_oldest(&self) -> bool {
        let evicted = {
            let mut parked = self.lock();
            (!parked.is_empty()).then(|| parked.remove(0))
        };
        evicted.is_some()
    }

    /// Gives every parked connection back (the server left rotation, shutdown).
    pub fn clear(&self) {
        let all = std::mem::take(&mut *self.lock());
        drop(all);
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Removes the entries parked longer than `PARKED_FOR`, to be dropped by the caller after
/// the lock is released.
fn take_expired(parked: &mut Vec<Parked>, now: Instant) -> Vec<Parked> {
    let fresh_from = parked
        .iter()
        .position(|p| now.duration_since(p.since) < PARKED_FOR)
        .unwrap_or(parked.len());
    parked.drain(..fresh_from).collect()
}
