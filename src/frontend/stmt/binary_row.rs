//! Binary-protocol result rows. The backend answers an EXECUTE in the text protocol; each
//! cell is re-encoded in the binary form its column definition (the one the client got)
//! announces, so the client decodes exactly the value the backend printed.

use mysql_async::Value;
use mysql_common::constants::{ColumnFlags, ColumnType as T};
use mysql_common::packets::Column;

use crate::frontend::encode::put_lenenc_str;

/// What the encoder needs of a column definition.
#[derive(Debug, Clone, Copy)]
pub struct CellType {
    pub ty: T,
    pub unsigned: bool,
}

impl CellType {
    pub fn of(col: &Column) -> CellType {
        CellType {
            ty: col.column_type(),
            unsigned: col.flags().contains(ColumnFlags::UNSIGNED_FLAG),
        }
    }

    pub fn text() -> CellType {
        CellType {
            ty: T::MYSQL_TYPE_VAR_STRING,
            unsigned: false,
        }
    }
}

/// Appends one binary row (header, NULL bitmap, values) to `buf`. `cell(i)` is the i-th value
/// (None for NULL). Errors name the column whose text does not fit its declared type.
pub fn encode_row<'v>(
    buf: &mut Vec<u8>,
    types: &[CellType],
    cell: impl Fn(usize) -> Option<&'v Value>,
) -> Result<(), String> {
    buf.push(0x00);
    let bitmap_at = buf.len();
    buf.resize(bitmap_at + (types.len() + 7 + 2) / 8, 0);
    for (i, t) in types.iter().enumerate() {
        match cell(i) {
            None | Some(Value::NULL) => {
                let bit = i + 2;
                buf[bitmap_at + bit / 8] |= 1 << (bit % 8);
            }
            Some(v) => put_value(buf, *t, v).map_err(|e| format!("column {}: {e}", i + 1))?,
        }
    }
    Ok(())
}

fn put_value(buf: &mut Vec<u8>, t: CellType, v: &Value) -> Result<(), String> {
    match t.ty {
        T::MYSQL_TYPE_TINY => put_int(buf, t, v, 1),
        T::MYSQL_TYPE_SHORT | T::MYSQL_TYPE_YEAR => put_int(buf, t, v, 2),
        T::MYSQL_TYPE_INT24 | T::MYSQL_TYPE_LONG => put_int(buf, t, v, 4),
        T::MYSQL_TYPE_LONGLONG => put_int(buf, t, v, 8),
        T::MYSQL_TYPE_FLOAT => {
            let f = match v {
                Value::Float(f) => *f,
                Value::Double(d) => *d as f32,
                _ => text(v)?.parse::<f32>().map_err(|e| e.to_string())?,
            };
            buf.extend_from_slice(&f.to_le_bytes());
            Ok(())
        }
        T::MYSQL_TYPE_DOUBLE => {
            let d = match v {
                Value::Double(d) => *d,
                Value::Float(f) => *f as f64,
                _ => text(v)?.parse::<f64>().map_err(|e| e.to_string())?,
            };
            buf.extend_from_slice(&d.to_le_bytes());
            Ok(())
        }
        T::MYSQL_TYPE_DATE
        | T::MYSQL_TYPE_NEWDATE
        | T::MYSQL_TYPE_DATETIME
        | T::MYSQL_TYPE_DATETIME2
        | T::MYSQL_TYPE_TIMESTAMP
        | T::MYSQL_TYPE_TIMESTAMP2 => put_datetime(buf, v),
        T::MYSQL_TYPE_TIME | T::MYSQL_TYPE_TIME2 => put_time(buf, v),
        _ => {
            match v {
                Value::Bytes(b) => put_lenenc_str(buf, b),
                other => put_lenenc_str(buf, other.as_sql(true).trim_matches('\'').as_bytes()),
            }
            Ok(())
        }
    }
}

fn text(v: &Value) -> Result<&str, String> {
    match v {
        Value::Bytes(b) => std::str::from_utf8(b).map_err(|_| "not UTF-8 text".to_string()),
        other => Err(format!("unexpected value {other:?}")),
    }
}

fn put_int(buf: &mut Vec<u8>, t: CellType, v: &Value, width: usize) -> Result<(), String> {
    let bytes = match v {
        Value::Int(i) => i.to_le_bytes(),
        Value::UInt(u) => u.to_le_bytes(),
        _ => {
            let s = text(v)?;
            if t.unsigned || s.len() > 1 && !s.starts_with('-') && s.parse::<i64>().is_err() {
                s.parse::<u64>()
                    .map_err(|e| format!("'{s}': {e}"))?
                    .to_le_bytes()
            } else {
                s.parse::<i64>()
                    .map_err(|e| format!("'{s}': {e}"))?
                    .to_le_bytes()
            }
        }
    };
    buf.extend_from_slice(&bytes[..width]);
    Ok(())
}

fn put_datetime(buf: &mut Vec<u8>, v: &Value) -> Result<(), String> {
    let (y, mo, d, h, mi, s, us) = match v {
        Value::Date(y, mo, d, h, mi, s, us) => (*y, *mo, *d, *h, *mi, *s, *us),
        _ => parse_datetime(text(v)?)
            .ok_or_else(|| format!("'{}' is not a date", text(v).unwrap_or("")))?,
    };
    if us != 0 {
        buf.push(11);
    } else if h != 0 || mi != 0 || s != 0 {
        buf.push(7);
    } else if y != 0 || mo != 0 || d != 0 {
        buf.push(4);
    } else {
        buf.push(0);
        return Ok(());
    }
    let len = buf[buf.len() - 1];
    buf.extend_from_slice(&y.to_le_bytes());
    buf.extend_from_slice(&[mo, d]);
    if len >= 7 {
        buf.extend_from_slice(&[h, mi, s]);
    }
    if len == 11 {
        buf.extend_from_slice(&us.to_le_bytes());
    }
    Ok(())
}

fn put_time(buf: &mut Vec<u8>, v: &Value) -> Result<(), String> {
    let (neg, days, h, mi, s, us) = match v {
        Value::Time(neg, days, h, mi, s, us) => (*neg, *days, *h, *mi, *s, *us),
        _ => parse_time(text(v)?)
            .ok_or_else(|| format!("'{}' is not a time", text(v).unwrap_or("")))?,
    };
    if days == 0 && h == 0 && mi == 0 && s == 0 && us == 0 {
        buf.push(0);
        return Ok(());
    }
    buf.push(if us != 0 { 12 } else { 8 });
    buf.push(neg as u8);
    buf.extend_from_slice(&days.to_le_bytes());
    buf.extend_from_slice(&[h, mi, s]);
    if us != 0 {
        buf.extend_from_slice(&us.to_le_bytes());
    }
    Ok(())
}

/// Fractional seconds as microseconds: ".5" is 500000.
fn micros(frac: &str) -> Option<u32> {
    if frac.len() > 6 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut padded = frac.to_string();
    while padded.len() < 6 {
        padded.push('0');
    }
    padded.parse().ok()
}

/// `YYYY-MM-DD[ HH:MM:SS[.ffffff]]` as the server prints it.
fn parse_datetime(s: &str) -> Option<(u16, u8, u8, u8, u8, u8, u32)> {
    let (date, time) = s.split_once(' ').unwrap_or((s, ""));
    let mut d = date.splitn(3, '-');
    let y = d.next()?.parse().ok()?;
    let mo = d.next()?.parse().ok()?;
    let day = d.next()?.parse().ok()?;
    if time.is_empty() {
        return Some((y, mo, day, 0, 0, 0, 0));
    }
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut t = hms.splitn(3, ':');
    let h = t.next()?.parse().ok()?;
    let mi = t.next()?.parse().ok()?;
    let sec = t.next()?.parse().ok()?;
    Some((y, mo, day, h, mi, sec, micros(frac)?))
}

/// `[-]HHH:MM:SS[.ffffff]` as the server prints it (hours up to 838).
fn parse_time(s: &str) -> Option<(bool, u32, u8, u8, u8, u32)> {
    let (neg, rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let (hms, frac) = rest.split_once('.').unwrap_or((rest, ""));
    let mut t = hms.splitn(3, ':');
    let hours: u32 = t.next()?.parse().ok()?;
    let mi = t.next()?.parse().ok()?;
    let sec = t.next()?.parse().ok()?;
    Some((neg, hours / 24, (hours % 24) as u8, mi, sec, micros(frac)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ct(ty: T, unsigned: bool) -> CellType {
        CellType { ty, unsigned }
    }

    #[test]
    fn null_bitmap_is_offset_by_two() {
        let types = [CellType::text(); 7];
        let vals: Vec<Value> = (0..7)
            .map(|i| {
                if i == 6 {
                    Value::NULL
                } else {
                    Value::Bytes(vec![b'a'])
                }
            })
            .collect();
        let mut buf = Vec::new();
        encode_row(&mut buf, &types, |i| vals.get(i)).unwrap();
        assert_eq!(&buf[..3], &[0, 0, 0b0000_0001]);
    }

    #[test]
    fn integers_by_width_and_sign() {
        let mut buf = Vec::new();
        let vals = [
            Value::Bytes(b"-128".to_vec()),
            Value::Bytes(b"18446744073709551615".to_vec()),
            Value::Bytes(b"65535".to_vec()),
        ];
        let types = [
            ct(T::MYSQL_TYPE_TINY, false),
            ct(T::MYSQL_TYPE_LONGLONG, true),
            ct(T::MYSQL_TYPE_SHORT, true),
        ];
        encode_row(&mut buf, &types, |i| vals.get(i)).unwrap();
        assert_eq!(
            &buf[2..],
            &[0x80, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255]
        );
    }

    #[test]
    fn temporal_text() {
        let mut buf = Vec::new();
        put_time(&mut buf, &Value::Bytes(b"-838:59:59.000001".to_vec())).unwrap();
        assert_eq!(buf, [12, 1, 34, 0, 0, 0, 22, 59, 59, 1, 0, 0, 0]);
        buf.clear();
        put_datetime(&mut buf, &Value::Bytes(b"2024-01-02 00:00:00".to_vec())).unwrap();
        assert_eq!(buf, [4, 0xE8, 0x07, 1, 2]);
        buf.clear();
        put_datetime(&mut buf, &Value::Bytes(b"0000-00-00".to_vec())).unwrap();
        assert_eq!(buf, [0]);
        assert!(put_time(&mut buf, &Value::Bytes(b"x".to_vec())).is_err());
    }
}
