//! Runs a `Route`: each target's SQL on the session's connection to its group, results
//! concatenated (reads) or OKs summed (writes), rows streamed as they arrive.

use mysql_async::prelude::{Protocol, Queryable};
use mysql_async::{Conn, QueryResult};
use mysql_common::packets::Column;

use crate::config::model::{Database, GroupId};
use crate::error::Error;
use crate::plan::charset::ClientCharset;
use crate::plan::{ResultRewrite, Route, Spread, Target};

use crate::backend::ServerRef;

use super::found_rows::{self, FoundRows};
use super::info::sum_info;
use super::read_split::ReadSplit;
use super::spread::{copies_differ, partly_applied};
use super::target::run_target;
use super::{status, ColumnRename, Context, Failure, OkInfo, ResultSink, Session};

pub async fn run<S: ResultSink>(
    route: &Route,
    ctx: &Context<'_>,
    session: &mut Session,
    sink: &mut S,
) -> Result<(), Failure> {
    run_at(route, None, ctx, session, sink).await
}

/// Like `run`, with every target on `server` of its group when given (a statement about the
/// previous statement on that connection, see `found_rows`).
pub async fn run_at<S: ResultSink>(
    route: &Route,
    server: Option<ServerRef>,
    ctx: &Context<'_>,
    session: &mut Session,
    sink: &mut S,
) -> Result<(), Failure> {
    if super::txn::needs_atomic_write(route, ctx, session) {
        return super::txn::run_atomic(route, server, ctx, session, sink).await;
    }
    run_targets(route, server, ctx, session, sink).await
}

/// Runs every target of `route` (inside the session's transaction, if one is open).
pub(crate) async fn run_targets<S: ResultSink>(
    route: &Route,
    server: Option<ServerRef>,
    ctx: &Context<'_>,
    session: &mut Session,
    sink: &mut S,
) -> Result<(), Failure> {
    let moved;
    let route = if session.txn.active() {
        match super::txn::before_route(route, ctx, session).await? {
            Some(r) => {
                moved = r;
                &moved
            }
            None => route,
        }
    } else {
        route
    };
    let db = &route.db;
    let mut total = OkInfo::default();
    let mut info = String::new();
    let mut started_rows = false;
    let mut rows_sent: u64 = 0;
    let mut last_conn = None;
    let mut insert_id_primed = false;
    let status_before = session.status;
    ctx.read_by_syntax(|| session.reads.check_variables(route))?;
    let spread_write = route.is_write && route.targets.len() > 1;
    if spread_write {
        // Reach every group before writing anywhere: a group that is down then fails the
        // statement with nothing applied, instead of part-way.
        for target in &route.targets {
            session.conns.get(ctx.backends, db, target.group).await?;
        }
    }
    // In a transaction, a failure part-way is undone on every group (statement atomicity).
    let undoable = super::txn::needs_statement_undo(route, session)
        && super::txn::mark_statement(session, route).await;
    for (i, target) in route.targets.iter().enumerate() {
        // Column definitions go out once, from the first shard that returns a result set.
        let send_columns = (!started_rows).then_some(status_before);
        let one = match run_target(route, target, server, send_columns, ctx, session, sink).await {
            Ok(one) => one,
            Err(Failure::Query(e)) if undoable && i > 0 => {
                return Err(Failure::Query(
                    match super::txn::undo_statement(session, route, e).await {
                        Ok(undone) => undone,
                        Err(e) => partly_applied(route, i, e),
                    },
                ));
            }
            Err(Failure::Query(e)) => return Err(Failure::Query(partly_applied(route, i, e))),
            Err(e) => return Err(e),
        };
        ctx.read_by_syntax(|| {
            session
                .reads
                .observe_variables(db, target.group, &target.sql)
        });
        if route.is_write {
            session.reads.observe_write(&target.sql);
            let gtid = if ReadSplit::uses_gtid(ctx.backends.read_your_writes)
                && one.ok.status & status::IN_TRANS == 0
                && one.ok.status & status::AUTOCOMMIT != 0
            {
                last_gtid(session, ctx, db, target.group).await
            } else {
                None
            };
            session.reads.record_write(db, target.group, gtid);
        }
        // The transaction runs on masters; a replica's status says nothing about it.
        if (session.txn.active() || session.txn.pins_connections())
            && one.server == ServerRef::Master
        {
            super::txn::after_statement(session, db, target.group, one.ok.status, ctx.xa.is_some())
                .await;
        }
        started_rows |= one.had_columns;
        rows_sent += one.rows;
        last_conn = Some((target.group, one.server, one.conn_id));
        insert_id_primed = one.insert_id_primed;
        if route.spread == Spread::Copies && i > 0 {
            // Copies of one logical table: the client sees the first copy's effect once.
            total.status = one.ok.status;
            if route.is_write
                && (one.ok.affected_rows != total.affected_rows
                    || one.ok.last_insert_id != total.last_insert_id)
            {
                session.keep_status(total.status);
                return Err(Failure::Query(copies_differ(route, i, &total, &one.ok)));
            }
            continue;
        }
        total.affected_rows += one.ok.affected_rows;
        if total.last_insert_id == 0
            || i == route.first_row_target as usize && one.ok.last_insert_id != 0
        {
            total.last_insert_id = one.ok.last_insert_id;
        }
        total.warnings = total.warnings.saturating_add(one.ok.warnings);
        total.status = one.ok.status;
        if !one.ok.info.is_empty() {
            info = sum_info(&info, &String::from_utf8_lossy(&one.ok.info));
        }
    }
    total.info = info.into_bytes();
    if let Some(id) = route.generated_id {
        total.last_insert_id = id;
    }
    ctx.read_by_syntax(|| record_found_rows(route, started_rows, rows_sent, last_conn, session));
    total.status = session.txn_aware_status_of(total.status);
    session.keep_status(total.status);
    session.last_warnings = total.warnings;
    session.last_row_count = if started_rows {
        -1
    } else {
        i64::try_from(total.affected_rows).unwrap_or(i64::MAX)
    };
    let alone = (route.targets.len() == 1)
        .then(|| {
            last_conn.map(|(group, server, conn_id)| super::previous_conn::ConnAt {
                db: route.db.clone(),
                group,
                server,
                conn_id,
            })
        })
        .flatten();
    session.row_count_conn = alone.clone();
    let sets_insert_id = ctx.read_by_syntax(|| {
        route
            .targets
            .iter()
            .any(|t| super::previous_conn::sets_insert_id(&t.sql))
    });
    if sets_insert_id {
        session.insert_id_from_expr = true;
        // Unprimed, the connection may still hold what it held before the statement (the
        // call was not evaluated): perhaps another client's id. Reads of it are refused.
        session.insert_id_conn = alone.filter(|_| insert_id_primed);
    } else if total.last_insert_id != 0 {
        session.last_insert_id = total.last_insert_id;
        session.insert_id_from_expr = false;
        // A generated key the proxy made, or ids from several shards: no connection has it.
        session.insert_id_conn = alone.filter(|_| route.generated_id.is_none());
    }
    if started_rows {
        sink.end_rows(&total);
    } else {
        sink.ok(&total);
    }
    Ok(())
}

/// What FOUND_ROWS() answers after this route: one target's own connection knows; the
/// rows of a concatenation (no LIMIT on the shards, else the merge would run it) are the
/// count; a statement over several shards that may set it otherwise is not known.
fn record_found_rows(
    route: &Route,
    started_rows: bool,
    rows_sent: u64,
    last_conn: Option<(GroupId, ServerRef, u32)>,
    session: &mut Session,
) {
    let sets = started_rows
        || route
            .targets
            .iter()
            .any(|t| found_rows::sets_found_rows(&t.sql));
    if !sets {
        return;
    }
    session.found_rows = match (route.targets.len(), last_conn) {
        (1, Some((group, server, conn_id))) => FoundRows::Connection {
            db: route.db.clone(),
            group,
            server,
            conn_id,
        },
        _ if started_rows => FoundRows::Known(rows_sent),
        _ => FoundRows::Unknown(route.reason.clone()),
    };
}

/// The GTID of the session's last committed write on the master of `group` (one round
/// trip); `None` when it cannot be read, which falls back to the window.
pub(crate) async fn last_gtid(
    session: &mut Session,
    ctx: &Context<'_>,
    db: &Database,
    group: GroupId,
) -> Option<String> {
    let conn = session.conns.get(ctx.backends, db, group).await.ok()?;
    let gtid: String = conn.query_first("SELECT @@last_gtid").await.ok()??;
    (!gtid.is_empty()).then_some(gtid)
}

pub(crate) struct OneResult {
    pub(crate) had_columns: bool,
    pub(crate) ok: OkInfo,
    /// Rows sent to the client.
    pub(crate) rows: u64,
    /// Where it ran: the server and its backend thread id.
    pub(crate) server: ServerRef,
    pub(crate) conn_id: u32,
    /// The connection was given the session's LAST_INSERT_ID() before a statement calling
    /// `LAST_INSERT_ID(expr)` ran (`previous_conn::InsertIdBefore`).
    pub(crate) insert_id_primed: bool,
}

/// Runs one target; `send_columns` carries the status for the column EOF when this
/// target's column definitions are the ones the client gets.
pub(crate) async fn run_one<S: ResultSink>(
    conn: &mut Conn,
    route: &Route,
    target: &Target,
    send_columns: Option<u16>,
    sent: &mut bool,
    sink: &mut S,
    charset: &ClientCharset,
) -> Result<OneResult, Failure> {
    let sql = target.sql.as_str();
    let conn_id = conn.id();
    let (had_columns, rows, mut ok) = if let Some((prepared, params)) = sink.prepared_form(sql) {
        let prepared = charset.encode(&prepared)?;
        let result = conn
            .exec_iter(prepared.as_ref(), params)
            .await
            .map_err(Error::from)?;
        stream(result, route, target, send_columns, sent, sink).await?
    } else {
        let wire = charset.encode(sql)?;
        let result = conn.query_iter(wire.as_ref()).await.map_err(Error::from)?;
        stream(result, route, target, send_columns, sent, sink).await?
    };
    ok.status = conn
        .last_ok_packet()
        .map(|p| p.status_flags().bits())
        .unwrap_or(status::AUTOCOMMIT)
        & !status::MORE_RESULTS_EXISTS;
    Ok(OneResult {
        had_columns,
        ok,
        rows,
        server: ServerRef::Master,
        conn_id,
        insert_id_primed: false,
    })
}

/// Streams one result into the sink; the OK's status is left for the caller, which reads it
/// from the connection once the result is dropped.
async fn stream<P: Protocol, S: ResultSink>(
    mut result: QueryResult<'_, 'static, P>,
    route: &Route,
    target: &Target,
    send_columns: Option<u16>,
    sent: &mut bool,
    sink: &mut S,
) -> Result<(bool, u64, OkInfo), Failure> {
    let db: &Database = &route.db;
    let had_columns = !result.columns_ref().is_empty();
    let mut rows: u64 = 0;
    if had_columns {
        *sent = true;
        if let Some(status_before) = send_columns {
            let schema = db.groups[target.group].schema.as_str();
            sink.columns(result.columns_ref(), status_before, &|col: &Column| {
                rename_column(col, db, schema)
            });
        }
        match &route.result_rewrite {
            ResultRewrite::Columns | ResultRewrite::InsertIdRows => {
                while let Some(row) = result.next().await.map_err(Error::from)? {
                    sink.row(&row);
                    rows += 1;
                    sink.maybe_flush().await?;
                }
            }
            ResultRewrite::ShowCreateTable { physical, logical } => {
                while let Some(row) = result.next().await.map_err(Error::from)? {
                    write_renamed_row(&row, physical, logical, db, sink);
                    rows += 1;
                }
            }
            ResultRewrite::InsertIdVariables { value, .. } => {
                let value = value.map(|v| v.to_string());
                while let Some(row) = result.next().await.map_err(Error::from)? {
                    match (&value, insert_id_variable_name(&row)) {
                        (Some(value), Some(name)) => {
                            sink.row_cells(&[Some(name), Some(value.as_bytes())])
                        }
                        _ => sink.row(&row),
                    }
                    rows += 1;
                }
            }
        }
    }
    let ok = OkInfo {
        affected_rows: result.affected_rows(),
        last_insert_id: result.last_insert_id().unwrap_or(0),
        warnings: result.warnings(),
        info: result.info().as_bytes().to_vec(),
        status: 0,
    };
    drop(result);
    Ok((had_columns, rows, ok))
}

/// A SHOW VARIABLES row's name when it is the connection's last insert id.
fn insert_id_variable_name(row: &mysql_async::Row) -> Option<&[u8]> {
    if row.len() != 2 {
        return None;
    }
    match row.as_ref(0)? {
        mysql_async::Value::Bytes(name)
            if name.eq_ignore_ascii_case(b"identity")
                || name.eq_ignore_ascii_case(b"last_insert_id") =>
        {
            Some(name)
        }
        _ => None,
    }
}

/// Shows the logical table and database names where the backend reports physical ones.
pub(crate) fn rename_column<'a>(
    col: &Column,
    db: &'a Database,
    physical_schema: &str,
) -> ColumnRename<'a> {
    let mut rename = ColumnRename::default();
    if !col.schema_ref().is_empty() && col.schema_ref() == physical_schema.as_bytes() {
        rename.schema = Some(db.name.as_str());
    }
    rename.org_table = logical_of(col.org_table_ref(), db);
    rename.table = logical_of(col.table_ref(), db);
    rename
}

pub(crate) fn logical_of<'a>(physical: &[u8], db: &'a Database) -> Option<&'a str> {
    let name = std::str::from_utf8(physical).ok()?;
    db.sharded_table_of_physical(name)
        .map(|rule| rule.name.as_str())
}

fn write_renamed_row<S: ResultSink>(
    row: &mysql_async::Row,
    physical: &str,
    logical: &str,
    db: &Database,
    sink: &mut S,
) {
    let cells: Vec<Option<Vec<u8>>> = (0..row.len())
        .map(|i| match row.as_ref(i)? {
            mysql_async::Value::Bytes(b) => {
                let text = String::from_utf8_lossy(b);
                let renamed = if text == physical {
                    logical.to_string()
                } else {
                    let own = text.replacen(&format!("`{physical}`"), &format!("`{logical}`"), 1);
                    logical_references(&own, db)
                };
                Some(renamed.into_bytes())
            }
            mysql_async::Value::NULL => None,
            // Binary protocol rows (a prepared SHOW INDEX): numbers as the text protocol
            // prints them; the sink converts them back for the column's type.
            mysql_async::Value::Int(n) => Some(n.to_string().into_bytes()),
            mysql_async::Value::UInt(n) => Some(n.to_string().into_bytes()),
            mysql_async::Value::Float(f) => Some(f.to_string().into_bytes()),
            mysql_async::Value::Double(f) => Some(f.to_string().into_bytes()),
            other => Some(other.as_sql(true).trim_matches('\'').as_bytes().to_vec()),
        })
        .collect();
    let refs: Vec<Option<&[u8]>> = cells.iter().map(|c| c.as_deref()).collect();
    sink.row_cells(&refs);
}

/// Shard 0's CREATE TABLE names the tables its foreign keys reference by their shard 0
/// names too (`REFERENCES \`patients_0\``): those become the logical tables.
fn logical_references(ddl: &str, db: &Database) -> String {
    const KEYWORD: &str = "REFERENCES `";
    let mut out = String::with_capacity(ddl.len());
    let mut rest = ddl;
    while let Some(at) = rest.find(KEYWORD) {
        let name_start = at + KEYWORD.len();
        out.push_str(&rest[..name_start]);
        rest = &rest[name_start..];
        let Some(name_end) = rest.find('`') else {
            break;
        };
        let name = &rest[..name_end];
        match db.sharded_table_of_physical(name) {
            Some(rule) => out.push_str(&rule.name),
            None => out.push_str(name),
        }
        rest = &rest[name_end..];
    }
    out.push_str(rest);
    out
}
