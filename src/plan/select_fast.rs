//! The fast path for the commonest query: a single-table SELECT whose WHERE fixes the shard
//! key, planned from the lexer's tokens without sqlparser (a parse costs several µs; this
//! costs well under one).
//!
//! It accepts only a narrow shape and returns `None` for anything else, which then takes the
//! parsed path; for what it accepts, it must plan exactly what the parsed path plans (a
//! property test compares them):
//!
//! ```text
//! SELECT <items> [FROM [db.]table [[AS] alias] [WHERE <conjunct> [AND <conjunct>]...]] [<tail>]
//! ```
//!
//! - nowhere a subquery, UNION, DATABASE()/SCHEMA(), an executable comment, or a word naming
//!   a sharded/broadcast table or a logical database other than the FROM table itself (those
//!   need renames the walk would find);
//! - in the WHERE clause, outside parentheses, no OR, XOR, NOT, CASE, BETWEEN, `|`, `&`, `!`
//!   or `:`, so that splitting at AND yields the true top-level conjuncts;
//! - a key conjunct is exactly `key = literal`, `literal = key`, `key <=> literal` or
//!   `key IN (literal, ...)`, the key optionally qualified by the alias or table name;
//! - the tail (GROUP BY, ORDER BY, LIMIT, FOR UPDATE, ...) is copied as is, which is fine on
//!   one shard; a query selecting several shards goes to the parsed path, which knows which
//!   tails need merging.
//!
//! What it decides about a text's shape is kept (`select_shapes`): the next text that differs
//! only in its literals' values is planned from that decision, its key's shards read again.

use super::fast_route;
use super::lexer::{ident_value, Kind, Lexer, Token};
use super::literal::{read_shards, token_literal, Literal};
use super::names::is_rule_table_anywhere;
use super::route::single;
use super::select_shapes::{self, Decision};
use super::shardset::ShardSet;
use super::tables::{layout_of, Layout};
use super::{Plan, PlanContext};
use crate::config::model::ShardSpec;

/// Reserved words that end the WHERE clause (or follow the table when there is no WHERE).
const CLAUSE_END: &[&str] = &["GROUP", "ORDER", "LIMIT", "FOR", "LOCK", "HAVING", "INTO"];

/// Words that, outside parentheses after WHERE, would make AND-splitting wrong.
/// (BETWEEN's own AND is paired with it in `key_shards`.)
const TOP_LEVEL_NEVER: &[&str] = &["OR", "XOR", "NOT", "CASE"];

pub(crate) fn plan(sql: &str, ctx: &PlanContext<'_>) -> Option<Plan> {
    // After USE information_schema, unqualified names are system tables: the parsed path.
    if ctx.system_schema.is_some() {
        return None;
    }
    let toks = fast_route::statement_tokens(sql)?;
    if let Some(planned) = select_shapes::replay(sql, &toks, ctx, |d| replay(sql, &toks, ctx, d)) {
        return planned;
    }
    let toks = fast_route::simple_shape(sql, toks, &["SELECT"], &[])?;
    let toks = &toks[..];
    let w = |i: usize, kw: &str| toks.get(i).is_some_and(|t| t.is_word(sql, kw));
    let Some(from) = find_top_level(sql, toks, 1, &["FROM"]) else {
        return tableless(sql, toks, ctx);
    };

    // [db.]table [[AS] alias]
    let (db_tok, table_tok, mut i) = fast_route::table_at(toks, from + 1)?;
    let table_at = i - 1;
    let ends_clause =
        |t: &Token| t.is_word(sql, "WHERE") || CLAUSE_END.iter().any(|k| t.is_word(sql, k));
    let mut alias = None;
    if w(i, "AS") {
        alias = Some((*toks.get(i + 1)?, i + 1));
        i += 2;
    } else if toks.get(i).is_some_and(|t| is_ident(t) && !ends_clause(t)) {
        alias = Some((toks[i], i));
        i += 1;
    }
    if alias.is_some_and(|(a, _)| !is_ident(&a) || is_keyword(&a, sql)) {
        return None;
    }
    // Then WHERE, a clause keyword, or the end.
    let (cond, tail) = match toks.get(i) {
        None => (i..i, i),
        Some(t) if t.is_word(sql, "WHERE") => {
            let tail = find_top_level(sql, toks, i + 1, CLAUSE_END).unwrap_or(toks.len());
            (i + 1..tail, tail)
        }
        Some(t) if ends_clause(t) => (i..i, i),
        Some(_) => return None,
    };
    // Parentheses must balance wherever the text goes; the AND-splitting checks matter only
    // where a WHERE picks shards (below): an unsharded table's statement goes whole.
    if !balanced(toks) {
        return None;
    }

    let table = ident_value(&table_tok, sql);
    if table.eq_ignore_ascii_case("dual") {
        return None;
    }
    let db = fast_route::database_of(sql, db_tok.as_ref(), ctx)?;
    let layout = layout_of(db, &table);
    // A sharded table read without WHERE is a read of every shard, which the parsed path
    // plans (and its plan cache keeps): the scans below would be spent for nothing.
    if matches!(layout, Layout::Sharded(..)) && cond.is_empty() {
        return None;
    }
    if fast_route::other_names_need_renames(sql, toks, &table_tok, db_tok.as_ref(), ctx) {
        return None;
    }
    // FOR UPDATE, FOR SHARE, LOCK IN SHARE MODE: locking reads run on the masters.
    let locking = toks[tail..]
        .iter()
        .any(|t| t.is_word(sql, "UPDATE") || t.is_word(sql, "SHARE"));
    let edits = fast_route::qualifier_edits(db_tok.as_ref());
    let mut decision = Decision {
        db_tok: db_tok.map(|_| from + 1),
        table_tok: table_at,
        qualifier_tok: alias.map_or(table_at, |(_, at)| at),
        cond: cond.clone(),
        locking,
        default_group_reason: None,
    };
    let (rule, spec) = match layout {
        Layout::Sharded(rule, spec) => (rule, spec),
        Layout::PhysicalShard(_) => return None,
        Layout::Unsharded | Layout::Broadcast(_) => {
            let reason = match layout {
                Layout::Broadcast(r) => format!("broadcast table '{}': default group", r.name),
                _ => format!("unsharded table '{table}': default group"),
            };
            decision.default_group_reason = Some(reason.clone());
            let planned = fast_route::on_default_group(sql, db, &edits, locking, reason);
            if planned.is_some() {
                select_shapes::remember(sql, toks, ctx, decision);
            }
            return planned;
        }
    };
    let cond = &toks[cond];
    if !top_level_ok(sql, cond, true) || !top_level_ok(sql, &toks[tail..], false) {
        return None;
    }
    let qualifier = toks[decision.qualifier_tok];
    let shard = key_shards(sql, cond, &qualifier, spec, &rule.name)?
        .or_first()
        .only()?;
    let planned =
        fast_route::on_one_shard(sql, db, (rule, spec), shard, &table_tok, edits, locking);
    if planned.is_some() {
        select_shapes::remember(sql, toks, ctx, decision);
    }
    planned
}

/// What `plan` gives for a text of a shape it planned before (`select_shapes`): the same
/// steps on the kept decision, and the key's shards read from this text's values.
/// (The indices are those of a text with as many tokens, so always in range.)
fn replay(sql: &str, toks: &[Token], ctx: &PlanContext<'_>, d: &Decision) -> Option<Plan> {
    let db_tok = match d.db_tok {
        Some(at) => Some(*toks.get(at)?),
        None => None,
    };
    let db = fast_route::database_of(sql, db_tok.as_ref(), ctx)?;
    let edits = fast_route::qualifier_edits(db_tok.as_ref());
    if let Some(reason) = &d.default_group_reason {
        return fast_route::on_default_group(sql, db, &edits, d.locking, reason.clone());
    }
    let table_tok = *toks.get(d.table_tok)?;
    // The same rules and text: the layout is the one the decision was made for.
    let Layout::Sharded(rule, spec) = layout_of(db, &ident_value(&table_tok, sql)) else {
        return None;
    };
    let cond = toks.get(d.cond.clone())?;
    let shard = key_shards(sql, cond, toks.get(d.qualifier_tok)?, spec, &rule.name)?
        .or_first()
        .only()?;
    fast_route::on_one_shard(sql, db, (rule, spec), shard, &table_tok, edits, d.locking)
}

/// Outside parentheses (of `part`, after WHERE): nothing that makes splitting at AND wrong
/// (`puncts`: no `|`, `&`, `!`, `:` or `,` either; in a tail, where OR could only be a
/// mistake, words only).
pub(super) fn top_level_ok(sql: &str, part: &[Token], puncts: bool) -> bool {
    let mut depth = 0i32;
    for t in part {
        match t.kind {
            Kind::Punct(b'(') => depth += 1,
            Kind::Punct(b')') => depth -= 1,
            Kind::Punct(b'|' | b'&' | b'!' | b':' | b',') if puncts && depth == 0 => return false,
            Kind::Word if depth == 0 && TOP_LEVEL_NEVER.iter().any(|k| t.is_word(sql, k)) => {
                return false
            }
            _ => {}
        }
        if depth < 0 {
            return false;
        }
    }
    depth == 0
}

/// True when every `(` has its `)` and none comes first.
pub(super) fn balanced(toks: &[Token]) -> bool {
    let mut depth = 0i32;
    for t in toks {
        match t.kind {
            Kind::Punct(b'(') => depth += 1,
            Kind::Punct(b')') => depth -= 1,
            _ => {}
        }
        if depth < 0 {
            return false;
        }
    }
    depth == 0
}

/// Index of the first of `words` outside parentheses at or after `from`.
pub(super) fn find_top_level(
    sql: &str,
    toks: &[Token],
    from: usize,
    words: &[&str],
) -> Option<usize> {
    let mut depth = 0i32;
    for (i, t) in toks.iter().enumerate().skip(from) {
        match t.kind {
            Kind::Punct(b'(') => depth += 1,
            Kind::Punct(b')') => depth -= 1,
            Kind::Word if depth == 0 && words.iter().any(|w| t.is_word(sql, w)) => return Some(i),
            _ => {}
        }
    }
    None
}

/// Significant tokens, or `None` if an executable comment is present.
pub(super) fn tokens(sql: &str) -> Option<Vec<Token>> {
    let mut out = Vec::with_capacity(32);
    for t in Lexer::new(sql) {
        match t.kind {
            Kind::ExecStart | Kind::ExecEnd => return None,
            Kind::Space | Kind::Comment => {}
            _ => out.push(t),
        }
    }
    Some(out)
}

pub(super) fn is_ident(t: &Token) -> bool {
    matches!(t.kind, Kind::Word | Kind::QuotedIdent)
}

pub(super) fn is_keyword(t: &Token, sql: &str) -> bool {
    t.kind == Kind::Word
        && sqlparser::keywords::ALL_KEYWORDS
            .binary_search_by(|kw| {
                kw.bytes()
                    .cmp(t.text(sql).bytes().map(|c| c.to_ascii_uppercase()))
            })
            .is_ok()
}

/// A SELECT without FROM: the default group, as written.
fn tableless(sql: &str, toks: &[Token], ctx: &PlanContext<'_>) -> Option<Plan> {
    for t in toks {
        if is_ident(t) {
            let v = ident_value(t, sql);
            if is_rule_table_anywhere(ctx.rules, &v) || super::insert_fast::is_database(ctx, &v) {
                return None;
            }
        }
    }
    let db = ctx
        .current_db
        .or_else(|| ctx.rules.databases().values().next())?;
    let locking = toks
        .iter()
        .any(|t| t.is_word(sql, "UPDATE") || t.is_word(sql, "SHARE"));
    Some(single(
        db,
        db.default_group,
        None,
        sql.to_string(),
        locking,
        super::NO_TABLE_REASON.to_string(),
    ))
}

/// The shards the conjuncts of `cond` allow; `None` if no conjunct is a key condition, a key
/// value cannot be placed, or a conjunct is empty (the parsed path then explains why).
pub(super) fn key_shards(
    sql: &str,
    cond: &[Token],
    qualifier: &Token,
    spec: &ShardSpec,
    table: &str,
) -> Option<ShardSet> {
    let mut result: Option<ShardSet> = None;
    let mut depth = 0i32;
    let mut start = 0;
    // A BETWEEN outside parentheses whose AND has not come yet: the next AND is its own
    // (`d BETWEEN 1 AND 2 AND key = 5` is two conjuncts, as the server reads it).
    let mut between = false;
    for (i, t) in cond.iter().enumerate() {
        match t.kind {
            Kind::Punct(b'(') => depth += 1,
            Kind::Punct(b')') => depth -= 1,
            Kind::Word if depth == 0 && t.is_word(sql, "BETWEEN") => {
                let low = cond.get(i + 1).filter(|l| !l.is_word(sql, "AND"));
                if between || low.is_none() {
                    return None;
                }
                between = true;
            }
            _ => {}
        }
        let and_next = depth == 0 && cond.get(i + 1).is_some_and(|n| n.is_word(sql, "AND"));
        if and_next && between {
            // BETWEEN's AND needs its upper bound: `BETWEEN 1 AND AND ...` is no statement.
            if cond.get(i + 2).is_none_or(|h| h.is_word(sql, "AND")) {
                return None;
            }
            between = false;
            continue;
        }
        let end_of_conjunct = i + 1 == cond.len() || and_next;
        if end_of_conjunct {
            // `AND AND`, a leading or trailing AND: no statement the parser reads.
            let c = cond
                .get(start..=i)
                .filter(|c| c.first().is_some_and(|t| !t.is_word(sql, "AND")))?;
            if let Some(set) = conjunct(sql, c, qualifier, spec, table)? {
                match &mut result {
                    Some(acc) => acc.intersect_with(&set),
                    None => result = Some(set),
                }
            }
            start = i + 2;
        }
    }
    if between {
        return None;
    }
    result
}

/// `Some(Some(set))` for a key conjunct, `Some(None)` for a conjunct that does not mention
/// the key, `None` to give up on the fast path: a conjunct that mentions the key in any other
/// form might constrain it on the parsed path, and both paths must agree exactly.
fn conjunct(
    sql: &str,
    c: &[Token],
    qualifier: &Token,
    spec: &ShardSpec,
    table: &str,
) -> Option<Option<ShardSet>> {
    let key = spec.shard_key.as_str();
    let mentions_key = || {
        c.iter()
            .any(|t| is_ident(t) && ident_value(t, sql).eq_ignore_ascii_case(key))
    };
    let set_of = |lits: &mut dyn Iterator<Item = Literal<'_>>| -> Option<ShardSet> {
        let mut set = ShardSet::empty(spec.shards());
        for lit in lits {
            // Unconstrained or an error: the full planner decides.
            for s in read_shards(lit, spec, table).ok()?? {
                set.insert(s);
            }
        }
        Some(set)
    };
    let adjacent = |a: usize, b: usize| c[a].end == c[b].start;
    if let Some(k) = key_ref(sql, c, qualifier, key) {
        // key = lit, key <=> lit (not <=> NULL: NULL keys have no shard)
        let op_len = match c.get(k).map(|t| t.kind) {
            Some(Kind::Punct(b'=')) => 1,
            Some(Kind::Punct(b'<'))
                if c.get(k + 1).map(|t| t.kind) == Some(Kind::Punct(b'='))
                    && c.get(k + 2).map(|t| t.kind) == Some(Kind::Punct(b'>'))
                    && adjacent(k, k + 1)
                    && adjacent(k + 1, k + 2) =>
            {
                3
            }
            _ => 0,
        };
        if op_len > 0 {
            if let Some((lit, used)) = token_literal(sql, c, k + op_len) {
                if k + op_len + used == c.len() && !(op_len == 3 && lit == Literal::Null) {
                    return set_of(&mut std::iter::once(lit)).map(Some);
                }
            }
            return None;
        }
        // key IN (lit, ...)
        if c.get(k).is_some_and(|t| t.is_word(sql, "IN"))
            && c.get(k + 1).map(|t| t.kind) == Some(Kind::Punct(b'('))
        {
            let mut lits = Vec::new();
            let mut j = k + 2;
            loop {
                let (lit, used) = token_literal(sql, c, j)?;
                lits.push(lit);
                j += used;
                match c.get(j).map(|t| t.kind) {
                    Some(Kind::Punct(b',')) => j += 1,
                    Some(Kind::Punct(b')')) if j + 1 == c.len() => break,
                    _ => return None,
                }
            }
            return set_of(&mut lits.into_iter()).map(Some);
        }
        return None;
    }
    // lit = key
    if let Some((lit, used)) = token_literal(sql, c, 0) {
        if c.get(used).map(|t| t.kind) == Some(Kind::Punct(b'='))
            && key_ref(sql, &c[used + 1..], qualifier, key).is_some_and(|k| used + 1 + k == c.len())
        {
            return set_of(&mut std::iter::once(lit)).map(Some);
        }
    }
    if mentions_key() {
        None
    } else {
        Some(None)
    }
}

/// Tokens used by a reference to the key column at the start of `c` (`key`, `q.key`).
fn key_ref(sql: &str, c: &[Token], qualifier: &Token, key: &str) -> Option<usize> {
    let is_key = |t: &Token| is_ident(t) && ident_value(t, sql).eq_ignore_ascii_case(key);
    match c {
        [q, dot, k, ..]
            if dot.kind == Kind::Punct(b'.')
                && is_ident(q)
                && ident_value(q, sql).eq_ignore_ascii_case(&ident_value(qualifier, sql))
                && is_key(k) =>
        {
            Some(3)
        }
        [k, next, ..] if is_key(k) && next.kind != Kind::Punct(b'.') => Some(1),
        [k] if is_key(k) => Some(1),
        _ => None,
    }
}
