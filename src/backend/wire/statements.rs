//! Server-side prepared statements of one wire connection, kept by their SQL text.
//!
//! Why here and not with the client's statements: a statement id means something only on
//! the connection that prepared it, and only until that connection is reset or closed
//! (a server restart reuses ids, and so does a new connection after one is dropped). Kept
//! with the connection they are dropped with it, and `WireConn::reset` forgets them.

use std::collections::HashMap;

/// A statement prepared on this connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prepared {
    pub id: u32,
    pub params: u16,
    pub columns: u16,
}

/// How many statements one connection keeps before closing one to make room: MariaDB's
/// `max_prepared_stmt_count` is per server (16,382 by default), shared by every connection,
/// and 64 each leaves room for 250 connections, as for the driver's (`stmt_cache_size`).
pub const KEPT: usize = 64;

#[derive(Default)]
pub struct Statements {
    by_sql: HashMap<Box<str>, Prepared>,
}

impl Statements {
    pub fn get(&self, sql: &str) -> Option<Prepared> {
        self.by_sql.get(sql).copied()
    }

    /// Keeps `stmt`; returns a statement to close when one had to make room.
    pub fn keep(&mut self, sql: &str, stmt: Prepared) -> Option<Prepared> {
        let evicted = if self.by_sql.len() >= KEPT {
            // Any one: a workload with more distinct statements than this re-prepares
            // whichever way we choose, and a choice costs more than it saves.
            let key = self.by_sql.keys().next().cloned();
            key.and_then(|k| self.by_sql.remove(&k))
        } else {
            None
        };
        self.by_sql.insert(sql.into(), stmt);
        evicted
    }

    pub fn forget(&mut self, sql: &str) {
        self.by_sql.remove(sql);
    }

    pub fn clear(&mut self) {
        self.by_sql.clear();
    }

    pub fn len(&self) -> usize {
        self.by_sql.len()
    }
}
