//! The process's live client sessions, by the connection id each got in its handshake: what
//! KILL, `SHOW PROCESSLIST` and `CONNECTION_ID()` work with.
//!
//! A session's task owns everything it runs; what others may touch is here, behind handles
//! that are safe from any worker thread: a token that ends the session, the token of its
//! running statement, and the list of backend connections that statement uses. Every lock
//! is a std mutex held for a lookup or a copy, never across an await.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::session_signal::{QueryToken, SessionSignal};
use crate::backend::in_use::InUse;
use crate::hold::slot::HoldSlot;

/// Longest statement text kept for SHOW PROCESSLIST (MariaDB keeps the whole statement;
/// a cap keeps one huge INSERT from being copied per statement).
const INFO_CAP: usize = 64 * 1024;

#[derive(Default)]
pub struct Sessions {
    next_id: AtomicU32,
    live: Mutex<HashMap<u32, Arc<LiveSession>>>,
}

impl Sessions {
    fn live(&self) -> MutexGuard<'_, HashMap<u32, Arc<LiveSession>>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A connection id for a new client: unique among live sessions, never 0 (after the
    /// counter wraps it skips ids still in use).
    pub fn next_id(&self) -> u32 {
        loop {
            let id = self.next_id.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
            if id != 0 && !self.live().contains_key(&id) {
                return id;
            }
        }
    }

    /// Makes a logged-in session visible to KILL and SHOW PROCESSLIST until the guard drops.
    pub fn register(self: &Arc<Self>, id: u32, user: &str, host: &str) -> Registered {
        let session = Arc::new(LiveSession {
            id,
            user: Mutex::new(user.to_string()),
            host: host.to_string(),
            in_use: InUse::shared(),
            hold: HoldSlot::default(),
            pinned: AtomicU32::new(0),
            in_transaction: AtomicBool::new(false),
            activity: Mutex::new(Activity {
                running: false,
                info: String::new(),
                db: None,
                since: Instant::now(),
            }),
            signal: Arc::default(),
        });
        self.live().insert(id, session.clone());
        Registered {
            sessions: self.clone(),
            session,
        }
    }

    pub fn get(&self, id: u32) -> Option<Arc<LiveSession>> {
        self.live().get(&id).cloned()
    }

    /// Every live session, by id.
    pub fn all(&self) -> Vec<Arc<LiveSession>> {
        let mut v: Vec<_> = self.live().values().cloned().collect();
        v.sort_by_key(|s| s.id);
        v
    }
}

/// Keeps a session registered; dropping it (the session ended) removes it.
pub struct Registered {
    sessions: Arc<Sessions>,
    session: Arc<LiveSession>,
}

impl Registered {
    pub fn session(&self) -> &Arc<LiveSession> {
        &self.session
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        let mut live = self.sessions.live();
        if live
            .get(&self.session.id)
            .is_some_and(|s| Arc::ptr_eq(s, &self.session))
        {
            live.remove(&self.session.id);
        }
    }
}

pub struct LiveSession {
    pub id: u32,
    /// Changes with COM_CHANGE_USER.
    user: Mutex<String>,
    pub host: String,
    /// The backend connections of the running statement (the session's `SessionConns`
    /// notes them).
    pub in_use: InUse,
    /// What write holds (resharding cutovers) see of this session.
    pub hold: HoldSlot,
    /// Backend connections the session keeps between statements (a transaction, session
    /// state, multiplexing off), as of its last command; for SHOW SHARDGATE SESSIONS.
    pinned: AtomicU32,
    /// A transaction is open, as of the session's last command.
    in_transaction: AtomicBool,
    /// KILL CONNECTION, KILL QUERY and the end of the idle hold, for the session's task.
    signal: Arc<SessionSignal>,
    activity: Mutex<Activity>,
}

struct Activity {
    /// A statement is running.
    running: bool,
    /// The running statement's text (capped), in a buffer kept from statement to statement;
    /// meaningless while none runs.
    info: String,
    db: Option<String>,
    /// When the current statement, or the idle time, began.
    since: Instant,
}

/// One row of SHOW PROCESSLIST, copied out of the registry.
pub struct Snapshot {
    pub id: u32,
    pub user: String,
    pub host: String,
    pub db: Option<String>,
    pub running: bool,
    pub seconds: u64,
    /// How long the statement has been running (or the session idle).
    pub elapsed: Duration,
    pub info: Option<String>,
    pub backend_connections: usize,
    /// The statement waits for a write hold (a resharding cutover).
    pub held: bool,
    /// Backend connections the session keeps between statements.
    pub pinned: u32,
    pub in_transaction: bool,
}

impl LiveSession {
    fn activity(&self) -> MutexGuard<'_, Activity> {
        self.activity.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A statement starts: returns the token KILL QUERY cancels (KILL CONNECTION too).
    pub fn begin_statement(&self, sql: &str, db: Option<&str>) -> QueryToken {
        self.in_use.clear();
        let mut a = self.activity();
        // Taken under the lock KILL QUERY looks at `running` under: a kill counts for this
        // statement only if it saw it running.
        let token = self.signal.query_token();
        a.running = true;
        a.info.clear();
        a.info.push_str(truncate(sql, INFO_CAP));
        if a.db.as_deref() != db {
            a.db = db.map(str::to_string);
        }
        a.since = Instant::now();
        token
    }

    pub fn end_statement(&self) {
        let mut a = self.activity();
        a.running = false;
        a.since = Instant::now();
    }

    /// `look(text, db)` of the running statement, None when none runs. The text is cut at
    /// `INFO_CAP` bytes; `cut` says so.
    pub fn running_statement<T>(
        &self,
        look: impl FnOnce(&str, Option<&str>, bool) -> T,
    ) -> Option<T> {
        let a = self.activity();
        if !a.running {
            return None;
        }
        let info = a.info.as_str();
        Some(look(info, a.db.as_deref(), info.len() + 4 > INFO_CAP))
    }

    /// KILL QUERY: stops the running statement, if any (an idle session is not affected,
    /// as on the server).
    pub fn kill_query(&self) {
        let a = self.activity();
        if a.running {
            self.signal.kill_query();
        }
    }

    /// KILL CONNECTION: ends the session (and stops its running statement).
    pub fn kill_connection(&self) {
        self.signal.end();
    }

    pub fn ended(&self) -> &SessionSignal {
        &self.signal
    }

    /// What other tasks signal to the session (KILL, the end of its idle hold).
    pub fn signal(&self) -> &Arc<SessionSignal> {
        &self.signal
    }

    pub fn user(&self) -> String {
        match self.user.lock() {
            Ok(u) => u.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// After COM_CHANGE_USER: KILL and the listings see the new user.
    pub fn set_user(&self, user: &str) {
        match self.user.lock() {
            Ok(mut u) => *u = user.to_owned(),
            Err(poisoned) => *poisoned.into_inner() = user.to_owned(),
        }
    }

    /// What the session keeps after a command: its pinned connections and whether a
    /// transaction is open (two relaxed stores, read only by SHOW SHARDGATE SESSIONS).
    pub fn note_between_commands(&self, pinned: usize, in_transaction: bool) {
        self.pinned
            .store(u32::try_from(pinned).unwrap_or(u32::MAX), Ordering::Relaxed);
        self.in_transaction.store(in_transaction, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Snapshot {
        let user = self.user();
        let a = self.activity();
        let elapsed = a.since.elapsed();
        Snapshot {
            id: self.id,
            user,
            host: self.host.clone(),
            db: a.db.clone(),
            running: a.running,
            seconds: elapsed.as_secs(),
            elapsed,
            info: a.running.then(|| a.info.clone()),
            backend_connections: if a.running { self.in_use.len() } else { 0 },
            held: a.running && self.hold.is_held(),
            pinned: self.pinned.load(Ordering::Relaxed),
            in_transaction: self.in_transaction.load(Ordering::Relaxed),
        }
    }
}

/// At most `cap` bytes of `s`, cut at a character boundary.
fn truncate(s: &str, cap: usize) -> &str {
    if s.len() <= cap {
        return s;
    }
    let mut end = cap;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_registration_ends_with_the_guard() {
        let s = Arc::new(Sessions::default());
        let a = s.next_id();
        let b = s.next_id();
        assert_ne!(a, b);
        assert_ne!(a, 0);
        let g = s.register(a, "app", "127.0.0.1");
        assert_eq!(s.get(a).map(|x| x.user()).as_deref(), Some("app"));
        drop(g);
        assert!(s.get(a).is_none());
    }

    #[test]
    fn ids_skip_zero_and_live_sessions_after_wrapping() {
        let s = Arc::new(Sessions::default());
        s.next_id.store(u32::MAX - 1, Ordering::Relaxed);
        let _live = s.register(1, "app", "h");
        assert_eq!(s.next_id(), u32::MAX);
        assert_eq!(s.next_id(), 2, "0 and the live 1 are skipped");
    }

    #[test]
    fn kill_query_hits_the_running_statement_only() {
        let s = Arc::new(Sessions::default());
        let g = s.register(7, "app", "h");
        let live = g.session();
        live.kill_query(); // idle: nothing to stop
        let t = live.begin_statement("SELECT SLEEP(5)", Some("db"));
        assert!(!t.is_cancelled());
        live.kill_query();
        assert!(t.is_cancelled());
        live.end_statement();
        let next = live.begin_statement("SELECT 1", None);
        assert!(!next.is_cancelled());
        assert_eq!(live.snapshot().info.as_deref(), Some("SELECT 1"));
        live.end_statement();
        assert_eq!(live.snapshot().info, None, "no text while idle");
        live.kill_query(); // idle again: the next statement's token stays usable
        let next = live.begin_statement("SELECT 2", None);
        assert!(!next.is_cancelled());
        live.kill_connection();
        assert!(
            next.is_cancelled(),
            "ending the session stops its statement"
        );
        assert!(live.ended().is_cancelled());
    }
}
