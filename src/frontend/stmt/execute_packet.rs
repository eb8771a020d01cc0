//! Reading a COM_STMT_EXECUTE packet: the statement id, then the bound parameters decoded by
//! the types the client declared (now or at an earlier execute). Every read is bounds-checked:
//! a short or inconsistent packet is an error for the client, never a panic.

use mysql_common::constants::ColumnType as T;

use crate::error::Error;

/// A parameter type as the client declared it: the column type byte and its UNSIGNED bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamType {
    pub ty: u8,
    pub unsigned: bool,
}

/// One bound value, decoded from its binary form.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Null,
    Int(i64),
    UInt(u64),
    Float(f32),
    Double(f64),
    /// DATE / DATETIME / TIMESTAMP: the wire length (0, 4, 7 or 11) says which parts were sent;
    /// a DATE (`date`) means its date part only, whatever was sent.
    DateTime {
        date: bool,
        len: u8,
        year: u16,
        month: u8,
        day: u8,
        hour: u8,
        minute: u8,
        second: u8,
        micros: u32,
    },
    Time {
        negative: bool,
        days: u32,
        hour: u8,
        minute: u8,
        second: u8,
        micros: u32,
    },
    /// DECIMAL / NEWDECIMAL sent as text.
    Decimal(Vec<u8>),
    /// Strings and every other type sent length-encoded: text in the client's charset.
    Bytes(Vec<u8>),
    /// The BLOB types: binary strings, in no charset.
    Binary(Vec<u8>),
}

/// The BLOB parameter types, which the server takes as binary strings.
fn is_blob(ty: u8) -> bool {
    (T::MYSQL_TYPE_TINY_BLOB as u8..=T::MYSQL_TYPE_BLOB as u8).contains(&ty)
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let Some(end) = end else {
            return Err(Error::MalformedPacket(format!(
                "COM_STMT_EXECUTE ends at byte {} where {n} more were expected",
                self.buf.len()
            )));
        };
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn lenenc_int(&mut self) -> Result<u64, Error> {
        Ok(match self.u8()? {
            0xFC => u16::from_le_bytes(self.array()?) as u64,
            0xFD => {
                let b = self.take(3)?;
                u32::from_le_bytes([b[0], b[1], b[2], 0]) as u64
            }
            0xFE => u64::from_le_bytes(self.array()?),
            0xFB | 0xFF => {
                return Err(Error::MalformedPacket(
                    "bad length prefix in COM_STMT_EXECUTE".into(),
                ))
            }
            n => n as u64,
        })
    }

    fn lenenc_bytes(&mut self) -> Result<&'a [u8], Error> {
        let n = self.lenenc_int()?;
        let n =
            usize::try_from(n).map_err(|_| Error::MalformedPacket("parameter too long".into()))?;
        self.take(n)
    }
}

/// The statement id every COM_STMT_* packet starts with.
pub fn statement_id(body: &[u8]) -> Result<u32, Error> {
    Reader { buf: body, pos: 0 }
        .array()
        .map(u32::from_le_bytes)
        .map_err(|_| Error::MalformedPacket("COM_STMT_* packet without a statement id".into()))
}

/// An execute's decoded parameters, and the packet's parameter block re-made for a backend
/// statement with the same placeholders in the same order (`forwardable`).
pub struct Parsed {
    pub params: Vec<Param>,
    /// The body of a COM_STMT_EXECUTE after its statement id, carrying the client's values
    /// as it sent them, with their types always declared (the backend statement is shared
    /// by sessions, so the types one declared earlier are not its). None when a value came
    /// as long data, which the block does not hold.
    pub forwardable: Option<Vec<u8>>,
}

/// Decodes the parameters of an execute packet (`body` is the packet after the command byte).
/// `types` holds the types declared at an earlier execute and is replaced when the packet
/// declares new ones; parameters with long data take it instead of a value in the packet.
pub fn parse_params(
    body: &[u8],
    count: usize,
    types: &mut Vec<ParamType>,
    long_data: &[Option<Vec<u8>>],
) -> Result<Parsed, Error> {
    let mut r = Reader { buf: body, pos: 0 };
    r.take(4 + 1 + 4)?; // statement id, flags (cursor type), iteration count
    if count == 0 {
        return Ok(Parsed {
            params: Vec::new(),
            forwardable: Some(NO_CURSOR_ONE_ITERATION.to_vec()),
        });
    }
    let null_bitmap = r.take(count.div_ceil(8))?;
    let types_follow = r.u8()?;
    if types_follow > 1 {
        // As the server: read as 0, the type bytes would be taken for values.
        return Err(Error::MalformedPacket(format!(
            "COM_STMT_EXECUTE with new-params-bound flag {types_follow}"
        )));
    }
    if types_follow == 1 {
        let mut declared = Vec::with_capacity(count);
        for _ in 0..count {
            let [ty, flags] = r.array()?;
            declared.push(ParamType {
                ty,
                unsigned: flags & 0x80 != 0,
            });
        }
        *types = declared;
    }
    if types.len() != count {
        return Err(Error::WrongArguments(
            "mysqld_stmt_execute: parameter types were never sent".into(),
        ));
    }
    let values_from = r.pos;
    let mut params = Vec::with_capacity(count);
    for (i, t) in types.iter().enumerate() {
        // Long data first, as the server takes it, whatever the NULL bitmap says.
        if let Some(Some(data)) = long_data.get(i) {
            params.push(if is_blob(t.ty) {
                Param::Binary(data.clone())
            } else {
                Param::Bytes(data.clone())
            });
        } else if null_bitmap[i / 8] & (1 << (i % 8)) != 0 {
            params.push(Param::Null);
        } else {
            params.push(read_value(&mut r, *t)?);
        }
    }
    let forwardable = long_data
        .iter()
        .all(Option::is_none)
        .then(|| forwarded_block(null_bitmap, types, &body[values_from..r.pos]));
    Ok(Parsed {
        params,
        forwardable,
    })
}

/// The flags (no cursor: the proxy reads every row itself) and the iteration count (1).
const NO_CURSOR_ONE_ITERATION: [u8; 5] = [0, 1, 0, 0, 0];

/// An execute body after the statement id: the client's NULL bitmap and values, as read,
/// with every type declared.
fn forwarded_block(null_bitmap: &[u8], types: &[ParamType], values: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + null_bitmap.len() + 1 + 2 * types.len() + values.len());
    out.extend_from_slice(&NO_CURSOR_ONE_ITERATION);
    out.extend_from_slice(null_bitmap);
    out.push(1);
    for t in types {
        out.push(t.ty);
        out.push(if t.unsigned { 0x80 } else { 0 });
    }
    out.extend_from_slice(values);
    out
}

fn read_value(r: &mut Reader<'_>, t: ParamType) -> Result<Param, Error> {
    let int = |v: i64, u: u64| {
        if t.unsigned {
            Param::UInt(u)
        } else {
            Param::Int(v)
        }
    };
    Ok(match t.ty {
        x if x == T::MYSQL_TYPE_NULL as u8 => Param::Null,
        x if x == T::MYSQL_TYPE_TINY as u8 => {
            let b = r.u8()?;
            int(b as i8 as i64, b as u64)
        }
        x if x == T::MYSQL_TYPE_SHORT as u8 || x == T::MYSQL_TYPE_YEAR as u8 => {
            let b = r.array()?;
            int(i16::from_le_bytes(b) as i64, u16::from_le_bytes(b) as u64)
        }
        x if x == T::MYSQL_TYPE_LONG as u8 || x == T::MYSQL_TYPE_INT24 as u8 => {
            let b = r.array()?;
            int(i32::from_le_bytes(b) as i64, u32::from_le_bytes(b) as u64)
        }
        x if x == T::MYSQL_TYPE_LONGLONG as u8 => {
            let b = r.array()?;
            int(i64::from_le_bytes(b), u64::from_le_bytes(b))
        }
        x if x == T::MYSQL_TYPE_FLOAT as u8 => Param::Float(f32::from_le_bytes(r.array()?)),
        x if x == T::MYSQL_TYPE_DOUBLE as u8 => Param::Double(f64::from_le_bytes(r.array()?)),
        x if x == T::MYSQL_TYPE_DATE as u8
            || x == T::MYSQL_TYPE_DATETIME as u8
            || x == T::MYSQL_TYPE_TIMESTAMP as u8 =>
        {
            read_datetime(r, t.ty == T::MYSQL_TYPE_DATE as u8)?
        }
        x if x == T::MYSQL_TYPE_TIME as u8 => read_time(r)?,
        x if x == T::MYSQL_TYPE_DECIMAL as u8 || x == T::MYSQL_TYPE_NEWDECIMAL as u8 => {
            Param::Decimal(r.lenenc_bytes()?.to_vec())
        }
        x if is_blob(x) => Param::Binary(r.lenenc_bytes()?.to_vec()),
        _ => Param::Bytes(r.lenenc_bytes()?.to_vec()),
    })
}

fn read_datetime(r: &mut Reader<'_>, date: bool) -> Result<Param, Error> {
    let len = r.u8()?;
    if !matches!(len, 0 | 4 | 7 | 11) {
        return Err(Error::MalformedPacket(format!(
            "DATETIME parameter of length {len}"
        )));
    }
    let b = r.take(len as usize)?;
    let at = |i: usize| b.get(i).copied().unwrap_or(0);
    Ok(Param::DateTime {
        date,
        len,
        year: u16::from_le_bytes([at(0), at(1)]),
        month: at(2),
        day: at(3),
        hour: at(4),
        minute: at(5),
        second: at(6),
        micros: u32::from_le_bytes([at(7), at(8), at(9), at(10)]),
    })
}

fn read_time(r: &mut Reader<'_>) -> Result<Param, Error> {
    let len = r.u8()?;
    if !matches!(len, 0 | 8 | 12) {
        return Err(Error::MalformedPacket(format!(
            "TIME parameter of length {len}"
        )));
    }
    let b = r.take(len as usize)?;
    let at = |i: usize| b.get(i).copied().unwrap_or(0);
    Ok(Param::Time {
        negative: at(0) == 1,
        days: u32::from_le_bytes([at(1), at(2), at(3), at(4)]),
        hour: at(5),
        minute: at(6),
        second: at(7),
        micros: u32::from_le_bytes([at(8), at(9), at(10), at(11)]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn header() -> Vec<u8> {
        vec![1, 0, 0, 0, 0, 1, 0, 0, 0]
    }

    #[test]
    fn decodes_typed_values_and_nulls() {
        let mut p = header();
        p.extend_from_slice(&[0b0000_0010, 1]); // second param NULL, types follow
        p.extend_from_slice(&[8, 0x80, 6, 0, 253, 0, 1, 0]);
        p.extend_from_slice(&u64::MAX.to_le_bytes());
        p.extend_from_slice(&[3, b'a', b'b', b'c']);
        p.push(0xFF);
        let mut types = Vec::new();
        let parsed = parse_params(&p, 4, &mut types, &[]).unwrap();
        // Forwarded, the block is the client's after the statement id, without a cursor.
        let mut block = p[4..].to_vec();
        block[0] = 0;
        assert_eq!(parsed.forwardable.as_deref(), Some(&block[..]));
        let params = parsed.params;
        assert_eq!(
            params,
            vec![
                Param::UInt(u64::MAX),
                Param::Null,
                Param::Bytes(b"abc".to_vec()),
                Param::Int(-1)
            ]
        );
        // A later execute may omit the types: the remembered ones apply.
        let mut again = header();
        again.extend_from_slice(&[0b0000_0011, 0]);
        again.extend_from_slice(&[0, 0x7F]);
        let parsed = parse_params(&again, 4, &mut types, &[]).unwrap();
        assert_eq!(parsed.params[3], Param::Int(127));
        // ... and are declared again in the forwarded block, whose values are this packet's.
        let mut block = vec![0, 1, 0, 0, 0, 0b0000_0011, 1, 8, 0x80, 6, 0, 253, 0, 1, 0];
        block.extend_from_slice(&[0, 0x7F]); // '' and 127
        assert_eq!(parsed.forwardable, Some(block));
        // Long data is not in the packet's block: such an execute is not forwarded.
        let long = [None, None, Some(b"xyz".to_vec()), None];
        let mut p = header();
        p.extend_from_slice(&[0, 0]);
        p.extend_from_slice(&5u64.to_le_bytes());
        p.push(1);
        let parsed = parse_params(&p, 4, &mut types, &long).unwrap();
        assert!(parsed.forwardable.is_none());
        assert_eq!(parsed.params[2], Param::Bytes(b"xyz".to_vec()));
    }

    #[test]
    fn short_packets_are_errors() {
        let mut types = Vec::new();
        assert!(parse_params(&[1, 0, 0], 0, &mut types, &[]).is_err());
        let mut p = header();
        p.extend_from_slice(&[0, 1, 3, 0, 1, 2]);
        assert!(parse_params(&p, 1, &mut types, &[]).is_err());
        let mut p = header();
        p.extend_from_slice(&[0, 0]);
        assert!(matches!(
            parse_params(&p, 1, &mut Vec::new(), &[]),
            Err(Error::WrongArguments(_))
        ));
    }

    proptest! {
        #[test]
        fn never_panics(body in proptest::collection::vec(any::<u8>(), 0..64), count in 0usize..20) {
            let mut types = Vec::new();
            let _ = parse_params(&body, count, &mut types, &[]);
            let _ = statement_id(&body);
        }

        #[test]
        fn never_panics_with_declared_types(
            tys in proptest::collection::vec(any::<(u8, u8)>(), 1..8),
            values in proptest::collection::vec(any::<u8>(), 0..80),
            nulls in any::<u8>(),
        ) {
            let mut p = header();
            p.push(nulls);
            p.push(1);
            for (t, f) in &tys { p.push(*t); p.push(*f); }
            p.extend_from_slice(&values);
            let mut types = Vec::new();
            let count = tys.len();
            let _ = parse_params(&p, count, &mut types, &[]);
        }
    }
}
