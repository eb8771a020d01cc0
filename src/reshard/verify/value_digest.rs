//! What "the same value" means when a copy is compared with its source.
//!
//! Rows are read in the binary protocol, so every value arrives typed (an integer as an
//! integer, a DATETIME(6) as its fields, a DECIMAL as its exact digits) and is fed to a hash in
//! one normalised form per kind of value:
//! - NULL has its own tag, so it never equals the empty string or 0;
//! - integers are their value (a signed 5 equals an unsigned 5);
//! - DECIMAL is its exact value with the scale's trailing zeros dropped, so `1.500` equals
//!   `1.5` (a target declared with another scale is not a difference) and `-0.0` equals `0`;
//! - FLOAT and DOUBLE are the exact double they hold (`-0` as `0`);
//! - dates and times are their fields down to the microsecond, never a printed string that
//!   depends on the column's declared precision;
//! - everything else (text, BLOB, BIT, ENUM, JSON) is its bytes, exactly: a copy must keep
//!   them byte for byte, and `'abc'` -> `'ABC'` is a change even where a case-insensitive
//!   collation calls them equal. Where collations do matter, in telling which rows are the
//!   same row, primary keys compare by the server's `WEIGHT_STRING` instead (`compare`).
//!
//! Digests are 64-bit SipHash with fixed keys: they are only ever compared with digests made
//! by the same process, so the algorithm need not be stable across Rust releases.

use std::hash::{DefaultHasher, Hasher};

use mysql_async::consts::ColumnType;
use mysql_async::{Column, Value};

const NULL: u8 = 0;
const INTEGER: u8 = 1;
const FLOAT: u8 = 2;
const DECIMAL: u8 = 3;
const DATETIME: u8 = 4;
const TIME: u8 = 5;
const BYTES: u8 = 6;

/// Feeds the normalised form of `value` (from a column of `column`'s type) to `out`.
pub(crate) fn write_value(out: &mut impl Hasher, value: &Value, column: &Column) {
    match value {
        Value::NULL => out.write_u8(NULL),
        Value::Int(n) => write_integer(out, i128::from(*n)),
        Value::UInt(n) => write_integer(out, i128::from(*n)),
        Value::Float(f) => write_float(out, f64::from(*f)),
        Value::Double(f) => write_float(out, *f),
        Value::Bytes(b) if is_decimal(column.column_type()) => match normal_decimal(b) {
            Some(text) => {
                out.write_u8(DECIMAL);
                write_bytes(out, text.as_bytes());
            }
            // Not a number after all: compare what was sent.
            None => {
                out.write_u8(BYTES);
                write_bytes(out, b);
            }
        },
        Value::Bytes(b) => {
            out.write_u8(BYTES);
            write_bytes(out, b);
        }
        Value::Date(y, mo, d, h, mi, s, us) => {
            out.write_u8(DATETIME);
            out.write_u16(*y);
            for part in [*mo, *d, *h, *mi, *s] {
                out.write_u8(part);
            }
            out.write_u32(*us);
        }
        Value::Time(negative, days, h, mi, s, us) => {
            let micros = ((i128::from(*days) * 24 + i128::from(*h)) * 60 + i128::from(*mi)) * 60
                + i128::from(*s);
            let micros = micros * 1_000_000 + i128::from(*us);
            out.write_u8(TIME);
            out.write_i128(if *negative { -micros } else { micros });
        }
    }
}

fn write_integer(out: &mut impl Hasher, n: i128) {
    out.write_u8(INTEGER);
    out.write_i128(n);
}

fn write_float(out: &mut impl Hasher, f: f64) {
    out.write_u8(FLOAT);
    // -0.0 == 0.0 for the server too.
    out.write_u64(if f == 0.0 { 0 } else { f.to_bits() });
}

/// Length first, so that two adjacent values cannot trade bytes.
fn write_bytes(out: &mut impl Hasher, b: &[u8]) {
    out.write_u64(b.len() as u64);
    out.write(b);
}

fn is_decimal(t: ColumnType) -> bool {
    matches!(
        t,
        ColumnType::MYSQL_TYPE_DECIMAL | ColumnType::MYSQL_TYPE_NEWDECIMAL
    )
}

/// `-001.500` -> `-1.5`, `0.000` -> `0`; `None` if `b` is not `[-+]digits[.digits]`.
pub(crate) fn normal_decimal(b: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(b).ok()?;
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.bytes().all(|c| c.is_ascii_digit());
    if int_part.is_empty() && frac_part.is_empty()
        || !all_digits(int_part)
        || !all_digits(frac_part)
    {
        return None;
    }
    let int_part = int_part.trim_start_matches('0');
    let frac_part = frac_part.trim_end_matches('0');
    let mut out = String::with_capacity(text.len());
    if negative && !(int_part.is_empty() && frac_part.is_empty()) {
        out.push('-');
    }
    out.push_str(if int_part.is_empty() { "0" } else { int_part });
    if !frac_part.is_empty() {
        out.push('.');
        out.push_str(frac_part);
    }
    Some(out)
}

/// Digest of one value.
pub(crate) fn value_digest(value: &Value, column: &Column) -> u64 {
    let mut h = DefaultHasher::new();
    write_value(&mut h, value, column);
    h.finish()
}

/// Digest of a row from the digests of its values, in column order.
pub(crate) fn row_digest(values: &[u64]) -> u64 {
    let mut h = DefaultHasher::new();
    for v in values {
        h.write_u64(*v);
    }
    h.finish()
}

/// Collects what `write_value` feeds, to key a map by normalised values.
#[derive(Default)]
pub(crate) struct KeyBytes(pub Vec<u8>);

impl Hasher for KeyBytes {
    fn write(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }

    fn finish(&self) -> u64 {
        unreachable!("KeyBytes collects bytes; nobody asks it for a hash")
    }
}

/// `id=42` or `a=1, b='x'`: how a primary key is shown to people.
pub(crate) fn show_key(names: &[String], values: &[Value]) -> String {
    names
        .iter()
        .zip(values)
        .map(|(n, v)| format!("{n}={}", v.as_sql(false)))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_compare_by_value_not_scale() {
        assert_eq!(normal_decimal(b"1.500").as_deref(), Some("1.5"));
        assert_eq!(normal_decimal(b"001.50").as_deref(), Some("1.5"));
        assert_eq!(normal_decimal(b"-0.000").as_deref(), Some("0"));
        assert_eq!(normal_decimal(b"0").as_deref(), Some("0"));
        assert_eq!(normal_decimal(b"-12.0").as_deref(), Some("-12"));
        assert_eq!(normal_decimal(b"100").as_deref(), Some("100"));
        assert_eq!(normal_decimal(b".5").as_deref(), Some("0.5"));
        assert_eq!(normal_decimal(b"1e3"), None);
        assert_eq!(normal_decimal(b""), None);
        assert_eq!(normal_decimal(b"-"), None);
    }

    fn column(t: ColumnType) -> Column {
        Column::new(t)
    }

    #[test]
    fn null_empty_text_and_zero_all_differ() {
        let text = column(ColumnType::MYSQL_TYPE_VAR_STRING);
        let int = column(ColumnType::MYSQL_TYPE_LONG);
        let null = value_digest(&Value::NULL, &text);
        let empty = value_digest(&Value::Bytes(Vec::new()), &text);
        let zero = value_digest(&Value::Int(0), &int);
        let zero_text = value_digest(&Value::Bytes(b"0".to_vec()), &text);
        assert_ne!(null, empty);
        assert_ne!(null, zero);
        assert_ne!(empty, zero);
        assert_ne!(zero, zero_text);
    }

    #[test]
    fn equal_values_have_equal_digests_whatever_their_form() {
        let dec = column(ColumnType::MYSQL_TYPE_NEWDECIMAL);
        assert_eq!(
            value_digest(&Value::Bytes(b"1.500".to_vec()), &dec),
            value_digest(&Value::Bytes(b"1.5".to_vec()), &dec)
        );
        assert_ne!(
            value_digest(&Value::Bytes(b"1.501".to_vec()), &dec),
            value_digest(&Value::Bytes(b"1.5".to_vec()), &dec)
        );
        let int = column(ColumnType::MYSQL_TYPE_LONGLONG);
        assert_eq!(
            value_digest(&Value::Int(5), &int),
            value_digest(&Value::UInt(5), &int)
        );
        let dbl = column(ColumnType::MYSQL_TYPE_DOUBLE);
        assert_eq!(
            value_digest(&Value::Double(-0.0), &dbl),
            value_digest(&Value::Double(0.0), &dbl)
        );
        assert_eq!(
            value_digest(&Value::Float(1.5), &dbl),
            value_digest(&Value::Double(1.5), &dbl)
        );
        let dt = column(ColumnType::MYSQL_TYPE_DATETIME);
        assert_ne!(
            value_digest(&Value::Date(2024, 1, 2, 3, 4, 5, 1), &dt),
            value_digest(&Value::Date(2024, 1, 2, 3, 4, 5, 0), &dt)
        );
        let t = column(ColumnType::MYSQL_TYPE_TIME);
        assert_eq!(
            value_digest(&Value::Time(true, 0, 0, 0, 0, 0), &t),
            value_digest(&Value::Time(false, 0, 0, 0, 0, 0), &t)
        );
        assert_eq!(
            value_digest(&Value::Time(false, 1, 0, 0, 0, 0), &t),
            value_digest(&Value::Time(false, 0, 24, 0, 0, 0), &t)
        );
    }

    #[test]
    fn text_compares_byte_for_byte() {
        let text = column(ColumnType::MYSQL_TYPE_VAR_STRING);
        assert_ne!(
            value_digest(&Value::Bytes(b"abc".to_vec()), &text),
            value_digest(&Value::Bytes(b"ABC".to_vec()), &text)
        );
        assert_ne!(
            row_digest(&[
                value_digest(&Value::Bytes(b"ab".to_vec()), &text),
                value_digest(&Value::Bytes(b"c".to_vec()), &text)
            ]),
            row_digest(&[
                value_digest(&Value::Bytes(b"a".to_vec()), &text),
                value_digest(&Value::Bytes(b"bc".to_vec()), &text)
            ])
        );
    }

    #[test]
    fn keys_are_shown_as_sql_literals() {
        let names = vec!["a".to_string(), "b".to_string()];
        assert_eq!(
            show_key(&names, &[Value::Int(1), Value::Bytes(b"x'y".to_vec())]),
            "a=1, b='x\\'y'"
        );
    }
}
