//! What one statement did on its backends, noted by execution as each shard part ends and
//! read once when the statement is reported. The buffer lives in the session and is reused
//! from statement to statement, so noting a part allocates nothing once it has grown.

use std::sync::Arc;
use std::time::Duration;

use crate::backend::GroupPool;

/// One shard query of a statement: where it ran, how long it took, how many rows.
#[derive(Clone)]
pub struct ShardPart {
    /// The server it ran on (its database, group, role and address).
    pub server: Arc<GroupPool>,
    pub shard: Option<u32>,
    pub elapsed: Duration,
    /// Rows it returned (reads) or changed (writes).
    pub rows: u64,
}

#[derive(Default)]
pub struct Trace {
    parts: Vec<ShardPart>,
}

impl Trace {
    /// A statement starts: forget the previous one's parts (keeping the buffer).
    pub fn clear(&mut self) {
        self.parts.clear();
    }

    pub fn note(&mut self, part: ShardPart) {
        self.parts.push(part);
    }

    pub fn parts(&self) -> &[ShardPart] {
        &self.parts
    }
}
