//! ROW_COUNT() and LAST_INSERT_ID() inside a larger statement (`SELECT ROW_COUNT() + 0`,
//! `SELECT LAST_INSERT_ID(), ROW_COUNT()`, `INSERT ... VALUES (LAST_INSERT_ID(), ...)`)
//! are evaluated by the server the statement reaches, from that connection's own previous
//! statement and last generated id. Through the proxy the previous statement may have run
//! on another group, or on several shards, so that server answers about something else:
//! a plausible wrong number (0 or -1 where one server says 1). (The forms alone are answered
//! from the session, see `answer_last_insert_id`; a multiplexed session that gave its
//! connections back refuses them, see `session::multiplexed_use`.)
//!
//! So the session remembers which connection ran the previous statement alone, and which
//! one reported the session's last generated id; such a statement runs only on that
//! connection (one without a table is moved there), and is refused (1235) otherwise.

use std::sync::Arc;

use mysql_async::prelude::Queryable;

use crate::backend::ServerRef;
use crate::config::model::{Database, GroupId};
use crate::error::Error;
use crate::plan::lexer::{significant, Kind};
use crate::plan::statement_words::{
    may_call, may_call_or_read_variable, mentioned, AT_AT, LAST_INSERT_ID, ROW_COUNT,
};
use crate::plan::{ResultRewrite, Route};

use super::Session;

/// One backend connection of the session.
#[derive(Debug, Clone)]
pub struct ConnAt {
    pub db: Arc<Database>,
    pub group: GroupId,
    pub server: ServerRef,
    /// The backend thread id: a different connection there knows nothing of the statement.
    pub conn_id: u32,
}

/// Which of the two values a statement asks its server for.
fn asks(sql: &str) -> (bool, bool) {
    // Every statement passes here. Both values are read by a call or a `@@` variable.
    if !may_call_or_read_variable(sql) {
        return (false, false);
    }
    let words = mentioned(sql);
    if !(words.may_call(ROW_COUNT) || words.may_call(LAST_INSERT_ID) || words.has(AT_AT)) {
        return (false, false);
    }
    let toks: Vec<_> = significant(sql).collect();
    let call = |i: usize, name: &str| {
        toks[i].is_name(sql, name) && toks.get(i + 1).is_some_and(|t| t.kind == Kind::Punct(b'('))
    };
    let (mut row_count, mut insert_id) = (false, false);
    for i in 0..toks.len() {
        row_count |= call(i, "ROW_COUNT");
        insert_id |= crate::plan::insert_id_read_at(&toks, i, sql).is_some();
    }
    (row_count, insert_id)
}

/// The statement calls `LAST_INSERT_ID(expr)`, which sets the connection's value: a SELECT
/// reports it in no OK packet, so the session's copy is stale until asked there.
pub fn sets_insert_id(sql: &str) -> bool {
    if !may_call(sql, LAST_INSERT_ID) {
        return false;
    }
    let toks: Vec<_> = significant(sql).collect();
    toks.windows(3).any(|w| {
        w[0].is_name(sql, "LAST_INSERT_ID")
            && w[1].kind == Kind::Punct(b'(')
            && w[2].kind != Kind::Punct(b')')
    })
}

/// What the session's LAST_INSERT_ID() is while a statement that calls
/// `LAST_INSERT_ID(expr)` is about to run alone (`InsertIdBefore::of`).
///
/// Why it matters: such a statement may never evaluate its call (no row matched), and then
/// leaves its connection's value as it was. A stateless session gives its connections back
/// without a reset, so that value may be another client's generated id, which the session
/// would read next (`SELECT LAST_INSERT_ID()` runs where the call ran). So the connection is
/// first given the session's own value (`prime`); where that value is not known, the
/// session's later reads of it are refused instead (`insert_id_conn` stays empty).
#[derive(Debug)]
pub enum InsertIdBefore {
    /// The session's value, to set on the connection first.
    Known(u64),
    /// It lives on this connection of the session (an earlier call ran there): the
    /// statement needs nothing first if it runs on that very connection.
    On(ConnAt),
    /// Not known here (an earlier call ran on several shards, or its connection went back), or
    /// the statement also reads the connection's previous statement (ROW_COUNT(),
    /// FOUND_ROWS()), which a statement run first would replace.
    Unknown,
}

impl InsertIdBefore {
    /// None: `route` does not call `LAST_INSERT_ID(expr)` on one target.
    pub fn of(route: &Route, session: &Session) -> Option<InsertIdBefore> {
        let [target] = route.targets.as_slice() else {
            return None;
        };
        // A call needs a parenthesis: most statements are let go without a word lookup.
        if !target.sql.as_bytes().contains(&b'(') || !sets_insert_id(&target.sql) {
            return None;
        }
        // Calls, not words: `SQL_CALC_FOUND_ROWS` calls nothing.
        if asks(&target.sql).0 || super::found_rows::calls_found_rows(&target.sql) {
            return Some(InsertIdBefore::Unknown);
        }
        Some(
            match (&session.insert_id_conn, session.insert_id_from_expr) {
                (_, false) => InsertIdBefore::Known(session.last_insert_id),
                (Some(c), true) => InsertIdBefore::On(c.clone()),
                (None, true) => InsertIdBefore::Unknown,
            },
        )
    }

    /// Reads a value that lives on another connection of the session than `group`'s, so the
    /// statement's own connection can be given it.
    pub async fn resolve(self, db: &Database, group: GroupId, session: &mut Session) -> Self {
        let InsertIdBefore::On(c) = self else {
            return self;
        };
        if c.db.name == db.name && c.group == group {
            // Perhaps the very connection the statement gets: decided once it has one.
            return InsertIdBefore::On(c);
        }
        let found_rows_there = matches!(
            &session.found_rows,
            super::found_rows::FoundRows::Connection { db, group, server, conn_id }
                if db.name == c.db.name
                    && *group == c.group
                    && *server == c.server
                    && *conn_id == c.conn_id
        );
        let Some(conn) = session.conns.held(&c.db, c.group, c.server) else {
            return InsertIdBefore::Unknown;
        };
        if conn.id() != c.conn_id {
            return InsertIdBefore::Unknown;
        }
        // The read is a SELECT, which replaces the connection's FOUND_ROWS(): where the
        // session asks that there, the value it had is read along and kept by the session.
        let read = "SELECT LAST_INSERT_ID(), FOUND_ROWS()";
        match conn.query_first::<(u64, u64), _>(read).await {
            Ok(Some((id, found))) => {
                if found_rows_there {
                    session.found_rows = super::found_rows::FoundRows::Known(found);
                }
                InsertIdBefore::Known(id)
            }
            _ => InsertIdBefore::Unknown,
        }
    }

    /// Gives `conn` the session's value before the statement runs on it; true if `conn`
    /// holds the session's value from then on.
    pub async fn prime(&self, conn: &mut mysql_async::Conn) -> Result<bool, Error> {
        match self {
            InsertIdBefore::Known(v) => {
                conn.query_drop(format!("DO LAST_INSERT_ID({v})")).await?;
                Ok(true)
            }
            InsertIdBefore::On(c) => Ok(conn.id() == c.conn_id),
            InsertIdBefore::Unknown => Ok(false),
        }
    }
}

/// Where a statement asking ROW_COUNT() / LAST_INSERT_ID() must run (`place`).
#[derive(Debug)]
pub enum Placement {
    /// It asks neither, or already runs where it must.
    AsRouted,
    /// A statement without a table, moved to the connection that ran the statement it is
    /// about.
    Moved(ConnAt),
    /// The session has generated no id, but the connection the statement reaches may hold
    /// another session's (a stateless session gives its connections back without a
    /// reset): its reads of the id become 0 (`plan::with_no_insert_id`).
    NoInsertIdYet,
}

/// Where `route` must run for its ROW_COUNT() / LAST_INSERT_ID() to be the session's, or
/// `Err` to refuse it. SHOW VARIABLES and information_schema.SESSION_VARIABLES read the last
/// insert id as a row.
pub fn place(route: &Route, session: &mut Session) -> Result<Placement, Error> {
    let Some(first) = route.targets.first() else {
        return Ok(Placement::AsRouted);
    };
    let no_table = route.reason == crate::plan::NO_TABLE_REASON && route.targets.len() == 1;
    if no_table
        && (crate::plan::row_count_query(&first.sql).is_some()
            || crate::plan::last_insert_id_query(&first.sql).is_some()
                && !session.insert_id_from_expr)
    {
        // Alone, the session answers it (`answer_last_insert_id`).
        return Ok(Placement::AsRouted);
    }
    let (row_count, mut insert_id) = asks(&first.sql);
    if let ResultRewrite::InsertIdVariables { filtered, .. } = route.result_rewrite {
        // Unfiltered, the session's value replaces the server's in the rows.
        insert_id |= filtered || session.insert_id_from_expr;
    }
    let system_read = route.reason == crate::plan::SYSTEM_SCHEMA_REASON && route.targets.len() == 1;
    insert_id |= route.result_rewrite == ResultRewrite::InsertIdRows;
    if !row_count && !insert_id {
        return Ok(Placement::AsRouted);
    }
    let mut wanted: Vec<(&str, Option<ConnAt>)> = Vec::new();
    if row_count {
        wanted.push(("ROW_COUNT()", session.row_count_conn.clone()));
    }
    if insert_id && (session.last_insert_id != 0 || session.insert_id_from_expr) {
        wanted.push(("LAST_INSERT_ID()", session.insert_id_conn.clone()));
    }
    let no_id_yet = insert_id && session.last_insert_id == 0 && !session.insert_id_from_expr;
    if no_id_yet && route.result_rewrite == ResultRewrite::InsertIdRows {
        return Err(Error::unsupported(
            "information_schema SESSION_VARIABLES / SYSTEM_VARIABLES before the session's first \
             insert (the pooled connection it reaches may hold another session's last insert \
             id; SHOW VARIABLES shows the session's own)"
                .to_string(),
        ));
    }
    let Some((_, conn)) = wanted.first().cloned() else {
        // LAST_INSERT_ID() with no id generated yet: 0, whatever the connection holds.
        return Ok(if no_id_yet {
            Placement::NoInsertIdYet
        } else {
            Placement::AsRouted
        });
    };
    let refuse = |what: &str, why: &str| {
        Err(Error::unsupported(format!(
            "{what} inside a larger statement {why}: ask `SELECT {what}` alone (shardgate \
             answers it), or use the OK packet's affected rows and insert id"
        )))
    };
    for (what, c) in &wanted {
        match (c, &conn) {
            (Some(c), Some(first)) if same(c, first) => {}
            _ => {
                return refuse(
                    what,
                    "when the statement it is about did not run alone on one connection the \
                     session still holds",
                )
            }
        }
    }
    let conn = conn.expect("checked above");
    let held = session
        .conns
        .held(&conn.db, conn.group, conn.server)
        .map(|c| c.id());
    if held != Some(conn.conn_id) {
        return refuse(
            wanted[0].0,
            "whose previous statement's connection went back to the pool",
        );
    }
    let there = route.targets.len() == 1
        && route.db.name.eq_ignore_ascii_case(&conn.db.name)
        && first.group == conn.group;
    if there {
        return Ok(Placement::AsRouted);
    }
    // Neither reads a table of the database, so any group of it answers the same.
    let movable = no_table
        || system_read
        || matches!(
            route.result_rewrite,
            ResultRewrite::InsertIdVariables { .. }
        );
    if movable {
        return Ok(Placement::Moved(conn));
    }
    refuse(
        wanted[0].0,
        &format!(
            "routed to another place than group '{}' of database '{}', where the statement \
             it is about ran",
            super::txn::group_name(&conn.db, conn.group),
            conn.db.name
        ),
    )
}

/// `route` (one target without a table) on `conn`'s group instead of the default group.
pub fn moved(route: &Route, conn: &ConnAt) -> Route {
    let mut moved = route.clone();
    moved.db = conn.db.clone();
    moved.targets.truncate(1);
    moved.targets[0].group = conn.group;
    moved.targets[0].shard = None;
    // Not the planner's no-table reason: a transaction must not move it elsewhere.
    moved.reason = format!(
        "ROW_COUNT() / LAST_INSERT_ID(): on the connection of group '{}' that ran the \
         statement it is about",
        super::txn::group_name(&conn.db, conn.group)
    );
    moved
}

fn same(a: &ConnAt, b: &ConnAt) -> bool {
    a.db.name == b.db.name && a.group == b.group && a.server == b.server && a.conn_id == b.conn_id
}

#[cfg(test)]
mod tests {
    use super::asks;

    #[test]
    fn finds_reads_of_the_previous_statement() {
        assert_eq!(asks("SELECT ROW_COUNT() + 0"), (true, false));
        assert_eq!(asks("select last_insert_id ( ), 1"), (false, true));
        assert_eq!(asks("SELECT LAST_INSERT_ID(7)"), (false, false));
        assert_eq!(asks("SELECT @@identity"), (false, true));
        assert_eq!(asks("SELECT @@session.identity"), (false, true));
        assert_eq!(asks("SELECT @@LOCAL.last_insert_id"), (false, true));
        assert_eq!(asks("SELECT identity FROM t"), (false, false));
        assert_eq!(asks("SELECT row_count FROM t"), (false, false));
        assert!(super::sets_insert_id("SELECT LAST_INSERT_ID(42)"));
        assert!(!super::sets_insert_id("SELECT LAST_INSERT_ID()"));
    }
}
