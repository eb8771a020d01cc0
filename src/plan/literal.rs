//! Shard-key literals: which SQL literals name a key value, and the shard that value maps to.
//!
//! Accepted: integers with an optional sign (`5`, `-5`, `+5`), decimals and exponents whose
//! value is an integer (`5.0`, `5.`, `1e3`: on an integer column MySQL compares them
//! numerically, so they equal `5`, `1000`), quoted values (`'5'`, `"5"`), `TRUE`/`FALSE`
//! (MySQL's 1 and 0) and `NULL` (which equals nothing, so it selects no shard).
//!
//! A non-integer number (`5.5`) is refused with `BadShardKey` rather than routed: on the
//! integer column that `mod` requires it can match no row, but if the column were not an
//! integer it could, and guessing is not allowed. Placeholders and expressions are not key
//! values at all: the predicate then constrains nothing.

use sqlparser::ast::{Expr, UnaryOperator, Value};

use super::lexer::{Kind, Token};
use crate::config::model::ShardSpec;
use crate::error::{Error, Result};
use crate::sharding::{Algorithm, KeyValue};

/// A literal as far as shard routing is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Literal<'e> {
    Int(i128),
    /// A number that is not an integer (kept as written, for the error message).
    Fraction(&'e str, bool),
    Text(&'e str),
    Null,
}

/// The literal `expr` is, if it is one.
pub(crate) fn literal(expr: &Expr) -> Option<Literal<'_>> {
    literal_signed(expr, false, 0)
}

fn literal_signed(expr: &Expr, negative: bool, depth: u32) -> Option<Literal<'_>> {
    if depth > 8 {
        return None;
    }
    match expr {
        Expr::Nested(e) => literal_signed(e, negative, depth + 1),
        Expr::UnaryOp {
            op: op @ (UnaryOperator::Minus | UnaryOperator::Plus),
            expr,
        } => {
            let inner = literal_signed(expr, negative ^ (*op == UnaryOperator::Minus), depth + 1)?;
            // `-'5'` converts the string to a number: not a plain key literal.
            matches!(inner, Literal::Int(_) | Literal::Fraction(..)).then_some(inner)
        }
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) => Some(number(n, negative)?),
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) if !negative => {
                Some(Literal::Text(s))
            }
            Value::Boolean(b) if !negative => Some(Literal::Int(i128::from(*b))),
            Value::Null if !negative => Some(Literal::Null),
            _ => None,
        },
        _ => None,
    }
}

/// Parses a numeric literal exactly: `digits[.digits][e[+-]digits]`.
pub(crate) fn number(text: &str, negative: bool) -> Option<Literal<'_>> {
    let (mantissa, exp) = match text.find(['e', 'E']) {
        Some(i) => (&text[..i], text[i + 1..].parse::<i32>().ok()?),
        None => (text, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int_part.is_empty() && frac_part.is_empty()
        || !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    // value = digits * 10^(exp - frac_len), exact in i128 or not an integer.
    let (int_b, frac_b) = (int_part.as_bytes(), frac_part.as_bytes());
    let digit = |i: usize| {
        int_b
            .get(i)
            .copied()
            .unwrap_or_else(|| frac_b[i - int_b.len()])
    };
    let total = int_b.len() + frac_b.len();
    let scale = i64::from(exp) - frac_b.len() as i64;
    let cut = if scale < 0 {
        total.saturating_sub(usize::try_from(scale.unsigned_abs()).unwrap_or(usize::MAX))
    } else {
        total
    };
    if (cut..total).any(|i| digit(i) != b'0') {
        return Some(Literal::Fraction(text, negative));
    }
    let mut value: i128 = 0;
    for i in 0..cut {
        value = value
            .checked_mul(10)?
            .checked_add(i128::from(digit(i) - b'0'))?;
    }
    if value != 0 {
        for _ in 0..scale.max(0) {
            value = value.checked_mul(10)?;
        }
    }
    Some(Literal::Int(if negative { -value } else { value }))
}

/// The shard of `lit` for a table laid out by `spec` (`table` names it in errors);
/// `Ok(None)` for NULL, which matches no row.
pub(crate) fn shard_of(lit: Literal<'_>, spec: &ShardSpec, table: &str) -> Result<Option<u32>> {
    let key = match lit {
        Literal::Null => return Ok(None),
        Literal::Int(n) => KeyValue::Int(n),
        Literal::Fraction(text, negative) => {
            return Err(Error::BadShardKey(format!(
                "shard key {} of table '{table}' ({} algorithm) needs an integer{}, got {}{text}",
                spec.shard_key,
                spec.sharder.algorithm(),
                if spec.sharder.algorithm() == Algorithm::Mod {
                    ""
                } else {
                    " or a string"
                },
                if negative { "-" } else { "" },
            )))
        }
        Literal::Text(s) => match spec.sharder.algorithm() {
            // On the integer column `mod` needs, '5.0' compares as 5.
            Algorithm::Mod => match quoted_integer(s) {
                Some(n) => KeyValue::Int(n),
                None => KeyValue::Text(s),
            },
            Algorithm::Hash | Algorithm::Ring => KeyValue::Text(s),
        },
    };
    spec.sharder.shard_of(key).map(Some).map_err(|e| {
        Error::BadShardKey(format!(
            "shard key {} of table '{table}': {e}",
            spec.shard_key
        ))
    })
}

/// A quoted number with an integer value, as MySQL converts it for an integer column
/// (surrounding spaces allowed).
fn quoted_integer(s: &str) -> Option<i128> {
    let t = s.trim_matches(' ');
    let (negative, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    match number(digits, negative)? {
        Literal::Int(n) => Some(n),
        _ => None,
    }
}

/// A literal at `c[from..]` of the lexer's tokens (the fast paths): a number with an optional
/// sign, a quoted string without escapes, NULL. Returns it and the number of tokens used.
pub(crate) fn token_literal<'s>(
    sql: &'s str,
    c: &[Token],
    from: usize,
) -> Option<(Literal<'s>, usize)> {
    let t = c.get(from)?;
    match t.kind {
        Kind::Punct(sign @ (b'-' | b'+')) => {
            let n = c.get(from + 1)?;
            (n.kind == Kind::Number).then_some(())?;
            Some((number(n.text(sql), sign == b'-')?, 2))
        }
        Kind::Number => Some((number(t.text(sql), false)?, 1)),
        Kind::Str => {
            let text = t.text(sql);
            let q = &text[..1];
            let inner = text.strip_prefix(q)?.strip_suffix(q)?;
            if inner.contains('\\') || inner.contains(q) {
                return None;
            }
            Some((Literal::Text(inner), 1))
        }
        Kind::Word if t.is_word(sql, "NULL") => Some((Literal::Null, 1)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(number("5", false), Some(Literal::Int(5)));
        assert_eq!(number("5", true), Some(Literal::Int(-5)));
        assert_eq!(number("5.000", false), Some(Literal::Int(5)));
        assert_eq!(number("5.", false), Some(Literal::Int(5)));
        assert_eq!(number(".0", false), Some(Literal::Int(0)));
        assert_eq!(number("1e3", false), Some(Literal::Int(1000)));
        assert_eq!(number("1500e-2", false), Some(Literal::Int(15)));
        assert_eq!(number("5.5", false), Some(Literal::Fraction("5.5", false)));
        assert_eq!(
            number("1e-1", false),
            Some(Literal::Fraction("1e-1", false))
        );
        assert_eq!(number("1e99", false), None);
        assert_eq!(number("abc", false), None);
        assert_eq!(number(".", false), None);
        assert_eq!(number("", false), None);
        assert_eq!(number("1e", false), None);
        assert_eq!(number("0e999999999", false), Some(Literal::Int(0)));
        assert_eq!(
            number("1e-999999999", false),
            Some(Literal::Fraction("1e-999999999", false))
        );
    }

    #[test]
    fn quoted_integers() {
        assert_eq!(quoted_integer(" 5.0 "), Some(5));
        assert_eq!(quoted_integer("-7"), Some(-7));
        assert_eq!(quoted_integer("5abc"), None);
        assert_eq!(quoted_integer("--5"), None);
    }
}
