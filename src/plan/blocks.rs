//! One query block (a SELECT's FROM clause, or an UPDATE's / DELETE's tables) and the shards
//! it needs.
//!
//! The sharded tables of a block are grouped by key equalities (`a.k = b.k` as a top-level
//! conjunct of WHERE or of a join's ON, or `JOIN ... USING (k)`): tables of one group hold
//! matching rows on the same shard, because tables of one bind family share their layout.
//! Each group must then be constrained by key predicates; several unlinked groups are only
//! allowed when they all land on the same single shard.
//!
//! An outer join's ON links tables but does not restrict rows (the preserved side keeps its
//! unmatched rows), so only inner joins' ON conditions count as constraints.

use std::sync::Arc;

use sqlparser::ast::{
    BinaryOperator, Expr, Ident, JoinConstraint, JoinOperator, ObjectName, TableFactor,
    TableWithJoins,
};

use super::key_predicates::{conjuncts, constraint, Key};
use super::shardset::ShardSet;
use crate::config::model::{ShardSpec, TableRule};
use crate::error::{Error, Result};

/// A table named in the block.
pub(crate) struct BlockTable<'q, 'a> {
    pub name: &'q Ident,
    pub alias: Option<&'q Ident>,
    /// Name of the logical database the table resolved to (for `db.t.col` references).
    pub db_name: Option<&'a str>,
    pub sharded: Option<(&'a TableRule, &'a Arc<ShardSpec>)>,
}

/// A condition of the block; `restricts` is false for an outer join's ON.
pub(crate) struct Cond<'q> {
    pub expr: &'q Expr,
    pub restricts: bool,
}

/// An outer join: the tables whose rows it keeps unmatched, and the tables it may pad with
/// NULLs, as index ranges into `tables`.
struct Outer {
    preserved: std::ops::Range<usize>,
    nullable: std::ops::Range<usize>,
}

struct Using<'q> {
    /// Tables joined on the right, as an index range into `tables`.
    right: std::ops::Range<usize>,
    columns: &'q [ObjectName],
}

/// The tables and conditions of one block, filled from FROM clauses and WHERE.
#[derive(Default)]
pub(crate) struct Block<'q, 'a> {
    pub tables: Vec<BlockTable<'q, 'a>>,
    pub conds: Vec<Cond<'q>>,
    usings: Vec<Using<'q>>,
    outers: Vec<Outer>,
}

/// What a block needs: the shards (never empty) and the table they were derived from.
#[derive(Debug, Clone)]
pub(crate) struct BlockShards<'a> {
    pub shards: ShardSet,
    pub rule: &'a TableRule,
    /// False when no shard key condition chose the shards (all of them, see `shards`).
    pub keyed: bool,
    /// A subquery whose only sharded tables are bound to the statement's main block and
    /// equal its shard key (`inner.k = outer.k` in its WHERE): the rows it can read for an
    /// outer row live on that row's shard, so it runs whole on each shard the main block
    /// reads.
    pub follows_main: bool,
}

/// A sharded table of the statement's main block, as a correlated subquery may name it:
/// its qualifier (lower-cased alias or table name), bind family and shard key column.
#[derive(Debug, Clone)]
pub(crate) struct OuterKey {
    pub qualifier: String,
    pub family: String,
    pub key: String,
}

impl<'q, 'a> Block<'q, 'a> {
    /// Adds the tables and join conditions of `from`. `table` resolves a named table factor
    /// (name, alias) into a block table, or `None` for names that are not tables.
    pub fn add_from(
        &mut self,
        from: &'q [TableWithJoins],
        table: &mut dyn FnMut(
            &'q ObjectName,
            Option<&'q Ident>,
        ) -> Result<Option<BlockTable<'q, 'a>>>,
    ) -> Result<()> {
        for twj in from {
            let start = self.tables.len();
            self.add_factor(&twj.relation, table)?;
            for join in &twj.joins {
                let before = self.tables.len();
                self.add_factor(&join.relation, table)?;
                let right = before..self.tables.len();
                match &join.join_operator {
                    JoinOperator::Left(_) | JoinOperator::LeftOuter(_) => self.outers.push(Outer {
                        preserved: start..before,
                        nullable: right.clone(),
                    }),
                    JoinOperator::Right(_) | JoinOperator::RightOuter(_) => {
                        self.outers.push(Outer {
                            preserved: right.clone(),
                            nullable: start..before,
                        })
                    }
                    JoinOperator::FullOuter(_) => {
                        self.outers.push(Outer {
                            preserved: start..before,
                            nullable: right.clone(),
                        });
                        self.outers.push(Outer {
                            preserved: right.clone(),
                            nullable: start..before,
                        });
                    }
                    _ => {}
                }
                let (constraint, restricts) = match &join.join_operator {
                    JoinOperator::Join(c)
                    | JoinOperator::Inner(c)
                    | JoinOperator::CrossJoin(c)
                    | JoinOperator::StraightJoin(c) => (c, true),
                    JoinOperator::Left(c)
                    | JoinOperator::LeftOuter(c)
                    | JoinOperator::Right(c)
                    | JoinOperator::RightOuter(c)
                    | JoinOperator::FullOuter(c)
                    | JoinOperator::Semi(c)
                    | JoinOperator::LeftSemi(c)
                    | JoinOperator::RightSemi(c)
                    | JoinOperator::Anti(c)
                    | JoinOperator::LeftAnti(c)
                    | JoinOperator::RightAnti(c) => (c, false),
                    JoinOperator::AsOf { constraint, .. } => (constraint, false),
                    _ => continue,
                };
                match constraint {
                    JoinConstraint::On(expr) => self.conds.push(Cond { expr, restricts }),
                    JoinConstraint::Using(columns) | JoinConstraint::UsingAlias(columns, _) => {
                        self.usings.push(Using { right, columns })
                    }
                    JoinConstraint::Natural | JoinConstraint::None => {}
                }
            }
        }
        Ok(())
    }

    fn add_factor(
        &mut self,
        factor: &'q TableFactor,
        table: &mut dyn FnMut(
            &'q ObjectName,
            Option<&'q Ident>,
        ) -> Result<Option<BlockTable<'q, 'a>>>,
    ) -> Result<()> {
        match factor {
            TableFactor::Table { name, alias, .. } => {
                if let Some(t) = table(name, alias.as_ref().map(|a| &a.name))? {
                    self.tables.push(t);
                }
            }
            TableFactor::NestedJoin {
                table_with_joins, ..
            } => self.add_from(std::slice::from_ref(&**table_with_joins), table)?,
            // Derived tables and other subqueries are blocks of their own.
            _ => {}
        }
        Ok(())
    }

    /// Adds a WHERE condition.
    pub fn add_where(&mut self, expr: Option<&'q Expr>) {
        if let Some(expr) = expr {
            self.conds.push(Cond {
                expr,
                restricts: true,
            });
        }
    }

    /// The table a qualifier (`alias` or unaliased table name) refers to.
    fn table_by_qualifier(&self, q: &Ident) -> Option<usize> {
        self.tables.iter().position(|t| match t.alias {
            Some(a) => a.value.eq_ignore_ascii_case(&q.value),
            None => t.name.value.eq_ignore_ascii_case(&q.value),
        })
    }

    /// Calls `f` for each table whose shard key `e` may denote; false if `e` is not a
    /// reference to a shard key of this block.
    fn key_candidates(&self, e: &Expr, f: &mut dyn FnMut(usize)) -> bool {
        let is_key_of = |i: usize, col: &Ident| {
            self.tables[i]
                .sharded
                .is_some_and(|(_, spec)| spec.shard_key.eq_ignore_ascii_case(&col.value))
        };
        match e {
            Expr::Nested(inner) => self.key_candidates(inner, f),
            Expr::Identifier(col) => {
                let mut any = false;
                for i in 0..self.tables.len() {
                    if is_key_of(i, col) {
                        f(i);
                        any = true;
                    }
                }
                any
            }
            Expr::CompoundIdentifier(parts) => {
                let found = match parts.as_slice() {
                    [q, col] => self.table_by_qualifier(q).filter(|&i| is_key_of(i, col)),
                    [d, t, col] => self
                        .tables
                        .iter()
                        .position(|bt| {
                            bt.alias.is_none()
                                && bt.name.value.eq_ignore_ascii_case(&t.value)
                                && bt.db_name.is_some_and(|n| n.eq_ignore_ascii_case(&d.value))
                        })
                        .filter(|&i| is_key_of(i, col)),
                    _ => None,
                };
                if let Some(i) = found {
                    f(i);
                }
                found.is_some()
            }
            _ => false,
        }
    }

    /// The single table whose key `e` denotes, if exactly one.
    fn key_table(&self, e: &Expr) -> Option<usize> {
        let mut found = None;
        let mut count = 0;
        self.key_candidates(e, &mut |i| {
            found = Some(i);
            count += 1;
        });
        (count == 1).then_some(found).flatten()
    }

    /// The shards this block needs, or `None` if it has no sharded table. `noun` names the
    /// statement in refusals ("a query", "an UPDATE", ...). A group of tables without a key
    /// condition needs every shard when `all_if_unkeyed` (a write whose effect is the sum of
    /// its effects on each shard), and is refused otherwise.
    /// `main` for the statement's own block (not a subquery's); `all_if_unkeyed` when that
    /// block may run on every shard without a key condition.
    pub fn shards(
        &self,
        noun: &str,
        main: bool,
        all_if_unkeyed: bool,
        outer: &[OuterKey],
    ) -> Result<Option<BlockShards<'a>>> {
        let Some(first) = self.tables.iter().position(|t| t.sharded.is_some()) else {
            return Ok(None);
        };
        let (first_rule, first_spec) = self.tables[first].sharded.expect("sharded");
        for t in &self.tables {
            if let Some((rule, spec)) = t.sharded {
                if spec.family != first_spec.family {
                    return Err(not_bound(first_rule, rule));
                }
            }
        }

        // Group the sharded tables by key equalities.
        let mut parent: Vec<usize> = (0..self.tables.len()).collect();
        fn root(parent: &mut [usize], mut i: usize) -> usize {
            while parent[i] != i {
                parent[i] = parent[parent[i]];
                i = parent[i];
            }
            i
        }
        let mut conj = Vec::new();
        for c in &self.conds {
            conjuncts(c.expr, &mut conj);
        }
        for e in &conj {
            if let Expr::BinaryOp {
                left,
                op: BinaryOperator::Eq | BinaryOperator::Spaceship,
                right,
            } = e
            {
                if let (Some(a), Some(b)) = (self.key_table(left), self.key_table(right)) {
                    let (ra, rb) = (root(&mut parent, a), root(&mut parent, b));
                    parent[ra] = rb;
                }
            }
        }
        for u in &self.usings {
            for col in u.columns {
                let Some(col) = col.0.last().and_then(|p| p.as_ident()) else {
                    continue;
                };
                let keyed = |i: &usize| {
                    self.tables[*i]
                        .sharded
                        .is_some_and(|(_, s)| s.shard_key.eq_ignore_ascii_case(&col.value))
                };
                let left: Vec<usize> = (0..u.right.start).filter(keyed).collect();
                let right: Vec<usize> = u.right.clone().filter(keyed).collect();
                if let ([a], [b]) = (left.as_slice(), right.as_slice()) {
                    let (ra, rb) = (root(&mut parent, *a), root(&mut parent, *b));
                    parent[ra] = rb;
                }
            }
        }

        if !main && noun == "a query" {
            if let Some(shards) = self.follows_main(outer, &mut parent, root) {
                return Ok(Some(shards));
            }
        }

        // Constrain each group.
        let mut keyed = true;
        let mut result: Option<(ShardSet, usize)> = None;
        for i in 0..self.tables.len() {
            let Some((rule, spec)) = self.tables[i].sharded else {
                continue;
            };
            let class = root(&mut parent, i);
            if (0..i).any(|j| self.tables[j].sharded.is_some() && root(&mut parent, j) == class) {
                continue; // group already done
            }
            let members: Vec<bool> = (0..self.tables.len())
                .map(|j| root(&mut parent, j) == class)
                .collect();
            let is_key = |e: &Expr| {
                let mut all_in = true;
                let any = self.key_candidates(e, &mut |j| all_in &= members[j]);
                any && all_in
            };
            let key = Key {
                spec,
                table: &rule.name,
                is_key: &is_key,
            };
            let mut set: Option<ShardSet> = None;
            for c in self.conds.iter().filter(|c| c.restricts) {
                if let Some(s) = constraint(c.expr, &key)? {
                    match &mut set {
                        Some(acc) => acc.intersect_with(&s),
                        None => set = Some(s),
                    }
                }
            }
            let set = match set {
                Some(set) => set,
                // A read without a key condition goes to every shard (the route decides whether
                // the rows can be merged exactly); so does a write whose effect is a sum.
                None if all_if_unkeyed || noun == "a query" => {
                    keyed = false;
                    ShardSet::all(spec.shards())
                }
                None if main || noun == "DDL" => {
                    return Err(Error::unsupported(format!(
                        "{noun} on sharded table '{}' without a shard key ({}) condition",
                        rule.name, spec.shard_key
                    )))
                }
                // A write's subquery: each shard would read only its own rows of the table.
                None => {
                    return Err(Error::unsupported(format!(
                        "{noun} with a subquery on sharded table '{}' without a shard key ({}) \
                         condition: each shard would read only its own rows of '{}'",
                        rule.name, spec.shard_key, rule.name
                    )))
                }
            };
            let set = set.or_first();
            match &result {
                None => result = Some((set, i)),
                Some((prev, j)) => {
                    if prev.only().is_none() || prev.only() != set.only() {
                        let other = self.tables[*j].sharded.expect("sharded").0;
                        return Err(Error::unsupported(format!(
                            "a join of sharded tables '{}' and '{}' without an equality of \
                             their shard keys ({}) in ON or WHERE",
                            other.name, rule.name, spec.shard_key
                        )));
                    }
                }
            }
        }
        let (shards, _) = result.expect("a sharded table was found");
        if noun == "a query" && !keyed && shards.only().is_none() {
            self.refuse_unmatched_copies()?;
        }
        Ok(Some(BlockShards {
            shards,
            rule: first_rule,
            keyed,
            follows_main: false,
        }))
    }

    /// The block as a subquery correlated on the main block's shard key: all its sharded
    /// tables form one key-linked group, and a top-level conjunct equates that group's key
    /// with the key of a main-block table of the same bind family (a qualifier that is not
    /// one of this block's own).
    fn follows_main(
        &self,
        outer: &[OuterKey],
        parent: &mut [usize],
        root: fn(&mut [usize], usize) -> usize,
    ) -> Option<BlockShards<'a>> {
        let sharded: Vec<usize> = (0..self.tables.len())
            .filter(|&i| self.tables[i].sharded.is_some())
            .collect();
        let first = *sharded.first()?;
        let class = root(parent, first);
        if sharded.iter().any(|&i| root(parent, i) != class) {
            return None;
        }
        let (rule, spec) = self.tables[first].sharded?;
        let mut in_class = vec![false; self.tables.len()];
        for &i in &sharded {
            in_class[i] = true;
        }
        let is_group_key = |e: &Expr| {
            let mut all_in = true;
            let any = self.key_candidates(e, &mut |j| all_in &= in_class[j]);
            any && all_in
        };
        let is_outer_key = |e: &Expr| match e {
            Expr::CompoundIdentifier(parts) => match parts.as_slice() {
                [q, col] => {
                    self.table_by_qualifier(q).is_none()
                        && outer.iter().any(|o| {
                            o.qualifier.eq_ignore_ascii_case(&q.value)
                                && o.family == spec.family
                                && o.key.eq_ignore_ascii_case(&col.value)
                        })
                }
                _ => false,
            },
            _ => false,
        };
        let restricting: Vec<&Expr> = {
            let mut out = Vec::new();
            for c in self.conds.iter().filter(|c| c.restricts) {
                conjuncts(c.expr, &mut out);
            }
            out
        };
        let correlated = restricting.iter().any(|e| match e {
            Expr::BinaryOp {
                left,
                op: BinaryOperator::Eq,
                right,
            } => {
                (is_group_key(left) && is_outer_key(right))
                    || (is_group_key(right) && is_outer_key(left))
            }
            _ => false,
        });
        correlated.then(|| BlockShards {
            shards: ShardSet::all(spec.shards()),
            rule,
            keyed: false,
            follows_main: true,
        })
    }
}

impl Block<'_, '_> {
    /// A read over several shards with an outer join that keeps the rows of unsharded or
    /// broadcast tables (present whole on every shard) where a sharded table has no match:
    /// every shard would return each such row once, padded with NULLs, where one server
    /// returns it once. A key condition in WHERE on the sharded side makes the join inner
    /// (it rejects the NULL rows), so only unkeyed reads get here.
    fn refuse_unmatched_copies(&self) -> Result<()> {
        for o in &self.outers {
            if o.preserved
                .clone()
                .any(|i| self.tables[i].sharded.is_some())
            {
                continue;
            }
            let Some(sharded) = o.nullable.clone().find_map(|i| self.tables[i].sharded) else {
                continue;
            };
            let kept = o
                .preserved
                .clone()
                .next()
                .map_or("", |i| self.tables[i].name.value.as_str());
            return Err(Error::unsupported(format!(
                "an outer join keeping rows of '{kept}' that have no match in sharded table \
                 '{}', over several shards (every shard would return those rows; add a \
                 condition on the shard key ({}) in WHERE)",
                sharded.0.name, sharded.1.shard_key
            )));
        }
        Ok(())
    }
}

pub(crate) fn not_bound(a: &TableRule, b: &TableRule) -> Error {
    Error::unsupported(format!(
        "a statement on sharded tables '{}' and '{}', which are not bound to each other \
         (bind_to), so their rows are not co-located",
        a.name, b.name
    ))
}
