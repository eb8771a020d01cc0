//! Where a connection stands in the exchange of a command and its response: the one thing
//! that decides whether it may be sent another command.
//!
//! Why a state and not a look at the read buffer: an empty buffer says nothing about what
//! the server has still to send (rows held up by a slow statement, a CALL's next result).
//! A caller that gave up part-way, or read a result whose end announced more, would have
//! the rest read as the next command's answer: rows that look right and are not.

use tokio::io::{AsyncRead, AsyncWrite};

use super::frames::Frames;
use super::packets::{ErrFields, OkFields};
use super::WireError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exchange {
    /// The last response was read to its end: a command may be sent.
    Idle,
    /// A command was sent and its response is not read to its end.
    Reading,
    /// A result ended and announced another (`next_result`).
    MoreResults,
    /// The server closed the connection, or said it will, or sent what we cannot follow.
    Broken,
}

/// A connection's framing together with where its exchange stands. Reads go through it so
/// that a failed read (the server gone, a malformed packet) marks the connection broken.
pub struct Channel<S> {
    pub frames: Frames<S>,
    pub exchange: Exchange,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Channel<S> {
    /// The next payload, reading if it is not whole yet.
    pub async fn next(&mut self) -> Result<&[u8], WireError> {
        let Channel { frames, exchange } = self;
        match frames.next().await {
            Ok(payload) => Ok(payload),
            Err(e) => {
                *exchange = Exchange::Broken;
                Err(e.into())
            }
        }
    }

    /// Reads until the next payload is whole in the buffer.
    pub async fn fill(&mut self) -> Result<(), WireError> {
        if let Err(e) = self.frames.fill().await {
            self.exchange = Exchange::Broken;
            return Err(e.into());
        }
        Ok(())
    }

    /// Sends a command, starting an exchange; a failed write breaks the connection.
    pub async fn send_command(&mut self, command: u8, body: &[u8]) -> Result<(), WireError> {
        self.exchange = Exchange::Reading;
        if let Err(e) = self.frames.send_command(command, body).await {
            self.exchange = Exchange::Broken;
            return Err(e.into());
        }
        Ok(())
    }
}

impl Exchange {
    /// Where a response (or one result of it) that ended with this OK leaves us.
    pub fn after_end(ok: &OkFields) -> Exchange {
        if ok.more_results() {
            Exchange::MoreResults
        } else {
            Exchange::Idle
        }
    }

    /// Where a server error, which ends the response, leaves us.
    pub fn after_error(err: &ErrFields) -> Exchange {
        if ends_connection(err) {
            Exchange::Broken
        } else {
            Exchange::Idle
        }
    }
}

/// Errors after which the server closes the connection: SQLSTATE class 08 (a packet over
/// max_allowed_packet, network errors), shutdown, KILL CONNECTION, the idle timeout.
pub fn ends_connection(err: &ErrFields) -> bool {
    err.state.starts_with("08") || code_ends_connection(err.code)
}

/// The codes of those errors whatever their SQLSTATE (ER_SERVER_SHUTDOWN,
/// ER_CONNECTION_KILLED, ER_CLIENT_INTERACTION_TIMEOUT): the driver's connections end on
/// them too (`execute::txn::loss`).
pub fn code_ends_connection(code: u16) -> bool {
    matches!(code, 1053 | 1927 | 4031)
}
