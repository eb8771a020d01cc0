//! Parsing one statement with sqlparser's MySQL dialect, read by the session's sql_mode
//! (`dialect`).
//!
//! A few MySQL/MariaDB forms sqlparser 0.64 rejects are parsed from a patched copy of the
//! text in which they are replaced by something of the same length in characters, so every
//! source span still points at the right place in the original: `a MOD 3` is read as
//! `a %   3`, a trailing `LOCK IN SHARE MODE` as blanks, MariaDB's `ANALYZE SELECT ...` as
//! `EXPLAIN SELECT ...`. Forms sqlparser misreads rather than rejects are patched in its
//! token list (`token_patch`). The text sent to the servers is always the original.
//!
//! Very long operator chains are refused before parsing: sqlparser builds them without its
//! recursion limit, and walking (or dropping) a tree a hundred thousand levels deep would
//! overflow the stack.

use std::borrow::Cow;

use sqlparser::ast::Statement;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{TokenWithSpan, Tokenizer};

use super::dialect::MariaDbDialect;
use super::lexer::{significant, Kind, Lexer, Token};
use super::syntax::Syntax;
use crate::error::Error;

/// More binary operators than this in one statement are refused. Measured: a debug build
/// walks and drops a 40,000-operator chain on a 2 MiB stack, and overflows at 80,000.
const MAX_OPERATORS: usize = 10_000;

pub(crate) struct Parsed {
    pub stmt: Statement,
    pub tokens: Vec<TokenWithSpan>,
}

pub(crate) enum ParseFail {
    /// sqlparser's message.
    Syntax(String),
    /// Refused without parsing.
    Refused(Error),
}

pub(crate) fn parse(sql: &str, analyze_as_explain: bool) -> Result<Parsed, ParseFail> {
    // Each operator takes at least one byte: short texts need no count.
    if sql.len() > MAX_OPERATORS && operator_count(sql) > MAX_OPERATORS {
        return Err(ParseFail::Refused(Error::unsupported(format!(
            "a statement with more than {MAX_OPERATORS} operators"
        ))));
    }
    let first = if analyze_as_explain {
        Cow::Owned(patch(sql, true))
    } else {
        Cow::Borrowed(sql)
    };
    match parse_text(&first) {
        Ok(p) => Ok(p),
        Err(e) => {
            let patched = patch(sql, analyze_as_explain);
            if patched != *first {
                if let Ok(p) = parse_text(&patched) {
                    return Ok(p);
                }
            }
            Err(ParseFail::Syntax(e))
        }
    }
}

pub(super) fn parse_text(text: &str) -> Result<Parsed, String> {
    let dialect = MariaDbDialect {
        mode: Syntax::current().mode,
    };
    let mut tokens = Tokenizer::new(&dialect, text)
        .tokenize_with_location()
        .map_err(|e| e.to_string())?;
    super::token_patch::patch(&mut tokens);
    let mut parser = Parser::new(&dialect).with_tokens_with_locations(tokens);
    let mut stmts = parser.parse_statements().map_err(|e| e.to_string())?;
    let tokens = parser.into_tokens();
    match stmts.len() {
        0 => Err("Query was empty".to_string()),
        1 => Ok(Parsed {
            stmt: stmts.pop().expect("one statement"),
            tokens,
        }),
        _ => Err("several statements in one query; send them separately".to_string()),
    }
}

/// Binary-operator-like tokens: AND/OR/XOR and operator punctuation after an operand.
fn operator_count(sql: &str) -> usize {
    let mut count = 0;
    let mut prev_operand = false;
    for t in significant(sql) {
        let operand = match t.kind {
            Kind::Word => {
                if ["AND", "OR", "XOR", "DIV", "MOD"]
                    .iter()
                    .any(|w| t.is_word(sql, w))
                {
                    count += 1;
                    false
                } else {
                    true
                }
            }
            Kind::Number | Kind::Str | Kind::QuotedIdent | Kind::Variable => true,
            Kind::Punct(b')') => true,
            Kind::Punct(b'(' | b',' | b';') => false,
            Kind::Punct(_) => {
                if prev_operand {
                    count += 1;
                }
                false
            }
            _ => prev_operand,
        };
        prev_operand = operand;
    }
    count
}

/// The same-length rewrite described in the module documentation.
fn patch(sql: &str, analyze_as_explain: bool) -> String {
    let mut out = sql.to_string();
    let toks: Vec<Token> = Lexer::new(sql).filter(|t| !t.is_trivia()).collect();
    let blank = |out: &mut String, t: &Token, with: &str| {
        // Same length in bytes and characters: the replaced words are ASCII.
        if t.end - t.start == with.len() && sql.is_char_boundary(t.start) {
            out.replace_range(t.start..t.end, with);
        }
    };
    for (i, t) in toks.iter().enumerate() {
        if i == 0 && analyze_as_explain && t.is_word(sql, "ANALYZE") {
            blank(&mut out, t, "EXPLAIN");
        } else if t.is_word(sql, "MOD")
            && toks.get(i + 1).is_none_or(|n| n.kind != Kind::Punct(b'('))
        {
            blank(&mut out, t, "%  ");
        }
    }
    if let Some(tail) = lock_in_share_mode(sql, &toks) {
        for t in tail {
            let spaces = " ".repeat(t.end - t.start);
            blank(&mut out, t, &spaces);
        }
    }
    out
}

/// The tokens of a trailing `LOCK IN SHARE MODE` (before an optional `;`), if any.
fn lock_in_share_mode<'t>(sql: &str, toks: &'t [Token]) -> Option<&'t [Token]> {
    let mut end = toks.len();
    if end > 0 && toks[end - 1].kind == Kind::Punct(b';') {
        end -= 1;
    }
    let tail = toks.get(end.checked_sub(4)?..end)?;
    ["LOCK", "IN", "SHARE", "MODE"]
        .iter()
        .zip(tail)
        .all(|(w, t)| t.is_word(sql, w))
        .then_some(tail)
}

/// True for a locking read written `... LOCK IN SHARE MODE` (which sqlparser cannot parse).
pub(crate) fn is_lock_in_share_mode(sql: &str) -> bool {
    let end = sql.trim_end().trim_end_matches(';').trim_end();
    if end.len() < 4
        || !end.is_char_boundary(end.len() - 4)
        || !end[end.len() - 4..].eq_ignore_ascii_case("mode")
    {
        return false;
    }
    let toks: Vec<Token> = significant(sql).collect();
    lock_in_share_mode(sql, &toks).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patches_keep_lengths() {
        let sql = "SELECT a MOD 3, MOD(a, 2) FROM t LOCK IN SHARE MODE;";
        let p = patch(sql, false);
        assert_eq!(p, "SELECT a %   3, MOD(a, 2) FROM t                   ;");
        assert!(parse(sql, false).is_ok());
        assert_eq!(patch("ANALYZE SELECT 1", true), "EXPLAIN SELECT 1");
    }

    #[test]
    fn counts_operators_not_signs() {
        assert_eq!(
            operator_count("SELECT a - 1, (b) * -2, -3 FROM t WHERE x AND y"),
            3
        );
    }

    #[test]
    fn refuses_huge_chains() {
        let sql = format!("SELECT 1 FROM t WHERE {}a=1", "a=1 OR ".repeat(6_000));
        assert!(matches!(parse(&sql, false), Err(ParseFail::Refused(_))));
    }
}
