//! HAVING as a `Filter` the proxy evaluates on combined rows: comparisons of aggregates,
//! select items (by alias or same text) and numbers, joined by AND / OR / NOT. Anything
//! else is refused rather than guessed.

use sqlparser::ast::{BinaryOperator, Expr, UnaryOperator};

use super::aggregate::{shape, AggShape};
use super::clauses::call_range;
use super::{refuse, Piece, Planner};
use crate::error::Result;
use crate::plan::merge::{Agg, CmpOp, Filter, Operand};

pub(crate) fn filter(p: &mut Planner<'_>, e: &Expr, aggs: &mut Vec<Agg>) -> Result<Filter> {
    match e {
        Expr::Nested(inner) => filter(p, inner, aggs),
        Expr::UnaryOp {
            op: UnaryOperator::Not,
            expr,
        } => Ok(Filter::Not(Box::new(filter(p, expr, aggs)?))),
        Expr::BinaryOp { left, op, right } => {
            let cmp = match op {
                BinaryOperator::And => {
                    return Ok(Filter::And(
                        Box::new(filter(p, left, aggs)?),
                        Box::new(filter(p, right, aggs)?),
                    ))
                }
                BinaryOperator::Or => {
                    return Ok(Filter::Or(
                        Box::new(filter(p, left, aggs)?),
                        Box::new(filter(p, right, aggs)?),
                    ))
                }
                BinaryOperator::Eq => CmpOp::Eq,
                BinaryOperator::NotEq => CmpOp::NotEq,
                BinaryOperator::Lt => CmpOp::Lt,
                BinaryOperator::LtEq => CmpOp::LtEq,
                BinaryOperator::Gt => CmpOp::Gt,
                BinaryOperator::GtEq => CmpOp::GtEq,
                _ => return Err(refuse(format!("HAVING with operator {op}"), &p.table)),
            };
            Ok(Filter::Cmp {
                op: cmp,
                left: operand(p, left, aggs)?,
                right: operand(p, right, aggs)?,
            })
        }
        _ => Err(refuse("this HAVING condition", &p.table)),
    }
}

fn operand(p: &mut Planner<'_>, e: &Expr, aggs: &mut Vec<Agg>) -> Result<Operand> {
    match e {
        Expr::Nested(inner) => operand(p, inner, aggs),
        Expr::Value(v) => match &v.value {
            sqlparser::ast::Value::Number(n, _) => Ok(Operand::Number(n.clone())),
            _ => Err(refuse(
                "a HAVING comparison with a non-numeric literal",
                &p.table,
            )),
        },
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => match &**expr {
            Expr::Value(v) => match &v.value {
                sqlparser::ast::Value::Number(n, _) => Ok(Operand::Number(format!("-{n}"))),
                _ => Err(refuse("this HAVING operand", &p.table)),
            },
            _ => Err(refuse("this HAVING operand", &p.table)),
        },
        Expr::Identifier(_) => {
            let col = p
                .grouped_column(e)
                .or_else(|| p.find_item(e, (0, 0)))
                .ok_or_else(|| refuse("a HAVING name that is not a select alias", &p.table))?;
            Ok(Operand::Col(col))
        }
        Expr::Function(f) => {
            let AggShape::Simple {
                kind,
                distinct,
                arg,
            } = shape(e)
            else {
                return Err(refuse("this HAVING function", &p.table));
            };
            let name = f
                .name
                .0
                .first()
                .and_then(|n| n.as_ident())
                .ok_or_else(|| refuse("this HAVING function", &p.table))?;
            let start = p
                .sql
                .get(..)
                .and_then(|_| crate::plan::offsets::Offsets::new(p.sql).byte(name.span.start))
                .ok_or_else(|| refuse("a HAVING aggregate shardgate cannot locate", &p.table))?;
            let range = call_range(p.sql, start)
                .ok_or_else(|| refuse("a HAVING aggregate shardgate cannot locate", &p.table))?;
            if let Some(c) = p.find_item(e, range) {
                if aggs.iter().any(|a| a.col == c) {
                    return Ok(Operand::Col(c));
                }
            }
            let col = p.add_hidden(vec![Piece::Src(range.0, range.1)]);
            let agg = p.agg(col, kind, distinct, arg.as_deref())?;
            aggs.push(agg);
            Ok(Operand::Col(col))
        }
        _ => Err(refuse("this HAVING operand", &p.table)),
    }
}
