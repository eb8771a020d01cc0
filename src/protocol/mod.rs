//! MySQL wire-format primitives that the client side (`frontend`) and the backend side
//! (`backend::wire`) both speak: command bytes, packet headers, the chunk size,
//! length-encoded integers and strings. One copy, so the two sides cannot disagree about the format.

pub mod commands;
mod packet_run;

pub use packet_run::PacketRun;

/// Largest payload in one physical packet; a payload of exactly this size is continued in
/// the next packet (maybe an empty one).
pub const MAX_CHUNK: usize = 0xFF_FFFF;

pub const OK_HEADER: u8 = 0x00;
/// An old-style EOF packet, or under DEPRECATE_EOF the OK that ends a result set.
pub const EOF_HEADER: u8 = 0xFE;
pub const ERR_HEADER: u8 = 0xFF;
/// A NULL cell of a text row; as a response's first byte, a LOCAL INFILE request.
pub const NULL_CELL: u8 = 0xFB;

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

/// A payload ended before a field it should hold, or a field is malformed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub String);

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
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

    pub fn u8(&mut self) -> Result<u8, Malformed> {
        let b = *self.bytes.get(self.at).ok_or_else(short)?;
        self.at += 1;
        Ok(b)
    }

    pub fn u16(&mut self) -> Result<u16, Malformed> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        let end = self.at.checked_add(n).ok_or_else(short)?;
        let b = self.bytes.get(self.at..end).ok_or_else(short)?;
        self.at = end;
        Ok(b)
    }

    pub fn lenenc_int(&mut self) -> Result<u64, Malformed> {
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
                return Err(Malformed(format!(
                    "0x{other:02X} where a length-encoded integer was due"
                )))
            }
        })
    }

    pub fn lenenc_str(&mut self) -> Result<&'a [u8], Malformed> {
        let n = self.lenenc_int()?;
        self.take(usize::try_from(n).map_err(|_| short())?)
    }
}

fn short() -> Malformed {
    Malformed("a packet ends early".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_round_trip_at_every_width() {
        for n in [
            0u64,
            250,
            251,
            0xFFFF,
            0x1_0000,
            0xFF_FFFF,
            0x100_0000,
            u64::MAX,
        ] {
            let mut buf = Vec::new();
            put_lenenc_int(&mut buf, n);
            assert_eq!(Cursor::new(&buf).lenenc_int(), Ok(n));
        }
    }

    #[test]
    fn a_truncated_field_is_an_error_not_a_panic() {
        assert!(Cursor::new(&[0xFF]).lenenc_int().is_err());
        assert!(Cursor::new(&[0xFC, 1]).lenenc_int().is_err());
        assert!(Cursor::new(&[0x05, b'a']).lenenc_str().is_err());
        assert!(
            Cursor::new(&[0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
                .lenenc_str()
                .is_err()
        );
    }
}
