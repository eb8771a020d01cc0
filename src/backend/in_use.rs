//! The backend connections the running statement of one session uses, by server and
//! backend thread id. KILL QUERY needs them: stopping a statement means stopping what each
//! of its backends runs for it (`KILL QUERY <thread>` on that server), and a statement the
//! proxy had to abandon mid-protocol leaves exactly these connections in doubt.
//!
//! The session's connection holder notes every connection it hands out; the list is shared
//! with the process's session registry, so a KILL from another client can reach it. The
//! lock is a std mutex held for a push or a copy, never across an await.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::config::model::GroupId;

use super::pools::GroupPool;

/// One backend connection a statement used.
#[derive(Debug, Clone)]
pub struct BackendThread {
    pub pool: Arc<GroupPool>,
    pub group: GroupId,
    /// The backend's connection id (`CONNECTION_ID()` there).
    pub thread: u32,
}

/// A shared list of the running statement's backend connections. The default handle is
/// inert (notes nothing): sessions without a registry entry need no bookkeeping.
#[derive(Debug, Clone, Default)]
pub struct InUse(Option<Arc<Mutex<Vec<BackendThread>>>>);

impl InUse {
    /// A live handle; clones share the one list.
    pub fn shared() -> Self {
        InUse(Some(Arc::default()))
    }

    fn list(&self) -> Option<MutexGuard<'_, Vec<BackendThread>>> {
        let m = self.0.as_ref()?;
        Some(m.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The statement is about to use `thread` on `pool`'s server.
    pub fn note(&self, pool: &Arc<GroupPool>, group: GroupId, thread: u32) {
        if let Some(mut list) = self.list() {
            let known = list
                .iter()
                .any(|t| t.thread == thread && Arc::ptr_eq(&t.pool, pool));
            if !known {
                list.push(BackendThread {
                    pool: pool.clone(),
                    group,
                    thread,
                });
            }
        }
    }

    /// A new statement starts: the previous one's connections are no longer its business.
    pub fn clear(&self) {
        if let Some(mut list) = self.list() {
            list.clear();
        }
    }

    pub fn snapshot(&self) -> Vec<BackendThread> {
        self.list().map(|l| l.clone()).unwrap_or_default()
    }

    pub fn len(&self) -> usize {
        self.list().map_or(0, |l| l.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
