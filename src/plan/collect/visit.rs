//! The walk: sqlparser's visitor calls these for every query, SELECT block, table, alias and
//! expression of the statement, in source order.

use std::ops::ControlFlow;

use sqlparser::ast::{
    Expr, FunctionArguments, Ident, ObjectName, Query, Select, SelectItem,
    SelectItemQualifiedWildcardKind, SetExpr, Statement, TableFactor, Visitor,
};

use super::item_names::ItemKind;
use super::{Collector, AGGREGATES};
use crate::error::Error;
use crate::plan::names::is_rule_table_anywhere;

fn is_database_fn(e: &Expr) -> bool {
    match e {
        Expr::Function(f) => {
            f.name.0.len() == 1
                && f.name.0[0].as_ident().is_some_and(|i| {
                    i.quote_style.is_none()
                        && (i.value.eq_ignore_ascii_case("DATABASE")
                            || i.value.eq_ignore_ascii_case("SCHEMA"))
                })
                && match &f.args {
                    FunctionArguments::List(l) => l.args.is_empty(),
                    _ => false,
                }
        }
        _ => false,
    }
}

/// Query bodies the walk cannot plan: `TABLE t` names its table as a plain string (no
/// position to rename, and a broadcast write reading it would not see it), and a write
/// under a WITH clause (`WITH c AS (...) UPDATE ...`) would be routed as a read.
fn refuse_unplanned_body(body: &SetExpr) -> Result<(), Error> {
    match body {
        SetExpr::Table(t) => {
            let name = t.table_name.as_ref().map_or("", |i| i.value.as_str());
            Err(Error::unsupported(format!(
                "TABLE {name} inside a statement (write SELECT * FROM {name})"
            )))
        }
        SetExpr::Insert(_) | SetExpr::Update(_) | SetExpr::Delete(_) | SetExpr::Merge(_) => Err(
            Error::unsupported("a write after a WITH clause".to_string()),
        ),
        SetExpr::SetOperation { left, right, .. } => {
            refuse_unplanned_body(left)?;
            refuse_unplanned_body(right)
        }
        _ => Ok(()),
    }
}

impl Visitor for Collector<'_, '_> {
    type Break = Error;

    /// A RETURNING list names its columns as a select list does.
    fn pre_visit_statement(&mut self, s: &Statement) -> ControlFlow<Error> {
        let returning = match s {
            Statement::Insert(i) => i.returning.as_deref(),
            Statement::Delete(d) => d.returning.as_deref(),
            Statement::Update(u) => u.returning.as_deref(),
            _ => None,
        };
        for item in returning.unwrap_or_default() {
            if let SelectItem::UnnamedExpr(e) = item {
                self.note_unnamed_item(e, ItemKind::Listed);
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<Error> {
        if let Err(e) = refuse_unplanned_body(&q.body) {
            return ControlFlow::Break(e);
        }
        self.depth += 1;
        let address = q as *const Query as usize;
        self.in_cte.push(self.cte_bodies.contains(&address));
        if self.main_pending {
            self.main_pending = false;
            self.main_depth = Some(self.depth);
            if q.order_by.is_some() {
                self.block_multi_shard("ORDER BY");
            }
            if q.limit_clause.is_some() || q.fetch.is_some() {
                self.block_multi_shard("LIMIT");
            }
            if let SetExpr::SetOperation { op, .. } = &*q.body {
                self.main_setop = true;
                self.block_multi_shard(match op {
                    sqlparser::ast::SetOperator::Union => "UNION",
                    sqlparser::ast::SetOperator::Except => "EXCEPT",
                    sqlparser::ast::SetOperator::Intersect => "INTERSECT",
                    sqlparser::ast::SetOperator::Minus => "MINUS",
                });
            }
        }
        if let Some(with) = &q.with {
            for cte in &with.cte_tables {
                let name = &cte.alias.name;
                if is_rule_table_anywhere(self.ctx.rules, &name.value) {
                    return ControlFlow::Break(Error::unsupported(format!(
                        "a common table expression named like table '{}'",
                        name.value
                    )));
                }
                self.ctes.push(name.value.to_ascii_lowercase());
                self.cte_bodies.push(&*cte.query as *const Query as usize);
                self.mark_handled(name);
            }
        }
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _q: &Query) -> ControlFlow<Error> {
        self.depth -= 1;
        self.in_cte.pop();
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, s: &Select) -> ControlFlow<Error> {
        let main = self.main_depth == Some(self.depth) && !self.main_setop;
        if main {
            if s.distinct.is_some() {
                self.block_multi_shard("DISTINCT");
            }
            let grouped = match &s.group_by {
                sqlparser::ast::GroupByExpr::All(_) => true,
                sqlparser::ast::GroupByExpr::Expressions(e, _) => !e.is_empty(),
            };
            if grouped {
                self.block_multi_shard("GROUP BY");
            }
            if s.having.is_some() {
                self.block_multi_shard("HAVING");
            }
            if !s.named_window.is_empty() {
                self.block_multi_shard("a window function");
            }
            if s.into.is_some() {
                self.block_multi_shard("SELECT ... INTO");
            }
            if s.select_modifiers
                .as_ref()
                .is_some_and(|m| m.sql_calc_found_rows)
            {
                self.block_multi_shard("SQL_CALC_FOUND_ROWS");
            }
        }
        for item in &s.projection {
            match item {
                SelectItem::UnnamedExpr(e) if is_database_fn(e) => {
                    if let Expr::Function(f) = e {
                        if let Some(i) = f.name.0[0].as_ident() {
                            self.db_fns.push((i.span.start, true));
                        }
                    }
                }
                SelectItem::UnnamedExpr(e) => {
                    let kind = if self.in_cte.last() == Some(&true) {
                        ItemKind::Cte
                    } else {
                        ItemKind::Listed
                    };
                    self.note_unnamed_item(e, kind)
                }
                SelectItem::ExprWithAlias { alias, .. } => self.mark_handled(alias),
                SelectItem::QualifiedWildcard(
                    SelectItemQualifiedWildcardKind::ObjectName(n),
                    _,
                ) => {
                    let parts: Option<Vec<Ident>> =
                        n.0.iter().map(|p| p.as_ident().cloned()).collect();
                    if let Err(e) = self.add_qualifier(&parts.unwrap_or_default()) {
                        return ControlFlow::Break(e);
                    }
                }
                _ => {}
            }
        }
        let from = [s.from.as_slice()];
        match self.add_block(&from, s.selection.as_ref(), main) {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => ControlFlow::Break(e),
        }
    }

    fn pre_visit_relation(&mut self, name: &ObjectName) -> ControlFlow<Error> {
        if self.is_not_a_relation(name) {
            return ControlFlow::Continue(());
        }
        match self.register_table(name) {
            Ok(_) => ControlFlow::Continue(()),
            Err(e) => ControlFlow::Break(e),
        }
    }

    fn pre_visit_table_factor(&mut self, f: &TableFactor) -> ControlFlow<Error> {
        let alias = match f {
            TableFactor::Table { alias, .. }
            | TableFactor::Derived { alias, .. }
            | TableFactor::TableFunction { alias, .. }
            | TableFactor::Function { alias, .. }
            | TableFactor::NestedJoin { alias, .. } => alias.as_ref(),
            _ => None,
        };
        if let Some(a) = alias {
            if is_rule_table_anywhere(self.ctx.rules, &a.name.value) {
                // An alias spelled like a sharded or broadcast table on anything but that
                // table is how a misread statement looks (`UPDATE IGNORE hospitals` read as
                // table IGNORE under alias `hospitals`), and the name would reach a server
                // unrewritten: refused.
                let same_table = match f {
                    TableFactor::Table { name, .. } => name
                        .0
                        .last()
                        .and_then(|p| p.as_ident())
                        .is_some_and(|t| t.value.eq_ignore_ascii_case(&a.name.value)),
                    _ => false,
                };
                if !same_table {
                    return ControlFlow::Break(Error::unsupported(format!(
                        "the alias '{}' on another table or subquery: it names a sharded or \
                         broadcast table",
                        a.name.value
                    )));
                }
                self.sharded_alias = true;
            }
            self.mark_handled(&a.name);
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<Error> {
        match e {
            Expr::Identifier(i) => self.mark_handled(i),
            Expr::CompoundIdentifier(parts) => {
                if let Some((col, quals)) = parts.split_last() {
                    self.mark_handled(col);
                    if let Err(err) = self.add_qualifier(quals) {
                        return ControlFlow::Break(err);
                    }
                }
            }
            Expr::Function(f) => {
                if self.main_depth == Some(self.depth) {
                    if f.over.is_some() {
                        if self.partitioned_by_key(f.over.as_ref()) {
                            self.window_on_each_shard = true;
                        } else {
                            self.block_multi_shard("a window function");
                        }
                    }
                    let name = f.name.0.last().and_then(|p| p.as_ident());
                    if f.over.is_none()
                        && name.is_some_and(|n| {
                            AGGREGATES.iter().any(|a| a.eq_ignore_ascii_case(&n.value))
                        })
                    {
                        self.block_multi_shard("an aggregate function");
                    }
                }
                if is_database_fn(e) {
                    if let Some(i) = f.name.0[0].as_ident() {
                        if !self.db_fns.iter().any(|(l, _)| *l == i.span.start) {
                            self.db_fns.push((i.span.start, false));
                        }
                    }
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}
