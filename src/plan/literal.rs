//! Shard-key literals: which SQL literals name a key value, and the shard that value maps to.
//!
//! Accepted: integers with an optional sign (`5`, `-5`, `+5`), decimals and exponents whose
//! value is an integer (`5.0`, `5.`, `1e3`: on an integer column MySQL compares them
//! numerically, so they equal `5`, `1000`), quoted values (`'5'`, `"5"`), `TRUE`/`FALSE`
//! (MySQL's 1 and 0) and `NULL` (which equals nothing, so it selects no shard).
//!
//! Reads and writes differ. A read may look at every shard that could hold matching rows
//! ([`read_shards`]); a write must name one ([`shard_of`]). The rules say a `mod` key is an
//! integer column but not what a `hash`/`ring` key column is, and a quoted number means its
//! value in an integer column (`'042'`, `' 42'`, `'42abc'` are 42) but its text in a text
//! column: a read goes to both shards, a write whose two readings disagree is refused (1235).
//! A non-integer number (`5.5`) constrains no read (scatter is exact whatever the column's
//! type) and is refused as a written key. Placeholders and expressions are not key values at
//! all: the predicate then constrains nothing.
//!
//! A text key column compares in its collation, so a read by text goes to one shard only
//! where placement follows that collation (`ShardSpec::text_lookups`: a declared
//! `key_collation`, or a learned NO PAD binary column); otherwise it reads every shard. On a
//! column known to be text a quoted value is only text, and an integer (compared as a
//! number with every text reading as it) reads every shard.

use sqlparser::ast::{Expr, UnaryOperator, Value};

use super::lexer::{Kind, Token};
use crate::config::key_column::TextLookups;
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

/// The shard a written row with key `lit` goes to (INSERT); `Ok(None)` for NULL, which has
/// no shard. A value whose stored form depends on the column's type, which the rules do not
/// say for `hash`/`ring` (`'042'` is 42 in an INT column, "042" in a VARCHAR), or that MySQL
/// would round (`5.5`, `'5.5'` into an integer column), is refused with 1235.
pub(crate) fn shard_of(lit: Literal<'_>, spec: &ShardSpec, table: &str) -> Result<Option<u32>> {
    let refuse = |shown: String, why: &str| {
        Err(Error::unsupported(format!(
            "shard key {} of table '{table}' ({} algorithm) given {shown}: {why}",
            spec.shard_key,
            spec.sharder.algorithm(),
        )))
    };
    match lit {
        Literal::Null => Ok(None),
        Literal::Int(n) => place(KeyValue::Int(n), spec, table).map(Some),
        Literal::Fraction(text, negative) => refuse(
            format!("{}{text}", if negative { "-" } else { "" }),
            "a non-integer key value has no exact shard",
        ),
        Literal::Text(s) if spec.sharder.text_is_ambiguous(s) => refuse(
            format!("'{s}'"),
            &format!(
                "text outside printable ASCII has no single shard under key_collation {} \
                 (accents, widths and ignorable characters can make it equal to other text)",
                spec.sharder.collation().map_or("", |c| c.name())
            ),
        ),
        // A text column stores a quoted value as its text, whatever it looks like.
        Literal::Text(s) if spec.key_is_text() => place(KeyValue::Text(s), spec, table).map(Some),
        Literal::Text(s) => match text_key(s, spec, table)? {
            TextKey::One(shard) => Ok(Some(shard)),
            // '123john@example.com': an integer column refuses it in strict mode; a text
            // column is by far the likelier reading, and it must stay insertable.
            _ if spec.sharder.algorithm() != Algorithm::Mod && !whole_number(s) => {
                place(KeyValue::Text(s), spec, table).map(Some)
            }
            TextKey::Either(..) | TextKey::Unknown => refuse(
                format!("'{s}'"),
                "the rules do not say whether the key column is an integer (which stores a \
                 quoted number not written canonically, unlike '42' or '-7', as its value) \
                 or text (which stores it as written), and the two land on different shards",
            ),
            TextKey::NoInteger => refuse(
                format!("'{s}'"),
                "a quoted non-integer number is rounded by an integer key column",
            ),
        },
    }
}

/// True if MySQL reads all of `s` as a number (surrounding whitespace aside), so that an
/// integer column stores it without complaint.
fn whole_number(s: &str) -> bool {
    let t = s.trim_matches(|c: char| c.is_ascii_whitespace() || c == '\x0b');
    let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
    number(digits, false).is_some()
        || digits.bytes().all(|b| b.is_ascii_digit()) && !digits.is_empty()
}

/// The shards that may hold rows whose key equals `lit` (a read): `None` when any shard may,
/// which is always exact (the query scatters). An empty list means no row can match.
pub(crate) fn read_shards(
    lit: Literal<'_>,
    spec: &ShardSpec,
    table: &str,
) -> Result<Option<Vec<u32>>> {
    Ok(match lit {
        Literal::Null => Some(Vec::new()),
        // A text column compares an integer as a number with every text reading as it
        // ('042', ' 42', '42.0'), wherever those were placed; so may a column not learned.
        Literal::Int(_) if spec.key_may_be_text() => None,
        Literal::Int(n) => Some(vec![place(KeyValue::Int(n), spec, table)?]),
        // Compared as a decimal or a double depending on the column; not worth guessing.
        Literal::Fraction(..) => None,
        Literal::Text(s) => match spec.text_lookups() {
            TextLookups::Scatter => None,
            TextLookups::Follow(collation) if collation.canonical(s).is_none() => None,
            TextLookups::Follow(_) => Some(vec![place(KeyValue::Text(s), spec, table)?]),
            TextLookups::NotText => text_read_shards(s, spec, table)?,
        },
    })
}

/// A quoted value's shards on a table whose key column may be an integer.
fn text_read_shards(s: &str, spec: &ShardSpec, table: &str) -> Result<Option<Vec<u32>>> {
    Ok(match text_key(s, spec, table)? {
        TextKey::One(shard) => Some(vec![shard]),
        TextKey::Either(a, b) => Some(vec![a, b]),
        TextKey::NoInteger if spec.sharder.algorithm() == Algorithm::Mod => Some(Vec::new()),
        TextKey::NoInteger => Some(vec![place(KeyValue::Text(s), spec, table)?]),
        TextKey::Unknown => None,
    })
}

/// Where a quoted key value belongs.
enum TextKey {
    /// Every reading of the column type agrees on this shard.
    One(u32),
    /// Shard of the text in a text column, shard of its number in an integer column.
    Either(u32, u32),
    /// A number that is not an integer: no integer key equals it, a text key might (only
    /// for `hash`/`ring`, the shard of the text).
    NoInteger,
    /// A number whose comparison with an integer column goes through a double and may
    /// round: unknown.
    Unknown,
}

fn text_key(s: &str, spec: &ShardSpec, table: &str) -> Result<TextKey> {
    let conv = mysql_number(s);
    if spec.sharder.algorithm() == Algorithm::Mod {
        // `mod` keys are integer columns (`shardgate check` enforces it).
        return Ok(match conv {
            Conversion::Int(n) => TextKey::One(place(KeyValue::Int(n), spec, table)?),
            Conversion::NotANumber => TextKey::One(place(KeyValue::Int(0), spec, table)?),
            Conversion::Fraction => TextKey::NoInteger,
            Conversion::Inexact => TextKey::Unknown,
        });
    }
    let text = place(KeyValue::Text(s), spec, table)?;
    Ok(match conv {
        // Canonical text is what the integer hashes as: both readings agree.
        Conversion::Int(n) if n.to_string() == s => TextKey::One(text),
        Conversion::Int(n) => match place(KeyValue::Int(n), spec, table)? {
            int if int == text => TextKey::One(text),
            int => TextKey::Either(text, int),
        },
        Conversion::Fraction => TextKey::NoInteger,
        Conversion::Inexact => TextKey::Unknown,
        // 'abc' on an INT column would mean 0; taken as text so that text keys stay
        // single-shard lookups (the rules cannot say the column is text).
        Conversion::NotANumber => TextKey::One(text),
    })
}

fn place(key: KeyValue<'_>, spec: &ShardSpec, table: &str) -> Result<u32> {
    spec.sharder.shard_of(key).map_err(|e| {
        Error::BadShardKey(format!(
            "shard key {} of table '{table}': {e}",
            spec.shard_key
        ))
    })
}

/// What a quoted value means when MySQL compares it with an integer column.
#[derive(Debug, PartialEq, Eq)]
enum Conversion {
    /// Exactly this integer.
    Int(i128),
    /// Exactly a non-integer: equals no integer.
    Fraction,
    /// No numeric prefix at all (MySQL reads 0).
    NotANumber,
    /// Too long or too large to know how the double it becomes rounds.
    Inexact,
}

/// Doubles hold every integer below this exactly.
const EXACT_IN_DOUBLE: i128 = 1 << 53;

/// MySQL's string-to-number reading: leading whitespace skipped, then the longest prefix
/// `[sign] digits [. digits] [e [sign] digits]`; whatever follows is ignored (with a warning).
fn mysql_number(s: &str) -> Conversion {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
        i += 1;
    }
    let negative = b.get(i) == Some(&b'-');
    if matches!(b.get(i), Some(b'-' | b'+')) {
        i += 1;
    }
    let start = i;
    let digits = |mut j: usize| {
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        j
    };
    let int_end = digits(i);
    let mut end = int_end;
    if b.get(end) == Some(&b'.') {
        end = digits(end + 1);
    }
    if end == start || &s[start..end] == "." {
        return Conversion::NotANumber;
    }
    if matches!(b.get(end), Some(b'e' | b'E')) {
        let mut j = end + 1;
        if matches!(b.get(j), Some(b'-' | b'+')) {
            j += 1;
        }
        let exp_end = digits(j);
        if exp_end > j {
            end = exp_end;
        }
    }
    let significant = s[start..end]
        .bytes()
        .take_while(|c| *c != b'e' && *c != b'E')
        .filter(u8::is_ascii_digit)
        .skip_while(|c| *c == b'0')
        .count();
    match number(&s[start..end], negative) {
        Some(Literal::Int(n)) if n.abs() < EXACT_IN_DOUBLE && significant <= 15 => {
            Conversion::Int(n)
        }
        Some(Literal::Fraction(..)) if significant <= 15 => Conversion::Fraction,
        _ => Conversion::Inexact,
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
    fn mysql_numbers() {
        use Conversion::*;
        for (text, want) in [
            ("42", Int(42)),
            ("042", Int(42)),
            (" 42", Int(42)),
            ("\t42 ", Int(42)),
            ("+42", Int(42)),
            ("-7", Int(-7)),
            ("4.2e1", Int(42)),
            ("5.0 ", Int(5)),
            ("1abc", Int(1)),
            ("1e", Int(1)),
            ("0x2A", Int(0)),
            ("1.5", Fraction),
            ("abc", NotANumber),
            ("", NotANumber),
            (".", NotANumber),
            ("--5", NotANumber),
            ("9007199254740993", Inexact),
            ("1.0000000000000000001", Inexact),
            ("1e400", Inexact),
        ] {
            assert_eq!(mysql_number(text), want, "{text:?}");
        }
    }

    fn collated_spec(learned: Option<crate::config::key_column::KeyColumnType>) -> ShardSpec {
        use crate::sharding::{KeyCollation, Sharder};
        let spec = ShardSpec {
            shard_key: "code".into(),
            sharder: Sharder::new(Algorithm::Hash, 8)
                .with_collation(KeyCollation::named("utf8mb4_general_ci")),
            placement: vec![0; 8],
            key_generator: None,
            family: "t".into(),
            physical: Default::default(),
            learned_key: Default::default(),
        };
        if let Some(l) = learned {
            let _ = spec.learned_key.learn(l);
        }
        spec
    }

    /// Under a declared key_collation every spelling reads and writes one shard, integers
    /// (numeric comparison) and non-ASCII text read everywhere, non-ASCII writes are refused
    /// and a quoted number is just text.
    #[test]
    fn declared_key_collation_reads_and_writes() {
        let spec = collated_spec(None);
        let one = read_shards(Literal::Text("abc"), &spec, "t")
            .unwrap()
            .unwrap();
        assert_eq!(one.len(), 1);
        for s in ["ABC", "aBc  "] {
            assert_eq!(
                read_shards(Literal::Text(s), &spec, "t").unwrap(),
                Some(one.clone())
            );
            assert_eq!(
                shard_of(Literal::Text(s), &spec, "t").unwrap(),
                Some(one[0])
            );
        }
        assert_eq!(read_shards(Literal::Int(42), &spec, "t").unwrap(), None);
        assert_eq!(read_shards(Literal::Text("abç"), &spec, "t").unwrap(), None);
        let err = shard_of(Literal::Text("abç"), &spec, "t").unwrap_err();
        assert_eq!(err.code(), 1235);
        let msg = err.to_string();
        for part in ["'t'", "code", "utf8mb4_general_ci", "printable ASCII"] {
            assert!(msg.contains(part), "{part}: {msg}");
        }
        // Text, not the number 42: one shard, the text's.
        let text = read_shards(Literal::Text("042"), &spec, "t")
            .unwrap()
            .unwrap();
        assert_eq!(text.len(), 1);
        assert_eq!(
            shard_of(Literal::Text("042"), &spec, "t").unwrap(),
            Some(text[0])
        );
        // Learned to differ from the declaration: text lookups scatter, writes still place.
        let differs = collated_spec(Some(crate::config::key_column::KeyColumnType::Text {
            collation: "utf8mb4_unicode_ci".into(),
            fixed_length: false,
        }));
        assert_eq!(
            read_shards(Literal::Text("abc"), &differs, "t").unwrap(),
            None
        );
        assert_eq!(
            shard_of(Literal::Text("ABC"), &differs, "t").unwrap(),
            Some(one[0])
        );
    }

    #[test]
    fn whole_numbers() {
        for t in [
            "042",
            " 42 ",
            "+4.2e1",
            "-0",
            "1.5",
            "99999999999999999999999999999999999999999",
        ] {
            assert!(whole_number(t), "{t:?}");
        }
        for t in ["42abc", "123john@example.com", "", "-", "0x2A", "1e", "ABC"] {
            assert!(!whole_number(t), "{t:?}");
        }
    }
}
