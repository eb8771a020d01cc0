//! The proxy's own backend connections (`wire`) to one server, kept between the reads that
//! run on them (`[backend] wire_reads`).
//!
//! Why a pool of their own: mysql_async's pool holds only its own connections. These are
//! kept per server like the driver's, and counted against the same `pool_max`: a connection
//! holds one of the server's slots for as long as it is open, idle or lent out, and a
//! statement that finds no slot free evicts idle ones (as it does `warm`'s parked
//! connections), so keeping them never makes anybody wait. The driver's pool keeps its idle
//! connections without a slot; each new connection here first closes one of those, so the
//! two kinds together stay within `pool_max` (`GroupPool::wire_checkout`).
//!
//! A connection is tagged with the replay batch it carries (`SessionConns`), as parked ones
//! are: a session with the same SETs takes it as it is, another one resets it and replays
//! its own. A connection goes back only when its last answer was read to the end, the
//! server did not close it, and no KILL QUERY may still be on its way to it; anything else
//! closes it. The lock is a std mutex held for a push or a pop, never across an await, and
//! connections are dropped outside it.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::OwnedSemaphorePermit;

use super::in_use::InUse;
use super::pools::{GroupPool, Held};
use super::wire::WireConn;

/// How long a connection waits idle before it is closed (when the pool is next used): long
/// enough to carry a busy server's reads from one statement to the next, short enough that
/// a burst's connections do not stay open for hours (the server's `wait_timeout` may be
/// shorter: an idle connection the server closed is found when it is taken, and replaced).
const IDLE_FOR: Duration = Duration::from_secs(30);

/// One idle connection with what it holds.
struct Idle {
    conn: WireConn,
    tag: Arc<str>,
    slot: OwnedSemaphorePermit,
    held: Held,
    since: Instant,
    /// Kept for the session whose last statement ran on it, for its warnings (SHOW
    /// WARNINGS asks this connection): no other read takes it, but a statement that finds
    /// no slot free evicts it like any idle one, and it does not expire.
    reserved: Option<u64>,
}

/// Numbers reservations (`WireLease::reserve`).
static RESERVATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// The idle connections of one server, newest last.
#[derive(Default)]
pub struct WireIdle {
    idle: Mutex<Vec<Idle>>,
    /// The server asks for what our connection does not do (an authentication plugin, TLS):
    /// its reads stay with the driver.
    unsupported: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for WireIdle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WireIdle")
            .field("idle", &self.len())
            .finish()
    }
}

/// What `WireIdle::take` found.
pub(super) struct Taken {
    pub conn: WireConn,
    pub slot: OwnedSemaphorePermit,
    pub held: Held,
    /// The replay batch it carries (another one than asked for: reset it first).
    pub tag: Arc<str>,
}

impl WireIdle {
    fn lock(&self) -> MutexGuard<'_, Vec<Idle>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The newest idle connection tagged `tag`, else the newest of any tag.
    pub(super) fn take(&self, tag: &str) -> Option<Taken> {
        let (found, expired) = {
            let mut idle = self.lock();
            let expired = take_expired(&mut idle, Instant::now());
            let free = |i: &Idle| i.reserved.is_none();
            let at = idle
                .iter()
                .rposition(|i| free(i) && *i.tag == *tag)
                .or_else(|| idle.iter().rposition(free));
            (at.map(|i| idle.remove(i)), expired)
        };
        drop(expired);
        Self::taken(found?)
    }

    /// The connection reserved as `token`, unless it was evicted meanwhile.
    pub(super) fn take_reserved(&self, token: u64) -> Option<Taken> {
        let found = {
            let mut idle = self.lock();
            let at = idle.iter().position(|i| i.reserved == Some(token));
            at.map(|i| idle.remove(i))
        };
        Self::taken(found?)
    }

    /// Lets any read take the connection reserved as `token`.
    pub(super) fn unreserve(&self, token: u64) {
        let mut idle = self.lock();
        if let Some(i) = idle.iter_mut().find(|i| i.reserved == Some(token)) {
            i.reserved = None;
            i.since = Instant::now();
        }
    }

    fn taken(mut found: Idle) -> Option<Taken> {
        found.held.set_parked(false);
        Some(Taken {
            conn: found.conn,
            slot: found.slot,
            held: found.held,
            tag: found.tag,
        })
    }

    /// Keeps a connection for the next read, unless `wanted()` says a statement waits for a
    /// slot of this server: asked under the lock, which the waiter's eviction takes too
    /// after counting itself as waiting, so either it finds this connection and evicts it,
    /// or this sees it waiting (and the connection is closed, freeing its slot).
    fn put(
        &self,
        mut conn: WireConn,
        tag: Arc<str>,
        slot: OwnedSemaphorePermit,
        mut held: Held,
        wanted: impl Fn() -> bool,
        reserved: Option<u64>,
    ) {
        conn.shrink_buffers();
        held.set_parked(true);
        let expired = {
            let mut idle = self.lock();
            if wanted() {
                drop(idle);
                drop((conn, slot, held));
                return;
            }
            let expired = take_expired(&mut idle, Instant::now());
            idle.push(Idle {
                conn,
                tag,
                slot,
                held,
                since: Instant::now(),
                reserved,
            });
            expired
        };
        drop(expired);
    }

    /// Closes the oldest idle connection, freeing its slot; false when none is idle.
    pub(super) fn evict_oldest(&self) -> bool {
        let evicted = {
            let mut idle = self.lock();
            (!idle.is_empty()).then(|| idle.remove(0))
        };
        evicted.is_some()
    }

    /// Closes every idle connection (the server left rotation, shutdown).
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

    pub(super) fn is_unsupported(&self) -> bool {
        self.unsupported.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(super) fn mark_unsupported(&self) {
        self.unsupported
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

fn take_expired(idle: &mut Vec<Idle>, now: Instant) -> Vec<Idle> {
    let expired = |i: &Idle| i.reserved.is_none() && now.duration_since(i.since) >= IDLE_FOR;
    if !idle.iter().any(expired) {
        return Vec::new();
    }
    let (gone, kept) = std::mem::take(idle).into_iter().partition(expired);
    *idle = kept;
    gone
}

/// A connection lent to one statement. Dropped, it goes back idle if it may (see the
/// module's rules), and is closed otherwise.
pub struct WireLease {
    pool: Arc<GroupPool>,
    conn: Option<WireConn>,
    tag: Arc<str>,
    slot: Option<OwnedSemaphorePermit>,
    held: Option<Held>,
    in_use: InUse,
    /// Which server of which group (of its pool's database) it is connected to.
    pub(crate) server: super::balance::ServerRef,
    pub(crate) group: crate::config::model::GroupId,
    /// Goes back reserved under this number (`reserve`).
    reserve_as: Option<u64>,
}

impl WireLease {
    pub(super) fn new(
        pool: Arc<GroupPool>,
        conn: WireConn,
        tag: Arc<str>,
        slot: OwnedSemaphorePermit,
        held: Held,
        in_use: InUse,
        (group, server): (crate::config::model::GroupId, super::balance::ServerRef),
    ) -> Self {
        WireLease {
            pool,
            conn: Some(conn),
            tag,
            slot: Some(slot),
            held: Some(held),
            in_use,
            server,
            group,
            reserve_as: None,
        }
    }

    /// Gives the connection back reserved for its session (see `Idle::reserved`); the
    /// number takes it back (`GroupPool::wire_idle`'s `take_reserved`). Closed instead, like
    /// any lease, when it may not go back.
    pub fn reserve(mut self) -> u64 {
        let token = RESERVATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.reserve_as = Some(token);
        token
    }

    pub fn conn(&mut self) -> &mut WireConn {
        self.conn
            .as_mut()
            .expect("a lease holds its connection until dropped")
    }

    pub fn id(&self) -> u32 {
        self.conn.as_ref().map_or(0, WireConn::id)
    }

    pub fn pool(&self) -> &Arc<GroupPool> {
        &self.pool
    }

    /// The replay batch the connection carries.
    pub(super) fn carries(&self) -> &str {
        &self.tag
    }

    pub(super) fn closed_while_idle(&self) -> bool {
        self.conn.as_ref().is_none_or(WireConn::closed_while_idle)
    }

    /// Before the lease is kept past its statement: true, and the connection closed, when a
    /// KILL QUERY sent for its thread may still be on its way (as `drop` judges it: whoever
    /// read on it next would have their statement stopped).
    pub(super) fn close_if_killed(&mut self) -> bool {
        let id = self.id();
        let killed = self.in_use.given_back(&self.pool, id);
        if killed {
            self.conn = None;
        }
        killed
    }
}

impl Drop for WireLease {
    fn drop(&mut self) {
        let (Some(conn), Some(slot), Some(held)) =
            (self.conn.take(), self.slot.take(), self.held.take())
        else {
            return;
        };
        // A KILL QUERY sent for this thread may still be on its way: whoever read on it next
        // would have their statement stopped. Closed, the thread is gone.
        if self.in_use.given_back(&self.pool, conn.id()) || !conn.is_usable() {
            return;
        }
        let pool = &self.pool;
        let wanted = || pool.is_wanted() || !pool.health.in_rotation();
        pool.wire_idle
            .put(conn, self.tag.clone(), slot, held, wanted, self.reserve_as);
    }
}

/// What `GroupPool::wire_checkout` hands out: a connection with its slot, carrying the
/// replay batch `carries`.
pub struct Checkout {
    pub conn: WireConn,
    pub slot: OwnedSemaphorePermit,
    pub held: Held,
    pub carries: Arc<str>,
    pub reused: bool,
}

impl GroupPool {
    /// A wire connection for one read: an idle one (preferably carrying `tag`) unless
    /// `fresh`, else a new one in a free slot. `None` when this server's reads stay with the
    /// driver (our connection cannot log in to it), or, unless `wait`, when no slot is free
    /// now. Waiting for a slot and connecting are bounded as for the driver's connections
    /// (`connect`), and only the connect's failures count against the server.
    pub async fn wire_checkout(
        &self,
        tag: &str,
        fresh: bool,
        wait: bool,
        timeout: Duration,
        probe_every: Duration,
    ) -> crate::error::Result<Option<Checkout>> {
        if self.wire_idle.is_unsupported() {
            return Ok(None);
        }
        let probing = self.role == super::health::Role::Master && !self.health.in_rotation();
        if !self.health.in_rotation() {
            self.wire_idle.clear();
        } else if !fresh {
            if let Some(t) = self.wire_idle.take(tag) {
                return Ok(Some(Checkout {
                    conn: t.conn,
                    slot: t.slot,
                    held: t.held,
                    carries: t.tag,
                    reused: true,
                }));
            }
        }
        if probing && !self.health.try_probe(probe_every) {
            return Err(self.circuit_open());
        }
        let slot = match self.free_slot() {
            Some(slot) => slot,
            None if !wait => return Ok(None),
            None => self.wait_for_slot(timeout).await?,
        };
        // A checkout that must not wait (the session holds other connections) gives the
        // driver pool only a moment to hand over an idle connection to close.
        let closing = if wait {
            timeout
        } else {
            Duration::from_millis(1)
        };
        self.close_an_idle_driver_connection(closing).await;
        let connected = tokio::time::timeout(timeout, WireConn::connect(&self.wire_opts)).await;
        let conn = match connected {
            Ok(Ok(conn)) => conn,
            Ok(Err(super::wire::WireError::Unsupported(why))) => {
                tracing::info!(
                    server = %self.addr,
                    "reads stay on the driver's connections: {why}"
                );
                self.wire_idle.mark_unsupported();
                return Ok(None);
            }
            Ok(Err(super::wire::WireError::Server(e))) => {
                return Err(crate::error::Error::from(super::wire::WireError::Server(e)));
            }
            Ok(Err(e)) => {
                let reason = e.to_string();
                self.health.hard_failure(&reason);
                return Err(self.unavailable(reason));
            }
            Err(_) => {
                let reason = format!("no connection within {timeout:?}");
                self.health.hard_failure(&reason);
                return Err(self.unavailable(reason));
            }
        };
        if probing {
            self.health.probe_succeeded();
        }
        Ok(Some(Checkout {
            conn,
            slot,
            held: Held::new_wire(self),
            carries: Arc::from(""),
            reused: false,
        }))
    }

    /// The driver's pool keeps idle connections outside the slots: one is closed for each
    /// new wire connection, so both kinds together stay within `pool_max`.
    async fn close_an_idle_driver_connection(&self, timeout: Duration) {
        use std::sync::atomic::Ordering::Relaxed;
        if self.driver_metrics.connection_count.load(Relaxed) == 0 {
            return;
        }
        // A driver connection the session gave back a moment ago (its spares, released
        // before this checkout) reaches the pool's idle list once the pool's recycler ran.
        tokio::task::yield_now().await;
        if self.driver_metrics.connections_in_pool.load(Relaxed) == 0 {
            return;
        }
        if let Ok(Ok(conn)) = tokio::time::timeout(timeout, self.pool.get_conn()).await {
            let _ = tokio::time::timeout(timeout, conn.disconnect()).await;
        }
    }
}
