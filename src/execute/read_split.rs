//! Whether a statement may read from a replica: per session, cheap enough for every
//! statement (a few flag tests; the clock is read only by sessions that wrote recently).
//!
//! The master serves writes, locking reads (the planner marks them `is_write`), everything
//! while a transaction is open or autocommit is off, statements carrying the hint
//! `/* shardgate:master */`, every read of a session that ran `SET @shardgate_master = 1`,
//! and (while the master is up) a session's reads of a group it wrote to within
//! `master_after_write` (so it reads its own writes, and LAST_INSERT_ID() or temporary
//! tables it just made).

use std::time::{Duration, Instant};

use crate::backend::Access;
use crate::config::model::GroupId;
use crate::plan::{Route, Target};

use super::status;

/// The hint that sends one statement to the master.
pub const MASTER_HINT: &str = "shardgate:master";
/// The user variable that sends a session's reads to the master while it is 1.
pub const MASTER_VARIABLE: &str = "@shardgate_master";

#[derive(Debug, Default)]
pub struct ReadSplit {
    /// `SET @shardgate_master = 1` is in force.
    pub force_master: bool,
    /// When this session last wrote to each (database, group).
    wrote: Vec<(String, GroupId, Instant)>,
}

impl ReadSplit {
    /// Which server kind `target` of `route` needs, given the session's status flags.
    #[inline]
    pub fn access(&self, route: &Route, target: &Target, status: u16, window: Duration) -> Access {
        let in_txn = status & status::IN_TRANS != 0 || status & status::AUTOCOMMIT == 0;
        if route.is_write || in_txn || self.force_master || target.sql.contains(MASTER_HINT) {
            Access::Master
        } else if self.wrote_recently(&route.db.name, target.group, window) {
            Access::PreferMaster
        } else {
            Access::Read
        }
    }

    fn wrote_recently(&self, db: &str, group: GroupId, window: Duration) -> bool {
        if self.wrote.is_empty() || window.is_zero() {
            return false;
        }
        self.wrote
            .iter()
            .any(|(d, g, at)| *g == group && d == db && at.elapsed() < window)
    }

    /// Remembers a write to `group`, so the next reads of it go to the master.
    pub fn record_write(&mut self, db: &str, group: GroupId) {
        let now = Instant::now();
        match self
            .wrote
            .iter_mut()
            .find(|(d, g, _)| *g == group && d == db)
        {
            Some(entry) => entry.2 = now,
            None => self.wrote.push((db.to_string(), group, now)),
        }
    }

    /// Restarts the window of every group written to (at the end of a transaction).
    pub fn refresh_writes(&mut self) {
        if self.wrote.is_empty() {
            return;
        }
        let now = Instant::now();
        for entry in &mut self.wrote {
            entry.2 = now;
        }
    }

    /// Applies `SET @shardgate_master = <value>` if `sql` is that statement.
    pub fn observe_set(&mut self, sql: &str) {
        if let Some(on) = parse_master_variable(sql) {
            self.force_master = on;
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

    #[test]
    fn remembers_writes_per_group_for_the_window() {
        let mut r = ReadSplit::default();
        let w = Duration::from_secs(60);
        assert!(!r.wrote_recently("db", 0, w));
        r.record_write("db", 0);
        assert!(r.wrote_recently("db", 0, w));
        assert!(!r.wrote_recently("db", 1, w));
        assert!(!r.wrote_recently("other", 0, w));
        assert!(!r.wrote_recently("db", 0, Duration::ZERO));
    }
}
