//! FOUND_ROWS() as one server would answer it. On one server it is about the last statement
//! that set it on the connection: a SELECT (the rows it found up to its LIMIT, or all of them
//! with SQL_CALC_FOUND_ROWS), SHOW, or a statement with a subquery; INSERT ... VALUES,
//! UPDATE and DELETE without subqueries, DDL, SET and transaction control leave it alone.
//! Through the proxy that statement may have run on another group's connection, or on
//! several shards at once. So the session remembers where the answer is:
//! - one target: the connection (group, server, backend thread) that ran it; FOUND_ROWS()
//!   is asked there, also when the read went to a replica. A multiplexed session keeps that
//!   connection only after SQL_CALC_FOUND_ROWS (see `session::multiplexed_use`); otherwise it
//!   went back to the pool, and FOUND_ROWS() is refused rather than asked of another client's
//!   connection.
//! - several shards: the merge computed it: the rows it passed to OFFSET / LIMIT before LIMIT
//!   stopped it (what one server counts without SQL_CALC_FOUND_ROWS), or with
//!   SQL_CALC_FOUND_ROWS the sum of each shard's own FOUND_ROWS() (each shard keeps the
//!   modifier and counts past its LIMIT; exact because every merged row is one shard's row;
//!   merges that combine rows of several shards into one refuse it). `SELECT FOUND_ROWS()`
//!   alone is then answered by the proxy, as `SELECT COALESCE(<n>, FOUND_ROWS())`, which has
//!   the server's column type.

use std::sync::Arc;

use crate::backend::ServerRef;
use crate::config::model::{Database, GroupId};
use crate::error::Error;
use crate::plan::lexer::{significant, Kind};
use crate::plan::statement_words::{may_call, mentioned, FOUND_ROWS, SELECT, SQL_CALC_FOUND_ROWS};
use crate::plan::{Route, Target};

use super::{route, Context, Failure, ResultSink, Session};

/// Where the session's FOUND_ROWS() answer is.
#[derive(Debug, Clone)]
pub enum FoundRows {
    /// Ask this connection: the last statement that set it ran there alone.
    Connection {
        db: Arc<Database>,
        group: GroupId,
        server: ServerRef,
        /// The backend thread id: another connection there would answer for another client.
        conn_id: u32,
    },
    /// The proxy computed it (a read over several shards).
    Known(u64),
    /// A statement over several shards set it in a way the proxy cannot count (how it was
    /// routed, for the refusal).
    Unknown(String),
}

impl Default for FoundRows {
    fn default() -> Self {
        FoundRows::Known(0)
    }
}

/// The statement may set FOUND_ROWS on the server: a SELECT anywhere in it, or SHOW / CALL.
pub fn sets_found_rows(sql: &str) -> bool {
    let head = sql.trim_start().as_bytes();
    let starts = |w: &[u8]| head.len() >= w.len() && head[..w.len()].eq_ignore_ascii_case(w);
    let maybe = mentioned(sql).has(SELECT)
        || [
            &b"show"[..],
            b"call",
            b"desc",
            b"handler",
            b"/*",
            b"--",
            b"#",
        ]
        .iter()
        .any(|w| starts(w));
    if !maybe {
        return false;
    }
    let mut toks = significant(sql).filter(|t| t.kind == Kind::Word);
    let Some(first) = toks.next() else {
        return false;
    };
    ["SELECT", "SHOW", "CALL", "DESC", "DESCRIBE", "HANDLER"]
        .iter()
        .any(|w| first.is_word(sql, w))
        || toks.any(|t| t.is_word(sql, "SELECT"))
}

/// The statement asks SQL_CALC_FOUND_ROWS (a reserved word, valid only as a SELECT modifier).
pub fn calc_found_rows(sql: &str) -> bool {
    mentioned(sql).has(SQL_CALC_FOUND_ROWS)
        && significant(sql).any(|t| t.kind == Kind::Word && t.is_word(sql, "SQL_CALC_FOUND_ROWS"))
}

/// The statement calls FOUND_ROWS().
pub(crate) fn calls_found_rows(sql: &str) -> bool {
    if !may_call(sql, FOUND_ROWS) {
        return false;
    }
    let toks: Vec<_> = significant(sql).collect();
    toks.windows(2)
        .any(|w| w[0].is_name(sql, "FOUND_ROWS") && w[1].kind == Kind::Punct(b'('))
}

/// Runs a statement that calls FOUND_ROWS() where its answer is; `None` for other
/// statements.
pub async fn answer<S: ResultSink>(
    route: &Route,
    ctx: &Context<'_>,
    session: &mut Session,
    sink: &mut S,
) -> Option<Result<(), Failure>> {
    let [only] = route.targets.as_slice() else {
        return None;
    };
    if !ctx.read_by_syntax(|| calls_found_rows(&only.sql)) {
        return None;
    }
    let alone = crate::plan::found_rows_query(&only.sql);
    Some(match (session.found_rows.clone(), alone) {
        (FoundRows::Known(n), Some(name)) => {
            let mut asked = route.clone();
            asked.targets[0].sql = crate::plan::found_rows_sql(n, &name);
            route::run(&asked, ctx, session, sink).await
        }
        (FoundRows::Known(_), None) => Err(Failure::Query(Error::unsupported(
            "FOUND_ROWS() inside a larger statement after a read over several shards (shardgate \
             computed its value): use `SELECT FOUND_ROWS()` alone"
                .to_string(),
        ))),
        (FoundRows::Unknown(why), _) => Err(Failure::Query(Error::unsupported(format!(
            "FOUND_ROWS() after a statement over several shards that counts rows on each \
             ({why}): ask with SQL_CALC_FOUND_ROWS in a SELECT, or COUNT(*)"
        )))),
        (
            FoundRows::Connection {
                db,
                group,
                server,
                conn_id,
            },
            _,
        ) => on_connection(route, only, &db, group, server, conn_id, ctx, session, sink).await,
    })
}

/// Asks the connection that ran the previous statement.
#[allow(clippy::too_many_arguments)]
async fn on_connection<S: ResultSink>(
    route: &Route,
    only: &Target,
    db: &Arc<Database>,
    group: GroupId,
    server: ServerRef,
    conn_id: u32,
    ctx: &Context<'_>,
    session: &mut Session,
    sink: &mut S,
) -> Result<(), Failure> {
    let same_place = route.db.name.eq_ignore_ascii_case(&db.name) && only.group == group;
    let no_table = route.reason == crate::plan::NO_TABLE_REASON;
    if !(same_place || no_table) {
        return Err(Failure::Query(Error::unsupported(format!(
            "FOUND_ROWS() in a statement routed to group '{}' of database '{}', while the \
             statement it is about ran on group '{}' of database '{}': use `SELECT \
             FOUND_ROWS()` alone",
            super::txn::group_name(&route.db, only.group),
            route.db.name,
            super::txn::group_name(db, group),
            db.name
        ))));
    }
    let held = session.conns.held(db, group, server).map(|c| c.id());
    if held != Some(conn_id) {
        return Err(Failure::Query(Error::unsupported(
            "FOUND_ROWS() about a previous statement whose connection went back to the pool \
             (multiplexing, [backend] multiplex): use SQL_CALC_FOUND_ROWS in that SELECT (it \
             keeps the session on its connection)"
                .to_string(),
        )));
    }
    let asked = Route {
        db: db.clone(),
        targets: vec![Target {
            group,
            shard: only.shard.filter(|_| same_place),
            sql: only.sql.clone(),
        }],
        is_write: false,
        result_rewrite: route.result_rewrite.clone(),
        // Not the planner's no-table reason: a transaction must not move it elsewhere.
        reason: format!(
            "FOUND_ROWS(): on the connection of group '{}' that ran the previous statement",
            super::txn::group_name(db, group)
        ),
        spread: route.spread,
        generated_id: None,
        all_shards: false,
        first_row_target: 0,
    };
    route::run_at(&asked, Some(server), ctx, session, sink).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_statements_set_found_rows() {
        assert!(sets_found_rows("SELECT * FROM t"));
        assert!(sets_found_rows("(select 1)"));
        assert!(sets_found_rows("SHOW TABLES"));
        assert!(sets_found_rows(
            "UPDATE t SET a = 1 WHERE b IN (SELECT b FROM u)"
        ));
        assert!(sets_found_rows("INSERT INTO t SELECT * FROM u"));
        assert!(!sets_found_rows("INSERT INTO t VALUES (1)"));
        assert!(!sets_found_rows("UPDATE t SET a = 'select'"));
        assert!(!sets_found_rows("CREATE TABLE t (a INT)"));
    }

    #[test]
    fn recognises_calc_and_calls() {
        assert!(calc_found_rows("SELECT SQL_CALC_FOUND_ROWS a FROM t"));
        assert!(!calc_found_rows("SELECT 'SQL_CALC_FOUND_ROWS' FROM t"));
        assert!(calls_found_rows("SELECT FOUND_ROWS() + 1"));
        assert!(calls_found_rows("select found_rows ( )"));
        assert!(!calls_found_rows("SELECT found_rows FROM t"));
    }
}
