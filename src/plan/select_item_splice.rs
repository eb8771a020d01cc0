//! Splicing a value into a statement's text where the server would read a connection's own
//! (`CONNECTION_ID()`, `@@in_transaction`), so that any backend connection answers what one
//! server would. The column name must not change either: a bare select item gets its
//! original text as alias, and a larger select item without an alias is refused, since its
//! name would show the spliced text (the server names an unaliased item by its text, and
//! how it treats comments and spaces there is not worth imitating).

use std::borrow::Cow;

use super::lexer::{significant, Kind, Token};
use crate::error::{Error, Result};

/// How many tokens the read starting at `toks[i]` spans, if one starts there.
pub(crate) type ReadAt = dyn Fn(&str, &[Token], usize) -> Option<usize>;

/// What to splice: where the value is read and what replaces it.
pub(crate) struct Splice<'a> {
    pub target_len: &'a ReadAt,
    /// The text that replaces the read's tokens (`sql[start..end]`).
    pub replacement: &'a dyn Fn(&str) -> String,
    /// The reads' spellings and why they are spliced, for the refusal.
    pub what: &'a str,
    pub why: &'a str,
}

/// `splice`, owned: `None` when `sql` has no read to replace.
pub(crate) fn spliced(sql: &str, s: &Splice<'_>) -> Result<Option<String>> {
    Ok(match splice(sql, s)? {
        Cow::Borrowed(_) => None,
        Cow::Owned(out) => Some(out),
    })
}

/// `sql` with every read `s.target_len` finds replaced, or borrowed when it has none.
pub(crate) fn splice<'q>(sql: &'q str, s: &Splice<'_>) -> Result<Cow<'q, str>> {
    let toks: Vec<Token> = significant(sql).collect();
    let mut edits: Vec<Edit> = Vec::new();
    let mut frames = vec![Frame::default()];
    let mut i = 0;
    while i < toks.len() {
        let t = toks[i];
        if let Some(len) = (s.target_len)(sql, &toks, i) {
            for f in frames.iter_mut().filter(|f| f.select_list) {
                f.item_has_target = true;
            }
            edits.push(Edit {
                start: t.start,
                end: toks[i + len - 1].end,
                text: (s.replacement)(&sql[t.start..toks[i + len - 1].end]),
            });
            i += len;
            continue;
        }
        let depth = frames.len() - 1;
        match t.kind {
            Kind::Punct(b'(') => frames.push(Frame::default()),
            Kind::Punct(b')') => {
                close_item(sql, &toks, i, &mut frames[depth], &mut edits, s)?;
                if depth > 0 {
                    frames.pop();
                }
            }
            Kind::Punct(b',') if frames[depth].select_list => {
                close_item(sql, &toks, i, &mut frames[depth], &mut edits, s)?;
                frames[depth].item_start = i + 1;
            }
            Kind::Punct(b';') => {
                close_item(sql, &toks, i, &mut frames[depth], &mut edits, s)?;
                frames[depth].select_list = false;
            }
            // A RETURNING list names its columns as a select list does.
            Kind::Word if t.is_word(sql, "SELECT") || t.is_word(sql, "RETURNING") => {
                let f = &mut frames[depth];
                f.select_list = true;
                f.item_has_target = false;
                f.item_start = i + 1;
            }
            Kind::Word if frames[depth].select_list => {
                let f = &mut frames[depth];
                if f.item_start == i && SELECT_MODIFIERS.iter().any(|m| t.is_word(sql, m)) {
                    f.item_start = i + 1;
                } else if LIST_ENDS.iter().any(|w| t.is_word(sql, w)) {
                    close_item(sql, &toks, i, f, &mut edits, s)?;
                    f.select_list = false;
                }
            }
            _ => {}
        }
        i += 1;
    }
    let last = frames.len() - 1;
    close_item(sql, &toks, toks.len(), &mut frames[last], &mut edits, s)?;
    if edits.is_empty() {
        return Ok(Cow::Borrowed(sql));
    }
    edits.sort_by_key(|e| (e.start, e.end));
    let mut out = String::with_capacity(sql.len() + edits.len() * 48);
    let mut at = 0;
    for e in &edits {
        out.push_str(&sql[at..e.start]);
        out.push_str(&e.text);
        at = e.end;
    }
    out.push_str(&sql[at..]);
    Ok(Cow::Owned(out))
}

/// Words after which a select list's items are over.
pub(crate) const LIST_ENDS: &[&str] = &[
    "FROM",
    "INTO",
    "WHERE",
    "GROUP",
    "HAVING",
    "ORDER",
    "LIMIT",
    "UNION",
    "EXCEPT",
    "INTERSECT",
    "WINDOW",
    "FOR",
    "LOCK",
    "PROCEDURE",
];

/// Words between SELECT and its first item.
pub(crate) const SELECT_MODIFIERS: &[&str] = &[
    "ALL",
    "DISTINCT",
    "DISTINCTROW",
    "HIGH_PRIORITY",
    "STRAIGHT_JOIN",
    "SQL_SMALL_RESULT",
    "SQL_BIG_RESULT",
    "SQL_BUFFER_RESULT",
    "SQL_CACHE",
    "SQL_NO_CACHE",
    "SQL_CALC_FOUND_ROWS",
];

/// One parenthesis level: whether it is in a select list, and where the current item began.
#[derive(Default)]
struct Frame {
    select_list: bool,
    item_start: usize,
    item_has_target: bool,
}

struct Edit {
    start: usize,
    end: usize,
    text: String,
}

/// A select item (tokens from the frame's item start to `end`) ends: a bare target gets its
/// original text as alias; a larger one must carry an alias already.
fn close_item(
    sql: &str,
    toks: &[Token],
    end: usize,
    f: &mut Frame,
    edits: &mut Vec<Edit>,
    s: &Splice<'_>,
) -> Result<()> {
    if !f.select_list || !f.item_has_target {
        return Ok(());
    }
    f.item_has_target = false;
    let item = &toks[f.item_start.min(end)..end];
    let Some(first) = item.first() else {
        return Ok(());
    };
    if (s.target_len)(sql, toks, f.item_start) == Some(item.len()) {
        let name = &sql[first.start..item[item.len() - 1].end];
        edits.push(Edit {
            start: item[item.len() - 1].end,
            end: item[item.len() - 1].end,
            text: format!(" AS `{}`", name.replace('`', "``")),
        });
        return Ok(());
    }
    if has_alias(sql, item) {
        return Ok(());
    }
    let text = &sql[first.start..item[item.len() - 1].end];
    Err(Error::unsupported(format!(
        "{} inside the select item `{}` without an alias ({}, which would change the column \
         name; add AS <name>)",
        s.what,
        text.chars().take(80).collect::<String>(),
        s.why
    )))
}

/// `expr AS name`, or `f(...) name`: the forms whose column name is the alias.
fn has_alias(sql: &str, item: &[Token]) -> bool {
    let n = item.len();
    if n < 2 {
        return false;
    }
    let (prev, last) = (item[n - 2], item[n - 1]);
    let name_like = matches!(last.kind, Kind::Word | Kind::QuotedIdent | Kind::Str);
    // After `)` or a lone variable nothing but an alias can follow.
    let ends_expression = prev.kind == Kind::Punct(b')') || (n == 2 && prev.kind == Kind::Variable);
    name_like && (prev.is_word(sql, "AS") || ends_expression)
}
