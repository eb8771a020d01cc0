//! `SHOW SHARDGATE STATS`: the process's statement counters (`stats::Stats`), one row per
//! counter: `statements.<route>.<ok|error>` for every route kind, `errors.<code>` for every
//! error code a client got, `slow_log.dropped` when the slow log is on.

pub const COLUMNS: &[&str] = &["Name", "Value"];

pub fn rows(stats: &crate::stats::Stats) -> Vec<Vec<Option<String>>> {
    stats
        .rows()
        .into_iter()
        .map(|(name, value)| vec![Some(name), Some(value.to_string())])
        .collect()
}
