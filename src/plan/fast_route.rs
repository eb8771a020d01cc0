//! What the token fast paths (`select_fast`, `write_fast`) share: the one statement's
//! tokens without the words that leave the simple shape, its `[db.]table`, and once that is
//! found, whether any other word needs a rename the parsed path would make, which logical
//! database the table is in, and the route itself. Both must plan exactly what the parsed
//! path plans, so they read and build it the same way.

use std::sync::Arc;

use super::lexer::{ident_value, Kind, Token};
use super::names::{is_rule_table_anywhere, is_system_schema};
use super::rewrite::{EditKind, Edits};
use super::route::{group_of, group_schema, single};
use super::select_fast::{is_ident, tokens};
use super::{Plan, PlanContext};
use crate::config::model::{Database, ShardSpec, TableRule};

/// Words after which no statement is the simple shape: another statement or table, a
/// subquery, or a function the walk must see.
const NEVER: &[&str] = &[
    "SELECT",
    "UNION",
    "EXCEPT",
    "INTERSECT",
    "DATABASE",
    "SCHEMA",
    "JOIN",
    "STRAIGHT_JOIN",
    "VALUES",
    "TABLE",
    "WITH",
];

/// The tokens of `sql` without a final `;`, when its first word is one of `firsts` and no
/// later token is a `;`, a word of `NEVER` or of `also_never`. `None` for an executable
/// comment.
pub(super) fn simple_tokens(sql: &str, firsts: &[&str], also_never: &[&str]) -> Option<Vec<Token>> {
    simple_shape(sql, statement_tokens(sql)?, firsts, also_never)
}

/// The tokens of `sql` without a final `;`; `None` for an executable comment.
pub(super) fn statement_tokens(sql: &str) -> Option<Vec<Token>> {
    let mut toks = tokens(sql)?;
    if toks.last().is_some_and(|t| t.kind == Kind::Punct(b';')) {
        toks.pop();
    }
    Some(toks)
}

/// `toks` (`statement_tokens`) when they are of the shape `simple_tokens` takes.
pub(super) fn simple_shape(
    sql: &str,
    toks: Vec<Token>,
    firsts: &[&str],
    also_never: &[&str],
) -> Option<Vec<Token>> {
    if !toks
        .first()
        .is_some_and(|t| firsts.iter().any(|f| t.is_word(sql, f)))
    {
        return None;
    }
    // Each word's text once against every listed word: this runs on every statement.
    let leaves_shape = |t: &Token| match t.kind {
        Kind::Punct(b';') => true,
        Kind::Word => {
            let w = t.text(sql);
            let listed = |n: &&str| n.len() == w.len() && n.eq_ignore_ascii_case(w);
            NEVER.iter().any(listed) || also_never.iter().any(listed)
        }
        _ => false,
    };
    (!toks[1..].iter().any(leaves_shape)).then_some(toks)
}

/// `[db.]table` at `toks[i]`: the database token (if written), the table token and the
/// index after them. Both must be names.
pub(super) fn table_at(toks: &[Token], i: usize) -> Option<(Option<Token>, Token, usize)> {
    let (db, table, next) = if toks.get(i + 1).map(|t| t.kind) == Some(Kind::Punct(b'.')) {
        (Some(*toks.get(i)?), *toks.get(i + 2)?, i + 3)
    } else {
        (None, *toks.get(i)?, i + 1)
    };
    (is_ident(&table) && db.is_none_or(|d| is_ident(&d))).then_some((db, table, next))
}

/// True when a word other than the table (and its database qualifier) names a table of a
/// rule or a logical database: the parsed path renames those.
pub(super) fn other_names_need_renames(
    sql: &str,
    toks: &[Token],
    table: &Token,
    db: Option<&Token>,
    ctx: &PlanContext<'_>,
) -> bool {
    toks.iter().any(|t| {
        is_ident(t) && t.start != table.start && db.is_none_or(|d| d.start != t.start) && {
            let v = ident_value(t, sql);
            is_rule_table_anywhere(ctx.rules, &v) || super::insert_fast::is_database(ctx, &v)
        }
    })
}

/// The logical database of the table: its qualifier's, or the session's. `None` for a
/// system schema or a name that is not a logical database (the parsed path explains).
pub(super) fn database_of<'a>(
    sql: &str,
    db: Option<&Token>,
    ctx: &PlanContext<'a>,
) -> Option<&'a Arc<Database>> {
    match db {
        Some(d) => {
            let name = ident_value(d, sql);
            if is_system_schema(&name) {
                return None;
            }
            ctx.rules.database(&name)
        }
        None => ctx.current_db,
    }
}

/// The edits every fast route starts with: the database qualifier, if written, becomes the
/// group's schema.
pub(super) fn qualifier_edits<'a>(db: Option<&Token>) -> Edits<'a> {
    let mut edits = Edits::default();
    if let Some(d) = db {
        edits.push(
            d.start,
            d.end,
            EditKind::GroupSchema {
                quote: d.kind == Kind::QuotedIdent,
            },
        );
    }
    edits
}

/// The whole statement on the default group (an unsharded or broadcast table's read, an
/// unsharded table's write).
pub(super) fn on_default_group(
    sql: &str,
    db: &Arc<Database>,
    edits: &Edits<'_>,
    on_master: bool,
    reason: String,
) -> Option<Plan> {
    let group = db.default_group;
    let schema = group_schema(db, group).ok()?;
    let sql = if edits.is_empty() {
        sql.to_string()
    } else {
        edits.render(sql, None, schema)
    };
    Some(single(db, group, None, sql, on_master, reason))
}

/// The statement on the one shard its key selects, the table renamed to that shard's.
pub(super) fn on_one_shard<'a>(
    sql: &str,
    db: &Arc<Database>,
    (rule, spec): (&'a TableRule, &ShardSpec),
    shard: u32,
    table: &Token,
    mut edits: Edits<'a>,
    on_master: bool,
) -> Option<Plan> {
    edits.push(
        table.start,
        table.end,
        EditKind::ShardTable {
            logical: &rule.name,
            names: rule.physical_names(),
            quote: table.kind == Kind::QuotedIdent,
        },
    );
    edits.finish().ok()?;
    let group = group_of(db, spec.placement.get(shard as usize).copied()).ok()?;
    let schema = group_schema(db, group).ok()?;
    Some(single(
        db,
        group,
        Some(shard),
        edits.render(sql, Some(shard), schema),
        on_master,
        format!(
            "{} selects shard {shard} of '{}'",
            spec.shard_key, rule.name
        ),
    ))
}
