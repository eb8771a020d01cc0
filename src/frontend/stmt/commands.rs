//! The COM_STMT_* command handlers of a client connection.

use std::io;
use std::sync::Arc;

use mysql_async::prelude::Queryable;
use mysql_common::constants::ColumnType;

use crate::backend::ServerRef;
use mysql_common::packets::Column;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::backend::session_conns::master_unavailable;
use crate::config::model::{Database, GroupId};
use crate::error::{BackendError, Error};
use crate::execute::route::rename_column;
use crate::execute::{self, Context, OkInfo, ResultSink};
use crate::frontend::admin_sql::{answer_here, Me};
use crate::frontend::answered_here::{self, is_show_warnings};
use crate::frontend::connection::{note_multiplexed_use_of, show_warnings, Client};
use crate::frontend::encode::{column_payload, eof_payload, put_lenenc_str};
use crate::frontend::report::{report, Counted, Report};
use crate::frontend::sink::ClientSink;
use crate::plan::{self, Plan, PlanContext};
use crate::stats::RouteKind;

use super::bound::BoundValues;
use super::execute_packet::{parse_params, statement_id, Parsed};
use super::fixed_route::FixedRoute;
use super::literal::literal;
use super::registry::Prepared;
use super::sink::BinarySink;
use super::template::{
    marker_for, next_marker, restore_in_aliases, restore_placeholders, Template,
};

/// Where PREPARE asks a backend for the definitions: a planned shard query with `?`.
struct BackendPrepare {
    db: Arc<Database>,
    group: GroupId,
    sql: String,
    /// Trailing columns of a merged read's shard rows that the client never sees.
    hidden: usize,
    fixed: Option<FixedRoute>,
    /// A read without tables: its PREPARE leaves the server's diagnostics alone.
    reads_no_table: bool,
}

/// One EXECUTE's statement: its text with the values in, and how to answer it.
struct Bound {
    /// The rendered text, and where its values can be bound instead (see `bound`).
    values: BoundValues,
    fixed_plan: Option<Plan>,
    /// The database the statement was prepared in: it runs there, whatever USE came since.
    db: Option<Arc<Database>>,
    binary_backend: bool,
    column_names: Arc<[Vec<u8>]>,
}

/// What a backend's PREPARE told about the statement.
#[derive(Default)]
struct Definitions {
    params: Vec<Column>,
    columns: Vec<Column>,
}

/// Distinct marker values tried at PREPARE: each may place a key on another shard, so a
/// statement can be described by a group that is up while another is down.
const MARKER_TRIES: u32 = 16;

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Client<R, W> {
    pub(in crate::frontend) async fn stmt_prepare(&mut self, body: &[u8]) -> io::Result<()> {
        self.statement_rules();
        let text = match self.session.charset.decode(body) {
            Ok(t) => t.into_owned(),
            Err(e) => {
                self.prepare_failed(&e);
                return Ok(());
            }
        };
        let text = text.as_str();
        // KILL, SHOW PROCESSLIST and the admin statements are answered at EXECUTE by the
        // proxy (their columns come with the answer); elsewhere the session's own id
        // replaces CONNECTION_ID().
        let first = plan::FirstWord::of(text);
        let answered_here = answered_here::recognise(first, text).is_some();
        let text = if answered_here {
            std::borrow::Cow::Borrowed(text)
        } else {
            match plan::connection_id::splice(text, self.live.id, self.syntax()) {
                Ok(t) => t,
                Err(e) => {
                    self.sink(false).error(&e);
                    return Ok(());
                }
            }
        };
        let template = match Template::prepare(&text, self.syntax()) {
            Ok(t) => t,
            Err(e) => {
                self.prepare_failed(&e);
                return Ok(());
            }
        };
        if template.param_count() > u16::MAX as usize {
            // The PREPARE answer counts parameters in 16 bits.
            self.prepare_failed(&Error::WrongArguments(format!(
                "COM_STMT_PREPARE: {} placeholders, at most 65535",
                template.param_count()
            )));
            return Ok(());
        }
        let show_warnings_here =
            is_show_warnings(plan::FirstWord::of(template.sql()), template.sql());
        let defs = if show_warnings_here || answered_here {
            // Answered at EXECUTE by the connection that ran the previous statement.
            Ok(None)
        } else {
            self.describe(&template).await
        };
        let mut defs = match defs {
            Ok(d) => d,
            Err(e) => {
                self.prepare_failed(&e);
                return Ok(());
            }
        };
        let n = template.param_count();
        let binary_backend = defs
            .as_ref()
            .is_some_and(|(_, d)| text_loses_digits(&d.columns));
        let column_names = defs.as_ref().map_or_else(Vec::new, |(_, d)| {
            d.columns.iter().map(|c| c.name_ref().to_vec()).collect()
        });
        let fixed_route = defs.as_mut().and_then(|(t, _)| t.fixed.take());
        let id = match self.stmts.insert(Prepared {
            template,
            db: self.session.current_db.clone(),
            fixed_route,
            binary_backend,
            column_names: column_names.into(),
            param_types: Vec::new(),
            long_data: vec![None; n],
            long_data_error: None,
            multiplexed_use: [None, None],
            reading: self.session.conns.reading_fingerprint(),
        }) {
            Ok(id) => id,
            Err(e) => {
                self.prepare_failed(&e);
                return Ok(());
            }
        };
        self.write_prepare_ok(id, n, defs.as_ref());
        Ok(())
    }

    /// A failed PREPARE is the session's last error, as on the server, and the connection
    /// that described it holds that error in its diagnostics: it leaves the session reset
    /// (`SessionConns::note_statement_diagnostics`), where another session's first
    /// `SELECT @@error_count` read 1.
    fn prepare_failed(&mut self, e: &Error) {
        crate::execute::diagnostics::after_statement(
            &mut self.session,
            None,
            Some((e.code(), e.to_string())),
            0,
        );
        self.sink(false).error(e);
    }

    /// The statement's parameter and column definitions, from a backend that is up: the
    /// statement is planned with marker values, and while the planned shard query's server
    /// cannot be reached, other markers (other shards) are tried. None when the proxy
    /// answers the statement itself or no plan of it names a backend query.
    async fn describe(
        &mut self,
        template: &Template,
    ) -> Result<Option<(BackendPrepare, Definitions)>, Error> {
        let mut tried: Vec<(String, GroupId)> = Vec::new();
        let mut last_err = None;
        let mut marker = marker_for(template.sql());
        for _ in 0..MARKER_TRIES {
            let Some(candidate) = self.plan_with_markers(template, &marker)? else {
                break;
            };
            let key = (candidate.db.name.clone(), candidate.group);
            if !tried.contains(&key) {
                tried.push(key);
                match self.backend_definitions(&candidate).await {
                    Ok(defs) => return Ok(Some((candidate, defs))),
                    Err(e @ (Error::GroupUnavailable { .. } | Error::BackendConnection(_))) => {
                        last_err = Some(e)
                    }
                    Err(e) => return Err(e),
                }
            }
            marker = next_marker(&marker, template.sql());
        }
        match last_err {
            Some(e) => Err(e),
            None => Ok(None),
        }
    }

    /// Plans the statement with `marker` in every placeholder: Some(shard query) to prepare
    /// on a backend, None when the proxy answers the statement itself or the route depends
    /// on the values.
    fn plan_with_markers(
        &self,
        template: &Template,
        marker: &str,
    ) -> Result<Option<BackendPrepare>, Error> {
        let rules = self.planning_rules();
        let n = template.param_count();
        let sql = template.render(&vec![marker; n]);
        let planned = plan::plan(
            &sql,
            &PlanContext {
                rules: &rules,
                current_db: self.session.current_db.as_ref(),
                syntax: template.syntax(),
                read_only_functions: &self.shared.config.read_only_functions,
                columns: Some(self.shared.column_orders()),
                system_schema: self.session.system_schema.as_deref(),
            },
        );
        let (route, hidden) = match planned {
            // Refusals and errors that no value can change are the PREPARE's answer.
            Err(
                e @ (Error::Unsupported(_)
                | Error::Syntax(_)
                | Error::NoDatabaseSelected
                | Error::UnknownDatabase(_)
                | Error::NoSuchTable { .. }),
            ) => return Err(e),
            // The marker is no real value (a key that does not place, a SET value that is
            // checked): whether the real ones do is EXECUTE's call.
            Err(_) => return Ok(None),
            Ok(Plan::Route(route)) => (route, 0),
            Ok(Plan::Scatter(s)) => (s.route, s.merge.hidden),
            Ok(_) => return Ok(None),
        };
        // Any target describes the statement; the first one on a group that is up.
        let backends = self.shared.backends();
        let healthy = |group: GroupId| {
            backends
                .group(&route.db, group)
                .is_none_or(|g| g.master.health.in_rotation())
        };
        let Some(t) = route
            .targets
            .iter()
            .find(|t| healthy(t.group))
            .or(route.targets.first())
        else {
            return Ok(None);
        };
        // A shard query that copied or dropped a marker is prepared with the markers in:
        // its columns are right, its parameters are then described generically.
        let sql = restore_placeholders(&t.sql, marker, n, template.syntax())
            .unwrap_or_else(|| restore_in_aliases(&t.sql, marker, template.syntax()));
        let fixed = (hidden == 0)
            .then(|| {
                FixedRoute::new(
                    &route,
                    &sql,
                    rules.clone(),
                    self.session.current_db.as_ref(),
                    template.syntax(),
                )
            })
            .flatten();
        Ok(Some(BackendPrepare {
            db: route.db.clone(),
            group: t.group,
            sql,
            hidden,
            fixed,
            reads_no_table: execute::diagnostics::reads_no_table(&route),
        }))
    }

    /// The definitions from a backend. For a read without tables the session's record of
    /// the previous statement's diagnostics is set aside meanwhile, as for its EXECUTE
    /// (`execute::diagnostics`): the connection the describe takes would forget it.
    async fn backend_definitions(&mut self, t: &BackendPrepare) -> Result<Definitions, Error> {
        let aside = t
            .reads_no_table
            .then(|| self.session.conns.set_aside_wire_warnings());
        let defs = self.describe_on_a_backend(t).await;
        if let Some(aside) = aside {
            self.session.conns.put_back_wire_warnings(aside);
        }
        defs
    }

    async fn describe_on_a_backend(&mut self, t: &BackendPrepare) -> Result<Definitions, Error> {
        // With the session's SETs prefix, as every backend statement text: the driver keeps
        // statements by their text, and one an execute prepared before a SET (sql_mode,
        // NAMES) must not describe this one.
        let text = format!("{}{}", self.session.conns.statement_prefix(), t.sql);
        let wire = self.session.charset.encode(&text)?.into_owned();
        let backends = self.shared.backends();
        let group = backends.group(&t.db, t.group).cloned();
        // A master whose circuit is open is not waited for: a replica describes the
        // statement as well (nothing runs at PREPARE).
        let server = match &group {
            Some(g) if !g.master.health.in_rotation() && !g.replicas.is_empty() => {
                ServerRef::Replica(0)
            }
            _ => ServerRef::Master,
        };
        // Waiting for a pool slot is a running statement to KILL QUERY, as an EXECUTE's is.
        let token = self.live.begin_statement(&t.sql, Some(&t.db.name));
        let taken = tokio::select! {
            biased;
            conn = self.session.conns.get_at(&backends, &t.db, t.group, server) => Some(conn),
            _ = token.cancelled() => None,
        };
        self.live.end_statement();
        let conn = match taken {
            Some(conn) => conn?,
            None if self.live.ended().is_cancelled() => return Err(Error::ConnectionKilled),
            None => return Err(Error::Interrupted(String::new())),
        };
        let stmt = match conn.prep(wire.as_slice()).await {
            Ok(s) => s,
            Err(e) => {
                let err = Error::from(e);
                if err.breaks_connection() {
                    self.session.conns.discard_at(&t.db, t.group, server);
                    if server == ServerRef::Master {
                        self.session
                            .txn
                            .connection_lost(&t.db.name, t.group, &err.to_string());
                    }
                }
                if let Error::BackendConnection(reason) = err {
                    return Err(master_unavailable(&t.db, t.group, reason));
                }
                let err = err.packet_too_large_at(|| {
                    format!(
                        "group '{}' of database '{}'",
                        t.db.groups[t.group].name, t.db.name
                    )
                });
                return Err(crate::execute::logical_names::error(err, &t.db));
            }
        };
        let visible = stmt.columns().len().saturating_sub(t.hidden);
        let defs = Definitions {
            params: stmt.params().to_vec(),
            columns: stmt.columns()[..visible].to_vec(),
        };
        // Only the definitions were wanted; a failed close leaves a statement on a
        // connection that is reset when it goes back to the pool.
        let _ = conn.close(stmt).await;
        Ok(defs)
    }

    fn write_prepare_ok(
        &mut self,
        id: u32,
        params: usize,
        defs: Option<&(BackendPrepare, Definitions)>,
    ) {
        let columns = defs.map_or(0, |(_, d)| d.columns.len());
        let status = self.session.status;
        let p = self.writer.begin();
        p.push(0x00);
        p.extend_from_slice(&id.to_le_bytes());
        p.extend_from_slice(&(columns as u16).to_le_bytes());
        p.extend_from_slice(&(params as u16).to_le_bytes());
        p.push(0);
        p.extend_from_slice(&0u16.to_le_bytes());
        self.writer.finish();
        if params > 0 {
            let backend_params = defs
                .map(|(_, d)| d.params.as_slice())
                .filter(|p| p.len() == params);
            for i in 0..params {
                let p = self.writer.begin();
                match backend_params {
                    Some(cols) => column_payload(p, &cols[i], Default::default()),
                    None => placeholder_definition(p),
                }
                self.writer.finish();
            }
            self.end_of_definitions(status);
        }
        if let Some((t, d)) = defs.filter(|(_, d)| !d.columns.is_empty()) {
            let schema = t.db.groups[t.group].schema.as_str();
            for col in &d.columns {
                let p = self.writer.begin();
                column_payload(p, col, rename_column(col, &t.db, schema));
                self.writer.finish();
            }
            self.end_of_definitions(status);
        }
    }

    fn end_of_definitions(&mut self, status: u16) {
        if !self.deprecate_eof {
            let p = self.writer.begin();
            eof_payload(p, 0, status);
            self.writer.finish();
        }
    }

    pub(in crate::frontend) async fn stmt_execute(&mut self, body: &[u8]) -> io::Result<()> {
        if let Err(e) = self.hold_gate_prepared(body).await {
            self.sink(false).error(&e);
            return Ok(());
        }
        let Bound {
            values,
            fixed_plan,
            db,
            binary_backend,
            column_names,
        } = match self.bind(body) {
            Ok(bound) => bound,
            Err(e) => {
                self.sink(false).error(&e);
                return Ok(());
            }
        };
        let syntax = self.syntax();
        let admin = self.is_admin();
        let rules = self.planning_rules();
        let started = std::time::Instant::now();
        self.session.trace.clear();
        let backends = self.shared.backends();
        let config_shared = self.shared.clone();
        let ctx = Context {
            rules: &rules,
            backends: &backends,
            limits: self.shared.config.limits,
            xa: self.shared.xa(),
            reading: execute::columns::Reading {
                syntax,
                read_only_functions: &config_shared.config.read_only_functions,
            },
            column_orders: config_shared.column_orders(),
        };
        // Statements the proxy answers itself, from the session or the process.
        let first = plan::FirstWord::of(values.rendered());
        let changes_columns = plan::first_word_changes_columns(first);
        let show_warnings_here = is_show_warnings(first, values.rendered());
        if show_warnings_here || answered_here::recognise(first, values.rendered()).is_some() {
            let own_sql = values.into_rendered();
            let own = answered_here::recognise(plan::FirstWord::of(&own_sql), &own_sql);
            let mut sink = Counted::new(BinarySink::new(
                ClientSink {
                    writer: &mut self.writer,
                    deprecate_eof: self.deprecate_eof,
                    more_results: false,
                },
                binary_backend,
                column_names,
                None,
                self.session.conns.statement_prefix(),
            ));
            let kind = if let Some(own) = own {
                let me = Me {
                    shared: &self.shared,
                    live: &self.live,
                    admin,
                    session: &mut self.session,
                    syntax,
                };
                answer_here(own, &own_sql, me, &ctx, &mut sink).await?;
                RouteKind::Proxy
            } else {
                // About the previous statement: answered by the connection that ran it.
                let outcome = show_warnings(&own_sql, &mut self.session, &mut sink).await;
                execute::finish(outcome, &mut sink)?;
                RouteKind::Single
            };
            let outcome = sink.outcome();
            let r = Report {
                kind,
                started,
                outcome,
                sql: &own_sql,
                syntax,
            };
            report(&self.shared, &self.live, &self.login.user, &self.session, r);
            return Ok(());
        }
        let sql = values.rendered().to_string();
        // The statement runs in its own database; the session's is back for what follows.
        let session_db = std::mem::replace(&mut self.session.current_db, db);
        let orders = self.shared.column_orders();
        let reading = execute::columns::Reading {
            syntax,
            read_only_functions: &self.shared.config.read_only_functions,
        };
        let planned = match fixed_plan {
            Some(p) => Ok(p),
            None => execute::columns::plan(&sql, orders, reading, &ctx, &mut self.session).await,
        };
        let mut sink = Counted::new(BinarySink::new(
            ClientSink {
                writer: &mut self.writer,
                deprecate_eof: self.deprecate_eof,
                more_results: false,
            },
            binary_backend,
            column_names,
            Some(values),
            self.session.conns.statement_prefix(),
        ));
        let mut wrote = false;
        let mut aside = None;
        let (kind, outcome) = match planned {
            Ok(p) => {
                let kind = RouteKind::of(&p);
                wrote = crate::frontend::cached_reads::may_write(&p);
                aside = execute::diagnostics::set_aside(&p, &mut self.session);
                let ran = crate::frontend::interrupt::run_statement(
                    &self.live,
                    &sql,
                    p,
                    &ctx,
                    &mut self.session,
                    &mut sink,
                )
                .await;
                (kind, ran)
            }
            Err(e) => {
                sink.error(&e);
                (RouteKind::Refused, Ok(false))
            }
        };
        let counted = sink.outcome();
        let (failure, warnings) = (sink.failure(), sink.warnings());
        execute::diagnostics::after_statement(&mut self.session, aside, failure, warnings);
        let r = Report {
            kind,
            started,
            outcome: counted,
            sql: &sql,
            syntax,
        };
        report(&self.shared, &self.live, &self.login.user, &self.session, r);
        // Prepared statements are not answered from the result cache, but their writes
        // invalidate it like any other.
        crate::frontend::cached_reads::after_statement(
            self.shared.result_cache(),
            &mut self.session,
            &sql,
            wrote,
        );
        self.session.current_db = session_db;
        execute::columns::after_statement(changes_columns, orders, &[&rules, &self.shared.rules()]);
        if changes_columns && matches!(outcome, Ok(true)) {
            crate::backend::key_columns::learn_after_ddl(
                self.shared.rules(),
                self.shared.config.backend.clone(),
            )
            .await;
        }
        outcome?;
        Ok(())
    }

    /// The statement's text with this execute's values in place of its placeholders. Long
    /// data is used up by the execute, whether it succeeds or not.
    fn bind(&mut self, body: &[u8]) -> Result<Bound, Error> {
        let id = statement_id(body)?;
        let rules = self.statement_rules();
        let now = self.syntax();
        let reading = self.session.conns.reading_fingerprint();
        let stmt = self.stmts.get_mut(id, "mysqld_stmt_execute")?;
        let quoted = |sql: &str| sql.contains('\'') || sql.contains('"');
        let reread = stmt.reading.sql_mode != reading.sql_mode
            || (stmt.reading.charset != reading.charset && quoted(stmt.template.sql()));
        if stmt.template.syntax().mode != now.mode || reread {
            // The server would run the statement as it read it at PREPARE; the proxy sends
            // text, which the server would read by today's sql_mode and character set (a
            // literal's charset, HIGH_NOT_PRECEDENCE, EMPTY_STRING_IS_NULL, ...).
            return Err(Error::unsupported(
                "executing a prepared statement after sql_mode or the character set (SET \
                 NAMES) changed since its PREPARE (prepare it again)"
                    .to_string(),
            ));
        }
        let n = stmt.template.param_count();
        let long_data = if stmt.long_data.iter().any(Option::is_some) {
            std::mem::replace(&mut stmt.long_data, vec![None; n])
        } else {
            Vec::new()
        };
        if let Some(e) = &stmt.long_data_error {
            // As on the server, the statement fails until COM_STMT_RESET.
            return Err(e.clone());
        }
        // Planned in its own database as the rules name it now (a reload may have changed
        // its layout); one that is gone is an error, as a dropped database is.
        let db = match &stmt.db {
            Some(d) => Some(
                rules
                    .database(&d.name)
                    .cloned()
                    .ok_or_else(|| Error::UnknownDatabase(d.name.clone()))?,
            ),
            None => None,
        };
        let Parsed {
            params,
            forwardable,
        } = parse_params(body, n, &mut stmt.param_types, &long_data)?;
        let literals = params
            .iter()
            .map(|p| literal(p, &self.session.charset))
            .collect::<Result<Vec<_>, _>>()?;
        let fixed = stmt
            .fixed_route
            .as_ref()
            .and_then(|f| f.plan(&literals, &rules, db.as_ref()));
        // What the statement leaves on its connection decides, as for a text query, whether
        // a multiplexed session keeps its connections.
        let multiplex = self.shared.config.backend.multiplex;
        let read_only = &self.shared.config.read_only_functions;
        note_multiplexed_use_of(multiplex, &mut self.session, |kept| {
            stmt.multiplexed_use(kept, read_only)
        })?;
        let values = match fixed {
            Some((plan, rendered, spans)) => {
                let forwarded_sql = match (&forwardable, stmt.fixed_route.as_mut()) {
                    (Some(_), Some(f)) => {
                        Some(f.forwarded_sql(&self.session.conns.statement_prefix()))
                    }
                    _ => None,
                };
                let mut values = BoundValues::new(rendered, spans, params, forwardable)
                    .with_syntax(stmt.template.syntax());
                if let Some(sql) = forwarded_sql {
                    values = values.with_forwarded_sql(sql);
                }
                return Ok(Bound {
                    values,
                    fixed_plan: Some(plan),
                    db,
                    binary_backend: stmt.binary_backend,
                    column_names: stmt.column_names.clone(),
                });
            }
            None => {
                let (rendered, spans) = stmt.template.render_spans(&literals);
                BoundValues::new(rendered, spans, params, forwardable)
                    .with_syntax(stmt.template.syntax())
            }
        };
        Ok(Bound {
            values,
            fixed_plan: None,
            db,
            binary_backend: stmt.binary_backend,
            column_names: stmt.column_names.clone(),
        })
    }

    /// COM_STMT_SEND_LONG_DATA has no answer; a chunk for an unknown statement or parameter
    /// is dropped (the server reports those at the execute, which then fails its own way).
    /// A parameter's data is capped at max_allowed_packet as the server caps it: past it the
    /// data is dropped and the next execute fails with the server's error.
    pub(in crate::frontend) fn stmt_send_long_data(&mut self, body: &[u8]) {
        let (Ok(id), Some(param)) = (
            statement_id(body),
            body.get(4..6)
                .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize),
        ) else {
            return;
        };
        let Ok(stmt) = self.stmts.get_mut(id, "mysqld_stmt_send_long_data") else {
            return;
        };
        if stmt.long_data_error.is_some() {
            return;
        }
        if let Some(slot) = stmt.long_data.get_mut(param) {
            let chunk = &body[6..];
            let held = slot.as_ref().map_or(0, Vec::len);
            if held + chunk.len() > MAX_ALLOWED_PACKET {
                *slot = None;
                stmt.long_data_error = Some(long_data_too_long());
                return;
            }
            slot.get_or_insert_with(Vec::new).extend_from_slice(chunk);
        }
    }

    pub(in crate::frontend) fn stmt_reset(&mut self, body: &[u8]) {
        let outcome = statement_id(body).and_then(|id| {
            let stmt = self.stmts.get_mut(id, "mysqld_stmt_reset")?;
            stmt.long_data.iter_mut().for_each(|d| *d = None);
            stmt.long_data_error = None;
            Ok(())
        });
        match outcome {
            Ok(()) => {
                let status = self.session.status;
                self.sink(false).ok(&OkInfo {
                    status,
                    ..OkInfo::default()
                });
            }
            Err(e) => self.sink(false).error(&e),
        }
    }

    /// COM_STMT_CLOSE has no answer, not even for an unknown id.
    pub(in crate::frontend) fn stmt_close(&mut self, body: &[u8]) {
        if let Ok(id) = statement_id(body) {
            self.stmts.remove(id);
        }
    }
}

/// The server's default max_allowed_packet, the most long data one parameter may hold.
pub const MAX_ALLOWED_PACKET: usize = 16 * 1024 * 1024;

/// What the server answers an execute whose long data went past max_allowed_packet.
fn long_data_too_long() -> Error {
    Error::Backend(BackendError {
        code: 1105,
        state: "HY000".into(),
        message: "Parameter of prepared statement which is set through mysql_send_long_data() \
                  is longer than 'max_allowed_packet' bytes"
            .into(),
    })
}

/// True when the text protocol prints some column with fewer digits than its binary form
/// has: FLOAT (6 significant digits) and a DOUBLE with fixed decimals (`PI()`: 6).
/// DOUBLE without (decimals 31) prints the shortest text that reads back exactly.
fn text_loses_digits(cols: &[Column]) -> bool {
    cols.iter().any(|c| match c.column_type() {
        ColumnType::MYSQL_TYPE_FLOAT => true,
        ColumnType::MYSQL_TYPE_DOUBLE => c.decimals() < 31,
        _ => false,
    })
}

/// A parameter definition when no backend described it, as the server writes its own: `?`,
/// binary VAR_STRING.
fn placeholder_definition(buf: &mut Vec<u8>) {
    put_lenenc_str(buf, b"def");
    for _ in 0..3 {
        put_lenenc_str(buf, b"");
    }
    put_lenenc_str(buf, b"?");
    put_lenenc_str(buf, b"");
    buf.push(0x0C);
    buf.extend_from_slice(&63u16.to_le_bytes());
    buf.extend_from_slice(&0u32.to_le_bytes());
    buf.push(mysql_common::constants::ColumnType::MYSQL_TYPE_VAR_STRING as u8);
    buf.extend_from_slice(&0x80u16.to_le_bytes()); // BINARY
    buf.push(0);
    buf.extend_from_slice(&[0, 0]);
}
