//! Connections to the groups: one mysql_async pool per group master, and the connections a
//! client session holds while it runs.

pub mod pools;
pub mod session_conns;

pub use pools::{Backends, GroupPool};
pub use session_conns::SessionConns;
