//! A backend connection of our own: login, then commands whose responses are read as
//! packets (`Reply`).

use std::time::Duration;

use mysql_common::constants::CapabilityFlags;
use tokio::net::TcpStream;

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
    frames: Frames<TcpStream>,
    greeting: Greeting,
    /// A command was sent whose response has not been read to its end: the connection can
    /// only be closed.
    unfinished: bool,
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
        Ok(WireConn {
            frames,
            greeting,
            unfinished: false,
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

    /// False once a response was left unread (a caller stopped part-way, or a read failed):
    /// such a connection must be closed, never given another command.
    pub fn is_usable(&self) -> bool {
        !self.unfinished
    }

    /// Sends a text query and reads the first packet of its answer. Reading a result set
    /// to its end is the caller's; `settle` afterwards says whether that happened.
    pub async fn query(&mut self, sql: &str) -> Result<Reply<'_, TcpStream>, WireError> {
        self.command(COM_QUERY, sql.as_bytes()).await
    }

    /// The next result of a multi-result response (after an end whose status says more
    /// results exist).
    pub async fn next_result(&mut self) -> Result<Reply<'_, TcpStream>, WireError> {
        self.unfinished = true;
        let session_track = self.session_track();
        read_reply(&mut self.frames, session_track).await
    }

    /// Marks the response read to its end. Callers call it after an OK, a server error, or
    /// a result's end without more results; until then the connection takes no command, so
    /// a response abandoned part-way (a cancelled future, a failed read) is never read as
    /// the next command's.
    pub fn settle(&mut self) {
        self.unfinished = self.frames.unread() != 0;
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
        if self.unfinished {
            return Err(not_read_to_its_end());
        }
        self.unfinished = true;
        self.frames
            .send_command(COM_STMT_PREPARE, sql.as_bytes())
            .await?;
        let payload = self.frames.next().await?;
        if payload.first() == Some(&ERR) {
            let err = packets::parse_err(payload)?;
            self.settle();
            return Err(WireError::Server(err));
        }
        let stmt = prepare_ok(payload)?;
        // The parameters' and columns' definitions follow (no EOFs: DEPRECATE_EOF); the
        // execute's answer carries the columns again, so they are skipped here.
        for _ in 0..u32::from(stmt.params) + u32::from(stmt.columns) {
            self.frames.next().await?;
        }
        self.settle();
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
        if self.unfinished {
            return Err(not_read_to_its_end());
        }
        self.frames
            .send_command(COM_STMT_CLOSE, &id.to_le_bytes())
            .await?;
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
        let _ = self.frames.send_command(COM_QUIT, &[]).await;
    }

    async fn simple(&mut self, command: u8) -> Result<(), WireError> {
        match self.command(command, &[]).await? {
            Reply::Done(_) => {}
            Reply::Rows(_) => {
                return Err(WireError::Protocol(format!(
                    "a result set in answer to command 0x{command:02X}"
                )))
            }
        }
        self.settle();
        Ok(())
    }

    async fn command(
        &mut self,
        command: u8,
        body: &[u8],
    ) -> Result<Reply<'_, TcpStream>, WireError> {
        if self.unfinished {
            return Err(not_read_to_its_end());
        }
        self.unfinished = true;
        self.frames.send_command(command, body).await?;
        let session_track = self.session_track();
        read_reply(&mut self.frames, session_track).await
    }

    fn session_track(&self) -> bool {
        self.greeting
            .capabilities
            .contains(CapabilityFlags::CLIENT_SESSION_TRACK)
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
