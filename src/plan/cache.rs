//! Plans of reads over several shards, kept per rules so that a statement seen before is not
//! parsed and walked again: planning a merge costs more proxy CPU than sending it to four
//! shards (about a fifth of a scatter's CPU in a profile, most of it sqlparser).
//!
//! A plan here is a pure function of what the key holds: the text, the rules it lives in (a
//! reload makes new rules with an empty cache, so no plan outlives its layout), the current
//! database of those rules, the system schema, the syntax (server version and sql_mode,
//! which change how the text lexes) and the functions known to only read. Two other inputs
//! change in place: column orders, which every DDL through the proxy forgets together with
//! this cache, and the key column types learned from the servers
//! (`config::key_column`), which decide whether a text lookup may go to the shards of its
//! values; a plan is kept only if nothing was learned while it was made, and none kept
//! before a change is used after it.
//! The planner consults it only after the token fast paths declined a statement, so point
//! statements never pay for a key. Only reads over several shards are kept (`Plan::Scatter`, `Plan::Materialize`): point
//! statements plan faster than a lookup pays off and, with their literal keys, would only
//! push the repeated shapes out.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::{Plan, Syntax};

/// Entries kept per rules; a full cache drops an eighth of them, picked by the map's order.
const MAX_ENTRIES: usize = 1024;
/// Longer texts are planned every time: they are rarely repeated and costly to keep.
const MAX_SQL_BYTES: usize = 8 * 1024;
/// The bytes of text all kept plans may hold. A plan holds its text once per shard it
/// reads, so with many shards a thousand long texts would otherwise pin gigabytes.
const MAX_BYTES: usize = 16 * 1024 * 1024;
/// A plan larger than this is made again each time rather than push out many others.
const MAX_PLAN_BYTES: usize = MAX_BYTES / 64;

/// What, beside the rules holding the cache, a plan depends on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PlanKey {
    sql: String,
    /// The current database's name in these rules (lower case), if any.
    db: Option<String>,
    system_schema: Option<String>,
    syntax: Syntax,
    read_only_functions: Vec<String>,
}

impl PlanKey {
    /// `None` when the statement is not worth keeping (too long).
    pub fn new(
        sql: &str,
        db: Option<&str>,
        system_schema: Option<&str>,
        syntax: Syntax,
        read_only_functions: &[String],
    ) -> Option<PlanKey> {
        (sql.len() <= MAX_SQL_BYTES).then(|| PlanKey {
            sql: sql.to_string(),
            db: db.map(str::to_ascii_lowercase),
            system_schema: system_schema.map(str::to_string),
            syntax,
            read_only_functions: read_only_functions.to_vec(),
        })
    }

    fn bytes(&self) -> usize {
        self.sql.len()
            + self.db.as_ref().map_or(0, String::len)
            + self.system_schema.as_ref().map_or(0, String::len)
            + self
                .read_only_functions
                .iter()
                .map(String::len)
                .sum::<usize>()
    }
}

#[derive(Default)]
pub struct PlanCache {
    inner: Mutex<Inner>,
    /// Reads over several shards answered from a kept plan, and planned in full (then
    /// kept): the hit rate says whether the texts repeat (`/metrics`).
    pub hits: AtomicU64,
    pub misses: AtomicU64,
}

#[derive(Default)]
struct Inner {
    plans: HashMap<PlanKey, Entry>,
    /// The sum of the entries' `bytes`.
    bytes: usize,
    /// Counts `forget_all`s.
    forgotten: u64,
}

struct Entry {
    plan: Arc<Plan>,
    bytes: usize,
}

/// Taken before planning: `keep` refuses a plan made across a `forget_all`, which may rest
/// on what that forgetting was about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    forgotten: u64,
}

impl std::fmt::Debug for PlanCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlanCache")
            .field("entries", &self.len())
            .finish()
    }
}

impl Inner {
    fn clear(&mut self) {
        self.plans.clear();
        self.bytes = 0;
    }
}

impl PlanCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// To take before planning a statement that may be kept (see `Ticket`).
    pub fn ticket(&self) -> Ticket {
        Ticket {
            forgotten: self.lock().forgotten,
        }
    }

    pub fn get(&self, key: &PlanKey) -> Option<Plan> {
        let kept = self.lock().plans.get(key).map(|e| e.plan.clone());
        if kept.is_some() {
            self.hits.fetch_add(1, Ordering::Relaxed);
        }
        // The copy is made outside the lock: a plan holds its text once per shard.
        kept.map(|p| (*p).clone())
    }

    /// Keeps `plan` when it is a read over several shards (see the module comment) and
    /// nothing it may rest on changed since `ticket` was taken.
    pub fn keep(&self, key: PlanKey, plan: &Plan, ticket: Ticket) {
        if !worth_keeping(plan) {
            return;
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let bytes = key.bytes() + plan_bytes(plan);
        if bytes > MAX_PLAN_BYTES {
            return;
        }
        let mut guard = self.lock();
        let inner = &mut *guard;
        if ticket.forgotten != inner.forgotten {
            return;
        }
        if let Some(old) = inner.plans.remove(&key) {
            inner.bytes -= old.bytes;
        }
        if inner.plans.len() >= MAX_ENTRIES || inner.bytes + bytes > MAX_BYTES {
            make_room(inner);
        }
        inner.bytes += bytes;
        inner.plans.insert(
            key,
            Entry {
                plan: Arc::new(plan.clone()),
                bytes,
            },
        );
    }

    /// After DDL (a plan may have been made from column orders that changed) and after a
    /// key column type was learned differently (`LearnedKeyColumn::learn`). A plan made
    /// before and kept after is refused too (see `Ticket`).
    pub fn forget_all(&self) {
        let mut inner = self.lock();
        inner.clear();
        inner.forgotten += 1;
    }

    pub fn len(&self) -> usize {
        self.lock().plans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes of text the kept plans and their keys hold.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }
}

/// Drops entries, in the map's order, until an eighth of the entries and of the bytes are
/// free.
fn make_room(inner: &mut Inner) {
    let entries = MAX_ENTRIES - MAX_ENTRIES / 8;
    let bytes = MAX_BYTES - MAX_BYTES / 8;
    let mut drop = Vec::new();
    let (mut len, mut held) = (inner.plans.len(), inner.bytes);
    for (k, e) in &inner.plans {
        if len <= entries && held <= bytes {
            break;
        }
        drop.push(k.clone());
        len -= 1;
        held -= e.bytes;
    }
    for k in drop {
        if let Some(e) = inner.plans.remove(&k) {
            inner.bytes -= e.bytes;
        }
    }
}

/// `plan()`'s result for `sql`, from the rules' cache when kept, else planned and kept when
/// worth it. A fetch of a materialized read, and a read being forced into one, plan the same
/// text for another purpose: never from or into the cache.
pub(super) fn planned(
    sql: &str,
    ctx: &super::PlanContext<'_>,
    plan: impl FnOnce() -> crate::error::Result<Plan>,
) -> crate::error::Result<Plan> {
    if super::materialize::in_fetch() || super::materialize::forced().is_some() {
        return plan();
    }
    let Some(key) = key_for(sql, ctx) else {
        return plan();
    };
    let cache = &ctx.rules.plans;
    if let Some(kept) = cache.get(&key) {
        return Ok(kept);
    }
    let ticket = cache.ticket();
    let planned = plan();
    if let Ok(p) = &planned {
        cache.keep(key, p, ticket);
    }
    planned
}

/// The key for `sql` under `ctx`, or `None` when the session's database is not one of these
/// rules (a database a reload removed): such a plan is not kept.
fn key_for(sql: &str, ctx: &super::PlanContext<'_>) -> Option<PlanKey> {
    let db = match ctx.current_db {
        Some(db) => {
            let ours = ctx.rules.database(&db.name)?;
            if !Arc::ptr_eq(ours, db) {
                return None;
            }
            Some(db.name.as_str())
        }
        None => None,
    };
    PlanKey::new(
        sql,
        db,
        ctx.system_schema,
        ctx.syntax,
        ctx.read_only_functions,
    )
}

fn worth_keeping(plan: &Plan) -> bool {
    match plan {
        Plan::Scatter(s) => !s.route.is_write,
        Plan::Materialize(_) => true,
        _ => false,
    }
}

/// About what the plan's own text and per-target parts take (its rules are shared).
fn plan_bytes(plan: &Plan) -> usize {
    const PART: usize = 64;
    let route = |r: &super::Route| {
        r.reason.len() + r.targets.iter().map(|t| t.sql.len() + PART).sum::<usize>()
    };
    match plan {
        Plan::Route(r) => route(r),
        Plan::Scatter(s) => s.sql.len() + route(&s.route) + format!("{:?}", s.merge).len() + PART,
        Plan::Materialize(m) => {
            let tables: usize = m
                .tables
                .iter()
                .map(|t| {
                    t.logical.len()
                        + t.temp.len()
                        + t.definition.1.len()
                        + t.definition.2.len()
                        + t.fetch_sql.len()
                        + plan_bytes(&t.fetch)
                        + PART
                })
                .sum();
            let columns: usize = m.columns.iter().flatten().map(|c| c.len() + PART).sum();
            m.sql.len() + m.reason.len() + tables + columns + PART
        }
        _ => PART,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::key_column::KeyColumnType;
    use crate::config::model::{Rules, TableKind};
    use crate::plan::tests::fixture;
    use crate::plan::PlanContext;

    const LOOKUP: &str = "SELECT id FROM samples WHERE code IN ('a', 'b', 'c') ORDER BY id";

    fn plan_in(rules: &Rules, sql: &str) -> (PlanKey, Plan) {
        let key = PlanKey::new(sql, Some("lab"), None, Syntax::default(), &[]).unwrap();
        (key, planned(rules, sql))
    }

    fn planned(rules: &Rules, sql: &str) -> Plan {
        let ctx = PlanContext {
            rules,
            current_db: rules.database("lab"),
            syntax: Syntax::default(),
            read_only_functions: &[],
            columns: None,
            system_schema: None,
        };
        crate::plan::plan(sql, &ctx).unwrap()
    }

    fn shards_read(plan: &Plan) -> usize {
        match plan {
            Plan::Scatter(s) => s.route.targets.len(),
            other => panic!("not a scatter: {other:?}"),
        }
    }

    /// The server says the column compares by another collation than the declared one:
    /// text lookups must then read every shard.
    fn learn_other_collation(rules: &Rules) {
        let TableKind::Sharded(spec) = &rules.database("lab").unwrap().tables["samples"].kind
        else {
            unreachable!()
        };
        crate::backend::key_columns::teach(
            rules,
            spec,
            KeyColumnType::Text {
                collation: "utf8mb4_unicode_ci".into(),
                fixed_length: false,
            },
        );
    }

    #[test]
    fn a_plan_kept_before_a_key_column_was_learned_is_not_used_after() {
        let rules = fixture::collated_rules();
        let ticket = rules.plans.ticket();
        let (key, trusted) = plan_in(&rules, LOOKUP);
        let narrowed = shards_read(&trusted);
        assert!((2..8).contains(&narrowed), "{trusted:?}");
        rules.plans.keep(key.clone(), &trusted, ticket);
        assert!(rules.plans.get(&key).is_some());

        learn_other_collation(&rules);
        assert!(rules.plans.get(&key).is_none(), "kept past the learning");
        let (_, learned) = plan_in(&rules, LOOKUP);
        assert_eq!(shards_read(&learned), 8);
    }

    #[test]
    fn a_plan_made_while_a_key_column_was_learned_is_not_kept() {
        let rules = fixture::collated_rules();
        let ticket = rules.plans.ticket();
        let (key, trusted) = plan_in(&rules, LOOKUP);
        // The learner runs between this statement's planning and its keeping.
        learn_other_collation(&rules);
        rules.plans.keep(key.clone(), &trusted, ticket);
        assert!(rules.plans.get(&key).is_none());
        assert!(rules.plans.is_empty());
    }

    #[test]
    fn a_plan_made_before_a_ddl_forgot_the_cache_is_not_kept() {
        let rules = fixture::collated_rules();
        let ticket = rules.plans.ticket();
        let (key, plan) = plan_in(&rules, "SELECT id FROM samples ORDER BY id");
        rules.plans.forget_all();
        rules.plans.keep(key.clone(), &plan, ticket);
        assert!(rules.plans.get(&key).is_none());
        let ticket = rules.plans.ticket();
        rules.plans.keep(key.clone(), &plan, ticket);
        assert!(rules.plans.get(&key).is_some());
    }

    /// A plan holds its text once per shard: long distinct texts fill the byte budget long
    /// before the entry count, and the budget holds.
    #[test]
    fn long_distinct_texts_over_many_shards_stay_within_the_byte_budget() {
        let rules = fixture::collated_rules();
        let filler = "x".repeat(MAX_SQL_BYTES - 100);
        let mut kept_bytes = 0;
        for i in 0..MAX_ENTRIES + 50 {
            let sql =
                format!("SELECT id FROM samples WHERE note <> '{filler}' AND id > {i} ORDER BY id");
            let ticket = rules.plans.ticket();
            let (key, plan) = plan_in(&rules, &sql);
            assert_eq!(shards_read(&plan), 8);
            kept_bytes = key.bytes() + plan_bytes(&plan);
            rules.plans.keep(key, &plan, ticket);
            assert!(
                rules.plans.bytes() <= MAX_BYTES,
                "{} bytes",
                rules.plans.bytes()
            );
        }
        // Each entry holds its text ten times (key, statement, eight shards).
        assert!(kept_bytes > 10 * (MAX_SQL_BYTES - 100), "{kept_bytes}");
        assert!(rules.plans.len() <= MAX_BYTES / kept_bytes);
        assert!(rules.plans.len() > MAX_BYTES / kept_bytes / 2);
    }

    #[test]
    fn a_plan_larger_than_its_share_is_made_each_time() {
        let rules = fixture::collated_rules();
        let big = "y".repeat(MAX_PLAN_BYTES / 8);
        let sql = format!("SELECT id FROM samples WHERE note <> '{big}' ORDER BY id");
        let ticket = rules.plans.ticket();
        let plan = planned(&rules, &sql);
        // Past MAX_SQL_BYTES the key is not made at all; the plan alone is too big too.
        assert!(plan_bytes(&plan) > MAX_PLAN_BYTES);
        let key = PlanKey {
            sql,
            db: Some("lab".into()),
            system_schema: None,
            syntax: Syntax::default(),
            read_only_functions: Vec::new(),
        };
        rules.plans.keep(key, &plan, ticket);
        assert!(rules.plans.is_empty());
    }
}
