//! Which rows of each sharded table a materialized statement can need: the WHERE conditions
//! that filter one table's rows before it joins anything, copied into that table's fetch so
//! that only those rows travel. The final statement applies its whole WHERE again, so a
//! condition copied here only has to be implied for every row that can reach the answer:
//! a conjunct of a block's WHERE that reads only this table's columns, in a block whose FROM
//! holds the table. Anything less certain (a subquery, a variable, a function whose value
//! changes between the fetch and the final statement, a column that may belong to an outer
//! query) is left out, and a table that also appears where this walk does not look is
//! fetched whole.

use std::collections::HashMap;
use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, Expr, Ident, JoinOperator, Query, Select, SetExpr, Spanned, TableFactor,
    TableWithJoins, Visit, Visitor,
};

use super::super::offsets::Offsets;
use super::super::rewrite::spelled_as;

/// The qualifier the fetch statements give their table, so copied conditions can name it.
pub(crate) const FETCH_ALIAS: &str = "_sg";

/// Functions whose value may differ between the fetch and the final statement, or that do
/// something: a condition calling one is not copied.
const UNSTABLE: &[&str] = &[
    "benchmark",
    "connection_id",
    "curdate",
    "current_date",
    "current_time",
    "current_timestamp",
    "current_user",
    "curtime",
    "database",
    "found_rows",
    "get_lock",
    "is_free_lock",
    "is_used_lock",
    "last_insert_id",
    "lastval",
    "load_file",
    "localtime",
    "localtimestamp",
    "master_gtid_wait",
    "master_pos_wait",
    "nextval",
    "now",
    "rand",
    "release_all_locks",
    "release_lock",
    "row_count",
    "schema",
    "session_user",
    "setval",
    "sleep",
    "sys_guid",
    "sysdate",
    "system_user",
    "unix_timestamp",
    "user",
    "utc_date",
    "utc_time",
    "utc_timestamp",
    "uuid",
    "uuid_short",
];

/// A sharded table found in a FROM clause the walk understands.
struct Occurrence {
    /// Lower-cased logical table name.
    table: String,
    /// The conditions copied for it, already naming `FETCH_ALIAS`; empty: every row.
    conditions: Vec<String>,
}

/// The fetch filter per lower-cased sharded table name: `Some(text)` to put after WHERE,
/// `None` for the whole table. `is_sharded` maps a table name (as written, last part) to
/// its lower-cased rule name.
pub(super) fn filters(
    q: &Query,
    sql: &str,
    is_sharded: &dyn Fn(&sqlparser::ast::ObjectName) -> Option<String>,
) -> HashMap<String, Option<String>> {
    let offsets = Offsets::new(sql);
    let mut walk = Walk {
        sql,
        offsets: &offsets,
        is_sharded,
        found: Vec::new(),
    };
    walk.query(q, true);
    let mut everywhere = CountTables {
        is_sharded,
        counts: HashMap::new(),
    };
    let _ = q.visit(&mut everywhere);

    let mut out: HashMap<String, Option<String>> = HashMap::new();
    for (table, total) in everywhere.counts {
        let mine: Vec<&Occurrence> = walk.found.iter().filter(|o| o.table == table).collect();
        let filter =
            (mine.len() == total && mine.iter().all(|o| !o.conditions.is_empty())).then(|| {
                mine.iter()
                    .map(|o| format!("({})", o.conditions.join(") AND (")))
                    .collect::<Vec<_>>()
                    .join(" OR ")
            });
        out.insert(table, filter);
    }
    out
}

struct CountTables<'f> {
    is_sharded: &'f dyn Fn(&sqlparser::ast::ObjectName) -> Option<String>,
    counts: HashMap<String, usize>,
}

impl Visitor for CountTables<'_> {
    type Break = ();

    fn pre_visit_table_factor(&mut self, t: &TableFactor) -> ControlFlow<()> {
        if let TableFactor::Table { name, .. } = t {
            if let Some(table) = (self.is_sharded)(name) {
                *self.counts.entry(table).or_default() += 1;
            }
        }
        ControlFlow::Continue(())
    }
}

/// A sharded table of one SELECT's FROM, as that SELECT's conditions name it.
struct FromTable {
    table: String,
    qualifier: Ident,
    /// On the side of an outer join that is padded with NULLs.
    nullable: bool,
}

struct Walk<'w> {
    sql: &'w str,
    offsets: &'w Offsets<'w>,
    is_sharded: &'w dyn Fn(&sqlparser::ast::ObjectName) -> Option<String>,
    found: Vec<Occurrence>,
}

impl Walk<'_> {
    /// `free`: no outer query can be referenced from here (the statement itself, its
    /// common table expressions and UNION branches, derived tables that are not LATERAL).
    fn query(&mut self, q: &Query, free: bool) {
        if let Some(with) = &q.with {
            for cte in &with.cte_tables {
                self.query(&cte.query, free);
            }
        }
        self.set_expr(&q.body, free);
    }

    fn set_expr(&mut self, e: &SetExpr, free: bool) {
        match e {
            SetExpr::Select(s) => self.select(s, free),
            SetExpr::Query(q) => self.query(q, free),
            SetExpr::SetOperation { left, right, .. } => {
                self.set_expr(left, free);
                self.set_expr(right, free);
            }
            _ => {}
        }
    }

    fn select(&mut self, s: &Select, free: bool) {
        let mut tables: Vec<FromTable> = Vec::new();
        for twj in &s.from {
            self.factors(twj, free, false, &mut tables);
        }
        // A bare column name is this table's only when the FROM is this table alone (a
        // nested join `(t JOIN p ON ...)` is one FROM item holding two tables).
        let alone = s.from.len() == 1
            && s.from[0].joins.is_empty()
            && matches!(s.from[0].relation, TableFactor::Table { .. })
            && tables.len() == 1;
        let mut conjuncts = Vec::new();
        if let Some(w) = &s.selection {
            split_and(w, &mut conjuncts);
        }
        for t in tables {
            // A row of a table an outer join pads with NULLs decides, by matching, which
            // rows of the other side are padded: a condition on it in WHERE (run after the
            // join) does not say which of its rows the join needs.
            let conditions = if t.nullable {
                Vec::new()
            } else {
                conjuncts
                    .iter()
                    .filter_map(|c| self.copy(c, &t.qualifier, alone && free))
                    .collect()
            };
            self.found.push(Occurrence {
                table: t.table,
                conditions,
            });
        }
    }

    /// The sharded tables of `twj` into `tables`; `nullable`: the whole of `twj` is on
    /// the padded side of an outer join around it.
    fn factors(
        &mut self,
        twj: &TableWithJoins,
        free: bool,
        nullable: bool,
        tables: &mut Vec<FromTable>,
    ) {
        let first = tables.len();
        self.factor(&twj.relation, free, nullable, tables);
        for j in &twj.joins {
            let (left_padded, right_padded) = match &j.join_operator {
                JoinOperator::Left(_) | JoinOperator::LeftOuter(_) => (false, true),
                JoinOperator::Right(_) | JoinOperator::RightOuter(_) => (true, false),
                JoinOperator::FullOuter(_) => (true, true),
                JoinOperator::Join(_)
                | JoinOperator::Inner(_)
                | JoinOperator::CrossJoin(_)
                | JoinOperator::StraightJoin(_) => (false, false),
                // Anything else is treated as padding both sides: nothing is copied.
                _ => (true, true),
            };
            if left_padded {
                for t in &mut tables[first..] {
                    t.nullable = true;
                }
            }
            self.factor(&j.relation, free, nullable || right_padded, tables);
        }
    }

    fn factor(&mut self, f: &TableFactor, free: bool, nullable: bool, tables: &mut Vec<FromTable>) {
        match f {
            TableFactor::Table { name, alias, .. } => {
                if let Some(table) = (self.is_sharded)(name) {
                    let qualifier = match alias {
                        Some(a) => a.name.clone(),
                        None => match name.0.last().and_then(|p| p.as_ident()) {
                            Some(i) => i.clone(),
                            None => return,
                        },
                    };
                    tables.push(FromTable {
                        table,
                        qualifier,
                        nullable,
                    });
                }
            }
            TableFactor::Derived {
                lateral, subquery, ..
            } => self.query(subquery, free && !lateral),
            TableFactor::NestedJoin {
                table_with_joins, ..
            } => {
                // Its tables are joined among themselves first: conditions of the block
                // around still filter each of them like any other table of the FROM.
                self.factors(table_with_joins, free, nullable, tables)
            }
            _ => {}
        }
    }

    /// The text of conjunct `c` with `qualifier` renamed to `FETCH_ALIAS`, if it reads only
    /// that table's columns and nothing unstable; `unqualified`: a bare column name can
    /// only be that table's.
    fn copy(&self, c: &Expr, qualifier: &Ident, unqualified: bool) -> Option<String> {
        let mut check = Copyable {
            qualifier,
            unqualified,
            renames: Vec::new(),
            columns: 0,
        };
        if c.visit(&mut check).is_break() || check.columns == 0 {
            return None;
        }
        let (start, mut end) = self.offsets.range(c.span())?;
        // Some spans stop before the closing parentheses (`x IN (1, 2`): take up to three
        // more, as long as the text then reads as the expression.
        let mut extra = 0;
        loop {
            let text = self.sql.get(start..end)?;
            if same_expression(text, c) {
                break;
            }
            let rest = self.sql.get(end..)?;
            let skip = rest.len() - rest.trim_start().len();
            if extra == 3 || !rest[skip..].starts_with(')') {
                return None;
            }
            end += skip + 1;
            extra += 1;
        }
        let mut out = String::with_capacity(end - start + 8);
        let mut renames = Vec::with_capacity(check.renames.len());
        for ident in &check.renames {
            let (s, e) = self.offsets.range(ident.span)?;
            if s < start || e > end || !spelled_as(self.sql.get(s..e)?, ident) {
                return None;
            }
            renames.push((s, e));
        }
        renames.sort_unstable();
        if renames.windows(2).any(|w| w[0].1 > w[1].0) {
            return None;
        }
        let mut pos = start;
        for (s, e) in renames {
            out.push_str(&self.sql[pos..s]);
            out.push('`');
            out.push_str(FETCH_ALIAS);
            out.push('`');
            pos = e;
        }
        out.push_str(&self.sql[pos..end]);
        Some(out)
    }
}

/// Guards against a span that does not cover exactly the expression: the text read back
/// must print as the expression does.
fn same_expression(text: &str, c: &Expr) -> bool {
    let probe = format!("SELECT 1 WHERE {text}");
    let Ok(parsed) = super::super::parse::parse_text(&probe) else {
        return false;
    };
    let sqlparser::ast::Statement::Query(q) = &parsed.stmt else {
        return false;
    };
    let SetExpr::Select(s) = q.body.as_ref() else {
        return false;
    };
    s.selection
        .as_ref()
        .is_some_and(|e| e.to_string() == c.to_string())
}

fn split_and<'e>(e: &'e Expr, out: &mut Vec<&'e Expr>) {
    match e {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            split_and(left, out);
            split_and(right, out);
        }
        Expr::Nested(inner)
            if matches!(
                **inner,
                Expr::BinaryOp {
                    op: BinaryOperator::And,
                    ..
                }
            ) =>
        {
            split_and(inner, out)
        }
        other => out.push(other),
    }
}

struct Copyable<'q> {
    qualifier: &'q Ident,
    unqualified: bool,
    /// Qualifier identifiers to rename.
    renames: Vec<Ident>,
    columns: usize,
}

impl Visitor for Copyable<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, _q: &Query) -> ControlFlow<()> {
        ControlFlow::Break(())
    }

    fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
        match e {
            Expr::Identifier(i) => {
                if !self.unqualified
                    || i.value.starts_with('@')
                    || i.quote_style.is_none() && is_keyword_value(&i.value)
                {
                    return ControlFlow::Break(());
                }
                self.columns += 1;
            }
            Expr::CompoundIdentifier(parts) => match parts.as_slice() {
                // Exactly as spelled: MariaDB tells `a` and `A` apart as aliases (and as
                // table names unless lower_case_table_names is set), so a qualifier equal
                // only when case is ignored may be another table's.
                [q, _col] if q.value == self.qualifier.value => {
                    self.columns += 1;
                    self.renames.push(q.clone());
                }
                _ => return ControlFlow::Break(()),
            },
            Expr::Subquery(_) | Expr::Exists { .. } => return ControlFlow::Break(()),
            Expr::Function(f) => {
                let name = f.name.to_string().to_ascii_lowercase();
                if UNSTABLE.contains(&name.as_str()) || !super::super::functions::is_builtin(&name)
                {
                    return ControlFlow::Break(());
                }
            }
            Expr::Value(v) => {
                if matches!(v.value, sqlparser::ast::Value::Placeholder(_)) {
                    return ControlFlow::Break(());
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

/// Bare words sqlparser reads as identifiers although MariaDB reads them as values or
/// functions (`CURRENT_DATE` without parentheses).
fn is_keyword_value(word: &str) -> bool {
    let lower = word.to_ascii_lowercase();
    UNSTABLE.contains(&lower.as_str())
}

/// Every column name `q` mentions (lower-cased, last part of qualified names), or `None`
/// when a `*` / `t.*` in a select list or a NATURAL JOIN reads columns it does not name.
pub(super) fn mentioned_columns(q: &Query) -> Option<Vec<String>> {
    let mut names = Mentions {
        names: Vec::new(),
        all: false,
    };
    let _ = q.visit(&mut names);
    if names.all {
        return None;
    }
    names.names.sort_unstable();
    names.names.dedup();
    Some(names.names)
}

struct Mentions {
    names: Vec<String>,
    all: bool,
}

impl Visitor for Mentions {
    type Break = ();

    fn pre_visit_select(&mut self, s: &Select) -> ControlFlow<()> {
        use sqlparser::ast::{JoinConstraint, JoinOperator, SelectItem};
        if s.projection.iter().any(|i| {
            matches!(
                i,
                SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)
            )
        }) {
            self.all = true;
        }
        for twj in &s.from {
            for j in &twj.joins {
                let constraint = match &j.join_operator {
                    JoinOperator::Join(c)
                    | JoinOperator::Inner(c)
                    | JoinOperator::Left(c)
                    | JoinOperator::LeftOuter(c)
                    | JoinOperator::Right(c)
                    | JoinOperator::RightOuter(c)
                    | JoinOperator::FullOuter(c)
                    | JoinOperator::CrossJoin(c)
                    | JoinOperator::StraightJoin(c) => c,
                    _ => {
                        self.all = true;
                        continue;
                    }
                };
                match constraint {
                    JoinConstraint::Natural => self.all = true,
                    JoinConstraint::Using(cols) | JoinConstraint::UsingAlias(cols, _) => {
                        for c in cols {
                            if let Some(i) = c.0.last().and_then(|p| p.as_ident()) {
                                self.names.push(i.value.to_ascii_lowercase());
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, t: &TableFactor) -> ControlFlow<()> {
        if !matches!(
            t,
            TableFactor::Table { .. }
                | TableFactor::Derived { .. }
                | TableFactor::NestedJoin { .. }
        ) {
            self.all = true;
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
        match e {
            // Names columns in a form of its own.
            Expr::MatchAgainst { .. } => self.all = true,
            Expr::Identifier(i) => self.names.push(i.value.to_ascii_lowercase()),
            Expr::CompoundIdentifier(parts) => {
                if let Some(last) = parts.last() {
                    self.names.push(last.value.to_ascii_lowercase());
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}
