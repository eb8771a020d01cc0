//! A backend connection checked out of its pool, the only form in which one leaves
//! `GroupPool::connect`.
//!
//! Why a wrapper: with multiplexing the pools do not reset returned connections (a reset per
//! statement would cost a round trip each), so a connection that carried a session's state
//! (replayed SETs, a session statement, a transaction, a temporary table) would reach the
//! next client as it was. Code paths that hand a connection back are many (put back after a
//! merge, extra connections, a statement failing mid-stream, the client leaving, a future
//! cancelled), so cleanliness is not left to each of them: a checked-out connection is
//! *dirty* from the start, and the pool resets it (COM_RESET_CONNECTION, run by the pool's
//! recycler on the pool's runtime; a connection whose reset fails is closed) whenever and
//! however it is dropped. Only a caller that knows the connection carries nothing of its
//! session gives it back without the reset (`release_clean`).
//!
//! The wrapper also holds the connection's slot in the pool (see `GroupPool::connect`) and
//! counts it in the server's open connections, both released when it is dropped.

use std::ops::{Deref, DerefMut};

use mysql_async::Conn;
use tokio::sync::OwnedSemaphorePermit;

use super::pools::Held;

/// A connection out of its pool; dropping it gives it back, reset unless released clean.
#[derive(Debug)]
pub struct BackendConn {
    // Declared first so it is dropped (sent back to the pool) before the slot is freed.
    conn: Conn,
    held: Held,
    _slot: OwnedSemaphorePermit,
    /// False once the connection may carry something of its statement's beyond the
    /// session's replayable state (see `keep_from_parking`).
    parkable: bool,
}

impl BackendConn {
    pub(super) fn new(mut conn: Conn, held: Held, slot: OwnedSemaphorePermit) -> Self {
        conn.reset_connection(true);
        BackendConn {
            conn,
            held,
            _slot: slot,
            parkable: true,
        }
    }

    /// Gives the connection back without a reset: only for a connection that ran nothing but
    /// statements of a session without state, none of which left anything behind.
    pub fn release_clean(mut self) {
        self.conn.reset_connection(false);
    }

    /// The connection must not be parked for another session (`warm`): a result was left
    /// unread on it, whose rest (or error) the next statement on it would read first.
    pub fn keep_from_parking(&mut self) {
        self.parkable = false;
    }

    pub(super) fn parkable(&self) -> bool {
        self.parkable
    }

    /// Counts the connection as parked (`warm`) or as held by a session again.
    pub(super) fn set_parked(&mut self, parked: bool) {
        self.held.set_parked(parked);
    }

    /// Closes the connection instead of giving it back (it broke, or it holds something a
    /// reset must not be trusted with).
    pub async fn disconnect(self) -> mysql_async::Result<()> {
        self.conn.disconnect().await
    }
}

impl Deref for BackendConn {
    type Target = Conn;

    fn deref(&self) -> &Conn {
        &self.conn
    }
}

impl DerefMut for BackendConn {
    fn deref_mut(&mut self) -> &mut Conn {
        &mut self.conn
    }
}
