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
        | MYSQL_TYPE_YEAR
        | MYSQL_TYPE_BIT => Kind::Number,
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
            (Some(x), Some(y)) => x.cmp_exact(y).unwrap_or_else(|| cmp_float(a, b)),
            _ => cmp_float(a, b),
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
        Kind::Text | Kind::Bytes => a.cmp(b),
    }
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
    }
}
