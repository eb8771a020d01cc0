//! The main SELECT's clauses as byte ranges of the text, found by a depth-0 token scan
//! (parentheses hide subqueries, function arguments and window specs). The scatter planner
//! splices hidden select items and rewritten ORDER BY / LIMIT into these positions, so the
//! rest of the text reaches the shards byte for byte.

use crate::error::{Error, Result};
use crate::plan::lexer::{Kind, Lexer, Token};

/// A clause: where its keyword starts, where its body starts and where it ends (trimmed).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Clause {
    pub start: usize,
    pub body: usize,
    pub end: usize,
}

#[derive(Debug, Default)]
pub(crate) struct Clauses {
    /// The select list, modifiers excluded.
    pub items: Vec<(usize, usize)>,
    /// Where `FROM` starts: hidden items go just before it.
    pub from: usize,
    pub group: Option<Clause>,
    pub having: Option<Clause>,
    pub order: Option<Clause>,
    pub limit: Option<Clause>,
    /// Where the text after LIMIT (FOR UPDATE, ...) or the statement ends.
    pub tail: usize,
    pub rollup: bool,
    /// The depth-0 tokens, for splitting lists without lexing again.
    pub toks: Vec<Token>,
}

const MODIFIERS: &[&str] = &[
    "ALL",
    "DISTINCT",
    "DISTINCTROW",
    "HIGH_PRIORITY",
    "STRAIGHT_JOIN",
    "SQL_SMALL_RESULT",
    "SQL_BIG_RESULT",
    "SQL_BUFFER_RESULT",
    "SQL_NO_CACHE",
    "SQL_CACHE",
];

/// The depth-0 significant tokens of `sql` with their indexes.
fn top_level(sql: &str) -> Result<Vec<Token>> {
    let mut depth = 0i32;
    let mut out = Vec::new();
    for t in Lexer::new(sql) {
        match t.kind {
            Kind::ExecStart => {
                return Err(Error::unsupported(
                    "an executable comment (/*! ... */) in a query over several shards",
                ))
            }
            Kind::Space | Kind::Comment | Kind::ExecEnd => {}
            Kind::Punct(b'(') => {
                if depth == 0 {
                    out.push(t);
                }
                depth += 1;
            }
            Kind::Punct(b')') => {
                depth -= 1;
                if depth == 0 {
                    out.push(t);
                }
            }
            _ if depth == 0 => out.push(t),
            _ => {}
        }
    }
    Ok(out)
}

/// Splits `[from, to)` at depth-0 commas of `toks` into trimmed ranges.
pub(crate) fn split_commas(toks: &[Token], from: usize, to: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let mut last_end = from;
    for t in toks.iter().filter(|t| t.start >= from && t.end <= to) {
        if t.kind == Kind::Punct(b',') {
            if let Some(s) = start.take() {
                out.push((s, last_end));
            }
        } else {
            start.get_or_insert(t.start);
            last_end = t.end;
        }
    }
    if let Some(s) = start {
        out.push((s, last_end));
    }
    out
}

pub(crate) fn scan(sql: &str) -> Result<Clauses> {
    let toks = top_level(sql)?;
    let word = |i: usize, kw: &str| toks.get(i).is_some_and(|t| t.is_word(sql, kw));
    let Some(select) = toks.iter().position(|t| t.is_word(sql, "SELECT")) else {
        return Err(Error::unsupported(
            "a query over several shards that is not a plain SELECT",
        ));
    };
    if toks[..select].iter().any(|t| t.kind == Kind::Punct(b'(')) && !word(0, "WITH") {
        return Err(Error::unsupported(
            "a parenthesised query over several shards",
        ));
    }
    let mut i = select + 1;
    while toks
        .get(i)
        .is_some_and(|t| MODIFIERS.iter().any(|m| t.is_word(sql, m)))
    {
        i += 1;
    }
    let items_start = toks.get(i).map_or(sql.len(), |t| t.start);
    let Some(from_i) = (i..toks.len()).find(|&k| word(k, "FROM")) else {
        return Err(Error::unsupported(
            "a query over several shards without FROM",
        ));
    };
    let from = toks[from_i].start;
    let mut c = Clauses {
        items: split_commas(&toks, items_start, from),
        from,
        ..Clauses::default()
    };

    // Clause keywords after FROM, in order.
    let mut marks: Vec<(&'static str, usize, usize)> = Vec::new();
    let mut k = from_i + 1;
    while k < toks.len() {
        let t = toks[k];
        let two = |kw2: &str| word(k + 1, kw2);
        if t.is_word(sql, "GROUP") && two("BY") {
            marks.push(("group", t.start, toks[k + 1].end));
            k += 2;
            continue;
        }
        if t.is_word(sql, "ORDER") && two("BY") {
            marks.push(("order", t.start, toks[k + 1].end));
            k += 2;
            continue;
        }
        for kw in [
            "HAVING",
            "LIMIT",
            "WINDOW",
            "FOR",
            "LOCK",
            "INTO",
            "PROCEDURE",
            "WHERE",
        ] {
            if t.is_word(sql, kw) {
                marks.push((kw, t.start, t.end));
            }
        }
        if t.is_word(sql, "ROLLUP") {
            c.rollup = true;
        }
        if t.kind == Kind::Punct(b';') {
            marks.push((";", t.start, t.end));
            break;
        }
        k += 1;
    }
    let end_of = |idx: usize| -> usize {
        let next = marks.get(idx + 1).map_or(sql.len(), |m| m.1);
        // Trim back to the last token before `next`.
        toks.iter()
            .filter(|t| t.end <= next)
            .map(|t| t.end)
            .max()
            .unwrap_or(next)
    };
    c.tail = sql.len();
    for (idx, &(kw, start, body)) in marks.iter().enumerate() {
        let clause = Clause {
            start,
            body,
            end: end_of(idx),
        };
        match kw {
            "group" => c.group = Some(clause),
            "HAVING" => c.having = Some(clause),
            "order" => c.order = Some(clause),
            "LIMIT" => c.limit = Some(clause),
            "FOR" | "LOCK" | "INTO" | "PROCEDURE" | ";" | "WINDOW" => {
                c.tail = c.tail.min(start);
            }
            _ => {}
        }
    }
    if c.tail == sql.len() {
        c.tail = toks.last().map_or(sql.len(), |t| t.end);
    }
    c.toks = toks;
    Ok(c)
}

/// Depth-0 tokens of a range, for splitting ORDER BY / GROUP BY lists.
pub(crate) fn tokens_in(toks: &[Token], from: usize, to: usize) -> Vec<Token> {
    let first = toks.partition_point(|t| t.start < from);
    toks[first..]
        .iter()
        .take_while(|t| t.end <= to)
        .copied()
        .collect()
}

/// The byte range of a call starting at the function name `start`: through its closing
/// parenthesis.
pub(crate) fn call_range(sql: &str, start: usize) -> Option<(usize, usize)> {
    let mut depth = 0i32;
    let mut opened = false;
    for t in Lexer::new(&sql[start..]) {
        match t.kind {
            Kind::Punct(b'(') => {
                depth += 1;
                opened = true;
            }
            Kind::Punct(b')') => {
                depth -= 1;
                if depth == 0 && opened {
                    return Some((start, start + t.end));
                }
            }
            _ => {}
        }
    }
    None
}

/// Lower-cased significant tokens joined by spaces: two spellings of one expression that
/// differ only in case and spacing compare equal (string literals keep their case).
pub(crate) fn normalized(sql: &str, (s, e): (usize, usize)) -> String {
    let mut out = String::new();
    for t in Lexer::new(&sql[s..e]).filter(|t| !t.is_trivia()) {
        if !out.is_empty() {
            out.push(' ');
        }
        let text = t.text(&sql[s..e]);
        match t.kind {
            Kind::Str => out.push_str(text),
            Kind::QuotedIdent => {
                out.push_str(&text.trim_matches('`').replace("``", "`").to_lowercase())
            }
            _ => out.push_str(&text.to_lowercase()),
        }
    }
    out
}
