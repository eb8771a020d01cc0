//! DDL read from tokens: the table-level statements whose fan-out needs nothing but their
//! table names, recognised without sqlparser.
//!
//! DDL runs by splicing each physical table name into the original text, so the only thing
//! the planner must understand is where the table names are. sqlparser 0.64 rejects many
//! MariaDB forms (`ADD INDEX IF NOT EXISTS`, `ADD COLUMN IF NOT EXISTS`, `DROP INDEX IF
//! EXISTS` inside ALTER, `ALTER ONLINE TABLE`, ...), exactly the re-runnable repairs a failed
//! fan-out calls for. `ALTER TABLE` is always read here; the other shapes only when sqlparser
//! cannot parse them:
//!
//! ```text
//! ALTER [ONLINE|OFFLINE] [IGNORE] TABLE [IF EXISTS] t ...
//! CREATE [OR REPLACE] [TEMPORARY] TABLE [IF NOT EXISTS] t ...        (no SELECT, no LIKE)
//! CREATE [OR REPLACE] [UNIQUE|FULLTEXT|SPATIAL] INDEX [IF NOT EXISTS] i ... ON t ...
//! DROP INDEX [IF EXISTS] i ON t ...
//! DROP [TEMPORARY] TABLE[S] [IF EXISTS] t [, t ...] [RESTRICT|CASCADE]
//! TRUNCATE [TABLE] t
//! ```
//!
//! where `t` is `table` or `db.table`. Any other word of the statement that names a sharded
//! or broadcast table or a logical database (a `REFERENCES` target, a rename) is refused, as
//! is renaming a sharded or broadcast table; a statement with an executable comment is left
//! to the parser.

use super::collect::{physical_ddl, Collector};
use super::ddl::{fan_out, refuse_mixed};
use super::insert_fast::is_database;
use super::lexer::{ident_value, Kind, Lexer, Token};
use super::names::{is_rule_table_anywhere, is_system_schema};
use super::rewrite::EditKind;
use super::tables::{layout_of, Layout};
use super::{Plan, PlanContext};
use crate::error::{Error, Result};

/// Which shapes to recognise.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shapes {
    /// ALTER TABLE only (read here before sqlparser is tried).
    Alter,
    /// Every shape (after sqlparser failed).
    All,
}

/// A table name: optional database token, table token.
type Name = (Option<Token>, Token);

/// The plan of a recognised statement, or `None` when it is not one of the shapes.
pub(crate) fn plan(sql: &str, ctx: &PlanContext<'_>, shapes: Shapes) -> Option<Result<Plan>> {
    let first = super::lexer::significant(sql).next()?;
    if shapes == Shapes::Alter && !first.is_word(sql, "ALTER") {
        return None;
    }
    let mut toks: Vec<Token> = Vec::new();
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
    if toks.iter().any(|t| t.kind == Kind::Punct(b';')) {
        return None;
    }
    let (what, names, rest) = shape(sql, &toks, shapes)?;
    Some(route(what, sql, ctx, &toks, &names, rest))
}

/// The statement's name for messages, its table names, and where the rest of it starts.
type Shape = (&'static str, Vec<Name>, usize);

fn shape(sql: &str, toks: &[Token], shapes: Shapes) -> Option<Shape> {
    let w = |i: usize, kw: &str| toks.get(i).is_some_and(|t| t.is_word(sql, kw));
    let skip = |i: &mut usize, kws: &[&str]| {
        while kws.iter().any(|k| w(*i, k)) {
            *i += 1;
        }
    };
    let if_exists = |i: &mut usize, not: bool| {
        if w(*i, "IF") && (!not || w(*i + 1, "NOT")) && w(*i + 1 + usize::from(not), "EXISTS") {
            *i += 2 + usize::from(not);
        }
    };
    let mut i = 1;
    if w(0, "ALTER") {
        skip(&mut i, &["ONLINE", "OFFLINE", "IGNORE"]);
        if !w(i, "TABLE") {
            return None;
        }
        i += 1;
        if_exists(&mut i, false);
        let name = name(toks, &mut i)?;
        return Some(("ALTER TABLE", vec![name], i));
    }
    if shapes == Shapes::Alter {
        return None;
    }
    if w(0, "CREATE") {
        if w(1, "OR") && w(2, "REPLACE") {
            i = 3;
        }
        if w(i, "TEMPORARY") || w(i, "TABLE") {
            let temporary = w(i, "TEMPORARY");
            skip(&mut i, &["TEMPORARY"]);
            if !w(i, "TABLE") {
                return None;
            }
            i += 1;
            if_exists(&mut i, true);
            let name = name(toks, &mut i)?;
            // CREATE TABLE ... SELECT / LIKE need the parsed path's checks.
            if toks[i..]
                .iter()
                .any(|t| t.is_word(sql, "SELECT") || t.is_word(sql, "LIKE"))
            {
                return None;
            }
            let what = if temporary {
                "CREATE TEMPORARY TABLE"
            } else {
                "CREATE TABLE"
            };
            return Some((what, vec![name], i));
        }
        skip(&mut i, &["UNIQUE", "FULLTEXT", "SPATIAL"]);
        if !w(i, "INDEX") {
            return None;
        }
        i += 1;
        if_exists(&mut i, true);
        return index_on(sql, toks, i).map(|(n, r)| ("CREATE INDEX", n, r));
    }
    if w(0, "DROP") {
        if w(1, "INDEX") {
            i = 2;
            if_exists(&mut i, false);
            return index_on(sql, toks, i).map(|(n, r)| ("DROP INDEX", n, r));
        }
        skip(&mut i, &["TEMPORARY"]);
        if !(w(i, "TABLE") || w(i, "TABLES")) {
            return None;
        }
        i += 1;
        if_exists(&mut i, false);
        let mut names = vec![name(toks, &mut i)?];
        while toks.get(i).is_some_and(|t| t.kind == Kind::Punct(b',')) {
            i += 1;
            names.push(name(toks, &mut i)?);
        }
        skip(&mut i, &["RESTRICT", "CASCADE"]);
        return (i == toks.len()).then_some(("DROP TABLE", names, i));
    }
    if w(0, "TRUNCATE") {
        skip(&mut i, &["TABLE"]);
        let name = name(toks, &mut i)?;
        return (i == toks.len()).then_some(("TRUNCATE TABLE", vec![name], i));
    }
    None
}

/// `i [USING x] ON t`: the index name, then the table after the first top-level ON.
fn index_on(sql: &str, toks: &[Token], mut i: usize) -> Option<(Vec<Name>, usize)> {
    if !is_ident(toks.get(i)?) {
        return None;
    }
    i += 1;
    if toks.get(i).is_some_and(|t| t.is_word(sql, "USING")) {
        i += 2;
    }
    if !toks.get(i)?.is_word(sql, "ON") {
        return None;
    }
    i += 1;
    let name = name(toks, &mut i)?;
    Some((vec![name], i))
}

/// `table` or `db . table` at `i`, advancing past it.
fn name(toks: &[Token], i: &mut usize) -> Option<Name> {
    let first = *toks.get(*i)?;
    if !is_ident(&first) {
        return None;
    }
    if toks
        .get(*i + 1)
        .is_some_and(|t| t.kind == Kind::Punct(b'.'))
    {
        let table = *toks.get(*i + 2)?;
        if !is_ident(&table) {
            return None;
        }
        *i += 3;
        return Some((Some(first), table));
    }
    *i += 1;
    Some((None, first))
}

fn is_ident(t: &Token) -> bool {
    matches!(t.kind, Kind::Word | Kind::QuotedIdent)
}

fn route(
    what: &str,
    sql: &str,
    ctx: &PlanContext<'_>,
    toks: &[Token],
    names: &[Name],
    rest: usize,
) -> Result<Plan> {
    let mut c = Collector::new(ctx, sql, "DDL");
    for &(db_tok, table_tok) in names {
        let db = match db_tok {
            Some(d) => {
                let name = ident_value(&d, sql);
                if is_system_schema(&name) {
                    return Err(Error::unsupported(format!(
                        "{what} on a system schema table"
                    )));
                }
                let db = ctx
                    .rules
                    .database(&name)
                    .ok_or_else(|| Error::UnknownDatabase(name.to_string()))?;
                c.edits.push(
                    d.start,
                    d.end,
                    EditKind::GroupSchema {
                        quote: d.kind == Kind::QuotedIdent,
                    },
                );
                db
            }
            None => ctx.current_db.ok_or(Error::NoDatabaseSelected)?,
        };
        if let Some(d) = c.db.filter(|d| !std::sync::Arc::ptr_eq(d, db)) {
            return Err(Error::unsupported(format!(
                "a statement on tables of two databases ('{}' and '{}')",
                d.name, db.name
            )));
        }
        c.db = Some(db);
        let table = ident_value(&table_tok, sql);
        match layout_of(db, &table) {
            Layout::Sharded(rule, spec) => {
                if let Some(&(first, first_spec)) = c.sharded.first() {
                    if first_spec.family != spec.family {
                        return Err(super::blocks::not_bound(first, rule));
                    }
                }
                c.sharded.push((rule, spec));
                c.edits.push(
                    table_tok.start,
                    table_tok.end,
                    EditKind::ShardTable {
                        logical: &rule.name,
                        names: rule.physical_names(),
                        quote: table_tok.kind == Kind::QuotedIdent,
                    },
                );
            }
            Layout::Broadcast(rule) => {
                c.broadcast.get_or_insert(rule);
            }
            Layout::Unsharded => {
                c.unsharded.get_or_insert_with(|| table.to_string());
            }
            Layout::PhysicalShard(_) => return Err(physical_ddl(ctx, &table)),
        }
    }
    refuse_rest(sql, &toks[rest..], &c, ctx, what)?;
    super::ddl_guard::refuse_temporary(what == "CREATE TEMPORARY TABLE", &c)?;
    if what == "ALTER TABLE" {
        super::ddl_guard::refuse_key_tokens(sql, &toks[rest..], &c)?;
    }
    refuse_mixed(what, &c)?;
    c.edits.finish()?;
    fan_out(&c, what)
}

/// The rest of the statement must not name another sharded or broadcast table or a logical
/// database (nothing there is rewritten), nor rename a sharded or broadcast table.
fn refuse_rest(
    sql: &str,
    rest: &[Token],
    c: &Collector<'_, '_>,
    ctx: &PlanContext<'_>,
    what: &str,
) -> Result<()> {
    for (k, t) in rest.iter().enumerate() {
        if !is_ident(t) {
            continue;
        }
        let v = ident_value(t, sql);
        // A rename target named like a physical shard table would stand beside the shards.
        if c.db
            .is_some_and(|db| matches!(layout_of(db, &v), Layout::PhysicalShard(_)))
        {
            return Err(physical_ddl(ctx, &v));
        }
        if is_rule_table_anywhere(ctx.rules, &v) || is_database(ctx, &v) {
            return Err(Error::unsupported(format!(
                "the name '{v}' in a position shardgate cannot rewrite ({what} names tables \
                 only right after its keywords)"
            )));
        }
        // `RENAME [TO|AS] x` renames the table; `RENAME COLUMN|INDEX|KEY` does not.
        let table_rename = t.is_word(sql, "RENAME")
            && !rest.get(k + 1).is_some_and(|n| {
                ["COLUMN", "INDEX", "KEY", "CONSTRAINT"]
                    .iter()
                    .any(|w| n.is_word(sql, w))
            });
        if table_rename {
            let rule = match (c.sharded.first(), c.broadcast) {
                (Some(&(r, _)), _) => Some(("sharded", r)),
                (None, Some(r)) => Some(("broadcast", r)),
                (None, None) => None,
            };
            if let Some((kind, rule)) = rule {
                return Err(Error::unsupported(format!(
                    "{what} on {kind} table '{}': the rule file names its physical tables; \
                     rename them and edit the rules",
                    rule.name
                )));
            }
        }
    }
    Ok(())
}
