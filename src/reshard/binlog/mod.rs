//! A MariaDB binlog change stream for resharding catch-up: after copying rows from a
//! consistent snapshot, a job streams each source master's binlog from the snapshot's GTID
//! position and applies the moving rows' changes.
//!
//! # Layout
//! `crate::gtid` GTIDs and positions in MariaDB's text form (shared with the health
//! checker); `position` the master's current and a
//! snapshot's position; `stream` the binlog dump connection; `assembler` event groups to
//! committed transactions (XIDs, savepoints, XA, DDL); `rows` row events to `RowChange`s;
//! `values` row images to `Value`s; `events` MariaDB's own event types and the table map;
//! `statement` what a Query event's text means; `schema` what is checked and read at open.
//!
//! The stream never guesses: a change it cannot render exactly (statement-logged DML on a
//! filtered table, a partial row image, an unknown column or event type, an XA COMMIT whose
//! prepare came before the start) is an error naming the server and the GTID, and so is a
//! start position the master no longer has.

mod assembler;
mod events;
mod position;
mod rows;
mod schema;
mod statement;
mod stream;
mod values;

use std::collections::BTreeSet;

use crate::gtid;
pub use crate::gtid::{Gtid, GtidPos};
pub use position::{current_position, snapshot_position};
pub use stream::ChangeStream;

/// Which changes a stream yields: rows of these tables of one schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamFilter {
    pub schema: String,
    /// Physical table names, lower-case.
    pub tables: BTreeSet<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StreamItem {
    /// One committed transaction's changes to the filtered tables (maybe empty: still yield
    /// it, so the caller can advance its saved position), in binlog order.
    Transaction { gtid: Gtid, changes: Vec<RowChange> },
    /// DDL (or TRUNCATE/RENAME/DROP) touching a filtered table: the job must stop loudly.
    /// `table` is the filtered table's lower-case name, or `*` for DROP DATABASE.
    SchemaChange {
        gtid: Gtid,
        table: String,
        statement: String,
    },
}

impl StreamItem {
    pub fn gtid(&self) -> Gtid {
        match self {
            StreamItem::Transaction { gtid, .. } | StreamItem::SchemaChange { gtid, .. } => *gtid,
        }
    }
}

/// One row's change. Images hold every column in ordinal order (`ChangeStream::columns`
/// names them); values are typed as `values` describes (TIMESTAMP in UTC).
#[derive(Debug, Clone, PartialEq)]
pub struct RowChange {
    /// The filtered table's lower-case name.
    pub table: String,
    pub kind: ChangeKind,
    /// The row before an UPDATE or DELETE.
    pub before: Option<Vec<mysql_common::value::Value>>,
    /// The row after an INSERT or UPDATE.
    pub after: Option<Vec<mysql_common::value::Value>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Insert,
    Update,
    Delete,
}
