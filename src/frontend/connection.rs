//! One client connection: the login, then the command loop. Everything a session owns lives
//! in this task, so nothing here needs a lock.

use std::sync::Arc;

use mysql_async::prelude::Queryable;
use mysql_common::constants::CapabilityFlags;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::error::Error;
use crate::execute::{self, Context, OkInfo, ResultSink, Session};
use crate::plan;
use crate::server::Shared;

use super::commands::*;
use super::handshake::{
    handshake, send_error, write_login_ok, HandshakeOutcome, Login, DEFAULT_COLLATION,
};
use super::packet::{PacketReader, PacketWriter};
use super::sink::ClientSink;
use super::stmt::registry::Registry;

/// max_allowed_packet for what clients send us.
const MAX_CLIENT_PACKET: usize = 64 * 1024 * 1024;

pub async fn serve_client<R, W>(
    reader: R,
    writer: W,
    shared: Arc<Shared>,
    connection_id: u32,
    peer_host: String,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut reader = PacketReader::new(reader, MAX_CLIENT_PACKET);
    let mut writer = PacketWriter::new(writer);
    let outcome = handshake(&mut reader, &mut writer, connection_id, &shared, &peer_host).await;
    let login = match outcome {
        Ok(HandshakeOutcome::Accepted(login)) => login,
        Ok(HandshakeOutcome::Rejected) => return,
        Err(e) => {
            tracing::debug!(connection_id, "handshake failed: {e}");
            return;
        }
    };
    let mut client = Client {
        reader,
        writer,
        shared,
        session: Session::default(),
        multi_statements: login
            .capabilities
            .contains(CapabilityFlags::CLIENT_MULTI_STATEMENTS),
        deprecate_eof: login
            .capabilities
            .contains(CapabilityFlags::CLIENT_DEPRECATE_EOF),
        connection_id,
        stmts: Registry::default(),
    };
    if let Err(e) = client.start(&login).await {
        tracing::debug!(connection_id, "client left during login: {e}");
        return;
    }
    if let Err(e) = client.command_loop().await {
        tracing::debug!(connection_id, "connection ended: {e}");
    }
    // An open transaction is rolled back before its connection goes back to the pool.
    let reset = client.shared.config.backend.multiplex;
    execute::txn::close(&mut client.session, reset).await;
}

pub(super) struct Client<R, W> {
    reader: PacketReader<R>,
    pub(super) writer: PacketWriter<W>,
    pub(super) shared: Arc<Shared>,
    pub(super) session: Session,
    multi_statements: bool,
    pub(super) deprecate_eof: bool,
    connection_id: u32,
    /// Prepared statements of this connection (COM_STMT_*).
    pub(super) stmts: Registry,
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Client<R, W> {
    async fn start(&mut self, login: &Login) -> std::io::Result<()> {
        if let Some(db) = &login.database {
            let rules = self.shared.rules();
            if let Err(e) = execute::session::select_database(db, &rules, &mut self.session) {
                return send_error(&mut self.writer, &e).await;
            }
        }
        if login.collation != DEFAULT_COLLATION as u16 {
            if let Some(set_names) = set_names_for(login.collation) {
                self.session.conns.remember(&set_names);
            }
        }
        write_login_ok(&mut self.writer, self.session.status);
        self.writer.flush().await
    }

    async fn command_loop(&mut self) -> std::io::Result<()> {
        let mut buf = Vec::with_capacity(4096);
        loop {
            let Some(seq) = self.reader.read_packet(&mut buf).await? else {
                return Ok(());
            };
            self.writer.set_seq(seq.wrapping_add(1));
            let Some((&command, body)) = buf.split_first() else {
                self.sink(false)
                    .error(&Error::MalformedPacket("empty command packet".into()));
                self.writer.flush().await?;
                continue;
            };
            match command {
                COM_QUIT => return Ok(()),
                COM_QUERY => self.query(body).await?,
                COM_PING => self.ok(),
                COM_INIT_DB => {
                    let name = String::from_utf8_lossy(body).into_owned();
                    let rules = self.shared.rules();
                    let ctx = Context {
                        rules: &rules,
                        backends: &self.shared.backends,
                        limits: self.shared.config.limits,
                    };
                    let outcome = execute::session::use_database(
                        &name,
                        &ctx,
                        &mut self.session,
                        &mut ClientSink {
                            writer: &mut self.writer,
                            deprecate_eof: self.deprecate_eof,
                            more_results: false,
                        },
                    );
                    execute::finish(outcome, &mut self.sink(false))?;
                }
                COM_FIELD_LIST => {
                    // Deprecated; clients use it only for tab completion. An empty field
                    // list is an honest "nothing to complete".
                    self.end_of_field_list();
                }
                COM_STATISTICS => {
                    let text = format!(
                        "Uptime: {}  Threads: {}  shardgate connection id: {}",
                        self.shared.uptime_secs(),
                        self.shared.open_connections(),
                        self.connection_id
                    );
                    self.writer.write_packet(text.as_bytes());
                }
                COM_SET_OPTION => {
                    match body.first() {
                        Some(0) => self.multi_statements = true,
                        Some(1) => self.multi_statements = false,
                        _ => {
                            self.sink(false).error(&Error::MalformedPacket(
                                "COM_SET_OPTION needs option 0 or 1".into(),
                            ));
                            self.writer.flush().await?;
                            continue;
                        }
                    }
                    let st = self.session.status;
                    let p = self.writer.begin();
                    super::encode::eof_payload(p, 0, st);
                    self.writer.finish();
                }
                COM_RESET_CONNECTION => {
                    self.stmts.clear();
                    let reset = self.shared.config.backend.multiplex;
                    execute::txn::close(&mut self.session, reset).await;
                    let current_db = self.session.current_db.take();
                    let system_schema = self.session.system_schema.take();
                    self.session = Session {
                        current_db,
                        system_schema,
                        ..Session::default()
                    };
                    self.ok();
                }
                COM_STMT_PREPARE => self.stmt_prepare(body).await?,
                COM_STMT_EXECUTE => self.stmt_execute(body).await?,
                COM_STMT_RESET => self.stmt_reset(body),
                // CLOSE and SEND_LONG_DATA have no response, by protocol.
                COM_STMT_CLOSE => {
                    self.stmt_close(body);
                    continue;
                }
                COM_STMT_SEND_LONG_DATA => {
                    self.stmt_send_long_data(body);
                    continue;
                }
                COM_STMT_FETCH => {
                    // EXECUTE never opens a cursor (it sends the whole result, without
                    // SERVER_STATUS_CURSOR_EXISTS), so there is nothing to fetch from.
                    self.sink(false).error(&Error::unsupported(
                        "cursors (COM_STMT_FETCH): execute without a cursor type",
                    ));
                }
                COM_CHANGE_USER => {
                    self.sink(false).error(&Error::unsupported(
                        "COM_CHANGE_USER: reconnect as the other user",
                    ));
                }
                other => self.sink(false).error(&Error::UnknownCommand(other)),
            }
            self.writer.flush().await?;
        }
    }

    pub(super) fn sink(&mut self, more_results: bool) -> ClientSink<'_, W> {
        ClientSink {
            writer: &mut self.writer,
            deprecate_eof: self.deprecate_eof,
            more_results,
        }
    }

    fn ok(&mut self) {
        let status = self.session.status;
        self.sink(false).ok(&OkInfo {
            status,
            ..OkInfo::default()
        });
    }

    fn end_of_field_list(&mut self) {
        let status = self.session.status;
        if self.deprecate_eof {
            self.sink(false).end_rows(&OkInfo {
                status,
                ..OkInfo::default()
            });
        } else {
            let p = self.writer.begin();
            super::encode::eof_payload(p, 0, status);
            self.writer.finish();
        }
    }

    async fn query(&mut self, body: &[u8]) -> std::io::Result<()> {
        let Ok(text) = std::str::from_utf8(body) else {
            self.sink(false).error(&Error::InvalidUtf8);
            return Ok(());
        };
        let statements = plan::split_statements(text);
        if statements.len() > 1 && !self.multi_statements {
            self.sink(false).error(&Error::Syntax(format!(
                "several statements in one query, but the client did not enable multi-statements, near '{}'",
                statements[1].chars().take(80).collect::<String>()
            )));
            return Ok(());
        }
        if statements.is_empty() {
            self.sink(false)
                .error(&Error::Syntax("Query was empty".into()));
            return Ok(());
        }
        let rules = self.shared.rules();
        let ctx = Context {
            rules: &rules,
            backends: &self.shared.backends,
            limits: self.shared.config.limits,
        };
        let multiplex = self.shared.config.backend.multiplex;
        let last = statements.len() - 1;
        for (i, sql) in statements.iter().enumerate() {
            let more = i < last;
            let mut sink = ClientSink {
                writer: &mut self.writer,
                deprecate_eof: self.deprecate_eof,
                more_results: more,
            };
            if crate::admin::groups::is_show_groups(sql) {
                show_groups(&self.shared, self.session.status, &mut sink);
                sink.maybe_flush().await?;
                continue;
            }
            if is_show_warnings(sql) {
                let outcome = show_warnings(sql, &mut self.session, &mut sink).await;
                if !execute::finish(outcome, &mut sink)? {
                    break;
                }
                continue;
            }
            if multiplex {
                match execute::session::multiplexed_use(sql, self.session.conns.has_state()) {
                    Err(e) => {
                        if !execute::finish(Err(execute::Failure::Query(e)), &mut sink)? {
                            break;
                        }
                        continue;
                    }
                    Ok(Some(why)) => self.session.conns.mark_sticky(why),
                    Ok(None) => {}
                }
            }
            let orders = self.shared.column_orders();
            let planned = execute::columns::plan(sql, orders, &ctx, &mut self.session).await;
            let succeeded = match planned {
                Ok(p) => execute::run(p, &ctx, &mut self.session, &mut sink).await?,
                Err(e) => {
                    sink.error(&e);
                    false
                }
            };
            execute::columns::after_statement(sql, orders);
            if !succeeded {
                break;
            }
            sink.maybe_flush().await?;
        }
        if multiplex
            && self.session.txn.group().is_none()
            && !self.session.txn.active()
            && self.session.last_warnings == 0
        {
            self.session.conns.release_if_stateless();
        }
        Ok(())
    }
}

/// `SHOW WARNINGS` / `SHOW ERRORS` / `SHOW COUNT(*) WARNINGS` are about the previous
/// statement, so they must go to the connection that ran it, not to a routed one.
pub(super) fn is_show_warnings(sql: &str) -> bool {
    let words: Vec<String> = sql
        .split_whitespace()
        .take(3)
        .map(|w| w.to_ascii_uppercase())
        .collect();
    matches!(words.first().map(String::as_str), Some("SHOW"))
        && (matches!(
            words.get(1).map(String::as_str),
            Some("WARNINGS" | "ERRORS")
        ) || (words.get(1).is_some_and(|w| w.starts_with("COUNT(")) && words.len() >= 3))
}

pub(super) async fn show_warnings<S: ResultSink>(
    sql: &str,
    session: &mut Session,
    sink: &mut S,
) -> Result<(), execute::Failure> {
    let Some(conn) = session.conns.last_used() else {
        // Nothing ran on a backend yet: no warnings to show.
        sink.synthetic_columns("WARNINGS", &["Level", "Code", "Message"]);
        sink.end_rows(&OkInfo {
            status: session.status,
            ..OkInfo::default()
        });
        return Ok(());
    };
    let mut result = conn.query_iter(sql).await.map_err(Error::from)?;
    let cols = result.columns_ref().to_vec();
    sink.columns(&cols, session.status, &|_| Default::default());
    while let Some(row) = result.next().await.map_err(Error::from)? {
        sink.row(&row);
    }
    drop(result);
    let st = conn
        .last_ok_packet()
        .map(|p| p.status_flags().bits())
        .unwrap_or(session.status);
    sink.end_rows(&OkInfo {
        status: st,
        ..OkInfo::default()
    });
    Ok(())
}

/// `SHOW SHARDGATE GROUPS`: the proxy's view of every backend server.
fn show_groups<S: ResultSink>(shared: &Shared, status: u16, sink: &mut S) {
    sink.synthetic_columns("SHARDGATE_GROUPS", crate::admin::groups::COLUMNS);
    for row in crate::admin::groups::rows(shared.health()) {
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

/// The statement that gives a backend connection the character set the client asked for
/// in its handshake (backend connections open as utf8mb4_general_ci).
fn set_names_for(collation: u16) -> Option<String> {
    let c = mysql_common::collations::Collation::resolve(
        mysql_common::collations::CollationId::from(collation),
    );
    let charset = c.charset();
    if charset.is_empty()
        || !charset
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return None;
    }
    let name = c.collation();
    if name.starts_with("utf8mb4_0900") || c.id() as u16 >= 255 {
        // MySQL 8-only collations that MariaDB does not know; keep the charset.
        return Some(format!("SET NAMES {charset}"));
    }
    Some(format!("SET NAMES {charset} COLLATE {name}"))
}
