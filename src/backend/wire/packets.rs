//! The few payloads the wire path parses: length-encoded integers and strings, OK and ERR.
//! Written from the wire format because mysql_common's parsers build owned packets, and the
//! point here is not to.

use super::WireError;

pub const OK: u8 = 0x00;
pub const EOF: u8 = 0xFE;
pub const ERR: u8 = 0xFF;
pub const LOCAL_INFILE: u8 = 0xFB;

pub const SERVER_MORE_RESULTS_EXISTS: u16 = 0x0008;

pub fn put_lenenc_int(buf: &mut Vec<u8>, v: u64) {
    if v < 251 {
        buf.push(v as u8);
    } else if v < 1 << 16 {
        buf.push(0xFC);
        buf.extend_from_slice(&(v as u16).to_le_bytes());
    } else if v < 1 << 24 {
        buf.push(0xFD);
        buf.extend_from_slice(&(v as u32).to_le_bytes()[..3]);
    } else {
        buf.push(0xFE);
        buf.extend_from_slice(&v.to_le_bytes());
    }
}

pub fn put_lenenc_str(buf: &mut Vec<u8>, s: &[u8]) {
    put_lenenc_int(buf, s.len() as u64);
    buf.extend_from_slice(s);
}

/// A cursor over one payload.
pub struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Cursor { bytes, at: 0 }
    }

    pub fn rest(&self) -> &'a [u8] {
        &self.bytes[self.at.min(self.bytes.len())..]
    }

    pub fn is_empty(&self) -> bool {
        self.at >= self.bytes.len()
    }

    pub fn u8(&mut self) -> Result<u8, WireError> {
        let b = *self.bytes.get(self.at).ok_or_else(short)?;
        self.at += 1;
        Ok(b)
    }

    pub fn u16(&mut self) -> Result<u16, WireError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let end = self.at.checked_add(n).ok_or_else(short)?;
        let b = self.bytes.get(self.at..end).ok_or_else(short)?;
        self.at = end;
        Ok(b)
    }

    pub fn lenenc_int(&mut self) -> Result<u64, WireError> {
        Ok(match self.u8()? {
            n @ 0..=0xFA => u64::from(n),
            0xFC => u64::from(self.u16()?),
            0xFD => {
                let b = self.take(3)?;
                u64::from(u32::from_le_bytes([b[0], b[1], b[2], 0]))
            }
            0xFE => {
                let b = self.take(8)?;
                u64::from_le_bytes(b.try_into().map_err(|_| short())?)
            }
            other => {
                return Err(WireError::Protocol(format!(
                    "0x{other:02X} where a length-encoded integer was due"
                )))
            }
        })
    }

    pub fn lenenc_str(&mut self) -> Result<&'a [u8], WireError> {
        let n = self.lenenc_int()?;
        self.take(usize::try_from(n).map_err(|_| short())?)
    }
}

fn short() -> WireError {
    WireError::Protocol("a packet ends early".into())
}

/// An OK packet (or the OK-shaped end of a result under DEPRECATE_EOF).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OkFields {
    pub affected_rows: u64,
    pub last_insert_id: u64,
    pub status: u16,
    pub warnings: u16,
    pub info: Vec<u8>,
}

impl OkFields {
    /// The response goes on with another result (a multi-result: CALL, several statements).
    pub fn more_results(&self) -> bool {
        self.status & SERVER_MORE_RESULTS_EXISTS != 0
    }
}

/// Reads an OK payload (header 0x00, or 0xFE ending a result); `session_track` says whether
/// the connection negotiated CLIENT_SESSION_TRACK, which changes how info is framed.
pub fn parse_ok(payload: &[u8], session_track: bool) -> Result<OkFields, WireError> {
    let mut c = Cursor::new(payload);
    c.u8()?;
    let affected_rows = c.lenenc_int()?;
    let last_insert_id = c.lenenc_int()?;
    let status = c.u16()?;
    let warnings = c.u16()?;
    let info = if c.is_empty() {
        Vec::new()
    } else if session_track {
        c.lenenc_str()?.to_vec()
    } else {
        c.rest().to_vec()
    };
    Ok(OkFields {
        affected_rows,
        last_insert_id,
        status,
        warnings,
        info,
    })
}

/// A server's error: code, SQLSTATE and message as the server sent them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrFields {
    pub code: u16,
    pub state: String,
    pub message: String,
}

pub fn parse_err(payload: &[u8]) -> Result<ErrFields, WireError> {
    let mut c = Cursor::new(payload);
    c.u8()?;
    let code = c.u16()?;
    let state = if c.rest().first() == Some(&b'#') {
        c.u8()?;
        String::from_utf8_lossy(c.take(5)?).into_owned()
    } else {
        "HY000".to_string()
    };
    Ok(ErrFields {
        code,
        state,
        message: String::from_utf8_lossy(c.rest()).into_owned(),
    })
}

/// Whether a payload read where a row may be is the result's end: under DEPRECATE_EOF an
/// OK packet with header 0xFE, else an EOF packet. A row may begin with 0xFE too (a cell of
/// 16 MB or more), but such a row is longer than any end packet can be.
pub fn is_result_end(payload: &[u8]) -> bool {
    payload.first() == Some(&EOF) && payload.len() < 0xFF_FFFF
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_ok_with_info() {
        let p = [
            0x00, 0x03, 0xFC, 0x10, 0x27, 0x02, 0x00, 0x01, 0x00, b'h', b'i',
        ];
        let ok = parse_ok(&p, false).unwrap();
        assert_eq!(ok.affected_rows, 3);
        assert_eq!(ok.last_insert_id, 10000);
        assert_eq!(ok.status, 2);
        assert_eq!(ok.warnings, 1);
        assert_eq!(ok.info, b"hi");
    }

    #[test]
    fn reads_an_error_with_and_without_state() {
        let mut p = vec![0xFF, 0x7A, 0x04, b'#'];
        p.extend_from_slice(b"42S02Table 'x' doesn't exist");
        let e = parse_err(&p).unwrap();
        assert_eq!((e.code, e.state.as_str()), (1146, "42S02"));
        assert_eq!(e.message, "Table 'x' doesn't exist");
        let e = parse_err(&[0xFF, 0x10, 0x04, b'o', b'h']).unwrap();
        assert_eq!(
            (e.code, e.state.as_str(), e.message.as_str()),
            (1040, "HY000", "oh")
        );
    }

    #[test]
    fn a_truncated_packet_is_an_error_not_a_panic() {
        assert!(parse_ok(&[0x00, 0xFE, 1, 2], false).is_err());
        assert!(parse_err(&[0xFF]).is_err());
        assert!(Cursor::new(&[0xFF]).lenenc_int().is_err());
        assert!(Cursor::new(&[0x05, b'a']).lenenc_str().is_err());
    }
}
