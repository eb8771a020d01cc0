//! Answering the statements the proxy answers itself (`answered_here`), for the text and
//! the binary protocol alike: the admin statements (admin users only, others get 1227
//! naming the statement), KILL, and SHOW PROCESSLIST.

use crate::admin::statements::AdminStatement;
use crate::backend::Access;
use crate::error::Error;
use crate::execute::{self, Context, OkInfo, ResultSink, Session};
use crate::plan::{self, Route, Target};
use crate::server::Shared;

use super::answered_here::{self, is_show_warnings, AnsweredHere};
use super::connection::show_processlist;
use super::sessions::LiveSession;

/// What a statement the proxy answers itself needs of its session.
pub(super) struct Me<'a> {
    pub shared: &'a Shared,
    pub live: &'a LiveSession,
    pub admin: bool,
    pub session: &'a mut Session,
    pub syntax: plan::Syntax,
}

/// Answers a statement the proxy answers itself. `Ok(false)`: it failed, so a
/// multi-statement batch stops.
pub(super) async fn answer_here<S: ResultSink>(
    own: AnsweredHere<'_>,
    sql: &str,
    me: Me<'_>,
    ctx: &Context<'_>,
    sink: &mut S,
) -> std::io::Result<bool> {
    let status = me.session.status;
    let ok = OkInfo {
        status,
        ..OkInfo::default()
    };
    let outcome = match own {
        AnsweredHere::Xa(xa) => {
            return super::xa_admin::answer(xa, me.shared, me.admin, status, sink).await;
        }
        AnsweredHere::Admin(stmt) => admin(stmt, sql, me, ctx, sink).await,
        AnsweredHere::Kill(kill) => kill
            .and_then(|k| super::kill::kill(&k, me.live, me.admin, me.shared.sessions()))
            .map(|()| sink.ok(&ok)),
        AnsweredHere::ShowProcesslist { full } => {
            let db = me.session.current_db.as_ref().map(|d| d.name.as_str());
            show_processlist(me.shared, (me.live, sql, db), me.admin, full, status, sink);
            Ok(())
        }
    };
    match outcome {
        Ok(()) => {
            sink.maybe_flush().await?;
            Ok(true)
        }
        Err(e) => {
            sink.error(&e);
            Ok(false)
        }
    }
}

async fn admin<S: ResultSink>(
    stmt: Result<AdminStatement<'_>, Error>,
    sql: &str,
    me: Me<'_>,
    ctx: &Context<'_>,
    sink: &mut S,
) -> Result<(), Error> {
    let stmt = stmt?;
    // SHOW SHARDGATE GROUPS predates the admin flag and stays open to every user.
    if !me.admin && stmt != AdminStatement::ShowGroups {
        return Err(Error::AdminOnly(stmt.name()));
    }
    let status = me.session.status;
    let state = me.shared.state();
    let rows = match stmt {
        AdminStatement::Reload => {
            let done = me.shared.reload().map_err(Error::ReloadRefused)?;
            sink.ok(&OkInfo {
                status,
                info: format!(
                    "rules generation {} ({} warnings, in the log)",
                    done.generation,
                    done.warnings.len()
                )
                .into_bytes(),
                ..OkInfo::default()
            });
            return Ok(());
        }
        AdminStatement::ShowGroups => (
            "SHARDGATE_GROUPS",
            crate::admin::groups::COLUMNS,
            crate::admin::groups::rows(me.shared.health()),
        ),
        AdminStatement::ShowRules => (
            "SHARDGATE_RULES",
            crate::admin::rules::COLUMNS,
            crate::admin::rules::rows(&me.shared.rules(), state.rules_loaded()),
        ),
        AdminStatement::ShowSessions => {
            // This SHOW is the asking session's running statement.
            let db = me.session.current_db.as_ref().map(|d| d.name.as_str());
            me.live.begin_statement(sql, db);
            let snapshots = me.shared.sessions().all().into_iter().map(|s| s.snapshot());
            let rows = crate::admin::sessions::rows(snapshots, me.live.id);
            me.live.end_statement();
            ("SHARDGATE_SESSIONS", crate::admin::sessions::COLUMNS, rows)
        }
        AdminStatement::ShowStats => (
            "SHARDGATE_STATS",
            crate::admin::stats::COLUMNS,
            crate::admin::stats::rows(state.stats(), state.result_cache()),
        ),
        AdminStatement::Preview(text) => (
            "SHARDGATE_PREVIEW",
            crate::admin::preview::COLUMNS,
            preview(text, me, ctx).await?,
        ),
    };
    let (table, columns, rows) = rows;
    write_rows(table, columns, &rows, status, sink);
    Ok(())
}

/// The rows of `SHARDGATE PREVIEW <text>`: the plan execution would run, or its refusal.
async fn preview(
    text: &str,
    me: Me<'_>,
    ctx: &Context<'_>,
) -> Result<Vec<Vec<Option<String>>>, Error> {
    let first = plan::FirstWord::of(text);
    if let Some(own) = answered_here::recognise(first, text) {
        let what = match own {
            AnsweredHere::Xa(xa) => xa.name()?,
            AnsweredHere::Admin(stmt) => stmt?.name(),
            AnsweredHere::Kill(kill) => {
                kill?;
                "KILL"
            }
            AnsweredHere::ShowProcesslist { .. } => "SHOW PROCESSLIST",
        };
        return Ok(crate::admin::preview::answered_by_proxy(what));
    }
    if is_show_warnings(first, text) {
        return Ok(crate::admin::preview::answered_by_proxy(
            "SHOW WARNINGS: on the connection that ran the previous statement",
        ));
    }
    let spliced = plan::connection_id::splice(text, me.live.id, me.syntax)?;
    let reading = execute::columns::Reading {
        syntax: me.syntax,
        read_only_functions: &me.shared.config.read_only_functions,
    };
    let orders = me.shared.column_orders();
    let planned = execute::columns::plan(&spliced, orders, reading, ctx, me.session).await?;
    let session: &Session = me.session;
    let window = ctx.backends.master_after_write;
    let role = |r: &Route, t: &Target| -> &'static str {
        let status = session.txn_aware_status();
        let group = &r.db.groups[t.group];
        let no_replica = group.replicas.is_empty()
            || group.read_policy == crate::config::model::ReadPolicy::MasterOnly;
        match session.reads.access(r, t, status, window) {
            Access::Read if !no_replica => "replica",
            _ => "master",
        }
    };
    Ok(crate::admin::preview::rows(&planned, &role))
}

fn write_rows<S: ResultSink>(
    table: &str,
    columns: &[&str],
    rows: &[Vec<Option<String>>],
    status: u16,
    sink: &mut S,
) {
    sink.synthetic_columns(table, columns);
    for row in rows {
        let cells: Vec<Option<&[u8]>> = row
            .iter()
            .map(|c| c.as_deref().map(str::as_bytes))
            .collect();
        sink.row_cells(&cells);
    }
    sink.end_rows(&OkInfo {
        status,
        ..OkInfo::default()
    });
}
