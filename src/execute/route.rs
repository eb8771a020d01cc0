//! Runs a `Route`: each target's SQL on the session's connection to its group, results
//! concatenated (reads) or OKs summed (writes), rows streamed as they arrive.

use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use mysql_common::packets::Column;

use std::sync::atomic::Ordering;

use crate::backend::{Access, ServerRef};
use crate::config::model::{Database, GroupId};
use crate::error::Error;
use crate::plan::{ResultRewrite, Route, Target};

use super::info::sum_info;
use super::read_split::ReadSplit;
use super::{status, ColumnRename, Context, Failure, OkInfo, ResultSink, Session};

pub async fn run<S: ResultSink>(
    route: &Route,
    ctx: &Context<'_>,
    session: &mut Session,
    sink: &mut S,
) -> Result<(), Failure> {
    let db = &route.db;
    let mut total = OkInfo::default();
    let mut info = String::new();
    let mut started_rows = false;
    let status_before = session.status;
    for target in &route.targets {
        let group = ctx.backends.group(&db.name, target.group).ok_or_else(|| {
            Error::Internal(format!(
                "no pools for group {} of database '{}'",
                target.group, db.name
            ))
        })?;
        let access = session.reads.access(
            route,
            target,
            session.status,
            ctx.backends.master_after_write,
        );
        let mut server = match session.reads.sticky_server(db, target.group, &target.sql) {
            Some(previous) if access != Access::Master => previous,
            _ => group.choose(access),
        };
        // Column definitions go out once, from the first shard that returns a result set.
        let send_columns = (!started_rows).then_some(status_before);
        let one = loop {
            let conn = match session
                .conns
                .get_at(ctx.backends, db, target.group, server)
                .await
            {
                Ok(conn) => conn,
                // A replica that cannot be reached (it left rotation) or that refuses this
                // session's state: the master serves this read.
                Err(_) if server != ServerRef::Master => {
                    server = ServerRef::Master;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            if let ServerRef::Replica(i) = server {
                if let Some(gtid) = session.reads.gtid_to_wait(&db.name, target.group, i) {
                    // Read-your-writes (gtid mode): this replica serves the session only once
                    // it has applied the session's last write here.
                    let wait = format!(
                        "SELECT MASTER_GTID_WAIT('{gtid}', {:.3})",
                        ctx.backends.gtid_wait.as_secs_f64()
                    );
                    match conn.query_first::<i64, _>(wait).await {
                        Ok(Some(0)) => session.reads.caught_up(&db.name, target.group, i),
                        Ok(_) => {
                            server = ServerRef::Master;
                            continue;
                        }
                        Err(mysql_async::Error::Server(_)) => {
                            server = ServerRef::Master;
                            continue;
                        }
                        Err(e) => {
                            group
                                .server(server)
                                .failed(ctx.backends.failures_to_open, &e.to_string());
                            session.conns.discard_at(&db.name, target.group, server);
                            server = ServerRef::Master;
                            continue;
                        }
                    }
                }
            }
            let pool = group.server(server);
            pool.stats.queries.fetch_add(1, Ordering::Relaxed);
            let mut sent = false;
            match run_one(conn, route, target, send_columns, &mut sent, sink).await {
                Ok(one) => break one,
                Err(Failure::Query(Error::BackendConnection(reason))) => {
                    // A driver error (not a server error) means the connection is gone: drop
                    // it, tell the health state, and name the group, so the next statement
                    // starts on a fresh one. A replica read that sent nothing yet is retried
                    // on the master.
                    pool.failed(ctx.backends.failures_to_open, &reason);
                    let err = pool.unavailable(reason);
                    session.conns.discard_at(&db.name, target.group, server);
                    if server != ServerRef::Master && !sent {
                        server = ServerRef::Master;
                        continue;
                    }
                    return Err(Failure::Query(err));
                }
                Err(e) => return Err(e),
            }
        };
        session.reads.ran_on(db, target.group, server);
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
        started_rows |= one.had_columns;
        total.affected_rows += one.ok.affected_rows;
        if total.last_insert_id == 0 {
            total.last_insert_id = one.ok.last_insert_id;
        }
        total.warnings = total.warnings.saturating_add(one.ok.warnings);
        total.status = one.ok.status;
        if !one.ok.info.is_empty() {
            info = sum_info(&info, &String::from_utf8_lossy(&one.ok.info));
        }
    }
    total.info = info.into_bytes();
    session.status = total.status;
    if started_rows {
        sink.end_rows(&total);
    } else {
        sink.ok(&total);
    }
    Ok(())
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

struct OneResult {
    had_columns: bool,
    ok: OkInfo,
}

/// Runs one target; `send_columns` carries the status for the column EOF when this
/// target's column definitions are the ones the client gets.
async fn run_one<S: ResultSink>(
    conn: &mut Conn,
    route: &Route,
    target: &Target,
    send_columns: Option<u16>,
    sent: &mut bool,
    sink: &mut S,
) -> Result<OneResult, Failure> {
    let db: &Database = &route.db;
    let mut result = conn
        .query_iter(target.sql.as_str())
        .await
        .map_err(Error::from)?;
    let had_columns = !result.columns_ref().is_empty();
    if had_columns {
        *sent = true;
        if let Some(status_before) = send_columns {
            let schema = db.groups[target.group].schema.as_str();
            sink.columns(result.columns_ref(), status_before, &|col: &Column| {
                rename_column(col, db, schema)
            });
        }
        match &route.result_rewrite {
            ResultRewrite::Columns => {
                while let Some(row) = result.next().await.map_err(Error::from)? {
                    sink.row(&row);
                    sink.maybe_flush().await?;
                }
            }
            ResultRewrite::ShowCreateTable { physical, logical } => {
                while let Some(row) = result.next().await.map_err(Error::from)? {
                    write_renamed_row(&row, physical, logical, sink);
                }
            }
        }
    }
    let mut ok = OkInfo {
        affected_rows: result.affected_rows(),
        last_insert_id: result.last_insert_id().unwrap_or(0),
        warnings: result.warnings(),
        info: result.info().as_bytes().to_vec(),
        status: 0,
    };
    drop(result);
    ok.status = conn
        .last_ok_packet()
        .map(|p| p.status_flags().bits())
        .unwrap_or(status::AUTOCOMMIT)
        & !status::MORE_RESULTS_EXISTS;
    Ok(OneResult { had_columns, ok })
}

/// Shows the logical table and database names where the backend reports physical ones.
fn rename_column<'a>(col: &Column, db: &'a Database, physical_schema: &str) -> ColumnRename<'a> {
    let mut rename = ColumnRename::default();
    if !col.schema_ref().is_empty() && col.schema_ref() == physical_schema.as_bytes() {
        rename.schema = Some(db.name.as_str());
    }
    rename.org_table = logical_of(col.org_table_ref(), db);
    rename.table = logical_of(col.table_ref(), db);
    rename
}

fn logical_of<'a>(physical: &[u8], db: &'a Database) -> Option<&'a str> {
    let name = std::str::from_utf8(physical).ok()?;
    db.sharded_table_of_physical(name)
        .map(|rule| rule.name.as_str())
}

fn write_renamed_row<S: ResultSink>(
    row: &mysql_async::Row,
    physical: &str,
    logical: &str,
    sink: &mut S,
) {
    let cells: Vec<Option<Vec<u8>>> = (0..row.len())
        .map(|i| match row.as_ref(i) {
            Some(mysql_async::Value::Bytes(b)) => {
                let text = String::from_utf8_lossy(b);
                let renamed = if text == physical {
                    logical.to_string()
                } else {
                    text.replacen(&format!("`{physical}`"), &format!("`{logical}`"), 1)
                };
                Some(renamed.into_bytes())
            }
            _ => None,
        })
        .collect();
    let refs: Vec<Option<&[u8]>> = cells.iter().map(|c| c.as_deref()).collect();
    sink.row_cells(&refs);
}
