//! `SHOW SHARDGATE STATS`: the process's statement counters (`stats::Stats`), one row per
//! counter: `statements.<route>.<ok|error>` for every route kind, `errors.<code>` for every
//! error code a client got, `slow_log.dropped` when the slow log is on, and the result
//! cache's `cache.hits`, `cache.misses`, `cache.evictions`, `cache.invalidations`,
//! `cache.entries`, `cache.bytes` when a rule file opts a table into it.

pub const COLUMNS: &[&str] = &["Name", "Value"];

pub fn rows(
    stats: &crate::stats::Stats,
    cache: Option<&crate::cache::ResultCache>,
) -> Vec<Vec<Option<String>>> {
    let mut rows = stats.rows();
    if let Some(c) = cache {
        use std::sync::atomic::Ordering::Relaxed;
        rows.extend([
            ("cache.hits".to_owned(), c.hits.load(Relaxed)),
            ("cache.misses".to_owned(), c.misses.load(Relaxed)),
            ("cache.evictions".to_owned(), c.evictions.load(Relaxed)),
            (
                "cache.invalidations".to_owned(),
                c.invalidations.load(Relaxed),
            ),
            ("cache.entries".to_owned(), c.entries() as u64),
            ("cache.bytes".to_owned(), c.bytes() as u64),
        ]);
    }
    rows.into_iter()
        .map(|(name, value)| vec![Some(name), Some(value.to_string())])
        .collect()
}
