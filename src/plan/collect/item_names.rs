//! Column names of unaliased expression items. The server names such a column by the item's
//! text (`t.id + 1`), so renaming `t` to its shard `t_0` inside the item would show the
//! client `t_0.id + 1`, a name that differs by shard and that no client asked for. An item
//! whose text the edits change gets its original text as alias: the server cuts an alias to
//! the same length as an unaliased name, so the name is the one a single server would give.
//! An item with a comment inside is refused instead (the server writes each comment as one
//! space in the name, which an alias would have to imitate).

use std::collections::HashSet;

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
/// the same name, and a long literal is not sent twice. Each run of digits in the text adds
/// `CHARS_PER_NUMBER`: at PREPARE each `?` is a marker number of a few digits, which
/// `restore_placeholders` turns back into one `?` after the cut.
const ALIAS_CHARS: usize = 256;
const CHARS_PER_NUMBER: usize = 16;

/// Longest name of a CTE's column the server takes from an item's text; a longer one it
/// names `Name_exp_<n>`, so such an item gets no alias. (A derived table's column keeps its
/// text however long.)
const CTE_NAME_CHARS: usize = 64;

/// The bytes of alias one statement may add. Past them items keep the server's name for the
/// rewritten text: a statement of thousands of long items must not grow past the server's
/// max_allowed_packet because of its names.
const ALIAS_BUDGET: usize = 1 << 20;

/// ` AS <alias>` naming a column as the server names an unaliased item of text `text`: cut
/// (see `ALIAS_CHARS`), and each character beyond the BMP, which the server refuses in an
/// identifier and writes as `?` in a name, as `?`.
pub(crate) fn item_alias(text: &str) -> String {
    let numbers = text
        .as_bytes()
        .windows(2)
        .filter(|w| !w[0].is_ascii_digit() && w[1].is_ascii_digit())
        .count()
        + usize::from(text.starts_with(|c: char| c.is_ascii_digit()));
    let kept: String = text
        .chars()
        .take(ALIAS_CHARS + CHARS_PER_NUMBER * numbers)
        .map(|c| if c.len_utf8() == 4 { '?' } else { c })
        .collect();
    let mut alias = String::with_capacity(kept.len() + 8);
    alias.push_str(" AS ");
    write_ident(&mut alias, &kept, true);
    alias
}

/// Where a select list's columns are named: a CTE's columns are named by a rule of their
/// own (`CTE_NAME_CHARS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ItemKind {
    Listed,
    Cte,
}

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

/// True when the significant token before `toks[i]` is a word of `list` or a modifier
/// (`SELECT DISTINCT SQL_NO_CACHE x`): then the modifier at `i` is one, not `ALL` in
/// `x >= ALL (...)`.
fn previous_word_in(toks: &[TokenWithSpan], i: usize, list: &[&str]) -> bool {
    toks[..i]
        .iter()
        .rev()
        .find(|t| !matches!(t.token, Token::Whitespace(_)))
        .is_some_and(|t| {
            unquoted_word_in(&t.token, list) || unquoted_word_in(&t.token, SELECT_MODIFIERS)
        })
}

fn unquoted_word_in(t: &Token, list: &[&str]) -> bool {
    match t {
        Token::Word(w) => {
            w.quote_style.is_none() && list.iter().any(|k| w.value.eq_ignore_ascii_case(k))
        }
        _ => false,
    }
}

/// The select item holding token `k` (where sqlparser's span of its expression starts, which
/// can be inside the item: `CAST(x AS CHAR)` at `x`, `(x REGEXP 'y') + t.id` at `t.id`):
/// back over whole parenthesised groups to the comma, `SELECT`, `RETURNING` or modifier
/// that begins a select list's item (`in_select_list`), then forward to the comma, closing
/// parenthesis or clause word after it. None when the tokens do not read so. `listed` holds
/// the commas known to separate items of a select list, so that checking each item of a
/// long list stays linear.
fn item_around(
    tokens: &[TokenWithSpan],
    k: usize,
    listed: &mut HashSet<usize>,
) -> Option<ItemTokens> {
    let mut first = k;
    let mut pending = 0usize;
    let mut i = k;
    loop {
        if i == 0 {
            return None;
        }
        i -= 1;
        let t = &tokens[i].token;
        match t {
            Token::Whitespace(_) => continue,
            Token::RParen => pending += 1,
            Token::LParen if pending > 0 => pending -= 1,
            Token::Comma if pending == 0 && in_select_list(tokens, i, listed) => break,
            Token::Word(_) if pending == 0 && unquoted_word_in(t, &["SELECT", "RETURNING"]) => {
                break
            }
            Token::Word(_)
                if pending == 0
                    && unquoted_word_in(t, SELECT_MODIFIERS)
                    && previous_word_in(tokens, i, &["SELECT"]) =>
            {
                break
            }
            _ => {}
        }
        first = i;
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
            if matches!(t.token, Token::Comma) {
                listed.insert(j);
            }
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

/// True when the comma at `stop` separates items of a select list: back from it, over whole
/// parenthesised groups only, lies the list's `SELECT` or a comma known to be the list's. A comma inside a tuple or
/// a call (`(a REGEXP 'r', t.id)`, where sqlparser's span of the item can start at `t.id`)
/// meets its opening parenthesis first.
fn in_select_list(tokens: &[TokenWithSpan], stop: usize, listed: &mut HashSet<usize>) -> bool {
    if listed.contains(&stop) {
        return true;
    }
    let mut passed = vec![stop];
    let mut pending = 0usize;
    let mut i = stop;
    while i > 0 {
        i -= 1;
        let t = &tokens[i].token;
        let found = match t {
            Token::RParen => {
                pending += 1;
                false
            }
            Token::LParen if pending == 0 => return false,
            Token::LParen => {
                pending -= 1;
                false
            }
            Token::Comma if pending == 0 => {
                passed.push(i);
                listed.contains(&i)
            }
            Token::Word(_) => pending == 0 && unquoted_word_in(t, &["SELECT", "RETURNING"]),
            _ => false,
        };
        if found {
            listed.extend(passed);
            return true;
        }
    }
    false
}

impl Collector<'_, '_> {
    /// Gives each unaliased expression item whose text the edits change its original text as
    /// alias (see the module's comment).
    pub(super) fn alias_renamed_items(&mut self, tokens: &[TokenWithSpan]) -> Result<()> {
        // Without edits no item's text changes (an unsharded table's statement).
        if self.unnamed_items.is_empty() || self.edits.is_empty() {
            return Ok(());
        }
        // Sorted, so that each item's check for edits inside it is a search.
        self.edits.finish()?;
        // Tokens are in source order; sqlparser's EOF has no position.
        let located = match tokens.last() {
            Some(t) if t.token == Token::EOF => &tokens[..tokens.len() - 1],
            _ => tokens,
        };
        let mut listed = HashSet::new();
        let mut aliases = Vec::new();
        let mut budget = ALIAS_BUDGET;
        for (at, kind) in std::mem::take(&mut self.unnamed_items) {
            let k = located.partition_point(|t| t.span.start < at);
            if located.get(k).is_none_or(|t| t.span.start != at) {
                continue;
            }
            let Some(item) = item_around(tokens, k, &mut listed) else {
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
            if kind == ItemKind::Cte && text.chars().nth(CTE_NAME_CHARS).is_some() {
                continue;
            }
            let alias = item_alias(text);
            if alias.len() > budget {
                continue;
            }
            budget -= alias.len();
            aliases.push((end, alias));
        }
        for (end, alias) in aliases {
            self.edits.push(end, end, EditKind::ItemAlias(alias));
        }
        Ok(())
    }

    /// Notes an unaliased select item for `alias_renamed_items`.
    pub(super) fn note_unnamed_item(&mut self, e: &Expr, kind: ItemKind) {
        if named_by_column(e) {
            return;
        }
        // Some expressions have no span of their own (`x REGEXP 'y'`), so an expression's
        // span may start at a later part of it (`(x REGEXP 'y') + t.id` at `t.id`): the
        // earliest span inside the item is the nearest to where it begins (`item_around`
        // goes back from there).
        let mut at: Location = sqlparser::ast::Spanned::span(e).start;
        let _ = sqlparser::ast::visit_expressions(e, |sub: &Expr| {
            let start = sqlparser::ast::Spanned::span(sub).start;
            if start.line > 0 && (at.line == 0 || start < at) {
                at = start;
            }
            std::ops::ControlFlow::<()>::Continue(())
        });
        if at.line > 0 {
            self.unnamed_items.push((at, kind));
        }
    }
}
