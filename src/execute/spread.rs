//! What a client is told when a write sent to several shards or group copies does not end
//! the same everywhere (see `plan::everywhere` for the order and the pre-connect).

use crate::error::Error;
use crate::plan::{Route, Target};

use super::OkInfo;

/// The error of target `failed`, with where the statement stopped when earlier targets had
/// already applied it.
pub(crate) fn partly_applied(route: &Route, failed: usize, cause: Error) -> Error {
    if failed == 0 || !route.is_write {
        return cause;
    }
    let name = |t: &Target| {
        let group = route
            .db
            .groups
            .get(t.group)
            .map_or("?", |g| g.name.as_str());
        match t.shard {
            Some(s) => format!("shard {s} (group '{group}')"),
            None => format!("group '{group}'"),
        }
    };
    let list = |ts: &[Target]| {
        if ts.is_empty() {
            "none".to_string()
        } else {
            ts.iter().map(name).collect::<Vec<_>>().join(", ")
        }
    };
    Error::PartlyApplied {
        cause: Box::new(cause),
        failed: name(&route.targets[failed]),
        done: list(&route.targets[..failed]),
        skipped: list(&route.targets[failed + 1..]),
    }
}

/// Identical copies answer a write identically; when they do not (a copy was changed behind
/// shardgate's back, or AUTO_INCREMENT counters drifted) the write is applied everywhere but
/// the copies now differ, which the client must hear about rather than trust one of them.
pub(crate) fn copies_differ(route: &Route, i: usize, first: &OkInfo, this: &OkInfo) -> Error {
    let group = |t: &Target| {
        route
            .db
            .groups
            .get(t.group)
            .map_or("?", |g| g.name.as_str())
    };
    Error::CopiesDiffer(format!(
        "the write was applied in every group, but group '{}' reported {} affected rows and \
         insert id {} where group '{}' reported {} and {}: the copies of this broadcast table \
         in database '{}' differ; compare and repair them",
        group(&route.targets[i]),
        this.affected_rows,
        this.last_insert_id,
        group(&route.targets[0]),
        first.affected_rows,
        first.last_insert_id,
        route.db.name
    ))
}
