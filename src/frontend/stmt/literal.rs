//! A bound parameter as an SQL literal, so an EXECUTE can go through the text planner and the
//! text protocol. The literal must mean exactly what the binary value meant, whatever the
//! session's sql_mode: strings never rely on backslash escapes (NO_BACKSLASH_ESCAPES would
//! change their meaning), so text with a backslash or NUL and all non-UTF-8 bytes go as hex.

use std::fmt::Write;

use crate::error::Error;

use super::execute_packet::Param;

pub fn literal(p: &Param) -> Result<String, Error> {
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
        Param::Decimal(text) => decimal(text),
        Param::DateTime {
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
            let time = format!("{hour:02}:{minute:02}:{second:02}.{micros:06}");
            match len {
                4 if *month > 0 && *day > 0 => format!("DATE'{date}'"),
                7 | 11 if *month > 0 && *day > 0 => format!("TIMESTAMP'{date} {time}'"),
                // Zero dates have no typed literal; the server accepts them as text.
                4 => format!("'{date}'"),
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
            format!("TIME'{sign}{hours:02}:{minute:02}:{second:02}.{micros:06}'")
        }
        Param::Bytes(b) => string(b),
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

fn decimal(text: &[u8]) -> String {
    let s = std::str::from_utf8(text).unwrap_or("");
    let digits = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let plain = !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit());
    if plain {
        format!(" {s}")
    } else {
        string(text)
    }
}

/// Quoted text when that is safe in every sql_mode (valid UTF-8, no backslash, no NUL; a
/// quote is doubled), else hex: with the utf8mb4 introducer for text, plain for bytes.
fn string(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) if !s.contains(['\\', '\0']) => {
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
        Ok(_) => format!("_utf8mb4 {}", hex(b)),
        Err(_) => hex(b),
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
        literal(&p).unwrap()
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
        assert!(literal(&Param::Double(f64::NAN)).is_err());
        assert_eq!(lit(Param::Decimal(b"-12.500".to_vec())), " -12.500");
        assert_eq!(lit(Param::Decimal(b"1;".to_vec())), "'1;'");
    }

    #[test]
    fn strings_are_safe_in_any_sql_mode() {
        assert_eq!(lit(Param::Bytes("l'été".as_bytes().to_vec())), "'l''été'");
        assert_eq!(lit(Param::Bytes(b"a\\'".to_vec())), "_utf8mb4 X'615C27'");
        assert_eq!(lit(Param::Bytes(vec![0, 0xFF])), "X'00FF'");
    }

    #[test]
    fn temporal() {
        let dt = Param::DateTime {
            len: 11,
            year: 2024,
            month: 2,
            day: 29,
            hour: 23,
            minute: 59,
            second: 58,
            micros: 123456,
        };
        assert_eq!(lit(dt), "TIMESTAMP'2024-02-29 23:59:58.123456'");
        let t = Param::Time {
            negative: true,
            days: 34,
            hour: 22,
            minute: 59,
            second: 59,
            micros: 5,
        };
        assert_eq!(lit(t), "TIME'-838:59:59.000005'");
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
            let lit = literal(&Param::Bytes(b)).unwrap();
            prop_assert!(contained(&lit), "{lit}");
        }

        #[test]
        fn text_stays_one_literal(s in "[\\\\'\"`;a-z\\-#/*\\x00 é]{0,30}") {
            let lit = literal(&Param::Bytes(s.clone().into_bytes())).unwrap();
            prop_assert!(contained(&lit), "{lit}");
            if let Some(inner) = lit.strip_prefix('\'').and_then(|l| l.strip_suffix('\'')) {
                prop_assert_eq!(inner.replace("''", "'"), s);
            }
        }

        #[test]
        fn numbers_stay_one_literal(i in any::<i64>(), d in any::<f64>(), dec in "-?[0-9]{1,20}(\\.[0-9]{1,10})?") {
            prop_assert!(contained(&literal(&Param::Int(i)).unwrap()));
            if d.is_finite() {
                prop_assert!(contained(&literal(&Param::Double(d)).unwrap()));
            }
            prop_assert!(contained(&literal(&Param::Decimal(dec.into_bytes())).unwrap()));
        }
    }
}
