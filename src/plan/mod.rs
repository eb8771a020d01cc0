//! SQL in, plan out. Never talks to a socket: a plan is plain data that `execute` runs and
//! unit tests inspect without any server.
//!
//! # Layout
//! One concept per file, in the order a statement meets them:
//! - `columns`: the column order of sharded tables, for INSERT without a column list;
//! - `split`: a multi-statement text into statements; `lexer`: the small tokenizer it and the
//!   other text-level recognisers share;
//! - `first_word`: the first keyword, read once as a statement arrives, to skip the checks
//!   for other kinds of statement; `classify`: the leading keywords decide the path; `session`: SET / transactions / USE,
//!   never parsed; `select_fast` and `insert_fast`: the commonest SELECT and INSERT shapes
//!   planned from tokens, without the parser (property-tested against the parsed path);
//! - `parse`: sqlparser (MySQL dialect), with same-length patches for forms it lacks and
//!   `token_patch` for forms it misreads (UPDATE/DELETE modifiers, `UPDATE t1, t2`);
//!   `statement`: dispatch by statement kind, and the rule for unparsable statements;
//! - `tables`: table names to rules; `collect`: one walk (`collect::visit`) gathering
//!   tables, blocks, features and identifier edits, then `collect::check` over the token
//!   stream; `blocks`: a FROM clause's key equalities and shard set;
//!   `key_predicates` and `literal`: shard sets from WHERE / ON; `shardset`;
//! - `held_writes`: whether a statement may write tables a resharding cutover holds (from
//!   tokens, before planning);
//! - `dml`, `insert`, `ddl`, `show`, `table_status`: the statement kinds (`ddl_tokens`: table-level DDL read
//!   from tokens, for the MariaDB forms sqlparser rejects); `route`: targets from what was
//!   collected; `rewrite`, `offsets`, `names`: splicing renamed identifiers into the original
//!   text (never printing the AST back).
//!
//! Tests: `tests` holds the rules fixture, the data-driven route test over
//! `testdata/routes.txt` (`SHARDGATE_REGENERATE=1` rewrites its expectations), the fast-path
//! equivalence properties, and no-panic fuzzing.

use std::sync::Arc;

mod blocks;
pub mod cache;
pub mod charset;
mod classify;
mod collect;
mod column_sorts;
mod columns;
pub mod connection_id;
mod ddl;
mod ddl_guard;
mod ddl_tokens;
mod dialect;
mod dml;
mod everywhere;
mod exec_comments;
mod fast_route;
mod first_word;
mod functions;
pub mod held_writes;
mod in_transaction;
mod insert;
pub(crate) mod insert_fast;
mod key_predicates;
pub mod kill;
mod last_gtid;
mod last_insert_id;
pub(crate) mod lexer;
mod literal;
pub mod materialize;
pub(crate) mod mentions;
pub mod merge;
mod names;
mod offsets;
mod parse;
mod relations;
mod rewrite;
mod route;
mod scatter;
pub(crate) mod select_fast;
mod select_item_splice;
mod select_shapes;
mod session;
mod shardset;
mod show;
pub mod show_diagnostics;
mod side_effects;
mod split;
pub(crate) mod statement;
pub(crate) mod statement_words;
pub mod syntax;
mod table_status;
mod tables;
#[cfg(test)]
pub(crate) mod tests;
mod token_patch;
mod write_fast;

pub use cache::{PlanCache, PlanKey};
pub(crate) use collect::item_alias;
pub use column_sorts::{ColumnSort, ColumnSorts, TableKey, TableSorts};
pub use columns::{changes_columns, first_word_changes_columns, ColumnOrders, ColumnsWanted};
pub use first_word::FirstWord;
pub use in_transaction::with_in_transaction;
pub(crate) use last_insert_id::insert_id_read_at;
pub use last_insert_id::{
    answer_sql as last_insert_id_sql, found_rows_query, found_rows_sql, last_insert_id_query,
    reads_insert_id, row_count_query, row_count_sql, with_insert_id, with_no_insert_id,
};
pub(crate) use names::{is_system_schema, write_string_literal};
pub use relations::read_relations;
pub(crate) use select_item_splice::SELECT_MODIFIERS;
pub(crate) use side_effects::{assigned_user_variables, calls_stored_function, user_variables};
pub use split::{next_statement, split_statements};
pub use syntax::{SqlMode, Syntax};

use crate::config::model::{Database, GroupId, Rules};
use crate::error::{Error, Result};
use classify::Leading;

/// What the planner needs to know about the client's session.
pub struct PlanContext<'a> {
    pub rules: &'a Rules,
    /// The logical database selected by USE / COM_INIT_DB / the login, if any.
    pub current_db: Option<&'a Arc<Database>>,
    /// How the backend reads the text: its version and the session's sql_mode.
    pub syntax: Syntax,
    /// Stored functions (lower-case) that only read, so a SELECT calling them may run on a
    /// replica (`[routing] read_only_functions`); any other non-built-in function is
    /// assumed to write (`side_effects`).
    pub read_only_functions: &'a [String],
    /// Column orders fetched so far (`None`: none can be fetched, as in unit tests).
    pub columns: Option<&'a ColumnOrders>,
    /// The system schema selected by `USE information_schema` (lower case), whose tables
    /// unqualified names then are; `current_db` still decides the servers.
    pub system_schema: Option<&'a str>,
}

/// What to do with one statement.
#[derive(Debug, Clone)]
pub enum Plan {
    /// Run shard queries and return their results: for reads, the result sets concatenated
    /// (column definitions of the first); for writes, one OK with affected rows summed.
    Route(Route),
    /// A read over several shards whose rows the proxy merges (ORDER BY, LIMIT, aggregates,
    /// GROUP BY, DISTINCT): every target runs at once, `merge` says how rows combine.
    Scatter(Box<Scatter>),
    /// A read over several shards no streaming merge answers exactly: the default group's
    /// master answers it over temporary copies of the rows its sharded tables can give
    /// (`materialize`).
    Materialize(Box<materialize::Materialize>),
    /// A session statement (SET ..., BEGIN, COMMIT, ROLLBACK, SAVEPOINT, ...): runs on every
    /// backend connection the session holds (and on the default group's when it holds none),
    /// and, when `replay` is true, again on every connection the session opens later.
    Session(SessionStatement),
    /// `USE db`: select a logical database (the name as the client wrote it, unquoted).
    UseDatabase(String),
    /// `SHOW DATABASES` / `SHOW SCHEMAS`: the logical database names, answered by the proxy.
    ShowDatabases { like: Option<String> },
    /// `SHOW [FULL] TABLES [FROM db] [LIKE 'pat']`: run `sql` on the default group, drop the
    /// physical shard tables, add the logical sharded and broadcast table names.
    ShowTables {
        db: Arc<Database>,
        full: bool,
        like: Option<String>,
        /// Query for the default group listing its physical tables.
        sql: String,
    },
}

/// `Route::reason` of a statement without tables: execution answers `LAST_INSERT_ID()` from
/// the session and moves such statements onto an open transaction's group.
pub const NO_TABLE_REASON: &str = "no table: default group";
/// The reason of a read of system schemas only (information_schema, mysql, ...).
pub const SYSTEM_SCHEMA_REASON: &str = "system schema: default group";
/// `Route::reason` prefix of a statement on a broadcast table only.
pub const BROADCAST_REASON_PREFIX: &str = "broadcast table '";

#[derive(Debug, Clone)]
pub struct Route {
    pub db: Arc<Database>,
    pub targets: Vec<Target>,
    /// INSERT/UPDATE/DELETE/REPLACE/DDL, locking reads (FOR UPDATE, LOCK IN SHARE MODE), and
    /// reads with side effects (sequences, user locks, INTO, stored functions: see
    /// `side_effects`); reads may later go to replicas, writes never.
    pub is_write: bool,
    /// How result rows and column definitions must be renamed before they reach the client.
    pub result_rewrite: ResultRewrite,
    /// Why this route was chosen, for EXPLAIN-style output and tests.
    pub reason: String,
    /// Whether the targets hold different rows or copies of the same ones.
    pub spread: Spread,
    /// The first id the proxy generated for an INSERT into a table with a key generator:
    /// the client gets it as the OK packet's last insert id (and from LAST_INSERT_ID()).
    pub generated_id: Option<u64>,
    /// The targets are every shard of a sharded table (no shard key condition narrowed
    /// them): statement statistics and `SHARDGATE PREVIEW` tell such fan-outs apart.
    pub all_shards: bool,
    /// The target holding the statement's first row (an INSERT split over shards): its
    /// generated id is the statement's, as the first row's is on one server.
    pub first_row_target: u32,
}

/// What the targets of a route hold, which decides how their OKs combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Spread {
    /// Different rows (shards, or one target): affected rows are summed.
    #[default]
    Shards,
    /// A copy of the same logical table each (a broadcast table's write or DDL in every
    /// group, default group first): the client gets the first target's OK, since one
    /// logical row changed once however many copies there are.
    Copies,
}

/// One statement for one backend group.
#[derive(Debug, Clone)]
pub struct Scatter {
    pub route: Route,
    pub merge: merge::MergeSpec,
    /// The statement as planned: what `plan_materialized` plans again when the shards'
    /// column types show the merge cannot be exact (ENUM and SET order).
    pub sql: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub group: GroupId,
    /// The shard this statement addresses, if it addresses exactly one.
    pub shard: Option<u32>,
    /// The rewritten SQL (physical table names), to send as is.
    pub sql: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResultRewrite {
    /// Only column definitions: physical table names -> logical, physical schema -> logical.
    Columns,
    /// SHOW CREATE TABLE, SHOW INDEX, SHOW TABLE STATUS on a shard table: also replace the
    /// physical name in each row's text cells (`Table`, `Create Table`, `Name`) by the
    /// logical one: a cell that is the name, or its first back-quoted occurrence.
    ShowCreateTable { physical: String, logical: String },
    /// SHOW [SESSION] VARIABLES: its `identity` and `last_insert_id` rows are the
    /// connection's last insert id, which the session knows and the default group's
    /// connection does not (the insert ran on another group, or shardgate generated the id).
    /// Execution fills in the session's value; `None` passes the rows as they come, where
    /// `LAST_INSERT_ID(expr)` left the only true value on the connection the statement is
    /// then placed on (`previous_conn::place`). `filtered`: a WHERE clause, which the
    /// server evaluates with its own value, so the statement needs that connection too.
    InsertIdVariables { value: Option<u64>, filtered: bool },
    /// A read of information_schema.SESSION_VARIABLES or SYSTEM_VARIABLES, whose rows hold
    /// the connection's last insert id among other values: rows pass as they come, and the
    /// statement runs where the id is, or is refused (`previous_conn::place`).
    InsertIdRows,
}

/// Plans one statement (see `split_statements` for multi-statement texts). Refusals are
/// `Error::Unsupported` (1235) naming the table and what is missing; nothing here panics.
///
/// The statement is read as the backend will read it (`ctx.syntax`), and its executable
/// comments are resolved first (`exec_comments`): every target's text is built from the
/// resolved text.
pub fn plan(sql: &str, ctx: &PlanContext<'_>) -> Result<Plan> {
    let _syntax = ctx.syntax.scope();
    let sql = exec_comments::resolve(sql)?;
    let sql = sql.as_ref();
    let leading = classify::leading(sql);
    last_gtid::refuse_reads(sql)?;
    if let Some(mode) = ctx.syntax.mode.unplannable {
        if leading != Leading::Set {
            return Err(Error::unsupported(format!(
                "statements under sql_mode {mode} (its grammar differs; SET sql_mode back first)"
            )));
        }
    }
    // Paths that send the text without parsing it must hold one statement only (the parsed
    // and fast paths check this themselves).
    if matches!(
        leading,
        Leading::Set | Leading::Transaction | Leading::Maintenance | Leading::SequenceDdl
    ) && lexer::has_second_statement(sql)
    {
        return Err(Error::Syntax(
            "several statements in one query; send them separately".to_string(),
        ));
    }
    let mut plan = match leading {
        Leading::Set => session::set(sql, ctx),
        Leading::Use => session::use_db(sql, ctx),
        Leading::Transaction => session::transaction(sql),
        Leading::Refuse(what) => Err(Error::Unsupported(what)),
        Leading::Insert => match insert_fast::plan(sql, ctx) {
            Some(plan) => Ok(plan),
            None => statement::plan(sql, ctx, false),
        },
        Leading::Select if materialize::forced().is_some() => statement::plan(sql, ctx, false),
        Leading::Select => match select_fast::plan(sql, ctx) {
            Some(plan) => Ok(plan),
            None => cache::planned(sql, ctx, || statement::plan(sql, ctx, false)),
        },
        Leading::Maintenance => statement::maintenance(sql, ctx),
        Leading::SequenceDdl => statement::sequence_ddl(sql, ctx),
        Leading::AnalyzeStatement => statement::plan(sql, ctx, true),
        Leading::Other => match write_fast::plan(sql, ctx) {
            Some(plan) => Ok(plan),
            None => cache::planned(sql, ctx, || statement::plan(sql, ctx, false)),
        },
    }?;
    // A read that writes or locks runs on the master (or is refused over several shards).
    side_effects::apply(sql, &mut plan, ctx.read_only_functions)?;
    Ok(plan)
}

/// Plans `sql`, a read planned before as a merge the shards' columns turned out to defeat
/// (`reason`), as a materialized read (`materialize`).
pub fn plan_materialized(sql: &str, ctx: &PlanContext<'_>, reason: String) -> Result<Plan> {
    materialize::forcing(reason, || plan(sql, ctx))
}

/// `sql` with its executable comments resolved as `syntax`'s server runs them (see
/// `exec_comments`): what a prepared statement's placeholders are counted in.
pub fn resolve_executable_comments(sql: &str, syntax: Syntax) -> Result<String> {
    let _syntax = syntax.scope();
    exec_comments::resolve(sql).map(std::borrow::Cow::into_owned)
}

/// True if `sql`, read by `syntax`, holds a second statement after a `;`.
pub fn has_second_statement(sql: &str, syntax: Syntax) -> bool {
    let _syntax = syntax.scope();
    lexer::has_second_statement(sql)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionStatement {
    pub sql: String,
    pub replay: bool,
    /// What the statement does to the session's transaction, so execution can track it
    /// without reading the text again.
    pub kind: SessionKind,
    /// For a SET of one variable: its name (lower-case, `names` for SET NAMES / CHARACTER
    /// SET), so a later SET of the same variable replaces this one in the replay list
    /// instead of growing it.
    pub replay_key: Option<String>,
}

pub use session::SessionKind;
