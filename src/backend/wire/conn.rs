//! A backend connection of our own: login, then commands whose responses are read as
//! packets (`Reply`).

use std::time::Duration;

use mysql_common::constants::CapabilityFlags;
use tokio::net::TcpStream;

use super::exchange::{Channel, Exchange};
use super::frames::Frames;
use super::login::{login, Credentials, Greeting};
use super::packets::{self, ERR};
use super::reply::{read_reply, Reply};
use super::statements::{Prepared, Statements};
use super::WireError;

const COM_QUIT: u8 = 0x01;
const COM_QUERY: u8 = 0x03;
const COM_PING: u8 = 0x0E;
const COM_STMT_PREPARE: u8 = 0x16;
const COM_STMT_EXECUTE: u8 = 0x17;
const COM_STMT_CLOSE: u8 = 0x19;
const COM_RESET_CONNECTION: u8 = 0x1F;

/// utf8mb4_general_ci, the collation mysql_async's connections start with.
const UTF8MB4_GENERAL_CI: u8 = 45;

/// Where and as whom to connect.
#[derive(Debug, Clone)]
pub struct WireOpts {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub database: Option<String>,
    pub connect_timeout: Duration,
    /// Largest packet accepted from the server.
    pub max_packet: usize,
}

impl WireOpts {
    /// The same server and account as a driver connection's options.
    pub fn from_driver(opts: &mysql_async::Opts) -> Self {
        WireOpts {
            host: opts.ip_or_hostname().to_string(),
            port: opts.tcp_port(),
            user: opts.user().unwrap_or_default().to_string(),
            password: opts.pass().unwrap_or_default().to_string(),
            database: opts.db_name().map(str::to_string),
            connect_timeout: Duration::from_secs(10),
            max_packet: 64 << 20,
        }
    }
}

pub struct WireConn {
    channel: Channel<TcpStream>,
    greeting: Greeting,
    statements: Statements,
}

impl WireConn {
    pub async fn connect(opts: &WireOpts) -> Result<Self, WireError> {
        let addr = (opts.host.as_str(), opts.port);
        let stream = tokio::time::timeout(opts.connect_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| timed_out("connecting to", opts))??;
        stream.set_nodelay(true)?;
        let mut frames = Frames::new(stream, opts.max_packet);
        let who = Credentials {
            user: &opts.user,
            password: &opts.password,
            database: opts.database.as_deref(),
            max_packet: opts.max_packet.min(u32::MAX as usize) as u32,
            collation: UTF8MB4_GENERAL_CI,
        };
        let greeting = tokio::time::timeout(opts.connect_timeout, login(&mut frames, &who))
            .await
            .map_err(|_| timed_out("logging in to", opts))??;
        let session_track = greeting
            .capabilities
            .contains(CapabilityFlags::CLIENT_SESSION_TRACK);
        Ok(WireConn {
            channel: Channel {
                frames,
                exchange: Exchange::Idle,
                session_track,
            },
            greeting,
            statements: Statements::default(),
        })
    }

    /// The server's thread id for this connection (what KILL QUERY names).
    pub fn id(&self) -> u32 {
        self.greeting.connection_id
    }

    pub fn server_version(&self) -> (u16, u16, u16) {
        self.greeting.server_version
    }

    /// True when the last response was read to its end and the server did not close the
    /// connection: only then may it take another command (or go back to a pool). A
    /// response abandoned part-way (a cancelled future, a failed read), a CALL's results
    /// not all read, or an error after which the server hangs up leave it false.
    pub fn is_usable(&self) -> bool {
        self.channel.exchange == Exchange::Idle && self.channel.frames.unread() == 0
    }

    /// Sends a text query and reads the first packet of its answer. A result set must be
    /// read to its end, and any further results (`next_result`) too, before the next
    /// command.
    pub async fn query(&mut self, sql: &str) -> Result<Reply<'_, TcpStream>, WireError> {
        self.command(COM_QUERY, sql.as_bytes()).await
    }

    /// The next result of a multi-result response, only after an end whose status said
    /// more results follow.
    pub async fn next_result(&mut self) -> Result<Reply<'_, TcpStream>, WireError> {
        if self.channel.exchange != Exchange::MoreResults {
            return Err(WireError::Protocol(
                "no further result was announced".into(),
            ));
        }
        self.channel.exchange = Exchange::Reading;
        read_reply(&mut self.channel).await
    }

    pub async fn ping(&mut self) -> Result<(), WireError> {
        self.simple(COM_PING).await
    }

    /// COM_RESET_CONNECTION: the session's variables, temporary tables, prepared statements
    /// and locks are gone afterwards, as for a new connection.
    pub async fn reset(&mut self) -> Result<(), WireError> {
        // Whatever the answer, the statements may be gone on the server.
        self.statements.clear();
        self.simple(COM_RESET_CONNECTION).await
    }

    /// The statement for `sql`, prepared on this connection now or earlier.
    pub async fn prepare(&mut self, sql: &str) -> Result<Prepared, WireError> {
        if let Some(stmt) = self.statements.get(sql) {
            return Ok(stmt);
        }
        self.begin()?;
        let channel = &mut self.channel;
        channel
            .frames
            .send_command(COM_STMT_PREPARE, sql.as_bytes())
            .await?;
        let payload = channel.frames.next().await?;
        if payload.first() == Some(&ERR) {
            let err = packets::parse_err(payload)?;
            channel.exchange = Exchange::after_error(&err);
            return Err(WireError::Server(err));
        }
        let stmt = prepare_ok(payload)?;
        // The parameters' and columns' definitions follow (no EOFs: DEPRECATE_EOF); the
        // execute's answer carries the columns again, so they are skipped here.
        for _ in 0..u32::from(stmt.params) + u32::from(stmt.columns) {
            channel.frames.next().await?;
        }
        channel.exchange = Exchange::Idle;
        if let Some(old) = self.statements.keep(sql, stmt) {
            self.close_statement(old.id).await?;
        }
        Ok(stmt)
    }

    /// Executes a prepared statement. `params` is the COM_STMT_EXECUTE body after the
    /// statement id (flags, iteration count, null bitmap, types, values): a client's own
    /// execute body can be passed on as it is, provided it carries the types (the
    /// new-params-bound flag set), since this statement has not seen the client's earlier
    /// executes.
    pub async fn execute(
        &mut self,
        stmt: Prepared,
        params: &[u8],
    ) -> Result<Reply<'_, TcpStream>, WireError> {
        let mut body = Vec::with_capacity(4 + params.len());
        body.extend_from_slice(&stmt.id.to_le_bytes());
        body.extend_from_slice(params);
        self.command(COM_STMT_EXECUTE, &body).await
    }

    /// Closes a statement on the server (COM_STMT_CLOSE has no answer).
    pub async fn close_statement(&mut self, id: u32) -> Result<(), WireError> {
        self.begin()?;
        // No answer comes; if the write fails part-way the exchange stays `Reading`.
        self.channel
            .frames
            .send_command(COM_STMT_CLOSE, &id.to_le_bytes())
            .await?;
        self.channel.exchange = Exchange::Idle;
        Ok(())
    }

    /// Forgets the statement kept for `sql` after the server said it no longer has it
    /// (error 1243, unknown prepared statement handler), so the next call prepares again.
    pub fn forget_statement(&mut self, sql: &str) {
        self.statements.forget(sql);
    }

    /// How many statements this connection keeps prepared.
    pub fn statements_kept(&self) -> usize {
        self.statements.len()
    }

    /// Says goodbye; errors do not matter, the socket closes either way.
    pub async fn close(mut self) {
        let _ = self.channel.frames.send_command(COM_QUIT, &[]).await;
    }

    async fn simple(&mut self, command: u8) -> Result<(), WireError> {
        match self.command(command, &[]).await? {
            Reply::Done(_) => Ok(()),
            Reply::Rows(_) => Err(WireError::Protocol(format!(
                "a result set in answer to command 0x{command:02X}"
            ))),
        }
    }

    async fn command(
        &mut self,
        command: u8,
        body: &[u8],
    ) -> Result<Reply<'_, TcpStream>, WireError> {
        self.begin()?;
        self.channel.frames.send_command(command, body).await?;
        read_reply(&mut self.channel).await
    }

    /// Starts an exchange, or says why the connection cannot take a command.
    fn begin(&mut self) -> Result<(), WireError> {
        if !self.is_usable() {
            return Err(match self.channel.exchange {
                Exchange::Broken => WireError::Protocol(
                    "a command on a connection the server closed or broke off".into(),
                ),
                _ => not_read_to_its_end(),
            });
        }
        self.channel.exchange = Exchange::Reading;
        Ok(())
    }
}

fn timed_out(doing: &str, opts: &WireOpts) -> WireError {
    WireError::Io(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("{doing} {}:{} timed out", opts.host, opts.port),
    ))
}

fn not_read_to_its_end() -> WireError {
    WireError::Protocol(
        "a command on a connection whose last response was not read to its end".into(),
    )
}

/// COM_STMT_PREPARE's OK: 0x00, statement id, column count, parameter count, filler,
/// warnings.
fn prepare_ok(payload: &[u8]) -> Result<Prepared, WireError> {
    let mut c = packets::Cursor::new(payload);
    if c.u8()? != 0 {
        return Err(WireError::Protocol(
            "a prepare answered without an OK".into(),
        ));
    }
    let id = c.take(4)?;
    let columns = c.u16()?;
    let params = c.u16()?;
    Ok(Prepared {
        id: u32::from_le_bytes([id[0], id[1], id[2], id[3]]),
        params,
        columns,
    })
}
