//! A bound parameter as an SQL literal, for EXECUTEs that go through the text planner and
//! the text protocol (those whose values cannot be bound to a backend prepared statement,
//! see `bound`). The literal must mean exactly what the binary value meant, whatever the
//! session's sql_mode: strings never rely on backslash escapes (NO_BACKSLASH_ESCAPES would
//! change their meaning), so text with a backslash or NUL goes as hex introduced by the
//! client's charset, as does text the proxy cannot decode; BLOB-typed values go as binary
//! hex. Temporal values carry a fraction only when it is not zero, and a TIME beyond
//! 838:59:59 is clipped to it, as the server does with a bound value.

use std::fmt::Write;

use crate::error::Error;
use crate::plan::charset::ClientCharset;

use super::execute_packet::Param;

pub fn literal(p: &Param, charset: &ClientCharset) -> Result<String, Error> {
    Ok(match p {
        Param::Null => "NULL".to_string(),
        // A leading space keeps `a-?` from becoming `a--1`, which a reader could take for a
        // comment start.
        Param::Int(v) if *v < 0 => format!(" {v}"),
        Param::Int(v) => v.to_string(),
        Param::UInt(v) => v.to_string(),
        // The exponent form makes it a DOUBLE literal (not DECIMAL), and a FLOAT goes as the
        // exact double it converts to, as the server converts a FLOAT parameter.
        Param::Float(v) => double(*v as f64)?,
        Param::Double(v) => double(*v)?,
        Param::Decimal(text) => decimal(text, charset),
        Param::DateTime {
            date: is_date,
            len,
            year,
            month,
            day,
            hour,
            minute,
            second,
            micros,
        } => {
            let date = format!("{year:04}-{month:02}-{day:02}");
            let mut time = format!("{hour:02}:{minute:02}:{second:02}");
            if *micros != 0 {
                let _ = write!(time, ".{micros:06}");
            }
            let valid = *month > 0 && *day > 0;
            match (*is_date, len) {
                (true, _) if valid => format!("DATE'{date}'"),
                (true, _) => format!("'{date}'"),
                (false, 0) => "'0000-00-00 00:00:00'".to_string(),
                _ if valid => format!("TIMESTAMP'{date} {time}'"),
                // Zero dates have no typed literal; the server accepts them as text.
                _ => format!("'{date} {time}'"),
            }
        }
        Param::Time {
            negative,
            days,
            hour,
            minute,
            second,
            micros,
        } => {
            let sign = if *negative { "-" } else { "" };
            let hours = *days as u64 * 24 + *hour as u64;
            let (hours, minute, second) = if hours > 838 {
                (838, 59, 59)
            } else {
                (hours, *minute, *second)
            };
            let frac = if *micros != 0 {
                format!(".{micros:06}")
            } else {
                String::new()
            };
            format!("TIME'{sign}{hours:02}:{minute:02}:{second:02}{frac}'")
        }
        Param::Bytes(b) => string(b, charset),
        Param::Binary(b) => hex(b),
    })
}

fn double(v: f64) -> Result<String, Error> {
    if !v.is_finite() {
        return Err(Error::WrongArguments(format!(
            "mysqld_stmt_execute: {v} is not a number MySQL can store"
        )));
    }
    Ok(if v.is_sign_negative() {
        format!(" {v:e}")
    } else {
        format!("{v:e}")
    })
}

fn decimal(text: &[u8], charset: &ClientCharset) -> String {
    let s = std::str::from_utf8(text).unwrap_or("");
    let digits = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let plain = !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit());
    if plain {
        format!(" {s}")
    } else {
        string(text, charset)
    }
}

/// Quoted text when that is safe in every sql_mode (no backslash, no NUL; a quote is
/// doubled) and the proxy can read it in the client's charset (the shard query is encoded
/// back to it, so the server gets the client's bytes); else hex with the charset's
/// introducer.
fn string(b: &[u8], charset: &ClientCharset) -> String {
    let text = if b.is_ascii() {
        std::str::from_utf8(b).ok().map(str::to_string)
    } else {
        charset.decode_value(b)
    };
    match text {
        Some(s) if !s.contains(['\\', '\0']) => {
            let mut out = String::with_capacity(s.len() + 2);
            out.push('\'');
            for c in s.chars() {
                if c == '\'' {
                    out.push('\'');
                }
                out.push(c);
            }
            out.push('\'');
            out
        }
        // Bytes that are no UTF-8 cannot carry a UTF-8 introducer (the parser refuses it):
        // as a binary string they store into a BLOB as the server stores them, and fail
        // in a text column as they would there.
        _ if charset.is_utf8() && std::str::from_utf8(b).is_err() => hex(b),
        _ => format!("_{} {}", charset.name(), hex(b)),
    }
}

fn hex(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len() * 2 + 3);
    out.push_str("X'");
    for byte in b {
        let _ = write!(out, "{byte:02X}");
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(p: Param) -> String {
        literal(&p, &ClientCharset::default()).unwrap()
    }

    fn lit_in(p: Param, charset: &str) -> String {
        literal(&p, &ClientCharset::named(charset)).unwrap()
    }

    #[test]
    fn numbers() {
        assert_eq!(lit(Param::Int(i64::MIN)), " -9223372036854775808");
        assert_eq!(lit(Param::UInt(u64::MAX)), "18446744073709551615");
        assert_eq!(lit(Param::Double(0.1)), "1e-1");
        assert_eq!(lit(Param::Double(-0.0)), " -0e0");
        assert_eq!(
            lit(Param::Float(std::f32::consts::PI)),
            "3.1415927410125732e0"
        );
        assert!(literal(&Param::Double(f64::NAN), &ClientCharset::default()).is_err());
        assert_eq!(lit(Param::Decimal(b"-12.500".to_vec())), " -12.500");
        assert_eq!(lit(Param::Decimal(b"1;".to_vec())), "'1;'");
    }

    #[test]
    fn strings_are_safe_in_any_sql_mode() {
        assert_eq!(lit(Param::Bytes("l'été".as_bytes().to_vec())), "'l''été'");
        assert_eq!(lit(Param::Bytes(b"a\\'".to_vec())), "_utf8mb4 X'615C27'");
        assert_eq!(lit(Param::Bytes(vec![0, 0xFF])), "X'00FF'");
        assert_eq!(lit(Param::Bytes(vec![0, b'a'])), "_utf8mb4 X'0061'");
        assert_eq!(lit(Param::Binary(b"ab".to_vec())), "X'6162'");
    }

    #[test]
    fn strings_are_read_in_the_client_charset() {
        // latin1 bytes: decoded for planning (the shard query is encoded back to latin1).
        assert_eq!(
            lit_in(Param::Bytes(b"caf\xE9".to_vec()), "latin1"),
            "'café'"
        );
        assert_eq!(lit_in(Param::Bytes(b"\xC3\xA9".to_vec()), "latin1"), "'Ã©'");
        assert_eq!(
            lit_in(Param::Bytes(b"\xC3\xA9\\x".to_vec()), "latin1"),
            "_latin1 X'C3A95C78'"
        );
        assert_eq!(
            lit_in(Param::Bytes(b"\x82".to_vec()), "sjis"),
            "_sjis X'82'"
        );
        assert_eq!(lit_in(Param::Bytes(b"ok".to_vec()), "sjis"), "'ok'");
    }

    #[test]
    fn temporal() {
        let dt = |date: bool, len: u8, micros: u32| Param::DateTime {
            date,
            len,
            year: 2024,
            month: 2,
            day: 29,
            hour: 23,
            minute: 59,
            second: 58,
            micros,
        };
        assert_eq!(
            lit(dt(false, 11, 123456)),
            "TIMESTAMP'2024-02-29 23:59:58.123456'"
        );
        // No fraction when it is zero: a DATETIME bound into a VARCHAR stores 19 characters.
        assert_eq!(lit(dt(false, 11, 0)), "TIMESTAMP'2024-02-29 23:59:58'");
        // A DATE means its date part only, whatever was sent.
        assert_eq!(lit(dt(true, 7, 0)), "DATE'2024-02-29'");
        let t = Param::Time {
            negative: true,
            days: 34,
            hour: 22,
            minute: 59,
            second: 59,
            micros: 5,
        };
        assert_eq!(lit(t), "TIME'-838:59:59.000005'");
        // Beyond the TIME range: clipped, as the server clips a bound value.
        let over = Param::Time {
            negative: false,
            days: 37,
            hour: 12,
            minute: 1,
            second: 2,
            micros: 0,
        };
        assert_eq!(lit(over), "TIME'838:59:59'");
    }

    use crate::plan::lexer::{has_second_statement, significant, Kind};
    use proptest::prelude::*;

    /// The tokens a literal lexes to inside a statement, checking nothing leaks after it.
    fn contained(lit: &str) -> bool {
        let sql = format!("SELECT {lit} ,1");
        let kinds: Vec<Kind> = significant(&sql).map(|t| t.kind).collect();
        let n = kinds.len();
        n >= 4
            && kinds[n - 2..] == [Kind::Punct(b','), Kind::Number]
            && !kinds.contains(&Kind::Comment)
            && !has_second_statement(&sql)
    }

    proptest! {
        /// No bytes a client binds can end the literal early: no SQL injection through
        /// parameters, whatever the bytes.
        #[test]
        fn byte_strings_stay_one_literal(b in proptest::collection::vec(any::<u8>(), 0..40)) {
            for cs in ["utf8mb4", "latin1", "sjis"] {
                let lit = literal(&Param::Bytes(b.clone()), &ClientCharset::named(cs)).unwrap();
                prop_assert!(contained(&lit), "{lit}");
            }
        }

        #[test]
        fn text_stays_one_literal(s in "[\\\\'\"`;a-z\\-#/*\\x00 é]{0,30}") {
            let lit = lit(Param::Bytes(s.clone().into_bytes()));
            prop_assert!(contained(&lit), "{lit}");
            if let Some(inner) = lit.strip_prefix('\'').and_then(|l| l.strip_suffix('\'')) {
                prop_assert_eq!(inner.replace("''", "'"), s);
            }
        }

        #[test]
        fn numbers_stay_one_literal(i in any::<i64>(), d in any::<f64>(), dec in "-?[0-9]{1,20}(\\.[0-9]{1,10})?") {
            prop_assert!(contained(&lit(Param::Int(i))));
            if d.is_finite() {
                prop_assert!(contained(&lit(Param::Double(d))));
            }
            prop_assert!(contained(&lit(Param::Decimal(dec.into_bytes()))));
        }
    }
}
