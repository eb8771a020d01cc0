//! Plans of reads over several shards, kept per rules so that a statement seen before is not
//! parsed and walked again: planning a merge costs more proxy CPU than sending it to four
//! shards (about a fifth of a scatter's CPU in a profile, most of it sqlparser).
//!
//! A plan here is a pure function of what the key holds: the text, the rules it lives in (a
//! reload makes new rules with an empty cache, so no plan outlives its layout), the current
//! database of those rules, the system schema, the syntax (server version and sql_mode,
//! which change how the text lexes) and the functions known to only read. Column orders are
//! the one other input; every DDL through the proxy forgets them and this cache together.
//! Only reads over several shards are kept (`Plan::Scatter`, `Plan::Materialize`): point
//! statements plan faster than a lookup pays off and, with their literal keys, would only
//! push the repeated shapes out.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use super::{Plan, Syntax};

/// Entries kept per rules; a full cache drops an eighth of them, picked by the map's order.
const MAX_ENTRIES: usize = 1024;
/// Longer texts are planned every time: they are rarely repeated and costly to keep.
const MAX_SQL_BYTES: usize = 8 * 1024;

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
}

#[derive(Default)]
pub struct PlanCache {
    plans: Mutex<HashMap<PlanKey, Plan>>,
    /// Reads over several shards answered from a kept plan, and planned (then kept): the
    /// hit rate says whether the texts repeat (`/metrics`).
    pub hits: AtomicU64,
    pub misses: AtomicU64,
}

impl std::fmt::Debug for PlanCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlanCache")
            .field("entries", &self.len())
            .finish()
    }
}

impl PlanCache {
    pub fn get(&self, key: &PlanKey) -> Option<Plan> {
        let found = {
            let plans = self.plans.lock().unwrap_or_else(|p| p.into_inner());
            plans.get(key).cloned()
        };
        if found.is_some() {
            self.hits.fetch_add(1, Ordering::Relaxed);
        }
        found
    }

    /// Keeps `plan` when it is a read over several shards (see the module comment).
    pub fn keep(&self, key: PlanKey, plan: &Plan) {
        if !worth_keeping(plan) {
            return;
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let mut plans = self.plans.lock().unwrap_or_else(|p| p.into_inner());
        if plans.len() >= MAX_ENTRIES && !plans.contains_key(&key) {
            let drop: Vec<PlanKey> = plans.keys().take(MAX_ENTRIES / 8).cloned().collect();
            for k in drop {
                plans.remove(&k);
            }
        }
        plans.insert(key, plan.clone());
    }

    /// After DDL: a plan may have been made from column orders that changed.
    pub fn forget_all(&self) {
        self.plans.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    pub fn len(&self) -> usize {
        self.plans.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn worth_keeping(plan: &Plan) -> bool {
    match plan {
        Plan::Scatter(s) => !s.route.is_write,
        Plan::Materialize(_) => true,
        _ => false,
    }
}
