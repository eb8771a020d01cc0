//! Resharding: moving the rows of a sharded table to a new layout while it keeps serving.
//! `binlog` streams a source master's committed changes after a snapshot, for the catch-up.

pub mod binlog;
