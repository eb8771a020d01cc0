//! MySQL packet framing on the client socket: 3-byte length, 1-byte sequence id, payloads of
//! 16 MB - 1 or more split across several packets.
//!
//! Writes are buffered: a whole response (or a batch of rows) goes out in one `write` call,
//! which matters more than anything else for latency on loopback (DEPENDENCIES.md).

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

use crate::protocol::PacketRun;

pub use crate::protocol::MAX_CHUNK;

/// Buffered rows are flushed once the buffer holds this much, so big results stream.
const FLUSH_THRESHOLD: usize = 64 * 1024;

pub struct PacketReader<R> {
    inner: BufReader<R>,
    /// Largest logical packet we accept, so a hostile length cannot make us allocate gigabytes.
    max_packet: usize,
}

/// Appends exactly `len` bytes to `buf`, growing it as the bytes arrive: a header claiming
/// 16 MB costs memory only once the client has sent them (a length alone, from a client
/// that has not even logged in, made us allocate the whole packet up front).
async fn read_body<R: AsyncRead + Unpin>(
    inner: &mut R,
    len: usize,
    buf: &mut Vec<u8>,
) -> io::Result<()> {
    const STEP: usize = 64 * 1024;
    let end = buf.len() + len;
    while buf.len() < end {
        let want = (end - buf.len()).min(STEP);
        let start = buf.len();
        buf.resize(start + want, 0);
        if let Err(e) = inner.read_exact(&mut buf[start..]).await {
            buf.truncate(start);
            return Err(e);
        }
    }
    Ok(())
}

impl<R: AsyncRead + Unpin> PacketReader<R> {
    pub fn new(inner: R, max_packet: usize) -> Self {
        PacketReader {
            inner: BufReader::with_capacity(16 * 1024, inner),
            max_packet,
        }
    }

    /// Reads one logical packet into `buf` (cleared first) and returns the sequence id of its
    /// last chunk. `Ok(None)` means the client closed the connection between packets.
    pub async fn read_packet(&mut self, buf: &mut Vec<u8>) -> io::Result<Option<u8>> {
        buf.clear();
        let mut first = true;
        loop {
            let mut header = [0u8; 4];
            match self.inner.read_exact(&mut header).await {
                Ok(_) => {}
                Err(e) if first && e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
                Err(e) => return Err(e),
            }
            first = false;
            let len = u32::from_le_bytes([header[0], header[1], header[2], 0]) as usize;
            let seq = header[3];
            if buf.len() + len > self.max_packet {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "packet larger than max_allowed_packet ({})",
                        self.max_packet
                    ),
                ));
            }
            read_body(&mut self.inner, len, buf).await?;
            if len < MAX_CHUNK {
                return Ok(Some(seq));
            }
        }
    }

    pub fn get_mut(&mut self) -> &mut R {
        self.inner.get_mut()
    }

    /// Bytes already read from the socket but not yet consumed; must be empty before a TLS
    /// upgrade takes over the raw stream.
    pub fn buffered(&self) -> usize {
        self.inner.buffer().len()
    }

    pub fn into_inner(self) -> R {
        self.inner.into_inner()
    }
}

/// Accumulates packets for one response and writes them in as few syscalls as possible.
pub struct PacketWriter<W> {
    inner: W,
    buf: Vec<u8>,
    seq: u8,
    /// Start of the packet being built by `begin`/`finish`.
    open: Option<usize>,
    /// How much of `buf` already reached the socket: a flush cut short (a killed statement
    /// is dropped while it writes) resumes there instead of sending bytes twice.
    written: usize,
    /// Flushes so far: a response is in `buf` whole only if none happened since it began.
    flushes: u64,
}

/// Where a response began in the writer's buffer (`PacketWriter::mark`).
#[derive(Debug, Clone, Copy)]
pub struct Mark {
    at: usize,
    flushes: u64,
}

impl<W: AsyncWrite + Unpin> PacketWriter<W> {
    pub fn new(inner: W) -> Self {
        PacketWriter {
            inner,
            buf: Vec::with_capacity(16 * 1024),
            seq: 0,
            open: None,
            written: 0,
            flushes: 0,
        }
    }

    /// The next packet gets this sequence id (the reply to a client packet with id n is n+1).
    pub fn set_seq(&mut self, seq: u8) {
        self.seq = seq;
    }

    pub fn seq(&self) -> u8 {
        self.seq
    }

    /// Starts a packet whose payload the caller appends to the returned buffer; `finish`
    /// closes it. Building in place avoids a copy per row.
    pub fn begin(&mut self) -> &mut Vec<u8> {
        debug_assert!(self.open.is_none());
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0, 0, 0, 0]);
        self.open = Some(start);
        &mut self.buf
    }

    pub fn finish(&mut self) {
        let Some(start) = self.open.take() else {
            return;
        };
        let payload_len = self.buf.len() - start - 4;
        if payload_len < MAX_CHUNK {
            self.buf[start..start + 3].copy_from_slice(&(payload_len as u32).to_le_bytes()[..3]);
            self.buf[start + 3] = self.seq;
            self.seq = self.seq.wrapping_add(1);
            return;
        }
        // Rare: a payload of 16 MB or more. Re-frame it into chunks.
        let payload = self.buf.split_off(start + 4);
        self.buf.truncate(start);
        self.write_chunks(&payload);
    }

    /// Drops the packet opened by `begin`, when building it failed half-way.
    pub fn abandon(&mut self) {
        if let Some(start) = self.open.take() {
            self.buf.truncate(start);
        }
    }

    /// Appends a complete payload as one logical packet.
    pub fn write_packet(&mut self, payload: &[u8]) {
        if payload.len() < MAX_CHUNK {
            let len = (payload.len() as u32).to_le_bytes();
            self.buf
                .extend_from_slice(&[len[0], len[1], len[2], self.seq]);
            self.buf.extend_from_slice(payload);
            self.seq = self.seq.wrapping_add(1);
        } else {
            self.write_chunks(payload);
        }
    }

    fn write_chunks(&mut self, payload: &[u8]) {
        let mut rest = payload;
        loop {
            let n = rest.len().min(MAX_CHUNK);
            let len = (n as u32).to_le_bytes();
            self.buf
                .extend_from_slice(&[len[0], len[1], len[2], self.seq]);
            self.buf.extend_from_slice(&rest[..n]);
            self.seq = self.seq.wrapping_add(1);
            rest = &rest[n..];
            if n < MAX_CHUNK {
                break;
            }
        }
    }

    /// Flushes when enough rows are buffered; called between rows of a streaming result.
    pub async fn maybe_flush(&mut self) -> io::Result<()> {
        if self.buf.len() >= FLUSH_THRESHOLD {
            self.flush().await?;
        }
        Ok(())
    }

    /// Marks where the next response begins, for `since`.
    pub fn mark(&self) -> Mark {
        Mark {
            at: self.buf.len(),
            flushes: self.flushes,
        }
    }

    /// The packets written since `mark`, when all of them are still buffered (none went out
    /// in a flush meanwhile).
    pub fn since(&self, mark: Mark) -> Option<&[u8]> {
        (mark.flushes == self.flushes && self.open.is_none())
            .then(|| self.buf.get(mark.at..))
            .flatten()
    }

    /// Appends a run of whole packets read from a backend, renumbered from this writer's
    /// sequence id. The two sides count alike through a result (one packet each way per
    /// column definition and row; an EOF after the definitions shifts them by one), so the
    /// ids are usually the client's already and the run is one copy.
    pub fn write_run(&mut self, run: PacketRun<'_>) {
        debug_assert!(self.open.is_none());
        let start = self.buf.len();
        self.buf.extend_from_slice(run.bytes());
        let shift = self.seq.wrapping_sub(run.first_seq());
        self.seq = self.seq.wrapping_add(run.count() as u8);
        if shift == 0 {
            return;
        }
        let mut at = start;
        while at + 4 <= self.buf.len() {
            let len = u32::from_le_bytes([self.buf[at], self.buf[at + 1], self.buf[at + 2], 0]);
            self.buf[at + 3] = self.buf[at + 3].wrapping_add(shift);
            at += 4 + len as usize;
        }
    }

    /// Appends whole packets recorded by `since` of another response, renumbered from this
    /// writer's sequence id. `false` (nothing written) when the bytes are not whole packets.
    pub fn write_recorded(&mut self, packets: &[u8]) -> bool {
        let start = self.buf.len();
        let mut seq = self.seq;
        let mut rest = packets;
        self.buf.extend_from_slice(packets);
        let mut at = start;
        while !rest.is_empty() {
            let Some(header) = rest.get(..4) else {
                self.buf.truncate(start);
                return false;
            };
            let len = u32::from_le_bytes([header[0], header[1], header[2], 0]) as usize;
            if rest.len() < 4 + len {
                self.buf.truncate(start);
                return false;
            }
            self.buf[at + 3] = seq;
            seq = seq.wrapping_add(1);
            at += 4 + len;
            rest = &rest[4 + len..];
        }
        self.seq = seq;
        true
    }

    pub async fn flush(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.flushes = self.flushes.wrapping_add(1);
        }
        while self.written < self.buf.len() {
            let n = self.inner.write(&self.buf[self.written..]).await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            self.written += n;
        }
        if !self.buf.is_empty() {
            self.buf.clear();
            self.written = 0;
            if self.buf.capacity() > 1024 * 1024 {
                self.buf.shrink_to(64 * 1024);
            }
        }
        self.inner.flush().await
    }

    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    pub fn into_inner(self) -> W {
        self.inner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: a bare header claiming a 16 MB packet made the reader allocate all of it
    /// before a byte of the body came.
    #[tokio::test]
    async fn a_claimed_length_costs_memory_only_as_bytes_arrive() {
        let (mut client, server) = tokio::io::duplex(1024);
        let mut reader = PacketReader::new(server, 64 * 1024 * 1024);
        client.write_all(&[0xFF, 0xFF, 0xFE, 0]).await.unwrap();
        client.write_all(&[7u8; 10]).await.unwrap();
        let mut buf = Vec::new();
        let waited = tokio::time::timeout(
            std::time::Duration::from_millis(100),
            reader.read_packet(&mut buf),
        )
        .await;
        assert!(waited.is_err(), "the packet cannot be complete");
        assert!(
            buf.capacity() <= 128 * 1024,
            "{} bytes held",
            buf.capacity()
        );
        drop(client);
    }

    #[tokio::test]
    async fn big_payload_round_trips_through_chunks() {
        let payload: Vec<u8> = (0..MAX_CHUNK + 10).map(|i| i as u8).collect();
        let mut w = PacketWriter::new(Vec::new());
        w.write_packet(&payload);
        w.flush().await.unwrap();
        let bytes = w.into_inner();
        let mut r = PacketReader::new(&bytes[..], 64 << 20);
        let mut buf = Vec::new();
        let seq = r.read_packet(&mut buf).await.unwrap();
        assert_eq!(seq, Some(1));
        assert_eq!(buf, payload);
    }

    #[tokio::test]
    async fn exact_chunk_size_is_followed_by_empty_packet() {
        let payload = vec![7u8; MAX_CHUNK];
        let mut w = PacketWriter::new(Vec::new());
        let b = w.begin();
        b.extend_from_slice(&payload);
        w.finish();
        w.flush().await.unwrap();
        let bytes = w.into_inner();
        assert_eq!(bytes.len(), MAX_CHUNK + 8);
        let mut r = PacketReader::new(&bytes[..], 64 << 20);
        let mut buf = Vec::new();
        assert_eq!(r.read_packet(&mut buf).await.unwrap(), Some(1));
        assert_eq!(buf.len(), MAX_CHUNK);
    }

    #[tokio::test]
    async fn a_flush_cut_short_resumes_without_sending_bytes_twice() {
        use tokio::io::AsyncReadExt;
        // A socket that takes 8 bytes until the other side reads.
        let (near, mut far) = tokio::io::duplex(8);
        let mut w = PacketWriter::new(near);
        let payload: Vec<u8> = (0..100u8).collect();
        w.write_packet(&payload);
        // A killed statement is dropped while it flushes.
        let cut = tokio::time::timeout(std::time::Duration::from_millis(20), w.flush()).await;
        assert!(cut.is_err(), "the flush blocks on the full socket");
        let reader = tokio::spawn(async move {
            let mut got = vec![0u8; 104];
            far.read_exact(&mut got).await.unwrap();
            got
        });
        w.flush().await.unwrap();
        let got = reader.await.unwrap();
        assert_eq!(&got[..4], &[100, 0, 0, 0]);
        assert_eq!(&got[4..], &payload[..]);
    }

    /// A run read from a backend goes out as the packets `write_packet` would have written
    /// for its payloads, whatever ids the backend gave it (the client's count wraps at 256
    /// inside a run too).
    #[tokio::test]
    async fn a_run_is_renumbered_as_the_clients_packets() {
        let payloads: Vec<Vec<u8>> = (0..300u32)
            .map(|i| vec![i as u8; (i % 7) as usize])
            .collect();
        for (backend_first, client_first) in [(5u8, 5u8), (5, 6), (250, 3), (0, 255)] {
            let mut framed = Vec::new();
            let mut seq = backend_first;
            for p in &payloads {
                framed.extend_from_slice(&(p.len() as u32).to_le_bytes()[..3]);
                framed.push(seq);
                framed.extend_from_slice(p);
                seq = seq.wrapping_add(1);
            }
            let run = PacketRun::new(&framed, payloads.len(), backend_first);
            let mut by_run = PacketWriter::new(Vec::new());
            by_run.set_seq(client_first);
            by_run.write_run(run);
            let mut one_by_one = PacketWriter::new(Vec::new());
            one_by_one.set_seq(client_first);
            for p in &payloads {
                one_by_one.write_packet(p);
            }
            assert_eq!(by_run.seq(), one_by_one.seq());
            by_run.flush().await.unwrap();
            one_by_one.flush().await.unwrap();
            assert_eq!(by_run.into_inner(), one_by_one.into_inner());
        }
    }

    #[tokio::test]
    async fn oversized_packet_is_an_error_not_an_allocation() {
        let bytes = [0xff, 0xff, 0xff, 0];
        let mut r = PacketReader::new(&bytes[..], 1024);
        let mut buf = Vec::new();
        assert!(r.read_packet(&mut buf).await.is_err());
    }
}
