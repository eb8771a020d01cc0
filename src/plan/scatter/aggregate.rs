//! Recognising the aggregates the proxy can combine exactly, and refusing the others.

use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, DuplicateTreatment, Expr, FunctionArg, FunctionArgExpr, FunctionArguments,
    Query, Visit, Visitor,
};

use crate::plan::merge::AggKind;

/// What an expression is, for merging.
pub(crate) enum AggShape {
    /// COUNT / SUM / MIN / MAX / AVG over plain arguments.
    Simple {
        kind: AggKind,
        distinct: bool,
        /// The single argument, when it is an expression (not `*`).
        arg: Option<Box<Expr>>,
    },
    /// An aggregate the proxy cannot combine (GROUP_CONCAT, STD, ...), or one inside a
    /// larger expression: the name to refuse with.
    Unmergeable(String),
    NotAggregate,
}

fn agg_name(e: &Expr) -> Option<String> {
    match e {
        Expr::Function(f) => {
            let n = f.name.0.last()?.as_ident()?;
            let upper = n.value.to_ascii_uppercase();
            crate::plan::collect::AGGREGATES
                .contains(&upper.as_str())
                .then_some(upper)
        }
        _ => None,
    }
}

/// Finds an aggregate anywhere in an expression, outside subqueries.
struct Finder {
    depth: u32,
    found: Option<String>,
}

impl Visitor for Finder {
    type Break = ();
    fn pre_visit_query(&mut self, _q: &Query) -> ControlFlow<()> {
        self.depth += 1;
        ControlFlow::Continue(())
    }
    fn post_visit_query(&mut self, _q: &Query) -> ControlFlow<()> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }
    fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
        if self.depth == 0 {
            if let Some(n) = agg_name(e) {
                self.found = Some(n);
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    }
}

pub(crate) fn contains_aggregate(e: &Expr) -> Option<String> {
    let mut f = Finder {
        depth: 0,
        found: None,
    };
    let _ = e.visit(&mut f);
    f.found
}

/// Whether a `/` appears anywhere in the expression (subqueries included).
pub(crate) fn has_division(e: &Expr) -> bool {
    struct Div;
    impl Visitor for Div {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            match e {
                Expr::BinaryOp {
                    op: BinaryOperator::Divide,
                    ..
                } => ControlFlow::Break(()),
                _ => ControlFlow::Continue(()),
            }
        }
    }
    e.visit(&mut Div).is_break()
}

pub(crate) fn shape(e: &Expr) -> AggShape {
    let Some(name) = agg_name(e) else {
        return match contains_aggregate(e) {
            Some(n) => AggShape::Unmergeable(format!("an expression over {n}()")),
            None => AggShape::NotAggregate,
        };
    };
    let Expr::Function(f) = e else {
        return AggShape::NotAggregate;
    };
    let kind = match name.as_str() {
        "COUNT" => AggKind::Count,
        "SUM" => AggKind::Sum,
        "MIN" => AggKind::Min,
        "MAX" => AggKind::Max,
        "AVG" => AggKind::Avg {
            sum: crate::plan::merge::Col::Hidden(0),
            count: crate::plan::merge::Col::Hidden(0),
        },
        _ => return AggShape::Unmergeable(format!("{name}()")),
    };
    if f.over.is_some() || f.filter.is_some() || !f.within_group.is_empty() {
        return AggShape::Unmergeable(format!("{name}() with OVER/FILTER"));
    }
    let FunctionArguments::List(list) = &f.args else {
        return AggShape::Unmergeable(format!("{name}() with these arguments"));
    };
    if !list.clauses.is_empty() || list.args.len() != 1 {
        return AggShape::Unmergeable(format!("{name}() with these arguments"));
    }
    let distinct = matches!(list.duplicate_treatment, Some(DuplicateTreatment::Distinct));
    let arg = match &list.args[0] {
        FunctionArg::Unnamed(FunctionArgExpr::Expr(x)) => Some(Box::new(x.clone())),
        FunctionArg::Unnamed(FunctionArgExpr::Wildcard) if kind == AggKind::Count => None,
        _ => return AggShape::Unmergeable(format!("{name}() with these arguments")),
    };
    if let Some(a) = &arg {
        if let Some(inner) = contains_aggregate(a) {
            return AggShape::Unmergeable(format!("{inner}() inside {name}()"));
        }
    }
    AggShape::Simple {
        kind,
        distinct,
        arg,
    }
}
