//! Runs a plan: sends each shard query on the session's connection to the right group and
//! streams the answer into a `ResultSink`.

pub mod columns;
pub mod diagnostics;
pub mod found_rows;
pub mod info;
pub mod like;
pub mod logical_names;
mod materialize;
pub mod merge;
mod previous_conn;
pub mod read_split;
mod renamed_columns;
pub mod route;
pub mod session;
pub mod show;
pub mod sink;
mod spread;
mod tableless;
mod target;
pub use target::warnings_gone;
pub mod txn;
mod wire_read;
pub use wire_read::text_cells;
pub mod xa;

use std::io;
use std::sync::Arc;

use crate::backend::{Backends, SessionConns};
use crate::config::model::{Database, Rules};
use crate::error::Error;
use crate::plan::mentions;
use crate::plan::{Plan, Syntax};

pub use sink::{ColumnRename, ForwardedExecute, OkInfo, ResultSink, RowFormat};

/// Server status bits (protocol constants).
pub mod status {
    pub const IN_TRANS: u16 = 0x0001;
    pub const AUTOCOMMIT: u16 = 0x0002;
    pub const MORE_RESULTS_EXISTS: u16 = 0x0008;
    const NO_BACKSLASH_ESCAPES: u16 = 0x0200;
    const IN_TRANS_READONLY: u16 = 0x2000;

    /// The flags of an answer that describe the session rather than the statement: what the
    /// session keeps for the answers it makes later (a column EOF, SHOW WARNINGS). A read's
    /// NO_INDEX_USED, MORE_RESULTS or METADATA_CHANGED is that statement's alone; a hostile
    /// round saw a read's NO_INDEX_USED on the next statements' answers.
    pub fn lasting(status: u16) -> u16 {
        status & (IN_TRANS | AUTOCOMMIT | NO_BACKSLASH_ESCAPES | IN_TRANS_READONLY)
    }
}

/// A client session as execution sees it.
pub struct Session {
    pub current_db: Option<Arc<Database>>,
    /// The rules the session's statements are planned with: the process's current ones,
    /// except while a transaction holds connections, which finishes on the rules it started
    /// with (a reload must not renumber or move what it is working on).
    pub rules: Option<Arc<Rules>>,
    /// After `USE information_schema` (or another system schema): unqualified table names
    /// are that schema's, read through `current_db`'s default group.
    pub system_schema: Option<String>,
    pub conns: SessionConns,
    /// Status flags of the last backend answer, reported on answers the proxy makes itself.
    pub status: u16,
    /// What decides between master and replicas for this session's reads.
    pub reads: read_split::ReadSplit,
    /// The open transaction, if any, and autocommit.
    pub txn: txn::Txn,
    /// LAST_INSERT_ID() as the client would see it on one server: the last non-zero id an
    /// OK packet reported.
    pub last_insert_id: u64,
    /// ROW_COUNT() as one server would answer it: the previous statement's affected rows,
    /// -1 after a result set, 0 after statements the proxy answers.
    pub last_row_count: i64,
    /// The connection that ran the previous statement alone (its ROW_COUNT() is the
    /// session's), if one did.
    pub row_count_conn: Option<previous_conn::ConnAt>,
    /// The connection whose OK packet gave `last_insert_id`, if one alone did.
    pub insert_id_conn: Option<previous_conn::ConnAt>,
    /// `LAST_INSERT_ID(expr)` set the value on `insert_id_conn` (or on several shards, when
    /// that is `None`): `last_insert_id` is stale and the connection is asked instead.
    pub insert_id_from_expr: bool,
    /// Warnings of the last routed statement: while there are some, a multiplexed session
    /// keeps the connection that has them, for SHOW WARNINGS.
    pub last_warnings: u16,
    /// The error the last statement (other than SHOW WARNINGS and its kin) ended with, as
    /// the client got it: SHOW WARNINGS lists it, whether a backend or the proxy raised it
    /// and whether or not a connection of the statement is still held.
    pub last_error: Option<(u16, String)>,
    /// sql_select_limit is set to a cap: each shard would apply it to its own rows, so
    /// reads over several shards are refused while it is.
    pub select_limited: bool,
    /// The session's sql_mode as its backend connections report it after a SET that named
    /// sql_mode; `None` while it is the servers' global default.
    pub sql_mode: Option<crate::plan::SqlMode>,
    /// Where FOUND_ROWS() is answered (see `found_rows`).
    pub found_rows: found_rows::FoundRows,
    /// character_set_client: queries are decoded from it for planning and shard queries
    /// encoded back to it.
    pub charset: crate::plan::charset::ClientCharset,
    /// The shard parts of the running statement, for its statistics (`stats`).
    pub trace: crate::stats::Trace,
    /// Cached tables (`cache_ttl_ms`) the open transaction may have written: their cached
    /// answers are invalidated again when it ends, as its rows become visible then.
    pub cache_written: Vec<(String, String)>,
}

impl Default for Session {
    fn default() -> Self {
        Session {
            current_db: None,
            rules: None,
            system_schema: None,
            conns: SessionConns::default(),
            status: status::AUTOCOMMIT,
            reads: Default::default(),
            txn: txn::Txn::default(),
            last_insert_id: 0,
            last_row_count: 0,
            row_count_conn: None,
            insert_id_conn: None,
            insert_id_from_expr: false,
            last_warnings: 0,
            last_error: None,
            select_limited: false,
            sql_mode: None,
            found_rows: Default::default(),
            charset: Default::default(),
            trace: Default::default(),
            cache_written: Vec::new(),
        }
    }
}

impl Session {
    /// How the backends read this session's statements: their version and its sql_mode.
    pub fn syntax(&self, servers: &crate::backend::server_syntax::ServerSyntax) -> Syntax {
        servers.syntax(self.sql_mode)
    }

    /// The status flags one server would report: a transaction the proxy opened lazily
    /// (BEGIN not yet sent to any group) is open although the backend that ran the last
    /// statement knows nothing of it.
    pub fn txn_aware_status(&self) -> u16 {
        self.txn_aware_status_of(self.status)
    }

    /// Keeps what a statement's answer says of the session (`status::lasting`) for the
    /// answers the proxy makes later; the answer itself goes out with all its flags.
    pub fn keep_status(&mut self, answered: u16) {
        self.status = status::lasting(answered);
    }

    /// `backend` (the status a backend answered) with the transaction bits the proxy's own
    /// bookkeeping knows: a statement that ran outside the transaction's groups, or an
    /// answer the proxy made, must still show the transaction.
    pub fn txn_aware_status_of(&self, backend: u16) -> u16 {
        if self.txn.active() || self.txn.is_lost() {
            (backend & !(status::IN_TRANS | status::AUTOCOMMIT)) | self.txn.status()
        } else {
            backend
        }
    }
}

/// Why a statement stopped: the client is gone (stop serving it), or the statement failed
/// (tell the client and go on).
#[derive(Debug)]
pub enum Failure {
    Client(io::Error),
    Query(Error),
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::Client(e)
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Query(e)
    }
}

/// Shared, read-only context for running plans.
pub struct Context<'a> {
    pub rules: &'a Rules,
    pub backends: &'a Backends,
    pub limits: crate::config::server::Limits,
    /// The two-phase commit coordinator, in `[transactions] mode = "xa"`.
    pub xa: Option<&'a Arc<xa::Coordinator>>,
    /// How statements are read, for planning one again (`plan::plan_materialized`).
    pub reading: columns::Reading<'a>,
    /// What is known of the sharded tables' columns, forgotten when a merge finds it stale.
    pub column_orders: &'a crate::plan::ColumnOrders,
}

impl Context<'_> {
    /// Runs `check` (a synchronous look at a statement's tokens: does it call FOUND_ROWS(),
    /// assign a user variable, ...) reading the text by the statement's syntax, the session's
    /// sql_mode: under NO_BACKSLASH_ESCAPES `'a\'` is a whole string, and under ANSI_QUOTES
    /// `"FOUND_ROWS"()` calls the function. Outside `plan` the lexer reads by the default.
    pub fn read_by_syntax<T>(&self, check: impl FnOnce() -> T) -> T {
        let _syntax = self.reading.syntax.scope();
        check()
    }
}

/// A merged read that found a column's learned type stale (`Error::MergeNeedsWeights`,
/// before any row reached the client): what was learned is forgotten with every plan made
/// from it (the learner reads the types again, off the session's connections), and the
/// statement planned anew, every key weighted. Should it still not merge, it is answered
/// over copies of the rows.
async fn scatter_with_weights<S: ResultSink>(
    sql: &str,
    ctx: &Context<'_>,
    session: &mut Session,
    sink: &mut S,
) -> Result<(), Failure> {
    ctx.column_orders.sorts.forget_all();
    ctx.rules.plans.forget_all();
    let planned = columns::plan(sql, ctx.column_orders, ctx.reading, ctx, session).await?;
    let Plan::Scatter(again) = planned else {
        return Err(Failure::Query(Error::Internal(
            "a merged read did not plan again as one".into(),
        )));
    };
    match scatter(&again, ctx, session, sink).await {
        Err(Failure::Query(Error::MergeCannotOrder(table) | Error::MergeNeedsWeights(table))) => {
            let why = crate::error::merge_cannot_order(&table);
            materialize::replan(&again.sql, why, ctx, session, sink).await
        }
        outcome => outcome,
    }
}

/// A read over several shards while sql_select_limit caps the session's reads.
fn select_limit_refused(route: &crate::plan::Route, session: &Session) -> bool {
    session.select_limited && !route.is_write && route.targets.len() > 1
}

fn capped_read(what: &str) -> Error {
    Error::unsupported(format!(
        "sql_select_limit in a read over several shards of {what} (each shard would apply it \
         to its own rows; SET sql_select_limit = DEFAULT first)"
    ))
}

/// Runs one plan to completion. Query errors are written to the sink; only a broken client
/// connection comes back as `Err`.
pub async fn run<S: ResultSink>(
    plan: Plan,
    ctx: &Context<'_>,
    session: &mut Session,
    sink: &mut S,
) -> io::Result<bool> {
    if !matches!(
        plan,
        Plan::Route(_) | Plan::Scatter(_) | Plan::Materialize(_)
    ) {
        session.last_row_count = 0;
    }
    if let Some(why) = session.conns.state_lost() {
        let e = Error::SessionStateLost(why.to_string());
        return finish(Err(Failure::Query(e)), sink);
    }
    let placed = match &plan {
        Plan::Route(route) => ctx.read_by_syntax(|| previous_conn::place(route, session)),
        _ => Ok(previous_conn::Placement::AsRouted),
    };
    // Set again by a statement that runs alone on one connection and succeeds.
    session.row_count_conn = None;
    if let Some(e) = txn::refusal(&plan, session).await {
        return finish(Err(Failure::Query(e)), sink);
    }
    if let Some(e) = read_only_pending_write(&plan, session) {
        return finish(Err(Failure::Query(e)), sink);
    }
    let lost_before = session.txn.is_lost();
    let outcome = match plan {
        Plan::Route(route) if select_limit_refused(&route, session) => Err(Failure::Query(
            capped_read(&format!("database '{}'", route.db.name)),
        )),
        Plan::Scatter(s) if select_limit_refused(&s.route, session) => Err(Failure::Query(
            capped_read(&format!("sharded table '{}'", s.merge.table)),
        )),
        Plan::Route(mut route) => {
            let before = (session.insert_id_from_expr, session.insert_id_conn.clone());
            let answered = answer_last_insert_id(&mut route, session);
            let mut spliced = if session.status & status::IN_TRANS != 0 {
                splice_targets(&mut route, ctx, crate::plan::with_in_transaction)
            } else {
                Ok(())
            };
            if let Ok(previous_conn::Placement::NoInsertIdYet) = placed {
                spliced = spliced
                    .and_then(|()| splice_targets(&mut route, ctx, crate::plan::with_no_insert_id));
            }
            if let crate::plan::ResultRewrite::InsertIdVariables { value, .. } =
                &mut route.result_rewrite
            {
                *value = (!session.insert_id_from_expr).then_some(session.last_insert_id);
            }
            let outcome = if let Err(e) = spliced {
                Err(Failure::Query(e))
            } else if let Err(e) = placed {
                Err(Failure::Query(e))
            } else if let Ok(previous_conn::Placement::Moved(conn)) = placed {
                route::run_at(
                    &previous_conn::moved(&route, &conn),
                    Some(conn.server),
                    ctx,
                    session,
                    sink,
                )
                .await
            } else if let Some(outcome) = found_rows::answer(&route, ctx, session, sink).await {
                outcome
            } else if let Err(f) = tableless::reach_a_group(&mut route, ctx, session).await {
                Err(f)
            } else if concurrent_read(&route, session) {
                let spec = crate::plan::merge::MergeSpec::default();
                merge::run(&route, &spec, ctx, session, sink).await
            } else {
                route::run(&route, ctx, session, sink).await
            };
            if answered {
                // The answer's own `LAST_INSERT_ID(<value>)` sets nothing the session lacks.
                (session.insert_id_from_expr, session.insert_id_conn) = before;
            }
            outcome.map_err(|f| logical_names::failure(f, &route.db))
        }
        Plan::Scatter(s) => match scatter(&s, ctx, session, sink).await {
            Err(Failure::Query(Error::MergeCannotOrder(table))) => {
                let why = crate::error::merge_cannot_order(&table);
                materialize::replan(&s.sql, why, ctx, session, sink).await
            }
            Err(Failure::Query(Error::MergeNeedsWeights(_))) => {
                scatter_with_weights(&s.sql, ctx, session, sink).await
            }
            outcome => outcome,
        }
        .map_err(|f| logical_names::failure(f, &s.route.db)),
        Plan::Materialize(m) => materialize::run(&m, ctx, session, sink)
            .await
            .map_err(|f| logical_names::failure(f, &m.db)),
        Plan::Session(stmt) => {
            session.reads.observe_set(&stmt.sql);
            let was_in_txn = session.status & status::IN_TRANS != 0;
            let outcome = session::run_session_statement(&stmt, ctx, session, sink).await;
            if was_in_txn {
                // The transaction's writes become visible at COMMIT, not when they ran.
                session.reads.refresh_writes();
                if read_split::ReadSplit::uses_gtid(ctx.backends.read_your_writes)
                    && session.status & status::IN_TRANS == 0
                {
                    for (db, group) in session.reads.pending_gtids() {
                        let gtid = route::last_gtid(session, ctx, &db, group).await;
                        session.reads.record_write(&db, group, gtid);
                    }
                }
            }
            outcome
        }
        Plan::UseDatabase(name) => session::use_database(&name, ctx, session, sink),
        Plan::ShowDatabases { like } => {
            show::databases(ctx, session, like.as_deref(), sink);
            Ok(())
        }
        Plan::ShowTables {
            db,
            full,
            like,
            sql,
        } => show::tables(&db, full, like.as_deref(), &sql, ctx, session, sink).await,
    };
    let outcome = txn::after_outcome(session, outcome, lost_before).await;
    finish(outcome, sink)
}

/// A read over several shards outside a transaction: the shards run at once (one after the
/// other on the session's connections inside one, where extra connections would not see
/// the transaction's writes).
fn concurrent_read(route: &crate::plan::Route, session: &Session) -> bool {
    route.targets.len() > 1
        && !route.is_write
        && route.result_rewrite == crate::plan::ResultRewrite::Columns
        && session.status & status::IN_TRANS == 0
        && !session.txn.active()
}

/// `SELECT LAST_INSERT_ID()` alone returns the session's value, not the value of whichever
/// connection the statement would reach.
/// A write with autocommit on after `SET TRANSACTION READ ONLY`: the server refuses it
/// (1792) until a transaction takes the characteristic, but the proxy sends the
/// characteristics only where a transaction opens, so the write would have gone through.
fn read_only_pending_write(plan: &Plan, session: &Session) -> Option<crate::error::Error> {
    let route = match plan {
        Plan::Route(r) => r,
        Plan::Scatter(s) => &s.route,
        _ => return None,
    };
    let write = route.is_write && txn::confined_write(route);
    (write && !session.txn.active() && session.txn.read_only_pending()).then(|| {
        crate::error::Error::unsupported(
            "a write with autocommit on after SET TRANSACTION READ ONLY (the server would \
             refuse it with 1792 until a transaction starts; shardgate applies SET \
             TRANSACTION when the transaction starts): START TRANSACTION first, or SET \
             TRANSACTION READ WRITE"
                .to_string(),
        )
    })
}

/// Each target's text through `splice` (a rewrite of the connection values it reads):
/// `@@in_transaction` inside a transaction (`plan::with_in_transaction`), or the last insert
/// id before the session's first insert (`plan::with_no_insert_id`).
fn splice_targets(
    route: &mut crate::plan::Route,
    ctx: &Context<'_>,
    splice: fn(&str) -> crate::error::Result<Option<String>>,
) -> Result<(), crate::error::Error> {
    for target in &mut route.targets {
        if let Some(sql) = ctx.read_by_syntax(|| splice(&target.sql))? {
            target.sql = sql;
        }
    }
    Ok(())
}

/// Returns whether it rewrote the statement.
fn answer_last_insert_id(route: &mut crate::plan::Route, session: &Session) -> bool {
    if route.reason != crate::plan::NO_TABLE_REASON || route.targets.len() != 1 {
        return false;
    }
    if let Some(name) = crate::plan::last_insert_id_query(&route.targets[0].sql) {
        if session.insert_id_from_expr {
            // Asked where LAST_INSERT_ID(expr) set it (`previous_conn::place`).
            return false;
        }
        route.targets[0].sql = crate::plan::last_insert_id_sql(session.last_insert_id, &name);
        true
    } else if let Some(name) = crate::plan::row_count_query(&route.targets[0].sql) {
        route.targets[0].sql = crate::plan::row_count_sql(session.last_row_count, &name);
        true
    } else {
        false
    }
}

/// A merged read. Inside a transaction it first joins every group it reads (each group's
/// shards then run one after the other on the transaction's connection there).
async fn scatter<S: ResultSink>(
    s: &crate::plan::Scatter,
    ctx: &Context<'_>,
    session: &mut Session,
    sink: &mut S,
) -> Result<(), Failure> {
    if session.txn.active() {
        if let Some(moved) = txn::before_route(&s.route, ctx, session).await? {
            return merge::run(&moved, &s.merge, ctx, session, sink).await;
        }
    }
    merge::run(&s.route, &s.merge, ctx, session, sink).await
}

/// Reports a failure to the client; `Ok(false)` means the statement failed (so a
/// multi-statement batch stops), `Err` means the client is gone.
pub fn finish<S: ResultSink>(outcome: Result<(), Failure>, sink: &mut S) -> io::Result<bool> {
    match outcome {
        Ok(()) => Ok(true),
        Err(Failure::Query(e)) => {
            sink.error(&e);
            Ok(false)
        }
        Err(Failure::Client(e)) => Err(e),
    }
}
