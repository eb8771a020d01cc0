//! A statement's first keyword, read once when the statement arrives, so that the checks for
//! statements of another kind (`SHOW ...`, `KILL`, `SHARDGATE RELOAD`, DDL) cost a word
//! comparison instead of a pass over the text each.
//!
//! It is the first meaningful token as the lexer reads it (whitespace and comments skipped,
//! executable comments as code). It only ever rules statements out: a statement one of those
//! checks recognises starts with that check's keyword (each looks at the first word, by the
//! lexer or by whitespace), and where the start cannot be read that way (a first word with
//! non-ASCII bytes, which may begin with Unicode whitespace that `str::trim` skips, or no
//! token at all) every check runs as before.

use super::lexer::{is_ident_byte, significant, Kind};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirstWord<'a>(Start<'a>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start<'a> {
    /// An ASCII word: a keyword or an identifier.
    Word(&'a str),
    /// A quote, a number, a bracket, ...: no statement the checks look for starts so.
    NotAWord,
    /// Nothing that rules a check out.
    Unknown,
}

impl<'a> FirstWord<'a> {
    /// Reads the first token of `sql` by the syntax in force on this thread (`Syntax::scope`),
    /// as the checks it stands in for do.
    pub fn of(sql: &'a str) -> Self {
        // The common case without the lexer: a statement that starts, after whitespace, with
        // a letter starts with the word the lexer would read there.
        let b = sql.as_bytes();
        let start = b
            .iter()
            .position(|c| !matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c));
        if let Some(s) = start.filter(|&s| b[s].is_ascii_alphabetic()) {
            let end = b[s..]
                .iter()
                .position(|&c| !is_ident_byte(c))
                .map_or(b.len(), |n| s + n);
            let word = &sql[s..end];
            return FirstWord(if word.is_ascii() {
                Start::Word(word)
            } else {
                Start::Unknown
            });
        }
        FirstWord(match significant(sql).next() {
            None => Start::Unknown,
            Some(t) if t.kind != Kind::Word => Start::NotAWord,
            Some(t) if t.text(sql).is_ascii() => Start::Word(t.text(sql)),
            Some(_) => Start::Unknown,
        })
    }

    /// Whether the statement may start with the keyword `kw` (ASCII, any case): `false` only
    /// when it certainly does not.
    #[inline]
    pub fn may_be(self, kw: &str) -> bool {
        match self.0 {
            Start::Word(w) => w.eq_ignore_ascii_case(kw),
            Start::NotAWord => false,
            Start::Unknown => true,
        }
    }

    /// Whether the statement certainly starts with one of the keywords `kws`.
    #[inline]
    pub fn is_one_of(self, kws: &[&str]) -> bool {
        match self.0 {
            Start::Word(w) => kws.iter().any(|kw| w.eq_ignore_ascii_case(kw)),
            Start::NotAWord | Start::Unknown => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::FirstWord;

    #[test]
    fn reads_past_whitespace_and_comments() {
        let w = FirstWord::of("  /* c */ -- x\n show warnings");
        assert!(w.may_be("SHOW"));
        assert!(!w.may_be("KILL"));
        assert!(FirstWord::of("/*!40101 KILL 5 */").may_be("kill"));
        assert!(FirstWord::of("SELECT 1").is_one_of(&["UPDATE", "SELECT"]));
    }

    /// The shortcut for statements that start with a letter reads what the lexer reads.
    #[test]
    fn the_shortcut_agrees_with_the_lexer() {
        use crate::plan::lexer::{significant, Kind};
        for sql in [
            "SELECT 1",
            " \t\n\x0b\x0cupdate t",
            "SELECT`x`",
            "SHOW/* c */WARNINGS",
            "ab$c_1.d",
            "sélect 1",
            "S\u{a0}HOW",
            "x",
        ] {
            let by_lexer = match significant(sql).next() {
                Some(t) if t.kind == Kind::Word && t.text(sql).is_ascii() => Some(t.text(sql)),
                _ => None,
            };
            let shortcut = match FirstWord::of(sql).0 {
                super::Start::Word(w) => Some(w),
                _ => None,
            };
            assert_eq!(shortcut, by_lexer, "{sql:?}");
        }
    }

    #[test]
    fn only_rules_out_what_it_can_read() {
        // Not a word: no keyword check applies.
        assert!(!FirstWord::of("(SELECT 1)").may_be("SHOW"));
        assert!(!FirstWord::of("'SHOW'").may_be("SHOW"));
        // Unicode whitespace (`str::trim` skips it, the lexer reads it as a word): unknown.
        let nbsp = FirstWord::of("\u{a0}SHOW WARNINGS");
        assert!(nbsp.may_be("SHOW") && nbsp.may_be("KILL"));
        assert!(!nbsp.is_one_of(&["SHOW"]));
        assert!(FirstWord::of("").may_be("SHOW"));
        assert!(FirstWord::of("/* only */").may_be("KILL"));
    }
}
