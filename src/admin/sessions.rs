//! `SHOW SHARDGATE SESSIONS`: the proxy's client sessions with what a proxy operator needs
//! beyond SHOW PROCESSLIST: the backend connections each keeps between statements, whether
//! a transaction is open, and the running statement's time in milliseconds. Id is the
//! session id that `KILL [QUERY] <id>` takes (the connection id of the handshake).

use crate::frontend::sessions::Snapshot;

pub const COLUMNS: &[&str] = &[
    "Id",
    "User",
    "Db",
    "Client",
    "State",
    "Pinned_connections",
    "Statement_connections",
    "In_transaction",
    "Statement",
    "Time_ms",
];

/// The rows as text cells; `None` is SQL NULL. `me` is the asking session (running this
/// SHOW).
pub fn rows(sessions: impl Iterator<Item = Snapshot>, me: u32) -> Vec<Vec<Option<String>>> {
    sessions
        .map(|s| {
            let state = if s.id == me {
                "running (this statement)"
            } else if s.held {
                "waiting for write hold"
            } else if s.running {
                "running"
            } else {
                "idle"
            };
            vec![
                Some(s.id.to_string()),
                Some(s.user),
                s.db,
                Some(s.host),
                Some(state.to_string()),
                Some(s.pinned.to_string()),
                Some(s.backend_connections.to_string()),
                Some(if s.in_transaction { "yes" } else { "no" }.to_string()),
                s.info,
                s.running.then(|| s.elapsed.as_millis().to_string()),
            ]
        })
        .collect()
}
