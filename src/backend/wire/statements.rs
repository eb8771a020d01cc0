//! Server-side prepared statements of one wire connection, kept by their SQL text.
//!
//! Why here and not with the client's statements: a statement id means something only on
//! the connection that prepared it, and only until that connection is reset or closed
//! (MySQL numbers statements per connection, so the same id names another statement on
//! another connection; MariaDB numbers them per server and starts again after a restart).
//! Kept with the connection they are dropped with it, a reset forgets them, and each
//! carries the generation of the connection that made it, so a handle used on another
//! connection, or after a reset, is refused instead of running another statement.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::fast_hash::FastBuild;
use crate::protocol::Cursor;

use super::WireError;

/// A statement prepared on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prepared {
    pub id: u32,
    pub params: u16,
    pub columns: u16,
    /// The connection (and the stretch between its resets) that prepared it.
    pub generation: u64,
}

/// How many statements one connection keeps before closing one to make room: MariaDB's
/// `max_prepared_stmt_count` is per server (16,382 by default), shared by every connection,
/// and 64 each leaves room for 250 connections, as for the driver's (`stmt_cache_size`).
pub const KEPT: usize = 64;

/// How much statement text one connection keeps: without a bound, 64 texts of up to
/// max_allowed_packet each could hold a gigabyte per connection.
pub const KEPT_TEXT_BYTES: usize = 256 * 1024;

pub fn next_generation() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[derive(Default)]
pub struct Statements {
    by_sql: HashMap<Box<str>, Prepared, FastBuild>,
    /// The ids in `by_sql`, so every execute's check that its statement is still kept is
    /// one lookup, not a walk over all of them.
    ids: HashSet<u32, FastBuild>,
    text_bytes: usize,
}

impl Statements {
    pub fn get(&self, sql: &str) -> Option<Prepared> {
        self.by_sql.get(sql).copied()
    }

    /// Whether `stmt` is one kept here (not dropped to make room, not forgotten).
    pub fn holds(&self, stmt: Prepared) -> bool {
        self.ids.contains(&stmt.id)
    }

    /// Keeps `stmt`; returns the statements dropped to make room, to be closed.
    pub fn keep(&mut self, sql: &str, stmt: Prepared) -> Vec<Prepared> {
        let mut dropped = Vec::new();
        while !self.by_sql.is_empty()
            && (self.by_sql.len() >= KEPT || self.text_bytes + sql.len() > KEPT_TEXT_BYTES)
        {
            // Any one: a workload with more distinct statements than this re-prepares
            // whichever way we choose, and a choice costs more than it saves.
            let Some(key) = self.by_sql.keys().next().cloned() else {
                break;
            };
            if let Some(old) = self.by_sql.remove(&key) {
                self.text_bytes -= key.len();
                self.ids.remove(&old.id);
                dropped.push(old);
            }
        }
        self.text_bytes += sql.len();
        if let Some(old) = self.by_sql.insert(sql.into(), stmt) {
            self.text_bytes -= sql.len();
            self.ids.remove(&old.id);
            dropped.push(old);
        }
        self.ids.insert(stmt.id);
        dropped
    }

    pub fn forget(&mut self, sql: &str) {
        if let Some(old) = self.by_sql.remove(sql) {
            self.text_bytes -= sql.len();
            self.ids.remove(&old.id);
        }
    }

    pub fn clear(&mut self) {
        self.by_sql.clear();
        self.ids.clear();
        self.text_bytes = 0;
    }

    pub fn len(&self) -> usize {
        self.by_sql.len()
    }
}

/// COM_STMT_PREPARE's OK: 0x00, statement id, column count, parameter count, filler,
/// warnings.
pub fn prepare_ok(payload: &[u8], generation: u64) -> Result<Prepared, WireError> {
    let mut c = Cursor::new(payload);
    if c.u8()? != 0 {
        return Err(WireError::Protocol(
            "a prepare answered without an OK".into(),
        ));
    }
    let id = c.take(4)?;
    let columns = c.u16()?;
    let params = c.u16()?;
    Ok(Prepared {
        id: u32::from_le_bytes([id[0], id[1], id[2], id[3]]),
        params,
        columns,
        generation,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stmt(id: u32) -> Prepared {
        Prepared {
            id,
            params: 0,
            columns: 1,
            generation: 1,
        }
    }

    #[test]
    fn keeps_at_most_the_count_and_the_text_bytes() {
        let mut kept = Statements::default();
        for i in 0..KEPT as u32 {
            assert!(kept.keep(&format!("SELECT {i}"), stmt(i)).is_empty());
        }
        let dropped = kept.keep("SELECT x", stmt(999));
        assert_eq!(dropped.len(), 1);
        assert!(!kept.holds(dropped[0]));
        assert!(kept.holds(stmt(999)));
        assert_eq!(kept.len(), KEPT);
        let long = "x".repeat(KEPT_TEXT_BYTES);
        let dropped = kept.keep(&long, stmt(1000));
        assert_eq!(dropped.len(), KEPT);
        assert_eq!(kept.len(), 1);
        kept.forget(&long);
        assert_eq!((kept.len(), kept.text_bytes), (0, 0));
    }
}
