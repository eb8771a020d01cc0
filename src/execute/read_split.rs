//! Whether a statement may read from a replica: per session, cheap enough for every
//! statement (a few flag tests; the clock is read only by sessions that wrote).
//!
//! The master serves writes, locking reads (the planner marks them `is_write`), everything
//! while a transaction is open or autocommit is off, statements carrying the hint
//! `/* shardgate:master */`, and every read of a session that ran `SET @shardgate_master = 1`.
//! A session that ran CREATE TEMPORARY TABLE reads from the master from then on; one that set
//! a user variable on the master (`SELECT ... INTO @v`, which the planner sends there) reads
//! statements naming user variables from the master from then on.
//! A read naming ROW_COUNT goes to the server that ran the session's previous statement on
//! that group (it is about that statement, and round robin would move on); FOUND_ROWS() has
//! its own bookkeeping (`found_rows`), since it is about the last statement that set it.
//!
//! Read-your-writes, after a session wrote to a group:
//! - `window` (default): its reads of that group go to the master (while it is up) for
//!   `master_after_write`; this also keeps LAST_INSERT_ID() and fresh temporary tables right.
//! - `gtid`: the proxy asks the master for the write's GTID (`@@last_gtid`, one more round
//!   trip per autocommit write or per COMMIT), and the first read on each replica waits for
//!   it (`MASTER_GTID_WAIT`, at most `gtid_wait`), or goes to the master when it times out.
//!   Reads naming LAST_INSERT_ID still go to the master.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::backend::{Access, ServerRef};
use crate::config::model::{Database, GroupId};
use crate::config::server::ReadYourWrites;
use crate::plan::statement_words::{
    has_at_sign, may_call, mentioned, CREATE_TEMPORARY, LAST_INSERT_ID, LOCK_SUFFIX, ROW_COUNT,
};
use crate::plan::{Route, Target};

use super::status;

/// The hint that sends one statement to the master.
pub const MASTER_HINT: &str = "shardgate:master";
/// The user variable that sends a session's reads to the master while it is 1.
pub const MASTER_VARIABLE: &str = "@shardgate_master";

/// A group this session wrote to.
#[derive(Debug)]
struct Written {
    db: Arc<Database>,
    group: GroupId,
    at: Instant,
    /// GTID of the last write (gtid mode); `None` until known (e.g. before COMMIT).
    gtid: Option<String>,
    /// Replicas (bit = index) known to have applied `gtid`.
    caught_up: u64,
}

#[derive(Debug, Default)]
pub struct ReadSplit {
    /// `SET @shardgate_master = 1` is in force.
    pub force_master: bool,
    wrote: Vec<Written>,
    /// The session made a temporary table: it exists on the master only, so every read
    /// stays there until the session ends (or resets).
    temporary_tables: bool,
    /// The session gave a user variable a value on the master only (`SELECT ... INTO @v`,
    /// `@v := ...` run there as writes): from then on a read naming a user variable goes to
    /// the master too, where the value is.
    variables_on_master: bool,
    /// (database, group, variable) whose session connection alone holds a user variable a
    /// statement gave a value (`SELECT ... INTO @v`, `@v := ...`): a later statement reading
    /// it must run there (see `check_variables`); SET gives it to every connection again.
    variable_groups: Vec<(String, GroupId, String)>,
    /// The server each (database, group) last ran a statement on, for ROW_COUNT(), which is
    /// about the previous statement. The database by address: the rules'
    /// `Arc<Database>` outlives every session that plans with it.
    previous: Vec<(usize, GroupId, ServerRef)>,
}

impl ReadSplit {
    /// Which server kind `target` of `route` needs, given the session's status flags.
    #[inline]
    pub fn access(&self, route: &Route, target: &Target, status: u16, window: Duration) -> Access {
        let in_txn = status & status::IN_TRANS != 0 || status & status::AUTOCOMMIT == 0;
        if route.is_write
            || in_txn
            || self.force_master
            || self.temporary_tables
            || target.sql.contains(MASTER_HINT)
            || (self.variables_on_master && mentions_user_variable(&target.sql))
        {
            return Access::Master;
        }
        if self.wrote.is_empty() {
            return Access::Read;
        }
        match self.find(&route.db.name, target.group) {
            None => Access::Read,
            Some(_) if mentions_last_insert_id(&target.sql) => Access::Master,
            // gtid mode, write position known: a replica after waiting for it.
            Some(w) if w.gtid.is_some() => Access::Read,
            Some(w) if !window.is_zero() && w.at.elapsed() < window => Access::PreferMaster,
            Some(_) => Access::Read,
        }
    }

    fn find(&self, db: &str, group: GroupId) -> Option<&Written> {
        self.wrote
            .iter()
            .find(|w| w.group == group && w.db.name == db)
    }

    /// Where a read goes that asks about the previous statement on its connection
    /// (ROW_COUNT()): the server that ran it. `None` for other statements.
    #[inline]
    pub fn sticky_server(
        &self,
        db: &Arc<Database>,
        group: GroupId,
        sql: &str,
    ) -> Option<ServerRef> {
        if !may_call(sql, ROW_COUNT) {
            return None;
        }
        let key = Arc::as_ptr(db) as usize;
        Some(
            self.previous
                .iter()
                .find(|(d, g, _)| *d == key && *g == group)
                .map_or(ServerRef::Master, |p| p.2),
        )
    }

    /// Remembers which server of `group` ran the session's last statement there.
    #[inline]
    pub fn ran_on(&mut self, db: &Arc<Database>, group: GroupId, server: ServerRef) {
        let key = Arc::as_ptr(db) as usize;
        match self
            .previous
            .iter_mut()
            .find(|(d, g, _)| *d == key && *g == group)
        {
            Some(p) => p.2 = server,
            None => self.previous.push((key, group, server)),
        }
    }

    /// Notes what a write means for later reads: temporary tables, and user variables set
    /// on the master.
    pub fn observe_write(&mut self, sql: &str) {
        if !self.temporary_tables && mentioned(sql).has(CREATE_TEMPORARY) {
            self.temporary_tables = true;
        }
        if !self.variables_on_master && mentions_user_variable(sql) {
            self.variables_on_master = true;
        }
    }

    /// The session made a temporary table (it lives on the session's connections only).
    pub fn has_temporary_tables(&self) -> bool {
        self.temporary_tables
    }

    /// Notes the user variables `sql`, run on `group`'s session connection, gave a value
    /// only that connection holds.
    pub fn observe_variables(&mut self, db: &Database, group: GroupId, sql: &str) {
        if !sql.contains('@') && !mentions_user_lock(sql) {
            return;
        }
        let lock = mentions_user_lock(sql).then(|| USER_LOCKS.to_string());
        for v in crate::plan::assigned_user_variables(sql, false)
            .into_iter()
            .chain(lock)
        {
            self.variable_groups
                .retain(|(d, _, n)| !(*d == db.name && *n == v));
            self.variable_groups.push((db.name.clone(), group, v));
        }
    }

    /// Whether a statement gave a user variable of database `db` a value that only one
    /// session connection holds (merged reads then keep to the session's connections).
    pub fn has_assigned_variables(&self, db: &Database) -> bool {
        self.variable_groups.iter().any(|(d, _, _)| *d == db.name)
    }

    /// A statement reading a user variable that a statement (not SET, which every connection
    /// replays) gave a value must run on that group's session connection: on another group
    /// the variable is NULL. (Merged reads run each group's shards on the session's
    /// connection then, see `merge::lanes`.)
    pub fn check_variables(&self, route: &Route) -> crate::error::Result<()> {
        for t in &route.targets {
            self.check_variables_at(&route.db, t.group, &t.sql)?;
        }
        Ok(())
    }

    /// `check_variables` for one statement `sql` about to run on `group` (a materialized
    /// read's statement over its copies, say).
    pub fn check_variables_at(
        &self,
        db: &Database,
        group: GroupId,
        sql: &str,
    ) -> crate::error::Result<()> {
        if !self.variable_groups.iter().any(|(d, _, _)| *d == db.name) {
            return Ok(());
        }
        let lock = mentions_user_lock(sql).then(|| USER_LOCKS.to_string());
        for v in crate::plan::user_variables(sql).into_iter().chain(lock) {
            let Some((_, held, _)) = self
                .variable_groups
                .iter()
                .find(|(d, _, n)| *d == db.name && *n == v)
            else {
                continue;
            };
            if *held != group {
                let name = |g: GroupId| db.groups.get(g).map_or("?", |g| g.name.as_str());
                if v == USER_LOCKS {
                    return Err(crate::error::Error::unsupported(format!(
                        "{USER_LOCKS} in a statement on group '{}' while this session's \
                         locks are held on group '{}' (there they would look free): use \
                         them in statements without tables",
                        name(group),
                        name(*held)
                    )));
                }
                return Err(crate::error::Error::unsupported(format!(
                    "reading user variable {v} on group '{}' after a statement (SELECT ... \
                     INTO, :=) gave it a value on group '{}' only: there it is NULL; give \
                     the value with SET {v} = ... instead",
                    name(group),
                    name(*held)
                )));
            }
        }
        Ok(())
    }

    /// Remembers a write to `group` (with its GTID when known).
    pub fn record_write(&mut self, db: &Arc<Database>, group: GroupId, gtid: Option<String>) {
        let now = Instant::now();
        match self
            .wrote
            .iter_mut()
            .find(|w| w.group == group && w.db.name == db.name)
        {
            Some(w) => {
                w.at = now;
                w.gtid = gtid;
                w.caught_up = 0;
            }
            None => self.wrote.push(Written {
                db: db.clone(),
                group,
                at: now,
                gtid,
                caught_up: 0,
            }),
        }
    }

    /// Groups written to whose GTID is not known yet (gtid mode, at COMMIT).
    pub fn pending_gtids(&self) -> Vec<(Arc<Database>, GroupId)> {
        self.wrote
            .iter()
            .filter(|w| w.gtid.is_none())
            .map(|w| (w.db.clone(), w.group))
            .collect()
    }

    /// Restarts the window of every group written to (at the end of a transaction: its
    /// writes became visible at COMMIT, not when they ran).
    pub fn refresh_writes(&mut self) {
        if self.wrote.is_empty() {
            return;
        }
        let now = Instant::now();
        for w in &mut self.wrote {
            w.at = now;
        }
    }

    /// The GTID replica `replica` of `group` must reach before it serves this session, if
    /// it is not known to have reached it already.
    pub fn gtid_to_wait(&self, db: &str, group: GroupId, replica: u16) -> Option<&str> {
        if self.wrote.is_empty() {
            return None;
        }
        let w = self.find(db, group)?;
        let bit = 1u64.checked_shl(replica as u32).unwrap_or(0);
        if w.caught_up & bit != 0 {
            return None;
        }
        w.gtid.as_deref()
    }

    /// Replica `replica` of `group` has applied the session's last write there.
    pub fn caught_up(&mut self, db: &str, group: GroupId, replica: u16) {
        let bit = 1u64.checked_shl(replica as u32).unwrap_or(0);
        if let Some(w) = self
            .wrote
            .iter_mut()
            .find(|w| w.group == group && w.db.name == db)
        {
            w.caught_up |= bit;
        }
    }

    pub fn uses_gtid(mode: ReadYourWrites) -> bool {
        mode == ReadYourWrites::Gtid
    }

    /// Applies `SET @shardgate_master = <value>` if `sql` is that statement.
    pub fn observe_set(&mut self, sql: &str) {
        if let Some(on) = parse_master_variable(sql) {
            self.force_master = on;
        }
        // SET is replayed on every connection: what it assigns is everywhere.
        if sql.contains('@') && !self.variable_groups.is_empty() {
            for v in crate::plan::assigned_user_variables(sql, true) {
                self.variable_groups.retain(|(_, _, n)| *n != v);
            }
        }
    }
}

/// `SET @shardgate_master = 1|0|ON|OFF|TRUE|FALSE` (also `:=`), one assignment only.
fn parse_master_variable(sql: &str) -> Option<bool> {
    let s = sql.trim().trim_end_matches(';').trim_end();
    let rest = strip_word(s, "SET")?.trim_start();
    let rest = strip_word(rest, MASTER_VARIABLE)?.trim_start();
    let rest = rest
        .strip_prefix(":=")
        .or_else(|| rest.strip_prefix('='))?
        .trim();
    let value = rest.trim_matches('\'').trim_matches('"');
    match value.to_ascii_lowercase().as_str() {
        "1" | "on" | "true" => Some(true),
        "0" | "off" | "false" | "null" => Some(false),
        _ => None,
    }
}

/// An `@name` that is not an `@@system` variable (a false alarm, e.g. inside a string, only
/// costs a read on the master).
/// User-level locks (GET_LOCK and friends) live on the connection that took them, like an
/// assigned variable: tracked under this name.
const USER_LOCKS: &str = "user-level locks (GET_LOCK)";

fn mentions_user_lock(sql: &str) -> bool {
    may_call(sql, LOCK_SUFFIX)
        && (mentions(sql, b"get_lock")
            || mentions(sql, b"is_free_lock")
            || mentions(sql, b"is_used_lock")
            || mentions(sql, b"release_lock")
            || mentions(sql, b"release_all_locks"))
}

fn mentions_user_variable(sql: &str) -> bool {
    let b = sql.as_bytes();
    has_at_sign(sql)
        && b.iter()
            .enumerate()
            .any(|(i, &c)| c == b'@' && b.get(i + 1) != Some(&b'@') && (i == 0 || b[i - 1] != b'@'))
}

/// LAST_INSERT_ID() is per connection: only the master's has the session's value.
fn mentions_last_insert_id(sql: &str) -> bool {
    may_call(sql, LAST_INSERT_ID)
}

/// Case-insensitive substring test (lower-case `needle`), without allocating.
#[inline]
fn mentions(sql: &str, needle: &[u8]) -> bool {
    super::mentions::mentions(sql.as_bytes(), needle)
}

fn strip_word<'a>(s: &'a str, word: &str) -> Option<&'a str> {
    let head = s.get(..word.len())?;
    head.eq_ignore_ascii_case(word).then(|| &s[word.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_session_switch() {
        assert_eq!(
            parse_master_variable("SET @shardgate_master = 1"),
            Some(true)
        );
        assert_eq!(
            parse_master_variable("set @SHARDGATE_MASTER:=0;"),
            Some(false)
        );
        assert_eq!(
            parse_master_variable("SET @shardgate_master='ON'"),
            Some(true)
        );
        assert_eq!(
            parse_master_variable("SET @shardgate_master = 1, @a = 2"),
            None
        );
        assert_eq!(parse_master_variable("SET @other = 1"), None);
        assert_eq!(parse_master_variable("SELECT 1"), None);
    }

    fn db(name: &str) -> Arc<Database> {
        Arc::new(Database {
            name: name.to_string(),
            default_group: 0,
            groups: Vec::new(),
            tables: Default::default(),
            source: Default::default(),
            layout_override: false,
            physical_index: Default::default(),
        })
    }

    #[test]
    fn remembers_writes_per_group_and_which_replicas_caught_up() {
        let mut r = ReadSplit::default();
        let d = db("db");
        assert!(r.find("db", 0).is_none());
        r.record_write(&d, 0, Some("0-1-5".into()));
        assert!(r.find("db", 0).is_some());
        assert!(r.find("db", 1).is_none() && r.find("other", 0).is_none());
        assert_eq!(r.gtid_to_wait("db", 0, 1), Some("0-1-5"));
        r.caught_up("db", 0, 1);
        assert_eq!(r.gtid_to_wait("db", 0, 1), None);
        assert_eq!(r.gtid_to_wait("db", 0, 0), Some("0-1-5"));
        r.record_write(&d, 0, None);
        assert_eq!(r.gtid_to_wait("db", 0, 1), None);
        assert_eq!(r.pending_gtids().len(), 1);
        assert!(mentions_last_insert_id("select Last_Insert_Id()"));
        assert!(!mentions_last_insert_id("select 1"));
        assert!(mentions_user_variable("SELECT @v"));
        assert!(!mentions_user_variable("SELECT @@port, @@session.sql_mode"));
        let d2 = db("db2");
        assert_eq!(r.sticky_server(&d, 0, "SELECT 1"), None);
        assert_eq!(r.sticky_server(&d, 0, "SELECT FOUND_ROWS()"), None);
        assert_eq!(
            r.sticky_server(&d, 0, "SELECT ROW_COUNT()"),
            Some(ServerRef::Master)
        );
        r.ran_on(&d, 0, ServerRef::Replica(1));
        assert_eq!(
            r.sticky_server(&d, 0, "select row_count()"),
            Some(ServerRef::Replica(1))
        );
        assert_eq!(
            r.sticky_server(&d2, 0, "select row_count()"),
            Some(ServerRef::Master)
        );
    }
}
