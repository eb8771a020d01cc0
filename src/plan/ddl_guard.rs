//! DDL on a sharded or broadcast table that a fan-out would run without error but whose
//! effect one server would not have: a temporary table hiding the logical one, and a change
//! to the shard key column under rows already placed by it. Both DDL readers (tokens and
//! sqlparser) ask here.

use sqlparser::ast::{AlterTableOperation, Ident};

use super::collect::Collector;
use super::lexer::{ident_value, Kind, Token};
use crate::error::{Error, Result};

/// On one server a temporary table named like a base table hides it for the session; fanned
/// out, it would hide each shard table (or group copy) on one pooled connection while the
/// proxy still reads the others, so the session's answers would come from the wrong tables.
pub(crate) fn refuse_temporary(temporary: bool, c: &Collector<'_, '_>) -> Result<()> {
    if !temporary {
        return Ok(());
    }
    let (kind, name) = match (c.sharded.first(), c.broadcast) {
        (Some((rule, _)), _) => ("sharded", rule.name.as_str()),
        (None, Some(rule)) => ("broadcast", rule.name.as_str()),
        (None, None) => return Ok(()),
    };
    Err(Error::unsupported(format!(
        "a temporary table named like {kind} table '{name}' (it would hide the table on one \
         shard connection only); use another name"
    )))
}

fn refuse_key(c: &Collector<'_, '_>) -> Error {
    let (rule, spec) = c.sharded[0];
    Error::unsupported(format!(
        "ALTER TABLE changing the shard key column ({}) of sharded table '{}': rows already \
         placed by its values would not move; rebuild the table through shardgate instead",
        spec.shard_key, rule.name
    ))
}

fn is_key(c: &Collector<'_, '_>, column: &str) -> bool {
    c.sharded
        .first()
        .is_some_and(|(_, spec)| spec.shard_key.eq_ignore_ascii_case(column))
}

/// Parsed ALTER TABLE: DROP, RENAME, CHANGE or MODIFY naming the shard key (old or new name).
pub(crate) fn refuse_key_operations(
    ops: &[AlterTableOperation],
    c: &Collector<'_, '_>,
) -> Result<()> {
    let key = |i: &Ident| is_key(c, &i.value);
    for op in ops {
        let touches = match op {
            AlterTableOperation::DropColumn { column_names, .. } => column_names.iter().any(key),
            AlterTableOperation::RenameColumn {
                old_column_name,
                new_column_name,
            } => key(old_column_name) || key(new_column_name),
            AlterTableOperation::ChangeColumn {
                old_name, new_name, ..
            } => key(old_name) || key(new_name),
            AlterTableOperation::ModifyColumn { col_name, .. } => key(col_name),
            _ => false,
        };
        if touches {
            return Err(refuse_key(c));
        }
    }
    Ok(())
}

/// ALTER TABLE read from tokens (everything after the table name): the same operations.
/// `DROP INDEX|KEY|PRIMARY|FOREIGN|CONSTRAINT|CHECK|PARTITION ...` and `ALTER [COLUMN] k SET
/// DEFAULT` leave the key's values alone.
pub(crate) fn refuse_key_tokens(sql: &str, rest: &[Token], c: &Collector<'_, '_>) -> Result<()> {
    if c.sharded.is_empty() {
        return Ok(());
    }
    let word = |j: usize, w: &str| rest.get(j).is_some_and(|t| t.is_word(sql, w));
    let names_key = |j: usize| {
        rest.get(j).is_some_and(|t| {
            matches!(t.kind, Kind::Word | Kind::QuotedIdent) && is_key(c, &ident_value(t, sql))
        })
    };
    let skip_column_if_exists = |mut j: usize| {
        if word(j, "COLUMN") {
            j += 1;
        }
        if word(j, "IF") && word(j + 1, "EXISTS") {
            j += 2;
        }
        j
    };
    for k in 0..rest.len() {
        let touches = if word(k, "CHANGE") {
            let j = skip_column_if_exists(k + 1);
            names_key(j) || names_key(j + 1)
        } else if word(k, "MODIFY") {
            names_key(skip_column_if_exists(k + 1))
        } else if word(k, "DROP") {
            const NOT_COLUMNS: &[&str] = &[
                "INDEX",
                "KEY",
                "PRIMARY",
                "FOREIGN",
                "CONSTRAINT",
                "CHECK",
                "PARTITION",
                "SYSTEM",
                "PERIOD",
            ];
            !NOT_COLUMNS.iter().any(|w| word(k + 1, w)) && names_key(skip_column_if_exists(k + 1))
        } else if word(k, "RENAME") && word(k + 1, "COLUMN") {
            let j = skip_column_if_exists(k + 1);
            names_key(j) || (word(j + 1, "TO") && names_key(j + 2))
        } else {
            false
        };
        if touches {
            return Err(refuse_key(c));
        }
    }
    Ok(())
}
