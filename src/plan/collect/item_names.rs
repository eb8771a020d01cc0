//! Column names of unaliased expression items. The server names such a column by the item's
//! text (`t.id + 1`), so renaming `t` to its shard `t_0` inside the item would show the
//! client `t_0.id + 1`, a name that differs by shard and that no client asked for. An item
//! whose text the edits change gets its original text as alias: the server cuts an alias to
//! the same length as an unaliased name, so the name is the one a single server would give.
//! An item with a comment inside is refused instead (the server writes each comment as one
//! space in the name, which an alias would have to imitate).

use sqlparser::ast::Expr;
use sqlparser::tokenizer::{Location, Token, TokenWithSpan, Whitespace};

use super::Collector;
use crate::error::{Error, Result};
use crate::plan::names::write_ident;
use crate::plan::rewrite::EditKind;
use crate::plan::select_item_splice::{LIST_ENDS, SELECT_MODIFIERS};

/// An expression the server names by a column's name (`t.id`, `(t.id)`, `+t.id`: a unary
/// plus is the column itself to the server), not by its text.
pub(super) fn named_by_column(e: &Expr) -> bool {
    match e {
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => true,
        Expr::Nested(inner) => named_by_column(inner),
        Expr::UnaryOp {
            op: sqlparser::ast::UnaryOperator::Plus,
            expr,
        } => named_by_column(expr),
        _ => false,
    }
}

/// Characters of an item's text kept in its alias. The server keeps at most 255 bytes of a
/// name and cuts an alias as it cuts an unaliased item's text, so any longer prefix gives
/// the same name; this one leaves room for PREPARE's marker numbers (`restore_placeholders`
/// turns each back into one `?`) and keeps a long literal from being sent twice.
const ALIAS_CHARS: usize = 4096;

/// Longest name of a derived table's or CTE's column the server takes from an item's text;
/// a longer one it names `Name_exp_<n>`, so such an item gets no alias.
const DERIVED_NAME_CHARS: usize = 64;

/// ` AS <alias>` naming a column as the server names an unaliased item of text `text`: cut
/// (see `ALIAS_CHARS`), and each character beyond the BMP, which the server refuses in an
/// identifier and writes as `?` in a name, as `?`.
pub(crate) fn item_alias(text: &str) -> String {
    let kept: String = text
        .chars()
        .take(ALIAS_CHARS)
        .map(|c| if c.len_utf8() == 4 { '?' } else { c })
        .collect();
    let mut alias = String::with_capacity(kept.len() + 8);
    alias.push_str(" AS ");
    write_ident(&mut alias, &kept, true);
    alias
}

/// Words that may stand between an item's start and where sqlparser's span of its expression
/// begins (the span of `-x`, `NOT x`, `DATE '...'` or `(x)` can start at `x`), beside a
/// function's name before its parenthesis and a charset introducer (`_utf8mb4'x'`).
const PREFIX_WORDS: &[&str] = &[
    "NOT",
    "BINARY",
    "INTERVAL",
    "EXISTS",
    "ROW",
    "CASE",
    "DATE",
    "TIME",
    "TIMESTAMP",
    "FN",
];

/// An item's significant tokens, `first..=last`, and whether a comment lies between them.
struct ItemTokens {
    first: usize,
    last: usize,
    commented: bool,
}

fn is_comment(t: &Token) -> bool {
    matches!(
        t,
        Token::Whitespace(Whitespace::SingleLineComment { .. } | Whitespace::MultiLineComment(_))
    )
}

fn unquoted_word_in(t: &Token, list: &[&str]) -> bool {
    match t {
        Token::Word(w) => {
            w.quote_style.is_none() && list.iter().any(|k| w.value.eq_ignore_ascii_case(k))
        }
        _ => false,
    }
}

/// The select item whose expression's span starts at token `k`: back over prefix tokens to
/// the `SELECT`, `RETURNING`, modifier or comma before it, then forward to the comma, closing parenthesis
/// or clause word after it. None when the tokens around `k` do not read as a select item.
fn item_around(tokens: &[TokenWithSpan], k: usize) -> Option<ItemTokens> {
    // Back from `k`: a span may start inside its item (`CAST(x AS CHAR)` at `x`, `TRIM(BOTH
    // 'a' FROM x)` at `x`), so tokens that are no prefix are allowed while an opening
    // parenthesis to their left turns out to enclose them (`loose` until then).
    let mut first = k;
    let mut pending = 0usize;
    let mut loose = false;
    let mut after_open = false;
    let mut i = k;
    while i > 0 {
        i -= 1;
        let t = &tokens[i].token;
        if matches!(t, Token::Whitespace(_)) {
            continue;
        }
        let stop = matches!(t, Token::Comma)
            || unquoted_word_in(t, &["SELECT", "RETURNING"])
            || unquoted_word_in(t, SELECT_MODIFIERS);
        if stop && pending == 0 {
            break;
        }
        let opened = after_open;
        after_open = false;
        match t {
            Token::RParen => {
                pending += 1;
                loose = true;
            }
            Token::LParen if pending > 0 => pending -= 1,
            Token::LParen => {
                loose = false;
                after_open = true;
            }
            Token::Minus | Token::Plus | Token::Tilde | Token::ExclamationMark | Token::LBrace
                if pending == 0 => {}
            Token::Word(w)
                if pending == 0
                    && (opened
                        || unquoted_word_in(t, PREFIX_WORDS)
                        || (w.quote_style.is_none() && w.value.starts_with('_'))) => {}
            _ => loose = true,
        }
        first = i;
    }
    if loose || pending > 0 {
        return None;
    }
    let mut depth = 0usize;
    let mut last = None;
    let mut after_period = false;
    for (j, t) in tokens.iter().enumerate().skip(first) {
        let ends = match &t.token {
            Token::Whitespace(_) => continue,
            Token::LParen => {
                depth += 1;
                false
            }
            Token::RParen if depth == 0 => true,
            Token::RParen => {
                depth -= 1;
                false
            }
            Token::Comma | Token::SemiColon => depth == 0,
            w @ Token::Word(_) => depth == 0 && !after_period && unquoted_word_in(w, LIST_ENDS),
            Token::EOF => true,
            _ => false,
        };
        if ends {
            break;
        }
        after_period = t.token == Token::Period;
        last = Some(j);
    }
    let last = last?;
    if depth != 0 || last < k {
        return None;
    }
    let commented = tokens[first..=last].iter().any(|t| is_comment(&t.token));
    Some(ItemTokens {
        first,
        last,
        commented,
    })
}

impl Collector<'_, '_> {
    /// Gives each unaliased expression item whose text the edits change its original text as
    /// alias (see the module's comment).
    pub(super) fn alias_renamed_items(&mut self, tokens: &[TokenWithSpan]) -> Result<()> {
        for (at, top) in std::mem::take(&mut self.unnamed_items) {
            let Some(k) = tokens.iter().position(|t| t.span.start == at) else {
                continue;
            };
            let Some(item) = item_around(tokens, k) else {
                continue;
            };
            let start = self.offsets.byte(tokens[item.first].span.start);
            let end = self.offsets.byte(tokens[item.last].span.end);
            let (Some(start), Some(end)) = (start, end) else {
                continue;
            };
            if !self.edits.change_within(start, end) {
                continue;
            }
            let text = self.sql.get(start..end).unwrap_or_default();
            if item.commented {
                return Err(Error::unsupported(format!(
                    "a comment inside the select item `{}` without an alias: shardgate renames \
                     its tables, so the column would be named by another text; add AS <name>",
                    text.chars().take(80).collect::<String>()
                )));
            }
            if !top && text.chars().nth(DERIVED_NAME_CHARS).is_some() {
                continue;
            }
            self.edits
                .push(end, end, EditKind::ItemAlias(item_alias(text)));
        }
        Ok(())
    }

    /// Notes an unaliased select item for `alias_renamed_items`; `top` when it names a
    /// column of the statement's result (not of a derived table or CTE).
    pub(super) fn note_unnamed_item(&mut self, e: &Expr, top: bool) {
        if named_by_column(e) {
            return;
        }
        let mut at: Location = sqlparser::ast::Spanned::span(e).start;
        if at.line == 0 {
            // Some expressions have no span of their own (`x REGEXP 'y'`): the first span
            // inside one stands in for it (`item_around` goes back from there).
            let _ = sqlparser::ast::visit_expressions(e, |sub: &Expr| {
                let start = sqlparser::ast::Spanned::span(sub).start;
                if start.line > 0 && (at.line == 0 || start < at) {
                    at = start;
                }
                std::ops::ControlFlow::<()>::Continue(())
            });
        }
        if at.line > 0 {
            self.unnamed_items.push((at, top));
        }
    }
}
