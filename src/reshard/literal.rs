//! Values read in the binary protocol written back as SQL literals, byte for byte.
//!
//! Strings are written as `_binary'...'`: the server stores the bytes the source held
//! whatever the connection's charset (a hex literal would do that too, but becomes a number
//! in a numeric column), and DECIMALs, which arrive as text, convert exactly.

use anyhow::{bail, Result};
use mysql_async::Value;

use crate::sharding::KeyValue;

pub fn write(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Bytes(b) => {
            out.extend_from_slice(b"_binary'");
            for &c in b {
                match c {
                    b'\'' => out.extend_from_slice(b"''"),
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    0 => out.extend_from_slice(b"\\0"),
                    c => out.push(c),
                }
            }
            out.push(b'\'');
        }
        // Shortest text that reads back as the same f32/f64.
        Value::Float(f) if f.is_finite() => out.extend_from_slice(format!("{f:?}").as_bytes()),
        Value::Double(f) if f.is_finite() => out.extend_from_slice(format!("{f:?}").as_bytes()),
        other => out.extend_from_slice(other.as_sql(false).as_bytes()),
    }
}

/// As `write`, into a String, for state files and messages (lossy for non-UTF-8 bytes, which
/// are written as hex so they stay exact).
pub fn text(v: &Value) -> String {
    match v {
        Value::Bytes(b) if std::str::from_utf8(b).is_err() => {
            let mut s = String::from("_binary X'");
            for c in b {
                s.push_str(&format!("{c:02X}"));
            }
            s.push('\'');
            s
        }
        _ => {
            let mut out = Vec::new();
            write(&mut out, v);
            String::from_utf8_lossy(&out).into_owned()
        }
    }
}

/// The shard key of a row as the sharding functions take it; an owned text buffer is
/// returned for keys that are not plain integers.
pub fn key_of<'a>(v: &'a Value, integer_column: bool) -> Result<KeyValue<'a>> {
    match v {
        Value::Int(i) => Ok(KeyValue::Int(i128::from(*i))),
        Value::UInt(u) => Ok(KeyValue::Int(i128::from(*u))),
        Value::Bytes(b) => {
            let Ok(s) = std::str::from_utf8(b) else {
                bail!("a shard key that is not UTF-8 text");
            };
            if integer_column {
                if let Ok(i) = s.trim().parse::<i128>() {
                    return Ok(KeyValue::Int(i));
                }
            }
            Ok(KeyValue::Text(s))
        }
        Value::NULL => bail!("a NULL shard key"),
        other => bail!("a shard key of an unsupported type ({other:?})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_keep_their_bytes_and_numbers_their_value() {
        let mut out = Vec::new();
        write(&mut out, &Value::Bytes(b"a'b\\c\0\xff".to_vec()));
        assert_eq!(out, b"_binary'a''b\\\\c\\0\xff'");
        assert_eq!(text(&Value::Int(-3)), "-3");
        assert_eq!(text(&Value::Bytes(vec![0xff, 0x01])), "_binary X'FF01'");
        assert_eq!(text(&Value::Double(0.1)), "0.1");
        assert_eq!(text(&Value::NULL), "NULL");
    }
}
