//! The COM_STMT_* command handlers of a client connection.

use std::io;
use std::sync::Arc;

use mysql_async::prelude::Queryable;
use mysql_common::constants::ColumnType;
use mysql_common::packets::Column;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::backend::session_conns::master_unavailable;
use crate::config::model::{Database, GroupId};
use crate::error::Error;
use crate::execute::route::rename_column;
use crate::execute::{self, Context, OkInfo, ResultSink};
use crate::frontend::connection::{is_show_warnings, show_warnings, Client};
use crate::frontend::encode::{column_payload, eof_payload, put_lenenc_str};
use crate::frontend::sink::ClientSink;
use crate::plan::{self, Plan, PlanContext};

use super::execute_packet::{parse_params, statement_id};
use super::fixed_route::FixedRoute;
use super::literal::literal;
use super::registry::Prepared;
use super::sink::BinarySink;
use super::template::{marker_for, restore_placeholders, Template};

/// Where PREPARE asks a backend for the definitions: the planned shard query with `?`.
struct BackendPrepare {
    db: Arc<Database>,
    group: GroupId,
    sql: String,
    fixed: Option<FixedRoute>,
}

/// One EXECUTE's statement: its text with the values in, and how to answer it.
struct Bound {
    /// Empty when `fixed_plan` is there.
    sql: String,
    fixed_plan: Option<Plan>,
    binary_backend: bool,
    column_names: Arc<[Vec<u8>]>,
}

/// What a backend's PREPARE told about the statement.
#[derive(Default)]
struct Definitions {
    params: Vec<Column>,
    columns: Vec<Column>,
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Client<R, W> {
    pub(in crate::frontend) async fn stmt_prepare(&mut self, body: &[u8]) -> io::Result<()> {
        let Ok(text) = std::str::from_utf8(body) else {
            self.sink(false).error(&Error::InvalidUtf8);
            return Ok(());
        };
        if plan::lexer::has_second_statement(text) {
            self.sink(false).error(&Error::Syntax(
                "a prepared statement holds one statement only".into(),
            ));
            return Ok(());
        }
        let template = Template::new(text);
        if template.param_count() > u16::MAX as usize {
            // The PREPARE answer counts parameters in 16 bits.
            self.sink(false).error(&Error::WrongArguments(format!(
                "COM_STMT_PREPARE: {} placeholders, at most 65535",
                template.param_count()
            )));
            return Ok(());
        }
        let planned = if is_show_warnings(text) {
            // Answered at EXECUTE by the connection that ran the previous statement.
            Ok(None)
        } else {
            self.plan_with_markers(&template)
        };
        let target = match planned {
            Ok(t) => t,
            Err(e) => {
                self.sink(false).error(&e);
                return Ok(());
            }
        };
        let mut defs = match target {
            Some(t) => match self.backend_definitions(&t).await {
                Ok(d) => Some((t, d)),
                Err(e) => {
                    self.sink(false).error(&e);
                    return Ok(());
                }
            },
            None => None,
        };
        let n = template.param_count();
        let binary_backend = defs.as_ref().is_some_and(|(_, d)| {
            d.columns
                .iter()
                .any(|c| c.column_type() == ColumnType::MYSQL_TYPE_FLOAT)
        });
        let column_names = defs.as_ref().map_or_else(Vec::new, |(_, d)| {
            d.columns.iter().map(|c| c.name_ref().to_vec()).collect()
        });
        let fixed_route = defs.as_mut().and_then(|(t, _)| t.fixed.take());
        let id = match self.stmts.insert(Prepared {
            template,
            fixed_route,
            binary_backend,
            column_names: column_names.into(),
            param_types: Vec::new(),
            long_data: vec![None; n],
        }) {
            Ok(id) => id,
            Err(e) => {
                self.sink(false).error(&e);
                return Ok(());
            }
        };
        self.write_prepare_ok(id, n, defs.as_ref());
        Ok(())
    }

    /// Plans the statement with marker values: Some(shard query) to prepare on a backend,
    /// None when the proxy answers the statement itself or the route depends on the values.
    fn plan_with_markers(&self, template: &Template) -> Result<Option<BackendPrepare>, Error> {
        let rules = self.shared.rules();
        let marker = marker_for(template.sql());
        let n = template.param_count();
        let sql = template.render(&vec![marker.as_str(); n]);
        let planned = plan::plan(
            &sql,
            &PlanContext {
                rules: &rules,
                current_db: self.session.current_db.as_ref(),
                columns: Some(self.shared.column_orders()),
                system_schema: self.session.system_schema.as_deref(),
            },
        );
        match planned {
            // Refusals and errors that no value can change are the PREPARE's answer.
            Err(
                e @ (Error::Unsupported(_)
                | Error::Syntax(_)
                | Error::NoDatabaseSelected
                | Error::UnknownDatabase(_)
                | Error::NoSuchTable { .. }),
            ) => Err(e),
            // The marker is no real value (a key that does not place, a SET value that is
            // checked): whether the real ones do is EXECUTE's call.
            Err(_) => Ok(None),
            Ok(Plan::Route(route)) => Ok(route.targets.first().and_then(|t| {
                let sql = restore_placeholders(&t.sql, &marker, n)?;
                let fixed = FixedRoute::new(
                    &route,
                    &sql,
                    rules.clone(),
                    self.session.current_db.as_ref(),
                );
                Some(BackendPrepare {
                    db: route.db.clone(),
                    group: t.group,
                    sql,
                    fixed,
                })
            })),
            Ok(_) => Ok(None),
        }
    }

    async fn backend_definitions(&mut self, t: &BackendPrepare) -> Result<Definitions, Error> {
        let conn = self
            .session
            .conns
            .get(&self.shared.backends, &t.db, t.group)
            .await?;
        let stmt = match conn.prep(t.sql.as_str()).await {
            Ok(s) => s,
            Err(e) => {
                let err = Error::from(e);
                if let Error::BackendConnection(reason) = err {
                    let err = master_unavailable(&t.db, t.group, reason);
                    self.session.conns.discard(&t.db.name, t.group);
                    return Err(err);
                }
                return Err(crate::execute::logical_names::error(err, &t.db));
            }
        };
        let defs = Definitions {
            params: stmt.params().to_vec(),
            columns: stmt.columns().to_vec(),
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
        let Bound {
            sql,
            fixed_plan,
            binary_backend,
            column_names,
        } = match self.bind(body) {
            Ok(bound) => bound,
            Err(e) => {
                self.sink(false).error(&e);
                return Ok(());
            }
        };
        let mut sink = BinarySink::new(
            ClientSink {
                writer: &mut self.writer,
                deprecate_eof: self.deprecate_eof,
                more_results: false,
            },
            binary_backend,
            column_names,
        );
        if is_show_warnings(&sql) {
            // About the previous statement: answered by the connection that ran it.
            let outcome = show_warnings(&sql, &mut self.session, &mut sink).await;
            execute::finish(outcome, &mut sink)?;
            return Ok(());
        }
        let rules = self.shared.rules();
        let ctx = Context {
            rules: &rules,
            backends: &self.shared.backends,
            limits: self.shared.config.limits,
        };
        let orders = self.shared.column_orders();
        let planned = match fixed_plan {
            Some(p) => Ok(p),
            None => execute::columns::plan(&sql, orders, &ctx, &mut self.session).await,
        };
        match planned {
            Ok(p) => {
                execute::run(p, &ctx, &mut self.session, &mut sink).await?;
            }
            Err(e) => sink.error(&e),
        }
        execute::columns::after_statement(&sql, orders);
        Ok(())
    }

    /// The statement's text with this execute's values in place of its placeholders. Long
    /// data is used up by the execute, whether it succeeds or not.
    fn bind(&mut self, body: &[u8]) -> Result<Bound, Error> {
        let id = statement_id(body)?;
        let stmt = self.stmts.get_mut(id, "mysqld_stmt_execute")?;
        let n = stmt.template.param_count();
        let long_data = if stmt.long_data.iter().any(Option::is_some) {
            std::mem::replace(&mut stmt.long_data, vec![None; n])
        } else {
            Vec::new()
        };
        let params = parse_params(body, n, &mut stmt.param_types, &long_data)?;
        let literals = params.iter().map(literal).collect::<Result<Vec<_>, _>>()?;
        let fixed_plan = stmt.fixed_route.as_ref().and_then(|f| {
            f.plan(
                &literals,
                &self.shared.rules(),
                self.session.current_db.as_ref(),
            )
        });
        Ok(Bound {
            sql: match fixed_plan {
                Some(_) => String::new(),
                None => stmt.template.render(&literals),
            },
            fixed_plan,
            binary_backend: stmt.binary_backend,
            column_names: stmt.column_names.clone(),
        })
    }

    /// COM_STMT_SEND_LONG_DATA has no answer; a chunk for an unknown statement or parameter
    /// is dropped (the server reports those at the execute, which then fails its own way).
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
        if let Some(slot) = stmt.long_data.get_mut(param) {
            slot.get_or_insert_with(Vec::new)
                .extend_from_slice(&body[6..]);
        }
    }

    pub(in crate::frontend) fn stmt_reset(&mut self, body: &[u8]) {
        let outcome = statement_id(body).and_then(|id| {
            let stmt = self.stmts.get_mut(id, "mysqld_stmt_reset")?;
            stmt.long_data.iter_mut().for_each(|d| *d = None);
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
