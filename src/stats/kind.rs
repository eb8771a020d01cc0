//! What kind of route a statement took: the one label every statement counter, histogram
//! and slow-log line carries, read from the plan's own data.

use crate::plan::{Plan, Spread};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteKind {
    /// One backend target: a shard, or the default group (unsharded tables, no table).
    Single,
    /// Several shards picked by the shard key (`IN (...)`, a multi-row INSERT).
    Several,
    /// Every shard of a sharded table (no shard key condition, DDL).
    All,
    /// A copy in every group (writes and DDL of broadcast tables).
    Broadcast,
    /// Several shards whose rows the proxy merged (ORDER BY, LIMIT, aggregates, ...).
    Merged,
    /// A session statement (SET, BEGIN, COMMIT, ...) on the connections the session holds.
    Session,
    /// Answered by the proxy itself (USE, SHOW DATABASES, SHOW SHARDGATE ..., KILL, ...).
    Proxy,
    /// The planner refused it (1235, or a syntax error): nothing ran.
    Refused,
    /// Answered from the result cache (`cache_ttl_ms`): nothing ran.
    Cached,
    /// Answered by the default group's master over temporary copies of sharded rows.
    Materialized,
}

impl RouteKind {
    pub const COUNT: usize = 10;
    pub const ALL: [RouteKind; Self::COUNT] = [
        RouteKind::Single,
        RouteKind::Several,
        RouteKind::All,
        RouteKind::Broadcast,
        RouteKind::Merged,
        RouteKind::Session,
        RouteKind::Proxy,
        RouteKind::Refused,
        RouteKind::Cached,
        RouteKind::Materialized,
    ];

    /// The label value (`route="single"`) and the name in SHOW SHARDGATE STATS.
    pub fn name(self) -> &'static str {
        match self {
            RouteKind::Single => "single",
            RouteKind::Several => "several",
            RouteKind::All => "all",
            RouteKind::Broadcast => "broadcast",
            RouteKind::Merged => "merged",
            RouteKind::Session => "session",
            RouteKind::Proxy => "proxy",
            RouteKind::Refused => "refused",
            RouteKind::Cached => "cached",
            RouteKind::Materialized => "materialized",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// The kind of a planned statement.
    pub fn of(plan: &Plan) -> RouteKind {
        match plan {
            Plan::Route(r) if r.spread == Spread::Copies && r.targets.len() > 1 => {
                RouteKind::Broadcast
            }
            Plan::Route(r) if r.targets.len() <= 1 => RouteKind::Single,
            Plan::Route(r) if r.all_shards => RouteKind::All,
            Plan::Route(_) => RouteKind::Several,
            Plan::Scatter(_) => RouteKind::Merged,
            Plan::Materialize(_) => RouteKind::Materialized,
            Plan::Session(_) => RouteKind::Session,
            Plan::UseDatabase(_) | Plan::ShowDatabases { .. } => RouteKind::Proxy,
            Plan::ShowTables { .. } => RouteKind::Single,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RouteKind;

    #[test]
    fn indices_follow_the_list() {
        for (i, k) in RouteKind::ALL.iter().enumerate() {
            assert_eq!(k.index(), i, "{}", k.name());
        }
    }
}
