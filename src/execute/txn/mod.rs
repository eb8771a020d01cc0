//! A client transaction over a sharded database. It may read from any group; its writes stay
//! on one group in `single_group` mode (the default), and may go anywhere in xa mode.
//!
//! Each group the transaction touches takes part on one backend connection of that group's
//! master (the session's), where the transaction is opened lazily right before the first
//! statement that needs the group (`join`): a BEGIN on every group at BEGIN would cost a round
//! trip per group and hold a connection on each. What opens it there is replayed in order:
//! the transaction's `SET TRANSACTION` characteristics, the client's BEGIN / START TRANSACTION
//! text (with its modifiers), and the transaction's live savepoints, so a group joining late
//! sees the same transaction as the ones before it.
//! `START TRANSACTION WITH CONSISTENT SNAPSHOT` is the exception: it opens the transaction on
//! every group of the current database at once, so each group's snapshot is taken at START
//! (one group after the other: there is no single instant across groups).
//!
//! Reads over several groups are allowed, locking reads (FOR UPDATE, LOCK IN SHARE MODE)
//! included: they take their locks on each group they read and hold them until COMMIT /
//! ROLLBACK. A write (or DDL) is confined to the one group the transaction first wrote to;
//! a write needing another group, a write over shards of two groups and a write to a
//! broadcast table (all its copies) are refused (1235) before anything reaches a group, and
//! the transaction stays usable.
//!
//! COMMIT ends the transaction on every group it touched (`end`): the group holding the
//! writes decides. SAVEPOINT, ROLLBACK TO and RELEASE run on every group touched.
//!
//! `SET autocommit=0` makes every statement part of a transaction, as on one server: the
//! backend connections carry autocommit=0 themselves, so no BEGIN is sent; groups join as
//! statements touch them, and COMMIT / ROLLBACK end the transaction on all of them.
//!
//! A transaction whose connection to a group broke is lost (the server rolled its part back,
//! and its locks and snapshot are gone), even when that group had only reads: every statement
//! but ROLLBACK then fails with 1213 / 40001 (COMMIT included) until the client rolls back,
//! so nothing runs outside the transaction the client believes open, and the other groups are
//! rolled back at once.
//!
//! With `[transactions] mode = "xa"` each group joins as an XA branch (`XA START`) instead,
//! writes may go to any groups, and COMMIT is two-phase over every group touched
//! (`two_phase`); a transaction that touched one group commits in one phase. Multi-group
//! autocommit writes run as such a transaction of their own (`atomic_write`).
//!
//! The backend's IN_TRANS status after each statement is the truth: a DDL statement commits
//! implicitly on its group, and the proxy then ends the transaction on the other groups too,
//! like one server ends all of it.

mod atomic_write;
mod end;
mod join;
mod loss;
mod statement_undo;
mod two_phase;

use std::sync::Arc;

use crate::config::model::{Database, GroupId};
use crate::error::Error;

use super::status;

pub use atomic_write::{needs_atomic_write, run_atomic};
pub use end::{after_statement, close, commit, on_every_group, rollback, savepoint, unwind};
pub(crate) use join::confined_write;
pub use join::{before_route, open_snapshots};
pub(crate) use loss::connection_gone;
pub use loss::{abandon, after_outcome, refusal};
pub use statement_undo::{mark_statement, needs_statement_undo, undo_statement};

/// The transaction state of one client session.
#[derive(Debug)]
pub struct Txn {
    /// Autocommit as the client set it (`SET autocommit`).
    pub autocommit: bool,
    /// The client's BEGIN / START TRANSACTION text while an explicit transaction is open.
    begin: Option<String>,
    /// `SET TRANSACTION ...` texts for the next transaction.
    next_characteristics: Vec<String>,
    /// The running transaction's `SET TRANSACTION` texts, sent to each group before it joins.
    characteristics: Vec<String>,
    /// Live savepoints, oldest first.
    savepoints: Vec<Savepoint>,
    /// The groups the transaction runs on, in the order they joined.
    groups: Vec<Joined>,
    /// The group holding the transaction's writes, once it wrote.
    writer: Option<Writer>,
    /// Why the transaction is gone although the client did not end it (a backend connection
    /// broke): every statement but ROLLBACK is refused until the client ends it.
    lost: Option<String>,
    /// In xa mode, once a group joined: the global transaction id, registered as live.
    xa: Option<XaTxn>,
    /// The transaction is one autocommit write's own (`atomic_write`): it ends with that
    /// statement, so the statement needs no savepoint of its own (`statement_undo`).
    single_statement: bool,
}

#[derive(Debug)]
struct XaTxn {
    live: crate::execute::xa::LiveGuard,
    /// The database whose default group holds the decision log entry.
    log_db: String,
    /// Branches started so far (numbers the next one).
    branches: usize,
}

/// A group the transaction runs on.
#[derive(Debug, Clone)]
pub struct Joined {
    pub db: Arc<Database>,
    pub group: GroupId,
    /// The backend thread id of the connection it runs on: a different or missing
    /// connection there means the transaction's part on this group is gone.
    pub conn_id: u32,
    /// How the statement that joined it was routed, for messages.
    pub first: String,
    /// Its XA branch, in xa mode.
    pub branch: Option<crate::execute::xa::Xid>,
}

#[derive(Debug, Clone)]
struct Writer {
    db: Arc<Database>,
    group: GroupId,
    /// How the first write was routed (names its table), for the refusal message.
    first: String,
}

#[derive(Debug, Clone)]
struct Savepoint {
    name: String,
    /// The writer when it was taken: ROLLBACK TO it undoes every later write.
    writer: Option<Writer>,
}

impl Default for Txn {
    fn default() -> Self {
        Txn {
            autocommit: true,
            begin: None,
            next_characteristics: Vec::new(),
            characteristics: Vec::new(),
            savepoints: Vec::new(),
            groups: Vec::new(),
            writer: None,
            lost: None,
            xa: None,
            single_statement: false,
        }
    }
}

impl Txn {
    /// True while statements belong to a transaction: after BEGIN, or always with
    /// autocommit off.
    #[inline]
    pub fn active(&self) -> bool {
        self.begin.is_some() || !self.autocommit
    }

    /// True while the transaction needs the session's backend connections: it runs on a
    /// group, or it was lost and awaits the client's ROLLBACK.
    #[inline]
    pub fn pins_connections(&self) -> bool {
        !self.groups.is_empty() || self.lost.is_some()
    }

    /// The database the transaction wrote in, once it wrote (write holds of a resharding
    /// cutover tell pre-hold work by it).
    #[inline]
    pub fn writer_db(&self) -> Option<&Arc<Database>> {
        self.writer.as_ref().map(|w| &w.db)
    }

    /// The global transaction id, in xa mode once a group joined.
    pub fn xa_gtrid(&self) -> Option<&str> {
        self.xa.as_ref().map(|x| x.live.gtrid.as_str())
    }

    /// The groups the transaction runs on.
    pub fn groups(&self) -> &[Joined] {
        &self.groups
    }

    pub fn is_joined(&self, db: &str, group: GroupId) -> bool {
        self.joined_index(db, group).is_some()
    }

    fn joined_index(&self, db: &str, group: GroupId) -> Option<usize> {
        self.groups
            .iter()
            .position(|j| j.group == group && j.db.name.eq_ignore_ascii_case(db))
    }

    /// Status flags for answers the proxy makes itself.
    pub fn status(&self) -> u16 {
        let mut s = 0;
        if self.autocommit {
            s |= status::AUTOCOMMIT;
        }
        if self.begin.is_some() || !self.groups.is_empty() || self.lost.is_some() {
            s |= status::IN_TRANS;
        }
        s
    }

    /// BEGIN: the transaction is open, nothing is sent yet; it takes the characteristics
    /// `SET TRANSACTION` gave the next transaction.
    pub fn begin(&mut self, sql: &str) {
        self.single_statement = false;
        self.begin = Some(sql.to_string());
        self.characteristics = std::mem::take(&mut self.next_characteristics);
        self.savepoints.clear();
        self.groups.clear();
        self.writer = None;
        self.xa = None;
    }

    /// The transaction ended (COMMIT, ROLLBACK, implicit commit).
    pub fn end(&mut self) {
        self.single_statement = false;
        self.lost = None;
        self.begin = None;
        self.savepoints.clear();
        self.next_characteristics.clear();
        self.characteristics.clear();
        self.groups.clear();
        self.writer = None;
        self.xa = None;
    }

    /// `AND CHAIN`: every group began a new transaction with the same characteristics.
    fn chained(&mut self) {
        self.savepoints.clear();
        self.writer = None;
    }

    /// The connection of `group` in `db` broke: if the transaction ran there, it is lost.
    pub fn connection_lost(&mut self, db: &str, group: GroupId, reason: &str) {
        let Some(i) = self.joined_index(db, group) else {
            return;
        };
        let j = self.groups.remove(i);
        self.lose(&j, reason);
    }

    fn lose(&mut self, j: &Joined, reason: &str) {
        if self.lost.is_none() {
            self.lost = Some(format!(
                "the transaction was rolled back: the backend connection to group '{}' of \
                 database '{}' broke ({reason}), so its part of the transaction (writes, locks, \
                 snapshot) is gone; ROLLBACK, then restart the transaction",
                group_name(&j.db, j.group),
                j.db.name
            ));
        }
    }

    /// The error for a statement sent after the transaction was lost.
    pub fn lost(&self) -> Option<Error> {
        self.lost
            .as_ref()
            .map(|m| Error::TransactionLost(m.clone()))
    }

    pub fn is_lost(&self) -> bool {
        self.lost.is_some()
    }

    /// `SET TRANSACTION READ ONLY` is pending (no later `READ WRITE`): the server applies it
    /// to autocommit statements too, until a transaction takes it.
    pub fn read_only_pending(&self) -> bool {
        use crate::plan::lexer::significant;
        let mut read_only = false;
        for sql in &self.next_characteristics {
            let toks: Vec<_> = significant(sql).collect();
            for w in toks.windows(2) {
                if w[0].is_word(sql, "READ") {
                    if w[1].is_word(sql, "ONLY") {
                        read_only = true;
                    } else if w[1].is_word(sql, "WRITE") {
                        read_only = false;
                    }
                }
            }
        }
        read_only
    }

    pub fn set_next_characteristics(&mut self, sql: &str) {
        self.next_characteristics.push(sql.to_string());
    }

    /// Records a savepoint (already taken on every group). A name taken again replaces the
    /// old savepoint, as on the server.
    fn add_savepoint(&mut self, name: &str) {
        self.savepoints.retain(|s| !same_savepoint(&s.name, name));
        self.savepoints.push(Savepoint {
            name: name.to_string(),
            writer: self.writer.clone(),
        });
    }

    fn has_savepoint(&self, name: &str) -> bool {
        self.savepoints
            .iter()
            .any(|s| same_savepoint(&s.name, name))
    }

    /// ROLLBACK TO (keeps `name`) or RELEASE (drops it too): later savepoints go, and after a
    /// rollback the writer is the one `name` saw.
    fn unwind_savepoint(&mut self, name: &str, release: bool) {
        let Some(i) = self
            .savepoints
            .iter()
            .position(|s| same_savepoint(&s.name, name))
        else {
            return;
        };
        if !release {
            self.writer = self.savepoints[i].writer.clone();
        }
        self.savepoints.truncate(if release { i } else { i + 1 });
    }
}

fn same_savepoint(a: &str, b: &str) -> bool {
    a.trim_matches('`')
        .eq_ignore_ascii_case(b.trim_matches('`'))
}

pub(crate) fn group_name(db: &Database, g: GroupId) -> String {
    db.groups
        .get(g)
        .map(|g| g.name.clone())
        .unwrap_or_else(|| format!("#{g}"))
}
