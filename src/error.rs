//! One error type for everything a client can be told, mapped to a MySQL code and SQLSTATE in
//! exactly one place (`code`, `sqlstate`). Backend errors pass through unchanged.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A statement the proxy cannot answer exactly: 1235, never a guess.
    #[error("This version of shardgate doesn't yet support {0}")]
    Unsupported(String),
    #[error("Unknown database '{0}'")]
    UnknownDatabase(String),
    #[error("No database selected")]
    NoDatabaseSelected,
    /// A table the logical database does not have: what one unsharded server would answer
    /// for the physical name of a shard (`clinical_data_0`), which is not a logical table.
    #[error("Table '{db}.{table}' doesn't exist")]
    NoSuchTable { db: String, table: String },
    /// SQL the parser rejected; the text says where.
    #[error("You have an error in your SQL syntax: {0}")]
    Syntax(String),
    #[error("Invalid utf8 character string in query: shardgate needs queries in UTF-8")]
    InvalidUtf8,
    #[error("Access denied for user '{user}'@'{host}' (using password: {})", if *.using_password { "YES" } else { "NO" })]
    AccessDenied {
        user: String,
        host: String,
        using_password: bool,
    },
    /// The shard key value cannot be placed (e.g. a non-integer for `mod`).
    #[error("{0}")]
    BadShardKey(String),
    /// A group's server could not be reached or broke mid-statement.
    #[error("Can't reach group '{group}' ({addr}) of database '{database}': {reason}")]
    GroupUnavailable {
        database: String,
        group: String,
        addr: String,
        reason: String,
    },
    /// An error the backend server produced, forwarded as it was.
    #[error("{0}")]
    Backend(BackendError),
    /// The driver lost or could not use a backend connection (not a server error).
    #[error("Lost connection to backend: {0}")]
    BackendConnection(String),
    /// The backend connection of an open transaction broke, so the server rolled it back:
    /// 1213/40001 like a deadlock, which applications already handle by restarting the
    /// transaction.
    #[error("{0}")]
    TransactionLost(String),
    /// A savepoint name the transaction does not have.
    #[error("SAVEPOINT {0} does not exist")]
    NoSuchSavepoint(String),
    #[error("Unknown command {0:#04x}")]
    UnknownCommand(u8),
    #[error("Malformed packet: {0}")]
    MalformedPacket(String),
    #[error("shardgate internal error: {0}")]
    Internal(String),
    /// A COM_STMT_* command naming a statement id this connection never prepared (or closed).
    #[error("Unknown prepared statement handler ({id}) given to {command}")]
    UnknownStatement { id: u32, command: &'static str },
    /// A client that keeps preparing without closing: capped like max_prepared_stmt_count.
    #[error("Can't create more than max_prepared_stmt_count statements (current value: {0})")]
    TooManyStatements(usize),
    /// COM_STMT_EXECUTE parameters that do not fit the statement.
    #[error("Incorrect arguments to {0}")]
    WrongArguments(String),
    /// The planner needs a sharded table's column order (an INSERT without a column list):
    /// the caller fetches it into `plan::ColumnOrders` and plans again. Never sent as is.
    #[error("shardgate needs the column order of table '{}' to place this INSERT", .0.logical)]
    NeedColumns(Box<crate::plan::ColumnsWanted>),
    /// A broadcast table's copies answered the same write differently (see execute::route).
    #[error("{0}")]
    CopiesDiffer(String),
    /// A write or DDL sent to several shards or group copies failed on one after others had
    /// applied it: the cause's code and SQLSTATE, and a message saying where it stopped, so
    /// an operator can repair (DDL and autocommit writes are not undone).
    #[error(
        "{cause} [shardgate: failed on {failed}; already applied on {done}; not run on {skipped}]"
    )]
    PartlyApplied {
        cause: Box<Error>,
        failed: String,
        done: String,
        skipped: String,
    },
}

/// A server error exactly as a backend sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendError {
    pub code: u16,
    pub state: String,
    pub message: String,
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Error {
    pub fn unsupported(what: impl Into<String>) -> Self {
        Error::Unsupported(what.into())
    }

    pub fn code(&self) -> u16 {
        match self {
            Error::Unsupported(_) => 1235,
            Error::UnknownDatabase(_) => 1049,
            Error::NoDatabaseSelected => 1046,
            Error::NoSuchTable { .. } => 1146,
            Error::Syntax(_) => 1064,
            Error::InvalidUtf8 => 1300,
            Error::AccessDenied { .. } => 1045,
            Error::BadShardKey(_) => 1105,
            Error::GroupUnavailable { .. } => 2003,
            Error::Backend(e) => e.code,
            Error::BackendConnection(_) => 2013,
            Error::TransactionLost(_) => 1213,
            Error::NoSuchSavepoint(_) => 1305,
            Error::UnknownCommand(_) => 1047,
            Error::MalformedPacket(_) => 1835,
            Error::Internal(_) => 1105,
            Error::UnknownStatement { .. } => 1243,
            Error::TooManyStatements(_) => 1461,
            Error::WrongArguments(_) => 1210,
            Error::PartlyApplied { cause, .. } => cause.code(),
            Error::CopiesDiffer(_) => 1105,
            Error::NeedColumns(_) => 1105,
        }
    }

    pub fn sqlstate(&self) -> &str {
        match self {
            Error::Unsupported(_)
            | Error::UnknownDatabase(_)
            | Error::Syntax(_)
            | Error::TooManyStatements(_)
            | Error::NoSuchSavepoint(_) => "42000",
            Error::NoDatabaseSelected => "3D000",
            Error::NoSuchTable { .. } => "42S02",
            Error::AccessDenied { .. } => "28000",
            Error::UnknownCommand(_) => "08S01",
            Error::TransactionLost(_) => "40001",
            Error::Backend(e) => &e.state,
            Error::PartlyApplied { cause, .. } => cause.sqlstate(),
            _ => "HY000",
        }
    }
}

impl From<mysql_async::Error> for Error {
    fn from(e: mysql_async::Error) -> Self {
        match e {
            mysql_async::Error::Server(s) => Error::Backend(BackendError {
                code: s.code,
                state: s.state,
                message: s.message,
            }),
            other => Error::BackendConnection(other.to_string()),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
