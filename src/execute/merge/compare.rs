//! Ordering two cells the way MySQL orders the column: text by its collation (through the
//! shard's WEIGHT_STRING bytes), numbers and DECIMAL exactly, TIME as signed durations,
//! dates and datetimes as their fixed-format text, NULL before everything.

use std::cmp::Ordering;

use mysql_common::constants::ColumnType;
use mysql_common::packets::Column;

use super::decimal::Dec;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Compare the weight column's bytes (collation order).
    Text,
    Number,
    Float,
    Time,
    /// BIT values: raw big-endian unsigned bytes, not digits.
    Bits,
    /// Byte order is the value order (dates, datetimes, binary strings).
    Bytes,
}

/// ENUM and SET sort by their member index, which their text does not show.
pub fn sorts_by_index(col: &Column) -> bool {
    use mysql_common::constants::ColumnFlags;
    col.flags()
        .intersects(ColumnFlags::ENUM_FLAG | ColumnFlags::SET_FLAG)
        || matches!(
            col.column_type(),
            ColumnType::MYSQL_TYPE_ENUM | ColumnType::MYSQL_TYPE_SET
        )
}

/// A FLOAT prints with 6 significant digits (1.0000001 and 1 both print `1`): values that
/// differ can look equal in text, so only a server holding all the rows orders or groups
/// them exactly. DOUBLE prints every digit it needs.
fn prints_inexactly(col: &Column) -> bool {
    col.column_type() == ColumnType::MYSQL_TYPE_FLOAT
}

/// A key the merge cannot order from the shards' answers: the statement is run over copies
/// of the rows instead (`Error::MergeCannotOrder`).
pub fn orders_only_on_one_server(col: &Column) -> bool {
    sorts_by_index(col) || prints_inexactly(col)
}

pub fn kind_of(col: &Column) -> Kind {
    use ColumnType::*;
    match col.column_type() {
        MYSQL_TYPE_TINY
        | MYSQL_TYPE_SHORT
        | MYSQL_TYPE_LONG
        | MYSQL_TYPE_LONGLONG
        | MYSQL_TYPE_INT24
        | MYSQL_TYPE_DECIMAL
        | MYSQL_TYPE_NEWDECIMAL
        | MYSQL_TYPE_YEAR => Kind::Number,
        MYSQL_TYPE_BIT => Kind::Bits,
        MYSQL_TYPE_FLOAT | MYSQL_TYPE_DOUBLE => Kind::Float,
        MYSQL_TYPE_TIME | MYSQL_TYPE_TIME2 => Kind::Time,
        MYSQL_TYPE_DATE
        | MYSQL_TYPE_NEWDATE
        | MYSQL_TYPE_DATETIME
        | MYSQL_TYPE_DATETIME2
        | MYSQL_TYPE_TIMESTAMP
        | MYSQL_TYPE_TIMESTAMP2 => Kind::Bytes,
        _ if col.character_set() == 63 => Kind::Bytes,
        _ => Kind::Text,
    }
}

fn time_key(b: &[u8]) -> (bool, Vec<u64>) {
    let s = std::str::from_utf8(b).unwrap_or("");
    let (neg, rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let mut parts: Vec<u64> = Vec::new();
    let (hms, frac) = rest.split_once('.').unwrap_or((rest, ""));
    for p in hms.split(':') {
        parts.push(p.parse().unwrap_or(0));
    }
    let mut f = frac.to_string();
    while f.len() < 6 {
        f.push('0');
    }
    parts.push(f.parse().unwrap_or(0));
    (neg, parts)
}

/// Compares two non-NULL values of one column kind (Text compares whatever bytes it gets,
/// which are the weights).
pub fn cmp_values(kind: Kind, a: &[u8], b: &[u8]) -> Ordering {
    match kind {
        Kind::Number => match (Dec::parse(a), Dec::parse(b)) {
            (Some(x), Some(y)) => x
                .cmp_exact(y)
                .unwrap_or_else(|| cmp_decimal_text(a, b).unwrap_or_else(|| cmp_float(a, b))),
            _ => cmp_decimal_text(a, b).unwrap_or_else(|| cmp_float(a, b)),
        },
        Kind::Float => cmp_float(a, b),
        Kind::Time => {
            let (na, pa) = time_key(a);
            let (nb, pb) = time_key(b);
            match (na, nb) {
                (false, true) => Ordering::Greater,
                (true, false) => Ordering::Less,
                (false, false) => pa.cmp(&pb),
                (true, true) => pb.cmp(&pa),
            }
        }
        Kind::Bits => cmp_unsigned_bytes(a, b),
        Kind::Text | Kind::Bytes => a.cmp(b),
    }
}

/// Big-endian unsigned numbers of any byte length (an expression over BIT may be wider
/// than the column): leading zero bytes do not count.
fn cmp_unsigned_bytes(a: &[u8], b: &[u8]) -> Ordering {
    let strip = |x: &[u8]| -> usize { x.iter().position(|&c| c != 0).unwrap_or(x.len()) };
    let (a, b) = (&a[strip(a)..], &b[strip(b)..]);
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// Exact order of two plain decimal texts of any length (DECIMAL(65,30) exceeds i128):
/// sign, then integer digits by length and value, then fraction digits.
fn cmp_decimal_text(a: &[u8], b: &[u8]) -> Option<Ordering> {
    fn parts(t: &[u8]) -> Option<(bool, &[u8], &[u8])> {
        let (neg, t) = match t.first()? {
            b'-' => (true, &t[1..]),
            b'+' => (false, &t[1..]),
            _ => (false, t),
        };
        let dot = t.iter().position(|&c| c == b'.').unwrap_or(t.len());
        let (int, frac) = (&t[..dot], t.get(dot + 1..).unwrap_or(&[]));
        if !int.iter().chain(frac).all(u8::is_ascii_digit) {
            return None;
        }
        let int = &int[int.iter().position(|&c| c != b'0').unwrap_or(int.len())..];
        let frac = &frac[..frac.iter().rposition(|&c| c != b'0').map_or(0, |p| p + 1)];
        let zero = int.is_empty() && frac.is_empty();
        Some((neg && !zero, int, frac))
    }
    let (na, ia, fa) = parts(a)?;
    let (nb, ib, fb) = parts(b)?;
    let magnitude = ia.len().cmp(&ib.len()).then(ia.cmp(ib)).then(fa.cmp(fb));
    Some(match (na, nb) {
        (false, true) => Ordering::Greater,
        (true, false) => Ordering::Less,
        (false, false) => magnitude,
        (true, true) => magnitude.reverse(),
    })
}

fn cmp_float(a: &[u8], b: &[u8]) -> Ordering {
    let p = |x: &[u8]| {
        std::str::from_utf8(x)
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    p(a).total_cmp(&p(b))
}

/// NULL sorts first (MySQL's ascending order).
pub fn cmp_cells(kind: Kind, a: Option<&[u8]>, b: Option<&[u8]>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(x), Some(y)) => cmp_values(kind, x, y),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_times_and_nulls() {
        assert_eq!(cmp_values(Kind::Number, b"9", b"10"), Ordering::Less);
        assert_eq!(cmp_values(Kind::Number, b"-1.50", b"-1.5"), Ordering::Equal);
        assert_eq!(
            cmp_values(Kind::Time, b"-01:00:00", b"00:00:01"),
            Ordering::Less
        );
        assert_eq!(
            cmp_values(Kind::Time, b"-02:00:00", b"-01:00:00"),
            Ordering::Less
        );
        assert_eq!(
            cmp_values(Kind::Time, b"100:00:00", b"99:59:59"),
            Ordering::Greater
        );
        assert_eq!(cmp_cells(Kind::Number, None, Some(b"0")), Ordering::Less);
        assert_eq!(cmp_values(Kind::Bits, b"\x02", b"\x01"), Ordering::Greater);
        assert_eq!(
            cmp_values(Kind::Bits, b"\x00\x02", b"\x02"),
            Ordering::Equal
        );
        assert_eq!(
            cmp_values(Kind::Bits, b"\x01\x00", b"\xff"),
            Ordering::Greater
        );
        let big =
            b"12345678901234567890123456789012345678901234567890.000000000000000000000000000001";
        let bigger =
            b"12345678901234567890123456789012345678901234567890.000000000000000000000000000002";
        assert_eq!(cmp_values(Kind::Number, big, bigger), Ordering::Less);
        assert_eq!(cmp_values(Kind::Number, b"-0.000", b"0"), Ordering::Equal);
        assert_eq!(
            cmp_values(
                Kind::Number,
                b"-99999999999999999999999999999999999999999.5",
                b"-1"
            ),
            Ordering::Less
        );
    }
}
