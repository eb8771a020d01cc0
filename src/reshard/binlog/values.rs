//! Row images to `Value`s, decoded here rather than with mysql_common's row reader, which
//! builds column definitions for every row, cannot know the sign of integers without
//! `binlog_row_metadata`, gives TIMESTAMP as epoch text, and underflows on negative TIME(1..4).
//!
//! Values come out as mysql_async reads the same columns over the binary protocol, so a
//! caller can compare them with rows it selects, and can bind them to apply them:
//! integers `Int` (`UInt` only above `i64::MAX`), FLOAT `Float`, DOUBLE `Double`, DECIMAL its
//! exact text, DATE/DATETIME `Date`, TIME `Time`, strings and blobs their stored bytes (in the
//! column's character set), YEAR `Int`, BIT `Int`, ENUM its index and SET its bit mask as
//! `Int` (both store the same value when bound), NULL `NULL`. TIMESTAMP is the `Date` in UTC:
//! apply it with `time_zone = '+00:00'`.

use anyhow::{anyhow, bail, Context};
use mysql_common::binlog::decimal::{decimal_bin_size, Decimal};
use mysql_common::value::Value;

use super::events::Reader;

/// Binlog column types (`MYSQL_TYPE_*` and MariaDB's compressed ones) this module reads.
pub mod ty {
    pub const TINY: u8 = 1;
    pub const SHORT: u8 = 2;
    pub const LONG: u8 = 3;
    pub const FLOAT: u8 = 4;
    pub const DOUBLE: u8 = 5;
    pub const TIMESTAMP: u8 = 7;
    pub const LONGLONG: u8 = 8;
    pub const INT24: u8 = 9;
    /// DATE columns are logged as this type, stored in NEWDATE's 3 bytes.
    pub const DATE: u8 = 10;
    pub const TIME: u8 = 11;
    pub const DATETIME: u8 = 12;
    pub const YEAR: u8 = 13;
    pub const NEWDATE: u8 = 14;
    pub const VARCHAR: u8 = 15;
    pub const BIT: u8 = 16;
    pub const TIMESTAMP2: u8 = 17;
    pub const DATETIME2: u8 = 18;
    pub const TIME2: u8 = 19;
    pub const VARCHAR_COMPRESSED: u8 = 140;
    pub const BLOB_COMPRESSED: u8 = 141;
    pub const NEWDECIMAL: u8 = 246;
    pub const ENUM: u8 = 247;
    pub const SET: u8 = 248;
    pub const TINY_BLOB: u8 = 249;
    pub const BLOB: u8 = 252;
    pub const VAR_STRING: u8 = 253;
    pub const STRING: u8 = 254;
    pub const GEOMETRY: u8 = 255;
}

/// How to read one column of a row image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnDecoder {
    pub name: String,
    /// The binlog type, with a CHAR column's real type (ENUM, SET) taken from its metadata.
    ty: u8,
    meta: [u8; 2],
    unsigned: bool,
}

impl ColumnDecoder {
    /// `meta` as the table map gives it; `unsigned` from information_schema, since table maps
    /// carry signedness only with `binlog_row_metadata`. Refuses types it cannot read exactly,
    /// now rather than at the first row.
    pub fn new(
        name: &str,
        binlog_type: u8,
        meta: [u8; 2],
        unsigned: bool,
        fractional_digits: u32,
    ) -> anyhow::Result<ColumnDecoder> {
        let mut ty = binlog_type;
        let mut meta = meta;
        if ty == ty::STRING && meta[0] & 0x30 != 0x30 {
            // A CHAR longer than 255 bytes keeps length bits 8-9 in the type byte (inverted).
            let len = u16::from(meta[1]) | u16::from((meta[0] & 0x30) ^ 0x30) << 4;
            meta = len.to_le_bytes();
        } else if ty == ty::STRING {
            match meta[0] {
                ty::ENUM | ty::SET => {
                    ty = meta[0];
                    meta = [meta[1], 0];
                }
                _ => meta = [meta[1], 0],
            }
        }
        let refuse = |why: &str| Err(anyhow!("column `{name}`: {why}"));
        match ty {
            ty::TIME | ty::DATETIME | ty::TIMESTAMP if fractional_digits > 0 => {
                return refuse(
                    "a temporal column with fractional seconds in the pre-10.1 storage format \
                     (rebuild the table with mysql56_temporal_format=ON)",
                )
            }
            ty::VARCHAR_COMPRESSED | ty::BLOB_COMPRESSED => {
                return refuse("a COMPRESSED column (its binlog values are compressed)")
            }
            ty::NEWDECIMAL if meta[1] > meta[0] || meta[0] > 65 => {
                return refuse("DECIMAL metadata with scale above precision")
            }
            ty::ENUM if !matches!(meta[0], 1 | 2) => return refuse("ENUM of unknown width"),
            ty::SET if !(1..=8).contains(&meta[0]) => return refuse("SET of unknown width"),
            ty::BIT if meta[0] > 7 || meta[1] > 8 || (meta[1] == 8 && meta[0] > 0) => {
                return refuse("BIT of unknown width")
            }
            ty::TINY_BLOB..=ty::BLOB | ty::GEOMETRY if !(1..=4).contains(&meta[0]) => {
                return refuse("BLOB of unknown width")
            }
            ty::TIME2 | ty::DATETIME2 | ty::TIMESTAMP2 if meta[0] > 6 => {
                return refuse("more than 6 fractional digits")
            }
            ty::TINY
            | ty::SHORT
            | ty::INT24
            | ty::LONG
            | ty::LONGLONG
            | ty::FLOAT
            | ty::DOUBLE
            | ty::NEWDECIMAL
            | ty::YEAR
            | ty::DATE
            | ty::NEWDATE
            | ty::TIME
            | ty::DATETIME
            | ty::TIMESTAMP
            | ty::TIME2
            | ty::DATETIME2
            | ty::TIMESTAMP2
            | ty::VARCHAR
            | ty::VAR_STRING
            | ty::STRING
            | ty::ENUM
            | ty::SET
            | ty::BIT
            | ty::TINY_BLOB..=ty::BLOB
            | ty::GEOMETRY => {}
            other => return refuse(&format!("binlog column type {other} is not supported")),
        }
        Ok(ColumnDecoder {
            name: name.to_string(),
            ty,
            meta,
            unsigned,
        })
    }

    fn read(&self, r: &mut Reader<'_>) -> anyhow::Result<Value> {
        let m = self.meta;
        Ok(match self.ty {
            ty::TINY => int(r.uint(1)?, 1, self.unsigned),
            ty::SHORT => int(r.uint(2)?, 2, self.unsigned),
            ty::INT24 => int(r.uint(3)?, 3, self.unsigned),
            ty::LONG => int(r.uint(4)?, 4, self.unsigned),
            ty::LONGLONG => int(r.uint(8)?, 8, self.unsigned),
            ty::FLOAT => Value::Float(f32::from_bits(r.uint(4)? as u32)),
            ty::DOUBLE => Value::Double(f64::from_bits(r.uint(8)?)),
            ty::NEWDECIMAL => {
                let (precision, scale) = (usize::from(m[0]), usize::from(m[1]));
                let bytes = r.bytes(decimal_bin_size(precision, scale))?;
                let d = Decimal::read_bin(bytes, precision, scale, false)?;
                Value::Bytes(d.to_string().into_bytes())
            }
            ty::YEAR => match r.u8()? {
                0 => Value::Int(0),
                y => Value::Int(1900 + i64::from(y)),
            },
            ty::DATE | ty::NEWDATE => {
                let v = r.uint(3)?;
                Value::Date(
                    (v >> 9) as u16,
                    (v >> 5 & 15) as u8,
                    (v & 31) as u8,
                    0,
                    0,
                    0,
                    0,
                )
            }
            ty::TIME => {
                // HHMMSS as a signed 3-byte integer.
                let v = sign_extend(r.uint(3)?, 3);
                let a = v.unsigned_abs();
                let hours = a / 10000;
                let (days, hours) = ((hours / 24) as u32, (hours % 24) as u8);
                Value::Time(
                    v < 0,
                    days,
                    hours,
                    (a / 100 % 100) as u8,
                    (a % 100) as u8,
                    0,
                )
            }
            ty::DATETIME => {
                let v = r.u64()?;
                let (d, t) = (v / 1_000_000, v % 1_000_000);
                Value::Date(
                    (d / 10000) as u16,
                    (d / 100 % 100) as u8,
                    (d % 100) as u8,
                    (t / 10000) as u8,
                    (t / 100 % 100) as u8,
                    (t % 100) as u8,
                    0,
                )
            }
            ty::TIMESTAMP => utc(r.uint(4)?, 0),
            ty::TIMESTAMP2 => {
                let seconds = be(r.bytes(4)?);
                let micros = match m[0] {
                    1 | 2 => r.u8()? as u32 * 10_000,
                    3 | 4 => be(r.bytes(2)?) as u32 * 100,
                    5 | 6 => be(r.bytes(3)?) as u32,
                    _ => 0,
                };
                utc(seconds, micros)
            }
            ty::DATETIME2 => datetime2(r, m[0])?,
            ty::TIME2 => time2(r, m[0])?,
            ty::VARCHAR | ty::VAR_STRING => {
                let max = u16::from_le_bytes(m);
                let n = r.uint(if max < 256 { 1 } else { 2 })? as usize;
                Value::Bytes(r.bytes(n)?.to_vec())
            }
            ty::STRING => {
                let max = u16::from_le_bytes(m);
                let n = r.uint(if max < 256 { 1 } else { 2 })? as usize;
                Value::Bytes(r.bytes(n)?.to_vec())
            }
            ty::ENUM => Value::Int(r.uint(usize::from(m[0]))? as i64),
            ty::SET => unsigned(r.uint(usize::from(m[0]))?),
            ty::BIT => {
                let n = usize::from(m[1]) + usize::from(m[0] > 0);
                unsigned(be(r.bytes(n)?))
            }
            ty::TINY_BLOB..=ty::BLOB | ty::GEOMETRY => {
                let n = r.uint(usize::from(m[0]))? as usize;
                Value::Bytes(r.bytes(n)?.to_vec())
            }
            other => bail!("binlog column type {other} is not supported"),
        })
    }
}

/// Reads one row image of all `columns`: the null bitmap, then each non-NULL value.
pub fn read_row(columns: &[ColumnDecoder], r: &mut Reader<'_>) -> anyhow::Result<Vec<Value>> {
    let nulls = r
        .bytes(columns.len().div_ceil(8))
        .context("row image too short for its null bitmap")?;
    let mut row = Vec::with_capacity(columns.len());
    for (i, column) in columns.iter().enumerate() {
        if nulls[i / 8] & (1 << (i % 8)) != 0 {
            row.push(Value::NULL);
        } else {
            let value = column
                .read(r)
                .with_context(|| format!("reading column `{}`", column.name))?;
            row.push(value);
        }
    }
    Ok(row)
}

/// An integer column's raw little-endian bits as the value the column holds.
fn int(raw: u64, bytes: usize, unsigned_column: bool) -> Value {
    if unsigned_column {
        unsigned(raw)
    } else {
        Value::Int(sign_extend(raw, bytes))
    }
}

fn unsigned(v: u64) -> Value {
    match i64::try_from(v) {
        Ok(i) => Value::Int(i),
        Err(_) => Value::UInt(v),
    }
}

fn sign_extend(raw: u64, bytes: usize) -> i64 {
    let shift = 64 - 8 * bytes as u32;
    ((raw << shift) as i64) >> shift
}

fn be(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b))
}

/// A signed big-endian integer of 1 to 3 bytes.
fn be_signed(bytes: &[u8]) -> i64 {
    sign_extend(be(bytes), bytes.len())
}

/// DATETIME(n) in MySQL 5.6's format: 40 bits of packed date and time (offset by 2^39), then
/// 0-3 bytes of fraction.
fn datetime2(r: &mut Reader<'_>, dec: u8) -> anyhow::Result<Value> {
    let int_part = be(r.bytes(5)?) as i64 - 0x80_0000_0000;
    let frac = match dec {
        1 | 2 => be_signed(r.bytes(1)?) * 10_000,
        3 | 4 => be_signed(r.bytes(2)?) * 100,
        5 | 6 => be_signed(r.bytes(3)?),
        _ => 0,
    };
    if int_part < 0 {
        bail!("negative DATETIME");
    }
    let ymd = int_part >> 17;
    let hms = int_part % (1 << 17);
    let (ym, day) = (ymd >> 5, ymd % (1 << 5));
    Ok(Value::Date(
        (ym / 13) as u16,
        (ym % 13) as u8,
        day as u8,
        (hms >> 12) as u8,
        (hms >> 6 & 63) as u8,
        (hms % 64) as u8,
        frac as u32,
    ))
}

/// TIME(n) in MySQL 5.6's format: 24 bits of packed time (offset by 2^23), then 0-3 bytes of
/// fraction; a negative time with a fraction borrows one second from the integer part.
fn time2(r: &mut Reader<'_>, dec: u8) -> anyhow::Result<Value> {
    let packed: i64 = match dec {
        1..=4 => {
            let (frac_bytes, scale) = if dec <= 2 { (1, 10_000) } else { (2, 100) };
            let mut int_part = be(r.bytes(3)?) as i64 - 0x80_0000;
            let mut frac = be(r.bytes(frac_bytes)?) as i64;
            if int_part < 0 && frac != 0 {
                int_part += 1;
                frac -= 1 << (8 * frac_bytes);
            }
            (int_part << 24) + frac * scale
        }
        5 | 6 => be(r.bytes(6)?) as i64 - 0x8000_0000_0000,
        _ => (be(r.bytes(3)?) as i64 - 0x80_0000) << 24,
    };
    let negative = packed < 0;
    let packed = packed.unsigned_abs();
    let hms = packed >> 24;
    let micros = (packed % (1 << 24)) as u32;
    let hours = (hms >> 12) % (1 << 10);
    Ok(Value::Time(
        negative,
        (hours / 24) as u32,
        (hours % 24) as u8,
        (hms >> 6 & 63) as u8,
        (hms & 63) as u8,
        micros,
    ))
}

/// Seconds since the epoch as the UTC date and time (`0` is the zero date, as MariaDB stores
/// `'0000-00-00 00:00:00'`).
fn utc(seconds: u64, micros: u32) -> Value {
    if seconds == 0 && micros == 0 {
        return Value::Date(0, 0, 0, 0, 0, 0, 0);
    }
    let days = (seconds / 86_400) as i64;
    let rest = seconds % 86_400;
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    Value::Date(
        year as u16,
        month as u8,
        day as u8,
        (rest / 3600) as u8,
        (rest / 60 % 60) as u8,
        (rest % 60) as u8,
        micros,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(ty: u8, meta: [u8; 2], unsigned: bool) -> ColumnDecoder {
        ColumnDecoder::new("c", ty, meta, unsigned, 0).unwrap()
    }

    fn one(c: &ColumnDecoder, bytes: &[u8]) -> Value {
        let mut r = Reader::new(bytes);
        let v = c.read(&mut r).unwrap();
        assert!(r.rest().is_empty(), "{} bytes left", r.rest().len());
        v
    }

    #[test]
    fn integers_take_their_sign_from_the_column() {
        assert_eq!(one(&col(ty::TINY, [0; 2], false), &[0xff]), Value::Int(-1));
        assert_eq!(one(&col(ty::TINY, [0; 2], true), &[0xff]), Value::Int(255));
        assert_eq!(
            one(&col(ty::INT24, [0; 2], false), &[0, 0, 0x80]),
            Value::Int(-8388608)
        );
        assert_eq!(
            one(&col(ty::INT24, [0; 2], true), &[0xff; 3]),
            Value::Int(16777215)
        );
        assert_eq!(
            one(&col(ty::LONG, [0; 2], true), &[0xff; 4]),
            Value::Int(4294967295)
        );
        assert_eq!(
            one(&col(ty::LONGLONG, [0; 2], false), &[0xff; 8]),
            Value::Int(-1)
        );
        assert_eq!(
            one(&col(ty::LONGLONG, [0; 2], true), &[0xff; 8]),
            Value::UInt(u64::MAX)
        );
        assert_eq!(
            one(&col(ty::LONGLONG, [0; 2], true), &i64::MAX.to_le_bytes()),
            Value::Int(i64::MAX)
        );
    }

    #[test]
    fn decimals_read_as_their_exact_text() {
        for (text, precision, scale) in [
            ("0.000", 10, 3),
            ("-0.500", 10, 3),
            ("12345.678", 10, 3),
            ("-9999999.999", 10, 3),
            ("123456789012345678901234567890.123456789", 65, 9),
            ("-1", 5, 0),
            ("0.0000000001", 30, 10),
        ] {
            let c = col(ty::NEWDECIMAL, [precision, scale], false);
            let encoded = encode_decimal(text, precision as usize, scale as usize);
            assert_eq!(
                one(&c, &encoded),
                Value::Bytes(text.as_bytes().to_vec()),
                "{text}"
            );
        }
    }

    /// MySQL's decimal2bin for a text with exactly `scale` fraction digits.
    fn encode_decimal(text: &str, precision: usize, scale: usize) -> Vec<u8> {
        let negative = text.starts_with('-');
        let digits = text.trim_start_matches('-');
        let (int_digits, frac_digits) = digits.split_once('.').unwrap_or((digits, ""));
        let intg = precision - scale;
        let int_padded = format!("{int_digits:0>intg$}");
        let frac_padded = format!("{frac_digits:0<scale$}");
        const BYTES: [usize; 10] = [0, 1, 1, 2, 2, 3, 3, 4, 4, 4];
        let mut out = Vec::new();
        let mut push = |group: &str| {
            let n = BYTES[group.len()];
            let v: u32 = group.parse().unwrap();
            out.extend_from_slice(&v.to_be_bytes()[4 - n..]);
        };
        let lead = intg % 9;
        if lead > 0 {
            push(&int_padded[..lead]);
        }
        for chunk in int_padded.as_bytes()[lead..].chunks(9) {
            push(std::str::from_utf8(chunk).unwrap());
        }
        for chunk in frac_padded.as_bytes().chunks(9) {
            push(std::str::from_utf8(chunk).unwrap());
        }
        if negative {
            for b in &mut out {
                *b = !*b;
            }
        }
        out[0] ^= 0x80;
        out
    }

    #[test]
    fn datetime2_and_time2_read_with_their_fractions() {
        // 2024-02-29 13:45:07.123456 packed as MySQL does.
        let ym = 2024 * 13 + 2;
        let ymd = (ym << 5) | 29;
        let hms = (13 << 12) | (45 << 6) | 7;
        let int_part: u64 = ((ymd << 17) | hms) + 0x80_0000_0000;
        let mut bytes = int_part.to_be_bytes()[3..].to_vec();
        bytes.extend_from_slice(&123456u32.to_be_bytes()[1..]);
        assert_eq!(
            one(&col(ty::DATETIME2, [6, 0], false), &bytes),
            Value::Date(2024, 2, 29, 13, 45, 7, 123456)
        );
        // -838:59:59 (TIME(0)) and -00:00:01.5 (TIME(2), the borrowing case).
        let t = |neg: bool, h: u64, m: u64, s: u64| {
            let v = ((h << 12) | (m << 6) | s) as i64;
            let v = if neg { -v } else { v };
            ((v + 0x80_0000) as u64).to_be_bytes()[5..].to_vec()
        };
        assert_eq!(
            one(&col(ty::TIME2, [0, 0], false), &t(true, 838, 59, 59)),
            Value::Time(true, 34, 22, 59, 59, 0)
        );
        // -1.5 s: MySQL stores the int part floored (-2) and the fraction as the signed
        // byte -50 (0xce); reading borrows the second back.
        let mut neg_frac = t(true, 0, 0, 2);
        neg_frac.push((-50i8) as u8);
        assert_eq!(
            one(&col(ty::TIME2, [2, 0], false), &neg_frac),
            Value::Time(true, 0, 0, 0, 1, 500_000)
        );
        let mut pos_frac = t(false, 1, 2, 3);
        pos_frac.extend_from_slice(&[0x30, 0x39]); // 12345 -> .123450
        assert_eq!(
            one(&col(ty::TIME2, [4, 0], false), &pos_frac),
            Value::Time(false, 0, 1, 2, 3, 1_234_500)
        );
    }

    #[test]
    fn timestamps_are_utc_dates() {
        let mut b = 1_709_214_307u32.to_be_bytes().to_vec();
        b.extend_from_slice(&[0x01, 0xe2, 0x40]); // 123456
        assert_eq!(
            one(&col(ty::TIMESTAMP2, [6, 0], false), &b),
            Value::Date(2024, 2, 29, 13, 45, 7, 123456)
        );
        assert_eq!(
            one(&col(ty::TIMESTAMP2, [0, 0], false), &[0; 4]),
            Value::Date(0, 0, 0, 0, 0, 0, 0)
        );
        assert_eq!(
            one(&col(ty::TIMESTAMP2, [0, 0], false), &u32::MAX.to_be_bytes()),
            Value::Date(2106, 2, 7, 6, 28, 15, 0)
        );
    }

    #[test]
    fn strings_enums_sets_bits_and_years() {
        let varchar = col(ty::VARCHAR, 400u16.to_le_bytes(), false);
        assert_eq!(
            one(&varchar, b"\x02\x00h\xc3"),
            Value::Bytes(b"h\xc3".to_vec())
        );
        let short = col(ty::VARCHAR, 40u16.to_le_bytes(), false);
        assert_eq!(one(&short, b"\x01a"), Value::Bytes(b"a".to_vec()));
        // CHAR(100) utf8mb4 = 400 bytes: length bits 8-9 folded into the type byte.
        let char400 = col(ty::STRING, [0xfe ^ 0x10, 0x90], false);
        assert_eq!(one(&char400, b"\x01\x00z"), Value::Bytes(b"z".to_vec()));
        let enum_ = col(ty::STRING, [ty::ENUM, 1], false);
        assert_eq!(one(&enum_, &[3]), Value::Int(3));
        let set = col(ty::STRING, [ty::SET, 8], false);
        assert_eq!(one(&set, &[0xff; 8]), Value::UInt(u64::MAX));
        let bit = col(ty::BIT, [3, 1], false);
        assert_eq!(one(&bit, &[0x01, 0x02]), Value::Int(258));
        let year = col(ty::YEAR, [0; 2], false);
        assert_eq!(one(&year, &[124]), Value::Int(2024));
        assert_eq!(one(&year, &[0]), Value::Int(0));
        let blob = col(ty::BLOB, [2, 0], false);
        assert_eq!(
            one(&blob, b"\x03\x00\x00\xff\x01"),
            Value::Bytes(vec![0, 255, 1])
        );
    }

    #[test]
    fn rows_read_nulls_from_the_bitmap() {
        let cols = [
            col(ty::LONG, [0; 2], false),
            col(ty::VARCHAR, [10, 0], false),
            col(ty::LONG, [0; 2], false),
        ];
        let bytes = [0b010, 7, 0, 0, 0, 9, 0, 0, 0];
        let row = read_row(&cols, &mut Reader::new(&bytes)).unwrap();
        assert_eq!(row, vec![Value::Int(7), Value::NULL, Value::Int(9)]);
        let err = read_row(&cols, &mut Reader::new(&bytes[..6])).unwrap_err();
        assert!(format!("{err:#}").contains("column `c`"), "{err:#}");
    }

    #[test]
    fn refuses_columns_it_cannot_read_exactly() {
        let err = ColumnDecoder::new("z", ty::BLOB_COMPRESSED, [1, 0], false, 0).unwrap_err();
        assert!(
            err.to_string().contains("`z`: a COMPRESSED column"),
            "{err}"
        );
        assert!(ColumnDecoder::new("d", ty::DATETIME, [0; 2], false, 3).is_err());
        assert!(ColumnDecoder::new("j", 245, [4, 0], false, 0).is_err());
        assert!(ColumnDecoder::new("n", ty::NEWDECIMAL, [3, 5], false, 0).is_err());
    }
}
