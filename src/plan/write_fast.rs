//! The fast path for the commonest writes after INSERT: an UPDATE or DELETE of one table whose
//! WHERE fixes the shard key (or of an unsharded table), planned from the lexer's tokens
//! without sqlparser. Drivers that send text (pymysql, mysqlclient, PHP's emulated prepares)
//! send every point write through the planner; a parse costs several µs of the proxy's CPU.
//!
//! Like `select_fast`, it accepts only a narrow shape and returns `None` for anything else,
//! which then takes the parsed path; for what it accepts it must plan exactly what the parsed
//! path plans (a property test compares them):
//!
//! ```text
//! UPDATE [db.]table [[AS] alias] SET <assignments> [WHERE <conjunct> [AND ...]] [ORDER BY ...] [LIMIT ...]
//! DELETE FROM [db.]table [WHERE <conjunct> [AND ...]] [ORDER BY ...] [LIMIT ...]
//! ```
//!
//! - no modifier (LOW_PRIORITY, IGNORE, QUICK), no second table (a comma, JOIN, USING), no
//!   subquery, RETURNING, executable comment or sequence and LAST_INSERT_ID() call anywhere,
//!   and no word naming a sharded/broadcast table or a logical database other than the
//!   table itself;
//! - a sharded table's assignments never mention its shard key (moving a row between shards
//!   is the parsed path's refusal), and its WHERE selects exactly one shard by the same key
//!   conjuncts `select_fast` reads;
//! - a broadcast table's write goes to every group: the parsed path.

use super::fast_route;
use super::lexer::ident_value;
use super::select_fast::{
    balanced, find_top_level, is_ident, is_keyword, key_shards, top_level_ok,
};
use super::tables::{layout_of, Layout};
use super::{Plan, PlanContext};

/// Beside `fast_route`'s words: what makes a write more than one table's rows changed.
const NEVER: &[&str] = &[
    "RETURNING",
    "USING",
    "LAST_INSERT_ID",
    "NEXTVAL",
    "NEXT",
    "LASTVAL",
    "SETVAL",
    "PREVIOUS",
];

/// What may follow the WHERE clause (or the table, or the assignments, without one).
const TAIL: &[&str] = &["ORDER", "LIMIT"];

pub(crate) fn plan(sql: &str, ctx: &PlanContext<'_>) -> Option<Plan> {
    if ctx.system_schema.is_some() {
        return None;
    }
    let toks = fast_route::simple_tokens(sql, &["UPDATE", "DELETE"], NEVER)?;
    let toks = &toks[..];
    let w = |i: usize, kw: &str| toks.get(i).is_some_and(|t| t.is_word(sql, kw));
    let update = w(0, "UPDATE");
    if !update && !w(1, "FROM") || !balanced(toks) {
        return None;
    }

    // [db.]table, the first word after UPDATE / DELETE FROM (a modifier is a keyword there).
    let (db_tok, table_tok, mut i) = fast_route::table_at(toks, if update { 1 } else { 2 })?;
    if is_keyword(&table_tok, sql) {
        return None;
    }
    let mut alias = None;
    let (cond, tail, assignments) = if update {
        if w(i, "AS") {
            alias = Some(*toks.get(i + 1)?);
            i += 2;
        } else if toks
            .get(i)
            .is_some_and(|t| is_ident(t) && !t.is_word(sql, "SET"))
        {
            alias = Some(toks[i]);
            i += 1;
        }
        if alias.is_some_and(|a| !is_ident(&a) || is_keyword(&a, sql)) || !w(i, "SET") {
            return None;
        }
        let set = i + 1;
        match find_top_level(sql, toks, set, &["WHERE"]) {
            Some(wh) => {
                let tail = find_top_level(sql, toks, wh + 1, TAIL).unwrap_or(toks.len());
                (&toks[wh + 1..tail], tail, &toks[set..wh])
            }
            None => {
                let tail = find_top_level(sql, toks, set, TAIL).unwrap_or(toks.len());
                (&toks[tail..tail], tail, &toks[set..tail])
            }
        }
    } else {
        match toks.get(i) {
            None => (&toks[i..i], i, &toks[i..i]),
            Some(t) if t.is_word(sql, "WHERE") => {
                let tail = find_top_level(sql, toks, i + 1, TAIL).unwrap_or(toks.len());
                (&toks[i + 1..tail], tail, &toks[i..i])
            }
            Some(t) if TAIL.iter().any(|k| t.is_word(sql, k)) => (&toks[i..i], i, &toks[i..i]),
            Some(_) => return None,
        }
    };

    if fast_route::other_names_need_renames(sql, toks, &table_tok, db_tok.as_ref(), ctx) {
        return None;
    }
    let table = ident_value(&table_tok, sql);
    let db = fast_route::database_of(sql, db_tok.as_ref(), ctx)?;
    let edits = fast_route::qualifier_edits(db_tok.as_ref());
    let (rule, spec) = match layout_of(db, &table) {
        Layout::Sharded(rule, spec) => (rule, spec),
        Layout::Unsharded => {
            let reason = format!("unsharded table '{table}': default group");
            return fast_route::on_default_group(sql, db, &edits, true, reason);
        }
        Layout::Broadcast(_) | Layout::PhysicalShard(_) => return None,
    };
    let key = spec.shard_key.as_str();
    if assignments
        .iter()
        .any(|t| is_ident(t) && ident_value(t, sql).eq_ignore_ascii_case(key))
    {
        return None;
    }
    if !top_level_ok(sql, cond, true) || !top_level_ok(sql, &toks[tail..], false) {
        return None;
    }
    let qualifier = alias.unwrap_or(table_tok);
    let shard = key_shards(sql, cond, &qualifier, spec, &rule.name)?.only()?;
    fast_route::on_one_shard(sql, db, (rule, spec), shard, &table_tok, edits, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::tests::fixture::rules;

    fn fast(sql: &str) -> Option<Plan> {
        let rules = rules();
        let ctx = PlanContext {
            rules: &rules,
            current_db: rules.database("clinical"),
            syntax: Default::default(),
            read_only_functions: &[],
            columns: None,
            system_schema: None,
        };
        plan(sql, &ctx)
    }

    #[test]
    fn takes_point_writes_and_leaves_the_rest() {
        for sql in [
            "UPDATE clinical_data SET note = 'x' WHERE hospital_id = 1 AND id = 9",
            "UPDATE clinical_data c SET c.note = 'x' WHERE c.hospital_id = 1 LIMIT 1",
            "DELETE FROM patients WHERE hospital_id = 3 AND id IN (1, 2)",
            "DELETE FROM patients WHERE hospital_id = 3 AND id BETWEEN 1 AND 2",
            "UPDATE patients SET note = 'x' WHERE id BETWEEN 1 AND 2 AND hospital_id = 3",
            "UPDATE medication_logs SET dose = 2 WHERE id = 1 OR id = 2",
            "DELETE FROM medication_logs",
        ] {
            assert!(fast(sql).is_some(), "{sql}");
        }
        for sql in [
            "UPDATE clinical_data SET hospital_id = 2 WHERE hospital_id = 1",
            "DELETE FROM patients WHERE hospital_id = 3 AND hospital_id BETWEEN 1 AND 2",
            "UPDATE clinical_data SET note = 'x' WHERE hospital_id IN (1, 2)",
            "UPDATE clinical_data SET note = 'x' WHERE id = 1",
            "UPDATE IGNORE clinical_data SET note = 'x' WHERE hospital_id = 1",
            "UPDATE hospitals SET name = 'x' WHERE id = 1",
            "DELETE FROM clinical_data WHERE hospital_id = 1 RETURNING id",
            "UPDATE clinical_data SET note = (SELECT 1) WHERE hospital_id = 1",
            "UPDATE clinical_data, patients SET note = 1 WHERE hospital_id = 1",
            "DELETE c FROM clinical_data c WHERE hospital_id = 1",
            "UPDATE clinical_data SET id = LAST_INSERT_ID(id) WHERE hospital_id = 1",
        ] {
            assert!(fast(sql).is_none(), "{sql}");
        }
    }
}
