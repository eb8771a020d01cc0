//! A command's response read packet by packet: an OK, an error, or a result set whose
//! column definitions and rows are handed out as slices of the read buffer.
//!
//! The connection always runs with CLIENT_DEPRECATE_EOF (login refuses a server without
//! it), so no EOF packet follows the column definitions and a result ends with an OK
//! packet whose header is 0xFE. A client that wants the old EOF packets gets them from
//! whoever writes to it. Every end, error and failed read is recorded in the channel's
//! `Exchange`, which alone decides whether the connection takes another command.

use tokio::io::{AsyncRead, AsyncWrite};

use crate::protocol::{Cursor, PacketRun, NULL_CELL, OK_HEADER};

use super::exchange::{Channel, Exchange};
use super::packets::{self, OkFields};
use super::WireError;

/// The first answer to a command.
pub enum Reply<'c, S> {
    /// An OK: the statement returned no rows.
    Done(OkFields),
    /// A result set; its columns and rows must be read to the end (or the connection
    /// dropped) before another command.
    Rows(Rows<'c, S>),
}

/// Reads the first packet of a response (after a command, or after a result that said more
/// results follow). The caller has set the exchange to `Reading`.
pub(super) async fn read_reply<S: AsyncRead + AsyncWrite + Unpin>(
    channel: &mut Channel<S>,
) -> Result<Reply<'_, S>, WireError> {
    let Channel { frames, exchange } = channel;
    let payload = match frames.next().await {
        Ok(p) => p,
        Err(e) => {
            *exchange = Exchange::Broken;
            return Err(e.into());
        }
    };
    match payload.first() {
        Some(&OK_HEADER) => {
            let ok = packets::parse_ok(payload).inspect_err(|_| *exchange = Exchange::Broken)?;
            *exchange = Exchange::after_end(&ok);
            Ok(Reply::Done(ok))
        }
        _ if packets::is_err(payload) => Err(packets::server_error(payload, exchange)),
        Some(&NULL_CELL) => {
            // LOCAL INFILE: the server now waits for the file's contents, which we do not
            // send.
            *exchange = Exchange::Broken;
            Err(WireError::Unsupported("LOAD DATA LOCAL INFILE".into()))
        }
        Some(_) => match Cursor::new(payload).lenenc_int() {
            Ok(columns) => Ok(Reply::Rows(Rows {
                channel,
                columns,
                columns_left: columns,
                end: None,
                failed: false,
            })),
            Err(e) => {
                *exchange = Exchange::Broken;
                Err(e.into())
            }
        },
        None => {
            *exchange = Exchange::Broken;
            Err(WireError::Protocol("an empty response".into()))
        }
    }
}

/// A result set being read.
pub struct Rows<'c, S> {
    channel: &'c mut Channel<S>,
    columns: u64,
    columns_left: u64,
    end: Option<OkFields>,
    /// The result ended in an error (or a failed read): nothing more is to be read from it.
    failed: bool,
}

/// One step through a result's rows.
pub enum RowStep<'a> {
    Row(&'a [u8]),
    /// The result ended (`Rows::end` has its OK).
    End,
    /// The next packet is not whole in the buffer yet: `fill` first.
    NotYet,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Rows<'_, S> {
    pub fn column_count(&self) -> u64 {
        self.columns
    }

    /// The next column definition's payload; `None` once all are read.
    pub async fn next_column(&mut self) -> Result<Option<&[u8]>, WireError> {
        self.still_open()?;
        if self.columns_left == 0 {
            return Ok(None);
        }
        self.columns_left -= 1;
        let Channel { frames, exchange } = &mut *self.channel;
        let payload = match frames.next().await {
            Ok(p) => p,
            Err(e) => {
                *exchange = Exchange::Broken;
                self.failed = true;
                return Err(e.into());
            }
        };
        if packets::is_err(payload) {
            self.failed = true;
            return Err(packets::server_error(payload, exchange));
        }
        Ok(Some(payload))
    }

    /// The next row if it is already in the buffer: a batch of rows is handed on without
    /// an await per row.
    pub fn buffered_row(&mut self) -> Result<RowStep<'_>, WireError> {
        if self.end.is_some() {
            return Ok(RowStep::End);
        }
        self.still_open()?;
        if self.columns_left != 0 {
            return Err(WireError::Refused(
                "rows read before the column definitions".into(),
            ));
        }
        let Channel { frames, exchange } = &mut *self.channel;
        let payload = match frames.buffered() {
            Ok(Some(p)) => p,
            Ok(None) => return Ok(RowStep::NotYet),
            Err(e) => {
                *exchange = Exchange::Broken;
                self.failed = true;
                return Err(e.into());
            }
        };
        if packets::is_result_end(payload) {
            let end = match packets::parse_ok(payload) {
                Ok(end) => end,
                Err(e) => {
                    *exchange = Exchange::Broken;
                    self.failed = true;
                    return Err(e);
                }
            };
            *exchange = Exchange::after_end(&end);
            self.end = Some(end);
            return Ok(RowStep::End);
        }
        if packets::is_err(payload) {
            self.failed = true;
            return Err(packets::server_error(payload, exchange));
        }
        Ok(RowStep::Row(payload))
    }

    /// The rows already whole in the buffer, as one run of packets; `None` when the next
    /// packet is not a plain row (the end, an error, a row of 16 MB or more) or not whole
    /// yet: `buffered_row` takes it from there.
    pub fn buffered_rows(&mut self) -> Result<Option<PacketRun<'_>>, WireError> {
        if self.end.is_some() || self.failed || self.columns_left != 0 {
            return Ok(None);
        }
        let Channel { frames, exchange } = &mut *self.channel;
        match frames.buffered_run(|p| packets::is_result_end(p) || packets::is_err(p)) {
            Ok(run) => Ok(run),
            Err(e) => {
                *exchange = Exchange::Broken;
                self.failed = true;
                Err(e.into())
            }
        }
    }

    /// Reads until the next row (or the end) is in the buffer.
    pub async fn fill(&mut self) -> Result<(), WireError> {
        if self.end.is_some() {
            return Ok(());
        }
        self.still_open()?;
        let filled = self.channel.fill().await;
        self.failed = filled.is_err();
        filled
    }

    /// The next row; `None` at the end.
    pub async fn next_row(&mut self) -> Result<Option<&[u8]>, WireError> {
        if self.end.is_some() {
            return Ok(None);
        }
        self.still_open()?;
        if !self.channel.frames.has_whole_packet()? {
            self.fill().await?;
        }
        match self.buffered_row()? {
            RowStep::Row(r) => Ok(Some(r)),
            RowStep::End => Ok(None),
            RowStep::NotYet => Err(WireError::Protocol("a whole row went missing".into())),
        }
    }

    /// The OK that ended the result, once it has been read.
    pub fn end(&self) -> Option<&OkFields> {
        self.end.as_ref()
    }

    /// Reads the rest of the result and returns its end.
    pub async fn finish(mut self) -> Result<OkFields, WireError> {
        while self.next_column().await?.is_some() {}
        while self.next_row().await?.is_some() {}
        self.end
            .take()
            .ok_or_else(|| WireError::Protocol("a result without an end".into()))
    }

    /// A result that ended in an error has nothing more to read: reading on would wait for
    /// packets that never come.
    fn still_open(&self) -> Result<(), WireError> {
        if self.failed {
            return Err(WireError::Refused(
                "the result already ended in an error".into(),
            ));
        }
        Ok(())
    }
}
