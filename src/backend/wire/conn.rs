//! A backend connection of our own: login, then commands whose responses are read as
//! packets (`Reply`).

use std::path::PathBuf;
use std::time::Duration;

use tokio::net::{TcpStream, UnixStream};

use crate::protocol::commands::{
    COM_PING, COM_QUERY, COM_QUIT, COM_RESET_CONNECTION, COM_STMT_CLOSE, COM_STMT_EXECUTE,
    COM_STMT_PREPARE,
};
use crate::protocol::Cursor;

use super::exchange::{Channel, Exchange};
use super::frames::Frames;
use super::login::{login, Credentials, Greeting};
use super::packets;
use super::reply::{read_reply, Reply};
use super::statements::{next_generation, prepare_ok, Prepared, Statements};
use super::stream::BackendStream;
use super::WireError;

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
    /// The server's unix socket, used instead of host and port.
    pub socket: Option<PathBuf>,
    /// For a server on this machine, ask it for its unix socket and move there (as the
    /// driver's `prefer_socket` does); TCP stays if the socket cannot be used.
    pub prefer_socket: bool,
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
            socket: opts.socket().map(PathBuf::from),
            prefer_socket: opts.prefer_socket(),
        }
    }

    fn is_local(&self) -> bool {
        matches!(self.host.as_str(), "127.0.0.1" | "localhost" | "::1")
    }
}

pub struct WireConn {
    channel: Channel<BackendStream>,
    greeting: Greeting,
    statements: Statements,
    /// Which statements are this connection's: new at connect and at every reset.
    generation: u64,
}

impl WireConn {
    pub async fn connect(opts: &WireOpts) -> Result<Self, WireError> {
        if let Some(path) = &opts.socket {
            let stream = tokio::time::timeout(opts.connect_timeout, UnixStream::connect(path))
                .await
                .map_err(|_| timed_out("connecting to", opts))??;
            return Self::log_in(BackendStream::Unix(stream), opts).await;
        }
        let addr = (opts.host.as_str(), opts.port);
        let stream = tokio::time::timeout(opts.connect_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| timed_out("connecting to", opts))??;
        stream.set_nodelay(true)?;
        let mut conn = Self::log_in(BackendStream::Tcp(stream), opts).await?;
        if opts.prefer_socket && opts.is_local() {
            if let Some(on_socket) = conn.move_to_socket(opts).await {
                conn.close().await;
                return Ok(on_socket);
            }
        }
        Ok(conn)
    }

    /// The same login on the server's unix socket, if it names one that works.
    async fn move_to_socket(&mut self, opts: &WireOpts) -> Option<WireConn> {
        let path = self.single_value("SELECT @@socket").await.ok().flatten()?;
        if path.is_empty() {
            return None;
        }
        let mut on_socket = opts.clone();
        on_socket.socket = Some(PathBuf::from(String::from_utf8_lossy(&path).into_owned()));
        Box::pin(WireConn::connect(&on_socket)).await.ok()
    }

    /// The first column of the first row of a one-row text result (None for NULL).
    async fn single_value(&mut self, sql: &str) -> Result<Option<Vec<u8>>, WireError> {
        let Reply::Rows(mut rows) = self.query(sql).await? else {
            return Ok(None);
        };
        while rows.next_column().await?.is_some() {}
        let mut value = None;
        while let Some(row) = rows.next_row().await? {
            if value.is_none() && row.first() != Some(&crate::protocol::NULL_CELL) {
                value = Some(Cursor::new(row).lenenc_str()?.to_vec());
            }
        }
        Ok(value)
    }

    async fn log_in(stream: BackendStream, opts: &WireOpts) -> Result<Self, WireError> {
        let mut frames = Frames::new(stream, opts.max_packet);
        let who = Credentials {
            user: &opts.user,
            password: &opts.password,
            database: opts.database.as_deref(),
            max_packet: opts.max_packet.min(u32::MAX as usize) as u32,
        };
        let greeting = tokio::time::timeout(opts.connect_timeout, login(&mut frames, &who))
            .await
            .map_err(|_| timed_out("logging in to", opts))??;
        Ok(WireConn {
            channel: Channel {
                frames,
                exchange: Exchange::Idle,
            },
            greeting,
            statements: Statements::default(),
            generation: next_generation(),
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

    /// See `BackendStream::closed_while_idle`.
    pub fn closed_while_idle(&self) -> bool {
        self.channel.frames.stream().closed_while_idle()
    }

    /// Sends a text query and reads the first packet of its answer. A result set must be
    /// read to its end, and any further results (`next_result`) too, before the next
    /// command.
    pub async fn query(&mut self, sql: &str) -> Result<Reply<'_, BackendStream>, WireError> {
        self.command(COM_QUERY, sql.as_bytes()).await
    }

    /// `query` for a text already in the connection's character set (a client's, when the
    /// session replayed its SET NAMES here).
    pub async fn query_bytes(&mut self, sql: &[u8]) -> Result<Reply<'_, BackendStream>, WireError> {
        self.command(COM_QUERY, sql).await
    }

    /// The next result of a multi-result response, only after an end whose status said
    /// more results follow.
    pub async fn next_result(&mut self) -> Result<Reply<'_, BackendStream>, WireError> {
        if self.channel.exchange != Exchange::MoreResults {
            return Err(WireError::Refused("no further result was announced".into()));
        }
        self.channel.exchange = Exchange::Reading;
        read_reply(&mut self.channel).await
    }

    pub async fn ping(&mut self) -> Result<(), WireError> {
        self.command_expecting_ok(COM_PING).await
    }

    /// COM_RESET_CONNECTION: the session's variables, temporary tables, prepared statements
    /// and locks are gone afterwards, as for a new connection. A connection whose reset
    /// failed is broken: it may still hold what the reset was to remove.
    pub async fn reset(&mut self) -> Result<(), WireError> {
        let outcome = self.command_expecting_ok(COM_RESET_CONNECTION).await;
        match outcome {
            Ok(()) => {
                self.statements.clear();
                self.generation = next_generation();
            }
            Err(_) => self.channel.exchange = Exchange::Broken,
        }
        outcome
    }

    /// The statement for `sql`, prepared on this connection now or earlier.
    pub async fn prepare(&mut self, sql: &str) -> Result<Prepared, WireError> {
        if let Some(stmt) = self.statements.get(sql) {
            return Ok(stmt);
        }
        self.begin()?;
        let channel = &mut self.channel;
        channel
            .send_command(COM_STMT_PREPARE, sql.as_bytes())
            .await?;
        let Channel { frames, exchange } = &mut *channel;
        let payload = match frames.next().await {
            Ok(p) => p,
            Err(e) => {
                *exchange = Exchange::Broken;
                return Err(e.into());
            }
        };
        if packets::is_err(payload) {
            return Err(packets::server_error(payload, exchange));
        }
        let stmt = match prepare_ok(payload, self.generation) {
            Ok(stmt) => stmt,
            Err(e) => {
                *exchange = Exchange::Broken;
                return Err(e);
            }
        };
        // The parameters' and columns' definitions follow (no EOFs: DEPRECATE_EOF); the
        // execute's answer carries the columns again, so they are skipped here.
        for _ in 0..u32::from(stmt.params) + u32::from(stmt.columns) {
            channel.next().await?;
        }
        channel.exchange = Exchange::Idle;
        for old in self.statements.keep(sql, stmt) {
            self.close_statement(old.id).await?;
        }
        Ok(stmt)
    }

    /// Executes a statement this connection prepared and still keeps. `params` is the
    /// COM_STMT_EXECUTE body after the statement id (flags, iteration count, null bitmap,
    /// types, values): a client's own execute body can be passed on, provided it carries
    /// the types (the new-params-bound flag set), since this statement has not seen the
    /// client's earlier executes. The flags are sent as 0 whatever they were: a cursor
    /// would end the result after its column definitions, an empty result taken for a
    /// whole one.
    pub async fn execute(
        &mut self,
        stmt: Prepared,
        params: &[u8],
    ) -> Result<Reply<'_, BackendStream>, WireError> {
        // A statement id means something only here, and only until a reset: another
        // connection's, or one this connection dropped, would run whatever has that id now.
        if stmt.generation != self.generation || !self.statements.holds(stmt) {
            return Err(WireError::Refused(format!(
                "statement {} is not one this connection keeps prepared",
                stmt.id
            )));
        }
        let mut body = Vec::with_capacity(4 + params.len());
        body.extend_from_slice(&stmt.id.to_le_bytes());
        body.extend_from_slice(params);
        if let Some(flags) = body.get_mut(4) {
            *flags = 0;
        }
        self.command(COM_STMT_EXECUTE, &body).await
    }

    /// Closes a statement on the server (COM_STMT_CLOSE has no answer). Only for one the
    /// connection no longer keeps, or to test what a statement gone from the server does.
    pub async fn close_statement(&mut self, id: u32) -> Result<(), WireError> {
        self.begin()?;
        self.channel
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

    /// Lets go of buffers a large packet left large; for a pool to call on a connection it
    /// keeps idle (a command does it itself before it starts).
    pub fn shrink_buffers(&mut self) {
        self.channel.frames.shrink();
    }

    /// Says goodbye; errors do not matter, the socket closes either way.
    pub async fn close(mut self) {
        let _ = self.channel.frames.send_command(COM_QUIT, &[]).await;
    }

    async fn command_expecting_ok(&mut self, command: u8) -> Result<(), WireError> {
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
    ) -> Result<Reply<'_, BackendStream>, WireError> {
        self.begin()?;
        self.channel.send_command(command, body).await?;
        read_reply(&mut self.channel).await
    }

    /// Starts an exchange, or says why the connection cannot take a command.
    fn begin(&mut self) -> Result<(), WireError> {
        if !self.is_usable() {
            return Err(match self.channel.exchange {
                Exchange::Broken => WireError::Refused(
                    "a command on a connection the server closed or broke off".into(),
                ),
                _ => not_read_to_its_end(),
            });
        }
        self.channel.exchange = Exchange::Reading;
        // Between responses: a large packet of the last one need not keep its buffers.
        self.channel.frames.shrink();
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
    WireError::Refused(
        "a command on a connection whose last response was not read to its end".into(),
    )
}
