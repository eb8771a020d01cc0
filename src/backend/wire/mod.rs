//! The backend protocol without the driver: a connection of our own on mysql_common, whose
//! results are read as packets and can be handed on as they are.
//!
//! Why: through mysql_async a result's every column definition and cell is decoded into
//! owned values, and the proxy then encodes them again for its client. For a route to one
//! shard that needs no merge, that decoding and encoding is most of what the proxy spends
//! on a point select besides the kernel (DEPENDENCIES.md, README Performance). Here a
//! result is looked at where it lies in the read buffer: only its first and last packets are
//! parsed, column definitions are rewritten field by field where names must change, and row
//! packets are copied with a new header.
//!
//! Prepared statements live with the connection that prepared them (`statements.rs`).
//!
//! What it does not do (the driver keeps doing it): TLS, compression, authentication other
//! than mysql_native_password and caching_sha2_password's fast path, LOAD DATA LOCAL.
//! `WireOpts` has no option for TLS, so a server that needs it must stay with the driver; `connect` says `Unsupported` for the other plugins, and
//! a LOCAL INFILE request is `Unsupported` (and ends the connection).

mod column;
mod conn;
mod exchange;
mod frames;
mod login;
mod packets;
mod reply;
mod statements;
mod stream;

pub use column::{column_fields, ColumnFields};
pub use conn::{WireConn, WireOpts};
pub use exchange::code_ends_connection;
pub use packets::{ErrFields, OkFields};
pub use reply::{Reply, RowStep, Rows};
pub use statements::Prepared;
pub use stream::BackendStream;

use crate::error::{BackendError, Error};

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{}", .0.message)]
    Server(ErrFields),
    #[error("malformed packet from the server: {0}")]
    Protocol(String),
    #[error("not supported on the wire path: {0}")]
    Unsupported(String),
    /// The caller asked for what the connection's state does not allow; nothing was sent.
    #[error("refused: {0}")]
    Refused(String),
}

impl From<WireError> for Error {
    fn from(e: WireError) -> Self {
        match e {
            WireError::Server(s) => Error::Backend(BackendError {
                code: s.code,
                state: s.state,
                message: s.message,
            }),
            other => Error::BackendConnection(other.to_string()),
        }
    }
}
