//! One walk over a parsed statement that gathers everything routing and rewriting need:
//! the tables (and so the logical database), the shards each query block needs, the features
//! that forbid concatenating several shards' results, and the identifier edits.
//!
//! The walk itself is in `visit`. After it, `check` (`Collector::finish`) checks the token
//! stream: every word naming a sharded or broadcast table must be a position the walk
//! understood (renamed, an alias, a column). A table name in a place the planner does not
//! know about is refused, so a logical sharded table name never reaches a backend unchanged.

mod check;
mod item_names;
mod visit;

pub(crate) use item_names::item_alias;

use std::sync::Arc;

use sqlparser::ast::{Expr, Ident, ObjectName};
use sqlparser::tokenizer::Location;

use super::blocks::{not_bound, Block, BlockShards, BlockTable};
use super::names::{is_rule_table_anywhere, table_rule, write_ident};
use super::offsets::Offsets;
use super::rewrite::{spelled_as, EditKind, Edits};
use super::tables::{name_parts, resolve, Layout, NameParts, Resolved};
use super::PlanContext;
use crate::config::model::{Database, ShardSpec, TableRule};
use crate::error::{Error, Result};

/// Aggregate functions: a query using one cannot be answered by concatenating shards.
pub(crate) const AGGREGATES: &[&str] = &[
    "AVG",
    "BIT_AND",
    "BIT_OR",
    "BIT_XOR",
    "COUNT",
    "GROUP_CONCAT",
    "JSON_ARRAYAGG",
    "JSON_OBJECTAGG",
    "MAX",
    "MIN",
    "STD",
    "STDDEV",
    "STDDEV_POP",
    "STDDEV_SAMP",
    "SUM",
    "VARIANCE",
    "VAR_POP",
    "VAR_SAMP",
];

/// The shards one query block needs; `main` for the statement's outermost block.
#[derive(Debug)]
pub(crate) struct BlockInfo<'a> {
    pub shards: BlockShards<'a>,
    pub main: bool,
}

/// A qualified column reference (`t.col`, `db.t.col`) or `t.*` whose qualifier may need a
/// rename once the statement's tables are known.
struct Qualifier {
    db: Option<Ident>,
    table: Ident,
}

pub(crate) struct Collector<'s, 'a> {
    pub ctx: &'s PlanContext<'a>,
    pub sql: &'s str,
    pub offsets: Offsets<'s>,
    /// Names the statement in refusals: "a query", "an UPDATE", ...
    pub noun: &'static str,
    /// The one logical database the statement's tables belong to.
    pub db: Option<&'a Arc<Database>>,
    pub edits: Edits<'a>,
    /// Sharded tables referenced (each rule once).
    pub sharded: Vec<(&'a TableRule, &'a Arc<ShardSpec>)>,
    /// First unsharded table, by name, for messages.
    pub unsharded: Option<String>,
    pub broadcast: Option<&'a TableRule>,
    pub system: bool,
    /// It reads information_schema.SESSION_VARIABLES or SYSTEM_VARIABLES.
    pub session_values: bool,
    pub blocks: Vec<BlockInfo<'a>>,
    /// The first feature of the main query that forbids concatenating several shards.
    pub blocker: Option<&'static str>,
    /// The main block runs on every shard when it has no shard key condition (UPDATE and
    /// DELETE, whose affected rows add up); otherwise such a block is refused.
    pub scatter_unkeyed: bool,
    /// A read that may still be answered over copies (`materialize`): the first block
    /// refused over several shards is kept here instead of ending the walk.
    pub defer_refusals: bool,
    pub deferred: Option<Error>,
    /// A window function of the main block runs on each shard (`partitioned_by_key`): exact
    /// only while the shards' rows are the rows it sees, so not beside grouping.
    pub window_on_each_shard: bool,
    /// The main block's sharded tables, for subqueries correlated on their key.
    main_keys: Vec<super::blocks::OuterKey>,
    /// Positions of identifiers the walk understood (renamed, or harmless: aliases, columns).
    handled: Vec<Location>,
    /// Positions of names in a table position that are not table references (the targets of
    /// `DELETE FROM t1 USING ...`, which may be aliases): the walk skips them.
    not_relations: Vec<Location>,
    qualifiers: Vec<Qualifier>,
    sharded_alias: bool,
    /// `DATABASE()` calls: name position, and whether the select item needs an alias.
    db_fns: Vec<(Location, bool)>,
    /// Where unaliased expression items of select lists start, and what their columns name
    /// (`item_names`).
    unnamed_items: Vec<(Location, item_names::ItemKind)>,
    /// Addresses of the CTE bodies of the queries entered, and for each query entered
    /// whether it is one (its select lists name the CTE's columns).
    cte_bodies: Vec<usize>,
    in_cte: Vec<bool>,
    /// Lower-cased names of common table expressions.
    ctes: Vec<String>,
    depth: u32,
    pub main_depth: Option<u32>,
    main_pending: bool,
    main_setop: bool,
}

impl<'s, 'a> Collector<'s, 'a> {
    pub fn new(ctx: &'s PlanContext<'a>, sql: &'s str, noun: &'static str) -> Self {
        Collector {
            ctx,
            sql,
            offsets: Offsets::new(sql),
            noun,
            db: None,
            edits: Edits::default(),
            sharded: Vec::new(),
            unsharded: None,
            broadcast: None,
            system: false,
            session_values: false,
            blocks: Vec::new(),
            blocker: None,
            scatter_unkeyed: false,
            defer_refusals: false,
            deferred: None,
            main_keys: Vec::new(),
            window_on_each_shard: false,
            handled: Vec::new(),
            not_relations: Vec::new(),
            qualifiers: Vec::new(),
            sharded_alias: false,
            db_fns: Vec::new(),
            unnamed_items: Vec::new(),
            cte_bodies: Vec::new(),
            in_cte: Vec::new(),
            ctes: Vec::new(),
            depth: 0,
            main_depth: None,
            main_pending: false,
            main_setop: false,
        }
    }

    /// The next query entered becomes the main one (SELECT, INSERT ... SELECT, EXPLAIN).
    pub fn expect_main_query(&mut self) {
        self.main_pending = true;
    }

    /// The statement itself is the main block (UPDATE, DELETE): expressions outside any
    /// subquery belong to it.
    pub fn statement_is_main(&mut self) {
        self.main_depth = Some(0);
    }

    /// Records a feature that forbids concatenating shards. One that no merge can make exact
    /// (a window function, INTO, UNION) replaces a mergeable one seen first (ORDER BY,
    /// DISTINCT, GROUP BY): the merge planner only refuses what `blocker` names, so the
    /// unmergeable one must not hide behind an earlier ORDER BY.
    pub fn block_multi_shard(&mut self, feature: &'static str) {
        let never = |f: &str| crate::plan::scatter::NEVER.contains(&f);
        match self.blocker {
            Some(first) if never(first) || !never(feature) => {}
            _ => self.blocker = Some(feature),
        }
    }

    /// A window partitioned by the shard key of the main block's sharded tables (one bind
    /// family): each partition's rows are on one shard, so each shard computes the window
    /// exactly and only the rows need merging.
    pub(super) fn partitioned_by_key(&self, over: Option<&sqlparser::ast::WindowType>) -> bool {
        let Some(sqlparser::ast::WindowType::WindowSpec(spec)) = over else {
            return false;
        };
        let Some(first) = self.main_keys.first() else {
            return false;
        };
        if self.main_keys.iter().any(|k| k.family != first.family) {
            return false;
        }
        spec.partition_by.iter().any(|e| match e {
            Expr::Identifier(col) => col.value.eq_ignore_ascii_case(&first.key),
            Expr::CompoundIdentifier(parts) => match parts.as_slice() {
                [q, col] => {
                    col.value.eq_ignore_ascii_case(&first.key)
                        && self
                            .main_keys
                            .iter()
                            .any(|k| k.qualifier.eq_ignore_ascii_case(&q.value))
                }
                _ => false,
            },
            _ => false,
        })
    }

    fn is_cte(&self, name: &str) -> bool {
        self.ctes.iter().any(|c| c.eq_ignore_ascii_case(name))
    }

    /// Byte range of `ident` in the text, checked to spell it.
    pub fn ident_range(&self, ident: &Ident) -> Result<(usize, usize)> {
        self.offsets
            .range(ident.span)
            .filter(|&(s, e)| {
                self.sql
                    .get(s..e)
                    .is_some_and(|text| spelled_as(text, ident))
            })
            .ok_or_else(|| {
                Error::unsupported(format!(
                    "the name '{}' where shardgate cannot locate it in the statement text \
                     (inside a /*! */ comment?)",
                    ident.value
                ))
            })
    }

    /// `name`, in a table position, is not a table reference: the walk must not resolve it.
    pub fn not_a_relation(&mut self, name: &ObjectName) {
        if let Some(i) = name.0.last().and_then(|p| p.as_ident()) {
            self.not_relations.push(i.span.start);
        }
    }

    fn is_not_a_relation(&self, name: &ObjectName) -> bool {
        name.0
            .last()
            .and_then(|p| p.as_ident())
            .is_some_and(|i| self.not_relations.contains(&i.span.start))
    }

    pub fn mark_handled(&mut self, ident: &Ident) {
        // Unfiltered: a push is cheaper than a name lookup, and `finish` only searches this
        // list for the rare word that names a sharded or broadcast table.
        self.handled.push(ident.span.start);
    }

    fn use_db(&mut self, db: &'a Arc<Database>) -> Result<()> {
        match self.db {
            None => self.db = Some(db),
            Some(d) if Arc::ptr_eq(d, db) => {}
            Some(d) => {
                return Err(Error::unsupported(format!(
                    "a statement on tables of two databases ('{}' and '{}')",
                    d.name, db.name
                )))
            }
        }
        Ok(())
    }

    fn use_sharded(&mut self, rule: &'a TableRule, spec: &'a Arc<ShardSpec>) -> Result<()> {
        if let Some(&(first, first_spec)) = self.sharded.first() {
            if first_spec.family != spec.family {
                return Err(not_bound(first, rule));
            }
        }
        if !self.sharded.iter().any(|(r, _)| std::ptr::eq(*r, rule)) {
            self.sharded.push((rule, spec));
        }
        Ok(())
    }

    /// Resolves a table name in a table position, records the table, and records the renames
    /// its identifiers need. Returns how it resolved.
    pub fn register_table(&mut self, name: &ObjectName) -> Result<Resolved<'a>> {
        let parts = name_parts(name)?;
        let resolved = match resolve(self.ctx, &parts, |n| self.is_cte(n)) {
            Ok(r) => r,
            // DDL on a physical shard name would change one shard behind the rule's back.
            Err(Error::NoSuchTable { table, .. }) if self.noun == "DDL" => {
                return Err(physical_ddl(self.ctx, &table))
            }
            Err(e) => return Err(e),
        };
        match resolved {
            Resolved::Table { db, layout } => {
                self.use_db(db)?;
                if let Some(q) = parts.db {
                    let (s, e) = self.ident_range(q)?;
                    self.edits.push(
                        s,
                        e,
                        EditKind::GroupSchema {
                            quote: q.quote_style.is_some(),
                        },
                    );
                }
                match layout {
                    Layout::Sharded(rule, spec) => {
                        self.use_sharded(rule, spec)?;
                        let (s, e) = self.ident_range(parts.table)?;
                        self.edits.push(
                            s,
                            e,
                            EditKind::ShardTable {
                                logical: &rule.name,
                                names: rule.physical_names(),
                                quote: parts.table.quote_style.is_some(),
                            },
                        );
                    }
                    Layout::Broadcast(rule) => {
                        self.broadcast.get_or_insert(rule);
                    }
                    Layout::PhysicalShard(rule) => {
                        let _ = rule;
                        return Err(super::tables::no_such_table(db, &parts.table.value));
                    }
                    Layout::Unsharded => {
                        if self.unsharded.is_none() {
                            self.unsharded = Some(parts.table.value.clone());
                        }
                    }
                }
            }
            Resolved::System => {
                self.system = true;
                let name = parts.table.value.as_str();
                self.session_values |= name.eq_ignore_ascii_case("SESSION_VARIABLES")
                    || name.eq_ignore_ascii_case("SYSTEM_VARIABLES");
                refuse_physical_listing(self.ctx, &parts)?;
                if let (None, Some(schema)) = (parts.db, self.ctx.system_schema) {
                    // After `USE information_schema`: the backend connection's schema is the
                    // group's physical one, so the name gets its schema written out.
                    let (s, _) = self.ident_range(parts.table)?;
                    let mut text = String::new();
                    write_ident(&mut text, schema, true);
                    text.push('.');
                    self.edits.push(s, s, EditKind::Text(text));
                }
            }
            Resolved::Virtual => {}
        }
        self.mark_handled(parts.table);
        Ok(resolved)
    }

    /// A table factor of a block: resolved without recording edits (the walk's relation visit
    /// records those).
    fn block_table<'q>(
        &self,
        name: &'q ObjectName,
        alias: Option<&'q Ident>,
    ) -> Result<Option<BlockTable<'q, 'a>>> {
        let parts = name_parts(name)?;
        Ok(match resolve(self.ctx, &parts, |n| self.is_cte(n))? {
            Resolved::Table { db, layout } => Some(BlockTable {
                name: parts.table,
                alias,
                db_name: Some(&db.name),
                sharded: layout.sharded(),
            }),
            _ => Some(BlockTable {
                name: parts.table,
                alias,
                db_name: None,
                sharded: None,
            }),
        })
    }

    /// Builds a block from FROM-like table lists and a WHERE, and records its shards.
    pub fn add_block<'q>(
        &mut self,
        from: &[&'q [sqlparser::ast::TableWithJoins]],
        selection: Option<&'q Expr>,
        main: bool,
    ) -> Result<()> {
        let mut block = Block::default();
        {
            let mut resolve_table =
                |name: &'q ObjectName, alias: Option<&'q Ident>| self.block_table(name, alias);
            for f in from {
                block.add_from(f, &mut resolve_table)?;
            }
        }
        block.add_where(selection);
        if main {
            self.main_keys = block
                .tables
                .iter()
                .filter_map(|t| {
                    let (_, spec) = t.sharded?;
                    Some(super::blocks::OuterKey {
                        qualifier: t.alias.unwrap_or(t.name).value.to_ascii_lowercase(),
                        family: spec.family.clone(),
                        key: spec.shard_key.clone(),
                    })
                })
                .collect();
        }
        match block.shards(
            self.noun,
            main,
            main && self.scatter_unkeyed,
            &self.main_keys,
        ) {
            Ok(Some(shards)) => self.blocks.push(BlockInfo { shards, main }),
            Ok(None) => {}
            Err(e @ Error::Unsupported(_)) if self.defer_refusals => {
                self.deferred.get_or_insert(e);
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// A qualified name used as a column qualifier, wildcard qualifier or multi-table DELETE
    /// target: `[table]` or `[db, table]` (the column, if any, already removed).
    pub fn add_qualifier(&mut self, parts: &[Ident]) -> Result<()> {
        match parts {
            [t] => {
                if is_rule_table_anywhere(self.ctx.rules, &t.value) {
                    self.qualifiers.push(Qualifier {
                        db: None,
                        table: t.clone(),
                    });
                }
            }
            [d, t] => {
                if self.ctx.rules.database(&d.value).is_some()
                    || is_rule_table_anywhere(self.ctx.rules, &t.value)
                {
                    self.qualifiers.push(Qualifier {
                        db: Some(d.clone()),
                        table: t.clone(),
                    });
                }
            }
            _ => {
                if parts
                    .iter()
                    .any(|p| is_rule_table_anywhere(self.ctx.rules, &p.value))
                {
                    return Err(Error::unsupported(format!(
                        "the qualified name {} (too many parts)",
                        parts
                            .iter()
                            .map(|p| p.value.as_str())
                            .collect::<Vec<_>>()
                            .join(".")
                    )));
                }
            }
        }
        Ok(())
    }

    fn resolve_qualifiers(&mut self) -> Result<()> {
        let qualifiers = std::mem::take(&mut self.qualifiers);
        for q in &qualifiers {
            let Some(db) = self.db else {
                return Err(Error::unsupported(format!(
                    "a reference to '{}' outside of any table it could name",
                    q.table.value
                )));
            };
            if let Some(d) = &q.db {
                if self
                    .ctx
                    .rules
                    .database(&d.value)
                    .is_some_and(|named| Arc::ptr_eq(named, db))
                {
                    let (s, e) = self.ident_range(d)?;
                    self.edits.push(
                        s,
                        e,
                        EditKind::GroupSchema {
                            quote: d.quote_style.is_some(),
                        },
                    );
                } else {
                    return Err(Error::unsupported(format!(
                        "a column qualified by database '{}', which is not the database of \
                         the statement's tables ('{}')",
                        d.value, db.name
                    )));
                }
            }
            self.handled.push(q.table.span.start);
            let Some(rule) = table_rule(db, &q.table.value) else {
                continue;
            };
            if let Some((rule, _)) = self
                .sharded
                .iter()
                .find(|(r, _)| std::ptr::eq(*r, rule))
                .copied()
            {
                if self.sharded_alias {
                    return Err(Error::unsupported(format!(
                        "a statement that uses sharded table name '{}' both as an alias and as \
                         a qualifier",
                        rule.name
                    )));
                }
                let (s, e) = self.ident_range(&q.table)?;
                self.edits.push(
                    s,
                    e,
                    EditKind::ShardTable {
                        logical: &rule.name,
                        names: rule.physical_names(),
                        quote: q.table.quote_style.is_some(),
                    },
                );
            } else if matches!(rule.kind, crate::config::model::TableKind::Sharded(_)) {
                return Err(Error::unsupported(format!(
                    "a reference to sharded table '{}' that is not in the statement's FROM",
                    rule.name
                )));
            }
        }
        Ok(())
    }
}

/// DDL naming the physical table of a shard: refused, naming the logical table to use.
pub(crate) fn physical_ddl(ctx: &PlanContext<'_>, physical: &str) -> Error {
    let logical = ctx
        .rules
        .databases()
        .values()
        .find_map(|db| db.sharded_table_of_physical(physical))
        .map_or("its sharded table", |r| r.name.as_str());
    Error::unsupported(format!(
        "DDL on '{physical}', a physical shard table of sharded table '{logical}': run it on \
         '{logical}', which changes every shard"
    ))
}

/// information_schema views that list tables, columns or indexes by table name.
const LISTS_TABLES: &[&str] = &[
    "TABLES",
    "COLUMNS",
    "STATISTICS",
    "PARTITIONS",
    "KEY_COLUMN_USAGE",
    "TABLE_CONSTRAINTS",
    "REFERENTIAL_CONSTRAINTS",
    "CHECK_CONSTRAINTS",
    "TRIGGERS",
    "VIEWS",
    "TABLE_PRIVILEGES",
    "COLUMN_PRIVILEGES",
    "TABLE_STATISTICS",
    "INDEX_STATISTICS",
];

/// One server's information_schema lists its physical shard tables (`clinical_data_0`,
/// `clinical_data_1`) and none of other groups': for a database with sharded tables that is
/// not the logical answer, and the proxy cannot merge it exactly, so it is refused, naming
/// the statements that answer with logical tables.
fn refuse_physical_listing(ctx: &PlanContext<'_>, parts: &NameParts<'_>) -> Result<()> {
    let Some(schema) = parts.db.map(|d| d.value.as_str()).or(ctx.system_schema) else {
        return Ok(());
    };
    let view = &parts.table.value;
    let lists = schema.eq_ignore_ascii_case("information_schema")
        && (LISTS_TABLES.iter().any(|v| v.eq_ignore_ascii_case(view))
            || view.to_ascii_uppercase().starts_with("INNODB_"));
    let Some(db) = ctx.current_db.filter(|db| {
        db.tables
            .values()
            .any(|r| matches!(r.kind, crate::config::model::TableKind::Sharded(_)))
    }) else {
        return Ok(());
    };
    if !lists {
        return Ok(());
    }
    Err(Error::unsupported(format!(
        "information_schema.{} while database '{}' has sharded tables: one server lists its \
         physical shard tables, not the logical ones; use SHOW [FULL] TABLES, SHOW COLUMNS, \
         SHOW INDEX, SHOW CREATE TABLE or SHOW TABLE STATUS LIKE 'table'",
        view.to_ascii_uppercase(),
        db.name
    )))
}
