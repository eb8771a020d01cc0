//! The result cache on the statement path (`cache`): which statements may be answered from
//! it, recording an answer after it went into the client's buffer, and the invalidations
//! writes and transaction ends owe it.

use std::time::Duration;

use crate::cache::{Key, ResultCache, Snapshot};
use crate::config::model::Database;
use crate::execute::Session;
use crate::plan::FirstWord;
use crate::plan::Plan;

use super::packet::Mark;

/// A read that may be answered from the cache, and what storing its answer needs.
pub(super) struct Candidate {
    pub key: Key,
}

/// A read about to run whose answer will be stored if it completes in one buffer.
pub(super) struct Pending {
    pub key: Key,
    pub snapshot: Snapshot,
    pub mark: Mark,
}

fn has_cached_tables(db: &Database) -> bool {
    db.tables.values().any(|t| t.cache_ttl.is_some())
}

/// The cache key of `sql` when it may be answered from the cache: a lone SELECT in a
/// session with autocommit and no transaction, nothing tied to its connections, and no
/// word that may answer differently per call; only in a database where some table opted
/// in. `deprecate_eof` changes the bytes of a result, so it is part of the key.
pub(super) fn candidate(
    cache: Option<&ResultCache>,
    session: &Session,
    first: FirstWord<'_>,
    sql: &str,
    alone: bool,
    deprecate_eof: bool,
) -> Option<Candidate> {
    cache?;
    let db = session.current_db.as_ref()?;
    if !alone
        || !first.is_one_of(&["SELECT"])
        || session.txn.active()
        || session.txn.pins_connections()
        || session.conns.keeps_connections()
        || session.system_schema.is_some()
        || !has_cached_tables(db)
        || crate::cache::varies_per_call(sql)
    {
        return None;
    }
    let settings = crate::cache::settings_fingerprint(
        &[session.charset.name(), &db.name],
        session.conns.replay_fingerprint() ^ u64::from(deprecate_eof),
    );
    Some(Candidate {
        key: Key {
            database: db.name.to_ascii_lowercase(),
            settings,
            sql: sql.to_owned(),
        },
    })
}

/// After planning a candidate: the snapshot to store its answer with, if the plan is a plain
/// read of cached tables only.
pub(super) fn pending(
    cache: &ResultCache,
    candidate: Candidate,
    plan: &Plan,
    session: &Session,
    mark: Mark,
) -> Option<Pending> {
    let is_read = match plan {
        Plan::Route(r) => !r.is_write,
        Plan::Scatter(s) => !s.route.is_write,
        _ => false,
    };
    if !is_read {
        return None;
    }
    let db = session.current_db.as_ref()?;
    let (tables, ttl): (Vec<String>, Duration) =
        crate::cache::cached_tables_of(&candidate.key.sql, db)?;
    Some(Pending {
        snapshot: cache.snapshot(tables, ttl),
        key: candidate.key,
        mark,
    })
}

/// Whether a planned statement may write (a locking read or one with side effects counts).
pub(super) fn may_write(plan: &Plan) -> bool {
    match plan {
        Plan::Route(r) => r.is_write,
        Plan::Scatter(s) => s.route.is_write,
        _ => false,
    }
}

/// After every statement: when it may have written (`wrote`), the cached tables it names are
/// stale now, and stay noted in the session until its transaction ends (its rows become
/// visible to others only then, so their answers are invalidated again at that point).
pub(super) fn after_statement(
    cache: Option<&ResultCache>,
    session: &mut Session,
    sql: &str,
    wrote: bool,
) {
    let Some(cache) = cache else {
        return;
    };
    if let Some(db) = session.current_db.clone().filter(|_| wrote) {
        if has_cached_tables(&db) {
            for table in crate::cache::tables_mentioned(sql, &db) {
                cache.invalidate(&db.name, table);
                if session.txn.active()
                    && !session.cache_written.iter().any(|(d, t)| {
                        d.eq_ignore_ascii_case(&db.name) && t.eq_ignore_ascii_case(table)
                    })
                {
                    session
                        .cache_written
                        .push((db.name.clone(), table.to_owned()));
                }
            }
        }
    }
    if !session.txn.active() && !session.cache_written.is_empty() {
        for (db, table) in std::mem::take(&mut session.cache_written) {
            cache.invalidate(&db, &table);
        }
    }
}
