//! `mod`: `key mod shards` on integers, so an operator can predict a row's shard by hand.

use super::{KeyValue, ShardingError};

pub(super) fn shard(key: KeyValue<'_>, shards: u32) -> Result<u32, ShardingError> {
    let n = match key {
        KeyValue::Int(n) => n,
        KeyValue::Text(s) => parse_integer(s).ok_or_else(|| not_an_integer(s))?,
    };
    // Euclidean, so negative keys still land in 0..shards (-1 -> shards - 1).
    Ok(n.rem_euclid(i128::from(shards)) as u32)
}

/// A quoted integer (`'42'`, `' -7 '`): optional sign and digits, surrounding spaces ignored as
/// MySQL's string-to-number conversion does. Anything else is refused rather than guessed at,
/// because MySQL would turn `'42abc'` into 42 with only a warning.
pub(super) fn parse_integer(text: &str) -> Option<i128> {
    let t = text.trim_matches(' ');
    // i128's parser takes exactly [+-]?[0-9]+, which is the grammar we want.
    t.parse::<i128>().ok()
}

fn not_an_integer(text: &str) -> ShardingError {
    const MAX: usize = 64;
    let shown = match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("'{}...'", &text[..cut]),
        None => format!("'{text}'"),
    };
    ShardingError::NotAnInteger(shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_quoted_integers_like_mysql_does_for_clean_input() {
        assert_eq!(parse_integer("42"), Some(42));
        assert_eq!(parse_integer(" 42 "), Some(42));
        assert_eq!(parse_integer("+42"), Some(42));
        assert_eq!(parse_integer("-42"), Some(-42));
        assert_eq!(parse_integer("007"), Some(7));
        for bad in [
            "", " ", "+", "-", "4 2", "42abc", "0x10", "1e3", "4.0", "\t42", "- 4",
        ] {
            assert_eq!(parse_integer(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn negative_keys_use_the_euclidean_remainder() {
        assert_eq!(shard(KeyValue::Int(-1), 4), Ok(3));
        assert_eq!(shard(KeyValue::Int(-4), 4), Ok(0));
        assert_eq!(shard(KeyValue::Text("-5"), 4), Ok(3));
        assert_eq!(
            shard(KeyValue::Int(i128::MIN), 7),
            Ok(i128::MIN.rem_euclid(7) as u32)
        );
    }

    #[test]
    fn refuses_text_that_is_not_an_integer() {
        assert_eq!(
            shard(KeyValue::Text("abc"), 4),
            Err(ShardingError::NotAnInteger("'abc'".into()))
        );
        let long = "x".repeat(100);
        let err = shard(KeyValue::Text(&long), 4).unwrap_err().to_string();
        assert!(err.ends_with("...'"), "{err}");
    }
}
