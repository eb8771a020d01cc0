//! The few payloads the wire path parses: OK, ERR, and the end of a result. Written from
//! the wire format because mysql_common's parsers build owned packets, and the point here
//! is not to.

use crate::protocol::{Cursor, Malformed, EOF_HEADER, ERR_HEADER, MAX_CHUNK};

use super::exchange::Exchange;
use super::WireError;

pub const SERVER_MORE_RESULTS_EXISTS: u16 = 0x0008;

impl From<Malformed> for WireError {
    fn from(m: Malformed) -> Self {
        WireError::Protocol(m.0)
    }
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

/// Reads an OK payload (header 0x00, or 0xFE ending a result). The info that may follow
/// is a length-encoded string whether or not CLIENT_SESSION_TRACK is on: the protocol
/// documents it as the rest of the packet, but MariaDB and MySQL both send a length first
/// (so does our own client side, `frontend::encode::ok_payload`). The connection does not
/// ask for session tracking, so no session-state block follows.
pub fn parse_ok(payload: &[u8]) -> Result<OkFields, WireError> {
    let mut c = Cursor::new(payload);
    c.u8()?;
    let affected_rows = c.lenenc_int()?;
    let last_insert_id = c.lenenc_int()?;
    let status = c.u16()?;
    let warnings = c.u16()?;
    let info = if c.is_empty() {
        Vec::new()
    } else {
        c.lenenc_str()?.to_vec()
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

/// A server's error packet as the error it is, with where the exchange stands after it.
pub fn server_error(payload: &[u8], exchange: &mut Exchange) -> WireError {
    match parse_err(payload) {
        Ok(err) => {
            *exchange = Exchange::after_error(&err);
            WireError::Server(err)
        }
        Err(e) => {
            *exchange = Exchange::Broken;
            e
        }
    }
}

pub fn is_err(payload: &[u8]) -> bool {
    payload.first() == Some(&ERR_HEADER)
}

/// Whether a payload read where a row may be is the result's end: under DEPRECATE_EOF an
/// OK packet with header 0xFE. A row may begin with 0xFE too (a first cell of 16 MB or
/// more), but such a row is at least a whole chunk long, which no end packet is.
pub fn is_result_end(payload: &[u8]) -> bool {
    payload.first() == Some(&EOF_HEADER) && payload.len() < MAX_CHUNK
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_ok_with_info_as_servers_send_it() {
        let mut p = vec![0x00, 0x03, 0xFC, 0x10, 0x27, 0x02, 0x00, 0x01, 0x00];
        let info = b"Records: 3  Duplicates: 0  Warnings: 1";
        p.push(info.len() as u8);
        p.extend_from_slice(info);
        let ok = parse_ok(&p).unwrap();
        assert_eq!(ok.affected_rows, 3);
        assert_eq!(ok.last_insert_id, 10000);
        assert_eq!(ok.status, 2);
        assert_eq!(ok.warnings, 1);
        assert_eq!(ok.info, info);
        let bare = parse_ok(&p[..9]).unwrap();
        assert!(bare.info.is_empty());
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
        assert!(parse_ok(&[0x00, 0xFE, 1, 2]).is_err());
        assert!(parse_ok(&[0x00, 0, 0, 2, 0, 0, 0, 5, b'a']).is_err());
        assert!(parse_err(&[0xFF]).is_err());
        let mut exchange = Exchange::Reading;
        assert!(matches!(
            server_error(&[0xFF, 1], &mut exchange),
            WireError::Protocol(_)
        ));
        assert_eq!(exchange, Exchange::Broken);
    }
}
