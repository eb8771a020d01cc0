//! Runs a `Plan::Materialize` (see `plan::materialize`): fetch each sharded table's rows
//! through the ordinary routes, copy them into temporary tables on the default group's
//! master on the session's own connection there (so its session state applies), run the
//! statement there streaming its answer to the client, drop the tables.
//!
//! Everything the proxy holds is capped: the fetched rows by `[limits]
//! materialize_max_rows` and, with every other buffer, by `merge_buffer_bytes`. A fetch past
//! a cap stops at once and the client gets 1235 naming the cap and the table. A connection
//! whose temporary tables could not be dropped is closed, never handed to another client.

mod collect;
mod final_query;
mod temp_table;

use mysql_async::prelude::Queryable;

use crate::error::Error;
use crate::plan::materialize::Materialize;
use crate::plan::Plan;

use self::collect::{is_cap_reached, Collected};
use super::found_rows::FoundRows;
use super::{merge, route, Context, Failure, OkInfo, ResultSink, Session};

pub(super) async fn run<S: ResultSink>(
    m: &Materialize,
    ctx: &Context<'_>,
    session: &mut Session,
    sink: &mut S,
) -> Result<(), Failure> {
    if session.select_limited {
        return Err(Failure::Query(super::capped_read(&format!(
            "sharded table '{}'",
            m.tables.first().map_or("", |t| t.logical.as_str())
        ))));
    }
    // The statement runs on the default group's master: a user variable (or user lock)
    // a statement gave a value on another group's connection only is NULL (free) there.
    session
        .reads
        .check_variables_at(&m.db, m.group, &m.sql)
        .map_err(Failure::Query)?;
    let status_before = session.status;
    let max_rows = ctx.limits.materialize_max_rows;
    let mut budget = ctx.limits.merge_buffer_bytes;
    let charset = session.charset.clone();
    // The columns first: the fetches name every one (INVISIBLE ones too) and read text
    // columns as their bytes, whatever character set the client chose.
    let mut definitions = Vec::with_capacity(m.tables.len());
    for t in &m.tables {
        let (group, schema, table) = &t.definition;
        let conn = session.conns.get(ctx.backends, &m.db, *group).await?;
        let all = temp_table::definitions(conn, schema, table, &t.logical).await?;
        definitions.push(temp_table::needed(all, m.columns.as_deref()));
    }

    let mut fetched = Vec::with_capacity(m.tables.len());
    for (t, defs) in m.tables.iter().zip(&definitions) {
        let plan = temp_table::naming_columns(&t.fetch, defs)?;
        let mut rows = Collected::new(max_rows, budget, session.conns.statement_prefix());
        let outcome = fetch(&plan, ctx, session, &mut rows).await;
        let over = match outcome {
            Err(Failure::Client(e)) if is_cap_reached(&e) => true,
            Err(e) => return Err(e),
            Ok(()) => rows.over,
        };
        if over {
            return Err(Failure::Query(cap_error(m, &t.logical, max_rows, ctx)));
        }
        if let Some(e) = rows.error.take() {
            return Err(Failure::Query(e));
        }
        if rows.names.len() != defs.len() {
            return Err(Failure::Query(Error::Internal(format!(
                "the fetch of sharded table '{}' gave {} columns, shard 0 defines {}",
                t.logical,
                rows.names.len(),
                defs.len()
            ))));
        }
        budget = budget.saturating_sub(rows.bytes);
        fetched.push(rows);
    }

    let conn = session.conns.get(ctx.backends, &m.db, m.group).await?;
    let mut created: Vec<&str> = Vec::with_capacity(m.tables.len());
    let mut mode_pending = false;
    let answered = answer_over_copies(
        conn,
        m,
        fetched,
        &definitions,
        &mut created,
        &mut mode_pending,
        status_before,
        sink,
        &charset,
    )
    .await;
    // Only the tables this statement created: a failed CREATE may have met one of the
    // client's own.
    // A connection left in the copy's sql_mode is closed like one that kept its tables.
    let dropped = !mode_pending
        && (created.is_empty()
            || conn
                .query_drop(temp_table::drop_sql(&created))
                .await
                .is_ok());
    let answer = match answered {
        Ok(answer) => answer,
        Err(e) => {
            if !dropped {
                session.conns.discard(&m.db, m.group);
            }
            return Err(e);
        }
    };
    if !dropped {
        // The answer is complete; the tables must not outlive the statement on a
        // connection another client may get.
        session.conns.discard(&m.db, m.group);
    } else if let Some((code, message)) = &answer.warning {
        // Dropping the tables cleared the diagnostics: the first warning is raised again
        // so SHOW WARNINGS after the statement still has it.
        if let Ok(conn) = session.conns.get(ctx.backends, &m.db, m.group).await {
            let _ = conn
                .query_drop(final_query::signal_sql(*code, message))
                .await;
        }
    }

    let answered = session.txn_aware_status_of(answer.ok.status);
    session.keep_status(answered);
    session.last_warnings = answer.ok.warnings;
    session.row_count_conn = None;
    let mut ok = answer.ok;
    ok.status = answered;
    if answer.had_columns {
        session.last_row_count = -1;
        session.found_rows = FoundRows::Known(answer.found_rows.unwrap_or(answer.rows));
        sink.end_rows(&ok);
    } else {
        session.last_row_count = i64::try_from(ok.affected_rows).unwrap_or(i64::MAX);
        sink.ok(&ok);
    }
    Ok(())
}

/// Creates and fills the temporary tables (noting each in `created`), then runs the
/// statement over them. The copies are declared and filled in the default sql_mode,
/// whatever the client's: their texts are information_schema's (default-mode syntax, where
/// EMPTY_STRING_IS_NULL made a DEFAULT '' NULL), and a mode must not change the values on
/// the way (EMPTY_STRING_IS_NULL made '' NULL, NO_ZERO_DATE refused the zero dates the
/// shards hold); what does not copy exactly warns and is refused. `mode_pending`: the
/// session's own mode is still to be set back (the connection must then be closed).
#[allow(clippy::too_many_arguments)]
async fn answer_over_copies<'m, S: ResultSink>(
    conn: &mut mysql_async::Conn,
    m: &'m Materialize,
    fetched: Vec<Collected>,
    definitions: &[Vec<temp_table::ColumnDef>],
    created: &mut Vec<&'m str>,
    mode_pending: &mut bool,
    status_before: u16,
    sink: &mut S,
    charset: &crate::plan::charset::ClientCharset,
) -> Result<Answer, Failure> {
    let mode = temp_table::session_mode(conn).await?;
    if !mode.is_empty() {
        *mode_pending = true;
        conn.query_drop("SET SESSION sql_mode = ''")
            .await
            .map_err(Error::from)?;
    }
    let copied: Result<(), Failure> = async {
        for ((t, rows), defs) in m.tables.iter().zip(fetched).zip(definitions) {
            let create = temp_table::create_sql(&t.temp, defs);
            let fast = format!("{create}{}", temp_table::FAST_ENGINE);
            match conn.query_drop(charset.encode(&fast)?.as_ref()).await {
                Err(e) if temp_table::unknown_engine(&e) => conn
                    .query_drop(charset.encode(&create)?.as_ref())
                    .await
                    .map_err(|e| temp_table::create_error(e, t))?,
                other => other.map_err(|e| temp_table::create_error(e, t))?,
            }
            created.push(&t.temp);
            temp_table::fill(conn, &t.temp, &t.logical, defs, rows.rows, charset).await?;
        }
        Ok(())
    }
    .await;
    if *mode_pending {
        conn.query_drop(temp_table::restore_mode_sql(&mode))
            .await
            .map_err(Error::from)?;
        *mode_pending = false;
    }
    copied?;
    final_query::run(conn, m, status_before, sink, charset).await
}

/// Runs a fetch the way `execute::run` would run the same plan.
async fn fetch(
    plan: &Plan,
    ctx: &Context<'_>,
    session: &mut Session,
    sink: &mut Collected,
) -> Result<(), Failure> {
    match plan {
        Plan::Route(r) if super::concurrent_read(r, session) => {
            merge::run(r, &Default::default(), ctx, session, sink).await
        }
        Plan::Route(r) => route::run(r, ctx, session, sink).await,
        Plan::Scatter(s) => super::scatter(s, ctx, session, sink).await,
        _ => Err(Failure::Query(Error::Internal(
            "a materialized table's fetch is not a read".into(),
        ))),
    }
}

fn cap_error(m: &Materialize, table: &str, max_rows: usize, ctx: &Context<'_>) -> Error {
    Error::unsupported(format!(
        "a query over several shards that needs more than [limits] materialize_max_rows = \
         {max_rows} rows or merge_buffer_bytes = {} bytes of sharded table '{table}' copied \
         to answer it ({}); narrow it with a shard key or WHERE condition, or raise the cap",
        ctx.limits.merge_buffer_bytes, m.reason
    ))
}

/// What the final statement answered.
pub(super) struct Answer {
    pub had_columns: bool,
    pub rows: u64,
    pub ok: OkInfo,
    /// FOUND_ROWS() after a SQL_CALC_FOUND_ROWS statement, read before the tables go.
    pub found_rows: Option<u64>,
    /// The first warning (code, message), to raise again after the drop.
    pub warning: Option<(u16, String)>,
}

/// A merge the shards' column types defeated (`why`, before anything reached the client):
/// plans `sql` again as a materialized read and runs that.
pub(super) async fn replan<S: ResultSink>(
    sql: &str,
    why: String,
    ctx: &Context<'_>,
    session: &mut Session,
    sink: &mut S,
) -> Result<(), Failure> {
    let planned = crate::plan::plan_materialized(
        sql,
        &crate::plan::PlanContext {
            rules: ctx.rules,
            current_db: session.current_db.as_ref(),
            syntax: ctx.reading.syntax,
            read_only_functions: ctx.reading.read_only_functions,
            columns: None,
            system_schema: session.system_schema.as_deref(),
        },
        why,
    )?;
    match planned {
        Plan::Materialize(m) => run(&m, ctx, session, sink).await,
        _ => Err(Failure::Query(Error::Internal(
            "a merged read did not plan again as a materialized one".into(),
        ))),
    }
}
