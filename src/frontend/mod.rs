//! The MySQL server side, our own on mysql_common packets (DEPENDENCIES.md says why not
//! opensrv-mysql): framing, handshake and auth, the command loop, and result writing that
//! forwards the backend's column definitions, status flags and errors as they were.

mod admin_sql;
mod answered_here;
pub mod auth;
pub(crate) mod cached_reads;
pub mod change_user;
pub mod connection;
pub mod encode;
mod field_list;
pub mod full_auth;
pub mod handshake;
mod hold_gate;
mod idle_hold;
pub(crate) mod idle_hold_ends;
pub mod interrupt;
pub mod kill;
pub mod login_deadline;
pub mod packet;
mod report;
pub mod session_signal;
pub mod sessions;
pub mod sink;
pub mod stmt;
pub mod tls;
pub mod user_limits;
mod wire_warnings;
mod xa_admin;

pub use connection::serve_client;
