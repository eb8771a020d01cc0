//! Connections to the groups: one mysql_async pool per server (master and replicas), the
//! read/write split over them, the servers' health, and the connections a client session
//! holds while it runs.

pub mod balance;
pub mod breaker;
pub mod column_sorts;
pub mod conn;
pub mod health;
pub mod health_check;
pub mod in_use;
pub mod key_columns;
pub mod pools;
pub mod replication;
pub mod schema_check;
pub mod server_syntax;
pub mod session_conns;
pub mod warm;
mod warn_once;
pub mod wire;
pub mod wire_pool;

pub use balance::{Access, ServerRef};
pub use conn::BackendConn;
pub use pools::{Backends, GroupPool, GroupServers};
pub use session_conns::SessionConns;
pub use wire_pool::WireLease;
