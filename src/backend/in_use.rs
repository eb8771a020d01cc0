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

/// A noted connection, and whether a KILL QUERY was sent for it.
#[derive(Debug)]
struct Noted {
    thread: BackendThread,
    killing: bool,
}

/// A shared list of the running statement's backend connections. The default handle is
/// inert (notes nothing): sessions without a registry entry need no bookkeeping.
#[derive(Debug, Clone, Default)]
pub struct InUse(Option<Arc<Mutex<Vec<Noted>>>>);

impl InUse {
    /// A live handle; clones share the one list.
    pub fn shared() -> Self {
        InUse(Some(Arc::default()))
    }

    fn list(&self) -> Option<MutexGuard<'_, Vec<Noted>>> {
        let m = self.0.as_ref()?;
        Some(m.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The statement is about to use `thread` on `pool`'s server.
    pub fn note(&self, pool: &Arc<GroupPool>, group: GroupId, thread: u32) {
        if let Some(mut list) = self.list() {
            let known = list
                .iter()
                .any(|n| n.thread.thread == thread && Arc::ptr_eq(&n.thread.pool, pool));
            if !known {
                list.push(Noted {
                    thread: BackendThread {
                        pool: pool.clone(),
                        group,
                        thread,
                    },
                    killing: false,
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
        self.list()
            .map(|l| l.iter().map(|n| n.thread.clone()).collect())
            .unwrap_or_default()
    }

    /// A KILL QUERY for `t` is on its way to its server.
    pub fn killing(&self, t: &BackendThread) {
        if let Some(mut list) = self.list() {
            for n in list.iter_mut() {
                if n.thread.thread == t.thread && Arc::ptr_eq(&n.thread.pool, &t.pool) {
                    n.killing = true;
                }
            }
        }
    }

    /// The statement is done with `thread` of `pool` and gives it back before it ends (an
    /// extra connection of a merged read): a later KILL of the statement must not reach it.
    /// True when a KILL QUERY was already sent for it: it may arrive after anyone else took
    /// the connection and stop their statement, so nobody may have it (the caller closes it).
    pub fn given_back(&self, pool: &GroupPool, thread: u32) -> bool {
        let Some(mut list) = self.list() else {
            return false;
        };
        let at = list.iter().position(|n| {
            n.thread.thread == thread && std::ptr::eq(Arc::as_ptr(&n.thread.pool), pool)
        });
        at.is_some_and(|i| list.swap_remove(i).killing)
    }

    pub fn len(&self) -> usize {
        self.list().map_or(0, |l| l.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_given_back_leaves_the_list_and_says_whether_a_kill_targets_it() {
        let pool = Arc::new(GroupPool::for_tests("db", "g0", "127.0.0.1:1"));
        let other = Arc::new(GroupPool::for_tests("db", "g1", "127.0.0.1:2"));
        let in_use = InUse::shared();
        in_use.note(&pool, 0, 7);
        in_use.note(&pool, 0, 8);
        in_use.note(&other, 1, 7);
        assert!(!in_use.given_back(&pool, 8), "no kill was sent for 8");
        let left: Vec<(u32, bool)> = in_use
            .snapshot()
            .iter()
            .map(|t| (t.thread, Arc::ptr_eq(&t.pool, &pool)))
            .collect();
        assert_eq!(left, [(7, true), (7, false)]);
        let seven = in_use.snapshot().remove(0);
        in_use.killing(&seven);
        assert!(
            !in_use.given_back(&other, 7),
            "the kill is for g0's thread 7"
        );
        assert!(in_use.given_back(&pool, 7));
        assert!(in_use.is_empty());
        assert!(!in_use.given_back(&pool, 7), "already given back");
        assert!(!InUse::default().given_back(&pool, 7));
    }
}
