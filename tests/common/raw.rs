//! A tiny raw MySQL client over a blocking socket, for tests that need exact packets or
//! commands the driver does not send (COM_FIELD_LIST, COM_STMT_SEND_LONG_DATA chunks).

use mysql_common::constants::CapabilityFlags;
use mysql_common::io::ParseBuf;
use mysql_common::packets::HandshakePacket;
use mysql_common::scramble::scramble_native;
use std::io::{Read, Write};
use std::net::TcpStream;

use super::{PASSWORD, USER};

/// A tiny raw client: just enough protocol to log in and collect response packets.
pub struct RawClient {
    pub stream: TcpStream,
}

impl RawClient {
    pub fn read_packet(&mut self) -> (u8, Vec<u8>) {
        let mut header = [0u8; 4];
        self.stream.read_exact(&mut header).unwrap();
        let len = u32::from_le_bytes([header[0], header[1], header[2], 0]) as usize;
        let mut payload = vec![0u8; len];
        self.stream.read_exact(&mut payload).unwrap();
        (header[3], payload)
    }

    pub fn write_packet(&mut self, seq: u8, payload: &[u8]) {
        let len = (payload.len() as u32).to_le_bytes();
        let mut out = vec![len[0], len[1], len[2], seq];
        out.extend_from_slice(payload);
        self.stream.write_all(&out).unwrap();
    }

    pub fn connect(port: u16, db: &str, deprecate_eof: bool) -> RawClient {
        Self::connect_with(port, db, 45, deprecate_eof, false, 16 << 20)
    }

    /// Logs in with the handshake collation `collation` and `max_packet`, and asks for
    /// multi-statements (and multi-results) when `multi`.
    pub fn connect_with(
        port: u16,
        db: &str,
        collation: u8,
        deprecate_eof: bool,
        multi: bool,
        max_packet: u32,
    ) -> RawClient {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut c = RawClient { stream };
        let (_, greeting) = c.read_packet();
        let hs: HandshakePacket = ParseBuf(&greeting).parse(()).unwrap();
        let mut nonce = hs.scramble_1_ref().to_vec();
        nonce.extend_from_slice(hs.scramble_2_ref().unwrap_or_default());
        nonce.truncate(20);
        let mut caps = CapabilityFlags::CLIENT_LONG_PASSWORD
            | CapabilityFlags::CLIENT_PROTOCOL_41
            | CapabilityFlags::CLIENT_SECURE_CONNECTION
            | CapabilityFlags::CLIENT_PLUGIN_AUTH
            | CapabilityFlags::CLIENT_CONNECT_WITH_DB
            | CapabilityFlags::CLIENT_TRANSACTIONS;
        if deprecate_eof {
            caps |= CapabilityFlags::CLIENT_DEPRECATE_EOF;
        }
        if multi {
            caps |=
                CapabilityFlags::CLIENT_MULTI_STATEMENTS | CapabilityFlags::CLIENT_MULTI_RESULTS;
        }
        let mut resp = Vec::new();
        resp.extend_from_slice(&caps.bits().to_le_bytes());
        resp.extend_from_slice(&max_packet.to_le_bytes());
        resp.push(collation);
        resp.extend_from_slice(&[0u8; 23]);
        resp.extend_from_slice(USER.as_bytes());
        resp.push(0);
        let proof = scramble_native(&nonce, PASSWORD.as_bytes()).unwrap();
        resp.push(proof.len() as u8);
        resp.extend_from_slice(&proof);
        resp.extend_from_slice(db.as_bytes());
        resp.push(0);
        resp.extend_from_slice(b"mysql_native_password\0");
        c.write_packet(1, &resp);
        let (_, ok) = c.read_packet();
        assert_eq!(ok[0], 0, "login failed: {}", String::from_utf8_lossy(&ok));
        c
    }

    /// Sends a query and returns every response packet (with sequence ids) up to the end.
    pub fn query(&mut self, sql: &str, deprecate_eof: bool) -> Vec<(u8, Vec<u8>)> {
        let mut payload = vec![0x03];
        payload.extend_from_slice(sql.as_bytes());
        self.write_packet(0, &payload);
        self.read_result(deprecate_eof)
    }

    /// COM_STMT_PREPARE: the response packets (OK, parameter and column definitions with
    /// their EOFs).
    pub fn prepare(&mut self, sql: &str, deprecate_eof: bool) -> Vec<(u8, Vec<u8>)> {
        let mut payload = vec![0x16];
        payload.extend_from_slice(sql.as_bytes());
        self.write_packet(0, &payload);
        let ok = self.read_packet();
        if ok.1[0] != 0 {
            return vec![ok];
        }
        let columns = u16::from_le_bytes([ok.1[5], ok.1[6]]) as usize;
        let params = u16::from_le_bytes([ok.1[7], ok.1[8]]) as usize;
        let mut packets = vec![ok];
        for n in [params, columns] {
            if n > 0 {
                for _ in 0..n + usize::from(!deprecate_eof) {
                    packets.push(self.read_packet());
                }
            }
        }
        packets
    }

    /// COM_STMT_EXECUTE of statement `id` with one parameter, an INT.
    pub fn execute_int(&mut self, id: u32, value: i32, deprecate_eof: bool) -> Vec<(u8, Vec<u8>)> {
        let mut payload = vec![0x17];
        payload.extend_from_slice(&id.to_le_bytes());
        payload.push(0);
        payload.extend_from_slice(&1u32.to_le_bytes());
        payload.extend_from_slice(&[0, 1, 3, 0]); // no NULLs, types follow: LONG signed
        payload.extend_from_slice(&value.to_le_bytes());
        self.write_packet(0, &payload);
        self.read_result(deprecate_eof)
    }

    pub fn read_result(&mut self, deprecate_eof: bool) -> Vec<(u8, Vec<u8>)> {
        let mut packets = Vec::new();
        let (seq, first) = self.read_packet();
        let header = first[0];
        packets.push((seq, first.clone()));
        if header == 0x00 || header == 0xFF {
            return packets;
        }
        // Result set: column count, columns, [EOF], rows, EOF/OK.
        let columns = first[0] as usize;
        for _ in 0..columns {
            packets.push(self.read_packet());
        }
        if !deprecate_eof {
            packets.push(self.read_packet());
        }
        loop {
            let p = self.read_packet();
            let end = (p.1[0] == 0xFE && p.1.len() < 0xFF_FFFF) || p.1[0] == 0xFF;
            packets.push(p);
            if end {
                return packets;
            }
        }
    }

    /// COM_FIELD_LIST of `table`: the column definition packets, or the error packet.
    pub fn field_list(&mut self, table: &str, wildcard: &str) -> Result<Vec<Vec<u8>>, Vec<u8>> {
        let mut payload = vec![0x04];
        payload.extend_from_slice(table.as_bytes());
        payload.push(0);
        payload.extend_from_slice(wildcard.as_bytes());
        self.write_packet(0, &payload);
        let mut cols = Vec::new();
        loop {
            let (_, p) = self.read_packet();
            match p.first() {
                Some(0xFF) => return Err(p),
                Some(0xFE) if p.len() < 0xFF_FFFF => return Ok(cols),
                _ => cols.push(p),
            }
        }
    }

    /// COM_STMT_SEND_LONG_DATA (no answer).
    pub fn send_long_data(&mut self, id: u32, param: u16, chunk: &[u8]) {
        let mut payload = vec![0x18];
        payload.extend_from_slice(&id.to_le_bytes());
        payload.extend_from_slice(&param.to_le_bytes());
        payload.extend_from_slice(chunk);
        self.write_packet(0, &payload);
    }

    /// COM_STMT_EXECUTE of statement `id` whose one parameter, of type `ty`, was sent as
    /// long data: the first response packet.
    pub fn execute_long_data(
        &mut self,
        id: u32,
        ty: u8,
        deprecate_eof: bool,
    ) -> Vec<(u8, Vec<u8>)> {
        let mut payload = vec![0x17];
        payload.extend_from_slice(&id.to_le_bytes());
        payload.push(0);
        payload.extend_from_slice(&1u32.to_le_bytes());
        payload.extend_from_slice(&[0, 1, ty, 0]);
        self.write_packet(0, &payload);
        self.read_result(deprecate_eof)
    }
}
