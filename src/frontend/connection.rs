//! One client connection: the login, then the command loop. Everything a session owns lives
//! in this task, so nothing here needs a lock.

use std::sync::Arc;

use crate::config::model::Rules;

use mysql_async::prelude::Queryable;
use mysql_common::constants::CapabilityFlags;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::error::Error;
use crate::execute::{self, Context, OkInfo, ResultSink, Session};
use crate::plan;
use crate::plan::charset::ClientCharset;
use crate::server::Shared;

use super::admin_sql::{answer_here, Me};
use super::answered_here::{self, is_show_warnings, ShowDiagnostics};
use super::handshake::{
    handshake, send_error, write_login_ok, HandshakeOutcome, Login, DEFAULT_COLLATION,
};
use super::idle_hold::IdleHold;
use super::interrupt;
use super::packet::{PacketReader, PacketWriter};
use super::report::{Counted, Report};
use super::sessions::LiveSession;
use super::sink::ClientSink;
use super::stmt::registry::Registry;
use super::user_limits::UserSession;
use crate::backend::pools::SLOT_WANTED;
use crate::backend::session_conns::KeptWire;
use crate::protocol::commands::*;
use crate::stats::RouteKind;

/// max_allowed_packet for what clients send us.
pub(super) const MAX_CLIENT_PACKET: usize = 64 * 1024 * 1024;

/// How long a session killed by KILL CONNECTION may take to stop by itself (its running
/// statement winds down first) before its task is dropped, e.g. when its client does not
/// read what is being written to it.
const KILLED_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

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
    let outcome = super::login_deadline::within(
        super::login_deadline::deadline(),
        handshake(&mut reader, &mut writer, connection_id, &shared, &peer_host),
    )
    .await;
    serve_session(reader, writer, outcome, shared, connection_id, peer_host).await;
}

/// The command phase of a client whose connection phase ended with `outcome`.
pub(super) async fn serve_session<R, W>(
    reader: PacketReader<R>,
    mut writer: PacketWriter<W>,
    outcome: std::io::Result<HandshakeOutcome>,
    shared: Arc<Shared>,
    connection_id: u32,
    peer_host: String,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let login = match outcome {
        Ok(HandshakeOutcome::Accepted(login)) => login,
        Ok(HandshakeOutcome::Rejected) => return,
        Err(e) => {
            tracing::debug!(connection_id, "handshake failed: {e}");
            return;
        }
    };
    let user_session = match shared.user_limits().admit(&login.user) {
        Ok(s) => s,
        Err(e) => {
            // In place of the login's OK, as the server answers max_user_connections.
            let _ = send_error(&mut writer, &e).await;
            return;
        }
    };
    let registered = shared
        .sessions()
        .register(connection_id, &login.user, &peer_host);
    let live = registered.session().clone();
    let admin = shared
        .config
        .users
        .iter()
        .any(|u| u.name == login.user && u.admin);
    let mut session = Session::default();
    session.conns.in_use = live.in_use.clone();
    let mut client = Client {
        reader,
        writer,
        shared,
        session,
        multi_statements: login
            .capabilities
            .contains(CapabilityFlags::CLIENT_MULTI_STATEMENTS),
        deprecate_eof: login
            .capabilities
            .contains(CapabilityFlags::CLIENT_DEPRECATE_EOF),
        connection_id,
        stmts: Registry::default(),
        live: live.clone(),
        admin,
        user_session,
        login: login.clone(),
        peer_host,
        hold: None,
    };
    if let Err(e) = client.start(&login).await {
        tracing::debug!(connection_id, "client left during login: {e}");
        return;
    }
    let forced = {
        let run = client.command_loop();
        tokio::pin!(run);
        let killed_and_stuck = async {
            live.ended().cancelled().await;
            tokio::time::sleep(KILLED_GRACE).await;
        };
        // Biased: the command loop is polled first on every wake-up, without drawing a
        // random number for the order; the killed arm only matters once it fired.
        tokio::select! {
            biased;
            ended = &mut run => {
                if let Err(e) = ended {
                    tracing::debug!(connection_id, "connection ended: {e}");
                }
                false
            }
            _ = killed_and_stuck => true,
        }
    };
    if forced {
        // Dropped mid-statement: its connections may be mid-protocol, so none is reused.
        for (_, _, conn) in client.session.conns.take_held(|_, _| true) {
            interrupt::discard(conn).await;
        }
    }
    // An open transaction is rolled back before its connection goes back to the pool.
    let reset = client.shared.config.backend.multiplex;
    execute::txn::close(&mut client.session, reset).await;
}

pub(super) struct Client<R, W> {
    pub(super) reader: PacketReader<R>,
    pub(super) writer: PacketWriter<W>,
    pub(super) shared: Arc<Shared>,
    pub(super) session: Session,
    multi_statements: bool,
    pub(super) deprecate_eof: bool,
    connection_id: u32,
    /// Prepared statements of this connection (COM_STMT_*).
    pub(super) stmts: Registry,
    /// This session as KILL and SHOW PROCESSLIST see it.
    pub(super) live: Arc<LiveSession>,
    /// The user may kill other users' sessions (`admin = true`).
    pub(super) admin: bool,
    /// This session's place in its user's limits (`None`: the user has none).
    pub(super) user_session: Option<UserSession>,
    /// What COM_CHANGE_USER needs of the login: capabilities, scramble, collation, peer.
    pub(super) login: Login,
    pub(super) peer_host: String,
    /// The last statement left connections the session may give back: they are kept for
    /// `[backend] idle_hold_ms` in case the next statement comes at once.
    hold: Option<IdleHold>,
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Client<R, W> {
    async fn start(&mut self, login: &Login) -> std::io::Result<()> {
        if let Some(db) = &login.database {
            let rules = self.shared.rules();
            if let Err(e) = execute::session::select_database(db, &rules, &mut self.session) {
                return send_error(&mut self.writer, &e).await;
            }
        }
        self.session.charset = ClientCharset::of_collation(login.collation);
        if login.collation != DEFAULT_COLLATION as u16 {
            if let Some(set_names) = set_names_for(login.collation) {
                self.session.conns.remember_keyed(&set_names, Some("names"));
            }
        }
        write_login_ok(&mut self.writer, self.session.status);
        self.writer.flush().await
    }

    async fn command_loop(&mut self) -> std::io::Result<()> {
        let mut buf = Vec::with_capacity(4096);
        loop {
            if self.live.ended().is_cancelled() {
                return Ok(());
            }
            let read = if let Some(mut hold) = self.hold.take() {
                // Hold the connections for the next statement, a little (`idle_hold`).
                let read = self.reader.read_packet(&mut buf);
                tokio::pin!(read);
                let next = tokio::select! {
                    biased;
                    _ = self.live.ended().cancelled() => return Ok(()),
                    read = &mut read => Some(read?),
                    _ = hold.over() => None,
                };
                match next {
                    Some(next) => next,
                    None => {
                        self.session.conns.release_spares();
                        tokio::select! {
                            biased;
                            _ = self.live.ended().cancelled() => return Ok(()),
                            read = read => read?,
                        }
                    }
                }
            } else if self.keeps_connections_for_warnings_only() {
                // Kept for SHOW WARNINGS, but not at the price of locking another session
                // out of the server: given back when one waits for a slot of their pool.
                self.session.conns.release_spares();
                let read = self.reader.read_packet(&mut buf);
                tokio::pin!(read);
                loop {
                    let wanted = SLOT_WANTED.notified();
                    tokio::pin!(wanted);
                    // Listening before looking: a waiter counted after the look is heard.
                    wanted.as_mut().enable();
                    if self.session.conns.pinned_wanted() {
                        execute::diagnostics::give_back_warned_connections(&mut self.session);
                        break tokio::select! {
                            biased;
                            _ = self.live.ended().cancelled() => return Ok(()),
                            read = &mut read => read?,
                        };
                    }
                    tokio::select! {
                        biased;
                        _ = self.live.ended().cancelled() => return Ok(()),
                        read = &mut read => break read?,
                        _ = &mut wanted => {}
                    }
                }
            } else {
                self.session.conns.release_spares();
                tokio::select! {
                    biased;
                    _ = self.live.ended().cancelled() => return Ok(()),
                    read = self.reader.read_packet(&mut buf) => read?,
                }
            };
            // KILL answers its client once the session is marked ended; a command that
            // arrived at the same moment must not run (the client may already have sent it
            // after that answer).
            if self.live.ended().is_cancelled() {
                return Ok(());
            }
            let Some(seq) = read else {
                return Ok(());
            };
            self.writer.set_seq(seq.wrapping_add(1));
            let Some((&command, body)) = buf.split_first() else {
                self.sink(false)
                    .error(&Error::MalformedPacket("empty command packet".into()));
                self.writer.flush().await?;
                continue;
            };
            // Every command that runs a statement on a backend takes a token.
            if matches!(command, COM_QUERY | COM_STMT_EXECUTE | COM_FIELD_LIST) {
                if let Err(e) = self.admit_statement().await {
                    self.sink(false).error(&e);
                    self.writer.flush().await?;
                    continue;
                }
            }
            match command {
                COM_QUIT => return Ok(()),
                COM_QUERY => self.query(body).await?,
                COM_PING => self.ok(),
                COM_INIT_DB => {
                    let name = String::from_utf8_lossy(body).into_owned();
                    let rules = self.statement_rules();
                    let backends = self.shared.backends();
                    let config_shared = self.shared.clone();
                    let ctx = Context {
                        rules: &rules,
                        backends: &backends,
                        limits: self.shared.config.limits,
                        xa: self.shared.xa(),
                        reading: execute::columns::Reading {
                            syntax: self.syntax(),
                            read_only_functions: &config_shared.config.read_only_functions,
                        },
                        column_orders: config_shared.column_orders(),
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
                COM_FIELD_LIST => self.field_list(body).await?,
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
                    self.session.conns.in_use = self.live.in_use.clone();
                    self.ok();
                }
                COM_PROCESS_KILL => {
                    // The old command behind mysql_kill(): KILL CONNECTION <id>.
                    let outcome = match body.get(..4) {
                        Some(b) => {
                            let id = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                            super::kill::kill(
                                &plan::kill::Kill {
                                    what: plan::kill::KillWhat::Connection,
                                    id: plan::kill::KillId::Session(u64::from(id)),
                                },
                                &self.live,
                                self.admin,
                                self.shared.sessions(),
                            )
                        }
                        None => Err(Error::MalformedPacket(
                            "COM_PROCESS_KILL needs a 4-byte id".into(),
                        )),
                    };
                    match outcome {
                        Ok(()) => self.ok(),
                        Err(e) => self.sink(false).error(&e),
                    }
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
                    if !self.change_user(body).await? {
                        return Ok(());
                    }
                }
                other => self.sink(false).error(&Error::UnknownCommand(other)),
            }
            self.hold_idle();
            self.release_between_statements();
            self.live.note_between_commands(
                self.session.conns.pinned_count(),
                self.session.txn_aware_status() & execute::status::IN_TRANS != 0,
            );
            self.flush_holding().await?;
        }
    }

    /// Sends the command's answer. Spares held meanwhile go back when the hold ends first: a
    /// client that does not read its answer must not keep them with it.
    async fn flush_holding(&mut self) -> std::io::Result<()> {
        let Some(hold) = self.hold.as_mut() else {
            return self.writer.flush().await;
        };
        let flush = self.writer.flush();
        tokio::pin!(flush);
        let hold_over = tokio::select! {
            biased;
            flushed = &mut flush => {
                flushed?;
                false
            }
            _ = hold.over() => true,
        };
        if hold_over {
            self.hold = None;
            self.session.conns.release_spares();
            flush.await?;
        }
        Ok(())
    }

    /// The user's statement rate (`max_qps`): a token, or 1226 after `limit_wait_ms`. KILL
    /// ends the wait like a statement's. A statement that must wait for its token gives the
    /// spares of the previous one back first: the wait is the user's, not the statement's, and
    /// another session may be waiting for those pools meanwhile.
    async fn admit_statement(&mut self) -> Result<(), Error> {
        let Some(s) = &self.user_session else {
            return Ok(());
        };
        let admit = s.limiter().admit_statement();
        tokio::pin!(admit);
        let at_once = tokio::select! {
            biased;
            admitted = &mut admit => Some(admitted),
            _ = std::future::ready(()) => None,
        };
        if let Some(admitted) = at_once {
            return admitted;
        }
        self.session.conns.release_spares();
        tokio::select! {
            admitted = admit => admitted,
            _ = self.live.ended().cancelled() => Err(Error::ConnectionKilled),
        }
    }

    /// The rules a statement starting now is planned with (see `Session::rules`). After a
    /// reload the session's database is looked up again by name, so its tables follow the
    /// new rules; one the reload removed stays as it was and its statements fail there.
    pub(super) fn statement_rules(&mut self) -> Arc<Rules> {
        if self.session.txn.pins_connections() {
            if let Some(r) = &self.session.rules {
                return r.clone();
            }
        }
        let current = self.shared.rules();
        let known = self
            .session
            .rules
            .as_ref()
            .is_some_and(|r| Arc::ptr_eq(r, &current));
        if !known {
            if let Some(db) = &self.session.current_db {
                if let Some(now) = current.database(&db.name) {
                    self.session.current_db = Some(now.clone());
                }
            }
            self.session.rules = Some(current.clone());
        }
        current
    }

    /// The rules of the statement being planned (set by `statement_rules`).
    pub(super) fn planning_rules(&self) -> Arc<Rules> {
        match &self.session.rules {
            Some(r) => r.clone(),
            None => self.shared.rules(),
        }
    }

    /// How the backends read this session's statements now (version, sql_mode).
    pub(super) fn syntax(&self) -> plan::Syntax {
        self.session.syntax(self.shared.health().server_syntax())
    }

    /// The next statement of a batch and the text after it, read by the session's syntax.
    fn next_statement<'t>(&self, text: &'t str) -> Option<(&'t str, &'t str)> {
        // After a batch's last statement (twice per query: is there more? and the loop's end).
        if text.is_empty() {
            return None;
        }
        let _syntax = self.syntax().scope();
        plan::next_statement(text)
    }

    /// Whether this session may kill others' (see `kill::kill`).
    pub(super) fn is_admin(&self) -> bool {
        self.admin
    }

    /// The last statement left warnings or its error on the session's driver connections,
    /// which must stay for SHOW WARNINGS and `@@warning_count`, `@@error_count` (given back,
    /// they are reset, and a fresh connection says 0); warnings kept on a wire connection
    /// wait there, reserved but evictable, and tie nothing else to the session.
    fn warnings_on_driver(&self) -> bool {
        (self.session.last_warnings > 0 || self.session.last_error.is_some())
            && !self.session.conns.keeps_wire_for_warnings()
    }

    /// The session holds driver connections between statements only because the last
    /// statement's warnings are on them (`release_between_statements`): nothing else (a
    /// transaction, state a replay cannot repeat) ties it to them.
    fn keeps_connections_for_warnings_only(&self) -> bool {
        self.shared.config.backend.multiplex
            && self.warnings_on_driver()
            && self.session.conns.holds_any()
            && !self.session.txn.pins_connections()
            && !self.session.conns.keeps_connections()
    }

    /// Multiplexing: after each command the session gives back the connections nothing
    /// ties it to (see `SessionConns::release_between_statements`). A transaction holds its
    /// connection; so do the warnings of the last statement, for SHOW WARNINGS.
    fn release_between_statements(&mut self) {
        // The driver's connections go back even with warnings kept on a wire connection (a
        // SET after a warned read opened one).
        let warnings = self.session.last_warnings > 0;
        if self.shared.config.backend.multiplex && !self.warnings_on_driver() {
            let transaction_open = self.session.txn.pins_connections();
            let idle_hold = self.shared.config.backend.idle_hold;
            if !idle_hold.is_zero() {
                // Given back when no next statement comes soon (`command_loop`), or at once
                // when a statement of another session waits for one of these pools.
                self.hold = None;
                if self
                    .session
                    .conns
                    .hold_between_statements(transaction_open, warnings)
                {
                    let hold =
                        IdleHold::start(idle_hold, &self.shared.idle_hold_ends, self.live.signal());
                    if self.session.conns.spares_wanted() {
                        self.session.conns.release_spares();
                    } else {
                        self.hold = Some(hold);
                    }
                }
                return;
            }
            self.session
                .conns
                .release_between_statements(transaction_open, warnings);
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

    pub(super) fn end_of_field_list(&mut self) {
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
        // Planned as text; each shard query goes out in the client's charset again.
        let text = match self.session.charset.decode(body) {
            Ok(text) => text,
            Err(e) => {
                self.sink(false).error(&e);
                return Ok(());
            }
        };
        let mut rules = self.statement_rules();
        let mut backends = self.shared.backends();
        let multiplex = self.shared.config.backend.multiplex;
        // Each statement is split off after the one before it ran: a `SET sql_mode` changes
        // how the rest of the batch reads (NO_BACKSLASH_ESCAPES moves string ends, and so
        // semicolons).
        let mut rest: &str = &text;
        let mut first = true;
        loop {
            let Some((sql, after)) = self.next_statement(rest) else {
                if first && text.trim().is_empty() {
                    self.sink(false)
                        .error(&Error::Syntax("Query was empty".into()));
                } else if first {
                    // Only comments (a dump's `/*!80000 ... */` for another server): MariaDB
                    // answers OK.
                    self.ok();
                }
                break;
            };
            rest = after;
            let more = self.next_statement(rest);
            if first && more.is_some() && !self.multi_statements {
                self.sink(false).error(&Error::Syntax(format!(
                    "several statements in one query, but the client did not enable multi-statements, near '{}'",
                    more.map_or("", |m| m.0).chars().take(80).collect::<String>()
                )));
                return Ok(());
            }
            // `max_qps` counts statements, not packets: the batch's first took its token
            // with the packet, each further one takes its own (or ends the batch with 1226).
            if !first {
                if let Err(e) = self.admit_statement().await {
                    self.sink(false).error(&e);
                    break;
                }
            }
            first = false;
            // A statement's time includes waiting for a write hold: the client waited too.
            let started = std::time::Instant::now();
            match self.hold_gate(sql).await {
                // Rules taken before the gate may be older than a cutover that ran meanwhile.
                Ok(waited) if waited || !self.shared.rules_are_current(&rules) => {
                    rules = self.statement_rules();
                    backends = self.shared.backends();
                }
                Ok(_) => {}
                Err(e) => {
                    self.sink(false).error(&e);
                    break;
                }
            }
            let config_shared = self.shared.clone();
            let ctx = Context {
                rules: &rules,
                backends: &backends,
                limits: self.shared.config.limits,
                xa: self.shared.xa(),
                reading: execute::columns::Reading {
                    syntax: self.syntax(),
                    read_only_functions: &config_shared.config.read_only_functions,
                },
                column_orders: config_shared.column_orders(),
            };
            let syntax = self.syntax();
            self.session.trace.clear();
            let mut sink = Counted::new(ClientSink {
                writer: &mut self.writer,
                deprecate_eof: self.deprecate_eof,
                more_results: more.is_some(),
            });
            // The statement's first word, read once: the checks below that only apply to
            // other kinds of statement (SHOW, KILL, SHARDGATE, DDL) then cost a comparison.
            let first = plan::FirstWord::of(sql);
            let original = sql;
            let cache = self.shared.result_cache();
            let mut candidate = super::cached_reads::candidate(
                cache,
                &self.session,
                first,
                sql,
                more.is_none(),
                self.deprecate_eof,
            );
            let mut pending = None;
            let mut wrote = false;
            let mut aside = None;
            let (kind, succeeded) = 'statement: {
                if let (Some(c), Some(read)) = (cache, &candidate) {
                    if let Some((packets, rows)) = c.get(&read.key) {
                        if sink.inner_mut().writer.write_recorded(&packets) {
                            sink.count_rows(rows);
                            // A read of a table clears the server's diagnostics.
                            self.session.conns.cleared_elsewhere();
                            self.session.last_warnings = 0;
                            self.session.found_rows = execute::found_rows::FoundRows::Known(rows);
                            self.session.last_row_count = -1;
                            break 'statement (RouteKind::Cached, true);
                        }
                    }
                }
                if let Some(own) = answered_here::recognise(first, sql) {
                    let me = Me {
                        shared: &self.shared,
                        live: &self.live,
                        admin: self.admin,
                        session: &mut self.session,
                        syntax,
                    };
                    let ok = answer_here(own, sql, me, &ctx, &mut sink).await?;
                    break 'statement (RouteKind::Proxy, ok);
                }
                let spliced = plan::connection_id::splice(sql, self.connection_id, syntax);
                let spliced = match spliced {
                    Ok(s) => s,
                    Err(e) => {
                        sink.error(&e);
                        break 'statement (RouteKind::Refused, false);
                    }
                };
                let sql: &str = &spliced;
                let first = match &spliced {
                    std::borrow::Cow::Borrowed(_) => first,
                    std::borrow::Cow::Owned(_) => plan::FirstWord::of(sql),
                };
                if is_show_warnings(first, sql) {
                    let outcome = show_warnings(sql, &mut self.session, &mut sink).await;
                    break 'statement (RouteKind::Single, execute::finish(outcome, &mut sink)?);
                }
                let noted = {
                    let _syntax = syntax.scope();
                    let read_only = &self.shared.config.read_only_functions;
                    note_multiplexed_use(multiplex, &mut self.session, sql, read_only)
                };
                if let Err(e) = noted {
                    let ok = execute::finish(Err(execute::Failure::Query(e)), &mut sink)?;
                    break 'statement (RouteKind::Refused, ok);
                }
                let orders = self.shared.column_orders();
                let reading = execute::columns::Reading {
                    syntax,
                    read_only_functions: &self.shared.config.read_only_functions,
                };
                let planned =
                    execute::columns::plan(sql, orders, reading, &ctx, &mut self.session).await;
                let outcome = match planned {
                    Ok(p) => {
                        let kind = RouteKind::of(&p);
                        wrote = super::cached_reads::may_write(&p);
                        if let (Some(c), Some(read)) = (cache, candidate.take()) {
                            let mark = sink.inner_mut().writer.mark();
                            pending =
                                super::cached_reads::pending(c, read, &p, &self.session, mark);
                        }
                        aside = execute::diagnostics::set_aside(&p, &mut self.session);
                        let ok = interrupt::run_statement(
                            &self.live,
                            original,
                            p,
                            &ctx,
                            &mut self.session,
                            &mut sink,
                        )
                        .await?;
                        (kind, ok)
                    }
                    Err(e) => {
                        sink.error(&e);
                        (RouteKind::Refused, false)
                    }
                };
                let ddl = plan::first_word_changes_columns(first);
                execute::columns::after_statement(ddl, orders, &[&rules, &self.shared.rules()]);
                if ddl && outcome.1 {
                    crate::backend::key_columns::learn_after_ddl(
                        self.shared.rules(),
                        self.shared.config.backend.clone(),
                    )
                    .await;
                }
                outcome
            };
            if let (true, Some(c), Some(read)) = (succeeded, cache, pending) {
                let rows = sink.outcome().0;
                if let Some(packets) = sink.inner_mut().writer.since(read.mark) {
                    c.put(read.key, packets, rows, read.snapshot);
                }
            }
            super::cached_reads::after_statement(cache, &mut self.session, original, wrote);
            if succeeded {
                sink.maybe_flush().await?;
            }
            let outcome = sink.outcome();
            if !is_show_warnings(first, original) {
                let (failure, warnings) = (sink.failure(), sink.warnings());
                execute::diagnostics::after_statement(&mut self.session, aside, failure, warnings);
            }
            let report = Report {
                kind,
                started,
                outcome,
                sql: original,
                syntax,
            };
            super::report::report(
                &self.shared,
                &self.live,
                &self.login.user,
                &self.session,
                report,
            );
            if !succeeded {
                break;
            }
            if more.is_some() {
                self.release_within_batch_if_wanted();
            }
        }
        Ok(())
    }

    /// Between two statements of a multi-statement query, connections another session waits
    /// for go back as they would between two commands: a batch must not keep a pool's only
    /// connection from a waiting session to its end. What ties the session to its
    /// connections (a transaction, unreplayable state, warnings the batch's next statement
    /// may ask for) keeps them, as between commands.
    fn release_within_batch_if_wanted(&mut self) {
        let conns = &self.session.conns;
        if !self.shared.config.backend.multiplex
            || !(conns.pinned_wanted() || conns.spares_wanted())
        {
            return;
        }
        if self.warnings_on_driver() {
            return;
        }
        let warnings = self.session.last_warnings > 0;
        let transaction_open = self.session.txn.pins_connections();
        self.session
            .conns
            .release_between_statements(transaction_open, warnings);
    }
}

/// Multiplexing: a statement that leaves state on its connection keeps the session on its
/// connections from now on; `Err` refuses a statement about a previous statement whose
/// connection was given back (see `execute::session::multiplexed_use`).
pub(super) fn note_multiplexed_use(
    multiplex: bool,
    session: &mut Session,
    sql: &str,
    read_only_functions: &[String],
) -> Result<(), Error> {
    note_multiplexed_use_of(multiplex, session, |kept| {
        execute::session::multiplexed_use(sql, kept, read_only_functions)
    })
}

/// `note_multiplexed_use` with the statement's `multiplexed_use` given (a prepared
/// statement's is worked out once).
pub(super) fn note_multiplexed_use_of(
    multiplex: bool,
    session: &mut Session,
    use_of: impl FnOnce(bool) -> Result<Option<&'static str>, Error>,
) -> Result<(), Error> {
    if !multiplex {
        // The session keeps its connections anyway; noting what they carry still matters:
        // if one breaks, that state is gone and the session must say so.
        if let Ok(Some(why)) = use_of(true) {
            session.conns.mark_sticky(why);
        }
        return Ok(());
    }
    let kept = session.conns.keeps_connections() || session.txn.pins_connections();
    if let Some(why) = use_of(kept)? {
        session.conns.mark_sticky(why);
    }
    Ok(())
}

pub(super) async fn show_warnings<S: ResultSink>(
    sql: &str,
    session: &mut Session,
    sink: &mut S,
) -> Result<(), execute::Failure> {
    // Read once: `None` for what only the server answers (a SHOW the proxy sends there).
    let asked = answered_here::show_diagnostics(sql);
    if let Some((code, message)) = &session.last_error {
        // The statement before failed: its error is the list (the server's list would
        // have it last, after any warnings it raised first, which are not kept).
        let code = code.to_string();
        let error = [
            Some(b"Error".as_slice()),
            Some(code.as_bytes()),
            Some(message.as_bytes()),
        ];
        answer_list(asked, Some(&error), session.status, sink);
        return Ok(());
    }
    match session.conns.take_last_wire() {
        KeptWire::Here(mut lease) => {
            let shown = super::wire_warnings::show(sql, &mut lease, session.status, sink).await;
            // SHOW WARNINGS leaves them: the next may ask again.
            session.conns.keep_for_warnings(*lease);
            return shown;
        }
        KeptWire::Gone => {
            // Gone with the connection are warnings; errors the proxy records itself
            // (`last_error`, none here), so the list of errors is known to be empty.
            if asked.is_some_and(|s| s.errors) {
                answer_list(asked, None, session.status, sink);
                return Ok(());
            }
            return Err(execute::Failure::Query(crate::execute::warnings_gone()));
        }
        KeptWire::Nothing => {}
    }
    let Some(conn) = session.conns.last_used() else {
        // The statement before left no warnings on a connection the session holds (nothing
        // ran on a backend yet, or it had none and its connection went back): none to show,
        // and a count of 0, in the server's one column.
        answer_list(asked, None, session.status, sink);
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

/// For `SHOW COUNT(*) WARNINGS` / `SHOW COUNT(*) ERRORS`, the column the server names its
/// answer after.
fn counted_variable(asked: Option<ShowDiagnostics>) -> Option<&'static str> {
    match asked? {
        ShowDiagnostics { counted: false, .. } => None,
        ShowDiagnostics { errors: true, .. } => Some("@@session.error_count"),
        ShowDiagnostics { errors: false, .. } => Some("@@session.warning_count"),
    }
}

/// SHOW WARNINGS / ERRORS answered by the proxy, with the one row `entry` or none; SHOW
/// COUNT(*) WARNINGS / ERRORS with their count, in the server's one column.
fn answer_list<S: ResultSink>(
    asked: Option<ShowDiagnostics>,
    entry: Option<&[Option<&[u8]>; 3]>,
    status: u16,
    sink: &mut S,
) {
    match counted_variable(asked) {
        Some(count) => {
            sink.synthetic_columns("", &[count]);
            let n: &[u8] = if entry.is_some() { b"1" } else { b"0" };
            sink.row_cells(&[Some(n)]);
        }
        None => {
            sink.synthetic_columns("WARNINGS", &["Level", "Code", "Message"]);
            let shown = asked.is_none_or(|s| s.shows(0));
            if let Some(row) = entry.filter(|_| shown) {
                sink.row_cells(row);
            }
        }
    }
    sink.end_rows(&OkInfo {
        status,
        ..OkInfo::default()
    });
}

/// `SHOW [FULL] PROCESSLIST`: the proxy's sessions (a backend's list would show the proxy's
/// pooled connections instead). Others' sessions only for `admin` users, like the server
/// shows them only with the PROCESS privilege.
pub(super) fn show_processlist<S: ResultSink>(
    shared: &Shared,
    (me, sql, db): (&LiveSession, &str, Option<&str>),
    admin: bool,
    full: bool,
    status: u16,
    sink: &mut S,
) {
    use crate::admin::processlist;
    // This SHOW is the asking session's running statement.
    me.begin_statement(sql, db);
    sink.synthetic_columns("PROCESSLIST", processlist::COLUMNS);
    let visible = shared
        .sessions()
        .all()
        .into_iter()
        .filter(|s| admin || s.user() == me.user())
        .map(|s| s.snapshot());
    for row in processlist::rows(visible, me.id, full) {
        let cells: Vec<Option<&[u8]>> = row
            .iter()
            .map(|c| c.as_deref().map(str::as_bytes))
            .collect();
        sink.row_cells(&cells);
    }
    me.end_statement();
    sink.end_rows(&OkInfo {
        status,
        ..OkInfo::default()
    });
}

/// The statement that gives a backend connection the character set the client asked for
/// in its handshake (backend connections open as utf8mb4_general_ci).
pub(super) fn set_names_for(collation: u16) -> Option<String> {
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
