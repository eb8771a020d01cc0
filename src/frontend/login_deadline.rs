//! How long a client may take to log in: from the accept to the end of authentication
//! (greeting, SSLRequest, TLS handshake, handshake response, auth switches). MariaDB's
//! `connect_timeout` default: a client that connects and then says nothing, or sends an
//! SSLRequest and stalls the TLS handshake, would otherwise hold its socket and task for
//! ever, and enough of them exhaust the process's file descriptors for everyone.

use std::future::Future;
use std::io;
use std::time::Duration;

use tokio::time::Instant;

pub const LOGIN_TIMEOUT: Duration = Duration::from_secs(10);

/// When a login that starts now must be done.
pub fn deadline() -> Instant {
    Instant::now() + LOGIN_TIMEOUT
}

/// `step` unless `deadline` passes first (then `TimedOut`, which ends the connection).
pub async fn within<T>(
    deadline: Instant,
    step: impl Future<Output = io::Result<T>>,
) -> io::Result<T> {
    match tokio::time::timeout_at(deadline, step).await {
        Ok(r) => r,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no login within {LOGIN_TIMEOUT:?}"),
        )),
    }
}
