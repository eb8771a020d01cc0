//! The socket under a wire connection: TCP, or the server's unix socket when it is on
//! this machine.
//!
//! Why both: the pools' driver connections switch to the unix socket for a local server
//! (`prefer_socket`), which costs the kernel less per round trip than loopback TCP. A wire
//! connection that could only speak TCP would be compared with them at a disadvantage, and
//! would add that cost to every statement it carries.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

pub enum BackendStream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl BackendStream {
    /// Whether the server closed the connection (or sent something unasked) while it sat
    /// idle: its end of file is already here. Asked before an idle connection takes a
    /// statement, so that one the server dropped (`wait_timeout`, an operator's KILL) is
    /// replaced before anything is sent, rather than a failed statement run again: that
    /// could run anew a statement an operator killed on purpose. Costs no system call
    /// unless the socket was reported readable; a byte read here leaves the connection out
    /// of step, so that counts as closed too.
    pub fn closed_while_idle(&self) -> bool {
        let mut byte = [0u8; 1];
        let read = match self {
            BackendStream::Tcp(s) => s.try_read(&mut byte),
            BackendStream::Unix(s) => s.try_read(&mut byte),
        };
        !matches!(read, Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }
}

impl AsyncRead for BackendStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            BackendStream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            BackendStream::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for BackendStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            BackendStream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            BackendStream::Unix(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            BackendStream::Tcp(s) => Pin::new(s).poll_flush(cx),
            BackendStream::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            BackendStream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            BackendStream::Unix(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}
