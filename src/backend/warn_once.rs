//! Warnings of background learnings (key columns, column types), logged once per process:
//! every reload and every DDL through the proxy learns again and would repeat them.

use std::collections::HashSet;
use std::sync::Mutex;

/// Logs each of `warnings` not logged before.
pub(crate) fn warn_once(warnings: impl IntoIterator<Item = String>) {
    static LOGGED: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    for w in warnings {
        let new = match LOGGED.lock() {
            Ok(mut seen) => seen.get_or_insert_with(HashSet::new).insert(w.clone()),
            Err(_) => true,
        };
        if new {
            tracing::warn!("{w}");
        }
    }
}
