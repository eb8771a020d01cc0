//! The fast path for bulk inserts: `INSERT ... VALUES (...), (...)` planned from the lexer's
//! tokens without sqlparser, whose parse of a 100-row INSERT costs hundreds of µs.
//!
//! It accepts only this shape and returns `None` for anything else (the parsed path then
//! plans it, or refuses it with the right message); for what it accepts it plans exactly what
//! the parsed path plans (a property test compares them):
//!
//! ```text
//! INSERT|REPLACE [LOW_PRIORITY|DELAYED|HIGH_PRIORITY] [IGNORE] [INTO] [db.]table
//!     [(col, ...)] VALUE[S] (v, ...), (v, ...) ... [;]
//! ```
//!
//! with no subquery, no executable comment, no `DATABASE()`, no word naming a sharded or
//! broadcast table or a logical database besides the target, nothing after the last row, and,
//! for a sharded table, a column list naming the key and a plain literal as every row's key.

use std::fmt::Write;

use super::lexer::{ident_value, Kind, Lexer, Token};
use super::literal::{shard_of, token_literal, Literal};
use super::names::{is_rule_table_anywhere, is_system_schema};
use super::rewrite::{EditKind, Edits};
use super::route::{group_of, group_schema, single};
use super::tables::{layout_of, Layout};
use super::{Plan, PlanContext, ResultRewrite, Route, Target};
use crate::config::model::ShardSpec;
use crate::keygen;

/// Words that take a statement off the fast path wherever they appear.
const NEVER: &[&str] = &["SELECT", "DATABASE", "SCHEMA", "ROW", "ON", "AS", "SET"];

pub(crate) fn plan(sql: &str, ctx: &PlanContext<'_>) -> Option<Plan> {
    if ctx.system_schema.is_some() {
        return None;
    }
    let mut toks: Vec<Token> = Vec::with_capacity(sql.len() / 4);
    for t in Lexer::new(sql) {
        match t.kind {
            Kind::ExecStart | Kind::ExecEnd => return None,
            Kind::Space | Kind::Comment => {}
            _ => toks.push(t),
        }
    }
    if toks.last().is_some_and(|t| t.kind == Kind::Punct(b';')) {
        toks.pop();
    }
    let w = |i: usize, kw: &str| toks.get(i).is_some_and(|t| t.is_word(sql, kw));
    if !(w(0, "INSERT") || w(0, "REPLACE")) {
        return None;
    }
    let mut i = 1;
    if ["LOW_PRIORITY", "DELAYED", "HIGH_PRIORITY"]
        .iter()
        .any(|m| w(i, m))
    {
        i += 1;
    }
    if w(i, "IGNORE") {
        i += 1;
    }
    if w(i, "INTO") {
        i += 1;
    }
    let (db_tok, table_tok) = if toks.get(i + 1).map(|t| t.kind) == Some(Kind::Punct(b'.')) {
        i += 3;
        (Some(*toks.get(i - 3)?), *toks.get(i - 1)?)
    } else {
        i += 1;
        (None, *toks.get(i - 1)?)
    };
    if !is_ident(&table_tok) || db_tok.is_some_and(|d| !is_ident(&d)) {
        return None;
    }

    // Nothing elsewhere that the parsed path would have to rename or refuse.
    for t in &toks[i..] {
        match t.kind {
            Kind::Punct(b';') => return None,
            Kind::Word | Kind::QuotedIdent => {
                let v = ident_value(t, sql);
                if t.kind == Kind::Word && NEVER.iter().any(|n| v.eq_ignore_ascii_case(n)) {
                    return None;
                }
                if is_rule_table_anywhere(ctx.rules, &v) || is_database(ctx, &v) {
                    return None;
                }
            }
            _ => {}
        }
    }

    // Optional column list.
    let mut columns: Vec<Token> = Vec::new();
    if toks.get(i).map(|t| t.kind) == Some(Kind::Punct(b'(')) {
        i += 1;
        loop {
            let col = *toks.get(i)?;
            if !is_ident(&col) {
                return None;
            }
            columns.push(col);
            match toks.get(i + 1)?.kind {
                Kind::Punct(b',') => i += 2,
                Kind::Punct(b')') => {
                    i += 2;
                    break;
                }
                _ => return None,
            }
        }
    }
    if !(w(i, "VALUES") || w(i, "VALUE")) {
        return None;
    }
    i += 1;

    // Which table, and where its key is in each row.
    let table = ident_value(&table_tok, sql);
    let db = match db_tok {
        Some(d) => {
            let name = ident_value(&d, sql);
            if is_system_schema(&name) {
                return None;
            }
            ctx.rules.database(&name)?
        }
        None => ctx.current_db?,
    };
    let mut generate: Option<&str> = None;
    let sharded = match layout_of(db, &table) {
        Layout::Broadcast(_) | Layout::PhysicalShard(_) => return None,
        Layout::Unsharded => None,
        Layout::Sharded(rule, spec) => {
            generate = generated_column(spec, &columns, sql);
            let key = columns
                .iter()
                .position(|c| ident_value(c, sql).eq_ignore_ascii_case(&spec.shard_key));
            // Without the key in the list, only a generated key can place the rows.
            if key.is_none() && generate.is_none_or(|g| !g.eq_ignore_ascii_case(&spec.shard_key)) {
                return None;
            }
            Some((rule, spec, key))
        }
    };

    // Rows: `(` items `)` separated by commas, to the end.
    let mut rows: Vec<(usize, usize, u32)> = Vec::new();
    loop {
        let open = *toks.get(i)?;
        if open.kind != Kind::Punct(b'(') {
            return None;
        }
        i += 1;
        let mut depth = 1;
        let mut item = 0;
        let mut item_start = i;
        let mut key_value = None;
        loop {
            let t = toks.get(i)?;
            let item_ends = match t.kind {
                Kind::Punct(b'(') => {
                    depth += 1;
                    false
                }
                Kind::Punct(b')') => {
                    depth -= 1;
                    depth == 0
                }
                Kind::Punct(b',') => depth == 1,
                _ => false,
            };
            if item_ends {
                if item_start == i {
                    return None;
                }
                if let Some((rule, spec, Some(key))) = sharded {
                    if item == key {
                        let item_toks = &toks[item_start..i];
                        let (lit, used) = token_literal(sql, item_toks, 0)?;
                        if used != item_toks.len() {
                            return None;
                        }
                        key_value = Some(shard_of(lit, spec, &rule.name).ok()??);
                    }
                }
                item += 1;
                item_start = i + 1;
                if depth == 0 {
                    break;
                }
            }
            i += 1;
        }
        let close = toks[i];
        i += 1;
        let shard = match sharded {
            Some((_, _, Some(_))) => key_value?,
            _ => 0,
        };
        rows.push((open.start, close.end, shard));
        match toks.get(i).map(|t| t.kind) {
            None => break,
            Some(Kind::Punct(b',')) => i += 1,
            Some(_) => return None,
        }
    }

    let mut edits = Edits::default();
    if let Some(d) = db_tok {
        edits.push(
            d.start,
            d.end,
            EditKind::GroupSchema {
                quote: d.kind == Kind::QuotedIdent,
            },
        );
    }
    let mut generated_id = None;
    if let (Some(column), Some((rule, spec, key))) = (generate, sharded) {
        // The proxy fills the generated column: first in the column list and in each row.
        let ids = keygen::next_ids(rows.len());
        edits.push(
            columns[0].start,
            columns[0].start,
            EditKind::Text(format!("`{column}`, ")),
        );
        for (row, id) in rows.iter_mut().zip(&ids) {
            edits.push(row.0 + 1, row.0 + 1, EditKind::Text(format!("{id}, ")));
            if key.is_none() {
                row.2 = shard_of(Literal::Int(i128::from(*id)), spec, &rule.name).ok()??;
            }
        }
        generated_id = ids.first().copied();
    }
    let Some((rule, spec, _)) = sharded else {
        let group = db.default_group;
        let schema = group_schema(db, group).ok()?;
        let text = if edits.is_empty() {
            sql.to_string()
        } else {
            edits.render(sql, None, schema)
        };
        return Some(single(
            db,
            group,
            None,
            text,
            true,
            format!("unsharded table '{table}': default group"),
        ));
    };
    edits.push(
        table_tok.start,
        table_tok.end,
        EditKind::ShardTable {
            logical: &rule.name,
            names: rule.physical_names(),
            quote: table_tok.kind == Kind::QuotedIdent,
        },
    );
    edits.finish().ok()?;

    let first = rows.first()?.2;
    if rows.iter().all(|r| r.2 == first) {
        let group = group_of(db, spec.placement.get(first as usize).copied()).ok()?;
        let schema = group_schema(db, group).ok()?;
        let mut plan = single(
            db,
            group,
            Some(first),
            edits.render(sql, Some(first), schema),
            true,
            format!(
                "{} selects shard {first} of '{}'",
                spec.shard_key, rule.name
            ),
        );
        if let Plan::Route(r) = &mut plan {
            r.generated_id = generated_id;
        }
        return Some(plan);
    }
    let mut order: Vec<u32> = rows.iter().map(|r| r.2).collect();
    order.sort_unstable();
    order.dedup();
    let (prefix_end, suffix_start) = (rows[0].0, rows[rows.len() - 1].1);
    let mut targets = Vec::with_capacity(order.len());
    let mut list = String::new();
    for &s in &order {
        let group = group_of(db, spec.placement.get(s as usize).copied()).ok()?;
        let schema = group_schema(db, group).ok()?;
        let mut out = String::with_capacity(sql.len());
        edits.render_range(sql, 0, prefix_end, Some(s), schema, &mut out);
        let mut first_row = true;
        for &(rs, re, _) in rows.iter().filter(|r| r.2 == s) {
            if !first_row {
                out.push(',');
            }
            first_row = false;
            if generated_id.is_some() {
                edits.render_range(sql, rs, re, Some(s), schema, &mut out);
            } else {
                out.push_str(&sql[rs..re]);
            }
        }
        edits.render_range(sql, suffix_start, sql.len(), Some(s), schema, &mut out);
        targets.push(Target {
            group,
            shard: Some(s),
            sql: out,
        });
        let _ = write!(list, "{}{s}", if list.is_empty() { "" } else { ", " });
    }
    Some(Plan::Route(Route {
        db: db.clone(),
        targets,
        is_write: true,
        result_rewrite: ResultRewrite::Columns,
        spread: Default::default(),
        reason: format!(
            "{} values select shards {list} of '{}': one INSERT per shard",
            spec.shard_key, rule.name
        ),
        generated_id,
        all_shards: false,
        first_row_target: order.binary_search(&rows[0].2).map_or(0, |i| i as u32),
    }))
}

/// The key generator's column when this INSERT must get it from the proxy: the table has a
/// generator and the INSERT's column list leaves its column out.
pub(crate) fn generated_column<'s>(
    spec: &'s ShardSpec,
    columns: &[Token],
    sql: &str,
) -> Option<&'s str> {
    let g = spec.key_generator.as_ref()?;
    if columns.is_empty()
        || columns
            .iter()
            .any(|c| ident_value(c, sql).eq_ignore_ascii_case(&g.column))
    {
        return None;
    }
    Some(g.column.as_str())
}

/// `Rules::database` without its allocation (the names are few; compare them directly).
pub(crate) fn is_database(ctx: &PlanContext<'_>, name: &str) -> bool {
    ctx.rules.may_name_table_or_database(name)
        && ctx
            .rules
            .databases()
            .keys()
            .any(|k| k.eq_ignore_ascii_case(name))
}

fn is_ident(t: &Token) -> bool {
    matches!(t.kind, Kind::Word | Kind::QuotedIdent)
}
