//! Packet framing on a backend socket, read in large batches.
//!
//! Why not a packet at a time: the point of the wire path is to hand a result's packets on
//! where they lie in the read buffer. One `read` brings a whole small result (column
//! definitions, rows, the end packet), and `buffered` then yields each payload as a slice of
//! that buffer, with no copy and no await, until the buffer runs dry.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::protocol::{PacketRun, MAX_CHUNK};

const READ_STEP: usize = 16 * 1024;
/// Buffers above this go back to their small size between responses (`shrink`), so a
/// connection that once read a large packet does not keep its size; not within a response,
/// where a stream of large rows would reallocate for every row.
const SHRINK_ABOVE: usize = 1 << 20;
/// The command buffer is kept for the next command only up to this.
const KEEP_OUT_UP_TO: usize = 64 * 1024;

/// A socket with a read buffer of whole and partial packets, and the sequence ids of the
/// command being answered.
pub struct Frames<S> {
    stream: S,
    buf: Vec<u8>,
    /// First byte not yet handed out, and end of the bytes read.
    start: usize,
    end: usize,
    /// The sequence id the next packet read must carry, and the next one written.
    seq: u8,
    /// A payload of 16 MB or more, joined from its chunks (rare).
    joined: Vec<u8>,
    /// The length and chunk count of the packet at `start`, once known to be whole: the
    /// check that a packet is whole, made before a read, is not made again to take it.
    whole_at_start: Option<(usize, usize)>,
    /// Commands are framed here and written in one call; kept to save an allocation each.
    out: Vec<u8>,
    /// Largest logical packet accepted, so a broken or hostile server cannot make us
    /// allocate without bound.
    max_packet: usize,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Frames<S> {
    pub fn new(stream: S, max_packet: usize) -> Self {
        Frames {
            stream,
            buf: vec![0; READ_STEP],
            start: 0,
            end: 0,
            seq: 0,
            joined: Vec::new(),
            whole_at_start: None,
            out: Vec::new(),
            max_packet,
        }
    }

    pub fn stream(&self) -> &S {
        &self.stream
    }

    /// Sends one command packet (or a login packet when `seq` is not 0) in one write.
    pub async fn send(&mut self, seq: u8, payload: &[u8]) -> io::Result<()> {
        let mut out = self.take_out();
        self.seq = seq;
        let mut rest = payload;
        loop {
            let n = rest.len().min(MAX_CHUNK);
            let len = (n as u32).to_le_bytes();
            out.extend_from_slice(&[len[0], len[1], len[2], self.seq]);
            out.extend_from_slice(&rest[..n]);
            self.seq = self.seq.wrapping_add(1);
            rest = &rest[n..];
            if n < MAX_CHUNK {
                break;
            }
        }
        self.write_out(out).await
    }

    /// Sends a command (sequence id 0): its first byte, then the rest.
    pub async fn send_command(&mut self, command: u8, body: &[u8]) -> io::Result<()> {
        if body.len() + 1 >= MAX_CHUNK {
            let mut payload = Vec::with_capacity(body.len() + 1);
            payload.push(command);
            payload.extend_from_slice(body);
            return self.send(0, &payload).await;
        }
        let len = ((body.len() + 1) as u32).to_le_bytes();
        let mut out = self.take_out();
        out.extend_from_slice(&[len[0], len[1], len[2], 0, command]);
        out.extend_from_slice(body);
        self.seq = 1;
        self.write_out(out).await
    }

    fn take_out(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        out
    }

    /// Writes a framed command and keeps its buffer for the next, unless a large one grew
    /// it (a write cut short by a dropped future just loses the buffer).
    async fn write_out(&mut self, out: Vec<u8>) -> io::Result<()> {
        let written = self.stream.write_all(&out).await;
        if out.capacity() <= KEEP_OUT_UP_TO {
            self.out = out;
        }
        written
    }

    /// The next payload if it is already whole in the buffer; `None` means `fill` first.
    pub fn buffered(&mut self) -> io::Result<Option<&[u8]>> {
        let Some((len, chunks)) = self
            .whole_at_start
            .take()
            .map_or_else(|| self.whole_packet(), |w| Ok(Some(w)))?
        else {
            return Ok(None);
        };
        if chunks == 1 {
            let at = self.start + 4;
            self.check_seq(self.buf[self.start + 3])?;
            self.start = at + len;
            return Ok(Some(&self.buf[at..at + len]));
        }
        self.joined.clear();
        self.joined.reserve(len);
        let mut at = self.start;
        for _ in 0..chunks {
            let n = chunk_len(&self.buf[at..]);
            let seq = self.buf[at + 3];
            if seq != self.seq {
                return Err(out_of_order(self.seq, seq));
            }
            self.seq = self.seq.wrapping_add(1);
            self.joined.extend_from_slice(&self.buf[at + 4..at + 4 + n]);
            at += 4 + n;
        }
        self.start = at;
        Ok(Some(&self.joined))
    }

    /// The whole one-chunk packets at the buffer's start, up to the first that `stops` the
    /// run (it stays for `buffered`), one that is not whole yet, or one of 16 MB or more;
    /// `None` when the first packet is any of these. Each header is checked as `buffered`
    /// checks it; the payloads are only shown to `stops`.
    pub fn buffered_run(
        &mut self,
        stops: impl Fn(&[u8]) -> bool,
    ) -> io::Result<Option<PacketRun<'_>>> {
        let first_seq = self.seq;
        let mut seq = first_seq;
        let mut at = self.start;
        let mut count = 0usize;
        while self.end - at >= 4 {
            let n = chunk_len(&self.buf[at..]);
            if n >= MAX_CHUNK || n > self.max_packet || self.end - at - 4 < n {
                break;
            }
            if stops(&self.buf[at + 4..at + 4 + n]) {
                break;
            }
            if self.buf[at + 3] != seq {
                if count == 0 {
                    return Err(out_of_order(seq, self.buf[at + 3]));
                }
                break;
            }
            seq = seq.wrapping_add(1);
            count += 1;
            at += 4 + n;
        }
        if count == 0 {
            return Ok(None);
        }
        self.whole_at_start = None;
        let from = std::mem::replace(&mut self.start, at);
        self.seq = seq;
        Ok(Some(PacketRun::new(&self.buf[from..at], count, first_seq)))
    }

    /// Reads until the next packet is whole in the buffer.
    pub async fn fill(&mut self) -> io::Result<()> {
        loop {
            if self.has_whole_packet()? {
                return Ok(());
            }
            self.make_room();
            let n = self.stream.read(&mut self.buf[self.end..]).await?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection",
                ));
            }
            self.end += n;
        }
    }

    /// The next payload, reading if it is not whole yet.
    pub async fn next(&mut self) -> io::Result<&[u8]> {
        self.fill().await?;
        match self.buffered()? {
            Some(p) => Ok(p),
            None => Err(io::Error::other("a whole packet went missing")),
        }
    }

    /// Bytes read past the last payload handed out: a finished command's response must
    /// leave none, or the next command would read them as its own.
    pub fn unread(&self) -> usize {
        self.end - self.start
    }

    /// Lets go of large buffers once nothing is left unread in them: between responses.
    pub fn shrink(&mut self) {
        if self.start == self.end && self.buf.len() > SHRINK_ABOVE {
            self.buf = vec![0; READ_STEP];
            self.start = 0;
            self.end = 0;
        }
        if self.joined.capacity() > SHRINK_ABOVE {
            self.joined = Vec::new();
        }
    }

    /// Whether the next packet is whole in the buffer.
    pub fn has_whole_packet(&mut self) -> io::Result<bool> {
        if self.whole_at_start.is_none() {
            self.whole_at_start = self.whole_packet()?;
        }
        Ok(self.whole_at_start.is_some())
    }

    /// The sequence id the next packet (read or written) carries.
    pub fn next_seq(&self) -> u8 {
        self.seq
    }

    fn check_seq(&mut self, seq: u8) -> io::Result<()> {
        if seq != self.seq {
            return Err(out_of_order(self.seq, seq));
        }
        self.seq = self.seq.wrapping_add(1);
        Ok(())
    }

    /// The payload length and chunk count of the next packet, if all its chunks are here.
    fn whole_packet(&self) -> io::Result<Option<(usize, usize)>> {
        let mut at = self.start;
        let mut total = 0usize;
        let mut chunks = 0usize;
        loop {
            if self.end - at < 4 {
                return Ok(None);
            }
            let n = chunk_len(&self.buf[at..]);
            total += n;
            chunks += 1;
            if total > self.max_packet {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "the server sent a packet larger than {} bytes",
                        self.max_packet
                    ),
                ));
            }
            if self.end - at - 4 < n {
                return Ok(None);
            }
            at += 4 + n;
            if n < MAX_CHUNK {
                return Ok(Some((total, chunks)));
            }
        }
    }

    /// Moves the unread bytes to the front and grows the buffer so a read has room for the
    /// rest of the next packet (or another step of it).
    fn make_room(&mut self) {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.start > 0 && self.buf.len() - self.end < READ_STEP {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() - self.end < READ_STEP {
            // Doubling, but never past what one packet of `max_packet` needs (its chunks'
            // headers and one more step): a 64 MB limit must not mean a 128 MB buffer.
            let most = self.max_packet + 4 * (self.max_packet / MAX_CHUNK + 1) + 2 * READ_STEP;
            let len = (self.buf.len().max(READ_STEP) * 2).min(most.max(self.end + READ_STEP));
            self.buf.resize(len, 0);
        }
    }
}

fn chunk_len(header: &[u8]) -> usize {
    u32::from_le_bytes([header[0], header[1], header[2], 0]) as usize
}

fn out_of_order(want: u8, got: u8) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("packets out of order: sequence id {got} where {want} was due"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use tokio::io::AsyncWriteExt;

    fn framed(payloads: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut seq = 1u8;
        for p in payloads {
            let mut rest = p.as_slice();
            loop {
                let n = rest.len().min(MAX_CHUNK);
                out.extend_from_slice(&(n as u32).to_le_bytes()[..3]);
                out.push(seq);
                seq = seq.wrapping_add(1);
                out.extend_from_slice(&rest[..n]);
                rest = &rest[n..];
                if n < MAX_CHUNK {
                    break;
                }
            }
        }
        out
    }

    /// The reading end of a pipe that a task writes `bytes` into, in pieces of the given
    /// sizes (4096 once they run out), as a server's packets arrive in reads of any size.
    fn fed(
        bytes: Vec<u8>,
        pieces: Vec<usize>,
    ) -> (tokio::io::DuplexStream, tokio::task::JoinHandle<()>) {
        let (ours, mut theirs) = tokio::io::duplex(1 << 16);
        let writer = tokio::spawn(async move {
            let mut at = 0;
            let mut i = 0;
            while at < bytes.len() {
                let n = pieces.get(i).copied().unwrap_or(4096).max(1);
                let end = (at + n).min(bytes.len());
                if theirs.write_all(&bytes[at..end]).await.is_err() {
                    return;
                }
                at = end;
                i += 1;
            }
        });
        (ours, writer)
    }

    /// Feeds `bytes` in pieces of the given sizes and reads `count` payloads back.
    fn read_back(
        bytes: Vec<u8>,
        pieces: Vec<usize>,
        count: usize,
        max: usize,
    ) -> Vec<io::Result<Vec<u8>>> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async move {
            let (ours, writer) = fed(bytes, pieces);
            let mut frames = Frames::new(ours, max);
            frames.seq = 1;
            let mut got = Vec::new();
            for _ in 0..count {
                let r = frames.next().await.map(<[u8]>::to_vec);
                let failed = r.is_err();
                got.push(r);
                if failed {
                    break;
                }
            }
            writer.abort();
            got
        })
    }

    proptest! {
        #[test]
        fn payloads_come_back_whole_however_the_bytes_arrive(
            payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..3000), 1..40),
            pieces in proptest::collection::vec(1usize..5000, 0..200),
        ) {
            let bytes = framed(&payloads);
            let got = read_back(bytes, pieces, payloads.len(), 1 << 20);
            prop_assert_eq!(got.len(), payloads.len());
            for (g, want) in got.into_iter().zip(&payloads) {
                prop_assert_eq!(&g.unwrap(), want);
            }
        }

        #[test]
        fn any_bytes_give_payloads_or_an_error_never_a_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..2000),
            pieces in proptest::collection::vec(1usize..64, 0..50),
        ) {
            // The writer stops after the bytes; a read past them ends in an error (EOF),
            // and no payload exceeds the limit.
            let got = read_back(bytes, pieces, 64, 1000);
            prop_assert!(got.last().is_some_and(|r| r.is_err()));
            for r in got.iter().flatten() {
                prop_assert!(r.len() <= 1000);
            }
        }
    }

    /// Reads `count` payloads back as `run_reader` would hand them out: runs where it can,
    /// one packet where a run stops (a payload that begins with `STOP`, a large one).
    fn read_back_in_runs(bytes: Vec<u8>, pieces: Vec<usize>, count: usize) -> Vec<Vec<u8>> {
        const STOP: u8 = 0xEE;
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async move {
            let (ours, writer) = fed(bytes, pieces);
            let mut frames = Frames::new(ours, 64 << 20);
            frames.seq = 1;
            let mut got = Vec::new();
            while got.len() < count {
                frames.fill().await.unwrap();
                let seq_before = frames.next_seq();
                if let Some(run) = frames.buffered_run(|p| p.first() == Some(&STOP)).unwrap() {
                    assert_eq!(run.first_seq(), seq_before);
                    let payloads: Vec<Vec<u8>> = run.payloads().map(<[u8]>::to_vec).collect();
                    assert_eq!(payloads.len(), run.count());
                    assert!(payloads.iter().all(|p| p.first() != Some(&STOP)));
                    let count = run.count();
                    got.extend(payloads);
                    assert_eq!(frames.next_seq(), seq_before.wrapping_add(count as u8));
                    continue;
                }
                got.push(frames.buffered().unwrap().unwrap().to_vec());
            }
            writer.abort();
            got
        })
    }

    proptest! {
        #[test]
        fn runs_and_single_packets_give_every_payload_once_in_order(
            payloads in proptest::collection::vec(
                proptest::collection::vec(any::<u8>(), 0..600), 1..300),
            pieces in proptest::collection::vec(1usize..5000, 0..200),
        ) {
            let bytes = framed(&payloads);
            let got = read_back_in_runs(bytes, pieces, payloads.len());
            prop_assert_eq!(got, payloads);
        }
    }

    #[test]
    fn a_run_stops_before_a_large_packet_and_after_it_goes_on() {
        let big: Vec<u8> = (0..MAX_CHUNK + 10).map(|i| (i % 251) as u8).collect();
        let exact = vec![7u8; MAX_CHUNK];
        let payloads = vec![
            b"a".to_vec(),
            big,
            b"b".to_vec(),
            exact,
            Vec::new(),
            vec![0xEE],
            b"c".to_vec(),
        ];
        let got = read_back_in_runs(framed(&payloads), vec![1 << 20; 64], payloads.len());
        assert_eq!(got, payloads);
    }

    #[test]
    fn a_run_that_begins_out_of_order_is_an_error() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let (ours, mut theirs) = tokio::io::duplex(1 << 16);
            theirs.write_all(&framed(&[b"x".to_vec()])).await.unwrap();
            let mut frames = Frames::new(ours, 1 << 20);
            frames.seq = 2;
            frames.fill().await.unwrap();
            assert!(frames.buffered_run(|_| false).is_err());
        });
    }

    #[test]
    fn a_payload_of_sixteen_megabytes_is_joined_and_the_next_one_follows() {
        let big: Vec<u8> = (0..MAX_CHUNK + 10).map(|i| (i % 251) as u8).collect();
        let exact = vec![7u8; MAX_CHUNK];
        let payloads = vec![big, b"after".to_vec(), exact, Vec::new(), b"end".to_vec()];
        let got = read_back(
            framed(&payloads),
            vec![1 << 20; 64],
            payloads.len(),
            64 << 20,
        );
        let got: Vec<Vec<u8>> = got.into_iter().map(Result::unwrap).collect();
        assert_eq!(got, payloads);
    }

    #[test]
    fn large_buffers_stay_through_a_response_and_go_between_responses() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let payloads = vec![vec![1u8; 3 << 20], vec![2u8; 3 << 20], b"end".to_vec()];
            let bytes = framed(&payloads);
            let (ours, mut theirs) = tokio::io::duplex(1 << 16);
            let writer = tokio::spawn(async move { theirs.write_all(&bytes).await });
            let mut frames = Frames::new(ours, 64 << 20);
            frames.seq = 1;
            assert_eq!(frames.next().await.unwrap().len(), 3 << 20);
            let grown = frames.buf.len();
            assert!(grown > SHRINK_ABOVE);
            assert_eq!(frames.next().await.unwrap().len(), 3 << 20);
            // Within the response the buffer was not given up and grown again.
            assert_eq!(frames.buf.len(), grown);
            assert_eq!(frames.next().await.unwrap(), b"end");
            frames.shrink();
            assert_eq!(frames.buf.len(), READ_STEP);
            writer.await.unwrap().unwrap();
        });
    }

    #[test]
    fn a_wrong_sequence_id_is_an_error() {
        let mut bytes = framed(&[b"one".to_vec(), b"two".to_vec()]);
        bytes[7 + 3] = 9;
        let got = read_back(bytes, vec![], 2, 1000);
        assert_eq!(got[0].as_ref().unwrap(), b"one");
        let err = got[1].as_ref().unwrap_err().to_string();
        assert!(err.contains("out of order"), "{err}");
    }

    #[test]
    fn a_length_over_the_limit_is_refused_before_its_bytes_arrive() {
        // A header claiming 16 MB with nothing behind it: an error at once, not a wait or
        // an allocation of 16 MB.
        let got = read_back(vec![0xFF, 0xFF, 0xFE, 1], vec![], 1, 1 << 20);
        let err = got[0].as_ref().unwrap_err().to_string();
        assert!(err.contains("larger than"), "{err}");
    }
}
