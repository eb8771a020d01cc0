//! sqlparser locations (1-based line, 1-based column counted in `char`s) to byte offsets in the
//! original text, which is what rewriting slices.
//!
//! sqlparser's tokenizer starts a new line after each `\n` only (a `\r` is an ordinary
//! character), so lines here are split the same way. Most queries are one ASCII line, where a
//! column is a byte offset and no table is built.

use sqlparser::tokenizer::Location;

pub(crate) struct Offsets<'a> {
    src: &'a str,
    ascii: bool,
    /// Byte offset where each line after the first starts; empty for one-line text.
    line_starts: Vec<usize>,
}

impl<'a> Offsets<'a> {
    pub fn new(src: &'a str) -> Self {
        let line_starts = if src.as_bytes().contains(&b'\n') {
            src.bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i + 1)
                .collect()
        } else {
            Vec::new()
        };
        Offsets {
            src,
            ascii: src.is_ascii(),
            line_starts,
        }
    }

    /// Byte offset of `loc`, or `None` for an empty or out-of-range location (sqlparser uses
    /// line 0 for nodes it has no position for).
    pub fn byte(&self, loc: Location) -> Option<usize> {
        if loc.line == 0 || loc.column == 0 {
            return None;
        }
        let line = usize::try_from(loc.line - 1).ok()?;
        let col = usize::try_from(loc.column - 1).ok()?;
        let line_start = if line == 0 {
            0
        } else {
            *self.line_starts.get(line - 1)?
        };
        let line_end = self
            .line_starts
            .get(line)
            .map_or(self.src.len(), |&next| next - 1);
        if self.ascii {
            let b = line_start.checked_add(col)?;
            // A column may point just past the line's last character (an exclusive end).
            return (b <= line_end).then_some(b);
        }
        let line_text = &self.src[line_start..];
        let mut chars = line_text.char_indices();
        match chars.nth(col) {
            Some((i, _)) if line_start + i <= line_end => Some(line_start + i),
            Some(_) => None,
            None => {
                // One past the last character of the text.
                let count = line_text.chars().count();
                (count == col).then_some(self.src.len())
            }
        }
    }

    /// Byte range of a span, if both ends are known and ordered.
    pub fn range(&self, span: sqlparser::tokenizer::Span) -> Option<(usize, usize)> {
        let s = self.byte(span.start)?;
        let e = self.byte(span.end)?;
        (s <= e).then_some((s, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlparser::dialect::MySqlDialect;
    use sqlparser::tokenizer::{Token, Tokenizer};

    /// Every token sqlparser reports must slice to its own text.
    fn check(src: &str) {
        let offsets = Offsets::new(src);
        let tokens = Tokenizer::new(&MySqlDialect {}, src)
            .tokenize_with_location()
            .unwrap();
        for t in tokens {
            let (s, e) = offsets.range(t.span).expect("span maps");
            let text = &src[s..e];
            match &t.token {
                Token::Word(w) if w.quote_style.is_none() => assert_eq!(text, w.value),
                Token::Number(n, _) => assert_eq!(text, n),
                Token::SingleQuotedString(v) => assert_eq!(text, format!("'{v}'")),
                _ => {}
            }
        }
    }

    #[test]
    fn ascii_single_line() {
        check("SELECT a, b FROM t WHERE x = 'y'");
    }

    #[test]
    fn multi_line_with_accents_and_emoji() {
        check("SELECT 'héllo', `naïve`\nFROM t -- é\r\n WHERE x = 'ü😀'\n  AND ñ = 1");
    }

    #[test]
    fn out_of_range_is_none() {
        let o = Offsets::new("ab\ncd");
        assert_eq!(o.byte(Location { line: 0, column: 0 }), None);
        assert_eq!(o.byte(Location { line: 3, column: 1 }), None);
        assert_eq!(o.byte(Location { line: 1, column: 9 }), None);
        assert_eq!(o.byte(Location { line: 2, column: 3 }), Some(5));
        assert_eq!(o.byte(Location { line: 1, column: 3 }), Some(2));
    }
}
