//! One error type for everything a client can be told, mapped to a MySQL code and SQLSTATE in
//! exactly one place (`code`, `sqlstate`). Backend errors pass through unchanged.
//!
//! Errors the proxy makes itself carry server error codes (below 2000): codes 2000-2999 are
//! the client library's own (CR_*), and a client that finds one in an error packet reports a
//! malformed packet instead of the message (the mariadb CLI prints "ERROR 2027"). Problems
//! with a backend get SQLSTATE HY000, not class 08: the client's own connection to the proxy
//! is fine, and connectors drop a connection that reports an 08 state.

use std::fmt;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A statement the proxy cannot answer exactly: 1235, never a guess.
    #[error("This version of shardgate doesn't yet support {0}")]
    Unsupported(String),
    /// A merge whose keys' column types it cannot order (ENUM, SET sort by their index),
    /// found when the shards' columns arrive, before any row: `execute::run` answers the
    /// statement over copies of the rows instead. Names the sharded table.
    #[error("This version of shardgate doesn't yet support {}", merge_cannot_order(.0))]
    MergeCannotOrder(String),
    /// A merge key planned without a collation weight (its column's type sorted by value
    /// when the proxy read it) turned out text: the type changed behind the proxy's back.
    /// Found before any row, like `MergeCannotOrder`: `execute::run` forgets the types and
    /// plans the statement anew. Names the sharded table.
    #[error("This version of shardgate doesn't yet support ordering over several shards of sharded table '{0}' by a column whose type changed since the proxy read it")]
    MergeNeedsWeights(String),
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
    /// Every connection of a server's pool is in use (sessions in transactions, or holding
    /// temporary tables or locks) and none came back in time. Not a server failure.
    #[error(
        "Too many connections: all {pool_max} connections of the pool of {role} {addr} \
         (group '{group}' of database '{database}', backend.pool_max per worker) are in use \
         and none was free within {waited:?}"
    )]
    PoolExhausted {
        database: String,
        group: String,
        addr: String,
        role: &'static str,
        pool_max: usize,
        waited: Duration,
    },
    /// A statement longer than its backend server's max_allowed_packet; the text names the
    /// shard and server it was for. The server was never asked, so this says nothing about
    /// its health.
    #[error(
        "Got a packet bigger than 'max_allowed_packet' bytes: the statement for {0} is longer \
         than that server's max_allowed_packet"
    )]
    PacketTooLarge(String),
    /// The same inside a transaction: the driver closed the connection, so the transaction
    /// is lost too. Still 1153, since the statement is what the client must change, with
    /// the transaction's loss in the text (the statements after it get 1213).
    #[error(
        "Got a packet bigger than 'max_allowed_packet' bytes: the statement for {place} is \
         longer than that server's max_allowed_packet; {lost}"
    )]
    PacketTooLargeInTransaction { place: String, lost: String },
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
    /// The connection that decides a COMMIT broke while it ran: the server may or may not
    /// have committed. 1180 (error during COMMIT), never OK and never "rolled back".
    #[error("{0}")]
    CommitOutcomeUnknown(String),
    /// A savepoint name the transaction does not have.
    #[error("SAVEPOINT {0} does not exist")]
    NoSuchSavepoint(String),
    #[error("Unknown command {0:#04x}")]
    UnknownCommand(u8),
    #[error("Malformed packet: {0}")]
    MalformedPacket(String),
    #[error("shardgate internal error: {0}")]
    Internal(String),
    /// KILL of a session id the proxy does not have.
    #[error("Unknown thread id: {0}")]
    UnknownThread(u64),
    /// A plain-text login while `[tls] require_secure_transport` is on.
    #[error(
        "Connections using insecure transport are prohibited while \
         --require_secure_transport=ON (shardgate [tls]); connect with TLS"
    )]
    InsecureTransport,
    /// A login over the user's `max_connections` (ER_TOO_MANY_USER_CONNECTIONS).
    #[error(
        "User '{user}' already has more than 'max_user_connections' active connections \
         (max_connections = {max} in shardgate's [[users]])"
    )]
    TooManyUserConnections { user: String, max: u32 },
    /// A statement over the user's rate (ER_USER_LIMIT_REACHED), after waiting
    /// `limit_wait_ms` for a token.
    #[error(
        "User '{user}' has exceeded the 'max_qps' resource (current value: {max_qps}, \
         burst {burst}, waited {waited_ms} ms)"
    )]
    UserLimitReached {
        user: String,
        max_qps: u32,
        burst: u32,
        waited_ms: u64,
    },
    /// An admin statement from a user without `admin = true`.
    #[error("Access denied; you need admin = true in shardgate's [[users]] for {0}")]
    AdminOnly(&'static str),
    /// A reload the proxy refused: the rule files have errors or would move data.
    #[error("{0}")]
    ReloadRefused(String),
    /// KILL of another user's session by a user without `admin = true`.
    #[error("You are not owner of thread {0}")]
    NotOwner(u64),
    /// The statement was stopped by KILL QUERY (or KILL); the text may say what else the
    /// proxy had to give up to stop it.
    #[error("Query execution was interrupted{0}")]
    Interrupted(String),
    /// The session was ended by KILL CONNECTION.
    #[error("Connection was killed")]
    ConnectionKilled,
    /// State a replay cannot repeat (user variables, temporary tables, locks) lived on a
    /// backend connection the proxy had to close: the session cannot go on as it was, so
    /// it answers like a connection the server killed (1927) until the client resets or
    /// reconnects.
    #[error("Connection was killed: {0}")]
    SessionStateLost(String),
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
    /// A write over several groups failed on one of them in `[transactions] mode = "xa"`:
    /// every group rolled its part back. The cause's code and SQLSTATE, and where it failed.
    #[error("{cause} [shardgate: {note}]")]
    RolledBackEverywhere { cause: Box<Error>, note: String },
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

/// What a merge over `table` cannot do when its keys are ENUM, SET or FLOAT columns.
pub fn merge_cannot_order(table: &str) -> String {
    format!(
        "ordering or grouping by an ENUM, SET or FLOAT column (or one whose type changed \
         since the proxy read it) over several shards of sharded table '{table}'"
    )
}

impl Error {
    pub fn unsupported(what: impl Into<String>) -> Self {
        Error::Unsupported(what.into())
    }

    pub fn code(&self) -> u16 {
        match self {
            Error::Unsupported(_) | Error::MergeCannotOrder(_) | Error::MergeNeedsWeights(_) => {
                1235
            }
            Error::UnknownDatabase(_) => 1049,
            Error::NoDatabaseSelected => 1046,
            Error::NoSuchTable { .. } => 1146,
            Error::Syntax(_) => 1064,
            Error::InvalidUtf8 => 1300,
            Error::AccessDenied { .. } => 1045,
            Error::BadShardKey(_) => 1105,
            // ER_CONNECT_TO_FOREIGN_DATA_SOURCE, as MariaDB's Spider reports a data node
            // it cannot reach.
            Error::GroupUnavailable { .. } => 1429,
            // ER_CON_COUNT_ERROR: the pool's connections, not the server's.
            Error::PoolExhausted { .. } => 1040,
            // ER_NET_PACKET_TOO_LARGE.
            Error::PacketTooLarge(_) | Error::PacketTooLargeInTransaction { .. } => 1153,
            // A server never sends a client library's code; if one ever came, it must not
            // reach the client as one.
            Error::Backend(e) if (2000..3000).contains(&e.code) => 1105,
            Error::Backend(e) => e.code,
            // ER_NET_READ_ERROR: the server-side twin of 2013 "Lost connection".
            Error::BackendConnection(_) => 1158,
            Error::TransactionLost(_) => 1213,
            Error::CommitOutcomeUnknown(_) => 1180,
            Error::NoSuchSavepoint(_) => 1305,
            Error::UnknownCommand(_) => 1047,
            Error::MalformedPacket(_) => 1835,
            Error::Internal(_) => 1105,
            Error::UnknownThread(_) => 1094,
            Error::NotOwner(_) => 1095,
            // ER_SPECIFIC_ACCESS_DENIED_ERROR.
            Error::AdminOnly(_) => 1227,
            Error::TooManyUserConnections { .. } => 1203,
            Error::InsecureTransport => 3159,
            Error::UserLimitReached { .. } => 1226,
            Error::ReloadRefused(_) => 1105,
            Error::Interrupted(_) => 1317,
            Error::ConnectionKilled | Error::SessionStateLost(_) => 1927,
            Error::UnknownStatement { .. } => 1243,
            Error::TooManyStatements(_) => 1461,
            Error::WrongArguments(_) => 1210,
            Error::PartlyApplied { cause, .. } => cause.code(),
            Error::RolledBackEverywhere { cause, .. } => cause.code(),
            Error::CopiesDiffer(_) => 1105,
            Error::NeedColumns(_) => 1105,
        }
    }

    pub fn sqlstate(&self) -> &str {
        match self {
            Error::Unsupported(_)
            | Error::MergeCannotOrder(_)
            | Error::MergeNeedsWeights(_)
            | Error::UnknownDatabase(_)
            | Error::Syntax(_)
            | Error::TooManyStatements(_)
            | Error::NoSuchSavepoint(_) => "42000",
            Error::NoDatabaseSelected => "3D000",
            Error::NoSuchTable { .. } => "42S02",
            Error::AccessDenied { .. } => "28000",
            Error::TooManyUserConnections { .. } => "42000",
            Error::UnknownCommand(_) => "08S01",
            Error::TransactionLost(_) => "40001",
            Error::Interrupted(_) | Error::ConnectionKilled | Error::SessionStateLost(_) => "70100",
            Error::Backend(e) if (2000..3000).contains(&e.code) => "HY000",
            Error::Backend(e) => &e.state,
            Error::PartlyApplied { cause, .. } => cause.sqlstate(),
            Error::RolledBackEverywhere { cause, .. } => cause.sqlstate(),
            _ => "HY000",
        }
    }
}

impl Error {
    /// The backend connection that produced this error cannot be used again (the driver
    /// closed it): the session must drop it.
    pub fn breaks_connection(&self) -> bool {
        matches!(self, Error::BackendConnection(_) | Error::PacketTooLarge(_))
    }

    /// Names where a statement too large for its server was going (the driver's error
    /// knows neither shard nor server).
    pub fn packet_too_large_at(self, place: impl FnOnce() -> String) -> Error {
        match self {
            Error::PacketTooLarge(_) => Error::PacketTooLarge(place()),
            other => other,
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
            other if is_packet_too_large(&other) => {
                Error::PacketTooLarge("a backend server".to_string())
            }
            other => Error::BackendConnection(other.to_string()),
        }
    }
}

/// The driver refused to send a packet over the server's max_allowed_packet (it checks
/// before writing, then closes the connection).
fn is_packet_too_large(e: &mysql_async::Error) -> bool {
    use mysql_common::proto::codec::error::PacketCodecError;
    match e {
        mysql_async::Error::Driver(mysql_async::DriverError::PacketTooLarge) => true,
        mysql_async::Error::Io(mysql_async::IoError::Io(io)) => io
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<PacketCodecError>())
            .is_some_and(|c| matches!(c, PacketCodecError::PacketTooLarge)),
        _ => false,
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proxy_never_sends_a_client_library_code() {
        let group = || Error::GroupUnavailable {
            database: "d".into(),
            group: "g0".into(),
            addr: "127.0.0.1:1".into(),
            reason: "refused".into(),
        };
        let errors = [
            group(),
            Error::BackendConnection("broken pipe".into()),
            Error::PoolExhausted {
                database: "d".into(),
                group: "g0".into(),
                addr: "127.0.0.1:1".into(),
                role: "master",
                pool_max: 4,
                waited: Duration::from_secs(2),
            },
            Error::PacketTooLarge("shard 2".into()),
            Error::Backend(BackendError {
                code: 2013,
                state: "HY000".into(),
                message: "Lost connection".into(),
            }),
            Error::PartlyApplied {
                cause: Box::new(group()),
                failed: "shard 1".into(),
                done: "shard 0".into(),
                skipped: "none".into(),
            },
        ];
        for e in errors {
            assert!(
                !(2000..3000).contains(&e.code()),
                "{e}: {} {}",
                e.code(),
                e.sqlstate()
            );
            assert!(!e.sqlstate().starts_with("08"), "{e}: {}", e.sqlstate());
        }
    }

    #[test]
    fn the_drivers_packet_size_refusal_is_1153() {
        use mysql_common::proto::codec::error::PacketCodecError;
        let io = std::io::Error::other(PacketCodecError::PacketTooLarge);
        let e = Error::from(mysql_async::Error::Io(mysql_async::IoError::Io(io)));
        assert_eq!(e, Error::PacketTooLarge("a backend server".into()));
        assert_eq!(e.code(), 1153);
        assert!(e.breaks_connection());
        let named = e.packet_too_large_at(|| "shard 2".into());
        assert!(
            named.to_string().contains("statement for shard 2"),
            "{named}"
        );
        let other = Error::from(mysql_async::Error::Io(mysql_async::IoError::Io(
            std::io::Error::other("reset by peer"),
        )));
        assert!(matches!(other, Error::BackendConnection(_)));
    }
}
