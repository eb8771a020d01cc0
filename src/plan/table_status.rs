//! `SHOW TABLE STATUS [FROM db] [LIKE 'pattern' | WHERE ...]`, read from tokens.
//!
//! The default group's answer lists its physical shard tables (`clinical_data_0`, `_1`) and
//! none of the shards of other groups, so it is only passed on where it cannot show one:
//! - a database without sharded tables, or a LIKE pattern that no physical shard name
//!   matches: the default group, in its physical schema;
//! - a LIKE pattern without `%` that names one sharded table: that table's shard 0, whose
//!   row is shown under the logical name (its statistics, `Rows`, `Data_length`, ... are
//!   shard 0's: every shard shares the definition, engine and options);
//! - anything else on a database with sharded tables is refused (1235), naming the way that
//!   works: `LIKE 'table'`, or SHOW TABLES.

use super::lexer::{ident_value, Kind, Lexer, Token};
use super::names::write_ident;
use super::route::{group_of, group_schema, single};
use super::{Plan, PlanContext, ResultRewrite};
use crate::config::model::TableKind;
use crate::error::{Error, Result};

/// The plan of a SHOW TABLE STATUS, or `None` for any other statement.
pub(crate) fn plan(sql: &str, ctx: &PlanContext<'_>) -> Option<Result<Plan>> {
    let mut toks: Vec<Token> = Vec::new();
    for t in Lexer::new(sql) {
        match t.kind {
            Kind::Space | Kind::Comment => {}
            Kind::ExecStart | Kind::ExecEnd => return None,
            _ => toks.push(t),
        }
        if toks.len() == 3
            && !(toks[0].is_word(sql, "SHOW")
                && toks[1].is_word(sql, "TABLE")
                && toks[2].is_word(sql, "STATUS"))
        {
            return None;
        }
    }
    if toks.len() < 3 {
        return None;
    }
    if toks.last().is_some_and(|t| t.kind == Kind::Punct(b';')) {
        toks.pop();
    }
    Some(route(sql, ctx, &toks[3..]))
}

fn route(sql: &str, ctx: &PlanContext<'_>, rest: &[Token]) -> Result<Plan> {
    let mut i = 0;
    let db = if rest
        .first()
        .is_some_and(|t| t.is_word(sql, "FROM") || t.is_word(sql, "IN"))
    {
        let name = rest
            .get(1)
            .filter(|t| matches!(t.kind, Kind::Word | Kind::QuotedIdent))
            .ok_or_else(|| Error::Syntax("SHOW TABLE STATUS FROM needs a database".into()))?;
        i = 2;
        let name = ident_value(name, sql);
        ctx.rules
            .database(&name)
            .ok_or_else(|| Error::UnknownDatabase(name.into_owned()))?
    } else {
        ctx.current_db.ok_or(Error::NoDatabaseSelected)?
    };
    let filter = rest.get(i).map_or("", |t| &sql[t.start..]);
    let filter = filter.trim_end().trim_end_matches(';');
    let pattern = match rest.get(i..) {
        Some([like, p]) if like.is_word(sql, "LIKE") && p.kind == Kind::Str => {
            Some(Pattern::new(p.text(sql)))
        }
        _ => None,
    };
    let sharded: Vec<_> = db
        .tables
        .values()
        .filter_map(|r| match &r.kind {
            TableKind::Sharded(spec) => Some((r, spec)),
            _ => None,
        })
        .collect();
    let shows_physical = |p: &Pattern| {
        sharded
            .iter()
            .any(|(r, spec)| (0..spec.shards()).any(|s| p.matches(&r.physical_name(s))))
    };
    let pass = |db: &std::sync::Arc<crate::config::model::Database>| -> Result<Plan> {
        let group = db.default_group;
        let mut text = String::from("SHOW TABLE STATUS FROM ");
        write_ident(&mut text, group_schema(db, group)?, true);
        if !filter.is_empty() {
            text.push(' ');
            text.push_str(filter);
        }
        Ok(single(
            db,
            group,
            None,
            text,
            false,
            "SHOW TABLE STATUS: default group".to_string(),
        ))
    };
    if sharded.is_empty() {
        return pass(db);
    }
    if let Some(p) = &pattern {
        let named: Vec<_> = sharded.iter().filter(|(r, _)| p.matches(&r.name)).collect();
        if let ([(rule, spec)], false) = (named.as_slice(), p.any_length) {
            let group = group_of(db, spec.placement.first().copied())?;
            let physical = rule.physical_name(0);
            let mut text = String::from("SHOW TABLE STATUS FROM ");
            write_ident(&mut text, group_schema(db, group)?, true);
            text.push_str(" LIKE '");
            text.push_str(&physical.replace('_', "\\_"));
            text.push('\'');
            let mut plan = single(
                db,
                group,
                Some(0),
                text,
                false,
                format!("status of sharded table '{}' from shard 0", rule.name),
            );
            if let Plan::Route(r) = &mut plan {
                r.result_rewrite = ResultRewrite::ShowCreateTable {
                    physical,
                    logical: rule.name.clone(),
                };
            }
            return Ok(plan);
        }
        if named.is_empty() && !shows_physical(p) {
            return pass(db);
        }
    }
    Err(Error::unsupported(format!(
        "SHOW TABLE STATUS over several tables of database '{}', which has sharded tables \
         (one server's answer would list its physical shard tables): name one table with \
         LIKE 'table', or use SHOW TABLES",
        db.name
    )))
}

/// A LIKE pattern: literal characters, `_` (any one) and `%` (any run).
struct Pattern {
    elems: Vec<Elem>,
    any_length: bool,
}

#[derive(Clone, Copy)]
enum Elem {
    Lit(char),
    One,
    Any,
}

impl Pattern {
    /// From a string literal token as written (`'a\_b'`, `"x"`).
    fn new(literal: &str) -> Pattern {
        let quote = literal.chars().next().unwrap_or('\'');
        let inner = literal
            .get(1..literal.len().saturating_sub(1))
            .unwrap_or_default();
        let mut elems = Vec::new();
        let mut it = inner.chars().peekable();
        while let Some(c) = it.next() {
            elems.push(match c {
                '\\' => match it.next() {
                    Some(n) => Elem::Lit(n),
                    None => continue,
                },
                c if c == quote && it.peek() == Some(&quote) => {
                    it.next();
                    Elem::Lit(c)
                }
                '%' => Elem::Any,
                '_' => Elem::One,
                c => Elem::Lit(c),
            });
        }
        let any_length = elems.iter().any(|e| matches!(e, Elem::Any));
        Pattern { elems, any_length }
    }

    /// Whether the pattern matches `name`, case-insensitively like the servers' default
    /// collations.
    fn matches(&self, name: &str) -> bool {
        let name: Vec<char> = name.chars().flat_map(char::to_lowercase).collect();
        fn go(p: &[Elem], n: &[char]) -> bool {
            match p.split_first() {
                None => n.is_empty(),
                Some((Elem::Any, rest)) => (0..=n.len()).any(|k| go(rest, &n[k..])),
                Some((Elem::One, rest)) => !n.is_empty() && go(rest, &n[1..]),
                Some((Elem::Lit(c), rest)) => {
                    let mut lower = c.to_lowercase();
                    n.first()
                        .is_some_and(|f| lower.next() == Some(*f) && lower.next().is_none())
                        && go(rest, &n[1..])
                }
            }
        }
        go(&self.elems, &name)
    }
}
