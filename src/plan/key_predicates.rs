//! Which shards a boolean condition allows, for one group of tables sharing a key value.
//!
//! `key = lit`, `lit = key`, `key <=> lit` and `key IN (lits)` select the shards of their
//! values; OR unites (one unconstrained branch makes the whole OR unconstrained); AND
//! intersects whatever its constrained sides say and ignores the rest. Anything else
//! constrains nothing. `None` means "every shard may hold matching rows".

use sqlparser::ast::{BinaryOperator, Expr, InTarget};

use super::literal::{literal, read_shards, Literal};
use super::shardset::ShardSet;
use crate::config::model::ShardSpec;
use crate::error::Result;

/// Deeper nesting (of parentheses and alternating AND/OR) than this is treated as
/// unconstrained instead of recursed into.
const MAX_DEPTH: u32 = 64;

/// The key column under analysis: how to recognise it and how its values map to shards.
pub(crate) struct Key<'k> {
    pub spec: &'k ShardSpec,
    /// Table name for error messages.
    pub table: &'k str,
    /// True if the expression is a reference to the key column of the table group.
    pub is_key: &'k dyn Fn(&Expr) -> bool,
}

/// The shards `cond` allows for `key`, or `None` if it does not constrain them.
pub(crate) fn constraint(cond: &Expr, key: &Key<'_>) -> Result<Option<ShardSet>> {
    walk(cond, key, 0)
}

fn walk(e: &Expr, key: &Key<'_>, depth: u32) -> Result<Option<ShardSet>> {
    if depth > MAX_DEPTH {
        return Ok(None);
    }
    Ok(match e {
        Expr::Nested(inner) => walk(inner, key, depth + 1)?,
        Expr::BinaryOp {
            op: op @ (BinaryOperator::And | BinaryOperator::Or),
            ..
        } => {
            // A chain `a OR b OR c` is a tree as deep as it is long: fold its operands in
            // order instead of recursing down it.
            let mut operands = Vec::new();
            flatten(e, op, &mut operands);
            let mut acc: Option<ShardSet> = None;
            for operand in operands {
                match (walk(operand, key, depth + 1)?, *op == BinaryOperator::And) {
                    (Some(s), true) => match &mut acc {
                        Some(a) => a.intersect_with(&s),
                        None => acc = Some(s),
                    },
                    (None, true) => {}
                    (Some(s), false) => match &mut acc {
                        Some(a) => a.union_with(&s),
                        None => acc = Some(s),
                    },
                    // One unconstrained branch makes the whole OR unconstrained.
                    (None, false) => return Ok(None),
                }
            }
            acc
        }
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Eq,
            right,
        } => equality(left, right, key, false)?,
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Spaceship,
            right,
        } => equality(left, right, key, true)?,
        Expr::In {
            expr,
            target: InTarget::List(list),
            negated: false,
            ..
        } if (key.is_key)(expr) => {
            let mut set = ShardSet::empty(key.spec.shards());
            for item in list {
                let Some(lit) = literal(item) else {
                    return Ok(None);
                };
                let Some(shards) = read_shards(lit, key.spec, key.table)? else {
                    return Ok(None);
                };
                for shard in shards {
                    set.insert(shard);
                }
            }
            Some(set)
        }
        _ => None,
    })
}

/// The operands of a chain of `op` (left to right), without recursion.
fn flatten<'e>(e: &'e Expr, op: &BinaryOperator, out: &mut Vec<&'e Expr>) {
    let mut stack = vec![e];
    while let Some(e) = stack.pop() {
        match e {
            Expr::BinaryOp { left, op: o, right } if o == op => {
                stack.push(right);
                stack.push(left);
            }
            other => out.push(other),
        }
    }
}

/// `key = lit` or `lit = key`. With `<=>`, NULL matches NULL keys, which have no shard.
fn equality(a: &Expr, b: &Expr, key: &Key<'_>, null_safe: bool) -> Result<Option<ShardSet>> {
    let lit = if (key.is_key)(a) {
        literal(b)
    } else if (key.is_key)(b) {
        literal(a)
    } else {
        None
    };
    let Some(lit) = lit else { return Ok(None) };
    if null_safe && lit == Literal::Null {
        return Ok(None);
    }
    let mut set = ShardSet::empty(key.spec.shards());
    let Some(shards) = read_shards(lit, key.spec, key.table)? else {
        return Ok(None);
    };
    for shard in shards {
        set.insert(shard);
    }
    Ok(Some(set))
}

/// The conjuncts of `e` at the top level of an AND tree (parentheses looked through).
pub(crate) fn conjuncts<'e>(e: &'e Expr, out: &mut Vec<&'e Expr>) {
    let mut stack = vec![e];
    while let Some(e) = stack.pop() {
        match e {
            Expr::Nested(inner) => stack.push(inner),
            Expr::BinaryOp {
                left,
                op: BinaryOperator::And,
                right,
            } => {
                stack.push(right);
                stack.push(left);
            }
            other => out.push(other),
        }
    }
}
